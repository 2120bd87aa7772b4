"""Ingest with full analysis of 3-minute demo songs through jobs, 1 and 2 local workers.

Tracks per minute for each worker count and the scaling ratio (target >= 1.8x with 2).
The songs (varied tempos and keys) are generated once into a cache folder under /tmp;
each run ingests them into a fresh SQLite library. ``--tracks N`` for a quick run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 1.8
KEYS = ["C", "G", "D", "A", "E", "B", "F#", "F", "Bb", "Eb", "Ab", "Db"]
CACHE = Path(tempfile.gettempdir()) / "stemforge-bench-ingest"


def demo_tracks(count: int, duration_s: float = 180.0) -> list[Path]:
    """``count`` mixes of about ``duration_s`` at tempos 80-159 BPM and all 24 keys."""
    from stemforge.demo import generate_song

    CACHE.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        tempo = 80 + (i * 37) % 80
        key, mode = KEYS[i % 12], ("major", "minor")[(i // 12) % 2]
        out = CACHE / f"{i:04d}-{tempo}-{key}-{mode}-{duration_s:.0f}s.wav"
        if not out.exists():
            bars = max(4, round(duration_s * tempo / 240))  # 4/4: 4 beats a bar
            song = generate_song(
                tempo_bpm=tempo, key=key, mode=mode, seed=i, sections=[("verse", bars)]
            )
            folder = song.save(CACHE / f"tmp-{i}")
            os.replace(folder / "mix.wav", out)
            shutil.rmtree(folder, ignore_errors=True)
        paths.append(out)
    return paths


def ingest_rate(tracks: list[Path], workers: int) -> float:
    """Tracks per minute of ``add_paths`` (full analysis) with ``workers`` processes; the
    pool is started and warmed up before the clock starts."""
    from stemforge.jobs import LocalExecutor, add_paths
    from stemforge.library import Library

    home = Path(tempfile.mkdtemp(prefix=f"stemforge-bench-w{workers}-"))
    try:
        with Library.open(home=home) as lib, LocalExecutor(workers) as executor:
            pool = executor._ensure_pool(str(home))  # start and warm up every worker
            for future in [pool.submit(time.sleep, 0.5) for _ in range(workers)]:
                future.result()
            start = time.perf_counter()
            report = add_paths(lib, tracks, executor=executor)
            elapsed = time.perf_counter() - start
        if report.failed:
            print(f"  {report.failed} failed: {report.items[0].reason}")
        return report.added / elapsed * 60.0
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=200, help="How many tracks (200).")
    parser.add_argument("--duration", type=float, default=180.0, help="Seconds a track (180).")
    args = parser.parse_args([] if argv is None else argv)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(CACHE / "numba"))
    start = time.perf_counter()
    tracks = demo_tracks(args.tracks, args.duration)
    print(
        f"{len(tracks)} tracks of {args.duration:.0f} s in {CACHE} "
        f"({time.perf_counter() - start:.0f} s to make or find)"
    )
    rates = {}
    for workers in (1, 2):
        rates[workers] = ingest_rate(tracks, workers)
        load = os.getloadavg()[0]
        print(
            f"  {workers} worker(s): {rates[workers]:.1f} tracks/min "
            f"(load average {load:.1f} on {os.cpu_count()} CPUs after the run)"
        )
    ratio = rates[2] / rates[1] if rates[1] else float("nan")
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"scaling 1 -> 2 workers: {ratio:.2f}x (target {TARGET_RATIO}x -> {verdict})")


if __name__ == "__main__":
    main(sys.argv[1:])
