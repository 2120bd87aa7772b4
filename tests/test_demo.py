"""The demo song generator: its ground truth must describe exactly what is audible."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import signal

from stemforge.demo import STEM_NAMES, SongTruth, default_sections, generate_song
from stemforge.demo.theory import parse_pitch_class
from stemforge.errors import StemforgeError

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MELODIC = ("bass", "chords", "lead", "vocal")
SHORT = [("intro", 2), ("verse", 4), ("chorus", 4), ("breakdown", 2), ("outro", 2)]

# Krumhansl & Kessler (1982) key profiles, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


@pytest.fixture(scope="module")
def song():
    return generate_song(
        tempo_bpm=120, key="D", mode="minor", sections=SHORT, sample_rate=22050, seed=7
    )


def _rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(np.asarray(x, np.float64) ** 2)) + 1e-30)


def _segment(audio, start_s: float, end_s: float) -> np.ndarray:
    sr = audio.sample_rate
    return audio.samples[:, int(start_s * sr) : int(end_s * sr)]


def _scale(tonic_pc: int, mode: str) -> set[int]:
    steps = (0, 2, 4, 5, 7, 9, 11) if mode == "major" else (0, 2, 3, 5, 7, 8, 10)
    return {(tonic_pc + s) % 12 for s in steps}


def _energy_onsets(x: np.ndarray, sr: int) -> np.ndarray:
    """Onsets as sharp rises (> 9 dB within 4.5 ms) of the short-time energy above 2 kHz,
    where a kick's beater click is, in 1.5 ms hops."""
    frame, hop, pad = 64, 32, 256
    hp = signal.sosfilt(signal.butter(4, 2000, "highpass", fs=sr, output="sos"), x)
    hp = np.concatenate([np.zeros(pad), hp])
    n = 1 + (len(hp) - frame) // hop
    frames = np.lib.stride_tricks.sliding_window_view(hp, frame)[::hop][:n]
    level_db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)
    rise = np.full(n, -np.inf)
    rise[3:] = level_db[3:] - level_db[:-3]
    candidates = np.flatnonzero((rise > 9) & (level_db > level_db.max() - 30))
    onsets: list[int] = []
    for i in candidates:
        if onsets and i - onsets[-1] < int(0.03 * sr / hop):
            if rise[i] > rise[onsets[-1]]:
                onsets[-1] = i
            continue
        onsets.append(i)
    return (np.array(onsets) * hop + frame / 2 - pad) / sr


# --- determinism and structure ---------------------------------------------------------


def test_same_arguments_give_identical_songs_and_seeds_change_them():
    kw = dict(tempo_bpm=133, key="C#", mode="major", sections=[("chorus", 4)], sample_rate=16000)
    a, b, c = generate_song(seed=3, **kw), generate_song(seed=3, **kw), generate_song(seed=4, **kw)
    for name in STEM_NAMES:
        assert np.array_equal(a.stems[name].samples, b.stems[name].samples), name
    assert a.truth.to_dict() == b.truth.to_dict()
    assert not np.array_equal(a.mix.samples, c.mix.samples)
    pitches = lambda s, stem: [n.pitch_midi for n in s.truth.notes[stem]]  # noqa: E731
    assert pitches(a, "lead") != pitches(c, "lead")
    assert pitches(a, "vocal") != pitches(c, "vocal")


def test_mix_is_the_sum_of_the_stems_at_minus_one_dbtp(song):
    stems = [song.stems[name] for name in STEM_NAMES]
    assert all(s.channels == 2 and s.frames == song.mix.frames for s in stems)
    total = np.sum([s.samples.astype(np.float64) for s in stems], axis=0)
    assert np.max(np.abs(total - song.mix.samples)) < 1e-6
    oversampled = signal.resample_poly(song.mix.samples.astype(np.float64), 8, 1, axis=1)
    assert 20 * math.log10(np.max(np.abs(oversampled))) == pytest.approx(-1.0, abs=0.1)


@pytest.mark.parametrize(
    ("time_signature", "beats_per_bar", "tempo"),
    [("4/4", 4, 120.0), ("3/4", 3, 97.0), ("6/8", 2, 64.0)],
)
def test_beat_grid_and_downbeats(time_signature, beats_per_bar, tempo):
    s = generate_song(
        tempo_bpm=tempo,
        time_signature=time_signature,
        sections=[("verse", 3), ("chorus", 2)],
        sample_rate=16000,
        humanize=False,
        swing=0.0,
        reverb=False,
    )
    t = s.truth
    assert t.beats_per_bar == beats_per_bar and t.time_signature == time_signature
    assert len(t.beat_times_s) == 5 * beats_per_bar
    assert np.allclose(np.diff(t.beat_times_s), 60.0 / tempo, atol=1e-9)
    assert np.allclose(t.downbeat_times_s, t.beat_times_s[::beats_per_bar])
    assert [x.start_s for x in t.sections] == pytest.approx([0.0, 3 * beats_per_bar * 60 / tempo])
    kicks = t.note_times_s("kick")
    assert np.isin(np.round(t.downbeat_times_s * 16000), np.round(kicks * 16000)).all()
    if time_signature == "6/8":  # a beat is a dotted quarter: three eighth-note hats per beat
        assert t.beat_unit == "dotted quarter"
        hats = t.note_times_s("hats")
        assert np.allclose(np.diff(hats[:6]), 60.0 / tempo / 3, atol=1.5 / 16000)


def test_tempo_drift_bends_the_beat_grid():
    s = generate_song(tempo_bpm=100, tempo_drift=0.05, sections=[("verse", 8)], sample_rate=16000)
    t = s.truth
    beats = len(t.beat_times_s)
    local_bpm = 60.0 / np.diff(t.beat_times_s)
    expected = 100 * (1 + 0.05 * (np.arange(beats - 1) + 0.5) / beats)
    assert np.allclose(local_bpm, expected, rtol=2e-4)
    assert t.end_tempo_bpm == pytest.approx(105.0)
    assert local_bpm[-1] / local_bpm[0] == pytest.approx(1.05, rel=0.005)
    assert t.sections[-1].end_s == pytest.approx(60 * beats / 0.05 / 100 * math.log(1.05))


def test_swing_delays_off_beat_eighths_and_humanising_stays_within_5_ms():
    kw = dict(tempo_bpm=100, sections=[("verse", 4)], sample_rate=16000, reverb=False)
    straight = generate_song(swing=0.0, humanize=False, **kw).truth.notes["hats"]
    swung = generate_song(swing=0.3, humanize=False, **kw).truth.notes["hats"]
    human = generate_song(swing=0.3, humanize=True, **kw).truth.notes["hats"]
    beat_s = 0.6
    shift = np.array([b.start_s - a.start_s for a, b in zip(straight, swung, strict=True)])
    on_beat = np.isclose(np.array([a.start_s for a in straight]) / beat_s % 1, 0, atol=1e-3)
    assert np.allclose(shift[on_beat], 0, atol=1 / 16000)
    assert np.allclose(shift[~on_beat], 0.3 / 6 * beat_s, atol=1 / 16000)
    jitter = np.array([b.start_s - a.start_s for a, b in zip(swung, human, strict=True)])
    assert np.max(np.abs(jitter)) <= 0.005 + 1 / 16000
    assert np.std(jitter) > 0.0005


def test_default_layout_lasts_about_two_minutes():
    for tempo in (60, 90, 120, 150, 180, 240):
        for sig, beats in (("4/4", 4), ("3/4", 3), ("6/8", 2)):
            bars = sum(b for _, b in default_sections(tempo, sig))
            assert 80 <= bars * beats * 60 / tempo <= 160, (tempo, sig)
    s = generate_song(tempo_bpm=120, sample_rate=16000, reverb=False)
    assert [x.label for x in s.truth.sections] == [
        "intro",
        "verse",
        "chorus",
        "breakdown",
        "chorus",
        "outro",
    ]
    assert 90 <= s.duration_s <= 150
    choruses = [x for x in s.truth.sections if x.label == "chorus"]
    lines = [
        [n.pitch_midi for n in s.truth.notes["lead"] if c.start_s <= n.start_s + 0.01 < c.end_s]
        for c in choruses
    ]
    assert lines[0] and lines[0] == lines[1]  # a repeated section repeats its melody


# --- harmony and melody ------------------------------------------------------------------


@pytest.mark.parametrize("time_signature", ["4/4", "3/4", "6/8"])
@pytest.mark.parametrize("mode", ["major", "minor"])
def test_every_key_generates_with_notes_in_the_scale(time_signature, mode):
    for tonic in NOTE_NAMES:
        s = generate_song(
            tempo_bpm=140,
            key=tonic,
            mode=mode,
            time_signature=time_signature,
            sections=[("chorus", 3), ("verse", 4), ("chorus", 3)],
            sample_rate=16000,
            reverb=False,
            seed=11,
        )
        t = s.truth
        assert s.mix.is_finite and np.max(np.abs(s.mix.samples)) > 0.1
        tonic_pc = parse_pitch_class(tonic)
        scale = _scale(tonic_pc, mode)
        leading = (tonic_pc + 11) % 12
        v_root = (tonic_pc + 7) % 12
        for stem in MELODIC:
            assert t.notes[stem], stem
            for n in t.notes[stem]:
                pc = n.pitch_midi % 12
                if pc in scale:
                    continue
                # Only the harmonic-minor leading tone, and only over a major V chord.
                assert mode == "minor" and pc == leading, (tonic, stem, n)
                middle = (n.start_s + n.end_s) / 2  # onsets are humanised by a few ms
                chord = next(c for c in t.chords if c.start_s <= middle < c.end_s)
                assert (chord.root_pitch_class, chord.quality) == (v_root, "maj"), (tonic, stem, n)
        for stem in ("lead", "vocal"):  # melodies land on chord tones at each downbeat
            for n in t.notes[stem]:
                if np.min(np.abs(t.downbeat_times_s - n.start_s)) < 0.006:
                    chord = next(c for c in t.chords if c.start_s <= n.start_s + 0.006 < c.end_s)
                    third = 4 if chord.quality == "maj" else 3
                    tones = {(chord.root_pitch_class + i) % 12 for i in (0, third, 7)}
                    assert n.pitch_midi % 12 in tones, (tonic, stem, n, chord)
        assert t.chords[0].root_pitch_class == t.chords[-1].root_pitch_class == tonic_pc
        tonic_quality = "maj" if mode == "major" else "min"
        assert t.chords[0].quality == t.chords[-1].quality == tonic_quality
        assert all(c.root_pitch_class in scale for c in t.chords)


def test_key_spelling_is_kept_and_enharmonic_keys_sound_the_same():
    kw = dict(mode="major", sections=[("verse", 4)], sample_rate=16000, reverb=False)
    flat, sharp = generate_song(key="Bb", **kw), generate_song(key="a#", **kw)
    assert (flat.truth.key, sharp.truth.key) == ("Bb", "A#")
    assert np.array_equal(flat.mix.samples, sharp.mix.samples)
    assert "Eb" in {c.root for c in flat.truth.chords} or "F" in {c.root for c in flat.truth.chords}
    assert not any("#" in c.root for c in flat.truth.chords)
    assert not any("b" in c.root[1:] for c in sharp.truth.chords)


def test_chord_truth_matches_the_chroma_of_the_chords_stem(song):
    """Each chord span's chroma correlates best with its own triad among all 24."""
    import librosa

    y = song.stems["chords"].to_mono().samples[0]
    sr = song.sample_rate
    templates = {}
    for root in range(12):
        for quality, third in (("maj", 4), ("min", 3)):
            v = np.zeros(12)
            v[[root, (root + third) % 12, (root + 7) % 12]] = 1
            templates[(root, quality)] = v
    for c in song.truth.chords:
        seg = y[int(c.start_s * sr) + int(0.1 * sr) : int(c.end_s * sr)]
        chroma = librosa.feature.chroma_stft(y=seg, sr=sr, n_fft=4096).mean(axis=1)
        best = max(templates, key=lambda k: np.corrcoef(chroma, templates[k])[0, 1])
        assert best == (c.root_pitch_class, c.quality), c


def test_bass_and_vocal_pitches_match_their_notes(song):
    import librosa

    sr = song.sample_rate
    for stem, fmin, fmax in (("bass", 40.0, 300.0), ("vocal", 120.0, 700.0)):
        y = song.stems[stem].to_mono().samples[0]
        notes = [n for n in song.truth.notes[stem] if n.end_s - n.start_s >= 0.4][:3]
        assert notes, stem
        for n in notes:
            seg = y[int((n.start_s + 0.08) * sr) : int((n.end_s - 0.02) * sr)]
            f0, voiced, _ = librosa.pyin(seg, fmin=fmin, fmax=fmax, sr=sr, frame_length=2048)
            measured = np.nanmedian(f0[voiced])
            cents = 1200 * math.log2(measured / (440 * 2 ** ((n.pitch_midi - 69) / 12)))
            assert abs(cents) < 50, (stem, n, cents)


@pytest.mark.parametrize(
    ("key", "mode", "time_signature"),
    [("F#", "minor", "4/4"), ("Bb", "major", "3/4"), ("E", "minor", "6/8")],
)
def test_the_key_is_audible_in_the_chroma_of_the_mix(key, mode, time_signature):
    import librosa

    s = generate_song(
        tempo_bpm=100,
        key=key,
        mode=mode,
        time_signature=time_signature,
        sections=[("verse", 8), ("chorus", 8)],
        sample_rate=22050,
        seed=4,
    )
    chroma = librosa.feature.chroma_cqt(y=s.mix.to_mono().samples[0], sr=22050).mean(axis=1)
    scores = {
        (pc, m): np.corrcoef(chroma, np.roll(profile, pc))[0, 1]
        for m, profile in (("major", KK_MAJOR), ("minor", KK_MINOR))
        for pc in range(12)
    }
    assert max(scores, key=scores.get) == (parse_pitch_class(key), mode)


# --- rhythm and energy -------------------------------------------------------------------


def test_kick_onsets_line_up_with_the_truth_within_10_ms(song):
    sr = song.sample_rate
    detected = _energy_onsets(song.stems["kick"].to_mono().samples[0], sr)
    truth = song.truth.note_times_s("kick")
    assert len(detected) == len(truth)
    assert np.max(np.abs(detected - truth)) < 0.010


@pytest.mark.parametrize("time_signature", ["4/4", "3/4", "6/8"])
def test_downbeats_are_accented(time_signature):
    """The downbeat kick is the strongest hit of its bar, in the truth and in the audio."""
    s = generate_song(
        tempo_bpm=110,
        time_signature=time_signature,
        sections=[("chorus", 4), ("verse", 4)],
        sample_rate=16000,
        reverb=False,
        seed=2,
    )
    sr = 16000
    kick = s.stems["kick"].to_mono().samples[0]
    bar = np.searchsorted(s.truth.downbeat_times_s, s.truth.note_times_s("kick") + 0.006) - 1
    on_peaks, off_peaks = [], []
    for b in range(8):
        hits = [n for n, nb in zip(s.truth.notes["kick"], bar, strict=True) if nb == b]
        first, others = hits[0], hits[1:]
        assert abs(first.start_s - s.truth.downbeat_times_s[b]) < 0.006
        assert all(first.velocity > n.velocity for n in others)
        for n, peaks in [(first, on_peaks)] + [(n, off_peaks) for n in others]:
            start = int(n.start_s * sr)
            peaks.append(np.max(np.abs(kick[start : start + int(0.02 * sr)])))
    assert off_peaks and np.mean(on_peaks) > 1.2 * np.mean(off_peaks)


def test_section_energy_follows_the_labels():
    s = generate_song(tempo_bpm=120, sections=SHORT, sample_rate=16000, seed=5)
    level = {}
    for sec in s.truth.sections:
        level[sec.label] = _rms_db(_segment(s.mix, sec.start_s, sec.end_s))
    assert level["chorus"] > level["verse"] + 1 > level["intro"] + 3
    assert level["breakdown"] < level["chorus"] - 3
    breakdown = next(x for x in s.truth.sections if x.label == "breakdown")
    after_ring = (breakdown.start_s + 0.5, breakdown.end_s)  # a kick rings for 0.45 s
    for stem in ("kick", "bass"):
        assert np.max(np.abs(_segment(s.stems[stem], *after_ring))) < 1e-6, stem
        assert not any(
            breakdown.start_s <= n.start_s < breakdown.end_s for n in s.truth.notes[stem]
        )
    assert _rms_db(_segment(s.stems["vocal"], *after_ring)) > level["breakdown"] - 10
    chorus = next(x for x in s.truth.sections if x.label == "chorus")
    stem_db = {k: _rms_db(_segment(v, chorus.start_s, chorus.end_s)) for k, v in s.stems.items()}
    assert stem_db["kick"] > stem_db["hats"] + 15 and stem_db["bass"] > stem_db["hats"] + 15
    assert stem_db["vocal"] >= max(stem_db["lead"], stem_db["chords"])


@pytest.mark.parametrize("tempo", [90.0, 120.0, 150.0])
def test_librosa_finds_the_tempo(tempo):
    import librosa

    s = generate_song(
        tempo_bpm=tempo, sections=[("verse", 8), ("chorus", 8)], sample_rate=22050, seed=int(tempo)
    )
    estimate, _ = librosa.beat.beat_track(y=s.mix.to_mono().samples[0], sr=22050)
    estimate = float(np.atleast_1d(estimate)[0])
    ratios = [estimate / (tempo * f) for f in (0.5, 1.0, 2.0)]
    assert min(abs(r - 1) for r in ratios) < 0.04, estimate


# --- arguments and output ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"key": "H"}, "note letter"),
        ({"key": "Cbb"}, "note letter"),
        ({"mode": "dorian"}, "major"),
        ({"time_signature": "5/4"}, "6/8"),
        ({"tempo_bpm": 30}, "40"),
        ({"tempo_bpm": 300}, "250"),
        ({"tempo_bpm": float("nan")}, "40"),
        ({"sections": [("solo", 4)]}, "chorus"),
        ({"sections": [("verse", 0)]}, "whole number"),
        ({"sections": []}, "(label, bars)"),
        ({"sample_rate": 1000}, "16000"),
        ({"swing": 2.0}, "0 to 1"),
        ({"tempo_drift": 0.9}, "-0.5 to 0.5"),
        ({"seed": -1}, "0 or more"),
    ],
)
def test_bad_arguments_say_what_is_allowed(kwargs, words):
    with pytest.raises(StemforgeError) as info:
        generate_song(**{"sections": [("verse", 1)], "sample_rate": 16000, **kwargs})
    assert words in str(info.value)


def test_truth_round_trips_through_json(song):
    data = json.loads(json.dumps(song.truth.to_dict()))
    back = SongTruth.from_dict(data)
    assert back.to_dict() == song.truth.to_dict()
    assert back.notes["vocal"][0] == song.truth.notes["vocal"][0]
    assert data["key"] == "D" and data["mode"] == "minor" and data["beat_unit"] == "quarter"


def test_save_writes_stems_mix_and_truth(song, tmp_path):
    import soundfile as sf

    folder = song.save(tmp_path / "demo")
    for name in STEM_NAMES:
        info = sf.info(str(folder / "stems" / f"{name}.flac"))
        assert (info.samplerate, info.channels, info.frames) == (22050, 2, song.mix.frames)
    mix, sr = sf.read(str(folder / "mix.wav"), dtype="float32", always_2d=True)
    assert sr == 22050 and np.max(np.abs(mix.T - song.mix.samples)) < 2**-22
    assert SongTruth.load(folder / "truth.json").to_dict() == song.truth.to_dict()
