"""Job rows: create (idempotent by key), read, cancel, retry, and the state changes a
worker makes. The database is the source of truth; every change is a conditional UPDATE
so that two processes never both own a job."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from stemforge.jobs.errors import JobNotFoundError, JobStateError
from stemforge.library import Library, LibraryError
from stemforge.library.models import Job, utcnow
from stemforge.results import Result

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
TERMINAL = frozenset({DONE, FAILED, CANCELLED})


@dataclass(frozen=True)
class JobSettings:
    """Retry and progress settings (the defaults suit a library scan)."""

    max_attempts: int = 3
    backoff_s: float = 2.0  # first retry after this; doubles each attempt
    backoff_max_s: float = 300.0
    progress_interval_s: float = 0.5  # a job writes its progress at most this often
    stale_after_s: float = 900.0  # a running job on another host unheard of this long is dead

    def backoff(self, attempts: int) -> float:
        return min(self.backoff_s * 2 ** max(attempts - 1, 0), self.backoff_max_s)


DEFAULT_SETTINGS = JobSettings()


@dataclass(frozen=True)
class JobInfo(Result):
    id: int
    kind: str
    state: str
    track_id: int | None
    params: dict[str, Any] | None
    result: dict[str, Any] | None
    progress: float
    error: str | None
    attempts: int
    max_attempts: int
    dedupe_key: str | None
    owner: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    next_run_at: str | None
    updated_at: str


def aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they were stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat() if value is not None else None


def info(job: Job) -> JobInfo:
    return JobInfo(
        id=job.id,
        kind=job.kind,
        state=job.state,
        track_id=job.track_id,
        params=job.params_json,
        result=job.result_json,
        progress=float(job.progress or 0.0),
        error=job.error,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        dedupe_key=job.dedupe_key,
        owner=job.owner,
        created_at=_iso(job.created_at) or "",
        started_at=_iso(job.started_at),
        finished_at=_iso(job.finished_at),
        next_run_at=_iso(job.next_run_at),
        updated_at=_iso(job.updated_at) or "",
    )


def this_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(job: Job, settings: JobSettings = DEFAULT_SETTINGS) -> bool:
    """A running job's worker is gone: its process on this host no longer exists, or (on
    another host) it has not reported for ``stale_after_s``."""
    if job.owner:
        host, _, pid = job.owner.rpartition(":")
        if host == socket.gethostname() and pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            return False
    heard = aware(job.updated_at) or aware(job.started_at)
    return heard is None or (utcnow() - heard).total_seconds() > settings.stale_after_s


def _requeue_values(params: dict[str, Any] | None) -> dict[str, Any]:
    values: dict[str, Any] = {
        "state": QUEUED,
        "attempts": 0,
        "error": None,
        "progress": 0.0,
        "next_run_at": None,
        "owner": None,
        "started_at": None,
        "finished_at": None,
    }
    if params is not None:
        values["params_json"] = params
    return values


def enqueue(
    lib: Library,
    kind: str,
    params: dict[str, Any],
    *,
    key: str | None = None,
    track_id: int | None = None,
    rerun_done: bool = False,
    settings: JobSettings = DEFAULT_SETTINGS,
) -> tuple[int, str | None]:
    """Queue a job, or reuse the job with the same ``key``: a queued one stays, a failed,
    cancelled or dead running one is queued again, a live running one is left to finish,
    a done one is kept (or run again with ``rerun_done``). Returns the job id and the state
    it had before (None for a new job)."""
    for _ in range(3):
        with lib.session() as session:
            job = (
                session.scalar(select(Job).where(Job.dedupe_key == key))
                if key is not None
                else None
            )
            if job is not None:
                before = job.state
                again = (
                    before in (FAILED, CANCELLED)
                    or (before == RUNNING and owner_is_dead(job, settings))
                    or (before == DONE and rerun_done)
                )
                if again:
                    session.execute(
                        update(Job)
                        .where(Job.id == job.id, Job.state == before)
                        .values(**_requeue_values(params), max_attempts=settings.max_attempts)
                    )
                elif before == QUEUED:
                    job.params_json = params
                return job.id, before
        try:
            with lib.session() as session:
                job = Job(
                    kind=kind,
                    state=QUEUED,
                    track_id=track_id,
                    params_json=params,
                    progress=0.0,
                    attempts=0,
                    max_attempts=settings.max_attempts,
                    dedupe_key=key,
                )
                session.add(job)
                session.flush()
                return job.id, None
        except LibraryError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            # another process queued the same key meanwhile: reuse it
    raise JobStateError(f"could not queue the job {key!r}: its row keeps changing.")


def get_job(lib: Library, job_id: int) -> JobInfo:
    with lib.session() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise JobNotFoundError(
                f"no job has id {job_id}.", hint="List the jobs with `stemforge jobs list`."
            )
        return info(job)


def get_jobs(lib: Library, job_ids: list[int]) -> dict[int, JobInfo]:
    out: dict[int, JobInfo] = {}
    with lib.session() as session:
        for start in range(0, len(job_ids), 500):
            chunk = job_ids[start : start + 500]
            for job in session.scalars(select(Job).where(Job.id.in_(chunk))):
                out[job.id] = info(job)
    return out


def list_jobs(
    lib: Library,
    *,
    state: str | None = None,
    kind: str | None = None,
    limit: int | None = 100,
) -> list[JobInfo]:
    """Jobs, newest first."""
    stmt = select(Job).order_by(Job.id.desc())
    if state:
        stmt = stmt.where(Job.state == state)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    if limit is not None:
        stmt = stmt.limit(limit)
    with lib.session() as session:
        return [info(job) for job in session.scalars(stmt)]


def cancel_job(lib: Library, job_id: int) -> JobInfo:
    """Cancel a job: a queued one never starts; a running one stops at its next progress
    check. Cancelling a finished job is an error."""
    with lib.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state.in_((QUEUED, RUNNING)))
            .values(state=CANCELLED, finished_at=utcnow(), next_run_at=None)
        )
    job = get_job(lib, job_id)
    if result.rowcount == 0 and job.state != CANCELLED:
        raise JobStateError(f"job {job_id} is {job.state}: only queued or running jobs cancel.")
    return job


def retry_job(lib: Library, job_id: int, *, settings: JobSettings = DEFAULT_SETTINGS) -> JobInfo:
    """Queue a failed or cancelled job again (attempts start over)."""
    with lib.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state.in_((FAILED, CANCELLED)))
            .values(**_requeue_values(None), max_attempts=settings.max_attempts)
        )
    job = get_job(lib, job_id)
    if result.rowcount == 0:
        raise JobStateError(
            f"job {job_id} is {job.state}: only failed or cancelled jobs can be retried."
        )
    return job


# --- state changes made while running ---------------------------------------------------


def claim(lib: Library, job_id: int, owner: str) -> Job | None:
    """queued -> running, owned by ``owner``; None when the job is not queued (cancelled,
    or taken by another worker)."""
    with lib.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == QUEUED)
            .values(
                state=RUNNING,
                attempts=Job.attempts + 1,
                owner=owner,
                started_at=utcnow(),
                finished_at=None,
                next_run_at=None,
                progress=0.0,
            )
        )
        if result.rowcount == 0:
            return None
        return session.get(Job, job_id)


def set_progress(lib: Library, job_id: int, owner: str, fraction: float) -> bool:
    """Record progress; False when the job is no longer ours to run (cancelled)."""
    with lib.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == RUNNING, Job.owner == owner)
            .values(progress=min(max(float(fraction), 0.0), 1.0))
        )
        return result.rowcount > 0


def finish(lib: Library, job_id: int, owner: str, result: dict[str, Any] | None) -> bool:
    values: dict[str, Any] = {
        "state": DONE,
        "progress": 1.0,
        "result_json": result,
        "finished_at": utcnow(),
        "error": None,
    }
    if result and isinstance(result.get("track_id"), int):
        values["track_id"] = result["track_id"]
    with lib.session() as session:
        done = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == RUNNING, Job.owner == owner)
            .values(**values)
        )
        return done.rowcount > 0


def fail(lib: Library, job_id: int, owner: str | None, error: str) -> None:
    """Fail at once (a permanent failure: bad input)."""
    where = [Job.id == job_id, Job.state == RUNNING]
    if owner is not None:
        where.append(Job.owner == owner)
    with lib.session() as session:
        session.execute(
            update(Job).where(*where).values(state=FAILED, error=error, finished_at=utcnow())
        )


def retry_later(
    lib: Library,
    job_id: int,
    owner: str | None,
    error: str,
    settings: JobSettings = DEFAULT_SETTINGS,
) -> str:
    """A transient failure: queue again after an exponential backoff, or fail when the
    attempts are used up. Returns the new state."""
    where = [Job.id == job_id, Job.state == RUNNING]
    if owner is not None:
        where.append(Job.owner == owner)
    with lib.session() as session:
        job = session.scalar(select(Job).where(*where))
        if job is None:
            return session.get_one(Job, job_id).state
        if job.attempts >= job.max_attempts:
            job.state = FAILED
            job.error = f"{error} (gave up after {job.attempts} attempts)"
            job.finished_at = utcnow()
        else:
            job.state = QUEUED
            job.error = error
            job.owner = None
            job.next_run_at = utcnow() + timedelta(seconds=settings.backoff(job.attempts))
        return job.state


def mark_cancelled_stopped(lib: Library, job_id: int) -> None:
    with lib.session() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == CANCELLED)
            .values(finished_at=utcnow(), owner=None)
        )
