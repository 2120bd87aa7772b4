"""Sample-rate conversion with soxr."""

from __future__ import annotations

import numpy as np
import soxr

from stemforge.audio.signal import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, Audio
from stemforge.errors import UnsupportedFormatError

_QUALITIES = {"QQ", "LQ", "MQ", "HQ", "VHQ"}


def resample(audio: Audio, sample_rate: int, *, quality: str = "HQ") -> Audio:
    """Resample ``audio`` to ``sample_rate`` Hz with soxr (linear phase, ``quality`` preset)."""
    if quality not in _QUALITIES:
        raise ValueError(f"quality must be one of {sorted(_QUALITIES)}, got {quality!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise UnsupportedFormatError(
            f"cannot resample to {sample_rate} Hz; "
            f"choose {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz."
        )
    if sample_rate == audio.sample_rate:
        return audio
    if audio.frames == 0:
        return Audio(np.zeros((audio.channels, 0), np.float32), sample_rate)
    out = soxr.resample(audio.frames_first(), audio.sample_rate, sample_rate, quality=quality)
    return Audio(np.ascontiguousarray(out.T), sample_rate)
