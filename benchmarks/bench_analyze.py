"""Full `analyze` of 4 minutes of stereo 44.1 kHz on one core: time, speed, peak memory.

Targets (issue #2): under 6 s (40x real time) after warm-up; peak memory under 1 GB.
Memory is measured in a fresh child process so the figure is the analysis's own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from common import ROOT, best_of, four_minute_track, pin_to_one_core

TARGET_S = 6.0
MEMORY_TARGET_MB = 1024.0


def _peak_memory_mb(path) -> float:
    code = textwrap.dedent(f"""
        import json, resource, sys
        sys.path.insert(0, {str(ROOT / "benchmarks")!r})
        from common import pin_to_one_core
        pin_to_one_core()
        import stemforge
        stemforge.analyze({str(path)!r})
        print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    pin_to_one_core()
    import stemforge

    path = four_minute_track()
    result = stemforge.analyze(path)
    seconds = best_of(lambda: stemforge.analyze(path), repeat=3)
    timings = stemforge.analyze(path).timings_s
    duration = result.duration_s
    print(f"track: {path.name}, {duration:.1f} s stereo {result.sample_rate} Hz")
    print(
        f"full analyze, one core, best of 3: {seconds:.2f} s  "
        f"({duration / seconds:.0f}x real time; target {TARGET_S:.0f} s -> "
        f"{'PASS' if seconds < TARGET_S else 'FAIL'}, ratio {seconds / TARGET_S:.2f} of budget)"
    )
    for step, t in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(f"  {step:<16} {t:6.2f} s")
    memory = _peak_memory_mb(path)
    print(
        f"peak memory (fresh process, load + analyze): {memory:.0f} MB  "
        f"(target {MEMORY_TARGET_MB:.0f} MB -> {'PASS' if memory < MEMORY_TARGET_MB else 'FAIL'})"
    )


if __name__ == "__main__":
    main()
