"""Stereo analysis: correlation, width, balance, mono loss, phase regions, vectorscope."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from stemforge.analysis.bands import octave_bands
from stemforge.analysis.stereo import stereo
from stemforge.audio import Audio, load

SR = 44100


def noise(rng, seconds: float, level: float = 0.1) -> np.ndarray:
    return (rng.standard_normal(round(seconds * SR)) * level).astype(np.float32)


def stereo_audio(left, right) -> Audio:
    return Audio(np.stack([left, right]), SR)


def test_identical_channels_are_mono_compatible(rng):
    x = noise(rng, 4)
    r = stereo(stereo_audio(x, x))
    assert r.correlation == pytest.approx(1.0, abs=1e-6)
    assert r.width == pytest.approx(0.0, abs=1e-9)
    assert r.mono_loss_db == pytest.approx(0.0, abs=1e-6)
    assert r.balance_db == pytest.approx(0.0, abs=1e-6)
    assert r.out_of_phase == ()
    assert np.nanmin(r.correlation_series.values) == pytest.approx(1.0, abs=1e-5)
    for band in r.bands:
        assert band.correlation == pytest.approx(1.0, abs=1e-5)
        assert band.mono_loss_db == pytest.approx(0.0, abs=1e-4)


def test_inverted_channel_is_out_of_phase_throughout(rng):
    x = noise(rng, 4)
    r = stereo(stereo_audio(x, -x))
    assert r.correlation == pytest.approx(-1.0, abs=1e-6)
    assert r.width == pytest.approx(1.0, abs=1e-9)
    assert r.mono_loss_db >= 100.0  # the fold-down cancels completely
    assert len(r.out_of_phase) == 1
    region = r.out_of_phase[0]
    assert region.start_s == pytest.approx(0.0, abs=1e-9)
    assert region.end_s == pytest.approx(4.0, abs=0.1)
    assert region.min_correlation == pytest.approx(-1.0, abs=1e-5)
    assert r.out_of_phase_fraction > 0.97


def test_independent_noises_are_uncorrelated(rng):
    r = stereo(stereo_audio(noise(rng, 10), noise(rng, 10)))
    # Pearson's r of n independent samples has a standard deviation of 1/sqrt(n).
    assert abs(r.correlation) < 4 / np.sqrt(10 * SR)
    assert r.width == pytest.approx(0.5, abs=0.005)
    assert r.mono_loss_db == pytest.approx(10 * np.log10(2), abs=0.02)
    assert r.side_to_mid_db == pytest.approx(0.0, abs=0.05)
    assert r.out_of_phase == ()


def test_inversion_between_two_and_four_seconds_is_one_region(rng):
    left = noise(rng, 6)
    right = left.copy()
    right[2 * SR : 4 * SR] *= -1
    r = stereo(stereo_audio(left, right))
    assert len(r.out_of_phase) == 1
    region = r.out_of_phase[0]
    assert region.start_s == pytest.approx(2.0, abs=0.3)
    assert region.end_s == pytest.approx(4.0, abs=0.3)
    assert region.min_correlation == pytest.approx(-1.0, abs=1e-4)
    assert r.out_of_phase_fraction == pytest.approx(2 / 6, abs=0.05)
    # Overall: a third of the energy inverted -> r = (4 - 2) / 6.
    assert r.correlation == pytest.approx(1 / 3, abs=0.02)


def test_short_dip_is_not_a_region(rng):
    left = noise(rng, 4)
    right = left.copy()
    right[2 * SR : 2 * SR + SR // 5] *= -1  # 200 ms, shorter than the 0.5 s minimum
    r = stereo(stereo_audio(left, right))
    assert r.out_of_phase == ()
    assert np.nanmin(r.correlation_series.values) < -0.3


def test_only_the_250_hz_band_inverted(rng):
    left = noise(rng, 8)
    spectrum = np.fft.rfft(left)
    freqs = np.fft.rfftfreq(len(left), 1 / SR)
    band = next(b for b in octave_bands() if b.name == "250 Hz")
    spectrum[(freqs >= band.low_hz) & (freqs < band.high_hz)] *= -1
    right = np.fft.irfft(spectrum, len(left)).astype(np.float32)
    r = stereo(stereo_audio(left, right))
    assert r.band("250 Hz").correlation < -0.9
    assert r.band("250 Hz").mono_loss_db > 10
    for b in r.bands:
        if b.name in ("125 Hz", "500 Hz"):  # neighbours share a few edge bins
            assert b.correlation > 0.9
        elif b.name != "250 Hz":
            assert b.correlation > 0.99, b.name
    assert r.out_of_phase == ()  # the band holds ~2 % of white noise's energy


def test_band_correlation_matches_band_pass_filters(rng):
    """Per-band values against Pearson's r of scipy band-pass filtered channels."""
    n = 8
    common = noise(rng, n)
    sos_low = scipy.signal.butter(8, 400, "lowpass", fs=SR, output="sos")
    sos_high = scipy.signal.butter(8, 3000, "highpass", fs=SR, output="sos")
    shared = scipy.signal.sosfilt(sos_low, common)  # the same low end in both channels
    left = shared + scipy.signal.sosfilt(sos_high, noise(rng, n)) + 0.3 * noise(rng, n)
    right = shared + scipy.signal.sosfilt(sos_high, noise(rng, n)) + 0.3 * noise(rng, n)
    left, right = left.astype(np.float32), right.astype(np.float32)
    r = stereo(stereo_audio(left, right))
    checked = 0
    for b in r.bands:
        if b.high_hz > 0.45 * SR:
            continue
        sos = scipy.signal.butter(6, [b.low_hz, b.high_hz], "bandpass", fs=SR, output="sos")
        fl, fr = scipy.signal.sosfiltfilt(sos, left), scipy.signal.sosfiltfilt(sos, right)
        reference = np.dot(fl, fr) / np.sqrt(np.dot(fl, fl) * np.dot(fr, fr))
        assert b.correlation == pytest.approx(reference, abs=0.03), b.name
        checked += 1
    assert checked >= 8
    assert r.band("63 Hz").correlation > 0.9
    assert r.band("8 kHz").correlation < 0.1


def test_balance_right_six_db_louder(rng):
    x = noise(rng, 3)
    r = stereo(stereo_audio(x, x * np.float32(10 ** (6 / 20))))
    assert r.balance_db == pytest.approx(6.0, abs=0.01)
    assert r.correlation == pytest.approx(1.0, abs=1e-6)
    r = stereo(stereo_audio(x * np.float32(2.0), x))
    assert r.balance_db == pytest.approx(-20 * np.log10(2), abs=0.01)


def test_hard_panned_source(rng):
    x = noise(rng, 3)
    r = stereo(stereo_audio(x, np.zeros_like(x)))
    assert r.correlation == 0.0  # one silent channel: unrelated, not undefined
    assert r.width == pytest.approx(0.5, abs=1e-6)
    assert r.mono_loss_db == pytest.approx(10 * np.log10(2), abs=1e-4)
    assert r.balance_db == -200.0


def test_vectorscope_is_bounded(rng):
    x = noise(rng, 20)
    r = stereo(stereo_audio(x, x))
    scope = r.vectorscope
    assert len(scope.side) == len(scope.mid) <= 2000
    assert np.abs(scope.side).max() == 0.0  # mono: a vertical line
    assert scope.histogram.shape == (32, 32)
    assert scope.histogram.sum() == pytest.approx(1.0, abs=1e-3)  # 4 significant digits
    assert scope.histogram[:, 16].sum() == pytest.approx(1.0, abs=1e-3)
    assert scope.scale == pytest.approx(float(np.abs(x).max()))
    r = stereo(stereo_audio(x, -x))
    assert np.abs(r.vectorscope.mid).max() == 0.0  # inverted: a horizontal line


def test_mono_input(rng):
    r = stereo(Audio(noise(rng, 2)[None, :], SR))
    assert r.is_mono
    assert "mono" in r.note
    assert r.correlation == 1.0
    assert r.width == 0.0
    assert r.mono_loss_db == pytest.approx(0.0, abs=1e-9)


def test_multichannel_is_folded_down(rng):
    x = np.stack([noise(rng, 2) for _ in range(6)])
    r = stereo(Audio(x, SR))
    assert r.source_channels == 6
    assert "folded down" in r.note
    assert -1.0 <= r.correlation <= 1.0


def test_silence_has_no_correlation_series_values():
    r = stereo(Audio(np.zeros((2, SR * 2), np.float32), SR))
    assert np.isnan(r.correlation_series.values).all()
    assert r.out_of_phase == ()
    json.dumps(r.to_dict())


def test_series_rate_and_json(shared_data):
    audio = load(shared_data / "music" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg", duration_s=20.0)
    r = stereo(audio)
    assert len(r.correlation_series) <= 10 * audio.duration_s
    assert 0.0 < r.correlation < 1.0  # a real stereo mix: related, not identical channels
    assert 0.0 < r.width < 0.5
    text = json.dumps(r.to_dict())
    assert len(text) < 200_000
    assert json.loads(text)["bands"][0]["name"] == "31.5 Hz"


@pytest.mark.parametrize("sample_rate", [8000, 22050, 48000, 96000])
def test_other_sample_rates(sample_rate):
    rng = np.random.default_rng(sample_rate)
    x = (rng.standard_normal(sample_rate * 2) * 0.1).astype(np.float32)
    r = stereo(Audio(np.stack([x, -x]), sample_rate))
    assert r.correlation == pytest.approx(-1.0, abs=1e-6)
    assert [b.name for b in r.bands] == [b.name for b in octave_bands(nyquist_hz=sample_rate / 2)]
    assert all(b.correlation == pytest.approx(-1.0, abs=1e-4) for b in r.bands)
    assert len(r.out_of_phase) == 1


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    mix=st.floats(-1.0, 1.0),
    gain_db=st.floats(-12.0, 12.0),
)
def test_mixed_noises_and_swapped_channels(seed, mix, gain_db):
    """R = mix * L + sqrt(1 - mix^2) * independent noise has correlation ~ mix."""
    rng = np.random.default_rng(seed)
    a, b = noise(rng, 1.0), noise(rng, 1.0)
    gain = np.float32(10 ** (gain_db / 20))
    right = ((mix * a + np.sqrt(1 - mix**2) * b) * gain).astype(np.float32)
    r = stereo(stereo_audio(a, right))
    assert r.correlation == pytest.approx(mix, abs=0.03)
    swapped = stereo(stereo_audio(right, a))
    assert swapped.balance_db == pytest.approx(-r.balance_db, abs=1e-6)
    assert swapped.correlation == pytest.approx(r.correlation, abs=1e-6)
    assert swapped.width == pytest.approx(r.width, abs=1e-6)
    assert swapped.mono_loss_db == pytest.approx(r.mono_loss_db, abs=1e-6)
