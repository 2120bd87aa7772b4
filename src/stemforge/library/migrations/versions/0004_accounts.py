"""Accounts for server mode: password hashes and admins, login sessions, tracks unique per
user (the same file in two users' libraries), the user who asked for a job.

Tracks without an owner (none should exist: ingest gives every track one) become the
local user's.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
#: Names SQLite's unnamed constraints get while a batch operation copies the table.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_on(table: str, columns: list[str]) -> str | None:
    """The name of the unique constraint over exactly ``columns`` (PostgreSQL names it)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints(table):
        if constraint["column_names"] == columns:
            return constraint["name"]
    return None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(400)))
        batch.add_column(
            sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_login_sessions_user_id", "login_sessions", ["user_id"])
    op.create_index("ix_login_sessions_expires_at", "login_sessions", ["expires_at"])

    op.execute(
        "UPDATE tracks SET user_id = (SELECT id FROM users WHERE name = 'local') "
        "WHERE user_id IS NULL"
    )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("tracks", naming_convention=NAMING) as batch:
            batch.drop_constraint("uq_tracks_content_sha256", type_="unique")
            batch.create_unique_constraint("uq_tracks_user_content", ["user_id", "content_sha256"])
    else:
        old = _unique_on("tracks", ["content_sha256"])
        if old is not None:
            op.drop_constraint(old, "tracks", type_="unique")
        op.create_unique_constraint(
            "uq_tracks_user_content", "tracks", ["user_id", "content_sha256"]
        )
    op.create_index("ix_tracks_content_sha256", "tracks", ["content_sha256"])

    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column(
                "user_id",
                sa.Integer,
                sa.ForeignKey("users.id", name="fk_jobs_user_id", ondelete="CASCADE"),
            )
        )
    op.create_index("ix_jobs_user_id", "jobs", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_user_id", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("fk_jobs_user_id", type_="foreignkey")
        batch.drop_column("user_id")
    op.drop_index("ix_tracks_content_sha256", table_name="tracks")
    with op.batch_alter_table("tracks") as batch:
        batch.drop_constraint("uq_tracks_user_content", type_="unique")
        batch.create_unique_constraint("uq_tracks_content_sha256", ["content_sha256"])
    op.drop_index("ix_login_sessions_expires_at", table_name="login_sessions")
    op.drop_index("ix_login_sessions_user_id", table_name="login_sessions")
    op.drop_table("login_sessions")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_admin")
        batch.drop_column("password_hash")
