"""Where stemforge keeps its files: ``STEMFORGE_HOME`` (default ``~/.stemforge``).

Layout (see ARCHITECTURE.md, "Storage")::

    STEMFORGE_HOME/
      config.toml      settings (optional)
      library.db       the SQLite library
      media/           one folder per track
      models/          neural-network weights and trained models (genre classifier, ...)
      targets/         custom mix targets built from the user's reference tracks
"""

from __future__ import annotations

import os
from pathlib import Path

from stemforge.errors import OutputWriteError

HOME_ENV = "STEMFORGE_HOME"


def home() -> Path:
    """The stemforge home folder (not created here)."""
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else Path.home() / ".stemforge"


def folder(name: str, *, create: bool = False) -> Path:
    """A sub-folder of the home (``models``, ``targets``, ``media``), created on request."""
    path = home() / name
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputWriteError(
                f"cannot create the folder ({exc.strerror or exc}).",
                path=path,
                hint=f"Set {HOME_ENV} to a writable folder.",
            ) from exc
    return path


def models_dir(*, create: bool = False) -> Path:
    return folder("models", create=create)


def targets_dir(*, create: bool = False) -> Path:
    return folder("targets", create=create)
