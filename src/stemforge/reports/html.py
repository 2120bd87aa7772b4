"""The mix doctor's report as one self-contained HTML file.

plotly.js is read from the installed plotly package and inlined, the figures are inlined
as JSON, the styles live in the template: the page makes no network request at all (its
Content-Security-Policy forbids any). Findings come first, then the plots, the
measurement tables and the musical facts.
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stemforge import __version__
from stemforge.analysis.summary import SummaryRow, SummarySection, fmt, summary_sections
from stemforge.errors import StemforgeError
from stemforge.optional import require_module
from stemforge.output import write_bytes_atomic
from stemforge.reports import figures, text

if TYPE_CHECKING:
    from stemforge.advice.doctor import MixDoctorResult

_MUSIC_SECTIONS = {"Rhythm", "Key", "Structure"}
#: Colours of section groups A, B, C ... in the timeline.
_GROUP_COLOURS = ("#4263eb", "#0ca678", "#f08c00", "#ae3ec9", "#1098ad", "#e8590c", "#5c940d")


class ReportDependencyError(StemforgeError):
    """The HTML report needs the ``report`` extra (Jinja2 and plotly)."""

    http_status = 500


@dataclass(frozen=True)
class Block:
    """A stretch of a timeline: ``left``/``width`` in percent of the track."""

    label: str
    title: str
    left: float
    width: float
    colour: str


def render_html(result: MixDoctorResult, path: str | Path) -> Path:
    """Write the report to ``path`` (atomically: a crash never leaves half a file)."""
    document = html_document(result)
    return write_bytes_atomic(Path(path), document.encode("utf-8"))


def html_document(result: MixDoctorResult) -> str:
    """The whole page as a string."""
    template = _environment().get_template("report.html.j2")
    plots = figures.report_plots(result)
    sections = summary_sections(result.analysis)
    return template.render(
        r=result,
        t=text,
        plots=plots,
        figures_json=_script_json({k: p.figure for k, p in plots.items()}),
        plotly_js=_plotly_js(),
        facts=_facts(result),
        verdict=text.verdict(result.findings),
        counts=text.counts(result.findings),
        groups=text.grouped(result.findings),
        masking=_masking(result),
        reference=_reference(result),
        measurements=_measurements(result, sections),
        music=_music(result, sections),
        version=__version__,
        analysis_s=sum(result.timings_s.values()) or sum(result.analysis.timings_s.values()),
    )


@cache
def _environment():
    jinja2 = require_module(
        "jinja2",
        "the HTML report needs Jinja2, which is not installed.",
        hint="Install the report extra: pip install 'stemforge[report]'.",
        error=ReportDependencyError,
    )
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("stemforge.reports", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env


@cache
def _plotly_js_text() -> str:
    spec = importlib.util.find_spec("plotly")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path.read_text(encoding="utf-8").replace("</script", "<\\/script")
    raise ReportDependencyError(
        "the HTML report needs plotly's JavaScript (plotly/package_data/plotly.min.js), "
        "which was not found.",
        hint="Install the report extra: pip install 'stemforge[report]'.",
    )


def _plotly_js():
    from markupsafe import Markup

    return Markup(_plotly_js_text())


def _script_json(data: Any):
    """JSON safe inside a ``<script>`` element (no ``<``, ``>`` or ``&`` left raw)."""
    from markupsafe import Markup

    raw = json.dumps(data, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    raw = raw.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(raw.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# --- page parts --------------------------------------------------------------------------


def _facts(result: MixDoctorResult) -> list[tuple[str, str]]:
    facts = [("Duration", text.duration_text(result)), ("Format", text.format_text(result))]
    platform = text.platform_text(result)
    facts.append(("Target", platform or "none (no platform given)"))
    genre = text.genre_text(result)
    facts.append(("Genre", genre or "none"))
    if result.reference is not None:
        ref = result.reference_analysis
        name = Path(ref.source).name if ref is not None and ref.source else "compared"
        facts.append(("Reference", name))
    if result.masking is not None:
        facts.append(
            ("Stems", f"{len(result.masking.stem_names)}: " + ", ".join(result.masking.stem_names))
        )
    return facts


def _masking(result: MixDoctorResult) -> dict[str, Any] | None:
    m = result.masking
    if m is None:
        return None
    from stemforge.analysis.masking import top_clashes

    stems = [
        {
            "name": s.name,
            "lost": "silent" if s.silent else f"{s.masked_fraction * 100:.0f} %",
            "loss": "" if s.silent else fmt(s.loss_db, "dB"),
            "maskers": ", ".join(s.main_maskers) or "–",
            "share": 0.0 if s.silent else min(100.0, max(0.0, s.masked_fraction * 100)),
        }
        for s in sorted(m.stems, key=lambda s: -s.masked_fraction if not s.silent else 1)
    ]
    return {
        "choices": figures.masking_choices(result),
        "pairs": [p.describe() for p in top_clashes(m, 5, min_fraction=0.05)],
        "stems": stems,
        "notes": [(stem, note) for stem, notes in result.stem_notes.items() for note in notes],
    }


def _reference(result: MixDoctorResult) -> dict[str, Any] | None:
    ref = result.reference
    if ref is None:
        return None
    groups = text.reference_groups(ref)
    return {
        "gain": fmt(ref.loudness_match_gain_db, "dB", signed=True),
        "difference_max": fmt(ref.difference_max_db, "dB"),
        "residual_max": fmt(ref.residual_max_db, "dB"),
        "target": fmt(ref.target_db, "dB"),
        "target_met": bool(ref.target_met),
        "eq": [text.eq_band_text(b) for b in getattr(ref.suggested_eq, "bands", ())],
        "groups": groups,
        "notes": list(getattr(ref, "notes", ())),
    }


def _measurements(result: MixDoctorResult, sections: list[SummarySection]) -> list[SummarySection]:
    """The summary tables (the musical ones go to the music section) and the reverb."""
    tables = [s for s in sections if s.title not in _MUSIC_SECTIONS]
    reverb = _reverb_section(result.reverb)
    return [*tables, reverb] if reverb is not None else tables


def _reverb_section(r) -> SummarySection | None:
    if r is None:
        return None
    rows = []
    if r.rt60_s is not None and math.isfinite(r.rt60_s):
        rows.append(
            SummaryRow("RT60", fmt(r.rt60_s, "s", digits=2), f"{r.decay_count} free decays")
        )
    else:
        rows.append(SummaryRow("RT60", "n/a", r.reason or ""))
    rows.append(SummaryRow("EDT", fmt(r.edt_s, "s", digits=2), "early decay time"))
    rows.append(SummaryRow("confidence", f"{r.confidence:.2f}", "0 to 1"))
    for b in r.bands:
        if math.isfinite(b.rt60_s):
            rows.append(
                SummaryRow(
                    f"RT60 {b.name}", fmt(b.rt60_s, "s", digits=2), f"{b.decay_count} decays"
                )
            )
    for mode in r.room_modes:
        rows.append(
            SummaryRow(
                "room mode",
                text.hertz(mode.frequency_hz),
                f"rings {mode.decay_s:.2f} s (neighbours {mode.neighbour_decay_s:.2f} s)",
            )
        )
    return SummarySection("Reverb", tuple(rows))


def _music(result: MixDoctorResult, sections: list[SummarySection]) -> dict[str, Any]:
    m = result.analysis.music
    dur = max(result.analysis.duration_s, 1e-9)
    r, k = m.rhythm, m.key
    tempo = "–" if r.tempo_bpm is None or not math.isfinite(r.tempo_bpm) else f"{r.tempo_bpm:.1f}"
    tiles = [
        ("Tempo", tempo, "BPM" if tempo != "–" else (r.reason or "no steady beat")),
        ("Key", k.key or "–", f"confidence {k.confidence:.2f}" if k.found else (k.reason or "")),
        ("Camelot", k.camelot or "–", f"Open Key {k.open_key}" if k.open_key else ""),
        ("Meter", r.time_signature or "–", f"confidence {r.meter_confidence:.2f}"),
    ]
    groups = sorted({s.group for s in m.structure.sections})
    blocks = [
        Block(
            label=s.label,
            title=(
                f"{s.label} {s.repeat_index}: {text.span(s)} · {s.bars} bars · group {s.group} "
                f"· energy {s.energy:.2f}"
            ),
            left=100.0 * s.start_s / dur,
            width=100.0 * (s.end_s - s.start_s) / dur,
            colour=_GROUP_COLOURS[groups.index(s.group) % len(_GROUP_COLOURS)],
        )
        for s in m.structure.sections
    ]
    chords = [
        Block(
            label=text.chord_name(c.label),
            title=f"{text.chord_name(c.label)}: {text.span(c)}",
            left=100.0 * c.start_s / dur,
            width=100.0 * (c.end_s - c.start_s) / dur,
            colour="",
        )
        for c in m.chords.segments
    ]
    ticks = _timeline_ticks(result.analysis.duration_s)
    return {
        "tiles": tiles,
        "sections": blocks,
        "chords": chords,
        "ticks": [(100.0 * t / dur, text.fmt_time(t).removesuffix(".0")) for t in ticks],
        "tables": [s for s in sections if s.title in _MUSIC_SECTIONS],
    }


def _timeline_ticks(duration_s: float) -> list[float]:
    for step in (5, 10, 15, 30, 60, 120, 300, 600):
        if duration_s / step <= 8:
            break
    return [i * step for i in range(int(duration_s // step) + 1)]
