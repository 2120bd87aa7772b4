"""Plotly figures of a :class:`MixDoctorResult`, as plain dicts (``{"data", "layout"}``).

Each builder returns a :class:`Plot` (its DOM id, title, a text alternative for screen
readers and the figure) or ``None`` when the result holds nothing to draw. Times are
plotted on date axes (as date strings from 1970-01-01 00:00) so that ticks read m:ss and
zooming keeps them readable; long series are thinned to
at most :data:`MAX_POINTS` points per trace, keeping each bucket's minimum and maximum so
that peaks survive. Nothing is measured here: every number comes from the result.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stemforge.advice.findings import Severity
from stemforge.advice.targets import tonal_value_name
from stemforge.reports import text

if TYPE_CHECKING:
    from stemforge.advice.doctor import MixDoctorResult

#: Most points drawn per trace.
MAX_POINTS = 2000
#: Most stem pairs offered in the masking heatmap's menu.
MAX_CLASH_HEATMAPS = 8

FONT = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", '
    '"Liberation Sans", Arial, sans-serif'
)
INK = "#1b1f29"
MUTED = "#5d6577"
GRID = "#e8ebf1"
AXIS = "#c6ccd8"
MIX = "#2451d6"
MIX_LIGHT = "#a9c1f7"
REFERENCE = "#e8590c"
TARGET = "#2b8a3e"
SEVERITY_COLOURS = {
    Severity.PROBLEM: "#d0312d",
    Severity.WARNING: "#e08a00",
    Severity.INFO: "#2f7fd1",
}
#: Percent of loudness lost, white to deep red.
MASKING_SCALE = [
    [0.0, "#ffffff"],
    [0.1, "#fff4d6"],
    [0.3, "#ffc86b"],
    [0.55, "#f77f2f"],
    [0.8, "#d0312d"],
    [1.0, "#7a1020"],
]
_FREQ_TICKS = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
_TIMING_AREAS = {"loudness", "peaks", "dynamics", "quality", "transients"}


@dataclass(frozen=True)
class Plot:
    """One figure of the report: ``id`` of its element, ``title``, ``alt`` (what it shows,
    in words, for screen readers) and the plotly ``figure`` dict."""

    id: str
    title: str
    alt: str
    figure: dict[str, Any]


# --- helpers -----------------------------------------------------------------------------


def decimate(
    times: np.ndarray, values: np.ndarray, max_points: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points of a series: the minimum and maximum of each of
    ``max_points // 2`` equal buckets, in time order (a bucket of NaN keeps one NaN, a gap)."""
    t = np.asarray(times, np.float64)
    v = np.asarray(values, np.float64)
    if t.size <= max_points:
        return t, v
    edges = np.linspace(0, t.size, max_points // 2 + 1).astype(int)
    keep: list[int] = []
    for a, b in itertools.pairwise(edges):
        seg = v[a:b]
        finite = np.isfinite(seg)
        if not finite.any():
            keep.append(a)
            continue
        masked = np.where(finite, seg, np.nan)
        lo, hi = a + int(np.nanargmin(masked)), a + int(np.nanargmax(masked))
        keep.extend(sorted({lo, hi}))
    idx = np.asarray(keep)
    return t[idx], v[idx]


def json_floats(x: Any, digits: int = 2) -> list[float | None]:
    """A float array as a JSON list, rounded, non-finite values as ``None`` (plotly gaps)."""
    arr = np.round(np.asarray(x, np.float64), digits)
    return [float(v) if math.isfinite(v) else None for v in arr.tolist()]


def clock(seconds: Any) -> list[str | None]:
    """Seconds as date strings for a date axis ("1970-01-01 00:01:02.500" is 1:02.5).

    Strings, not epoch milliseconds: plotly reads numbers under 10000 on a date axis as
    years, and numbers in the browser's time zone.
    """
    return [_clock(s) for s in np.asarray(seconds, np.float64).ravel().tolist()]


def _clock(seconds: float) -> str | None:
    if not math.isfinite(seconds):
        return None
    total_ms = max(0, round(seconds * 1000.0))
    days, rest = divmod(total_ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"1970-01-{days + 1:02d} {hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def time_axis(duration_s: float, **extra: Any) -> dict[str, Any]:
    """A date axis over the track that reads m:ss (h:mm:ss from an hour)."""
    long = duration_s >= 3600
    axis = {
        "type": "date",
        "range": [_clock(0.0), _clock(max(duration_s, 0.1))],
        "tickformat": "%-H:%M:%S" if long else "%-M:%S",
        "hoverformat": "%-H:%M:%S.%L" if long else "%-M:%S.%L",
        "title": {"text": "time (m:ss)", "standoff": 6},
    }
    return _axis(**axis, **extra)


def _axis(**extra: Any) -> dict[str, Any]:
    base = {
        "gridcolor": GRID,
        "linecolor": AXIS,
        "zeroline": False,
        "ticks": "outside",
        "tickcolor": AXIS,
        "ticklen": 4,
        "automargin": True,
        "title": {"standoff": 6, "font": {"size": 12, "color": MUTED}},
    }
    title = extra.pop("title", None)
    if isinstance(title, str):
        title = {"text": title}
    if title:
        base["title"] = {**base["title"], **title}
    return {**base, **extra}


def freq_axis(**extra: Any) -> dict[str, Any]:
    """A logarithmic frequency axis, 20 Hz to 20 kHz, ticks at 1-2-5 steps."""
    return _axis(
        type="log",
        range=[math.log10(20), math.log10(20000)],
        tickvals=list(_FREQ_TICKS),
        ticktext=[text.hertz(f).replace(" Hz", "").replace(" kHz", "k") for f in _FREQ_TICKS],
        title={"text": "frequency (Hz)"},
        **extra,
    )


def layout(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "font": {"family": FONT, "size": 12, "color": INK},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 8, "r": 12, "t": 8, "b": 8},
        "autosize": True,
        "showlegend": True,
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1.0,
            "yanchor": "bottom",
            "font": {"size": 11, "color": MUTED},
            "bgcolor": "rgba(0,0,0,0)",
            "traceorder": "normal",
        },
        "hoverlabel": {"font": {"family": FONT, "size": 12}, "namelength": -1},
        "hovermode": "closest",
    }
    base.update(extra)
    return base


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _finite(x: Any) -> np.ndarray:
    arr = np.asarray(x, np.float64)
    return arr[np.isfinite(arr)]


# --- loudness ----------------------------------------------------------------------------


def loudness_plot(result: MixDoctorResult) -> Plot:
    """Momentary and short-term loudness over time, the integrated value, the target, the
    sections and (shaded) when the loudness, peak and dynamics findings happen."""
    a = result.analysis
    lo = a.loudness
    dur = a.duration_s
    traces: list[dict[str, Any]] = []
    t, v = decimate(lo.momentary.times_s, lo.momentary.values)
    traces.append(_line(t, v, "momentary", MIX_LIGHT, width=1, hover="%{y:.1f} LUFS"))
    t, v = decimate(lo.short_term.times_s, lo.short_term.values)
    traces.append(_line(t, v, "short-term", MIX, width=2.4, hover="%{y:.1f} LUFS"))
    shown = list(_finite(lo.short_term.values)) + list(_finite(lo.momentary.values))
    integrated = lo.integrated_lufs
    if math.isfinite(integrated):
        traces.append(_hline(dur, integrated, f"integrated {integrated:.1f}", INK, dash="dash"))
        shown.append(integrated)
    target = text.target_value(result, "integrated_lufs")
    target_text = ""
    if target is not None and (target.low is not None or target.high is not None):
        low = target.low if target.low is not None else target.high
        high = target.high if target.high is not None else target.low
        centre = target.typical if target.typical is not None else (low + high) / 2
        traces += _band(dur, low, high, TARGET)
        if abs((high - centre) - (centre - low)) < 0.05:
            label = f"target {centre:g} ±{high - centre:g} LU"
        else:
            label = f"target {low:g} to {high:g}"
        traces.append(_hline(dur, centre, label, TARGET))
        shown += [low, high]
        target_text = f"; the target range is {low:g} to {high:g} LUFS"
    top = max(shown) if shown else 0.0
    floor = min(shown) if shown else -60.0
    floor = max(floor, (integrated if math.isfinite(integrated) else top) - 36.0)
    shapes, notes = _sections(result, top_label=True)
    shapes += _finding_shapes(result, _TIMING_AREAS)
    fig = {
        "data": traces,
        "layout": layout(
            xaxis=time_axis(dur),
            yaxis=_axis(title="loudness (LUFS)", range=[floor - 3, top + 4]),
            shapes=shapes,
            annotations=notes,
            hovermode="x unified",
        ),
    }
    st = _finite(lo.short_term.values)
    span = f"short-term loudness from {st.min():.0f} to {st.max():.0f} LUFS, " if st.size else ""
    alt = (
        f"Line chart of loudness over the {text.duration_text(result)} of the track: "
        f"{span}integrated {text.number(integrated, 'LUFS')}{target_text}."
    )
    return Plot("plot-loudness", "Loudness over time", alt, fig)


def _line(
    t: np.ndarray, v: np.ndarray, name: str, colour: str, *, width: float = 2, hover: str = ""
) -> dict[str, Any]:
    trace = {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": clock(t),
        "y": json_floats(v),
        "line": {"color": colour, "width": width},
        "connectgaps": False,
    }
    if hover:
        trace["hovertemplate"] = hover + f"<extra>{name}</extra>"
    return trace


def _hline(
    duration_s: float, y: float, name: str, colour: str, *, dash: str = "solid"
) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines",
        "name": name,
        "x": [_clock(0.0), _clock(duration_s)],
        "y": [y, y],
        "line": {"color": colour, "width": 1.6, "dash": dash},
        "hoverinfo": "skip",
    }


def _band(duration_s: float, low: float, high: float, colour: str) -> list[dict[str, Any]]:
    edge = {"type": "scatter", "mode": "lines", "line": {"width": 0}, "showlegend": False}
    x = [_clock(0.0), _clock(duration_s)]
    return [
        {**edge, "x": x, "y": [low, low], "hoverinfo": "skip"},
        {
            **edge,
            "x": x,
            "y": [high, high],
            "fill": "tonexty",
            "fillcolor": _rgba(colour, 0.16),
            "hoverinfo": "skip",
        },
    ]


def _sections(
    result: MixDoctorResult, *, top_label: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Dotted lines at section starts and their labels along the top of a time plot."""
    shapes, notes = [], []
    for i, s in enumerate(result.analysis.music.structure.sections):
        if i:
            shapes.append(
                {
                    "type": "line",
                    "xref": "x",
                    "yref": "paper",
                    "x0": _clock(s.start_s),
                    "x1": _clock(s.start_s),
                    "y0": 0,
                    "y1": 1,
                    "line": {"color": AXIS, "width": 1, "dash": "dot"},
                    "layer": "below",
                }
            )
        if top_label:
            notes.append(
                {
                    "x": _clock(s.start_s),
                    "y": 1,
                    "xref": "x",
                    "yref": "paper",
                    "xanchor": "left",
                    "yanchor": "top",
                    "xshift": 3,
                    "text": s.label,
                    "showarrow": False,
                    "font": {"size": 10, "color": MUTED},
                }
            )
    return shapes, notes


def _finding_shapes(result: MixDoctorResult, areas: set[str]) -> list[dict[str, Any]]:
    """Shaded columns where problems and warnings of ``areas`` happen (each span once, in
    the colour of its most severe finding)."""
    spans: dict[tuple[float, float], Severity] = {}
    for f in result.findings:
        if f.area not in areas or f.severity == Severity.INFO:
            continue
        for r in f.when[:50]:
            key = (round(float(r.start_s), 1), round(max(float(r.end_s), r.start_s + 0.1), 1))
            if key not in spans or f.severity.rank > spans[key].rank:
                spans[key] = f.severity
    return [
        {
            "type": "rect",
            "xref": "x",
            "yref": "paper",
            "x0": _clock(start),
            "x1": _clock(end),
            "y0": 0,
            "y1": 1,
            "fillcolor": _rgba(SEVERITY_COLOURS[severity], 0.12),
            "line": {"width": 0},
            "layer": "below",
        }
        for (start, end), severity in spans.items()
    ]


# --- spectrum ----------------------------------------------------------------------------


def spectrum_plot(result: MixDoctorResult) -> Plot:
    """Third-octave band levels of the mix, and of the reference at equal loudness."""
    sp = result.analysis.spectrum
    centres = {b.name: b.centre_hz for b in sp.third_octave}
    ref = result.reference
    traces = []
    if ref is not None and getattr(ref, "third_octave", ()):
        diffs = [d for d in ref.third_octave if d.name in centres]
        x = [centres[d.name] for d in diffs]
        traces.append(_spectrum_trace(x, [d.mix for d in diffs], "mix (matched)", MIX))
        traces.append(_spectrum_trace(x, [d.reference for d in diffs], "reference", REFERENCE))
        alt_ref = " and of the reference, both at the reference's loudness"
    else:
        x = [b.centre_hz for b in sp.third_octave]
        traces.append(_spectrum_trace(x, [b.level_db for b in sp.third_octave], "mix", MIX))
        alt_ref = ""
    levels = _finite([y for tr in traces for y in tr["y"] if y is not None])
    top = float(levels.max()) if levels.size else 0.0
    resonances = sp.resonances[:8]
    if resonances:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "resonances",
                "x": json_floats([r.frequency_hz for r in resonances], 1),
                "y": [round(top + 3.0, 1)] * len(resonances),
                "customdata": [
                    [text.hertz(r.frequency_hz), r.prominence_db, r.q] for r in resonances
                ],
                "marker": {
                    "symbol": "triangle-down",
                    "size": 10,
                    "color": SEVERITY_COLOURS[Severity.WARNING],
                },
                "hovertemplate": "resonance at %{customdata[0]}: +%{customdata[1]:.1f} dB, "
                "Q %{customdata[2]:.1f}<extra></extra>",
            }
        )
    fig = {
        "data": traces,
        "layout": layout(
            xaxis=freq_axis(),
            yaxis=_axis(title="band level (dB FS)", range=[top - 60, top + 6]),
            hovermode="x unified",
        ),
    }
    peak = max(sp.third_octave, key=lambda b: b.level_db) if sp.third_octave else None
    alt = (
        f"Line chart of the third-octave spectrum of the mix{alt_ref}, 20 Hz to 20 kHz"
        + (f"; the loudest band is {peak.name}" if peak else "")
        + (f"; {len(sp.resonances)} resonances marked" if sp.resonances else "")
        + "."
    )
    return Plot("plot-spectrum", "Spectrum", alt, fig)


def _spectrum_trace(x: Sequence[float], y: Sequence[float], name: str, colour: str) -> dict:
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": name,
        "x": json_floats(x, 1),
        "y": json_floats(y, 1),
        "line": {"color": colour, "width": 2.4, "shape": "spline", "smoothing": 0.6},
        "marker": {"size": 5, "color": colour},
        "hovertemplate": "%{y:.1f} dB<extra>" + name + "</extra>",
    }


def tonal_plot(result: MixDoctorResult) -> Plot:
    """The mix's tonal balance against the genre's ranges (and the reference's balance)."""
    bands = result.analysis.spectrum.tonal_balance
    genre = text.genre_profile_of(result)
    labels = [f"{b.name.replace('_', '-')}<br>{_band_range(b.low_hz, b.high_hz)}" for b in bands]
    traces: list[dict[str, Any]] = []
    outside = []
    targets = [text.target_value(result, tonal_value_name(b.name)) for b in bands]
    range_name = "target range" if result.target_source == "custom" else "genre range"
    if any(t is not None for t in targets):
        lows = [t.low if t is not None and t.low is not None else None for t in targets]
        highs = [t.high if t is not None and t.high is not None else None for t in targets]
        traces.append(
            {
                "type": "bar",
                "name": range_name,
                "x": labels,
                "base": lows,
                "y": [
                    None if lo is None or hi is None else hi - lo
                    for lo, hi in zip(lows, highs, strict=True)
                ],
                "marker": {
                    "color": _rgba(TARGET, 0.16),
                    "line": {"color": _rgba(TARGET, 0.55), "width": 1},
                },
                "width": 0.62,
                "customdata": [[lo, hi] for lo, hi in zip(lows, highs, strict=True)],
                "hovertemplate": "range %{customdata[0]:.0f} to %{customdata[1]:.0f} dB"
                "<extra></extra>",
            }
        )
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "typical",
                "x": labels,
                "y": [t.typical if t is not None else None for t in targets],
                "marker": {"symbol": "line-ew", "size": 26, "line": {"color": TARGET, "width": 2}},
                "hovertemplate": "typical %{y:.0f} dB<extra></extra>",
            }
        )
        for b, lo, hi in zip(bands, lows, highs, strict=True):
            out = (lo is not None and b.relative_db < lo) or (hi is not None and b.relative_db > hi)
            outside.append(bool(out))
    else:
        outside = [False] * len(bands)
    ref_bands = None
    if result.reference_analysis is not None:
        ref_by_name = {b.name: b for b in result.reference_analysis.spectrum.tonal_balance}
        ref_bands = [ref_by_name.get(b.name) for b in bands]
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "reference",
                "x": labels,
                "y": json_floats([rb.relative_db if rb else math.nan for rb in ref_bands], 1),
                "marker": {
                    "symbol": "circle-open",
                    "size": 13,
                    "color": REFERENCE,
                    "line": {"width": 2.5},
                },
                "hovertemplate": "reference %{y:.1f} dB<extra></extra>",
            }
        )
    problem = SEVERITY_COLOURS[Severity.PROBLEM]
    traces.append(
        {
            "type": "scatter",
            "mode": "markers+text",
            "name": "mix",
            "x": labels,
            "y": json_floats([b.relative_db for b in bands], 1),
            "text": [f"{b.relative_db:+.1f}" for b in bands],
            "textposition": "middle right",
            "textfont": {"size": 11, "color": [problem if o else MIX for o in outside]},
            "marker": {
                "symbol": "diamond",
                "size": 13,
                "color": [problem if o else MIX for o in outside],
                "line": {"color": "#ffffff", "width": 1.5},
            },
            "hovertemplate": "mix %{y:.1f} dB<extra></extra>",
            "cliponaxis": False,
        }
    )
    fig = {
        "data": traces,
        "layout": layout(
            xaxis=_axis(
                type="category",
                tickfont={"size": 11},
                tickangle=0,
                tickvals=labels,
                ticktext=labels,
            ),
            yaxis=_axis(title="level re total (dB)"),
            bargap=0.3,
        ),
    }
    ranged = any(t is not None for t in targets)
    against = ""
    if ranged:
        against = f" against the {genre.display_name} ranges" if genre else " against the target"
    outs = [b.name.replace("_", "-") for b, o in zip(bands, outside, strict=True) if o]
    alt = (
        f"Chart of the mix's tonal balance in {len(bands)} bands{against}"
        + (f"; outside the range: {', '.join(outs)}" if outs else "")
        + ("; the reference's balance is marked with circles" if ref_bands else "")
        + "."
    )
    title = "Tonal balance"
    if ranged:
        title += f" against {genre.display_name}" if genre is not None else " against the target"
    return Plot("plot-tonal", title, alt, fig)


def _band_range(low_hz: float, high_hz: float) -> str:
    """Compact band edges for a tick label: "60–250", "2k–4k"."""

    def short(f: float) -> str:
        return f"{f / 1000:g}k" if f >= 1000 else f"{f:g}"

    return f"{short(low_hz)}–{short(high_hz)}"


def eq_plot(result: MixDoctorResult) -> Plot | None:
    """The spectral difference from the reference, the suggested EQ and what remains after it."""
    ref = result.reference
    if ref is None or not len(getattr(ref, "frequencies_hz", ())):
        return None
    f = json_floats(ref.frequencies_hz, 1)
    residual = ref.measured_residual_db if ref.verified else ref.predicted_residual_db
    goal = ref.target_db
    traces = [
        {
            "type": "scatter",
            "mode": "lines",
            "x": [f[0], f[-1]],
            "y": [-goal, -goal],
            "line": {"width": 0},
            "showlegend": False,
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": f"goal ±{goal:g} dB",
            "x": [f[0], f[-1]],
            "y": [goal, goal],
            "fill": "tonexty",
            "fillcolor": _rgba(TARGET, 0.12),
            "line": {"width": 0},
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "mix − reference",
            "x": f,
            "y": json_floats(ref.difference_db),
            "line": {"color": REFERENCE, "width": 2},
            "hovertemplate": "%{y:+.1f} dB<extra>mix − reference</extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "suggested EQ",
            "x": f,
            "y": json_floats(ref.eq_response_db),
            "line": {"color": MIX, "width": 2.4},
            "hovertemplate": "%{y:+.1f} dB<extra>suggested EQ</extra>",
        },
        {
            "type": "scatter",
            "mode": "lines",
            "name": "after the EQ" + ("" if ref.verified else " (predicted)"),
            "x": f,
            "y": json_floats(residual),
            "line": {"color": INK, "width": 1.4, "dash": "dot"},
            "hovertemplate": "%{y:+.1f} dB<extra>after the EQ</extra>",
        },
    ]
    fig = {
        "data": traces,
        "layout": layout(
            xaxis=freq_axis(),
            yaxis=_axis(title="dB", zeroline=True, zerolinecolor=AXIS),
            hovermode="x unified",
        ),
    }
    n = len(getattr(ref.suggested_eq, "bands", ()))
    alt = (
        f"Line chart of the mix's spectrum minus the reference's (up to "
        f"{ref.difference_max_db:.1f} dB apart), the suggested {n}-band EQ and the remaining "
        f"difference after it (at most {ref.residual_max_db:.1f} dB)."
    )
    return Plot("plot-eq", "Matching the reference", alt, fig)


# --- stereo ------------------------------------------------------------------------------


def vectorscope_plot(result: MixDoctorResult) -> Plot:
    """Goniometer: mid up, side across (left to the left), with L, R and mono guides."""
    s = result.analysis.stereo
    vs = s.vectorscope
    scale = float(vs.scale) if vs.scale and math.isfinite(vs.scale) and vs.scale > 0 else 1.0
    side, mid = np.asarray(vs.side, np.float64), np.asarray(vs.mid, np.float64)
    if side.size > MAX_POINTS:
        step = math.ceil(side.size / MAX_POINTS)
        side, mid = side[::step], mid[::step]
    lim = scale * 1.08
    guide = {"type": "line", "line": {"color": AXIS, "width": 1, "dash": "dot"}, "layer": "below"}
    shapes = [
        {**guide, "x0": 0, "x1": 0, "y0": -lim, "y1": lim},
        {**guide, "x0": -lim, "x1": lim, "y0": -lim, "y1": lim},
        {**guide, "x0": -lim, "x1": lim, "y0": lim, "y1": -lim},
        {**guide, "x0": -lim, "x1": lim, "y0": 0, "y1": 0},
    ]
    label = {"showarrow": False, "font": {"size": 12, "color": MUTED}}
    notes = [
        {**label, "x": 0, "y": lim, "text": "M", "xanchor": "left", "yanchor": "top", "xshift": 4},
        {**label, "x": -lim, "y": lim, "text": "L", "xanchor": "left", "yanchor": "top"},
        {**label, "x": lim, "y": lim, "text": "R", "xanchor": "right", "yanchor": "top"},
    ]
    trace = {
        "type": "scatter",
        "mode": "markers",
        "name": "samples",
        "x": json_floats(-side, 4),  # left-heavy samples to the left, as on a goniometer
        "y": json_floats(mid, 4),
        "marker": {"size": 3, "color": MIX, "opacity": 0.35},
        "hoverinfo": "skip",
        "showlegend": False,
    }
    hidden = {"showticklabels": False, "ticks": "", "showgrid": False, "range": [-lim, lim]}
    fig = {
        "data": [trace],
        "layout": layout(
            xaxis=_axis(**hidden, title="side", fixedrange=True, constrain="domain"),
            yaxis=_axis(
                **hidden, title="mid", scaleanchor="x", fixedrange=True, constrain="domain"
            ),
            shapes=shapes,
            annotations=notes,
            showlegend=False,
        ),
    }
    shape = (
        "a vertical line: mono"
        if s.is_mono
        else f"correlation {s.correlation:.2f}, width {s.width:.2f} (0 mono, 1 wide)"
    )
    alt = f"Vectorscope of {side.size} sample points, mid against side: {shape}."
    return Plot("plot-vectorscope", "Vectorscope", alt, fig)


def correlation_plot(result: MixDoctorResult) -> Plot:
    """Phase correlation over time, out-of-phase regions shaded."""
    s = result.analysis.stereo
    dur = result.analysis.duration_s
    t, v = decimate(s.correlation_series.times_s, s.correlation_series.values)
    trace = _line(t, v, "correlation", MIX, width=2, hover="%{y:.2f}")
    trace["fill"] = "tozeroy"
    trace["fillcolor"] = _rgba(MIX, 0.08)
    problem = SEVERITY_COLOURS[Severity.PROBLEM]
    shapes = [
        {
            "type": "rect",
            "xref": "x",
            "yref": "y",
            "x0": _clock(0.0),
            "x1": _clock(dur),
            "y0": -1.05,
            "y1": 0,
            "fillcolor": _rgba(problem, 0.05),
            "line": {"width": 0},
            "layer": "below",
        },
        *(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": _clock(r.start_s),
                "x1": _clock(r.end_s),
                "y0": 0,
                "y1": 1,
                "fillcolor": _rgba(problem, 0.18),
                "line": {"width": 0},
                "layer": "below",
            }
            for r in s.out_of_phase
        ),
    ]
    sec_shapes, _ = _sections(result, top_label=False)
    shapes += sec_shapes + _finding_shapes(result, {"stereo"})
    fig = {
        "data": [trace],
        "layout": layout(
            xaxis=time_axis(dur),
            yaxis=_axis(
                title="correlation",
                range=[-1.05, 1.05],
                tickvals=[-1, -0.5, 0, 0.5, 1],
                zeroline=True,
                zerolinecolor=AXIS,
            ),
            shapes=shapes,
            showlegend=False,
            hovermode="x",
        ),
    }
    phase = (
        f"; {len(s.out_of_phase)} out-of-phase regions shaded"
        if s.out_of_phase
        else "; it never stays below zero"
    )
    alt = (
        "Line chart of the left-right phase correlation over time, "
        f"overall {s.correlation:.2f}{phase}."
    )
    return Plot("plot-correlation", "Phase correlation over time", alt, fig)


# --- masking -----------------------------------------------------------------------------


def masking_plot(result: MixDoctorResult) -> Plot | None:
    """Heatmaps (bands over time) of the worst stem clashes; a menu picks one (first shown)."""
    m = result.masking
    clashes = _worst_clashes(result)
    if m is None or not clashes:
        return None
    bands = [text.hertz(f) for f in m.band_centres_hz]
    x = clock(m.times_s)
    traces = []
    for i, c in enumerate(clashes):
        name = f"{c.stems[0]} × {c.stems[1]}"
        traces.append(
            {
                "type": "heatmap",
                "name": name,
                "x": x,
                "y": bands,
                "z": np.asarray(c.heatmap).astype(int).tolist(),
                "zmin": 0,
                "zmax": 100,
                "colorscale": MASKING_SCALE,
                "visible": i == 0,
                "colorbar": {
                    "title": {"text": "% lost", "side": "right", "font": {"size": 11}},
                    "thickness": 10,
                    "ticksuffix": "",
                    "outlinewidth": 0,
                    "len": 1,
                },
                "hovertemplate": "%{x}<br>%{y}: %{z} % of the quieter stem's loudness lost"
                f"<extra>{name}</extra>",
            }
        )
    fig = {
        "data": traces,
        "layout": layout(
            xaxis=time_axis(m.duration_s),
            yaxis=_axis(title="critical band", type="category", tickfont={"size": 10}, nticks=9),
            showlegend=False,
        ),
    }
    worst = clashes[0]
    alt = (
        f"Heatmap of masking between {worst.stems[0]} and {worst.stems[1]} (worst pair, "
        f"{worst.score * 100:.0f} % of the loudness of the more masked stem lost) by "
        "critical band over time; a menu switches to the other pairs."
    )
    return Plot("plot-masking", "Masking over time", alt, fig)


def masking_choices(result: MixDoctorResult) -> list[tuple[int, str]]:
    """(trace index, label) of the pairs :func:`masking_plot` draws, in its order."""
    return [
        (i, f"{c.stems[0]} × {c.stems[1]} — {c.score * 100:.0f} %")
        for i, c in enumerate(_worst_clashes(result))
    ]


def _worst_clashes(result: MixDoctorResult) -> list:
    """The clashes that carry a heatmap, worst first, at most :data:`MAX_CLASH_HEATMAPS`."""
    if result.masking is None:
        return []
    drawable = (c for c in result.masking.clashes if c.heatmap is not None and c.score > 0)
    return sorted(drawable, key=lambda c: -c.score)[:MAX_CLASH_HEATMAPS]


def masking_matrix_plot(result: MixDoctorResult) -> Plot | None:
    """Who masks whom: percent of each stem's loudness taken by each other stem."""
    m = result.masking
    if m is None or len(m.stem_names) < 2:
        return None
    z = np.asarray(m.pair_masked_fraction, np.float64) * 100.0
    np.fill_diagonal(z, np.nan)
    names = list(m.stem_names)
    fig = {
        "data": [
            {
                "type": "heatmap",
                "x": names,
                "y": names,
                "z": [json_floats(row, 0) for row in z],
                "zmin": 0,
                "zmax": 100,
                "colorscale": MASKING_SCALE,
                "showscale": False,
                "texttemplate": "%{z:.0f}",
                "textfont": {"size": 11},
                "xgap": 2,
                "ygap": 2,
                "hovertemplate": "%{y} takes %{z:.0f} % of %{x}'s loudness<extra></extra>",
            }
        ],
        "layout": layout(
            xaxis=_axis(
                title="masked stem", type="category", side="bottom", showgrid=False, ticks=""
            ),
            yaxis=_axis(
                title="masker", type="category", autorange="reversed", showgrid=False, ticks=""
            ),
            showlegend=False,
        ),
    }
    i, j = np.unravel_index(np.nanargmax(np.where(np.isfinite(z), z, -1)), z.shape)
    alt = (
        f"Grid of {len(names)} stems: the percent of each stem's loudness that each other stem "
        f"takes away; the largest: {names[i]} takes {z[i, j]:.0f} % of {names[j]}'s."
    )
    return Plot("plot-masking-matrix", "Who masks whom", alt, fig)


# --- transients --------------------------------------------------------------------------


def transients_plot(result: MixDoctorResult) -> Plot:
    """Onset strength over time with the detected onsets marked."""
    tr = result.analysis.transients
    dur = result.analysis.duration_s
    series = tr.onset_strength_series
    t, v = decimate(series.times_s, series.values)
    line = _line(t, v, "onset strength", MIX, width=1.6, hover="%{y:.2f}")
    line["fill"] = "tozeroy"
    line["fillcolor"] = _rgba(MIX, 0.12)
    onsets = np.asarray(tr.onset_times_s, np.float64)
    strengths = np.asarray(tr.onset_strengths_db, np.float64)
    if onsets.size > MAX_POINTS:
        step = math.ceil(onsets.size / MAX_POINTS)
        onsets, strengths = onsets[::step], strengths[::step]
    heights = (
        np.interp(onsets, series.times_s, series.values) if len(series) else np.zeros(onsets.size)
    )
    markers = {
        "type": "scatter",
        "mode": "markers",
        "name": f"onsets ({tr.onset_count})",
        "x": clock(onsets),
        "y": json_floats(heights, 3),
        "customdata": json_floats(strengths, 1),
        "marker": {"symbol": "triangle-down", "size": 7, "color": REFERENCE},
        "hovertemplate": "onset, strength %{customdata:.1f} dB<extra></extra>",
    }
    shapes, notes = _sections(result, top_label=True)
    unit = series.unit or "strength"
    fig = {
        "data": [line, markers],
        "layout": layout(
            xaxis=time_axis(dur),
            yaxis=_axis(title=f"onset strength ({unit})", rangemode="tozero"),
            shapes=shapes,
            annotations=notes,
        ),
    }
    alt = (
        f"Line chart of onset strength over time with {tr.onset_count} onsets marked "
        f"({tr.onset_rate_per_s:.1f} per second); punch {text.number(tr.punch_db, 'dB')}."
    )
    return Plot("plot-transients", "Transients", alt, fig)


def report_plots(result: MixDoctorResult) -> dict[str, Plot]:
    """Every plot the result supports, by id, in page order."""
    builders = (
        loudness_plot,
        spectrum_plot,
        tonal_plot,
        eq_plot,
        vectorscope_plot,
        correlation_plot,
        masking_plot,
        masking_matrix_plot,
        transients_plot,
    )
    plots = (build(result) for build in builders)
    return {p.id: p for p in plots if p is not None}
