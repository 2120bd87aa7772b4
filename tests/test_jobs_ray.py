"""The same ingest and analyze jobs on a real local Ray instance (PostgreSQL, as a cluster
would share it). Heavy: one xdist worker runs this module."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from stemforge.demo import generate_song
from stemforge.jobs import DONE, RayExecutor, add_paths, list_jobs, reanalyze_tracks
from stemforge.library import Library
from stemforge.library.models import Track

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/stemforge-test-numba")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_ingest_and_reanalyze_on_ray(ray_instance, postgres_url, tmp_path):
    import psycopg

    with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    songs = []
    for seed, (bpm, key) in enumerate(((120, "A"), (100, "D"), (128, "E"))):
        folder = generate_song(
            tempo_bpm=bpm, key=key, mode="minor", seed=seed, sections=[("verse", 4)]
        ).save(tmp_path / f"s{seed}")
        songs.append(folder / "mix.wav")
    with Library.open(postgres_url, home=tmp_path / "home") as lib:
        executor = RayExecutor()  # uses the instance the fixture started
        report = add_paths(lib, songs, executor=executor, analyzer="quick")
        assert (report.added, report.failed) == (3, 0), report.to_dict()
        with lib.session() as s:
            assert s.scalar(select(func.count()).where(Track.status == "ready")) == 3
        redo = reanalyze_tracks(lib, None, executor=executor, analyzer="quick")
        assert [i.status for i in redo.items] == ["analysed"] * 3
        executor.close()  # did not start Ray: leaves it running
        assert ray_instance.is_initialized()
        jobs = list_jobs(lib)
        assert len(jobs) == 6 and all(j.state == DONE for j in jobs)
        assert {j.owner.split(":")[1] for j in jobs} != {str(os.getpid())}  # Ray workers ran them
        assert {j.kind for j in jobs} == {"ingest", "analyze"}
