"""Shared pieces of the rules: the context every rule reads, wording helpers, fix builders.

A rule is a pure function ``(RuleContext) -> list[Finding]``. The context holds every
measurement the mix doctor made (the mix analysis, reverb, masking, the reference
comparison, the stems) and the targets it compares them with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from stemforge.advice.findings import Finding, Fix, Severity
from stemforge.advice.targets import GenreProfile, PlatformTarget, TargetSet, TargetValue
from stemforge.analysis.common import TimeRange
from stemforge.analysis.masking import MaskingResult
from stemforge.analysis.report import MixAnalysis
from stemforge.analysis.reverb import ReverbResult
from stemforge.audio.stems import Stems

#: A tempo is used by rules only when the beat tracker is at least this sure of it.
MIN_TEMPO_CONFIDENCE = 0.5
#: The tempo range in which a beat is felt (the DJ-software default range of
#: :mod:`stemforge.analysis.music`); tempo-relative rules fold the tempo into it, so a
#: tempo read at half or double speed gives the same beat length.
FELT_TEMPO_RANGE_BPM = (78.0, 155.0)


@dataclass(frozen=True)
class RuleContext:
    """Everything the rules read. Only ``analysis`` and ``targets`` are always present.

    ``platform`` is the delivery target (``None`` with a custom target); ``genre`` the
    genre name in use and ``genre_profile`` its built-in profile (``None`` for a trained
    label that has none); ``reference`` a
    :class:`~stemforge.advice.reference.ReferenceComparison`.
    """

    analysis: MixAnalysis
    targets: TargetSet
    platform: PlatformTarget | None = None
    genre: str | None = None
    genre_profile: GenreProfile | None = None
    reverb: ReverbResult | None = None
    masking: MaskingResult | None = None
    stems: Stems | None = None
    reference: object | None = None

    def target(self, name: str) -> TargetValue | None:
        return self.targets.values.get(name)

    @property
    def tempo_bpm(self) -> float | None:
        """The tempo, when one was found with :data:`MIN_TEMPO_CONFIDENCE`."""
        r = self.analysis.music.rhythm
        if r.found and r.confidence >= MIN_TEMPO_CONFIDENCE:
            return float(r.tempo_bpm)
        return None

    @property
    def felt_beat_s(self) -> float | None:
        """The beat length (s) of the tempo folded into :data:`FELT_TEMPO_RANGE_BPM`."""
        bpm = self.tempo_bpm
        if bpm is None:
            return None
        return 60.0 / fold_tempo(bpm)

    def genre_is(self, *names: str) -> bool:
        return self.genre_profile is not None and self.genre_profile.name in names


Rule = Callable[[RuleContext], list[Finding]]


def fold_tempo(bpm: float, low: float = FELT_TEMPO_RANGE_BPM[0]) -> float:
    """``bpm`` doubled or halved into ``[low, 2 low)``."""
    while bpm < low:
        bpm *= 2.0
    while bpm >= 2.0 * low:
        bpm /= 2.0
    return bpm


def grade(value: float, warning: float, problem: float | None = None) -> Severity:
    """``problem`` from ``problem`` up, ``warning`` from ``warning`` up, else ``info``."""
    if problem is not None and value >= problem:
        return Severity.PROBLEM
    if value >= warning:
        return Severity.WARNING
    return Severity.INFO


# --- wording ----------------------------------------------------------------------------


def clock(seconds: float, *, precise: bool = False) -> str:
    """``m:ss`` ("1:04"), or ``m:ss.s`` with ``precise``."""
    seconds = max(0.0, float(seconds))
    if precise:
        minutes, rest = divmod(round(seconds, 1), 60.0)
        return f"{int(minutes)}:{rest:04.1f}"
    minutes, rest = divmod(round(seconds), 60)
    return f"{int(minutes)}:{int(rest):02d}"


def span_text(span: TimeRange) -> str:
    precise = span.duration_s < 2.0
    start, end = clock(span.start_s, precise=precise), clock(span.end_s, precise=precise)
    return start if start == end else f"{start}-{end}"


def spans_text(spans: Iterable[TimeRange], limit: int = 3) -> str:
    """ "0:05-0:09, 0:30 and 2 more"."""
    spans = list(spans)
    shown = [span_text(s) for s in spans[:limit]]
    if len(spans) > limit:
        return f"{', '.join(shown)} and {len(spans) - limit} more"
    if len(shown) > 1:
        return f"{', '.join(shown[:-1])} and {shown[-1]}"
    return shown[0] if shown else ""


def hz_text(frequency_hz: float) -> str:
    """ "62 Hz", "250 Hz", "3.15 kHz"."""
    f = float(frequency_hz)
    if f >= 1000:
        return f"{f / 1000:.3g} kHz"
    return f"{f:.3g} Hz" if f < 100 else f"{f:.0f} Hz"


def setting_hz_text(frequency_hz: float) -> str:
    """A frequency as a producer sets it on an EQ: "62 Hz", "3150 Hz", "12.5 kHz"."""
    f = float(frequency_hz)
    return f"{f / 1000:.3g} kHz" if f >= 10_000 else f"{f:.0f} Hz"


def band_name(name: str) -> str:
    """A tonal band's name for a sentence: "low_mid" -> "low-mid"."""
    return name.replace("_", "-")


# --- times ------------------------------------------------------------------------------


def merge_times(
    times_s: Iterable[float], *, gap_s: float = 1.0, pad_s: float = 0.0, end_s: float | None = None
) -> tuple[TimeRange, ...]:
    """Event times grouped into spans: events closer than ``gap_s`` share one span."""
    t = np.sort(np.asarray(list(times_s), dtype=np.float64))
    if t.size == 0:
        return ()
    breaks = np.flatnonzero(np.diff(t) > gap_s)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [t.size - 1]])
    top = math.inf if end_s is None else end_s
    return tuple(
        TimeRange(round(max(0.0, t[a] - pad_s), 3), round(min(top, t[b] + pad_s), 3))
        for a, b in zip(starts, ends, strict=True)
    )


# --- fixes ------------------------------------------------------------------------------


def _on(target: str) -> str:
    return "" if target in ("mix", "master") else f", on the {target}"


def peaking_fix(
    frequency_hz: float,
    gain_db: float,
    q: float,
    *,
    target: str = "mix",
    alternatives: tuple[str, ...] = (),
    why: str = "",
) -> Fix:
    """A bell: "cut 3 dB at 62 Hz, Q 2, on the bass"."""
    f, g, q = round(float(frequency_hz), 0), round(float(gain_db), 1), round(float(q), 1)
    verb = "cut" if g < 0 else "boost"
    action = f"{verb} {abs(g):g} dB at {setting_hz_text(f)}, Q {q:g}{_on(target)}{why}"
    return Fix(
        action=action,
        target=target,
        processor="peaking_eq",
        parameters={"frequency_hz": f, "gain_db": g, "q": q},
        alternatives=alternatives,
    )


def shelf_fix(
    kind: str, frequency_hz: float, gain_db: float, *, q: float = 0.71, target: str = "mix"
) -> Fix:
    """A low or high shelf (``kind`` "low_shelf" or "high_shelf")."""
    f, g = round(float(frequency_hz), 0), round(float(gain_db), 1)
    verb = "cut" if g < 0 else "boost"
    where = "below" if kind == "low_shelf" else "above"
    return Fix(
        action=f"{verb} {abs(g):g} dB {where} {setting_hz_text(f)} with a {kind.replace('_', ' ')}"
        f"{_on(target)}",
        target=target,
        processor=kind,
        parameters={"frequency_hz": f, "gain_db": g, "q": q},
    )


def high_pass_fix(
    cutoff_hz: float, *, slope_db_per_octave: int = 12, target: str = "mix", why: str = ""
) -> Fix:
    f = round(float(cutoff_hz), 0)
    return Fix(
        action=f"high-pass at {setting_hz_text(f)}, {slope_db_per_octave} dB/oct{_on(target)}{why}",
        target=target,
        processor="high_pass",
        parameters={"cutoff_hz": f, "slope_db_per_octave": slope_db_per_octave},
    )


def limiter_fix(
    ceiling_dbtp: float,
    *,
    input_gain_db: float = 0.0,
    action: str | None = None,
    alternatives: tuple[str, ...] = (),
) -> Fix:
    params: dict = {"ceiling_dbtp": round(float(ceiling_dbtp), 1), "true_peak": True}
    if input_gain_db:
        params["input_gain_db"] = round(float(input_gain_db), 1)
    if action is None:
        action = f"lower the limiter ceiling to {ceiling_dbtp:.1f} dBTP (true-peak mode)"
    return Fix(
        action=action,
        target="master",
        processor="limiter",
        parameters=params,
        alternatives=alternatives,
    )


def gain_fix(gain_db: float, *, target: str = "master", action: str | None = None) -> Fix:
    g = round(float(gain_db), 1)
    if action is None:
        action = f"{'raise' if g > 0 else 'lower'} the level by {abs(g):g} dB"
    return Fix(action=action, target=target, processor="gain", parameters={"gain_db": g})


def band_q(low_hz: float, high_hz: float, *, low: float = 0.5, high: float = 4.0) -> float:
    """Q of a bell covering ``low_hz .. high_hz``: centre over bandwidth, clamped."""
    centre = math.sqrt(low_hz * high_hz)
    return float(np.clip(centre / max(high_hz - low_hz, 1e-9), low, high))
