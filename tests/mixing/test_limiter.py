"""The true-peak limiter: the BS.1770-4 meter never reads above the ceiling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stemforge.analysis.loudness import loudness
from stemforge.analysis.truepeak import true_peak
from stemforge.audio.io import load
from stemforge.audio.signal import Audio
from stemforge.mixing.limiter import interpolated_peaks, limit, true_peak_limit
from stemforge.mixing.sheet import Limiter

FS = 48000
CEILINGS = (-0.1, -1.0, -3.0)


def isp_sine(seconds: float = 0.5) -> np.ndarray:
    """fs/4 at 45 degrees: every sample at +/-0.7071 x the amplitude, the peaks between
    them (BS.1770-4's classic inter-sample-peak signal, +3.01 dB above its samples)."""
    n = np.arange(round(seconds * FS))
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4) / math.sqrt(0.5)  # samples at exactly +/-1
    return np.stack([x, -x])


def square(seconds: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * FS)) / FS
    x = np.where(np.sin(2 * np.pi * 997 * t) >= 0, 1.0, -1.0)
    return np.stack([x, x])


def impulses(seconds: float = 0.5) -> np.ndarray:
    """Drum-like hits: single full-scale samples, alternating signs, and short decays."""
    x = np.zeros((2, round(seconds * FS)))
    x[:, 100::2400] = 1.0
    x[1, 1300::2400] = -1.0
    t = np.arange(480) / FS
    hit = np.exp(-t / 0.01) * np.sin(2 * np.pi * 60 * t * (1 + 3 * np.exp(-t / 0.005)))
    for start in range(600, x.shape[1] - 480, 4800):
        x[:, start : start + 480] += 2.0 * hit
    return x


def overload(seconds: float = 0.5) -> np.ndarray:
    """A music-like chord 12 dB over full scale."""
    t = np.arange(round(seconds * FS)) / FS
    x = sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate((110, 220.5, 331, 1763, 5111)))
    x = x / np.abs(x).max() * 10 ** (12 / 20)
    return np.stack([x, np.roll(x, 37)])


HOSTILE = {"isp": isp_sine, "square": square, "impulses": impulses, "overload": overload}


def tp(samples: np.ndarray) -> float:
    return true_peak(Audio(samples.astype(np.float32), FS)).true_peak_dbtp


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize("ceiling", CEILINGS)
def test_hostile_signals_stay_under_the_ceiling(name, ceiling):
    x = HOSTILE[name]()
    assert tp(x) > ceiling  # the signal really is over
    result = limit(Audio(x.astype(np.float32), FS), Limiter(ceiling_dbtp=ceiling))
    measured = true_peak(result.audio).true_peak_dbtp
    assert measured <= ceiling
    assert result.true_peak_dbtp == pytest.approx(measured)
    # Brickwall, not a fader: the loudest part comes close to the ceiling.
    assert measured > ceiling - 0.1
    assert result.max_gain_reduction_db >= tp(x) - ceiling - 0.01


def test_isp_signal_needs_the_true_peak_not_the_sample_peak():
    x = isp_sine()
    assert np.abs(x).max() == pytest.approx(1.0)
    assert tp(x) >= 3.0  # 3.01 dB in steady state, a little more at the abrupt ends
    result = limit(Audio(x.astype(np.float32), FS), Limiter(ceiling_dbtp=-1.0))
    # A sample-peak limiter would only take 1 dB off; the steady gain is about 4 dB.
    middle = result.gain_reduction_db[len(x[0]) // 2]
    assert middle == pytest.approx(4.01, abs=0.05)


def test_real_drums_pushed_12_db(shared_data):
    folder = shared_data / "drums" / "sonic_pi"
    hits = [load(folder / f"{n}.flac").to_stereo() for n in ("bd_808", "drum_snare_hard")]
    hits = [h.resample(FS).samples for h in hits]
    x = np.concatenate(hits + hits[::-1], axis=1) * 10 ** (12 / 20)
    for ceiling in CEILINGS:
        result = limit(Audio(x.astype(np.float32), FS), Limiter(ceiling_dbtp=ceiling))
        assert true_peak(result.audio).true_peak_dbtp <= ceiling


def test_signal_under_the_ceiling_passes_unchanged(rng):
    x = (rng.standard_normal((2, FS)) * 0.05).astype(np.float32)
    assert tp(x) < -6
    result = limit(Audio(x, FS), Limiter(ceiling_dbtp=-1.0))
    assert np.array_equal(result.audio.samples, x)
    assert result.max_gain_reduction_db == 0.0


def test_interpolated_peaks_agree_with_the_meter(rng):
    for x in (isp_sine(0.1), impulses(0.1), rng.standard_normal((2, 5000)) * 0.3):
        x32 = x.astype(np.float32)
        peaks = interpolated_peaks(x32, FS)
        assert 20 * np.log10(peaks.max()) == pytest.approx(tp(x32), abs=1e-4)
        assert np.all(peaks >= np.abs(x32).max(axis=0) - 1e-7)


@pytest.mark.parametrize("target", [-14.0, -10.0, -20.0])
def test_target_lufs_is_reached(rng, target):
    # Drums and a bass line: a signal with crest factor, which loud targets must limit.
    t = np.arange(6 * FS) / FS
    beat = np.exp(-(t % 0.5) / 0.03) * np.sin(2 * np.pi * 55 * t)
    bass = 0.1 * np.sin(2 * np.pi * 110 * t) + 0.02 * rng.standard_normal(t.size)
    x = 0.3 * np.stack([beat + bass, beat - 0.5 * bass])
    result = limit(Audio(x.astype(np.float32), FS), Limiter(ceiling_dbtp=-1.0, target_lufs=target))
    measured = loudness(result.audio)
    assert measured.integrated_lufs == pytest.approx(target, abs=0.5)
    assert result.target_reached is True
    assert measured.true_peak_dbtp <= -1.0
    assert result.output_lufs == pytest.approx(measured.integrated_lufs)


def test_short_and_silent_signals():
    out, gain = true_peak_limit(np.full((2, 5), 3.0), FS, ceiling_dbtp=-1.0)
    assert tp(out) <= -1.0 and gain.shape == (5,)
    silent = limit(Audio(np.zeros((2, 100), np.float32), FS), Limiter(target_lufs=-14.0))
    assert not silent.audio.samples.any() and silent.target_reached is False


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    frames=st.integers(1, 6000),
    gain_db=st.floats(-20.0, 30.0),
    ceiling=st.floats(-12.0, 0.0),
    smooth=st.integers(1, 20),
)
def test_random_signals_never_exceed_the_ceiling(seed, frames, gain_db, ceiling, smooth):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, frames))
    if smooth > 1:  # low-passed noise too: peaks between samples behave differently
        x = np.apply_along_axis(np.convolve, 1, x, np.ones(smooth) / smooth, mode="same")
    x = x / max(np.abs(x).max(), 1e-9) * 10 ** (gain_db / 20)
    result = limit(Audio(x.astype(np.float32), FS), Limiter(ceiling_dbtp=ceiling))
    assert true_peak(result.audio).true_peak_dbtp <= round(ceiling, 2)
