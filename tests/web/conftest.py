"""Fixtures of the web tests: apps on a temporary STEMFORGE_HOME (SQLite, or this test
session's PostgreSQL) and a folder for generated audio."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from stemforge.web import WebSettings, create_app

from .support import FAST_JOBS


@pytest.fixture
def make_app(tmp_path) -> Callable:
    """``make_app(**settings)``: an app on ``tmp_path/home`` (SQLite unless
    ``database_url`` is given) with no job worker unless ``run_worker=True``."""
    apps = []

    def make(**overrides):
        values = {
            "home": tmp_path / "home",
            "run_worker": False,
            "job_settings": FAST_JOBS,
            "worker_poll_s": 0.05,
            "sse_poll_s": 0.05,
        }
        values.update(overrides)
        app = create_app(WebSettings(**values))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.library.close()


@pytest.fixture
def audio_dir(tmp_path) -> Path:
    folder = tmp_path / "audio"
    folder.mkdir()
    return folder
