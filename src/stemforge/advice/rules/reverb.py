"""Reverb and room: a decay too long for the tempo, a muddy low tail, room modes.

Rules: ``reverb_too_long``, ``muddy_reverb_tail``, ``room_mode``.

The decay times are the blind estimates of :func:`stemforge.analysis.reverb.reverb`
(from the mix's own free decays); they are used when the estimate has at least
:data:`MIN_CONFIDENCE`.
"""

from __future__ import annotations

import math

import numpy as np

from stemforge.advice.findings import Finding, Fix, Severity
from stemforge.advice.rules.common import RuleContext, fold_tempo, grade, hz_text, peaking_fix

#: The blind RT60's confidence (n/(n+10) times exp(-IQR)) from which it is used: about
#: 4 agreeing free decays.
MIN_CONFIDENCE = 0.2
#: Rule of thumb (stemforge editorial, common mixing advice "time the reverb to the
#: tempo"): a tail that outlasts a bar of 4/4 (4 beats) smears one bar into the next;
#: two bars (8 beats) is a wash. Beats at the tempo folded into 78-155 BPM.
BEATS_WARNING = 4.0
BEATS_PROBLEM = 8.0
#: The decay the fix aims for: two beats (a half note), a common tempo-synced setting.
BEATS_GOAL = 2.0
#: Without a tempo, or for genres built on long reverb (concert halls measure
#: 1.8-2.2 s mid-band RT60, Beranek, *Concert Halls and Opera Houses*, 2004; ambient
#: goes beyond), absolute limits (stemforge editorial).
RT60_WARNING_S = 2.5
RT60_PROBLEM_S = 4.0
LONG_REVERB_GENRES = ("classical", "ambient")
LONG_REVERB_FACTOR = 1.5
#: Low (125/250 Hz) over mid (1/2 kHz) RT60. Concert halls aim at a bass ratio of
#: 1.1-1.45 (Beranek 2004: (T125 + T250) / (T500 + T1k)); a mix wants a drier low end
#: than a hall, so above 1.5 the low tail is muddy (warning), above 2.5 a problem
#: (stemforge editorial). Low tails shorter than 0.8 s pass (the next note covers them).
BASS_RATIO_WARNING = 1.5
BASS_RATIO_PROBLEM = 2.5
MIN_LOW_RT60_S = 0.8
REVERB_HIGH_PASS_HZ = 250.0
LOW_BANDS = ("125 Hz", "250 Hz")
MID_BANDS = ("1 kHz", "2 kHz")
#: Room modes ringing this much longer than their neighbours: from 0.5 s a warning,
#: from 2 s a problem (stemforge editorial); shorter excesses are information.
MODE_WARNING_S = 0.5
MODE_PROBLEM_S = 2.0
#: The cut on a mode: 3 dB plus its level excess, at most 8 dB; Q from its decay
#: (pi f T60 / ln 1000) kept within 4..10 (narrower cuts miss when the mode moves with
#: the listening position; stemforge editorial).
MODE_CUT_DB = (3.0, 8.0)
MODE_Q = (4.0, 10.0)


def _reverb(ctx: RuleContext):
    r = ctx.reverb
    if r is None or not math.isfinite(r.rt60_s) or r.confidence < MIN_CONFIDENCE:
        return None
    return r


def reverb_too_long(ctx: RuleContext) -> list[Finding]:
    """RT60 against the beat length (or absolute limits without a tempo)."""
    r = _reverb(ctx)
    if r is None:
        return []
    rt = r.rt60_s
    evidence = {"rt60_s": round(rt, 2), "edt_s": round(r.edt_s, 3), "confidence": r.confidence}
    long_genre = ctx.genre_is(*LONG_REVERB_GENRES)
    beat = None if long_genre else ctx.felt_beat_s
    if beat is not None:
        beats = rt / beat
        if beats < BEATS_WARNING:
            return []
        bpm = fold_tempo(ctx.tempo_bpm or 0.0)
        goal_s = BEATS_GOAL * beat
        evidence.update(tempo_bpm=round(bpm, 1), beat_s=round(beat, 3), rt60_beats=round(beats, 2))
        severity = grade(beats, BEATS_WARNING, BEATS_PROBLEM)
        message = (
            f"The reverb decays in {rt:.1f} s (RT60), {beats:.1f} beats at {bpm:.0f} BPM: the tail "
            f"outlasts a bar and blurs the rhythm (rule of thumb: keep it under "
            f"{BEATS_WARNING:g} beats)."
        )
    else:
        factor = LONG_REVERB_FACTOR if long_genre else 1.0
        if rt < RT60_WARNING_S * factor:
            return []
        goal_s = RT60_WARNING_S * factor * 0.6
        severity = grade(rt, RT60_WARNING_S * factor, RT60_PROBLEM_S * factor)
        message = f"The reverb decays in {rt:.1f} s (RT60): a long tail that washes the mix out."
    evidence["goal_s"] = round(goal_s, 2)
    return [
        Finding(
            rule="reverb_too_long",
            area="reverb",
            severity=severity,
            message=message,
            evidence=evidence,
            fix=Fix(
                action=f"shorten the reverb decay to about {goal_s:.1f} s, or duck its tail",
                target="reverb return",
                processor="reverb",
                parameters={"decay_s": round(goal_s, 2)},
            ),
        )
    ]


def _mean_rt(r, names) -> float:
    values = [b.rt60_s for b in r.bands if b.name in names and math.isfinite(b.rt60_s)]
    return float(np.mean(values)) if values else math.nan


def muddy_reverb_tail(ctx: RuleContext) -> list[Finding]:
    """The low end rings much longer than the mids."""
    r = ctx.reverb
    if r is None:
        return []
    low, mid = _mean_rt(r, LOW_BANDS), _mean_rt(r, MID_BANDS)
    if not (math.isfinite(low) and math.isfinite(mid)) or mid <= 0 or low < MIN_LOW_RT60_S:
        return []
    ratio = low / mid
    if ratio < BASS_RATIO_WARNING:
        return []
    return [
        Finding(
            rule="muddy_reverb_tail",
            area="reverb",
            severity=grade(ratio, BASS_RATIO_WARNING, BASS_RATIO_PROBLEM),
            message=(
                f"The low end rings {ratio:.1f} times as long as the mids (RT60 {low:.1f} s at "
                f"125-250 Hz against {mid:.1f} s at 1-2 kHz): a muddy reverb tail."
            ),
            evidence={
                "low_rt60_s": round(low, 2),
                "mid_rt60_s": round(mid, 2),
                "bass_ratio": round(ratio, 2),
                "bands": {b.name: round(b.rt60_s, 2) for b in r.bands if math.isfinite(b.rt60_s)},
            },
            fix=Fix(
                action=f"high-pass the reverb return at {REVERB_HIGH_PASS_HZ:g} Hz, 12 dB/oct",
                target="reverb return",
                processor="high_pass",
                parameters={"cutoff_hz": REVERB_HIGH_PASS_HZ, "slope_db_per_octave": 12},
            ),
        )
    ]


def room_modes(ctx: RuleContext) -> list[Finding]:
    """Low resonances that ring on after the music stops, each with a narrow cut."""
    r = ctx.reverb
    if r is None:
        return []
    out = []
    for mode in r.room_modes:
        excess = mode.decay_s - mode.neighbour_decay_s
        prominence = mode.prominence_db if math.isfinite(mode.prominence_db) else 0.0
        cut = -float(np.clip(MODE_CUT_DB[0] + max(prominence, 0.0), *MODE_CUT_DB))
        q = float(np.clip(mode.q, *MODE_Q))
        severity = (
            Severity.INFO
            if excess < MODE_WARNING_S
            else grade(excess, MODE_WARNING_S, MODE_PROBLEM_S)
        )
        out.append(
            Finding(
                rule="room_mode",
                area="reverb",
                severity=severity,
                message=(
                    f"A room mode at {hz_text(mode.frequency_hz)} rings {mode.decay_s:.1f} s "
                    f"against {mode.neighbour_decay_s:.1f} s around it: notes near it boom and "
                    "hang on."
                ),
                evidence={
                    "frequency_hz": round(mode.frequency_hz, 1),
                    "decay_s": round(mode.decay_s, 2),
                    "neighbour_decay_s": round(mode.neighbour_decay_s, 2),
                    "prominence_db": round(prominence, 2),
                    "q": round(mode.q, 1),
                    "presence": round(mode.presence, 2),
                },
                fix=peaking_fix(
                    mode.frequency_hz,
                    cut,
                    q,
                    alternatives=("treat the room (bass traps) and re-record if you can",),
                ),
            )
        )
    return out


RULES = (reverb_too_long, muddy_reverb_tail, room_modes)
