"""The mix doctor's rules, one module per area.

Each rule is a pure function ``(RuleContext) -> list[Finding]`` that reads the
measurements in the :class:`~stemforge.advice.rules.common.RuleContext` and returns
zero or more findings, each with its evidence, times, the stems involved and a concrete
fix. Every threshold is a named constant in its module, with its source.

``ALL_RULES`` is the registry :func:`stemforge.advice.doctor.examine` runs, in report
order.
"""

from __future__ import annotations

from stemforge.advice.rules import (
    dynamics,
    loudness,
    masking,
    peaks,
    quality,
    reference,
    reverb,
    rhythm,
    stems,
    stereo,
    tonal,
    transients,
)
from stemforge.advice.rules.common import Rule, RuleContext

#: Every rule, in the order of :data:`stemforge.advice.findings.AREAS`.
ALL_RULES: tuple[Rule, ...] = (
    *loudness.RULES,
    *peaks.RULES,
    *dynamics.RULES,
    *stereo.RULES,
    *tonal.RULES,
    *masking.RULES,
    *transients.RULES,
    *reverb.RULES,
    *quality.RULES,
    *rhythm.RULES,
    *reference.RULES,
    *stems.RULES,
)

__all__ = ["ALL_RULES", "Rule", "RuleContext", "run_rules"]


def run_rules(context: RuleContext, rules: tuple[Rule, ...] = ALL_RULES) -> list:
    """Every finding of ``rules`` on ``context``, unsorted."""
    findings = []
    for rule in rules:
        findings.extend(rule(context))
    return findings
