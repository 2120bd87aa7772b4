"""The spectrum of a mix: long-term average spectrum, tonal balance, spectral shape
features, sustained resonances and the effective bandwidth.

All of it comes from two short-time Fourier transforms of each channel (periodic
Hann window, 50 % overlap, no centring), whose power is averaged over the
channels (so side-only content counts as much as mid content):

- the *main* STFT at the signal's own rate with bins about 11 Hz wide
  (``n_fft`` 4096 at 44.1/48 kHz), for everything above 355 Hz and the per-frame
  features;
- a *fine* STFT of the signal resampled to 4 kHz with 1 Hz bins, for everything
  below 355 Hz (the third-octave bands up to 315 Hz, the low end of the LTAS
  grid and of the resonance search), where 11 Hz bins are too coarse.

Power in a band is the mean-square value of the signal's content in that band
(the bins' power, edge bins split in proportion), so band levels in dB are RMS
levels re full scale: a full-scale sine reads -3.01 dB.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.fft
import scipy.ndimage
import scipy.signal
import soxr

from stemforge.analysis.bands import (
    Band,
    band_arrays,
    bin_weights,
    log_grid_bands,
    third_octave_bands,
    tonal_bands,
)
from stemforge.analysis.common import FLOOR_DB, TimeSeries, power_to_db
from stemforge.audio.signal import Audio
from stemforge.errors import AnalysisError
from stemforge.results import Result

#: Below this frequency band powers come from the fine (1 Hz) STFT: the edge
#: between the 315 Hz and 400 Hz third-octave bands.
CROSSOVER_HZ = 354.8
FINE_RATE_HZ = 4000
FINE_N_FFT = 4096
#: Peaks narrower than this (Q above it) are reported as "tonal", not "resonance".
TONAL_Q = 25.0
#: Width of the running median that the resonance search takes as the trend.
TREND_OCTAVES = 1.0
#: librosa's floor for power in spectral flatness.
FLATNESS_AMIN = 1e-10


# --- STFT helpers shared with the stereo analysis ---------------------------------------


def default_n_fft(sample_rate: int, *, bin_hz: float = 11.0) -> int:
    """The power of two giving bins closest to ``bin_hz`` wide (4096 at 44.1 and 48 kHz)."""
    return int(2 ** round(np.log2(sample_rate / bin_hz)))


def hann(n_fft: int) -> np.ndarray:
    """The periodic Hann window (as ``scipy.signal.get_window('hann', n_fft)``)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)


def stft_chunks(
    x: np.ndarray, n_fft: int, hop_length: int, *, chunk_frames: int = 48
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_frame, X)`` with ``X`` complex64 shaped (..., frames, n_fft // 2 + 1).

    ``x`` is float32 shaped (..., samples). Frame i covers samples
    [i hop, i hop + n_fft); the end is zero-padded so every sample is in a frame.
    """
    n = x.shape[-1]
    n_frames = 1 + max(0, -(-(n - n_fft) // hop_length))
    total = (n_frames - 1) * hop_length + n_fft
    if total > n:
        x = np.concatenate([x, np.zeros((*x.shape[:-1], total - n), np.float32)], axis=-1)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[..., ::hop_length, :]
    window = hann(n_fft)
    # Small chunks into one reused buffer: fresh multi-megabyte arrays cost page faults.
    buffer = np.empty((*x.shape[:-1], min(chunk_frames, n_frames), n_fft), np.float32)
    for start in range(0, n_frames, chunk_frames):
        view = frames[..., start : start + chunk_frames, :]
        block = np.multiply(view, window, out=buffer[..., : view.shape[-2], :])
        yield start, scipy.fft.rfft(block, axis=-1, workers=1)


def power_scale(n_fft: int) -> np.ndarray:
    """Per-bin factors turning |X|^2 into one-sided power (mean square per bin).

    P_k = c_k |X_k|^2 / (N sum w^2), c_k = 2 except at DC and Nyquist, so the bins
    of a frame sum to the frame's window-weighted mean square.
    """
    w = hann(n_fft).astype(np.float64)
    scale = np.full(n_fft // 2 + 1, 2.0 / (n_fft * np.sum(w**2)))
    scale[0] /= 2
    scale[-1] /= 2
    return scale.astype(np.float32)


def compact(values: np.ndarray, *, digits: int = 4) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (NaN and 0 kept): plot data
    that prints short in JSON."""
    v = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.floor(np.log10(np.abs(v)))
        scale = 10.0 ** np.where(np.isfinite(exponent), digits - 1 - exponent, 0.0)
        return np.round(v * scale) / scale


def compact_times(times_s: np.ndarray) -> np.ndarray:
    """Times rounded to 0.1 ms."""
    return np.round(np.asarray(times_s, dtype=np.float64), 4)


def _fit_n_fft(n_fft: int, n_samples: int, minimum: int = 256) -> int:
    """Shrink ``n_fft`` (a power of two) to fit a short signal, never below ``minimum``."""
    while n_fft > minimum and n_fft > n_samples:
        n_fft //= 2
    return n_fft


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BandLevel(Result):
    """The level of one band: 10 log10 of its mean-square power (dB re full scale)."""

    name: str
    low_hz: float
    centre_hz: float
    high_hz: float
    level_db: float


@dataclass(frozen=True)
class TonalBand(Result):
    """One named tonal-balance band: its share of the total power of all named bands."""

    name: str
    low_hz: float
    high_hz: float
    level_db: float
    relative_db: float
    energy_fraction: float


@dataclass(frozen=True)
class Resonance(Result):
    """A narrow peak standing above the smoothed long-term spectrum most of the time.

    ``prominence_db``: height of the LTAS (1/48 octave) above its one-octave running
    median, which a narrow peak hardly lifts. ``q``: centre over the
    bandwidth between the points at half the prominence in dB (the RBJ peaking-EQ
    definition, so a boost of Q 8 reads about 8). ``presence_fraction``: the share
    of non-silent segments in which the peak stands at least half as high.
    ``kind``: "resonance" for Q up to :data:`TONAL_Q` (ringing, boxy or harsh
    build-ups), "tonal" above it (as narrow as the analysis resolves: a sustained
    pitch or hum, usually a musical note rather than something to cut).
    """

    frequency_hz: float
    prominence_db: float
    q: float
    presence_fraction: float
    kind: str


@dataclass(frozen=True)
class SpectrumResult(Result):
    """Long-term spectrum, tonal balance, spectral shape, resonances and bandwidth.

    - ``third_octave``: LTAS in IEC 61260-1 third-octave bands (20 Hz .. 20 kHz, those
      below Nyquist), power-averaged over time and channels.
    - ``ltas_frequencies_hz``/``ltas_density_db``: the LTAS on a 1/24-octave grid as
      power spectral density (dB re FS^2/Hz; white noise is flat, pink falls 3 dB/oct).
    - ``tonal_balance``: the named bands of :mod:`stemforge.analysis.bands`.
    - ``centroid_hz``, ``rolloff_hz`` (``rolloff_percent`` of the magnitude),
      ``bandwidth_hz`` (second central moment), ``flatness`` (Wiener entropy of the
      power spectrum, geometric over arithmetic mean): per-frame values as in
      librosa, summarised by the median over non-silent frames; the ``*_series``
      hold medians over ``series_hop_s`` windows. White noise has a per-frame
      flatness of exp(-Euler's gamma) = 0.56; ``ltas_flatness`` is the flatness of
      the long-term spectrum (white noise: 1.0).
    - Series and the fine LTAS are rounded to 4 significant digits (times to 0.1 ms).
    - ``resonances`` (:class:`Resonance`, loudest first, at most ``max_resonances``):
      peaks of the 1/48-octave LTAS at least ``resonance_threshold_db`` above its
      trend, between ``resonance_min_hz`` and ``resonance_max_hz`` (and below 90 %
      of the effective bandwidth), standing in at least ``resonance_min_presence``
      of the ``segment_s`` segments.
    - ``effective_bandwidth_hz``: where the content stops. If the LTAS falls by
      ``cliff_db`` within 1/16 octave (the median of the 1/4 octave below against
      the maximum of everything above, up to Nyquist: a brick-wall low-pass), the
      point 10 dB down that cliff; otherwise the highest frequency
      whose density is within ``floor_db`` of the loudest part of the spectrum.
      ``bandwidth_verdict``: "full_band", "lowpass_cliff_detected" (a cliff below
      90 % of Nyquist: lossy encoding or a low-pass), "upsampled" (a cliff at
      19.5-24.1 kHz in a file sampled above 48 kHz), "band_limited" (no cliff,
      content fading out below 80 % of Nyquist) or "silent".
    """

    sample_rate: int
    duration_s: float
    third_octave: tuple[BandLevel, ...]
    ltas_frequencies_hz: np.ndarray
    ltas_density_db: np.ndarray
    tonal_balance: tuple[TonalBand, ...]
    centroid_hz: float
    rolloff_hz: float
    bandwidth_hz: float
    flatness: float
    ltas_flatness: float
    centroid_series: TimeSeries
    rolloff_series: TimeSeries
    bandwidth_series: TimeSeries
    flatness_series: TimeSeries
    resonances: tuple[Resonance, ...]
    effective_bandwidth_hz: float
    lowpass_cliff_detected: bool
    cliff_hz: float
    bandwidth_verdict: str

    def band(self, name: str) -> BandLevel:
        """The third-octave band named ``name`` (e.g. "1 kHz")."""
        for b in self.third_octave:
            if b.name == name:
                return b
        raise KeyError(name)

    def tonal(self, name: str) -> TonalBand:
        for b in self.tonal_balance:
            if b.name == name:
                return b
        raise KeyError(name)


# --- the passes over the signal ---------------------------------------------------------


@dataclass
class _Pass:
    """What one STFT pass leaves: mean bin power, per-segment power, per-frame features."""

    bin_hz: float
    ltas: np.ndarray  # (bins,) mean one-sided power per bin
    segments: np.ndarray  # (n_seg, bins) mean power per bin in each segment
    segment_frames: np.ndarray  # (n_seg,) frames in each segment
    frame_times_s: np.ndarray | None = None
    frame_power: np.ndarray | None = None
    features: dict[str, np.ndarray] | None = None


def _stft_pass(
    x: np.ndarray,
    sample_rate: float,
    n_fft: int,
    *,
    segment_s: float,
    n_segments: int,
    rolloff_percent: float | None = None,
) -> _Pass:
    hop = n_fft // 2
    n_bins = n_fft // 2 + 1
    scale = power_scale(n_fft)
    bin_hz = sample_rate / n_fft
    freqs = np.arange(n_bins) * bin_hz
    ltas = np.zeros(n_bins, np.float64)
    segments = np.zeros((n_segments, n_bins), np.float64)
    counts = np.zeros(n_segments, np.int64)
    feats: dict[str, list] = {k: [] for k in ("centroid", "rolloff", "bandwidth", "flatness")}
    powers = []
    n_frames = 0
    for start, spec in stft_chunks(x, n_fft, hop):
        raw = spec.real**2 + spec.imag**2  # (channels, frames, bins)
        raw = raw.mean(axis=0) if raw.shape[0] > 1 else raw[0]
        power = raw * scale
        frames = power.shape[0]
        ltas += power.sum(axis=0, dtype=np.float64)
        centres = (start + np.arange(frames)) * hop + n_fft / 2
        seg = np.minimum((centres / sample_rate // segment_s).astype(np.int64), n_segments - 1)
        bounds = np.flatnonzero(np.diff(seg, prepend=-1))
        segments[seg[bounds]] += np.add.reduceat(power, bounds, axis=0, dtype=np.float64)
        counts[seg[bounds]] += np.diff(np.append(bounds, frames))
        n_frames += frames
        if rolloff_percent is not None:
            powers.append(power.sum(axis=1, dtype=np.float64))
            _frame_features(raw, freqs, rolloff_percent, feats)
    ltas /= max(n_frames, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        segments /= np.maximum(counts, 1)[:, None]
    out = _Pass(bin_hz, ltas, segments, counts)
    if rolloff_percent is not None:
        out.frame_times_s = (np.arange(n_frames) * hop + n_fft / 2) / sample_rate
        out.frame_power = np.concatenate(powers)
        out.features = {k: np.concatenate(v) for k, v in feats.items()}
    return out


def _frame_features(
    raw: np.ndarray, freqs: np.ndarray, rolloff_percent: float, out: dict[str, list]
) -> None:
    """Per-frame centroid, rolloff, bandwidth (magnitude-weighted) and flatness (power)."""
    mag = np.sqrt(raw)
    moments = mag.astype(np.float64) @ np.stack([np.ones_like(freqs), freqs, freqs**2], axis=1)
    total = moments[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        centroid = moments[:, 1] / total
        # sum m (f - c)^2 = sum m f^2 - c^2 sum m
        spread = np.maximum(moments[:, 2] / total - centroid**2, 0.0)
        bandwidth = np.sqrt(spread)
        cum = np.cumsum(mag, axis=1)
        idx = np.argmax(cum >= rolloff_percent * cum[:, -1:], axis=1)
        rolloff = np.where(total > 0, freqs[idx], np.nan)
        p = np.maximum(raw, FLATNESS_AMIN)
        flatness = np.exp(np.log(p).mean(axis=1)) / p.mean(axis=1)
    centroid[total <= 0] = np.nan
    bandwidth[total <= 0] = np.nan
    out["centroid"].append(centroid)
    out["rolloff"].append(rolloff)
    out["bandwidth"].append(bandwidth)
    out["flatness"].append(flatness)


class _Spectrum:
    """Band power from the fine pass below :data:`CROSSOVER_HZ` and the main pass above."""

    def __init__(self, fine: _Pass | None, main: _Pass, crossover_hz: float):
        self.fine, self.main = fine, main
        self.crossover_hz = crossover_hz if fine is not None else 0.0

    def band_power(self, low_hz: np.ndarray, high_hz: np.ndarray, *, segments: bool = False):
        """Power in each band, shaped (bands,) or (segments, bands)."""
        low_hz, high_hz = np.asarray(low_hz, float), np.asarray(high_hz, float)
        xo = self.crossover_hz
        main_src = self.main.segments if segments else self.main.ltas
        w = bin_weights(
            np.maximum(low_hz, xo), high_hz, n_bins=main_src.shape[-1], bin_hz=self.main.bin_hz
        )
        total = main_src @ w.T
        if self.fine is not None:
            fine_src = self.fine.segments if segments else self.fine.ltas
            w = bin_weights(
                low_hz, np.minimum(high_hz, xo), n_bins=fine_src.shape[-1], bin_hz=self.fine.bin_hz
            )
            total = total + fine_src @ w.T
        return total


# --- the analysis -----------------------------------------------------------------------


def spectrum(
    audio: Audio,
    *,
    n_fft: int | None = None,
    rolloff_percent: float = 0.85,
    series_hop_s: float = 0.5,
    segment_s: float = 2.0,
    resonance_threshold_db: float = 6.0,
    resonance_min_presence: float = 0.5,
    resonance_min_hz: float = 40.0,
    resonance_max_hz: float = 16000.0,
    max_resonances: int = 12,
    cliff_db: float = 30.0,
    floor_db: float = 70.0,
) -> SpectrumResult:
    """Measure the spectrum of ``audio`` (see :class:`SpectrumResult` for every field).

    ``n_fft`` defaults to the power of two giving ~11 Hz bins. More than two
    channels are folded to stereo first (:meth:`Audio.to_stereo`).
    """
    audio.require_finite()
    if audio.frames < 64:
        raise AnalysisError(
            f"the spectrum needs at least 64 samples; got {audio.frames}.",
            hint="Pass a longer signal.",
        )
    if not 0 < rolloff_percent < 1:
        raise AnalysisError(f"rolloff_percent must be between 0 and 1, got {rolloff_percent}.")
    if audio.channels > 2:
        audio = audio.to_stereo()
    sr = audio.sample_rate
    nyquist = sr / 2
    x = audio.samples
    n_segments = max(1, int(np.ceil(audio.duration_s / segment_s)))

    n_fft = _fit_n_fft(n_fft or default_n_fft(sr), audio.frames, minimum=64)
    main = _stft_pass(
        x, sr, n_fft, segment_s=segment_s, n_segments=n_segments, rolloff_percent=rolloff_percent
    )
    fine = None
    if main.bin_hz > 2.0:
        low = soxr.resample(x.T, sr, FINE_RATE_HZ, quality="MQ")
        low = np.ascontiguousarray(low.T, dtype=np.float32)
        if low.shape[-1] >= 256:
            fine_n_fft = _fit_n_fft(FINE_N_FFT, low.shape[-1])
            fine = _stft_pass(
                low, FINE_RATE_HZ, fine_n_fft, segment_s=segment_s, n_segments=n_segments
            )
    spec = _Spectrum(fine, main, CROSSOVER_HZ)

    # Third-octave LTAS and the tonal balance.
    thirds = third_octave_bands(nyquist_hz=nyquist)
    lo, _, hi = band_arrays(thirds)
    third_db = power_to_db(spec.band_power(lo, hi))
    third_octave = tuple(
        BandLevel(b.name, b.low_hz, b.centre_hz, b.high_hz, float(level))
        for b, level in zip(thirds, third_db, strict=True)
    )
    tonal = _tonal_balance(spec, tonal_bands(nyquist_hz=nyquist))

    # The LTAS as density on log grids: 1/24 octave to report, 1/48 octave to analyse.
    plot_f, plot_lo, plot_hi = log_grid_bands(20.0, nyquist, points_per_octave=24)
    plot_db = power_to_db(spec.band_power(plot_lo, plot_hi) / (plot_hi - plot_lo))
    grid_f, grid_lo, grid_hi = log_grid_bands(20.0, nyquist, points_per_octave=48)
    grid_db = power_to_db(spec.band_power(grid_lo, grid_hi) / (grid_hi - grid_lo))

    bandwidth_hz, cliff, cliff_hz, verdict = _effective_bandwidth(
        grid_f, grid_db, sample_rate=sr, cliff_db=cliff_db, floor_db=floor_db
    )
    resonances = _resonances(
        spec,
        grid_f,
        grid_lo,
        grid_hi,
        grid_db,
        min_hz=resonance_min_hz,
        max_hz=min(resonance_max_hz, 0.9 * bandwidth_hz),
        threshold_db=resonance_threshold_db,
        min_presence=resonance_min_presence,
        max_count=max_resonances,
    )

    # Per-frame features, summarised over non-silent frames.
    assert main.frame_power is not None and main.features is not None
    active = _active(main.frame_power)
    summary = {
        k: float(np.median(v[active])) if active.any() else float("nan")
        for k, v in main.features.items()
    }
    times = main.frame_times_s
    assert times is not None
    group = max(1, round(series_hop_s * sr / (n_fft // 2)))
    series = {
        k: _pooled_series(times, v, active, group, unit)
        for (k, v), unit in zip(main.features.items(), ("Hz", "Hz", "Hz", "ratio"), strict=True)
    }
    ltas_flatness = _flatness(main.ltas)

    return SpectrumResult(
        sample_rate=sr,
        duration_s=audio.duration_s,
        third_octave=third_octave,
        ltas_frequencies_hz=compact(plot_f, digits=5),
        ltas_density_db=compact(plot_db),
        tonal_balance=tonal,
        centroid_hz=summary["centroid"],
        rolloff_hz=summary["rolloff"],
        bandwidth_hz=summary["bandwidth"],
        flatness=summary["flatness"],
        ltas_flatness=ltas_flatness,
        centroid_series=series["centroid"],
        rolloff_series=series["rolloff"],
        bandwidth_series=series["bandwidth"],
        flatness_series=series["flatness"],
        resonances=resonances,
        effective_bandwidth_hz=bandwidth_hz,
        lowpass_cliff_detected=cliff,
        cliff_hz=cliff_hz,
        bandwidth_verdict=verdict,
    )


def _active(frame_power: np.ndarray, *, range_db: float = 60.0, floor_db: float = -100.0):
    """Frames within ``range_db`` of the loudest one and above ``floor_db`` (mean square)."""
    if frame_power.size == 0:
        return np.zeros(0, bool)
    top = frame_power.max()
    limit = max(top * 10 ** (-range_db / 10), 10 ** (floor_db / 10))
    return frame_power > limit


def _pooled_series(times, values, active, group: int, unit: str) -> TimeSeries:
    n = len(values) // group * group
    if n == 0:
        return TimeSeries(np.zeros(0), np.zeros(0), unit)
    v = np.where(active[:n], values[:n], np.nan).reshape(-1, group)
    t = times[:n].reshape(-1, group).mean(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-silent windows give NaN
        pooled = np.nanmedian(v, axis=1)
    return TimeSeries(compact_times(t), compact(pooled), unit)


def _flatness(power: np.ndarray) -> float:
    p = np.maximum(power[1:-1], 1e-30)
    if power.max() <= 0:
        return float("nan")
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def _tonal_balance(spec: _Spectrum, bands: tuple[Band, ...]) -> tuple[TonalBand, ...]:
    lo, _, hi = band_arrays(bands)
    power = spec.band_power(lo, hi)
    total = power.sum()
    fraction = power / total if total > 0 else np.zeros_like(power)
    relative = power_to_db(fraction)
    level = power_to_db(power)
    return tuple(
        TonalBand(b.name, b.low_hz, b.high_hz, float(lv), float(r), float(f))
        for b, lv, r, f in zip(bands, level, relative, fraction, strict=True)
    )


def _effective_bandwidth(
    freqs: np.ndarray, level_db: np.ndarray, *, sample_rate: int, cliff_db: float, floor_db: float
) -> tuple[float, bool, float, str]:
    """Find a brick-wall cliff in the 1/48-octave LTAS density, or the content's top end."""
    nyquist = sample_rate / 2
    n = len(freqs)
    if n < 16 or level_db.max() <= FLOOR_DB:
        return float("nan"), False, float("nan"), "silent"
    before_n, guard = 12, 3  # 1/4 octave below, 1/16 octave above
    # The maximum of everything above each point, up to Nyquist.
    above_max = np.maximum.accumulate(level_db[::-1])[::-1]
    cliff_index = None
    for i in np.flatnonzero(freqs >= 1000.0):
        if i < before_n or i + guard >= n:
            continue
        before = float(np.median(level_db[i - before_n : i]))
        if before - above_max[i + guard] >= cliff_db and before > FLOOR_DB + cliff_db:
            cliff_index = i
            break
    if cliff_index is not None:
        i = cliff_index
        before = float(np.median(level_db[i - before_n : i]))
        target = before - 10.0
        j = i - guard
        while j < n - 1 and level_db[j + 1] >= target:
            j += 1
        # Interpolate in log frequency between grid points j and j + 1.
        if j < n - 1 and level_db[j] != level_db[j + 1]:
            frac = (level_db[j] - target) / (level_db[j] - level_db[j + 1])
            frac = float(np.clip(frac, 0.0, 1.0))
        else:
            frac = 0.0
        cliff_hz = float(freqs[j] * (freqs[min(j + 1, n - 1)] / freqs[j]) ** frac)
        if cliff_hz >= 0.9 * nyquist:
            verdict = "full_band"
        elif sample_rate > 48000 and 19500.0 <= cliff_hz <= 24100.0:
            verdict = "upsampled"
        else:
            verdict = "lowpass_cliff_detected"
        return cliff_hz, verdict != "full_band", cliff_hz, verdict
    smooth = scipy.ndimage.uniform_filter1d(level_db, 9, mode="nearest")
    top = float(smooth[freqs >= 30.0].max())
    content = np.flatnonzero(level_db >= top - floor_db)
    bandwidth = float(freqs[content[-1]]) if content.size else float("nan")
    verdict = "full_band" if bandwidth >= 0.8 * nyquist else "band_limited"
    return bandwidth, False, float("nan"), verdict


def _resonances(
    spec: _Spectrum,
    freqs: np.ndarray,
    low_hz: np.ndarray,
    high_hz: np.ndarray,
    level_db: np.ndarray,
    *,
    min_hz: float,
    max_hz: float,
    threshold_db: float,
    min_presence: float,
    max_count: int,
) -> tuple[Resonance, ...]:
    """Peaks > ``threshold_db`` above a one-octave running median of the 1/48-octave LTAS."""
    points_per_octave = 48
    width = int(TREND_OCTAVES * points_per_octave) // 2 * 2 + 1
    if len(freqs) < width or not np.isfinite(max_hz) or level_db.max() <= FLOOR_DB:
        return ()
    trend = scipy.ndimage.median_filter(level_db, size=width, mode="nearest")
    excess = level_db - trend
    searchable = (freqs >= min_hz) & (freqs <= max_hz) & (level_db > FLOOR_DB + 20)
    candidate = np.where(searchable, excess, -np.inf)
    peaks, _ = scipy.signal.find_peaks(
        np.nan_to_num(candidate, neginf=-1e9), height=threshold_db, distance=points_per_octave // 6
    )
    if peaks.size == 0:
        return ()

    # How often each peak stands up: the same measurement on each segment.
    seg_power = spec.band_power(low_hz, high_hz, segments=True) / (high_hz - low_hz)
    seg_db = power_to_db(seg_power)
    seg_total = seg_power.sum(axis=1)
    active = seg_total > max(seg_total.max() * 1e-6, 1e-14)
    seg_excess = seg_db - scipy.ndimage.median_filter(seg_db, size=(1, width), mode="nearest")

    found = []
    for p in peaks:
        prominence = float(excess[p])
        if 0 < p < len(freqs) - 1:
            a, b, c = excess[p - 1], excess[p], excess[p + 1]
            denom = a - 2 * b + c
            delta = 0.5 * (a - c) / denom if denom < 0 else 0.0
        else:
            delta = 0.0
        f0 = float(freqs[p] * 2 ** (delta / points_per_octave))
        q = _q_estimate(freqs, excess, p, prominence / 2)
        near = seg_excess[:, max(p - 1, 0) : p + 2].max(axis=1)
        presence = float(np.mean(near[active] >= threshold_db / 2)) if active.any() else 0.0
        if presence >= min_presence:
            kind = "resonance" if q <= TONAL_Q else "tonal"
            found.append(Resonance(f0, prominence, q, presence, kind))
    found.sort(key=lambda r: -r.prominence_db)
    return tuple(found[:max_count])


def _q_estimate(freqs: np.ndarray, excess: np.ndarray, p: int, half_db: float) -> float:
    """Centre frequency over the bandwidth where ``excess`` stays above ``half_db``."""

    def crossing(step: int) -> float:
        j = p
        while 0 <= j + step < len(freqs) and excess[j + step] >= half_db:
            j += step
        k = j + step
        if not 0 <= k < len(freqs):
            return float(freqs[j])
        frac = (excess[j] - half_db) / (excess[j] - excess[k]) if excess[j] != excess[k] else 0
        return float(freqs[j] * (freqs[k] / freqs[j]) ** float(np.clip(frac, 0, 1)))

    low, high = crossing(-1), crossing(+1)
    return float(freqs[p] / (high - low)) if high > low else float("inf")
