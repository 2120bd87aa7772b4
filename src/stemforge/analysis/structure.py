"""Musical structure: the bar grid, 4/8/16-bar phrases, and labelled sections.

Given the beat grid (beats, downbeats, beats per bar: from :mod:`stemforge.analysis.rhythm`
or a ground truth), everything runs at bar resolution:

1. **Features.** One STFT of the mono mix at 22.05 kHz (Hann, ``n_fft`` 4096, hop 1024:
   186 ms windows every 46 ms) gives per frame 40 Slaney mel bands (dB), a 12-bin chroma
   (spectral bins from 90 Hz to 4 kHz folded onto pitch classes with cos^2 weights around
   each semitone), the power, and the spectral flux (mean rise in dB) below 150 Hz (kick)
   and of the mel bands above 4 kHz (snare, hats). Per bar: the mean and spread of MFCCs
   1-4 (DCT of the log-mel spectrum: the broad spectral shape, not the melody), the
   level, the kick and the hat flux form the *timbre* vector (each dimension standardised
   over the track); the chroma of each beat slot of the bar (``log(1 + 10 c / mean)``,
   unit length), concatenated in order, forms the *harmony* vector, so a bar matches a
   bar with the same chords *and* melody in the same place. ``beat_chroma`` may replace
   the built-in chroma.
2. **Self-similarity** (Foote 1999): per view a bars x bars matrix
   ``exp(-d^2 / median(d^2))`` of Euclidean distances; ``self_similarity`` is their mean.
3. **Novelty**, at each downbeat: the Foote (2000) checkerboard novelty of the timbre
   matrix (a Gaussian-tapered kernel ``kernel_bars`` either side; only entries inside the
   track, the diagonal left out, so the edges are not biased), scaled by
   ``TIMBRE_NOVELTY_REF`` or the track's strongest, plus ``repetition_weight`` x the
   structure-feature novelty of the harmony matrix (Serra et al. 2014: rows of the
   time-lag recurrence plot change where a repetition starts or ends).
4. **Boundaries** by dynamic programming over the downbeats: the segmentation maximising
   the sum over boundaries of ``novelty - peak_threshold``, less ``phrase_penalty`` for a
   section that is not a whole number of 4 bars and again for 8 (sections follow 4- and
   8-bar phrases in popular music), each at least ``min_section_bars`` bars long.
5. **Groups** (same letter = same material: the same chords and melody *and* the same
   sound): the similarity of two sections is the mean of their harmony repetition (the
   best mean of the harmony matrix along a diagonal, the shorter section slid along the
   longer: the stripes of a recurrence plot) and their timbre similarity (the kernel of
   the distance of their mean timbre vectors); average-linkage clustering at
   ``repeat_threshold``. Adjacent
   sections of one group are merged into one (a double chorus reads as one chorus).
6. **Energy**: ``energy_db`` is the RMS level in dBFS; ``energy`` (0..1) the mean of the
   level and of the level above 4 kHz (hats, cymbals, brightness: what a producer adds
   to lift a chorus), each mapped from 24 dB under the track's highest section (0) to
   the highest (1); ``drum_activity`` (0..1) the mean of the kick and the hat flux, each
   relative to the busiest section. A section is *quiet* when its ``energy`` is under
   ``low_energy`` times the most energetic section's, or its level is ``quiet_db`` or
   more under the loudest.
7. **Labels**, by rules a producer would recognise: the first section is the *intro* if
   quiet and not repeated (except by the last section); the last is the *outro* if quiet;
   among the middle sections the most repeated high-energy group (mean energy at least
   the median middle section's) is the *chorus* (ties: the more energetic; without one,
   the middle sections within 0.1 of the top energy); a quiet middle section with
   ``drum_activity`` under 0.3 is a *breakdown*; sections before the first chorus, and
   repeated groups, are *verses* (all of them when nothing repeats); an unrepeated middle
   section is a *bridge*. In an electronic-style track the chorus is a *drop* when one
   follows a quiet section. Electronic style is judged simply: 2/4 or 4/4 with a
   four-on-the-floor kick in the choruses (the low-band flux on every beat of the bar at
   least 3/4 of the strongest beat's and 2.5 times the flux between beats). Vocal content
   is not judged.
8. **Phrases**: within each section the downbeats are grouped from the section start into
   4-, 8- and 16-bar phrases (the phrase grid restarts at every section boundary).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.sparse
import soxr

from stemforge.analysis.common import TimeSeries, power_to_db
from stemforge.analysis.spectrum import compact, compact_times, stft_chunks
from stemforge.analysis.transients import mel_filterbank
from stemforge.audio.signal import Audio
from stemforge.errors import AnalysisError
from stemforge.results import Result

ANALYSIS_RATE_HZ = 22050
N_FFT = 4096
HOP_LENGTH = 1024
N_MELS = 40
N_MFCC = 4
CHROMA_MIN_HZ = 90.0
CHROMA_MAX_HZ = 4000.0
KICK_MAX_HZ = 150.0
HATS_MIN_HZ = 4000.0
LABELS = ("intro", "verse", "chorus", "breakdown", "drop", "bridge", "outro")
#: A track quieter than this (RMS, dBFS) is treated as silence.
SILENCE_DB = -70.0
#: Section levels are mapped to 0..1 from this many dB under the loudest section.
ENERGY_RANGE_DB = 24.0
#: Checkerboard novelty of the timbre matrix that counts as a clear change of sound: the
#: strongest boundary of a track is scaled to 1 only when it reaches this (stationary
#: noise and a steady loop stay below ~0.25, section changes of songs give 0.5-0.8).
TIMBRE_NOVELTY_REF = 0.5
#: Structure-feature novelty that counts as 1: two repetitions starting or ending (a
#: smoothed stripe of the lag matrix appearing changes a row by about 0.1).
STRUCTURE_NOVELTY_REF = 0.2
#: Only bars at least this similar (0..1) can be recurrences in the structure features.
RECURRENCE_MIN = 0.6
#: A quiet middle section with drum activity (0..1 of the busiest) below this is a breakdown.
BREAKDOWN_DRUMS = 0.3
#: Weights of the standardised timbre dimensions: MFCC means, MFCC spreads, level, kick
#: flux, hat flux.
TIMBRE_WEIGHTS = np.r_[np.ones(N_MFCC), np.ones(N_MFCC), 2.0, 2.0, 2.0]


@dataclass(frozen=True)
class Bar(Result):
    """One bar ``[start_s, end_s)``. ``on_downbeat``: it starts at one of the given
    downbeats (False for bars extrapolated before the first or after the last);
    ``partial``: a remnant shorter than a bar at the track's start (pickup) or end."""

    index: int
    start_s: float
    end_s: float
    on_downbeat: bool
    partial: bool


@dataclass(frozen=True)
class Phrase(Result):
    """A phrase of ``level`` (4, 8 or 16) bars starting at ``start_bar``; ``bars`` is
    fewer than ``level`` where a section ends first."""

    start_s: float
    end_s: float
    bars: int
    level: int
    start_bar: int
    section_index: int


@dataclass(frozen=True)
class Section(Result):
    """A labelled section (see the module docstring for the rules).

    ``group`` is a letter shared by repeats of the same material; ``repeat_index`` counts
    its occurrences from 1; ``energy_db`` is the RMS level in dBFS, ``drum_activity`` and
    ``energy`` are 0..1 within the track (module docstring, step 6); ``confidence`` (0..1)
    is the mean novelty of its two boundaries (the track's ends count 1).
    """

    start_s: float
    end_s: float
    bars: int
    start_bar: int
    label: str
    group: str
    repeat_index: int
    energy_db: float
    energy: float
    drum_activity: float
    confidence: float


@dataclass(frozen=True)
class StructureResult(Result):
    """Bars, phrases and sections of a track.

    ``novelty`` is the boundary novelty at each bar start (0 where no boundary can be,
    dimensionless); ``self_similarity`` is the bars x bars similarity (0..1, rows and
    columns in the order of ``bars``). ``electronic``: the choruses have a four-on-the-floor
    kick (the style where a chorus after a quiet section is called a drop); ``note``
    explains a degenerate result (no grid, too short, silence), else "".
    """

    duration_s: float
    bars: tuple[Bar, ...]
    phrases: tuple[Phrase, ...]
    sections: tuple[Section, ...]
    novelty: TimeSeries
    self_similarity: np.ndarray
    electronic: bool
    note: str

    def phrase_starts_s(self, level: int) -> np.ndarray:
        """Start times of the phrases of one level (4, 8 or 16 bars)."""
        return np.array([p.start_s for p in self.phrases if p.level == level], np.float64)

    @property
    def boundaries_s(self) -> np.ndarray:
        """Section start times after the first, in seconds."""
        return np.array([s.start_s for s in self.sections[1:]], np.float64)


# --- frame features ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Frames:
    times_s: np.ndarray  # frame centres
    mel_db: np.ndarray  # (frames, N_MELS)
    chroma: np.ndarray  # (frames, 12), not normalised
    power: np.ndarray  # (frames,) mean square
    flux_low: np.ndarray  # (frames,)
    flux_high: np.ndarray  # (frames,)
    power_high: np.ndarray  # (frames,) mean square in the mel bands above HATS_MIN_HZ
    whole: np.ndarray  # (frames,) bool: the window lies wholly inside the signal


def _chroma_matrix(sample_rate: int, n_fft: int) -> np.ndarray:
    """Bins (rows) to pitch classes (columns): cos^2 of the distance to the nearest
    semitone, for bins between CHROMA_MIN_HZ and CHROMA_MAX_HZ."""
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    out = np.zeros((len(freqs), 12), np.float32)
    use = (freqs >= CHROMA_MIN_HZ) & (freqs <= CHROMA_MAX_HZ)
    midi = 69.0 + 12.0 * np.log2(freqs[use] / 440.0)
    nearest = np.round(midi)
    weight = np.cos(np.pi * (midi - nearest)) ** 2
    out[np.flatnonzero(use), (nearest.astype(np.int64) % 12)] = weight
    return out


def _frame_features(audio: Audio) -> _Frames:
    sr = ANALYSIS_RATE_HZ
    samples = audio.samples
    mono = samples[0] if len(samples) == 1 else samples.mean(axis=0, dtype=np.float32)
    if audio.sample_rate != sr:
        mono = soxr.resample(mono, audio.sample_rate, sr, quality="LQ").astype(np.float32)
    pad = np.zeros(N_FFT // 2, np.float32)
    x = np.concatenate([pad, mono, pad])
    n_frames = 1 + max(0, (len(x) - N_FFT) // HOP_LENGTH)
    x = x[: (n_frames - 1) * HOP_LENGTH + N_FFT]
    freqs = np.arange(N_FFT // 2 + 1) * sr / N_FFT
    low_bins = np.flatnonzero((freqs > 20.0) & (freqs <= KICK_MAX_HZ))
    # One sparse matrix maps a power spectrum to every band feature: mel bands, chroma,
    # the low bins one by one, and the total power (sparse products also avoid BLAS
    # thread start-up costs on these small blocks).
    rows = np.vstack(
        [
            mel_filterbank(sr, N_FFT, N_MELS),
            _chroma_matrix(sr, N_FFT).T,
            np.eye(len(freqs), dtype=np.float32)[low_bins],
            np.ones((1, len(freqs)), np.float32),
        ]
    )
    weights = scipy.sparse.csr_matrix(rows * _power_scale())
    bands = np.empty((n_frames, rows.shape[0]), np.float32)
    for start, spec in stft_chunks(x, N_FFT, HOP_LENGTH, chunk_frames=128):
        p = spec.real**2 + spec.imag**2
        bands[start : start + p.shape[0]] = (weights @ p.T).T
    n_low = len(low_bins)
    mel_db = 10.0 * np.log10(np.maximum(bands[:, :N_MELS], 1e-12))
    chroma = bands[:, N_MELS : N_MELS + 12]
    low_db = 10.0 * np.log10(np.maximum(bands[:, N_MELS + 12 : N_MELS + 12 + n_low], 1e-12))
    power = bands[:, -1].astype(np.float64)
    # Flux in dB against a floor 60 dB under the track's peak, so silence gives none.
    floor = (float(mel_db.max()) if mel_db.size else 0.0) - 60.0
    hat_bands = _band_peaks_hz(sr) >= HATS_MIN_HZ
    flux_high = _flux(np.maximum(mel_db[:, hat_bands], floor))
    flux_low = _flux(np.maximum(low_db, floor))
    power_high = bands[:, :N_MELS][:, hat_bands].sum(axis=1, dtype=np.float64)
    times = np.arange(n_frames) * HOP_LENGTH / sr
    half_s = 0.5 * N_FFT / sr
    whole = (times >= half_s - 1e-9) & (times <= len(mono) / sr - half_s + 1e-9)
    return _Frames(times, mel_db, chroma, power, flux_low, flux_high, power_high, whole)


def _power_scale() -> np.ndarray:
    """Per-bin factors turning |X|^2 of a Hann-windowed frame into mean-square power."""
    w = np.hanning(N_FFT + 1)[:-1]
    scale = np.full(N_FFT // 2 + 1, 2.0 / (N_FFT * np.sum(w**2)), np.float32)
    scale[[0, -1]] /= 2
    return scale


def _flux(db: np.ndarray) -> np.ndarray:
    """Mean positive frame-to-frame rise in dB over the columns (0 for the first frame)."""
    if len(db) == 0:
        return np.zeros(0)
    rise = np.maximum(0.0, np.diff(db, axis=0)).mean(axis=1)
    return np.concatenate([[0.0], rise])


def _band_peaks_hz(sample_rate: int) -> np.ndarray:
    """The frequency where each of the N_MELS mel filters peaks."""
    fb = mel_filterbank(sample_rate, N_FFT, N_MELS)
    return np.arange(N_FFT // 2 + 1)[np.argmax(fb, axis=1)] * sample_rate / N_FFT


# --- the bar grid -----------------------------------------------------------------------


def bar_grid(
    downbeat_times_s: np.ndarray,
    *,
    duration_s: float,
    beats_per_bar: int = 4,
) -> tuple[Bar, ...]:
    """Bars from the downbeats, extended to ``[0, duration_s)``.

    Whole bars as long as the first (last) bar are extrapolated before the first (after
    the last) downbeat; what remains becomes a partial bar when it lasts at least one
    beat, else it joins the neighbouring extrapolated bar (a remnant before the first
    downbeat with no bar to join stays a partial pickup bar).
    """
    db = np.unique(np.asarray(downbeat_times_s, dtype=np.float64))
    db = db[np.isfinite(db) & (db >= 0.0) & (db < duration_s)]
    if db.size < 2:
        return ()
    diffs = np.diff(db)
    first_len, last_len = float(diffs[0]), float(diffs[-1])
    bpb = max(int(beats_per_bar), 1)
    eps = 1e-6
    # (start_s, on_downbeat, partial)
    head: list[tuple[float, bool, bool]] = []
    t = float(db[0])
    while t - first_len >= -eps:
        t = max(t - first_len, 0.0)
        head.append((t, False, False))
    if t > eps:
        if t >= first_len / bpb - eps or not head:
            head.append((0.0, False, True))
        else:
            head[-1] = (0.0, False, False)
    tail: list[tuple[float, bool, bool]] = []
    t = float(db[-1]) + last_len
    while t + last_len <= duration_s + eps:
        tail.append((t, False, False))
        t += last_len
    if duration_s - t >= last_len / bpb - eps:
        tail.append((t, False, True))
    # The last downbeat's bar is partial when the track ends half a beat or more early.
    cut = not tail and duration_s - float(db[-1]) < last_len - 0.5 * last_len / bpb
    body = [(float(x), True, cut and i == db.size - 1) for i, x in enumerate(db)]
    starts = head[::-1] + body + tail
    starts[0] = (0.0, starts[0][1], starts[0][2])  # a first downbeat within eps of 0
    ends = [s for s, _, _ in starts[1:]] + [duration_s]
    bars = [(s, e, on, part) for (s, on, part), e in zip(starts, ends, strict=True) if e - s > eps]
    return tuple(Bar(i, s, e, on, part) for i, (s, e, on, part) in enumerate(bars))


# --- bar features, self-similarity, novelty ---------------------------------------------


@dataclass(frozen=True)
class _BarFeatures:
    timbre: np.ndarray  # (bars, dims), standardised and weighted
    harmony: np.ndarray  # (bars, 12 * bpb), unit rows (zero rows where silent)


def _bar_index(times_s: np.ndarray, bars: tuple[Bar, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The bar of each time and its position in the bar (0..1 of a nominal bar length)."""
    starts = np.array([b.start_s for b in bars])
    ends = np.array([b.end_s for b in bars])
    lengths = ends - starts
    nominal = lengths.copy()
    full = ~np.array([b.partial for b in bars])
    if full.any():  # a partial bar is measured against its full neighbour
        nominal[~full] = np.median(lengths[full])
    idx = np.clip(np.searchsorted(starts, times_s, side="right") - 1, 0, len(bars) - 1)
    pos = (times_s - starts[idx]) / nominal[idx]
    return idx, np.clip(pos, 0.0, 1.0 - 1e-9)


def _mean_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Means of ``values`` rows (frames, dims) per ``index`` in 0..n-1 (0 where none)."""
    counts = np.bincount(index, minlength=n).astype(np.float64)
    out = np.zeros((n, values.shape[1]))
    np.add.at(out, index, values)
    return out / np.maximum(counts, 1.0)[:, None]


def _bar_features(
    frames: _Frames,
    bars: tuple[Bar, ...],
    beats_per_bar: int,
    beat_times_s: np.ndarray,
    beat_chroma: np.ndarray | None,
) -> _BarFeatures:
    n = len(bars)
    bpb = beats_per_bar
    idx, pos = _bar_index(frames.times_s, bars)
    # Frames that overlap the zero padding at the track's ends would make the first and
    # last bars look different; they count only in bars that have no other frames.
    has_whole = np.bincount(idx[frames.whole], minlength=n) > 0
    tidx = np.where(frames.whole | ~has_whole[idx], idx, n)
    mfcc = scipy.fft.dct(frames.mel_db.astype(np.float64), type=2, norm="ortho", axis=1)
    mfcc = mfcc[:, 1 : N_MFCC + 1]
    mean = _mean_by(tidx, mfcc, n + 1)[:n]
    spread = np.sqrt(np.maximum(_mean_by(tidx, mfcc**2, n + 1)[:n] - mean**2, 0.0))
    scalars = _mean_by(
        tidx, np.stack([frames.power, frames.flux_low, frames.flux_high], axis=1), n + 1
    )[:n]
    level_db = power_to_db(scalars[:, 0], floor_db=-120.0)
    timbre = _standardise(np.hstack([mean, spread, level_db[:, None], scalars[:, 1:]]))
    timbre *= TIMBRE_WEIGHTS

    # Harmony: chroma per beat slot of each bar, in order.
    if beat_chroma is None:
        slot_index = idx * bpb + np.floor(pos * bpb).astype(np.int64)
        values = frames.chroma.astype(np.float64)
    else:
        beats = np.asarray(beat_times_s, dtype=np.float64)
        bidx, bpos = _bar_index(beats, bars)
        slot_index = bidx * bpb + np.floor(bpos * bpb + 1e-6).astype(np.int64).clip(0, bpb - 1)
        values = np.asarray(beat_chroma, dtype=np.float64).T
    slots = _mean_by(slot_index, values, n * bpb)
    scale = float(slots.mean()) if slots.size else 0.0
    if scale > 0:
        slots = np.log1p(10.0 * slots / scale)
    norms = np.linalg.norm(slots, axis=1, keepdims=True)
    slots = np.where(norms > 0, slots / np.maximum(norms, 1e-12), 0.0)
    harmony = slots.reshape(n, bpb * 12) / np.sqrt(bpb)
    return _BarFeatures(timbre, harmony)


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 1e-9, sd, 1.0)


def _similarity(x: np.ndarray) -> tuple[np.ndarray, float]:
    """exp(-d^2 / median(d^2)) of the rows' Euclidean distances, and that bandwidth."""
    sq = np.sum(x**2, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    off = d2[~np.eye(len(x), dtype=bool)]
    bw = float(np.median(off)) if off.size else 1.0
    bw = bw if bw > 1e-12 else 1.0
    return np.exp(-d2 / bw), bw


def checkerboard_novelty(similarity: np.ndarray, *, half_width: int) -> np.ndarray:
    """Foote (2000) novelty at each index i (a boundary before row/column i).

    A Gaussian-tapered checkerboard kernel of ``half_width`` rows either side: the mean
    (kernel-weighted) similarity inside the past and inside the future block minus the
    mean across them. Only entries inside the matrix count and the diagonal is left out,
    so values near the edges are not biased. Index 0 gets 0.
    """
    n = len(similarity)
    out = np.zeros(n)
    if n < 2:
        return out
    offsets = np.arange(-half_width, half_width)  # -L .. L-1, relative to the boundary
    g = np.exp(-0.5 * ((offsets + 0.5) / (0.5 * half_width)) ** 2)
    for b in range(1, n):
        rows = b + offsets
        valid = (rows >= 0) & (rows < n)
        r = rows[valid]
        w = g[valid]
        side = offsets[valid] >= 0
        block = similarity[np.ix_(r, r)]
        weights = w[:, None] * w[None, :]
        same = (side[:, None] == side[None, :]) & ~np.eye(len(r), dtype=bool)
        cross = side[:, None] != side[None, :]
        within = np.sum(weights * block * same) / max(np.sum(weights * same), 1e-12)
        across = np.sum(weights * block * cross) / max(np.sum(weights * cross), 1e-12)
        out[b] = within - across
    return out


def structure_feature_novelty(similarity: np.ndarray, *, neighbours: int | None = None):
    """Novelty from structure features (Serra et al. 2014), at each index.

    A mutual k-nearest-neighbour recurrence plot of ``similarity`` (k = 8 % of the rows,
    at least 2; only pairs at least RECURRENCE_MIN similar) is turned into a circular
    time-lag matrix, kept only where a repetition lasts 2 rows or more, smoothed
    (Gaussian, 1 row in time, 0.5 in lag); the novelty is the squared change from one row
    to the next over STRUCTURE_NOVELTY_REF, at most 1. It peaks where repetitions start
    or end (one repetition starting or ending gives about 0.5).
    """
    n = len(similarity)
    out = np.zeros(n)
    if n < 4:
        return out
    k = neighbours or max(2, round(0.08 * n))
    off = similarity.astype(np.float64).copy()
    np.fill_diagonal(off, -np.inf)
    kth = np.sort(off, axis=1)[:, -min(k, n - 1)][:, None]
    recurrence = ((off >= kth) & (off >= kth.T) & (off >= RECURRENCE_MIN)).astype(np.float64)
    lag_index = (np.arange(n)[:, None] + np.arange(n)[None, :]) % n
    lag = recurrence[np.arange(n)[:, None], lag_index]
    # Only repetitions of 2 bars or more: runs along time at one lag (diagonal stripes of
    # the recurrence plot); isolated look-alike bars are chance.
    lag = scipy.ndimage.grey_opening(lag, size=(2, 1), mode="nearest")
    lag = scipy.ndimage.gaussian_filter1d(lag, 1.0, axis=0, mode="nearest")
    lag = scipy.ndimage.gaussian_filter1d(lag, 0.5, axis=1, mode="wrap")
    out[1:] = np.sum(np.diff(lag, axis=0) ** 2, axis=1)
    return np.minimum(out / STRUCTURE_NOVELTY_REF, 1.0)


# --- segmentation, grouping, labels -----------------------------------------------------


def _segment(
    novelty: np.ndarray,
    candidates: np.ndarray,
    grid_count: np.ndarray,
    *,
    threshold: float,
    min_bars: int,
    phrase_penalty: float,
) -> list[int]:
    """Section start bars (the first is 0) maximising the sum over boundaries of
    ``novelty - threshold``, less ``phrase_penalty`` for each section that is not a whole
    number of 4 bars and again if not of 8, with every section at least ``min_bars``
    downbeat bars long. ``grid_count[i]`` is the number of downbeat bars before bar i."""
    n = len(novelty)
    points = np.array([0, *[int(c) for c in candidates if 0 < c < n], n])
    counts = grid_count[points]
    best = np.full(len(points), -np.inf)
    back = np.zeros(len(points), np.int64)
    best[0] = 0.0
    for j in range(1, len(points)):
        gain = novelty[points[j]] - threshold if points[j] < n else 0.0
        length = counts[j] - counts[:j]
        penalty = phrase_penalty * ((length % 4 != 0).astype(float) + (length % 8 != 0))
        score = np.where(length >= min_bars, best[:j] - penalty, -np.inf)
        i = int(np.argmax(score))
        if score[i] > -np.inf:
            best[j], back[j] = score[i] + gain, i
    if best[-1] == -np.inf:
        return [0]
    starts, j = [], len(points) - 1
    while j > 0:
        j = int(back[j])
        starts.append(int(points[j]))
    return sorted(starts)


def _aligned_repetition(harmony_sim: np.ndarray, a: tuple[int, int], b: tuple[int, int]):
    """How well span ``a`` repeats inside span ``b`` or vice versa (bars [start, end)):
    the best mean similarity along a diagonal of ``harmony_sim``, the shorter span slid
    along the longer from one bar before its start to one bar after, overlapping at
    least 3/4 of the shorter span."""
    (s0, s1), (l0, l1) = (a, b) if a[1] - a[0] <= b[1] - b[0] else (b, a)
    short, long_ = s1 - s0, l1 - l0
    need = max(2, int(np.ceil(0.75 * short)))
    best = 0.0
    for offset in range(-1, long_ - short + 2):
        i0, j0 = s0 + max(-offset, 0), l0 + max(offset, 0)
        m = min(s1 - i0, l1 - j0)
        if m < need:
            continue
        d = harmony_sim[np.arange(i0, i0 + m), np.arange(j0, j0 + m)]
        best = max(best, float(d.mean()))
    return best


def _group(sim: np.ndarray, threshold: float) -> np.ndarray:
    """Average-linkage agglomerative clustering of items with similarity ``sim``; clusters
    merge while their mean similarity is at least ``threshold``. Returns labels 0.. in
    order of first appearance."""
    clusters = [[i] for i in range(len(sim))]
    while len(clusters) > 1:
        best, pair = -np.inf, None
        for x in range(len(clusters)):
            for y in range(x + 1, len(clusters)):
                s = sim[np.ix_(clusters[x], clusters[y])].mean()
                if s > best:
                    best, pair = s, (x, y)
        if best < threshold or pair is None:
            break
        x, y = pair
        clusters[x] = sorted(clusters[x] + clusters[y])
        del clusters[y]
    labels = np.zeros(len(sim), np.int64)
    for c in clusters:
        labels[c] = c[0]
    _, first = np.unique(labels, return_index=True)
    order = {labels[i]: k for k, i in enumerate(sorted(first))}
    return np.array([order[v] for v in labels], np.int64)


def _four_on_the_floor(
    frames: _Frames, beat_times_s: np.ndarray, beats_per_bar: int, spans: list[tuple[float, float]]
) -> bool:
    """A kick on every beat of ``spans``: in 2/4 or 4/4, the median low-band (kick) flux
    at each beat position of the bar is at least 3/4 of the strongest position's, and
    every beat position is at least 2.5 times the flux halfway between the beats (so
    bass lines and snares on the eighths do not count)."""
    beats = np.asarray(beat_times_s, dtype=np.float64)
    if beats_per_bar not in (2, 4) or beats.size < 4 * beats_per_bar or not spans:
        return False
    inside = np.zeros(beats.size, bool)
    for a, b in spans:
        inside |= (beats >= a) & (beats < b)
    inside[-1] = False  # every counted beat needs its off-beat
    if inside.sum() < 4 * beats_per_bar:
        return False
    hop_s = HOP_LENGTH / ANALYSIS_RATE_HZ
    flux = frames.flux_low
    n = len(flux)

    def peak(times: np.ndarray) -> np.ndarray:
        i = np.round(times / hop_s).astype(np.int64)
        return np.max([flux[np.clip(i + k, 0, n - 1)] for k in (-1, 0, 1)], axis=0)

    on = peak(beats[:-1])
    off = peak(0.5 * (beats[1:] + beats[:-1]))
    position = np.arange(beats.size - 1) % beats_per_bar
    use = inside[:-1]
    on_med = np.array([np.median(on[use & (position == p)]) for p in range(beats_per_bar)])
    off_med = float(np.median(off[use]))
    return bool(on_med.min() >= 0.75 * on_med.max() and on_med.min() >= 2.5 * max(off_med, 0.1))


# --- the public entry point -------------------------------------------------------------


def structure(
    audio: Audio,
    *,
    beat_times_s: np.ndarray,
    downbeat_times_s: np.ndarray,
    beats_per_bar: int,
    beat_chroma: np.ndarray | object | None = None,
    kernel_bars: int = 6,
    peak_threshold: float = 0.25,
    phrase_penalty: float = 0.1,
    min_section_bars: int = 4,
    repeat_threshold: float = 0.75,
    low_energy: float = 0.75,
    quiet_db: float = 8.0,
    repetition_weight: float = 0.25,
) -> StructureResult:
    """Bars, phrases and labelled sections of ``audio`` on a given beat grid.

    ``beat_chroma`` is optional harmony input: a (12, beats) array with one column per
    beat of ``beat_times_s`` (sorted), or an object with such a ``chroma`` attribute (as
    :class:`stemforge.analysis.chroma.BeatChroma`); without it a simple chroma is
    computed here. ``kernel_bars`` is the half-width of the novelty kernel in bars;
    ``peak_threshold`` the novelty a boundary must exceed (1 = the strongest boundary, or
    a clear change of sound); ``phrase_penalty`` the cost of a section that is not a whole
    number of 4 bars (twice that if not of 8); ``min_section_bars`` the shortest section;
    ``repeat_threshold`` the similarity (0..1) at which sections count as repeats;
    ``low_energy`` and ``quiet_db`` say when a section is quiet; ``repetition_weight`` is
    the weight of repetition (harmony) against timbre change in the novelty. See the
    module docstring for the method.

    Degenerate input (fewer than 2 downbeats, fewer than 4 bars, silence) gives one
    section and a ``note`` saying why.

    >>> song = generate_song(tempo_bpm=120, seed=1)                    # doctest: +SKIP
    >>> t = song.truth                                                  # doctest: +SKIP
    >>> s = structure(song.mix, beat_times_s=t.beat_times_s,            # doctest: +SKIP
    ...               downbeat_times_s=t.downbeat_times_s, beats_per_bar=t.beats_per_bar)
    >>> [(x.label, x.group, x.bars) for x in s.sections]                # doctest: +SKIP
    """
    audio.require_finite()
    if isinstance(beats_per_bar, bool) or int(beats_per_bar) != beats_per_bar or beats_per_bar < 1:
        raise AnalysisError(
            f"beats_per_bar must be a whole number, 1 or more; got {beats_per_bar!r}."
        )
    if min_section_bars < 1 or kernel_bars < 1:
        raise AnalysisError("min_section_bars and kernel_bars must be 1 or more.")
    bpb = int(beats_per_bar)
    duration_s = audio.duration_s
    beats = np.unique(np.asarray(beat_times_s, dtype=np.float64).ravel())
    beats = beats[np.isfinite(beats)]
    chroma_in = _beat_chroma_array(beat_chroma, len(beats))
    bars = bar_grid(downbeat_times_s, duration_s=duration_s, beats_per_bar=bpb)
    if not bars:
        return _single(
            duration_s,
            bars,
            "fewer than 2 downbeats inside the track: no bar grid, "
            "so the whole track is one section.",
            audio,
        )
    frames = _frame_features(audio)
    level_db = float(power_to_db(frames.power.mean() if len(frames.power) else 0.0))
    if level_db < SILENCE_DB:
        return _single(
            duration_s, bars, f"the track is silent (RMS {level_db:.0f} dBFS): one section.", audio
        )
    on = np.array([b.on_downbeat for b in bars])
    if on.sum() < 4:
        return _single(
            duration_s,
            bars,
            f"only {int(on.sum())} bars on the grid; fewer than 4 bars make one section.",
            audio,
        )

    feats = _bar_features(frames, bars, bpb, beats, chroma_in)
    timbre_sim, timbre_bw = _similarity(feats.timbre)
    harmony_sim, _ = _similarity(feats.harmony)
    n = len(bars)
    half = max(1, min(kernel_bars, n // 2))
    nov_t = checkerboard_novelty(timbre_sim, half_width=half)
    nov_h = structure_feature_novelty(harmony_sim)
    grid_count = np.concatenate([[0], np.cumsum(on)])
    candidates = np.flatnonzero(on)
    candidates = candidates[candidates > 0]
    # Scales come from the places a boundary can be (min_section_bars from either end).
    room = candidates[
        (grid_count[candidates] >= min_section_bars)
        & (grid_count[-1] - grid_count[candidates] >= min_section_bars)
    ]
    novelty = np.zeros(n)
    if room.size:
        top_t = max(float(nov_t[room].max()), TIMBRE_NOVELTY_REF)
        novelty[room] = np.maximum(nov_t[room], 0) / top_t + repetition_weight * nov_h[room]
        novelty /= max(float(novelty.max()), 1.0)
    starts = _segment(
        novelty,
        candidates,
        grid_count,
        threshold=peak_threshold,
        min_bars=min_section_bars,
        phrase_penalty=phrase_penalty,
    )
    spans = list(zip(starts, [*starts[1:], n], strict=True))

    # Groups: repeats of the same material (aligned harmony, then timbre).
    k = len(spans)
    sim = np.eye(k)
    centroids = [feats.timbre[a:b].mean(axis=0) for a, b in spans]
    for i in range(k):
        for j in range(i + 1, k):
            h = _aligned_repetition(harmony_sim, spans[i], spans[j])
            t = float(np.exp(-np.sum((centroids[i] - centroids[j]) ** 2) / timbre_bw))
            sim[i, j] = sim[j, i] = 0.5 * (h + t)
    groups = _group(sim, repeat_threshold)
    # Adjacent sections of one group are one section.
    keep = [0] + [i for i in range(1, k) if groups[i] != groups[i - 1]]
    spans = [
        (spans[i][0], spans[j][0] if j < k else n)
        for i, j in zip(keep, [*keep[1:], k], strict=True)
    ]
    groups = _renumber(groups[keep])
    k = len(spans)

    # Energy: level and drum activity per section.
    t0 = np.array([bars[a].start_s for a, _ in spans])
    t1 = np.array([bars[b - 1].end_s for _, b in spans])
    fidx = np.clip(np.searchsorted(t0, frames.times_s, side="right") - 1, 0, k - 1)
    per = _mean_by(
        fidx,
        np.stack([frames.power, frames.power_high, frames.flux_low, frames.flux_high], axis=1),
        k,
    )
    energy_db = power_to_db(per[:, 0], floor_db=-120.0)
    high_db = power_to_db(per[:, 1], floor_db=-120.0)
    energy = 0.5 * (_level_score(energy_db) + _level_score(high_db))
    drum = 0.5 * (per[:, 2] / max(per[:, 2].max(), 1e-9) + per[:, 3] / max(per[:, 3].max(), 1e-9))
    quiet = (energy < low_energy * energy.max()) | (energy_db <= energy_db.max() - quiet_db)

    labels = _labels(groups, quiet, energy, drum)
    electronic = False
    chorus_idx = [i for i, lb in enumerate(labels) if lb == "chorus"]
    if chorus_idx:
        loud = [(t0[i], t1[i]) for i in chorus_idx]
        electronic = _four_on_the_floor(frames, beats, bpb, loud)
        after_quiet = any(i > 0 and quiet[i - 1] for i in chorus_idx)
        if electronic and after_quiet:
            labels = ["drop" if lb == "chorus" else lb for lb in labels]

    bound = np.concatenate([[1.0], np.clip(novelty[[a for a, _ in spans[1:]]], 0, 1), [1.0]])
    sections = []
    seen: dict[int, int] = {}
    for i, (a, b) in enumerate(spans):
        seen[groups[i]] = seen.get(groups[i], 0) + 1
        sections.append(
            Section(
                start_s=round(float(t0[i]), 4),
                end_s=round(float(t1[i]), 4),
                bars=int(np.sum([not bars[m].partial for m in range(a, b)])),
                start_bar=a,
                label=labels[i],
                group=_letter(groups[i]),
                repeat_index=seen[groups[i]],
                energy_db=round(float(energy_db[i]), 2),
                energy=round(float(energy[i]), 3),
                drum_activity=round(float(drum[i]), 3),
                confidence=round(float(0.5 * (bound[i] + bound[i + 1])), 3),
            )
        )
    similarity = 0.5 * (timbre_sim + harmony_sim)
    return StructureResult(
        duration_s=duration_s,
        bars=bars,
        phrases=_phrases(bars, spans),
        sections=tuple(sections),
        novelty=TimeSeries(
            compact_times(np.array([b.start_s for b in bars])), compact(novelty), "novelty"
        ),
        self_similarity=compact(similarity, digits=3).astype(np.float32),
        electronic=bool(electronic),
        note="",
    )


def _level_score(level_db: np.ndarray) -> np.ndarray:
    """Levels mapped to 0..1, from ENERGY_RANGE_DB under the highest (0) to the highest (1)."""
    return np.clip(1.0 - (level_db.max() - level_db) / ENERGY_RANGE_DB, 0.0, 1.0)


def _renumber(groups: np.ndarray) -> np.ndarray:
    order: dict[int, int] = {}
    for g in groups:
        order.setdefault(int(g), len(order))
    return np.array([order[int(g)] for g in groups], np.int64)


def _letter(index: int) -> str:
    """A, B, ..., Z, AA, AB, ..."""
    out = ""
    index += 1
    while index > 0:
        index, r = divmod(index - 1, 26)
        out = chr(65 + r) + out
    return out


def _labels(
    groups: np.ndarray, quiet: np.ndarray, energy: np.ndarray, drums: np.ndarray
) -> list[str]:
    """Producer rules (see the module docstring)."""
    k = len(groups)
    count = np.bincount(groups)
    intro = (
        k >= 2
        and quiet[0]
        and (count[groups[0]] == 1 or (count[groups[0]] == 2 and groups[-1] == groups[0]))
    )
    outro = k >= 2 and quiet[-1]
    middle = list(range(1 if intro else 0, k - 1 if outro else k))
    chorus = np.zeros(k, bool)
    repeated: list[int] = []
    if middle:
        mid = np.array(middle)
        typical = float(np.median(energy[mid])) - 0.02

        def mean_energy(g: int) -> float:
            return float(energy[mid][groups[mid] == g].mean())

        # Repeated (within the middle) and high-energy: at least the typical section's.
        repeated = [
            g
            for g in sorted({int(g) for g in groups[mid]})
            if np.sum(groups[mid] == g) >= 2 and mean_energy(g) >= typical
        ]
        if repeated:
            best = max(repeated, key=lambda g: (np.sum(groups[mid] == g), mean_energy(g)))
            chorus = groups == best
        else:  # no repeated loud material: the loudest middle sections are the chorus
            top = float(energy[mid].max())
            chorus[mid] = (energy[mid] >= top - 0.1) & ~quiet[mid]
            if not chorus.any():
                chorus[mid[np.argmax(energy[mid])]] = True
        chorus[[i for i in range(k) if i not in middle]] = False
    first_chorus = int(np.flatnonzero(chorus)[0]) if chorus.any() else k
    if k == 1:
        return ["verse"]
    labels = []
    for i in range(k):
        if i == 0 and intro:
            labels.append("intro")
        elif i == k - 1 and outro:
            labels.append("outro")
        elif chorus[i]:
            labels.append("chorus")
        elif quiet[i] and drums[i] < BREAKDOWN_DRUMS:
            labels.append("breakdown")
        elif i < first_chorus or count[groups[i]] >= 2 or not repeated:
            labels.append("verse")
        else:
            labels.append("bridge")
    return labels


def _phrases(bars: tuple[Bar, ...], spans: list[tuple[int, int]]) -> tuple[Phrase, ...]:
    out = []
    for s, (a, b) in enumerate(spans):
        grid = [m for m in range(a, b) if bars[m].on_downbeat]
        end_s = bars[b - 1].end_s
        for level in (4, 8, 16):
            chunks = [grid[i : i + level] for i in range(0, len(grid), level)]
            for c, chunk in enumerate(chunks):
                stop = bars[chunks[c + 1][0]].start_s if c + 1 < len(chunks) else end_s
                out.append(
                    Phrase(
                        start_s=round(bars[chunk[0]].start_s, 4),
                        end_s=round(stop, 4),
                        bars=len(chunk),
                        level=level,
                        start_bar=chunk[0],
                        section_index=s,
                    )
                )
    return tuple(out)


def _beat_chroma_array(beat_chroma, n_beats: int) -> np.ndarray | None:
    if beat_chroma is None:
        return None
    values = np.asarray(getattr(beat_chroma, "chroma", beat_chroma), dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != 12 or values.shape[1] != n_beats:
        raise AnalysisError(
            f"beat_chroma must be shaped (12, {n_beats}) (one column per beat); got {values.shape}."
        )
    if not np.isfinite(values).all():
        raise AnalysisError("beat_chroma holds NaN or infinite values.")
    return np.maximum(values, 0.0)


def _single(duration_s: float, bars: tuple[Bar, ...], note: str, audio: Audio) -> StructureResult:
    """The degenerate result: the whole track as one section."""
    samples = audio.samples
    ms = float(np.mean(np.square(samples, dtype=np.float64))) if samples.size else 0.0
    grid_bars = sum(1 for b in bars if not b.partial)
    section = Section(
        start_s=0.0,
        end_s=round(duration_s, 4),
        bars=grid_bars,
        start_bar=0,
        label="verse",
        group="A",
        repeat_index=1,
        energy_db=round(float(power_to_db(ms, floor_db=-120.0)), 2),
        energy=1.0 if ms > 0 else 0.0,
        drum_activity=0.0,
        confidence=0.0,
    )
    phrases = _phrases(bars, [(0, len(bars))]) if bars else ()
    times = np.array([b.start_s for b in bars], np.float64)
    return StructureResult(
        duration_s=duration_s,
        bars=bars,
        phrases=phrases,
        sections=(section,),
        novelty=TimeSeries(compact_times(times), np.zeros(len(bars)), "novelty"),
        self_similarity=np.zeros((0, 0), np.float32),
        electronic=False,
        note=note,
    )
