"""Findings: what is wrong with a mix, the evidence, where in time, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stemforge.analysis.common import TimeRange
from stemforge.results import Result


class Severity(StrEnum):
    """How much a finding matters: ``problem`` needs fixing, ``warning`` deserves a look."""

    INFO = "info"
    WARNING = "warning"
    PROBLEM = "problem"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "problem": 2}[self.value]


@dataclass(frozen=True)
class Fix(Result):
    """A concrete change with its parameters.

    ``action`` is the sentence a producer reads ("high-pass the pad at 180 Hz, 12 dB/oct");
    ``processor`` and ``parameters`` say the same for a machine (``"high_pass"``,
    ``{"cutoff_hz": 180.0, "slope_db_per_octave": 12}``), so the mixer can apply it;
    ``target`` is what it applies to (``"mix"``, ``"master"`` or a stem name).
    """

    action: str
    target: str = "mix"
    processor: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding(Result):
    """One piece of advice. ``rule`` is a stable identifier (``"true_peak_over_ceiling"``)."""

    rule: str
    area: str
    severity: Severity
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    when: tuple[TimeRange, ...] = ()
    fix: Fix | None = None
    stems: tuple[str, ...] = ()


#: Areas in the order a report lists them.
AREAS = (
    "loudness",
    "peaks",
    "dynamics",
    "stereo",
    "tonal",
    "masking",
    "transients",
    "reverb",
    "quality",
    "rhythm",
    "reference",
    "stems",
)


def sort_findings(findings: list[Finding] | tuple[Finding, ...]) -> tuple[Finding, ...]:
    """Most severe first, then by area order, then by rule name (deterministic)."""
    order = {area: i for i, area in enumerate(AREAS)}
    return tuple(
        sorted(
            findings,
            key=lambda f: (-f.severity.rank, order.get(f.area, len(order)), f.rule, f.message),
        )
    )
