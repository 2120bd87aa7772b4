"""Atomic writing of every file stemforge produces.

A file is written under a hidden temporary name in the destination's own folder,
flushed and fsynced, then ``os.replace``-d onto the destination (atomic on POSIX
and Windows within one file system), and the folder is fsynced so the rename
survives a power cut. On any failure the temporary file is removed and a file
already at the destination is untouched. A replaced file keeps its permissions;
a new one gets the usual ``0o666`` less the umask.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from stemforge.errors import OutputWriteError

_WRITE_ERRORS = {
    errno.ENOENT: (
        "its folder does not exist.",
        "Create the folder first, or choose another path.",
    ),
    errno.ENOTDIR: ("a part of the path is a file, not a folder.", "Check the path."),
    errno.EISDIR: ("it is a folder.", "Give a file name inside the folder."),
    errno.EACCES: (
        "permission denied: this user may not write in its folder.",
        "Choose a folder you may write to, or change the folder's permissions.",
    ),
    errno.EPERM: (
        "the operation is not permitted in its folder.",
        "Choose a folder you may write to, or change the folder's permissions.",
    ),
    errno.EROFS: ("its folder is on a read-only file system.", "Save it on another disk."),
    errno.ENOSPC: ("the disk is full.", "Free some space or save it on another disk."),
    errno.EDQUOT: ("your disk quota is used up.", "Free some space or save it on another disk."),
    errno.EFBIG: (
        "the file grew past the largest size allowed here (the file system's or a limit "
        "set for this process).",
        "Save it on another disk, or save a smaller file.",
    ),
    errno.ENAMETOOLONG: ("the file name is too long.", "Choose a shorter name."),
}


def write_error(
    path: Path, exc: OSError, error: type[OutputWriteError] = OutputWriteError
) -> OutputWriteError:
    """The actionable error for an ``OSError`` met while writing ``path``."""
    what, hint = _WRITE_ERRORS.get(
        exc.errno or 0,
        (
            f"it could not be written ({exc.strerror or exc}).",
            "Check that the folder is writable and the disk has space.",
        ),
    )
    return error(f"cannot write the file: {what}", path=path, hint=hint)


@contextlib.contextmanager
def atomic_output(
    path: str | Path, *, error: type[OutputWriteError] = OutputWriteError
) -> Iterator[BinaryIO]:
    """Yield a binary file open on a temporary name; on success it replaces ``path``.

    An ``OSError`` raised inside the block or while finishing becomes ``error`` (an
    :class:`OutputWriteError` subclass) with a message that says what to do.
    """
    path = Path(path)
    folder = path.parent
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)  # keep the permissions of what it replaces
    except OSError:
        mode = None
    tmp = folder / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(tmp, flags, 0o666)
    except OSError as exc:
        raise write_error(path, exc, error) from exc
    try:
        with os.fdopen(fd, "w+b") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc, error) from exc
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_destination(path: str | Path, error: type[OutputWriteError] = OutputWriteError) -> Path:
    """Fail early, before long work, when ``path`` cannot be written: its folder is missing
    or not writable, or the path is a folder. (The write itself still reports what else
    can go wrong.)"""
    p = Path(path)
    folder = p.parent
    if not folder.is_dir():
        what, hint = _WRITE_ERRORS[errno.ENOTDIR if folder.exists() else errno.ENOENT]
    elif p.is_dir():
        what, hint = _WRITE_ERRORS[errno.EISDIR]
    elif not os.access(folder, os.W_OK):
        what, hint = _WRITE_ERRORS[errno.EACCES]
    else:
        return p
    raise error(f"cannot write the file: {what}", path=p, hint=hint)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as handle:
        handle.write(data)
    return Path(path)


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON (results already map NaN and infinity to null)."""
    return write_bytes_atomic(path, (json.dumps(data, indent=2, allow_nan=False) + "\n").encode())
