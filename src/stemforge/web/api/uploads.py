"""``POST /api/uploads``: audio files in, one ingest job each."""

from __future__ import annotations

import shutil
from typing import Literal

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel

from stemforge.errors import StemforgeError
from stemforge.jobs import store
from stemforge.library import Library
from stemforge.web.deps import CurrentUser, LibraryDep, SettingsDep, UserDep
from stemforge.web.errors import NotAudioError, bare_message
from stemforge.web.joblist import assign_user
from stemforge.web.uploads import ReceivedFile, receive_files

router = APIRouter(prefix="/api", tags=["uploads"])

_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "One or more audio files",
                        }
                    },
                }
            }
        },
    }
}


class UploadedFile(BaseModel):
    name: str
    job_id: int | None
    status: Literal["queued", "duplicate", "failed"]
    reason: str | None
    track_id: int | None


class UploadResult(BaseModel):
    files: list[UploadedFile]


def _queue(lib: Library, received: ReceivedFile, user: CurrentUser, settings) -> dict[str, object]:
    """Check one received file and queue its ingest (runs in a worker thread)."""
    from stemforge.audio import info

    entry: dict[str, object] = {
        "name": received.name,
        "job_id": None,
        "status": "failed",
        "reason": None,
        "track_id": None,
    }
    try:
        about = info(received.path)
        if about.frames <= 0:
            raise NotAudioError("the file holds no audio.")
    except StemforgeError as exc:
        shutil.rmtree(received.path.parent, ignore_errors=True)
        entry["reason"] = f"{received.name}: {bare_message(exc)}"
        return entry
    existing = lib.find_track(received.sha256, user_id=user.id)
    if existing is not None:
        shutil.rmtree(received.path.parent, ignore_errors=True)
        entry.update(status="duplicate", track_id=existing, reason="already in your library.")
        return entry
    params = {
        "path": str(received.path),
        "in_place": False,
        "analyzer": settings.analyzer,
        "user_id": user.id,
        "upload": True,
        # the track page's mix doctor, made while the worker is warm (full analysis only:
        # a quick library is for speed)
        "doctor": settings.analyzer == "full",
    }
    job_id, _ = store.enqueue(
        lib,
        "ingest",
        params,
        key=f"upload:{user.id}:{received.sha256}",
        rerun_done=True,
        settings=settings.job_settings,
    )
    assign_user(lib, job_id, user.id)
    job = store.get_job(lib, job_id)
    if (job.params or {}).get("path") != params["path"]:
        # the same file is being ingested already (an upload a moment ago): that job
        # has its own copy
        shutil.rmtree(received.path.parent, ignore_errors=True)
    entry.update(job_id=job_id, status="queued")
    return entry


@router.post(
    "/uploads",
    status_code=202,
    response_model=UploadResult,
    openapi_extra=_MULTIPART_BODY,
    responses={
        413: {"description": "Larger than the server's upload limit"},
        415: {"description": "Not audio stemforge can read"},
    },
)
async def upload(
    request: Request,
    user: UserDep,
    lib: LibraryDep,
    settings: SettingsDep,
) -> dict:
    """Upload audio files (multipart field ``files``, one or many), streamed to disk. Each
    is checked (its content, not its name, must be audio) and queued for ingest (copy,
    tags, analysis) as a job: ``queued`` with its ``job_id``, ``duplicate`` (with the
    ``track_id`` it duplicates) or ``failed`` with the ``reason``. 413 past the size
    limit; 415 when no file is audio."""
    uploads = lib.media_root.parent / "uploads"
    received = await receive_files(request, uploads, max_bytes=settings.max_upload_bytes)
    entries = []
    try:
        for item in received:
            entries.append(await anyio.to_thread.run_sync(_queue, lib, item, user, settings))
    except BaseException:
        for item in received[len(entries) :]:
            shutil.rmtree(item.path.parent, ignore_errors=True)
        raise
    if all(e["status"] == "failed" for e in entries):
        raise NotAudioError(
            "; ".join(str(e["reason"]) for e in entries),
            hint="Upload WAV, FLAC, AIFF, MP3, OGG, Opus or M4A files.",
        )
    worker = request.app.state.worker
    if worker is not None:
        worker.wake()
    return {"files": entries}
