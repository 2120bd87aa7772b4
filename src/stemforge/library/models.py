"""SQLAlchemy 2 models of the library (the schema at the Alembic head revision).

Search columns are copied out of each analysis's full JSON so that every filter of
``library search`` is a B-tree index lookup (tempo, Camelot code, loudness, duration,
date added); the JSON keeps everything else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Track states: ``pending`` (row made, media or analysis not stored yet: an interrupted
#: ingest resumes it) and ``ready`` (its analysis is stored; listed and searched).
TRACK_PENDING = "pending"
TRACK_READY = "ready"

#: Job states (the jobs layer drives them).
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")

#: Segment kinds from the structure analysis (issue #3).
SEGMENT_KINDS = ("bar", "phrase", "section")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class User(Base):
    """An account. ``local`` (made by the first migration) owns the library in local mode;
    server mode's accounts have a ``password_hash`` (scrypt, see ``stemforge.web.auth``)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_hash: Mapped[str | None] = mapped_column(String(400))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class LoginSession(Base):
    """A login of server mode: the SHA-256 of the random token in the browser's cookie
    (the token itself is never stored), valid until ``expires_at``."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Track(Base):
    __tablename__ = "tracks"
    #: One copy of a file per user (the same file in two users' libraries is two tracks).
    __table_args__ = (UniqueConstraint("user_id", "content_sha256", name="uq_tracks_user_content"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=TRACK_PENDING, index=True)
    #: The owner; none means the local user's (tracks made before accounts existed).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source_path: Mapped[str] = mapped_column(Text)
    original_path: Mapped[str | None] = mapped_column(Text)
    in_place: Mapped[bool] = mapped_column(Boolean, default=False)
    file_name: Mapped[str] = mapped_column(String(1000))
    file_format: Mapped[str | None] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(1000))
    artist: Mapped[str | None] = mapped_column(String(1000))
    album: Mapped[str | None] = mapped_column(String(1000))
    genre: Mapped[str | None] = mapped_column(String(200), index=True)
    year: Mapped[int | None] = mapped_column(Integer)
    track_number: Mapped[int | None] = mapped_column(Integer)
    tag_bpm: Mapped[float | None] = mapped_column(Float)
    tag_key: Mapped[str | None] = mapped_column(String(32))
    duration_s: Mapped[float | None] = mapped_column(Float, index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    analyses: Mapped[list[Analysis]] = relationship(
        back_populates="track", cascade="all, delete-orphan", passive_deletes=True
    )
    tags: Mapped[list[Tag]] = relationship(secondary="track_tags", back_populates="tracks")


class Analysis(Base):
    """One run of the analysis over a track; the newest is ``is_current``."""

    __tablename__ = "analyses"
    __table_args__ = (
        UniqueConstraint("track_id", "analysis_version"),
        Index("ix_analyses_current_tempo", "is_current", "tempo_bpm"),
        Index("ix_analyses_current_camelot_tempo", "is_current", "camelot", "tempo_bpm"),
        Index("ix_analyses_current_lufs", "is_current", "integrated_lufs"),
        Index("ix_analyses_current_duration", "is_current", "duration_s"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    analysis_version: Mapped[int] = mapped_column(Integer)
    algorithm_version: Mapped[str] = mapped_column(String(100))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    tempo_bpm: Mapped[float | None] = mapped_column(Float)
    key_name: Mapped[str | None] = mapped_column(String(32))
    key_tonic: Mapped[str | None] = mapped_column(String(4))
    key_mode: Mapped[str | None] = mapped_column(String(8))
    camelot: Mapped[str | None] = mapped_column(String(3))
    integrated_lufs: Mapped[float | None] = mapped_column(Float)
    true_peak_dbtp: Mapped[float | None] = mapped_column(Float)
    lra_lu: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    result_json: Mapped[dict[str, Any]] = mapped_column(JSON)

    track: Mapped[Track] = relationship(back_populates="analyses")


class Segment(Base):
    """A bar, phrase or section of a track, from one analysis."""

    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_track_kind", "track_id", "kind", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    analysis_id: Mapped[int] = mapped_column(
        ForeignKey("analyses.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(64))
    bar_count: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[float | None] = mapped_column(Float)


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)

    tracks: Mapped[list[Track]] = relationship(secondary="track_tags", back_populates="tags")


class TrackTag(Base):
    __tablename__ = "track_tags"

    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Stem(Base):
    __tablename__ = "stems"
    __table_args__ = (UniqueConstraint("track_id", "model", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Sample(Base):
    __tablename__ = "samples"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    stem_id: Mapped[int | None] = mapped_column(ForeignKey("stems.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Midi(Base):
    __tablename__ = "midi"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    stem_id: Mapped[int | None] = mapped_column(ForeignKey("stems.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(Text)
    note_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lyrics(Base):
    __tablename__ = "lyrics"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    stem_id: Mapped[int | None] = mapped_column(ForeignKey("stems.id", ondelete="CASCADE"))
    language: Mapped[str | None] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    words_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rating(Base):
    """A user's rating of a track, or of a segment pairing (mashup matching)."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"))
    other_segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id", ondelete="CASCADE")
    )
    value: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A unit of work over the library; its row is its state, so a restart loses nothing."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_created", "state", "created_at"),
        Index("ux_jobs_dedupe_key", "dedupe_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    track_id: Mapped[int | None] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), index=True
    )
    params_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: One row per piece of work (``ingest:<sha256>``, ``analyze:<track id>``): a rerun
    #: after a crash finds and reuses it instead of queueing a duplicate.
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    next_run_at: Mapped[datetime | None] = mapped_column()  # a retry waits until then
    owner: Mapped[str | None] = mapped_column(String(200))  # "host:pid" running it
    #: The user who asked for it (web uploads); none for the command line's jobs.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
