"""The driver loop: submit due jobs to an executor, watch their rows, retry the ones
whose worker died, and report progress over all of them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future

from stemforge.jobs import store
from stemforge.jobs.executors import Executor
from stemforge.jobs.registry import get_kind
from stemforge.library import Library
from stemforge.library.models import Job, utcnow
from stemforge.progress import ProgressCallback, no_progress


def library_location(lib: Library) -> tuple[str, str]:
    """What a worker needs to open ``lib`` itself: its database URL and home folder."""
    return lib.engine.url.render_as_string(hide_password=False), str(lib.media_root.parent)


def run_jobs(
    lib: Library,
    job_ids: Sequence[int],
    executor: Executor,
    *,
    progress: ProgressCallback = no_progress,
    settings: store.JobSettings = store.DEFAULT_SETTINGS,
    poll_s: float = 0.2,
) -> dict[int, store.JobInfo]:
    """Run the jobs ``job_ids`` to an end state (done, failed or cancelled) and return
    their rows. Jobs already running in a live process elsewhere are waited for; running
    jobs whose worker died are queued again (a transient failure)."""
    url, home = library_location(lib)
    ids = list(dict.fromkeys(job_ids))
    inflight: dict[int, Future] = {}
    total = max(len(ids), 1)
    while True:
        rows = store.get_jobs(lib, ids)
        now = utcnow()
        for job_id in ids:
            job = rows.get(job_id)
            if job is None:
                continue  # deleted (its track was removed)
            future = inflight.get(job_id)
            if future is not None:
                if not future.done():
                    continue
                del inflight[job_id]
                exc = None if future.cancelled() else future.exception()
                if job.state == store.RUNNING and job.owner and (exc is not None):
                    crashed = executor.is_crash(exc)
                    text = f"the worker crashed ({type(exc).__name__}: {exc})"
                    if not crashed:
                        text = f"the worker failed ({type(exc).__name__}: {exc})"
                    store.retry_later(lib, job_id, job.owner, text, settings)
                elif exc is not None:
                    executor.is_crash(exc)  # restart a broken pool; a queued job goes again
                continue
            if job.state == store.QUEUED:
                due = store.aware(_parse(job.next_run_at))
                if due is None or due <= now:
                    kind = get_kind(job.kind)
                    inflight[job_id] = executor.submit(kind, job_id, url, home, settings)
            elif job.state == store.RUNNING:
                with lib.session() as session:
                    row = session.get(Job, job_id)
                    dead = row is not None and store.owner_is_dead(row, settings)
                if dead:
                    store.retry_later(lib, job_id, job.owner, "its worker died", settings)
        finished = sum(1 for j in rows.values() if j.state in store.TERMINAL)
        if len(rows) == finished and not inflight:
            progress(f"{finished}/{len(ids)} jobs", 1.0)
            return rows
        partial = sum((1.0 if j.state in store.TERMINAL else j.progress) for j in rows.values()) + (
            len(ids) - len(rows)
        )
        progress(f"{finished}/{len(ids)} jobs", partial / total)
        time.sleep(poll_s)


def _parse(value: str | None):
    from datetime import datetime

    return datetime.fromisoformat(value) if value else None
