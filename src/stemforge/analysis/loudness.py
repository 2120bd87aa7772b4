"""Programme loudness, loudness range and peaks: ITU-R BS.1770-4, EBU R128, EBU Tech 3341/3342.

One pass computes everything a loudness meter shows:

* K-weighting (BS.1770-4, Annex 1): a high shelf and the RLB high-pass, each a biquad
  designed by the bilinear transform from analog parameters, so that 48 kHz gives the
  coefficients published in BS.1770-4 Tables 1 and 2 and every other rate the same
  analog response (within 0.01 dB to 16 kHz from 44.1 kHz up). Below 44.1 kHz the
  transform's frequency warping would bend the shelf (0.07 dB at 16 kHz, 0.2 dB at
  1 kHz for 8 kHz audio), so such signals are first upsampled by the integer factor
  ``ceil(44100 / rate)`` with the true-peak interpolation filter and weighted there.
* Mean square per 100 ms segment (``round(sample_rate / 10)`` samples), weighted and
  summed over channels; momentary loudness over 4 segments (400 ms), short-term over
  30 (3 s), both every 100 ms, and ``L = -0.691 + 10 log10(sum_i G_i z_i)`` LUFS.
* Integrated loudness (BS.1770-4, section 2.8 and Annex 1): 400 ms blocks with 75 %
  overlap, absolute gate -70 LUFS, relative gate 10 LU below the absolute-gated level.
* Loudness range (EBU Tech 3342): short-term values at or above -70 LUFS and at or
  above 20 LU below their own power mean; LRA is the spread between the 10th and 95th
  percentiles.
* Maximum momentary and short-term loudness as a file-based meter reads them (EBU Tech
  3341, cases 10 and 13): the window slides in steps of about 2 ms (90 samples at
  44.1 kHz, 96 at 48 kHz), not 100 ms, so a tone of exactly 400 ms is caught whole.
* Sample and true peak (see :mod:`stemforge.analysis.truepeak`), PLR and PSR.

Channel weights (BS.1770-4, Table 3) by channel count, in WAVE/SMPTE order: 1 mono
(1.0); 2 L R (1, 1); 3 L R C (1, 1, 1); 4 L R Ls Rs (1, 1, 1.41, 1.41); 5 L R C Ls Rs
(1, 1, 1, 1.41, 1.41); 6 L R C LFE Ls Rs (1, 1, 1, 0, 1.41, 1.41); 7 L R C LFE Cs Ls
Rs (1, 1, 1, 0, 1, 1.41, 1.41); 8 L R C LFE Lb Rb Ls Rs (1, 1, 1, 0, 1, 1, 1.41, 1.41),
following the standard's rule of 1.41 for channels between 60 and 120 degrees azimuth.
Pass ``channel_weights`` for any other layout (e.g. ``(2.0,)`` for dual-mono).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.signal

from stemforge.analysis.common import TimeSeries, power_to_db
from stemforge.analysis.truepeak import (
    block_length,
    oversampling_factor,
    phase_taps,
    scan_peaks,
)
from stemforge.audio.signal import Audio
from stemforge.errors import AnalysisError
from stemforge.results import Result

#: BS.1770-4 loudness offset: ``L = -0.691 + 10 log10(sum G_i z_i)``.
LOUDNESS_OFFSET_DB = -0.691

# Analog parameters of the K-weighting filters. They are the exact inverse of the
# bilinear transform (prewarped at f0) of the 48 kHz coefficients of BS.1770-4,
# Annex 1, Tables 1 and 2, so designing at 48 kHz gives those coefficients back.
# Stage 1, high shelf  H(p) = (Vh p^2 + Vb p / Q + 1) / (p^2 + p / Q + 1),  p = s / w0.
SHELF_F0_HZ = 1681.974450955533
SHELF_Q = 0.7071752369554196
SHELF_HIGH_GAIN = 1.584864701130855  # +3.9998 dB above the shelf
SHELF_MID_GAIN = 1.258720930232562  # numerator's p-term gain (about sqrt(Vh))
# Stage 2, RLB high-pass  H(p) = g p^2 / (p^2 + p / Q + 1); g is the passband gain
# implied by the standard's unnormalised numerator (1, -2, 1) at 48 kHz.
HIGHPASS_F0_HZ = 38.13547087602444
HIGHPASS_Q = 0.5003270373238773
HIGHPASS_GAIN = 1.004994898714688

#: Lowest rate at which the K-filters are applied directly; slower signals are upsampled.
K_WEIGHTING_MIN_RATE_HZ = 44_100
MOMENTARY_SEGMENTS = 4  # 400 ms
SHORT_TERM_SEGMENTS = 30  # 3 s

_WEIGHTS_BY_COUNT: dict[int, tuple[float, ...]] = {
    1: (1.0,),
    2: (1.0, 1.0),
    3: (1.0, 1.0, 1.0),
    4: (1.0, 1.0, 1.41, 1.41),
    5: (1.0, 1.0, 1.0, 1.41, 1.41),
    6: (1.0, 1.0, 1.0, 0.0, 1.41, 1.41),
    7: (1.0, 1.0, 1.0, 0.0, 1.0, 1.41, 1.41),
    8: (1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.41, 1.41),
}


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """The two K-weighting biquads for ``sample_rate`` as second-order sections (2, 6).

    Bilinear transform with ``K = tan(pi f0 / fs)`` of the analog shelf and high-pass
    (BS.1770-4, Annex 1). At 48 kHz the result equals Tables 1 and 2 of the standard.
    """
    k = math.tan(math.pi * SHELF_F0_HZ / sample_rate)
    kq, k2 = k / SHELF_Q, k * k
    a0 = 1.0 + kq + k2
    shelf = [
        (SHELF_HIGH_GAIN + SHELF_MID_GAIN * kq + k2) / a0,
        2.0 * (k2 - SHELF_HIGH_GAIN) / a0,
        (SHELF_HIGH_GAIN - SHELF_MID_GAIN * kq + k2) / a0,
        1.0,
        2.0 * (k2 - 1.0) / a0,
        (1.0 - kq + k2) / a0,
    ]
    k = math.tan(math.pi * HIGHPASS_F0_HZ / sample_rate)
    kq, k2 = k / HIGHPASS_Q, k * k
    a0 = 1.0 + kq + k2
    g = HIGHPASS_GAIN / a0
    highpass = [g, -2.0 * g, g, 1.0, 2.0 * (k2 - 1.0) / a0, (1.0 - kq + k2) / a0]
    return np.array([shelf, highpass])


def channel_weights(channels: int) -> tuple[float, ...]:
    """BS.1770-4 channel weights for a channel count (layouts in the module docstring)."""
    try:
        return _WEIGHTS_BY_COUNT[channels]
    except KeyError:
        raise AnalysisError(
            f"no standard channel weights for {channels} channels.",
            hint="Pass channel_weights=(...) with one weight per channel.",
        ) from None


@dataclass(frozen=True)
class LoudnessResult(Result):
    """Loudness, loudness range and peaks of a signal (see :func:`loudness`).

    Overall peaks are those of the loudest channel; ``channel_*`` tuples follow the
    channel order. ``relative_gate_lufs`` is the integrated loudness's relative gate,
    ``lra_relative_gate_lufs`` that of the loudness range. Levels that do not exist
    (the integrated loudness of silence, the maximum momentary loudness of a signal
    shorter than 400 ms) are ``-inf`` here and ``None`` in ``to_dict()``; undefined
    ratios (PLR of silence) are NaN and also ``None``.
    """

    integrated_lufs: float
    momentary: TimeSeries
    short_term: TimeSeries
    momentary_max_lufs: float
    short_term_max_lufs: float
    loudness_range_lu: float
    lra_low_lufs: float
    lra_high_lufs: float
    sample_peak_dbfs: float
    channel_sample_peak_dbfs: tuple[float, ...]
    true_peak_dbtp: float
    channel_true_peak_dbtp: tuple[float, ...]
    plr_db: float
    psr: TimeSeries
    psr_min_db: float
    psr_median_db: float
    absolute_gate_lufs: float
    relative_gate_lufs: float
    lra_relative_gate_lufs: float
    channel_weights: tuple[float, ...]
    oversampling_factor: int
    sample_rate: int
    duration_s: float


def loudness(
    audio: Audio,
    *,
    channel_weights: tuple[float, ...] | None = None,
    absolute_gate_lufs: float = -70.0,
    relative_gate_lu: float = -10.0,
    lra_relative_gate_lu: float = -20.0,
    lra_low_percentile: float = 10.0,
    lra_high_percentile: float = 95.0,
    true_peak_oversampling: int | None = None,
) -> LoudnessResult:
    """Measure loudness per ITU-R BS.1770-4 / EBU R128 (Tech 3341 and 3342).

    Series: ``momentary`` (400 ms window) and ``short_term`` (3 s) every 100 ms, each
    value stamped with the end of its window; only complete windows are reported.

    ``loudness_range_lu`` (EBU Tech 3342) uses the short-term series; percentiles are
    the nearest rank of the sorted gated values (index ``round((n - 1) p / 100)``, as in
    the standard's reference code). It is 0 when no short-term value passes the gates
    (then ``lra_low/high`` are -inf). Tech 3342 (2023) suggests that file-based meters
    append 1.5 s of silence before the final LRA; like ffmpeg and libebur128 this
    function does not (on a 10 s excerpt the faded tail would dominate the 10th
    percentile); pad the audio (``audio.pad_to``) to follow that note.

    ``plr_db``: peak-to-loudness ratio, true peak (dBTP) minus integrated loudness.

    ``psr``: peak-to-short-term-loudness ratio, as loudness meters show it: for each
    short-term value, the true peak of the same 3 s window (dBTP) minus the short-term
    loudness (LUFS). Windows whose short-term loudness is at or below the absolute gate
    are undefined (NaN). ``psr_min_db`` and ``psr_median_db`` summarise the defined
    values (the minimum marks the most limited passage).

    >>> import numpy as np
    >>> t = np.arange(48000 * 5) / 48000
    >>> sine = Audio(np.tile(0.5 * np.sin(2 * np.pi * 997 * t), (2, 1)), 48000)
    >>> round(loudness(sine).integrated_lufs, 2)  # 20 log10(0.5) + 3.01 - 3.01
    -6.02
    """
    audio.require_finite()
    fs = audio.sample_rate
    x = audio.samples
    n_ch, n = x.shape
    weights = _weights(n_ch, channel_weights)
    hop = max(1, round(fs / 10))
    n_seg = n // hop
    # Below 44.1 kHz the bilinear transform warps the shelf (-0.2 dB at 1 kHz for 8 kHz
    # audio), so K-weighting runs on the signal upsampled by an integer factor.
    up = math.ceil(K_WEIGHTING_MIN_RATE_HZ / fs) if fs < K_WEIGHTING_MIN_RATE_HZ else 1
    hop_k = hop * up
    blk = block_length(hop_k)
    per_seg = hop_k // blk

    # Weighted K-filtered energy per block of about 2 ms, channel by channel (memory).
    sos = k_weighting_sos(fs * up)
    n_blk = n * up // blk
    block_energy = np.zeros(n_blk)
    for c in range(n_ch):
        if weights[c] == 0.0 or n_blk == 0:
            continue
        y = scipy.signal.sosfilt(sos, _upsample(x[c], up))
        y *= y
        block_energy += weights[c] * y[: n_blk * blk].reshape(n_blk, blk).sum(axis=1)
    seg_energy = block_energy[: n_seg * per_seg].reshape(n_seg, per_seg).sum(axis=1)
    seg_cum = np.concatenate([[0.0], np.cumsum(seg_energy)])

    def series(segments: int) -> tuple[np.ndarray, np.ndarray]:
        if n_seg < segments:
            return np.zeros(0), np.zeros(0)
        power = np.maximum(seg_cum[segments:] - seg_cum[:-segments], 0.0) / (segments * hop_k)
        times = np.arange(segments, n_seg + 1) * hop / fs
        return times, power

    m_times, m_power = series(MOMENTARY_SEGMENTS)
    s_times, s_power = series(SHORT_TERM_SEGMENTS)
    m_lufs, s_lufs = _lufs(m_power), _lufs(s_power)

    blk_cum = np.concatenate([[0.0], np.cumsum(block_energy)])

    def fine_max(segments: int) -> float:
        width = segments * per_seg
        if n_blk < width:
            return -math.inf
        return float(_lufs(np.max(blk_cum[width:] - blk_cum[:-width]) / (segments * hop_k)))

    # Integrated loudness: BS.1770-4 gating of the momentary (400 ms, 75 % overlap) blocks.
    integrated, relative_gate = _gated_mean(m_power, absolute_gate_lufs, relative_gate_lu)
    lra, lra_low, lra_high, lra_gate = _loudness_range(
        s_lufs, absolute_gate_lufs, lra_relative_gate_lu, lra_low_percentile, lra_high_percentile
    )

    factor = true_peak_oversampling or oversampling_factor(fs)
    peaks = scan_peaks(
        x, fs, oversampling=factor, hop_length=hop, window_segments=SHORT_TERM_SEGMENTS
    )
    true_peak = _db(peaks.channel_true_peak.max(initial=0.0))
    with np.errstate(invalid="ignore"):
        psr_values = _amp_db(peaks.window_true_peak) - s_lufs
    psr_values[~(s_lufs > absolute_gate_lufs)] = np.nan
    defined = psr_values[np.isfinite(psr_values)]

    return LoudnessResult(
        integrated_lufs=integrated,
        momentary=TimeSeries(m_times, m_lufs, "LUFS"),
        short_term=TimeSeries(s_times, s_lufs, "LUFS"),
        momentary_max_lufs=fine_max(MOMENTARY_SEGMENTS),
        short_term_max_lufs=fine_max(SHORT_TERM_SEGMENTS),
        loudness_range_lu=lra,
        lra_low_lufs=lra_low,
        lra_high_lufs=lra_high,
        sample_peak_dbfs=_db(peaks.channel_sample_peak.max(initial=0.0)),
        channel_sample_peak_dbfs=tuple(_db(v) for v in peaks.channel_sample_peak),
        true_peak_dbtp=true_peak,
        channel_true_peak_dbtp=tuple(_db(v) for v in peaks.channel_true_peak),
        plr_db=true_peak - integrated if math.isfinite(integrated) else math.nan,
        psr=TimeSeries(s_times, psr_values, "dB"),
        psr_min_db=float(defined.min()) if defined.size else math.nan,
        psr_median_db=float(np.median(defined)) if defined.size else math.nan,
        absolute_gate_lufs=absolute_gate_lufs,
        relative_gate_lufs=relative_gate,
        lra_relative_gate_lufs=lra_gate,
        channel_weights=weights,
        oversampling_factor=factor,
        sample_rate=fs,
        duration_s=audio.duration_s,
    )


def integrated_loudness(audio: Audio, **kwargs) -> float:
    """Only the integrated loudness (LUFS) of :func:`loudness`."""
    return loudness(audio, **kwargs).integrated_lufs


def _upsample(channel: np.ndarray, factor: int) -> np.ndarray:
    """``channel`` as float64, upsampled by ``factor`` with the true-peak interpolator."""
    x = channel.astype(np.float64)
    if factor == 1:
        return x
    taps, _ = phase_taps(factor)
    half = taps.shape[0] // 2
    out = np.empty(x.shape[0] * factor)
    out[::factor] = x  # phase 0 passes the samples through
    for p in range(1, factor):
        full = np.convolve(x, taps[::-1, p - 1])
        out[p::factor] = full[half : half + x.shape[0]]
    return out


def _weights(channels: int, given: tuple[float, ...] | None) -> tuple[float, ...]:
    if given is None:
        return channel_weights(channels)
    weights = tuple(float(w) for w in given)
    if len(weights) != channels or any(not math.isfinite(w) or w < 0 for w in weights):
        raise AnalysisError(
            f"channel_weights needs {channels} finite, non-negative weights; got {given!r}."
        )
    return weights


def _lufs(power: np.ndarray | float) -> np.ndarray:
    """Mean square (channel-weighted, K-filtered) to LUFS; 0 gives -inf."""
    return power_to_db(power, floor_db=-np.inf) + LOUDNESS_OFFSET_DB


def gated_loudness_lufs(
    block_power: np.ndarray, *, absolute_gate_lufs: float = -70.0, relative_gate_lu: float = -10.0
) -> float:
    """BS.1770-4 integrated loudness (section 2.8) from the channel-weighted, K-weighted
    mean squares of the 400 ms gating blocks: absolute then relative gate; -inf if none pass."""
    power = np.asarray(block_power, dtype=np.float64)
    return _gated_mean(power, absolute_gate_lufs, relative_gate_lu)[0]


def gated_blocks(
    block_power: np.ndarray, *, absolute_gate_lufs: float = -70.0, relative_gate_lu: float = -10.0
) -> np.ndarray:
    """Which 400 ms gating blocks pass BS.1770-4's absolute and relative gates (section
    2.8), as a boolean mask: where a sound counts as playing."""
    power = np.asarray(block_power, dtype=np.float64)
    return _gate(power, absolute_gate_lufs, relative_gate_lu)[0]


def _gate(
    power: np.ndarray, absolute_gate_lufs: float, relative_gate_lu: float
) -> tuple[np.ndarray, float]:
    """BS.1770-4 two-stage gating: (the blocks that pass, the relative threshold in LUFS)."""
    level = _lufs(power)
    above = level > absolute_gate_lufs
    if not above.any():
        return above, -math.inf
    relative = float(_lufs(power[above].mean())) + relative_gate_lu
    return above & (level > relative), relative


def _gated_mean(
    power: np.ndarray, absolute_gate_lufs: float, relative_gate_lu: float
) -> tuple[float, float]:
    """BS.1770-4 two-stage gating: (gated loudness, relative threshold), both in LUFS."""
    passed, relative = _gate(power, absolute_gate_lufs, relative_gate_lu)
    if not passed.any():
        return -math.inf, relative
    return float(_lufs(power[passed].mean())), relative


def _loudness_range(
    short_term_lufs: np.ndarray,
    absolute_gate_lufs: float,
    relative_gate_lu: float,
    low_percentile: float,
    high_percentile: float,
) -> tuple[float, float, float, float]:
    """EBU Tech 3342: (LRA, low, high, relative gate) from short-term loudness values."""
    # Tech 3342 gates with ">=" (its reference code); BS.1770-4 integrated gating uses ">".
    above = short_term_lufs[short_term_lufs >= absolute_gate_lufs]
    if above.size == 0:
        return 0.0, -math.inf, -math.inf, -math.inf
    relative = float(10.0 * np.log10(np.mean(np.power(10.0, above / 10.0)))) + relative_gate_lu
    gated = np.sort(above[above >= relative])
    if gated.size == 0:
        return 0.0, -math.inf, -math.inf, relative
    last = gated.size - 1
    low = float(gated[math.floor(last * low_percentile / 100.0 + 0.5)])
    high = float(gated[math.floor(last * high_percentile / 100.0 + 0.5)])
    return high - low, low, high, relative


def _amp_db(values: np.ndarray) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 20.0 * np.log10(a)


def _db(value: float) -> float:
    return float(_amp_db(np.float64(value)))
