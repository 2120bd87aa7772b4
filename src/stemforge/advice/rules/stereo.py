"""Stereo and phase: mono compatibility overall and per band, out-of-phase passages,
width, left/right balance.

Rules: ``mono_compatibility``, ``low_end_out_of_phase``, ``band_out_of_phase``,
``out_of_phase_passages``, ``stereo_too_wide``, ``stereo_too_narrow``, ``mono_mix``,
``left_right_balance``.

Mono loss (see :mod:`stemforge.analysis.stereo`): for equally loud channels with
correlation r, ``mono_loss_db = -10 log10((1 + r) / 2)``: 0 dB for identical
channels, 3.01 dB for unrelated ones, 6.02 dB at r = -0.5. Above 3 dB the channels
cancel on balance.
"""

from __future__ import annotations

import math

from stemforge.advice.findings import Finding, Fix, Severity
from stemforge.advice.rules.common import RuleContext, grade, hz_text, spans_text
from stemforge.analysis.common import TimeRange

#: Overall mono loss grades: 4 dB (r about -0.2: more than unrelated channels lose, so
#: something cancels) and 6 dB (r = -0.5), from the formula above.
MONO_LOSS_WARNING_DB = 4.0
MONO_LOSS_PROBLEM_DB = 6.0
#: Correlation under which the whole mix reads as one channel with inverted polarity.
INVERTED_CORRELATION = -0.5
#: Bands centred below this are the low end (the octaves 31.5, 63 and 125 Hz), which
#: should be mono: stemforge editorial, the usual "mono below 100-150 Hz" of mixing
#: practice (club sound systems sum the subs; vinyl cutting needs it).
LOW_END_MAX_CENTRE_HZ = 160.0
#: Where the low end is made mono by the fix.
BASS_MONO_CUTOFF_HZ = 120.0
#: Low-end correlation grades: under 0.2 the bass loses about 2 dB in mono and its image
#: wanders (warning); under 0 it cancels on balance (problem). Real stereo recordings
#: of orchestras and bands read 0.5-1 there (the shared test recordings).
LOW_END_WARNING_CORRELATION = 0.2
LOW_END_PROBLEM_CORRELATION = 0.0
#: A band's mono loss grades (r = -0.5 and r = -0.8 in that band).
BAND_MONO_LOSS_WARNING_DB = 6.0
BAND_MONO_LOSS_PROBLEM_DB = 10.0
#: Bands quieter than this below the loudest octave band are not judged: their
#: cancellation is not heard.
BAND_RELEVANCE_DB = 25.0
#: Out-of-phase passages covering this share of the track are a problem.
OUT_OF_PHASE_PROBLEM_FRACTION = 0.1
#: Width (E_S / (E_M + E_S)) limits without a genre, stemforge editorial: 0.45 is close to
#: unrelated channels (0.5), wider than commercial mixes go; below 0.02 the mix is all
#: but mono.
TOO_WIDE = 0.45
TOO_NARROW = 0.02
#: Width this far outside the genre's range is a warning, nearer information.
WIDTH_WARNING_OUTSIDE = 0.05
#: Left/right balance grades, stemforge editorial: a level difference of about 1 dB
#: between the channels moves a centred phantom image noticeably (Blauert, *Spatial
#: Hearing*, interaural level difference near the median plane); 3 dB pulls the vocal
#: and bass visibly off centre, 6 dB is a mistake (a pan or a channel gain).
BALANCE_INFO_DB = 1.5
BALANCE_WARNING_DB = 3.0
BALANCE_PROBLEM_DB = 6.0


def _relevant_bands(ctx: RuleContext):
    bands = [b for b in ctx.analysis.stereo.bands if math.isfinite(b.level_db)]
    if not bands:
        return []
    loudest = max(b.level_db for b in bands)
    return [
        b
        for b in bands
        if b.level_db >= loudest - BAND_RELEVANCE_DB and math.isfinite(b.correlation)
    ]


def mono_compatibility(ctx: RuleContext) -> list[Finding]:
    """The whole mix loses level when folded to mono."""
    s = ctx.analysis.stereo
    if s.is_mono or not math.isfinite(s.mono_loss_db) or s.mono_loss_db < MONO_LOSS_WARNING_DB:
        return []
    inverted = s.correlation <= INVERTED_CORRELATION
    if inverted:
        fix = Fix(
            action="flip the polarity of one channel (the whole mix is inverted on one side)",
            target="master",
            processor="polarity",
            parameters={"channel": "right"},
        )
    else:
        fix = Fix(
            action="find the wide elements (wideners, chorus, out-of-phase doubles) and narrow "
            "them or check their polarity",
            target="mix",
            processor="stereo_width",
            parameters={"width_percent": 50.0},
        )
    return [
        Finding(
            rule="mono_compatibility",
            area="stereo",
            severity=grade(s.mono_loss_db, MONO_LOSS_WARNING_DB, MONO_LOSS_PROBLEM_DB),
            message=(
                f"Folded to mono the mix loses {s.mono_loss_db:.1f} dB (correlation "
                f"{s.correlation:+.2f}): phones, smart speakers and club systems in mono will "
                "lose parts of it."
            ),
            evidence={
                "mono_loss_db": round(s.mono_loss_db, 2),
                "correlation": round(s.correlation, 3),
                "width": round(s.width, 3),
            },
            fix=fix,
        )
    ]


def low_end_phase(ctx: RuleContext) -> list[Finding]:
    """The low end is wide or out of phase: it should be mono."""
    low = [b for b in _relevant_bands(ctx) if b.centre_hz < LOW_END_MAX_CENTRE_HZ]
    bad = [b for b in low if b.correlation < LOW_END_WARNING_CORRELATION]
    if ctx.analysis.stereo.is_mono or not bad:
        return []
    worst = min(bad, key=lambda b: b.correlation)
    severity = (
        Severity.PROBLEM if worst.correlation < LOW_END_PROBLEM_CORRELATION else Severity.WARNING
    )
    names = ", ".join(b.name for b in bad)
    what = "out of phase" if worst.correlation < LOW_END_PROBLEM_CORRELATION else "wide"
    return [
        Finding(
            rule="low_end_out_of_phase",
            area="stereo",
            severity=severity,
            message=(
                f"The low end is {what}: correlation {worst.correlation:+.2f} in the "
                f"{worst.name} octave ({names} below {LOW_END_WARNING_CORRELATION:g}); in mono the "
                f"bass loses {worst.mono_loss_db:.1f} dB there and its image wanders."
            ),
            evidence={
                "bands": {
                    b.name: {
                        "correlation": round(b.correlation, 3),
                        "mono_loss_db": round(b.mono_loss_db, 2),
                        "level_db": round(b.level_db, 1),
                    }
                    for b in bad
                }
            },
            fix=Fix(
                action=(
                    f"make the bass mono below {BASS_MONO_CUTOFF_HZ:g} Hz (a bass-mono utility or "
                    "mid/side EQ), then check the polarity of the stereo bass sources"
                ),
                target="master",
                processor="bass_mono",
                parameters={"cutoff_hz": BASS_MONO_CUTOFF_HZ},
            ),
        )
    ]


def band_phase(ctx: RuleContext) -> list[Finding]:
    """An octave band above the low end cancels in mono (a polarity-inverted part)."""
    if ctx.analysis.stereo.is_mono:
        return []
    bands = [
        b
        for b in _relevant_bands(ctx)
        if b.centre_hz >= LOW_END_MAX_CENTRE_HZ and b.mono_loss_db >= BAND_MONO_LOSS_WARNING_DB
    ]
    out = []
    for b in bands:
        out.append(
            Finding(
                rule="band_out_of_phase",
                area="stereo",
                severity=grade(
                    b.mono_loss_db, BAND_MONO_LOSS_WARNING_DB, BAND_MONO_LOSS_PROBLEM_DB
                ),
                message=(
                    f"The {b.name} octave ({hz_text(b.low_hz)}-{hz_text(b.high_hz)}) is out of "
                    f"phase between the channels (correlation {b.correlation:+.2f}): in mono it "
                    f"loses {b.mono_loss_db:.1f} dB."
                ),
                evidence={
                    "band": b.name,
                    "low_hz": round(b.low_hz, 1),
                    "high_hz": round(b.high_hz, 1),
                    "correlation": round(b.correlation, 3),
                    "mono_loss_db": round(b.mono_loss_db, 2),
                    "level_db": round(b.level_db, 1),
                },
                fix=Fix(
                    action=(
                        f"find the part with most energy around {hz_text(b.centre_hz)} and flip "
                        "the polarity of one of its sides, or narrow it"
                    ),
                    target="mix",
                    processor="stereo_width",
                    parameters={
                        "low_hz": round(b.low_hz, 0),
                        "high_hz": round(b.high_hz, 0),
                        "width_percent": 0.0,
                    },
                ),
            )
        )
    return out


def out_of_phase_passages(ctx: RuleContext) -> list[Finding]:
    """Passages where the windowed correlation stays below the out-of-phase threshold."""
    s = ctx.analysis.stereo
    if s.is_mono or not s.out_of_phase:
        return []
    spans = tuple(TimeRange(r.start_s, r.end_s) for r in s.out_of_phase)
    worst = min(r.min_correlation for r in s.out_of_phase)
    fraction = s.out_of_phase_fraction
    return [
        Finding(
            rule="out_of_phase_passages",
            area="stereo",
            severity=Severity.PROBLEM
            if fraction >= OUT_OF_PHASE_PROBLEM_FRACTION
            else Severity.WARNING,
            message=(
                f"Out of phase at {spans_text(spans)} (correlation down to {worst:+.2f}, "
                f"{100 * fraction:.0f} % of the track): those passages hollow out in stereo and "
                "cancel in mono."
            ),
            evidence={
                "out_of_phase_fraction": round(fraction, 4),
                "min_correlation": round(worst, 3),
                "passages": len(spans),
            },
            when=spans,
            fix=Fix(
                action=(
                    "find the part that plays in those passages and flip the polarity of one of "
                    "its channels (or undo the stereo effect on it)"
                ),
                target="mix",
                processor="polarity",
                parameters={"channel": "right"},
            ),
        )
    ]


def _side_gain_db(width: float, goal: float) -> float:
    """Side gain that moves width E_S/(E_M+E_S) from ``width`` to ``goal``."""
    width = min(max(width, 1e-4), 1 - 1e-4)
    goal = min(max(goal, 1e-4), 1 - 1e-4)
    return 10 * math.log10(goal * (1 - width) / (width * (1 - goal)))


def width_fix(width: float, goal: float) -> Fix:
    """A mid/side gain that moves the width from ``width`` to ``goal``."""
    gain = round(_side_gain_db(width, goal), 1)
    verb = "raise" if gain > 0 else "lower"
    return Fix(
        action=f"{verb} the side signal by {abs(gain):g} dB (mid/side) to a width near {goal:.2f}",
        target="master",
        processor="mid_side_gain",
        parameters={"side_gain_db": gain},
    )


def stereo_width(ctx: RuleContext) -> list[Finding]:
    """Width against the genre's range, or against editorial limits without a genre."""
    s = ctx.analysis.stereo
    evidence = {"width": round(s.width, 4), "side_to_mid_db": round(s.side_to_mid_db, 2)}
    if s.is_mono:
        return [
            Finding(
                rule="mono_mix",
                area="stereo",
                severity=Severity.INFO,
                message="The mix is a mono file: no stereo image to judge.",
                evidence={"channels": 1},
            )
        ]
    if not math.isfinite(s.width):
        return []
    if ctx.genre_profile is not None and "stereo_width" in ctx.targets:
        dev = ctx.targets.compare("stereo_width", s.width)
        if dev.within:
            return []
        genre = ctx.genre_profile.display_name
        evidence.update(genre=ctx.genre_profile.name, genre_low=dev.low, genre_high=dev.high)
        evidence["source"] = dev.source
        severity = grade(abs(dev.outside_by), WIDTH_WARNING_OUTSIDE)
        goal = (
            dev.typical
            if dev.typical is not None
            else (dev.low if dev.outside_by < 0 else dev.high)
        )
        wide = dev.outside_by > 0
        message = (
            f"The width is {s.width:.2f}, {'wider' if wide else 'narrower'} than the "
            f"{dev.low:g}-{dev.high:g} typical of {genre}."
        )
    elif s.width > TOO_WIDE:
        wide, severity, goal = True, Severity.WARNING, TOO_WIDE - 0.1
        message = (
            f"The width is {s.width:.2f} (side energy over total): wider than commercial mixes "
            "go; the centre (vocal, kick, bass) loses focus."
        )
    elif s.width < TOO_NARROW:
        wide, severity, goal = False, Severity.INFO, 0.1
        message = f"The width is {s.width:.3f}: the mix is all but mono."
    else:
        return []
    return [
        Finding(
            rule="stereo_too_wide" if wide else "stereo_too_narrow",
            area="stereo",
            severity=severity,
            message=message,
            evidence=evidence,
            fix=width_fix(s.width, goal),
        )
    ]


def left_right_balance(ctx: RuleContext) -> list[Finding]:
    """One channel louder than the other."""
    s = ctx.analysis.stereo
    bal = s.balance_db
    if s.is_mono or not math.isfinite(bal) or abs(bal) < BALANCE_INFO_DB:
        return []
    louder = "right" if bal > 0 else "left"
    half = round(abs(bal) / 2, 1)
    left_gain, right_gain = (half, -half) if bal > 0 else (-half, half)
    return [
        Finding(
            rule="left_right_balance",
            area="stereo",
            severity=grade(abs(bal), BALANCE_WARNING_DB, BALANCE_PROBLEM_DB),
            message=(
                f"The {louder} channel is {abs(bal):.1f} dB louder than the other: the image "
                f"leans {louder}."
            ),
            evidence={"balance_db": round(bal, 2)},
            fix=Fix(
                action=(
                    f"check the pans of the main parts; to re-centre the master, {half:g} dB down "
                    f"on the {louder} channel and {half:g} dB up on the other"
                ),
                target="master",
                processor="channel_gain",
                parameters={"left_gain_db": left_gain, "right_gain_db": right_gain},
            ),
        )
    ]


RULES = (
    mono_compatibility,
    low_end_phase,
    band_phase,
    out_of_phase_passages,
    stereo_width,
    left_right_balance,
)
