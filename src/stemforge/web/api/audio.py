"""A track's audio (with HTTP range requests, for seeking) and its waveform peaks."""

from __future__ import annotations

import contextlib
import re
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse

from stemforge.library.export import safe_name
from stemforge.web import media, peaks
from stemforge.web.deps import LibraryDep, UserDep
from stemforge.web.doctor import CACHE_FOLDER
from stemforge.web.errors import RangeNotSatisfiableError

router = APIRouter(prefix="/api", tags=["audio"])

_RANGE_PART = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


def check_range(header: str | None, size_bytes: int) -> bool:
    """Whether a ``Range:`` header is one to honour (RFC 9110, 14.2): False for a header
    that is absent or malformed (then the whole file is sent, 200); raises
    :class:`RangeNotSatisfiableError` (416) when a range starts past the end."""
    if not header:
        return False
    unit, _, ranges = header.partition("=")
    if unit.strip().lower() != "bytes" or not ranges.strip():
        return False
    for part in ranges.split(","):
        match = _RANGE_PART.match(part)
        if match is None:
            return False
        first, last = match.groups()
        if not first and not last:
            return False
        if first and last and int(last) < int(first):
            return False
        if first and int(first) >= size_bytes:
            raise RangeNotSatisfiableError(size_bytes)
        if not first and int(last) == 0:
            raise RangeNotSatisfiableError(size_bytes)
    return True


class AudioFileResponse(FileResponse):
    """A file response that sends the whole file when the request's range is not one to
    honour (Starlette would answer a malformed range with 400)."""

    def __init__(self, *args, honour_range: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.honour_range = honour_range

    async def __call__(self, scope, receive, send):
        if not self.honour_range:
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"range"]}
        await super().__call__(scope, receive, send)


@router.head("/tracks/{track_id}/audio", include_in_schema=False)
@router.get(
    "/tracks/{track_id}/audio",
    response_class=FileResponse,
    responses={
        200: {"content": {"audio/*": {}}, "description": "The audio"},
        206: {"description": "The requested byte range (Content-Range says which)"},
        416: {"description": "The range starts past the end of the file"},
    },
)
def get_audio(
    track_id: int,
    request: Request,
    user: UserDep,
    lib: LibraryDep,
    download: bool = False,
) -> FileResponse:
    """The track's audio with ``Accept-Ranges: bytes``: 206 and the exact bytes for a
    ``Range:`` request. The original when browsers play its format, else a FLAC preview.
    ``?download=1``: the original as an attachment, named after the track."""
    track = lib.track(track_id, user_id=user.id)
    original = lib.original_file(track)
    if download:
        chosen = media.Playable(original, "application/octet-stream", False)
        with contextlib.suppress(Exception):  # an unreadable header: still downloadable
            chosen = media.Playable(
                original, media.media_type_of(original) or chosen.media_type, False
            )
    else:
        chosen = media.playable(original, lib.media_folder(track_id) / CACHE_FOLDER)
    size = chosen.path.stat().st_size
    honour = check_range(request.headers.get("range"), size)
    headers = {"Cache-Control": "private, max-age=3600"}
    if download:
        name = safe_name(track.file_name or f"track-{track_id}{original.suffix}")
        headers["Content-Disposition"] = attachment(name)
    return AudioFileResponse(
        chosen.path, media_type=chosen.media_type, honour_range=honour, headers=headers
    )


def attachment(name: str) -> str:
    """A ``Content-Disposition`` for a download named ``name`` (already a safe file name):
    an ASCII ``filename`` for old clients and the exact UTF-8 ``filename*`` (RFC 6266)."""
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    fallback = fallback.replace('"', "_").replace("\\", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/tracks/{track_id}/peaks")
def get_peaks(
    track_id: int,
    user: UserDep,
    lib: LibraryDep,
    points: Annotated[int, Query(ge=1, le=peaks.BASE_POINTS)] = 1000,
) -> dict:
    """The waveform: the minimum and maximum (-1..1) of the mono fold in ``points``
    equal buckets of time (fewer for a very short track)."""
    track = lib.track(track_id, user_id=user.id)
    stored = peaks.cached_peaks(lib.original_file(track), lib.media_folder(track_id) / CACHE_FOLDER)
    return peaks.reduce_peaks(stored, points).to_dict()
