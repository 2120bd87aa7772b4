"""Beat tracking for :func:`stemforge.analysis.rhythm.rhythm`: the frame grid, Ellis's
dynamic-programming tracker and small helpers on pulse positions.

Positions are in frames of the rhythm front end (hop 256 at 22.05 kHz, 86.1 frames a
second), as floats where they fall between frames.
"""

from __future__ import annotations

import math

import numpy as np

ANALYSIS_RATE_HZ = 22050
N_FFT = 1024
HOP_LENGTH = 256
FRAME_RATE_HZ = ANALYSIS_RATE_HZ / HOP_LENGTH
#: The log-mel flux of centred 46 ms frames peaks about 5 ms before an attack
#: (measured on the demo songs' drums); beat times are moved this much later.
ONSET_LATENCY_S = 0.005


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred running mean over ``width`` (odd) values, the ends held."""
    if len(x) == 0:
        return np.zeros(0)
    half = width // 2
    padded = np.concatenate([np.full(half, x[0]), x, np.full(half, x[-1])])
    cum = np.concatenate([[0.0], np.cumsum(padded, dtype=np.float64)])
    return (cum[width:] - cum[:-width])[: len(x)] / width


def running_median(x: np.ndarray, half: int) -> np.ndarray:
    """Median of ``x[i - half : i + half + 1]`` (truncated at the ends) for every i."""
    n = len(x)
    if n == 0:
        return np.zeros(0)
    width = min(2 * half + 1, n)
    if width == n:
        return np.full(n, np.median(x))
    out = np.median(np.lib.stride_tricks.sliding_window_view(x, width), axis=1)
    lead = np.array([np.median(x[: i + half + 1]) for i in range(min(half, n))])
    tail = np.array([np.median(x[i - half :]) for i in range(n - width + half + 1, n)])
    return np.concatenate([lead, out, tail])[:n]


def peak_near(x: np.ndarray, frames: np.ndarray, before: int, after: int) -> np.ndarray:
    """The largest value of ``x`` from ``before`` frames before to ``after`` frames after
    each (rounded) position."""
    n = len(x)
    idx = np.clip(np.round(frames).astype(np.int64), 0, n - 1)
    window = np.clip(idx[:, None] + np.arange(-before, after + 1)[None, :], 0, n - 1)
    return x[window].max(axis=1)


def subdivide(beats: np.ndarray, parts: int) -> np.ndarray:
    """The beats with ``parts - 1`` evenly spaced pulses inserted in each interval."""
    beats = np.asarray(beats, np.float64)
    if len(beats) < 2 or parts == 1:
        return beats
    steps = np.arange(parts) / parts
    grid = beats[:-1, None] + np.diff(beats)[:, None] * steps[None, :]
    return np.concatenate([grid.ravel(), beats[-1:]])


def track_beats(novelty: np.ndarray, period: np.ndarray | float, *, tightness: float) -> np.ndarray:
    """Beat frames by dynamic programming (Ellis, "Beat tracking by dynamic programming",
    JNMR 36(1), 2007).

    The score of frame t is its (smoothed, standardised) novelty plus the best score of
    a predecessor ``tau`` frames back less ``tightness * ln(tau / period(t))^2``, for
    ``tau`` from half to twice the period; the beats are the backtrace from the best
    frame within a period of the last onset. ``period`` is in frames, one value or one
    per frame (a local tempo). Frames are processed in blocks shorter than the smallest
    gap, so each block's predecessors are already final.
    """
    n = len(novelty)
    if n == 0:
        return np.zeros(0, np.int64)
    sd = novelty.std()
    o = novelty / sd if sd > 0 else novelty
    per = np.broadcast_to(np.asarray(period, np.float64), (n,))
    p_med = float(np.median(per))
    half = max(1, int(p_med))
    g = np.exp(-0.5 * (np.arange(-half, half + 1) * 32.0 / p_med) ** 2)
    local = np.convolve(o, g / g.sum(), mode="same")
    tau_min = max(1, math.floor(0.5 * float(per.min())))
    tau_max = math.ceil(2.0 * float(per.max()))
    taus = np.arange(tau_min, tau_max + 1)
    log_taus = np.log(taus)
    score = np.zeros(n)
    back = np.full(n, -1, np.int64)
    for start in range(0, n, tau_min):
        ts = np.arange(start, min(n, start + tau_min))
        pen = -tightness * (log_taus - math.log(per[start])) ** 2
        idx = ts[:, None] - taus[None, :]
        vals = np.where(idx >= 0, score[np.maximum(idx, 0)] + pen[None, :], -np.inf)
        j = np.argmax(vals, axis=1)
        rows = np.arange(len(ts))
        best = vals[rows, j]
        use = best > 0
        score[ts] = local[ts] + np.where(use, best, 0.0)
        back[ts] = np.where(use, idx[rows, j], -1)
    peak = novelty.max()
    active = np.flatnonzero(novelty > 0.1 * peak) if peak > 0 else np.array([n - 1])
    last = int(active[-1])
    lo = max(0, last - round(per[last]))
    t = lo + int(np.argmax(score[lo : last + 1]))
    beats = []
    while t >= 0:
        beats.append(t)
        t = int(back[t])
    beats = np.asarray(beats[::-1], np.int64)
    return beats[beats >= active[0] - 0.5 * per[beats]]


def refine_beats(novelty: np.ndarray, frames: np.ndarray, radius: int = 2) -> np.ndarray:
    """Move each beat to the highest novelty within ``radius`` frames, to a fraction of
    a frame by a parabola through the peak and its neighbours."""
    n = len(novelty)
    frames = np.asarray(frames, np.int64)
    if len(frames) == 0:
        return frames.astype(np.float64)
    window = np.clip(frames[:, None] + np.arange(-radius, radius + 1)[None, :], 0, n - 1)
    k = window[np.arange(len(frames)), np.argmax(novelty[window], axis=1)]
    a = novelty[np.maximum(k - 1, 0)]
    b = novelty[k]
    c = novelty[np.minimum(k + 1, n - 1)]
    denom = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(denom < 0, 0.5 * (a - c) / denom, 0.0)
    frac = np.where((k > 0) & (k < n - 1), np.clip(frac, -0.5, 0.5), 0.0)
    return np.where(b > 0, k + frac, frames).astype(np.float64)


def local_period(beats: np.ndarray, n_frames: int, *, span: int = 8) -> np.ndarray:
    """A per-frame beat period: the running median of ``span`` beat intervals at each
    interval's centre (kept within 0.7-1.4 times their overall median), interpolated,
    and held before the first and after the last."""
    beats = np.asarray(beats, np.float64)
    ibi = np.diff(beats)
    if len(ibi) == 0:
        return np.zeros(n_frames)
    med = running_median(ibi, span // 2)
    overall = float(np.median(ibi))
    med = np.clip(med, 0.7 * overall, 1.4 * overall)  # a gap or a fill is no tempo change
    centres = (beats[:-1] + beats[1:]) / 2.0
    return np.interp(np.arange(n_frames), centres, med)
