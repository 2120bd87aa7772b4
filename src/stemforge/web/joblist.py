"""Jobs as one user sees them: the jobs they asked for (server mode), or in local mode
also the jobs of the command line (which have no user); and the change watcher behind
the job event stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from stemforge.jobs import store
from stemforge.jobs.errors import JobNotFoundError
from stemforge.library import Library
from stemforge.library.models import Job

#: Most jobs the event stream looks at in one poll.
WATCH_LIMIT = 2000


def assign_user(lib: Library, job_id: int, user_id: int) -> None:
    """Record who asked for a job (the jobs layer's ``enqueue`` does not know)."""
    with lib.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(user_id=user_id))


def _mine(lib: Library, user_id: int):
    if user_id == lib.local_user_id():
        return or_(Job.user_id == user_id, Job.user_id.is_(None))
    return Job.user_id == user_id


def public(job: store.JobInfo | Job) -> dict[str, Any]:
    """A job as the API shows it: ``JobInfo.to_dict()`` with the server's path of its
    file reduced to the file name."""
    info = store.info(job) if isinstance(job, Job) else job
    data = info.to_dict()
    params = data.get("params")
    if isinstance(params, dict) and isinstance(params.get("path"), str):
        data["params"] = {**params, "path": Path(params["path"]).name}
    return data


def list_jobs(
    lib: Library, user_id: int, *, state: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """The user's jobs, newest first."""
    stmt = select(Job).where(_mine(lib, user_id)).order_by(Job.id.desc()).limit(limit)
    if state:
        stmt = stmt.where(Job.state == state)
    with lib.session() as session:
        return [public(job) for job in session.scalars(stmt)]


def get_job(lib: Library, user_id: int, job_id: int) -> dict[str, Any]:
    """One of the user's jobs; another user's job is not found."""
    with lib.session() as session:
        job = session.scalar(select(Job).where(Job.id == job_id, _mine(lib, user_id)))
        if job is None:
            raise JobNotFoundError(
                f"no job has id {job_id}.", hint="List your jobs with GET /api/jobs."
            )
        return public(job)


@dataclass
class JobWatcher:
    """What changed since the last :meth:`poll`: the watched jobs (``ids``), or the
    user's new and unfinished jobs. The first poll reports the current state of the
    watched jobs (or of the unfinished ones)."""

    library: Library
    user_id: int
    ids: tuple[int, ...] | None = None
    _seen: dict[int, tuple] = field(default_factory=dict)
    _active: set[int] = field(default_factory=set)
    _max_id: int | None = None

    def poll(self) -> list[dict[str, Any]]:
        lib = self.library
        with lib.session() as session:
            if self._max_id is None:
                self._max_id = session.scalar(select(Job.id).order_by(Job.id.desc()).limit(1)) or 0
            if self.ids is not None:
                where = Job.id.in_(self.ids)
            else:
                conditions = [Job.state.in_((store.QUEUED, store.RUNNING)), Job.id > self._max_id]
                if self._active:  # to see them end
                    conditions.append(Job.id.in_(sorted(self._active)))
                where = or_(*conditions)
            rows = session.scalars(
                select(Job)
                .where(where, _mine(lib, self.user_id))
                .order_by(Job.id)
                .limit(WATCH_LIMIT)
            ).all()
            changed = []
            for job in rows:
                mark = (job.state, round(float(job.progress or 0.0), 3), job.attempts, job.error)
                if self._seen.get(job.id) != mark:
                    self._seen[job.id] = mark
                    changed.append(public(job))
                if job.state in store.TERMINAL:
                    self._active.discard(job.id)
                else:
                    self._active.add(job.id)
                self._max_id = max(self._max_id, job.id)
        return changed

    @property
    def finished(self) -> bool:
        """All watched jobs (``ids``) have ended (or do not exist)."""
        if self.ids is None:
            return False
        return all(
            mark[0] in store.TERMINAL for job_id, mark in self._seen.items() if job_id in self.ids
        ) and not (set(self.ids) & self._active)
