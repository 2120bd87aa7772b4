"""`library add --workers 2` killed with SIGKILL while jobs run, then run again: every file
once, all analysed, no duplicate jobs, none left running (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from stemforge.demo import generate_song
from stemforge.library import Library
from stemforge.library.models import Analysis, Job, Track

pytestmark = pytest.mark.slow


def test_sigkill_with_two_workers_then_resume(db_url, tmp_path):
    folder = tmp_path / "scan"
    folder.mkdir()
    for i in range(6):
        song = generate_song(
            tempo_bpm=96 + 8 * i, key="C", mode="major", seed=40 + i, sections=[("verse", 4)]
        )
        song.save(tmp_path / f"g{i}")
        shutil.copy(tmp_path / f"g{i}" / "mix.wav", folder / f"{i:02d} Track {i}.wav")
    home = tmp_path / "home"
    env = dict(os.environ, STEMFORGE_HOME=str(home), STEMFORGE_DATABASE_URL=db_url)
    # a shared cache: the workers' numba warm-up compiles once per machine, not per test
    env.setdefault("NUMBA_CACHE_DIR", "/tmp/stemforge-test-numba")
    Library.open(db_url, home=home).close()
    command = [sys.executable, "-m", "stemforge.cli", "library", "add", str(folder)]
    proc = subprocess.Popen(
        [*command, "--workers", "2"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    with Library.open(db_url, home=home) as lib:
        deadline = time.monotonic() + 120
        ready = running = 0
        while time.monotonic() < deadline and proc.poll() is None:
            with lib.session() as s:
                ready = s.scalar(select(func.count()).where(Track.status == "ready"))
                running = s.scalar(select(func.count()).where(Job.state == "running"))
            if ready >= 2 and running >= 1:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert 2 <= ready < 6 and running >= 1, (
            f"the scan was not killed while jobs ran: {proc.stderr.read().decode()[-2000:]}"
        )
        with lib.session() as s:
            assert s.scalar(select(func.count()).select_from(Job)) == 6

        out = subprocess.run(
            [*command, "--workers", "2", "--json"], env=env, capture_output=True, timeout=300
        )
        assert out.returncode == 0, out.stderr.decode()
        with lib.session() as s:
            tracks = s.scalars(select(Track)).all()
            assert len(tracks) == 6 and all(t.status == "ready" for t in tracks)
            assert sorted(t.file_name for t in tracks) == sorted(os.listdir(folder))
            per_track = s.execute(
                select(Analysis.track_id, func.count()).group_by(Analysis.track_id)
            ).all()
            assert len(per_track) == 6 and all(n == 1 for _, n in per_track)
            jobs = s.scalars(select(Job)).all()
            assert len(jobs) == 6 and {j.kind for j in jobs} == {"ingest"}
            assert all(j.state == "done" for j in jobs), [(j.id, j.state, j.error) for j in jobs]
            assert sorted(j.track_id for j in jobs) == sorted(t.id for t in tracks)
        assert not list((home / "media").rglob("*.tmp"))
