"""Meters, the beat-to-seconds map (with tempo drift) and swing.

Musical time is counted in beats from the start of the song. A beat is the counted
pulse: a quarter note in 3/4 and 4/4, a dotted quarter in 6/8 (two beats a bar, each
of three eighth notes), so ``tempo_bpm`` counts dotted quarters per minute in 6/8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemforge.errors import StemforgeError


@dataclass(frozen=True)
class Meter:
    """A time signature as the demo plays it."""

    time_signature: str
    beats_per_bar: int
    subdivisions_per_beat: int  # eighth notes per beat: 2 in simple meters, 3 in 6/8
    beat_unit: str

    @property
    def compound(self) -> bool:
        return self.subdivisions_per_beat == 3


METERS = {
    "4/4": Meter("4/4", 4, 2, "quarter"),
    "3/4": Meter("3/4", 3, 2, "quarter"),
    "6/8": Meter("6/8", 2, 3, "dotted quarter"),
}


def parse_meter(time_signature: str) -> Meter:
    meter = METERS.get(str(time_signature).replace(" ", ""))
    if meter is None:
        raise StemforgeError(
            f"unsupported time signature {time_signature!r}.",
            hint=f"Use one of {', '.join(METERS)}.",
        )
    return meter


@dataclass(frozen=True)
class TimeMap:
    """Beats to seconds for a tempo that changes linearly with the beat count.

    The local tempo at beat ``b`` is ``tempo_bpm * (1 + tempo_drift * b / total_beats)``,
    so the song ends ``tempo_drift`` (a fraction) faster than it starts. Integrating
    ``dt/db = 60 / tempo(b)`` gives
    ``t(b) = 60 B / (T d) * ln(1 + d b / B)`` (and ``60 b / T`` without drift).
    """

    tempo_bpm: float
    total_beats: float
    tempo_drift: float = 0.0

    def seconds(self, beats: np.ndarray | float) -> np.ndarray:
        b = np.asarray(beats, dtype=np.float64)
        spb = 60.0 / self.tempo_bpm
        d = self.tempo_drift
        if d == 0.0:
            return b * spb
        scale = self.total_beats / d
        return spb * scale * np.log1p(b / scale)

    def tempo_at(self, beats: np.ndarray | float) -> np.ndarray:
        b = np.asarray(beats, dtype=np.float64)
        return self.tempo_bpm * (1.0 + self.tempo_drift * b / self.total_beats)

    @property
    def end_tempo_bpm(self) -> float:
        return self.tempo_bpm * (1.0 + self.tempo_drift)


def swing_beats(positions: np.ndarray, swing: float, meter: Meter) -> np.ndarray:
    """Delay off-beat eighths by ``swing / 6`` of a beat (``swing=1`` is a triplet feel).

    Positions between the beat and its off-beat eighth stretch linearly, so beats stay
    fixed and sixteenths swing half as far. Compound meters (6/8) are already ternary
    and are left straight.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if swing == 0.0 or meter.compound:
        return pos
    beat = np.floor(pos + 1e-9)
    frac = pos - beat
    mid = 0.5 + swing / 6.0
    warped = np.where(frac < 0.5, frac * (mid / 0.5), mid + (frac - 0.5) * ((1.0 - mid) / 0.5))
    return beat + warped


def check_tempo(tempo_bpm: float, low: float = 40.0, high: float = 250.0) -> float:
    try:
        tempo = float(tempo_bpm)
    except (TypeError, ValueError):
        tempo = math.nan
    if not low <= tempo <= high:
        raise StemforgeError(
            f"tempo {tempo_bpm!r} BPM is out of range.",
            hint=f"Use a tempo from {low:g} to {high:g} BPM.",
        )
    return tempo
