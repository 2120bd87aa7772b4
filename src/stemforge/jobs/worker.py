"""What runs in a worker (a local pool process or a Ray worker): open the library by URL,
claim the job, run its function with a progress reporter, record the outcome."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from stemforge import config
from stemforge.errors import StemforgeError
from stemforge.jobs import store
from stemforge.jobs.errors import JobCancelled, is_transient
from stemforge.jobs.registry import get_kind
from stemforge.library import Library

log = logging.getLogger(__name__)

_LIBRARIES: dict[tuple[str, str], Library] = {}
_INITIALIZED = False


def warm_up() -> None:
    """Compile librosa's numba kernels once in this process (cached by NUMBA_CACHE_DIR)."""
    import numpy as np

    try:
        import librosa

        y = np.random.default_rng(0).standard_normal(22_050).astype(np.float32) * 0.1
        librosa.beat.beat_track(y=y, sr=22_050)
        librosa.feature.chroma_stft(y=y, sr=22_050)
    except Exception as exc:  # a warm-up must never stop the worker
        log.debug("warm-up failed: %s", exc)


def _watch_parent() -> None:
    """A pool worker exits when the process that started it dies (kill -9 included), so
    no orphan keeps working on a job nobody waits for."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="stemforge-parent-watch", daemon=True).start()


def initialize(home: str | None, warm: bool = True, watch_parent: bool = False) -> None:
    """Per-worker setup (once): the home folder, one maths thread, the numba warm-up."""
    global _INITIALIZED
    if watch_parent:
        _watch_parent()
    if _INITIALIZED:
        return
    _INITIALIZED = True
    if home:
        os.environ[config.HOME_ENV] = home
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # threadpoolctl is optional
        pass
    if warm:
        warm_up()


def library(url: str, home: str | None) -> Library:
    """The library of this worker process (opened once per URL)."""
    key = (url, home or "")
    lib = _LIBRARIES.get(key)
    if lib is None:
        lib = Library.open(url, home=Path(home) if home else None)
        _LIBRARIES[key] = lib
    return lib


class JobProgress:
    """The progress callback a job function gets: ``progress(step, fraction)``. It writes
    the fraction at most every ``interval_s`` and raises :class:`JobCancelled` when the
    job was cancelled. ``library`` and ``job_id`` tell the function where it runs."""

    def __init__(self, lib: Library, job_id: int, owner: str, interval_s: float):
        self.library = lib
        self.job_id = job_id
        self.owner = owner
        self.interval_s = interval_s
        self._last = time.monotonic()

    def __call__(self, step: str, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        self._last = now
        try:
            ours = store.set_progress(self.library, self.job_id, self.owner, fraction)
        except StemforgeError as exc:  # a busy database must not stop the work
            log.debug("progress of job %s not written: %s", self.job_id, exc)
            return
        if not ours:
            raise JobCancelled(self.job_id)


def describe(exc: BaseException) -> str:
    if isinstance(exc, StemforgeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def execute_job(
    job_id: int,
    url: str,
    home: str | None,
    settings: store.JobSettings = store.DEFAULT_SETTINGS,
) -> str:
    """Run job ``job_id`` of the library at ``url``; returns its state afterwards. The same
    function runs in a local pool worker and as a Ray task."""
    initialize(home)
    lib = library(url, home)
    owner = store.this_owner()
    job = store.claim(lib, job_id, owner)
    if job is None:  # cancelled before it started, or another worker has it
        return store.get_job(lib, job_id).state
    kind = get_kind(job.kind)
    params: dict[str, Any] = dict(job.params_json or {})
    reporter = JobProgress(lib, job_id, owner, settings.progress_interval_s)
    try:
        result = kind.function(params, reporter)
    except JobCancelled:
        store.mark_cancelled_stopped(lib, job_id)
        return store.CANCELLED
    except Exception as exc:
        if is_transient(exc):
            return store.retry_later(lib, job_id, owner, describe(exc), settings)
        store.fail(lib, job_id, owner, describe(exc))
        return store.FAILED
    if not store.finish(lib, job_id, owner, result):
        store.mark_cancelled_stopped(lib, job_id)
        return store.get_job(lib, job_id).state
    return store.DONE
