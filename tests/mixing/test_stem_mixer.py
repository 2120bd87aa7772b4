"""The StemMixer API of source document 001, as the document writes it."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stemforge.audio.io import save
from stemforge.audio.signal import Audio, mix
from stemforge.demo import generate_song
from stemforge.errors import StemforgeError
from stemforge.mixing.gain import GainPredictor
from stemforge.mixing.render import render
from stemforge.mixing.sheet import MixSheet
from stemforge.mixing.stem_mixer import StemMixer

ROOT = Path(__file__).resolve().parents[2]
SR = 44100
GROUPS = {
    "drums": ["kick", "snare", "hats"],
    "bass": ["bass"],
    "vocals": ["vocal"],
    "synth": ["chords", "lead"],
}


@pytest.fixture(scope="module")
def song():
    return generate_song(sections=[("verse", 1)], seed=11, sample_rate=SR)


@pytest.fixture
def document_stems(song, tmp_path, monkeypatch):
    """``stems/drums.wav`` ... in the current folder, 6 dB below the demo's levels."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STEMFORGE_HOME", str(tmp_path / "home"))
    (tmp_path / "stems").mkdir()
    audio = {}
    for name, parts in GROUPS.items():
        audio[name] = mix([song.stems[p] for p in parts]).apply_gain_db(-6.0)
        save(tmp_path / "stems" / f"{name}.wav", audio[name], bit_depth=32)
    return audio


def test_the_documents_basic_auto_gain(document_stems, capsys):
    # As written in the document:
    mixer = StemMixer(sample_rate=44100)

    stems = {
        "drums": "stems/drums.wav",
        "bass": "stems/bass.wav",
        "vocals": "stems/vocals.wav",
        "synth": "stems/synth.wav",
    }

    # Automatic gain prediction
    mixed_audio = mixer.mix_stems(
        stems,
        auto_gain=True,  # Enable AI
        use_cnn=False,  # Use rule-based or CNN
    )

    mixer.save_audio(mixed_audio, "auto_mix.wav")

    printed = capsys.readouterr().out
    assert "Analyzing stems for optimal gain settings..." in printed
    assert "=== PREDICTED GAIN SUMMARY ===" in printed
    for name in stems:
        assert re.search(rf"^  {name}: -?\d+\.\d\d dB \(RMS: ", printed, re.M)

    prediction = mixer.last_prediction
    assert prediction.method == "rules"
    assert prediction.gains_db == GainPredictor(SR).predict(document_stems).gains_db
    sheet = mixer.last_sheet
    assert {n: c.gain_db for n, c in sheet.stems.items()} == {
        n: round(g, 2) for n, g in prediction.gains_db.items()
    }
    # Nothing reaches the limiter at these levels: the mix is the sum of the stems at the
    # sheet's gains (stereo stems at the centre pass unchanged).
    assert mixer.last_render.limiter_gain_reduction_db == 0.0
    expected = sum(
        document_stems[n].samples.astype(np.float64) * 10 ** (c.gain_db / 20)
        for n, c in sheet.stems.items()
    )
    assert isinstance(mixed_audio, Audio) and mixed_audio.sample_rate == SR
    np.testing.assert_allclose(mixed_audio.samples, expected, atol=1e-5)

    data, rate = sf.read("auto_mix.wav", dtype="float32", always_2d=True)
    assert rate == SR and data.shape == mixed_audio.samples.T.shape
    np.testing.assert_allclose(data.T, mixed_audio.samples, atol=2**-22)

    # The sheet re-renders the same mix, also after a JSON round trip.
    again = render(
        {n: document_stems[n] for n in stems}, MixSheet.from_json(sheet.to_json()), sample_rate=SR
    )
    np.testing.assert_array_equal(again.audio.samples, mixed_audio.samples)


def test_the_documents_eq_overrides(document_stems):
    mixer = StemMixer(sample_rate=44100)
    stems = {name: f"stems/{name}.wav" for name in GROUPS}
    mixed_audio = mixer.mix_stems(
        stems,
        auto_gain=True,
        high_pass_cutoffs={
            "vocals": 80.0,  # Remove low end from vocals
        },
        low_pass_cutoffs={
            "drums": 8000.0,  # Soften high end on drums
        },
        verbose=False,
    )
    sheet = mixer.last_sheet
    assert sheet.stems["vocals"].eq.high_pass_hz == 80.0
    assert sheet.stems["drums"].eq.low_pass_hz == 8000.0
    assert sheet.stems["bass"].eq.is_flat and sheet.stems["synth"].eq.is_flat
    assert any("High-passed at 80 Hz" in n for n in sheet.stems["vocals"].notes)
    assert mixed_audio.frames == document_stems["drums"].frames


def _amplitude(x: np.ndarray, freq_hz: float) -> float:
    """Amplitude of the ``freq_hz`` component of ``x`` by least squares on sin and cos."""
    t = np.arange(x.size) / SR
    basis = np.stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t)], 1)
    coef = np.linalg.lstsq(basis, x, rcond=None)[0]
    return float(np.hypot(*coef))


def _butterworth_db(freq_hz: float, cutoff_hz: float, order: int, high_pass: bool) -> float:
    """|H|^2 of a bilinear-transform Butterworth filter, from its closed form."""
    ratio = math.tan(math.pi * freq_hz / SR) / math.tan(math.pi * cutoff_hz / SR)
    if high_pass:
        ratio = 1 / ratio
    return 10 * math.log10(1 / (1 + ratio ** (2 * order)))


@pytest.mark.parametrize(
    ("kind", "cutoff_hz", "low_hz", "high_hz"),
    [("high", 400.0, 100.0, 1000.0), ("low", 4000.0, 1000.0, 12000.0)],
)
def test_pass_filters_cut_by_the_butterworth_amount(kind, cutoff_hz, low_hz, high_hz):
    t = np.arange(SR) / SR
    x = 0.1 * np.sin(2 * np.pi * low_hz * t) + 0.1 * np.sin(2 * np.pi * high_hz * t)
    stems = {"tone": Audio(x[None], SR)}
    mixer = StemMixer(SR)
    dry = mixer.mix_stems(stems, auto_gain=False, verbose=False).samples[0, SR // 2 :]
    cut = {"tone": cutoff_hz}
    if kind == "high":
        wet = mixer.mix_stems(stems, auto_gain=False, high_pass_cutoffs=cut, verbose=False)
    else:
        wet = mixer.mix_stems(stems, auto_gain=False, low_pass_cutoffs=cut, verbose=False)
    assert mixer.last_render.limiter_gain_reduction_db == 0.0
    w = wet.samples[0, SR // 2 :]  # steady state: the filter's transient has died away
    for freq in (low_hz, high_hz):
        measured = 20 * math.log10(_amplitude(w, freq) / _amplitude(dry, freq))
        expected = _butterworth_db(freq, cutoff_hz, order=2, high_pass=kind == "high")
        assert measured == pytest.approx(expected, abs=0.05)
    # The stop band loses about 24 dB (two octaves at 12 dB/octave), the pass band ~0.
    stop = low_hz if kind == "high" else high_hz
    assert 20 * math.log10(_amplitude(w, stop) / _amplitude(dry, stop)) < -20


def test_use_cnn_without_a_model_falls_back_with_the_note(document_stems, capsys):
    mixer = StemMixer(sample_rate=44100)
    stems = {name: f"stems/{name}.wav" for name in GROUPS}
    cnn_mix = mixer.mix_stems(stems, auto_gain=True, use_cnn=True)
    out = capsys.readouterr().out
    assert "No trained gain model" in out and "stemforge train-gain DATASET" in out
    assert mixer.last_prediction.method == "rules"
    assert mixer.last_sheet.notes == (mixer.last_prediction.fallback_note,)
    rules_mix = mixer.mix_stems(stems, auto_gain=True, use_cnn=False, verbose=False)
    np.testing.assert_array_equal(cnn_mix.samples, rules_mix.samples)


def test_manual_gains_arrays_and_errors(song, tmp_path):
    mixer = StemMixer(SR)
    stems = {"bass": song.stems["bass"].samples, "vocals": song.stems["vocal"]}
    out = mixer.mix_stems(stems, auto_gain=True, gains_db={"bass": -4.0}, verbose=False)
    assert mixer.last_sheet.stems["bass"].gain_db == -4.0
    assert mixer.last_sheet.stems["vocals"].gain_db == round(
        mixer.last_prediction.gains_db["vocals"], 2
    )
    mixer.mix_stems(stems, auto_gain=False, verbose=False)
    assert mixer.last_prediction is None
    assert all(c.gain_db == 0.0 for c in mixer.last_sheet.stems.values())
    # save_audio takes a bare array at the mixer's rate too.
    path = mixer.save_audio(out.samples, tmp_path / "array.flac")
    data, rate = sf.read(path, always_2d=True)
    assert rate == SR and data.shape == (out.frames, 2)

    with pytest.raises(StemforgeError, match=r"unknown stem\(s\) \['drums'\]"):
        mixer.mix_stems(stems, high_pass_cutoffs={"drums": 80.0}, verbose=False)
    with pytest.raises(StemforgeError, match="Nyquist"):
        mixer.mix_stems(stems, auto_gain=False, low_pass_cutoffs={"bass": 30000.0})
    with pytest.raises(StemforgeError, match="must be below low_pass_hz"):
        mixer.mix_stems(
            stems, auto_gain=False, high_pass_cutoffs={"bass": 500}, low_pass_cutoffs={"bass": 200}
        )
    with pytest.raises(StemforgeError, match="cannot save"):
        mixer.save_audio(out, tmp_path / "mix.xyz")


# --- the example scripts ------------------------------------------------------------------


def _run(args, tmp_path, timeout=300):
    env = {**os.environ, "STEMFORGE_HOME": str(tmp_path / "home"), "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow  # reason: three Python processes each importing librosa and torch (~15 s)
def test_example_scripts_run(tmp_path):
    examples = ROOT / "examples"
    quick = _run([examples / "quick_start_auto_gain.py", "--out", "q", "--bars", "1"], tmp_path)
    assert quick.returncode == 0, quick.stderr
    assert "=== PREDICTED GAIN SUMMARY ===" in quick.stdout
    data, rate = sf.read(tmp_path / "q" / "auto_mix.wav")
    assert rate == SR and np.abs(data).max() > 0.01
    assert MixSheet.load(tmp_path / "q" / "auto_mix.json").created_by == "auto-gain (rules)"

    usage = _run([examples / "example_auto_gain.py", "--out", "u", "--bars", "1"], tmp_path)
    assert usage.returncode == 0, usage.stderr
    assert "method used: rules" in usage.stdout and "train-gain" in usage.stdout
    for name in ("auto_mix.wav", "auto_mix_eq.wav", "auto_mix_cnn.wav"):
        assert (tmp_path / "u" / name).is_file()

    train = _run(
        [examples / "train_gain_model.py", "--songs", "3", "--bars", "1", "--epochs", "2"],
        tmp_path,
    )
    assert train.returncode == 0, train.stderr
    assert "Least-squares targets vs planted gains: max error 0.00" in train.stdout
    assert (tmp_path / "home" / "models" / "gain_cnn.pt").is_file()
