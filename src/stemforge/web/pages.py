"""The browser pages: library, track, jobs, login (Jinja2 templates over the JSON API).

Pages render what a first paint needs on the server (the library's first page of rows, a
track's facts) and leave the rest to small scripts in ``static/js`` that call ``/api``.
Templates are autoescaped whatever their suffix (``.html.j2`` is not an extension that
Jinja2's default ``select_autoescape`` recognises), so a track titled ``<script>`` is
shown as text.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from stemforge import __version__
from stemforge.errors import StemforgeError
from stemforge.library import SearchQuery, TrackNotFoundError, camelot
from stemforge.results import finite_or_none
from stemforge.web.deps import current_user_or_redirect, get_library
from stemforge.web.errors import bare_message
from stemforge.web.querying import TOTALS, in_library

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

#: Rows on the library's first page (the API's default page size).
PAGE_SIZE = 50
SORT_CHOICES = (
    ("added", "Date added"),
    ("title", "Title"),
    ("bpm", "BPM"),
    ("key", "Camelot key"),
    ("lufs", "Loudness"),
    ("duration", "Length"),
)
#: Filters of ``/api/tracks`` that the library page passes through, with their types.
FILTERS: dict[str, type] = {
    "q": str,
    "bpm_min": float,
    "bpm_max": float,
    "key": str,
    "compatible_with": str,
    "lufs_min": float,
    "lufs_max": float,
    "genre": str,
    "tag": str,
    "duration_min_s": float,
    "duration_max_s": float,
}
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
SECTION_COLOURS = {
    "intro": "#4263eb",
    "verse": "#0ca678",
    "pre-chorus": "#1098ad",
    "chorus": "#e8590c",
    "drop": "#d6336c",
    "bridge": "#ae3ec9",
    "breakdown": "#5c7cfa",
    "build": "#f08c00",
    "outro": "#495057",
}
OTHER_SECTION_COLOUR = "#5c940d"

router = APIRouter(include_in_schema=False)
PageUser = Depends(current_user_or_redirect)
PageLibrary = Depends(get_library)


# --- formatting (static/js/common.js formats the same way) ------------------------------


def fmt_bpm(value: Any) -> str:
    number = finite_or_none(value)
    return "–" if number is None else f"{number:.1f}"


def fmt_lufs(value: Any) -> str:
    number = finite_or_none(value)
    return "–" if number is None else f"{number:.1f}".replace("-", "−")


def fmt_db(value: Any) -> str:
    return fmt_lufs(value)


def fmt_duration(value: Any) -> str:
    """Seconds as ``m:ss`` (``h:mm:ss`` from an hour)."""
    number = finite_or_none(value)
    if number is None or number < 0:
        return "–"
    total = int(number + 0.5)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def camelot_style(code: str | None) -> str:
    """The badge colour of a Camelot code: one hue per wheel position, minor keys lighter."""
    try:
        number, letter = camelot.split(code or "")
    except StemforgeError:
        return "background: #6b7280"
    lightness = 44 if letter == "A" else 34
    return f"background: hsl({(number - 1) * 30} 62% {lightness}%)"


def size_text(n_bytes: int | None) -> str | None:
    if not n_bytes:
        return None
    for unit in ("bytes", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return None


CAMELOT_KEYS = tuple(
    (f"{n}{letter}", camelot.key_name(f"{n}{letter}")) for letter in "AB" for n in range(1, 13)
)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.globals.update(
        version=__version__,
        static=lambda path: f"/static/{path}?v={__version__}",
        fmt_bpm=fmt_bpm,
        fmt_lufs=fmt_lufs,
        fmt_db=fmt_db,
        fmt_duration=fmt_duration,
        camelot_style=camelot_style,
        camelot_keys=CAMELOT_KEYS,
        sort_choices=SORT_CHOICES,
    )
    return env


def _settings_value(request: Request, name: str, default: Any = None) -> Any:
    settings = getattr(request.app.state, "settings", None)
    return getattr(settings, name, default)


def render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """A page from ``templates/``; every page knows the mode and the signed-in user."""
    mode = _settings_value(request, "mode", "local")
    page = environment().get_template(template).render(mode=mode, request=request, **context)
    return HTMLResponse(page, status_code=status_code)


def not_found_page(request: Request, message: str | None = None) -> HTMLResponse:
    """The HTML 404 page (for browsers; the API answers 404 with JSON)."""
    return render(request, "404.html.j2", {"user": None, "message": message}, status_code=404)


# --- library -------------------------------------------------------------------------------


def _form(request: Request) -> tuple[dict[str, str], dict[str, Any]]:
    """The filter fields as typed (for the form) and as parsed (for the query); a number
    that does not parse is dropped."""
    form: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for name, kind in FILTERS.items():
        raw = (request.query_params.get(name) or "").strip()
        if not raw:
            form[name] = ""
            continue
        form[name] = raw
        if kind is float:
            number = finite_or_none(raw) if raw.replace(".", "", 1).lstrip("-").isdigit() else None
            if number is not None:
                parsed[name] = number
        else:
            parsed[name] = raw
    return form, parsed


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(raw or default), low), high)
    except ValueError:
        return default


def _query(request: Request, parsed: dict[str, Any]) -> SearchQuery:
    params = request.query_params
    sort = params.get("sort") or "added"
    if sort not in dict(SORT_CHOICES):
        sort = "added"
    desc_raw = params.get("desc")
    # the library opens newest first; an explicit desc=false asks for oldest first
    descending = desc_raw.lower() in ("1", "true", "yes") if desc_raw else sort == "added"
    return SearchQuery(
        text=parsed.get("q"),
        bpm_min=parsed.get("bpm_min"),
        bpm_max=parsed.get("bpm_max"),
        key=parsed.get("key"),
        compatible_with=parsed.get("compatible_with"),
        lufs_min=parsed.get("lufs_min"),
        lufs_max=parsed.get("lufs_max"),
        genre=parsed.get("genre"),
        tag=parsed.get("tag"),
        duration_min_s=parsed.get("duration_min_s"),
        duration_max_s=parsed.get("duration_max_s"),
        sort=sort,
        descending=descending,
        limit=_int(params.get("limit"), PAGE_SIZE, 1, 500),
        offset=_int(params.get("offset"), 0, 0, 10**9),
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def count_text(total: int, filtered: bool) -> str:
    """``1,234 tracks``; with filters ``12 tracks match`` / ``1 track matches``."""
    noun = "track" if total == 1 else "tracks"
    if not filtered:
        return f"{total:,} {noun}"
    return f"{total:,} {noun} {'matches' if total == 1 else 'match'}"


def page_text(query: SearchQuery, shown: int, total: int) -> str:
    if total == 0 or shown == 0:
        return "No rows"
    first = query.offset + 1
    return f"{first:,}–{query.offset + shown:,} of {total:,}"


@router.get("/", response_class=HTMLResponse)
async def library_page(request: Request) -> HTMLResponse:
    lib = get_library(request)
    return await in_library(lib, _library_page, request, lib)


def _library_page(request: Request, lib) -> HTMLResponse:
    user = current_user_or_redirect(request)
    form, parsed = _form(request)
    query = _query(request, parsed)
    filtered = bool(parsed)
    error = None
    try:
        mine = dataclasses.replace(query, user_id=user.id)
        tracks = lib.search(mine)
        if len(tracks) < query.limit and (tracks or query.offset == 0):
            total = query.offset + len(tracks)  # the last page: nothing more to count
        else:
            total = TOTALS.count(lib, mine)
    except StemforgeError as exc:  # a key that is not a key: show why, list nothing
        error = {"message": _sentence(bare_message(exc)), "hint": exc.hint}
        tracks, total = [], 0
    max_upload = _settings_value(request, "max_upload_bytes")
    export_params = {name: value for name, value in form.items() if value}
    state = {
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "sort": query.sort,
        "desc": query.descending,
        "max_upload_bytes": max_upload,
    }
    return render(
        request,
        "library.html.j2",
        {
            "active": "library",
            "user": user,
            "tracks": tracks,
            "total": total,
            "query": query,
            "form": form,
            "filtered": filtered,
            "error": error,
            "more_open": any(
                form[n] for n in ("lufs_min", "lufs_max", "duration_min_s", "duration_max_s")
            ),
            "count_text": count_text(total, filtered),
            "page_text": page_text(query, len(tracks), total),
            "export_query": urlencode(export_params),
            "max_upload_text": size_text(max_upload),
            "state": state,
        },
    )


# --- track ---------------------------------------------------------------------------------


def _sections(detail) -> list[dict[str, Any]]:
    duration = finite_or_none(detail.summary.duration_s) or max(
        (s.end_s for s in detail.sections), default=0.0
    )
    if not duration:
        return []
    out = []
    for s in detail.sections:
        label = s.label or f"section {s.position + 1}"
        out.append(
            {
                "label": label,
                "start_s": s.start_s,
                "end_s": s.end_s,
                "bar_count": s.bar_count,
                "left": round(100.0 * s.start_s / duration, 3),
                "width": round(100.0 * (s.end_s - s.start_s) / duration, 3),
                "colour": SECTION_COLOURS.get(label.lower(), OTHER_SECTION_COLOUR),
            }
        )
    return out


def _platforms() -> list[tuple[str, str]]:
    from stemforge.advice.targets import PLATFORMS

    return [(name, target.display_name) for name, target in PLATFORMS.items()]


@router.get("/tracks/{track_id}", response_class=HTMLResponse)
def track_page(
    request: Request,
    track_id: int,
    user=PageUser,
    lib=PageLibrary,
):
    try:
        detail = lib.show(track_id, user_id=user.id)
    except TrackNotFoundError:
        return not_found_page(request, f"No track has the id {track_id} in your library.")
    s = detail.summary
    try:
        compatible = camelot.compatible_codes(s.camelot)[1:] if s.camelot else ()
    except StemforgeError:
        compatible = ()
    sections = _sections(detail)
    stem = Path(s.file_name).stem or f"track-{s.id}"
    state = {
        "id": s.id,
        "title": s.title or s.file_name,
        "duration_s": finite_or_none(s.duration_s),
        "audio_url": f"/api/tracks/{s.id}/audio",
        "peaks_url": f"/api/tracks/{s.id}/peaks?points=1000",
        "doctor_url": f"/api/tracks/{s.id}/doctor",
        "tags_url": f"/api/tracks/{s.id}/tags",
        "sections": sections,
    }
    return render(
        request,
        "track.html.j2",
        {
            "active": "library",
            "user": user,
            "d": detail,
            "s": s,
            "sections": sections,
            "compatible": compatible,
            "platforms": _platforms(),
            "json_name": f"{stem}.analysis.json",
            "state": state,
        },
    )


# --- jobs and login ------------------------------------------------------------------------


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, user=PageUser):
    return render(
        request, "jobs.html.j2", {"active": "jobs", "user": user, "job_states": JOB_STATES}
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request):
    target = request.query_params.get("next") or "/"
    if not target.startswith("/") or target.startswith("//"):  # no open redirect
        target = "/"
    return render(request, "login.html.j2", {"active": None, "user": None, "next_url": target})
