"""Rhythm: tempo, beats, downbeats and metre.

Everything runs on the mono mix resampled to 22.05 kHz, cut into centred 1024-sample
Hann frames every 256 samples (86 frames a second), as the transient analysis does.
The steps live in :mod:`~stemforge.analysis.beats`, :mod:`~stemforge.analysis.tempo`
and :mod:`~stemforge.analysis.meter`; this module holds the front end and the result.

1. **Onset novelty**: the spectral flux of the log-mel spectrogram (the transient
   analysis's onset strength: the mean over 128 mel bands of the rise in dB) less its
   1 s moving average, half-wave rectified. The same frames give a *band profile* of
   each onset (the rise of power^0.3, Stevens' loudness law, in 32 bands, less each
   band's median, so a loud snare outweighs a quiet hi-hat), the low-band (< 150 Hz)
   level and a coarse chroma for the metre.
2. **Periodicity**: the autocorrelation r of the novelty, read through a comb of four
   multiples of each period (Percival & Tzanetakis, "Streamlined tempo estimation",
   IEEE/ACM TASLP 22(12), 2014). Its peak between 40 and 240 BPM, weighted by a broad
   log-normal around 120 BPM, seeds the beat tracker.
3. **Beats** by dynamic programming (Ellis, JNMR 36(1), 2007), twice: once at the seed
   period, and once more, after the metrical level is chosen, following the local
   tempo (the running median of the beat intervals), so drift and rubato are tracked.
   Each beat is moved to the novelty peak (to a fraction of a frame) plus 5 ms latency.
4. **Metrical level (the tempo octave) by evidence**, as a drummer's backbeat defines
   the beat. Between a level and one 2 or 3 times faster, the faster level's beats are
   tracked and split into 2 or 3 phases; the *pulse score* of the weaker phases against
   the strongest is ``ratio + 3 * excess``: their total band flux relative to the
   strongest phase's, plus three times the share by which they are stronger band by
   band. A snare answering the kick scores high (it is as loud, and louder in its own
   bands); a hi-hat between the beats, weaker in every band, scores low. The faster
   level is the beat when its score is at least 0.9 plus 0.4 for each octave that it
   lies further outside ``preferred_range_bpm`` than the slower level: so clear
   evidence wins (a drum-and-bass track whose snare answers the kick at 174 BPM reads
   174, a 70 BPM ballad with hi-hat eighths reads 70, whatever the range), and levels
   of comparable salience are settled by the range (``level_rule`` then says
   "preferred_range"), provided the pulses group in twos (or threes) at least as
   clearly as in threes (or twos), so the range never halves a 3/4 song. Levels need an
   autocorrelation of at least 0.1 at their period. ``strict_range=True`` then folds
   the reported tempo into the range (x2, /2, x4, /4, x3, /3) as DJ software does,
   with the beats at that level.
5. **Loops**: a clip of at most 30 s that starts on an onset, one of whose four
   strongest periodicities lies within 6 % of a tempo making it 1 to 16 bars of 3 or 4
   beats, is taken for a loop cut at bar lines (as sample libraries cut them): the
   tracker starts at that tempo, levels stay whole-bar ones, and the reported tempo is
   the exact loop tempo (``level_rule`` "loop_length").
6. **Metre and downbeats**: see :mod:`~stemforge.analysis.meter` (ternary subdivision
   gives 6/8 with two dotted-quarter beats a bar; otherwise 3/4 or 4/4 by the bar
   length whose first beats stand out most in low-band level, harmonic change and
   onset strength).
7. **Tempo and its stability**: see :func:`~stemforge.analysis.tempo.tempo_figures`.
8. **Confidence** = the product of three terms in 0..1: the grid's periodicity (the
   largest r at the beat, its subdivision or its double, as a z-score ``r sqrt(n /
   8)`` over n frames, mapped from 1.5..3.5), the share of novelty within 50 ms of
   the beats and their subdivisions above its chance level (mapped from 0..0.5 of the
   way to 1), and the onset strength at the beats (median novelty peak, mapped from
   0.5..2 dB). Under ``min_confidence``, for silence, and under ``min_duration_s`` the
   result is "no tempo found": tempo NaN, no beats, confidence 0 and a ``reason``.

>>> from stemforge.demo import generate_song
>>> song = generate_song(tempo_bpm=174, sections=[("verse", 8), ("chorus", 8)])  # doctest: +SKIP
>>> r = rhythm(song.mix)  # doctest: +SKIP
>>> r.tempo_bpm, r.time_signature, r.level_rule  # doctest: +SKIP
(174.0, '4/4', 'evidence')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import soxr

from stemforge.analysis.beats import (
    ANALYSIS_RATE_HZ,
    FRAME_RATE_HZ,
    HOP_LENGTH,
    N_FFT,
    ONSET_LATENCY_S,
    local_period,
    moving_average,
    peak_near,
    refine_beats,
    subdivide,
    track_beats,
)
from stemforge.analysis.common import TimeSeries
from stemforge.analysis.meter import meter, subdivision
from stemforge.analysis.spectrum import stft_chunks
from stemforge.analysis.tempo import (
    MAX_BPM,
    MIN_BPM,
    autocorrelation,
    choose_level,
    loop_tempo,
    periodicity,
    salience,
    seed_tempo,
    tempo_figures,
)
from stemforge.analysis.transients import mel_filterbank, onset_strength
from stemforge.audio.signal import Audio
from stemforge.errors import AnalysisError
from stemforge.results import Result

N_MELS = 128
N_PROFILE_BANDS = 32
LOW_BAND_HZ = 150.0
CHROMA_RANGE_HZ = (200.0, 5000.0)
DETREND_S = 1.0

_RELATIONS = (
    (0.5, "half"),
    (2.0, "double"),
    (1.0 / 3.0, "third"),
    (3.0, "triple"),
    (2.0 / 3.0, "two_thirds"),
    (1.5, "three_halves"),
)


@dataclass(frozen=True)
class TempoAlternative(Result):
    """Another metrical level: its ``relation`` to the reported tempo ("half",
    "double", "third", "triple", "two_thirds", "three_halves") and its periodicity
    ``score`` (comb salience) relative to the strongest of all the levels, 0..1."""

    tempo_bpm: float
    relation: str
    score: float


@dataclass(frozen=True)
class RhythmResult(Result):
    """Tempo, beats, downbeats and metre (see the module docstring).

    When no tempo was found, ``tempo_bpm`` is NaN, the beats are empty, ``confidence``
    is 0 and ``reason`` says why (it is empty otherwise); see :attr:`found`.

    - ``tempo_bpm`` to 0.1 BPM; ``confidence`` 0..1; ``alternatives`` the other
      metrical levels, best first; ``preferred_range_bpm`` as asked.
    - ``level_rule``: what chose the metrical level: "evidence", "preferred_range"
      (comparably salient levels), "loop_length" or "strict_range".
    - ``beat_times_s`` and ``downbeat_times_s`` in seconds; ``beats_per_bar`` counts
      the reported beats in a bar (with ``strict_range`` it can differ from the time
      signature's); ``time_signature`` "3/4", "4/4" or "6/8" (6/8 counts dotted
      quarters: 2 beats a bar); ``subdivision`` "binary" or "ternary";
      ``meter_confidence`` 0..1.
    - ``tempo_curve``: the local tempo (BPM) at the middle of each beat interval;
      ``tempo_stability`` 0..1 (1 = constant); ``is_steady``: one constant tempo
      grid fits the beats (within 35 ms), as for a track made to a click.
    """

    tempo_bpm: float
    confidence: float
    alternatives: tuple[TempoAlternative, ...]
    preferred_range_bpm: tuple[float, float]
    beat_times_s: np.ndarray
    downbeat_times_s: np.ndarray
    beats_per_bar: int
    time_signature: str | None
    meter_confidence: float
    subdivision: str | None
    tempo_stability: float
    tempo_curve: TimeSeries
    is_steady: bool
    level_rule: str
    reason: str

    @property
    def found(self) -> bool:
        """Whether a tempo was found."""
        return math.isfinite(self.tempo_bpm)


@dataclass(frozen=True)
class _Features:
    novelty: np.ndarray  # detrended onset strength per frame
    bands: np.ndarray  # (frames, N_PROFILE_BANDS) loudness flux less each band's median
    low_db: np.ndarray  # level under LOW_BAND_HZ per frame, dB
    chroma: np.ndarray  # (frames, 12) power per pitch class
    duration_s: float


def _chroma_filterbank(sample_rate: int, n_fft: int) -> np.ndarray:
    """(12, bins): each bin from 200 Hz to 5 kHz split between its two nearest pitch
    classes in proportion to its distance from them (C first)."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    fb = np.zeros((12, len(freqs)), np.float32)
    sel = np.flatnonzero((freqs >= CHROMA_RANGE_HZ[0]) & (freqs <= CHROMA_RANGE_HZ[1]))
    midi = 69.0 + 12.0 * np.log2(freqs[sel] / 440.0)
    below = np.floor(midi).astype(np.int64)
    frac = (midi - below).astype(np.float32)
    np.add.at(fb, (below % 12, sel), 1.0 - frac)
    np.add.at(fb, ((below + 1) % 12, sel), frac)
    return fb


def _features(audio: Audio) -> _Features:
    sr = ANALYSIS_RATE_HZ
    mono = audio.to_mono().samples[0]
    if audio.sample_rate != sr:
        mono = soxr.resample(mono, audio.sample_rate, sr, quality="HQ").astype(np.float32)
    # Centred frames, plus two more before the first, so a signal that starts with
    # sound has its onset in frame 0.
    lead = 2
    padded = np.concatenate(
        [
            np.zeros(N_FFT // 2 + lead * HOP_LENGTH, np.float32),
            mono,
            np.zeros(N_FFT // 2, np.float32),
        ]
    )
    n_frames = 1 + (len(padded) - N_FFT) // HOP_LENGTH
    mel = mel_filterbank(sr, N_FFT, N_MELS)
    # One sparse (mel + chroma) x bins product: it runs on one core and does not stall
    # as threaded BLAS can on a busy machine.
    weights = scipy.sparse.csr_array(np.vstack([mel, _chroma_filterbank(sr, N_FFT)]))
    mel_power = np.empty((n_frames, N_MELS), np.float32)
    chroma = np.empty((n_frames, 12), np.float32)
    for start, spec in stft_chunks(
        padded[: (n_frames - 1) * HOP_LENGTH + N_FFT], N_FFT, HOP_LENGTH
    ):
        power = spec.real**2 + spec.imag**2
        out = (weights @ power.T).T
        stop = start + power.shape[0]
        mel_power[start:stop] = out[:, :N_MELS]
        chroma[start:stop] = out[:, N_MELS:]

    # Frame 0 takes the largest rise of the lead frames: the onset of a signal that
    # starts with sound.
    env = onset_strength(mel_power).astype(np.float64)
    env = np.concatenate([[env[: lead + 1].max()], env[lead + 1 :]])
    width = max(3, int(DETREND_S * FRAME_RATE_HZ) | 1)
    novelty = np.maximum(env - moving_average(env, width), 0.0)

    grouped = mel_power.reshape(n_frames, N_PROFILE_BANDS, -1).sum(axis=2) ** 0.3
    rise = np.maximum(np.diff(grouped, axis=0, prepend=grouped[:1]), 0.0)
    rise = np.concatenate([rise[: lead + 1].max(axis=0, keepdims=True), rise[lead + 1 :]])
    bands = np.maximum(rise - np.median(rise, axis=0), 0.0)
    mel_power, chroma = mel_power[lead:], chroma[lead:]

    centres = (mel @ np.arange(N_FFT // 2 + 1)) * sr / N_FFT / np.maximum(mel.sum(1), 1e-12)
    low = mel_power[:, centres < LOW_BAND_HZ].sum(axis=1, dtype=np.float64)
    low_db = 10.0 * np.log10(low + 1e-10)
    return _Features(novelty, bands.astype(np.float32), low_db, chroma, len(mono) / sr)


def _confidence(
    novelty: np.ndarray, r: np.ndarray, beats: np.ndarray, period: float, ternary: bool
) -> tuple[float, float, float, float]:
    """(confidence, periodicity, alignment, strength); see the module docstring."""
    tempo = 60.0 * FRAME_RATE_HZ / period
    # A loop of sixteenths or a bar-long riff still shows a steady grid: take the
    # strongest of the beat, its subdivision and its double. The autocorrelation of n
    # independent values has a standard error of 1/sqrt(n); the novelty decorrelates
    # within about 8 frames (93 ms).
    levels = [
        (periodicity(r, tempo * f, 0.03), period / f) for f in (0.5, 1.0, 3.0 if ternary else 2.0)
    ]
    best, lag = max(levels)
    z = best * math.sqrt(max(len(novelty) - lag, 1.0) / 8.0)

    n = len(novelty)
    grid = np.round(subdivide(beats, 3 if ternary else 2)).astype(np.int64)
    radius = max(1, round(0.05 * FRAME_RATE_HZ))
    mask = np.zeros(n, bool)
    for k in range(-radius, radius + 1):
        mask[np.clip(grid + k, 0, n - 1)] = True
    lo, hi = int(max(0, beats[0] - period)), int(min(n, beats[-1] + period + 1))
    span, inside = novelty[lo:hi], mask[lo:hi]
    chance = float(inside.mean()) if hi > lo else 1.0
    alignment = float(span[inside].sum() / span.sum()) if span.sum() > 0 else 0.0
    strength = float(np.median(peak_near(novelty, beats, 2, 2)))

    c_period = float(np.clip((z - 1.5) / 2.0, 0.0, 1.0))
    c_align = float(np.clip((alignment - chance) / max(1.0 - chance, 1e-9) / 0.5, 0.0, 1.0))
    c_strength = float(np.clip((strength - 0.5) / 1.5, 0.0, 1.0))
    return c_period * c_align * c_strength, best, alignment, strength


def _empty(reason: str, preferred: tuple[float, float]) -> RhythmResult:
    return RhythmResult(
        tempo_bpm=math.nan,
        confidence=0.0,
        alternatives=(),
        preferred_range_bpm=preferred,
        beat_times_s=np.zeros(0),
        downbeat_times_s=np.zeros(0),
        beats_per_bar=0,
        time_signature=None,
        meter_confidence=0.0,
        subdivision=None,
        tempo_stability=0.0,
        tempo_curve=TimeSeries(np.zeros(0), np.zeros(0), "BPM"),
        is_steady=False,
        level_rule="",
        reason=reason,
    )


def _fold(beat_times, phase, bpb, tempo, preferred, ternary):
    """Fold the tempo into ``preferred`` by x2, /2, x4, /4, x3 or /3 (x3 and /3 first for a
    ternary metre): (factor, beat times, downbeat phase, beats per bar), or None if no
    such level lies in it (a slower level must divide the bar)."""
    lo, hi = preferred
    binary = [(2.0, 2), (0.5, 2), (4.0, 4), (0.25, 4)]
    triple = [(3.0, 3), (1.0 / 3.0, 3)]
    for factor, parts in triple + binary if ternary else binary + triple:
        if not lo <= tempo * factor <= hi:
            continue
        if factor > 1:
            return factor, subdivide(beat_times, parts), phase * parts, bpb * parts
        if bpb % parts:
            continue
        start = phase % parts
        return factor, beat_times[start::parts], (phase - start) // parts, bpb // parts
    return None


def _alternatives(r: np.ndarray, tempo: float) -> tuple[TempoAlternative, ...]:
    tempos = np.array([tempo] + [tempo * f for f, _ in _RELATIONS])
    sal = np.maximum(salience(r, tempos), 0.0)
    top = float(sal.max())
    out = [
        TempoAlternative(round(float(t), 1), name, round(float(s) / top, 3) if top > 0 else 0.0)
        for (_, name), t, s in zip(_RELATIONS, tempos[1:], sal[1:], strict=True)
        if MIN_BPM <= t <= MAX_BPM
    ]
    return tuple(sorted(out, key=lambda a: -a.score))


def rhythm(
    audio: Audio,
    *,
    preferred_range_bpm: tuple[float, float] = (78.0, 155.0),
    strict_range: bool = False,
    tightness: float = 100.0,
    min_duration_s: float = 4.0,
    min_confidence: float = 0.2,
) -> RhythmResult:
    """Tempo, beats, downbeats and metre of ``audio`` (see the module docstring).

    ``preferred_range_bpm`` settles the choice between comparably salient metrical
    levels; ``strict_range`` folds the reported tempo (and the beats) into it whenever
    a level lies there, as DJ software does. ``tightness`` is the beat tracker's
    penalty on tempo change (Ellis 2007). Input shorter than ``min_duration_s``, or
    whose confidence is under ``min_confidence``, gives "no tempo found".
    """
    audio.require_finite()
    try:
        lo_bpm, hi_bpm = (float(v) for v in preferred_range_bpm)
    except (TypeError, ValueError):
        lo_bpm = hi_bpm = math.nan
    if not (MIN_BPM <= lo_bpm < hi_bpm <= MAX_BPM):
        raise AnalysisError(
            f"preferred_range_bpm {preferred_range_bpm!r} is not a tempo range within "
            f"{MIN_BPM:g}-{MAX_BPM:g} BPM.",
            hint="Give (low, high) with low < high, for example (78, 155).",
        )
    preferred = (lo_bpm, hi_bpm)
    if audio.duration_s < min_duration_s:
        return _empty(
            f"too short: {audio.duration_s:.1f} s; a tempo needs at least {min_duration_s:g} s.",
            preferred,
        )
    feats = _features(audio)
    nov = feats.novelty
    if len(nov) == 0 or nov.max() <= 0:
        return _empty("no onsets: the signal is silent or does not change.", preferred)

    r = autocorrelation(nov)
    seed_bpm, grid, sal = seed_tempo(r)
    loop_bpm = loop_tempo(nov, feats.duration_s, r, grid, sal)
    if loop_bpm is not None:
        seed_bpm = loop_bpm
    no_pulse = "no steady pulse: too few beats could be tracked."
    beats = track_beats(nov, 60.0 * FRAME_RATE_HZ / seed_bpm, tightness=tightness)
    if len(beats) < 4:
        return _empty(no_pulse, preferred)
    beats, rule = choose_level(
        nov,
        feats.bands,
        r,
        beats.astype(np.float64),
        preferred,
        tightness=tightness,
        loop_s=None if loop_bpm is None else feats.duration_s,
    )
    frames = track_beats(nov, local_period(beats, len(nov)), tightness=tightness)
    if len(frames) < 4:
        return _empty(no_pulse, preferred)
    beat_frames = refine_beats(nov, frames)
    period = float(np.median(np.diff(beat_frames)))

    kind, clarity = subdivision(nov, beat_frames)
    confidence, best, alignment, strength = _confidence(
        nov, r, beat_frames, period, kind == "ternary"
    )
    if confidence < min_confidence:
        return _empty(
            f"no steady pulse: confidence {confidence:.2f} is under {min_confidence:g} "
            f"(periodicity {best:.2f}, beat alignment {alignment:.2f}, "
            f"onset strength {strength:.1f} dB).",
            preferred,
        )
    bpb, signature, phase, meter_confidence = meter(
        beat_frames, nov, feats.low_db, feats.chroma, kind, clarity
    )

    beat_times = np.clip(beat_frames / FRAME_RATE_HZ + ONSET_LATENCY_S, 0.0, audio.duration_s)
    tempo, stability, curve, steady = tempo_figures(beat_times)
    if loop_bpm is not None:
        n_beats = round(tempo * feats.duration_s / 60.0)
        exact = 60.0 * n_beats / feats.duration_s
        if n_beats > 0 and abs(math.log(exact / tempo)) < 0.04:
            tempo = exact
            rule = "loop_length" if rule == "evidence" else rule
    if strict_range and not lo_bpm <= tempo <= hi_bpm:
        folded = _fold(beat_times, phase, bpb, tempo, preferred, kind == "ternary")
        if folded is not None:
            factor, beat_times, phase, bpb = folded
            tempo *= factor
            _, stability, curve, steady = tempo_figures(beat_times)
            rule = "strict_range"

    return RhythmResult(
        tempo_bpm=round(float(tempo), 1),
        confidence=round(confidence, 3),
        alternatives=_alternatives(r, tempo),
        preferred_range_bpm=preferred,
        beat_times_s=np.round(beat_times, 4),
        downbeat_times_s=np.round(beat_times[phase::bpb], 4),
        beats_per_bar=int(bpb),
        time_signature=signature,
        meter_confidence=round(meter_confidence, 3),
        subdivision=kind,
        tempo_stability=round(stability, 3),
        tempo_curve=curve,
        is_steady=steady,
        level_rule=rule,
        reason="",
    )
