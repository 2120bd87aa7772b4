"""``GET /api/export``: the tracks a search finds, as a zip for a DAW."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

import anyio
from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from stemforge.library.export import export_tracks
from stemforge.web.api.tracks import Filters
from stemforge.web.deps import LibraryDep, UserDep

router = APIRouter(prefix="/api", tags=["export"])


@router.get(
    "/export",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The export"},
        404: {"description": "No track matches the filters"},
    },
)
async def export(
    query: Filters,
    user: UserDep,
    lib: LibraryDep,
    layout: Literal["flat", "daw"] = "flat",
) -> FileResponse:
    """A zip of the tracks matching the filters (the same as ``GET /api/tracks``):
    originals, stems, samples, MIDI and lyrics named ``Artist - Title [124 BPM 8A Am]``,
    with ``manifest.json`` listing every track and file (SHA-256). ``layout``: ``flat``
    (one folder) or ``daw`` (a folder per track)."""
    folder = lib.media_root.parent / "exports" / secrets.token_hex(12)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    archive = folder / f"stemforge-export-{stamp}.zip"
    mine = replace(query, user_id=user.id)
    try:
        await anyio.to_thread.run_sync(lambda: export_tracks(lib, mine, archive, layout=layout))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=archive.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
