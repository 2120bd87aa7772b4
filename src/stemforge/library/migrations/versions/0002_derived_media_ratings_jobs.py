"""Stems, samples, MIDI, lyrics, ratings and jobs.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _track_id() -> sa.Column:
    return sa.Column(
        "track_id", sa.Integer, sa.ForeignKey("tracks.id", ondelete="CASCADE"), nullable=False
    )


def _stem_id() -> sa.Column:
    return sa.Column("stem_id", sa.Integer, sa.ForeignKey("stems.id", ondelete="CASCADE"))


def upgrade() -> None:
    op.create_table(
        "stems",
        sa.Column("id", sa.Integer, primary_key=True),
        _track_id(),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("track_id", "model", "name"),
    )
    op.create_table(
        "samples",
        sa.Column("id", sa.Integer, primary_key=True),
        _track_id(),
        _stem_id(),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_samples_track_id", "samples", ["track_id"])
    op.create_index("ix_samples_category", "samples", ["category"])
    op.create_table(
        "midi",
        sa.Column("id", sa.Integer, primary_key=True),
        _track_id(),
        _stem_id(),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("note_count", sa.Integer),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_midi_track_id", "midi", ["track_id"])
    op.create_table(
        "lyrics",
        sa.Column("id", sa.Integer, primary_key=True),
        _track_id(),
        _stem_id(),
        sa.Column("language", sa.String(16)),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("words_json", sa.JSON),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_lyrics_track_id", "lyrics", ["track_id"])
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        _track_id(),
        sa.Column("segment_id", sa.Integer, sa.ForeignKey("segments.id", ondelete="CASCADE")),
        sa.Column("other_segment_id", sa.Integer, sa.ForeignKey("segments.id", ondelete="CASCADE")),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_ratings_user_id", "ratings", ["user_id"])
    op.create_index("ix_ratings_track_id", "ratings", ["track_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("track_id", sa.Integer, sa.ForeignKey("tracks.id", ondelete="CASCADE")),
        sa.Column("params_json", sa.JSON),
        sa.Column("result_json", sa.JSON),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_jobs_state_created", "jobs", ["state", "created_at"])
    op.create_index("ix_jobs_track_id", "jobs", ["track_id"])


def downgrade() -> None:
    for table in ("jobs", "ratings", "lyrics", "midi", "samples", "stems"):
        op.drop_table(table)
