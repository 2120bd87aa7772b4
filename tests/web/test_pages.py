"""The HTML pages: library (server-rendered first page, filters, sort, pagination), track,
jobs, login and 404; escaping of hostile titles; page access in server mode.

Tracks are written straight into the library's tables with known tempo, key and
loudness, so every expectation below comes from those rows, not from the code under test.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient

from stemforge.library.models import Analysis, Segment, Track
from stemforge.web import WebSettings, create_app
from stemforge.web.pages import fmt_bpm, fmt_duration, fmt_lufs

HOSTILE_TITLE = '<script>alert("owned")</script>'
HOSTILE_ARTIST = "<img src=x onerror=alert(1)>"

#: (title, artist, genre, tempo_bpm, key name, camelot, integrated_lufs, duration_s)
ROWS = [
    ("Night Drive", "Kavinsky-ish", "Synthwave", 118.0, "A minor", "8A", -9.5, 245.0),
    ("Morning Tea", "Loop Cafe", "Lo-fi", 84.0, "C major", "8B", -14.2, 131.0),
    ("Warehouse", "Kick Dept", "Techno", 128.0, "E minor", "9A", -7.8, 402.0),
    ("Sunset Bounce", "Deep Hse", "House", 124.0, "D minor", "7A", -8.9, 333.0),
    ("Far Away", "Strings Co", "Classical", 72.0, "F# major", "2B", -20.1, 3725.0),
    (HOSTILE_TITLE, HOSTILE_ARTIST, "Noise", 140.0, "G minor", "6A", -6.0, 61.0),
]


def seed(lib, rows=ROWS, *, user_id=None, sections=()) -> list[int]:
    """Ready tracks with a current analysis; returns their ids in order."""
    start = datetime(2024, 5, 1, tzinfo=UTC)
    ids = []
    with lib.session() as session:
        for i, (title, artist, genre, bpm, key, code, lufs, duration) in enumerate(rows):
            when = start + timedelta(minutes=i)
            track = Track(
                content_sha256=hashlib.sha256(f"{user_id}/{title}".encode()).hexdigest(),
                status="ready",
                user_id=user_id,
                source_path=f"/music/{i}.flac",
                original_path=f"{i}/original.flac",
                file_name=f"song{i}.flac",
                file_format="flac",
                size_bytes=1000,
                sample_rate=44_100,
                channels=2,
                title=title,
                artist=artist,
                genre=genre,
                duration_s=duration,
                added_at=when,
                updated_at=when,
            )
            session.add(track)
            session.flush()
            tonic, mode = key.split()
            analysis = Analysis(
                track_id=track.id,
                analysis_version=1,
                algorithm_version="test/1",
                is_current=True,
                tempo_bpm=bpm,
                key_name=key,
                key_tonic=tonic,
                key_mode=mode,
                camelot=code,
                integrated_lufs=lufs,
                true_peak_dbtp=-1.0,
                lra_lu=5.0,
                duration_s=duration,
                result_json={"music": {"rhythm": {"time_signature": "4/4"}}},
            )
            session.add(analysis)
            session.flush()
            for position, (label, s0, s1) in enumerate(sections):
                session.add(
                    Segment(
                        track_id=track.id,
                        analysis_id=analysis.id,
                        kind="section",
                        position=position,
                        start_s=s0,
                        end_s=s1,
                        label=label,
                        bar_count=8,
                    )
                )
            ids.append(track.id)
    return ids


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One app with :data:`ROWS` for the tests that only read (made once: migrating a new
    database takes a second)."""
    app = create_app(WebSettings(home=tmp_path_factory.mktemp("home"), run_worker=False))
    ids = seed(app.state.library)
    yield app, ids
    app.state.library.close()


def browser_client(app) -> TestClient:
    """A client on a loopback Host (local mode refuses others) that asks for HTML."""
    return TestClient(app, base_url="http://127.0.0.1", headers={"Accept": "text/html"})


@pytest.fixture
def client(app):
    with browser_client(app) as c:
        yield c


@pytest.fixture(scope="module")
def ids(seeded):
    return seeded[1]


@pytest.fixture(scope="module")
def reader(seeded):
    """A client of the seeded app."""
    with browser_client(seeded[0]) as c:
        yield c


def row_ids(html: str) -> list[int]:
    """The track ids of the library table's rows, in page order."""
    body = html.split('id="track-rows"', 1)[1].split("</tbody>", 1)[0]
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)"', body)]


def titles_by_id(ids):
    return {i: row[0] for i, row in zip(ids, ROWS, strict=True)}


# --- formatting ------------------------------------------------------------------------------


def test_formatting_of_numbers_in_cells():
    assert fmt_duration(3725.0) == "1:02:05"
    assert fmt_duration(59.6) == "1:00"
    assert fmt_duration(None) == "–"
    assert fmt_bpm(127.96) == "128.0"
    assert fmt_lufs(-14.04) == "−14.0"
    assert fmt_lufs(float("nan")) == "–"


# --- library ---------------------------------------------------------------------------------


def test_library_page_renders_first_page_with_controls(reader, ids):
    response = reader.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    # newest first (added one minute apart in ROWS order)
    assert row_ids(html) == list(reversed(ids))
    assert f"{len(ROWS)} tracks" in html
    # the controls the scripts and keyboard users need
    assert 'id="upload-button"' in html and 'type="file"' in html and "multiple" in html
    assert 'id="f-q"' in html and 'type="search"' in html
    assert len(re.findall(r'<button type="button" class="sort" data-sort="(\w+)"', html)) == 5
    assert re.search(r'aria-sort="descending"><button type="button" class="sort"', html) is None
    # key selects list all 24 Camelot codes
    key_select = html.split('id="f-key"', 1)[1].split("</select>", 1)[0]
    assert len(re.findall(r'<option value="\d{1,2}[AB]"', key_select)) == 24
    assert '<option value="8A">8A · A minor</option>' in key_select
    # cells show the stored values, formatted
    night = html.split(f'<tr data-id="{ids[0]}">', 1)[1].split("</tr>", 1)[0]
    assert "118.0" in night and "A minor" in night and ">8A<" in night
    assert "−9.5" in night and "4:05" in night and "Synthwave" in night
    assert '<script src="/static/js/library.js' in html


def test_library_filters_by_key_bpm_and_text_on_the_server(reader, ids):
    by_id = titles_by_id(ids)
    html = reader.get("/", params={"key": "8A"}).text
    assert [by_id[i] for i in row_ids(html)] == ["Night Drive"]
    assert "1 track matches" in html
    # the form keeps what was chosen
    assert '<option value="8A" selected>' in html
    # A minor mixes with itself (8A), C major (8B), D minor (7A) and E minor (9A)
    html = reader.get("/", params={"compatible_with": "Am", "sort": "title", "desc": "false"}).text
    assert [by_id[i] for i in row_ids(html)] == [
        "Morning Tea",
        "Night Drive",
        "Sunset Bounce",
        "Warehouse",
    ]
    html = reader.get("/", params={"bpm_min": "120", "bpm_max": "130"}).text
    assert {by_id[i] for i in row_ids(html)} == {"Warehouse", "Sunset Bounce"}
    html = reader.get("/", params={"q": "cafe"}).text
    assert [by_id[i] for i in row_ids(html)] == ["Morning Tea"]
    html = reader.get("/", params={"genre": "opera"}).text
    assert row_ids(html) == [] and "No tracks match these filters." in html


def test_library_sorts_and_paginates(reader, ids):
    by_bpm = [i for _, i in sorted((row[3], i) for i, row in zip(ids, ROWS, strict=True))]
    html = reader.get("/", params={"sort": "bpm", "desc": "false"}).text
    assert row_ids(html) == by_bpm
    assert 'aria-sort="ascending"><button type="button" class="sort" data-sort="bpm"' in html
    html = reader.get("/", params={"sort": "bpm", "desc": "true"}).text
    assert row_ids(html) == by_bpm[::-1]
    html = reader.get("/", params={"sort": "bpm", "desc": "false", "limit": 2, "offset": 2}).text
    assert row_ids(html) == by_bpm[2:4]
    assert f"3–4 of {len(ROWS)}" in html
    # an unknown sort falls back to the default instead of failing
    assert reader.get("/", params={"sort": "colour"}).status_code == 200


def test_library_explains_a_key_that_is_not_a_key(reader, ids):
    response = reader.get("/", params={"key": "H minor"})
    assert response.status_code == 200
    assert row_ids(response.text) == []
    box = response.text.split('id="filter-error"', 1)[1].split("</div>", 1)[0]
    assert "is not a key" in unescape(box) and "Camelot code" in unescape(box)


def test_empty_library_invites_an_upload(client):
    html = client.get("/").text
    assert row_ids(html) == [] and "No tracks yet" in html and "0 tracks" in html


# --- track -----------------------------------------------------------------------------------


def test_track_page_shows_facts_player_and_doctor_shell(app, client):
    (track_id,) = seed(
        app.state.library,
        ROWS[:1],
        sections=[("intro", 0.0, 30.0), ("chorus", 30.0, 245.0)],
    )
    response = client.get(f"/tracks/{track_id}")
    assert response.status_code == 200
    html = response.text
    assert "<h1" in html and "Night Drive" in html and "Kavinsky-ish" in html
    assert "118.0" in html and "A minor" in html and "4/4" in html and "−9.5" in html
    facts = html.split('id="fact-camelot"', 1)[1].split("</dd>", 1)[0]
    assert "8A" in facts and "mixes with 8B, 7A, 9A" in facts
    assert f'<audio id="audio" preload="metadata" src="/api/tracks/{track_id}/audio">' in html
    assert 'id="waveform"' in html and 'role="slider"' in html and 'tabindex="0"' in html
    assert 'id="play"' in html and 'aria-label="Play"' in html
    assert '<script src="/static/vendor/plotly.min.js"' in html
    assert f'href="/api/tracks/{track_id}/audio?download=1"' in html
    assert f'href="/api/tracks/{track_id}/report"' in html
    # sections: a lane block per section, at its share of the length
    assert html.count('class="block"') == 2
    assert "left: 0.0%; width: 12.245%" in html  # 30 s of 245 s
    lane = html.split('class="sections-lane"', 1)[1].split("</div>\n", 1)[0]
    assert "intro" in lane and "chorus" in lane


def test_unknown_track_gets_the_html_404_page(reader, ids):
    response = reader.get(f"/tracks/{max(ids) + 1000}")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "No track has the id" in response.text and 'href="/"' in response.text
    response = reader.get("/no/such/page")
    assert response.status_code == 404 and "This page does not exist" in response.text


def test_hostile_titles_are_shown_as_text(reader, ids):
    hostile_id = ids[-1]
    for path in ("/", f"/tracks/{hostile_id}", "/?q=script"):
        html = reader.get(path).text
        assert HOSTILE_TITLE not in html and HOSTILE_ARTIST not in html, path
        assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, path
        # the JSON handed to the scripts cannot close its <script> element either
        for block in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S):
            assert "<" not in block and ">" not in block


# --- jobs, login, static -----------------------------------------------------------------------


def test_jobs_page_and_static_files(client):
    html = client.get("/jobs").text
    assert 'id="jobs"' in html and "/static/js/jobs.js" in html and 'aria-current="page"' in html
    for path in (
        "/static/app.css",
        "/static/js/common.js",
        "/static/js/library.js",
        "/static/js/track.js",
        "/static/js/jobs.js",
    ):
        response = client.get(path)
        assert response.status_code == 200 and len(response.content) > 500, path
    plotly = client.get("/static/vendor/plotly.min.js")
    assert plotly.status_code == 200 and b"plotly" in plotly.content[:2000].lower()


def test_login_page_never_redirects_off_site(client):
    html = client.get("/login", params={"next": "/tracks/3"}).text
    assert 'data-next="/tracks/3"' in html and 'id="password"' in html
    for target in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)"):
        html = client.get("/login", params={"next": target}).text
        assert 'data-next="/"' in html, target


def test_server_mode_pages_need_a_login_and_show_only_ones_own_tracks(make_app):
    from stemforge.web import auth

    app = make_app(mode="server")
    lib = app.state.library
    alice = auth.create_user(lib, "alice", "correct horse battery")
    bob = auth.create_user(lib, "bob", "staple battery horse")
    alice_ids = seed(lib, ROWS[:2], user_id=alice.id)
    bob_ids = seed(lib, ROWS[2:4], user_id=bob.id)
    with browser_client(app) as client:
        for path in ("/", "/jobs", f"/tracks/{alice_ids[0]}"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code in (302, 303, 307), path
            assert response.headers["location"].startswith("/login?next=/"), path
        assert client.get("/login").status_code == 200
        login = client.post(
            "/api/login", json={"username": "alice", "password": "correct horse battery"}
        )
        assert login.status_code == 200
        html = client.get("/").text
        assert sorted(row_ids(html)) == sorted(alice_ids)
        assert "alice" in html and 'id="logout"' in html
        assert client.get(f"/tracks/{alice_ids[0]}").status_code == 200
        assert client.get(f"/tracks/{bob_ids[0]}").status_code == 404


# --- totals of searches ------------------------------------------------------------------------


def test_search_totals_follow_every_change_to_the_library(app):
    from stemforge.library import SearchQuery
    from stemforge.web.querying import SearchTotals

    lib = app.state.library
    totals = SearchTotals()
    seed(lib, ROWS[:3])
    everything = SearchQuery()
    minor = SearchQuery(key="8A")
    assert totals.count(lib, everything) == 3 == lib.count(everything)
    assert totals.count(lib, minor) == 1
    # a commit by another connection (as a job worker in another process makes)
    from sqlalchemy import create_engine, text

    other = create_engine(str(lib.engine.url))
    with other.begin() as conn:
        conn.execute(text("UPDATE analyses SET camelot = '8A'"))
    other.dispose()
    assert totals.count(lib, minor) == 3
    # new tracks, tags and removals through the library
    (new_id,) = seed(lib, ROWS[3:4])
    assert totals.count(lib, everything) == 4
    tagged = SearchQuery(tag="warm-up")
    assert totals.count(lib, tagged) == 0
    lib.tag(new_id, ["warm-up"])
    assert totals.count(lib, tagged) == 1
    lib.remove(new_id)
    assert totals.count(lib, everything) == 3 and totals.count(lib, tagged) == 0
    # sort, limit and offset do not change a total: one entry serves them all
    assert totals.count(lib, SearchQuery(sort="bpm", descending=True, limit=2, offset=1)) == 3


def test_library_page_total_is_fresh_after_a_new_track(client, app):
    seed(app.state.library, ROWS[:2])
    assert "2 tracks" in client.get("/", params={"limit": 1}).text
    seed(app.state.library, ROWS[2:3])
    html = client.get("/", params={"limit": 1}).text
    assert "3 tracks" in html and "1–1 of 3" in html
