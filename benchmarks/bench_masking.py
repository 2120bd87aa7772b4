"""Masking speed: 16 dense stereo stems of 4 minutes at 48 kHz through the model of issue #4.

Every stem sounds all the time (stereo noise at -26 dBFS), the worst case: the model skips
frames of digital silence, which real stems have plenty of. Timed on one core
(``pin_to_one_core``), CPU time. The reference measured in the same run is one
BS.1770-4 integrated loudness measurement (without true peak) of each of the 16 stems:
the ratio says how many loudness passes the masking of all 240 ordered pairs costs.
The goal is a few seconds (the automatic mixer runs it once per mix; its whole budget is
20 s, ``bench_mix_speed``).

Run: ``python benchmarks/bench_masking.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import pin_to_one_core

GOAL_S = 5.0
SAMPLE_RATE = 48_000


def main() -> None:
    pin_to_one_core()
    from stemforge.analysis.masking import masking
    from stemforge.audio.signal import Audio
    from stemforge.audio.stems import align_stems
    from stemforge.mixing.automix import stem_loudness_lufs

    rng = np.random.default_rng(0)
    stems = align_stems(
        {
            f"stem {i:02d}": Audio(
                rng.standard_normal((2, 240 * SAMPLE_RATE), dtype=np.float32) * 0.05,
                SAMPLE_RATE,
            )
            for i in range(16)
        }
    )
    start = time.process_time()
    for _, audio in stems.items():
        stem_loudness_lufs(audio)
    reference_s = time.process_time() - start
    start = time.process_time()
    result = masking(stems)
    masking_s = time.process_time() - start
    size = len(json.dumps(result.to_dict()))
    print(f"16 dense stereo stems x 240 s at {SAMPLE_RATE} Hz, {len(result.pairs)} pairs")
    print(f"masking: {masking_s:.2f} s CPU; JSON result {size / 1e6:.2f} MB")
    print(f"reference: BS.1770 loudness of the 16 stems {reference_s:.2f} s CPU")
    print(f"ratio: masking costs {masking_s / reference_s:.1f} loudness passes of all stems")
    verdict = "PASS" if masking_s < GOAL_S else "FAIL"
    print(f"{verdict}: {masking_s:.1f} s of CPU time on one core (goal: under {GOAL_S:g} s)")


if __name__ == "__main__":
    main()
