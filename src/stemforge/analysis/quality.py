"""Technical quality: clipping, inter-sample overs, DC offset, noise floor, silence.

Definitions (levels in dB re full-scale amplitude 1; RMS levels are mean-square
levels, so a full-scale sine reads -3.01 dB RMS):

- **Clipped run**: at least ``min_clip_run`` (3) consecutive samples of one
  channel at that channel's positive or negative extreme (within
  ``clip_tolerance``), where the extreme is at least ``min_clip_level_db``
  (-6 dBFS): the flat top a clipper leaves, at whatever level the signal was
  clipped to. (Audacity's "Find Clipping" counts runs of 3 the same way.)
- **Inter-sample over**: the signal interpolated 4x with the true-peak
  interpolator of :mod:`stemforge.analysis.truepeak` (BS.1770-4 Annex 2
  style) exceeds 0 dBFS between two samples that do not. Only intervals next to
  a sample above ``isp_candidate_db`` (-3 dBFS) are interpolated, which finds
  every over whose peak stands at most 3 dB above its neighbouring samples (the
  fs/4 sine at 45 degrees, a worst case of real material, stands 3.01 dB
  above). Overs closer than 10 ms are one event.
- **DC offset**: the channel mean, linear and 20 log10 |mean| in dB.
- **Noise floor**: the 10th percentile of the RMS levels of 50 ms frames (channels
  averaged; ``noise_frame_s`` is rounded to whole 10 ms frames), leaving out
  frames of digital silence.
- **Leading/trailing silence**: time before the first and after the last 10 ms
  frame whose RMS (loudest channel) reaches ``silence_db`` (-60 dBFS), refined to
  the first/last sample above that level.
- **Digital silence**: 10 ms frames in which every sample of every channel is below
  2^-23 (under one 24-bit step); ``digital_silence_fraction`` is their share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemforge.analysis.common import amplitude_to_db, power_to_db, runs_of_true
from stemforge.analysis.truepeak import phase_taps
from stemforge.audio.signal import Audio
from stemforge.errors import AnalysisError
from stemforge.results import Result

#: Oversampling of the inter-sample check (the true-peak interpolator of ``truepeak``).
OVERSAMPLING = 4
DIGITAL_SILENCE = 2.0**-23
#: Lists of positions stop here (the counts do not).
MAX_LISTED = 1000


@dataclass(frozen=True)
class ChannelQuality(Result):
    """Per-channel findings; times are the starts of runs or events, at most 1000 listed."""

    channel: int
    peak_dbfs: float
    clipped_runs: int
    clipped_samples: int
    longest_clip_run_samples: int
    clip_times_s: np.ndarray
    inter_sample_overs: int
    inter_sample_over_times_s: np.ndarray
    max_inter_sample_peak_dbfs: float
    samples_over_full_scale: int
    dc_offset: float
    dc_offset_db: float


@dataclass(frozen=True)
class QualityResult(Result):
    """Technical problems of a signal (see the module docstring for the definitions).

    The top-level counts add up the channels. ``max_inter_sample_peak_dbfs`` is the
    highest interpolated peak found in the checked intervals (``-inf``/null when no
    sample reached the candidate level). ``noise_floor_dbfs`` is NaN (null) for a
    signal that is all digital silence.
    """

    channels: tuple[ChannelQuality, ...]
    clipped_runs: int
    clipped_samples: int
    longest_clip_run_samples: int
    inter_sample_overs: int
    samples_over_full_scale: int
    max_dc_offset_db: float
    noise_floor_dbfs: float
    leading_silence_s: float
    trailing_silence_s: float
    digital_silence_fraction: float


def quality(
    audio: Audio,
    *,
    min_clip_run: int = 3,
    clip_tolerance: float = 1e-6,
    min_clip_level_db: float = -6.0,
    isp_candidate_db: float = -3.0,
    noise_frame_s: float = 0.05,
    noise_percentile: float = 10.0,
    silence_db: float = -60.0,
) -> QualityResult:
    """Check ``audio`` for clipping, inter-sample overs, DC offset, noise and silence."""
    audio.require_finite()
    if audio.frames < 1:
        raise AnalysisError("the quality check needs at least one sample.")
    if min_clip_run < 2:
        raise AnalysisError(f"min_clip_run must be at least 2, got {min_clip_run}.")
    sr = audio.sample_rate
    x = audio.samples
    channels = []
    for c in range(audio.channels):
        channels.append(
            _channel(
                x[c],
                c,
                sr,
                min_run=min_clip_run,
                tolerance=clip_tolerance,
                min_level=10 ** (min_clip_level_db / 20),
                candidate=10 ** (isp_candidate_db / 20),
            )
        )
    frame = max(1, round(0.010 * sr))
    power, peak = _frame_stats(x, frame)
    leading, trailing, silence_fraction = _silences(x, sr, frame, power, peak, silence_db)
    return QualityResult(
        channels=tuple(channels),
        clipped_runs=sum(c.clipped_runs for c in channels),
        clipped_samples=sum(c.clipped_samples for c in channels),
        longest_clip_run_samples=max(c.longest_clip_run_samples for c in channels),
        inter_sample_overs=sum(c.inter_sample_overs for c in channels),
        samples_over_full_scale=sum(c.samples_over_full_scale for c in channels),
        max_dc_offset_db=max(c.dc_offset_db for c in channels),
        noise_floor_dbfs=_noise_floor(
            power, peak, max(1, round(noise_frame_s / 0.010)), noise_percentile
        ),
        leading_silence_s=leading,
        trailing_silence_s=trailing,
        digital_silence_fraction=silence_fraction,
    )


def _channel(
    x: np.ndarray,
    index: int,
    sr: int,
    *,
    min_run: int,
    tolerance: float,
    min_level: float,
    candidate: float,
) -> ChannelQuality:
    top, bottom = float(x.max()), float(x.min())
    peak = max(top, -bottom)
    dc = float(x.mean(dtype=np.float64))

    # Clipping: runs at the positive or the negative extreme.
    runs = []
    for extreme in (top, bottom):
        if abs(extreme) < min_level:
            continue
        at = np.flatnonzero(x >= extreme - tolerance if extreme > 0 else x <= extreme + tolerance)
        if at.size < min_run:
            continue
        mask = np.zeros(at[-1] - at[0] + 1, bool)
        mask[at - at[0]] = True
        r = runs_of_true(mask) + at[0]
        runs.append(r[(r[:, 1] - r[:, 0]) >= min_run])
    clip_runs = np.concatenate(runs) if runs else np.zeros((0, 2), np.int64)
    clip_runs = clip_runs[np.argsort(clip_runs[:, 0])] if len(clip_runs) else clip_runs
    lengths = clip_runs[:, 1] - clip_runs[:, 0]

    overs, over_times, isp_peak = _inter_sample_overs(x, sr, candidate)
    return ChannelQuality(
        channel=index,
        peak_dbfs=float(amplitude_to_db(peak)),
        clipped_runs=len(clip_runs),
        clipped_samples=int(lengths.sum()),
        longest_clip_run_samples=int(lengths.max(initial=0)),
        clip_times_s=clip_runs[:MAX_LISTED, 0] / sr,
        inter_sample_overs=overs,
        inter_sample_over_times_s=over_times,
        max_inter_sample_peak_dbfs=isp_peak,
        samples_over_full_scale=int(np.count_nonzero(np.abs(x) > 1.0)) if peak > 1.0 else 0,
        dc_offset=dc,
        dc_offset_db=float(amplitude_to_db(dc)),
    )


def _inter_sample_overs(x: np.ndarray, sr: int, candidate: float) -> tuple[int, np.ndarray, float]:
    """Count over events between samples next to a sample of at least ``candidate``."""
    taps = phase_taps(OVERSAMPLING)[0].astype(np.float32)
    n_taps = taps.shape[0]  # row k weights the sample k - half positions away
    half = n_taps // 2
    big = np.abs(x) >= candidate
    # Interval j lies between samples j and j + 1.
    intervals = np.flatnonzero(big[:-1] | big[1:])
    if intervals.size == 0:
        return 0, np.zeros(0), float("-inf")
    padded = np.concatenate([np.zeros(half, np.float32), x, np.zeros(half, np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, n_taps)
    over_intervals = []
    top = 0.0
    for start in range(0, intervals.size, 1 << 16):
        j = intervals[start : start + (1 << 16)]
        # Window row j holds x[j - half .. j + half]; the product gives x at j + p / L.
        values = np.abs(windows[j] @ taps).max(axis=1)
        top = max(top, float(values.max()))
        ends = np.maximum(np.abs(x[j]), np.abs(x[j + 1]))
        over_intervals.append(j[(values > 1.0) & (ends <= 1.0)])
    hits = np.concatenate(over_intervals)
    top_db = float(amplitude_to_db(max(top, float(np.abs(x[intervals]).max()))))
    if hits.size == 0:
        return 0, np.zeros(0), top_db
    gap = max(1, round(0.010 * sr))
    starts = hits[np.concatenate([[True], np.diff(hits) > gap])]
    return len(starts), starts[:MAX_LISTED] / sr, top_db


def _frame_stats(x: np.ndarray, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean square per channel and frame, shaped (channels, frames), and the largest
    magnitude of each frame over the channels; the last frame may be shorter."""
    channels, total = x.shape
    n_full = total // frame
    body = x[:, : n_full * frame].reshape(channels, n_full, frame)
    power = np.einsum("cij,cij->ci", body, body).astype(np.float64) / frame
    peak = np.maximum(body.max(axis=2, initial=0.0), -body.min(axis=2, initial=0.0)).max(axis=0)
    if total > n_full * frame:
        tail = x[:, n_full * frame :].astype(np.float64)
        power = np.concatenate([power, (tail**2).mean(axis=1, keepdims=True)], axis=1)
        peak = np.append(peak, np.abs(tail).max())
    return power, peak


def _noise_floor(power: np.ndarray, peak: np.ndarray, frames_per: int, percentile: float):
    """The ``percentile`` of the levels of frames of ``frames_per`` 10 ms frames, channels
    averaged, leaving out frames of digital silence."""
    n = max(1, len(peak) // frames_per)
    per = min(frames_per, len(peak))
    level = power[:, : n * per].mean(axis=0).reshape(n, per).mean(axis=1)
    silent = peak[: n * per].reshape(n, per).max(axis=1) < DIGITAL_SILENCE
    if silent.all():
        return float("nan")
    return float(np.percentile(power_to_db(level[~silent]), percentile))


def _silences(
    x: np.ndarray, sr: int, frame: int, power: np.ndarray, peak: np.ndarray, silence_db: float
) -> tuple[float, float, float]:
    """Leading and trailing silence (s) and the digital-silence fraction of 10 ms frames."""
    total = x.shape[1]
    level = power_to_db(power.max(axis=0))
    digital = float(np.mean(peak < DIGITAL_SILENCE))
    threshold = 10 ** (silence_db / 20)
    loud = np.flatnonzero(level >= silence_db)
    if loud.size == 0:
        duration = total / sr
        return duration, duration, digital
    first, last = loud[0] * frame, loud[-1] * frame
    head = np.abs(x[:, first : first + frame]).max(axis=0)
    tail = np.abs(x[:, last : last + frame]).max(axis=0)
    first_sample = first + int(np.argmax(head >= threshold))
    last_sample = last + int(len(tail) - 1 - np.argmax(tail[::-1] >= threshold))
    return first_sample / sr, (total - 1 - last_sample) / sr, digital
