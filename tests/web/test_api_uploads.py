"""Uploads: streamed to disk under STEMFORGE_HOME/uploads, safe names, 413 past the limit
(the partial file deleted), 415 for what is not audio, duplicates, and the whole way from
an upload to an analysed track through the in-server job worker."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stemforge.library import QUICK_ANALYZER

from .support import client, sine_file


def _files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file())


def _uploads(app) -> list[Path]:
    root = app.state.library.media_root.parent / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def test_non_audio_is_refused_with_415_and_nothing_is_kept(make_app):
    app = make_app()
    response = client(app).post(
        "/api/uploads", files={"files": ("notes.wav", b"these are my lyrics, not audio\n" * 40)}
    )
    assert response.status_code == 415
    body = response.json()
    assert body["error"] == "NotAudioError"
    assert body["message"].startswith("notes.wav: ") and "audio" in body["message"]
    assert body["hint"] and "/" not in body["message"].split(": ", 1)[0]  # no server path
    assert _uploads(app) == []
    assert client(app).get("/api/jobs").json()["items"] == []


def test_oversized_upload_413_before_reading(make_app, audio_dir):
    app = make_app(max_upload_bytes=10_000)
    path = sine_file(audio_dir / "long.wav", duration_s=1.0)  # 176 kB
    response = client(app).post("/api/uploads", files={"files": (path.name, path.read_bytes())})
    assert response.status_code == 413
    assert response.json()["error"] == "UploadTooLargeError" and response.json()["hint"]
    assert _uploads(app) == []


def test_oversized_upload_413_while_streaming_deletes_the_partial_file(make_app, audio_dir):
    """Without a Content-Length (a chunked body) the limit is counted as bytes arrive."""
    app = make_app(max_upload_bytes=50_000)
    data = sine_file(audio_dir / "long.wav", duration_s=1.0).read_bytes()
    boundary = "stemforgeboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="long.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = head + data + tail

    def chunks():
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = client(app).post(
        "/api/uploads",
        content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert _uploads(app) == []
    folders = app.state.library.media_root.parent / "uploads"
    assert not any(folders.iterdir())  # the partial file's folder is gone too


def test_upload_names_cannot_leave_the_store(make_app, audio_dir, tmp_path):
    app = make_app()
    home = app.state.library.media_root.parent
    wav = sine_file(audio_dir / "a.wav", amplitude=0.2).read_bytes()
    other = sine_file(audio_dir / "b.wav", amplitude=0.4).read_bytes()
    hidden = sine_file(audio_dir / "c.wav", amplitude=0.6).read_bytes()
    response = client(app).post(
        "/api/uploads",
        files=[
            ("files", ("../../etc/passwd.wav", wav)),
            ("files", ("..\\..\\x.wav", other)),
            ("files", ("/abs/.hidden.wav", hidden)),
        ],
    )
    assert response.status_code == 202, response.text
    entries = response.json()["files"]
    assert [e["name"] for e in entries] == ["passwd.wav", "x.wav", "hidden.wav"]
    assert all(e["status"] == "queued" and isinstance(e["job_id"], int) for e in entries)
    uploads = (home / "uploads").resolve()
    stored = _uploads(app)
    assert sorted(p.name for p in stored) == ["hidden.wav", "passwd.wav", "x.wav"]
    for path in stored:
        assert path.resolve().parent.parent == uploads  # uploads/<random>/<name>
    assert not (tmp_path / "etc").exists() and not Path("/abs").exists()
    outside = [p for p in _files(tmp_path) if uploads not in p.resolve().parents]
    assert all(p.suffix != ".wav" or p.parent == audio_dir for p in outside)


def test_duplicates_and_mixed_batches(make_app, audio_dir):
    app = make_app()
    lib = app.state.library
    known = sine_file(audio_dir / "known.wav", amplitude=0.3)
    track_id = lib.add([known], analyzer=QUICK_ANALYZER).items[0].track_id
    fresh = sine_file(audio_dir / "fresh.wav", amplitude=0.1)
    response = client(app).post(
        "/api/uploads",
        files=[
            ("files", ("again.wav", known.read_bytes())),
            ("files", ("fresh.wav", fresh.read_bytes())),
            ("files", ("readme.txt", b"not audio")),
        ],
    )
    assert response.status_code == 202
    again, new, text = response.json()["files"]
    assert again["status"] == "duplicate" and again["track_id"] == track_id
    assert again["job_id"] is None
    assert new["status"] == "queued" and new["job_id"] is not None
    assert text["status"] == "failed" and text["reason"].startswith("readme.txt: ")
    assert [p.name for p in _uploads(app)] == ["fresh.wav"]  # only what waits for a job
    job = client(app).get(f"/api/jobs/{new['job_id']}").json()
    assert job["kind"] == "ingest" and job["state"] == "queued"
    assert job["params"]["path"] == "fresh.wav"  # no server path in the API


def test_not_multipart_and_no_files(make_app):
    api = client(make_app())
    wrong = api.post("/api/uploads", json={"files": []})
    assert wrong.status_code == 400 and wrong.json()["error"] == "BadUploadError"
    empty = api.post("/api/uploads", data={"other": "x"}, files={"nothing": ("", b"")})
    assert empty.status_code == 400 and "files" in empty.json()["message"]


@pytest.mark.slow  # a worker process starts (imports, numba warm-up): 10-30 s
def test_upload_is_ingested_and_analysed_by_the_server(make_app, shared_data):
    """ITU-R BS.2217's relative-gate test file: -10.0 LKFS (+-0.1) by the standard."""
    app = make_app(run_worker=True, executor="local", workers=1, analyzer="full")
    source = shared_data / "loudness/itu_bs2217_subset/1770-2_Comp_RelGateTest.wav"
    with client(app) as api:  # the lifespan starts the worker
        response = api.post("/api/uploads", files={"files": (source.name, source.read_bytes())})
        assert response.status_code == 202
        job_id = response.json()["files"][0]["job_id"]
        deadline = time.monotonic() + 240
        while (job := api.get(f"/api/jobs/{job_id}").json())["state"] not in (
            "done",
            "failed",
            "cancelled",
        ):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["state"] == "done", job
        tracks = api.get("/api/tracks").json()["items"]
        assert [t["id"] for t in tracks] == [job["track_id"]]
        assert tracks[0]["file_name"] == source.name
        assert tracks[0]["integrated_lufs"] == pytest.approx(-10.0, abs=0.1)
        analysis = api.get(f"/api/tracks/{job['track_id']}/analysis").json()
        assert {"loudness", "spectrum", "music"} <= set(analysis)
        stored = app.state.library.media_folder(job["track_id"]) / "original.wav"
        assert stored.read_bytes() == source.read_bytes()
        # the worker ran the mix doctor too: the track page's findings are a file read
        cached = sorted(p.name for p in (stored.parent / "web").glob("doctor-default-a1.*"))
        assert cached == ["doctor-default-a1.html", "doctor-default-a1.json"]
        doctor = api.get(f"/api/tracks/{job['track_id']}/doctor").json()
        assert doctor["analysis"]["loudness"]["integrated_lufs"] == pytest.approx(-10.0, abs=0.1)
        deadline = time.monotonic() + 10
        while _uploads(app) and time.monotonic() < deadline:  # the worker tidies up
            time.sleep(0.1)
        assert _uploads(app) == []
    assert app.state.worker is not None and not app.state.worker.running
