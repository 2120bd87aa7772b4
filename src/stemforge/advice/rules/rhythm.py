"""Rhythm: a tempo that drifts (not on a grid).

Rule: ``tempo_drift``.

``tempo_stability`` of :mod:`stemforge.analysis.rhythm` is ``1 - spread / 0.2`` with
``spread = (p95 - p5) / median`` of the local tempo, so the spread in percent is
``20 (1 - stability)``. The demo songs (made on a grid, with humanised timing) read
0.96-0.99 (spread under 1 %); a demo song whose tempo drifts 3 % from its first beat to
its last reads 0.84 (3.3 %).
"""

from __future__ import annotations

import numpy as np

from stemforge.advice.findings import Finding, Fix, Severity
from stemforge.advice.rules.common import RuleContext, grade

#: Tempo spread grades (stemforge editorial): 2 % (2.4 BPM at 120: two tracks drift a
#: beat apart in about 40 s) a warning; 6 % a problem (no DJ can hold it with the pitch
#: fader).
DRIFT_WARNING_PERCENT = 2.0
DRIFT_PROBLEM_PERCENT = 6.0
#: Genres usually played live without a click: a drifting tempo is their nature, so it
#: is only information there.
LIVE_GENRES = ("jazz", "classical", "folk_acoustic")


def tempo_drift(ctx: RuleContext) -> list[Finding]:
    """The local tempo moves: the track is not on a grid."""
    r = ctx.analysis.music.rhythm
    if ctx.tempo_bpm is None or r.is_steady or len(r.tempo_curve) < 2:
        return []
    spread = 20.0 * (1.0 - r.tempo_stability)
    if spread < DRIFT_WARNING_PERCENT:
        return []
    curve = np.asarray(r.tempo_curve.values, dtype=np.float64)
    low, high = np.percentile(curve, [5, 95])
    severity = grade(spread, DRIFT_WARNING_PERCENT, DRIFT_PROBLEM_PERCENT)
    if ctx.genre_is(*LIVE_GENRES):
        severity = Severity.INFO
    return [
        Finding(
            rule="tempo_drift",
            area="rhythm",
            severity=severity,
            message=(
                f"The tempo moves between {low:.1f} and {high:.1f} BPM ({spread:.1f} %): the track "
                "is not on a grid, so DJs will struggle to beat-match it and loops and delays "
                "will not line up."
            ),
            evidence={
                "tempo_bpm": round(r.tempo_bpm, 2),
                "tempo_stability": round(r.tempo_stability, 3),
                "spread_percent": round(spread, 2),
                "tempo_p5_bpm": round(float(low), 2),
                "tempo_p95_bpm": round(float(high), 2),
                "is_steady": r.is_steady,
            },
            fix=Fix(
                action=(
                    f"quantise to a {r.tempo_bpm:.0f} BPM grid or record to a click (or give "
                    "the DAW the tempo map so the grid follows the drift)"
                ),
                target="mix",
                processor="quantize",
                parameters={"grid_bpm": round(float(r.tempo_bpm), 1)},
            ),
        )
    ]


RULES = (tempo_drift,)
