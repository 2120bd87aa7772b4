"""Quality checks: clipping, inter-sample overs, DC offset, noise floor, silence."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal

from stemforge.analysis.quality import quality
from stemforge.audio import Audio, load

SR = 44100


def mono(x: np.ndarray) -> Audio:
    return Audio(np.asarray(x, np.float32)[None, :], SR)


def sine(freq_hz: float, seconds: float, amplitude: float = 0.5, phase: float = 0.0):
    t = np.arange(round(seconds * SR)) / SR
    return amplitude * np.sin(2 * np.pi * freq_hz * t + phase)


def test_planted_clipped_runs_are_counted_exactly():
    x = sine(440, 4)
    planted = [(0.5, 4, 0.9), (1.25, 7, 0.9), (2.0, 3, -0.9), (3.1, 10, 0.9)]
    for start_s, length, value in planted:
        i = round(start_s * SR)
        x[i : i + length] = value
    x[round(3.5 * SR) : round(3.5 * SR) + 2] = 0.9  # two samples: not a clip
    r = quality(mono(x))
    c = r.channels[0]
    assert c.clipped_runs == 4 == r.clipped_runs
    np.testing.assert_allclose(c.clip_times_s, [round(s * SR) / SR for s, _, _ in planted])
    assert c.longest_clip_run_samples == 10
    assert c.clipped_samples == 4 + 7 + 3 + 10
    assert c.peak_dbfs == pytest.approx(20 * np.log10(0.9), abs=1e-4)


def test_a_sine_touching_099_once_is_not_clipped():
    # One crest reaches 0.99, the rest stay lower (a slow swell).
    t = np.arange(SR * 3) / SR
    envelope = 0.5 + 0.49 * np.exp(-(((t - 1.5) / 0.3) ** 2))
    for freq in (50.0, 440.0, 3000.0):
        x = envelope * np.sin(2 * np.pi * freq * t)
        r = quality(mono(x))
        assert r.clipped_runs == 0, freq
        assert r.channels[0].peak_dbfs == pytest.approx(20 * np.log10(0.99), abs=0.01)


def test_hard_clipped_music(shared_data):
    audio = load(shared_data / "music" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg", duration_s=8.0)
    assert quality(audio).clipped_runs == 0
    loud = np.clip(audio.samples * 4.0, -1.0, 1.0)
    r = quality(audio.with_samples(loud))
    for c, x in zip(r.channels, loud, strict=True):
        # Independent count: runs of >= 3 samples pinned at +1 or at -1.
        expected = 0
        for level in (1.0, -1.0):
            pinned = np.concatenate([[0], (x == level).astype(np.int8), [0]])
            edges = np.flatnonzero(np.diff(pinned))
            expected += int(np.sum(edges[1::2] - edges[::2] >= 3))
        assert expected > 10
        assert c.clipped_runs == expected


def test_dc_offset_of_001_reads_minus_40_db(rng):
    x = rng.standard_normal(SR * 4) * 0.1
    x = x - x.mean() + 0.01
    r = quality(Audio(np.stack([x, x - 0.01]), SR))
    assert r.channels[0].dc_offset == pytest.approx(0.01, abs=1e-6)
    assert r.channels[0].dc_offset_db == pytest.approx(-40.0, abs=0.01)
    assert r.channels[1].dc_offset_db < -100
    assert r.max_dc_offset_db == pytest.approx(-40.0, abs=0.01)


def test_inter_sample_overs_of_a_quarter_rate_sine():
    # fs/4 at 45 degrees: every sample is +-0.9 but the wave peaks at 0.9 * sqrt(2) = 1.27.
    n = np.arange(SR)
    taper = np.ones(SR)
    taper[:200] = taper[-200:] = 0.0  # start and end in silence: no edge overshoot
    x = 0.9 * np.sqrt(2) * np.sin(np.pi * n / 2 + np.pi / 4) * taper
    r = quality(mono(x))
    c = r.channels[0]
    assert c.peak_dbfs == pytest.approx(20 * np.log10(0.9), abs=1e-3)
    assert c.samples_over_full_scale == 0
    assert c.inter_sample_overs >= 1
    assert c.inter_sample_over_times_s[0] == pytest.approx(200 / SR, abs=0.001)
    reference = np.abs(scipy.signal.resample_poly(x, 4, 1)).max()
    assert c.max_inter_sample_peak_dbfs == pytest.approx(20 * np.log10(reference), abs=0.05)
    assert c.max_inter_sample_peak_dbfs == pytest.approx(20 * np.log10(0.9 * np.sqrt(2)), abs=0.1)
    # The same sine at 0 degrees has its samples on the crests: no overs.
    aligned = quality(mono(0.9 * np.sin(np.pi * n / 2) * taper))
    assert aligned.inter_sample_overs == 0
    assert aligned.channels[0].max_inter_sample_peak_dbfs == pytest.approx(
        20 * np.log10(0.9), abs=0.05
    )


def test_isolated_overs_are_separate_events():
    x = sine(1000, 3, 0.3)
    n = np.arange(64)
    burst = 0.9 * np.sqrt(2) * np.sin(np.pi * n / 2 + np.pi / 4) * np.hanning(64)
    for start_s in (0.5, 1.5, 2.5):
        i = round(start_s * SR)
        x[i : i + 64] = burst
    r = quality(mono(x))
    assert r.inter_sample_overs == 3
    np.testing.assert_allclose(r.channels[0].inter_sample_over_times_s, [0.5, 1.5, 2.5], atol=0.002)


def test_leading_and_trailing_silence():
    x = np.zeros(round(6.0 * SR))
    start, end = round(1.5 * SR), round(5.5 * SR)
    x[start:end] = sine(220, 4.0, 0.3, phase=0.5)
    r = quality(Audio(np.stack([x, 0.5 * x]), SR))
    assert r.leading_silence_s == pytest.approx(1.5, abs=0.01)
    assert r.trailing_silence_s == pytest.approx(0.5, abs=0.01)
    assert r.digital_silence_fraction == pytest.approx(2.0 / 6.0, abs=0.01)
    # Noise at -70 dBFS RMS is below the -60 dBFS silence threshold.
    rng = np.random.default_rng(5)
    quiet = x + rng.standard_normal(len(x)) * 10 ** (-70 / 20)
    r = quality(mono(quiet))
    assert r.leading_silence_s == pytest.approx(1.5, abs=0.01)
    assert r.trailing_silence_s == pytest.approx(0.5, abs=0.01)
    assert r.digital_silence_fraction == 0.0


def test_noise_floor_in_quiet_parts(rng):
    n = SR * 10
    x = rng.standard_normal(n) * 10 ** (-70 / 20)
    loud = np.zeros(n)
    loud[: SR * 6] = sine(300, 6, 0.3)  # 60 % music-loud, 40 % noise only
    r = quality(mono(x + loud))
    assert r.noise_floor_dbfs == pytest.approx(-70.0, abs=2.0)
    # Digital silence does not pull the floor down.
    x[SR * 8 :] = 0.0
    r = quality(mono(x + loud))
    assert r.noise_floor_dbfs == pytest.approx(-70.0, abs=2.0)
    assert r.digital_silence_fraction == pytest.approx(0.2, abs=0.01)


def test_all_silent_signal_and_json():
    r = quality(Audio.silence(2.0, SR, 2))
    assert r.clipped_runs == 0
    assert np.isnan(r.noise_floor_dbfs)
    assert r.leading_silence_s == r.trailing_silence_s == pytest.approx(2.0)
    assert r.digital_silence_fraction == 1.0
    data = json.loads(json.dumps(r.to_dict()))
    assert data["noise_floor_dbfs"] is None
    assert len(data["channels"]) == 2


@pytest.mark.parametrize("sample_rate", [8000, 48000, 96000])
def test_other_sample_rates(sample_rate):
    x = np.zeros(sample_rate * 3)
    x[sample_rate : 2 * sample_rate] = 0.5 + 0.01  # a held level: one long flat run
    r = quality(Audio(x[None, :], sample_rate))
    assert r.clipped_runs == 1
    assert r.longest_clip_run_samples == sample_rate
    assert r.leading_silence_s == pytest.approx(1.0, abs=0.01)
    assert r.trailing_silence_s == pytest.approx(1.0, abs=0.01)
    assert r.channels[0].dc_offset == pytest.approx(0.51 / 3, rel=1e-5)
