"""Engines, sessions and migrations.

SQLite in WAL mode at ``STEMFORGE_HOME/library.db`` is the default; a PostgreSQL server
through ``STEMFORGE_DATABASE_URL`` (``postgresql://user@host/db``). Opening a database
runs the Alembic migrations up to the head revision, so a database made by an older
stemforge is upgraded on start.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from stemforge import config
from stemforge.library.errors import DatabaseError, LibraryWriteError

DATABASE_URL_ENV = "STEMFORGE_DATABASE_URL"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: SQLite waits this long for another writer before giving up (ms).
SQLITE_BUSY_TIMEOUT_MS = 30_000

_WRITE_FAILURES = (
    "disk is full",
    "disk i/o error",
    "readonly database",
    "read-only",
    "no space left",
    "file too large",
    "could not extend file",
    "could not write",
)


def database_url() -> str:
    """``STEMFORGE_DATABASE_URL``, or the SQLite file ``STEMFORGE_HOME/library.db``."""
    value = os.environ.get(DATABASE_URL_ENV)
    if value:
        return normalize_url(value)
    return f"sqlite:///{config.home() / 'library.db'}"


def normalize_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs (SQLAlchemy's default would be psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_library_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).expanduser().resolve().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LibraryWriteError(
                    f"cannot create the library folder ({exc.strerror or exc}).",
                    path=folder,
                    hint=f"Set {config.HOME_ENV} to a writable folder.",
                ) from exc
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:
        raise DatabaseError(
            f"cannot use the database URL {_safe(url)!r} ({exc}).",
            hint=f"Check {DATABASE_URL_ENV}: e.g. postgresql://user@host:5432/stemforge.",
        ) from exc


def _safe(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations on ``engine`` up to ``revision`` (default: the head)."""
    from alembic import command

    with translate_errors(engine.url.render_as_string(hide_password=True)):
        if revision == "head" and current_revision(engine) == head_revision():
            return
        cfg = _alembic_config()
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)


@contextlib.contextmanager
def translate_errors(where: str) -> Iterator[None]:
    """Turn driver errors into :class:`DatabaseError` with an actionable message."""
    try:
        yield
    except SQLAlchemyError as exc:
        text = str(getattr(exc, "orig", exc) or exc)
        if any(marker in text.lower() for marker in _WRITE_FAILURES):
            raise LibraryWriteError(
                f"the library database could not be written ({text.strip()}).",
                path=where,
                hint="Free some disk space or make the folder writable, then run the command "
                "again; nothing half-written was kept.",
            ) from exc
        raise DatabaseError(
            f"the library database failed ({text.strip()}).",
            path=where,
            hint=f"Check that the database is reachable ({DATABASE_URL_ENV}) and not damaged.",
        ) from exc
