"""Dynamics: crest factor, the TT Dynamic Range (DR) score and an over-compression check.

* Crest factor: sample peak over RMS, in dB (a sine reads 3.01 dB, a square wave 0 dB),
  over the whole signal and over short windows (3 s every 1 s by default), whose
  distribution (10th, 50th, 90th percentiles) shows whether peaks were flattened
  throughout or only in places.
* DR score, as the TT Dynamic Range meter of the Pleasurize Music Foundation defines
  it: per channel, 3 s blocks; block RMS is ``sqrt(2 * mean square)`` (so a full-scale
  sine reads 0 dB); ``rms_top20`` is the RMS of the loudest 20 % of blocks (at least
  one); ``peak2`` is the second-highest block peak (the highest when there is a single
  block); ``DR = 20 log10(peak2 / rms_top20)``. The track score is the mean over
  channels rounded to an integer. A trailing block shorter than 3 s counts as a block.
  The score is meant for whole tracks: on an excerpt of a few blocks the second-highest
  peak may come from a quiet block, and a square-like (clipped) block reads below 0.
* Over-compression: see :func:`dynamics` for the score, the flag and their reasoning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemforge.analysis.common import TimeSeries, frame_view
from stemforge.analysis.loudness import LoudnessResult, loudness
from stemforge.audio.signal import Audio
from stemforge.results import Result

#: Flag thresholds of the over-compression check (reasoning in :func:`dynamics`).
HEAVY_LIMITING_PLR_DB = 8.0
FLAT_CREST_P50_DB = 10.0


@dataclass(frozen=True)
class DynamicsResult(Result):
    """Crest factors, DR score and the over-compression verdict (see :func:`dynamics`)."""

    peak_dbfs: float
    rms_dbfs: float
    crest_factor_db: float
    channel_crest_factor_db: tuple[float, ...]
    short_term_crest: TimeSeries
    crest_p10_db: float
    crest_p50_db: float
    crest_p90_db: float
    crest_spread_db: float
    dr_score: int | None
    channel_dr_db: tuple[float, ...]
    plr_db: float
    loudness_range_lu: float
    over_compression_score: float
    over_compressed: bool
    over_compression_reasons: tuple[str, ...]


def dynamics(
    audio: Audio,
    *,
    crest_window_s: float = 3.0,
    crest_hop_s: float = 1.0,
    silence_gate_dbfs: float = -70.0,
    dr_block_s: float = 3.0,
    dr_top_fraction: float = 0.2,
    loudness_result: LoudnessResult | None = None,
) -> DynamicsResult:
    """Crest factor, DR score and an over-compression indicator.

    Crest factors: ``20 log10(peak / rms)`` with the sample peak over all channels and
    the RMS over all samples of all channels (``rms_dbfs`` is that RMS: a full-scale
    sine reads -3.01 dBFS). Short-term values come from ``crest_window_s`` windows every
    ``crest_hop_s``, stamped with the window's end; windows whose RMS is below
    ``silence_gate_dbfs`` are NaN and left out of the percentiles.

    Over-compression (peak limiting and clipping), from PLR, the short-term crest
    distribution and LRA (``loudness_result`` is reused when given, else measured):

    * ``over_compressed`` is true when PLR < 8 dB and the median short-term crest
      factor is under 10 dB. Reasoning: a sine in both channels has PLR 0 dB and a
      square wave -3 dB, signals with no peaks above their body; unprocessed acoustic
      music has PLR in the mid-teens or more (16 to 18 dB for the orchestral and jazz
      recordings of the test data). With streaming normalisation to -14 LUFS and a
      -1 dBTP ceiling, PLR 13 dB is the most a master can use without being turned
      down, so PLR below 8 dB means at least 5 dB of peaks were removed beyond anything
      playback rewards. Gaussian noise reaches a crest factor of about 13 dB in a 3 s
      window at 44.1 kHz (its largest of 132,300 samples is about 4.5 sigma) and
      unprocessed music is spikier than noise, so a median below 10 dB says the peaks
      were held down throughout the track, not only on a few hits (which PLR alone
      cannot tell).
    * ``over_compression_score`` in [0, 1] grades the same evidence:
      ``0.5 * clip((14 - PLR) / 8) + 0.3 * clip((12 - crest_p50) / 6) +
      0.2 * clip((8 - LRA) / 5)``; each term is 0 for typical dynamic material
      (PLR >= 14 dB, median short-term crest >= 12 dB, LRA >= 8 LU) and 1 for a
      brick-walled one (PLR <= 6 dB, crest <= 6 dB, LRA <= 3 LU). PLR weighs most as
      the direct measure of peak reduction; LRA the least, since a steady arrangement
      has a small LRA without any compression.
    * ``over_compression_reasons`` lists the measured figures behind the verdict.
    """
    audio.require_finite()
    x = audio.samples
    fs = audio.sample_rate
    n_ch, n = x.shape

    mags = np.abs(x)
    channel_peak = mags.max(axis=1, initial=0.0).astype(np.float64)
    pooled_sq = np.zeros(n)
    channel_ms = np.zeros(n_ch)
    for c in range(n_ch):
        sq = x[c].astype(np.float64)
        sq *= sq
        channel_ms[c] = sq.mean() if n else 0.0
        pooled_sq += sq
    pooled_sq /= n_ch
    peak = float(channel_peak.max())
    mean_square = float(channel_ms.mean())
    channel_crest = tuple(_crest_db(channel_peak[c], channel_ms[c]) for c in range(n_ch))

    # Short-term crest factor over sliding windows (all channels pooled).
    win = max(1, round(crest_window_s * fs))
    hop = max(1, round(crest_hop_s * fs))
    cum = np.concatenate([[0.0], np.cumsum(pooled_sq)])
    n_win = 0 if n < win else 1 + (n - win) // hop
    starts = np.arange(n_win) * hop
    win_ms = (cum[starts + win] - cum[starts]) / win
    win_peak = frame_view(mags.max(axis=0), win, hop).max(axis=-1) if n_win else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        crest_series = 20.0 * np.log10(win_peak) - 10.0 * np.log10(win_ms)
    gate = 10.0 ** (silence_gate_dbfs / 10.0)
    crest_series[~(win_ms > gate)] = np.nan
    defined = crest_series[np.isfinite(crest_series)]
    if defined.size:
        p10, p50, p90 = (float(v) for v in np.percentile(defined, [10, 50, 90]))
    else:
        p10 = p50 = p90 = math.nan

    channel_dr = tuple(_dr_db(x[c], round(dr_block_s * fs), dr_top_fraction) for c in range(n_ch))
    finite_dr = [d for d in channel_dr if math.isfinite(d)]
    dr_score = math.floor(sum(finite_dr) / len(finite_dr) + 0.5) if finite_dr else None

    lr = loudness_result if loudness_result is not None else loudness(audio)
    plr, lra = lr.plr_db, lr.loudness_range_lu
    spread = p90 - p10
    score, flag, reasons = _over_compression(plr, p50, spread, lra)

    return DynamicsResult(
        peak_dbfs=_amp_db(peak),
        rms_dbfs=_pow_db(mean_square),
        crest_factor_db=_crest_db(peak, mean_square),
        channel_crest_factor_db=channel_crest,
        short_term_crest=TimeSeries((starts + win) / fs, crest_series, "dB"),
        crest_p10_db=p10,
        crest_p50_db=p50,
        crest_p90_db=p90,
        crest_spread_db=spread,
        dr_score=dr_score,
        channel_dr_db=channel_dr,
        plr_db=plr,
        loudness_range_lu=lra,
        over_compression_score=score,
        over_compressed=flag,
        over_compression_reasons=reasons,
    )


#: Full DR blocks needed for a score (below this the TT meter's second-highest peak is
#: not defined by real music).
MIN_DR_FULL_BLOCKS = 2


def dr_score_db(samples: np.ndarray, sample_rate: int, *, block_s: float = 3.0) -> float:
    """Unrounded DR (dB) of one channel's samples (1-D), per the module docstring."""
    return _dr_db(np.asarray(samples, dtype=np.float32), round(block_s * sample_rate), 0.2)


def _dr_db(channel: np.ndarray, block: int, top_fraction: float) -> float:
    n = channel.shape[0]
    if n < MIN_DR_FULL_BLOCKS * block:
        # The second-highest block peak needs two real blocks; with one full block and a
        # short remainder the "second peak" would come from the remainder (often a fade or
        # silence) and the score could go negative. Too short to rate: no score.
        return math.nan
    n_blocks = -(-n // block)
    rms = np.empty(n_blocks)
    peaks = np.empty(n_blocks)
    for i in range(n_blocks):
        part = channel[i * block : (i + 1) * block].astype(np.float64)
        rms[i] = math.sqrt(2.0 * float(np.mean(part * part)))
        peaks[i] = float(np.max(np.abs(part)))
    top = max(1, math.floor(top_fraction * n_blocks + 0.5))
    loudest = np.sort(rms)[-top:]
    rms_top = math.sqrt(float(np.mean(loudest**2)))
    peak2 = float(np.sort(peaks)[-2]) if n_blocks > 1 else float(peaks[0])
    if rms_top == 0.0 or peak2 == 0.0:
        return math.nan
    return 20.0 * math.log10(peak2 / rms_top)


def _over_compression(
    plr_db: float, crest_p50_db: float, crest_spread_db: float, lra_lu: float
) -> tuple[float, bool, tuple[str, ...]]:
    def term(value: float, zero_at: float, one_at: float) -> float:
        if not math.isfinite(value):
            return 0.0
        return min(1.0, max(0.0, (zero_at - value) / (zero_at - one_at)))

    score = (
        0.5 * term(plr_db, 14.0, 6.0)
        + 0.3 * term(crest_p50_db, 12.0, 6.0)
        + 0.2 * term(lra_lu, 8.0, 3.0)
    )
    flag = bool(plr_db < HEAVY_LIMITING_PLR_DB and crest_p50_db < FLAT_CREST_P50_DB)
    reasons: list[str] = []
    if math.isfinite(plr_db):
        verdict = "<" if plr_db < HEAVY_LIMITING_PLR_DB else ">="
        reasons.append(f"PLR {plr_db:.1f} dB {verdict} {HEAVY_LIMITING_PLR_DB:g} dB")
    if math.isfinite(crest_p50_db):
        verdict = "<" if crest_p50_db < FLAT_CREST_P50_DB else ">="
        reasons.append(
            f"median short-term crest {crest_p50_db:.1f} dB {verdict} {FLAT_CREST_P50_DB:g} dB"
            f" (10th-90th percentile spread {crest_spread_db:.1f} dB)"
        )
    reasons.append(f"LRA {lra_lu:.1f} LU")
    return round(score, 3), flag, tuple(reasons)


def _crest_db(peak: float, mean_square: float) -> float:
    if peak == 0.0 or mean_square == 0.0:
        return math.nan
    return 20.0 * math.log10(peak) - 10.0 * math.log10(mean_square)


def _amp_db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def _pow_db(value: float) -> float:
    return 10.0 * math.log10(value) if value > 0 else -math.inf
