"""The compressor: feed-forward, log-domain gain computer, smooth peak detector, stereo-linked.

After D. Giannoulis, M. Massberg and J. D. Reiss, "Digital dynamic range compressor
design — a tutorial and analysis", J. Audio Eng. Soc. 60(6), 2012 (figure 7(b), the
design the paper recommends):

1. Level in dB of the loudest channel (stereo link): ``x_G = 20 log10 max_c |x_c[n]|``.
2. Static curve with a soft knee of width ``W`` (paper, eq. 4)::

       y_G = x_G                                           2 (x_G - T) < -W
       y_G = x_G + (1/R - 1) (x_G - T + W/2)^2 / (2 W)      2 |x_G - T| <= W
       y_G = T + (x_G - T) / R                             2 (x_G - T) > W

3. Gain reduction ``x_L = x_G - y_G`` (dB, >= 0) smoothed by the *smooth decoupled
   peak detector* (paper, eq. 17)::

       y_1[n] = max(x_L[n], a_R y_1[n-1] + (1 - a_R) x_L[n])
       y_L[n] = a_A y_L[n-1] + (1 - a_A) y_1[n]

   with ``a = exp(-1 / (tau fs))``: a step of the gain reduction is followed to
   ``1 - 1/e`` (63 %) of its size in ``attack_ms`` (``release_ms`` when it falls).
4. Control gain ``c = makeup_db - y_L`` (dB) applied to every channel.

The detector's recursion runs in numba (compiled once, cached on disk), the level and
gain conversions vectorised in numpy; it is streaming
(:class:`CompressorStream` keeps the detector's state between blocks), so any block
size gives the same samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stemforge.audio.signal import Audio
from stemforge.errors import StemforgeError
from stemforge.mixing.sheet import Compressor
from stemforge.results import Result

try:  # numba is part of the analysis and mixing extras
    import numba
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None

__all__ = [
    "CompressionResult",
    "CompressorStream",
    "compress",
    "smoothing_coefficient",
    "static_curve_db",
]


def smoothing_coefficient(time_ms: float, sample_rate: float) -> float:
    """The one-pole coefficient ``exp(-1 / (tau fs))`` of a time constant (0 ms: instant)."""
    if time_ms <= 0:
        return 0.0
    return math.exp(-1000.0 / (time_ms * sample_rate))


def static_curve_db(
    level_db: np.ndarray | float, threshold_db: float, ratio: float, knee_db: float
) -> np.ndarray:
    """The compressor's static curve: output level (dB) for ``level_db`` in (Giannoulis eq. 4)."""
    x = np.asarray(level_db, dtype=np.float64)
    over = x - threshold_db
    y = np.where(over > 0, threshold_db + over / ratio, x)
    if knee_db > 0:
        in_knee = 2 * np.abs(over) <= knee_db
        knee = x + (1 / ratio - 1) * (over + knee_db / 2) ** 2 / (2 * knee_db)
        y = np.where(in_knee, knee, y)
    return y


_LN_TO_DB = 20.0 / math.log(10.0)
_DB_TO_LN = math.log(10.0) / 20.0
_FLOOR = 1e-30  # -600 dB: the level of digital silence, so that log() stays finite


def _detect(ln_level, threshold_db, ratio, knee_db, alpha_a, alpha_r, state, out):
    """Static curve and smooth decoupled peak detector over one block.

    ``ln_level`` holds ``ln max_c |x_c[n]|``; ``out`` receives the smoothed gain reduction
    ``y_L`` in dB; ``state`` = [y_1, y_L, max y_L] carries over between blocks.
    """
    slope = 1.0 / ratio - 1.0
    half_knee = 0.5 * knee_db
    y1 = state[0]
    yl = state[1]
    peak = state[2]
    for n in range(ln_level.shape[0]):
        over = ln_level[n] * _LN_TO_DB - threshold_db
        if over <= -half_knee:
            xl = 0.0
        elif over >= half_knee:
            xl = -slope * over  # x_G - (T + over / R)
        else:  # inside a knee of nonzero width
            t = over + half_knee
            xl = -slope * t * t / (2.0 * knee_db)
        released = alpha_r * y1 + (1.0 - alpha_r) * xl
        y1 = xl if xl > released else released
        yl = alpha_a * yl + (1.0 - alpha_a) * y1
        if yl < 1e-200:  # flush what would decay into slow subnormal numbers
            yl = 0.0
            if y1 < 1e-200:
                y1 = 0.0
        if yl > peak:
            peak = yl
        out[n] = yl
    state[0] = y1
    state[1] = yl
    state[2] = peak


if numba is not None:
    _detect = numba.njit(cache=True, nogil=True)(_detect)


class CompressorStream:
    """A :class:`~stemforge.mixing.sheet.Compressor` running over consecutive blocks.

    ``process(block)`` compresses a float64 ``(channels, frames)`` block in place and
    returns it; the detector's state carries over to the next block, so the result
    does not depend on the block size. ``max_gain_reduction_db`` is the largest
    smoothed gain reduction so far. The level and gain conversions run vectorised
    in numpy, the detector's recursion in numba.
    """

    def __init__(self, compressor: Compressor, sample_rate: int):
        if numba is None:  # pragma: no cover
            raise StemforgeError(
                "the compressor needs numba, which is not installed.",
                hint="Install it: pip install 'stemforge[analysis,mixing]'.",
            )
        self.compressor = compressor
        self.sample_rate = int(sample_rate)
        self._alpha_a = smoothing_coefficient(compressor.attack_ms, sample_rate)
        self._alpha_r = smoothing_coefficient(compressor.release_ms, sample_rate)
        self._state = np.zeros(3)
        self._level = np.empty(0)
        self._gain = np.empty(0)
        self._keep_db = False
        self._gain_db = None

    @property
    def max_gain_reduction_db(self) -> float:
        return float(self._state[2])

    def gain(self, block: np.ndarray, *, frames_first: bool = False) -> np.ndarray:
        """The linear gain per frame for ``block`` (float64; ``(channels, frames)``, or
        ``(frames, channels)`` with ``frames_first``), advancing the detector's state.

        The array returned is reused by the next call.
        """
        if block.dtype != np.float64 or block.ndim != 2:
            raise TypeError("CompressorStream takes float64 2-D blocks")
        frames = block.shape[0] if frames_first else block.shape[1]
        if self._level.shape[0] < frames:
            self._level = np.empty(frames)
            self._gain = np.empty(frames)
        level, gain = self._level[:frames], self._gain[:frames]
        if frames_first:
            _level_frames_first(block, level)
        else:
            np.abs(block[0], out=level)
            for c in range(1, block.shape[0]):
                np.maximum(level, np.abs(block[c]), out=level)
            np.maximum(level, _FLOOR, out=level)
        np.log(level, out=level)
        c = self.compressor
        _detect(
            level,
            c.threshold_db,
            c.ratio,
            c.knee_db,
            self._alpha_a,
            self._alpha_r,
            self._state,
            gain,
        )
        # gain = makeup - y_L (dB), as a linear factor exp((makeup - y_L) ln10 / 20).
        np.subtract(c.makeup_db, gain, out=gain)
        self._gain_db = gain.copy() if self._keep_db else None
        gain *= _DB_TO_LN
        np.exp(gain, out=gain)
        return gain

    def process(self, block: np.ndarray, gain_db_out: np.ndarray | None = None) -> np.ndarray:
        """Compress a ``(channels, frames)`` block in place; ``gain_db_out`` (frames,)
        receives the gain in dB."""
        self._keep_db = gain_db_out is not None
        gain = self.gain(block)
        if gain_db_out is not None:
            gain_db_out[:] = self._gain_db
        block *= gain
        return block


def _level_frames_first(block, out):
    """``out[n] = max(max_c |block[n, c]|, floor)`` for a (frames, channels) block."""
    frames, channels = block.shape
    for n in range(frames):
        level = _FLOOR
        for c in range(channels):
            v = abs(block[n, c])
            if v > level:
                level = v
        out[n] = level


if numba is not None:
    _level_frames_first = numba.njit(cache=True, nogil=True)(_level_frames_first)


@dataclass(frozen=True)
class CompressionResult(Result):
    """A compressed signal, its gain in dB per frame, and its gain reduction."""

    audio: Audio = field(repr=False)
    gain_db: np.ndarray = field(repr=False)
    max_gain_reduction_db: float
    mean_gain_reduction_db: float


def compress(audio: Audio, compressor: Compressor) -> CompressionResult:
    """Compress ``audio`` with the settings of ``compressor`` (see the module docstring).

    >>> loud = Audio(np.full((1, 4800), 10 ** (-6 / 20), np.float32), 48000)  # -6 dBFS
    >>> out = compress(loud, Compressor(threshold_db=-20, ratio=4, knee_db=0, attack_ms=0))
    >>> round(20 * math.log10(float(out.audio.samples[0, -1])), 2)  # -20 + 14 / 4
    -16.5
    """
    x = np.ascontiguousarray(audio.samples, dtype=np.float64)
    gain_db = np.empty(audio.frames)
    stream = CompressorStream(compressor, audio.sample_rate)
    stream.process(x, gain_db)
    reduction = compressor.makeup_db - gain_db
    return CompressionResult(
        audio=audio.with_samples(x),
        gain_db=gain_db,
        max_gain_reduction_db=stream.max_gain_reduction_db,
        mean_gain_reduction_db=float(reduction.mean()) if reduction.size else 0.0,
    )
