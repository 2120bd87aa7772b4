"""Executors: where jobs run. ``LocalExecutor`` (a process pool on this machine, the
default) and ``RayExecutor`` (a Ray cluster). Both run :func:`worker.execute_job`, so the
same job code runs on both; workers open the library by URL, never share a session."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from stemforge.jobs import store
from stemforge.jobs.errors import JobError
from stemforge.jobs.registry import JobKind
from stemforge.jobs.worker import execute_job, initialize

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str

    def submit(
        self, kind: JobKind, job_id: int, url: str, home: str | None, settings: store.JobSettings
    ) -> Future: ...

    def is_crash(self, exc: BaseException) -> bool:
        """Whether a future's exception means the worker died (the job is retried)."""
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """A ``ProcessPoolExecutor`` (spawn) of ``workers`` processes; each warms up
    librosa/numba once. A crashed worker breaks the pool: it is started again."""

    name = "local"

    def __init__(self, workers: int | None = None, *, warm_up: bool = True):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.warm_up = warm_up
        self._pool: ProcessPoolExecutor | None = None
        self._home: str | None = None

    def _ensure_pool(self, home: str | None) -> ProcessPoolExecutor:
        if self._pool is None or self._home != home:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._home = home
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=initialize,
                initargs=(home, self.warm_up, True),
            )
        return self._pool

    def submit(self, kind, job_id, url, home, settings) -> Future:
        try:
            return self._ensure_pool(home).submit(execute_job, job_id, url, home, settings)
        except BrokenProcessPool:
            self._restart()
            return self._ensure_pool(home).submit(execute_job, job_id, url, home, settings)

    def is_crash(self, exc: BaseException) -> bool:
        if isinstance(exc, BrokenProcessPool):
            if self._pool is not None and getattr(self._pool, "_broken", False):
                self._restart()  # only the broken pool, not one started since
            return True
        return False

    def _restart(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RayExecutor:
    """Ray tasks with each kind's declared resources (``num_cpus``, ``num_gpus``).

    ``address``: ``ray://HOST:10001``, ``auto`` (the cluster this node belongs to), or None
    (the Ray instance this process already started, or a new local one). stemforge must be
    installed on every node, and the database URL and ``STEMFORGE_HOME`` must be reachable
    from every node (a shared PostgreSQL and a shared file system at the same path)."""

    name = "ray"

    def __init__(self, address: str | None = None, **init_kwargs):
        try:
            import ray
        except ImportError as exc:
            raise JobError(
                "the ray executor needs Ray.", hint="Install stemforge[cluster]."
            ) from exc
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            init_kwargs.setdefault("include_dashboard", False)
            init_kwargs.setdefault("log_to_driver", False)
            try:
                ray.init(address=address, **init_kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise JobError(
                    f"cannot connect to the Ray cluster at {address or 'a new local instance'}"
                    f" ({exc}).",
                    hint="Check --address (ray://HOST:10001 or auto) and that the cluster runs.",
                ) from exc
            self._started = True
        self._remote = ray.remote(max_retries=0)(execute_job)

    def submit(self, kind, job_id, url, home, settings) -> Future:
        ref = self._remote.options(num_cpus=kind.num_cpus, num_gpus=kind.num_gpus).remote(
            job_id, url, home, settings
        )
        return ref.future()

    def is_crash(self, exc: BaseException) -> bool:
        from ray import exceptions

        return isinstance(
            exc,
            exceptions.WorkerCrashedError
            | exceptions.NodeDiedError
            | exceptions.TaskCancelledError
            | exceptions.LocalRayletDiedError,
        ) or (isinstance(exc, exceptions.RayTaskError) and "crash" in str(exc).lower())

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_executor(
    name: str = "local", *, address: str | None = None, workers: int | None = None
) -> LocalExecutor | RayExecutor:
    """An executor by name: ``local`` (``workers`` processes) or ``ray`` (at ``address``)."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address)
    raise JobError(f"no executor is named {name!r}.", hint=f"Use one of: {', '.join(EXECUTORS)}.")
