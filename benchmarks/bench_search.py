"""Library search over 100,000 tracks (BPM range + compatible keys), SQLite and PostgreSQL.

Target (issue #5): a BPM-range plus compatible-key search answers in under 50 ms.
Synthetic rows (tempo 60-180 BPM, random keys, LUFS -20..-5, durations 1-10 min) are
bulk-inserted with SQLAlchemy Core into a fresh SQLite file and a fresh PostgreSQL
database (made and dropped here; ``STEMFORGE_BENCH_POSTGRES`` names the server's admin
database, default ``postgresql://postgres@127.0.0.1:5432/postgres``). The query goes
through :meth:`Library.search`, so ORM loading of the result rows is part of the time.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

TRACKS = 100_000
RUNS = 50
WARMUP = 5
TARGET_MS = 50.0
BATCH = 10_000
SEED = 5
ADMIN_URL = os.environ.get(
    "STEMFORGE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TONICS = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _rows(n: int, seed: int = SEED):
    """Track and current-analysis rows with ids 1..n, in batches of :data:`BATCH`."""
    from stemforge.library.camelot import camelot_code

    rng = np.random.default_rng(seed)
    tempo = rng.uniform(60.0, 180.0, n)
    tonic = rng.integers(0, 12, n)
    minor = rng.random(n) < 0.5
    lufs = rng.uniform(-20.0, -5.0, n)
    duration = rng.uniform(60.0, 600.0, n)
    codes = {
        (t, m): camelot_code(TONICS[t], "minor" if m else "major")
        for t in range(12)
        for m in (0, 1)
    }
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for lo in range(0, n, BATCH):
        tracks, analyses = [], []
        for i in range(lo, min(lo + BATCH, n)):
            mode = "minor" if minor[i] else "major"
            when = start + timedelta(seconds=i)
            tracks.append(
                {
                    "id": i + 1,
                    "content_sha256": f"{i:064x}",
                    "status": "ready",
                    "source_path": f"/music/track{i}.flac",
                    "original_path": f"{i + 1}/original.flac",
                    "in_place": False,
                    "file_name": f"track{i}.flac",
                    "file_format": "flac",
                    "size_bytes": 30_000_000,
                    "sample_rate": 44_100,
                    "channels": 2,
                    "title": f"Track {i}",
                    "artist": f"Artist {i % 997}",
                    "genre": ("House", "Techno", "Hip Hop", "Pop")[i % 4],
                    "duration_s": float(duration[i]),
                    "added_at": when,
                    "updated_at": when,
                }
            )
            analyses.append(
                {
                    "id": i + 1,
                    "track_id": i + 1,
                    "analysis_version": 1,
                    "algorithm_version": "bench/1",
                    "is_current": True,
                    "created_at": when,
                    "tempo_bpm": float(tempo[i]),
                    "key_name": f"{TONICS[tonic[i]]} {mode}",
                    "key_tonic": TONICS[tonic[i]],
                    "key_mode": mode,
                    "camelot": codes[(int(tonic[i]), int(minor[i]))],
                    "integrated_lufs": float(lufs[i]),
                    "true_peak_dbtp": float(lufs[i] + 12.0),
                    "lra_lu": 6.0,
                    "duration_s": float(duration[i]),
                    "result_json": {},
                }
            )
        yield tracks, analyses


def fill(engine, n: int = TRACKS) -> float:
    """Bulk-insert ``n`` tracks with their analyses; returns the seconds taken."""
    from sqlalchemy import insert, text

    from stemforge.library.models import Analysis, Track

    start = time.perf_counter()
    with engine.begin() as conn:
        for tracks, analyses in _rows(n):
            conn.execute(insert(Track.__table__), tracks)
            conn.execute(insert(Analysis.__table__), analyses)
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('tracks_id_seq', :n)"), {"n": n})
            conn.execute(text("SELECT setval('analyses_id_seq', :n)"), {"n": n})
    with engine.connect() as conn:  # what autovacuum does after a bulk load on PostgreSQL
        conn.execute(text("ANALYZE"))
        conn.commit()
    return time.perf_counter() - start


def time_search(lib, query, runs: int = RUNS, warmup: int = WARMUP) -> tuple[list[float], int]:
    """Milliseconds of each timed run, and the number of tracks found."""
    for _ in range(warmup):
        found = len(lib.search(query))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        found = len(lib.search(query))
        times.append((time.perf_counter() - start) * 1000.0)
    return times, found


def explain(lib, query) -> str:
    """The database's plan of the search's SQL (captured as it runs)."""
    from sqlalchemy import event

    captured = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        captured.append((statement, parameters))

    event.listen(lib.engine, "before_cursor_execute", capture)
    try:
        lib.search(query)
    finally:
        event.remove(lib.engine, "before_cursor_execute", capture)
    statement, parameters = captured[0]
    sqlite = lib.engine.dialect.name == "sqlite"
    with lib.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters)
        rows = cursor.fetchall()
        cursor.close()
    return "\n".join(f"    {row[-1] if sqlite else row[0]}" for row in rows)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def report(name: str, lib, fill_s: float) -> None:
    from stemforge.library import SearchQuery

    query = SearchQuery(bpm_min=120, bpm_max=130, compatible_with="8A")
    page = SearchQuery(bpm_min=120, bpm_max=130, compatible_with="8A", sort="bpm", limit=50)
    print(f"\n{name}: {TRACKS:,} tracks + analyses inserted in {fill_s:.1f} s")
    for label, q in (("120-130 BPM, compatible with 8A", query), ("same, first 50 by BPM", page)):
        times, found = time_search(lib, q)
        median = statistics.median(times)
        p95 = percentile(times, 95)
        verdict = "PASS" if p95 < TARGET_MS else "FAIL"
        print(
            f"  {label}: {found} tracks; median {median:.1f} ms, p95 {p95:.1f} ms "
            f"over {RUNS} runs (target {TARGET_MS:.0f} ms -> {verdict}, "
            f"p95 ratio {p95 / TARGET_MS:.2f} of budget)"
        )
    print("  plan:")
    print(explain(lib, query))


def main() -> None:
    import psycopg

    from stemforge.library import Library
    from stemforge.library.db import create_library_engine, migrate

    with tempfile.TemporaryDirectory(prefix="stemforge-bench-search-") as tmp:
        home = Path(tmp)
        url = f"sqlite:///{home / 'library.db'}"
        engine = create_library_engine(url)
        migrate(engine)
        fill_s = fill(engine)
        engine.dispose()
        with Library.open(url, home=home) as lib:
            report("SQLite", lib, fill_s)

        name = f"stemforge_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            pg_url = f"{ADMIN_URL.rsplit('/', 1)[0]}/{name}"
            with Library.open(pg_url, home=home) as lib:
                fill_s = fill(lib.engine)
                report("PostgreSQL", lib, fill_s)
        finally:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
