"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


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
