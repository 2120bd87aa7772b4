"""Alembic environment: runs on the connection the library hands over (see ``db.migrate``)."""

from __future__ import annotations

from alembic import context

from stemforge.library.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()
