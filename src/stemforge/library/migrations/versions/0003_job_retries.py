"""Jobs: a dedupe key (one row per piece of work), retries with backoff, the owner.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(200)))
        batch.add_column(sa.Column("max_attempts", sa.Integer, nullable=False, server_default="3"))
        batch.add_column(sa.Column("next_run_at", TS))
        batch.add_column(sa.Column("owner", sa.String(200)))
    op.create_index("ux_jobs_dedupe_key", "jobs", ["dedupe_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_jobs_dedupe_key", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        for column in ("owner", "next_run_at", "max_attempts", "dedupe_key"):
            batch.drop_column(column)
