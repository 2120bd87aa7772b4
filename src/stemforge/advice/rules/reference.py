"""The mix against a reference track (:func:`stemforge.advice.reference.compare_to_reference`).

Rules: ``reference_loudness``, ``reference_tonal_balance``, ``reference_eq``,
``reference_width``, ``reference_dynamics``, ``reference_punch``.

Tonal differences are taken after the loudness match (mix minus reference, dB per named
band), so they say how the balance differs, not the level.
"""

from __future__ import annotations

import math

import numpy as np

from stemforge.advice.findings import Finding, Fix, Severity
from stemforge.advice.rules.common import (
    RuleContext,
    band_name,
    grade,
    hz_text,
    limiter_fix,
    setting_hz_text,
)
from stemforge.advice.rules.peaks import ceiling_for
from stemforge.advice.rules.stereo import width_fix
from stemforge.advice.rules.tonal import MAX_TONAL_GAIN_DB, band_fix
from stemforge.analysis.bands import TONAL_BAND_EDGES_HZ
from stemforge.audio.filters import HighShelf, LowShelf, PeakingEQ

#: Loudness differences from 1 dB are reported (the tolerance of the streaming targets).
LOUDNESS_INFO_DB = 1.0
#: A tonal band this much louder or quieter than the reference's is a warning, from
#: 6 dB a problem (stemforge editorial: 3 dB is a clear change of balance in a broad
#: band; 6 dB another sound).
TONAL_WARNING_DB = 3.0
TONAL_PROBLEM_DB = 6.0
#: The whole suggested EQ is offered when the smoothed spectra differ this much (RMS).
EQ_INFO_RMS_DB = 1.0
#: Width differences (E_S / (E_M + E_S)): from 0.05 information, from 0.1 a warning.
WIDTH_INFO = 0.05
WIDTH_WARNING = 0.1
#: PLR this much below the reference's: more limited (warning); above: more dynamic (info).
PLR_WARNING_DB = 3.0
#: Punch this much below the reference's is a warning (see the transients rule for the
#: spread of punch among real mixes).
PUNCH_WARNING_DB = 1.5


def _diff(comparison, name: str):
    try:
        d = comparison.difference(name)
    except KeyError:
        return None
    return d if math.isfinite(d.difference) else None


def reference_loudness(ctx: RuleContext) -> list[Finding]:
    """How much louder or quieter than the reference the mix is."""
    c = ctx.reference
    if c is None:
        return []
    d = _diff(c, "integrated_lufs")
    if d is None or abs(d.difference) < LOUDNESS_INFO_DB:
        return []
    louder = d.difference > 0
    return [
        Finding(
            rule="reference_loudness",
            area="reference",
            severity=Severity.INFO,
            message=(
                f"The mix is {abs(d.difference):.1f} dB {'louder' if louder else 'quieter'} than "
                f"the reference ({d.mix:.1f} against {d.reference:.1f} LUFS); the comparisons "
                "below are made at equal loudness."
            ),
            evidence={
                "mix_lufs": round(d.mix, 2),
                "reference_lufs": round(d.reference, 2),
                "difference_db": round(d.difference, 2),
            },
        )
    ]


def _eq_band_for(comparison, low_hz: float, high_hz: float, sign: float):
    """The suggested EQ's band acting in ``low_hz .. high_hz`` in the direction ``sign``."""
    best = None
    for band in comparison.suggested_eq.bands:
        gain = getattr(band, "gain_db", 0.0)
        f = getattr(band, "frequency_hz", math.nan)
        if not (low_hz <= f < high_hz) or gain * sign <= 0:
            continue
        if best is None or abs(gain) > abs(best.gain_db):
            best = band
    return best


def _fix_from_filter(band) -> Fix:
    f, g = round(band.frequency_hz, 0), round(band.gain_db, 1)
    verb = "cut" if g < 0 else "boost"
    if isinstance(band, PeakingEQ):
        q = round(band.q, 2)
        return Fix(
            action=f"{verb} {abs(g):g} dB at {setting_hz_text(f)}, Q {q:g} (from the fit to the "
            "reference)",
            processor="peaking_eq",
            parameters={"frequency_hz": f, "gain_db": g, "q": q},
        )
    kind = "low_shelf" if isinstance(band, LowShelf) else "high_shelf"
    where = "below" if kind == "low_shelf" else "above"
    params = {"frequency_hz": f, "gain_db": g}
    if band.q is not None:
        params["q"] = round(band.q, 2)
    return Fix(
        action=f"{verb} {abs(g):g} dB {where} {setting_hz_text(f)} with a {kind.replace('_', ' ')} "
        "(from the fit to the reference)",
        processor=kind,
        parameters=params,
    )


def reference_tonal_balance(ctx: RuleContext) -> list[Finding]:
    """Each named band of the mix against the reference at equal loudness."""
    c = ctx.reference
    if c is None:
        return []
    edges = {n: (lo, hi) for n, lo, hi in TONAL_BAND_EDGES_HZ}
    out = []
    for d in c.tonal_balance:
        if not math.isfinite(d.difference) or abs(d.difference) < TONAL_WARNING_DB:
            continue
        low, high = edges.get(d.name, (math.nan, math.nan))
        more = "louder" if d.difference > 0 else "quieter"
        band = _eq_band_for(c, low, high, -np.sign(d.difference))
        if band is not None and isinstance(band, (PeakingEQ, LowShelf, HighShelf)):
            fix = _fix_from_filter(band)
        else:
            gain = float(np.clip(-d.difference, -MAX_TONAL_GAIN_DB, MAX_TONAL_GAIN_DB))
            fix = band_fix(d.name, gain)
        out.append(
            Finding(
                rule="reference_tonal_balance",
                area="reference",
                severity=grade(abs(d.difference), TONAL_WARNING_DB, TONAL_PROBLEM_DB),
                message=(
                    f"The {band_name(d.name)} band ({hz_text(low)}-{hz_text(high)}) is "
                    f"{abs(d.difference):.1f} dB {more} than "
                    "in the reference (at equal loudness)."
                ),
                evidence={
                    "band": d.name,
                    "difference_db": round(d.difference, 2),
                    "mix_level_db": round(d.mix, 2),
                    "reference_level_db": round(d.reference, 2),
                },
                fix=fix,
            )
        )
    return out


def reference_eq(ctx: RuleContext) -> list[Finding]:
    """The whole EQ that matches the reference's tonal balance, as one fix."""
    c = ctx.reference
    if c is None or not c.suggested_eq.bands or c.difference_rms_db < EQ_INFO_RMS_DB:
        return []
    bands = ", ".join(_fix_from_filter(b).action.split(" (from")[0] for b in c.suggested_eq.bands)
    return [
        Finding(
            rule="reference_eq",
            area="reference",
            severity=Severity.INFO,
            message=(
                f"The spectrum differs from the reference's by {c.difference_rms_db:.1f} dB RMS "
                f"(up to {c.difference_max_db:.1f} dB, 1/3-octave smoothed); "
                f"{len(c.suggested_eq.bands)} EQ band(s) bring it within "
                f"{c.residual_max_db:.1f} dB."
            ),
            evidence={
                "difference_rms_db": round(c.difference_rms_db, 2),
                "difference_max_db": round(c.difference_max_db, 2),
                "residual_max_db": round(c.residual_max_db, 2),
                "target_met": c.target_met,
            },
            fix=Fix(
                action=f"EQ the master towards the reference: {bands}",
                target="master",
                processor="eq",
                parameters=c.suggested_eq.to_dict(),
            ),
        )
    ]


def reference_width(ctx: RuleContext) -> list[Finding]:
    """Stereo width against the reference's."""
    c = ctx.reference
    if c is None:
        return []
    d = _diff(c, "width")
    if d is None or abs(d.difference) < WIDTH_INFO:
        return []
    wider = d.difference > 0
    return [
        Finding(
            rule="reference_width",
            area="reference",
            severity=grade(abs(d.difference), WIDTH_WARNING),
            message=(
                f"The mix is {'wider' if wider else 'narrower'} than the reference (width "
                f"{d.mix:.2f} against {d.reference:.2f})."
            ),
            evidence={"mix_width": round(d.mix, 3), "reference_width": round(d.reference, 3)},
            fix=width_fix(d.mix, d.reference),
        )
    ]


def reference_dynamics(ctx: RuleContext) -> list[Finding]:
    """Peak-to-loudness ratio against the reference's."""
    c = ctx.reference
    if c is None:
        return []
    d = _diff(c, "plr_db")
    if d is None or abs(d.difference) < PLR_WARNING_DB:
        return []
    evidence = {"mix_plr_db": round(d.mix, 2), "reference_plr_db": round(d.reference, 2)}
    if d.difference < 0:
        ceiling, _ = ceiling_for(ctx)
        return [
            Finding(
                rule="reference_dynamics",
                area="reference",
                severity=Severity.WARNING,
                message=(
                    f"The mix is more limited than the reference: PLR {d.mix:.1f} dB against "
                    f"{d.reference:.1f} dB."
                ),
                evidence=evidence,
                fix=limiter_fix(
                    ceiling,
                    input_gain_db=d.difference,
                    action=f"drive the limiter {abs(d.difference):.1f} dB less",
                ),
            )
        ]
    return [
        Finding(
            rule="reference_dynamics",
            area="reference",
            severity=Severity.INFO,
            message=(
                f"The mix is more dynamic than the reference: PLR {d.mix:.1f} dB against "
                f"{d.reference:.1f} dB (it plays quieter where nothing normalises)."
            ),
            evidence=evidence,
        )
    ]


def reference_punch(ctx: RuleContext) -> list[Finding]:
    """Transient punch against the reference's."""
    c = ctx.reference
    if c is None:
        return []
    d = _diff(c, "punch_db")
    if d is None or d.difference > -PUNCH_WARNING_DB:
        return []
    return [
        Finding(
            rule="reference_punch",
            area="reference",
            severity=Severity.WARNING,
            message=(
                f"The hits have less punch than the reference's: {d.mix:.1f} dB against "
                f"{d.reference:.1f} dB."
            ),
            evidence={"mix_punch_db": round(d.mix, 2), "reference_punch_db": round(d.reference, 2)},
            fix=Fix(
                action="add attack with a transient shaper on the drum bus, or slow the bus "
                "compressor's attack",
                target="drums",
                processor="transient_shaper",
                parameters={"attack_db": round(min(-d.difference, 6.0), 1), "sustain_db": 0.0},
            ),
        )
    ]


RULES = (
    reference_loudness,
    reference_tonal_balance,
    reference_eq,
    reference_width,
    reference_dynamics,
    reference_punch,
)
