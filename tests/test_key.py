"""Key detection and the chroma front end, against demo-song ground truth and the
annotated recordings of shared/data/music.

The key profiles and weights were chosen on demo songs of seeds 1000-1095 and checked on
seeds 2000-2095; the songs here use seeds 100-149, which took no part in that choice.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import soxr

from stemforge.analysis.chroma import (
    BeatChroma,
    beat_chroma,
    beat_sync,
    chromagram,
    decode_path,
)
from stemforge.analysis.key import (
    camelot,
    key,
    key_name,
    mirex_score,
    open_key,
    parse_key,
)
from stemforge.audio import Audio, load, mix, save
from stemforge.demo import generate_song

NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SECTIONS = [("intro", 2), ("verse", 6), ("chorus", 6), ("outro", 2)]
MUSIC = "music"
HUNGARIAN = "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg"
TRUMPET = "sorohanro_-_solo-trumpet-06.hq.ogg"
CAESIUM = "6.Caesium_Master_mobile.m4a"


def _song_spec(i: int) -> dict:
    """Song i of the set: every tonic in major (0-11) and minor (12-23), 4/4 and 3/4
    alternating, tempi 92-138 BPM, every third song with 1 % tempo drift."""
    return dict(
        tempo_bpm=92.0 + (i * 11) % 47,
        key=NAMES[i % 12],
        mode="major" if i < 12 else "minor",
        time_signature="3/4" if i % 2 else "4/4",
        sections=SECTIONS,
        seed=100 + i,
        tempo_drift=0.01 if i % 3 == 0 else 0.0,
    )


def _mp3(audio: Audio, folder, ffmpeg: str, name: str) -> Audio:
    wav, mp3 = folder / f"{name}.wav", folder / f"{name}.mp3"
    save(wav, audio)
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(wav), "-b:a", "128k", str(mp3)]
    subprocess.run(cmd, check=True)
    return load(mp3)


def _with_noise(audio: Audio, snr_db: float, seed: int) -> Audio:
    x = audio.samples.astype(np.float64)
    noise = np.random.default_rng(seed).standard_normal(x.shape)
    noise *= np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10))
    return audio.with_samples(x + noise)


@pytest.fixture(scope="module")
def songs():
    return [generate_song(**_song_spec(i)) for i in range(24)]


@pytest.fixture(scope="module")
def results(songs, tmp_path_factory, ffmpeg):
    """(truth, condition, KeyResult) for each song clean (or drifting), as 128 kbps MP3 and
    with white noise at 20 dB SNR."""
    folder = tmp_path_factory.mktemp("key-mp3")
    out = []
    for i, song in enumerate(songs):
        truth = (song.truth.tonic_pitch_class, song.truth.mode)
        clean = "drift" if song.truth.tempo_drift else "clean"
        out.append((truth, clean, key(song.mix)))
        out.append((truth, "mp3", key(_mp3(song.mix, folder, ffmpeg, f"s{i}"))))
        out.append((truth, "noise", key(_with_noise(song.mix, 20.0, i))))
    return out


# --- demo songs -------------------------------------------------------------------------------


def test_key_exact_on_all_24_keys_with_degradations(results):
    exact = [r.found and (r.tonic_pitch_class, r.mode) == truth for truth, _, r in results]
    by_condition = {}
    for (_, condition, _), ok in zip(results, exact, strict=True):
        by_condition.setdefault(condition, []).append(ok)
    summary = {c: f"{np.mean(v):.0%} of {len(v)}" for c, v in by_condition.items()}
    print(f"key exact: {np.mean(exact):.1%} of {len(exact)}; {summary}")
    assert len(results) == 72
    assert np.mean(exact) >= 0.95
    for condition, oks in by_condition.items():
        assert np.mean(oks) >= 0.9, condition


def test_demo_songs_are_confident_and_in_one_key(results, songs):
    confidences = np.array([r.confidence for _, _, r in results])
    assert np.median(confidences) > 0.8
    assert np.mean(confidences > 0.5) >= 0.95
    for _, _, r in results:
        assert len(r.key_changes) == 1
        assert r.key_changes[0].key == r.key
        assert r.key_changes[0].start_s == 0.0
        assert r.key_changes[0].end_s == pytest.approx(r.duration_s, abs=1.0)


def test_scores_runner_up_and_codes(results):
    _, _, r = results[0]
    assert len(r.scores) == 24
    assert max(r.scores, key=r.scores.get) == r.key
    assert r.runner_up.key != r.key
    assert r.runner_up.score == pytest.approx(sorted(r.scores.values())[-2])
    assert 0.0 <= r.confidence <= 1.0
    assert r.camelot == camelot(r.tonic_pitch_class, r.mode)
    json.dumps(r.to_dict())


def test_church_mode_of_demo_songs_is_ionian_or_aeolian(results):
    # The demo songs use the major scale, or natural minor with a raised 7th over V.
    expected = {"major": "ionian", "minor": "aeolian"}
    hits = [r.church_mode == expected[truth[1]] for truth, _, r in results if r.found]
    assert np.mean(hits) >= 0.9
    assert all(0.0 <= r.church_mode_confidence <= r.confidence for _, _, r in results)


def test_camelot_and_open_key_codes_for_all_24_keys():
    # The Camelot wheel (Mixed In Key) and Open Key (Beatunes/Traktor) notations.
    camelot_wheel = {
        "B major": "1B", "F# major": "2B", "Db major": "3B", "Ab major": "4B",
        "Eb major": "5B", "Bb major": "6B", "F major": "7B", "C major": "8B",
        "G major": "9B", "D major": "10B", "A major": "11B", "E major": "12B",
        "G# minor": "1A", "Eb minor": "2A", "Bb minor": "3A", "F minor": "4A",
        "C minor": "5A", "G minor": "6A", "D minor": "7A", "A minor": "8A",
        "E minor": "9A", "B minor": "10A", "F# minor": "11A", "C# minor": "12A",
    }  # fmt: skip
    open_keys = {
        "C major": "1d", "G major": "2d", "D major": "3d", "A major": "4d", "E major": "5d",
        "B major": "6d", "F# major": "7d", "Db major": "8d", "Ab major": "9d",
        "Eb major": "10d", "Bb major": "11d", "F major": "12d",
        "A minor": "1m", "E minor": "2m", "B minor": "3m", "F# minor": "4m",
        "C# minor": "5m", "G# minor": "6m", "Eb minor": "7m", "Bb minor": "8m",
        "F minor": "9m", "C minor": "10m", "G minor": "11m", "D minor": "12m",
    }  # fmt: skip
    for name, code in camelot_wheel.items():
        pc, mode = parse_key(name)
        assert camelot(pc, mode) == code, name
        assert open_key(pc, mode) == open_keys[name], name
        assert key_name(pc, mode) == name


def test_mirex_score_rules():
    assert mirex_score("C major", "C major") == 1.0
    assert mirex_score("G major", "C major") == 0.5  # a fifth above
    assert mirex_score("F major", "C major") == 0.0  # a fifth below is not credited
    assert mirex_score("E minor", "B minor") == 0.0
    assert mirex_score("F# minor", "B minor") == 0.5
    assert mirex_score("A minor", "C major") == 0.3  # relative
    assert mirex_score("Eb major", "C minor") == 0.3
    assert mirex_score("C minor", "C major") == 0.2  # parallel
    assert mirex_score("Gb major", "F# major") == 1.0  # enharmonic
    assert mirex_score("D major", "C major") == 0.0


def test_modulation_c_major_then_e_major():
    first = generate_song(key="C", mode="major", tempo_bpm=120, sections=SECTIONS, seed=131)
    second = generate_song(key="E", mode="major", tempo_bpm=120, sections=SECTIONS, seed=132)
    joined = Audio(np.concatenate([first.mix.samples, second.mix.samples], axis=1), 44100)
    change_s = first.mix.duration_s
    r = key(joined)
    segments = [(s.start_s, s.end_s, s.key) for s in r.key_changes]
    print(f"join at {change_s:.1f} s: {segments}")
    assert [s.key for s in r.key_changes] == ["C major", "E major"]
    assert r.key_changes[1].start_s == pytest.approx(change_s, abs=3.0)
    assert r.key_changes[-1].end_s == pytest.approx(joined.duration_s, abs=1.0)


def test_tuning_plus_30_cents(songs):
    song = songs[2]  # D major, 4/4
    sr = song.sample_rate
    ratio = 2 ** (30 / 1200)
    # Resample by the ratio and keep the old rate: it plays 30 cents sharp.
    sharp = soxr.resample(song.mix.frames_first(), sr, sr / ratio)
    r = key(Audio(np.ascontiguousarray(sharp.T), sr))
    assert r.tuning_cents == pytest.approx(30.0, abs=5.0)
    assert (r.tonic_pitch_class, r.mode) == (2, "major")
    flat = soxr.resample(song.mix.frames_first(), sr, sr * ratio)
    r = key(Audio(np.ascontiguousarray(flat.T), sr))
    assert r.tuning_cents == pytest.approx(-30.0, abs=5.0)
    assert (r.tonic_pitch_class, r.mode) == (2, "major")
    assert key(song.mix).tuning_cents == pytest.approx(0.0, abs=3.0)


def test_given_chroma_gives_the_same_result(songs):
    audio = songs[5].mix
    assert key(audio, chroma=chromagram(audio)).to_dict() == key(audio).to_dict()


# --- real recordings --------------------------------------------------------------------------


def _real_key(shared_data, name):
    r = key(load(shared_data / MUSIC / name))
    print(f"{name}: {r.key} (confidence {r.confidence:.2f}, runner-up {r.runner_up.key}), "
          f"church mode {r.church_mode}, tuning {r.tuning_cents:+.1f} cents")  # fmt: skip
    return r


def test_caesium_is_c_major(shared_data):
    # The artist's README: C major.
    r = _real_key(shared_data, CAESIUM)
    print(f"MIREX score vs C major: {mirex_score(r.key, 'C major')}")
    assert r.key == "C major"
    assert len(r.key_changes) == 1


def test_trumpet_is_f_dorian(shared_data):
    # The pack's notes: "in F ... mostly Blues and Dorian scale": F with a minor third.
    r = _real_key(shared_data, TRUMPET)
    print(f"MIREX score vs F minor: {mirex_score(r.key, 'F minor')}")
    assert r.key == "F minor"
    assert r.church_mode == "dorian"


def test_hungarian_dance(shared_data):
    # The title names Brahms's original key, F# minor (piano duet). This string-orchestra
    # recording plays the usual orchestral arrangement a semitone higher, in G minor:
    # the melody's D-G-Bb with F# as leading tone, tuning within 2 cents of A440, and
    # Essentia's KeyExtractor says G minor with all five of its profiles. So the test
    # holds the sounding key; the MIREX score against the title's key is printed.
    r = _real_key(shared_data, HUNGARIAN)
    print(f"MIREX score vs the title's F# minor: {mirex_score(r.key, 'F# minor')}")
    assert r.key == "G minor"
    assert abs(r.tuning_cents) < 10
    assert r.confidence > 0.5


# --- no key -----------------------------------------------------------------------------------


def _no_key_or_unsure(r) -> bool:
    return (not r.found and r.reason) or r.confidence < 0.3


def test_silence_has_no_key():
    r = key(Audio.silence(10.0, 44100))
    assert not r.found
    assert "silence" in r.reason
    assert r.key is None and r.camelot is None and r.confidence == 0.0
    json.dumps(r.to_dict())


def test_white_noise_has_no_key(rng):
    r = key(Audio(rng.standard_normal((2, 44100 * 10)).astype(np.float32) * 0.1, 44100))
    assert not r.found
    assert r.reason


def test_single_sustained_sine_is_ambiguous():
    t = np.arange(44100 * 8) / 44100
    r = key(Audio((0.3 * np.sin(2 * np.pi * 440 * t))[None, :], 44100))
    assert _no_key_or_unsure(r)


@pytest.mark.parametrize("name", ["speech_whisper_jfk/jfk.flac", "speech_ljspeech/LJ001-0001.flac"])
def test_speech_has_no_clear_key(shared_data, name):
    r = key(load(shared_data / "speech" / name))
    print(name, r.found, r.key, r.confidence, r.reason)
    assert _no_key_or_unsure(r)


def test_drums_have_no_key(songs, shared_data):
    song = songs[4]
    drums = mix([song.stems["kick"], song.stems["snare"], song.stems["hats"]])
    assert not key(drums).found
    stems = shared_data / "multitrack" / "caesium_stems"
    for name in ("6.Caesium_Stem_HATS.m4a", "6.Caesium_Stem_KICK.m4a"):
        r = key(load(stems / name, duration_s=60.0))
        assert not r.found, name


@pytest.mark.parametrize("name", ["Cb-ord-A2-mf-2c-N.wav", "Fl-ord-C4-mf-N-T14d.wav"])
def test_single_recorded_note_is_ambiguous(shared_data, name):
    # TinySOL: one sustained contrabass A2 / flute C4 (held out: not used for tuning).
    r = key(load(shared_data / "pitch" / "tinysol" / name))
    assert _no_key_or_unsure(r)


def test_three_second_excerpt_and_empty_input(songs):
    r = key(songs[0].mix.slice_s(10.0, 13.0))
    assert _no_key_or_unsure(r)
    assert not key(Audio(np.zeros((1, 0), np.float32), 44100)).found
    assert not key(Audio(np.zeros((2, 100), np.float32), 44100)).found


# --- chroma front end -------------------------------------------------------------------------


def _tone(midi: float, seconds: float, sr: int = 44100, partials: int = 5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    f0 = 440.0 * 2 ** ((midi - 69) / 12)
    return sum(0.2 / h * np.sin(2 * np.pi * f0 * h * t) for h in range(1, partials + 1))


def test_chroma_of_a_tuned_triad_and_bass_note():
    # C major triad (C4 E4 G4) 30 cents sharp over an E2 bass, 6 s.
    x = sum(_tone(m + 0.3, 6.0) for m in (60, 64, 67)) + _tone(40.3, 6.0)
    c = chromagram(Audio(x[None, :].astype(np.float32), 44100))
    assert c.tuning_cents == pytest.approx(30.0, abs=2.0)
    mean = c.chroma[:, 10:-10].mean(axis=1)
    assert set(np.argsort(mean)[-3:]) <= {0, 4, 7, 11}  # C, E, G (+ B, G's 3rd partial)
    assert {0, 4, 7} <= set(np.argsort(mean)[-4:])
    assert int(np.argmax(c.bass[:, 10:-10].mean(axis=1))) == 4  # E
    assert c.chroma.shape == (12, c.frames) and c.bass.shape == (12, c.frames)
    assert c.times_s[1] - c.times_s[0] == pytest.approx(c.hop_s)
    assert np.all(c.in_tune[10:-10] > 0.9)


def test_beat_sync_medians_by_hand():
    frames = np.arange(10, dtype=np.float64)  # frame i at i * 0.5 s
    values = np.vstack([frames, 2 * frames])
    synced = beat_sync(values, frames * 0.5, np.array([0.0, 1.0, 2.6]), end_s=4.0)
    # Beats [0, 1): frames 0, 1; [1, 2.6): frames 2-5; [2.6, 4): frames 6, 7.
    np.testing.assert_allclose(synced[0], [0.5, 3.5, 6.5])
    np.testing.assert_allclose(synced[1], [1.0, 7.0, 13.0])
    means = beat_sync(values, frames * 0.5, np.array([0.0, 1.0, 2.6]), end_s=4.0, aggregate="mean")
    np.testing.assert_allclose(means[0], [0.5, 3.5, 6.5])


def test_beat_chroma_follows_the_chords_and_exports(songs):
    song = songs[13]  # C# minor, 3/4
    c = chromagram(song.mix)
    bc = beat_chroma(c, song.truth.beat_times_s)
    assert isinstance(bc, BeatChroma)
    assert bc.chroma.shape == (12, len(song.truth.beat_times_s))
    hits = []
    for start, end, column in zip(bc.start_s, bc.end_s, bc.chroma.T, strict=True):
        mid = 0.5 * (start + end)
        chord = next((ch for ch in song.truth.chords if ch.start_s <= mid < ch.end_s), None)
        if chord is None:
            continue
        third = 4 if chord.quality == "maj" else 3
        triad = {(chord.root_pitch_class + i) % 12 for i in (0, third, 7)}
        hits.append(int(np.argmax(column)) in triad)
    assert np.mean(hits) >= 0.9
    exported = json.loads(json.dumps(bc.to_dict()))
    assert len(exported["chroma"]) == 12 and len(exported["start_s"]) == len(bc)


def test_decode_path_switch_penalty():
    scores = np.array([[1, 0], [1, 0], [0, 1.2], [1.5, 0], [0, 1], [0, 1], [0, 1]], float)
    # The detour to state 1 at step 2 gains 0.2 net of one extra switch pair at penalty
    # 0.5 (6.2 against 6.0) and loses at penalty 1 (4.7 against 5.5).
    assert decode_path(scores, 0.5).tolist() == [0, 0, 1, 0, 1, 1, 1]
    assert decode_path(scores, 1.0).tolist() == [0, 0, 0, 0, 1, 1, 1]
