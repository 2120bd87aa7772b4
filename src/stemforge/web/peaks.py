"""Waveform peaks: the minimum and maximum of the mono fold in equal buckets of time.

The track is decoded once, in blocks of about 30 s (memory stays small for long
files), folded to mono (the mean of the channels, :meth:`Audio.to_mono`), and cut into
at most :data:`BASE_POINTS` buckets of ``ceil(frames / BASE_POINTS)`` frames; each
bucket keeps its lowest and highest sample. The result is cached as ``peaks.json`` in
the track's media folder. A request for fewer points merges neighbouring buckets (the
minimum of their minima, the maximum of their maxima), so a peak is never lost.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemforge.errors import EmptyAudioError
from stemforge.output import write_json_atomic
from stemforge.results import Result

#: Buckets stored per track: enough for a 4K-wide waveform.
BASE_POINTS = 4096
BLOCK_S = 30.0
PEAKS_FILE = "peaks.json"
FORMAT = "stemforge-peaks/1"

_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Peaks(Result):
    """``min``/``max`` of each bucket (-1..1), ``points`` buckets over ``duration_s``."""

    duration_s: float
    sample_rate: int
    points: int
    min: tuple[float, ...]
    max: tuple[float, ...]


def compute_peaks(path: str | Path, points: int = BASE_POINTS) -> Peaks:
    """Peaks of an audio file in at most ``points`` buckets (fewer for a file shorter
    than ``points`` frames)."""
    from stemforge.audio import info, load

    about = info(path)
    frames, rate = about.frames, about.sample_rate
    per_bucket = max(1, math.ceil(frames / points))
    block = per_bucket * max(1, int(BLOCK_S * rate) // per_bucket)
    lows: list[np.ndarray] = []
    highs: list[np.ndarray] = []
    start = 0
    while start < frames:
        try:
            audio = load(path, mono=True, start_s=start / rate, duration_s=block / rate)
        except EmptyAudioError:
            break  # the header promised more frames than the file holds
        samples = audio.samples[0]
        if samples.size == 0:
            break
        whole = samples.size // per_bucket * per_bucket
        if whole:
            grid = samples[:whole].reshape(-1, per_bucket)
            lows.append(grid.min(axis=1))
            highs.append(grid.max(axis=1))
        if whole < samples.size:
            rest = samples[whole:]
            lows.append(np.array([rest.min()]))
            highs.append(np.array([rest.max()]))
        start += samples.size
        if samples.size < block:
            break
    low = np.clip(np.concatenate(lows) if lows else np.zeros(0), -1.0, 1.0)
    high = np.clip(np.concatenate(highs) if highs else np.zeros(0), -1.0, 1.0)
    return Peaks(
        duration_s=start / rate if rate else 0.0,
        sample_rate=rate,
        points=int(low.size),
        min=tuple(round(float(v), 4) for v in low),
        max=tuple(round(float(v), 4) for v in high),
    )


def reduce_peaks(peaks: Peaks, points: int) -> Peaks:
    """The same peaks in ``points`` buckets (never more than there are): bucket ``i``
    merges stored buckets ``floor(i*n/points)`` up to ``floor((i+1)*n/points)``."""
    n = peaks.points
    if points >= n or n == 0:
        return peaks
    edges = (np.arange(points, dtype=np.int64) * n) // points
    low = np.minimum.reduceat(np.asarray(peaks.min, dtype=np.float64), edges)
    high = np.maximum.reduceat(np.asarray(peaks.max, dtype=np.float64), edges)
    return Peaks(
        duration_s=peaks.duration_s,
        sample_rate=peaks.sample_rate,
        points=points,
        min=tuple(float(v) for v in low),
        max=tuple(float(v) for v in high),
    )


def cached_peaks(original: Path, folder: Path) -> Peaks:
    """The stored peaks of a track (computed and written to ``folder`` the first time)."""
    path = folder / PEAKS_FILE
    with _locks_guard:
        lock = _locks.setdefault(path, threading.Lock())
    with lock:
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("format") == FORMAT:
                    data.pop("format")
                    return Peaks(**{**data, "min": tuple(data["min"]), "max": tuple(data["max"])})
            except (OSError, ValueError, TypeError):
                pass  # unreadable: computed again below
        peaks = compute_peaks(original)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"format": FORMAT, **peaks.to_dict()})
        return peaks
