"""Pan laws: constant-power panning of mono sources, balance of stereo sources.

Mono source, constant power (the sine/cosine law): with ``theta = (pan + 1) pi / 4``,
``left = cos(theta)``, ``right = sin(theta)``, so ``left^2 + right^2 = 1`` at every
position: hard left ``(1, 0)``, centre ``(0.7071, 0.7071)`` (-3.01 dB each), hard right
``(0, 1)``.

Stereo source, balance: the same law scaled by ``sqrt(2)`` and capped at unity, so
the centre leaves both channels untouched and moving to one side turns the other
channel down: ``left = min(1, sqrt(2) cos(theta))``, ``right = min(1, sqrt(2) sin(theta))``
(hard right silences the left channel).

>>> [round(g, 4) for g in pan_gains(0.0)]
[0.7071, 0.7071]
>>> balance_gains(0.0)
(1.0, 1.0)
"""

from __future__ import annotations

import math

import numpy as np

from stemforge.audio.signal import Audio
from stemforge.mixing.errors import MixSheetError

__all__ = ["balance_gains", "pan", "pan_gains"]


def _theta(position: float) -> float:
    p = float(position)
    if not -1.0 <= p <= 1.0:
        raise MixSheetError(
            f"pan must be from -1 (left) to 1 (right), got {position!r}.",
            hint="0 is the centre.",
        )
    return (p + 1.0) * math.pi / 4.0


def pan_gains(position: float) -> tuple[float, float]:
    """Left and right gains of a mono source at ``position`` (-1 .. 1), constant power."""
    theta = _theta(position)
    # Exact values where the cosine and sine are off by a rounding error: cos(pi / 2)
    # is 6e-17, and cos(pi / 4) and sin(pi / 4) differ in the last bit.
    exact = {-1.0: (1.0, 0.0), 0.0: (math.sqrt(0.5), math.sqrt(0.5)), 1.0: (0.0, 1.0)}
    if float(position) in exact:
        return exact[float(position)]
    return math.cos(theta), math.sin(theta)


def balance_gains(position: float) -> tuple[float, float]:
    """Left and right gains of a stereo source at ``position`` (-1 .. 1): unity at the centre."""
    left, right = pan_gains(position)
    return min(1.0, math.sqrt(2.0) * left), min(1.0, math.sqrt(2.0) * right)


def stereo_gains(position: float, channels: int) -> tuple[float, float]:
    """The pan gains for a source of ``channels`` channels (1: pan law, 2: balance)."""
    return pan_gains(position) if channels == 1 else balance_gains(position)


def pan(audio: Audio, position: float) -> Audio:
    """``audio`` placed at ``position`` in a stereo image; the result is always stereo.

    Mono follows the constant-power law, stereo the balance law; more than two
    channels are first folded down to stereo (:meth:`Audio.to_stereo`).
    """
    if audio.channels > 2:
        audio = audio.to_stereo()
    left, right = stereo_gains(position, audio.channels)
    x = audio.samples.astype(np.float64)
    if audio.channels == 1:
        out = np.stack([x[0] * left, x[0] * right])
    else:
        out = np.stack([x[0] * left, x[1] * right])
    return audio.with_samples(out)
