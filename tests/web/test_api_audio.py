"""Audio streaming with HTTP range requests, browser-playable previews, and waveform
peaks checked against signals of known amplitude."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from stemforge.library import QUICK_ANALYZER

from .support import client, sine_file


@pytest.fixture
def wav_track(make_app, audio_dir):
    app = make_app()
    path = sine_file(audio_dir / "Tone: A440?.wav", amplitude=0.3, duration_s=2.0)
    track_id = app.state.library.add([path], analyzer=QUICK_ANALYZER).items[0].track_id
    stored = app.state.library.media_folder(track_id) / "original.wav"
    return app, track_id, stored.read_bytes()


def test_whole_file_and_byte_ranges(wav_track):
    app, track_id, data = wav_track
    api = client(app)
    url = f"/api/tracks/{track_id}/audio"
    size = len(data)

    whole = api.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/wav"
    assert int(whole.headers["content-length"]) == size

    for header, first, last in (
        ("bytes=100-199", 100, 199),
        ("bytes=1000-", 1000, size - 1),
        ("bytes=-50", size - 50, size - 1),
        (f"bytes={size - 10}-{size + 500}", size - 10, size - 1),  # clipped at the end
    ):
        part = api.get(url, headers={"Range": header})
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.content == data[first : last + 1]
        assert int(part.headers["content-length"]) == last - first + 1

    head = api.head(url, headers={"Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-range"] == f"bytes 0-9/{size}"

    for unsatisfiable in (f"bytes={size}-", f"bytes={size + 100}-{size + 200}", "bytes=-0"):
        bad = api.get(url, headers={"Range": unsatisfiable})
        assert bad.status_code == 416, unsatisfiable
        assert bad.headers["content-range"] == f"bytes */{size}"
        assert bad.json()["error"] == "RangeNotSatisfiableError"

    for malformed in ("bytes=abc", "pages=1-2", "bytes=20-10"):  # ignored: the whole file
        ignored = api.get(url, headers={"Range": malformed})
        assert ignored.status_code == 200 and ignored.content == data, malformed


def test_download_names_the_file_safely(wav_track):
    app, track_id, data = wav_track
    response = client(app).get(f"/api/tracks/{track_id}/audio", params={"download": 1})
    assert response.status_code == 200 and response.content == data
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    # ':' and '?' are not file-name characters
    assert 'filename="Tone_ A440_.wav"' in disposition
    assert "filename*=UTF-8''Tone_%20A440_.wav" in disposition


def test_formats_browsers_do_not_play_get_a_flac_preview(make_app, audio_dir):
    """AIFF is not played by Chromium: the API sends a FLAC of the same samples."""
    app = make_app()
    aiff = sine_file(audio_dir / "tone.aiff", amplitude=0.5, duration_s=1.5, fmt="AIFF")
    track_id = app.state.library.add([aiff], analyzer=QUICK_ANALYZER).items[0].track_id
    api = client(app)
    response = api.get(f"/api/tracks/{track_id}/audio")
    assert response.status_code == 200 and response.headers["content-type"] == "audio/flac"
    preview, rate = sf.read(io.BytesIO(response.content), dtype="float64")
    original, original_rate = sf.read(aiff, dtype="float64")
    assert rate == original_rate and preview.shape == original.shape
    assert np.max(np.abs(preview - original)) < 1e-4  # 16-bit source in 24-bit FLAC
    folder = app.state.library.media_folder(track_id) / "web"
    assert (folder / "preview.flac").is_file()
    part = api.get(f"/api/tracks/{track_id}/audio", headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == response.content[4:12]
    # the download is still the original
    download = api.get(f"/api/tracks/{track_id}/audio?download=true")
    assert download.content == aiff.read_bytes()


def test_peaks_of_a_signal_with_known_amplitudes(make_app, audio_dir):
    """1 s of a 1 kHz sine at 0.5 then 1 s at 0.25 (48 kHz): every bucket of the first
    half peaks at +-0.5, of the second at +-0.25; points merge buckets, never lose peaks."""
    app = make_app()
    rate = 48_000
    t = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 1000.0 * t)
    mono = np.concatenate([0.5 * tone, 0.25 * tone])
    stereo = np.stack([mono, mono], axis=1)
    path = audio_dir / "steps.wav"
    sf.write(path, stereo, rate, subtype="FLOAT")
    track_id = app.state.library.add([path], analyzer=QUICK_ANALYZER).items[0].track_id
    api = client(app)

    peaks = api.get(f"/api/tracks/{track_id}/peaks", params={"points": 100}).json()
    assert peaks["points"] == 100 and len(peaks["min"]) == len(peaks["max"]) == 100
    assert peaks["sample_rate"] == rate and peaks["duration_s"] == pytest.approx(2.0)
    assert np.allclose(peaks["max"][:50], 0.5, atol=1e-3)
    assert np.allclose(peaks["min"][:50], -0.5, atol=1e-3)
    assert np.allclose(peaks["max"][50:], 0.25, atol=1e-3)
    assert np.allclose(peaks["min"][50:], -0.25, atol=1e-3)

    cache = app.state.library.media_folder(track_id) / "web" / "peaks.json"
    stamp = cache.stat().st_mtime_ns
    one = api.get(f"/api/tracks/{track_id}/peaks", params={"points": 1}).json()
    assert one["max"] == [pytest.approx(0.5, abs=1e-3)]
    assert one["min"] == [pytest.approx(-0.5, abs=1e-3)]
    assert cache.stat().st_mtime_ns == stamp  # computed once
    full = api.get(f"/api/tracks/{track_id}/peaks", params={"points": 4096}).json()
    assert full["points"] == 4000  # 96,000 frames in buckets of 24 frames
    assert max(full["max"]) == pytest.approx(0.5, abs=1e-3)
    assert api.get(f"/api/tracks/{track_id}/peaks", params={"points": 0}).status_code == 422


def test_peaks_of_a_file_shorter_than_the_buckets(make_app, audio_dir):
    app = make_app()
    path = audio_dir / "click.wav"
    samples = np.zeros((1000, 1))
    samples[500, 0] = 0.75
    sf.write(path, samples, 8_000, subtype="FLOAT")
    lib = app.state.library
    track_id = lib.add([path], analyzer=QUICK_ANALYZER).items[0].track_id
    if track_id is None:  # an analysis refusing 1000 frames is fine; peaks are not then
        pytest.skip("the quick analysis does not take 0.125 s files")
    peaks = client(app).get(f"/api/tracks/{track_id}/peaks?points=4096").json()
    assert peaks["points"] == 1000
    assert peaks["max"][500] == pytest.approx(0.75) and max(peaks["max"][:500]) == 0.0
