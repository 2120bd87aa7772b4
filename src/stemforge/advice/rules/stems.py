"""Stems: silent stems, what aligning them changed, and stems that do not match the mix.

Rules: ``silent_stem``, ``stem_alignment``, ``stems_length_mismatch``.
"""

from __future__ import annotations

from stemforge.advice.findings import Finding, Fix, Severity
from stemforge.advice.rules.common import RuleContext

#: Stems this much longer or shorter than the mix were probably exported from another
#: range (stemforge editorial: more than a reverb tail's difference).
LENGTH_MISMATCH_S = 1.0
#: Alignment notes that point at an export mistake rather than a harmless conversion:
#: a stem at another sample rate or padded by more than this share of the song.
PADDED_WARNING_FRACTION = 0.1


def silent_stem(ctx: RuleContext) -> list[Finding]:
    """A stem with no audio (muted at export, or the wrong track)."""
    if ctx.stems is None:
        return []

    def why(name: str) -> str:
        return "; ".join(ctx.stems.notes.get(name, ())) or "no audio"

    return [
        Finding(
            rule="silent_stem",
            area="stems",
            severity=Severity.WARNING,
            message=(
                f"The stem {name!r} is silent ({why(name)}): was it muted or soloed away at export?"
            ),
            evidence={"stem": name, "notes": list(ctx.stems.notes.get(name, ()))},
            fix=Fix(action=f"export {name!r} again with the track unmuted, or leave it out"),
            stems=(name,),
        )
        for name in ctx.stems.silent
    ]


def _padded_s(note: str) -> float:
    # "padded 1.250 s at the end" / "padded 12 samples at the end"
    parts = note.split()
    try:
        return float(parts[1]) if parts[2] == "s" else 0.0
    except (IndexError, ValueError):
        return 0.0


def stem_alignment(ctx: RuleContext) -> list[Finding]:
    """What was done to each stem to align it (resampled, channels, delayed, padded)."""
    s = ctx.stems
    if s is None:
        return []
    out = []
    for name in s.names:
        notes = [n for n in s.notes.get(name, ()) if not n.startswith("silent")]
        if not notes:
            continue
        resampled = any(n.startswith("resampled") for n in notes)
        padded = sum(_padded_s(n) for n in notes if n.startswith("padded"))
        serious = resampled or padded > PADDED_WARNING_FRACTION * s.duration_s
        out.append(
            Finding(
                rule="stem_alignment",
                area="stems",
                severity=Severity.WARNING if serious else Severity.INFO,
                message=f"The stem {name!r} was aligned to the others: {'; '.join(notes)}.",
                evidence={"stem": name, "notes": notes, "padded_s": round(padded, 3)},
                fix=Fix(
                    action=(
                        "export every stem from the same start to the same end, at the session's "
                        "sample rate"
                    )
                )
                if serious
                else None,
                stems=(name,),
            )
        )
    return out


def stems_length_mismatch(ctx: RuleContext) -> list[Finding]:
    """The stems last longer or shorter than the mix."""
    s = ctx.stems
    if s is None:
        return []
    diff = s.duration_s - ctx.analysis.duration_s
    if abs(diff) < LENGTH_MISMATCH_S:
        return []
    return [
        Finding(
            rule="stems_length_mismatch",
            area="stems",
            severity=Severity.WARNING,
            message=(
                f"The stems last {s.duration_s:.1f} s and the mix {ctx.analysis.duration_s:.1f} s: "
                "were they exported from the same range of the session?"
            ),
            evidence={
                "stems_duration_s": round(s.duration_s, 3),
                "mix_duration_s": round(ctx.analysis.duration_s, 3),
            },
            fix=Fix(action="export the mix and the stems from the same start to the same end"),
            stems=tuple(s.names),
        )
    ]


RULES = (silent_stem, stem_alignment, stems_length_mismatch)
