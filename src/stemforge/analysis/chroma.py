"""A fast, tuning-aware chroma front end shared by key, chords, structure and mashup matching.

The mono mix is resampled to 11.025 kHz and cut into centred Hann frames of 4096 samples
(372 ms, 2.7 Hz bins, fine enough for bass notes) every 512 samples (46 ms). Chroma is
built from *spectral peaks*, as the harmonic pitch class profile (HPCP, Gómez 2006):

1. In each frame, local maxima of the magnitude spectrum between 27.5 Hz and 2.1 kHz
   that stand out from the local mean (over +-16 bins) and *persist* (a peak within one
   bin two frames, 93 ms, before and after) are kept: sustained partials, not drum hits
   or noise. Their frequency and amplitude are refined by parabolic interpolation of the
   log magnitude (Smith & Serra 1987); only the amplitude above ``floor_ratio`` times the
   local mean counts, so broadband noise adds little.
2. The **tuning** is the amplitude-weighted circular mean of the peaks' distance to the
   nearest equal-tempered semitone (A4 = 440 Hz), in cents; the pitches are shifted by it.
3. Each peak adds ``amplitude * cos^2(pi d)`` (``d``: distance in semitones to the
   nearest semitone, at most 0.5) to its pitch class, weighted over pitch by two smooth
   windows: the *full* chroma (MIDI 33-96 with tapered edges) and the *bass* chroma
   (MIDI 28-60, strongest around E2), as the treble/bass split of Mauch & Dixon 2010.
4. Values are log-compressed, ``log(1 + compression * c)`` (logarithmic compression of
   chroma, Müller & Ewert 2011), with ``c`` relative to the track's RMS level so the
   chroma does not depend on the playback level.

``beat_sync`` takes the median (or mean) of the frames inside each beat interval;
:func:`beat_chroma` does it for a :class:`Chromagram` and gives an exportable
:class:`BeatChroma`. Shared by the key and chord modules: :func:`harmonic_template`
(the chroma of notes with their harmonics) and :func:`decode_path` (Viterbi with a
switch penalty).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft
import soxr

from stemforge.analysis.common import power_to_db
from stemforge.audio.signal import Audio
from stemforge.errors import AnalysisError
from stemforge.results import Result

ANALYSIS_RATE_HZ = 11025
FRAME_LENGTH = 4096  # 372 ms at 11.025 kHz: 2.7 Hz bins
HOP_LENGTH = 512  # 46 ms
MIN_HZ = 27.5
MAX_HZ = 2100.0
#: Pitch classes in order, C = 0 (sharps; the key and chord modules spell them).
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLOOR_HALF_WIDTH = 16  # bins either side for the local mean (+-43 Hz)
_CHUNK_FRAMES = 128
_PERSIST_FRAMES = 2  # +-93 ms


@dataclass(frozen=True)
class Chromagram(Result):
    """Frame-wise chroma (see the module docstring).

    ``chroma`` and ``bass`` are float32 shaped (12, frames), pitch class C first,
    log-compressed and not normalised; ``times_s`` are the frame centres; ``level_db``
    is each frame's windowed RMS level in dBFS and ``pitched_db`` that of its kept peaks
    (the sum of their sinusoids' mean squares; drums and hats leave it far below
    ``level_db``); ``in_tune`` the amplitude-weighted mean
    of ``cos^2(pi d)`` over the frame's peaks (1 on the semitone grid, 0.5 on average
    for pitches spread evenly: music ~0.8-0.95, noise and speech ~0.5-0.6);
    ``tuning_cents`` the reference offset from A440 that was used.
    """

    times_s: np.ndarray
    chroma: np.ndarray
    bass: np.ndarray
    level_db: np.ndarray
    pitched_db: np.ndarray
    in_tune: np.ndarray
    tuning_cents: float
    hop_s: float
    frame_s: float
    duration_s: float

    @property
    def frames(self) -> int:
        return len(self.times_s)


@dataclass(frozen=True)
class BeatChroma(Result):
    """Chroma per beat interval ``[start_s[i], end_s[i])``: the medians (or means) of the
    frames of a :class:`Chromagram` inside it. ``chroma`` and ``bass`` are shaped
    (12, beats), pitch class C first; ``level_db`` and ``in_tune`` (the share of peak
    amplitude on the semitone grid: ~0.9 for music, ~0.5 for noise and speech) are
    aggregated the same way, one value per beat."""

    start_s: np.ndarray
    end_s: np.ndarray
    chroma: np.ndarray
    bass: np.ndarray
    level_db: np.ndarray
    in_tune: np.ndarray
    tuning_cents: float

    def __len__(self) -> int:
        return len(self.start_s)

    def normalized(self) -> np.ndarray:
        """``chroma`` with each column scaled to unit length (zero columns stay zero)."""
        return unit_columns(self.chroma)


def unit_columns(x: np.ndarray) -> np.ndarray:
    """Each column of ``x`` divided by its Euclidean norm (zero columns stay zero)."""
    norm = np.linalg.norm(x, axis=0, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x, dtype=np.float64), where=norm > 0)


def _pitch_windows(midi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the full and the bass chroma over (fractional) MIDI pitch."""
    # Full: raised-cosine ramps 33->45 and 84->96, flat between.
    up = np.clip((midi - 33.0) / 12.0, 0.0, 1.0)
    down = np.clip((96.0 - midi) / 12.0, 0.0, 1.0)
    full = np.sin(0.5 * np.pi * up) ** 2 * np.sin(0.5 * np.pi * down) ** 2
    # Bass: a cos^2 bump from MIDI 28 (41 Hz) to 60 (262 Hz), peaking at 44 (E2, 82 Hz).
    z = np.clip((midi - 44.0) / 16.0, -1.0, 1.0)
    bass = np.cos(0.5 * np.pi * z) ** 2
    return full, bass


def _analysis_signal(audio: Audio, sample_rate: int) -> np.ndarray:
    samples = audio.samples
    mono = samples[0]
    if audio.channels > 1:
        # Row by row: numpy's reduction across the channel axis is several times slower.
        mono = samples[0] + samples[1]
        for row in samples[2:]:
            mono += row
        mono *= np.float32(1.0 / audio.channels)
    if audio.sample_rate != sample_rate and mono.size:
        mono = soxr.resample(mono, audio.sample_rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _frames(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Centred frames: frame i is centred on sample i * hop (zero-padded at both ends)."""
    n_frames = 1 + len(x) // hop_length
    half = frame_length // 2
    total = (n_frames - 1) * hop_length + frame_length
    padded = np.zeros(total, np.float32)
    padded[half : half + len(x)] = x
    view = np.lib.stride_tricks.sliding_window_view(padded, frame_length)
    return view[::hop_length][:n_frames]


def _peaks(
    x: np.ndarray,
    sample_rate: int,
    *,
    frame_length: int,
    hop_length: int,
    min_hz: float,
    max_hz: float,
    floor_ratio: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Persistent spectral peaks of every frame: (frame index, frequency in Hz, amplitude),
    and the frames' levels in dBFS. Amplitudes are those of the sinusoids (a sine of
    amplitude A gives A), less ``floor_ratio`` times the local mean magnitude. A peak
    persists when the frames ``_PERSIST_FRAMES`` before and after it have a peak within
    one bin: sustained partials, not drum hits or noise."""
    frames = _frames(x, frame_length, hop_length)
    n_frames = len(frames)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame_length) / frame_length)).astype(
        np.float32
    )
    amp_scale = np.float32(2.0 / window.sum())
    power_scale = 1.0 / (frame_length * float(np.sum(window.astype(np.float64) ** 2)))
    bin_hz = sample_rate / frame_length
    w = _FLOOR_HALF_WIDTH
    lag = _PERSIST_FRAMES
    k_lo = max(1, int(np.floor(min_hz / bin_hz)) - 1)
    k_hi = min(frame_length // 2 - 1, int(np.ceil(max_hz / bin_hz)) + 1)
    # Bins read: the peak range plus the floor window either side.
    b_lo, b_hi = max(0, k_lo - w - 1), min(frame_length // 2 + 1, k_hi + w + 1)
    lo, hi = k_lo - b_lo, k_hi - b_lo
    centre = np.arange(lo, hi)
    out_f, out_k, out_a = [], [], []
    level = np.empty(n_frames, np.float64)
    buffer = np.empty((_CHUNK_FRAMES + 2 * lag, frame_length), np.float32)
    for start in range(0, n_frames, _CHUNK_FRAMES):
        stop = min(n_frames, start + _CHUNK_FRAMES)
        # Read ``lag`` frames either side so persistence can look across chunk edges.
        ext_lo, ext_hi = max(0, start - lag), min(n_frames, stop + lag)
        block = frames[ext_lo:ext_hi]
        m = len(block)
        spec = scipy.fft.rfft(np.multiply(block, window, out=buffer[:m]), axis=-1, workers=1)
        power = spec.real**2 + spec.imag**2
        # Parseval over all bins: windowed mean square of the frame.
        own = slice(start - ext_lo, stop - ext_lo)
        level[start:stop] = 2.0 * power[own].sum(axis=1) * power_scale
        mag = np.sqrt(power[:, b_lo:b_hi]) * amp_scale
        # Local mean magnitude over +-w bins, from a cumulative sum.
        csum = np.zeros((m, mag.shape[1] + 1), np.float32)
        np.cumsum(mag, axis=1, out=csum[:, 1:])
        local_mean = (csum[:, centre + w + 1] - csum[:, centre - w]) / np.float32(2 * w + 1)
        mid = mag[:, lo:hi]
        left = mag[:, lo - 1 : hi - 1]
        right = mag[:, lo + 1 : hi + 1]
        is_peak = (mid > left) & (mid >= right) & (mid > floor_ratio * local_mean)
        near = is_peak.copy()
        near[:, 1:] |= is_peak[:, :-1]
        near[:, :-1] |= is_peak[:, 1:]
        before = np.zeros_like(is_peak)
        after = np.zeros_like(is_peak)
        before[lag:] = near[:-lag]
        after[:-lag] = near[lag:]
        fe, ki = np.nonzero((is_peak & before & after)[own])
        if fe.size == 0:
            continue
        fi = fe + start
        fe += start - ext_lo
        a = np.log(left[fe, ki] + 1e-12)
        b = np.log(mid[fe, ki] + 1e-12)
        c = np.log(right[fe, ki] + 1e-12)
        den = a - 2.0 * b + c
        delta = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
        amp = np.exp(b - 0.25 * (a - c) * delta) - floor_ratio * local_mean[fe, ki]
        out_f.append(fi)
        out_k.append((ki + lo + b_lo + delta) * bin_hz)
        out_a.append(np.maximum(amp, 0.0))
    level_db = power_to_db(level)
    if not out_f:
        empty = np.zeros(0)
        return empty.astype(np.int64), empty, empty, level_db
    freq = np.concatenate(out_k)
    keep = (freq >= min_hz) & (freq <= max_hz)
    return (
        np.concatenate(out_f)[keep],
        freq[keep].astype(np.float64),
        np.concatenate(out_a)[keep].astype(np.float64),
        level_db,
    )


def estimate_tuning_cents(freq_hz: np.ndarray, amplitude: np.ndarray) -> float:
    """The amplitude-weighted circular mean of the peaks' offsets from the nearest
    equal-tempered semitone (A4 = 440 Hz), in cents in [-50, 50). Zero without peaks."""
    if freq_hz.size == 0 or not np.any(amplitude > 0):
        return 0.0
    midi = 69.0 + 12.0 * np.log2(freq_hz / 440.0)
    # Peaks from A1 up: lower peaks are few bins apart and their positions less exact.
    weight = amplitude * (midi >= 33.0)
    angle = 2.0 * np.pi * midi
    z = np.sum(weight * np.exp(1j * angle))
    if abs(z) == 0:
        return 0.0
    cents = 100.0 * np.angle(z) / (2.0 * np.pi)
    return float((cents + 50.0) % 100.0 - 50.0)


def chromagram(
    audio: Audio,
    *,
    tuning_cents: float | None = None,
    compression: float = 100.0,
    floor_ratio: float = 1.5,
    frame_length: int = FRAME_LENGTH,
    hop_length: int = HOP_LENGTH,
    analysis_rate_hz: int = ANALYSIS_RATE_HZ,
) -> Chromagram:
    """Frame-wise full and bass chroma of ``audio`` (see the module docstring).

    ``tuning_cents`` (from A440) is estimated from the peaks when not given.
    Raises :class:`AnalysisError` for a signal with NaN or infinite samples.

    >>> c = chromagram(song.mix)                    # doctest: +SKIP
    >>> c.chroma.shape, round(c.tuning_cents)       # doctest: +SKIP
    ((12, 2584), 0)
    """
    if not audio.is_finite:
        raise AnalysisError(
            "the signal contains NaN or infinite samples; chroma needs finite ones."
        )
    x = _analysis_signal(audio, analysis_rate_hz)
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    frame_idx, freq, amp, level_db = _peaks(
        x,
        analysis_rate_hz,
        frame_length=frame_length,
        hop_length=hop_length,
        min_hz=MIN_HZ,
        max_hz=MAX_HZ,
        floor_ratio=floor_ratio,
    )
    n_frames = len(level_db)
    if tuning_cents is None:
        tuning_cents = estimate_tuning_cents(freq, amp)
    full = np.zeros((n_frames, 12))
    bass = np.zeros((n_frames, 12))
    in_tune = np.zeros(n_frames)
    pitched = np.bincount(frame_idx, 0.5 * amp**2, minlength=n_frames)
    if freq.size and rms > 0:
        pitch = 69.0 + 12.0 * np.log2(freq / 440.0) - tuning_cents / 100.0
        nearest = np.rint(pitch)
        closeness = np.cos(np.pi * (pitch - nearest)) ** 2
        w_full, w_bass = _pitch_windows(pitch)
        value = amp / rms * closeness
        index = frame_idx * 12 + nearest.astype(np.int64) % 12
        full = np.bincount(index, value * w_full, minlength=n_frames * 12).reshape(n_frames, 12)
        bass = np.bincount(index, value * w_bass, minlength=n_frames * 12).reshape(n_frames, 12)
        weight = amp * w_full
        total = np.bincount(frame_idx, weight, minlength=n_frames)
        tuned = np.bincount(frame_idx, weight * closeness, minlength=n_frames)
        in_tune = np.divide(tuned, total, out=np.zeros(n_frames), where=total > 0)
    hop_s = hop_length / analysis_rate_hz
    return Chromagram(
        times_s=np.arange(n_frames) * hop_s,
        chroma=np.log1p(compression * full.T).astype(np.float32),
        bass=np.log1p(compression * bass.T).astype(np.float32),
        level_db=level_db,
        pitched_db=power_to_db(pitched),
        in_tune=in_tune.astype(np.float32),
        tuning_cents=float(tuning_cents),
        hop_s=hop_s,
        frame_s=frame_length / analysis_rate_hz,
        duration_s=audio.duration_s,
    )


def beat_intervals(
    beat_times_s: np.ndarray, *, end_s: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times of the intervals between beats; the last beat lasts until
    ``end_s`` (default: one median beat period)."""
    beats = np.unique(np.asarray(beat_times_s, dtype=np.float64))
    if beats.size == 0:
        return np.zeros(0), np.zeros(0)
    if end_s is None:
        period = float(np.median(np.diff(beats))) if beats.size > 1 else 0.5
        end_s = beats[-1] + period
    beats = beats[beats < end_s]
    if beats.size == 0:
        return np.zeros(0), np.zeros(0)
    return beats, np.append(beats[1:], end_s)


def beat_sync(
    chroma: np.ndarray,
    frame_times_s: np.ndarray,
    beat_times_s: np.ndarray,
    *,
    end_s: float | None = None,
    aggregate: str = "median",
) -> np.ndarray:
    """Beat-synchronous features: column i is the median (or mean, ``aggregate="mean"``)
    of the columns of ``chroma`` (rows, frames) whose ``frame_times_s`` fall in
    ``[beat_i, beat_i+1)``; the last beat runs to ``end_s`` (default: one median beat
    period). An interval without a frame takes the frame nearest its middle.
    Shaped (rows, beats)."""
    if aggregate not in ("median", "mean"):
        raise ValueError(f"aggregate must be 'median' or 'mean', got {aggregate!r}")
    starts, ends = beat_intervals(beat_times_s, end_s=end_s)
    return _sync(np.asarray(chroma), np.asarray(frame_times_s), starts, ends, aggregate)


def _sync(
    values: np.ndarray, times: np.ndarray, starts: np.ndarray, ends: np.ndarray, aggregate: str
) -> np.ndarray:
    rows = values.shape[0]
    out = np.zeros((rows, len(starts)), dtype=np.float64)
    if values.shape[1] == 0:
        return out
    lo = np.searchsorted(times, starts, side="left")
    hi = np.searchsorted(times, ends, side="left")
    reduce = np.median if aggregate == "median" else np.mean
    for i, (a, b) in enumerate(zip(lo, hi, strict=True)):
        if b > a:
            out[:, i] = reduce(values[:, a:b], axis=1)
        else:
            j = int(np.clip(np.searchsorted(times, 0.5 * (starts[i] + ends[i])), 0, len(times) - 1))
            out[:, i] = values[:, j]
    return out


def beat_chroma(
    chromagram: Chromagram,
    beat_times_s: np.ndarray,
    *,
    end_s: float | None = None,
    aggregate: str = "median",
) -> BeatChroma:
    """Beat-synchronous :class:`BeatChroma` of a :class:`Chromagram` (see :func:`beat_sync`)."""
    if aggregate not in ("median", "mean"):
        raise ValueError(f"aggregate must be 'median' or 'mean', got {aggregate!r}")
    starts, ends = beat_intervals(beat_times_s, end_s=end_s)
    return segment_chroma(chromagram, starts, ends, aggregate=aggregate)


def segment_chroma(
    chromagram: Chromagram, starts_s: np.ndarray, ends_s: np.ndarray, *, aggregate: str = "median"
) -> BeatChroma:
    """:class:`BeatChroma` over arbitrary intervals ``[starts_s[i], ends_s[i])``."""
    starts = np.asarray(starts_s, dtype=np.float64)
    ends = np.asarray(ends_s, dtype=np.float64)
    stacked = np.vstack(
        [chromagram.chroma, chromagram.bass, chromagram.level_db[None, :], chromagram.in_tune]
    )
    synced = _sync(stacked, chromagram.times_s, starts, ends, aggregate)
    return BeatChroma(
        start_s=starts,
        end_s=ends,
        chroma=synced[:12].astype(np.float32),
        bass=synced[12:24].astype(np.float32),
        level_db=synced[24],
        in_tune=synced[25].astype(np.float32),
        tuning_cents=chromagram.tuning_cents,
    )


def harmonic_template(
    pitch_classes: tuple[int, ...] | list[int], *, harmonics: int = 4, decay: float = 0.6
) -> np.ndarray:
    """The chroma expected from notes of ``pitch_classes`` with ``harmonics`` partials of
    amplitudes ``decay ** (h - 1)`` (Gómez 2006; Papadopoulos & Peeters 2007): shaped (12,).
    The 3rd partial lands a fifth above, the 5th a major third above."""
    out = np.zeros(12)
    for pc in pitch_classes:
        for h in range(1, harmonics + 1):
            out[(pc + round(12 * np.log2(h))) % 12] += decay ** (h - 1)
    return out


def decode_path(scores: np.ndarray, switch_penalty: float | np.ndarray) -> np.ndarray:
    """The state sequence maximising ``sum_t scores[t, state_t]`` minus ``switch_penalty``
    for each change of state (Viterbi over a fully connected model with one cost of
    switching; a per-state array charges the cost of switching *into* that state).
    ``scores`` is shaped (steps, states); returns the states, shaped (steps,)."""
    scores = np.asarray(scores, dtype=np.float64)
    steps, states = scores.shape
    if steps == 0:
        return np.zeros(0, dtype=np.int64)
    penalty = np.broadcast_to(np.asarray(switch_penalty, dtype=np.float64), (states,))
    total = scores[0].copy()
    back = np.zeros((steps, states), dtype=np.int64)
    index = np.arange(states)
    for t in range(1, steps):
        best = int(np.argmax(total))
        switch = total[best] - penalty
        stay = switch <= total
        back[t] = np.where(stay, index, best)
        total = np.where(stay, total, switch) + scores[t]
    path = np.empty(steps, dtype=np.int64)
    path[-1] = int(np.argmax(total))
    for t in range(steps - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
