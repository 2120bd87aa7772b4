"""Masking between stems: clashing pairs and stems buried by the rest of the mix.

Rules: ``stem_clash``, ``stem_masked``.

Amounts are the ``loss_db`` of :mod:`stemforge.analysis.masking`: the target sounds as
loud as it would alone turned down by that much (partial loudness; it is graded, so
even a well-balanced dense mix reads 10-20 dB between its busiest pairs). On the demo
songs, whose static mix is balanced by ear, the worst pair reads 16-18 dB (bass over
kick) and the most masked stem 28-29 dB (the chord pad under bass and vocal); turning
the bass up 10 dB makes bass over kick read 28-31 dB.
"""

from __future__ import annotations

import math
import re

import numpy as np

from stemforge.advice.findings import Finding, Fix, Severity
from stemforge.advice.rules.common import (
    RuleContext,
    band_q,
    hz_text,
    setting_hz_text,
    spans_text,
)
from stemforge.analysis.common import TimeRange
from stemforge.analysis.masking import PairMasking, top_clashes

#: Pairs reported (worst first) and their grades, stemforge editorial from the figures
#: above: from 15 dB as information, 24 dB (a masked fraction of 0.81) a warning, 36 dB
#: (0.92) a problem.
MAX_CLASHES = 3
CLASH_INFO_DB = 15.0
CLASH_WARNING_DB = 24.0
CLASH_PROBLEM_DB = 36.0
#: A stem masked by all the others together: from 32 dB (0.89) a warning, from 42 dB
#: (0.95) a problem; lower amounts are normal in a dense mix (see above).
STEM_WARNING_DB = 32.0
STEM_PROBLEM_DB = 42.0
#: The level change suggested for a buried stem, by severity (stemforge editorial: a
#: fader move a listener notices, then a clear one).
STEM_RAISE_DB = {Severity.WARNING: 3.0, Severity.PROBLEM: 6.0}
#: The EQ cut on the masker: the masker's threshold over the target's level in the
#: worst band plus 3 dB, at least 2 and at most 6 dB (stemforge editorial: deeper cuts
#: thin the masker; duck it in time instead).
CUT_MARGIN_DB = 3.0
CUT_RANGE_DB = (2.0, 6.0)
CUT_Q_RANGE = (0.7, 4.0)
#: Ducking for a rhythmic target (a sidechain from the target to the masker): depth
#: as the cut; attack 1 ms (before the hit's attack is over); release a quarter of a
#: beat, within 40-200 ms, so the masker is back before the next hit (stemforge
#: editorial; 100 ms without a tempo).
SIDECHAIN_ATTACK_MS = 1.0
SIDECHAIN_RELEASE_RANGE_MS = (40.0, 200.0)
SIDECHAIN_DEFAULT_RELEASE_MS = 100.0
#: Names of stems that play hits, for which ducking the masker fits better than EQ.
RHYTHMIC_STEM = re.compile(r"kick|snare|drum|perc|clap|tom|bd|sd|808|beat", re.IGNORECASE)


def _severity(loss_db: float, warning: float, problem: float) -> Severity:
    if loss_db >= problem:
        return Severity.PROBLEM
    if loss_db >= warning:
        return Severity.WARNING
    return Severity.INFO


def _release_ms(ctx: RuleContext) -> float:
    beat = ctx.felt_beat_s
    if beat is None:
        return SIDECHAIN_DEFAULT_RELEASE_MS
    return round(float(np.clip(250.0 * beat, *SIDECHAIN_RELEASE_RANGE_MS)), 0)


def _clash_fix(ctx: RuleContext, pair: PairMasking) -> Fix | None:
    if not pair.worst_bands:
        return None
    band = pair.worst_bands[0]
    margin = band.margin_db if math.isfinite(band.margin_db) else 0.0
    depth = float(np.clip(margin + CUT_MARGIN_DB, *CUT_RANGE_DB))
    q = band_q(band.low_hz, band.high_hz, low=CUT_Q_RANGE[0], high=CUT_Q_RANGE[1])
    f, g = round(band.centre_hz, 0), -round(depth, 1)
    cut = f"cut {abs(g):g} dB at {setting_hz_text(f)}, Q {q:.1f}, on the {pair.masker}"
    release = _release_ms(ctx)
    duck = (
        f"sidechain the {pair.masker} to the {pair.target} ({abs(g):g} dB of ducking, attack "
        f"{SIDECHAIN_ATTACK_MS:g} ms, release {release:g} ms)"
    )
    rhythmic = bool(RHYTHMIC_STEM.search(pair.target)) and not RHYTHMIC_STEM.search(pair.masker)
    if rhythmic:
        return Fix(
            action=duck,
            target=pair.masker,
            processor="sidechain_compression",
            parameters={
                "trigger": pair.target,
                "depth_db": round(depth, 1),
                "attack_ms": SIDECHAIN_ATTACK_MS,
                "release_ms": release,
            },
            alternatives=(cut,),
        )
    return Fix(
        action=cut,
        target=pair.masker,
        processor="peaking_eq",
        parameters={"frequency_hz": f, "gain_db": g, "q": round(q, 1)},
        alternatives=(duck, f"pan the {pair.masker} and the {pair.target} apart"),
    )


def _range_text(band) -> str:
    """ "20-101 Hz", "781 Hz-1.2 kHz"."""
    low, high = hz_text(band.low_hz), hz_text(band.high_hz)
    if low.endswith(" Hz") and high.endswith(" Hz"):
        return f"{low[:-3]}-{high}"
    return f"{low}-{high}"


def _when(spans) -> tuple[TimeRange, ...]:
    return tuple(TimeRange(s.start_s, s.end_s) for s in spans)


def stem_clash(ctx: RuleContext) -> list[Finding]:
    """The worst masking pairs (``top_clashes``), where and when, with a cut or ducking."""
    if ctx.masking is None:
        return []
    out = []
    for pair in top_clashes(ctx.masking, MAX_CLASHES):
        if pair.loss_db < CLASH_INFO_DB:
            continue
        band = pair.worst_bands[0] if pair.worst_bands else None
        where = f" at {_range_text(band)}" if band else ""
        when = _when(pair.time_ranges)
        message = (
            f"{pair.masker} and {pair.target} clash{where}"
            + (f" ({spans_text(when)})" if when else "")
            + f": the {pair.target} loses {100 * pair.masked_fraction:.0f} % of its loudness "
            f"to the {pair.masker} (as if {pair.loss_db:.0f} dB quieter)."
        )
        out.append(
            Finding(
                rule="stem_clash",
                area="masking",
                severity=_severity(pair.loss_db, CLASH_WARNING_DB, CLASH_PROBLEM_DB),
                message=message,
                evidence={
                    "masker": pair.masker,
                    "target": pair.target,
                    "masked_fraction": round(pair.masked_fraction, 3),
                    "loss_db": round(pair.loss_db, 1),
                    "worst_bands": [b.to_dict() for b in pair.worst_bands],
                },
                when=when,
                fix=_clash_fix(ctx, pair),
                stems=(pair.masker, pair.target),
            )
        )
    return out


def stem_masked(ctx: RuleContext) -> list[Finding]:
    """A stem buried by the rest of the mix."""
    if ctx.masking is None:
        return []
    out = []
    for stem in ctx.masking.stems:
        if stem.silent or stem.loss_db < STEM_WARNING_DB:
            continue
        band = stem.worst_bands[0] if stem.worst_bands else None
        maskers = ", ".join(stem.main_maskers) or "the rest of the mix"
        where = f", most at {_range_text(band)}" if band else ""
        when = _when(stem.time_ranges)
        severity = _severity(stem.loss_db, STEM_WARNING_DB, STEM_PROBLEM_DB)
        raise_db = STEM_RAISE_DB[severity]
        actions = [f"raise the {stem.name} {raise_db:g} dB, or lower {maskers} where it plays"]
        if band is not None and stem.main_maskers:
            actions.append(
                f"cut the {stem.main_maskers[0]} around {setting_hz_text(band.centre_hz)} to make "
                f"room for the {stem.name}"
            )
        out.append(
            Finding(
                rule="stem_masked",
                area="masking",
                severity=severity,
                message=(
                    f"The {stem.name} is buried: the rest of the mix takes "
                    f"{100 * stem.masked_fraction:.0f} % of its loudness (as if "
                    f"{stem.loss_db:.0f} dB quieter){where}, most of it to {maskers}."
                ),
                evidence={
                    "stem": stem.name,
                    "masked_fraction": round(stem.masked_fraction, 3),
                    "loss_db": round(stem.loss_db, 1),
                    "main_maskers": list(stem.main_maskers),
                    "worst_bands": [b.to_dict() for b in stem.worst_bands],
                },
                when=when,
                fix=Fix(
                    action=actions[0],
                    target=stem.name,
                    processor="gain",
                    parameters={"gain_db": raise_db},
                    alternatives=tuple(actions[1:]),
                ),
                stems=(stem.name, *stem.main_maskers),
            )
        )
    return out


RULES = (stem_clash, stem_masked)
