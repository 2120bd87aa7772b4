"""The track library: a database of tracks and their analyses, and the media store.

>>> lib = Library.open()                                     # doctest: +SKIP
>>> report = lib.add(["~/Music"])                            # doctest: +SKIP
>>> lib.search(SearchQuery(bpm_min=120, bpm_max=128, compatible_with="8A"))  # doctest: +SKIP

Media store (ARCHITECTURE.md, "Storage"): ``STEMFORGE_HOME/media/<track_id>/`` holds
``original.<ext>`` (a copy; or nothing when the original is referenced in place),
``stems/<model>/<stem>.flac``, ``samples/``, ``midi/`` and ``segments/``. Originals are
only ever read.

Ingest is resumable: a file's track row is made ``pending`` first (keyed by the SHA-256 of
its bytes, unique), then the original is copied and analysed, and one transaction stores
the analysis, its segments and the ``ready`` state. Running the same ``add`` again after
an interruption finds the pending row by its hash and finishes it; a file that fails is
removed again, rows and media, so nothing half-made is left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from stemforge import config
from stemforge.audio.io import AUDIO_SUFFIXES
from stemforge.errors import OutputWriteError, StemforgeError
from stemforge.library import camelot
from stemforge.library.analyzers import FULL_ANALYZER, Analyzer
from stemforge.library.db import (
    DATABASE_URL_ENV,
    create_library_engine,
    migrate,
    normalize_url,
    translate_errors,
)
from stemforge.library.errors import LibraryError, TrackNotFoundError
from stemforge.library.metadata import read_metadata
from stemforge.library.models import (
    TRACK_PENDING,
    TRACK_READY,
    Analysis,
    Segment,
    Tag,
    Track,
    TrackTag,
    User,
)
from stemforge.library.results import (
    ADDED,
    DUPLICATE,
    FAILED,
    AnalysisInfo,
    IngestItem,
    IngestReport,
    ReanalyzeItem,
    ReanalyzeReport,
    RemovedTrack,
    SegmentInfo,
    TrackDetail,
    TrackSummary,
)
from stemforge.output import atomic_output
from stemforge.progress import ProgressCallback, no_progress
from stemforge.results import finite_or_none

SORT_KEYS = ("bpm", "key", "lufs", "duration", "title", "added")
MEDIA_SUBFOLDERS = ("stems", "samples", "midi", "segments")
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class SearchQuery:
    """Filters of ``library search`` (all optional, combined with AND)."""

    text: str | None = None  # in title, artist, album or file name
    bpm_min: float | None = None
    bpm_max: float | None = None
    key: str | None = None  # "A minor", "Am", "8A": this key exactly
    compatible_with: str | None = None  # same, relative or Camelot ±1
    lufs_min: float | None = None
    lufs_max: float | None = None
    genre: str | None = None
    tag: str | None = None
    duration_min_s: float | None = None
    duration_max_s: float | None = None
    sort: str = "added"
    descending: bool = False
    limit: int | None = None
    offset: int = 0
    #: Only this user's tracks (server mode); None: every track. Tracks with no owner
    #: belong to the local user.
    user_id: int | None = None
    #: Only these tracks (a track page's export); None: no restriction.
    track_ids: tuple[int, ...] | None = None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def collect_audio_files(paths: Iterable[str | Path]) -> list[tuple[Path, str | None]]:
    """Files to ingest, in a stable order: given files as they are, folders searched
    recursively for :data:`AUDIO_SUFFIXES` (hidden files skipped). A path that does not
    exist comes back with its reason."""
    found: list[tuple[Path, str | None]] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if name.startswith(".") or Path(name).suffix.lower() not in AUDIO_SUFFIXES:
                        continue
                    file = Path(root) / name
                    if file.resolve() not in seen:
                        seen.add(file.resolve())
                        found.append((file, None))
        elif path.is_file():
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append((path, None))
        else:
            found.append((path, "not found: no such file or folder."))
    return found


def _iso(value) -> str:
    return value.isoformat() if value is not None else ""


class Library:
    """A track library on one database and one media folder."""

    def __init__(self, engine: Engine, media_root: Path):
        self.engine = engine
        self.media_root = media_root
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._local_user_id: int | None = None

    # --- opening ------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str | None = None, *, home: str | Path | None = None) -> Library:
        """Open (and migrate to the newest schema) the library at ``url`` (default:
        ``STEMFORGE_DATABASE_URL`` or ``STEMFORGE_HOME/library.db``)."""
        root = Path(home).expanduser() if home is not None else config.home()
        if url is None:
            url = os.environ.get(DATABASE_URL_ENV) or f"sqlite:///{root / 'library.db'}"
        engine = create_library_engine(normalize_url(url))
        migrate(engine)
        return cls(engine, root / "media")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def session(self):
        """A session in one transaction: committed on success, rolled back on error."""
        with translate_errors(self._where()), self._sessions() as session, session.begin():
            yield session

    def _where(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def media_folder(self, track_id: int) -> Path:
        return self.media_root / str(track_id)

    def original_file(self, track: Track) -> Path:
        if track.original_path is None:
            raise LibraryError(f"track {track.id} has no stored original yet.")
        path = Path(track.original_path)
        return path if path.is_absolute() else self.media_root / path

    # --- ingest -------------------------------------------------------------------------

    def add(
        self,
        paths: Sequence[str | Path],
        *,
        in_place: bool = False,
        progress: ProgressCallback = no_progress,
        analyzer: Analyzer = FULL_ANALYZER,
        user_id: int | None = None,
    ) -> IngestReport:
        """Add files and folders (recursively): copy or reference each original, read its
        tags, analyse it, store it, owned by ``user_id`` (None: the local user). Duplicates
        (same SHA-256 in the owner's library) and failures are reported, not raised; a full
        or read-only disk stops the scan with :class:`OutputWriteError`."""
        files = collect_audio_files(paths)
        items: list[IngestItem] = []
        for index, (path, problem) in enumerate(files):
            base = index / max(len(files), 1)

            def step(name: str, fraction: float, _base=base, _path=path) -> None:
                progress(f"{_path.name}: {name}", _base + fraction / max(len(files), 1))

            step("hashing", 0.0)
            if problem is not None:
                items.append(IngestItem(str(path), FAILED, reason=problem))
                continue
            items.append(
                self._ingest_one(
                    path, in_place=in_place, analyzer=analyzer, step=step, user_id=user_id
                )
            )
        progress("done", 1.0)
        return IngestReport(tuple(items))

    def _ingest_one(
        self,
        path: Path,
        *,
        in_place: bool,
        analyzer: Analyzer,
        step: ProgressCallback,
        reraise: tuple[type[BaseException], ...] = (),
        user_id: int | None = None,
    ) -> IngestItem:
        """Ingest one file for ``user_id`` (None: the local user). Errors become a failed
        item, except those of ``reraise`` (the jobs layer retries transient ones), which are
        raised after the track is discarded."""
        from stemforge.audio import info

        try:
            digest = sha256_file(path)
        except OSError as exc:
            return IngestItem(str(path), FAILED, reason=f"cannot read it ({exc.strerror or exc}).")
        owner = self.local_user_id() if user_id is None else user_id
        with self.session() as session:
            mine = self._owned_by(owner) if owner is not None else Track.user_id.is_(None)
            track = session.scalar(select(Track).where(Track.content_sha256 == digest, mine))
            state = None if track is None else (track.id, track.status)
        if state is not None and state[1] == TRACK_READY:
            return IngestItem(str(path), DUPLICATE, track_id=state[0])
        resumed = state is not None
        if state is None:
            try:
                file_info = info(path)
            except StemforgeError as exc:
                return IngestItem(str(path), FAILED, reason=str(exc))
            track_id = self._create_pending(path, digest, file_info, in_place, owner)
            if track_id is None:  # another process added it meanwhile
                return self._ingest_one(
                    path,
                    in_place=in_place,
                    analyzer=analyzer,
                    step=step,
                    reraise=reraise,
                    user_id=user_id,
                )
        else:
            track_id = state[0]
        try:
            stored = self._store_original(track_id, path, in_place=in_place)
            step("analysing", 0.1)
            result = analyzer.run(stored, lambda name, f: step(name, 0.1 + 0.85 * f))
            with self.session() as session:
                track = session.get_one(Track, track_id)
                track.original_path = (
                    str(stored) if in_place else str(stored.relative_to(self.media_root))
                )
                track.in_place = in_place
                self._store_analysis(session, track, result, analyzer.algorithm_version)
                track.status = TRACK_READY
        except OutputWriteError:
            self._discard(track_id)
            raise
        except Exception as exc:  # a decoder or analysis bug must not stop the scan
            self._discard(track_id)
            if isinstance(exc, reraise):
                raise
            if isinstance(exc, StemforgeError):
                return IngestItem(str(path), FAILED, reason=str(exc))
            return IngestItem(str(path), FAILED, reason=f"{type(exc).__name__}: {exc}")
        return IngestItem(str(path), ADDED, track_id=track_id, resumed=resumed)

    def _create_pending(
        self, path: Path, digest: str, file_info, in_place: bool, owner: int | None
    ) -> int | None:
        meta = read_metadata(path)
        try:
            with self.session() as session:
                track = Track(
                    content_sha256=digest,
                    status=TRACK_PENDING,
                    user_id=owner,
                    source_path=str(path.resolve()),
                    in_place=in_place,
                    file_name=path.name,
                    file_format=getattr(file_info, "container", None) or path.suffix.lstrip("."),
                    size_bytes=path.stat().st_size,
                    sample_rate=getattr(file_info, "sample_rate", None),
                    channels=getattr(file_info, "channels", None),
                    duration_s=finite_or_none(getattr(file_info, "duration_s", None)),
                    **meta.to_dict(),
                )
                session.add(track)
                session.flush()
                return track.id
        except LibraryError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return None
            raise

    def _store_original(self, track_id: int, path: Path, *, in_place: bool) -> Path:
        folder = self.media_folder(track_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputWriteError(
                f"cannot create the media folder ({exc.strerror or exc}).",
                path=folder,
                hint=f"Set {config.HOME_ENV} to a writable folder with free space.",
            ) from exc
        if in_place:
            return path.resolve()
        dest = folder / f"original{path.suffix.lower()}"
        for stale in folder.glob(".original*.tmp"):  # left by an interrupted copy
            stale.unlink(missing_ok=True)
        if dest.is_file() and dest.stat().st_size == path.stat().st_size:
            return dest  # copied before an interruption (atomic: whole or absent)
        with open(path, "rb") as source, atomic_output(dest) as target:
            shutil.copyfileobj(source, target, _HASH_CHUNK)
        return dest

    def _discard(self, track_id: int) -> None:
        """Remove a track that did not finish: its rows and its media folder."""
        with contextlib.suppress(StemforgeError):
            with self.session() as session:
                session.execute(delete(Track).where(Track.id == track_id))
            shutil.rmtree(self.media_folder(track_id), ignore_errors=True)

    def _store_analysis(
        self, session: Session, track: Track, result: dict[str, Any], algorithm_version: str
    ) -> Analysis:
        loud = result.get("loudness") or {}
        music = result.get("music") or {}
        key = music.get("key") or {}
        rhythm = music.get("rhythm") or {}
        code = key.get("camelot")
        if not code and key.get("tonic") and key.get("mode"):
            code = camelot.camelot_code(key["tonic"], key["mode"])
        previous = session.scalar(
            select(func.max(Analysis.analysis_version)).where(Analysis.track_id == track.id)
        )
        session.execute(
            update(Analysis).where(Analysis.track_id == track.id).values(is_current=False)
        )
        analysis = Analysis(
            track_id=track.id,
            analysis_version=(previous or 0) + 1,
            algorithm_version=algorithm_version,
            is_current=True,
            tempo_bpm=finite_or_none(rhythm.get("tempo_bpm")),
            key_name=key.get("key"),
            key_tonic=key.get("tonic"),
            key_mode=key.get("mode"),
            camelot=code,
            integrated_lufs=finite_or_none(loud.get("integrated_lufs")),
            true_peak_dbtp=finite_or_none(loud.get("true_peak_dbtp")),
            lra_lu=finite_or_none(loud.get("loudness_range_lu")),
            duration_s=finite_or_none(result.get("duration_s")),
            result_json=result,
        )
        session.add(analysis)
        session.flush()
        structure = music.get("structure") or {}
        rows = []
        for i, bar in enumerate(structure.get("bars") or []):
            rows.append(Segment(kind="bar", position=i, start_s=bar["start_s"], end_s=bar["end_s"]))
        for i, phrase in enumerate(structure.get("phrases") or []):
            rows.append(
                Segment(
                    kind="phrase",
                    position=i,
                    start_s=phrase["start_s"],
                    end_s=phrase["end_s"],
                    bar_count=phrase.get("bars"),
                )
            )
        for i, section in enumerate(structure.get("sections") or []):
            rows.append(
                Segment(
                    kind="section",
                    position=i,
                    start_s=section["start_s"],
                    end_s=section["end_s"],
                    label=section.get("label"),
                    bar_count=section.get("bars"),
                    confidence=finite_or_none(section.get("confidence")),
                )
            )
        for row in rows:
            row.track_id = track.id
            row.analysis_id = analysis.id
        session.add_all(rows)
        if track.duration_s is None:
            track.duration_s = analysis.duration_s
        return analysis

    # --- queries ------------------------------------------------------------------------

    def search(
        self, query: SearchQuery | None = None, *, user_id: int | None = None
    ) -> list[TrackSummary]:
        """Ready tracks matching ``query``, sorted; every range filter is index-backed.
        ``user_id`` (or ``query.user_id``): only that user's tracks."""
        q = query or SearchQuery()
        if user_id is not None:
            q = dataclasses.replace(q, user_id=user_id)
        if q.sort not in SORT_KEYS:
            raise LibraryError(
                f"cannot sort by {q.sort!r}.", hint=f"Sort by one of: {', '.join(SORT_KEYS)}."
            )
        # plain columns, not ORM objects: building 1,400 Track/Analysis instances took
        # most of a BPM-range search's time; a summary needs only these
        stmt = self._filtered(select(*_SUMMARY_COLUMNS), q)
        order = {
            "bpm": [Analysis.tempo_bpm],
            "key": [func.length(Analysis.camelot), Analysis.camelot],
            "lufs": [Analysis.integrated_lufs],
            "duration": [Track.duration_s],
            "title": [func.lower(Track.title)],
            "added": [Track.added_at],
        }[q.sort]
        stmt = stmt.order_by(
            *((c.desc() if q.descending else c.asc()).nulls_last() for c in order),
            Track.id.desc() if q.descending else Track.id.asc(),
        )
        if q.limit is not None:
            stmt = stmt.limit(q.limit)
        if q.offset:
            stmt = stmt.offset(q.offset)
        # Core, not the ORM session: no identity map or ORM row processing for plain columns
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
            if len(rows) <= _TAG_IDS_INLINE:
                tags = self._tags_of(conn, [row[0] for row in rows])
            else:  # the same filter as a subquery: 1,400 bound ids cost PostgreSQL 20 ms
                tags = self._tags_of(conn, self._filtered(select(Track.id), q))
        return [_summary_from_row(row, tags.get(row[0], ())) for row in rows]

    def count(self, query: SearchQuery | None = None, *, user_id: int | None = None) -> int:
        """How many ready tracks match ``query`` (its sort, limit and offset aside): the
        total of a paginated search."""
        q = query or SearchQuery()
        if user_id is not None:
            q = dataclasses.replace(q, user_id=user_id)
        stmt = self._filtered(select(func.count()).select_from(Track), q)
        with translate_errors(self._where()), self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def local_user_id(self) -> int | None:
        """The id of the ``local`` user (the owner in local mode and of tracks without
        one), or None in a database without it."""
        if self._local_user_id is None:
            with self.session() as session:
                self._local_user_id = session.scalar(select(User.id).where(User.name == "local"))
        return self._local_user_id

    def _owned_by(self, user_id: int):
        """The SQL condition "the track is ``user_id``'s" (tracks without an owner are the
        local user's)."""
        if user_id == self.local_user_id():
            return or_(Track.user_id == user_id, Track.user_id.is_(None))
        return Track.user_id == user_id

    def _filtered(self, stmt, q: SearchQuery):
        """``stmt`` over ready tracks joined to their current analysis, with the filters of
        ``q`` (not its order or page)."""
        stmt = stmt.join(
            Analysis, and_(Analysis.track_id == Track.id, Analysis.is_current.is_(True))
        ).where(Track.status == TRACK_READY)
        if q.user_id is not None:
            stmt = stmt.where(self._owned_by(q.user_id))
        if q.track_ids is not None:
            stmt = stmt.where(Track.id.in_(q.track_ids))
        if q.text:
            pattern = f"%{q.text.lower()}%"
            stmt = stmt.where(
                or_(
                    *(
                        func.lower(column).like(pattern)
                        for column in (Track.title, Track.artist, Track.album, Track.file_name)
                    )
                )
            )
        for column, low, high in (
            (Analysis.tempo_bpm, q.bpm_min, q.bpm_max),
            (Analysis.integrated_lufs, q.lufs_min, q.lufs_max),
            (Track.duration_s, q.duration_min_s, q.duration_max_s),
        ):
            if low is not None:
                stmt = stmt.where(column >= low)
            if high is not None:
                stmt = stmt.where(column <= high)
        if q.key:
            stmt = stmt.where(Analysis.camelot == camelot.parse_key(q.key))
        if q.compatible_with:
            codes = camelot.compatible_codes(camelot.parse_key(q.compatible_with))
            stmt = stmt.where(Analysis.camelot.in_(codes))
        if q.genre:
            stmt = stmt.where(func.lower(Track.genre) == q.genre.lower())
        if q.tag:
            tagged = (
                select(TrackTag.track_id)
                .join(Tag, Tag.id == TrackTag.tag_id)
                .where(Tag.name == q.tag.strip().lower())
            )
            stmt = stmt.where(Track.id.in_(tagged))
        return stmt

    def _tags_of(
        self, session: Session | Connection, track_ids: list[int] | Select
    ) -> dict[int, tuple[str, ...]]:
        """Tag names by track: of ``track_ids``, a list or a query selecting the ids."""
        if isinstance(track_ids, list) and not track_ids:
            return {}
        out: dict[int, list[str]] = {}
        rows = session.execute(
            select(TrackTag.track_id, Tag.name)
            .join(Tag, Tag.id == TrackTag.tag_id)
            .where(TrackTag.track_id.in_(track_ids))
            .order_by(Tag.name)
        )
        for track_id, name in rows:
            out.setdefault(track_id, []).append(name)
        return {k: tuple(v) for k, v in out.items()}

    def _get(self, session: Session, track_id: int, user_id: int | None = None) -> Track:
        """The track, or :class:`TrackNotFoundError`; with ``user_id`` another user's
        track is not found either (it must not even be known to exist)."""
        track = session.get(Track, track_id)
        if track is not None and user_id is not None:
            owner = track.user_id if track.user_id is not None else self.local_user_id()
            if owner != user_id:
                track = None
        if track is None:
            raise TrackNotFoundError(
                f"no track has id {track_id}.", hint="List the ids with `stemforge library list`."
            )
        return track

    def find_track(self, content_sha256: str, *, user_id: int | None = None) -> int | None:
        """The id of the ready track with these bytes in ``user_id``'s library (None: the
        local user's), or None."""
        owner = self.local_user_id() if user_id is None else user_id
        mine = self._owned_by(owner) if owner is not None else Track.user_id.is_(None)
        with self.session() as session:
            return session.scalar(
                select(Track.id)
                .where(Track.content_sha256 == content_sha256, Track.status == TRACK_READY, mine)
                .limit(1)
            )

    def track(self, track_id: int, *, user_id: int | None = None) -> Track:
        """The track's row (detached: read its columns, change nothing)."""
        with self.session() as session:
            return self._get(session, track_id, user_id)

    def show(self, track_id: int, *, user_id: int | None = None) -> TrackDetail:
        """Everything known about a track: metadata, analysis summary, sections, files.
        With ``user_id``, only that user's track (another's is not found)."""
        with self.session() as session:
            track = self._get(session, track_id, user_id)
            analyses = session.scalars(
                select(Analysis)
                .where(Analysis.track_id == track_id)
                .order_by(Analysis.analysis_version)
            ).all()
            current = next((a for a in analyses if a.is_current), None)
            tags = self._tags_of(session, [track_id]).get(track_id, ())
            segments = (
                session.scalars(
                    select(Segment)
                    .where(Segment.analysis_id == current.id)
                    .order_by(Segment.kind, Segment.position)
                ).all()
                if current
                else []
            )
            music = (current.result_json or {}).get("music", {}) if current else {}
            folder = self.media_folder(track_id)
            files = (
                tuple(str(p.relative_to(folder)) for p in sorted(folder.rglob("*")) if p.is_file())
                if folder.is_dir()
                else ()
            )
            original = self.original_file(track) if track.original_path else None
            return TrackDetail(
                summary=_summary(track, current, tags),
                status=track.status,
                content_sha256=track.content_sha256,
                year=track.year,
                track_number=track.track_number,
                tag_bpm=track.tag_bpm,
                tag_key=track.tag_key,
                file_format=track.file_format,
                sample_rate=track.sample_rate,
                channels=track.channels,
                size_bytes=track.size_bytes,
                source_path=track.source_path,
                original_path=str(original) if original else None,
                in_place=track.in_place,
                media_folder=str(folder),
                files=files,
                time_signature=(music.get("rhythm") or {}).get("time_signature"),
                key_confidence=finite_or_none((music.get("key") or {}).get("confidence")),
                tempo_confidence=finite_or_none((music.get("rhythm") or {}).get("confidence")),
                bar_count=sum(1 for s in segments if s.kind == "bar"),
                phrase_count=sum(1 for s in segments if s.kind == "phrase"),
                sections=tuple(
                    SegmentInfo(
                        kind=s.kind,
                        position=s.position,
                        start_s=s.start_s,
                        end_s=s.end_s,
                        label=s.label,
                        bar_count=s.bar_count,
                        confidence=s.confidence,
                    )
                    for s in segments
                    if s.kind == "section"
                ),
                analyses=tuple(
                    AnalysisInfo(
                        a.analysis_version, a.algorithm_version, a.is_current, _iso(a.created_at)
                    )
                    for a in analyses
                ),
            )

    def analysis_json(self, track_id: int, *, user_id: int | None = None) -> dict[str, Any]:
        """The full stored ``MixAnalysis.to_dict()`` of the current analysis."""
        with self.session() as session:
            self._get(session, track_id, user_id)
            analysis = session.scalar(
                select(Analysis).where(Analysis.track_id == track_id, Analysis.is_current)
            )
            if analysis is None:
                raise LibraryError(f"track {track_id} has no analysis yet.")
            return analysis.result_json

    # --- changes ------------------------------------------------------------------------

    def tag(
        self,
        track_id: int,
        tags: Sequence[str],
        *,
        remove: bool = False,
        user_id: int | None = None,
    ) -> tuple[str, ...]:
        """Add (or remove) tags; returns the track's tags afterwards. Tags are lower case."""
        names = sorted({t.strip().lower() for t in tags if t.strip()})
        with self.session() as session:
            self._get(session, track_id, user_id)
            if remove:
                ids = select(Tag.id).where(Tag.name.in_(names))
                session.execute(
                    delete(TrackTag).where(TrackTag.track_id == track_id, TrackTag.tag_id.in_(ids))
                )
            else:
                for name in names:
                    tag = session.scalar(select(Tag).where(Tag.name == name))
                    if tag is None:
                        tag = Tag(name=name)
                        session.add(tag)
                        session.flush()
                    if session.get(TrackTag, (track_id, tag.id)) is None:
                        session.add(TrackTag(track_id=track_id, tag_id=tag.id))
            session.flush()
            return self._tags_of(session, [track_id]).get(track_id, ())

    def remove(self, track_id: int, *, user_id: int | None = None) -> RemovedTrack:
        """Remove what stemforge derived from a track: its rows and its media folder. An
        original referenced in place stays where it is."""
        with self.session() as session:
            track = self._get(session, track_id, user_id)
            title, in_place, source = track.title, track.in_place, track.original_path
            session.delete(track)
        folder = self.media_folder(track_id)
        existed = folder.is_dir()
        shutil.rmtree(folder, ignore_errors=True)
        return RemovedTrack(
            track_id=track_id,
            title=title,
            removed_folder=str(folder) if existed else None,
            kept_original=source if in_place else None,
        )

    def outdated(self, algorithm_version: str = FULL_ANALYZER.algorithm_version) -> list[int]:
        """Ids of ready tracks whose current analysis came from another algorithm version."""
        with self.session() as session:
            return list(
                session.scalars(
                    select(Track.id)
                    .join(Analysis, and_(Analysis.track_id == Track.id, Analysis.is_current))
                    .where(
                        Track.status == TRACK_READY,
                        Analysis.algorithm_version != algorithm_version,
                    )
                    .order_by(Track.id)
                )
            )

    def track_ids(self) -> list[int]:
        with self.session() as session:
            return list(
                session.scalars(
                    select(Track.id).where(Track.status == TRACK_READY).order_by(Track.id)
                )
            )

    def reanalyze(
        self,
        track_ids: Sequence[int] | None = None,
        *,
        outdated: bool = False,
        progress: ProgressCallback = no_progress,
        analyzer: Analyzer = FULL_ANALYZER,
    ) -> ReanalyzeReport:
        """Run the analysis again and store it as a new version (the old ones are kept).
        ``track_ids=None`` means all ready tracks, or with ``outdated`` only those analysed
        by another algorithm version."""
        if track_ids is None:
            ids = self.outdated(analyzer.algorithm_version) if outdated else self.track_ids()
        else:
            ids = list(track_ids)
            with self.session() as session:
                for track_id in ids:
                    self._get(session, track_id)
        items: list[ReanalyzeItem] = []
        for index, track_id in enumerate(ids):
            progress(f"track {track_id}", index / max(len(ids), 1))
            try:
                version = self.analyze_track(track_id, analyzer=analyzer)
                items.append(ReanalyzeItem(track_id, "analysed", analysis_version=version))
            except OutputWriteError:
                raise
            except StemforgeError as exc:
                items.append(ReanalyzeItem(track_id, "failed", reason=str(exc)))
        progress("done", 1.0)
        return ReanalyzeReport(tuple(items), analyzer.algorithm_version)

    def analyze_track(
        self,
        track_id: int,
        *,
        analyzer: Analyzer = FULL_ANALYZER,
        progress: ProgressCallback = no_progress,
    ) -> int:
        """Analyse one track again and store it as its new current analysis; returns the
        new analysis version."""
        with self.session() as session:
            path = self.original_file(self._get(session, track_id))
        result = analyzer.run(path, progress)
        with self.session() as session:
            track = self._get(session, track_id)
            analysis = self._store_analysis(session, track, result, analyzer.algorithm_version)
            track.status = TRACK_READY
            return analysis.analysis_version


#: Up to this many tracks, their tags are fetched by id; beyond, by the search's filter.
_TAG_IDS_INLINE = 200

_SUMMARY_COLUMNS = (
    Track.id,
    Track.title,
    Track.artist,
    Track.album,
    Track.genre,
    Track.file_name,
    Analysis.tempo_bpm,
    Analysis.key_name,
    Analysis.camelot,
    Analysis.integrated_lufs,
    Analysis.true_peak_dbtp,
    Analysis.lra_lu,
    Track.duration_s,
    Track.added_at,
)


def _summary_from_row(row, tags: tuple[str, ...]) -> TrackSummary:
    """A summary from one row of :data:`_SUMMARY_COLUMNS` (same order as the fields;
    positional, because named access on a result row costs more than the rest)."""
    *fields, added_at = row
    return TrackSummary(*fields, _iso(added_at), tags)


def _summary(track: Track, analysis: Analysis | None, tags: tuple[str, ...]) -> TrackSummary:
    return TrackSummary(
        id=track.id,
        title=track.title,
        artist=track.artist,
        album=track.album,
        genre=track.genre,
        file_name=track.file_name,
        tempo_bpm=analysis.tempo_bpm if analysis else None,
        key=analysis.key_name if analysis else None,
        camelot=analysis.camelot if analysis else None,
        integrated_lufs=analysis.integrated_lufs if analysis else None,
        true_peak_dbtp=analysis.true_peak_dbtp if analysis else None,
        lra_lu=analysis.lra_lu if analysis else None,
        duration_s=track.duration_s,
        added_at=_iso(track.added_at),
        tags=tags,
    )
