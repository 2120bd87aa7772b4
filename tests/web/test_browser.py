"""The pages in a real browser: Playwright driving Debian's Chromium, headless, against
``stemforge``'s app under uvicorn (a subprocess with its own job worker).

One flow, as a user would go: upload a real recording from ``shared/data`` with the file
input, watch its analysis job finish on the page, open the track, see the mix doctor's
findings (the same rules :func:`stemforge.advice.doctor.examine` finds for that file in
this process) and a plotly plot, press play and see ``audio.currentTime`` and the drawn
playhead advance, seek with the keyboard and the pointer, go back and filter and sort the
table. Then a phone-width layout and a keyboard-only walk. Screenshots are kept in
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
#: Playwright's waits: generous, because CI machines are small and often busy (the first
#: track page parses 3.5 MB of plotly.js; the mix doctor examines the file on first view).
TIMEOUT_MS = 120_000
#: 5.3 s of solo trumpet (Ogg Vorbis, which Chromium plays); its README: 90 BPM, key F.
RECORDING = "music/sorohanro_-_solo-trumpet-06.hq.ogg"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,  # about 30-60 s: a server, a real analysis job and a browser
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed at /usr/bin/chromium (apt-get install "
        "chromium); the browser tests drive it with Playwright.",
    ),
]

playwright_sync = pytest.importorskip("playwright.sync_api")

#: Tracks in the library before the upload: (title, tempo_bpm, key, camelot).
SEEDED = [
    ("Night Drive", 118.0, "A minor", "8A"),
    ("Morning Tea", 84.0, "C major", "8B"),
    ("Warehouse", 128.0, "E minor", "9A"),
    ("Far Away", 72.0, "F# major", "2B"),
]

SERVER = """
import sys, uvicorn
from pathlib import Path
from stemforge.web import WebSettings, create_app
home, port = Path(sys.argv[1]), int(sys.argv[2])
app = create_app(WebSettings(home=home, port=port, workers=1, analyzer="quick"))
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
"""


def seed(home: Path) -> None:
    from stemforge.library import Library
    from stemforge.library.models import Analysis, Track

    start = datetime(2024, 1, 1, tzinfo=UTC)
    with Library.open(home=home) as lib, lib.session() as session:
        for i, (title, bpm, key, code) in enumerate(SEEDED):
            when = start + timedelta(days=i)
            track = Track(
                content_sha256=f"{i:064x}",
                status="ready",
                source_path=f"/music/{i}.flac",
                original_path=f"{i}/original.flac",
                file_name=f"seed{i}.flac",
                file_format="flac",
                size_bytes=1000,
                title=title,
                artist="Seeded",
                genre="Test",
                duration_s=180.0 + i,
                added_at=when,
                updated_at=when,
            )
            session.add(track)
            session.flush()
            tonic, mode = key.split()
            session.add(
                Analysis(
                    track_id=track.id,
                    analysis_version=1,
                    algorithm_version="test/1",
                    is_current=True,
                    tempo_bpm=bpm,
                    key_name=key,
                    key_tonic=tonic,
                    key_mode=mode,
                    camelot=code,
                    integrated_lufs=-10.0 - i,
                    duration_s=180.0 + i,
                    result_json={},
                )
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import httpx

    home = tmp_path_factory.mktemp("stemforge-home")
    seed(home)
    port = free_port()
    env = {**os.environ, "STEMFORGE_HOME": str(home)}
    env.pop("STEMFORGE_DATABASE_URL", None)
    log = open(home / "server.log", "w")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(home), str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited: {(home / 'server.log').read_text()}")
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server did not answer within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    yield page
    context.close()


def shot(page, name: str, *, full_page: bool = False) -> None:
    page.screenshot(path=str(SHOTS / name), full_page=full_page)


def visible_titles(page) -> list[str]:
    return page.locator("#track-rows tr[data-id] .title-cell a").all_inner_texts()


def current_time(page) -> float:
    return page.evaluate("document.getElementById('audio').currentTime")


def test_upload_analyse_play_and_filter(server, page, shared_data):
    import httpx

    from stemforge.advice.doctor import examine

    recording = shared_data / RECORDING
    page.goto(server + "/")
    assert sorted(visible_titles(page)) == sorted(t for t, *_ in SEEDED)
    shot(page, "01-library.png")

    # upload through the page's file input; the row follows the upload and then the job
    page.set_input_files("#file-input", str(recording))
    item = page.locator(".upload-item").first
    assert recording.name in item.locator(".name").inner_text()
    item.locator("a.open-track").wait_for(timeout=2 * TIMEOUT_MS)
    assert item.get_attribute("data-state") == "done"
    assert "Added" in item.locator(".upload-state").inner_text()
    page.wait_for_function(
        f"document.querySelectorAll('#track-rows tr[data-id]').length === {len(SEEDED) + 1}"
    )
    uploaded_id = item.locator("a.open-track").get_attribute("href").rsplit("/", 1)[1]
    newest_first = page.locator("#track-rows tr[data-id]").first.get_attribute("data-id")
    assert newest_first == uploaded_id
    shot(page, "02-uploaded.png")

    # the track page: findings, plots, musical facts
    item.locator("a.open-track").click()
    page.wait_for_url("**/tracks/*")
    track_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert track_id == int(uploaded_id)
    page.locator("#findings .finding").first.wait_for()
    page.locator("#plots .plot .main-svg").first.wait_for()
    shown_rules = sorted(
        page.locator("#findings .finding").evaluate_all("els => els.map(e => e.dataset.rule)")
    )
    expected_rules = sorted(f.rule for f in examine(recording, target="spotify").findings)
    assert shown_rules == expected_rules
    assert page.locator("#plots .plot-card").count() >= 3
    detail = httpx.get(f"{server}/api/tracks/{track_id}").json()
    uploaded_title = detail["summary"]["title"] or detail["summary"]["file_name"]
    assert (
        page.locator("#fact-tempo").inner_text().startswith(f"{detail['summary']['tempo_bpm']:.1f}")
    )
    assert detail["summary"]["key"] in page.locator("#fact-key").inner_text()
    # the artist's README: 90 BPM
    assert abs(detail["summary"]["tempo_bpm"] - 90.0) < 2.0
    shot(page, "03-track.png", full_page=True)

    # play: the audio element's clock and the drawn playhead both advance
    page.wait_for_function("document.getElementById('waveform').dataset.playheadX !== undefined")
    page.wait_for_function("document.getElementById('audio').readyState >= 1")
    # 235,201 frames at 44.1 kHz (what soundfile reads) is 5.333 s
    assert abs(page.evaluate("document.getElementById('audio').duration") - 5.333) < 0.1
    assert page.evaluate("document.getElementById('audio').paused")
    x_before = int(page.get_attribute("#waveform", "data-playhead-x"))
    page.click("#play")
    page.wait_for_function("document.getElementById('audio').currentTime > 1.0")
    assert page.get_attribute("#play", "aria-pressed") == "true"
    x_playing = int(page.get_attribute("#waveform", "data-playhead-x"))
    assert x_playing > x_before
    page.wait_for_function(
        f"Number(document.getElementById('waveform').dataset.playheadX) > {x_playing}"
    )
    shot(page, "04-playing.png")
    if not page.evaluate("document.getElementById('audio').paused"):
        page.click("#play")
    assert page.evaluate("document.getElementById('audio').paused")
    assert page.get_attribute("#play", "aria-pressed") == "false"

    # seek by keyboard and by pointer on the waveform
    page.focus("#waveform")
    page.keyboard.press("Home")
    assert current_time(page) == 0
    page.keyboard.press("ArrowRight")
    assert abs(current_time(page) - 5.0) < 0.05
    page.keyboard.press("ArrowLeft")
    assert abs(current_time(page) - 0.0) < 0.05
    # the waveform's time axis is the decoded length (Chromium revises an Ogg file's own
    # duration once it has seeked near the end: 5.33 s becomes 5.70 s here)
    box = page.locator("#waveform").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    assert abs(current_time(page) - detail["summary"]["duration_s"] / 4) < 0.02
    page.wait_for_function("Number(document.getElementById('waveform').dataset.playheadX) > 0")
    # tag it: the chip appears and the library knows the tag
    page.fill("#tag-input", "Warm-Up")
    page.keyboard.press("Enter")
    page.locator("#tag-list .chip", has_text="warm-up").wait_for()
    assert httpx.get(f"{server}/api/tracks/{track_id}").json()["summary"]["tags"] == ["warm-up"]
    assert page.errors == []

    # back to the library: filter by key, then sort by BPM
    page.go_back()
    page.wait_for_selector("#track-rows tr[data-id]")
    expected = [t for t, _, _, code in SEEDED if code == "8A"]
    if detail["summary"]["camelot"] == "8A":
        expected.insert(0, uploaded_title)  # newest first
    page.select_option("#f-key", "8A")
    page.wait_for_function("location.search.includes('key=8A')")
    assert visible_titles(page) == expected
    count = "1 track matches" if len(expected) == 1 else f"{len(expected)} tracks match"
    assert page.locator("#result-count").inner_text() == count
    shot(page, "05-filtered-by-key.png")
    page.select_option("#f-key", "")
    page.wait_for_function(
        f"document.querySelectorAll('#track-rows tr[data-id]').length === {len(SEEDED) + 1}"
    )
    page.click("button.sort[data-sort=bpm]")
    page.wait_for_selector("th[aria-sort=ascending] button.sort[data-sort=bpm]")
    bpms = [float(x) for x in page.locator("#track-rows td[data-label=BPM]").all_inner_texts()]
    assert bpms == sorted(bpms) and len(bpms) == len(SEEDED) + 1
    page.click("button.sort[data-sort=bpm]")
    page.wait_for_selector("th[aria-sort=descending] button.sort[data-sort=bpm]")
    bpms = [float(x) for x in page.locator("#track-rows td[data-label=BPM]").all_inner_texts()]
    assert bpms == sorted(bpms, reverse=True)
    # the search box filters as one types
    # (the address changes once the new rows are shown)
    page.fill("#f-q", "tea")
    page.wait_for_function("location.search.includes('q=tea')")
    assert visible_titles(page) == ["Morning Tea"]
    page.fill("#f-q", "")
    page.fill("#f-tag", "warm-up")
    page.wait_for_function(
        "location.search.includes('tag=warm-up') && !location.search.includes('q=')"
    )
    assert visible_titles(page) == [uploaded_title]
    assert page.locator("#track-rows td[data-label=Tags] .chip").all_inner_texts() == ["warm-up"]
    assert page.errors == []


def test_upload_of_a_file_that_is_not_audio_shows_the_servers_reason(server, page, tmp_path):
    import httpx

    fake = tmp_path / "notes.wav"
    fake.write_text("these are my notes, not audio\n" * 20)
    direct = httpx.post(
        server + "/api/uploads", files={"files": (fake.name, fake.read_bytes(), "audio/wav")}
    )
    assert direct.status_code == 415
    page.goto(server + "/")
    page.set_input_files("#file-input", str(fake))
    item = page.locator(".upload-item.failed").first
    item.wait_for()
    assert item.locator(".message").inner_text().startswith(direct.json()["message"])
    shot(page, "08-upload-refused.png")


def test_phone_width_layout(server, browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(server + "/")
        page.wait_for_selector("#track-rows tr[data-id]")
        # nothing wider than the screen: no sideways scrolling
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        # the table turns into cards: one row is as wide as the panel, labels shown
        assert page.locator("#track-rows tr[data-id]").first.bounding_box()["width"] <= 390
        assert page.locator("#f-sort-mobile").is_visible()
        shot(page, "06-phone-library.png", full_page=True)
        href = page.locator("#track-rows tr[data-id] .title-cell a").first.get_attribute("href")
        page.goto(server + href)
        page.locator("#waveform").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.locator("#play").is_visible()
        shot(page, "07-phone-track.png", full_page=True)
    finally:
        context.close()


FOCUSED = """(() => {
  const e = document.activeElement;
  return e.id || (e.dataset && e.dataset.sort ? "sort:" + e.dataset.sort : e.tagName);
})()"""


def test_keyboard_reaches_upload_search_and_sort(server, page):
    page.goto(server + "/")
    page.wait_for_selector("#track-rows tr[data-id]")
    reached: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(FOCUSED))
    for wanted in ("upload-button", "f-q", "sort:title", "sort:bpm", "sort:key"):
        assert wanted in reached, f"Tab never reached {wanted}: {reached}"
    assert reached.index("upload-button") < reached.index("f-q") < reached.index("sort:title")
    # a focused sort header is a button: Enter sorts
    page.focus("button.sort[data-sort=lufs]")
    page.keyboard.press("Enter")
    page.wait_for_selector("th[aria-sort=ascending] button.sort[data-sort=lufs]")
    # the focus ring is visible (an outline, not removed)
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    shot(page, "09-keyboard-focus.png")
    # on a track page Tab reaches the play button, then the waveform (a slider)
    href = page.locator("#track-rows tr[data-id] .title-cell a").first.get_attribute("href")
    page.goto(server + href)
    reached = []
    for _ in range(20):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(FOCUSED))
    assert "play" in reached and "waveform" in reached
    assert reached.index("play") < reached.index("waveform")
    assert page.get_attribute("#waveform", "role") == "slider"
