"""Jobs: work over the library as database rows, run by executors (issue #5).

A job is a row of the ``jobs`` table: ``queued``, ``running`` (with ``progress`` 0..1),
``done``, ``failed`` (with the error), ``cancelled``. Transient failures (a locked or
unreachable database, an EAGAIN-like OSError, a crashed worker) are retried with an
exponential backoff up to ``max_attempts``; bad input fails at once.

>>> from stemforge.jobs import LocalExecutor, add_paths           # doctest: +SKIP
>>> with Library.open() as lib, LocalExecutor(workers=2) as ex:   # doctest: +SKIP
...     report = add_paths(lib, ["~/Music"], executor=ex)

Executors: :class:`LocalExecutor` (a process pool, the default) and :class:`RayExecutor`
(a Ray cluster; kinds declare ``num_cpus``/``num_gpus``). Both run the same job functions,
registered by kind with :func:`register`.
"""

from stemforge.jobs.api import add_paths, reanalyze_tracks
from stemforge.jobs.errors import (
    JobCancelled,
    JobError,
    JobNotFoundError,
    JobStateError,
    TransientJobError,
    is_transient,
)
from stemforge.jobs.executors import EXECUTORS, LocalExecutor, RayExecutor, make_executor
from stemforge.jobs.registry import JobKind, get_kind, kinds, register
from stemforge.jobs.runner import run_jobs
from stemforge.jobs.store import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    RUNNING,
    JobInfo,
    JobSettings,
    cancel_job,
    enqueue,
    get_job,
    list_jobs,
    retry_job,
)
from stemforge.jobs.worker import JobProgress, execute_job

__all__ = [
    "CANCELLED",
    "DONE",
    "EXECUTORS",
    "FAILED",
    "QUEUED",
    "RUNNING",
    "JobCancelled",
    "JobError",
    "JobInfo",
    "JobKind",
    "JobNotFoundError",
    "JobProgress",
    "JobSettings",
    "JobStateError",
    "LocalExecutor",
    "RayExecutor",
    "TransientJobError",
    "add_paths",
    "cancel_job",
    "enqueue",
    "execute_job",
    "get_job",
    "get_kind",
    "is_transient",
    "kinds",
    "list_jobs",
    "make_executor",
    "reanalyze_tracks",
    "register",
    "retry_job",
    "run_jobs",
]
