"""Fast streaming second-order sections for the renderer (frames-first blocks, in place).

The sections come from :mod:`stemforge.audio.filters` (the project's EQ designs); this
module only runs them: the transposed direct form II of :func:`scipy.signal.sosfilt`,
the same operations in the same order, over ``(frames, channels)`` float64 blocks with
the two channels of a stereo block side by side in one loop (about twice scipy's speed
here, and no copies). Every 1024 frames, states smaller than 1e-100 are set to zero:
in the silence after a sound an IIR filter's state decays into subnormal numbers,
which the CPU handles some 80 times slower, and nothing that small is audible (or
representable in the float32 output).
"""

from __future__ import annotations

import numpy as np

from stemforge.mixing.sheet import ChannelEQ

try:  # numba is part of the analysis and mixing extras
    import numba
except ImportError:  # pragma: no cover
    numba = None

__all__ = ["EQStream", "sosfilt_frames_first"]

#: Every :data:`FLUSH_EVERY` frames, states below :data:`FLUSH` are set to zero (-2000 dB:
#: far below any audible or float32 level, and far above the subnormal range).
FLUSH = 1e-100
FLUSH_EVERY = 1024


def sosfilt_frames_first(sos, zi, x):
    """Filter ``x`` (frames, channels) in place; ``zi`` (sections, channels, 2) is the state."""
    n, c = x.shape
    sections = sos.shape[0]
    for first in range(0, n, FLUSH_EVERY):
        last = min(first + FLUSH_EVERY, n)
        if c == 2:
            for i in range(first, last):
                v0 = x[i, 0]
                v1 = x[i, 1]
                for s in range(sections):
                    b0, b1, b2, a1, a2 = sos[s, 0], sos[s, 1], sos[s, 2], sos[s, 4], sos[s, 5]
                    o0 = b0 * v0 + zi[s, 0, 0]
                    o1 = b0 * v1 + zi[s, 1, 0]
                    zi[s, 0, 0] = b1 * v0 - a1 * o0 + zi[s, 0, 1]
                    zi[s, 1, 0] = b1 * v1 - a1 * o1 + zi[s, 1, 1]
                    zi[s, 0, 1] = b2 * v0 - a2 * o0
                    zi[s, 1, 1] = b2 * v1 - a2 * o1
                    v0 = o0
                    v1 = o1
                x[i, 0] = v0
                x[i, 1] = v1
        else:
            for ch in range(c):
                for i in range(first, last):
                    v = x[i, ch]
                    for s in range(sections):
                        o = sos[s, 0] * v + zi[s, ch, 0]
                        zi[s, ch, 0] = sos[s, 1] * v - sos[s, 4] * o + zi[s, ch, 1]
                        zi[s, ch, 1] = sos[s, 2] * v - sos[s, 5] * o
                        v = o
                    x[i, ch] = v
        for s in range(sections):
            for ch in range(c):
                for k in range(2):
                    if abs(zi[s, ch, k]) < FLUSH:
                        zi[s, ch, k] = 0.0


if numba is not None:
    sosfilt_frames_first = numba.njit(cache=True, nogil=True)(sosfilt_frames_first)


class EQStream:
    """An EQ's sections over consecutive frames-first float64 blocks, filtered in place.

    ``sos`` may come from a :class:`~stemforge.mixing.sheet.ChannelEQ` (``from_eq``) or
    any :mod:`stemforge.audio.filters` filter's ``sos(sample_rate)``.
    """

    def __init__(self, sos: np.ndarray | None, channels: int):
        self.sos = None if sos is None or len(sos) == 0 else np.ascontiguousarray(sos, float)
        if self.sos is not None:
            self.zi = np.zeros((self.sos.shape[0], channels, 2))

    @classmethod
    def from_eq(cls, eq: ChannelEQ, sample_rate: int, channels: int, where: str) -> EQStream:
        chain = eq.filters(sample_rate, where=where)
        return cls(None if chain is None else chain.sos(sample_rate), channels)

    def process(self, block: np.ndarray) -> np.ndarray:
        if self.sos is not None:
            sosfilt_frames_first(self.sos, self.zi, block)
        return block
