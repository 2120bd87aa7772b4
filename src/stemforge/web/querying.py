"""Library reads for the web: totals of searches remembered between requests, and
running one page's reads from an ``async`` route."""

from __future__ import annotations

import dataclasses
import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio

from stemforge.library import SearchQuery


class SearchTotals:
    """Totals of library searches, remembered until the library's database changes.

    Counting every match is a scan (10,000 tracks: 10-20 ms in SQLite), while a page of
    rows is an index walk; the library page and ``/api/tracks`` need the total on every
    view. SQLite in WAL mode appends each commit to ``library.db-wal`` (and rewrites
    ``library.db`` at checkpoints), so the size and modification time of the two files
    change with every write, by this process or another: a total is reused only while
    both are unchanged. ``max_age_s`` bounds the one case this can miss (a second write
    in the same clock tick, into a WAL restarted by a checkpoint, leaving its size as it
    was). Other databases are counted every time.
    """

    def __init__(self, max_entries: int = 512, max_age_s: float = 30.0):
        self.max_entries = max_entries
        self.max_age_s = max_age_s
        self._totals: dict[tuple, tuple[tuple, float, int]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _stamp(lib) -> tuple | None:
        """The database file's path and the size and time of its last change (SQLite
        only: None for other databases)."""
        url = lib.engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        stamp: list = [url.database]
        for path in (url.database, url.database + "-wal"):
            try:
                info = os.stat(path)
                stamp.append((info.st_size, info.st_mtime_ns))
            except OSError:
                stamp.append(None)
        return tuple(stamp)

    def count(self, lib, query: SearchQuery) -> int:
        """``lib.count(query)`` (sort, limit and offset aside), from memory when possible."""
        stamp = self._stamp(lib)  # before counting: a write during the count makes it stale
        if stamp is None:
            return lib.count(query)
        key = (
            stamp[0],
            dataclasses.replace(query, sort="added", descending=False, limit=None, offset=0),
        )
        now = time.monotonic()
        hit = self._totals.get(key)
        if hit is not None and hit[0] == stamp and now - hit[1] < self.max_age_s:
            return hit[2]
        total = lib.count(query)
        with self._lock:
            if len(self._totals) >= self.max_entries:
                self._totals.clear()
            self._totals[key] = (stamp, now, total)
        return total


#: The app's search totals (shared by the library page and ``/api/tracks``).
TOTALS = SearchTotals()


async def in_library(lib, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` (library reads of one page) for an ``async`` route: on the event
    loop for SQLite, in a worker thread for other databases.

    A page of an SQLite library takes a few milliseconds and, in WAL mode, never waits
    for a writer; run in the thread pool instead, 20 concurrent requests spend about half
    of the server's CPU time handing the GIL between threads (``benchmarks/bench_web.py``
    measured 15 against 6-8 ms of CPU per library page). A database across the network
    may be slow to answer, so its calls keep to the thread pool.
    """
    if lib.engine.url.get_backend_name() == "sqlite":
        return fn(*args)
    return await anyio.to_thread.run_sync(functools.partial(fn, *args))
