"""The mix doctor: measure a mix (and its stems, and a reference), compare with targets,
and turn every measurement into findings with concrete fixes.

``examine(mix, stems=..., reference=..., genre=..., target=...)`` returns a
:class:`MixDoctorResult`; front ends render it (terminal Markdown, JSON, HTML).

Targets: ``target`` names a platform (:data:`stemforge.advice.targets.PLATFORMS`, e.g.
"spotify", "apple_music", "ebu_r128") or a custom target built from the user's
references. Without one the mix is checked for :data:`DEFAULT_PLATFORM` (Spotify:
-14 LUFS, -1 dBTP, the figures YouTube, TIDAL and Amazon Music also normalise to), and
the result says so (``target_source`` "default"). The genre profile, when a genre is
known, adds the typical loudness range, crest factor, width and tonal balance; the
platform's loudness and ceiling override the genre's.

Genre: an explicit ``genre`` always wins (an unknown name raises
:class:`~stemforge.advice.genre.UnknownGenreError`); otherwise the user's trained
classifier predicts one (used from :data:`GENRE_MIN_PROBABILITY`); without a classifier
there is none. A broken classifier never stops the examination: ``notes`` says what
went wrong and the genre rules are skipped.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stemforge.advice.findings import Finding, sort_findings
from stemforge.advice.genre import GenreModelError, resolve_genre
from stemforge.advice.reference import compare_to_reference
from stemforge.advice.rules import ALL_RULES, RuleContext, run_rules
from stemforge.advice.targets import (
    GENRES,
    CustomTarget,
    PlatformTarget,
    TargetSet,
    UnknownTargetError,
    canonical_genre,
    load_custom_target,
    platform_target,
    target_set,
)
from stemforge.analysis.masking import MaskingResult, masking
from stemforge.analysis.report import MixAnalysis, analyze
from stemforge.analysis.reverb import reverb
from stemforge.audio import Audio, info, load
from stemforge.audio.stems import Stems, align_stems, load_stems
from stemforge.errors import StemforgeError
from stemforge.progress import ProgressCallback, no_progress, part
from stemforge.results import Result

#: The delivery target when none is given: Spotify's -14 LUFS / -1 dBTP, the most
#: widely used normalisation level among streaming services.
DEFAULT_PLATFORM = "spotify"
#: A predicted genre is used only from this probability (below it the classifier is
#: more likely wrong than right).
GENRE_MIN_PROBABILITY = 0.5

MixSource = str | os.PathLike | Audio
StemsSource = str | os.PathLike | Sequence[str | os.PathLike] | Stems | Mapping[str, Audio]


@dataclass(frozen=True)
class MixDoctorResult(Result):
    """Everything the mix doctor measured and concluded.

    ``analysis`` is the full measurement of the mix; ``masking`` is present when stems
    were given; ``reverb`` always; ``reference`` when a reference track was given.
    ``platform``/``genre`` name the targets used and ``genre_source`` says how the genre
    was chosen ("explicit", "predicted" or "none"). ``targets`` holds every target
    value with its source; ``target_source`` says whether the platform was given
    ("explicit"), the default ("default") or a custom target was used ("custom").
    ``notes`` say what could not be done and why (a broken genre classifier, a single
    stem that cannot be checked for masking).
    """

    analysis: MixAnalysis
    findings: tuple[Finding, ...]
    platform: str | None = None
    genre: str | None = None
    genre_source: str = "none"
    masking: MaskingResult | None = None
    reverb: object | None = None  # analysis.reverb.ReverbResult
    reference: object | None = None  # advice.reference.ReferenceComparison
    reference_analysis: MixAnalysis | None = None
    stem_notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    targets: TargetSet | None = None
    target_source: str = "default"
    notes: tuple[str, ...] = ()

    def by_rule(self, rule: str) -> tuple[Finding, ...]:
        """The findings of one rule."""
        return tuple(f for f in self.findings if f.rule == rule)


def examine(
    mix: MixSource,
    *,
    stems: StemsSource | None = None,
    reference: MixSource | None = None,
    genre: str | None = None,
    target: str | PlatformTarget | CustomTarget | None = None,
    progress: ProgressCallback = no_progress,
    time_varying_loudness: bool = False,
) -> MixDoctorResult:
    """Measure ``mix`` and return every finding, most severe first.

    ``mix`` and ``reference``: a path or an :class:`~stemforge.audio.Audio`. ``stems``: a
    folder, a list of files, a :class:`~stemforge.audio.stems.Stems` or a mapping of name
    -> Audio (aligned with :func:`~stemforge.audio.stems.align_stems`, whose notes are
    kept in ``stem_notes``; silent stems become findings). ``genre`` and ``target``: see
    the module docstring. Errors in the inputs (unreadable files, an unknown target or
    genre, a reference shorter than 3 s) raise before the long analysis starts.
    """
    timings: dict[str, float] = {}
    notes: list[str] = []
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 4)
        clock = now

    progress("loading", 0.0)
    audio, source, file_info = _load_mix(mix)
    ref_audio = _load_mix(reference)[0] if reference is not None else None
    stem_set = _stems(stems) if stems is not None else None
    platform, custom, target_source = _resolve_target(target)
    lap("load")

    progress("genre", 0.02)
    genre_name, genre_source, profile = _resolve_genre(audio, genre, notes)
    targets = target_set(platform=platform, genre=profile, custom=custom)
    lap("genre")

    comparison = reference_analysis = None
    if ref_audio is not None:
        progress("reference", 0.05)
        comparison = compare_to_reference(audio, ref_audio)
        reference_analysis = analyze(ref_audio)
        lap("reference")

    analysis = analyze(
        audio,
        progress=part(progress, 0.1, 0.75, "analysis"),
        time_varying_loudness=time_varying_loudness,
    )
    analysis = dataclasses.replace(analysis, source=source, file=file_info)
    lap("analysis")

    progress("reverb", 0.75)
    reverb_result = reverb(audio)
    lap("reverb")

    masking_result = None
    if stem_set is not None:
        progress("masking", 0.85)
        masking_result = _masking(stem_set, notes)
        lap("masking")

    progress("rules", 0.95)
    context = RuleContext(
        analysis=analysis,
        targets=targets,
        platform=platform,
        genre=genre_name,
        genre_profile=profile,
        reverb=reverb_result,
        masking=masking_result,
        stems=stem_set,
        reference=comparison,
    )
    findings = sort_findings(run_rules(context, ALL_RULES))
    lap("rules")
    progress("done", 1.0)
    return MixDoctorResult(
        analysis=analysis,
        findings=findings,
        platform=platform.name if platform is not None else None,
        genre=genre_name,
        genre_source=genre_source,
        masking=masking_result,
        reverb=reverb_result,
        reference=comparison,
        reference_analysis=reference_analysis,
        stem_notes=dict(stem_set.notes) if stem_set is not None else {},
        timings_s=timings,
        targets=targets,
        target_source=target_source,
        notes=tuple(notes),
    )


# --- inputs -----------------------------------------------------------------------------


def _load_mix(source: MixSource):
    """``(audio, source name, file info)``; file info only for files."""
    if isinstance(source, Audio):
        return source, None, None
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a path or an Audio, not {type(source).__name__}")
    return load(source), str(source), info(source)


def _stems(stems: StemsSource) -> Stems:
    if isinstance(stems, Stems):
        return stems
    if isinstance(stems, Mapping):
        signals = {
            name: value if isinstance(value, Audio) else load(value)
            for name, value in stems.items()
        }
        return align_stems(signals)
    if isinstance(stems, (str, os.PathLike, Sequence)):
        return load_stems(stems)
    raise TypeError(
        f"stems must be a folder, a list of files, a Stems or a mapping, not {type(stems).__name__}"
    )


def _resolve_target(target) -> tuple[PlatformTarget | None, CustomTarget | None, str]:
    if target is None:
        return platform_target(DEFAULT_PLATFORM), None, "default"
    if isinstance(target, PlatformTarget):
        return target, None, "explicit"
    if isinstance(target, CustomTarget):
        return None, target, "custom"
    try:
        return platform_target(target), None, "explicit"
    except UnknownTargetError as platform_error:
        try:
            return None, load_custom_target(target), "custom"
        except UnknownTargetError:
            raise platform_error from None


def _resolve_genre(audio: Audio, genre: str | None, notes: list[str]):
    """``(genre name, how it was chosen, built-in profile or None)``."""
    explicit = genre if genre is not None and str(genre).strip() else None
    try:
        name, how = resolve_genre(audio, explicit, min_probability=GENRE_MIN_PROBABILITY)
    except GenreModelError as exc:
        if explicit is None:
            notes.append(f"the genre classifier could not be used ({exc}); no genre targets")
            return None, "none", None
        # An explicit name that is no profile: the broken model cannot confirm it.
        notes.append(f"the genre classifier could not be read ({exc}); {explicit!r} used as given")
        name, how = str(explicit).strip(), "explicit"
    except StemforgeError as exc:
        if explicit is not None:
            raise
        notes.append(f"the genre could not be predicted ({exc}); no genre targets")
        return None, "none", None
    if name is None:
        return None, how, None
    key = canonical_genre(name)
    if key is None:
        notes.append(f"no built-in profile for the genre {name!r}: genre targets not applied")
        return name, how, None
    return name, how, GENRES[key]


def _masking(stem_set: Stems, notes: list[str]) -> MaskingResult | None:
    if len(stem_set) < 2:
        notes.append("masking needs at least two stems; one was given")
        return None
    try:
        return masking(stem_set)
    except StemforgeError as exc:
        notes.append(f"masking could not be measured: {exc}")
        return None


__all__ = ["DEFAULT_PLATFORM", "MixDoctorResult", "examine"]
