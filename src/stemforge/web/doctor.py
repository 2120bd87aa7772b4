"""The mix doctor for a library track, computed once per track, target and analysis.

:func:`stemforge.advice.doctor.examine` runs on the track's original (it takes about as
long as the analysis: seconds for a short track); its JSON (with the plotly figures of
the HTML report) and the HTML report are cached in the track's media folder
(``web/doctor-<target>-a<analysis version>.json`` and ``.html``), so the next request is a
file read. A newer analysis makes a new pair; the old one is deleted.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

from stemforge.library import Library
from stemforge.library.export import safe_name
from stemforge.output import write_bytes_atomic, write_json_atomic
from stemforge.progress import ProgressCallback, no_progress

#: The cache folder inside a track's media folder (the web layer's derived files).
CACHE_FOLDER = "web"

_locks: dict[tuple[str, int, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: tuple[str, int, str]) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _paths(lib: Library, track_id: int, target: str, version: int) -> tuple[Path, Path]:
    folder = lib.media_folder(track_id) / CACHE_FOLDER
    base = f"doctor-{safe_name(target, max_bytes=64)}-a{version}"
    return folder / f"{base}.json", folder / f"{base}.html"


def figures(result) -> list[dict[str, Any]]:
    """The HTML report's plots: ``{"id", "title", "alt", "figure"}`` each, in page order
    (``figure`` is what ``Plotly.newPlot`` takes: ``{"data", "layout"}``)."""
    from stemforge.reports.figures import report_plots

    return [
        {"id": p.id, "title": p.title, "alt": p.alt, "figure": p.figure}
        for p in report_plots(result).values()
    ]


def doctor_files(
    lib: Library,
    track_id: int,
    *,
    user_id: int | None,
    target: str | None,
    progress: ProgressCallback = no_progress,
) -> tuple[Path, Path]:
    """The cached JSON and HTML of the mix doctor for a track (made on the first call)."""
    from stemforge.advice.doctor import examine
    from stemforge.reports import html_document, render_json

    detail = lib.show(track_id, user_id=user_id)
    version = next((a.analysis_version for a in detail.analyses if a.is_current), 0)
    name = (target or "default").strip().lower() or "default"
    json_path, html_path = _paths(lib, track_id, name, version)
    with _lock((str(lib.media_root), track_id, name)):
        if json_path.is_file() and html_path.is_file():
            return json_path, html_path
        original = lib.original_file(lib.track(track_id, user_id=user_id))
        result = examine(original, target=target, progress=progress)
        data = {**render_json(result), "figures": figures(result)}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        ours = re.compile(rf"{re.escape(json_path.stem.rsplit('-a', 1)[0])}-a\d+\.(json|html)")
        for stale in json_path.parent.iterdir():
            if ours.fullmatch(stale.name) and stale not in (json_path, html_path):
                stale.unlink(missing_ok=True)
        write_bytes_atomic(html_path, html_document(result).encode("utf-8"))
        write_json_atomic(json_path, data)
        return json_path, html_path


def doctor_json(
    lib: Library, track_id: int, *, user_id: int | None, target: str | None
) -> dict[str, Any]:
    json_path, _ = doctor_files(lib, track_id, user_id=user_id, target=target)
    return json.loads(json_path.read_text(encoding="utf-8"))
