"""The tracks API: list, search, filter, sort, paginate, detail, delete, tags, analysis,
mix doctor, report, export; the OpenAPI schema.

Tracks are sines of known amplitude added through the library (quick analysis), so their
loudness differences are known: 20*log10(a2/a1) dB between two of them.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import zipfile

import pytest

from stemforge.library import QUICK_ANALYZER, SearchQuery
from stemforge.web.api import API_ROUTERS

from .support import client, sine_file

AMPLITUDES = (0.1, 0.3, 0.6)


@pytest.fixture
def library_app(make_app, audio_dir):
    """An app with three sine tracks (amplitudes 0.1, 0.3, 0.6), the middle one tagged."""
    app = make_app()
    lib = app.state.library
    ids = {}
    for i, amplitude in enumerate(AMPLITUDES):
        path = sine_file(audio_dir / f"tone {i}.wav", amplitude=amplitude, duration_s=2.0 + i)
        report = lib.add([path], analyzer=QUICK_ANALYZER)
        assert report.added == 1, report.to_dict()
        ids[amplitude] = report.items[0].track_id
    return app, ids


def test_list_sort_filter_and_paginate(library_app):
    app, ids = library_app
    api = client(app)
    page = api.get("/api/tracks", params={"sort": "lufs"}).json()
    assert page["total"] == 3 and page["limit"] == 50 and page["offset"] == 0
    assert [t["id"] for t in page["items"]] == [ids[a] for a in AMPLITUDES]  # quiet first
    lufs = {t["id"]: t["integrated_lufs"] for t in page["items"]}
    # loudness differences of the sines: 20*log10 of the amplitude ratio
    for low, high in ((0.1, 0.3), (0.3, 0.6)):
        assert lufs[ids[high]] - lufs[ids[low]] == pytest.approx(
            20 * math.log10(high / low), abs=0.05
        )
    desc = api.get("/api/tracks", params={"sort": "lufs", "desc": "true"}).json()
    assert [t["id"] for t in desc["items"]] == [ids[a] for a in reversed(AMPLITUDES)]

    # filters: loudness range (an empty parameter means no filter), duration, text
    middle = lufs[ids[0.3]]
    found = api.get(
        "/api/tracks", params={"lufs_min": middle - 1, "lufs_max": middle + 1, "bpm_min": ""}
    ).json()
    assert [t["id"] for t in found["items"]] == [ids[0.3]] and found["total"] == 1
    longest = api.get("/api/tracks", params={"duration_min_s": 3.5}).json()
    assert [t["id"] for t in longest["items"]] == [ids[0.6]]
    assert api.get("/api/tracks", params={"q": "TONE 1"}).json()["total"] == 1

    # pages: the total counts every match
    first = api.get("/api/tracks", params={"sort": "added", "limit": 2}).json()
    second = api.get("/api/tracks", params={"sort": "added", "limit": 2, "offset": 2}).json()
    beyond = api.get("/api/tracks", params={"limit": 2, "offset": 10}).json()
    assert (first["total"], second["total"], beyond["total"]) == (3, 3, 3)
    assert [t["id"] for t in first["items"] + second["items"]] == sorted(ids.values())
    assert beyond["items"] == []

    # the same as the library's own search, field for field
    reference = app.state.library.search(SearchQuery(sort="lufs"))
    assert page["items"] == [t.to_dict() for t in reference]


def test_bad_parameters_are_json_errors(library_app):
    api = client(library_app[0])
    bad_key = api.get("/api/tracks", params={"key": "H minor"})
    assert bad_key.status_code == 400
    assert bad_key.json()["error"] == "InvalidKeyError" and bad_key.json()["hint"]
    for params in ({"limit": 501}, {"sort": "colour"}, {"bpm_min": "fast"}):
        response = api.get("/api/tracks", params=params)
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "ValidationError" and body["message"] and "hint" in body


def test_detail_tags_and_analysis(library_app):
    app, ids = library_app
    api = client(app)
    track_id = ids[0.3]
    detail = api.get(f"/api/tracks/{track_id}").json()
    assert detail["summary"]["id"] == track_id and detail["status"] == "ready"
    assert detail["audio_url"] == f"/api/tracks/{track_id}/audio"
    assert detail["peaks_url"] == f"/api/tracks/{track_id}/peaks"
    assert detail["sample_rate"] == 44_100 and detail["channels"] == 2

    tags = api.post(f"/api/tracks/{track_id}/tags", json={"add": ["Warm-up", " peak ", "peak"]})
    assert tags.json() == {"tags": ["peak", "warm-up"]}
    tags = api.post(f"/api/tracks/{track_id}/tags", json={"add": ["vinyl"], "remove": ["PEAK"]})
    assert tags.json() == {"tags": ["vinyl", "warm-up"]}
    assert [t["id"] for t in api.get("/api/tracks", params={"tag": "vinyl"}).json()["items"]] == [
        track_id
    ]
    assert api.post(f"/api/tracks/{track_id}/tags", json={"add": [""]}).status_code == 422

    analysis = api.get(f"/api/tracks/{track_id}/analysis").json()
    assert analysis == app.state.library.analysis_json(track_id)
    assert analysis["loudness"]["integrated_lufs"] == pytest.approx(
        detail["summary"]["integrated_lufs"]
    )


def test_delete_removes_derived_files_and_never_an_in_place_original(make_app, audio_dir):
    app = make_app()
    lib = app.state.library
    copied = sine_file(audio_dir / "copied.wav", amplitude=0.2)
    in_place = sine_file(audio_dir / "in place.wav", amplitude=0.4)
    copy_id = lib.add([copied], analyzer=QUICK_ANALYZER).items[0].track_id
    place_id = lib.add([in_place], in_place=True, analyzer=QUICK_ANALYZER).items[0].track_id
    api = client(app)
    for track_id in (copy_id, place_id):  # derived files the web makes
        assert api.get(f"/api/tracks/{track_id}/peaks").status_code == 200
    copy_folder, place_folder = lib.media_folder(copy_id), lib.media_folder(place_id)
    assert (copy_folder / "original.wav").is_file() and (place_folder / "web").is_dir()
    before = in_place.read_bytes()

    assert api.delete(f"/api/tracks/{copy_id}").json() == {
        "removed": copy_id,
        "kept_original": False,
    }
    assert api.delete(f"/api/tracks/{place_id}").json() == {
        "removed": place_id,
        "kept_original": True,
    }
    assert not copy_folder.exists() and not place_folder.exists()
    assert in_place.read_bytes() == before and copied.is_file()  # the user's files stay
    assert api.get(f"/api/tracks/{copy_id}").status_code == 404
    assert api.delete(f"/api/tracks/{copy_id}").status_code == 404
    assert api.get("/api/tracks").json()["total"] == 0


def test_mix_doctor_and_report(make_app, audio_dir):
    """The doctor's findings and the report's figures for a sine far too quiet for
    Spotify (-14 LUFS): a loudness finding; the second call reads the cache."""
    app = make_app()
    lib = app.state.library
    path = sine_file(audio_dir / "quiet.wav", amplitude=0.02, duration_s=4.0)
    track_id = lib.add([path], analyzer=QUICK_ANALYZER).items[0].track_id
    api = client(app)
    doctor = api.get(f"/api/tracks/{track_id}/doctor", params={"target": "spotify"})
    assert doctor.status_code == 200, doctor.text
    body = doctor.json()
    assert body["platform"] == "spotify"
    assert any(f["rule"].startswith("loudness") for f in body["findings"]), [
        f["rule"] for f in body["findings"]
    ]
    assert body["analysis"]["loudness"]["integrated_lufs"] < -30
    figures = body["figures"]
    assert figures and all({"id", "title", "alt", "figure"} <= set(f) for f in figures)
    assert all({"data", "layout"} <= set(f["figure"]) for f in figures)
    cached = list((lib.media_folder(track_id) / "web").glob("doctor-spotify-a*.json"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    assert api.get(f"/api/tracks/{track_id}/doctor?target=spotify").json() == body
    assert cached[0].stat().st_mtime_ns == stamp  # read, not computed again

    report = api.get(f"/api/tracks/{track_id}/report", params={"target": "spotify"})
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert "<html" in report.text[:500].lower() and "Plotly" in report.text

    unknown = api.get(f"/api/tracks/{track_id}/doctor", params={"target": "no_such_place"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "UnknownTargetError"


def test_export_zip_lists_the_tracks(library_app):
    app, ids = library_app
    api = client(app)
    response = api.get("/api/export", params={"lufs_min": -15, "layout": "daw"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"].startswith("attachment;")
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert sorted(t["id"] for t in manifest["tracks"]) == sorted([ids[0.3], ids[0.6]])
    for track in manifest["tracks"]:
        for entry in track["files"]:  # every file listed is in the zip, as hashed
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    # nothing is left on the server
    assert not any((app.state.library.media_root.parent / "exports").rglob("*.zip"))
    empty = api.get("/api/export", params={"lufs_min": 0})
    assert empty.status_code == 404 and empty.json()["error"] == "NothingToExportError"
    # one track (the track page's export), and the same filter on the list
    one = api.get("/api/export", params={"track_id": ids[0.6], "layout": "daw"})
    assert one.status_code == 200
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(one.content)).read("manifest.json"))
    assert [t["id"] for t in manifest["tracks"]] == [ids[0.6]]
    listed = api.get("/api/tracks", params=[("track_id", ids[0.3]), ("track_id", ids[0.6])])
    assert sorted(t["id"] for t in listed.json()["items"]) == sorted([ids[0.3], ids[0.6]])


def test_openapi_schema_lists_every_api_route(make_app):
    app = make_app()
    schema = client(app).get("/api/openapi.json").json()
    documented = {(path, method.upper()) for path, ops in schema["paths"].items() for method in ops}
    routes = {
        (route.path, method)
        for router in API_ROUTERS
        for route in router.routes
        if route.include_in_schema
        for method in route.methods
    }
    assert routes <= documented and len(routes) >= 20
    expected = {
        ("/api/tracks", "GET"),
        ("/api/tracks/{track_id}", "DELETE"),
        ("/api/tracks/{track_id}/tags", "POST"),
        ("/api/tracks/{track_id}/audio", "GET"),
        ("/api/tracks/{track_id}/peaks", "GET"),
        ("/api/tracks/{track_id}/doctor", "GET"),
        ("/api/tracks/{track_id}/report", "GET"),
        ("/api/uploads", "POST"),
        ("/api/jobs/events", "GET"),
        ("/api/jobs/{job_id}/cancel", "POST"),
        ("/api/export", "GET"),
        ("/api/login", "POST"),
    }
    assert expected <= documented
    upload = schema["paths"]["/api/uploads"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]


def test_plotly_and_static_files_are_served_from_the_packages(make_app):
    from stemforge.web.app import STATIC, plotly_js_path

    api = client(make_app())
    plotly = api.get("/static/vendor/plotly.min.js")
    assert plotly.status_code == 200
    assert plotly.headers["content-type"].startswith("text/javascript")
    assert plotly.content == plotly_js_path().read_bytes()
    css = next(STATIC.rglob("*.css"), None)
    if css is not None:  # the pages' own files
        served = api.get("/static/" + css.relative_to(STATIC).as_posix())
        assert served.status_code == 200 and served.content == css.read_bytes()
    assert api.get("/static/../app.py").status_code == 404
