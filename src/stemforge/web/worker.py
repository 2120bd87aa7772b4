"""The job worker inside the server: a background thread that starts queued jobs on an
executor, so that uploads are ingested and analysed while the server runs.

It is the loop of :func:`stemforge.jobs.runner.run_jobs` without an end: every
``poll_s`` it collects finished jobs, submits due queued jobs up to the executor's
capacity (``LocalExecutor``: a process pool; ``RayExecutor``: a Ray cluster;
``ThreadExecutor``: threads of this process), requeues running jobs whose worker died,
and deletes uploaded files whose ingest has ended. A job another process (a
``stemforge library add``) claims first is left to it: claiming is a conditional UPDATE.

Stopping is clean: jobs this worker runs are put back in the queue (their workers stop
at their next progress report, when they see the job is no longer theirs; a worker that
does not report within ``stop_grace_s`` is terminated), so the next start runs them again
and nothing is left "running" for nobody.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from stemforge.errors import StemforgeError
from stemforge.jobs import store
from stemforge.jobs.registry import get_kind
from stemforge.jobs.runner import library_location
from stemforge.jobs.worker import execute_job, initialize
from stemforge.library import Library
from stemforge.library.models import Job, utcnow

log = logging.getLogger(__name__)

#: Uploaded files not claimed by a live job are deleted after this long.
UPLOAD_MAX_AGE_S = 3600.0
DEAD_CHECK_S = 5.0
SWEEP_EVERY_S = 600.0


class ThreadExecutor:
    """Jobs in threads of this process: no process start-up (a test, a small machine);
    the jobs share the server's interpreter, so a crash in native code stops both."""

    name = "thread"

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="stemforge-job")

    def submit(self, kind, job_id, url, home, settings) -> Future:
        # this process's one-time job setup, without the numba warm-up (jobs compile
        # what they use when they use it; a warm-up would hold up the first job here)
        initialize(home, warm=False)
        return self._pool.submit(execute_job, job_id, url, home, settings)

    def is_crash(self, exc: BaseException) -> bool:
        return False

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_server_executor(name: str, workers: int | None, address: str | None):
    """The executor the server runs jobs on, and how many jobs it runs at once."""
    from stemforge.jobs.executors import LocalExecutor, RayExecutor

    count = workers or max(1, (os.cpu_count() or 2) - 1)
    if name == "thread":
        return ThreadExecutor(count), count
    if name == "ray":
        return RayExecutor(address), workers or 4
    return LocalExecutor(count), count


class JobWorker:
    """Runs queued jobs of ``lib`` in the background until :meth:`stop`."""

    def __init__(
        self,
        lib: Library,
        make_executor: Callable[[], tuple[Any, int]],
        *,
        uploads: Path,
        settings: store.JobSettings = store.DEFAULT_SETTINGS,
        poll_s: float = 0.5,
        stop_grace_s: float = 10.0,
    ):
        self.library = lib
        self.uploads = uploads
        self.settings = settings
        self.poll_s = poll_s
        self.stop_grace_s = stop_grace_s
        self._make_executor = make_executor
        self._executor = None
        self._capacity = 1
        self._inflight: dict[int, Future] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_dead_check = 0.0
        self._last_sweep = 0.0
        self.url, self.home = library_location(lib)

    @classmethod
    def from_settings(cls, lib: Library, web) -> JobWorker:
        return cls(
            lib,
            lambda: make_server_executor(web.executor, web.workers, web.ray_address),
            uploads=lib.media_root.parent / "uploads",
            settings=web.job_settings,
            poll_s=web.worker_poll_s,
        )

    # --- life -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="stemforge-worker", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the queue now (a job was just queued)."""
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def inflight(self) -> list[int]:
        return list(self._inflight)

    def stop(self) -> None:
        """Stop the loop, put this worker's running jobs back in the queue, and shut the
        executor down (waiting at most ``stop_grace_s`` for its workers)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        futures = dict(self._inflight)
        self._inflight.clear()
        if futures:
            self._requeue(list(futures))
        if self._executor is not None:
            self._shutdown_executor(list(futures.values()))
            self._executor = None

    def _loop(self) -> None:
        self._requeue_dead()
        self._sweep_uploads()
        while not self._stop.is_set():
            try:
                self._tick()
            except StemforgeError as exc:  # a busy or unreachable database: try again
                log.warning("job worker: %s", exc)
            except Exception:
                log.exception("job worker: unexpected error")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def _tick(self) -> None:
        self._collect()
        self._submit()
        now = time.monotonic()
        if now - self._last_dead_check >= DEAD_CHECK_S:
            self._requeue_dead()
        if now - self._last_sweep >= SWEEP_EVERY_S:
            self._sweep_uploads()

    # --- the queue ------------------------------------------------------------------------

    def _collect(self) -> None:
        done = [job_id for job_id, future in self._inflight.items() if future.done()]
        if not done:
            return
        rows = store.get_jobs(self.library, done)
        for job_id in done:
            future = self._inflight.pop(job_id)
            exc = None if future.cancelled() else future.exception()
            job = rows.get(job_id)
            if job is None:
                continue  # its track was removed meanwhile
            if exc is not None:
                crashed = self._executor is not None and self._executor.is_crash(exc)
                if job.state == store.RUNNING and job.owner:
                    what = "crashed" if crashed else "failed"
                    text = f"the worker {what} ({type(exc).__name__}: {exc})"
                    store.retry_later(self.library, job_id, job.owner, text, self.settings)
                    continue
            if job.state in store.TERMINAL:
                self._finish_upload(job.params)

    def _submit(self) -> None:
        if self._executor is not None and len(self._inflight) >= self._capacity:
            return
        now = utcnow()
        with self.library.session() as session:
            rows = session.execute(
                select(Job.id, Job.kind, Job.next_run_at)
                .where(Job.state == store.QUEUED)
                .order_by(Job.id)
                .limit(len(self._inflight) + self._capacity + 50)
            ).all()
        for job_id, kind_name, next_run in rows:
            if job_id in self._inflight or (next_run is not None and store.aware(next_run) > now):
                continue
            if self._executor is None:
                self._executor, self._capacity = self._make_executor()
            if len(self._inflight) >= self._capacity:
                break
            try:
                kind = get_kind(kind_name)
            except StemforgeError as exc:
                self._fail_queued(job_id, str(exc))
                continue
            self._inflight[job_id] = self._executor.submit(
                kind, job_id, self.url, self.home, self.settings
            )

    def _fail_queued(self, job_id: int, error: str) -> None:
        with self.library.session() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.state == store.QUEUED)
                .values(state=store.FAILED, error=error, finished_at=utcnow())
            )

    def _requeue_dead(self) -> None:
        """Running jobs whose worker died (a crash, a server killed while it ran) go back
        to the queue (or fail when their attempts are used up)."""
        self._last_dead_check = time.monotonic()
        with self.library.session() as session:
            dead = [
                (job.id, job.owner)
                for job in session.scalars(select(Job).where(Job.state == store.RUNNING))
                if job.id not in self._inflight and store.owner_is_dead(job, self.settings)
            ]
        for job_id, owner in dead:
            store.retry_later(self.library, job_id, owner, "its worker died", self.settings)

    def _requeue(self, job_ids: list[int]) -> None:
        """Put jobs this worker was running back in the queue, the attempt not counted
        (the server stopped; the job did nothing wrong)."""
        with contextlib.suppress(StemforgeError), self.library.session() as session:
            for job in session.scalars(
                select(Job).where(Job.id.in_(job_ids), Job.state == store.RUNNING)
            ):
                job.state = store.QUEUED
                job.owner = None
                job.progress = 0.0
                job.started_at = None
                job.next_run_at = None
                job.attempts = max(0, (job.attempts or 0) - 1)

    def _shutdown_executor(self, futures: list[Future]) -> None:
        executor = self._executor
        pool = getattr(executor, "_pool", None)
        if futures:
            _, pending = concurrent.futures.wait(futures, timeout=self.stop_grace_s)
            if pending and pool is not None and hasattr(pool, "_processes"):
                log.warning("job worker: %d job(s) did not stop; terminating", len(pending))
                for process in list((pool._processes or {}).values()):
                    with contextlib.suppress(Exception):
                        process.terminate()
        try:
            executor.close()
        except Exception:  # a broken pool after terminate(): nothing left to close
            log.debug("job worker: executor close", exc_info=True)

    # --- uploaded files -----------------------------------------------------------------

    def _finish_upload(self, params: dict[str, Any] | None) -> None:
        """Delete an uploaded file's folder once its ingest has ended (its copy is in the
        media store, or it failed)."""
        if not params or not params.get("upload") or not params.get("path"):
            return
        folder = Path(params["path"]).parent
        with contextlib.suppress(OSError):
            if folder.resolve().parent == self.uploads.resolve():
                shutil.rmtree(folder, ignore_errors=True)

    def _sweep_uploads(self) -> None:
        """Delete upload folders older than :data:`UPLOAD_MAX_AGE_S` that no queued or
        running job needs (left by a server that stopped mid-upload)."""
        self._last_sweep = time.monotonic()
        if not self.uploads.is_dir():
            return
        with self.library.session() as session:
            wanted = {
                Path(params["path"]).parent.name
                for params in session.scalars(
                    select(Job.params_json).where(Job.state.in_((store.QUEUED, store.RUNNING)))
                )
                if isinstance(params, dict) and params.get("upload") and params.get("path")
            }
        cutoff = time.time() - UPLOAD_MAX_AGE_S
        for folder in self.uploads.iterdir():
            with contextlib.suppress(OSError):
                if folder.name not in wanted and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
