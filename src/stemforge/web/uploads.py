"""Receiving uploads: a multipart body streamed to disk, never held in memory.

Each file part goes to its own new folder ``STEMFORGE_HOME/uploads/<random>/<name>``
while its SHA-256 is computed on the way. The name is the upload's base name made
harmless (:func:`upload_name`): no folders, no ``..``, no control characters, no hidden
files, so nothing can be written outside the folder. Past ``max_bytes`` (counted as the
bytes arrive, and checked against ``Content-Length`` before any arrive) the request is
refused with 413 and what was written is deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

import anyio
from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from stemforge.library.export import safe_name
from stemforge.web.errors import BadUploadError, UploadTooLargeError

#: Bytes of multipart framing allowed beyond the limit in ``Content-Length``.
FRAMING_SLACK_BYTES = 1 << 20
#: Write to disk once this much has arrived (fewer, larger writes off the event loop).
FLUSH_BYTES = 1 << 20
MAX_FILES = 100
MAX_NAME_BYTES = 150
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([\w-]+)'[^']*'([^;\s]+)", re.IGNORECASE)


def upload_name(raw: str) -> str:
    """A safe file name for an uploaded file's name: its last path component (``/`` and
    ``\\`` both separate), sanitised by :func:`stemforge.library.export.safe_name`.

    >>> upload_name("../../etc/passwd.wav")
    'passwd.wav'
    >>> upload_name("..\\\\x.wav")
    'x.wav'
    """
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    return safe_name(name, max_bytes=MAX_NAME_BYTES, fallback="upload")


def _too_large(limit: int) -> UploadTooLargeError:
    return UploadTooLargeError(
        f"the upload is larger than this server accepts ({limit:,} bytes in one request).",
        hint="Upload fewer or smaller files at once, or ask the administrator to raise the "
        "limit (stemforge serve --max-upload-mb).",
    )


@dataclass
class ReceivedFile:
    """One uploaded file, written to ``path``."""

    name: str  # the safe name
    path: Path
    size_bytes: int = 0
    sha256: str = ""
    _hash: object = field(default_factory=hashlib.sha256, repr=False)
    _handle: BinaryIO | None = field(default=None, repr=False)


class _Receiver:
    """python-multipart callbacks: file parts into files, other fields ignored."""

    def __init__(self, root: Path, field_name: str, limit: int):
        self.root = root
        self.field_name = field_name
        self.limit = limit
        self.total = 0
        self.files: list[ReceivedFile] = []
        self.pending: list[tuple[ReceivedFile, bytes]] = []
        self.pending_bytes = 0
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._current: ReceivedFile | None = None

    # parser callbacks
    def on_part_begin(self) -> None:
        self._disposition = b""
        self._current = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        has_file = b"filename" in options or b"filename*" in self._disposition.lower()
        if name != self.field_name or not has_file:
            return
        raw = options.get(b"filename", b"").decode("utf-8", "replace")
        star = _FILENAME_STAR.search(self._disposition.decode("latin-1"))
        if star is not None:  # RFC 6266 filename*=UTF-8''...
            with contextlib.suppress(LookupError, UnicodeDecodeError):
                raw = unquote(star.group(2), encoding=star.group(1))
        if len(self.files) >= MAX_FILES:
            raise BadUploadError(
                f"too many files in one upload (at most {MAX_FILES}).",
                hint="Upload them in several requests.",
            )
        folder = self.root / secrets.token_hex(12)
        folder.mkdir(parents=True)
        received = ReceivedFile(name=upload_name(raw), path=Path())
        received.path = folder / received.name
        received._handle = open(received.path, "xb")  # noqa: SIM115 (closed in finish)
        self.files.append(received)
        self._current = received

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is None:
            return
        count = end - start
        self.total += count
        if self.total > self.limit:
            raise _too_large(self.limit)
        self.pending.append((self._current, data[start:end]))
        self.pending_bytes += count

    def on_part_end(self) -> None:
        self._current = None

    # writing (in a worker thread)
    def flush(self) -> None:
        pending, self.pending, self.pending_bytes = self.pending, [], 0
        for received, chunk in pending:
            assert received._handle is not None
            received._handle.write(chunk)
            received._hash.update(chunk)  # type: ignore[attr-defined]
            received.size_bytes += len(chunk)

    def finish(self) -> None:
        self.flush()
        for received in self.files:
            if received._handle is not None:
                received._handle.close()
                received._handle = None
            received.sha256 = received._hash.hexdigest()  # type: ignore[attr-defined]

    def discard(self) -> None:
        for received in self.files:
            if received._handle is not None:
                with contextlib.suppress(OSError):
                    received._handle.close()
                received._handle = None
            shutil.rmtree(received.path.parent, ignore_errors=True)


async def receive_files(
    request: Request, root: Path, *, max_bytes: int, field_name: str = "files"
) -> list[ReceivedFile]:
    """Stream the request's multipart files (field ``field_name``) into new folders under
    ``root``; 413 past ``max_bytes`` of file data, 400 for a body that is not a multipart
    form with at least one file."""
    content_type = request.headers.get("content-type", "")
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise BadUploadError(
            "an upload must be a multipart/form-data request.",
            hint=f"Send the files in a form field named {field_name!r}.",
        )
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes + FRAMING_SLACK_BYTES:
        raise _too_large(max_bytes)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from stemforge.output import write_error

        raise write_error(root, exc) from exc
    receiver = _Receiver(root, field_name, max_bytes)
    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_part_begin": receiver.on_part_begin,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if receiver.pending_bytes >= FLUSH_BYTES:
                await anyio.to_thread.run_sync(receiver.flush)
        parser.finalize()
        await anyio.to_thread.run_sync(receiver.finish)
    except BaseException as exc:
        receiver.discard()
        if isinstance(exc, OSError):
            from stemforge.output import write_error

            raise write_error(root, exc) from exc
        if type(exc).__module__.startswith("python_multipart"):
            raise BadUploadError(
                f"the multipart body could not be read ({exc}).",
                hint="Send a well-formed multipart/form-data request.",
            ) from exc
        raise
    if not receiver.files:
        raise BadUploadError(
            f"the upload holds no file in the field {field_name!r}.",
            hint=f"Send the files in a form field named {field_name!r}.",
        )
    return receiver.files
