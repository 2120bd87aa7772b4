"""Export tracks for a DAW: originals, stems, samples, MIDI and lyrics, with a manifest.

>>> from stemforge.library import Library, SearchQuery               # doctest: +SKIP
>>> with Library.open() as lib:                                       # doctest: +SKIP
...     export_tracks(lib, SearchQuery(bpm_min=120, bpm_max=130, compatible_with="8A"),
...                   "~/Desktop/set.zip", layout="daw")

The tracks are those of :meth:`Library.search` for the query. Each file is named after
its track, ``Artist - Title [124 BPM 8A Am]``, sanitised for every file system
(:func:`safe_name`). Layouts:

* ``flat``: every file in the top folder (``<name>.wav``, ``<name> - vocals (htdemucs).flac``,
  ``<name> - sample 01 kick.wav``, ``<name> - bass.mid``, ``<name> - lyrics.txt``);
* ``daw``: one folder per track, ``<name>/audio/``, ``stems/``, ``midi/``, ``samples/``
  (the lyrics beside them).

``manifest.json`` at the top lists every track (id, metadata, tempo, key, Camelot,
loudness) and its exported files with their SHA-256, as written. Originals are only read.
A folder export is built in a hidden sibling folder and renamed into place, a ``.zip``
is written to a temporary file and renamed: either way a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select

from stemforge import __version__
from stemforge.errors import OutputWriteError
from stemforge.library.errors import LibraryError
from stemforge.library.library import Library, SearchQuery
from stemforge.library.models import Lyrics, Midi, Sample, Stem, Track
from stemforge.library.results import TrackSummary
from stemforge.output import atomic_output, write_error
from stemforge.progress import ProgressCallback, no_progress
from stemforge.results import Result, to_jsonable

LAYOUTS = ("flat", "daw")
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "stemforge-export/1"

#: Bytes of a sanitised name before its extension: 255 is the usual limit of one path
#: component (ext4, APFS, NTFS); the rest leaves room for " (99)" and the extension.
MAX_NAME_BYTES = 180

_CHUNK = 1 << 20
_RESERVED_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
_COMPRESSED = {".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".zip"}


class NothingToExportError(LibraryError):
    """The query matched no track."""

    http_status = 404


@dataclass(frozen=True)
class ExportedFile(Result):
    kind: str  # audio, stem, sample, midi or lyrics
    path: str  # relative to the export's top, with "/" separators
    sha256: str
    size_bytes: int
    source: str | None = None  # the file it was copied from (none for lyrics)
    model: str | None = None
    stem: str | None = None
    category: str | None = None


@dataclass(frozen=True)
class ExportedTrack(Result):
    id: int
    title: str | None
    artist: str | None
    album: str | None
    genre: str | None
    year: int | None
    tags: tuple[str, ...]
    duration_s: float | None
    tempo_bpm: float | None
    key: str | None
    camelot: str | None
    integrated_lufs: float | None
    true_peak_dbtp: float | None
    lra_lu: float | None
    content_sha256: str
    name: str  # the sanitised base name of its files
    files: tuple[ExportedFile, ...]


@dataclass(frozen=True)
class ExportReport(Result):
    destination: str
    layout: str
    archive: bool  # a .zip, else a folder
    tracks: tuple[ExportedTrack, ...]

    @property
    def file_count(self) -> int:
        return sum(len(t.files) for t in self.tracks)

    @property
    def total_bytes(self) -> int:
        return sum(f.size_bytes for t in self.tracks for f in t.files)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["file_count"] = self.file_count
        out["total_bytes"] = self.total_bytes
        return out


# --- names --------------------------------------------------------------------------------


def safe_name(text: str, *, max_bytes: int = MAX_NAME_BYTES, fallback: str = "untitled") -> str:
    """One path component that is valid and harmless on Linux, macOS and Windows.

    Path separators, ``<>:"|?*`` and control characters become ``_``; runs of dots
    collapse to one (no ``..``); leading dots and spaces go (no hidden files), and so
    do trailing dots and spaces (Windows drops them); Windows device names (``CON``,
    ``COM1``, ...) get a leading ``_``; the UTF-8 length is cut to ``max_bytes``.

    >>> safe_name("../../etc/passwd")
    '_._etc_passwd'
    >>> safe_name("a/b:c*?")
    'a_b_c__'
    """
    name = unicodedata.normalize("NFC", text)
    name = _RESERVED_CHARS.sub("_", name)
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r"\.{2,}", ".", name)
    name = name.strip(" .")
    if name.split(".", 1)[0].strip().upper() in _WINDOWS_RESERVED:
        name = "_" + name
    encoded = name.encode("utf-8")
    if len(encoded) > max_bytes:
        name = encoded[:max_bytes].decode("utf-8", errors="ignore").rstrip(" .")
    return name or fallback


def short_key(tonic: str | None, mode: str | None) -> str | None:
    """``("A", "minor")`` -> ``"Am"``, ``("F#", "major")`` -> ``"F#"``."""
    if not tonic:
        return None
    return f"{tonic}m" if (mode or "").lower().startswith("min") else tonic


def track_label(
    *,
    artist: str | None,
    title: str | None,
    file_name: str,
    tempo_bpm: float | None,
    camelot: str | None,
    key: str | None,
) -> str:
    """``Artist - Title [124 BPM 8A Am]`` (the parts that are known). Artist and title are
    sanitised and cut one by one, so hostile or long tags never hide the tempo and key."""
    title = safe_name(title or "", max_bytes=100, fallback="") or safe_name(
        Path(file_name).stem, max_bytes=100
    )
    artist = safe_name(artist or "", max_bytes=60, fallback="")
    head = f"{artist} - {title}" if artist else title
    facts = []
    if tempo_bpm is not None:
        facts.append(f"{tempo_bpm:.0f} BPM")
    if camelot:
        facts.append(camelot)
    if key:
        facts.append(key)
    return f"{head} [{' '.join(facts)}]" if facts else head


class _Names:
    """Unique file names per folder, compared case-insensitively (macOS, Windows)."""

    def __init__(self) -> None:
        self._used: dict[str, set[str]] = {}

    def claim(self, folder: str, stem: str, suffix: str) -> str:
        used = self._used.setdefault(folder.casefold(), set())
        suffix = safe_name(suffix, max_bytes=16, fallback="").lower()
        suffix = f".{suffix}" if suffix else ""
        candidate = f"{stem}{suffix}"
        n = 2
        while candidate.casefold() in used or candidate.casefold() == MANIFEST_NAME:
            candidate = f"{stem} ({n}){suffix}"
            n += 1
        used.add(candidate.casefold())
        return candidate


# --- the plan: what goes where ------------------------------------------------------------


@dataclass
class _Item:
    kind: str
    arcname: str  # posix path relative to the top
    source: Path | None = None
    data: bytes | None = None
    model: str | None = None
    stem: str | None = None
    category: str | None = None


def _resolve(lib: Library, track_id: int, stored: str) -> Path:
    path = Path(stored)
    if path.is_absolute():
        return path
    under_root = lib.media_root / path
    if under_root.exists():
        return under_root
    return lib.media_folder(track_id) / path


def _derived_files(lib: Library, session, track: Track) -> list[dict[str, Any]]:
    """Stems, samples, MIDI and lyrics of a track: its rows, and files in its media folder's
    ``stems/``, ``samples/`` and ``midi/`` that no row names."""
    out: list[dict[str, Any]] = []
    seen: set[Path] = set()
    stems = session.scalars(
        select(Stem).where(Stem.track_id == track.id).order_by(Stem.model, Stem.name)
    ).all()
    stem_names = {s.id: s.name for s in stems}
    for s in stems:
        path = _resolve(lib, track.id, s.path)
        seen.add(path.resolve())
        out.append({"kind": "stem", "source": path, "model": s.model, "stem": s.name})
    for row in session.scalars(
        select(Sample).where(Sample.track_id == track.id).order_by(Sample.start_s, Sample.id)
    ):
        path = _resolve(lib, track.id, row.path)
        seen.add(path.resolve())
        out.append(
            {
                "kind": "sample",
                "source": path,
                "category": row.category,
                "stem": stem_names.get(row.stem_id),
            }
        )
    for row in session.scalars(select(Midi).where(Midi.track_id == track.id).order_by(Midi.id)):
        path = _resolve(lib, track.id, row.path)
        seen.add(path.resolve())
        out.append({"kind": "midi", "source": path, "stem": stem_names.get(row.stem_id)})
    folder = lib.media_folder(track.id)
    for kind, sub in (("stem", "stems"), ("sample", "samples"), ("midi", "midi")):
        base = folder / sub
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            if path.name.startswith(".") or path.resolve() in seen:
                continue
            entry: dict[str, Any] = {"kind": kind, "source": path, "stem": path.stem}
            if kind == "stem" and path.parent != base:
                entry["model"] = path.parent.name
            out.append(entry)
    for row in session.scalars(
        select(Lyrics).where(Lyrics.track_id == track.id).order_by(Lyrics.id)
    ):
        out.append(
            {
                "kind": "lyrics",
                "data": (row.text.rstrip("\n") + "\n").encode("utf-8"),
                "stem": stem_names.get(row.stem_id),
                "category": row.language,
            }
        )
    return out


def _label_of(entry: dict[str, Any], index: int) -> str:
    kind = entry["kind"]
    if kind == "stem":
        model = entry.get("model")
        return f"{entry['stem']} ({model})" if model else str(entry["stem"])
    if kind == "sample":
        return " ".join(x for x in (f"sample {index:02d}", entry.get("category")) if x)
    if kind == "midi":
        return entry.get("stem") or "midi"
    return f"lyrics {entry['category']}" if entry.get("category") else "lyrics"


def _derived_name(base: str, label: str) -> str:
    """``<base> - <label>``, the track's name cut (not the label) to fit the bound."""
    label = safe_name(label, max_bytes=60, fallback="file")
    room = MAX_NAME_BYTES - len(label.encode("utf-8")) - 3
    return f"{safe_name(base, max_bytes=room)} - {label}"


_DAW_FOLDERS = {"audio": "audio", "stem": "stems", "sample": "samples", "midi": "midi"}


def _plan(
    lib: Library, summaries: list[TrackSummary], layout: str
) -> list[tuple[TrackSummary, Track, str, list[_Item]]]:
    names = _Names()
    plan = []
    with lib.session() as session:
        for summary in summaries:
            track = session.get_one(Track, summary.id)
            analysis = next((a for a in track.analyses if a.is_current), None)
            label = track_label(
                artist=track.artist,
                title=track.title,
                file_name=track.file_name,
                tempo_bpm=summary.tempo_bpm,
                camelot=summary.camelot,
                key=short_key(analysis.key_tonic, analysis.key_mode) if analysis else None,
            )
            base = safe_name(label)
            if layout == "daw":
                base = names.claim("", base, "")
                top = base + "/"
            else:
                top = ""
            original = lib.original_file(track)
            entries: list[dict[str, Any]] = [{"kind": "audio", "source": original}]
            entries += _derived_files(lib, session, track)
            items = []
            samples = 0
            for entry in entries:
                kind = entry["kind"]
                samples += kind == "sample"
                source = entry.get("source")
                suffix = "txt" if kind == "lyrics" else Path(source).suffix.lstrip(".")
                stem = base if kind == "audio" else _derived_name(base, _label_of(entry, samples))
                folder = top + (_DAW_FOLDERS.get(kind, "") + "/" if layout == "daw" else "")
                folder = folder if kind != "lyrics" or layout != "daw" else top
                items.append(
                    _Item(
                        kind=kind,
                        arcname=folder + names.claim(folder, stem, suffix),
                        source=Path(source) if source is not None else None,
                        data=entry.get("data"),
                        model=entry.get("model"),
                        stem=entry.get("stem"),
                        category=entry.get("category"),
                    )
                )
            for item in items:
                if item.source is not None and not item.source.is_file():
                    raise LibraryError(
                        f"track {track.id}: its {item.kind} file is missing.",
                        path=item.source,
                        hint="Restore the file, or remove the track and add it again.",
                    )
            plan.append((summary, track, base, items))
    return plan


# --- writing ------------------------------------------------------------------------------


def _copy_hashing(source: Path, target) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(source, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class _FolderWriter:
    def __init__(self, root: Path):
        self.root = root

    def write(self, item: _Item) -> tuple[str, int]:
        path = self.root.joinpath(*PurePosixPath(item.arcname).parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "xb") as target:
            if item.data is not None:
                target.write(item.data)
                return hashlib.sha256(item.data).hexdigest(), len(item.data)
            return _copy_hashing(item.source, target)

    def write_bytes(self, arcname: str, data: bytes) -> None:
        with open(self.root / arcname, "xb") as target:
            target.write(data)
            target.flush()
            os.fsync(target.fileno())


class _ZipWriter:
    def __init__(self, archive: zipfile.ZipFile):
        self.archive = archive

    def _info(self, arcname: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(arcname, date_time=datetime.now().timetuple()[:6])
        compressed = PurePosixPath(arcname).suffix.lower() in _COMPRESSED
        info.compress_type = zipfile.ZIP_STORED if compressed else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def write(self, item: _Item) -> tuple[str, int]:
        info = self._info(item.arcname)
        if item.data is not None:
            self.archive.writestr(info, item.data)
            return hashlib.sha256(item.data).hexdigest(), len(item.data)
        big = item.source.stat().st_size >= 1 << 31
        with self.archive.open(info, "w", force_zip64=big) as target:
            return _copy_hashing(item.source, target)

    def write_bytes(self, arcname: str, data: bytes) -> None:
        self.archive.writestr(self._info(arcname), data)


def _write_all(writer, plan, layout: str, query: SearchQuery, progress: ProgressCallback):
    total = sum(len(items) for *_, items in plan) or 1
    done = 0
    tracks = []
    for summary, track, base, items in plan:
        files = []
        for item in items:
            progress(item.arcname, done / total)
            digest, size = writer.write(item)
            done += 1
            files.append(
                ExportedFile(
                    kind=item.kind,
                    path=item.arcname,
                    sha256=digest,
                    size_bytes=size,
                    source=str(item.source) if item.source is not None else None,
                    model=item.model,
                    stem=item.stem,
                    category=item.category,
                )
            )
        tracks.append(
            ExportedTrack(
                id=track.id,
                title=track.title,
                artist=track.artist,
                album=track.album,
                genre=track.genre,
                year=track.year,
                tags=summary.tags,
                duration_s=summary.duration_s,
                tempo_bpm=summary.tempo_bpm,
                key=summary.key,
                camelot=summary.camelot,
                integrated_lufs=summary.integrated_lufs,
                true_peak_dbtp=summary.true_peak_dbtp,
                lra_lu=summary.lra_lu,
                content_sha256=track.content_sha256,
                name=base,
                files=tuple(files),
            )
        )
    manifest = {
        "format": MANIFEST_FORMAT,
        "stemforge_version": __version__,
        "created_at": datetime.now(UTC).isoformat(),
        "layout": layout,
        "query": to_jsonable(query),
        "tracks": [t.to_dict() for t in tracks],
    }
    data = (json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
    writer.write_bytes(MANIFEST_NAME, data)
    progress("done", 1.0)
    return tuple(tracks)


def export_tracks(
    library: Library,
    query: SearchQuery | None,
    destination: str | Path,
    *,
    layout: str = "flat",
    progress: ProgressCallback = no_progress,
) -> ExportReport:
    """Export the tracks matching ``query`` to a new folder, or to a ``.zip`` when
    ``destination`` ends in ``.zip``. The destination must not exist (a folder may exist
    if it is empty). Raises :class:`NothingToExportError` when no track matches."""
    if layout not in LAYOUTS:
        raise LibraryError(f"unknown layout {layout!r}.", hint=f"Use one of: {', '.join(LAYOUTS)}.")
    query = query or SearchQuery()
    dest = Path(destination).expanduser().absolute()
    archive = dest.suffix.lower() == ".zip"
    if archive and dest.exists():
        raise OutputWriteError(
            "the archive already exists.", path=dest, hint="Remove it or choose another name."
        )
    if not archive and dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise OutputWriteError(
            "the export folder already exists and is not empty.",
            path=dest,
            hint="Choose a new folder (it is created) or an empty one.",
        )
    summaries = library.search(query)
    if not summaries:
        raise NothingToExportError(
            "no track matches the query, so there is nothing to export.",
            hint="Check the filters with `stemforge library search` first.",
        )
    plan = _plan(library, summaries, layout)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(dest, exc) from exc
    if archive:
        with atomic_output(dest) as handle, zipfile.ZipFile(handle, "w") as zf:
            tracks = _write_all(_ZipWriter(zf), plan, layout, query, progress)
    else:
        tmp = dest.parent / f".{dest.name}.{secrets.token_hex(4)}.tmp"
        try:
            tmp.mkdir()
            tracks = _write_all(_FolderWriter(tmp), plan, layout, query, progress)
            if dest.is_dir():
                dest.rmdir()  # empty (checked above); a rename cannot replace it everywhere
            os.replace(tmp, dest)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise write_error(dest, exc) from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return ExportReport(destination=str(dest), layout=layout, archive=archive, tracks=tracks)
