"""Tonal balance: per band against the genre, mud, harshness, resonances.

Rules: ``tonal_balance``, ``mud``, ``harshness``, ``resonance``.

**Bumps** (mud, harshness). A region's excess is its third-octave power (dB) over the
straight line (in dB over log frequency) between the power of a region an octave or so
below and one above it, so a boost shows while the mix's overall tilt does not:

- mud: 200-500 Hz against 63-125 Hz and 1-2 kHz;
- harshness: 2-5 kHz against 630-1250 Hz and 8-12.5 kHz.

Measured on the demo songs and the shared recordings (pop, jazz, orchestral,
electronic), mud reads -3 to +4.5 dB (one acoustic pop recording 8 dB) and harshness
-7 to +8 dB (a bright orchestral recording 11-13 dB). A +10 dB bell (Q 1) at 300 Hz
lifts a demo song's mud from 4.2 to 9.6 dB; the demo songs are dark (harshness about
-4.5 dB), and a bell at 3.15 kHz lifts it to 3.2 dB at +12 dB, 6.7 dB at +18 dB.
"""

from __future__ import annotations

import math

import numpy as np

from stemforge.advice.findings import Finding, Fix
from stemforge.advice.rules.common import (
    RuleContext,
    band_name,
    band_q,
    grade,
    hz_text,
    peaking_fix,
    shelf_fix,
)
from stemforge.analysis.bands import TONAL_BAND_EDGES_HZ
from stemforge.analysis.spectrum import SpectrumResult

#: Tonal bands this far outside the genre's range (which is already +/-4-6 dB wide) are a
#: warning, further a problem; nearer information.
TONAL_WARNING_DB = 2.0
TONAL_PROBLEM_DB = 6.0
#: Largest boost or cut a tonal fix suggests (stemforge editorial: beyond 6 dB a broad
#: EQ move changes the arrangement, not the balance; fix the source instead).
MAX_TONAL_GAIN_DB = 6.0
#: Shelves for the outer bands: the band edges of :mod:`stemforge.analysis.bands`.
LOW_SHELF_HZ = 60.0
HIGH_SHELF_HZ = 6000.0

MUD_REGION_HZ = (200.0, 500.0)
MUD_NEIGHBOURS_HZ = ((63.0, 125.0), (1000.0, 2000.0))
HARSH_REGION_HZ = (2000.0, 5000.0)
HARSH_NEIGHBOURS_HZ = ((630.0, 1250.0), (8000.0, 12500.0))
#: Bump grades (stemforge editorial, set above the clean material of the module
#: docstring): 6 dB a warning, 10 dB a problem.
BUMP_WARNING_DB = 6.0
BUMP_PROBLEM_DB = 10.0
#: Q of the cut a bump gets: about the width of the region (1.3 octaves).
BUMP_Q = 1.0
#: A neighbour this far below the region means the signal does not cover the range (a
#: solo instrument, a band-limited source): the line between the neighbours is then no
#: reference and the bump is not judged (stemforge editorial; full mixes keep their
#: neighbours within about 15 dB of the region, the solo trumpet recording 50 dB below).
MAX_NEIGHBOUR_DROP_DB = 25.0

#: Peaks of kind "resonance" of the spectrum analysis need this presence; peaks of kind
#: "tonal" (narrower than Q 25) only count when they stand through nearly the whole
#: track (:data:`STEADY_PRESENCE`): a ring or a hum, not a melody's note. (On music the
#: analysis reads an EQ boost of Q 8 as Q 12-36, so either kind can be a resonance.)
#: Both need this prominence (the analysis reports from 6 dB): 10 dB a warning, 15 dB
#: a problem (stemforge editorial: on the demo songs the melody's notes reach 9-12 dB).
RESONANCE_MIN_PRESENCE = 0.5
STEADY_PRESENCE = 0.9
RESONANCE_WARNING_DB = 10.0
RESONANCE_PROBLEM_DB = 15.0
#: The cut takes half the prominence away (stemforge editorial: enough to stop the
#: ring, not so much that the region goes hollow), at least 2 and at most 9 dB; its Q
#: is the resonance's, kept within 2..10 (narrower cuts miss a peak that moves a little).
RESONANCE_CUT_FRACTION = 0.5
RESONANCE_CUT_DB = (2.0, 9.0)
RESONANCE_Q = (2.0, 10.0)
#: A peak within this many cents of a note of the key's diatonic scale (the key found
#: with at least :data:`KEY_MIN_CONFIDENCE`, tuning taken into account) is taken for the
#: music's own notes, not a resonance: sustained and repeated notes of a melody or bass
#: line read as narrow peaks too. A resonance on a scale note is missed that way; one
#: between them (a tritone away from the tonic, say) is not.
MUSICAL_CENTS = 35.0
KEY_MIN_CONFIDENCE = 0.5
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}


# --- tonal balance against the genre ----------------------------------------------------


def band_fix(band: str, gain_db: float) -> Fix:
    """A shelf (sub, air) or a bell over the band (the others) of ``gain_db``."""
    edges = {n: (lo, hi) for n, lo, hi in TONAL_BAND_EDGES_HZ}
    low, high = edges[band]
    if band == "sub":
        return shelf_fix("low_shelf", LOW_SHELF_HZ, gain_db)
    if band == "air":
        return shelf_fix("high_shelf", HIGH_SHELF_HZ, gain_db)
    return peaking_fix(math.sqrt(low * high), gain_db, band_q(low, high))


def tonal_balance(ctx: RuleContext) -> list[Finding]:
    """Each tonal band (sub .. air) against the genre's typical level, with a shelf or
    bell towards it."""
    if ctx.genre_profile is None:
        return []
    out = []
    genre = ctx.genre_profile.display_name
    for band in ctx.analysis.spectrum.tonal_balance:
        key = f"tonal_{band.name}_relative_db"
        if key not in ctx.targets or not math.isfinite(band.relative_db):
            continue
        dev = ctx.targets.compare(key, band.relative_db)
        if dev.within or dev.typical is None:
            continue
        gain = float(np.clip(dev.typical - band.relative_db, -MAX_TONAL_GAIN_DB, MAX_TONAL_GAIN_DB))
        much = "much " if abs(dev.outside_by) >= TONAL_PROBLEM_DB else ""
        more = "louder" if dev.outside_by > 0 else "quieter"
        out.append(
            Finding(
                rule="tonal_balance",
                area="tonal",
                severity=grade(abs(dev.outside_by), TONAL_WARNING_DB, TONAL_PROBLEM_DB),
                message=(
                    f"The {band_name(band.name)} band ({hz_text(band.low_hz)}-"
                    f"{hz_text(band.high_hz)}) is {much}{more}"
                    f" than typical for {genre}: {band.relative_db:.1f} dB of the total against "
                    f"{dev.low:g} to {dev.high:g} dB."
                ),
                evidence={
                    "band": band.name,
                    "relative_db": round(band.relative_db, 2),
                    "genre_low_db": dev.low,
                    "genre_high_db": dev.high,
                    "genre_typical_db": dev.typical,
                    "outside_by_db": round(dev.outside_by, 2),
                    "genre": ctx.genre_profile.name,
                    "source": dev.source,
                },
                fix=band_fix(band.name, gain),
            )
        )
    return out


# --- bumps: mud and harshness -----------------------------------------------------------


def bump(
    spectrum: SpectrumResult,
    region_hz: tuple[float, float],
    neighbours_hz: tuple[tuple[float, float], tuple[float, float]],
) -> tuple[float, float] | None:
    """``(excess_db, peak_hz)`` of ``region_hz`` over the line between its neighbours
    (see the module docstring), or None when a region has no band below the effective
    bandwidth or a neighbour is :data:`MAX_NEIGHBOUR_DROP_DB` below the region.
    ``peak_hz`` is the centre of the third-octave band standing highest above the line."""
    bands = [b for b in spectrum.third_octave if math.isfinite(b.level_db)]
    top = spectrum.effective_bandwidth_hz if math.isfinite(spectrum.effective_bandwidth_hz) else 0
    f = np.array([b.centre_hz for b in bands])
    level = np.array([b.level_db for b in bands])
    high_edge = np.array([b.high_hz for b in bands])

    def region(lo: float, hi: float):
        m = (f >= lo * 0.99) & (f <= hi * 1.01)
        if not m.any() or high_edge[m].max() > top:
            return None
        power = 10 ** (level[m] / 10)
        return 10 * np.log10(power.mean()), float(np.exp(np.log(f[m]).mean())), m

    centre, left, right = region(*region_hz), region(*neighbours_hz[0]), region(*neighbours_hz[1])
    if centre is None or left is None or right is None:
        return None
    if min(left[0], right[0]) < centre[0] - MAX_NEIGHBOUR_DROP_DB:
        return None
    x_left, x_right = np.log(left[1]), np.log(right[1])

    def line(freq):
        return left[0] + (np.log(freq) - x_left) / (x_right - x_left) * (right[0] - left[0])

    excess = float(centre[0] - line(centre[1]))
    members = centre[2]
    residual = level[members] - line(f[members])
    peak_hz = float(f[members][int(np.argmax(residual))])
    return excess, peak_hz


def _bump_finding(ctx: RuleContext, rule: str, region_hz, neighbours_hz, what: str, effect: str):
    measured = bump(ctx.analysis.spectrum, region_hz, neighbours_hz)
    if measured is None:
        return []
    excess, peak_hz = measured
    if excess < BUMP_WARNING_DB:
        return []
    cut = -min(excess, MAX_TONAL_GAIN_DB)
    lo, hi = region_hz
    return [
        Finding(
            rule=rule,
            area="tonal",
            severity=grade(excess, BUMP_WARNING_DB, BUMP_PROBLEM_DB),
            message=(
                f"{what}: {hz_text(lo)}-{hz_text(hi)} stands {excess:.1f} dB above the line "
                f"between its neighbours, most at {hz_text(peak_hz)}; {effect}."
            ),
            evidence={
                "excess_db": round(excess, 2),
                "peak_hz": round(peak_hz, 1),
                "region_hz": list(region_hz),
                "neighbours_hz": [list(n) for n in neighbours_hz],
            },
            fix=peaking_fix(
                peak_hz,
                cut,
                BUMP_Q,
                alternatives=("find the parts that pile up there and cut them, not the master",),
            ),
        )
    ]


def mud(ctx: RuleContext) -> list[Finding]:
    """Excess 200-500 Hz (see the module docstring)."""
    return _bump_finding(
        ctx,
        "mud",
        MUD_REGION_HZ,
        MUD_NEIGHBOURS_HZ,
        "Muddy low mids",
        "the mix sounds boxy and thick and the bass and vocal lose definition",
    )


def harshness(ctx: RuleContext) -> list[Finding]:
    """Excess 2-5 kHz (see the module docstring)."""
    return _bump_finding(
        ctx,
        "harshness",
        HARSH_REGION_HZ,
        HARSH_NEIGHBOURS_HZ,
        "Harsh upper mids",
        "the mix tires the ear at higher volume",
    )


# --- resonances -------------------------------------------------------------------------


def _musical_pitch_classes(ctx: RuleContext) -> tuple[set[int], float] | None:
    k = ctx.analysis.music.key
    if not k.found or k.confidence < KEY_MIN_CONFIDENCE or k.tonic_pitch_class is None:
        return None
    scale = SCALES.get(k.mode or "", SCALES["major"])
    tuning = k.tuning_cents if math.isfinite(k.tuning_cents) else 0.0
    return {(k.tonic_pitch_class + i) % 12 for i in scale}, tuning


def _is_musical(frequency_hz: float, musical) -> bool:
    if musical is None:
        return False
    classes, tuning = musical
    midi = 69 + 12 * math.log2(frequency_hz / 440.0) - tuning / 100.0
    nearest = round(midi)
    return abs(midi - nearest) * 100 <= MUSICAL_CENTS and nearest % 12 in classes


def resonances(ctx: RuleContext) -> list[Finding]:
    """Sustained narrow peaks that are not notes of the key's scale (see the constants)."""
    musical = _musical_pitch_classes(ctx)
    out = []
    for r in ctx.analysis.spectrum.resonances:
        needed = {"resonance": RESONANCE_MIN_PRESENCE, "tonal": STEADY_PRESENCE}.get(r.kind)
        if (
            needed is None
            or r.presence_fraction < needed
            or r.prominence_db < RESONANCE_WARNING_DB
            or _is_musical(r.frequency_hz, musical)
        ):
            continue
        cut = -float(np.clip(RESONANCE_CUT_FRACTION * r.prominence_db, *RESONANCE_CUT_DB))
        q = float(np.clip(r.q, *RESONANCE_Q))
        out.append(
            Finding(
                rule="resonance",
                area="tonal",
                severity=grade(r.prominence_db, RESONANCE_WARNING_DB, RESONANCE_PROBLEM_DB),
                message=(
                    f"A resonance at {hz_text(r.frequency_hz)} stands {r.prominence_db:.1f} dB "
                    f"above the spectrum around it (Q {r.q:.0f}) in "
                    f"{100 * r.presence_fraction:.0f} % of the track: it rings and colours "
                    "everything that passes through it."
                ),
                evidence={
                    "frequency_hz": round(r.frequency_hz, 1),
                    "prominence_db": round(r.prominence_db, 2),
                    "q": round(r.q, 2),
                    "presence_fraction": round(r.presence_fraction, 3),
                    "kind": r.kind,
                },
                fix=peaking_fix(
                    r.frequency_hz,
                    cut,
                    q,
                    alternatives=(
                        "sweep a narrow boost to find the part it comes from; cut it there",
                    ),
                ),
            )
        )
    return out


RULES = (tonal_balance, mud, harshness, resonances)
