"""Stereo image and phase: correlation, width, balance, mono compatibility.

Definitions (L, R the channels; M = (L + R)/2 the mid, S = (L - R)/2 the side;
E_x the mean-square energy of x):

- ``correlation``: Pearson's r of L and R over the whole signal. Over time and per
  band it is the phase-meter value sum(L R) / sqrt(sum(L^2) sum(R^2)) (no mean
  removal within the window or band; audio has no DC worth speaking of there):
  +1 identical, 0 unrelated, -1 one channel inverted.
- ``side_to_mid_db`` = 10 log10(E_S / E_M).
- ``width`` = E_S / (E_M + E_S), from 0 (mono) through 0.5 (unrelated channels, or a
  source hard-panned to one side) to 1 (channels in opposite polarity).
- ``balance_db`` = 10 log10(E_R / E_L): positive when the right channel is louder.
- ``mono_loss_db`` = -10 log10(2 E_M / (E_L + E_R)): how much energy a mono fold-down
  (L + R)/2 loses against the average channel. 0 dB for identical channels, 3.01 dB
  for unrelated ones (or one channel silent), growing without bound as the
  channels cancel (capped at 200 dB, the floor of the dB helpers).

Levels in dB are clamped to +/-200 dB (:data:`~stemforge.analysis.common.FLOOR_DB`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemforge.analysis.bands import band_arrays, bin_weights, octave_bands
from stemforge.analysis.common import FLOOR_DB, TimeRange, TimeSeries, power_to_db, runs_of_true
from stemforge.analysis.spectrum import compact, compact_times, default_n_fft, stft_chunks
from stemforge.audio.signal import Audio
from stemforge.errors import AnalysisError
from stemforge.results import Result


@dataclass(frozen=True)
class PhaseRegion(TimeRange):
    """A stretch where the windowed correlation stays below the out-of-phase threshold."""

    min_correlation: float
    mean_correlation: float


@dataclass(frozen=True)
class StereoBand(Result):
    """Correlation, width and mono loss of one octave band (NaN where the band is silent)."""

    name: str
    low_hz: float
    centre_hz: float
    high_hz: float
    level_db: float
    correlation: float
    width: float
    mono_loss_db: float


@dataclass(frozen=True)
class Vectorscope(Result):
    """Goniometer data: a few thousand (side, mid) points and a 2-D histogram.

    A mono signal is a vertical line (side 0); inverted channels a horizontal one.
    ``histogram[i, j]`` is the fraction of samples with mid in row i and side in
    column j, both spanning [-scale, scale] from low to high; ``scale`` is the
    sample peak of the stereo signal. Points are rounded to 3 significant digits,
    the histogram to 4.
    """

    side: np.ndarray
    mid: np.ndarray
    histogram: np.ndarray
    scale: float


@dataclass(frozen=True)
class StereoResult(Result):
    """The stereo image of a signal; see the module docstring for the definitions.

    ``correlation_series`` is the windowed correlation (``window_s`` windows every
    ``hop_s``), NaN in silent windows. ``out_of_phase`` lists the regions where it
    stays below ``out_of_phase_threshold`` for at least ``min_out_of_phase_s``.
    ``source_channels`` is the input's channel count; ``note`` says when the input was
    mono (analysed as two identical channels) or folded down from more channels.
    Series values are rounded to 4 significant digits, their times to 0.1 ms.
    """

    source_channels: int
    note: str
    correlation: float
    correlation_series: TimeSeries
    bands: tuple[StereoBand, ...]
    side_to_mid_db: float
    width: float
    balance_db: float
    mono_loss_db: float
    out_of_phase: tuple[PhaseRegion, ...]
    out_of_phase_fraction: float
    vectorscope: Vectorscope

    @property
    def is_mono(self) -> bool:
        return self.source_channels == 1

    def band(self, name: str) -> StereoBand:
        """The octave band named ``name`` (e.g. "250 Hz")."""
        for b in self.bands:
            if b.name == name:
                return b
        raise KeyError(name)


def _ratio_db(numerator, denominator) -> np.ndarray:
    """10 log10(num / den), clamped to +/-200 dB (0/0 gives NaN)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10 * np.log10(num / den)
    return np.clip(out, FLOOR_DB, -FLOOR_DB)


def _width(e_mid, e_side):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(e_side, np.float64) / (np.asarray(e_mid, np.float64) + e_side)


def _mono_loss_db(e_left, e_right, cross):
    """-10 log10(2 E_M / (E_L + E_R)) with 2 E_M = (E_L + E_R + 2 C) / 2."""
    total = np.asarray(e_left, np.float64) + e_right
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum((total + 2 * np.asarray(cross, np.float64)) / (2 * total), 0.0)
    return np.where(total > 0, -power_to_db(ratio), np.nan)


def _correlation(e_left, e_right, cross):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.asarray(cross, np.float64) / np.sqrt(np.asarray(e_left, np.float64) * e_right)
    # One channel silent, the other not: unrelated, not undefined.
    one_sided = (np.asarray(e_left) > 0) != (np.asarray(e_right) > 0)
    return np.clip(np.where(one_sided, 0.0, r), -1.0, 1.0)


def stereo(
    audio: Audio,
    *,
    window_s: float = 0.3,
    hop_s: float = 0.1,
    out_of_phase_threshold: float = -0.3,
    min_out_of_phase_s: float = 0.5,
    silence_db: float = -60.0,
    n_fft: int | None = None,
    vectorscope_points: int = 2000,
    histogram_bins: int = 32,
) -> StereoResult:
    """Measure the stereo image of ``audio`` (see :class:`StereoResult`).

    Bands are the IEC 61260-1 octave bands 31.5 Hz .. 16 kHz, from an STFT with
    about 5.4 Hz bins (``n_fft`` 8192 at 44.1/48 kHz). Windows quieter than
    ``silence_db`` (mean square of both channels, dB re full scale) have no
    correlation (NaN) and never count as out of phase.
    """
    audio.require_finite()
    sr = audio.sample_rate
    hop = max(1, round(hop_s * sr))
    blocks_per_window = max(1, round(window_s / hop_s))
    if audio.frames < 2:
        raise AnalysisError(f"stereo analysis needs at least 2 samples; got {audio.frames}.")
    source_channels = audio.channels
    if source_channels == 1:
        note = "mono input: analysed as two identical channels"
    elif source_channels > 2:
        note = f"{source_channels} channels folded down to stereo (Audio.to_stereo)"
    else:
        note = ""
    x = audio.to_stereo().samples
    left, right = x[0], x[1]
    n = x.shape[1]

    # Whole-signal statistics (Pearson: means removed).
    mean_l, mean_r = float(left.mean(dtype=np.float64)), float(right.mean(dtype=np.float64))
    e_l = float(np.dot(left, left)) / n
    e_r = float(np.dot(right, right)) / n
    c_lr = float(np.dot(left, right)) / n
    var_l, var_r = e_l - mean_l**2, e_r - mean_r**2
    cov = c_lr - mean_l * mean_r
    correlation = float(_correlation(max(var_l, 0.0), max(var_r, 0.0), cov))
    e_mid = max((e_l + e_r + 2 * c_lr) / 4, 0.0)  # >= 0 but for rounding
    e_side = max((e_l + e_r - 2 * c_lr) / 4, 0.0)
    if source_channels == 1:  # exact, whatever the rounding
        correlation, e_side = 1.0, 0.0

    series, regions, fraction = _windowed(
        left,
        right,
        sr,
        hop,
        blocks_per_window,
        silence_db=silence_db,
        threshold=out_of_phase_threshold,
        min_duration_s=min_out_of_phase_s,
    )

    bands = _band_stats(x, sr, n_fft or default_n_fft(sr, bin_hz=5.5))

    return StereoResult(
        source_channels=source_channels,
        note=note,
        correlation=correlation,
        correlation_series=series,
        bands=bands,
        side_to_mid_db=float(_ratio_db(e_side, e_mid)),
        width=float(_width(e_mid, e_side)),
        balance_db=float(_ratio_db(e_r, e_l)),
        mono_loss_db=float(_mono_loss_db(e_l, e_r, c_lr)) + 0.0,  # no -0.0
        out_of_phase=regions,
        out_of_phase_fraction=fraction,
        vectorscope=_vectorscope(left, right, vectorscope_points, histogram_bins),
    )


def _windowed(
    left: np.ndarray,
    right: np.ndarray,
    sample_rate: int,
    hop: int,
    blocks_per_window: int,
    *,
    silence_db: float,
    threshold: float,
    min_duration_s: float,
) -> tuple[TimeSeries, tuple[PhaseRegion, ...], float]:
    """Correlation in windows of ``blocks_per_window`` hops, and the regions below ``threshold``."""
    n_blocks = len(left) // hop
    hop_s = hop / sample_rate
    if n_blocks < blocks_per_window:
        empty = TimeSeries(np.zeros(0), np.zeros(0), "correlation")
        return empty, (), 0.0
    lb = left[: n_blocks * hop].reshape(n_blocks, hop)
    rb = right[: n_blocks * hop].reshape(n_blocks, hop)
    sums = np.stack(
        [
            np.einsum("ij,ij->i", lb, lb),
            np.einsum("ij,ij->i", rb, rb),
            np.einsum("ij,ij->i", lb, rb),
        ]
    ).astype(np.float64)
    cum = np.concatenate([np.zeros((3, 1)), np.cumsum(sums, axis=1)], axis=1)
    win = cum[:, blocks_per_window:] - cum[:, :-blocks_per_window]
    ll, rr, lr = win
    corr = _correlation(ll, rr, lr)
    quiet = (ll + rr) / (2 * blocks_per_window * hop) < 10 ** (silence_db / 10)
    corr = np.where(quiet, np.nan, corr)
    times = (np.arange(len(corr)) + blocks_per_window / 2) * hop_s
    series = TimeSeries(compact_times(times), compact(corr), "correlation")

    below = np.nan_to_num(corr, nan=1.0) < threshold
    runs = runs_of_true(below)
    # Bridge gaps of up to one window: a dip back above threshold does not end a region.
    merged: list[list[int]] = []
    for start, end in runs:
        if merged and start - merged[-1][1] <= blocks_per_window:
            merged[-1][1] = end
        else:
            merged.append([int(start), int(end)])
    regions = []
    for start, end in merged:
        # A window's share of time is its hop around its centre; the ends reach the edges.
        start_s = 0.0 if start == 0 else times[start] - hop_s / 2
        end_s = n_blocks * hop_s if end == len(corr) else times[end - 1] + hop_s / 2
        if end_s - start_s + 1e-9 < min_duration_s:
            continue
        values = corr[start:end]
        regions.append(
            PhaseRegion(
                float(start_s),
                float(end_s),
                float(np.nanmin(values)),
                float(np.nanmean(values)),
            )
        )
    total_s = len(left) / sample_rate
    fraction = sum(r.duration_s for r in regions) / total_s if total_s > 0 else 0.0
    return series, tuple(regions), float(min(fraction, 1.0))


def _band_stats(x: np.ndarray, sample_rate: int, n_fft: int) -> tuple[StereoBand, ...]:
    """Per-octave-band energies and cross-energy of L and R from one STFT of both."""
    while n_fft > 256 and n_fft > x.shape[1]:
        n_fft //= 2
    n_bins = n_fft // 2 + 1
    e = np.zeros((3, n_bins), np.float64)  # |L|^2, |R|^2, Re(L R*)
    for _, spec in stft_chunks(x, n_fft, n_fft // 2):
        sl, sr_ = spec[0], spec[1]
        e[0] += (sl.real**2 + sl.imag**2).sum(axis=0, dtype=np.float64)
        e[1] += (sr_.real**2 + sr_.imag**2).sum(axis=0, dtype=np.float64)
        e[2] += (sl.real * sr_.real + sl.imag * sr_.imag).sum(axis=0, dtype=np.float64)
    bands = octave_bands(nyquist_hz=sample_rate / 2)
    low, _, high = band_arrays(bands)
    w = bin_weights(low, high, n_bins=n_bins, bin_hz=sample_rate / n_fft)
    ll, rr, lr = w @ e[0], w @ e[1], w @ e[2]
    total = e[0].sum() + e[1].sum()
    # Relative level of each band (dB re the whole signal's energy, both channels).
    level = _ratio_db(ll + rr, total) if total > 0 else np.full(len(bands), FLOOR_DB)
    silent = (ll + rr) <= total * 1e-10
    corr = np.where(silent, np.nan, _correlation(ll, rr, lr))
    e_mid, e_side = (ll + rr + 2 * lr) / 4, (ll + rr - 2 * lr) / 4
    width = np.where(silent, np.nan, _width(e_mid, np.maximum(e_side, 0.0)))
    loss = np.where(silent, np.nan, _mono_loss_db(ll, rr, lr))
    return tuple(
        StereoBand(
            b.name, b.low_hz, b.centre_hz, b.high_hz, float(lv), float(c), float(wd), float(ls)
        )
        for b, lv, c, wd, ls in zip(bands, level, corr, width, loss, strict=True)
    )


def _vectorscope(left: np.ndarray, right: np.ndarray, points: int, bins: int) -> Vectorscope:
    n = len(left)
    rng = np.random.default_rng(0)  # a fixed draw: the same signal gives the same picture
    scale = float(max(np.abs(left).max(initial=0.0), np.abs(right).max(initial=0.0)))
    pick = np.sort(rng.integers(0, n, size=min(points, n)))
    side = ((left[pick] - right[pick]) / 2).astype(np.float32)
    mid = ((left[pick] + right[pick]) / 2).astype(np.float32)
    many = rng.integers(0, n, size=min(1 << 18, n))
    hist = np.zeros((bins, bins), np.float32)
    if scale > 0 and n > 0:
        s = (left[many] - right[many]) / 2
        m = (left[many] + right[many]) / 2
        ix = np.clip(((s / scale + 1) / 2 * bins).astype(np.int64), 0, bins - 1)
        iy = np.clip(((m / scale + 1) / 2 * bins).astype(np.int64), 0, bins - 1)
        hist = np.bincount(iy * bins + ix, minlength=bins * bins).reshape(bins, bins)
        hist = (hist / len(many)).astype(np.float32)
    return Vectorscope(compact(side, digits=3), compact(mid, digits=3), compact(hist), scale)
