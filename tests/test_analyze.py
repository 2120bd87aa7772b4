"""The whole `analyze`: Python entry point and the `stemforge analyze` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import stemforge
from stemforge.audio import Audio, save
from stemforge.errors import EmptyAudioError, InvalidAudioError

SR = 48_000


def stereo_sine(amplitude: float, duration_s: float = 6.0, freq_hz: float = 997.0) -> Audio:
    t = np.arange(int(duration_s * SR)) / SR
    x = amplitude * np.sin(2 * np.pi * freq_hz * t)
    return Audio(np.stack([x, x]), SR)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stemforge.cli", *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def sine_file(tmp_path_factory) -> Path:
    # A 997 Hz sine at -20 dBFS peak in both channels reads -20.0 LUFS (EBU Tech 3341, case 1
    # uses the same construction at -23 dBFS) and has a true peak of -20 dBTP.
    path = tmp_path_factory.mktemp("analyze") / "sine.wav"
    save(path, stereo_sine(10 ** (-20 / 20)), bit_depth=32)
    return path


def test_analyze_python_on_known_signal(sine_file):
    result = stemforge.analyze(sine_file)
    assert result.loudness.integrated_lufs == pytest.approx(-20.0, abs=0.05)
    assert result.loudness.true_peak_dbtp == pytest.approx(-20.0, abs=0.1)
    assert result.dynamics.crest_factor_db == pytest.approx(3.01, abs=0.05)
    assert result.stereo.correlation == pytest.approx(1.0, abs=1e-6)
    assert result.quality.clipped_runs == 0
    assert result.duration_s == pytest.approx(6.0)
    assert result.file is not None and result.file.sample_rate == SR
    third = {b.centre_hz: b.level_db for b in result.spectrum.third_octave}
    assert max(third, key=third.get) == 1000
    json.dumps(result.to_dict(), allow_nan=False)


def test_analyze_accepts_audio_and_matches_file(sine_file):
    from stemforge.audio import load

    direct = stemforge.analyze(load(sine_file))
    assert direct.source is None and direct.file is None
    assert direct.loudness.integrated_lufs == pytest.approx(
        stemforge.analyze(sine_file).loudness.integrated_lufs, abs=1e-9
    )


def test_analyze_reports_progress_in_order(sine_file):
    steps: list[tuple[str, float]] = []
    stemforge.analyze(sine_file, progress=lambda step, fraction: steps.append((step, fraction)))
    fractions = [f for _, f in steps]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"loudness", "stereo", "spectrum", "transients", "quality", "dynamics"} <= {
        s for s, _ in steps
    }


@pytest.mark.parametrize(
    ("channels", "rate"), [(1, 44_100), (8, 48_000), (2, 8_000), (2, 192_000), (6, 44_100)]
)
def test_analyze_odd_layouts_and_rates(channels, rate, rng):
    noise = rng.standard_normal((channels, int(1.5 * rate))).astype(np.float32) * 0.05
    result = stemforge.analyze(Audio(noise, rate))
    # Independent white noise: each channel RMS 0.05 -> about -26 dBFS mean square per channel.
    assert -40 < result.loudness.integrated_lufs < -10
    assert result.channels == channels
    json.dumps(result.to_dict(), allow_nan=False)


def test_silence_gives_no_loudness_and_no_crash():
    result = stemforge.analyze(Audio.silence(2.0, SR))
    assert result.loudness.integrated_lufs == -np.inf
    assert result.to_dict()["loudness"]["integrated_lufs"] is None
    assert result.quality.leading_silence_s == pytest.approx(2.0, abs=0.05)


def test_too_short_and_nan_are_clear_errors():
    with pytest.raises(EmptyAudioError, match="at least"):
        stemforge.analyze(stereo_sine(0.1, duration_s=0.2))
    bad = np.zeros((2, SR), np.float32)
    bad[0, 100] = np.nan
    with pytest.raises(InvalidAudioError, match="NaN"):
        stemforge.analyze(Audio(bad, SR))


def test_cli_json_and_out_file(sine_file, tmp_path):
    out = tmp_path / "report.json"
    proc = run_cli("analyze", str(sine_file), "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["analysis"]["loudness"]["integrated_lufs"] == pytest.approx(-20.0, abs=0.05)
    # -20 LUFS is 6 dB under Spotify's -14 (the default target): a finding says so.
    rules = {f["rule"] for f in data["findings"]}
    assert data["platform"] == "spotify" and "loudness_below_target" in rules
    assert json.loads(out.read_text()) == data


def test_cli_summary_is_readable(sine_file):
    proc = run_cli("analyze", str(sine_file))
    assert proc.returncode == 0, proc.stderr
    for words in ("Loudness", "integrated", "-20.0 LUFS", "true peak", "Stereo", "Quality"):
        assert words in proc.stdout


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, "not found|does not exist|no such"),
        (lambda p: (p.write_bytes(b""), p)[1], "empty"),
        (lambda p: (p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 40), p)[1], "."),
        (lambda p: (p.write_text("just text, not audio"), p)[1], "."),
    ],
    ids=["missing", "empty", "corrupt-wav", "text"],
)
def test_cli_bad_input_one_line_error(tmp_path, make, message):
    path = make(tmp_path / "bad.wav")
    proc = run_cli("analyze", str(path))
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:") and "bad.wav" in lines[0]
    assert "Traceback" not in proc.stderr
    import re

    assert re.search(message, lines[0], re.IGNORECASE)


def test_cli_nan_file_is_refused(tmp_path):
    path = tmp_path / "nan.wav"
    x = np.zeros((SR, 2), np.float32)
    x[10, 0] = np.nan
    sf.write(path, x, SR, subtype="FLOAT")
    proc = run_cli("analyze", str(path))
    assert proc.returncode == 1
    assert "NaN" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_info(sine_file):
    proc = run_cli("info", str(sine_file), "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["sample_rate"] == SR and data["channels"] == 2
    assert data["duration_s"] == pytest.approx(6.0)


def test_cli_mix_doctor_with_stems_reference_and_report(tmp_path):
    """The whole mix doctor from the command line: stems, reference, genre, target, HTML."""
    import re

    from stemforge.audio import mix
    from stemforge.demo import generate_song

    song = generate_song(tempo_bpm=120, sections=[("verse", 4), ("chorus", 4)], seed=5)
    stems = tmp_path / "stems"
    stems.mkdir()
    for name, audio in song.stems.items():
        save(stems / f"{name}.flac", audio)
    # The planted problem: the bass 12 dB too loud against the reference (the song's own mix).
    loud_bass = dict(song.stems)
    loud_bass["bass"] = song.stems["bass"].apply_gain_db(12.0)
    save(tmp_path / "mix.wav", mix(list(loud_bass.values())).apply_gain_db(-6.0))
    save(tmp_path / "ref.wav", song.mix)
    report, out = tmp_path / "report.html", tmp_path / "r.json"
    proc = run_cli(
        *("analyze", str(tmp_path / "mix.wav"), "--stems", str(stems)),
        *("--reference", str(tmp_path / "ref.wav"), "--genre", "pop", "--target", "apple_music"),
        *("--report", str(report), "--out", str(out)),
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "Apple Music" in text and "Pop (chosen by you)" in text
    assert text.index("Problems") < text.index("Measurements")
    assert "HTML report written" in text
    data = json.loads(out.read_text())
    assert (data["platform"], data["genre"], data["genre_source"]) == (
        "apple_music",
        "pop",
        "explicit",
    )
    rules = {f["rule"] for f in data["findings"]}
    assert {"stem_clash", "reference_eq"} <= rules
    # The reference comparison sees the planted bass boost: the bass band is louder in the mix.
    bass = next(d for d in data["reference"]["tonal_balance"] if d["name"] == "bass")
    assert bass["difference"] > 3.0
    html = report.read_text()
    assert html.lower().startswith("<!doctype html>") and "Mix doctor" in html
    assert not re.search(r"<(?:script|link|img)[^>]+(?:src|href)=[\"']https?:", html)


def test_cli_unknown_target_is_one_line_error(sine_file):
    proc = run_cli("analyze", str(sine_file), "--target", "myspace")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error:") and "spotify" in proc.stderr
