"""Library work through jobs: ``library add`` and ``library reanalyze`` on an executor."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from stemforge.jobs import store
from stemforge.jobs.executors import Executor, LocalExecutor
from stemforge.jobs.runner import run_jobs
from stemforge.library import Library
from stemforge.library.library import collect_audio_files, sha256_file
from stemforge.library.results import (
    ADDED,
    DUPLICATE,
    FAILED,
    IngestItem,
    IngestReport,
    ReanalyzeItem,
    ReanalyzeReport,
)
from stemforge.progress import ProgressCallback, no_progress


@contextlib.contextmanager
def _executor_or_default(executor: Executor | None):
    if executor is not None:
        yield executor
        return
    local = LocalExecutor()
    try:
        yield local
    finally:
        local.close()


def add_paths(
    lib: Library,
    paths: Sequence[str | Path],
    *,
    executor: Executor | None = None,
    in_place: bool = False,
    analyzer: str = "full",
    progress: ProgressCallback = no_progress,
    settings: store.JobSettings = store.DEFAULT_SETTINGS,
) -> IngestReport:
    """``Library.add`` through jobs: one ``ingest`` job per file, keyed by the file's
    SHA-256, so running it again after a crash reuses the unfinished jobs and adds nothing
    twice. Returns the same report as ``Library.add``."""
    files = collect_audio_files(paths)
    plan: list[tuple[Path, int | None, str | None, str | None]] = []  # path, job, before, why
    seen: dict[int, Path] = {}
    for path, problem in files:
        progress(f"hashing {path.name}", 0.0)
        if problem is not None:
            plan.append((path, None, None, problem))
            continue
        try:
            digest = sha256_file(path)
        except OSError as exc:
            plan.append((path, None, None, f"cannot read it ({exc.strerror or exc})."))
            continue
        params = {"path": str(path.resolve()), "in_place": in_place, "analyzer": analyzer}
        job_id, before = store.enqueue(
            lib, "ingest", params, key=f"ingest:{digest}", settings=settings
        )
        plan.append((path, job_id, "again" if job_id in seen else before, None))
        seen.setdefault(job_id, path)
    job_ids = [job for _, job, _, _ in plan if job is not None]
    with _executor_or_default(executor) as runner:
        rows = run_jobs(lib, job_ids, runner, progress=progress, settings=settings)
    items: list[IngestItem] = []
    for path, job_id, before, problem in plan:
        if job_id is None:
            items.append(IngestItem(str(path), FAILED, reason=problem))
            continue
        job = rows.get(job_id)
        if job is None:
            items.append(IngestItem(str(path), FAILED, reason="its job was removed."))
        elif job.state == store.DONE:
            result = job.result or {}
            status = DUPLICATE if before in (store.DONE, "again") else result.get("status", ADDED)
            items.append(
                IngestItem(
                    str(path),
                    status,
                    track_id=job.track_id,
                    resumed=bool(result.get("resumed")) or before == store.RUNNING,
                )
            )
        else:
            reason = job.error if job.state == store.FAILED else "its job was cancelled."
            items.append(IngestItem(str(path), FAILED, reason=reason))
    return IngestReport(tuple(items))


def reanalyze_tracks(
    lib: Library,
    track_ids: Sequence[int] | None = None,
    *,
    outdated: bool = False,
    executor: Executor | None = None,
    analyzer: str = "full",
    progress: ProgressCallback = no_progress,
    settings: store.JobSettings = store.DEFAULT_SETTINGS,
) -> ReanalyzeReport:
    """``Library.reanalyze`` through jobs: one ``analyze`` job per track."""
    from stemforge.jobs.kinds import analyzer_named

    chosen = analyzer_named(analyzer)
    if track_ids is None:
        ids = lib.outdated(chosen.algorithm_version) if outdated else lib.track_ids()
    else:
        ids = list(track_ids)
        for track_id in ids:
            lib.show(track_id)  # TrackNotFoundError before any work
    jobs: list[tuple[int, int]] = []
    for track_id in ids:
        job_id, _ = store.enqueue(
            lib,
            "analyze",
            {"track_id": track_id, "analyzer": analyzer},
            key=f"analyze:{track_id}",
            track_id=track_id,
            rerun_done=True,
            settings=settings,
        )
        jobs.append((track_id, job_id))
    with _executor_or_default(executor) as runner:
        rows = run_jobs(lib, [j for _, j in jobs], runner, progress=progress, settings=settings)
    items = []
    for track_id, job_id in jobs:
        job = rows.get(job_id)
        if job is not None and job.state == store.DONE:
            version = (job.result or {}).get("analysis_version")
            items.append(ReanalyzeItem(track_id, "analysed", analysis_version=version))
        else:
            reason = "its job was removed." if job is None else (job.error or job.state)
            items.append(ReanalyzeItem(track_id, "failed", reason=reason))
    return ReanalyzeReport(tuple(items), chosen.algorithm_version)
