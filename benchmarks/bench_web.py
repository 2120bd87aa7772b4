"""Web platform under load: the library page and /api/tracks with 10,000 tracks.

Target (issue #6): with 10,000 tracks in the library, ``GET /`` (the library page, its
first 50 rows rendered on the server) and the ``/api/tracks`` search answer in under
200 ms at the 95th percentile with 20 concurrent clients.

The library is a fresh SQLite file filled with the synthetic rows of
:mod:`bench_search` (tempo 60-180 BPM, random keys, LUFS -20..-5, durations 1-10 min).
``stemforge``'s app (:func:`stemforge.web.create_app`, local mode, no job worker) runs
under uvicorn in a subprocess on a free loopback port. The load generator (asyncio and
``httpx.AsyncClient``) keeps 20 clients busy, each sending its next request as soon as
the previous one answered, until a fixed number of requests per endpoint is done; then
it stops by itself and the server is shut down. The reference is the endpoints' library
work (``Library.search``, and the total: ``Library.count`` or its reused value) timed in
this process without HTTP; the server's CPU time per request and the machine's load
average are printed beside the latencies, because on a shared machine other processes'
load shows up in the tail.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_search import fill  # noqa: E402  (the same synthetic rows as the search benchmark)

TRACKS = 10_000
CLIENTS = 20
REQUESTS = 1_000  # per endpoint, after the warm-up
WARMUP = 60
TARGET_MS = 200.0
REFERENCE_RUNS = 100
SEARCH = "/api/tracks?bpm_min=120&bpm_max=130&compatible_with=8A&limit=50"
ENDPOINTS = (
    ("library page  GET /", "/"),
    ("search        GET " + SEARCH, SEARCH),
    ("first page    GET /api/tracks?limit=50", "/api/tracks?limit=50"),
)

SERVER = """
import sys, uvicorn
from pathlib import Path
from stemforge.web import WebSettings, create_app
home, port = Path(sys.argv[1]), int(sys.argv[2])
app = create_app(WebSettings(home=home, port=port, run_worker=False))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, port: int) -> subprocess.Popen:
    """uvicorn with the app in a subprocess; returns once ``/api/health`` answers."""
    import httpx

    env = {**os.environ, "STEMFORGE_HOME": str(home)}
    env.pop("STEMFORGE_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(home), str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{proc.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1.0).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not answer within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def load(base: str, path: str, n_requests: int, clients: int) -> tuple[list[float], float]:
    """``n_requests`` GETs of ``path`` by ``clients`` concurrent clients; returns each
    request's latency in ms and the wall time in s. Any non-200 answer stops the run."""
    import httpx

    latencies: list[float] = []
    remaining = n_requests
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30.0) as client:

        async def one_client() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                response = await client.get(path)
                latencies.append((time.perf_counter() - start) * 1000.0)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {path} answered {response.status_code}")

        start = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        wall_s = time.perf_counter() - start
    return latencies, wall_s


def reference(home: Path) -> list[tuple[str, list[float]]]:
    """The endpoints' library work in this process, no HTTP: ms per call of the page of
    rows (``Library.search``) and of the total, counted (``Library.count``) and as the
    endpoints get it (:data:`stemforge.web.querying.TOTALS`, reused until a write)."""
    from stemforge.library import Library, SearchQuery
    from stemforge.web.querying import SearchTotals

    queries = (
        ("library page", SearchQuery(sort="added", descending=True, limit=50)),
        ("search", SearchQuery(bpm_min=120, bpm_max=130, compatible_with="8A", limit=50)),
        ("first page", SearchQuery(limit=50)),
    )
    out = []
    with Library.open(f"sqlite:///{home / 'library.db'}", home=home) as lib:
        user = lib.local_user_id()
        totals = SearchTotals()
        for label, query in queries:
            mine = replace(query, user_id=user)
            for part, call in (
                ("rows", lambda q=mine: lib.search(q)),
                ("count", lambda q=mine: lib.count(q)),
                ("reused count", lambda q=mine: totals.count(lib, q)),
            ):
                times = []
                for i in range(REFERENCE_RUNS + 5):
                    start = time.perf_counter()
                    call()
                    if i >= 5:
                        times.append((time.perf_counter() - start) * 1000.0)
                out.append((f"{label} {part}", times))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    from stemforge.library.db import create_library_engine, migrate

    with tempfile.TemporaryDirectory(prefix="stemforge-bench-web-") as tmp:
        home = Path(tmp)
        engine = create_library_engine(f"sqlite:///{home / 'library.db'}")
        migrate(engine)
        fill_s = fill(engine, TRACKS)
        engine.dispose()
        print(
            f"SQLite: {TRACKS:,} tracks + analyses inserted in {fill_s:.1f} s "
            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )

        print(f"reference, in process without HTTP ({REFERENCE_RUNS} runs each):")
        ref = {}
        for label, times in reference(home):
            ref[label] = (statistics.median(times), float(np.percentile(times, 95)))
            print(f"  {label}: median {ref[label][0]:.2f} ms, p95 {ref[label][1]:.2f} ms")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(home, port)
        try:
            print(
                f"uvicorn on {base} (1 process); {CLIENTS} concurrent clients, "
                f"{REQUESTS} requests per endpoint after {WARMUP} warm-up requests:"
            )
            for (label, path), name in zip(
                ENDPOINTS, ("library page", "search", "first page"), strict=True
            ):
                asyncio.run(load(base, path, WARMUP, CLIENTS))
                cpu_before = cpu_seconds(server.pid)
                latencies, wall_s = asyncio.run(load(base, path, REQUESTS, CLIENTS))
                server_cpu_ms = (cpu_seconds(server.pid) - cpu_before) / REQUESTS * 1000.0
                median = statistics.median(latencies)
                p95 = float(np.percentile(latencies, 95))
                verdict = "PASS" if p95 < TARGET_MS else "FAIL"
                in_process_ms = ref[f"{name} rows"][0] + ref[f"{name} reused count"][0]
                print(
                    f"  {label}\n"
                    f"    {len(latencies) / wall_s:.0f} requests/s; median {median:.1f} ms, "
                    f"p95 {p95:.1f} ms (target {TARGET_MS:.0f} ms -> {verdict}, p95 ratio "
                    f"{p95 / TARGET_MS:.2f} of budget)\n"
                    f"    server CPU {server_cpu_ms:.1f} ms a request, "
                    f"{server_cpu_ms / in_process_ms:.1f}x the {in_process_ms:.1f} ms of its "
                    f"library work in process; load average {os.getloadavg()[0]:.1f} "
                    f"on {os.cpu_count()} CPUs"
                )
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
