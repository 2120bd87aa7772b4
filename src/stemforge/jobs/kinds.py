"""The built-in job kinds: ``ingest`` (one file, what ``Library.add`` does for it) and
``analyze`` (analyse one track again)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stemforge.jobs.errors import JobError, TransientJobError
from stemforge.jobs.registry import register
from stemforge.library import FULL_ANALYZER, QUICK_ANALYZER, Analyzer, DatabaseError
from stemforge.library.results import FAILED

ANALYZERS: dict[str, Analyzer] = {"full": FULL_ANALYZER, "quick": QUICK_ANALYZER}


def analyzer_named(name: str) -> Analyzer:
    try:
        return ANALYZERS[name]
    except KeyError:
        raise JobError(
            f"no analyzer is named {name!r}.", hint=f"Use one of: {', '.join(ANALYZERS)}."
        ) from None


@register("ingest", num_cpus=1)
def ingest(params: dict[str, Any], progress) -> dict[str, Any]:
    """Params: ``path``, ``in_place`` (bool), ``analyzer`` (``full`` or ``quick``)."""
    lib = progress.library
    item = lib._ingest_one(
        Path(params["path"]),
        in_place=bool(params.get("in_place", False)),
        analyzer=analyzer_named(params.get("analyzer", "full")),
        step=progress,
        reraise=(DatabaseError, OSError, TransientJobError),
    )
    if item.status == FAILED:
        raise JobError(item.reason or "the file could not be added.")
    return item.to_dict()


@register("analyze", num_cpus=1)
def analyze(params: dict[str, Any], progress) -> dict[str, Any]:
    """Params: ``track_id``, ``analyzer`` (``full`` or ``quick``)."""
    analyzer = analyzer_named(params.get("analyzer", "full"))
    version = progress.library.analyze_track(
        int(params["track_id"]), analyzer=analyzer, progress=progress
    )
    return {
        "track_id": int(params["track_id"]),
        "analysis_version": version,
        "algorithm_version": analyzer.algorithm_version,
    }
