"""The mix doctor's report in three formats, all from one :class:`MixDoctorResult`:

- :func:`render_markdown`: for the terminal (Rich renders it) and notes;
- :func:`render_json`: the full result as JSON-safe values, with a schema version;
- :func:`render_html`: one self-contained HTML file with interactive plots (needs the
  ``report`` extra: Jinja2 and plotly, whose JavaScript is inlined; no network at all).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from stemforge.reports.markdown import render_markdown

if TYPE_CHECKING:
    from stemforge.advice.doctor import MixDoctorResult

#: Bumped whenever a key of the JSON report changes meaning or disappears.
REPORT_SCHEMA_VERSION = 1

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "html_document",
    "render_html",
    "render_json",
    "render_markdown",
]


def render_json(result: MixDoctorResult) -> dict[str, Any]:
    """``result.to_dict()`` with ``schema_version`` first (JSON-safe: no NaN, no arrays)."""
    return {"schema_version": REPORT_SCHEMA_VERSION, **result.to_dict()}


def render_html(result: MixDoctorResult, path: str | Path) -> Path:
    """Write the self-contained HTML report to ``path`` atomically; returns the path."""
    from stemforge.reports.html import render_html as _render_html

    return _render_html(result, path)


def html_document(result: MixDoctorResult) -> str:
    """The self-contained HTML report as a string (to serve it without a file)."""
    from stemforge.reports.html import html_document as _html_document

    return _html_document(result)
