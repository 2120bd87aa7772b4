"""A true-peak brickwall limiter with look-ahead, and loudness targeting before it.

The output's true peak, as :func:`stemforge.analysis.truepeak.true_peak` measures it
(ITU-R BS.1770-4 Annex 2: the signal oversampled by :func:`oversampling_factor`, 4 at
44.1 and 48 kHz, with the meter's own interpolation filter), never exceeds
``ceiling_dbtp``.

Gain computation (offline, so the look-ahead costs no latency):

1. ``p[n]``: the largest magnitude of the oversampled signal in ``[n, n + 1)`` over
   all channels (the meter's interpolation filter, in float32 like the meter, computed
   only in blocks whose bound ``S max|x|`` can reach the ceiling); the needed gain is
   ``g[n] = min(1, ceiling / p[n])``.
2. Hold: ``h[n] = min g[n - 16 .. n + W + 15]`` (``W`` = look-ahead in samples, 16 the
   half-length of the interpolation filter), so the gain is down before a peak and
   over the filter's reach around it.
3. Attack: ``s[n]`` = the mean of ``h`` over ``n - W + 1 .. n``, a linear fade over the
   look-ahead; ``s <= g`` wherever ``g`` came from (every ``h`` averaged covers the peak).
4. Release: ``r[n] = min(s[n], a r[n-1] + (1 - a) s[n])``, ``a = exp(-1 / (release fs))``,
   a one-pole recovery that never rises above ``s``.
5. The output ``r[n] x[n]`` is measured again; since a time-varying gain moves the
   inter-sample peaks slightly, samples still over lower their ``g`` (by 0.01 dB more
   than needed) and the blocks whose gain moved are measured again (usually one more
   pass). The ceiling is aimed at 0.002 dB below the limit, and the BS.1770-4 meter
   checks the float32 result (a last uniform scale would follow if it read over).

Steps 2 to 4 run in one numba pass (a sliding minimum, a running mean, the release).

With ``target_lufs``, the gain before the limiter is found by a secant search on an
estimate of the limited loudness (the input's K-weighted power, BS.1770-4, scaled by
the gain curve squared and gated, since the gain moves slowly), then the limited
output is measured with :func:`stemforge.analysis.loudness.loudness` and the gain
corrected until it reads within 0.1 LU (usually no correction is needed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.fft

from stemforge.analysis.loudness import (
    channel_weights,
    gated_loudness_lufs,
    k_weighting_sos,
    loudness,
)
from stemforge.analysis.truepeak import TAPS_PER_PHASE, oversampling_factor, phase_taps, true_peak
from stemforge.audio.signal import Audio
from stemforge.mixing.dynamics import smoothing_coefficient
from stemforge.mixing.sheet import Limiter
from stemforge.mixing.sosfilt import sosfilt_frames_first
from stemforge.results import Result

try:
    import numba
except ImportError:  # pragma: no cover
    numba = None

__all__ = ["LimiterResult", "interpolated_peaks", "limit", "true_peak_limit"]

#: Aim this far below the ceiling (dB), so float32 rounding and the meter's own float32
#: arithmetic cannot push a sample over it.
CEILING_MARGIN_DB = 0.002
#: Samples per block of the peak scan.
PEAK_BLOCK = _BLOCK = 1024
#: Most passes of the loudness-target search.
_TARGET_PASSES = 6
#: Most re-computations of the gain when inter-sample peaks are still over.
_FIX_PASSES = 12
_HALF = TAPS_PER_PHASE // 2
_FIX_UNDERSHOOT = 10 ** (-0.01 / 20)


def interpolated_peaks(
    samples: np.ndarray,
    sample_rate: int,
    *,
    above: float = 0.0,
    oversampling: int | None = None,
    blocks: np.ndarray | None = None,
) -> np.ndarray:
    """Per sample ``n``, the largest magnitude of the oversampled signal in ``[n, n + 1)``.

    The maximum over the channels of ``|x[n]|`` and of the values interpolated at
    ``n + p / L`` (``p = 1 .. L - 1``) by the BS.1770-4 true-peak meter's filter
    (:func:`stemforge.analysis.truepeak.phase_taps`), zeros assumed outside the signal.
    Blocks of :data:`PEAK_BLOCK` samples that cannot exceed ``above`` (by the bound
    ``S max |x|``), or that ``blocks`` (a boolean per block) leaves out, are left at 0.
    Like the meter, the interpolation runs in float32 (FFT convolution).
    """
    x = np.asarray(samples)
    channels, n = x.shape
    factor = oversampling or oversampling_factor(sample_rate)
    out = np.zeros(n)
    if n == 0:
        return out
    taps, bound = phase_taps(factor)
    n_blocks = -(-n // _BLOCK)
    # Each block's largest magnitude, and that of its first and last 16 samples.
    block_max, heads, tails = np.zeros(n_blocks), np.zeros(n_blocks), np.zeros(n_blocks)
    chunk = 256
    for first in range(0, n_blocks, chunk):
        last = min(first + chunk, n_blocks)
        part = np.abs(x[:, first * _BLOCK : last * _BLOCK])
        if part.shape[1] < (last - first) * _BLOCK:
            part = np.pad(part, ((0, 0), (0, (last - first) * _BLOCK - part.shape[1])))
        part = part.reshape(channels, last - first, _BLOCK).max(axis=0)
        block_max[first:last] = part.max(axis=1)
        heads[first:last] = part[:, :_HALF].max(axis=1)
        tails[first:last] = part[:, -_HALF:].max(axis=1)
    reach = block_max.copy()
    reach[1:] = np.maximum(reach[1:], tails[:-1])
    reach[:-1] = np.maximum(reach[:-1], heads[1:])
    wanted = bound * reach > above
    if blocks is not None:
        wanted &= blocks
    candidates = np.flatnonzero(wanted)
    if candidates.size == 0:
        return out
    frame_len = _BLOCK + 2 * _HALF
    nfft = scipy.fft.next_fast_len(frame_len, real=True)
    kernel = np.zeros((factor - 1, nfft), np.float32)
    kernel[:, : TAPS_PER_PHASE + 1] = taps[::-1].T
    kernel_f = scipy.fft.rfft(kernel, axis=-1)
    x32 = np.asarray(x, dtype=np.float32)
    view = (
        np.lib.stride_tricks.sliding_window_view(x32, frame_len, axis=1)
        if n >= frame_len
        else np.zeros((channels, 0, frame_len), x.dtype)
    )
    batch = 64
    for first in range(0, candidates.size, batch):
        chosen = candidates[first : first + batch]
        starts = chosen * _BLOCK - _HALF
        inner = (starts >= 0) & (starts + frame_len <= n)
        frames = np.empty((channels, len(chosen), frame_len), np.float32)
        frames[:, inner] = view[:, starts[inner]]
        if not inner.all():
            index = starts[~inner, None] + np.arange(frame_len)
            inside = (index >= 0) & (index < n)
            edge = x32[:, np.clip(index, 0, n - 1)]
            frames[:, ~inner] = np.where(inside[None], edge, np.float32(0))
        spectrum = scipy.fft.rfft(frames, n=nfft, axis=-1)
        y = scipy.fft.irfft(spectrum[:, :, None, :] * kernel_f[None, None], n=nfft, axis=-1)
        y = np.abs(y[..., TAPS_PER_PHASE : TAPS_PER_PHASE + _BLOCK])  # (ch, nb, L - 1, B)
        peak = np.maximum(y.max(axis=(0, 2)), np.abs(frames[:, :, _HALF:-_HALF]).max(axis=0))
        for k, block in enumerate(chosen):
            lo = block * _BLOCK
            hi = min(lo + _BLOCK, n)
            out[lo:hi] = peak[k, : hi - lo]
    return out


def _gain_kernel(needed, lookahead, half, alpha, out):
    """Steps 2 to 4 in one pass: ``out`` = release(mean_W(min over the hold window))."""
    n = needed.shape[0]
    cap = 1
    while cap < lookahead + 2 * half + 2:
        cap *= 2
    mask = cap - 1
    queue = np.empty(cap, np.int64)  # indices of increasing values below 1: a sliding minimum
    head = 0
    tail = 0
    ring = np.empty(lookahead)
    slot = 0
    total = 0.0
    r = 1.0
    for j in range(-(lookahead - 1 + half), n):
        end = j + lookahead - 1 + half
        if end < n:
            v = needed[end]
            if v < 1.0:  # a unity gain never lowers the minimum: no need to queue it
                while tail > head and needed[queue[(tail - 1) & mask]] >= v:
                    tail -= 1
                queue[tail & mask] = end
                tail += 1
        if j < 0:
            continue  # filling the window ahead of the first sample
        while tail > head and queue[head & mask] < j - half:
            head += 1
        h = needed[queue[head & mask]] if tail > head else 1.0
        # Running mean of the held gain over the last W samples (h[-k] = h[0] before the
        # start), summed afresh every W samples so that rounding cannot drift.
        if j == 0:
            for k in range(lookahead):
                ring[k] = h
            total = h * lookahead
        old = ring[slot]
        ring[slot] = h
        slot += 1
        if slot == lookahead:
            slot = 0
            total = 0.0
            for k in range(lookahead):
                total += ring[k]
        else:
            total += h - old
        s = total / lookahead
        q = alpha * r + (1.0 - alpha) * s
        r = s if s < q else q
        out[j] = r


if numba is not None:
    _gain_kernel = numba.njit(cache=True, nogil=True)(_gain_kernel)


def _gain_curve(needed: np.ndarray, lookahead: int, alpha: float) -> np.ndarray:
    """Steps 2 to 4 of the module docstring: hold, linear attack, one-pole release."""
    gain = np.empty(needed.shape[0])
    _gain_kernel(needed, lookahead, _HALF, alpha, gain)
    return gain


def true_peak_limit(
    samples: np.ndarray,
    sample_rate: int,
    *,
    ceiling_dbtp: float = -1.0,
    release_ms: float = 50.0,
    lookahead_ms: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Limit ``samples`` (channels, frames) so their true peak stays at or below the ceiling.

    Returns the float32 output and the gain applied per frame (linear, <= 1). Where the
    signal never comes near the ceiling the gain is exactly 1 and the samples pass
    through unchanged.
    """
    x = np.ascontiguousarray(samples, dtype=np.float32)
    plan = _Plan(x, sample_rate, ceiling_dbtp, release_ms, lookahead_ms)
    plan.find_peaks(1.0)
    out, gain = plan.limit(1.0)
    return _verified(
        out,
        gain,
        x,
        1.0,
        sample_rate,
        ceiling_dbtp,
        true_peak(Audio(out, sample_rate)).true_peak_dbtp,
    )


class _Plan:
    """What the limiter needs of one input, computed once for any pre-gain ``alpha``.

    ``peaks`` are the input's interpolated peaks (:func:`interpolated_peaks`); the
    oversampled peaks of ``alpha x`` are ``alpha peaks``, so every pre-gain reuses them.
    Blocks that cannot reach the ceiling even at ``max_pre_gain`` are skipped.
    """

    def __init__(self, x, fs, ceiling_dbtp, release_ms, lookahead_ms):
        self.x, self.fs = x, fs
        self.aim = 10.0 ** ((ceiling_dbtp - CEILING_MARGIN_DB) / 20.0)
        self.lookahead = max(1, round(lookahead_ms * fs / 1000.0))
        self.alpha_release = smoothing_coefficient(release_ms, fs)
        self.peaks = np.zeros(0)
        self._k_energy: np.ndarray | None = None
        self._last: tuple[float, np.ndarray] | None = None  # the last (alpha, gain curve)
        self._no_gain = np.zeros(0)

    def find_peaks(self, max_pre_gain: float) -> None:
        """Measure the input's peaks where ``max_pre_gain`` times them can reach the ceiling."""
        self.peaks = interpolated_peaks(self.x, self.fs, above=self.aim / max_pre_gain)

    def _curve(self, alpha: float, needed: np.ndarray) -> np.ndarray:
        if self._last is not None and self._last[0] == alpha:
            return self._last[1]
        gain = _gain_curve(needed, self.lookahead, self.alpha_release)
        self._last = (alpha, gain)
        return gain

    def gain(self, alpha: float) -> np.ndarray | None:
        """The gain curve for pre-gain ``alpha`` before the inter-sample check; ``None``
        when nothing reaches the ceiling."""
        over = self.peaks * alpha > self.aim
        if not over.any():
            return None
        needed = np.ones(self.peaks.shape[0])
        needed[over] = self.aim / (alpha * self.peaks[over])
        return needed

    def limit(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """The limited float32 output of ``alpha x`` and its gain (steps 1 to 5)."""
        needed = self.gain(alpha)
        n = self.x.shape[1]
        if needed is None:
            out = self.x if alpha == 1.0 else (self.x * np.float32(alpha))
            return out, np.ones(n)
        after = previous = None
        n_blocks = -(-n // _BLOCK)
        for fix in range(_FIX_PASSES):
            if fix == 0:
                gain = self._curve(alpha, needed)  # often computed by the loudness search
            else:
                gain = _gain_curve(needed, self.lookahead, self.alpha_release)
            out = self._apply(alpha, gain)
            if after is None:
                after = interpolated_peaks(out, self.fs, above=self.aim)
            else:
                # Only blocks whose gain moved (and their neighbours, which the
                # interpolation filter reaches into) need measuring again.
                moved = np.zeros(n_blocks * _BLOCK, bool)
                moved[:n] = gain != previous
                mask = moved.reshape(n_blocks, _BLOCK).any(axis=1)
                mask[1:] |= mask[:-1].copy()
                mask[:-1] |= mask[1:].copy()
                fresh = interpolated_peaks(out, self.fs, above=self.aim, blocks=mask)
                redo = np.repeat(mask, _BLOCK)[:n]
                after[redo] = fresh[redo]
            previous = gain
            still = after > self.aim
            if not still.any():
                break
            # A little below what is needed (0.01 dB), so that one more pass usually settles.
            needed[still] *= self.aim / after[still] * _FIX_UNDERSHOOT
        return out, gain

    def _apply(self, alpha: float, gain: np.ndarray) -> np.ndarray:
        g = (gain * alpha).astype(np.float32)
        return self.x * g

    def estimated_lufs(self, alpha: float) -> float:
        """Integrated loudness of the limited ``alpha x``, estimated without limiting it:
        the input's K-weighted power (BS.1770-4) scaled by the gain curve squared, then
        gated. Close to the meter's reading because the gain moves slowly."""
        if self._k_energy is None:
            sos = k_weighting_sos(self.fs)
            weights = channel_weights(self.x.shape[0])
            energy = np.zeros(self.x.shape[1])
            for c in range(self.x.shape[0]):
                y = self.x[c].astype(np.float64)[:, None]
                sosfilt_frames_first(sos, np.zeros((sos.shape[0], 1, 2)), y)
                energy += weights[c] * y[:, 0] * y[:, 0]
            self._k_energy = energy
        hop = max(1, round(self.fs / 10))
        segments = np.zeros(self._k_energy.shape[0] // hop)
        needed = self.gain(alpha) if self.peaks.shape[0] else None
        gain = self._no_gain if needed is None else self._curve(alpha, needed)
        _segment_energy(self._k_energy, gain, hop, segments)
        return _gated_lufs(segments, hop) + 20.0 * math.log10(alpha)


def _segment_energy(energy, gain, hop, out):
    """``out[k]`` = the sum of ``energy * gain^2`` over segment ``k`` of ``hop`` samples
    (an empty ``gain`` is unity)."""
    with_gain = gain.shape[0] > 0
    for k in range(out.shape[0]):
        total = 0.0
        for n in range(k * hop, (k + 1) * hop):
            if with_gain:
                total += energy[n] * gain[n] * gain[n]
            else:
                total += energy[n]
        out[k] = total


if numba is not None:
    _segment_energy = numba.njit(cache=True, nogil=True)(_segment_energy)


def _gated_lufs(seg: np.ndarray, hop: int) -> float:
    """BS.1770-4 integrated loudness from K-weighted energy per 100 ms segment of ``hop``
    samples: 400 ms blocks every 100 ms, absolute gate -70 LUFS, relative gate -10 LU."""
    if seg.shape[0] < 4:
        return -math.inf
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    return gated_loudness_lufs((cum[4:] - cum[:-4]) / (4 * hop))


def _verified(out, gain, x, alpha, fs, ceiling_dbtp, measured_dbtp):
    """The meter's verdict on the float32 result: scale once more if it still reads over
    (has not been seen to happen; the margin and the fix passes keep it under)."""
    ceiling = 10.0 ** (ceiling_dbtp / 20.0)
    for _ in range(4):
        if not measured_dbtp > ceiling_dbtp:
            break
        gain = gain * (ceiling / 10.0 ** (measured_dbtp / 20.0) * (1 - 1e-6))
        out = x * (gain * alpha).astype(np.float32)
        measured_dbtp = true_peak(Audio(out, fs)).true_peak_dbtp
    return out, gain


@dataclass(frozen=True)
class LimiterResult(Result):
    """A limited signal, with the gains applied and what the meter reads after.

    ``pre_gain_db`` is the gain set before the limiter to reach ``target_lufs`` (0 without
    a target); ``input_lufs``, the input's integrated loudness (BS.1770-4 K-weighting and
    gating at the signal's own rate), is measured only with a target; ``gain_reduction_db``
    holds the limiter's reduction per frame (>= 0).
    """

    audio: Audio = field(repr=False)
    gain_reduction_db: np.ndarray = field(repr=False)
    pre_gain_db: float
    max_gain_reduction_db: float
    input_lufs: float | None
    output_lufs: float
    true_peak_dbtp: float
    ceiling_dbtp: float
    target_lufs: float | None
    target_reached: bool | None
    passes: int


def limit(audio: Audio, limiter: Limiter | None = None) -> LimiterResult:
    """Bring ``audio`` to ``limiter.target_lufs`` (if set) under ``limiter.ceiling_dbtp``.

    The pre-gain is searched on an estimate of the limited loudness (the input's
    K-weighted power under the gain curve), then the limited output is measured with
    the BS.1770-4 meter and the gain corrected until it reads within 0.1 LU of the
    target. ``target_reached`` says whether the result is within 0.5 LU.
    """
    limiter = limiter or Limiter()
    audio.require_finite()
    x = np.ascontiguousarray(audio.samples, dtype=np.float32)
    fs = audio.sample_rate
    target = limiter.target_lufs
    input_lufs = None
    alpha = 1.0
    plan = _Plan(x, fs, limiter.ceiling_dbtp, limiter.release_ms, limiter.lookahead_ms)
    if target is not None and audio.frames:
        input_lufs = plan.estimated_lufs(1.0)  # before any peak is known: unlimited
    search = target is not None and input_lufs is not None and math.isfinite(input_lufs)
    # Peaks are needed where the largest plausible pre-gain could push them over.
    plan.find_peaks(max(1.0, 10.0 ** ((target - input_lufs + 40.0) / 20.0)) if search else 1.0)
    if search:
        alpha_db = _search(
            lambda g: plan.estimated_lufs(10.0 ** (g / 20.0)), target, target - input_lufs
        )
        alpha = 10.0 ** (alpha_db / 20.0)
    passes = 0
    while True:
        passes += 1
        out, gain = plan.limit(alpha)
        result = loudness(Audio(out, fs)) if audio.frames else None
        out_lufs = result.integrated_lufs if result else -math.inf
        if not search or not math.isfinite(out_lufs) or passes >= _TARGET_PASSES:
            break
        error = target - out_lufs
        if abs(error) <= 0.1:
            break
        alpha *= 10.0 ** (error / 20.0)
    tp = result.true_peak_dbtp if result else -math.inf
    if tp > limiter.ceiling_dbtp:
        out, gain = _verified(out, gain, x, alpha, fs, limiter.ceiling_dbtp, tp)
        result = loudness(Audio(out, fs))
        out_lufs, tp = result.integrated_lufs, result.true_peak_dbtp
    with np.errstate(divide="ignore"):
        reduction = -20.0 * np.log10(gain)
    return LimiterResult(
        audio=Audio(out, fs),
        gain_reduction_db=reduction,
        pre_gain_db=20.0 * math.log10(alpha),
        max_gain_reduction_db=float(reduction.max(initial=0.0)) + 0.0,
        input_lufs=input_lufs,
        output_lufs=out_lufs,
        true_peak_dbtp=tp,
        ceiling_dbtp=limiter.ceiling_dbtp,
        target_lufs=target,
        target_reached=None if target is None else bool(abs(target - out_lufs) <= 0.5),
        passes=passes,
    )


def _search(estimate, target: float, first_db: float) -> float:
    """The pre-gain (dB) at which ``estimate(gain_db)`` reaches ``target`` within 0.02 LU:
    secant steps on the increasing estimate, whose slope limiting keeps in (0, 1]."""
    g0, f0 = first_db, estimate(first_db) - target
    if abs(f0) <= 0.02:
        return g0
    g1 = g0 - max(-60.0, min(60.0, f0))
    f1 = estimate(g1) - target
    for _ in range(16):
        if abs(f1) <= 0.02:
            break
        slope = (f1 - f0) / (g1 - g0) if g1 != g0 else 1.0
        slope = min(1.0, max(slope, 0.05))
        g0, f0 = g1, f1
        g1 = g1 - max(-60.0, min(60.0, f1 / slope))
        f1 = estimate(g1) - target
    return g1
