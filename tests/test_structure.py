"""Musical structure (bars, phrases, sections) against the ground truth of demo songs.

The grid comes from the truth (finding beats is the rhythm module's job); sections,
groups, labels, energy and phrases are measured against the truth's sections. Each song
is generated and analysed once per module.
"""

from __future__ import annotations

import itertools
import json
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stemforge.analysis.structure import LABELS, bar_grid, structure
from stemforge.audio import Audio, load
from stemforge.demo import generate_song
from stemforge.errors import AnalysisError

SR = 22050
CUSTOM = [
    ("intro", 4),
    ("verse", 8),
    ("chorus", 8),
    ("verse", 8),
    ("chorus", 8),
    ("breakdown", 4),
    ("chorus", 8),
    ("outro", 4),
]
#: (tempo, time signature, layout, seed, key, mode): tempos 70-160, 3/4 and 4/4, the
#: default layout (intro, verse, chorus, breakdown, chorus, outro) and a longer one.
SPECS = [
    (70, "4/4", None, 101, "A", "minor"),
    (70, "3/4", CUSTOM, 102, "F", "major"),
    (100, "3/4", None, 103, "D", "minor"),
    (100, "4/4", CUSTOM, 104, "Bb", "major"),
    (128, "4/4", None, 105, "E", "minor"),
    (128, "3/4", CUSTOM, 106, "G", "major"),
    (160, "4/4", CUSTOM, 107, "C#", "minor"),
    (160, "3/4", None, 108, "Ab", "major"),
]


def _analyse(song, **kwargs):
    t = song.truth
    return structure(
        song.mix,
        beat_times_s=t.beat_times_s,
        downbeat_times_s=t.downbeat_times_s,
        beats_per_bar=t.beats_per_bar,
        **kwargs,
    )


@pytest.fixture(scope="module")
def analysed():
    """[(song, result)] for every spec."""
    out = []
    for tempo, sig, layout, seed, key, mode in SPECS:
        song = generate_song(
            tempo_bpm=tempo,
            time_signature=sig,
            sections=layout,
            seed=seed,
            key=key,
            mode=mode,
            sample_rate=SR,
        )
        out.append((song, _analyse(song)))
    return out


# --- metrics (the usual MIR definitions, as mir_eval.segment.detection / pairwise) -------


def _matches(ref: np.ndarray, est: np.ndarray, window_s: float) -> int:
    """One-to-one matches within the window (greedy on distance; boundaries here are at
    least 4 bars apart, so greedy is optimal)."""
    pairs = sorted(
        (abs(r - e), i, j)
        for i, r in enumerate(ref)
        for j, e in enumerate(est)
        if abs(r - e) <= window_s
    )
    used_r, used_e, hits = set(), set(), 0
    for _, i, j in pairs:
        if i not in used_r and j not in used_e:
            used_r.add(i)
            used_e.add(j)
            hits += 1
    return hits


def _frame_labels(starts_s, labels, times_s):
    idx = np.searchsorted(np.asarray(starts_s), times_s, side="right") - 1
    return np.asarray(labels, dtype=object)[np.clip(idx, 0, len(labels) - 1)]


def _pairwise_f(ref: np.ndarray, est: np.ndarray) -> float:
    """Pairwise frame clustering F-measure (Levy & Sandler 2008)."""
    _, r = np.unique(ref, return_inverse=True)
    _, e = np.unique(est, return_inverse=True)
    table = np.zeros((r.max() + 1, e.max() + 1))
    np.add.at(table, (r, e), 1)
    both = (table * (table - 1) / 2).sum()
    in_ref = (table.sum(axis=1) * (table.sum(axis=1) - 1) / 2).sum()
    in_est = (table.sum(axis=0) * (table.sum(axis=0) - 1) / 2).sum()
    precision, recall = both / in_est, both / in_ref
    return 2 * precision * recall / (precision + recall)


def _grid(song, step_s=0.1):
    return np.arange(0.0, song.truth.sections[-1].end_s, step_s)


# --- accuracy on demo songs ---------------------------------------------------------------


def test_boundaries_within_one_bar(analysed):
    hits = n_ref = n_est = 0
    for song, result in analysed:
        t = song.truth
        bar_s = t.beats_per_bar * 60.0 / t.tempo_bpm
        end = t.sections[-1].end_s
        ref = np.array([s.start_s for s in t.sections[1:]])
        est = np.array([s.start_s for s in result.sections[1:] if s.start_s < end - bar_s])
        hits += _matches(ref, est, bar_s)
        n_ref += len(ref)
        n_est += len(est)
    precision, recall = hits / n_est, hits / n_ref
    f = 2 * precision * recall / (precision + recall)
    assert f >= 0.85, (precision, recall)


def test_repeats_grouped_together(analysed):
    scores = []
    for song, result in analysed:
        times = _grid(song)
        ref = _frame_labels(
            [s.start_s for s in song.truth.sections], [s.label for s in song.truth.sections], times
        )
        est = _frame_labels(
            [s.start_s for s in result.sections], [s.group for s in result.sections], times
        )
        scores.append(_pairwise_f(ref, est))
    assert np.mean(scores) >= 0.8, np.round(scores, 2)
    assert min(scores) >= 0.6, np.round(scores, 2)


def test_labels_match_truth_by_duration(analysed):
    agree = total = 0.0
    for song, result in analysed:
        times = _grid(song)
        ref = _frame_labels(
            [s.start_s for s in song.truth.sections], [s.label for s in song.truth.sections], times
        )
        est = _frame_labels(
            [s.start_s for s in result.sections], [s.label for s in result.sections], times
        )
        agree += np.sum(ref == est)
        total += len(times)
        assert result.electronic is False  # a backbeat song is no dance track: no "drop"
        assert {s.label for s in result.sections} <= set(LABELS)
    assert agree / total >= 0.8


def test_chorus_energy_exceeds_verse_energy(analysed):
    for song, result in analysed:
        truth = song.truth.sections

        def truth_label(section, truth=truth):
            overlap = [min(section.end_s, t.end_s) - max(section.start_s, t.start_s) for t in truth]
            return truth[int(np.argmax(overlap))].label

        by_label: dict[str, list] = {}
        for s in result.sections:
            by_label.setdefault(truth_label(s), []).append(s)
        chorus, verse = by_label["chorus"], by_label["verse"]
        assert min(s.energy for s in chorus) > max(s.energy for s in verse)
        assert min(s.energy_db for s in chorus) > max(s.energy_db for s in verse)
        # Quiet parts stay below the choruses too.
        for quiet in ("intro", "breakdown", "outro"):
            for s in by_label.get(quiet, []):
                assert s.energy < min(c.energy for c in chorus)


def test_phrases_on_downbeats_and_restart_at_sections(analysed):
    for song, result in analysed:
        downbeats = song.truth.downbeat_times_s
        for phrase in result.phrases:
            assert np.min(np.abs(downbeats - phrase.start_s)) < 1e-3
            assert 1 <= phrase.bars <= phrase.level
        starts8 = result.phrase_starts_s(8)
        starts4 = result.phrase_starts_s(4)
        starts16 = result.phrase_starts_s(16)
        assert set(np.round(starts16, 3)) <= set(np.round(starts8, 3)) <= set(np.round(starts4, 3))
        # Every truth section starts an 8-bar phrase (the grid restarts there), and
        # 8-bar phrases inside a truth section are 8 bars apart.
        for s in song.truth.sections:
            assert np.min(np.abs(starts8 - s.start_s)) < 1e-3, s
        bar_s = song.truth.beats_per_bar * 60.0 / song.truth.tempo_bpm
        for a, b in itertools.pairwise(starts8):
            assert round((b - a) / bar_s) in (4, 8), (a, b)  # 4: a 4-bar section


def test_bars_follow_the_downbeats(analysed):
    song, result = analysed[0]
    t = song.truth
    on = [b for b in result.bars if b.on_downbeat]
    assert len(on) == len(t.downbeat_times_s)
    assert np.allclose([b.start_s for b in on], t.downbeat_times_s, atol=1e-9)
    # The reverb tail after the last bar is a bar of its own (partial if short).
    assert result.bars[-1].end_s == pytest.approx(song.duration_s)
    assert not result.bars[-1].on_downbeat
    assert sum(s.bars for s in result.sections) >= sum(s.bars for s in t.sections)
    assert result.self_similarity.shape == (len(result.bars), len(result.bars))
    assert len(result.novelty) == len(result.bars)
    json.dumps(result.to_dict())


def test_beat_chroma_from_truth_notes(analysed):
    """Harmony given as beat chroma (here from the truth's notes) is used as such."""
    for song, expected in analysed[:2]:
        t = song.truth
        beats = t.beat_times_s
        ends = np.append(beats[1:], t.sections[-1].end_s)
        chroma = np.zeros((12, len(beats)))
        for stem in ("bass", "chords", "lead", "vocal"):
            for note in t.notes[stem]:
                sounding = (beats < note.end_s) & (ends > note.start_s)
                chroma[note.pitch_midi % 12, sounding] += 1.0
        result = _analyse(song, beat_chroma=chroma)
        assert [s.start_bar for s in result.sections] == [s.start_bar for s in expected.sections]
        assert [s.label for s in result.sections] == [s.label for s in expected.sections]
    with pytest.raises(AnalysisError, match="beat_chroma"):
        _analyse(analysed[0][0], beat_chroma=np.ones((12, 3)))


# --- the electronic rule ------------------------------------------------------------------


def _dance_track(*, bpm: float, seed: int) -> tuple[Audio, np.ndarray]:
    """Intro 8 bars (pad, off-beat hats) / drop 16 (a kick on every beat, hats, sub bass,
    pad, arpeggio) / breakdown 8 (pad, arpeggio) / drop 16 / outro 8 (kick and pad, fading)."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    layout = [("intro", 8), ("drop", 16), ("breakdown", 8), ("drop", 16), ("outro", 8)]
    n_bars = sum(b for _, b in layout)
    n = int((n_bars * 4 * beat + 1.0) * SR)
    out = np.zeros(n)
    tk = np.arange(int(0.25 * SR)) / SR
    kick = np.sin(2 * np.pi * np.cumsum(45 + 80 * np.exp(-tk / 0.03)) / SR) * np.exp(-tk / 0.12)
    hat = np.diff(rng.standard_normal(int(0.05 * SR) + 1)) * np.exp(
        -np.arange(int(0.05 * SR)) / SR / 0.01
    )

    def tone(midi, dur_s, amp, harmonics=3):
        t = np.arange(int(dur_s * SR)) / SR
        f = 440.0 * 2 ** ((midi - 69) / 12)
        env = np.minimum(1, t / 0.01) * np.minimum(1, (dur_s - t) / 0.05)
        return amp * env * sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, harmonics + 1))

    def put(x, t0, gain=1.0):
        i = round(t0 * SR)
        m = min(len(x), n - i)
        out[i : i + m] += gain * x[:m]

    bar0 = 0
    for label, bars in layout:
        for b in range(bars):
            t0 = (bar0 + b) * 4 * beat
            root = (57, 53, 48, 55)[(bar0 + b) % 4]
            fade = 1 - 0.6 * b / bars if label == "outro" else 1.0
            for step in (0, 4 if root in (53, 48) else 3, 7):
                put(tone(root + step, 4 * beat, 0.05), t0, fade)
            if label in ("drop", "outro"):
                for k in range(4):
                    put(kick, t0 + k * beat, 0.8 * fade)
            if label in ("intro", "drop"):
                for k in range(4):
                    put(hat, t0 + (k + 0.5) * beat, 0.15 if label == "drop" else 0.08)
            if label == "drop":
                put(tone(root - 24, 4 * beat, 0.25, 2), t0)
            if label in ("drop", "breakdown"):
                for k in range(16):
                    put(tone(root + 12 + (0, 3, 7, 12)[k % 4], beat / 4, 0.04), t0 + k * beat / 4)
        bar0 += bars
    audio = Audio((0.9 * out / np.abs(out).max())[None].astype(np.float32), SR)
    return audio, np.arange(n_bars * 4) * beat


@pytest.mark.parametrize(("bpm", "seed"), [(124.0, 0), (140.0, 1)])
def test_four_on_the_floor_track_has_drops(bpm, seed):
    audio, beats = _dance_track(bpm=bpm, seed=seed)
    result = structure(audio, beat_times_s=beats, downbeat_times_s=beats[::4], beats_per_bar=4)
    assert result.electronic
    assert [(s.label, s.bars) for s in result.sections] == [
        ("intro", 8),
        ("drop", 16),
        ("breakdown", 8),
        ("drop", 16),
        ("outro", 8),
    ]
    drops = [s for s in result.sections if s.label == "drop"]
    assert drops[0].group == drops[1].group and [d.repeat_index for d in drops] == [1, 2]
    assert len({s.group for s in result.sections}) == 4


# --- the grid and degenerate input ---------------------------------------------------------


def test_bar_grid_pickup_and_tail():
    downbeats = 4.3 + 2.0 * np.arange(8)  # bars of 2 s (4 beats of 0.5 s) from 4.3 s
    bars = bar_grid(downbeats, duration_s=22.0, beats_per_bar=4)
    starts = [round(b.start_s, 6) for b in bars]
    # Before: whole bars at 2.3 and 0.3 s; the 0.3 s left is under a beat, so it joins.
    assert starts[:3] == [0.0, 2.3, 4.3]
    assert not bars[0].on_downbeat and not bars[0].partial and bars[2].on_downbeat
    # After the last downbeat (18.3 s) its bar ends at 20.3 s; 1.7 s remain: a partial bar.
    assert [(round(b.start_s, 6), b.partial) for b in bars[-2:]] == [(18.3, False), (20.3, True)]
    assert bars[-1].end_s == 22.0
    # A pickup of one beat or more is a partial bar of its own.
    bars = bar_grid(0.6 + 2.0 * np.arange(5), duration_s=10.6, beats_per_bar=4)
    assert (bars[0].start_s, bars[0].end_s, bars[0].partial) == (0.0, 0.6, True)


@settings(max_examples=60, deadline=None)
@given(
    first_s=st.floats(0.0, 9.0),
    bar_s=st.floats(0.5, 4.0),
    n=st.integers(2, 40),
    extra_s=st.floats(0.0, 12.0),
)
def test_bar_grid_covers_the_track(first_s, bar_s, n, extra_s):
    downbeats = first_s + bar_s * np.arange(n)
    duration = float(downbeats[-1] + extra_s + 0.01)
    bars = bar_grid(downbeats, duration_s=duration, beats_per_bar=4)
    assert bars[0].start_s == 0.0 and bars[-1].end_s == duration
    for a, b in itertools.pairwise(bars):
        assert a.end_s == b.start_s and a.start_s < a.end_s
        assert b.index == a.index + 1
    on = np.array([b.start_s for b in bars if b.on_downbeat])
    assert np.allclose(on, downbeats[downbeats < duration], atol=1e-6)
    # Nothing is longer than a bar and a beat.
    assert max(b.end_s - b.start_s for b in bars) <= bar_s * 1.25 + 1e-9


def test_degenerate_input_gives_one_section(rng):
    noise = Audio((0.1 * rng.standard_normal((2, SR * 12))).astype(np.float32), SR)
    beats = np.arange(0.0, 12.0, 0.5)
    cases = {
        "no downbeats": (noise, beats, np.zeros(0)),
        "short": (noise.slice_s(0.0, 5.0), beats[beats < 5], beats[beats < 5][::4]),
        "silence": (Audio.silence(12.0, SR), beats, beats[::4]),
    }
    for name, (audio, b, d) in cases.items():
        result = structure(audio, beat_times_s=b, downbeat_times_s=d, beats_per_bar=4)
        assert len(result.sections) == 1, name
        assert result.note, name
        section = result.sections[0]
        assert (section.start_s, section.end_s) == (0.0, pytest.approx(audio.duration_s))
        json.dumps(result.to_dict())
    assert (
        "downbeat"
        in structure(noise, beat_times_s=beats, downbeat_times_s=[], beats_per_bar=4).note
    )
    with pytest.raises(AnalysisError):
        structure(noise, beat_times_s=beats, downbeat_times_s=beats[::4], beats_per_bar=0)


def test_steady_noise_is_one_section(rng):
    noise = Audio((0.1 * rng.standard_normal((1, SR * 60))).astype(np.float32), SR)
    beats = np.arange(0.0, 60.0, 0.5)
    result = structure(noise, beat_times_s=beats, downbeat_times_s=beats[::4], beats_per_bar=4)
    assert len(result.sections) == 1 and result.note == ""


# --- real music ------------------------------------------------------------------------------


def _pulse_grid(audio: Audio, tempo_bpm: float) -> np.ndarray:
    """Beats at ``tempo_bpm`` whose phase maximises the summed onset strength (a positive
    spectral difference of 23 ms frames)."""
    x = audio.to_mono().samples[0]
    hop = audio.sample_rate // 43
    frames = np.lib.stride_tricks.sliding_window_view(x, 2 * hop)[::hop] * np.hanning(2 * hop)
    mag = np.log1p(np.abs(np.fft.rfft(frames, axis=1)))
    onset = np.concatenate([[0.0], np.maximum(np.diff(mag, axis=0), 0).sum(axis=1)])
    period_s = 60.0 / tempo_bpm
    phases = np.arange(0.0, period_s, 0.005)
    score = [
        onset[
            np.clip(
                np.round(np.arange(p, audio.duration_s, period_s) * audio.sample_rate / hop).astype(
                    int
                ),
                0,
                len(onset) - 1,
            )
        ].sum()
        for p in phases
    ]
    return np.arange(phases[int(np.argmax(score))], audio.duration_s, period_s)


def test_real_track(shared_data):
    audio = load(shared_data / "music" / "6.Caesium_Master_mobile.m4a")
    beats = _pulse_grid(audio, 130.0)  # the artist's tempo; the track starts on bar 1
    downbeats = beats[::4]
    start = time.perf_counter()
    result = structure(audio, beat_times_s=beats, downbeat_times_s=downbeats, beats_per_bar=4)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0  # ~0.3 s for these 3.8 minutes on one core
    assert 3 <= len(result.sections) <= 20
    bar_lines = {round(b.start_s, 4) for b in result.bars if b.on_downbeat}
    for s in result.sections[1:]:
        assert round(s.start_s, 4) in bar_lines
    assert result.sections[0].start_s == 0.0
    assert result.sections[-1].end_s == pytest.approx(audio.duration_s)
    for a, b in itertools.pairwise(result.sections):
        assert a.end_s == b.start_s
    json.dumps(result.to_dict())
