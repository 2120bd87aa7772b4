"""The per-stem features of the automatic gain predictor (source document 001).

One short-time Fourier transform of the stem's mono sum (2048-point Hann frames, hop
512, centred, at the stem's own sample rate) gives, averaged over the frames where the
stem plays (frame RMS within :data:`ACTIVE_RANGE_DB` of the loudest frame, so that the
silences of a vocal stem do not drag its brightness down):

- ``spectral_centroid``: the magnitude-weighted mean frequency (librosa's
  ``spectral_centroid``), divided by the Nyquist frequency, so 0..1 as the document
  prints it ("Centroid: 0.3343"); ``spectral_centroid_hz`` in Hz;
- ``rolloff``: the frequency below which 85 % of the spectral magnitude lies
  (``spectral_rolloff``), over Nyquist; ``rolloff_hz``;
- ``bandwidth``: the magnitude-weighted standard deviation about the centroid
  (``spectral_bandwidth``, p = 2), over Nyquist; ``bandwidth_hz``;
- ``zcr``: zero crossings per sample (``zero_crossing_rate``; a sine of f Hz gives 2 f / sr);
- ``mfcc``: the means of 13 MFCCs (``mfcc`` of the 128-band log-mel power spectrum).

Over the whole signal:

- ``rms``: the root mean square of all samples of all channels (a sine of amplitude A
  gives A / sqrt 2);
- ``dynamic_range_db``: the spread of the active frames' RMS in dB, 95th minus 10th
  percentile (a measure of consistency: a heavily compressed or constant stem is near
  0 dB, a natural performance 10 to 20 dB);
- ``loudness_lufs``: integrated loudness per ITU-R BS.1770-4
  (:func:`stemforge.analysis.loudness.loudness`); ``-inf`` for silence and for stems
  shorter than one 400 ms gating block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stemforge.audio.signal import Audio
from stemforge.optional import require_module
from stemforge.results import Result

__all__ = ["ACTIVE_RANGE_DB", "N_MFCC", "StemFeatures", "stem_features", "stem_level_db"]

N_FFT = 2048
HOP_LENGTH = 512
N_MFCC = 13
ROLLOFF_PERCENT = 0.85
#: Frames more than this far below the loudest frame count as silence.
ACTIVE_RANGE_DB = 60.0
#: Frames below this RMS (-140 dBFS) are silence whatever the loudest frame.
_FLOOR_RMS = 1e-7
DYNAMIC_RANGE_PERCENTILES = (10.0, 95.0)


@dataclass(frozen=True)
class StemFeatures(Result):
    """The features of one stem (see the module docstring for each definition)."""

    rms: float
    spectral_centroid: float
    rolloff: float
    zcr: float
    bandwidth: float
    mfcc: tuple[float, ...] = field(repr=False)
    dynamic_range_db: float
    spectral_centroid_hz: float
    rolloff_hz: float
    bandwidth_hz: float
    loudness_lufs: float
    rms_dbfs: float
    peak_dbfs: float
    active_fraction: float
    sample_rate: int
    duration_s: float

    @property
    def silent(self) -> bool:
        """True when the stem has no frame above the silence floor."""
        return self.active_fraction == 0.0


def _librosa():
    return require_module(
        "librosa",
        "the gain predictor's features need librosa, which is not installed.",
        hint="Install it with `pip install 'stemforge[analysis]'`.",
    )


def _db(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else -math.inf


def stem_features(audio: Audio, *, with_loudness: bool = True) -> StemFeatures:
    """The document's features of ``audio`` (any channel count, at its own rate).

    ``with_loudness=False`` skips the BS.1770 measurement (``loudness_lufs`` is NaN).

    >>> import numpy as np
    >>> t = np.arange(44100) / 44100
    >>> f = stem_features(Audio(0.5 * np.sin(2 * np.pi * 441 * t)[None], 44100))
    >>> round(f.rms, 4), round(f.spectral_centroid_hz)
    (0.3536, 441)
    """
    audio.require_frames(1, what="stem features").require_finite()
    librosa = _librosa()
    sr = audio.sample_rate
    nyquist = sr / 2.0
    samples = audio.samples.astype(np.float64)
    rms = math.sqrt(float(np.mean(samples * samples)))
    peak = float(np.max(np.abs(samples)))
    y = samples.mean(axis=0).astype(np.float32)  # float32 STFT: half the memory of float64

    frame_rms = librosa.feature.rms(y=y, frame_length=N_FFT, hop_length=HOP_LENGTH)[0]
    loudest = float(frame_rms.max(initial=0.0))
    threshold = max(_FLOOR_RMS, loudest * 10 ** (-ACTIVE_RANGE_DB / 20))
    active = frame_rms > threshold
    loudness_lufs = _loudness(audio) if with_loudness else math.nan
    common = {
        "rms": rms,
        "rms_dbfs": _db(rms),
        "peak_dbfs": _db(peak),
        "loudness_lufs": loudness_lufs,
        "sample_rate": sr,
        "duration_s": audio.duration_s,
    }
    if not active.any():
        return StemFeatures(
            spectral_centroid=0.0,
            rolloff=0.0,
            zcr=0.0,
            bandwidth=0.0,
            mfcc=(0.0,) * N_MFCC,
            dynamic_range_db=0.0,
            spectral_centroid_hz=0.0,
            rolloff_hz=0.0,
            bandwidth_hz=0.0,
            active_fraction=0.0,
            **common,
        )

    spectrum = np.abs(librosa.stft(y=y, n_fft=N_FFT, hop_length=HOP_LENGTH, center=True))
    n = min(spectrum.shape[1], active.size)
    spectrum, active = spectrum[:, :n], active[:n]
    live = spectrum[:, active]
    centroid_hz = float(librosa.feature.spectral_centroid(S=live, sr=sr, n_fft=N_FFT)[0].mean())
    rolloff_hz = float(
        librosa.feature.spectral_rolloff(S=live, sr=sr, n_fft=N_FFT, roll_percent=ROLLOFF_PERCENT)[
            0
        ].mean()
    )
    bandwidth_hz = float(
        librosa.feature.spectral_bandwidth(S=live, sr=sr, n_fft=N_FFT, p=2)[0].mean()
    )
    zcr_frames = librosa.feature.zero_crossing_rate(y=y, frame_length=N_FFT, hop_length=HOP_LENGTH)[
        0
    ][:n]
    mel = librosa.feature.melspectrogram(S=live**2, sr=sr, n_fft=N_FFT)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=N_MFCC).mean(axis=1)
    levels_db = 20 * np.log10(frame_rms[:n][active])
    low, high = np.percentile(levels_db, DYNAMIC_RANGE_PERCENTILES)
    return StemFeatures(
        spectral_centroid=centroid_hz / nyquist,
        rolloff=rolloff_hz / nyquist,
        zcr=float(zcr_frames[active].mean()),
        bandwidth=bandwidth_hz / nyquist,
        mfcc=tuple(float(v) for v in mfcc),
        dynamic_range_db=float(high - low),
        spectral_centroid_hz=centroid_hz,
        rolloff_hz=rolloff_hz,
        bandwidth_hz=bandwidth_hz,
        active_fraction=float(active.mean()),
        **common,
    )


def stem_level_db(audio: Audio, *, measure: str = "lufs") -> tuple[float, bool]:
    """The level the gain rules compare, and whether the stem is silent, without the
    spectral features: the same numbers as :func:`stem_features` gives
    (``loudness_lufs`` when ``measure`` is "lufs" and it is finite, else ``rms_dbfs``;
    silent when no frame is above the silence floor)."""
    audio.require_frames(1, what="a stem level").require_finite()
    librosa = _librosa()
    samples = audio.samples.astype(np.float64)
    frame_rms = librosa.feature.rms(
        y=samples.mean(axis=0), frame_length=N_FFT, hop_length=HOP_LENGTH
    )[0]
    silent = not float(frame_rms.max(initial=0.0)) > _FLOOR_RMS
    if measure == "lufs":
        lufs = _loudness(audio)
        if math.isfinite(lufs):
            return lufs, silent
    return _db(math.sqrt(float(np.mean(samples * samples)))), silent


def _loudness(audio: Audio) -> float:
    """BS.1770-4 integrated loudness; ``-inf`` when no 400 ms block passes the gates."""
    from stemforge.analysis.loudness import integrated_loudness

    if audio.frames < round(0.4 * audio.sample_rate):
        return -math.inf
    return float(integrated_loudness(audio))
