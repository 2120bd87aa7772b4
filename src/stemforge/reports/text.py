"""Words and numbers shared by the report formats: how a finding, its evidence, its time
ranges and its fix read, and the one-line facts of the header.

Pure formatting of what the results hold; nothing here measures anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stemforge.advice.findings import Finding, Fix, Severity, sort_findings
from stemforge.analysis.summary import fmt_time

if TYPE_CHECKING:
    from stemforge.advice.doctor import MixDoctorResult
    from stemforge.analysis.common import TimeRange

#: Severities in the order a report lists them.
SEVERITIES = (Severity.PROBLEM, Severity.WARNING, Severity.INFO)
SEVERITY_NAMES = {
    Severity.PROBLEM: ("problem", "problems"),
    Severity.WARNING: ("warning", "warnings"),
    Severity.INFO: ("info", "info"),
}
AREA_TITLES = {
    "loudness": "Loudness",
    "peaks": "Peaks",
    "dynamics": "Dynamics",
    "stereo": "Stereo & phase",
    "tonal": "Tonal balance",
    "masking": "Masking",
    "transients": "Transients",
    "reverb": "Reverb",
    "quality": "Quality",
    "rhythm": "Rhythm",
    "reference": "Reference",
    "stems": "Stems",
}
GENRE_SOURCES = {
    "explicit": "chosen by you",
    "predicted": "predicted from the audio",
    "none": "not set",
}
#: Unit suffixes of value names (longest match first) and how they read.
_SUFFIXES = (
    ("_db_per_octave", "dB/oct"),
    ("_db_per_oct", "dB/oct"),
    ("_dbtp", "dBTP"),
    ("_dbfs", "dBFS"),
    ("_lufs", "LUFS"),
    ("_db", "dB"),
    ("_lu", "LU"),
    ("_khz", "kHz"),
    ("_hz", "Hz"),
    ("_ms", "ms"),
    ("_per_s", "per s"),
    ("_s", "s"),
    ("_bpm", "BPM"),
    ("_percent", "%"),
    ("_pct", "%"),
    ("_fraction", "%"),
    ("_cents", "cents"),
    ("_sone", "sone"),
    ("_phon", "phon"),
    ("_acum", "acum"),
    ("_samples", "samples"),
)
_LEVEL_UNITS = {"dB", "dBTP", "dBFS", "LUFS", "LU", "dB/oct"}
_ACRONYMS = {
    "dr": "DR",
    "plr": "PLR",
    "psr": "PSR",
    "lra": "LRA",
    "rms": "RMS",
    "dc": "DC",
    "eq": "EQ",
    "rt60": "RT60",
    "edt": "EDT",
    "q": "Q",
    "lufs": "LUFS",
    "hpss": "HPSS",
    "bpm": "BPM",
}
_POSITION_WORDS = ("start", "end", "time", "at", "position", "onset")


@dataclass(frozen=True)
class Item:
    """One labelled value: ``label`` ("true peak") and ``value`` ("-0.4 dBTP")."""

    label: str
    value: str


# --- numbers -------------------------------------------------------------------------------


def split_unit(name: str) -> tuple[str, str]:
    """``"true_peak_dbtp"`` -> ``("true peak", "dBTP")``; no known suffix: no unit."""
    unit = ""
    for suffix, text in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name, unit = name[: -len(suffix)], text
            break
    words = [_ACRONYMS.get(w, w) for w in name.replace("-", "_").split("_") if w]
    if unit and words and _is_numeral(words[-1]):
        # "correlation_below_120_hz": the unit belongs to the number in the name
        return " ".join([*words, unit]), ""
    return " ".join(words), unit


def _is_numeral(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def number(value: Any, unit: str = "", *, name: str = "") -> str:
    """A number as a producer reads it: dB to 0.1, Hz as "180 Hz" / "2.5 kHz", time
    positions as m:ss.s, fractions as percent; NaN and None read "n/a"."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)) and unit not in ("%", "Hz", "kHz"):
        return f"{int(value)} {unit}".rstrip()
    x = float(value)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return f"{'-' if x < 0 else '+'}inf {unit}".rstrip()
    if unit == "%" and name.endswith("_fraction"):
        x *= 100.0
    if unit in ("Hz", "kHz"):
        return hertz(x * (1000.0 if unit == "kHz" else 1.0))
    if unit == "s" and any(w in name.split("_") for w in _POSITION_WORDS):
        return fmt_time(x)
    if unit in _LEVEL_UNITS:
        text = f"{x:.1f}"
    elif name == "q":
        text = f"{x:.1f}" if abs(x) < 10 else f"{x:.0f}"
    elif unit == "%":
        text = f"{x:.0f}" if abs(x) >= 10 else f"{x:.1f}"
    elif abs(x) >= 1000 or float(x).is_integer():
        text = f"{x:.0f}"
    else:
        text = f"{x:.3g}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return f"{text} {unit}".rstrip() if unit != "%" else f"{text} %"


def hertz(frequency_hz: float) -> str:
    """``180.0`` -> "180 Hz", ``2500.0`` -> "2.5 kHz"."""
    if not math.isfinite(frequency_hz):
        return "n/a"
    if frequency_hz >= 1000:
        return f"{frequency_hz / 1000:.3g} kHz"
    return f"{frequency_hz:.3g} Hz"


def value_text(name: str, value: Any) -> str:
    """Any evidence or parameter value, its unit taken from ``name``'s suffix."""
    _, unit = split_unit(name)
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(
            f"{split_unit(str(k))[0]} {value_text(str(k), v)}" for k, v in value.items()
        )
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if value and all(_is_number(v) for v in value):
            sep = "–" if len(value) == 2 and ("range" in name or "band" in name) else ", "
            if unit in ("Hz", "kHz"):
                return sep.join(number(v, unit, name=name) for v in value)
            text = sep.join(number(v, unit, name=name).removesuffix(f" {unit}") for v in value)
            return f"{text} {unit}".rstrip()
        return ", ".join(value_text(name, v) for v in value)
    if isinstance(value, str):
        return value
    if _is_number(value):
        return number(value, unit, name=name)
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


#: Evidence keys shown as a note under the figures rather than as a figure.
NOTE_KEYS = ("source",)


def items(values: Mapping[str, Any]) -> list[Item]:
    """Labelled, formatted entries of an evidence or parameter dict, in its order.

    Left out: notes (:data:`NOTE_KEYS`), long texts, a filter chain's ``type`` and lists
    of records other than EQ bands (they stay in the JSON report).
    """
    out = []
    for key, value in values.items():
        key = str(key)
        if key in NOTE_KEYS or (key == "type" and value == "eq"):
            continue
        if isinstance(value, str) and len(value) > 60:
            continue
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], Mapping):
            if not all(isinstance(v, Mapping) and "type" in v for v in value):
                continue
            out.append(Item(split_unit(key)[0], "; ".join(eq_band_text(v) for v in value)))
            continue
        out.append(Item(split_unit(key)[0], value_text(key, value)))
    return out


def notes(values: Mapping[str, Any]) -> list[str]:
    """The texts :func:`items` leaves out: sources and other long explanations."""
    return [
        str(v) for k, v in values.items() if isinstance(v, str) and (k in NOTE_KEYS or len(v) > 60)
    ]


def sentence(value: str) -> str:
    """``value`` with its first letter capitalised (the rest untouched)."""
    return value[:1].upper() + value[1:]


# --- findings ------------------------------------------------------------------------------


def grouped(findings: Iterable[Finding]) -> list[tuple[Severity, tuple[Finding, ...]]]:
    """Findings by severity, most severe first; each group in report order; empty groups left
    out."""
    ordered = sort_findings(tuple(findings))
    groups = [(s, tuple(f for f in ordered if f.severity == s)) for s in SEVERITIES]
    return [(s, fs) for s, fs in groups if fs]


def counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    found = list(findings)
    return {s: sum(f.severity == s for f in found) for s in SEVERITIES}


def count_text(severity: Severity, n: int) -> str:
    one, many = SEVERITY_NAMES[severity]
    return f"{n} {one if n == 1 else many}"


def verdict(findings: Iterable[Finding]) -> str:
    """ "2 problems · 3 warnings · 1 info", or a sentence when there is nothing."""
    c = counts(findings)
    if not any(c.values()):
        return "No findings: nothing to fix against the targets used."
    return " · ".join(count_text(s, c[s]) for s in SEVERITIES)


def severity_title(severity: Severity) -> str:
    return SEVERITY_NAMES[severity][1].capitalize()


def area_title(area: str) -> str:
    return AREA_TITLES.get(area, area.replace("_", " ").capitalize())


def span(r: TimeRange) -> str:
    """m:ss.s–m:ss.s (one time when the range is an instant)."""
    if abs(r.end_s - r.start_s) < 0.05:
        return fmt_time(r.start_s)
    return f"{fmt_time(r.start_s)}–{fmt_time(r.end_s)}"


def spans(when: Iterable[TimeRange], limit: int = 6) -> tuple[list[str], int]:
    """The first ``limit`` ranges as text, and how many more there are."""
    ranges = list(when)
    return [span(r) for r in ranges[:limit]], max(0, len(ranges) - limit)


def fix_target(fix: Fix) -> str:
    """Where the fix applies, as a phrase: "on the master", "on the bass"."""
    if fix.target in ("mix", "master"):
        return f"on the {fix.target}"
    return f"on {fix.target}"


def processor_name(fix: Fix) -> str:
    return (fix.processor or "").replace("_", " ")


# --- header facts --------------------------------------------------------------------------


def file_name(result: MixDoctorResult) -> str:
    source = result.analysis.source
    return Path(source).name if source else "mix"


def duration_text(result: MixDoctorResult) -> str:
    return fmt_time(result.analysis.duration_s).removesuffix(".0")


def format_text(result: MixDoctorResult) -> str:
    """ "WAV · 24-bit PCM · 44.1 kHz · stereo" (what the analysis knows of the file)."""
    a = result.analysis
    parts: list[str] = []
    if a.file is not None:
        f = a.file
        parts.append(f.container.upper())
        if f.bit_depth:
            kind = "PCM" if f.codec.startswith("pcm") else f.codec.upper()
            parts.append(f"{f.bit_depth}-bit {kind}")
        else:
            rate = f" {round(f.bitrate_bps / 1000)} kbps" if f.bitrate_bps else ""
            parts.append(f"{f.codec.upper()}{rate}")
    parts.append(f"{a.sample_rate / 1000:g} kHz")
    parts.append({1: "mono", 2: "stereo"}.get(a.channels, f"{a.channels} channels"))
    return " · ".join(parts)


def platform_text(result: MixDoctorResult) -> str | None:
    """ "Spotify: -14 LUFS ±1 LU, true peak ≤ -1 dBTP" ("(default)" when none was asked
    for; a custom target by its name and loudness range)."""
    target = platform_target_of(result)
    if target is not None:
        text = (
            f"{target.display_name}: {target.integrated_lufs:g} LUFS ±{target.tolerance_lu:g} LU, "
            f"true peak ≤ {target.true_peak_max_dbtp:g} dBTP"
        )
        return text + (" (default)" if result.target_source == "default" else "")
    if result.target_source == "custom" and result.targets is not None:
        value = result.targets.values.get("integrated_lufs")
        text = f"custom target {result.targets.name}"
        if value is not None and value.low is not None and value.high is not None:
            text += f": {value.low:g} to {value.high:g} LUFS"
        return text
    return result.platform


def targets_of(result: MixDoctorResult):
    """The :class:`TargetSet` the mix was checked against: the result's own, else one built
    from its platform and genre names; None without any."""
    if result.targets is not None:
        return result.targets
    from stemforge.advice.targets import target_set

    platform, genre = platform_target_of(result), genre_profile_of(result)
    if platform is None and genre is None:
        return None
    return target_set(platform=platform, genre=genre)


def target_value(result: MixDoctorResult, name: str):
    """The :class:`TargetValue` for a value name ("integrated_lufs"), or None."""
    targets = targets_of(result)
    return None if targets is None else targets.values.get(name)


def genre_text(result: MixDoctorResult) -> str | None:
    """ "Pop (predicted from the audio)", or None without a genre."""
    if not result.genre:
        return None
    profile = genre_profile_of(result)
    name = profile.display_name if profile is not None else result.genre
    how = GENRE_SOURCES.get(result.genre_source, result.genre_source)
    return f"{name} ({how})"


def platform_target_of(result: MixDoctorResult):
    """The :class:`PlatformTarget` named by the result, or None."""
    from stemforge.advice.targets import UnknownTargetError, platform_target

    if not result.platform:
        return None
    try:
        return platform_target(result.platform)
    except UnknownTargetError:
        return None


def genre_profile_of(result: MixDoctorResult):
    """The :class:`GenreProfile` named by the result, or None."""
    from stemforge.advice.targets import UnknownTargetError, genre_profile

    if not result.genre:
        return None
    try:
        return genre_profile(result.genre)
    except UnknownTargetError:
        return None


def chord_name(label: str) -> str:
    """mir_eval's "A:min" -> "Am", "F:maj" -> "F", "N" -> "–"."""
    if label == "N" or ":" not in label:
        return "–" if label == "N" else label
    root, quality = label.split(":", 1)
    return root + ("m" if quality.startswith("min") else "")


# --- reference comparison ------------------------------------------------------------------


def reference_groups(reference) -> list[tuple[str, list[dict[str, Any]]]]:
    """The reference comparison's differences as table rows, by group: ``name``, ``mix``,
    ``reference``, ``difference`` (formatted) and ``notable`` (worth a second look)."""
    from stemforge.analysis.summary import fmt

    groups = []
    for group, diffs in (
        ("Loudness", reference.loudness),
        ("Dynamics", reference.dynamics),
        ("Stereo", reference.stereo),
        ("Tonal balance", reference.tonal_balance),
        ("Transients", reference.transients),
    ):
        rows = []
        for d in diffs:
            unit = "" if d.unit == "ratio" else d.unit
            digits = 2 if d.unit == "ratio" else 1
            rows.append(
                {
                    "name": split_unit(d.name)[0],
                    "mix": fmt(d.mix, unit, digits=digits),
                    "reference": fmt(d.reference, unit, digits=digits),
                    "difference": fmt(
                        _tidy(d.difference, digits), unit, digits=digits, signed=True
                    ),
                    "notable": _notable(d.difference, d.unit),
                }
            )
        if rows:
            groups.append((group, rows))
    return groups


def _tidy(value: float, digits: int) -> float:
    """``value`` with a difference that rounds to zero shown as +0, not -0."""
    return 0.0 if math.isfinite(value) and abs(value) < 0.5 * 10**-digits else value


def _notable(difference: float, unit: str) -> bool:
    if difference is None or not math.isfinite(difference):
        return False
    limit = {"ratio": 0.1, "per s": 1.0}.get(unit, 2.0)
    return abs(difference) >= limit


def eq_band_text(band) -> str:
    """One EQ band (a filter or its dict) as a producer sets it: "bell 3 kHz, +4.0 dB, Q 1"."""
    d = band if isinstance(band, Mapping) else band.to_dict()
    kinds = {"peaking": "bell", "low_shelf": "low shelf", "high_shelf": "high shelf"}
    kind = str(d.get("type", ""))
    head = kinds.get(kind, kind.replace("_", " "))
    for key in ("frequency_hz", "cutoff_hz"):
        if key in d:
            head += " " + hertz(float(d[key]))
    rest = []
    if d.get("gain_db") is not None:
        rest.append(f"{float(d['gain_db']):+.1f} dB")
    if d.get("q") is not None:
        rest.append(f"Q {float(d['q']):.2f}".rstrip("0").rstrip("."))
    for key, value in d.items():
        if value is not None and (key.startswith("slope") or key == "order"):
            rest.append(f"{split_unit(key)[0]} {value_text(key, value)}")
    return ", ".join([head, *rest])
