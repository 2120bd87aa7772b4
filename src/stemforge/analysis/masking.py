"""Masking between stems: which stem hides which, where in frequency and when.

The model works on critical bands over short frames, per stem:

1. **Band levels.** One STFT pass per stem (periodic Hann window of ``frame_s``,
   85 ms: ``n_fft`` 4096 at 44.1/48 kHz; hop half of it), power averaged over the
   channels, summed into critical bands from 20 Hz to 20 kHz (or Nyquist): 1 Bark
   wide on the Bark scale of Zwicker & Terhardt (1980), z = 13 atan(0.00076 f) +
   3.5 atan((f/7500)^2) (25 bands at 44.1/48 kHz; edges within 5 % of Zwicker's
   1961 table), or 1 ERB wide on the ERB-number scale of Glasberg & Moore (1990),
   E = 21.4 log10(0.00437 f + 1) (41 bands). Levels are dB SPL with the calibration
   of :mod:`stemforge.analysis.psychoacoustic`: a full-scale sine plays at
   ``full_scale_db_spl`` (100 dB SPL, SMPTE RP 200).
2. **Tonality** of each band and frame: the spectral flatness of its bins, SFM =
   geometric / arithmetic mean in dB, alpha = min(SFM / -60 dB, 1) (Johnston 1988;
   here per band rather than per frame, so that a tonal bass and noisy hats in one
   stem are each judged on their own). Noise reads about 0.04; a pure tone 0.3 in
   the lowest band, whose few bins limit how low its SFM can go, to 1 in the upper
   bands.
3. **Masking threshold** of a masker A: every band i of A spreads across the
   bands with the spreading function of Schroeder, Atal & Hall (1979),
   SF(dz) = 15.81 + 7.5 (dz + 0.474) - 17.5 sqrt(1 + (dz + 0.474)^2) dB,
   dz = z_target - z_masker in Bark (-25 dB/Bark downwards, -10 dB/Bark upwards),
   lowered by Johnston's offset alpha (14.5 + i) + (1 - alpha) 5.5 dB (i the 1-based
   critical-band number of the masker band); the contributions add as powers.
   Masking from several stems adds as powers too (the threshold of "the rest of
   the mix" is the sum of the other stems' thresholds).
4. **Partial loudness** of a target B: Zwicker's specific loudness,
   N' = 0.08 [(0.5 E_TQ + 0.5 E)^0.23 - E_TQ^0.23] sone/Bark (Zwicker & Fastl,
   *Psychoacoustics*, ch. 8; E the band intensity re 20 uPa, E_TQ the threshold in
   quiet of Terhardt 1979 at the band centre), alone, and with the masker's
   threshold added to E_TQ: a sound at masked threshold is as loud as one at
   absolute threshold (the premise of Moore, Glasberg & Baer's 1997 partial-loudness
   model, here in Zwicker's simpler form). The masking of B by A in a band and
   frame is the share of B's specific loudness that A takes away: 0 (untouched) to
   1 (inaudible). It is graded: B 10 dB above A's threshold still loses about two
   thirds, 30 dB above about a quarter.

Summaries are loudness-weighted: ``masked_fraction`` is the share of B's loudness
(summed over bands, Bark-weighted, and frames) lost to A; ``loss_db`` says the same
as a level: B sounds as loud as B alone turned down by ``loss_db`` dB
(-10 log2(1 - fraction): loudness halves per 10 dB; capped at :data:`MAX_LOSS_DB`).
``margin_db`` of a band is threshold_A - level_B in dB, averaged over the frames
weighted by the loudness lost in them: positive means B sits under A's masking
threshold where the masking happens, negative above it (B is then only partly
masked).

When: ``time_ranges`` are the spans where the masking in the pair's worst band
takes at least ``range_threshold_db`` (6 dB: a third of the loudness) off the
target, gaps up to ``merge_gap_s`` bridged (a kick masked on every beat is one
span), spans shorter than ``min_range_s`` dropped.

Not modelled: temporal (forward/backward) masking beyond the 85 ms frames, the
outer and middle ear's transfer, spatial release from masking (a left-panned
guitar and a right-panned piano count as if both were in the centre).

Speed (one core): one STFT per stem, 0.13 s for 4 minutes of stereo at 48 kHz
(frames of digital silence are skipped), then array operations over all pairs:
16 stereo stems of 4 minutes take 2.3 s when all of them sound all the time, 0.9 s
for the Caesium multitrack (whose stems are silent 70 % of the time).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.fft

from stemforge.analysis.common import TimeRange, runs_of_true
from stemforge.analysis.spectrum import hann, power_scale
from stemforge.audio.signal import Audio
from stemforge.audio.stems import Stems, align_stems
from stemforge.errors import AnalysisError
from stemforge.results import Result

__all__ = [
    "BandLevels",
    "BandMasking",
    "Clash",
    "MaskedSpan",
    "MaskingResult",
    "MaskingSettings",
    "PairMasking",
    "StemMasking",
    "absolute_threshold_db_spl",
    "band_levels",
    "bark_to_hz",
    "critical_bands",
    "erb_number_to_hz",
    "hz_to_bark",
    "hz_to_erb_number",
    "masking",
    "spreading_db",
    "top_clashes",
]

BAND_SCALES = ("bark", "erb")
MIN_HZ = 20.0
#: loss_db of a fully masked target (fraction 1 would be infinite).
MAX_LOSS_DB = 60.0
#: dB between the SPL of a full-scale sine and 10 log10 of its mean square (0.5).
_SINE_RMS_DB = 10.0 * math.log10(2.0)
_ZWICKER_EXPONENT = 0.23
_ZWICKER_SONE = 0.08
_NOISE_OFFSET_DB = 5.5
_TONE_OFFSET_DB = 14.5
_MIN_MAX_LAST_BAND = 0.5  # a last band narrower than half a unit joins the one below
#: Clashes scoring less than this never get a heatmap.
MIN_HEATMAP_SCORE = 0.005


# --- scales and psychoacoustic curves ---------------------------------------------------


def hz_to_bark(frequency_hz: np.ndarray | float) -> np.ndarray:
    """Critical-band rate in Bark (Zwicker & Terhardt 1980)."""
    f = np.asarray(frequency_hz, dtype=np.float64)
    return 13.0 * np.arctan(0.00076 * f) + 3.5 * np.arctan((f / 7500.0) ** 2)


_BARK_GRID_HZ = np.geomspace(1.0, 200_000.0, 20_000)
_BARK_GRID = hz_to_bark(_BARK_GRID_HZ)


def bark_to_hz(bark: np.ndarray | float) -> np.ndarray:
    """The inverse of :func:`hz_to_bark` (numerical, better than 0.1 %)."""
    return np.interp(np.asarray(bark, dtype=np.float64), _BARK_GRID, _BARK_GRID_HZ)


def hz_to_erb_number(frequency_hz: np.ndarray | float) -> np.ndarray:
    """ERB number (Cams) of Glasberg & Moore (1990), eq. 4."""
    return 21.4 * np.log10(0.00437 * np.asarray(frequency_hz, dtype=np.float64) + 1.0)


def erb_number_to_hz(erb_number: np.ndarray | float) -> np.ndarray:
    return (10.0 ** (np.asarray(erb_number, dtype=np.float64) / 21.4) - 1.0) / 0.00437


def absolute_threshold_db_spl(frequency_hz: np.ndarray | float) -> np.ndarray:
    """Threshold in quiet (Terhardt 1979): 3.64 f^-0.8 - 6.5 e^(-0.6 (f - 3.3)^2) + 1e-3 f^4,
    f in kHz."""
    f = np.asarray(frequency_hz, dtype=np.float64) / 1000.0
    return 3.64 * f**-0.8 - 6.5 * np.exp(-0.6 * (f - 3.3) ** 2) + 1e-3 * f**4


def spreading_db(dz_bark: np.ndarray | float) -> np.ndarray:
    """Schroeder, Atal & Hall (1979) spreading function; dz = z_target - z_masker (Bark)."""
    x = np.asarray(dz_bark, dtype=np.float64) + 0.474
    return 15.81 + 7.5 * x - 17.5 * np.sqrt(1.0 + x * x)


def critical_bands(
    band_scale: str = "bark", *, min_hz: float = MIN_HZ, max_hz: float = 20_000.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(low_hz, centre_hz, high_hz)`` of bands one unit wide on the Bark or ERB scale.

    Edges lie at whole Bark (ERB numbers); the first band starts at ``min_hz``, the
    last ends at ``max_hz`` (joined to the one below if narrower than half a unit).
    Centres are at the middle of each band on its own scale.
    """
    if band_scale not in BAND_SCALES:
        raise AnalysisError(f"band_scale must be one of {BAND_SCALES}, got {band_scale!r}.")
    to_scale, from_scale = (
        (hz_to_bark, bark_to_hz) if band_scale == "bark" else (hz_to_erb_number, erb_number_to_hz)
    )
    lo_unit, hi_unit = float(to_scale(min_hz)), float(to_scale(max_hz))
    inner = np.arange(math.floor(lo_unit) + 1, math.ceil(hi_unit))
    if band_scale == "erb":
        inner = inner[inner >= 2]  # below 54 Hz ERBs are narrower than the analysis resolves
    units = np.concatenate([[lo_unit], inner, [hi_unit]])
    if len(units) > 2 and units[-1] - units[-2] < _MIN_MAX_LAST_BAND:
        units = np.delete(units, -2)
    edges = from_scale(units)
    edges[0], edges[-1] = min_hz, max_hz
    centres = from_scale((units[:-1] + units[1:]) / 2)
    return edges[:-1], centres, edges[1:]


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BandMasking(Result):
    """Masking in one band: ``masked_fraction`` of the target's loudness there (0..1),
    ``loss_db`` the same as a level, ``margin_db`` the masker's threshold minus the
    target's level, averaged over the frames weighted by the loudness lost in them
    (positive: the target sits under the threshold where it is masked)."""

    low_hz: float
    centre_hz: float
    high_hz: float
    masked_fraction: float
    loss_db: float
    margin_db: float


@dataclass(frozen=True)
class MaskedSpan(TimeRange):
    """A span of strong masking, with its amount in the band it was found in (times from
    the centre of the first masked frame to that of the last)."""

    masked_fraction: float
    loss_db: float


@dataclass(frozen=True)
class PairMasking(Result):
    """How much ``masker`` hides ``target`` (see the module docstring).

    ``worst_bands``: the bands where the target loses most loudness, worst first;
    ``time_ranges``: when the masking in the worst band is strong.
    """

    masker: str
    target: str
    masked_fraction: float
    loss_db: float
    worst_bands: tuple[BandMasking, ...]
    time_ranges: tuple[MaskedSpan, ...]

    def describe(self) -> str:
        """One line for a report: "bass masks kick: kick loses 76 % of its loudness (as if
        20.5 dB quieter), most at 20 Hz-101 Hz (20.3 dB there), strongest 0:01.9-0:06.0."."""
        text = (
            f"{self.masker} masks {self.target}: {self.target} loses "
            f"{100 * self.masked_fraction:.0f} % of its loudness (as if {self.loss_db:.1f} dB "
            "quieter)"
        )
        return text + _where_and_when(self.worst_bands, self.time_ranges)


@dataclass(frozen=True)
class StemMasking(Result):
    """How much one stem is masked by the rest of the mix (all other stems together).

    ``band_masked_fraction`` per band (NaN where the stem is never audible);
    ``main_maskers``: the stems that mask it most on their own, worst first;
    ``heatmap``: percent of loudness lost, bands x time columns (uint8).
    ``silent``: the stem is never above the threshold of hearing.
    """

    name: str
    silent: bool
    masked_fraction: float
    loss_db: float
    band_masked_fraction: np.ndarray
    worst_bands: tuple[BandMasking, ...]
    time_ranges: tuple[MaskedSpan, ...]
    main_maskers: tuple[str, ...]
    heatmap: np.ndarray

    def describe(self) -> str:
        if self.silent:
            return f"{self.name} is silent."
        text = (
            f"{self.name} loses {100 * self.masked_fraction:.0f} % of its loudness in the mix "
            f"(as if {self.loss_db:.1f} dB quieter)"
        )
        if self.main_maskers:
            text += f", most to {', '.join(self.main_maskers)}"
        return text + _where_and_when(self.worst_bands, self.time_ranges)


@dataclass(frozen=True)
class Clash(Result):
    """The symmetric view of a pair, for a heatmap: ``score`` is the larger of the two
    directions' ``masked_fraction``; ``heatmap`` the larger of the two per band and
    time column, in percent (uint8, bands x columns). Only the ``heatmap_pairs``
    highest-scoring clashes (from :data:`MIN_HEATMAP_SCORE` up) carry a heatmap; the
    others have ``None``, so that the JSON of 64 stems stays small."""

    stems: tuple[str, str]
    score: float
    heatmap: np.ndarray | None


@dataclass(frozen=True)
class MaskingSettings(Result):
    band_scale: str
    n_bands: int
    sample_rate: int
    n_fft: int
    hop_length: int
    hop_s: float
    full_scale_db_spl: float
    tonality_reference_db: float
    range_threshold_db: float
    min_range_s: float
    merge_gap_s: float
    heatmap_columns: int
    heatmap_pairs: int
    spreading: str = "Schroeder, Atal & Hall 1979"
    threshold_offset: str = "Johnston 1988"
    loudness: str = "Zwicker specific loudness, masked threshold added to the threshold in quiet"


@dataclass(frozen=True)
class MaskingResult(Result):
    """Masking between all ordered pairs of stems and of each stem by the rest.

    ``band_edges_hz`` has one more entry than ``band_centres_hz``. ``times_s`` are
    the centres of the heatmap columns (``heatmap_step_s`` apart: the frames,
    ``settings.hop_s`` apart, pooled by loudness). ``pairs`` holds every ordered
    pair (masker, target), masker-major in ``stem_names`` order;
    ``pair_masked_fraction[i, j]`` is the masking of stem j by stem i.
    ``clashes`` holds each unordered pair once.
    """

    stem_names: tuple[str, ...]
    band_centres_hz: np.ndarray
    band_edges_hz: np.ndarray
    times_s: np.ndarray
    heatmap_step_s: float
    duration_s: float
    pairs: tuple[PairMasking, ...]
    pair_masked_fraction: np.ndarray
    stems: tuple[StemMasking, ...]
    clashes: tuple[Clash, ...]
    silent_stems: tuple[str, ...]
    settings: MaskingSettings

    def pair(self, masker: str, target: str) -> PairMasking:
        i, j = self._index(masker), self._index(target)
        if i == j:
            raise KeyError("a stem does not mask itself; name two different stems")
        n = len(self.stem_names)
        return self.pairs[i * (n - 1) + (j if j < i else j - 1)]

    def stem(self, name: str) -> StemMasking:
        return self.stems[self._index(name)]

    def _index(self, name: str) -> int:
        try:
            return self.stem_names.index(name)
        except ValueError:
            raise KeyError(
                f"no stem named {name!r}; the stems are {list(self.stem_names)}"
            ) from None


# --- band analysis --------------------------------------------------------------------------


@dataclass(frozen=True)
class BandLevels(Result):
    """Critical-band levels of one signal over time (see :func:`band_levels`).

    ``levels_db_spl`` and ``tonality`` (0 noise .. 1 tone) are shaped (bands, frames);
    frame i is centred at ``times_s[i]``.
    """

    low_hz: np.ndarray
    centre_hz: np.ndarray
    high_hz: np.ndarray
    times_s: np.ndarray
    levels_db_spl: np.ndarray
    tonality: np.ndarray


@dataclass(frozen=True)
class _Grid:
    low_hz: np.ndarray
    centre_hz: np.ndarray
    high_hz: np.ndarray
    n_fft: int
    hop: int
    first_bin: int
    end_bin: int
    starts: np.ndarray  # band start bins relative to first_bin
    counts: np.ndarray  # bins per band


def _grid(band_scale: str, sample_rate: int, frame_s: float) -> _Grid:
    if not 0.01 <= frame_s <= 1.0:
        raise AnalysisError(f"frame_s must be 0.01 to 1 s, got {frame_s!r}.")
    n_fft = int(2 ** round(math.log2(frame_s * sample_rate)))
    max_hz = min(20_000.0, sample_rate / 2)
    low, centre, high = critical_bands(band_scale, max_hz=max_hz)
    bin_hz = sample_rate / n_fft
    lo_bins = np.ceil(low / bin_hz).astype(np.int64)
    end_bin = min(math.ceil(high[-1] / bin_hz), n_fft // 2)
    counts = np.diff(np.append(lo_bins, end_bin))
    if (counts < 1).any():
        raise AnalysisError(
            f"frames of {n_fft} samples at {sample_rate} Hz are too short to resolve the "
            f"{band_scale} bands.",
            hint="Use a longer frame_s.",
        )
    first = int(lo_bins[0])
    return _Grid(low, centre, high, n_fft, n_fft // 2, first, end_bin, lo_bins - first, counts)


def _analyse(samples: np.ndarray, grid: _Grid, *, chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Band power (mean square re full scale, channel mean) and band SFM (dB), (bands, frames).

    Frame i covers samples [i hop, i hop + n_fft); the end is zero-padded so that every
    sample is in a frame. Frames of digital silence are not transformed (stems are
    often silent for most of a song). A stereo pair is transformed at once as the
    complex signal L + iR: one complex FFT costs less than two real ones, and
    |X_L[k]|^2 + |X_R[k]|^2 = (|Z[k]|^2 + |Z[N-k]|^2) / 2.
    """
    x = np.asarray(samples, dtype=np.float32)
    if _same_channels(x):
        x = x[:1]  # identical channels: one of them has the mean power
    n_fft, hop, a, b = grid.n_fft, grid.hop, grid.first_bin, grid.end_bin
    stereo = x.shape[0] == 2
    # stereo: p = |Z[k]|^2 + |Z[N-k]|^2 = 2 (|X_L|^2 + |X_R|^2), the mean of two channels x 4
    scale = float(power_scale(n_fft)[1]) / (4.0 if stereo else x.shape[0])
    floor = np.float32(1e-20 / scale)  # -200 dB re full scale per bin
    window = hann(n_fft)
    buffer = np.empty((chunk, n_fft), np.complex64 if stereo else np.float32)

    n = x.shape[-1]
    n_frames = 1 + max(0, -(-(n - n_fft) // hop))
    n_inside = 0 if n < n_fft else 1 + (n - n_fft) // hop
    power = np.zeros((n_frames, len(grid.starts)), np.float32)
    logs = np.zeros_like(power)
    logs += np.float32(np.log2(floor)) * grid.counts.astype(np.float32)
    sources = []
    if n_inside:
        frames = np.lib.stride_tricks.sliding_window_view(x, n_fft, axis=-1)[..., ::hop, :]
        blocks = x[:, : (n // hop) * hop].reshape(x.shape[0], -1, hop)
        sounding = np.bitwise_or.reduce(blocks.view(np.int32), axis=2).any(axis=0)
        active = sounding[:n_inside] | sounding[1 : n_inside + 1]
        sources += [(frames, int(s), int(e), 0) for s, e in runs_of_true(active)]
    if n_frames > n_inside:  # the last frames, from a zero-padded copy of the tail
        tail = x[:, n_inside * hop :]
        length = (n_frames - n_inside - 1) * hop + n_fft
        tail = np.pad(tail, ((0, 0), (0, length - tail.shape[-1])))
        frames = np.lib.stride_tricks.sliding_window_view(tail, n_fft, axis=-1)[..., ::hop, :]
        sources.append((frames, n_inside, n_frames, n_inside))
    for frames, run_start, run_end, base in sources:
        for start in range(run_start, run_end, chunk):
            stop = min(start + chunk, run_end)
            block = frames[:, start - base : stop - base]
            buf = buffer[: stop - start]
            if stereo:
                np.multiply(block[0], window, out=buf.real)
                np.multiply(block[1], window, out=buf.imag)
                z = scipy.fft.fft(buf, axis=-1, workers=1, overwrite_x=True)
                p = _abs2(z[:, a:b])
                p += _abs2(z[:, n_fft - b + 1 : n_fft - a + 1])[:, ::-1]
            else:
                p = None
                for c in range(x.shape[0]):
                    np.multiply(block[c], window, out=buf)
                    pc = _abs2(scipy.fft.rfft(buf, axis=-1, workers=1)[:, a:b])
                    p = pc if p is None else p + pc
            power[start:stop] = np.add.reduceat(p, grid.starts, axis=1)
            p += floor
            np.log2(p, out=p)
            logs[start:stop] = np.add.reduceat(p, grid.starts, axis=1)
    power = power.T.astype(np.float64)
    mean_log2 = logs.T.astype(np.float64) / grid.counts[:, None]
    arith = power / grid.counts[:, None] + float(floor)
    sfm_db = 10.0 * math.log10(2.0) * (mean_log2 - np.log2(arith))
    return power * scale, np.minimum(sfm_db, 0.0)


def _abs2(z: np.ndarray) -> np.ndarray:
    """|z|^2 of complex64 ``z`` (contiguous along the last axis), as float32."""
    squares = np.square(z.view(np.float32))
    return squares[..., ::2] + squares[..., 1::2]


def _same_channels(x: np.ndarray) -> bool:
    """Whether all channels hold the same samples (a cheap look at every 1009th first)."""
    probe = x[:, ::1009]
    if x.shape[0] < 2 or (probe != probe[:1]).any():
        return False
    return all(np.array_equal(x[0], x[c]) for c in range(1, x.shape[0]))


def band_levels(
    audio: Audio,
    *,
    band_scale: str = "bark",
    full_scale_db_spl: float = 100.0,
    frame_s: float = 0.085,
    tonality_reference_db: float = -60.0,
) -> BandLevels:
    """Critical-band levels in dB SPL and tonality over time: step 1 and 2 of the model.

    >>> t = np.arange(48000) / 48000
    >>> sine = Audio(0.1 * np.sin(2 * np.pi * 1000 * t)[None], 48000)   # -20 dBFS peak
    >>> bl = band_levels(sine)
    >>> round(float(np.median(bl.levels_db_spl[8])))  # the 920-1080 Hz band
    80
    """
    audio.require_finite()
    grid = _grid(band_scale, audio.sample_rate, frame_s)
    power, sfm_db = _analyse(audio.samples, grid)
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(power) + full_scale_db_spl + _SINE_RMS_DB
    return BandLevels(
        low_hz=grid.low_hz,
        centre_hz=grid.centre_hz,
        high_hz=grid.high_hz,
        times_s=_frame_times(power.shape[1], grid, audio.sample_rate),
        levels_db_spl=np.maximum(levels, -100.0),
        tonality=np.clip(sfm_db / tonality_reference_db, 0.0, 1.0),
    )


def _frame_times(n_frames: int, grid: _Grid, sample_rate: int) -> np.ndarray:
    return (np.arange(n_frames) * grid.hop + grid.n_fft / 2) / sample_rate


# --- the model ------------------------------------------------------------------------------


def masking(
    stems: Stems | Mapping[str, Audio],
    *,
    band_scale: str = "bark",
    full_scale_db_spl: float = 100.0,
    frame_s: float = 0.085,
    tonality_reference_db: float = -60.0,
    range_threshold_db: float = 6.0,
    min_range_s: float = 0.5,
    merge_gap_s: float = 1.0,
    n_worst_bands: int = 3,
    heatmap_columns: int = 200,
    heatmap_pairs: int = 24,
    gains_db: Mapping[str, float] | None = None,
) -> MaskingResult:
    """Masking between 2 to 64 stems (see the module docstring for the model).

    ``stems``: a :class:`Stems` from :func:`~stemforge.audio.stems.load_stems`, or a
    mapping of name -> Audio (aligned with :func:`~stemforge.audio.stems.align_stems`).

    ``gains_db``: stems heard turned up or down by these gains (dB; the others at 0 dB),
    exactly as if their samples were scaled, without copying them.

    >>> result = masking(load_stems("stems/"))                      # doctest: +SKIP
    >>> for pair in top_clashes(result, 5): print(pair.describe())  # doctest: +SKIP
    """
    if not isinstance(stems, Stems):
        stems = align_stems(stems)
    names = stems.names
    n_stems = len(names)
    if n_stems < 2:
        raise AnalysisError(f"masking needs 2 to 64 stems; got {n_stems}.")
    if not math.isfinite(full_scale_db_spl):
        raise AnalysisError("full_scale_db_spl must be a finite level in dB SPL.")
    if not tonality_reference_db < 0:
        raise AnalysisError("tonality_reference_db must be negative (Johnston: -60 dB).")
    if heatmap_columns < 1 or n_worst_bands < 1 or heatmap_pairs < 0:
        raise AnalysisError(
            "heatmap_columns and n_worst_bands must be at least 1, heatmap_pairs at least 0."
        )
    sr = stems.sample_rate
    grid = _grid(band_scale, sr, frame_s)
    if stems.frames < grid.hop:
        raise AnalysisError(
            f"the stems are {stems.duration_s:.3f} s long; masking needs at least "
            f"{grid.hop / sr:.3f} s."
        )
    gains = dict(gains_db or {})
    unknown = sorted(set(gains) - set(names))
    if unknown:
        raise AnalysisError(f"gains_db names stems that are not there: {', '.join(unknown)}.")
    if not all(math.isfinite(g) for g in gains.values()):
        raise AnalysisError("gains_db must hold finite gains in dB.")
    m = _Model(stems, grid, full_scale_db_spl, tonality_reference_db, heatmap_columns, gains)
    spans = _SpanFinder(
        hop_s=grid.hop / sr,
        n_fft_s=grid.n_fft / sr,
        duration_s=stems.duration_s,
        threshold_fraction=1.0 - 2.0 ** (-range_threshold_db / 10.0),
        min_frames=max(1, math.ceil(min_range_s * sr / grid.hop)),
        gap_frames=round(merge_gap_s * sr / grid.hop),
    )

    # Every ordered pair: the masker's threshold against every target at once.
    lost_cols = np.zeros((n_stems, n_stems, m.n_bands, m.n_cols), np.float32)
    for a in range(n_stems):
        lost = _lost(m.intensity, m.alone, m.quiet[:, None] + m.threshold[a])
        lost[a] = 0.0
        lost_cols[a] = np.add.reduceat(lost, m.col_starts, axis=2, dtype=np.float64)
    lost_band = lost_cols.sum(axis=3, dtype=np.float64)  # (masker, target, band)
    pair_fraction = m.fraction(lost_band)  # (masker, target)

    pairs = []
    for a in range(n_stems):
        for s in range(n_stems):
            if s == a:
                continue
            worst = _top_bands(lost_band[a, s], n_worst_bands)
            bands, series = m.band_details(s, m.threshold[a], worst)
            pairs.append(
                PairMasking(
                    masker=names[a],
                    target=names[s],
                    masked_fraction=round(float(pair_fraction[a, s]), 4),
                    loss_db=round(_loss_db(pair_fraction[a, s]), 2),
                    worst_bands=bands,
                    time_ranges=spans(series, m.alone[s, worst[0]]) if bands else (),
                )
            )

    # Each stem against the rest of the mix: the sum of the other stems' thresholds.
    total = m.threshold.sum(axis=0, dtype=np.float64)
    stem_results = []
    for s in range(n_stems):
        others = np.maximum(total - m.threshold[s], 0.0).astype(np.float32)
        lost = _lost(m.intensity[s], m.alone[s], m.quiet[:, None] + others)
        cols = np.add.reduceat(lost, m.col_starts, axis=1, dtype=np.float64)
        band = cols.sum(axis=1)
        fraction = m.stem_fraction(s, band)
        worst = _top_bands(band, n_worst_bands)
        bands, series = m.band_details(s, others, worst)
        order = np.argsort(-pair_fraction[:, s], kind="stable")
        maskers = tuple(names[a] for a in order[:3] if a != s and pair_fraction[a, s] >= 0.005)
        with np.errstate(invalid="ignore", divide="ignore"):
            band_fraction = np.where(m.alone_band[s] > 0, band / m.alone_band[s], np.nan)
        stem_results.append(
            StemMasking(
                name=names[s],
                silent=bool(m.silent[s]),
                masked_fraction=round(fraction, 4),
                loss_db=round(_loss_db(fraction), 2),
                band_masked_fraction=np.round(band_fraction, 4),
                worst_bands=bands,
                time_ranges=spans(series, m.alone[s, worst[0]]) if bands else (),
                main_maskers=maskers,
                heatmap=_percent(m.column_fraction(s, cols)),
            )
        )

    upper_a, upper_s = np.triu_indices(n_stems, 1)
    scores = np.maximum(pair_fraction[upper_a, upper_s], pair_fraction[upper_s, upper_a])
    ranked = np.argsort(-scores, kind="stable")[:heatmap_pairs]
    with_map = {int(i) for i in ranked if scores[i] >= MIN_HEATMAP_SCORE}
    clashes = []
    for i, (a, s) in enumerate(zip(upper_a, upper_s, strict=True)):
        heatmap = None
        if i in with_map:
            both = np.maximum(
                m.column_fraction(s, lost_cols[a, s]), m.column_fraction(a, lost_cols[s, a])
            )
            heatmap = _percent(both)
        clashes.append(Clash((names[a], names[s]), round(float(scores[i]), 4), heatmap))

    return MaskingResult(
        stem_names=names,
        band_centres_hz=np.round(grid.centre_hz, 1),
        band_edges_hz=np.round(np.append(grid.low_hz, grid.high_hz[-1]), 1),
        times_s=np.round(m.col_times, 3),
        heatmap_step_s=float(m.n_frames / m.n_cols * grid.hop / sr),
        duration_s=stems.duration_s,
        pairs=tuple(pairs),
        pair_masked_fraction=np.round(pair_fraction, 4),
        stems=tuple(stem_results),
        clashes=tuple(clashes),
        silent_stems=tuple(n for n, q in zip(names, m.silent, strict=True) if q),
        settings=MaskingSettings(
            band_scale=band_scale,
            n_bands=m.n_bands,
            sample_rate=sr,
            n_fft=grid.n_fft,
            hop_length=grid.hop,
            hop_s=grid.hop / sr,
            full_scale_db_spl=full_scale_db_spl,
            tonality_reference_db=tonality_reference_db,
            range_threshold_db=range_threshold_db,
            min_range_s=min_range_s,
            merge_gap_s=merge_gap_s,
            heatmap_columns=heatmap_columns,
            heatmap_pairs=heatmap_pairs,
        ),
    )


class _Model:
    """The per-stem arrays of the model, shaped (stems, bands, frames), float32."""

    def __init__(
        self, stems: Stems, grid: _Grid, full_scale_db_spl, reference_db, columns, gains_db
    ):
        self.grid = grid
        spl_gain = 10.0 ** ((full_scale_db_spl + _SINE_RMS_DB) / 10.0)
        z = hz_to_bark(grid.centre_hz)
        band_number = (np.floor(z) + 1.0)[:, None]
        spread = 10.0 ** (spreading_db(z[:, None] - z[None, :]) / 10.0)  # (target, masker)
        spread = spread.astype(np.float32)
        intensity, threshold = [], []
        for name, audio in stems.items():
            power, sfm_db = _analyse(audio.samples, grid)
            scale = spl_gain * 10.0 ** (gains_db.get(name, 0.0) / 10.0)
            e = power * scale if name not in stems.silent else np.zeros_like(power)
            alpha = np.clip(sfm_db / reference_db, 0.0, 1.0)
            offset_db = alpha * (_TONE_OFFSET_DB + band_number) + (1 - alpha) * _NOISE_OFFSET_DB
            intensity.append(e.astype(np.float32))
            # einsum, not BLAS: these products are small, and BLAS threads spinning
            # between them would double the CPU time on a busy machine.
            masker = (e * 10.0 ** (-offset_db / 10.0)).astype(np.float32)
            threshold.append(np.einsum("bi,it->bt", spread, masker))
        self.intensity = np.stack(intensity)  # re (20 uPa)^2
        self.threshold = np.stack(threshold)
        self.n_bands, self.n_frames = self.intensity.shape[1:]
        self.quiet = (10.0 ** (absolute_threshold_db_spl(grid.centre_hz) / 10.0)).astype(np.float32)
        self.width_bark = np.diff(hz_to_bark(np.append(grid.low_hz, grid.high_hz[-1])))
        self.alone = _loudness(self.intensity, self.quiet[:, None])
        self.n_cols = min(columns, self.n_frames)
        self.col_starts = (np.arange(self.n_cols) * self.n_frames) // self.n_cols
        self.alone_cols = np.add.reduceat(self.alone, self.col_starts, axis=2, dtype=np.float64)
        self.alone_band = self.alone_cols.sum(axis=2)  # (stems, bands)
        self.alone_total = np.einsum("sb,b->s", self.alone_band, self.width_bark)
        self.silent = self.alone_total <= 0
        times = (np.arange(self.n_frames) * grid.hop + grid.n_fft / 2) / stems.sample_rate
        counts = np.diff(np.append(self.col_starts, self.n_frames))
        self.col_times = np.add.reduceat(times, self.col_starts) / counts

    def fraction(self, lost_band: np.ndarray) -> np.ndarray:
        """Share of each target's loudness lost, from lost loudness per band (..., target, band)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.einsum("...b,b->...", lost_band, self.width_bark) / self.alone_total
        return np.clip(np.nan_to_num(f), 0.0, 1.0)

    def stem_fraction(self, s: int, band: np.ndarray) -> float:
        if self.silent[s]:
            return 0.0
        return float(np.clip(np.dot(band, self.width_bark) / self.alone_total[s], 0.0, 1.0))

    def column_fraction(self, s: int, lost_cols: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num(lost_cols / self.alone_cols[s])

    def band_details(
        self, s: int, threshold: np.ndarray, bands: np.ndarray
    ) -> tuple[tuple[BandMasking, ...], np.ndarray | None]:
        """The :class:`BandMasking` of target ``s`` in ``bands`` under ``threshold``
        (bands, frames), and the loudness lost over time in the first of them."""
        if not len(bands) or self.silent[s]:
            return (), None
        thr = threshold[bands]
        lost = _lost(self.intensity[s, bands], self.alone[s, bands], self.quiet[bands, None] + thr)
        margin = 10.0 * np.log10(
            np.maximum(thr, 1e-10) / np.maximum(self.intensity[s, bands], 1e-10)
        )
        lost_sum = lost.sum(axis=1, dtype=np.float64)
        margin_db = (lost * margin).sum(axis=1, dtype=np.float64) / np.maximum(lost_sum, 1e-30)
        g = self.grid
        details = []
        for i, b in enumerate(bands):
            fraction = float(lost_sum[i] / self.alone_band[s, b])
            details.append(
                BandMasking(
                    low_hz=round(float(g.low_hz[b]), 1),
                    centre_hz=round(float(g.centre_hz[b]), 1),
                    high_hz=round(float(g.high_hz[b]), 1),
                    masked_fraction=round(fraction, 4),
                    loss_db=round(_loss_db(fraction), 2),
                    margin_db=round(float(margin_db[i]), 2),
                )
            )
        return tuple(details), lost[0]


def top_clashes(
    result: MaskingResult, n: int = 5, *, min_fraction: float = 0.0
) -> list[PairMasking]:
    """The ``n`` ordered pairs with the highest ``masked_fraction`` (at least
    ``min_fraction``), worst first; each knows where (``worst_bands``) and when
    (``time_ranges``), and :meth:`PairMasking.describe` says it in one line."""
    ranked = sorted(
        (p for p in result.pairs if p.masked_fraction > 0 and p.masked_fraction >= min_fraction),
        key=lambda p: (-p.masked_fraction, p.masker, p.target),
    )
    return ranked[:n]


# --- helpers --------------------------------------------------------------------------------


def _loudness(intensity: np.ndarray, quiet: np.ndarray) -> np.ndarray:
    """Zwicker's N' = 0.08 [(0.5 E_TQ + 0.5 E)^0.23 - E_TQ^0.23] (sone/Bark), float32."""
    k = np.float32(_ZWICKER_EXPONENT)
    n = np.power(quiet + intensity, k)
    n *= np.float32(0.5**_ZWICKER_EXPONENT)
    n -= np.power(quiet, k)
    np.maximum(n, 0.0, out=n)
    n *= np.float32(_ZWICKER_SONE)
    return n


def _lost(intensity: np.ndarray, alone: np.ndarray, raised: np.ndarray) -> np.ndarray:
    """Specific loudness taken away when the threshold in quiet rises to ``raised``."""
    lost = alone - _loudness(intensity, raised)
    np.maximum(lost, 0.0, out=lost)
    return lost


def _top_bands(lost_band: np.ndarray, n: int) -> np.ndarray:
    """Indices of the (at most ``n``) bands with the most loudness lost, worst first."""
    order = np.argsort(-lost_band, kind="stable")[:n]
    return order[lost_band[order] > 0]


def _loss_db(fraction: float) -> float:
    if fraction >= 1.0:
        return MAX_LOSS_DB
    return float(min(MAX_LOSS_DB, -10.0 * math.log2(1.0 - fraction)))


def _percent(fraction: np.ndarray) -> np.ndarray:
    return np.clip(np.round(100.0 * fraction), 0, 100).astype(np.uint8)


@dataclass(frozen=True)
class _SpanFinder:
    hop_s: float
    n_fft_s: float
    duration_s: float
    threshold_fraction: float
    min_frames: int
    gap_frames: int

    def __call__(self, lost: np.ndarray, alone: np.ndarray) -> tuple[MaskedSpan, ...]:
        with np.errstate(invalid="ignore", divide="ignore"):
            strong = (alone > 0) & (lost >= self.threshold_fraction * alone)
        runs = runs_of_true(strong)
        merged: list[list[int]] = []
        for start, end in runs:
            if merged and start - merged[-1][1] <= self.gap_frames:
                merged[-1][1] = end
            else:
                merged.append([int(start), int(end)])
        spans = []
        for start, end in merged:
            if end - start < self.min_frames:
                continue
            total = float(alone[start:end].sum())
            fraction = float(lost[start:end].sum()) / total if total > 0 else 0.0
            # From the centre of the first frame to that of the last (a frame's window
            # reaches half a frame further, into time where the sound may not yet be),
            # or to the signal's start and end where the run touches them.
            first = 0.0 if start == 0 else start * self.hop_s + self.n_fft_s / 2
            last = (end - 1) * self.hop_s + self.n_fft_s / 2
            if end == lost.size:
                last = self.duration_s
            spans.append(
                MaskedSpan(
                    start_s=round(first, 3),
                    end_s=round(min(self.duration_s, last), 3),
                    masked_fraction=round(fraction, 4),
                    loss_db=round(_loss_db(fraction), 2),
                )
            )
        return tuple(spans)


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60.0)
    return f"{int(m)}:{s:04.1f}"


def _where_and_when(bands: tuple[BandMasking, ...], spans: tuple[MaskedSpan, ...]) -> str:
    text = ""
    if bands:
        b = bands[0]
        text += f", most at {_hz(b.low_hz)}-{_hz(b.high_hz)} ({b.loss_db:.1f} dB there)"
    if spans:
        shown = ", ".join(f"{_clock(r.start_s)}-{_clock(r.end_s)}" for r in spans[:4])
        more = f" and {len(spans) - 4} more" if len(spans) > 4 else ""
        text += f", strongest {shown}{more}"
    return text + "."


def _hz(value: float) -> str:
    return f"{value / 1000:.3g} kHz" if value >= 1000 else f"{value:.0f} Hz"
