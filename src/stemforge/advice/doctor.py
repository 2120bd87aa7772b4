"""The mix doctor: measure a mix (and its stems, and a reference), compare with targets,
and turn every measurement into findings with concrete fixes.

``examine(mix, stems=..., reference=..., genre=..., target=...)`` returns a
:class:`MixDoctorResult`; front ends render it (terminal Markdown, JSON, HTML).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stemforge.advice.findings import Finding
from stemforge.analysis.masking import MaskingResult
from stemforge.analysis.report import MixAnalysis
from stemforge.results import Result


@dataclass(frozen=True)
class MixDoctorResult(Result):
    """Everything the mix doctor measured and concluded.

    ``analysis`` is the full measurement of the mix; ``masking`` is present when stems
    were given; ``reverb`` always; ``reference`` when a reference track was given.
    ``platform``/``genre`` name the targets used and ``genre_source`` says how the genre
    was chosen ("explicit", "predicted" or "none").
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
