"""Tracks, versioned analyses, segments, tags and users (with the default local user).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    users = op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.bulk_insert(users, [{"name": "local", "created_at": datetime.now(UTC)}])
    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("content_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("original_path", sa.Text),
        sa.Column("in_place", sa.Boolean, nullable=False),
        sa.Column("file_name", sa.String(1000), nullable=False),
        sa.Column("file_format", sa.String(32)),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("sample_rate", sa.Integer),
        sa.Column("channels", sa.Integer),
        sa.Column("title", sa.String(1000)),
        sa.Column("artist", sa.String(1000)),
        sa.Column("album", sa.String(1000)),
        sa.Column("genre", sa.String(200)),
        sa.Column("year", sa.Integer),
        sa.Column("track_number", sa.Integer),
        sa.Column("tag_bpm", sa.Float),
        sa.Column("tag_key", sa.String(32)),
        sa.Column("duration_s", sa.Float),
        sa.Column("added_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_tracks_status", "tracks", ["status"])
    op.create_index("ix_tracks_genre", "tracks", ["genre"])
    op.create_index("ix_tracks_duration_s", "tracks", ["duration_s"])
    op.create_index("ix_tracks_added_at", "tracks", ["added_at"])
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "track_id",
            sa.Integer,
            sa.ForeignKey("tracks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("analysis_version", sa.Integer, nullable=False),
        sa.Column("algorithm_version", sa.String(100), nullable=False),
        sa.Column("is_current", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("tempo_bpm", sa.Float),
        sa.Column("key_name", sa.String(32)),
        sa.Column("key_tonic", sa.String(4)),
        sa.Column("key_mode", sa.String(8)),
        sa.Column("camelot", sa.String(3)),
        sa.Column("integrated_lufs", sa.Float),
        sa.Column("true_peak_dbtp", sa.Float),
        sa.Column("lra_lu", sa.Float),
        sa.Column("duration_s", sa.Float),
        sa.Column("result_json", sa.JSON, nullable=False),
        sa.UniqueConstraint("track_id", "analysis_version"),
    )
    op.create_index("ix_analyses_track_id", "analyses", ["track_id"])
    op.create_index("ix_analyses_current_tempo", "analyses", ["is_current", "tempo_bpm"])
    op.create_index("ix_analyses_current_camelot", "analyses", ["is_current", "camelot"])
    op.create_index("ix_analyses_current_lufs", "analyses", ["is_current", "integrated_lufs"])
    op.create_index("ix_analyses_current_duration", "analyses", ["is_current", "duration_s"])
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "track_id",
            sa.Integer,
            sa.ForeignKey("tracks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "analysis_id",
            sa.Integer,
            sa.ForeignKey("analyses.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("label", sa.String(64)),
        sa.Column("bar_count", sa.Integer),
        sa.Column("confidence", sa.Float),
    )
    op.create_index("ix_segments_track_kind", "segments", ["track_id", "kind", "position"])
    op.create_index("ix_segments_analysis_id", "segments", ["analysis_id"])
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
    )
    op.create_table(
        "track_tags",
        sa.Column(
            "track_id",
            sa.Integer,
            sa.ForeignKey("tracks.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "tag_id", sa.Integer, sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    op.create_index("ix_track_tags_tag_id", "track_tags", ["tag_id"])


def downgrade() -> None:
    for table in ("track_tags", "tags", "segments", "analyses", "tracks", "users"):
        op.drop_table(table)
