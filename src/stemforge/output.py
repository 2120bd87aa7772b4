"""Atomic writing of the files stemforge produces.

Outputs go to a temporary name in the destination folder and are renamed into
place once complete, so a crash never leaves half a file and an existing file
is replaced only by a whole new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stemforge.errors import OutputWriteError


@contextlib.contextmanager
def atomic_output(
    path: str | Path, *, error: type[OutputWriteError] = OutputWriteError
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it to ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was.
    ``OSError`` becomes ``error`` with a message that says what to do.
    """
    path = Path(path)
    folder = path.parent
    if not folder.is_dir():
        raise error(
            "the folder does not exist.", path=path, hint="Create it first or choose another path."
        )
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise _write_error(error, path, exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise _write_error(error, path, exc) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_error(error: type[OutputWriteError], path: Path, exc: OSError) -> OutputWriteError:
    return error(
        f"could not write ({exc.strerror or exc}).",
        path=path,
        hint="Check that the folder is writable and the disk has space.",
    )


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (results already map NaN and infinity to null)."""
    return write_bytes_atomic(path, (json.dumps(data, indent=2, allow_nan=False) + "\n").encode())
