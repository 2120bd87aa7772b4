"""The mix doctor's report as Markdown, for the terminal (Rich renders it) and for notes.

Findings come first, grouped by severity, each with its evidence, when it happens and the
fix; then masking, the reference comparison and reverb where measured; then the
measurement summary of :func:`~stemforge.analysis.summary.summary_sections`.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from stemforge.analysis.summary import SummarySection, fmt, summary_sections
from stemforge.reports import text

if TYPE_CHECKING:
    from stemforge.advice.doctor import MixDoctorResult
    from stemforge.advice.findings import Finding

_SPECIAL = re.compile(r"([\\`*_\[\]|<>#])")


def escape(value: str) -> str:
    """Backslash-escape the characters Markdown would read as markup."""
    return _SPECIAL.sub(r"\\\1", value)


def render_markdown(result: MixDoctorResult) -> str:
    """The report as Markdown: header, findings by severity, then the measurements."""
    lines = [f"# Mix doctor: {escape(text.file_name(result))}", ""]
    facts = [text.duration_text(result), text.format_text(result)]
    platform, genre = text.platform_text(result), text.genre_text(result)
    if platform:
        facts.append(f"target {platform}")
    if genre:
        facts.append(f"genre {genre}")
    lines += [escape(" · ".join(facts)), "", f"**{escape(text.verdict(result.findings))}**", ""]
    if result.notes:
        lines += ["Not everything could be checked:", ""]
        lines += [f"- {escape(note)}" for note in result.notes]
        lines.append("")

    number = 0
    for severity, findings in text.grouped(result.findings):
        lines += [f"## {text.severity_title(severity)} ({len(findings)})", ""]
        for finding in findings:
            number += 1
            lines += _finding(number, finding)

    lines += _masking(result) + _reference(result) + _reverb(result)
    lines += ["## Measurements", ""]
    for section in summary_sections(result.analysis):
        lines += _table(section)
    return "\n".join(lines).rstrip() + "\n"


def _finding(number: int, f: Finding) -> list[str]:
    tags = [text.area_title(f.area)]
    if f.stems:
        tags.append("stems: " + ", ".join(f.stems))
    lines = [
        f"### {number}. {escape(text.sentence(f.message))}",
        "",
        f"*{escape(' · '.join(tags))}*",
        "",
    ]
    if f.evidence:
        evidence = " · ".join(f"{i.label} **{i.value}**" for i in text.items(f.evidence))
        lines.append(f"- **Evidence:** {escape_keep_bold(evidence)}")
    for note in text.notes(f.evidence):
        lines.append(f"- *{escape(note)}*")
    if f.when:
        shown, more = text.spans(f.when)
        lines.append("- **When:** " + ", ".join(shown) + (f" and {more} more" if more else ""))
    if f.fix is not None:
        fix = f.fix
        where = text.fix_target(fix)
        kind = f", {text.processor_name(fix)}" if fix.processor else ""
        lines.append(f"- **Fix** ({escape(where + kind)}): {escape(text.sentence(fix.action))}")
        params = text.items(fix.parameters)
        if params:
            lines.append("- **Settings:** " + " · ".join(f"`{p.label} {p.value}`" for p in params))
        for alternative in fix.alternatives:
            lines.append(f"- **Or:** {escape(alternative)}")
    return [*lines, ""]


def escape_keep_bold(value: str) -> str:
    """Escape everything but the ``**`` pairs this module put there."""
    return "**".join(escape(part) for part in value.split("**"))


def _masking(result: MixDoctorResult) -> list[str]:
    m = result.masking
    if m is None:
        return []
    from stemforge.analysis.masking import top_clashes

    lines = ["## Masking between stems", ""]
    pairs = top_clashes(m, 5, min_fraction=0.05)
    if not pairs:
        lines += ["No stem hides another by more than 5 % of its loudness.", ""]
    lines += [f"- {escape(p.describe())}" for p in pairs]
    if m.silent_stems:
        lines.append(f"- Silent stems: {escape(', '.join(m.silent_stems))}")
    for stem, notes in result.stem_notes.items():
        lines += [f"- {escape(stem)}: {escape(note)}" for note in notes]
    return [*lines, ""]


def _reference(result: MixDoctorResult) -> list[str]:
    ref = result.reference
    if ref is None:
        return []
    lines = ["## Against the reference", ""]
    lines.append(
        f"Loudness match: {fmt(ref.loudness_match_gain_db, 'dB', signed=True)} on the mix "
        f"makes it as loud as the reference. The spectra differ by up to "
        f"{fmt(ref.difference_max_db, 'dB')} ({fmt(ref.difference_rms_db, 'dB')} RMS)."
    )
    lines.append("")
    bands = getattr(ref.suggested_eq, "bands", ())
    if bands:
        lines.append(
            f"Suggested EQ (leaves {fmt(ref.residual_max_db, 'dB')} at most, "
            f"target {fmt(ref.target_db, 'dB')}):"
        )
        lines.append("")
        lines += [f"- {escape(text.eq_band_text(b))}" for b in bands]
        lines.append("")
    lines += ["| figure | mix | reference | difference |", "|---|--:|--:|--:|"]
    for group, rows in text.reference_groups(ref):
        lines.append(f"| **{escape(group)}** | | | |")
        for row in rows:
            lines.append(
                f"| {escape(row['name'])} | {row['mix']} | {row['reference']} | "
                f"{row['difference']} |"
            )
    return [*lines, ""]


def _reverb(result: MixDoctorResult) -> list[str]:
    r = result.reverb
    if r is None:
        return []
    lines = ["## Reverb", ""]
    if r.rt60_s is not None and math.isfinite(r.rt60_s):
        lines.append(
            f"RT60 {fmt(r.rt60_s, 's', digits=2)}, EDT {fmt(r.edt_s, 's', digits=2)} "
            f"from {r.decay_count} free decays (confidence {r.confidence:.2f})."
        )
    else:
        lines.append(f"No reverb time: {escape(r.reason or 'not measured')}")
    for mode in r.room_modes:
        lines.append(
            f"- room mode at {text.hertz(mode.frequency_hz)}: rings {mode.decay_s:.2f} s "
            f"(neighbours {mode.neighbour_decay_s:.2f} s)"
        )
    return [*lines, ""]


def _table(section: SummarySection) -> list[str]:
    lines = [f"### {escape(section.title)}", "", "| measure | value | note |", "|---|--:|---|"]
    for row in section.rows:
        lines.append(f"| {escape(row.label)} | {escape(row.value)} | {escape(row.note)} |")
    return [*lines, ""]
