"""Loudness against the delivery target: what the platform will do with the mix.

Rules: ``mix_silent``, ``loudness_above_target``, ``loudness_below_target``.
"""

from __future__ import annotations

import math

from stemforge.advice.findings import Finding, Severity
from stemforge.advice.rules.common import RuleContext, gain_fix, grade, limiter_fix

#: A normalising service turning a master down more than this means that much limiting
#: bought nothing in its default setting. stemforge editorial: 3 dB is where the peaks
#: removed to get there usually start to cost audible punch.
TURNED_DOWN_WARNING_DB = 3.0
#: A normalising service that cannot raise a quiet master to its level (true-peak
#: headroom) plays it this much quieter than its neighbours: from 1 dB (the tolerance of
#: the streaming targets) it is a warning; from 6 dB (a step listeners reach for the
#: volume control over: stemforge editorial) a problem.
SHORTFALL_WARNING_DB = 1.0
SHORTFALL_PROBLEM_DB = 6.0
#: Standards whose deliveries are checked against the target (out of range is rejected
#: or corrected by the broadcaster: EBU R 128, ATSC A/85).
BROADCAST_PLATFORMS = ("ebu_r128", "atsc_a85")
#: Services that turn quiet masters up only as far as the true-peak headroom allows
#: (Spotify for Artists, 'Loudness normalization'); YouTube does not turn them up at all
#: (see its platform notes); the others are treated like Spotify.
NO_TURN_UP_PLATFORMS = ("youtube",)
#: Without a platform ceiling, the EBU R 128 maximum true peak.
DEFAULT_CEILING_DBTP = -1.0


def mix_silent(ctx: RuleContext) -> list[Finding]:
    """The mix has no audio above the BS.1770 absolute gate."""
    lufs = ctx.analysis.loudness.integrated_lufs
    if math.isfinite(lufs):
        return []
    return [
        Finding(
            rule="mix_silent",
            area="loudness",
            severity=Severity.PROBLEM,
            message="The mix is silent: no 400 ms block reaches -70 LUFS (ITU-R BS.1770-4).",
            evidence={"integrated_lufs": None},
        )
    ]


def loudness_vs_target(ctx: RuleContext) -> list[Finding]:
    """Integrated loudness against the platform (or custom) target, in words of what
    the platform will do."""
    loud = ctx.analysis.loudness
    lufs, tp = loud.integrated_lufs, loud.true_peak_dbtp
    target = ctx.target("integrated_lufs")
    if target is None or not math.isfinite(lufs) or target.typical is None:
        return []
    dev = ctx.targets.compare("integrated_lufs", lufs)
    if dev.within:
        return []
    ceiling_value = ctx.target("true_peak_dbtp")
    ceiling = (
        ceiling_value.high
        if ceiling_value is not None and ceiling_value.high is not None
        else DEFAULT_CEILING_DBTP
    )
    aim = target.typical
    change_db = aim - lufs  # what it takes to reach the target's centre
    evidence = {
        "integrated_lufs": round(lufs, 2),
        "target_lufs": aim,
        "target_low_lufs": target.low,
        "target_high_lufs": target.high,
        "true_peak_dbtp": round(tp, 2),
        "ceiling_dbtp": ceiling,
        "target": ctx.targets.name,
        "source": target.source,
    }
    p = ctx.platform
    name = p.display_name if p is not None else f"the target {ctx.targets.name!r}"

    if change_db < 0:  # too loud
        down = -change_db
        evidence["turn_down_db"] = round(down, 1)
        if p is not None and p.normalises:
            severity = grade(down, TURNED_DOWN_WARNING_DB)
            message = (
                f"At {lufs:.1f} LUFS the mix is {down:.1f} dB louder than {name}'s "
                f"{aim:g} LUFS playback level: {name} will turn it down {down:.1f} dB, so the "
                "limiting that made it this loud buys nothing there and costs punch."
            )
        else:
            severity = _spec_severity(p)
            message = (
                f"At {lufs:.1f} LUFS the mix is {down:.1f} dB louder than {name}'s {aim:g} LUFS "
                f"(range {target.low:g} to {target.high:g})."
            )
        fix = limiter_fix(
            ceiling,
            input_gain_db=-down,
            action=f"lower the gain into the limiter by {down:.1f} dB to land at {aim:g} LUFS",
        )
        return [
            Finding(
                rule="loudness_above_target",
                area="loudness",
                severity=severity,
                message=message,
                evidence=evidence,
                fix=fix,
            )
        ]

    # too quiet
    headroom = ceiling - tp
    if p is not None and p.normalises:
        turn_up = 0.0 if p.name in NO_TURN_UP_PLATFORMS else max(0.0, min(change_db, headroom))
        shortfall = change_db - turn_up
        evidence.update(turn_up_db=round(turn_up, 1), shortfall_db=round(shortfall, 1))
        severity = grade(shortfall, SHORTFALL_WARNING_DB, SHORTFALL_PROBLEM_DB)
        if shortfall <= 0.05:
            message = (
                f"At {lufs:.1f} LUFS the mix is {change_db:.1f} dB below {name}'s {aim:g} LUFS: "
                f"{name} will turn it up {turn_up:.1f} dB (its peaks leave room for that)."
            )
        elif turn_up > 0:
            message = (
                f"At {lufs:.1f} LUFS the mix is {change_db:.1f} dB below {name}'s {aim:g} LUFS: "
                f"{name} can raise it only {turn_up:.1f} dB before its peaks pass "
                f"{ceiling:g} dBTP, so it will play {shortfall:.1f} dB quieter than other tracks."
            )
        else:
            why = (
                f"{name} does not turn quiet tracks up"
                if p.name in NO_TURN_UP_PLATFORMS
                else f"its peaks ({tp:+.1f} dBTP) leave {name} no room to turn it up"
            )
            message = (
                f"At {lufs:.1f} LUFS the mix is {change_db:.1f} dB below {name}'s {aim:g} LUFS "
                f"and {why}: it will play {shortfall:.1f} dB quieter than other tracks."
            )
    else:
        severity = _spec_severity(p)
        message = (
            f"At {lufs:.1f} LUFS the mix is {change_db:.1f} dB below {name}'s {aim:g} LUFS "
            f"(range {target.low:g} to {target.high:g})."
        )
    if headroom >= change_db:
        fix = gain_fix(
            change_db,
            action=f"raise the level by {change_db:.1f} dB (the peaks stay below {ceiling:g} dBTP)",
        )
    else:
        fix = limiter_fix(
            ceiling,
            input_gain_db=change_db,
            action=(
                f"raise the level by {change_db:.1f} dB into a true-peak limiter with its "
                f"ceiling at {ceiling:.1f} dBTP"
            ),
        )
    return [
        Finding(
            rule="loudness_below_target",
            area="loudness",
            severity=severity,
            message=message,
            evidence=evidence,
            fix=fix,
        )
    ]


def _spec_severity(platform) -> Severity:
    if platform is not None and platform.name in BROADCAST_PLATFORMS:
        return Severity.PROBLEM
    return Severity.WARNING


RULES = (mix_silent, loudness_vs_target)
