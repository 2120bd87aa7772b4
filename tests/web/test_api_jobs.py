"""Jobs over HTTP: list, get, cancel, retry; the server-sent event stream (progress of a
running job, its end, keep-alives, a client that goes away) on a real uvicorn server; the
in-server worker (runs queued jobs, fails unknown kinds, requeues jobs of dead workers,
puts its running jobs back in the queue when it stops)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import update

from stemforge.jobs import enqueue, get_job, register
from stemforge.library.models import Job
from stemforge.web.worker import JobWorker, ThreadExecutor

from .support import FAST_JOBS, LiveServer, client, sine_file


@register("web-test-ticks")
def _ticks(params, progress):
    """``ticks`` steps of ``sleep_s``, reporting progress after each (cancellable)."""
    for i in range(params["ticks"]):
        time.sleep(params["sleep_s"])
        progress("tick", (i + 1) / params["ticks"])
    return {"ticks": params["ticks"]}


def _wait(predicate, timeout_s=30.0, what="condition"):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _events(response, limit_s=60.0):
    """Parse a text/event-stream into (event, data) pairs and comments, until it ends."""
    out, event, data = [], None, []
    deadline = time.monotonic() + limit_s
    for line in response.iter_lines():
        assert time.monotonic() < deadline, "the stream did not end"
        if line.startswith(":"):
            out.append(("comment", line[1:].strip()))
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and event is not None:
            out.append((event, json.loads("\n".join(data)) if data else None))
            event, data = None, []
    return out


@pytest.fixture
def thread_home(tmp_path, monkeypatch):
    # a job run in this process sets STEMFORGE_HOME for it: restore it afterwards
    monkeypatch.setenv("STEMFORGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_list_get_cancel_and_retry(make_app, audio_dir):
    app = make_app()
    api = client(app)
    wav = sine_file(audio_dir / "a.wav").read_bytes()
    job_id = api.post("/api/uploads", files={"files": ("a.wav", wav)}).json()["files"][0]["job_id"]
    listed = api.get("/api/jobs").json()["items"]
    assert [(j["id"], j["kind"], j["state"]) for j in listed] == [(job_id, "ingest", "queued")]
    assert api.get("/api/jobs", params={"state": "done"}).json()["items"] == []
    assert api.get("/api/jobs", params={"state": "lost"}).status_code == 422
    assert api.get(f"/api/jobs/{job_id}").json()["progress"] == 0.0

    cancelled = api.post(f"/api/jobs/{job_id}/cancel").json()
    assert cancelled["state"] == "cancelled" and cancelled["finished_at"]
    assert api.post(f"/api/jobs/{job_id}/cancel").json()["state"] == "cancelled"  # idempotent
    assert api.post(f"/api/jobs/{job_id}/retry").json()["state"] == "queued"
    assert api.get("/api/jobs/424242").status_code == 404
    assert api.get("/api/jobs/events", params={"ids": "1,x"}).status_code == 400


def test_event_stream_reports_progress_and_ends(make_app, thread_home):
    """A running job's progress arrives as it happens; cancelling another job shows; a
    stream watching ``ids`` ends by itself when they have ended."""
    app = make_app(home=thread_home, run_worker=True, executor="thread", workers=2)
    lib = app.state.library
    quick, _ = enqueue(lib, "web-test-ticks", {"ticks": 8, "sleep_s": 0.15}, settings=FAST_JOBS)
    endless, _ = enqueue(lib, "web-test-ticks", {"ticks": 10_000, "sleep_s": 0.02})
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        _wait(lambda: get_job(lib, endless).state == "running", what="the job to start")
        assert http.post(f"/api/jobs/{endless}/cancel").json()["state"] == "cancelled"
        with http.stream("GET", f"/api/jobs/events?ids={quick},{endless}") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _events(response)
    jobs = [data for kind, data in events if kind == "job"]
    assert events[-1] == ("end", {})
    mine = [j for j in jobs if j["id"] == quick]
    progress = [j["progress"] for j in mine]
    assert progress == sorted(progress), progress  # it only moves forward
    assert any(j["state"] == "running" and 0 < j["progress"] < 1 for j in mine), mine
    assert mine[-1]["state"] == "done" and mine[-1]["result"] == {"ticks": 8}
    assert [j["state"] for j in jobs if j["id"] == endless][-1] == "cancelled"
    _wait(lambda: app.state.event_streams == 0, what="the stream to close")


def test_event_stream_keeps_alive_and_notices_the_client_leaving(make_app, thread_home):
    app = make_app(home=thread_home, sse_keepalive_s=0.2)
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        with http.stream("GET", "/api/jobs/events") as response:
            lines = response.iter_lines()
            assert next(lines) == "retry: 3000"
            alive = 0
            while alive < 2:
                alive += next(lines) == ": keep-alive"
            assert app.state.event_streams == 1
            # a job queued now shows up on the open stream
            job_id, _ = enqueue(app.state.library, "web-test-ticks", {"ticks": 1, "sleep_s": 0})
            line = next(lines)
            while not line.startswith("data:"):
                line = next(lines)
            assert json.loads(line[5:])["id"] == job_id
        _wait(lambda: app.state.event_streams == 0, timeout_s=10, what="the server to stop")


def test_worker_runs_jobs_and_fails_unknown_kinds(make_app, thread_home):
    app = make_app(home=thread_home)
    lib = app.state.library
    worker = JobWorker(
        lib,
        lambda: (ThreadExecutor(1), 1),
        uploads=thread_home / "uploads",
        settings=FAST_JOBS,
        poll_s=0.02,
    )
    good, _ = enqueue(lib, "web-test-ticks", {"ticks": 2, "sleep_s": 0.01})
    bad, _ = enqueue(lib, "no-such-kind", {})
    worker.start()
    try:
        _wait(lambda: get_job(lib, good).state == "done", what="the job to finish")
        _wait(lambda: get_job(lib, bad).state == "failed", what="the unknown kind to fail")
        assert "no job kind is named" in get_job(lib, bad).error
        done = client(app).post(f"/api/jobs/{good}/cancel")  # too late to cancel
        assert done.status_code == 409 and done.json()["error"] == "JobStateError"
    finally:
        worker.stop()
    assert not worker.running


def test_stopping_puts_running_jobs_back_in_the_queue(make_app, thread_home):
    app = make_app(home=thread_home)
    lib = app.state.library
    worker = JobWorker(
        lib,
        lambda: (ThreadExecutor(1), 1),
        uploads=thread_home / "uploads",
        settings=FAST_JOBS,
        poll_s=0.02,
        stop_grace_s=10,
    )
    job_id, _ = enqueue(lib, "web-test-ticks", {"ticks": 100_000, "sleep_s": 0.01})
    worker.start()
    _wait(lambda: get_job(lib, job_id).progress > 0, what="the job to report progress")
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 5  # the job saw it was no longer its own
    job = get_job(lib, job_id)
    assert (job.state, job.owner, job.attempts, job.progress) == ("queued", None, 0, 0.0)


def test_jobs_of_a_dead_worker_are_requeued_at_start(make_app, thread_home):
    app = make_app(home=thread_home)
    lib = app.state.library
    job_id, _ = enqueue(lib, "web-test-ticks", {"ticks": 1, "sleep_s": 0.0})
    with lib.session() as session:  # as a server killed while it ran the job leaves it
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(state="running", owner=f"{__import__('socket').gethostname()}:999999999")
        )
    worker = JobWorker(
        lib,
        lambda: (ThreadExecutor(1), 1),
        uploads=thread_home / "uploads",
        settings=FAST_JOBS,
        poll_s=0.02,
    )
    worker.start()
    try:
        _wait(lambda: get_job(lib, job_id).state == "done", what="the requeued job to run")
        assert get_job(lib, job_id).result == {"ticks": 1}
    finally:
        worker.stop()


@pytest.mark.slow  # a new Python process imports the platform: 10-40 s here
def test_serve_prints_its_url_and_stops_cleanly(tmp_path):
    """``stemforge serve`` on a free port: the URL it prints answers; Ctrl+C stops it with
    status 0 (the worker and the server shut down)."""
    env = {**os.environ, "STEMFORGE_HOME": str(tmp_path / "home")}
    env.pop("STEMFORGE_DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "stemforge.cli", "serve", "--port", "0", "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "http://" not in line:
            assert time.monotonic() < deadline and process.poll() is None, line
            line = process.stdout.readline()
        url = re.search(r"http://\S+/", line).group(0)
        assert url.startswith("http://127.0.0.1:") and "local mode" in line
        health = httpx.get(url + "api/health", timeout=10).json()
        assert health["ok"] is True and health["mode"] == "local"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "stemforge stopped." in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
