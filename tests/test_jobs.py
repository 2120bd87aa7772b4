"""Jobs on SQLite and PostgreSQL: idempotent queueing, states, progress, cancellation,
transient retries with backoff, permanent failures, the local process pool, the CLI."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from stemforge.cli import app
from stemforge.demo import generate_song
from stemforge.errors import StemforgeError
from stemforge.jobs import (
    CANCELLED,
    DONE,
    FAILED,
    QUEUED,
    JobNotFoundError,
    JobSettings,
    JobStateError,
    LocalExecutor,
    TransientJobError,
    add_paths,
    cancel_job,
    enqueue,
    execute_job,
    get_job,
    get_kind,
    is_transient,
    list_jobs,
    reanalyze_tracks,
    register,
    retry_job,
)
from stemforge.jobs.runner import library_location
from stemforge.library import QUICK_ANALYZER, Library
from stemforge.library.errors import DatabaseError
from stemforge.library.models import Job, Track

FAST = JobSettings(max_attempts=3, backoff_s=0.05, progress_interval_s=0.0)
CALLS: dict[str, int] = {}


@register("test-flaky")
def _flaky(params, progress):
    """Fails transiently ``fail_times`` times, then succeeds."""
    key = params["name"]
    CALLS[key] = CALLS.get(key, 0) + 1
    if CALLS[key] <= params["fail_times"]:
        raise TransientJobError(f"busy (call {CALLS[key]})")
    progress("work", 0.5)
    return {"calls": CALLS[key]}


@register("test-bad-input")
def _bad_input(params, progress):
    raise StemforgeError("that file is not audio.", hint="Give a WAV or FLAC file.")


@register("test-slow", num_cpus=1, num_gpus=0)
def _slow(params, progress):
    for i in range(400):
        progress("tick", i / 400)
        time.sleep(0.01)
    return {"ticks": 400}


@pytest.fixture
def library(db_url, tmp_path):
    lib = Library.open(db_url, home=tmp_path / "home")
    yield lib
    lib.close()


def _run(lib, job_id, settings=FAST):
    url, home = library_location(lib)
    return execute_job(job_id, url, home, settings)


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobsongs")
    for seed, bpm in ((1, 120), (2, 100)):
        song = generate_song(
            tempo_bpm=bpm, key="A", mode="minor", seed=seed, sections=[("verse", 4)]
        )
        song.save(root / f"s{seed}")
    return [root / "s1" / "mix.wav", root / "s2" / "mix.wav"]


def test_enqueue_is_idempotent_by_key(library):
    first, before = enqueue(library, "test-flaky", {"name": "a", "fail_times": 0}, key="k1")
    again, before2 = enqueue(library, "test-flaky", {"name": "a", "fail_times": 0}, key="k1")
    assert before is None and (again, before2) == (first, QUEUED)
    other, _ = enqueue(library, "test-flaky", {"name": "b", "fail_times": 0}, key="k2")
    assert other != first
    with library.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 2
    assert _run(library, first) == DONE
    # a done job is kept (not run again) unless asked
    assert enqueue(library, "test-flaky", {"name": "a", "fail_times": 0}, key="k1") == (
        first,
        DONE,
    )
    job_id, before = enqueue(
        library, "test-flaky", {"name": "a", "fail_times": 0}, key="k1", rerun_done=True
    )
    assert (job_id, before) == (first, DONE) and get_job(library, first).state == QUEUED


def test_transient_failures_retry_with_backoff_then_succeed(library):
    CALLS.clear()
    job_id, _ = enqueue(library, "test-flaky", {"name": "t", "fail_times": 2}, settings=FAST)
    assert _run(library, job_id) == QUEUED
    job = get_job(library, job_id)
    assert job.attempts == 1 and "busy (call 1)" in job.error and job.next_run_at is not None
    first_due = job.next_run_at
    assert _run(library, job_id) == QUEUED
    job = get_job(library, job_id)
    assert job.attempts == 2 and job.next_run_at > first_due  # the backoff grows
    assert _run(library, job_id) == DONE
    job = get_job(library, job_id)
    assert (job.state, job.attempts, job.progress, job.result) == (DONE, 3, 1.0, {"calls": 3})
    assert job.error is None and job.finished_at


def test_transient_failures_give_up_after_max_attempts(library):
    CALLS.clear()
    job_id, _ = enqueue(library, "test-flaky", {"name": "g", "fail_times": 9}, settings=FAST)
    states = [_run(library, job_id) for _ in range(3)]
    assert states == [QUEUED, QUEUED, FAILED]
    job = get_job(library, job_id)
    assert "gave up after 3 attempts" in job.error
    retry_job(library, job_id)
    assert get_job(library, job_id).attempts == 0


def test_permanent_failure_fails_at_once(library):
    job_id, _ = enqueue(library, "test-bad-input", {})
    assert _run(library, job_id) == FAILED
    job = get_job(library, job_id)
    assert job.attempts == 1 and "not audio" in job.error and "WAV or FLAC" in job.error


def test_failure_classification():
    import errno

    from sqlalchemy.exc import OperationalError

    locked = OperationalError("UPDATE", {}, Exception("database is locked"))
    assert is_transient(locked)
    wrapped = DatabaseError("the library database failed (database is locked).")
    wrapped.__cause__ = locked
    assert is_transient(wrapped)
    assert is_transient(OSError(errno.EAGAIN, "try again"))
    assert not is_transient(OSError(errno.ENOENT, "no such file"))
    assert not is_transient(StemforgeError("bad input"))
    assert not is_transient(ValueError("a bug"))


def test_cancel_queued_never_starts_and_running_stops(library):
    queued, _ = enqueue(library, "test-slow", {})
    cancel_job(library, queued)
    assert _run(library, queued) == CANCELLED
    assert get_job(library, queued).started_at is None

    running, _ = enqueue(library, "test-slow", {})
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("state", _run(library, running)))
    worker.start()
    deadline = time.monotonic() + 20
    while get_job(library, running).progress < 0.05 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert get_job(library, running).state == "running"
    cancel_job(library, running)
    worker.join(20)
    assert outcome["state"] == CANCELLED
    job = get_job(library, running)
    assert job.state == CANCELLED and job.progress < 1.0 and job.result is None
    assert cancel_job(library, running).state == CANCELLED  # again: no change, no error
    done, _ = enqueue(library, "test-flaky", {"name": "c", "fail_times": 0})
    _run(library, done)
    with pytest.raises(JobStateError, match="is done"):
        cancel_job(library, done)
    with pytest.raises(JobNotFoundError):
        get_job(library, 9999)


def test_registry_declares_resources():
    assert get_kind("ingest").num_gpus == 0 and get_kind("analyze").num_cpus == 1
    register("test-gpu", num_gpus=1)(lambda params, progress: {})
    assert get_kind("test-gpu").num_gpus == 1
    with pytest.raises(StemforgeError, match="Known kinds"):
        get_kind("nope")


def test_local_pool_ingest_reanalyze_and_failures(library, songs, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all" * 100)
    copy = tmp_path / "copy.wav"
    copy.write_bytes(songs[0].read_bytes())
    steps = []
    with LocalExecutor(workers=2) as ex:
        report = add_paths(
            library,
            [*songs, copy, bad],
            executor=ex,
            analyzer="quick",
            progress=lambda s, f: steps.append(f),
        )
        assert (report.added, report.duplicates, report.failed) == (2, 1, 1), report.to_dict()
        assert "not an audio file" in report.items[3].reason
        assert steps[-1] == 1.0 and steps == sorted(steps)
        again = add_paths(library, songs, executor=ex, analyzer="quick")
        assert (again.added, again.duplicates) == (0, 2)
        ids = [item.track_id for item in report.items[:2]]
        redo = reanalyze_tracks(library, ids, executor=ex, analyzer="quick")
    assert [i.analysis_version for i in redo.items] == [2, 2]
    jobs = list_jobs(library)
    assert sorted(j.kind for j in jobs) == ["analyze", "analyze", "ingest", "ingest", "ingest"]
    failed = [j for j in jobs if j.state == FAILED]
    assert len(failed) == 1 and "not an audio file" in failed[0].error
    assert all(j.state == DONE for j in jobs if j is not failed[0])
    with library.session() as s:
        assert s.scalar(select(func.count()).where(Track.status == "ready")) == 2


def test_jobs_cli(library, monkeypatch, tmp_path):
    url, home = library_location(library)
    monkeypatch.setenv("STEMFORGE_DATABASE_URL", url)
    monkeypatch.setenv("STEMFORGE_HOME", home)
    CALLS.clear()
    job_id, _ = enqueue(library, "test-bad-input", {})
    _run(library, job_id)
    queued, _ = enqueue(library, "test-slow", {})
    runner = CliRunner()
    out = runner.invoke(app, ["jobs", "list", "--json"])
    assert out.exit_code == 0, out.output
    assert "test-bad-input" in out.output and "not audio" in out.output
    out = runner.invoke(app, ["jobs", "show", str(job_id)])
    assert out.exit_code == 0 and "failed" in out.output
    out = runner.invoke(app, ["jobs", "cancel", str(queued)])
    assert out.exit_code == 0 and "cancelled" in out.output
    out = runner.invoke(app, ["jobs", "cancel", str(job_id)])
    assert out.exit_code == 1 and "only queued or running" in out.output
    out = runner.invoke(app, ["jobs", "retry", str(job_id), "--queue-only"])
    assert out.exit_code == 0 and get_job(library, job_id).state == QUEUED
    out = runner.invoke(app, ["jobs", "show", "12345"])
    assert out.exit_code == 1 and "jobs list" in out.output


def test_jobs_retry_runs_the_job_now(library, songs, monkeypatch):
    """`jobs retry` of a cancelled analysis queues it and runs it to the end in a worker."""
    url, home = library_location(library)
    monkeypatch.setenv("STEMFORGE_DATABASE_URL", url)
    monkeypatch.setenv("STEMFORGE_HOME", home)
    track_id = library.add([songs[0]], analyzer=QUICK_ANALYZER).items[0].track_id
    job_id, _ = enqueue(
        library, "analyze", {"track_id": track_id, "analyzer": "quick"}, track_id=track_id
    )
    cancel_job(library, job_id)
    out = CliRunner().invoke(app, ["jobs", "retry", str(job_id)])
    assert out.exit_code == 0, out.output
    assert f"Job {job_id} is done" in out.output
    assert get_job(library, job_id).state == DONE
    assert library.show(track_id).analyses[-1].analysis_version == 2


def test_library_location_round_trip(library):
    url, home = library_location(library)
    assert Path(home) / "media" == library.media_root
    with Library.open(url, home=home) as other:
        assert other.engine.url == library.engine.url
