"""Rhythm: tempo, beats, downbeats and metre against demo-song ground truth (clean, MP3,
noisy, drifting), the artists' stated tempos, and inputs that have no tempo."""

from __future__ import annotations

import json
import math
import subprocess

import mir_eval
import numpy as np
import pytest

from stemforge.analysis.rhythm import rhythm
from stemforge.audio import Audio, load, save
from stemforge.demo import generate_song
from stemforge.errors import AnalysisError

SR = 44100


def sections(tempo_bpm: float, time_signature: str) -> list[tuple[str, int]]:
    """A song of about 35 s: intro, verse, chorus, breakdown (no drums), chorus."""
    beats_per_bar = {"4/4": 4, "3/4": 3, "6/8": 2}[time_signature]
    bars = max(8, round(35.0 / (beats_per_bar * 60.0 / tempo_bpm)))
    a = max(1, bars // 9)
    return [
        ("intro", a),
        ("verse", 3 * a),
        ("chorus", 3 * a),
        ("breakdown", a),
        ("chorus", max(1, bars - 8 * a)),
    ]


def song(tempo_bpm: float, time_signature: str = "4/4", **kw):
    return generate_song(
        tempo_bpm=tempo_bpm,
        time_signature=time_signature,
        sections=sections(tempo_bpm, time_signature),
        **kw,
    )


def with_noise(audio: Audio, snr_db: float, seed: int, *, pink: bool) -> Audio:
    """``audio`` plus white or pink (-3 dB/octave) Gaussian noise at ``snr_db``."""
    x = audio.samples.astype(np.float64)
    noise = np.random.default_rng(seed).standard_normal(x.shape)
    if pink:
        spec = np.fft.rfft(noise, axis=1)
        f = np.fft.rfftfreq(x.shape[1])
        spec[:, 1:] /= np.sqrt(f[1:])
        spec[:, 0] = 0
        noise = np.fft.irfft(spec, x.shape[1], axis=1)
    noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return Audio((x + noise).astype(np.float32), audio.sample_rate)


def mp3_round_trip(audio: Audio, folder, ffmpeg: str) -> Audio:
    """Encode at 128 kb/s with ffmpeg (LAME) and decode with stemforge's loader (which
    trims the encoder delay)."""
    wav, mp3 = folder / "in.wav", folder / "out.mp3"
    save(wav, audio, bit_depth=16)
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(wav), "-b:a", "128k", str(mp3)]
    subprocess.run(cmd, check=True)
    return load(mp3)


def f_measure(reference: np.ndarray, estimated: np.ndarray) -> float:
    """mir_eval's beat F-measure (70 ms window) after its usual 5 s trim."""
    ref = mir_eval.beat.trim_beats(np.asarray(reference, np.float64))
    est = mir_eval.beat.trim_beats(np.asarray(estimated, np.float64))
    return mir_eval.beat.f_measure(ref, est) if len(est) else 0.0


# (id, song arguments, degradation): tempos 60-180 BPM, 3/4, 4/4 and 6/8, several keys
# and seeds, MP3, white and pink noise at 20 dB SNR, and a 1 % tempo drift either way.
CASES = [
    ("60-4/4-ballad", dict(tempo_bpm=60, key="C", seed=1), "clean"),
    ("70-4/4-ballad", dict(tempo_bpm=70, key="A", seed=2), "clean"),
    ("85-4/4-mp3", dict(tempo_bpm=85, key="D", mode="major", seed=3), "mp3"),
    ("100-4/4-white", dict(tempo_bpm=100, key="F#", seed=4), "white"),
    ("120-4/4-mp3", dict(tempo_bpm=120, key="Eb", mode="major", seed=5), "mp3"),
    ("128-4/4-pink", dict(tempo_bpm=128, key="G", seed=6), "pink"),
    ("150-4/4", dict(tempo_bpm=150, key="B", seed=7), "clean"),
    ("174-4/4-dnb", dict(tempo_bpm=174, key="E", seed=8), "clean"),
    ("180-4/4-white", dict(tempo_bpm=180, key="Bb", mode="major", seed=9), "white"),
    ("66-3/4", dict(tempo_bpm=66, time_signature="3/4", key="F", seed=10), "clean"),
    ("96-3/4-pink", dict(tempo_bpm=96, time_signature="3/4", key="C#", seed=11), "pink"),
    ("140-3/4-mp3", dict(tempo_bpm=140, time_signature="3/4", key="Ab", seed=12), "mp3"),
    ("176-3/4-white", dict(tempo_bpm=176, time_signature="3/4", key="D", seed=13), "white"),
    ("60-6/8", dict(tempo_bpm=60, time_signature="6/8", key="G", seed=14), "clean"),
    ("80-6/8-white", dict(tempo_bpm=80, time_signature="6/8", key="E", seed=15), "white"),
    ("110-6/8-mp3", dict(tempo_bpm=110, time_signature="6/8", key="A", seed=16), "mp3"),
    ("110-4/4-drift+1%", dict(tempo_bpm=110, key="C", seed=17, tempo_drift=0.01), "clean"),
    (
        "90-3/4-drift-1%-pink",
        dict(tempo_bpm=90, time_signature="3/4", key="D", seed=18, tempo_drift=-0.01),
        "pink",
    ),
    ("124-4/4-swing", dict(tempo_bpm=124, key="F", seed=19, swing=0.5), "clean"),
]


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, ffmpeg):
    """Each case's song and its rhythm analysis, computed once for the module."""
    cache: dict[str, tuple] = {}

    def get(case_id: str):
        if case_id not in cache:
            _, kwargs, degradation = next(c for c in CASES if c[0] == case_id)
            s = song(**kwargs)
            audio = s.mix
            if degradation == "mp3":
                audio = mp3_round_trip(audio, tmp_path_factory.mktemp("mp3"), ffmpeg)
            elif degradation in ("white", "pink"):
                audio = with_noise(audio, 20.0, kwargs["seed"], pink=degradation == "pink")
            cache[case_id] = (s.truth, rhythm(audio))
        return cache[case_id]

    return get


@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_tempo_beats_downbeats_and_meter(analysed, case_id):
    truth, result = analysed(case_id)
    assert result.found, result.reason
    # Tempo within 1 % of the truth's (starting) tempo, at the truth's metrical level.
    assert result.tempo_bpm == pytest.approx(truth.tempo_bpm, rel=0.01)
    assert f_measure(truth.beat_times_s, result.beat_times_s) >= 0.95
    assert f_measure(truth.downbeat_times_s, result.downbeat_times_s) >= 0.9
    assert result.time_signature == truth.time_signature
    assert result.beats_per_bar == truth.beats_per_bar
    assert result.subdivision == ("ternary" if truth.time_signature == "6/8" else "binary")
    assert result.confidence >= 0.5


def test_whole_set_accuracy(analysed):
    """Over all cases: every tempo within 1 %, mean beat F-measure at least 0.98."""
    scores, tempo_errors = [], []
    for case_id, _, _ in CASES:
        truth, result = analysed(case_id)
        tempo_errors.append(abs(result.tempo_bpm / truth.tempo_bpm - 1))
        scores.append(f_measure(truth.beat_times_s, result.beat_times_s))
    assert max(tempo_errors) < 0.01
    assert np.mean(scores) >= 0.98


def test_drum_and_bass_reads_174_and_a_dj_range_folds_it(analysed):
    truth, result = analysed("174-4/4-dnb")
    assert result.tempo_bpm == pytest.approx(174.0, abs=0.5)
    assert result.level_rule == "evidence"
    data = json.loads(json.dumps(result.to_dict()))
    assert data["tempo_bpm"] == result.tempo_bpm and data["time_signature"] == "4/4"
    assert len(data["beat_times_s"]) == len(result.beat_times_s)
    half = {a.relation: a for a in result.alternatives}["half"]
    assert half.tempo_bpm == pytest.approx(87.0, abs=0.3)
    assert 0.0 <= half.score <= 1.0

    s = song(tempo_bpm=174, key="E", seed=8)
    dj = rhythm(s.mix, strict_range=True)  # the default 78-155 BPM, enforced
    assert dj.tempo_bpm == pytest.approx(87.0, abs=0.3)
    assert dj.level_rule == "strict_range"
    assert dj.time_signature == "4/4" and dj.beats_per_bar == 2
    # Every other beat of the truth, starting on the downbeats.
    assert f_measure(truth.beat_times_s[::2], dj.beat_times_s) >= 0.95
    assert f_measure(truth.downbeat_times_s, dj.downbeat_times_s) >= 0.9


def test_ballad_is_not_doubled(analysed):
    for case_id, tempo in (("60-4/4-ballad", 60.0), ("70-4/4-ballad", 70.0)):
        _, result = analysed(case_id)
        assert result.tempo_bpm == pytest.approx(tempo, rel=0.01)
        assert result.tempo_bpm < result.preferred_range_bpm[0]  # evidence beat the range
        double = {a.relation: a for a in result.alternatives}["double"]
        assert double.tempo_bpm == pytest.approx(2 * tempo, rel=0.01)


def test_steady_grid_and_drift():
    steady = rhythm(song(tempo_bpm=100, key="G", seed=3, swing=0.0).mix)
    assert steady.is_steady and steady.tempo_stability > 0.9
    assert steady.tempo_bpm == pytest.approx(100.0, abs=0.1)

    s = song(tempo_bpm=100, key="G", seed=3, tempo_drift=0.05)
    drift = rhythm(s.mix)
    assert not drift.is_steady
    curve = drift.tempo_curve
    assert curve.unit == "BPM" and len(curve) == len(drift.beat_times_s) - 1
    assert np.median(curve.values[:8]) == pytest.approx(s.truth.tempo_bpm, rel=0.015)
    assert np.median(curve.values[-8:]) == pytest.approx(s.truth.end_tempo_bpm, rel=0.015)
    assert drift.tempo_stability < steady.tempo_stability
    assert f_measure(s.truth.beat_times_s, drift.beat_times_s) >= 0.95


def test_a_two_bar_loop_reads_its_exact_tempo():
    s = generate_song(tempo_bpm=97, key="D", seed=21, sections=[("verse", 4)])
    loop = s.mix.slice_s(0.0, float(s.truth.downbeat_times_s[2]))  # exactly 2 bars
    result = rhythm(loop)
    assert result.tempo_bpm == pytest.approx(97.0, abs=0.05)
    assert result.level_rule == "loop_length"


def no_tempo(result) -> None:
    assert not result.found and math.isnan(result.tempo_bpm)
    assert result.confidence == 0.0
    assert len(result.beat_times_s) == 0 and len(result.downbeat_times_s) == 0
    assert result.reason
    data = json.loads(json.dumps(result.to_dict()))
    assert data["tempo_bpm"] is None and data["beat_times_s"] == []


@pytest.mark.parametrize("kind", ["silence", "white noise", "sine", "chord"])
def test_no_tempo_in_silence_noise_and_sustained_tones(kind, rng):
    t = np.arange(20 * SR) / SR
    if kind == "silence":
        x = np.zeros_like(t)
    elif kind == "white noise":
        x = 0.1 * rng.standard_normal(len(t))
    elif kind == "sine":
        x = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    else:  # a C major chord struck once and left to ring
        chord = sum(np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0))
        x = 0.1 * chord * np.minimum(1.0, t / 0.05) * np.exp(-t / 8.0)
    no_tempo(rhythm(Audio.from_array(x.astype(np.float32), SR)))


def test_no_tempo_in_speech(shared_data):
    for name in ("speech_whisper_jfk/jfk.flac", "speech_ljspeech/LJ001-0001.flac"):
        no_tempo(rhythm(load(shared_data / "speech" / name)))


def test_no_tempo_in_a_three_second_excerpt():
    s = song(tempo_bpm=120, key="Eb", seed=5)
    result = rhythm(s.mix.slice_s(10.0, 13.0))
    no_tempo(result)
    assert "too short" in result.reason


def test_artists_stated_tempos(shared_data):
    """The artists' own tempos (Acc1: within 4 % of the stated level)."""
    music = shared_data / "music"
    trumpet = rhythm(load(music / "sorohanro_-_solo-trumpet-06.hq.ogg"))
    assert trumpet.tempo_bpm == pytest.approx(90.0, rel=0.04)
    caesium = rhythm(load(music / "6.Caesium_Master_mobile.m4a"))
    assert caesium.tempo_bpm == pytest.approx(130.0, rel=0.04)
    assert caesium.confidence > 0.8 and caesium.time_signature == "4/4"


def test_preferred_range_is_checked():
    audio = song(tempo_bpm=120, key="Eb", seed=5).mix
    for bad in ((155.0, 78.0), (10.0, 100.0), (78.0,), "fast"):
        with pytest.raises(AnalysisError):
            rhythm(audio, preferred_range_bpm=bad)
