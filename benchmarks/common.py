"""Shared pieces of the benchmarks: the 4-minute test track, single-core pinning, timing."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("STEMFORGE_TEST_DATA", ROOT.parent / "shared" / "data"))


def pin_to_one_core() -> None:
    """Run this process on one core with single-threaded maths libraries."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of ``repeat`` timed calls, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def four_minute_track(sample_rate: int = 44_100, duration_s: float = 240.0) -> Path:
    """A 4-minute stereo WAV made by concatenating the real recordings of shared/data/music."""
    from stemforge.audio import Audio, load, save

    out = Path(tempfile.gettempdir()) / f"stemforge-bench-{sample_rate}-{int(duration_s)}.wav"
    if out.exists():
        return out
    import numpy as np

    parts = []
    total = 0
    target = int(duration_s * sample_rate)
    files = sorted(
        p for p in (SHARED_DATA / "music").iterdir() if p.suffix in {".ogg", ".mp3", ".m4a"}
    )
    while total < target:
        for path in files:
            part = load(path, sample_rate=sample_rate).to_stereo().samples
            parts.append(part)
            total += part.shape[1]
            if total >= target:
                break
    samples = np.concatenate(parts, axis=1)[:, :target]
    save(out, Audio(samples, sample_rate), bit_depth=32)
    return out


def ffmpeg_ebur128_seconds(path: Path, repeat: int = 3) -> float:
    """Best-of time of ffmpeg's ebur128 meter with true peak on ``path`` (one thread)."""
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-threads",
        "1",
        "-i",
        str(path),
        "-af",
        "ebur128=peak=true",
        "-f",
        "null",
        "-",
    ]
    return best_of(lambda: subprocess.run(cmd, capture_output=True, check=True), repeat)
