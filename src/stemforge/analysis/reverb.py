"""Reverberation and room modes: measured blind from music, or exactly from an impulse response.

**Blind RT60** (:func:`reverb`). No impulse response is given, so the decay rate is read
from the *free decays* of the music itself: the stretches after a note, chord, hit or
phrase ends, where only the room (or the reverb plug-in) is still sounding. Method, in
the spirit of the free-decay-region estimators of Ratnam et al. (JASA 2003) and Prego et
al. (JASA 2015), but fitting lines to dB envelopes rather than a likelihood:

1. The mono mix is resampled to 22.05 kHz. Octave-band powers (IEC 61260-1 bands 125 Hz
   .. 8 kHz) come from two STFTs with one frame every 5.8 ms: 256-sample windows for the
   1 kHz band and up, 128-sample windows of the signal decimated to 2.76 kHz for the
   125 .. 500 Hz bands. Each band's power is smoothed over ``8 / bandwidth`` seconds (at
   least 3 frames) so a narrow band fluctuates about as little as a wide one, and a
   *broadband* row is the sum of the 250 Hz .. 4 kHz bands, each first divided by its
   mean power (so no one band dominates it).
2. **Regions**: a row is cut wherever its level rises more than ``rise_db`` above its
   maximum over the preceding 0.1 s (an attack); each region is cut again where it first
   falls 45 dB below its own top (silence, a quiet bed).
3. **Where the free decay starts**: each region is split into a constant (the note or
   phrase still playing) followed by a line (the decay), at the split that minimises the
   total squared error (a two-piece "hockey stick" fit).
4. **Decay rate**, T20 style (ISO 3382-1): a least-squares line through the dB envelope
   from ``fit_start_db`` (5 dB) to ``fit_end_db`` (25 dB) below the decay's start and at
   least ``floor_margin_db`` above the row's noise floor (its 2nd percentile). The range
   is first taken from the running minimum of the level, then three times from the fitted
   line itself, so a deep fade of a few partials cannot end a decay early; a frame more
   than 6 dB above the line (a new, softer note) ends the decay there. A decay counts if
   its line spans at least ``min_range_db`` (10 dB) in at least 3 frames;
   RT60 = 60 dB / slope.
5. **Combining**: the weighted (by dB spanned) ``quantile`` (0.4) of the decays' ln RT60
   per row. Sources that die away by themselves (plucked notes, speech) only ever make a
   decay *slower* than the room's, never faster, so the estimate leans below the median;
   a lower quantile still would let the scatter of single decays pull it down.
   EDT (ISO 3382-1: 6 times the time of the first 10 dB of the decay): per decay a line
   through its first 10 dB from the last frame of the note, or, where the level falls
   those 10 dB in under 3 frames (strong direct sound), 6 times that time; combined the
   same way. With no direct sound EDT equals RT60; the stronger the dry signal against
   the reverb, the shorter the EDT.

Measured on synthetic reverbs (exponentially decaying noise of RT60 0.3 .. 2 s convolved
with staccato notes and chords, drum-machine one-shots and speech; ``tests/test_reverb.py``)
the broadband RT60 is within 13 % over 8 rooms and material variants per case, RT60
unchanged with the dry signal 12 dB above the reverb. Limits: sources that decay by
themselves (plucks, toms, cymbals, pads with long releases, the voice) read as reverb of
that length: speech in a 0.3 s room reads about 0.4 s (the voice and the LJ Speech
recording room alone read 0.3 s), an acoustic drum kit recorded in a studio reads its
studio (0.55 s). Dense, sustained music has no free decays and gives NaN with a
``reason``. Decays faster than about 0.1 s are not resolved: a dry signal reads below
that (0.25 s in the 125 Hz band, where the smoothing is longest) or NaN.

**Room modes** (:func:`room_modes`): the standing waves of a small room make a few low
frequencies ring on after everything else has stopped. The signal is decimated to
1378 Hz and analysed with 0.37 s windows (2.7 Hz bins) every 23 ms from 20 to 300 Hz.
The moments the low end as a whole stops are the free decays (as above) of those bins'
summed power; during each (for up to 1.5 s) every bin's decay rate is a least-squares
line through its level, while the bin is excited (within 30 dB of the loudest bin when
the decay began), above its floor, and not climbing back up (a new note in it). A bin
whose level hardly falls (T60 over 4 s) is a note still sounding, not a ring, and is
left out of that decay. Each bin's T60 is then compared, decay by decay, with the
median T60 of its neighbours (bins within a third of an octave or 12 bins, three either
side left out) in the *same* decay: a mode has a median ratio of at least
``mode_decay_ratio`` (1.8), reached in at least ``min_presence`` (60 %) of its decays,
at least ``min_excess_s`` (0.25 s) longer, and the largest ratio within three bins; its
frequency is refined by a parabola through the ratios. A bass line that plays one note
often has the energy but not the ringing, so it is not reported. Q of a resonance from
its decay time: Q = pi f T60 / ln(1000). On synthetic noise reverbs the detector also
finds the few narrow bands where that particular random IR happens to ring two to three
times longer than the rest (the IR's own narrow-band decay confirms them): they are in
the signal, but they are not what a room's modes are.

**Impulse responses** (:func:`rt60_from_impulse_response`): ISO 3382-1 evaluation of a
measured or synthetic IR: Schroeder (1965) backward integration of the squared response
from the first sample within 20 dB of its maximum; background noise subtracted (Chu 1978)
and the integration truncated where the decay meets it, with the missing tail added back
from the fitted decay (Lundeby et al., Acustica 1995); EDT (0 to -10 dB), T20 (-5 to
-25 dB) and T30 (-5 to -35 dB) from least-squares lines on the decay curve, broadband and
in octave bands (Butterworth band-passes run backwards in time, so their own ringing
falls before the decay rather than into it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.ndimage
import scipy.signal
import soxr

from stemforge.analysis.bands import Band, bin_weights, octave_bands
from stemforge.analysis.common import power_to_db, runs_of_true
from stemforge.analysis.spectrum import stft_chunks
from stemforge.audio.signal import Audio
from stemforge.errors import AnalysisError
from stemforge.results import Result

ANALYSIS_RATE_HZ = 22050
_HOP = 128  # 5.8 ms frames on both band grids
_HIGH_N_FFT = 256  # 11.6 ms windows, 86 Hz bins: the 1 .. 8 kHz bands
_MID_DECIMATION = 8  # 2756.25 Hz
_MID_N_FFT = 128  # 46 ms windows, 21.5 Hz bins: the 125 .. 500 Hz bands
_MODE_DECIMATION = 16  # 1378.125 Hz
_MODE_N_FFT = 512  # 0.37 s windows, 2.7 Hz bins
_MODE_HOP = 32  # 23 ms
_SPLIT_HZ = 700.0  # bands centred below this come from the decimated grid
_DB_PER_RT60 = 60.0
#: Bands' power is smoothed over SMOOTH_BT / bandwidth seconds.
_SMOOTH_BT = 8.0
_RISE_WINDOW_S = 0.1
_LINE_ITERATIONS = 3
#: A frame this far above a decay's fitted line is a new note: the decay ends there.
_ONSET_ABOVE_LINE_DB = 6.0
#: Regions end this far below the bottom of the fit range under their top.
_TRIM_BELOW_FIT_DB = 20.0
#: Rows this far below the loudest band have no content worth measuring.
_EMPTY_ROW_DB = 60.0
#: The bands that make up the broadband row (indices into the 125 Hz .. 8 kHz bands).
_BROADBAND_ROWS = slice(1, 6)
MIN_DURATION_S = 1.0
#: Room modes: each bin's decay is followed at most this long after the low end stops,
_MODE_WINDOW_S = 1.5
#: in the bins no more than this below the loudest bin when it stopped.
_MODE_EXCITED_DB = 30.0
#: Longer 'decays' are notes still sounding.
_MODE_MAX_T60_S = 4.0
BAND_MIN_HZ, BAND_MAX_HZ = 125.0, 8000.0


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BandReverb(Result):
    """The decay in one IEC 61260-1 octave band; NaN where it had too few free decays."""

    name: str
    centre_hz: float
    rt60_s: float
    edt_s: float
    decay_count: int


@dataclass(frozen=True)
class RoomMode(Result):
    """A low-frequency resonance that rings on after the music stops.

    ``decay_s``: the bin's median T60 over the free decays of the low end;
    ``neighbour_decay_s``: the median T60 of its neighbours in the same decays.
    ``prominence_db``: its long-term level over the median of those neighbours' (a mode
    can ring without being louder on average, so this may be negative). ``q`` = pi f
    T60 / ln(1000), the Q of a resonator that rings that long. ``presence``: the share of
    the decays in which it rang at least ``mode_decay_ratio`` times longer than its
    neighbours.
    """

    frequency_hz: float
    prominence_db: float
    decay_s: float
    neighbour_decay_s: float
    q: float
    presence: float


@dataclass(frozen=True)
class ReverbResult(Result):
    """A blind estimate of the reverberation (see the module docstring for the method).

    - ``rt60_s``: of the broadband row (250 Hz .. 4 kHz, each band weighted equally);
      ``edt_s`` the early decay time read the same way (a dry/wet mix with strong direct
      sound has EDT < RT60).
    - ``bands``: the same per octave band, 125 Hz .. 8 kHz.
    - ``decay_count``: broadband free decays used.
    - ``confidence`` (0 .. 1): n / (n + 10) for n decays, times exp(-IQR) of their ln
      RT60 (0.5 at 10 decays that agree exactly; scattered decays lower it).
    - ``reason``: why ``rt60_s`` is NaN (too short, silent, too few free decays), else None.
    - ``room_modes``: see :class:`RoomMode`, most ringing first.
    """

    rt60_s: float
    edt_s: float
    decay_count: int
    confidence: float
    bands: tuple[BandReverb, ...]
    room_modes: tuple[RoomMode, ...]
    reason: str | None
    duration_s: float


@dataclass(frozen=True)
class ImpulseResponseBand(Result):
    """ISO 3382-1 decay times of one octave band of an impulse response (NaN where the
    decay curve does not span the range above the noise)."""

    name: str
    centre_hz: float
    edt_s: float
    t20_s: float
    t30_s: float


@dataclass(frozen=True)
class ImpulseResponseResult(Result):
    """ISO 3382-1 decay times of an impulse response, broadband and per octave band.

    ``rt60_s`` is T30 where the decay curve spans it, else T20. ``noise_floor_db``: the
    background in the last tenth of the response, dB below its peak energy (-inf for a
    noiseless one). ``decay_range_db``: how far the decay curve falls before the
    truncation point.
    """

    rt60_s: float
    edt_s: float
    t20_s: float
    t30_s: float
    noise_floor_db: float
    decay_range_db: float
    bands: tuple[ImpulseResponseBand, ...]


# --- signals and band envelopes ---------------------------------------------------------


def _mono(audio: Audio) -> np.ndarray:
    x = audio.samples
    if x.shape[0] == 1:
        return x[0]
    out = x[0].copy()
    for ch in x[1:]:
        out += ch
    out *= np.float32(1.0 / x.shape[0])
    return out


def _stft_power(x: np.ndarray, n_fft: int, hop: int, weights: np.ndarray | slice) -> np.ndarray:
    """Power per centred Hann frame (frame i centred on sample i hop), shaped (rows,
    frames): ``weights @ |X|^2`` for a (rows, bins) matrix, or the bins of a slice."""
    x = np.concatenate([np.zeros(n_fft // 2, np.float32), x.astype(np.float32, copy=False)])
    n_frames = 1 + max(0, -(-(len(x) - n_fft) // hop))
    if isinstance(weights, slice):
        rows = len(range(*weights.indices(n_fft // 2 + 1)))
    else:
        rows = len(weights)
        w_t = np.ascontiguousarray(weights.T, dtype=np.float32)
    out = np.empty((rows, n_frames), np.float32)
    for start, spec in stft_chunks(x, n_fft, hop, chunk_frames=256):
        if isinstance(weights, slice):
            spec = spec[:, weights]
            out[:, start : start + spec.shape[0]] = (spec.real**2 + spec.imag**2).T
        else:
            p = spec.real**2 + spec.imag**2
            out[:, start : start + p.shape[0]] = (p @ w_t).T
    return out


def _band_weights(bands: tuple[Band, ...], n_fft: int, rate_hz: float) -> np.ndarray:
    low = np.array([b.low_hz for b in bands])
    high = np.array([b.high_hz for b in bands])
    return bin_weights(low, high, n_bins=n_fft // 2 + 1, bin_hz=rate_hz / n_fft)


def _smooth(power: np.ndarray, frames: int) -> np.ndarray:
    if frames <= 1:
        return power
    return scipy.ndimage.uniform_filter1d(power, frames, axis=-1, mode="nearest")


# --- free decays ------------------------------------------------------------------------


@dataclass
class _Decays:
    """One entry per region: its row, where its decay starts, and the fits (NaN if none)."""

    row: np.ndarray
    start: np.ndarray  # frame index (within the row) where the free decay starts
    rt60_s: np.ndarray
    edt_s: np.ndarray
    range_db: np.ndarray  # dB spanned by the fitted line (0 where no fit)
    length: np.ndarray  # frames from the start until the decay ends (a new note, the region's end)

    @classmethod
    def empty(cls) -> _Decays:
        z = np.zeros(0)
        i = np.zeros(0, np.int64)
        return cls(i, i, z, z, z, i)


def _ranges(first: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ranges [first_i, first_i + lengths_i) laid end to end: the range id and the
    offset within it of every element, and where each range starts in the layout."""
    starts = np.cumsum(lengths) - lengths
    ids = np.repeat(np.arange(len(lengths)), lengths)
    offs = np.arange(int(lengths.sum())) - starts[ids]
    return ids, offs, starts


def _line_fits(
    ids: np.ndarray, t: np.ndarray, y: np.ndarray, mask: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares lines y = intercept + slope t per id over the masked elements:
    ``(slope, intercept, count)`` (NaN slope where fewer than two points)."""
    sel = np.flatnonzero(mask)
    ids, t, y = ids[sel], t[sel], y[sel]
    n = np.bincount(ids, minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tm = np.bincount(ids, t, k) / n
        ym = np.bincount(ids, y, k) / n
        dt = t - tm[ids]
        stt = np.bincount(ids, dt * dt, k)
        sty = np.bincount(ids, dt * (y - ym[ids]), k)
        slope = sty / stt
    return slope, ym - slope * tm, n


def _prefix(v: np.ndarray) -> np.ndarray:
    out = np.zeros(len(v) + 1)
    np.cumsum(v, out=out[1:])
    return out


def _first_per_id(hit: np.ndarray, ids: np.ndarray, k: int) -> np.ndarray:
    """Index of the first True of ``hit`` for each id (ids ascending), or a huge number."""
    out = np.full(k, np.iinfo(np.int64).max)
    where = np.flatnonzero(hit)
    if where.size:
        uniq, first = np.unique(ids[where], return_index=True)
        out[uniq] = where[first]
    return out


def _find_decays(
    level_db: np.ndarray,
    frame_rate_hz: float,
    floor_db: np.ndarray,
    *,
    rise_db: float,
    rise_window: int,
    fit_start_db: float,
    fit_end_db: float,
    min_range_db: float,
    floor_margin_db: float,
    min_frames: int = 3,
) -> _Decays:
    """Fit the free decays of each row of ``level_db`` (rows, frames): steps 2-4 of the
    module docstring, vectorised over all regions of all rows at once."""
    n = level_db.shape[1]
    m = rise_window | 1
    trailing = scipy.ndimage.maximum_filter1d(level_db, m, axis=1, origin=(m - 1) // 2)
    rising = np.ones_like(level_db, dtype=bool)
    rising[:, 1:] = level_db[:, 1:] - trailing[:, :-1] > rise_db
    flat = level_db.ravel()
    runs = runs_of_true(~rising.ravel())  # never across rows: each row starts rising
    runs = runs[runs[:, 1] - runs[:, 0] >= 2 * min_frames]
    if len(runs) == 0:
        return _Decays.empty()
    a, lengths = runs[:, 0], runs[:, 1] - runs[:, 0]

    # Cut each region where it first falls far below its top.
    ids, offs, starts = _ranges(a, lengths)
    vals = flat[a[ids] + offs]
    top = np.maximum.reduceat(vals, starts)
    deep = _first_per_id(vals < top[ids] - (fit_end_db + _TRIM_BELOW_FIT_DB), ids, len(a))
    lengths = np.minimum(lengths, deep - starts)
    keep = lengths >= 2 * min_frames
    a, lengths = a[keep], lengths[keep]
    k = len(a)
    if k == 0:
        return _Decays.empty()
    ids, offs, starts = _ranges(a, lengths)
    y = flat[a[ids] + offs].astype(np.float64)
    t = offs.astype(np.float64)

    # The hockey stick: constant on [start, s), line on [s, end); the best s per region.
    pos = np.arange(len(y))
    p0, pt, ptt = _prefix(np.ones_like(t)), _prefix(t), _prefix(t * t)
    py, pyy, pty = _prefix(y), _prefix(y * y), _prefix(t * y)
    lo, hi = starts[ids], starts[ids] + lengths[ids]
    n1 = pos - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        sy1 = py[pos] - py[lo]
        sse1 = np.where(n1 > 0, pyy[pos] - pyy[lo] - sy1 * sy1 / n1, 0.0)
        n2 = p0[hi] - p0[pos]
        st, sy = pt[hi] - pt[pos], py[hi] - py[pos]
        stt = ptt[hi] - ptt[pos] - st * st / n2
        syy = pyy[hi] - pyy[pos] - sy * sy / n2
        sty = pty[hi] - pty[pos] - st * sy / n2
        sse2 = syy - sty * sty / stt
    total = np.where(n2 >= min_frames, np.maximum(sse1, 0) + np.maximum(sse2, 0), np.inf)
    best = np.minimum.reduceat(total, starts)
    split = offs[_first_per_id(total == best[ids], ids, k)]

    keep = offs >= split[ids]
    ids, y = ids[keep], y[keep]
    t = (offs[keep] - split[ids]) / frame_rate_hz
    ref_db = flat[a + split]
    row = a // n
    floor_of = floor_db[row][ids] + floor_margin_db
    # The running minimum (reset per region) below the decay's start: a first fit range.
    big = 1e4  # > any level range, so each region's values lie below all earlier ones
    below = np.minimum.accumulate(y - ref_db[ids] - ids * big) + ids * big
    mask = (below <= -fit_start_db) & (below >= -fit_end_db) & (ref_db[ids] + below >= floor_of)
    slope, intercept, count = _line_fits(ids, t, y, mask, k)
    alive = np.ones(len(ids), bool)
    index = np.arange(len(ids))
    for _ in range(_LINE_ITERATIONS):
        line = slope[ids] * t  # relative to the line's start
        good = np.isfinite(line)
        onset = good & (line <= -fit_start_db)
        onset &= y - intercept[ids] - line > _ONSET_ABOVE_LINE_DB
        alive &= index < _first_per_id(onset, ids, k)[ids]
        in_range = (line <= -fit_start_db) & (line >= -fit_end_db)
        mask = alive & good & in_range & (intercept[ids] + line >= floor_of)
        slope, intercept, count = _line_fits(ids, t, y, mask, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        range_db = -slope * (count - 1) / frame_rate_hz
        ok = (count >= min_frames) & (slope < 0) & (range_db >= min_range_db)
        rt60 = np.where(ok, -_DB_PER_RT60 / slope, np.nan)
    # EDT from the last frame of the note (the frame before the split, where there is
    # one): a line through its first 10 dB, or 6 times the time to fall 10 dB where the
    # fall is too quick for a line (strong direct sound).
    lead = np.where(split > 0, 1, 0)
    edt_ref = flat[a + split - lead]
    fall = np.minimum.accumulate(y - edt_ref[ids] - ids * big) + ids * big
    above_floor = edt_ref[ids] + fall >= floor_of
    emask = alive & (fall <= -1.0) & (fall >= -10.0) & above_floor
    eslope, _, ecount = _line_fits(ids, t, y, emask, k)
    crossed = _first_per_id(alive & (fall <= -10.0) & (edt_ref[ids] - 10.0 >= floor_of), ids, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        eok = (ecount >= min_frames) & (eslope < 0)
        eok &= -eslope * (ecount - 1) / frame_rate_hz >= 6.0
        quick = ~eok & (crossed < len(ids)) & (ecount < min_frames)
        t_cross = t[np.minimum(crossed, len(ids) - 1)] + lead / frame_rate_hz
        edt = np.where(eok, -_DB_PER_RT60 / eslope, np.where(quick, 6.0 * t_cross, np.nan))
    return _Decays(
        row=row,
        start=(a % n) + split,
        rt60_s=rt60,
        edt_s=edt,
        range_db=np.where(ok, range_db, 0.0),
        length=np.bincount(ids, alive, k).astype(np.int64),
    )


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    c = np.cumsum(w) - 0.5 * w
    return float(np.interp(q * w.sum(), c, v))


def _combine(
    dec: _Decays, row: int, quantile: float, min_decays: int
) -> tuple[float, float, int, float]:
    """``(rt60_s, edt_s, decay_count, ln_rt60_iqr)`` of one row (NaN when too few)."""
    sel = (dec.row == row) & np.isfinite(dec.rt60_s)
    count = int(sel.sum())
    rt = edt = iqr = float("nan")
    if count >= min_decays:
        log_rt, w = np.log(dec.rt60_s[sel]), dec.range_db[sel]
        rt = float(np.exp(_weighted_quantile(log_rt, w, quantile)))
        iqr = _weighted_quantile(log_rt, w, 0.75) - _weighted_quantile(log_rt, w, 0.25)
    esel = (dec.row == row) & np.isfinite(dec.edt_s)
    if esel.sum() >= min_decays:
        edt = float(np.exp(np.quantile(np.log(dec.edt_s[esel]), quantile)))
    return rt, edt, count, iqr


# --- the blind estimate -----------------------------------------------------------------


def reverb(
    audio: Audio,
    *,
    min_decays: int = 5,
    quantile: float = 0.4,
    rise_db: float = 2.0,
    fit_start_db: float = 5.0,
    fit_end_db: float = 25.0,
    min_range_db: float = 10.0,
    floor_margin_db: float = 10.0,
    find_room_modes: bool = True,
    mode_decay_ratio: float = 1.8,
) -> ReverbResult:
    """Estimate the reverberation time of ``audio`` from its free decays (no IR needed).

    See the module docstring for the method (and the meaning of ``rise_db``,
    ``fit_start_db``, ``fit_end_db``, ``min_range_db``, ``floor_margin_db``,
    ``quantile``) and :class:`ReverbResult` for the fields. ``min_decays``: fewer free
    decays than this in a row gives NaN there. ``find_room_modes`` runs
    :func:`room_modes` on the same decimated signal (about a third of the time).
    Never raises for music that is too dense, too short or silent: ``reason`` says why.

    >>> r = reverb(load("mix.wav"))  # doctest: +SKIP
    >>> r.rt60_s, [b.rt60_s for b in r.bands]  # doctest: +SKIP
    """
    audio.require_finite()
    if not 0.0 < quantile < 1.0:
        raise AnalysisError(f"quantile must be between 0 and 1, got {quantile}.")
    if not 0.0 <= fit_start_db < fit_end_db:
        raise AnalysisError(
            f"the fit range must have 0 <= fit_start_db < fit_end_db, got "
            f"{fit_start_db} and {fit_end_db}."
        )
    bands = octave_bands(min_hz=BAND_MIN_HZ, max_hz=BAND_MAX_HZ)
    nan_bands = tuple(BandReverb(b.name, b.centre_hz, np.nan, np.nan, 0) for b in bands)

    def without(reason: str) -> ReverbResult:
        return ReverbResult(np.nan, np.nan, 0, 0.0, nan_bands, (), reason, audio.duration_s)

    if audio.duration_s < MIN_DURATION_S:
        return without(
            f"too short: {audio.duration_s:.2f} s; a reverb estimate needs at least "
            f"{MIN_DURATION_S:g} s with notes that stop."
        )
    x = _mono(audio)
    if not np.any(x):
        return without("silent: the signal holds only zeros.")
    x = soxr.resample(x, audio.sample_rate, ANALYSIS_RATE_HZ, quality="HQ")
    mid_rate = ANALYSIS_RATE_HZ / _MID_DECIMATION
    mid = soxr.resample(x, ANALYSIS_RATE_HZ, mid_rate, quality="HQ")
    frame_rate = ANALYSIS_RATE_HZ / _HOP

    low_b = tuple(b for b in bands if b.centre_hz < _SPLIT_HZ)
    high_b = tuple(b for b in bands if b.centre_hz >= _SPLIT_HZ)
    w_mid = _band_weights(low_b, _MID_N_FFT, mid_rate)
    w_high = _band_weights(high_b, _HIGH_N_FFT, ANALYSIS_RATE_HZ)
    p_mid = _stft_power(mid, _MID_N_FFT, _HOP // _MID_DECIMATION, w_mid)
    p_high = _stft_power(x, _HIGH_N_FFT, _HOP, w_high)
    n = min(p_mid.shape[1], p_high.shape[1])
    power = np.concatenate([p_mid[:, :n], p_high[:, :n]]).astype(np.float64)
    mean_power = power.mean(axis=1)
    white = power[_BROADBAND_ROWS] / np.maximum(mean_power[_BROADBAND_ROWS, None], 1e-30)
    power = np.concatenate([power, white.sum(axis=0, keepdims=True)])
    widths_hz = np.array([b.high_hz - b.low_hz for b in bands] + [np.inf])
    smooth_frames = np.clip(np.round(_SMOOTH_BT / widths_hz * frame_rate), 3, 31).astype(int)
    for r, frames in enumerate(smooth_frames):
        power[r] = _smooth(power[r], int(frames))
    level = power_to_db(power)
    floor = np.percentile(level, 2, axis=1)
    empty_rows = np.append(
        power_to_db(mean_power) < power_to_db(mean_power.max()) - _EMPTY_ROW_DB, False
    )
    level[empty_rows] = floor[empty_rows, None]  # flat: no decays

    dec = _find_decays(
        level,
        frame_rate,
        floor,
        rise_db=rise_db,
        rise_window=round(_RISE_WINDOW_S * frame_rate),
        fit_start_db=fit_start_db,
        fit_end_db=fit_end_db,
        min_range_db=min_range_db,
        floor_margin_db=floor_margin_db,
    )
    per_band = []
    for i, b in enumerate(bands):
        rt, edt, count, _ = _combine(dec, i, quantile, min_decays)
        per_band.append(BandReverb(b.name, b.centre_hz, rt, edt, count))
    rt, edt, count, iqr = _combine(dec, len(bands), quantile, min_decays)
    modes = _room_modes(mid, mode_decay_ratio=mode_decay_ratio) if find_room_modes else ()
    reason = None
    confidence = 0.0
    if np.isnan(rt):
        reason = (
            f"too few free decays: {count} found, {min_decays} needed. The music is dense "
            "or sustained (few notes stop with silence after them)."
        )
    else:
        confidence = float(count / (count + 10) * np.exp(-iqr))
    return ReverbResult(
        rt60_s=rt,
        edt_s=edt,
        decay_count=count,
        confidence=confidence,
        bands=tuple(per_band),
        room_modes=modes,
        reason=reason,
        duration_s=audio.duration_s,
    )


# --- room modes -------------------------------------------------------------------------


def room_modes(
    audio: Audio,
    *,
    min_hz: float = 20.0,
    max_hz: float = 300.0,
    mode_decay_ratio: float = 1.8,
    min_excess_s: float = 0.25,
    min_presence: float = 0.6,
    min_decays: int = 4,
    max_modes: int = 6,
) -> tuple[RoomMode, ...]:
    """Low-frequency resonances that ring longer than their neighbours (see the module
    docstring for the method and the thresholds), between ``min_hz`` and ``max_hz``.

    Bins compared with their neighbours in fewer than ``min_decays`` free decays are not
    judged, so dense music, or a signal shorter than a second, gives none. Most ringing
    (largest ratio to the neighbours) first, at most ``max_modes``.
    """
    audio.require_finite()
    if audio.duration_s < MIN_DURATION_S:
        return ()
    x = soxr.resample(_mono(audio), audio.sample_rate, ANALYSIS_RATE_HZ, quality="HQ")
    mid = soxr.resample(x, ANALYSIS_RATE_HZ, ANALYSIS_RATE_HZ / _MID_DECIMATION, quality="HQ")
    return _room_modes(
        mid,
        min_hz=min_hz,
        max_hz=max_hz,
        mode_decay_ratio=mode_decay_ratio,
        min_excess_s=min_excess_s,
        min_presence=min_presence,
        min_decays=min_decays,
        max_modes=max_modes,
    )


def _bin_decay_times(
    level: np.ndarray,
    bin_floor: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    frame_rate: float,
) -> np.ndarray:
    """T60 of every bin during each free decay of the low end, shaped (bins, decays):
    a least-squares line through the bin's level from the start of the decay until the
    decay ends, the bin falls to its floor or climbs back up (a new note in it). NaN
    where the bin was not excited (more than 30 dB under the loudest bin when the decay
    started) or hardly falls (a note still sounding, not a ring)."""
    width = int(lengths.max())
    j = np.arange(width)
    frames = np.minimum(starts[:, None] + j, level.shape[1] - 1)
    seg = level[:, frames]  # (bins, decays, frames)
    use = (j < lengths[:, None])[None, :, :] & (seg >= bin_floor[:, None, None])
    risen = seg - np.minimum.accumulate(seg, axis=2) > _ONSET_ABOVE_LINE_DB
    use &= np.logical_not(np.logical_or.accumulate(risen, axis=2))
    t = j / frame_rate
    with np.errstate(invalid="ignore", divide="ignore"):
        n = use.sum(axis=2)
        tm = (use * t).sum(axis=2) / n
        ym = np.where(use, seg, 0.0).sum(axis=2) / n
        dt = np.where(use, t - tm[..., None], 0.0)
        dy = np.where(use, seg - ym[..., None], 0.0)
        slope = (dt * dy).sum(axis=2) / (dt * dt).sum(axis=2)
        start_db = seg[:, :, 0]
        excited = start_db >= start_db.max(axis=0, keepdims=True) - _MODE_EXCITED_DB
        excited &= (n >= 4) & (slope < -_DB_PER_RT60 / _MODE_MAX_T60_S)
        return np.where(excited, -_DB_PER_RT60 / slope, np.nan)


def _room_modes(
    mid: np.ndarray,
    *,
    min_hz: float = 20.0,
    max_hz: float = 300.0,
    mode_decay_ratio: float = 1.8,
    min_excess_s: float = 0.25,
    min_presence: float = 0.6,
    min_decays: int = 4,
    max_modes: int = 6,
) -> tuple[RoomMode, ...]:
    mid_rate = ANALYSIS_RATE_HZ / _MID_DECIMATION
    rate = ANALYSIS_RATE_HZ / _MODE_DECIMATION
    low = soxr.resample(mid, mid_rate, rate, quality="HQ")
    if len(low) < _MODE_N_FFT or not np.any(low):
        return ()
    bin_hz = rate / _MODE_N_FFT
    k0 = max(1, int(np.ceil(min_hz / bin_hz)))
    k1 = int(np.floor(max_hz / bin_hz)) + 1
    nb = k1 - k0
    power = _stft_power(low, _MODE_N_FFT, _MODE_HOP, slice(k0, k1)).astype(np.float64)
    frame_rate = rate / _MODE_HOP
    level = power_to_db(_smooth(power, 3))
    # The moments the low end as a whole stops: free decays of its total power.
    total = power_to_db(_smooth(power.sum(axis=0, keepdims=True), 3))
    dec = _find_decays(
        total,
        frame_rate,
        np.percentile(total, 2, axis=1),
        rise_db=2.0,
        rise_window=round(_RISE_WINDOW_S * frame_rate),
        fit_start_db=5.0,
        fit_end_db=25.0,
        min_range_db=10.0,
        floor_margin_db=10.0,
    )
    ok = np.isfinite(dec.rt60_s)
    starts, lengths = dec.start[ok], np.minimum(dec.length[ok], round(_MODE_WINDOW_S * frame_rate))
    if len(starts) < min_decays:
        return ()
    bin_floor = np.percentile(level, 2, axis=1) + 10.0
    chunks = [
        _bin_decay_times(level, bin_floor, starts[i : i + 256], lengths[i : i + 256], frame_rate)
        for i in range(0, len(starts), 256)  # bounded memory for long files
    ]
    t60 = np.concatenate(chunks, axis=1)  # (bins, decays), NaN where not measured
    freqs = (k0 + np.arange(nb)) * bin_hz
    third = 2.0 ** (1.0 / 3.0)
    # Each bin against its neighbours in the same decays: the median ratio of decay times.
    ratio = np.full(nb, np.nan)
    own_s = np.full(nb, np.nan)
    ref_s = np.full(nb, np.nan)
    presence = np.zeros(nb)
    hoods = []
    for r in range(nb):
        lo = min(int(np.searchsorted(freqs, freqs[r] / third)), r - 12)
        hi = max(int(np.searchsorted(freqs, freqs[r] * third, side="right")), r + 13)
        idx = np.arange(max(lo, 0), min(hi, nb))
        idx = idx[np.abs(idx - r) > 3]
        hoods.append(idx)
        hood = t60[idx]
        enough = np.isfinite(hood).sum(axis=0) >= 3
        paired = np.isfinite(t60[r]) & enough
        if paired.sum() < min_decays:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ref_each = np.nanmedian(hood[:, paired], axis=0)
        each = t60[r, paired] / ref_each
        ratio[r] = float(np.median(each))
        own_s[r] = float(np.median(t60[r, paired]))
        ref_s[r] = float(np.median(ref_each))
        presence[r] = float(np.mean(each >= mode_decay_ratio))
    ltas_db = power_to_db(power.mean(axis=1))
    found = []
    for r in np.flatnonzero(np.isfinite(ratio)):
        near = ratio[max(r - 3, 0) : r + 4]
        if not (
            ratio[r] >= mode_decay_ratio
            and presence[r] >= min_presence
            and own_s[r] - ref_s[r] >= min_excess_s
            and ratio[r] >= np.nanmax(near)
        ):
            continue
        # The frequency: a parabola through the decay-time ratios of the bin and its two
        # neighbours (the mode leaks into them through the window, ringing less).
        delta = 0.0
        if 0 < r < nb - 1 and np.isfinite(ratio[r - 1]) and np.isfinite(ratio[r + 1]):
            a, b, c = ratio[r - 1], ratio[r], ratio[r + 1]
            denom = a - 2 * b + c
            if denom < 0:
                delta = float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
        f0 = float(freqs[r] + delta * bin_hz)
        prominence = float(ltas_db[r] - np.median(ltas_db[hoods[r]]))
        q = float(np.pi * f0 * own_s[r] / np.log(1000.0))
        found.append(
            RoomMode(f0, prominence, float(own_s[r]), float(ref_s[r]), q, float(presence[r]))
        )
    found.sort(key=lambda m: -m.decay_s / m.neighbour_decay_s)
    return tuple(found[:max_modes])


# --- impulse responses ------------------------------------------------------------------


def _decay_times(energy: np.ndarray, sample_rate: int) -> tuple[float, float, float, float, float]:
    """``(edt_s, t20_s, t30_s, noise_floor_db, decay_range_db)`` of one squared IR."""
    nan = float("nan")
    peak = float(energy.max()) if energy.size else 0.0
    if peak <= 0.0:
        return nan, nan, nan, nan, nan
    onset = int(np.argmax(energy >= peak * 0.01))  # first sample within 20 dB of the max
    e = energy[onset:].astype(np.float64)
    # Background noise: the mean of the last tenth, if the decay flattens out there.
    block = max(1, int(0.01 * sample_rate))
    nb = len(e) // block
    noise = 0.0
    end = len(e)
    tail = 0.0
    if nb >= 10:
        env = e[: nb * block].reshape(nb, block).mean(axis=1)
        env_db = power_to_db(env)
        noise_est = float(e[-max(len(e) // 10, 1) :].mean())
        noise_db = float(power_to_db(noise_est))
        # Noise counts only where the level stops falling: compare the last two tenths.
        tenth = max(nb // 10, 1)
        flat_end = abs(float(np.mean(env_db[-2 * tenth : -tenth]) - np.mean(env_db[-tenth:]))) < 3.0
        if flat_end and noise_db > env_db.max() - 100.0:
            noise = noise_est
            crossing = np.flatnonzero(env_db <= noise_db + 5.0)
            crossing = crossing[crossing > int(np.argmax(env_db))]
            if crossing.size:
                end = int(crossing[0]) * block
                # Lundeby's compensation: the decay goes on below the noise; add the
                # energy of the fitted exponential beyond the truncation point.
                top = float(env_db.max())
                head = env_db[: end // block]
                fit = (head <= top - 5.0) & (head >= noise_db + 10.0)
                if fit.sum() >= 3:
                    slope, icept = np.polyfit(np.flatnonzero(fit), head[fit], 1)
                    if slope < 0:
                        level_end = 10.0 ** ((icept + slope * end / block) / 10.0)
                        per_sample_db = -slope / block
                        tail = level_end / (1.0 - 10.0 ** (-per_sample_db / 10.0))
    e = np.maximum(e[:end] - noise, 0.0)
    edc = np.cumsum(e[::-1])[::-1] + tail
    edc_db = power_to_db(edc / edc[0])
    noise_floor_db = float(power_to_db(noise / peak)) if noise > 0 else -np.inf
    t = np.arange(len(edc_db)) / sample_rate
    decay_range = float(-edc_db[-1])

    def fit(top_db: float, bottom_db: float) -> float:
        # The range must lie within the curve before the truncation point.
        if -edc_db[-1] < bottom_db and tail == 0.0:
            return nan
        sel = (edc_db <= -top_db) & (edc_db >= -bottom_db)
        if sel.sum() < 3:
            return nan
        slope = np.polyfit(t[sel], edc_db[sel], 1)[0]
        return float(-_DB_PER_RT60 / slope) if slope < 0 else nan

    return fit(0.0, 10.0), fit(5.0, 25.0), fit(5.0, 35.0), noise_floor_db, decay_range


def rt60_from_impulse_response(
    ir: Audio, *, min_hz: float = BAND_MIN_HZ, max_hz: float = BAND_MAX_HZ
) -> ImpulseResponseResult:
    """EDT, T20 and T30 of an impulse response per ISO 3382-1 (see the module docstring).

    Channels are evaluated together (their squared responses summed). Octave bands from
    ``min_hz`` to ``max_hz`` (nominal), those below 0.9 of Nyquist.
    """
    ir.require_finite()
    if ir.frames < 16:
        raise AnalysisError(f"an impulse response needs at least 16 samples; got {ir.frames}.")
    if not np.any(ir.samples):
        raise AnalysisError("the impulse response is silent (all zeros).")
    sr = ir.sample_rate
    h = ir.samples.astype(np.float64)
    edt, t20, t30, noise_db, range_db = _decay_times((h * h).sum(axis=0), sr)
    nyquist = sr / 2
    out = []
    for band in octave_bands(min_hz=min_hz, max_hz=max_hz):
        if band.centre_hz >= 0.9 * nyquist / np.sqrt(2):
            continue
        high = min(band.high_hz, 0.95 * nyquist)
        sos = scipy.signal.butter(3, [band.low_hz, high], "bandpass", fs=sr, output="sos")
        filtered = scipy.signal.sosfilt(sos, h[:, ::-1], axis=1)[:, ::-1]
        b_edt, b_t20, b_t30, _, _ = _decay_times((filtered**2).sum(axis=0), sr)
        out.append(ImpulseResponseBand(band.name, band.centre_hz, b_edt, b_t20, b_t30))
    rt60 = t30 if np.isfinite(t30) else t20
    return ImpulseResponseResult(rt60, edt, t20, t30, noise_db, range_db, tuple(out))
