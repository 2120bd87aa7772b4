"""Automatic mixing speed: 16 stems of 4 minutes analysed, mixed and rendered on one core.

The stems are the 7 stems of three demo songs (``stemforge.demo``, 48 kHz stereo, 4 minutes
each, different seeds; 16 of their 21 stems), built before the clock starts. Timed on one
core (``pin_to_one_core``), CPU time and wall time:

1. analysis: roles, sound features and BS.1770 loudness of every stem;
2. decisions: high-pass, compression, pan, balance, masking (issue #4) and EQ cuts;
3. render: the sheet through :func:`stemforge.mixing.render.render` (EQ, compressors,
   gains, pans, the master limiter to -14 LUFS under -1 dBTP).

The goal is under 20 s for all three. The reference measured in the same run is one
BS.1770-4 loudness measurement (:func:`stemforge.analysis.loudness.loudness`, with true
peak) of the 4-minute mix: the ratio says how many loudness-meter passes the whole
automatic mix costs.

Run: ``python benchmarks/bench_mix_speed.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import pin_to_one_core

GOAL_S = 20.0
DURATION_S = 240.0
N_STEMS = 16
SAMPLE_RATE = 48_000
# 120 bars of 4/4 at 120 BPM: 240 s.
SECTIONS = [
    ("intro", 8),
    ("verse", 16),
    ("chorus", 16),
    ("verse", 16),
    ("chorus", 16),
    ("bridge", 8),
    ("breakdown", 8),
    ("chorus", 16),
    ("outro", 16),
]


def sixteen_stems() -> dict:
    from stemforge.demo import generate_song

    stems = {}
    for seed, key in ((1, "A"), (2, "A"), (3, "A")):
        song = generate_song(
            sections=SECTIONS, seed=seed, key=key, tempo_bpm=120, sample_rate=SAMPLE_RATE
        )
        for name, audio in song.stems.items():
            if len(stems) < N_STEMS:
                stems[f"{name} {seed}"] = audio.slice_s(0.0, DURATION_S)
    return stems


class Clock:
    def __init__(self) -> None:
        self.cpu = time.process_time()
        self.wall = time.perf_counter()

    def lap(self) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        out = (cpu - self.cpu, wall - self.wall)
        self.cpu, self.wall = cpu, wall
        return out


def main() -> None:
    pin_to_one_core()
    from stemforge.analysis.loudness import loudness
    from stemforge.mixing.automix import analyse_stems, decide
    from stemforge.mixing.render import render

    start = time.perf_counter()
    stems = sixteen_stems()
    first = next(iter(stems.values()))
    print(
        f"{len(stems)} stems of {first.duration_s:.0f} s at {first.sample_rate} Hz, stereo "
        f"(built in {time.perf_counter() - start:.1f} s, not timed)"
    )
    # Warm-up on a short excerpt: numba compiles (or loads its cache) once per process.
    short = {n: a.slice_s(0.0, 5.0) for n, a in stems.items()}
    s, a, m = analyse_stems(short)
    render(s, decide(s, a, m)[0])

    clock = Clock()
    stem_set, analyses, measured = analyse_stems(stems)
    analyse = clock.lap()
    sheet, _, _, timings = decide(stem_set, analyses, measured)
    decided = clock.lap()
    mix = render(stem_set, sheet)
    rendered = clock.lap()
    loudness(mix.audio)
    reference = clock.lap()

    total_cpu = analyse[0] + decided[0] + rendered[0]
    total_wall = analyse[1] + decided[1] + rendered[1]
    print(f"{'step':<34}{'CPU s':>8}{'wall s':>8}")
    for label, (cpu, wall) in (
        ("analysis (roles, features, BS.1770)", analyse),
        (f"decisions (masking {timings['masking']:.1f} s wall)", decided),
        ("render (EQ, compressors, limiter)", rendered),
        ("total", (total_cpu, total_wall)),
        ("reference: one BS.1770 meter pass", reference),
    ):
        print(f"{label:<34}{cpu:>8.2f}{wall:>8.2f}")
    print(
        f"the automatic mix costs {total_cpu / max(reference[0], 1e-9):.1f} loudness-meter "
        f"passes; mix: {mix.integrated_lufs:.1f} LUFS, {mix.true_peak_dbtp:.1f} dBTP"
    )
    verdict = "PASS" if total_cpu < GOAL_S else "FAIL"
    print(
        f"{verdict}: {total_cpu:.1f} s of CPU time on one core for {len(stems)} stems of "
        f"{DURATION_S / 60:.0f} minutes (goal: under {GOAL_S:.0f} s; wall time "
        f"{total_wall:.1f} s, longer when other processes share the core)"
    )


if __name__ == "__main__":
    main()
