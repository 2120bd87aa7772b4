"""The Audio type: construction, validation, channel conversion, resampling, slicing, mixing."""

from __future__ import annotations

import numpy as np
import pytest

from stemforge.audio import Audio, mix, resample
from stemforge.errors import (
    EmptyAudioError,
    InvalidAudioError,
    StemforgeError,
    UnsupportedFormatError,
)

G3DB = 10 ** (-3 / 20)


def sine(freq_hz: float, sample_rate: int, duration_s: float, amplitude: float = 0.5):
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    return amplitude * np.sin(2 * np.pi * freq_hz * t)


def fit_sine(x: np.ndarray, freq_hz: float, sample_rate: int) -> tuple[float, float]:
    """Least-squares amplitude of a sine at ``freq_hz`` in ``x``, and the RMS of the rest."""
    t = np.arange(len(x)) / sample_rate
    basis = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t)], 1)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    residual = x - basis @ coef
    return float(np.hypot(*coef)), float(np.sqrt(np.mean(residual**2)))


# --- construction and validation ----------------------------------------------------------


def test_constructor_makes_float32_read_only_copy():
    data = np.ones((2, 100))
    audio = Audio(data, 48_000)
    assert audio.samples.dtype == np.float32 and audio.samples.flags.c_contiguous
    assert audio.channels == 2 and audio.frames == 100 and len(audio) == 100
    assert audio.duration_s == pytest.approx(100 / 48_000)
    with pytest.raises(ValueError):
        audio.samples[0, 0] = 5
    data32 = np.zeros((1, 10), np.float32)
    kept = Audio(data32, 8_000)
    data32[0, 0] = 1.0  # the caller's array stays theirs: the Audio took a copy
    assert kept.samples[0, 0] == 0.0


def test_constructor_keeps_a_read_only_float32_array_without_copy():
    data = np.zeros((2, 1000), np.float32)
    data.setflags(write=False)
    assert Audio(data, 44_100).samples is data


@pytest.mark.parametrize(
    ("shape", "rate", "error"),
    [
        ((100,), 48_000, InvalidAudioError),
        ((1, 2, 3), 48_000, InvalidAudioError),
        ((0, 10), 48_000, UnsupportedFormatError),
        ((9, 10), 48_000, UnsupportedFormatError),
        ((2, 10), 7_999, UnsupportedFormatError),
        ((2, 10), 384_001, UnsupportedFormatError),
        ((2, 10), 44_100.5, UnsupportedFormatError),
    ],
)
def test_constructor_rejects_bad_shapes_and_rates(shape, rate, error):
    with pytest.raises(error):
        Audio(np.zeros(shape, np.float32), rate)


def test_constructor_rejects_non_numeric_samples():
    with pytest.raises(InvalidAudioError):
        Audio(np.array([["a", "b"]]), 48_000)
    with pytest.raises(InvalidAudioError):
        Audio(np.zeros((1, 4), np.complex64), 48_000)


def test_from_array_scales_integers_to_full_scale():
    pcm16 = np.array([-32768, 0, 16384, 32767], np.int16)
    a = Audio.from_array(pcm16, 48_000)
    np.testing.assert_array_equal(a.samples[0], [-1.0, 0.0, 0.5, 32767 / 32768])
    u8 = Audio.from_array(np.array([0, 128, 192, 255], np.uint8), 8_000)
    np.testing.assert_array_equal(u8.samples[0], [-1.0, 0.0, 0.5, 127 / 128])
    s32 = Audio.from_array(np.array([-(2**31), 2**30], np.int32), 8_000)
    np.testing.assert_array_equal(s32.samples[0], [-1.0, 0.5])


def test_from_array_layouts():
    frames_first = np.arange(20, dtype=np.float32).reshape(10, 2) / 20
    a = Audio.from_array(frames_first, 48_000)
    assert (a.channels, a.frames) == (2, 10)
    np.testing.assert_array_equal(a.samples, frames_first.T)
    b = Audio.from_array(frames_first.T, 48_000, layout="channels_first")
    np.testing.assert_array_equal(b.samples, a.samples)
    c = Audio.from_array(np.zeros((3, 5)), 48_000, layout="frames_first")
    assert (c.channels, c.frames) == (5, 3)
    mono = Audio.from_array(np.zeros(7), 48_000)
    assert mono.samples.shape == (1, 7) and mono.is_mono
    with pytest.raises(InvalidAudioError):
        Audio.from_array(np.zeros((2, 2, 2)), 48_000)


def test_silence_and_repr():
    s = Audio.silence(0.5, 44_100, channels=1)
    assert s.samples.shape == (1, 22_050) and not s.samples.any()
    assert "frames=22050" in repr(s) and "sample_rate=44100" in repr(s)


def test_require_frames_and_finite():
    a = Audio(np.zeros((1, 10), np.float32), 8_000)
    assert a.require_frames(10) is a
    with pytest.raises(EmptyAudioError):
        a.require_frames(11)
    bad = Audio(np.array([[0.0, np.nan]], np.float32), 8_000)
    assert not bad.is_finite and a.is_finite
    with pytest.raises(InvalidAudioError):
        bad.require_finite()


# --- channels -----------------------------------------------------------------------------


def test_to_mono_is_channel_mean():
    rng = np.random.default_rng(1)
    data = rng.uniform(-1, 1, (2, 1000)).astype(np.float32)
    mono = Audio(data, 48_000).to_mono()
    assert mono.samples.shape == (1, 1000)
    np.testing.assert_allclose(mono.samples[0], data.mean(axis=0), atol=1e-7)
    m = Audio(data[:1], 48_000)
    assert m.to_mono() is m


def test_to_stereo_duplicates_mono():
    m = Audio(np.linspace(-1, 1, 50, dtype=np.float32)[None], 48_000)
    st = m.to_stereo()
    np.testing.assert_array_equal(st.samples[0], m.samples[0])
    np.testing.assert_array_equal(st.samples[1], m.samples[0])


def _numbered(channels: int) -> np.ndarray:
    # channel k carries the constant 0.01 * (k + 1), so each output is a readable sum
    return np.repeat(0.01 * np.arange(1, channels + 1, dtype=np.float32)[:, None], 4, axis=1)


def test_5_1_fold_down_follows_itu_r_bs775():
    # 5.1 order L, R, C, LFE, Ls, Rs: Lo = L + 0.707 C + 0.707 Ls, LFE dropped
    left, right, centre, _lfe, ls, rs = 0.01 * np.arange(1, 7)
    st = Audio(_numbered(6), 48_000).to_stereo()
    np.testing.assert_allclose(
        st.samples[:, 0], [left + G3DB * (centre + ls), right + G3DB * (centre + rs)], rtol=1e-6
    )


def test_quad_fold_down_adds_surrounds_at_minus_3_db():
    st = Audio(_numbered(4), 48_000).to_stereo()  # L, R, Ls, Rs
    g = 10 ** (-3 / 20)
    np.testing.assert_allclose(st.samples[:, 0], [0.01 + g * 0.03, 0.02 + g * 0.04], rtol=1e-6)


@pytest.mark.parametrize("channels", [3, 5, 6, 7, 8])
def test_fold_down_with_centre_is_symmetric(channels):
    # L, R, C (, Ls, Rs): the centre must reach both sides equally
    data = np.zeros((channels, 4), np.float32)
    data[2] = 0.5
    st = Audio(data, 48_000).to_stereo()
    assert st.samples[0, 0] == pytest.approx(st.samples[1, 0]) and st.samples[0, 0] > 0


def test_to_channels():
    a = Audio(_numbered(2), 48_000)
    assert a.to_channels(2) is a
    assert a.to_channels(1).channels == 1
    with pytest.raises(UnsupportedFormatError):
        a.to_channels(6)


# --- resampling ---------------------------------------------------------------------------


def test_resample_keeps_frequency_and_level_44k1_to_48k():
    x = sine(1000.0, 44_100, 2.0)
    out = Audio(x[None], 44_100).resample(48_000)
    assert out.sample_rate == 48_000
    assert abs(out.frames - 96_000) <= 1
    # skip the filter's edge transients, then fit a 1 kHz sine at the new rate
    amplitude, residual_rms = fit_sine(
        out.samples[0, 2000:-2000].astype(np.float64), 1000.0, 48_000
    )
    assert 20 * np.log10(amplitude / 0.5) == pytest.approx(0.0, abs=0.001)
    assert residual_rms < 1e-4  # nothing but that sine (< -74 dB re the tone)


def test_resample_removes_content_above_the_new_nyquist():
    x = sine(23_000.0, 48_000, 1.0)  # above 22.05 kHz: must not alias into the output
    out = resample(Audio(x[None], 48_000), 44_100)
    rms = np.sqrt(np.mean(out.samples[0, 2000:-2000].astype(np.float64) ** 2))
    assert 20 * np.log10(rms / (0.5 / np.sqrt(2))) < -60


def test_resample_stereo_channels_stay_separate():
    data = np.stack([sine(500.0, 48_000, 0.5), np.zeros(24_000)])
    out = Audio(data, 48_000).resample(16_000)
    assert out.channels == 2 and np.abs(out.samples[1]).max() == 0
    amplitude, _ = fit_sine(out.samples[0, 500:-500].astype(np.float64), 500.0, 16_000)
    assert amplitude == pytest.approx(0.5, rel=1e-3)


def test_resample_edge_cases():
    a = Audio(np.zeros((2, 100), np.float32), 48_000)
    assert a.resample(48_000) is a
    empty = Audio(np.zeros((2, 0), np.float32), 48_000).resample(44_100)
    assert empty.frames == 0 and empty.sample_rate == 44_100
    with pytest.raises(UnsupportedFormatError):
        a.resample(4_000)
    with pytest.raises(ValueError):
        a.resample(44_100, quality="best")


# --- slicing, gain, padding, mixing -------------------------------------------------------


def test_slice_s_clamps_to_the_signal():
    a = Audio(np.arange(8000, dtype=np.float32)[None] / 8000, 8000)
    part = a.slice_s(0.25, 0.5)
    np.testing.assert_array_equal(part.samples[0], np.arange(2000, 4000, dtype=np.float32) / 8000)
    assert a.slice_s(0.9, 5.0).frames == 800
    assert a.slice_s(-1.0, 0.1).frames == 800
    assert a.slice_s(2.0).frames == 0
    assert a.slice_s(0.5, 0.2).frames == 0


def test_apply_gain_db_and_pad_to():
    a = Audio(np.full((1, 4), 0.25, np.float32), 8_000)
    np.testing.assert_allclose(a.apply_gain_db(20 * np.log10(2)).samples, 0.5, rtol=1e-6)
    padded = a.pad_to(10)
    assert padded.frames == 10 and not padded.samples[0, 4:].any()
    assert a.pad_to(2) is a


def test_mix_sums_pads_and_upmixes():
    mono = Audio(np.full((1, 3), 0.1, np.float32), 8_000)
    stereo = Audio(np.array([[0.2] * 5, [0.3] * 5], np.float32), 8_000)
    out = mix([mono, stereo])
    assert out.samples.shape == (2, 5)
    np.testing.assert_allclose(out.samples[:, 0], [0.3, 0.4], rtol=1e-6)
    np.testing.assert_allclose(out.samples[:, 4], [0.2, 0.3], rtol=1e-6)


def test_mix_errors():
    with pytest.raises(EmptyAudioError):
        mix([])
    with pytest.raises(UnsupportedFormatError):
        mix([Audio.silence(0.1, 44_100), Audio.silence(0.1, 48_000)])


def test_errors_are_stemforge_errors():
    with pytest.raises(StemforgeError):
        Audio(np.zeros((10, 5), np.float32), 48_000)


def test_fold_down_5_0_follows_bs775_gains():
    """5.0 (L, R, C, Ls, Rs): left = L + C/sqrt(2) + Ls/sqrt(2); the right side gets no Ls."""
    data = np.zeros((5, 3), np.float32)
    data[:, 0] = [0.1, 0.0, 0.0, 0.0, 0.0]  # L only
    data[:, 1] = [0.0, 0.0, 0.4, 0.0, 0.0]  # C only
    data[:, 2] = [0.0, 0.0, 0.0, 0.4, 0.0]  # Ls only
    st = Audio(data, 48_000).to_stereo().samples
    g = 10 ** (-3 / 20)
    np.testing.assert_allclose(st[0], [0.1, 0.4 * g, 0.4 * g], rtol=1e-6)
    np.testing.assert_allclose(st[1], [0.0, 0.4 * g, 0.0], atol=1e-7)


def test_fold_down_5_1_drops_lfe():
    data = np.zeros((6, 2), np.float32)
    data[3] = 0.9  # LFE
    assert np.all(Audio(data, 48_000).to_stereo().samples == 0)


def test_integer_samples_must_go_through_from_array():
    with pytest.raises(InvalidAudioError, match="from_array"):
        Audio(np.zeros((2, 10), np.int16), 48_000)


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="layout"):
        Audio.from_array(np.zeros((2, 10), np.float32), 48_000, layout="interleaved")
