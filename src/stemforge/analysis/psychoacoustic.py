"""Psychoacoustic loudness (ISO 532-1, Zwicker) and sharpness (DIN 45692), via mosqito.

Loudness in sone (1 sone: a 1 kHz tone at 40 dB SPL, frontal free field) and loudness
level in phon, specific loudness over critical-band rate (0.1 to 24 Bark), and
sharpness in acum (1 acum: narrow-band noise one critical band wide at 1 kHz, 60 dB).

Calibration. ISO 532-1 needs sound pressure in pascal, which a digital signal does
not carry. ``full_scale_db_spl`` is the SPL at which a full-scale sine (peak 1.0)
plays; a signal sample ``s`` becomes ``s * sqrt(2) * 20 uPa * 10^(full_scale_db_spl /
20)``. The default, 100 dB SPL, is the SMPTE RP 200 / K-20 monitoring calibration:
pink noise at -20 dBFS RMS plays at 83 dB SPL, and a full-scale sine, whose RMS is
3.01 dB below full scale, then plays at 83 + 20 - 3.01 = 99.99 dB SPL.

Which signal is analysed: ISO 532-1 rates one signal at the listener. By default the
louder channel (highest RMS) is used: for a stereo mix it is what the louder speaker
plays, and unlike a mono fold-down it cannot lose out-of-phase content
(``channel="mix"`` takes the channel mean instead, or give a channel index).

Speed: stationary analysis costs about 0.02 s per second of 48 kHz audio and
time-varying about 1.3 s per second, so by default at most ``max_duration_s`` (30 s)
are analysed: the 30 s span with the highest mean square, on a 1 s grid. The result
says which span (``analysed``) and whether it is an excerpt (``excerpt_only``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemforge.analysis.common import TimeRange, TimeSeries
from stemforge.audio.signal import Audio
from stemforge.errors import AnalysisError
from stemforge.results import Result

#: Reference sound pressure, 20 micropascal.
REFERENCE_PRESSURE_PA = 2e-5
#: The sample rate mosqito's ISO 532-1 filters are specified for.
ANALYSIS_RATE_HZ = 48_000


@dataclass(frozen=True)
class PsychoacousticResult(Result):
    """ISO 532-1 loudness and DIN 45692 sharpness (see :func:`psychoacoustic_loudness`).

    Stationary: ``loudness_sone`` is N and ``sharpness_acum`` S of the analysed span.
    Time-varying: ``loudness_sone`` is N5 (the loudness exceeded 5 % of the time, the
    single value ISO 532-1 recommends for time-varying sounds), ``loudness_max_sone``
    the maximum, ``sharpness_acum`` the median of the sharpness series over instants
    louder than 0.1 sone; ``loudness`` and ``sharpness`` are the series (2 ms steps).
    ``specific_loudness_sone_per_bark`` is over ``bark_axis`` (time-averaged when
    time-varying).
    """

    loudness_sone: float
    loudness_level_phon: float
    loudness_max_sone: float
    sharpness_acum: float
    specific_loudness_sone_per_bark: np.ndarray
    bark_axis: np.ndarray
    loudness: TimeSeries | None
    sharpness: TimeSeries | None
    time_varying: bool
    field_type: str
    full_scale_db_spl: float
    channel: str
    analysed: TimeRange
    excerpt_only: bool


def psychoacoustic_loudness(
    audio: Audio,
    *,
    time_varying: bool = False,
    full_scale_db_spl: float = 100.0,
    field_type: str = "free",
    channel: str | int = "louder",
    max_duration_s: float | None = 30.0,
) -> PsychoacousticResult:
    """Zwicker loudness (ISO 532-1:2017, method 1) and sharpness (DIN 45692:2009).

    ``time_varying=False`` uses ISO 532-1's stationary method (mosqito
    ``loudness_zwst``), ``True`` the time-varying one (``loudness_zwtv``). The signal is
    resampled to 48 kHz when needed (soxr). ``field_type`` is ``"free"`` (frontal free
    field, as the sone is defined) or ``"diffuse"``. ``max_duration_s=None`` analyses
    the whole signal. Calibration and channel choice: see the module docstring.

    >>> t = np.arange(48000) / 48000
    >>> tone = Audio(10 ** ((40 - 100) / 20) * np.sin(2 * np.pi * 1000 * t)[None], 48000)
    >>> round(psychoacoustic_loudness(tone).loudness_sone, 1)  # 40 dB SPL at 1 kHz
    1.0
    """
    audio.require_finite()
    if field_type not in ("free", "diffuse"):
        raise AnalysisError(f"field_type must be 'free' or 'diffuse', got {field_type!r}.")
    if not math.isfinite(full_scale_db_spl):
        raise AnalysisError("full_scale_db_spl must be a finite level in dB SPL.")
    mono, label = _pick_channel(audio, channel)
    mono.require_frames(round(0.1 * mono.sample_rate), what="ISO 532-1 loudness")
    fs = mono.sample_rate
    start, stop = _loudest_span(mono.samples[0], fs, max_duration_s)
    excerpt = mono.with_samples(mono.samples[:, start:stop])
    if fs != ANALYSIS_RATE_HZ:
        excerpt = excerpt.resample(ANALYSIS_RATE_HZ)
    pascal = excerpt.samples[0].astype(np.float64) * (
        math.sqrt(2.0) * REFERENCE_PRESSURE_PA * 10.0 ** (full_scale_db_spl / 20.0)
    )

    from mosqito.sq_metrics import (  # imported here: mosqito pulls in matplotlib (1.5 s)
        loudness_zwst,
        loudness_zwtv,
        sharpness_din_from_loudness,
    )

    loud_series = sharp_series = None
    with np.errstate(divide="ignore", invalid="ignore"):
        if time_varying:
            n_t, spec_t, bark, times = loudness_zwtv(pascal, ANALYSIS_RATE_HZ, field_type)
            n_t = np.asarray(n_t, dtype=np.float64)
            s_t = np.atleast_1d(
                np.asarray(sharpness_din_from_loudness(n_t, spec_t), dtype=np.float64)
            )
            times = np.asarray(times, dtype=np.float64) + start / fs
            loud_series = TimeSeries(times, n_t, "sone")
            sharp_series = TimeSeries(times, s_t, "acum")
            n_value = float(np.percentile(n_t, 95)) if n_t.size else 0.0
            n_max = float(n_t.max(initial=0.0))
            audible = n_t >= 0.1
            s_value = float(np.median(s_t[audible])) if audible.any() else math.nan
            specific = np.asarray(spec_t, dtype=np.float64).mean(axis=1)
        else:
            n_value, specific, bark = loudness_zwst(pascal, ANALYSIS_RATE_HZ, field_type)
            n_value = float(n_value)
            n_max = n_value
            specific = np.asarray(specific, dtype=np.float64)
            s_value = (
                float(sharpness_din_from_loudness(n_value, specific)) if n_value > 0 else math.nan
            )

    return PsychoacousticResult(
        loudness_sone=n_value,
        loudness_level_phon=sone_to_phon(n_value),
        loudness_max_sone=n_max,
        sharpness_acum=s_value,
        specific_loudness_sone_per_bark=specific,
        bark_axis=np.asarray(bark, dtype=np.float64),
        loudness=loud_series,
        sharpness=sharp_series,
        time_varying=time_varying,
        field_type=field_type,
        full_scale_db_spl=full_scale_db_spl,
        channel=label,
        analysed=TimeRange(start / fs, stop / fs),
        excerpt_only=stop - start < mono.frames,
    )


def sone_to_phon(loudness_sone: float) -> float:
    """Loudness level (phon) from loudness (sone), ISO 532-1:2017 formula.

    ``40 + 10 log2(N)`` from 1 sone up, ``40 (N + 0.0005)^0.35`` below.
    """
    if not math.isfinite(loudness_sone) or loudness_sone < 0:
        return math.nan
    if loudness_sone >= 1.0:
        return 40.0 + 10.0 * math.log2(loudness_sone)
    return 40.0 * (loudness_sone + 0.0005) ** 0.35


def _pick_channel(audio: Audio, channel: str | int) -> tuple[Audio, str]:
    if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
        if not 0 <= channel < audio.channels:
            raise AnalysisError(
                f"channel {channel} does not exist; the signal has {audio.channels}."
            )
        return audio.with_samples(audio.samples[channel : channel + 1]), f"channel {channel}"
    if channel == "mix":
        return audio.to_mono(), "mix"
    if channel == "louder":
        power = np.einsum("ij,ij->i", audio.samples, audio.samples, dtype=np.float64)
        c = int(np.argmax(power))
        return audio.with_samples(audio.samples[c : c + 1]), f"channel {c}"
    raise AnalysisError(f"channel must be 'louder', 'mix' or an index, got {channel!r}.")


def _loudest_span(signal: np.ndarray, sample_rate: int, max_s: float | None) -> tuple[int, int]:
    """(start, stop) of the ``max_s`` span with the highest mean square, on a 1 s grid."""
    n = signal.shape[0]
    if max_s is None or n <= round(max_s * sample_rate):
        return 0, n
    length = max(1, round(max_s * sample_rate))
    sec = sample_rate
    n_sec = n // sec
    frames = signal[: n_sec * sec].reshape(n_sec, sec)
    energy = np.einsum("ij,ij->i", frames, frames, dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(energy)])
    width = min(n_sec, length // sec)
    best = int(np.argmax(cum[width:] - cum[:-width])) if width > 0 else 0
    start = best * sec
    return start, min(n, start + length)
