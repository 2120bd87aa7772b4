"""Musical analysis through `analyze`, and the quick `stemforge tempo` / `stemforge key`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import stemforge
from stemforge.analysis.music import analyze_music
from stemforge.audio import save
from stemforge.demo import generate_song


@pytest.fixture(scope="module")
def song():
    sections = [("intro", 4), ("verse", 8), ("chorus", 8), ("outro", 4)]
    return generate_song(tempo_bpm=124.0, key="Bb", mode="major", sections=sections, seed=11)


@pytest.fixture(scope="module")
def song_file(song, tmp_path_factory):
    path = tmp_path_factory.mktemp("music") / "song.wav"
    save(path, song.mix)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stemforge.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_analyze_music_matches_the_demo_truth(song):
    m = analyze_music(song.mix)
    assert m.rhythm.tempo_bpm == pytest.approx(124.0, rel=0.01)
    assert m.rhythm.time_signature == "4/4"
    assert m.key.key == "Bb major" and m.key.camelot == "6B"
    # Downbeats found by the tracker agree with the truth within 70 ms for nearly all bars.
    truth = song.truth.downbeat_times_s
    found = m.rhythm.downbeat_times_s
    hits = sum(np.min(np.abs(found - t)) < 0.07 for t in truth)
    assert hits / len(truth) >= 0.9
    labels = [s.label for s in m.structure.sections]
    assert labels[0] == "intro" and "chorus" in labels
    assert set(m.timings_s) == {"rhythm", "chroma", "key", "chords", "structure"}
    json.dumps(m.to_dict(), allow_nan=False)


def test_full_analyze_includes_music_and_summary(song_file):
    from stemforge.analysis.summary import summary_sections

    result = stemforge.analyze(song_file)
    assert result.music.rhythm.tempo_bpm == pytest.approx(124.0, rel=0.01)
    titles = [s.title for s in summary_sections(result)]
    assert titles[-3:] == ["Rhythm", "Key", "Structure"]
    assert json.loads(json.dumps(result.to_dict()))["music"]["key"]["key"] == "Bb major"


def test_cli_tempo_and_key(song_file):
    tempo = run_cli("tempo", str(song_file))
    assert tempo.returncode == 0, tempo.stderr
    assert "124.0 BPM" in tempo.stdout and "4/4" in tempo.stdout
    key = run_cli("key", str(song_file), "--json")
    assert key.returncode == 0, key.stderr
    data = json.loads(key.stdout)
    assert (data["key"], data["camelot"], data["open_key"]) == ("Bb major", "6B", "11d")


def test_cli_tempo_preferred_range_moves_the_reported_octave(song_file):
    proc = run_cli("tempo", str(song_file), "--min-bpm", "40", "--max-bpm", "70", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    reported = data["tempo_bpm"]
    listed = [a["tempo_bpm"] for a in data["alternatives"]]
    # Either the half tempo is reported, or 124 is kept on evidence and the half is listed.
    assert reported == pytest.approx(62.0, rel=0.01) or any(
        t == pytest.approx(62.0, rel=0.01) for t in listed
    )


@pytest.mark.parametrize("command", ["tempo", "key"])
def test_cli_quick_commands_bad_input(command, tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio")
    proc = run_cli(command, str(bad))
    assert proc.returncode == 1
    assert proc.stderr.startswith("error:") and "notes.mp3" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_music_of_noise_says_no_tempo_and_keeps_one_section(rng):
    from stemforge.audio import Audio

    noise = Audio(rng.standard_normal((2, 10 * 44_100)).astype(np.float32) * 0.1, 44_100)
    m = analyze_music(noise)
    assert not m.rhythm.found and m.rhythm.reason
    assert not m.key.found
    assert len(m.structure.sections) == 1 and m.structure.note


def test_beat_on_the_last_sample_does_not_break_chords_or_structure():
    """Regression: a beat tracked at exactly the end of the signal (DC offset case)."""
    from stemforge.analysis.loudness import integrated_loudness
    from stemforge.audio import Audio

    song = generate_song(tempo_bpm=120, sections=[("verse", 4), ("chorus", 4)], seed=1)
    gain = 10 ** ((-14 - integrated_loudness(song.mix)) / 20)
    audio = Audio(song.mix.samples * gain + 0.01, song.mix.sample_rate)
    m = analyze_music(audio)
    assert m.rhythm.tempo_bpm == pytest.approx(120.0, rel=0.01)
    assert all(s.end_s <= audio.duration_s + 1e-6 for s in m.structure.sections)
