"""Jobs: list, get, cancel, retry, and live progress as server-sent events.

``GET /api/jobs/events`` is a ``text/event-stream``: an ``event: job`` with the job's JSON
whenever a job's state or progress changes (the server looks every ``sse_poll_s``, 0.5 s),
and a comment line (``: keep-alive``) after ``sse_keepalive_s`` (15 s) of silence so that
proxies keep the connection open. With ``?ids=1,2`` it watches those jobs only and ends
with ``event: end`` once all of them have ended (an ``EventSource`` should then
``close()``, or it reconnects and is told the same again). Without ``ids`` it reports the
user's new and unfinished jobs and runs until the client goes away.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from stemforge.jobs import store
from stemforge.web import joblist
from stemforge.web.deps import LibraryDep, SettingsDep, UserDep
from stemforge.web.errors import WebError

router = APIRouter(prefix="/api", tags=["jobs"])

JobState = Literal["queued", "running", "done", "failed", "cancelled"]


@router.get("/jobs")
def list_jobs(
    user: UserDep,
    lib: LibraryDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict:
    """The user's jobs, newest first (``JobInfo`` each)."""
    return {"items": joblist.list_jobs(lib, user.id, state=state, limit=limit)}


def _parse_ids(ids: str | None) -> tuple[int, ...] | None:
    if ids is None or not ids.strip():
        return None
    try:
        parsed = tuple(int(part) for part in ids.split(",") if part.strip())
    except ValueError:
        raise WebError(
            f"ids={ids!r} is not a list of job ids.", hint="Give ids like ?ids=3,4,5."
        ) from None
    if len(parsed) > 1000:
        raise WebError("too many job ids (at most 1000).")
    return parsed


def _event(job: dict) -> str:
    return f"event: job\nid: {job['id']}\ndata: {json.dumps(job, allow_nan=False)}\n\n"


@router.get(
    "/jobs/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Job events"}},
)
async def job_events(
    request: Request,
    user: UserDep,
    lib: LibraryDep,
    settings: SettingsDep,
    ids: Annotated[str | None, Query(description="Comma-separated job ids to watch")] = None,
) -> StreamingResponse:
    """Server-sent events of job changes (see the module's description)."""
    watcher = joblist.JobWatcher(lib, user.id, _parse_ids(ids))
    state = request.app.state

    async def stream():
        state.event_streams += 1
        try:
            yield "retry: 3000\n\n"
            quiet_since = time.monotonic()
            while True:
                changed = await anyio.to_thread.run_sync(watcher.poll)
                for job in changed:
                    yield _event(job)
                if changed:
                    quiet_since = time.monotonic()
                if watcher.finished:
                    yield "event: end\ndata: {}\n\n"
                    return
                if time.monotonic() - quiet_since >= settings.sse_keepalive_s:
                    yield ": keep-alive\n\n"
                    quiet_since = time.monotonic()
                if await request.is_disconnected():
                    return
                await anyio.sleep(settings.sse_poll_s)
        finally:
            state.event_streams -= 1

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/jobs/{job_id}")
def get_job(
    job_id: int,
    user: UserDep,
    lib: LibraryDep,
) -> dict:
    """One job (``JobInfo``)."""
    return joblist.get_job(lib, user.id, job_id)


@router.post("/jobs/{job_id}/cancel")
def cancel_job(
    job_id: int,
    user: UserDep,
    lib: LibraryDep,
) -> dict:
    """Cancel a queued job (it never starts) or a running one (it stops at its next
    progress report). 409 for a job that has ended."""
    joblist.get_job(lib, user.id, job_id)
    return joblist.public(store.cancel_job(lib, job_id))


@router.post("/jobs/{job_id}/retry")
def retry_job(
    job_id: int,
    request: Request,
    user: UserDep,
    lib: LibraryDep,
    settings: SettingsDep,
) -> dict:
    """Queue a failed or cancelled job again. 409 for any other job."""
    joblist.get_job(lib, user.id, job_id)
    job = store.retry_job(lib, job_id, settings=settings.job_settings)
    if request.app.state.worker is not None:
        request.app.state.worker.wake()
    return joblist.public(job)
