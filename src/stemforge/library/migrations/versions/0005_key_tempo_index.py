"""Search: one index over (current, Camelot code, tempo), so a compatible-key plus
BPM-range query reads only the matching rows (a range scan per compatible code) instead of
every track in the tempo range. It replaces the (current, Camelot) index, its prefix.

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-05
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_analyses_current_camelot_tempo", "analyses", ["is_current", "camelot", "tempo_bpm"]
    )
    op.drop_index("ix_analyses_current_camelot", table_name="analyses")


def downgrade() -> None:
    op.create_index("ix_analyses_current_camelot", "analyses", ["is_current", "camelot"])
    op.drop_index("ix_analyses_current_camelot_tempo", table_name="analyses")
