"""Tracks: list and search, detail, delete, tags, analysis, mix doctor and report.

Every route acts on the current user's library: another user's track is not found
(404), whatever the route.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from stemforge.jobs import store
from stemforge.library import SORT_KEYS, SearchQuery
from stemforge.web.deps import LibraryDep, SettingsDep, UserDep
from stemforge.web.querying import TOTALS, in_library

router = APIRouter(prefix="/api", tags=["tracks"])

#: Most tracks one page of ``GET /api/tracks`` returns.
MAX_PAGE = 500


def _blank_is_none(value: Any) -> Any:
    """An empty query parameter (``bpm_min=``, as a form sends it) means "no filter"."""
    return None if isinstance(value, str) and not value.strip() else value


OptionalFloat = Annotated[float | None, BeforeValidator(_blank_is_none)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_none)]
SortKey = Literal["bpm", "key", "lufs", "duration", "title", "added"]
assert set(SortKey.__args__) == set(SORT_KEYS)  # type: ignore[attr-defined]


async def search_filters(
    q: Annotated[
        OptionalText, Query(max_length=200, description="Text in title, artist, album, file")
    ] = None,
    bpm_min: Annotated[OptionalFloat, Query(description="Tempo at least (BPM)")] = None,
    bpm_max: Annotated[OptionalFloat, Query(description="Tempo at most (BPM)")] = None,
    key: Annotated[
        OptionalText, Query(max_length=32, description='This key: "A minor", "Am" or "8A"')
    ] = None,
    compatible_with: Annotated[
        OptionalText,
        Query(max_length=32, description="Harmonically compatible: Camelot same, relative, ±1"),
    ] = None,
    lufs_min: Annotated[OptionalFloat, Query(description="Integrated loudness at least")] = None,
    lufs_max: Annotated[OptionalFloat, Query(description="Integrated loudness at most")] = None,
    genre: Annotated[OptionalText, Query(max_length=200)] = None,
    tag: Annotated[OptionalText, Query(max_length=200)] = None,
    duration_min_s: Annotated[OptionalFloat, Query(description="Length at least (s)")] = None,
    duration_max_s: Annotated[OptionalFloat, Query(description="Length at most (s)")] = None,
    sort: SortKey = "added",
    desc: bool = False,
    track_id: Annotated[
        list[int] | None, Query(max_length=500, description="Only these tracks (repeatable)")
    ] = None,
) -> SearchQuery:
    """The filters shared by ``/api/tracks`` and ``/api/export``."""
    return SearchQuery(
        text=q,
        bpm_min=bpm_min,
        bpm_max=bpm_max,
        key=key,
        compatible_with=compatible_with,
        lufs_min=lufs_min,
        lufs_max=lufs_max,
        genre=genre,
        tag=tag,
        duration_min_s=duration_min_s,
        duration_max_s=duration_max_s,
        sort=sort,
        descending=desc,
        track_ids=tuple(track_id) if track_id else None,
    )


Filters = Annotated[SearchQuery, Depends(search_filters)]


class TrackPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[dict[str, Any]]


@router.get("/tracks", response_model=TrackPage)
async def list_tracks(
    query: Filters,
    user: UserDep,
    lib: LibraryDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """One page of the library's tracks matching the filters, sorted; ``total`` counts
    every match (for pagination)."""
    page = replace(query, limit=limit, offset=offset, user_id=user.id)
    # returned as a response, so the page is not validated again against TrackPage (the
    # schema still documents it)
    return JSONResponse(await in_library(lib, _track_page, lib, page))


def _track_page(lib, page: SearchQuery) -> dict:
    items = lib.search(page)
    if len(items) < page.limit and (items or page.offset == 0):
        total = page.offset + len(items)  # the last page: no need to count
    else:
        total = TOTALS.count(lib, page)  # counting is a scan: reused until a write
    return {
        "total": total,
        "limit": page.limit,
        "offset": page.offset,
        "items": [t.to_dict() for t in items],
    }


def public_detail(detail, *, server: bool) -> dict[str, Any]:
    """``TrackDetail.to_dict()`` with the URLs of its audio and peaks; in server mode the
    server's file paths are reduced to file names."""
    data = detail.to_dict()
    track_id = detail.summary.id
    if server:
        data["source_path"] = Path(data["source_path"] or "").name or None
        data["original_path"] = Path(data["original_path"]).name if data["original_path"] else None
        data["media_folder"] = None
    data["audio_url"] = f"/api/tracks/{track_id}/audio"
    data["peaks_url"] = f"/api/tracks/{track_id}/peaks"
    return data


@router.get("/tracks/{track_id}")
def get_track(
    track_id: int,
    user: UserDep,
    lib: LibraryDep,
    settings: SettingsDep,
) -> dict:
    """Everything known about a track (``TrackDetail``), with ``audio_url`` and
    ``peaks_url``."""
    detail = lib.show(track_id, user_id=user.id)
    return public_detail(detail, server=settings.mode == "server")


@router.delete("/tracks/{track_id}")
def delete_track(
    track_id: int,
    user: UserDep,
    lib: LibraryDep,
) -> dict:
    """Remove the track and what stemforge derived from it (its media folder: the stored
    copy, stems, caches). An original referenced in place is never touched."""
    removed = lib.remove(track_id, user_id=user.id)
    return {"removed": removed.track_id, "kept_original": removed.kept_original is not None}


TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TagChange(BaseModel):
    add: list[TagName] = Field(default_factory=list, max_length=100)
    remove: list[TagName] = Field(default_factory=list, max_length=100)


class Tags(BaseModel):
    tags: list[str]


@router.post("/tracks/{track_id}/tags", response_model=Tags)
def change_tags(
    track_id: int,
    change: TagChange,
    user: UserDep,
    lib: LibraryDep,
) -> dict:
    """Add, then remove, tags (lower case); returns the track's tags afterwards."""
    tags = lib.tag(track_id, change.add, user_id=user.id)
    if change.remove:
        tags = lib.tag(track_id, change.remove, remove=True, user_id=user.id)
    return {"tags": list(tags)}


def _scrub_paths(analysis: dict[str, Any]) -> dict[str, Any]:
    out = dict(analysis)
    if isinstance(out.get("source"), str):
        out["source"] = Path(out["source"]).name
    if isinstance(out.get("file"), dict) and isinstance(out["file"].get("path"), str):
        out["file"] = {**out["file"], "path": Path(out["file"]["path"]).name}
    return out


@router.get("/tracks/{track_id}/analysis")
def get_analysis(
    track_id: int,
    user: UserDep,
    lib: LibraryDep,
    settings: SettingsDep,
) -> dict:
    """The full stored analysis of the track (``MixAnalysis.to_dict()``)."""
    analysis = lib.analysis_json(track_id, user_id=user.id)
    return _scrub_paths(analysis) if settings.mode == "server" else analysis


TargetName = Annotated[
    str | None,
    Query(
        max_length=64,
        pattern=r"^[A-Za-z0-9_.\- ]+$",
        description="spotify, apple_music, youtube, ebu_r128, ... or a custom target's name",
    ),
]


@router.get("/tracks/{track_id}/doctor")
def get_doctor(
    track_id: int,
    user: UserDep,
    lib: LibraryDep,
    settings: SettingsDep,
    target: TargetName = None,
) -> dict:
    """The mix doctor's findings for the track (``MixDoctorResult.to_dict()``) and
    ``figures``: the HTML report's plotly figures (``[{"id", "title", "alt", "figure"}]``).
    The first call for a track and target runs the examination (about as long as the
    analysis); later calls read its cached result."""
    from stemforge.web.doctor import doctor_json

    data = doctor_json(lib, track_id, user_id=user.id, target=target)
    if settings.mode == "server" and isinstance(data.get("analysis"), dict):
        data["analysis"] = _scrub_paths(data["analysis"])
    return data


@router.get("/tracks/{track_id}/report", response_class=FileResponse)
def get_report(
    track_id: int,
    user: UserDep,
    lib: LibraryDep,
    target: TargetName = None,
) -> FileResponse:
    """The mix doctor's self-contained HTML report (offline: plotly inlined)."""
    from stemforge.web.doctor import doctor_files

    _, html = doctor_files(lib, track_id, user_id=user.id, target=target)
    return FileResponse(html, media_type="text/html; charset=utf-8")


@router.post("/tracks/{track_id}/reanalyze", status_code=202)
def reanalyze(
    track_id: int,
    request: Request,
    user: UserDep,
    lib: LibraryDep,
    settings: SettingsDep,
) -> dict:
    """Queue a new analysis of the track (a job); returns the job."""
    from stemforge.web.joblist import assign_user

    lib.show(track_id, user_id=user.id)
    job_id, _ = store.enqueue(
        lib,
        "analyze",
        {"track_id": track_id, "analyzer": settings.analyzer},
        key=f"analyze:{track_id}",
        track_id=track_id,
        rerun_done=True,
        settings=settings.job_settings,
    )
    assign_user(lib, job_id, user.id)
    worker = request.app.state.worker
    if worker is not None:
        worker.wake()
    return {"job_id": job_id}
