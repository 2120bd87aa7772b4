"""Pan laws: constant power for mono sources, balance for stereo sources."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stemforge.audio.signal import Audio
from stemforge.mixing.errors import MixSheetError
from stemforge.mixing.pan import balance_gains, pan, pan_gains

POSITIONS = np.linspace(-1.0, 1.0, 41)


def test_constant_power_across_positions():
    for position in POSITIONS:
        left, right = pan_gains(position)
        assert left**2 + right**2 == pytest.approx(1.0, abs=1e-12)
        # The sine/cosine law itself, theta = (pan + 1) pi / 4.
        theta = (position + 1) * math.pi / 4
        assert left == pytest.approx(math.cos(theta), abs=1e-12)
        assert right == pytest.approx(math.sin(theta), abs=1e-12)


def test_hard_left_right_and_centre():
    assert pan_gains(-1.0) == (1.0, 0.0)
    assert pan_gains(1.0) == (0.0, 1.0)
    left, right = pan_gains(0.0)
    assert left == right
    assert 20 * math.log10(left) == pytest.approx(-3.0103, abs=1e-4)


def test_gains_move_monotonically():
    lefts, rights = zip(*(pan_gains(p) for p in POSITIONS), strict=True)
    assert np.all(np.diff(lefts) < 0) and np.all(np.diff(rights) > 0)


def test_balance_of_stereo_sources():
    assert balance_gains(0.0) == (1.0, 1.0)  # the centre leaves a stereo source untouched
    assert balance_gains(1.0) == (0.0, 1.0)
    assert balance_gains(-1.0) == (1.0, 0.0)
    for position in POSITIONS[POSITIONS > 0]:
        left, right = balance_gains(position)
        assert right == 1.0
        assert left == pytest.approx(math.sqrt(2) * math.cos((position + 1) * math.pi / 4))


def test_pan_audio(rng):
    mono = Audio(rng.standard_normal((1, 1000)).astype(np.float32), 48000)
    out = pan(mono, -0.5)
    left, right = pan_gains(-0.5)
    assert out.channels == 2
    assert np.allclose(out.samples[0], mono.samples[0] * left, atol=1e-7)
    assert np.allclose(out.samples[1], mono.samples[0] * right, atol=1e-7)
    # The power of a mono source is the same wherever it is panned.
    power = [float((pan(mono, p).samples.astype(float) ** 2).sum()) for p in (-1, -0.3, 0, 0.8)]
    assert np.allclose(power, power[0], rtol=1e-6)
    stereo = Audio(rng.standard_normal((2, 1000)).astype(np.float32), 48000)
    assert np.array_equal(pan(stereo, 0.0).samples, stereo.samples)
    assert not pan(stereo, 1.0).samples[0].any()


@pytest.mark.parametrize("position", [-1.5, 2.0, float("nan")])
def test_out_of_range(position):
    with pytest.raises(MixSheetError, match="pan"):
        pan_gains(position)
