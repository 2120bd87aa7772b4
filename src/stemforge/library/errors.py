"""Errors of the library layer (all :class:`~stemforge.errors.StemforgeError`)."""

from __future__ import annotations

from stemforge.errors import OutputWriteError, StemforgeError


class LibraryError(StemforgeError):
    """A problem with the track library."""


class TrackNotFoundError(LibraryError):
    """No track has the given id."""

    http_status = 404


class DatabaseError(LibraryError):
    """The database could not be opened, migrated or written."""

    http_status = 503


class LibraryWriteError(DatabaseError, OutputWriteError):
    """The database or the media store could not be written (read-only or full disk)."""

    http_status = 507


class InvalidKeyError(LibraryError):
    """A musical key or Camelot code could not be understood."""
