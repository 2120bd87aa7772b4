"""The compressor against the design equations of Giannoulis, Massberg and Reiss (2012)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stemforge.audio.signal import Audio
from stemforge.mixing.dynamics import CompressorStream, compress, static_curve_db
from stemforge.mixing.sheet import Compressor

FS = 48000


def db(value) -> float:
    return 20 * math.log10(value)


def sine(level_db: float, seconds: float = 1.5, frequency_hz: float = 1000.0, channels=1):
    t = np.arange(round(seconds * FS)) / FS
    x = 10 ** (level_db / 20) * np.sin(2 * np.pi * frequency_hz * t)
    return Audio(np.tile(x, (channels, 1)).astype(np.float32), FS)


def dc(levels_db: list[tuple[float, float]]) -> Audio:
    """A positive constant signal made of (level_db, seconds) steps: a steady level."""
    parts = [np.full(round(s * FS), 10 ** (level / 20)) for level, s in levels_db]
    return Audio(np.concatenate(parts)[None].astype(np.float32), FS)


def knee_truth(x: float, threshold: float, ratio: float, knee: float) -> float:
    """Giannoulis et al. 2012, eq. (4), written out independently."""
    if 2 * (x - threshold) < -knee or (knee == 0 and x == threshold):
        return x
    if knee > 0 and 2 * abs(x - threshold) <= knee:
        return x + (1 / ratio - 1) * (x - threshold + knee / 2) ** 2 / (2 * knee)
    return threshold + (x - threshold) / ratio


def test_static_curve_formula():
    for threshold, ratio, knee in [(-20, 4, 0), (-18, 2, 6), (-30, 10, 12)]:
        for x in np.linspace(-60, 0, 121):
            assert static_curve_db(x, threshold, ratio, knee) == pytest.approx(
                knee_truth(x, threshold, ratio, knee), abs=1e-12
            )


@pytest.mark.parametrize(
    ("level_db", "threshold_db", "ratio"),
    [(-6.0, -20.0, 4.0), (-3.0, -24.0, 2.0), (-10.0, -30.0, 10.0), (-1.0, -12.0, 1.5)],
)
def test_steady_sine_above_threshold_follows_the_ratio(level_db, threshold_db, ratio):
    comp = Compressor(threshold_db, ratio, attack_ms=1.0, release_ms=500.0, knee_db=0.0)
    out = compress(sine(level_db), comp).audio.samples[0, FS:].astype(np.float64)
    expected = threshold_db + (level_db - threshold_db) / ratio
    assert db(np.abs(out).max()) == pytest.approx(expected, abs=0.1)
    # The level of the whole last half second, not only its peak.
    assert db(np.sqrt(2 * np.mean(out**2))) == pytest.approx(expected, abs=0.1)


def test_default_time_constants_keep_the_static_curve_on_a_sine():
    out = compress(sine(-6.0), Compressor(-20.0, 4.0, knee_db=0.0)).audio.samples[0, FS:]
    assert db(np.abs(out).max()) == pytest.approx(-16.5, abs=0.1)


def test_below_threshold_is_unchanged():
    x = sine(-30.0)
    out = compress(x, Compressor(threshold_db=-20.0, ratio=8.0, knee_db=6.0))
    assert np.array_equal(out.audio.samples, x.samples)
    assert out.max_gain_reduction_db == 0.0


@pytest.mark.parametrize("level_db", [-24.0, -22.0, -20.0, -18.0, -16.0])
def test_knee_region_matches_the_quadratic_knee(level_db):
    threshold, ratio, knee = -20.0, 4.0, 10.0
    out = compress(dc([(level_db, 0.5)]), Compressor(threshold, ratio, 5.0, 50.0, knee))
    measured = db(float(out.audio.samples[0, -1]))
    assert measured == pytest.approx(knee_truth(level_db, threshold, ratio, knee), abs=0.01)
    # A sine with its peak in the knee reads the same curve.
    peak = compress(sine(level_db), Compressor(threshold, ratio, 1.0, 500.0, knee)).audio
    assert db(np.abs(peak.samples[0, FS:]).max()) == pytest.approx(
        knee_truth(level_db, threshold, ratio, knee), abs=0.1
    )


def crossing_ms(series: np.ndarray, start: int, target: float, rising: bool) -> float:
    after = series[start:]
    index = np.argmax(after >= target) if rising else np.argmax(after <= target)
    return index / FS * 1000


@pytest.mark.parametrize("attack_ms", [1.0, 5.0, 20.0])
def test_attack_reaches_63_percent_in_attack_ms(attack_ms):
    signal = dc([(-40.0, 0.1), (-10.0, 0.5)])
    result = compress(signal, Compressor(-20.0, 4.0, attack_ms, 200.0, knee_db=0.0))
    reduction = -result.gain_db
    final = 7.5  # (1 - 1/4) * (-10 - -20) dB
    assert reduction[-1] == pytest.approx(final, abs=1e-3)
    t = crossing_ms(reduction, round(0.1 * FS), (1 - 1 / math.e) * final, rising=True)
    assert t == pytest.approx(attack_ms, rel=0.02, abs=1000 / FS)


@pytest.mark.parametrize("release_ms", [50.0, 200.0])
def test_release_falls_to_37_percent_in_release_ms(release_ms):
    attack_ms = 1.0
    signal = dc([(-10.0, 0.3), (-40.0, 1.0)])
    result = compress(signal, Compressor(-20.0, 4.0, attack_ms, release_ms, knee_db=0.0))
    reduction = -result.gain_db
    start = round(0.3 * FS)
    assert reduction[start - 1] == pytest.approx(7.5, abs=1e-3)
    t = crossing_ms(reduction, start, 7.5 / math.e, rising=False)
    # The decoupled detector's release passes through the attack smoother too: about
    # release_ms + attack_ms for a fast attack.
    assert release_ms <= t <= release_ms + 2 * attack_ms


def test_makeup_gain_is_exact():
    x = sine(-40.0)
    out = compress(x, Compressor(threshold_db=-20.0, makeup_db=6.0))
    assert np.allclose(out.audio.samples, x.samples * 10 ** (6 / 20), rtol=1e-6, atol=0)
    above = compress(dc([(-10.0, 0.5)]), Compressor(-20.0, 4.0, knee_db=0.0, makeup_db=3.5))
    assert db(float(above.audio.samples[0, -1])) == pytest.approx(-17.5 + 3.5, abs=1e-3)


def test_stereo_link_applies_one_gain_to_both_channels():
    t = np.arange(FS) / FS
    left = 0.9 * np.sin(2 * np.pi * 300 * t)
    right = 0.01 * np.sin(2 * np.pi * 700 * t + 0.3)
    x = Audio(np.stack([left, right]).astype(np.float32), FS)
    out = compress(x, Compressor(-20.0, 4.0)).audio.samples.astype(np.float64)
    inp = x.samples.astype(np.float64)
    ok = (np.abs(inp[0]) > 1e-3) & (np.abs(inp[1]) > 1e-3)
    assert np.allclose(out[0, ok] / inp[0, ok], out[1, ok] / inp[1, ok], rtol=1e-5)
    # The quiet right channel is turned down with the left: the link works.
    assert db(np.abs(out[1, FS // 2 :]).max()) < db(0.01) - 5


def test_ratio_one_changes_nothing():
    x = sine(-3.0)
    assert np.array_equal(compress(x, Compressor(-30.0, 1.0)).audio.samples, x.samples)


def test_blocks_give_the_same_samples(rng):
    x = rng.standard_normal((2, 20000)) * 0.5
    whole = CompressorStream(Compressor(-24.0, 3.0), FS).process(x.copy())
    stream = CompressorStream(Compressor(-24.0, 3.0), FS)
    parts = [stream.process(np.ascontiguousarray(x[:, i : i + 777])) for i in range(0, 20000, 777)]
    assert np.array_equal(np.concatenate(parts, axis=1), whole)
