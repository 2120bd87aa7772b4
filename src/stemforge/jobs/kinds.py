"""The built-in job kinds: ``ingest`` (one file, what ``Library.add`` does for it) and
``analyze`` (analyse one track again)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from stemforge.errors import StemforgeError
from stemforge.jobs.errors import JobError, TransientJobError
from stemforge.jobs.registry import register
from stemforge.library import FULL_ANALYZER, QUICK_ANALYZER, Analyzer, DatabaseError
from stemforge.library.results import FAILED
from stemforge.progress import part

log = logging.getLogger(__name__)

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
    """Params: ``path``, ``in_place`` (bool), ``analyzer`` (``full`` or ``quick``),
    ``user_id`` (the owner; absent: the local user), ``doctor`` (bool: also run the mix
    doctor for the default target, so the web's track page opens with it at once)."""
    lib = progress.library
    doctor = bool(params.get("doctor", False))
    item = lib._ingest_one(
        Path(params["path"]),
        in_place=bool(params.get("in_place", False)),
        analyzer=analyzer_named(params.get("analyzer", "full")),
        step=part(progress, 0.0, 0.5) if doctor else progress,
        reraise=(DatabaseError, OSError, TransientJobError),
        user_id=params.get("user_id"),
    )
    if item.status == FAILED:
        raise JobError(item.reason or "the file could not be added.")
    if doctor and item.track_id is not None:
        from stemforge.web.doctor import doctor_files

        progress("mix doctor", 0.5)
        try:
            doctor_files(
                lib,
                item.track_id,
                user_id=params.get("user_id"),
                target=None,
                progress=part(progress, 0.5, 1.0, "mix doctor"),
            )
        except StemforgeError as exc:  # the track is in; the page runs the doctor itself
            log.warning("mix doctor of track %s failed: %s", item.track_id, exc)
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
