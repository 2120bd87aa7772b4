"""Run every benchmark and print its figures: `make bench` (or `python benchmarks/run.py NAME`)."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BENCHMARKS = [
    "bench_analyze",
    "bench_loudness",
    "bench_music",
    "bench_rhythm",
    "bench_key",
    "bench_search",
    "bench_ingest",
    "bench_web",
    "bench_masking",
    "bench_automix",
    "bench_mix_speed",
    "bench_render",
]


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    for name in names:
        module = importlib.import_module(name if name.startswith("bench_") else f"bench_{name}")
        print(f"\n=== {module.__name__}: {(module.__doc__ or '').strip().splitlines()[0]}")
        start = time.perf_counter()
        module.main()
        print(f"=== {module.__name__} finished in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
