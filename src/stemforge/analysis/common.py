"""Small shared pieces of the analysis layer: decibels, framing, time series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemforge.results import Result

#: The floor for levels in dB: quieter than any 32-bit float signal worth reporting.
FLOOR_DB = -200.0


def amplitude_to_db(amplitude: np.ndarray | float, *, floor_db: float = FLOOR_DB) -> np.ndarray:
    """20 log10 |amplitude|, floored at ``floor_db``."""
    a = np.abs(np.asarray(amplitude, dtype=np.float64))
    with np.errstate(divide="ignore"):
        return np.maximum(20.0 * np.log10(a), floor_db)


def power_to_db(power: np.ndarray | float, *, floor_db: float = FLOOR_DB) -> np.ndarray:
    """10 log10 power, floored at ``floor_db``."""
    p = np.asarray(power, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.maximum(10.0 * np.log10(np.maximum(p, 0.0)), floor_db)


def db_to_amplitude(level_db: np.ndarray | float) -> np.ndarray:
    return np.power(10.0, np.asarray(level_db, dtype=np.float64) / 20.0)


def frame_view(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """A read-only strided view of the last axis cut into frames.

    Shape ``(..., n_frames, frame_length)`` with ``n_frames = 1 + (n - frame_length) // hop``;
    no padding, so a signal shorter than one frame gives zero frames.
    """
    n = x.shape[-1]
    n_frames = 0 if n < frame_length else 1 + (n - frame_length) // hop_length
    if n_frames == 0:
        return np.zeros((*x.shape[:-1], 0, frame_length), dtype=x.dtype)
    view = np.lib.stride_tricks.sliding_window_view(x, frame_length, axis=-1)
    return view[..., ::hop_length, :][..., :n_frames, :]


@dataclass(frozen=True)
class TimeSeries(Result):
    """Values over time: ``values[i]`` belongs to the instant ``times_s[i]``."""

    times_s: np.ndarray
    values: np.ndarray
    unit: str

    def __len__(self) -> int:
        return len(self.times_s)


@dataclass(frozen=True)
class TimeRange(Result):
    """A span of time in seconds."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def runs_of_true(mask: np.ndarray) -> np.ndarray:
    """Start and end (exclusive) indices of each run of True, shaped (n_runs, 2)."""
    m = np.asarray(mask, dtype=bool).astype(np.int8)
    if m.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    edges = np.diff(np.concatenate([[0], m, [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return np.stack([starts, ends], axis=1).astype(np.int64)
