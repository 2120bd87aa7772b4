"""Frequency bands shared by the stereo and spectrum analyses.

Octave and third-octave bands follow IEC 61260-1:2014 (base-ten system): the
octave ratio is G = 10^(3/10), the exact mid-band frequencies of 1/b-octave bands
are f_m = 1000 Hz * G^(x/b) for integer x (b odd), and the band edges are
f_m * G^(+-1/(2b)). The names are the ISO 266 preferred (nominal) frequencies,
e.g. the band at exactly 31.62 Hz is "31.5 Hz".

The named tonal-balance bands are the usual mixing-engineer vocabulary, with
edges in Hz (each band includes its low edge and excludes its high edge):
sub 20-60, bass 60-250, low-mid 250-500, mid 500-2000, high-mid 2000-4000,
presence 4000-6000, air 6000-20000.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemforge.results import Result

#: The base-ten octave ratio G of IEC 61260-1.
OCTAVE_RATIO = 10.0**0.3
REFERENCE_HZ = 1000.0

#: ISO 266 preferred frequencies of the third-octave bands x = -17 .. 13 (20 Hz .. 20 kHz).
THIRD_OCTAVE_NOMINAL_HZ: tuple[float, ...] = (
    20, 25, 31.5, 40, 50, 63, 80, 100, 125, 160, 200, 250, 315, 400, 500, 630, 800,
    1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000, 10000, 12500, 16000, 20000,
)  # fmt: skip
_THIRD_OCTAVE_FIRST_X = -17

#: ISO 266 preferred frequencies of the octave bands 31.5 Hz .. 16 kHz.
OCTAVE_NOMINAL_HZ: tuple[float, ...] = THIRD_OCTAVE_NOMINAL_HZ[2::3]


@dataclass(frozen=True)
class Band(Result):
    """A frequency band: ``low_hz <= f < high_hz``, ``centre_hz`` its geometric centre."""

    name: str
    low_hz: float
    centre_hz: float
    high_hz: float

    @property
    def width_hz(self) -> float:
        return self.high_hz - self.low_hz


#: The named tonal-balance bands (edges in Hz).
TONAL_BAND_EDGES_HZ: tuple[tuple[str, float, float], ...] = (
    ("sub", 20.0, 60.0),
    ("bass", 60.0, 250.0),
    ("low_mid", 250.0, 500.0),
    ("mid", 500.0, 2000.0),
    ("high_mid", 2000.0, 4000.0),
    ("presence", 4000.0, 6000.0),
    ("air", 6000.0, 20000.0),
)


def _label(nominal_hz: float) -> str:
    if nominal_hz >= 1000:
        return f"{nominal_hz / 1000:g} kHz"
    return f"{nominal_hz:g} Hz"


def _iso_bands(fraction: int, min_hz: float, max_hz: float, nyquist_hz: float | None) -> tuple:
    """ISO bands of 1/``fraction`` octave whose nominal frequency lies in [min_hz, max_hz]."""
    step = 3 // fraction  # index step through the third-octave table
    bands = []
    for i, nominal in enumerate(THIRD_OCTAVE_NOMINAL_HZ):
        x3 = _THIRD_OCTAVE_FIRST_X + i
        if x3 % step != 0 or not min_hz <= nominal <= max_hz:
            continue
        centre = REFERENCE_HZ * OCTAVE_RATIO ** (x3 / 3)
        half = OCTAVE_RATIO ** (1 / (2 * fraction))
        low, high = centre / half, centre * half
        if nyquist_hz is not None:
            if low >= nyquist_hz:
                continue
            high = min(high, nyquist_hz)
        bands.append(Band(_label(nominal), low, centre, high))
    return tuple(bands)


def octave_bands(
    *, min_hz: float = 31.5, max_hz: float = 16000.0, nyquist_hz: float | None = None
) -> tuple[Band, ...]:
    """The IEC 61260-1 octave bands with nominal centres 31.5 Hz .. 16 kHz.

    With ``nyquist_hz`` bands that start above it are dropped and the last one is
    cut at it.
    """
    return _iso_bands(1, min_hz, max_hz, nyquist_hz)


def third_octave_bands(
    *, min_hz: float = 20.0, max_hz: float = 20000.0, nyquist_hz: float | None = None
) -> tuple[Band, ...]:
    """The IEC 61260-1 third-octave bands with nominal centres 20 Hz .. 20 kHz."""
    return _iso_bands(3, min_hz, max_hz, nyquist_hz)


def tonal_bands(*, nyquist_hz: float | None = None) -> tuple[Band, ...]:
    """The named tonal-balance bands (see the module docstring for the edges)."""
    bands = []
    for name, low, high in TONAL_BAND_EDGES_HZ:
        if nyquist_hz is not None:
            if low >= nyquist_hz:
                continue
            high = min(high, nyquist_hz)
        bands.append(Band(name, low, float(np.sqrt(low * high)), high))
    return tuple(bands)


def log_grid_bands(
    min_hz: float, max_hz: float, *, points_per_octave: int = 24
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A log-spaced grid: centres and the (low, high) edges of cells 1/``points_per_octave`` wide.

    Returns ``(centres_hz, low_hz, high_hz)``; the centres run from ``min_hz`` up to
    the last one whose cell ends at or below ``max_hz``.
    """
    n = int(np.floor(points_per_octave * np.log2(max_hz / min_hz) - 0.5)) + 1
    centres = min_hz * 2.0 ** (np.arange(max(n, 0)) / points_per_octave)
    half = 2.0 ** (1 / (2 * points_per_octave))
    return centres, centres / half, centres * half


def bin_weights(
    low_hz: np.ndarray, high_hz: np.ndarray, *, n_bins: int, bin_hz: float
) -> np.ndarray:
    """Fractional-overlap weights mapping FFT bins to bands, shaped (n_bands, n_bins).

    Bin k is taken to cover [(k - 1/2) bin_hz, (k + 1/2) bin_hz]; the weight is the
    fraction of it inside [low_hz, high_hz]. ``weights @ power`` sums the power of
    each band, splitting edge bins in proportion, so bands narrower than a bin
    still get their share of a smooth spectrum.
    """
    lo = np.asarray(low_hz, dtype=np.float64)[:, None]
    hi = np.asarray(high_hz, dtype=np.float64)[:, None]
    k = np.arange(n_bins, dtype=np.float64)[None, :]
    b_lo = (k - 0.5) * bin_hz
    b_hi = (k + 0.5) * bin_hz
    overlap = np.minimum(hi, b_hi) - np.maximum(lo, b_lo)
    return np.clip(overlap / bin_hz, 0.0, 1.0)


def band_arrays(bands: tuple[Band, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(low_hz, centre_hz, high_hz)`` arrays of a band tuple."""
    return (
        np.array([b.low_hz for b in bands], dtype=np.float64),
        np.array([b.centre_hz for b in bands], dtype=np.float64),
        np.array([b.high_hz for b in bands], dtype=np.float64),
    )
