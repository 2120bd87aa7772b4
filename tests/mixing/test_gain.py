"""The features and rules of the auto-gain predictor (source document 001)."""

from __future__ import annotations

import math
import re

import librosa
import numpy as np
import pytest

from stemforge.analysis.loudness import integrated_loudness
from stemforge.audio.signal import Audio
from stemforge.errors import StemforgeError
from stemforge.mixing.features import stem_features
from stemforge.mixing.gain import (
    GAIN_RANGE_DB,
    LOUDNESS_WEIGHT,
    GainPredictor,
    stem_type,
)

SR = 22050


def tone(freq_hz: float, amp: float = 0.5, duration_s: float = 2.0, sr: int = SR) -> np.ndarray:
    t = np.arange(round(duration_s * sr)) / sr
    return amp * np.sin(2 * np.pi * freq_hz * t)


def pulsed(freq_hz: float, amp: float = 0.5, duration_s: float = 2.0, sr: int = SR):
    """A tone gated on and off four times a second, its level varying: dynamic range > 6 dB."""
    t = np.arange(round(duration_s * sr)) / sr
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * 0.75 * t) * np.sign(np.sin(2 * np.pi * 4 * t))
    return amp * np.abs(envelope) * np.sin(2 * np.pi * freq_hz * t)


def stereo(x: np.ndarray, sr: int = SR) -> Audio:
    return Audio(np.stack([x, x]).astype(np.float32), sr)


# --- features -------------------------------------------------------------------------------


@pytest.mark.parametrize("freq_hz", [441.0, 2000.0, 5000.0])
def test_sine_features_match_their_definitions(freq_hz):
    f = stem_features(stereo(tone(freq_hz, 0.5)))
    nyquist = SR / 2
    assert f.rms == pytest.approx(0.5 / math.sqrt(2), rel=1e-4)
    assert f.rms_dbfs == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=1e-3)
    # All the energy sits at the sine's frequency: centroid and rolloff there, narrow band.
    assert f.spectral_centroid == pytest.approx(freq_hz / nyquist, rel=0.02)
    assert f.spectral_centroid_hz == pytest.approx(freq_hz, rel=0.02)
    assert f.rolloff_hz == pytest.approx(freq_hz, abs=3 * SR / 2048)  # within 3 FFT bins
    assert f.bandwidth_hz < 100
    # A sine crosses zero twice a period: 2 f / sr per sample.
    assert f.zcr == pytest.approx(2 * freq_hz / SR, rel=0.03)
    assert f.dynamic_range_db < 0.1
    assert len(f.mfcc) == 13
    assert f.active_fraction == 1.0


def test_features_agree_with_librosa_side_by_side(rng):
    t = np.arange(3 * SR) / SR
    x = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.standard_normal(t.size)
    f = stem_features(Audio(x[None].astype(np.float32), SR))
    y = x.astype(np.float32).astype(np.float64)
    kw = {"sr": SR, "n_fft": 2048, "hop_length": 512}
    centroid = librosa.feature.spectral_centroid(y=y, **kw).mean()
    rolloff = librosa.feature.spectral_rolloff(y=y, roll_percent=0.85, **kw).mean()
    bandwidth = librosa.feature.spectral_bandwidth(y=y, **kw).mean()
    zcr = librosa.feature.zero_crossing_rate(y=y, frame_length=2048, hop_length=512).mean()
    mfcc = librosa.feature.mfcc(y=y, n_mfcc=13, **kw).mean(axis=1)
    assert f.spectral_centroid_hz == pytest.approx(centroid, rel=1e-5)
    assert f.rolloff_hz == pytest.approx(rolloff, rel=1e-5)
    assert f.bandwidth_hz == pytest.approx(bandwidth, rel=1e-5)
    assert f.zcr == pytest.approx(zcr, rel=1e-5)
    np.testing.assert_allclose(f.mfcc, mfcc, rtol=1e-4, atol=1e-3)
    assert f.loudness_lufs == pytest.approx(integrated_loudness(Audio(y[None], SR)), abs=1e-6)


def test_silent_frames_do_not_count_in_spectral_means():
    burst = tone(1000.0, 0.5, 1.0) * np.minimum(1.0, np.arange(SR)[::-1] / (0.05 * SR))
    x = np.concatenate([burst, np.zeros(SR)])
    f = stem_features(Audio(x[None], SR))
    assert f.spectral_centroid_hz == pytest.approx(1000.0, rel=0.02)
    assert f.active_fraction == pytest.approx(0.5, abs=0.03)
    # librosa's plain mean counts the silent frames as 0 Hz: about half the truth.
    plain = librosa.feature.spectral_centroid(y=x, sr=SR).mean()
    assert plain < 600


def test_dynamic_range_of_a_6_db_step():
    x = np.concatenate([tone(500.0, 0.5, 2.0), tone(500.0, 0.25, 2.0)])
    f = stem_features(Audio(x[None], SR))
    assert f.dynamic_range_db == pytest.approx(20 * math.log10(2), abs=0.1)


def test_silence_gives_silent_features():
    f = stem_features(Audio(np.zeros((2, SR)), SR))
    assert f.silent and f.rms == 0.0 and f.loudness_lufs == -math.inf
    assert f.spectral_centroid == 0.0 and f.mfcc == (0.0,) * 13


# --- stem types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("drums", "drums"),
        ("Kick In", "drums"),
        ("OH", "drums"),
        ("bass", "bass"),
        ("808", "bass"),
        ("Synth Bass", "bass"),
        ("vocals", "vocals"),
        ("VOX LEAD", "vocals"),
        ("BGVOX HIGH", "vocals"),
        ("synth", "synth"),
        ("Pad wide", "synth"),
        ("piano", "synth"),
        ("Gtr 2", "other"),
        ("zzz", "other"),
    ],
)
def test_stem_type_from_common_names(name, kind):
    assert stem_type(name) == kind


# --- rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("measure", ["lufs", "rms"])
def test_quieter_copy_gets_more_gain_by_half_the_level_difference(measure):
    x = pulsed(700.0, 0.4)
    quiet_db = -8.0
    stems = {"synth": stereo(x), "synth quiet": stereo(x * 10 ** (quiet_db / 20))}
    p = GainPredictor(SR, loudness_measure=measure).predict(stems)
    assert p.stem_types == {"synth": "synth", "synth quiet": "synth"}
    # The levels differ by exactly the applied 8 dB (both measures scale with the signal).
    assert p.levels_db["synth"] - p.levels_db["synth quiet"] == pytest.approx(8.0, abs=1e-3)
    diff = p.gains_db["synth quiet"] - p.gains_db["synth"]
    assert diff > 0
    assert diff == pytest.approx(LOUDNESS_WEIGHT * 8.0, abs=1e-6)
    if measure == "lufs":
        expected = integrated_loudness(stereo(x))
        assert p.levels_db["synth"] == pytest.approx(expected, abs=1e-9)


def test_baselines_by_stem_type_are_the_documents():
    x = stereo(pulsed(2000.0, 0.3))  # a 2 kHz centroid: no vocal brightness correction
    names = ["drums", "bass", "vocals", "synth", "fx riser"]
    p = GainPredictor(SR).predict(dict.fromkeys(names, x))
    vocals = p.gains_db["vocals"]
    # The document: drums -2 dB, bass -1.5 dB, vocals 0 dB, synth -2.5 dB.
    assert p.gains_db["drums"] - vocals == pytest.approx(-2.0, abs=1e-9)
    assert p.gains_db["bass"] - vocals == pytest.approx(-1.5, abs=1e-9)
    assert p.gains_db["synth"] - vocals == pytest.approx(-2.5, abs=1e-9)
    assert p.stem_types["fx riser"] == "other"
    # Equal levels: no loudness adjustment, so the vocal sits at its 0 dB baseline.
    assert vocals == pytest.approx(0.0, abs=1e-9)


def test_vocal_brightness_correction():
    dull, harsh = stereo(pulsed(300.0, 0.3)), stereo(pulsed(7000.0, 0.3))
    p = GainPredictor(SR).predict({"vocals": dull, "synth": dull})
    assert p.gains_db["vocals"] - p.gains_db["synth"] == pytest.approx(2.5 + 1.0, abs=1e-9)
    assert any("Dull vocal" in n for n in p.notes["vocals"])
    # Same loudness for the harsh pair: the K-weighting makes 7 kHz louder, equally for both.
    p = GainPredictor(SR).predict({"vocals": harsh, "synth": harsh})
    assert p.gains_db["vocals"] - p.gains_db["synth"] == pytest.approx(2.5 - 1.0, abs=1e-9)


def test_over_compressed_stem_is_lowered():
    steady, lively = stereo(tone(1000.0, 0.3)), stereo(pulsed(1000.0, 0.3))
    p = GainPredictor(SR, loudness_measure="rms").predict({"synth": steady, "synth 2": lively})
    assert p.features["synth"].dynamic_range_db < 1
    assert p.features["synth 2"].dynamic_range_db > 6
    level_term = LOUDNESS_WEIGHT * (p.levels_db["synth 2"] - p.levels_db["synth"])
    assert p.gains_db["synth"] - p.gains_db["synth 2"] == pytest.approx(level_term - 1.0, abs=1e-9)


def test_gains_are_clamped_and_silent_stems_left_alone():
    loud = stereo(pulsed(1000.0, 0.5))
    faint = stereo(pulsed(1000.0, 0.5) * 10 ** (-60 / 20))
    p = GainPredictor(SR).predict({"vocals": faint, "synth": loud, "bass": Audio.silence(2, SR)})
    low, high = GAIN_RANGE_DB
    assert all(low <= g <= high for g in p.gains_db.values())
    # The faint vocal is 60 dB down: the adjustment stops at +6 dB.
    assert p.gains_db["vocals"] == pytest.approx(6.0)
    assert p.gains_db["bass"] == 0.0 and p.features["bass"].silent
    assert p.reference_level_db == pytest.approx((p.levels_db["vocals"] + p.levels_db["synth"]) / 2)


def test_numpy_and_file_stems_give_the_same_prediction(tmp_path):
    from stemforge.audio.io import save

    x = stereo(pulsed(900.0, 0.3))
    save(tmp_path / "bass.wav", x, bit_depth=32)
    by_file = GainPredictor(SR).predict({"drums": x.samples, "bass": tmp_path / "bass.wav"})
    in_memory = GainPredictor(SR).predict({"drums": x, "bass": x})
    for name in ("drums", "bass"):
        assert by_file.gains_db[name] == pytest.approx(in_memory.gains_db[name], abs=1e-9)


# --- the printout -------------------------------------------------------------------------

DOCUMENT_OUTPUT = """\
Analyzing stems for optimal gain settings...
  drums: -1.00 dB (RMS: 0.0492, Centroid: 0.3343)
  bass: 0.13 dB (RMS: 0.1069, Centroid: 0.0098)
  synth: -1.17 dB (RMS: 0.0475, Centroid: 0.0757)
  vocals: 1.05 dB (RMS: 0.0262, Centroid: 0.1591)

=== PREDICTED GAIN SUMMARY ===
  drums: -1.00 dB
  bass: 0.13 dB
  synth: -1.17 dB
  vocals: 1.05 dB"""

ANALYSIS_LINE = re.compile(
    r"^  (\S+): (-?\d+\.\d\d) dB \(RMS: (\d\.\d{4}), Centroid: (\d\.\d{4})\)$"
)
SUMMARY_LINE = re.compile(r"^  (\S+): (-?\d+\.\d\d) dB$")


def _parse(text: str):
    head, tail = text.split("\n\n")
    lines = head.splitlines()
    assert lines[0] == "Analyzing stems for optimal gain settings..."
    analysis = [ANALYSIS_LINE.match(line) for line in lines[1:]]
    summary_lines = tail.splitlines()
    assert summary_lines[0] == "=== PREDICTED GAIN SUMMARY ==="
    summary = [SUMMARY_LINE.match(line) for line in summary_lines[1:]]
    assert all(analysis) and all(summary)
    return analysis, summary


def test_summary_has_the_documents_shape(capsys):
    _parse(DOCUMENT_OUTPUT)  # the patterns accept the document's own example
    stems = {
        "drums": stereo(pulsed(3000.0, 0.2)),
        "bass": stereo(pulsed(80.0, 0.4)),
        "synth": stereo(pulsed(600.0, 0.1)),
        "vocals": stereo(pulsed(1500.0, 0.1)),
    }
    p = GainPredictor(SR).predict(stems, verbose=True)
    printed = capsys.readouterr().out
    assert printed.rstrip("\n") == p.summary()
    analysis, summary = _parse(p.summary())
    assert [m.group(1) for m in analysis] == list(stems)  # the stems' order, as given
    for m, s in zip(analysis, summary, strict=True):
        name = m.group(1)
        assert float(m.group(2)) == pytest.approx(p.gains_db[name], abs=0.005)
        assert s.group(2) == m.group(2)
        assert float(m.group(3)) == pytest.approx(p.features[name].rms, abs=5e-5)
        assert float(m.group(4)) == pytest.approx(p.features[name].spectral_centroid, abs=5e-5)
    assert "-0.00" not in p.summary()


def test_bad_input_says_what_to_do():
    with pytest.raises(StemforgeError, match="map stem names"):
        GainPredictor().predict([np.zeros(100)])
    with pytest.raises(StemforgeError, match="no stems"):
        GainPredictor().predict({})
    with pytest.raises(StemforgeError, match="loudness_measure"):
        GainPredictor(loudness_measure="peak")
    with pytest.raises(StemforgeError, match="could not be loaded"):
        GainPredictor().predict({"drums": "/nonexistent/drums.wav"})
    with pytest.raises(StemforgeError, match="Call predict"):
        GainPredictor().summary()
