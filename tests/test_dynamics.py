"""Crest factor, DR score and the over-compression check on signals with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stemforge.analysis.dynamics import dr_score_db, dynamics
from stemforge.audio.signal import Audio

SR = 8_000  # small signals keep these tests fast; nothing here depends on the rate


def _sine(amplitude=1.0, duration_s=9.0, freq_hz=997.0, channels=2):
    t = np.arange(round(duration_s * SR)) / SR
    return Audio(np.tile(amplitude * np.sin(2 * np.pi * freq_hz * t), (channels, 1)), SR)


def test_sine_crest_factor_is_3_01_db():
    d = dynamics(_sine(0.5))
    assert d.crest_factor_db == pytest.approx(10 * math.log10(2), abs=0.01)
    assert d.channel_crest_factor_db == pytest.approx((3.0103, 3.0103), abs=0.01)
    assert d.rms_dbfs == pytest.approx(20 * math.log10(0.5) - 3.0103, abs=0.01)
    assert np.nanmax(np.abs(d.short_term_crest.values - 3.0103)) < 0.02
    assert d.crest_p10_db == pytest.approx(3.01, abs=0.02)
    assert d.crest_spread_db == pytest.approx(0.0, abs=0.02)


def test_square_wave_crest_factor_is_0_db():
    square = np.where(np.arange(SR * 6) % 40 < 20, 0.7, -0.7)
    d = dynamics(Audio(np.tile(square, (2, 1)), SR))
    assert d.crest_factor_db == pytest.approx(0.0, abs=1e-6)
    assert d.peak_dbfs == pytest.approx(20 * math.log10(0.7), abs=1e-5)


def test_full_scale_sine_has_dr_0():
    d = dynamics(_sine(1.0, 30.0))
    assert d.channel_dr_db == pytest.approx((0.0, 0.0), abs=0.01)
    assert d.dr_score == 0


def _planted_block(level, spike, seconds=3.0):
    """A +/-level square wave with one sample at +spike: known RMS and peak."""
    n = round(seconds * SR)
    block = np.where(np.arange(n) % 2 == 0, level, -level)
    block[n // 2] = spike
    return block


def _block_rms_dr(level, spike, n):
    """TT DR block RMS, sqrt(2 * mean square), of a planted block."""
    return math.sqrt(2 * ((n - 1) * level**2 + spike**2) / n)


def test_dr_of_planted_blocks_equals_the_hand_computed_value():
    # Ten 3 s blocks: levels and spikes chosen by hand. The loudest 20 % are the two
    # blocks at 0.30 and 0.25; the second-highest spike is 0.85: DR = 6.75 dB.
    levels = [0.05, 0.10, 0.30, 0.08, 0.12, 0.25, 0.06, 0.10, 0.07, 0.09]
    spikes = [0.20, 0.50, 0.70, 0.95, 0.40, 0.85, 0.30, 0.60, 0.45, 0.35]
    signal = np.concatenate([_planted_block(a, p) for a, p in zip(levels, spikes, strict=True)])
    n = 3 * SR
    rms_top = math.sqrt((_block_rms_dr(0.30, 0.70, n) ** 2 + _block_rms_dr(0.25, 0.85, n) ** 2) / 2)
    expected = 20 * math.log10(0.85 / rms_top)
    # float32 samples: the levels are stored to 7 digits.
    assert dr_score_db(signal, SR) == pytest.approx(expected, abs=1e-6)

    # Stereo: the right channel's body 1.3 dB louder under the same spikes, so its DR is
    # 1.3 dB lower (the spikes' own share of the RMS is 1/24000): mean 6.10, score 6.
    right = signal * np.where(np.abs(signal) < 0.5, 10 ** (1.3 / 20), 1.0)
    d = dynamics(Audio(np.stack([signal, right]), SR))
    assert d.channel_dr_db[0] == pytest.approx(expected, abs=1e-6)
    assert d.channel_dr_db[1] == pytest.approx(expected - 1.3, abs=1e-3)
    assert d.dr_score == 6


def test_dr_counts_a_trailing_partial_block_and_the_top_fifth_rounds():
    # Seven blocks, the last 1.5 s long: top 20 % of 7 is round(1.4) = 1 block.
    levels = [0.1, 0.2, 0.1, 0.1, 0.4, 0.1, 0.3]
    spikes = [0.5, 0.6, 0.5, 0.5, 0.9, 0.5, 0.8]
    parts = [_planted_block(a, p) for a, p in zip(levels[:-1], spikes[:-1], strict=True)]
    parts.append(_planted_block(levels[-1], spikes[-1], seconds=1.5))
    signal = np.concatenate(parts)
    expected = 20 * math.log10(0.8 / _block_rms_dr(0.4, 0.9, 3 * SR))
    assert dr_score_db(signal, SR) == pytest.approx(expected, abs=1e-6)


def _dynamic_music(seconds=40):
    """A soft pad with kicks and tonal hits on alternate half-beats; a quieter first half."""
    n = seconds * SR
    t = np.arange(n) / SR
    out = 0.04 * np.sin(2 * np.pi * 220 * t) + 0.03 * np.sin(2 * np.pi * 330 * t)
    th = np.arange(SR // 4) / SR
    sweep = 50 * th + 70 * 0.03 * (1 - np.exp(-th / 0.03))  # pitch falls from 120 to 50 Hz
    kick = 0.8 * np.sin(2 * np.pi * sweep) * np.exp(-th / 0.12)
    tone = 0.4 * (np.sin(2 * np.pi * 180 * th) + 0.5 * np.sin(2 * np.pi * 360 * th))
    tone *= np.exp(-th / 0.05)
    for i, start in enumerate(range(0, n - SR // 4, SR // 2)):
        out[start : start + SR // 4] += kick if i % 2 == 0 else tone
    out *= np.where(t < seconds / 2, 0.5, 1.0)
    return np.stack([out, np.roll(out, 7)])


def test_clipped_version_scores_as_over_compressed_and_the_original_does_not():
    original = _dynamic_music()
    clipped = np.clip(original * 10 ** (18 / 20), -0.9, 0.9)  # +18 dB into a hard clipper

    before = dynamics(Audio(original, SR))
    after = dynamics(Audio(clipped, SR))

    assert not before.over_compressed
    assert before.plr_db > 14 and before.crest_p50_db > 12  # measured 15.6 and 14.2 dB
    assert before.over_compression_score < 0.2

    assert after.over_compressed
    assert after.plr_db < 8 and after.crest_p50_db < 10  # measured 6.5 and 6.0 dB
    assert after.over_compression_score > 0.8
    assert after.dr_score < before.dr_score
    assert any(reason.startswith("PLR") for reason in after.over_compression_reasons)


def test_silence_and_very_short_signals_do_not_crash():
    d = dynamics(Audio.silence(4.0, SR))
    assert math.isnan(d.crest_factor_db) and d.dr_score is None
    assert not d.over_compressed
    out = json.loads(json.dumps(d.to_dict()))
    assert out["crest_factor_db"] is None and out["dr_score"] is None

    short = dynamics(_sine(0.5, duration_s=0.5))
    assert short.crest_factor_db == pytest.approx(3.01, abs=0.02)
    assert len(short.short_term_crest) == 0 and math.isnan(short.crest_p50_db)
    json.dumps(short.to_dict())


def test_short_term_crest_series_and_silence_gate():
    # 4 s of sine then 5 s of silence: windows (3 s every 1 s) over silence are NaN.
    sine = _sine(0.5, 4.0).samples
    audio = Audio(np.concatenate([sine, np.zeros((2, 5 * SR))], axis=1), SR)
    d = dynamics(audio)
    assert np.allclose(d.short_term_crest.times_s, np.arange(3, 10))
    values = d.short_term_crest.values
    assert values[0] == pytest.approx(3.01, abs=0.02) and values[1] == pytest.approx(3.01, abs=0.02)
    assert np.isnan(values[-1])


def test_dr_score_needs_two_full_blocks_never_negative():
    """One 3 s block plus a near-silent remainder: no score rather than a negative one."""
    sr = 44_100
    t = np.arange(3 * sr) / sr
    loud = 0.5 * np.sin(2 * np.pi * 440 * t)
    tail = np.zeros(int(2.3 * sr))
    tail[:100] = 0.01
    x = np.concatenate([loud, tail]).astype(np.float32)
    result = dynamics(Audio(np.stack([x, x]), sr))
    assert result.dr_score is None
    # Two full blocks of the same sine: DR of a sine is 0 dB (RMS carries the sqrt(2) factor).
    two = np.tile(loud, 2).astype(np.float32)
    assert dynamics(Audio(np.stack([two, two]), sr)).dr_score == 0
