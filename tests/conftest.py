"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# One numba cache for the suite and every worker process it starts (the Makefile sets the
# same), so spawned ingest workers reuse compiled kernels instead of compiling for ~25 s.
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real third-party audio of ``../shared/data`` (or ``$STEMFORGE_TEST_DATA``)."""
    path = Path(os.environ.get("STEMFORGE_TEST_DATA", ROOT.parent / "shared" / "data")).resolve()
    if not (path / "README.md").is_file():
        pytest.fail(
            f"the shared test data was not found at {path}. Put the project's shared/ folder "
            "beside the checkout or set STEMFORGE_TEST_DATA to its data/ folder."
        )
    return path


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The ffmpeg command line, a reference meter (installed by `make` as a Debian package)."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.fail("ffmpeg is not installed: run `make install` (it installs Debian's ffmpeg).")
    return exe


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# --- databases for the library tests (SQLite in tmp, and a PostgreSQL of this session) ---

POSTGRES_ADMIN_URL = os.environ.get(
    "STEMFORGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL database made for this test session (unique name), dropped at its end."""
    import uuid

    psycopg = pytest.importorskip("psycopg")
    name = f"stemforge_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}). Start it "
            "(.ci/run does) or set STEMFORGE_TEST_POSTGRES."
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    """An empty library database: a SQLite file in tmp, or this session's PostgreSQL
    database with a fresh schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'library.db'}"
    url = request.getfixturevalue("postgres_url")
    import psycopg

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return url
