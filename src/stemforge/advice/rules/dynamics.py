"""Dynamics: over-compression (PLR, crest factor), crest factor and loudness range
against the genre.

Rules: ``over_compressed``, ``crest_factor_below_genre``, ``crest_factor_above_genre``,
``loudness_range_below_genre``, ``loudness_range_above_genre``.
"""

from __future__ import annotations

import math

from stemforge.advice.findings import Finding, Fix, Severity
from stemforge.advice.rules.common import RuleContext, grade, limiter_fix
from stemforge.advice.rules.peaks import ceiling_for
from stemforge.analysis.dynamics import HEAVY_LIMITING_PLR_DB

#: PLR below this is brick-walled: the over-compression score of
#: :func:`stemforge.analysis.dynamics.dynamics` reaches 1 for PLR at or under 6 dB.
BRICKWALL_PLR_DB = 6.0
#: The PLR the fix aims for: 2 dB above the over-compression flag (8 dB), still 3 dB
#: under the 13 dB a master can use at -14 LUFS with a -1 dBTP ceiling (stemforge
#: editorial).
PLR_GOAL_DB = 10.0
#: Crest factor or LRA further than this outside the genre's range is a warning, nearer
#: it is information (the genre ranges are editorial and wide already).
GENRE_WARNING_DB = 3.0


def over_compressed(ctx: RuleContext) -> list[Finding]:
    """The over-compression verdict of the dynamics analysis (PLR and short-term crest)."""
    d = ctx.analysis.dynamics
    if not d.over_compressed:
        return []
    plr = d.plr_db
    ceiling, _ = ceiling_for(ctx)
    back_off = max(PLR_GOAL_DB - plr, 1.0)
    severity = Severity.PROBLEM if plr < BRICKWALL_PLR_DB else Severity.WARNING
    message = (
        f"The mix is over-compressed: peaks stand only {plr:.1f} dB above the loudness "
        f"(PLR; under {HEAVY_LIMITING_PLR_DB:g} dB means heavy limiting) and the median "
        f"short-term crest factor is {d.crest_p50_db:.1f} dB, so the hits have lost their "
        "edge throughout the track."
    )
    fix = limiter_fix(
        ceiling,
        input_gain_db=-back_off,
        action=(
            f"drive the limiter {back_off:.1f} dB less (aim for a PLR of {PLR_GOAL_DB:g} dB); "
            "on a normalising service the master loses no loudness by it"
        ),
        alternatives=("slow the attack of the bus compressor to 20-30 ms so hits pass",),
    )
    return [
        Finding(
            rule="over_compressed",
            area="dynamics",
            severity=severity,
            message=message,
            evidence={
                "plr_db": round(plr, 2),
                "crest_factor_db": round(d.crest_factor_db, 2),
                "crest_p50_db": round(d.crest_p50_db, 2),
                "loudness_range_lu": round(d.loudness_range_lu, 2),
                "over_compression_score": d.over_compression_score,
                "reasons": list(d.over_compression_reasons),
            },
            fix=fix,
        )
    ]


def crest_factor_vs_genre(ctx: RuleContext) -> list[Finding]:
    """The whole-track crest factor against the genre's typical range."""
    if ctx.genre_profile is None or "crest_factor_db" not in ctx.targets:
        return []
    crest = ctx.analysis.dynamics.crest_factor_db
    if not math.isfinite(crest):
        return []
    dev = ctx.targets.compare("crest_factor_db", crest)
    if dev.within:
        return []
    genre = ctx.genre_profile.display_name
    evidence = {
        "crest_factor_db": round(crest, 2),
        "genre_low_db": dev.low,
        "genre_high_db": dev.high,
        "genre": ctx.genre_profile.name,
        "source": dev.source,
    }
    if dev.outside_by < 0:
        ceiling, _ = ceiling_for(ctx)
        back_off = -dev.outside_by
        return [
            Finding(
                rule="crest_factor_below_genre",
                area="dynamics",
                severity=grade(back_off, GENRE_WARNING_DB),
                message=(
                    f"The crest factor is {crest:.1f} dB, {back_off:.1f} dB below the "
                    f"{dev.low:g}-{dev.high:g} dB typical of {genre}: the peaks are more "
                    "squashed than the genre usually is."
                ),
                evidence=evidence,
                fix=limiter_fix(
                    ceiling,
                    input_gain_db=-back_off,
                    action=f"drive the limiter and bus compression {back_off:.1f} dB less",
                ),
            )
        ]
    return [
        Finding(
            rule="crest_factor_above_genre",
            area="dynamics",
            severity=Severity.INFO,
            message=(
                f"The crest factor is {crest:.1f} dB, {dev.outside_by:.1f} dB above the "
                f"{dev.low:g}-{dev.high:g} dB typical of {genre}: more dynamic than the genre "
                "usually is, fine on normalising services, quieter on club systems and CDs."
            ),
            evidence=evidence,
        )
    ]


def loudness_range_vs_genre(ctx: RuleContext) -> list[Finding]:
    """Loudness range (EBU Tech 3342 LRA) against the genre's typical range."""
    if ctx.genre_profile is None or "loudness_range_lu" not in ctx.targets:
        return []
    lra = ctx.analysis.loudness.loudness_range_lu
    if not math.isfinite(lra):
        return []
    dev = ctx.targets.compare("loudness_range_lu", lra)
    if dev.within:
        return []
    genre = ctx.genre_profile.display_name
    evidence = {
        "loudness_range_lu": round(lra, 2),
        "genre_low_lu": dev.low,
        "genre_high_lu": dev.high,
        "genre": ctx.genre_profile.name,
        "source": dev.source,
    }
    amount = abs(dev.outside_by)
    if dev.outside_by < 0:
        return [
            Finding(
                rule="loudness_range_below_genre",
                area="dynamics",
                severity=grade(amount, GENRE_WARNING_DB),
                message=(
                    f"The loudness range is {lra:.1f} LU, {amount:.1f} LU under the "
                    f"{dev.low:g}-{dev.high:g} LU typical of {genre}: verses and choruses sit "
                    "at nearly one level, so the song has little lift."
                ),
                evidence=evidence,
                fix=Fix(
                    action=(
                        f"let the quieter sections sit about {amount:.0f} dB lower (automation) "
                        "or ease off the bus compression"
                    ),
                    target="mix",
                    processor="section_gain",
                    parameters={"quiet_sections_gain_db": -round(amount, 1)},
                ),
            )
        ]
    return [
        Finding(
            rule="loudness_range_above_genre",
            area="dynamics",
            severity=grade(amount, GENRE_WARNING_DB),
            message=(
                f"The loudness range is {lra:.1f} LU, {amount:.1f} LU over the "
                f"{dev.low:g}-{dev.high:g} LU typical of {genre}: quiet passages may get lost "
                "in a car or on earbuds."
            ),
            evidence=evidence,
            fix=Fix(
                action=(
                    "even out the sections with gentle bus compression (ratio 2:1, attack "
                    "30 ms, release 300 ms) or raise the quiet sections"
                ),
                target="mix",
                processor="compressor",
                parameters={"ratio": 2.0, "attack_ms": 30.0, "release_ms": 300.0},
            ),
        )
    ]


RULES = (over_compressed, crest_factor_vs_genre, loudness_range_vs_genre)
