"""Transients: weak punch in a track with drums.

Rule: ``weak_transients``.

Punch (see :mod:`stemforge.analysis.transients`) is the median over onsets of the power
in the first 50 ms over the power of the following 250 ms. Measured on the shared
recordings, pop and electronic tracks with drums read 2.4-3.4 dB and the demo songs
1.2-1.8 dB; a demo song pushed 6 dB into a look-ahead limiter reads 0.7 dB, 10 dB into
it 0.2 dB.
"""

from __future__ import annotations

import math

from stemforge.advice.findings import Finding, Fix
from stemforge.advice.rules.common import RuleContext, grade

#: Punch grades (stemforge editorial, from the measurements above): under 1 dB a warning,
#: under 0.3 dB a problem.
PUNCH_WARNING_DB = 1.0
PUNCH_PROBLEM_DB = 0.3
#: The rule applies to tracks with a beat and drums: a tempo found (see
#: :data:`~stemforge.advice.rules.common.MIN_TEMPO_CONFIDENCE`), at least this share of
#: percussive energy (HPSS) and this many onsets a second. The demo songs' drums give
#: 0.06-0.10, strings alone 0.06 but no tempo.
MIN_PERCUSSIVE_FRACTION = 0.05
MIN_ONSET_RATE_PER_S = 1.0
#: Genres whose character does not rest on drum transients.
EXEMPT_GENRES = ("classical", "ambient")
#: The transient-shaper boost and the compressor attack the fix suggests (stemforge
#: editorial: typical starting points).
SHAPER_ATTACK_DB = 3.0
COMPRESSOR_ATTACK_MS = 30.0


def weak_transients(ctx: RuleContext) -> list[Finding]:
    """Low punch in a track with a beat and drums."""
    t = ctx.analysis.transients
    if (
        ctx.tempo_bpm is None
        or ctx.genre_is(*EXEMPT_GENRES)
        or not math.isfinite(t.punch_db)
        or t.percussive_fraction < MIN_PERCUSSIVE_FRACTION
        or t.onset_rate_per_s < MIN_ONSET_RATE_PER_S
        or t.punch_db >= PUNCH_WARNING_DB
    ):
        return []
    deficit = PUNCH_WARNING_DB - t.punch_db
    severity = grade(deficit, 0.0, PUNCH_WARNING_DB - PUNCH_PROBLEM_DB)
    squashed = " (and the mix is over-compressed)" if ctx.analysis.dynamics.over_compressed else ""
    return [
        Finding(
            rule="weak_transients",
            area="transients",
            severity=severity,
            message=(
                f"Weak transients{squashed}: hits rise only {t.punch_db:.1f} dB above what follows "
                f"them (median of {t.onset_count} onsets), so the drums lack punch."
            ),
            evidence={
                "punch_db": round(t.punch_db, 2),
                "onset_count": t.onset_count,
                "onset_rate_per_s": round(t.onset_rate_per_s, 2),
                "percussive_fraction": round(t.percussive_fraction, 3),
            },
            fix=Fix(
                action=(
                    f"add {SHAPER_ATTACK_DB:g} dB of attack with a transient shaper on the drum "
                    f"bus, or slow the compressor attack to {COMPRESSOR_ATTACK_MS:g} ms so hits "
                    "pass before it clamps down"
                ),
                target="drums",
                processor="transient_shaper",
                parameters={"attack_db": SHAPER_ATTACK_DB, "sustain_db": 0.0},
                alternatives=(
                    f"compressor attack {COMPRESSOR_ATTACK_MS:g} ms on the drum bus and master",
                ),
            ),
        )
    ]


RULES = (weak_transients,)
