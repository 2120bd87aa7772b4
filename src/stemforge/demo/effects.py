"""Reverb, panning and true-peak measurement for the demo mixer."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
from scipy import signal

#: The reverb runs at the sample rate divided by this, so the wet signal is band-limited
#: to about 5.5 kHz (a warm hall) and the FFT convolution of a whole song stays cheap.
_REVERB_RATE_HZ = 11025


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan law: ``pan`` -1 (left) .. 0 (centre, -3 dB each) .. +1 (right)."""
    theta = (pan + 1.0) * np.pi / 4.0
    return float(np.cos(theta)), float(np.sin(theta))


def _decimation(sample_rate: int) -> int:
    return max(1, sample_rate // _REVERB_RATE_HZ)


@lru_cache(maxsize=8)
def impulse_response(
    rate_hz: float, *, rt60_s: float = 1.7, predelay_s: float = 0.018
) -> np.ndarray:
    """A synthetic stereo hall: decorrelated noise decaying exponentially, faster in higher
    bands (RT60 ``rt60_s`` below 1.2 kHz, 0.65x to 3.5 kHz, 0.35x above), after a few early
    reflections. Shaped ``(2, n)``, each channel at unit energy."""
    rng = np.random.default_rng(77)
    n = int((predelay_s + rt60_s) * rate_hz)
    pre = int(predelay_s * rate_hz)
    t = np.arange(n - pre) / rate_hz
    nyq = 0.5 * rate_hz
    bands = [
        ("lowpass", 1200.0, 1.0),
        ("bandpass", [1200.0, 3500.0], 0.65),
        ("highpass", 3500.0, 0.35),
    ]
    ir = np.zeros((2, n))
    for ch in range(2):
        tail = np.zeros(len(t))
        for btype, cut, rt_scale in bands:
            cut_arr = np.minimum(np.atleast_1d(cut), 0.95 * nyq) / nyq
            if btype == "highpass" and cut_arr[0] >= 0.94:
                continue
            sos = signal.butter(2, cut_arr if len(cut_arr) > 1 else cut_arr[0], btype, output="sos")
            noise = signal.sosfilt(sos, rng.standard_normal(len(t)))
            tail += noise * np.exp(-6.91 * t / (rt60_s * rt_scale))
        tail *= np.minimum(t / 0.03, 1.0)  # diffuse build-up
        ir[ch, pre:] = tail
        for _ in range(6):
            delay = pre + int(rng.uniform(0.004, 0.05) * rate_hz)
            ir[ch, delay] += rng.uniform(0.3, 0.6) * rng.choice([-1.0, 1.0]) * np.max(np.abs(tail))
        ir[ch] /= np.sqrt(np.sum(ir[ch] ** 2))
    return ir.astype(np.float32)


@lru_cache(maxsize=4)
def _ir_spectrum(rate_hz: float, size: int) -> np.ndarray:
    spectrum = scipy.fft.rfft(impulse_response(rate_hz), size, axis=1)
    spectrum.setflags(write=False)
    return spectrum


class Reverb:
    """Convolution with :func:`impulse_response`, shared by every stem of one length."""

    def __init__(self, sample_rate: int, frames: int):
        self.sample_rate = sample_rate
        self.frames = frames
        self.q = _decimation(sample_rate)
        self.m = -(-frames // self.q)
        rate_hz = sample_rate / self.q
        self.size = scipy.fft.next_fast_len(
            self.m + impulse_response(rate_hz).shape[1] - 1, real=True
        )
        self._ir_spectrum = _ir_spectrum(rate_hz, self.size)

    def add_wet(self, mono: np.ndarray, out: np.ndarray, gain: float) -> None:
        """Add ``gain`` times the stereo reverb of the mono send to ``out`` ``(2, frames)``;
        the tail past the end is cut."""
        q, m = self.q, self.m
        low = np.zeros(m, np.float32)
        for j in range(q):  # decimate by block means (strided adds are the fast way)
            part = mono[j::q]
            low[: len(part)] += part
        spec = scipy.fft.rfft(low, self.size)
        scale = np.float32(gain / q)
        for ch in range(2):
            wet = scipy.fft.irfft(self._ir_spectrum[ch] * spec, self.size)[:m].astype(np.float32)
            wet *= scale
            step = np.zeros_like(wet)
            step[:-1] = wet[1:] - wet[:-1]
            for j in range(q):  # linear interpolation back to the full rate
                dst = out[ch, j::q]
                k = len(dst)
                dst += wet[:k] if j == 0 else wet[:k] + step[:k] * np.float32(j / q)


def true_peak(samples: np.ndarray, *, oversample: int = 4, block: int = 4096) -> float:
    """The largest absolute value of the 4x-oversampled signal (as in ITU-R BS.1770-4 annex 2),
    checked around the loudest blocks only, which is where the true peak lies."""
    x = np.asarray(samples)
    if x.size == 0:
        return 0.0
    n = x.shape[-1]
    nb, rest = divmod(n, block)
    blocks = x[:, : nb * block].reshape(x.shape[0], nb, block)
    block_peak = np.maximum(blocks.max(axis=(0, 2)), -blocks.min(axis=(0, 2)))
    if rest:
        block_peak = np.append(block_peak, np.abs(x[:, nb * block :]).max())
    peak = float(block_peak.max())
    if peak == 0.0:
        return 0.0
    candidates = np.argsort(block_peak)[::-1][:24]
    for b in candidates:
        if block_peak[b] < 0.7 * peak:
            break
        lo, hi = max(0, b * block - 64), min(n, (b + 1) * block + 64)
        up = signal.resample_poly(x[:, lo:hi].astype(np.float64), oversample, 1, axis=1)
        peak = max(peak, float(np.abs(up).max()))
    return peak
