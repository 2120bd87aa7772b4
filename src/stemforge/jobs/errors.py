"""Errors of the jobs layer, and how a failure is classified (transient or permanent)."""

from __future__ import annotations

import errno

from sqlalchemy.exc import DBAPIError, OperationalError

from stemforge.errors import StemforgeError
from stemforge.library.errors import DatabaseError, LibraryWriteError


class JobError(StemforgeError):
    """A problem with a job (not the work it does)."""


class JobNotFoundError(JobError):
    http_status = 404


class JobStateError(JobError):
    """The job is in a state that does not allow this (cancel a done job, ...)."""

    http_status = 409


class TransientJobError(Exception):
    """Raise from a job function for a failure that may pass: the job is retried."""


class JobCancelled(BaseException):
    """Raised by the progress callback when the job was cancelled; a BaseException so that
    the job's own ``except Exception`` handlers do not swallow it."""


#: OSError numbers that say "try again" rather than "this input is bad".
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EAGAIN,
        errno.EBUSY,
        errno.EINTR,
        errno.ETIMEDOUT,
        errno.ECONNRESET,
        errno.ECONNREFUSED,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ESTALE,
        errno.ENOLCK,
    }
)


def is_transient(exc: BaseException) -> bool:
    """Whether a failure may pass on a retry: a locked or unreachable database, an
    EAGAIN-like OSError, or a :class:`TransientJobError`. Bad input (any other
    :class:`StemforgeError`) and bugs are permanent."""
    if isinstance(exc, TransientJobError | OperationalError):
        return True
    if isinstance(exc, LibraryWriteError):  # a full or read-only disk needs a person
        return False
    if isinstance(exc, DatabaseError):
        cause = exc.__cause__
        return isinstance(cause, OperationalError) or (
            isinstance(cause, DBAPIError) and cause.connection_invalidated
        )
    if isinstance(exc, OSError) and not isinstance(exc, StemforgeError):
        return exc.errno in TRANSIENT_ERRNOS
    return False
