"""Chords over time: the 24 major and minor triads and no-chord ("N").

Method (template matching with HMM smoothing, as Papadopoulos & Peeters 2007 and
Mauch & Dixon 2010):

- Chroma from :mod:`stemforge.analysis.chroma`, averaged per beat interval when
  ``beat_times_s`` are given, else per block of ``block_s`` seconds. The time before the
  first beat and after the last one is cut into beat-long steps of its own.
- Each triad's template is the chroma its three notes make with 6 harmonics of
  amplitude 0.6^(h-1) (Gómez 2006; Papadopoulos & Peeters 2007 compare 4 and 6). A
  step's score for a chord is the Pearson correlation of its full chroma with the
  template plus ``bass_weight`` (0.2) times that of its bass chroma. "N" scores
  ``no_chord_score``, plus 4 per unit the step's in-tune share falls below 0.6 (noise,
  speech, drums), and wins outright on steps quieter than -60 dBFS.
- The chord sequence maximises the summed scores (each step weighted by its length in
  beats, or in 0.5 s for blocks) minus ``switch_penalty`` per change (Viterbi); without
  beats, runs shorter than ``min_duration_s`` are then merged into a neighbour.
- A segment's ``confidence`` (0..1) is the mean margin of its chord's score over the
  best other label, scaled so a margin of 0.2 gives 1.

The weights and penalties were chosen on demo songs of seeds 1000-1095 (weighted chord
symbol recall, majmin) and checked on seeds 2000-2095.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemforge.analysis.chroma import (
    BeatChroma,
    Chromagram,
    beat_intervals,
    chromagram,
    decode_path,
    harmonic_template,
    segment_chroma,
    unit_columns,
)
from stemforge.audio.signal import Audio
from stemforge.results import Result

#: Root spellings of the chord labels (mir_eval reads either spelling).
ROOT_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
QUALITIES = ("maj", "min")
_TRIADS = {"maj": (0, 4, 7), "min": (0, 3, 7)}
NO_CHORD = "N"
SILENCE_DB = -60.0
NOMINAL_BEAT_S = 0.5
#: "N" gains UNTUNED_SLOPE per unit of in-tune share below UNTUNED_BELOW.
UNTUNED_BELOW, UNTUNED_SLOPE = 0.6, 4.0


@dataclass(frozen=True)
class ChordSegment(Result):
    """A chord held from ``start_s`` to ``end_s``: ``label`` is "A:min", "C:maj" or "N"
    (mir_eval's majmin vocabulary); ``root`` and ``quality`` are None for "N"."""

    start_s: float
    end_s: float
    label: str
    root: str | None
    quality: str | None
    confidence: float

    @property
    def root_pitch_class(self) -> int | None:
        return None if self.root is None else ROOT_NAMES.index(self.root)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class ChordResult(Result):
    """Chord segments covering the audio, and the beat-synchronous chroma they were
    decoded from (``beat_chroma``: per beat when ``beat_synchronous``, else per block)."""

    segments: tuple[ChordSegment, ...]
    beat_chroma: BeatChroma
    beat_synchronous: bool
    tuning_cents: float
    duration_s: float

    def labels(self) -> list[str]:
        return [s.label for s in self.segments]

    def intervals(self) -> tuple[np.ndarray, list[str]]:
        """``(intervals shaped (n, 2) in seconds, labels)``, as mir_eval.chord expects."""
        iv = np.array([[s.start_s, s.end_s] for s in self.segments], dtype=np.float64)
        return iv.reshape(-1, 2), self.labels()

    def label_at(self, time_s: float) -> str:
        """The chord label sounding at ``time_s`` ("N" outside the segments)."""
        for s in self.segments:
            if s.start_s <= time_s < s.end_s:
                return s.label
        return NO_CHORD


def chord_templates(*, harmonics: int = 6, decay: float = 0.6) -> np.ndarray:
    """Centred unit-length templates of the 24 triads (rows C:maj ... B:maj, C:min ...
    B:min): their product with a centred unit chroma vector is the Pearson correlation."""
    rows = [
        harmonic_template([(root + i) % 12 for i in _TRIADS[q]], harmonics=harmonics, decay=decay)
        for q in QUALITIES
        for root in range(12)
    ]
    t = np.array(rows)
    t -= t.mean(axis=1, keepdims=True)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def chord_label(index: int) -> tuple[str, str | None, str | None]:
    """State index -> (label, root, quality); 24 is "N"."""
    if index >= 24:
        return NO_CHORD, None, None
    root, quality = ROOT_NAMES[index % 12], QUALITIES[index // 12]
    return f"{root}:{quality}", root, quality


def chords(
    audio: Audio,
    *,
    beat_times_s: np.ndarray | None = None,
    chroma: Chromagram | None = None,
    bass_weight: float = 0.2,
    no_chord_score: float = 0.5,
    switch_penalty: float = 0.2,
    block_s: float = 0.25,
    min_duration_s: float = 0.5,
) -> ChordResult:
    """Major/minor triads and "N" over time (see the module docstring).

    ``beat_times_s`` (seconds, e.g. from a beat tracker) makes the decoding
    beat-synchronous; ``chroma`` reuses a chromagram of the same audio.
    ``switch_penalty`` is in score units per change.

    >>> r = chords(song.mix, beat_times_s=song.truth.beat_times_s)   # doctest: +SKIP
    >>> r.labels()[:4]                                                # doctest: +SKIP
    ['A:min', 'F:maj', 'C:maj', 'G:maj']
    """
    c = chroma if chroma is not None else chromagram(audio)
    end_s = max(audio.duration_s, c.duration_s)
    starts, ends, weight, synchronous = _steps(beat_times_s, end_s, block_s)
    synced = segment_chroma(c, starts, ends, aggregate="mean")
    scores = _scores(synced, bass_weight=bass_weight, no_chord_score=no_chord_score)
    path = decode_path(scores * weight[:, None], switch_penalty)
    if not synchronous:
        path = _merge_short(path, scores * weight[:, None], ends - starts, min_duration_s)
    segments = _segments(path, scores, starts, ends)
    return ChordResult(
        segments=segments,
        beat_chroma=synced,
        beat_synchronous=synchronous,
        tuning_cents=c.tuning_cents,
        duration_s=end_s,
    )


def _steps(
    beat_times_s: np.ndarray | None, end_s: float, block_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Step boundaries and weights (in beats or blocks) covering [0, end_s)."""
    beats = None if beat_times_s is None else np.asarray(beat_times_s, dtype=np.float64)
    if beats is not None:
        beats = beats[(beats >= 0) & (beats < end_s)]
    if beats is None or beats.size < 2:
        n = max(1, int(np.ceil(end_s / block_s)))
        starts = np.arange(n) * block_s
        ends = np.minimum(starts + block_s, end_s)
        # Weighted as beats of a nominal 120 BPM, so one switch_penalty suits both modes.
        return starts, ends, (ends - starts) / NOMINAL_BEAT_S, False
    starts, ends = beat_intervals(beats, end_s=end_s)
    period = float(np.median(np.diff(beats)))
    # The time before the first beat and after the last one, split into beat-long steps.
    head = np.arange(0.0, starts[0] - 0.25 * period, period) if starts[0] > 0.25 * period else []
    head_starts = np.asarray(head, dtype=np.float64)
    head_ends = np.append(head_starts[1:], starts[0]) if head_starts.size else head_starts
    tail_starts, tail_ends = _split(starts[-1], ends[-1], period)
    starts = np.concatenate([head_starts, starts[:-1], tail_starts])
    ends = np.concatenate([head_ends, ends[:-1], tail_ends])
    starts[0] = 0.0  # a first beat within a quarter period of the start takes the head
    weight = np.clip((ends - starts) / period, 0.25, 2.0)
    return starts, ends, weight, True


def _split(start: float, end: float, period: float) -> tuple[np.ndarray, np.ndarray]:
    n = max(1, round((end - start) / period))
    edges = np.linspace(start, end, n + 1)
    return edges[:-1], edges[1:]


def _scores(synced: BeatChroma, *, bass_weight: float, no_chord_score: float) -> np.ndarray:
    """Scores (steps, 25) of the 24 triads and "N"."""
    templates = chord_templates()
    full = synced.chroma.astype(np.float64)
    norm = np.linalg.norm(full, axis=0)
    triads = templates @ unit_columns(full - full.mean(axis=0))  # (24, steps)
    if bass_weight > 0:
        bass = synced.bass.astype(np.float64)
        triads += bass_weight * (templates @ unit_columns(bass - bass.mean(axis=0)))
    # Untuned sound (noise, speech, drums alone) favours "N".
    untuned = np.maximum(0.0, UNTUNED_BELOW - synced.in_tune.astype(np.float64))
    no_chord = no_chord_score + UNTUNED_SLOPE * untuned
    silent = (synced.level_db < SILENCE_DB) | (norm <= 0)
    no_chord[silent] = 10.0
    return np.vstack([triads, no_chord]).T


def _merge_short(
    path: np.ndarray, scores: np.ndarray, lengths_s: np.ndarray, min_duration_s: float
) -> np.ndarray:
    """Give each run shorter than ``min_duration_s`` to the neighbour scoring better on it."""
    path = path.copy()
    while True:
        bounds = np.flatnonzero(np.diff(path)) + 1
        starts = np.concatenate([[0], bounds])
        stops = np.concatenate([bounds, [len(path)]])
        if len(starts) == 1:
            return path
        durations = np.array([lengths_s[a:b].sum() for a, b in zip(starts, stops, strict=True)])
        i = int(np.argmin(durations))
        if durations[i] >= min_duration_s:
            return path
        a, b = starts[i], stops[i]
        candidates = []
        if i > 0:
            candidates.append(int(path[a - 1]))
        if i < len(starts) - 1:
            candidates.append(int(path[b]))
        path[a:b] = max(candidates, key=lambda k: scores[a:b, k].sum())


def _segments(
    path: np.ndarray, scores: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> tuple[ChordSegment, ...]:
    chosen = scores[np.arange(len(path)), path]
    others = scores.copy()
    others[np.arange(len(path)), path] = -np.inf
    margin = np.clip((chosen - others.max(axis=1)) / 0.2, 0.0, 1.0)
    bounds = np.flatnonzero(np.diff(path)) + 1
    run_starts = np.concatenate([[0], bounds])
    run_stops = np.concatenate([bounds, [len(path)]])
    out = []
    for a, b in zip(run_starts, run_stops, strict=True):
        label, root, quality = chord_label(int(path[a]))
        out.append(
            ChordSegment(
                start_s=float(starts[a]),
                end_s=float(ends[b - 1]),
                label=label,
                root=root,
                quality=quality,
                confidence=float(margin[a:b].mean()),
            )
        )
    return tuple(out)
