"""EQ filters: parametric biquads, Butterworth high- and low-passes, and chains of them.

Every filter is a small frozen dataclass (a composable processor, as in pedalboard):
its parameters are its fields, ``sos(sample_rate)`` gives its second-order sections
(scipy's ``(n_sections, 6)`` layout ``b0 b1 b2 a0 a1 a2``), ``process(audio)`` filters
each channel with :func:`scipy.signal.sosfilt`, ``response_db(frequencies_hz,
sample_rate)`` gives the exact magnitude response, and ``to_dict()`` /
:func:`filter_from_dict` give a JSON round trip.

- :class:`PeakingEQ`, :class:`LowShelf`, :class:`HighShelf`: the biquads of R.
  Bristow-Johnson's *Audio EQ Cookbook* (W3C Note, 2021), i.e. the bilinear transform
  of the analog prototypes prewarped at ``frequency_hz``, so the digital response hits
  the design exactly there: a peaking EQ has ``gain_db`` at its centre, a shelf
  ``gain_db / 2`` at its midpoint. With ``A = 10^(gain_db/40)``, ``w0 = 2 pi f0 / fs``,
  ``alpha = sin(w0) / (2 Q)``:

  - peaking: ``b = (1 + alpha A, -2 cos w0, 1 - alpha A)``,
    ``a = (1 + alpha / A, -2 cos w0, 1 - alpha / A)``; ``Q = f0 / bandwidth`` between the
    points at half the gain in dB (the cookbook's "midpoint gain" definition);
  - shelves: the cookbook's lowShelf and highShelf; the steepness is either ``q`` or the
    cookbook's shelf slope ``S`` (``1/Q = sqrt((A + 1/A)(1/S - 1) + 2)``; ``S = 1`` is the
    steepest without overshoot, the same as ``Q = 1/sqrt(2)``).

- :class:`HighPass`, :class:`LowPass`: Butterworth filters of order
  ``slope_db_per_octave / 6`` designed by :func:`scipy.signal.butter` (bilinear transform,
  prewarped at the cutoff), so ``|H|^2 = 1 / (1 + (tan(w/2) / tan(wc/2))^(2n))`` for the
  low-pass (the ratio inverted for the high-pass): -3.01 dB at ``cutoff_hz`` and
  ``20 n log10(2)`` (6.02 n) dB per octave far from it.

- :class:`EQ`: a chain of any of them (``bands``), applied in order; its response is the
  sum of theirs in dB.

The filters are causal IIR filters, like an analog or plug-in EQ: they shift phase
(minimum phase) around their frequencies. Zero-phase filtering
(:func:`scipy.signal.sosfiltfilt`) would square the magnitude and smear transients
before they happen, and is not what a mixing EQ does. Sections run in float64, so the
filters are stable and accurate from 8 kHz to 192 kHz (and beyond), including a 20 Hz
48 dB/octave high-pass at 192 kHz.

>>> eq = EQ((HighPass(30.0, 24), PeakingEQ(250.0, -3.0, 1.4), HighShelf(8000.0, 2.0)))
>>> round(float(eq.bands[1].response_db([250.0], 48000)[0]), 3)
-3.0
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import scipy.signal

from stemforge.audio.signal import Audio
from stemforge.errors import FilterParameterError

#: The largest boost or cut a band may have.
MAX_GAIN_DB = 24.0
#: Butterworth slopes on offer (6 dB per octave per order).
BUTTERWORTH_SLOPES_DB_PER_OCTAVE: tuple[int, ...] = (6, 12, 18, 24, 36, 48)
#: Default quality factor: 1/sqrt(2) (a Butterworth-like shelf, a wide peak).
DEFAULT_Q = 1.0 / math.sqrt(2.0)
_FLOOR_POWER = 1e-30  # -300 dB: the response at a zero on the unit circle


# --- shared helpers ---------------------------------------------------------------------


def apply_sos(audio: Audio, sos: np.ndarray) -> Audio:
    """Filter every channel of ``audio`` with second-order sections ``sos`` (causal).

    Runs :func:`scipy.signal.sosfilt` in float64 channel by channel from a zero
    state; the result has the input's length and sample rate.
    """
    sos = np.asarray(sos, dtype=np.float64)
    if sos.ndim != 2 or sos.shape[1] != 6:
        raise FilterParameterError(f"second-order sections must be shaped (n, 6), got {sos.shape}.")
    if sos.shape[0] == 0 or audio.frames == 0:
        return audio
    out = np.empty(audio.samples.shape, np.float32)
    for c in range(audio.channels):
        out[c] = scipy.signal.sosfilt(sos, audio.samples[c].astype(np.float64))
    return audio.with_samples(out)


def sos_response_db(sos: np.ndarray, frequencies_hz: Any, sample_rate: float) -> np.ndarray:
    """The magnitude response in dB of second-order sections at ``frequencies_hz``.

    The sum of :func:`section_responses_db` over the sections.
    """
    f = np.asarray(frequencies_hz, dtype=np.float64)
    return section_responses_db(sos, f, sample_rate).sum(axis=0).reshape(f.shape)


def section_responses_db(sos: np.ndarray, frequencies_hz: Any, sample_rate: float) -> np.ndarray:
    """Each section's magnitude response in dB, shaped (n_sections, n_frequencies).

    With ``phi = sin^2(w/2)`` (Audio EQ Cookbook, "magnitude response"):
    ``|H|^2 = ((b0+b1+b2)^2 - 4 (b0 b1 + 4 b0 b2 + b1 b2) phi + 16 b0 b2 phi^2) /
    (the same in a)``, a form that keeps its precision at low frequencies where
    the poles crowd z = 1. Zeros on the unit circle read -300 dB.
    """
    sos = np.asarray(sos, dtype=np.float64).reshape(-1, 6)
    phi = np.sin(np.pi * np.asarray(frequencies_hz, dtype=np.float64).ravel() / sample_rate) ** 2
    b0, b1, b2, a0, a1, a2 = (sos[:, i : i + 1] for i in range(6))
    num = (b0 + b1 + b2) ** 2 - 4 * (b0 * b1 + 4 * b0 * b2 + b1 * b2) * phi
    num = num + 16 * b0 * b2 * phi**2
    den = (a0 + a1 + a2) ** 2 - 4 * (a0 * a1 + 4 * a0 * a2 + a1 * a2) * phi
    den = den + 16 * a0 * a2 * phi**2
    return 10 * np.log10(np.maximum(num, _FLOOR_POWER)) - 10 * np.log10(den)


def _number(cls_name: str, field: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise FilterParameterError(f"{cls_name}.{field} must be a number, got {value!r}.") from None
    if not math.isfinite(out):
        raise FilterParameterError(f"{cls_name}.{field} must be finite, got {value!r}.")
    return out


# --- the base class ---------------------------------------------------------------------


class Filter:
    """Base of the EQ processors: parameters as fields, ``sos``, ``process``, ``response_db``.

    Subclasses are frozen dataclasses with a class attribute ``kind`` (the ``"type"``
    of their JSON form) and implement :meth:`sos`.
    """

    kind: ClassVar[str] = ""

    def sos(self, sample_rate: float) -> np.ndarray:
        """Second-order sections ``(n, 6)`` for ``sample_rate`` (Hz), normalised to a0 = 1."""
        raise NotImplementedError

    def process(self, audio: Audio) -> Audio:
        """``audio`` filtered by this processor (causal, per channel; see :func:`apply_sos`)."""
        return apply_sos(audio, self.sos(audio.sample_rate))

    def __call__(self, audio: Audio) -> Audio:
        return self.process(audio)

    def response_db(self, frequencies_hz: Any, sample_rate: float) -> np.ndarray:
        """The exact magnitude response in dB at ``frequencies_hz`` for ``sample_rate``."""
        return sos_response_db(self.sos(sample_rate), frequencies_hz, sample_rate)

    def to_dict(self) -> dict[str, Any]:
        """``{"type": kind, <field>: value, ...}``: JSON-safe, read back by :meth:`from_dict`."""
        out: dict[str, Any] = {"type": self.kind}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            out[f.name] = getattr(self, f.name)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Filter:
        """Rebuild a filter from :meth:`to_dict`'s output.

        On :class:`Filter` itself the ``"type"`` key picks the class; on a subclass it
        must be absent or name that class.
        """
        if not isinstance(data, Mapping):
            raise FilterParameterError(
                f"a filter must be a JSON object, got {type(data).__name__}."
            )
        kind = data.get("type")
        if cls is Filter:
            if not isinstance(kind, str) or kind not in _REGISTRY:
                raise FilterParameterError(
                    f"unknown filter type {kind!r}.", hint=f"Use one of {sorted(_REGISTRY)}."
                )
            return _REGISTRY[kind].from_dict(data)
        if kind is not None and kind != cls.kind:
            raise FilterParameterError(f"expected a filter of type {cls.kind!r}, got {kind!r}.")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - names - {"type"}
        if unknown:
            raise FilterParameterError(
                f"{cls.__name__} has no parameter(s) {sorted(unknown)}.",
                hint=f"Its parameters are {sorted(names)}.",
            )
        try:
            return cls(**{k: v for k, v in data.items() if k != "type"})
        except TypeError as exc:
            raise FilterParameterError(f"{cls.__name__}: {exc}.") from None

    # Validation shared by the subclasses.
    def _check_frequency(self, field: str, frequency_hz: float, sample_rate: float) -> None:
        if not sample_rate > 0:
            raise FilterParameterError(f"sample_rate must be positive, got {sample_rate}.")
        nyquist = sample_rate / 2
        if frequency_hz >= nyquist:
            raise FilterParameterError(
                f"{type(self).__name__}.{field} = {frequency_hz:g} Hz is at or above the Nyquist "
                f"frequency ({nyquist:g} Hz) of {sample_rate:g} Hz audio.",
                hint=f"Choose a frequency below {nyquist:g} Hz or resample the audio.",
            )


_REGISTRY: dict[str, type[Filter]] = {}


def _register(cls: type[Filter]) -> type[Filter]:
    _REGISTRY[cls.kind] = cls
    return cls


def filter_from_dict(data: Mapping[str, Any]) -> Filter:
    """Any filter or :class:`EQ` chain from its ``to_dict()`` form (``"type"`` picks the class)."""
    return Filter.from_dict(data)


# --- RBJ biquads ------------------------------------------------------------------------


#: The ``kind`` codes of :func:`rbj_sos`.
PEAKING, LOW_SHELF, HIGH_SHELF = 0, 1, 2


def rbj_sos(kind: Any, frequency_hz: Any, gain_db: Any, q: Any, sample_rate: float) -> np.ndarray:
    """Audio EQ Cookbook biquads, vectorised: one section per element, shaped (n, 6).

    ``kind`` is :data:`PEAKING`, :data:`LOW_SHELF` or :data:`HIGH_SHELF` (arrays
    broadcast together). No validation: this is the fast path behind the filter
    classes (which validate) and EQ fitting. With ``A = 10^(g/40)``, ``c = cos w0``,
    ``k = 2 sqrt(A) alpha``, ``alpha = sin(w0) / (2 Q)``:

    - peaking ``b = (1 + alpha A, -2c, 1 - alpha A)``, ``a = (1 + alpha/A, -2c, 1 - alpha/A)``;
    - low shelf ``b = A((A+1) - (A-1)c + k, 2((A-1) - (A+1)c), (A+1) - (A-1)c - k)``,
      ``a = ((A+1) + (A-1)c + k, -2((A-1) + (A+1)c), (A+1) + (A-1)c - k)``;
    - high shelf: the low shelf with ``c -> -c`` and the odd coefficients negated.
    """
    kind, f, g, q = np.broadcast_arrays(
        np.asarray(kind),
        np.asarray(frequency_hz, float),
        np.asarray(gain_db, float),
        np.asarray(q, float),
    )
    kind, f, g, q = (np.atleast_1d(v) for v in (kind, f, g, q))
    a_gain = 10 ** (g / 40)
    w0 = 2 * np.pi * f / sample_rate
    cos_w0 = np.cos(w0)
    alpha = np.sin(w0) / (2 * q)
    one = np.ones_like(f)
    # Peaking.
    b = np.stack([1 + alpha * a_gain, -2 * cos_w0, 1 - alpha * a_gain])
    a = np.stack([1 + alpha / a_gain, -2 * cos_w0, 1 - alpha / a_gain])
    shelf = kind != PEAKING
    if shelf.any():
        # A high shelf is the low shelf's formula with cos w0 negated and b1, a1 negated.
        sign = np.where(kind == HIGH_SHELF, -1.0, 1.0)
        c = sign * cos_w0
        k = 2 * np.sqrt(a_gain) * alpha
        ap, am = a_gain + 1, a_gain - 1
        sb = np.stack(
            [
                a_gain * (ap - am * c + k),
                sign * 2 * a_gain * (am - ap * c),
                a_gain * (ap - am * c - k),
            ]
        )
        sa = np.stack([ap + am * c + k, sign * -2 * (am + ap * c), ap + am * c - k])
        b = np.where(shelf, sb, b)
        a = np.where(shelf, sa, a)
    return np.stack([b[0] / a[0], b[1] / a[0], b[2] / a[0], one, a[1] / a[0], a[2] / a[0]], axis=1)


class _Biquad(Filter):
    """Shared validation of the cookbook biquads: frequency > 0, |gain| <= 24 dB, q > 0."""

    frequency_hz: float
    gain_db: float
    _code: ClassVar[int] = PEAKING

    def _validate_common(self) -> None:
        name = type(self).__name__
        f = _number(name, "frequency_hz", self.frequency_hz)
        g = _number(name, "gain_db", self.gain_db)
        if f <= 0:
            raise FilterParameterError(f"{name}.frequency_hz must be above 0 Hz, got {f:g}.")
        if abs(g) > MAX_GAIN_DB:
            raise FilterParameterError(
                f"{name}.gain_db = {g:g} dB is beyond +/-{MAX_GAIN_DB:g} dB.",
                hint="Split a larger change between gain staging and EQ.",
            )
        object.__setattr__(self, "frequency_hz", f)
        object.__setattr__(self, "gain_db", g)

    def _check_q(self, value: Any, field: str = "q") -> float:
        q = _number(type(self).__name__, field, value)
        if q <= 0:
            raise FilterParameterError(f"{type(self).__name__}.{field} must be above 0, got {q:g}.")
        return q

    @property
    def effective_q(self) -> float:
        return self.q  # type: ignore[attr-defined]

    def sos(self, sample_rate: float) -> np.ndarray:
        self._check_frequency("frequency_hz", self.frequency_hz, sample_rate)
        return rbj_sos(self._code, self.frequency_hz, self.gain_db, self.effective_q, sample_rate)


@_register
@dataclass(frozen=True)
class PeakingEQ(_Biquad):
    """A bell: ``gain_db`` at ``frequency_hz``, width ``q`` = f0 / bandwidth (Audio EQ Cookbook).

    >>> round(float(PeakingEQ(1000.0, 6.0, 2.0).response_db([1000.0], 48000)[0]), 6)
    6.0
    """

    kind: ClassVar[str] = "peaking"
    frequency_hz: float
    gain_db: float
    q: float = DEFAULT_Q

    def __post_init__(self) -> None:
        self._validate_common()
        object.__setattr__(self, "q", self._check_q(self.q))


class _Shelf(_Biquad):
    """A cookbook shelf; steepness from ``q`` or ``slope`` (not both; neither: q = 1/sqrt 2)."""

    q: float | None
    slope: float | None

    def __post_init__(self) -> None:
        self._validate_common()
        if self.q is not None and self.slope is not None:
            raise FilterParameterError(
                f"{type(self).__name__}: give q or slope, not both.",
                hint="slope S = 1 is the steepest shelf without overshoot (the same as q = 0.707).",
            )
        if self.slope is not None:
            slope = self._check_q(self.slope, "slope")
            object.__setattr__(self, "slope", slope)
            a_gain = 10 ** (self.gain_db / 40)
            if (a_gain + 1 / a_gain) * (1 / slope - 1) + 2 <= 0:
                limit = 1 / (1 - 2 / (a_gain + 1 / a_gain))
                raise FilterParameterError(
                    f"{type(self).__name__}.slope = {slope:g} is too steep for "
                    f"{self.gain_db:g} dB (the cookbook's formula allows S < {limit:.3g}).",
                    hint="Use slope <= 1 for a shelf without overshoot.",
                )
        else:
            q = DEFAULT_Q if self.q is None else self.q
            object.__setattr__(self, "q", self._check_q(q))

    @property
    def effective_q(self) -> float:
        """The shelf's Q, from ``q`` or converted from ``slope`` (cookbook formula)."""
        if self.slope is None:
            assert self.q is not None
            return self.q
        a_gain = 10 ** (self.gain_db / 40)
        return 1 / math.sqrt((a_gain + 1 / a_gain) * (1 / self.slope - 1) + 2)


@_register
@dataclass(frozen=True)
class LowShelf(_Shelf):
    """Boost or cut below ``frequency_hz`` by ``gain_db`` (half of it at ``frequency_hz``)."""

    kind: ClassVar[str] = "low_shelf"
    _code: ClassVar[int] = LOW_SHELF
    frequency_hz: float
    gain_db: float
    q: float | None = None
    slope: float | None = None


@_register
@dataclass(frozen=True)
class HighShelf(_Shelf):
    """Boost or cut above ``frequency_hz`` by ``gain_db`` (half of it at ``frequency_hz``)."""

    kind: ClassVar[str] = "high_shelf"
    _code: ClassVar[int] = HIGH_SHELF
    frequency_hz: float
    gain_db: float
    q: float | None = None
    slope: float | None = None


# --- Butterworth passes -----------------------------------------------------------------


class _Butterworth(Filter):
    cutoff_hz: float
    slope_db_per_octave: int
    _btype: ClassVar[str] = ""

    def __post_init__(self) -> None:
        name = type(self).__name__
        f = _number(name, "cutoff_hz", self.cutoff_hz)
        if f <= 0:
            raise FilterParameterError(f"{name}.cutoff_hz must be above 0 Hz, got {f:g}.")
        slope = self.slope_db_per_octave
        if isinstance(slope, bool) or slope not in BUTTERWORTH_SLOPES_DB_PER_OCTAVE:
            raise FilterParameterError(
                f"{name}.slope_db_per_octave must be one of "
                f"{list(BUTTERWORTH_SLOPES_DB_PER_OCTAVE)}, got {slope!r}."
            )
        object.__setattr__(self, "cutoff_hz", f)
        object.__setattr__(self, "slope_db_per_octave", int(slope))

    @property
    def order(self) -> int:
        """The Butterworth order: ``slope_db_per_octave / 6``."""
        return self.slope_db_per_octave // 6

    def sos(self, sample_rate: float) -> np.ndarray:
        self._check_frequency("cutoff_hz", self.cutoff_hz, sample_rate)
        return scipy.signal.butter(
            self.order, self.cutoff_hz, btype=self._btype, output="sos", fs=sample_rate
        )


@_register
@dataclass(frozen=True)
class HighPass(_Butterworth):
    """Butterworth high-pass: -3.01 dB at ``cutoff_hz``, ``slope_db_per_octave`` below it."""

    kind: ClassVar[str] = "high_pass"
    _btype: ClassVar[str] = "highpass"
    cutoff_hz: float
    slope_db_per_octave: int = 12


@_register
@dataclass(frozen=True)
class LowPass(_Butterworth):
    """Butterworth low-pass: -3.01 dB at ``cutoff_hz``, ``slope_db_per_octave`` above it."""

    kind: ClassVar[str] = "low_pass"
    _btype: ClassVar[str] = "lowpass"
    cutoff_hz: float
    slope_db_per_octave: int = 12


# --- the chain --------------------------------------------------------------------------


@_register
@dataclass(frozen=True)
class EQ(Filter):
    """A chain of filters applied in order; an empty chain passes audio through unchanged.

    ``bands`` may be given as any iterable of filters (or their dicts); it is kept as a
    tuple. The chain's response is the sum of the bands' responses in dB.
    """

    kind: ClassVar[str] = "eq"
    bands: tuple[Filter, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.bands, (Filter, Mapping)) or not isinstance(self.bands, Iterable):
            raise FilterParameterError(
                "EQ.bands must be a sequence of filters, e.g. EQ((PeakingEQ(250, -3, 1.4),))."
            )
        bands = []
        for band in self.bands:
            if isinstance(band, Mapping):
                band = filter_from_dict(band)
            if not isinstance(band, Filter):
                raise FilterParameterError(
                    f"EQ.bands holds {type(band).__name__}, not a filter.",
                    hint="Use PeakingEQ, LowShelf, HighShelf, HighPass, LowPass or EQ.",
                )
            bands.append(band)
        object.__setattr__(self, "bands", tuple(bands))

    def __len__(self) -> int:
        return len(self.bands)

    def __iter__(self):
        return iter(self.bands)

    def sos(self, sample_rate: float) -> np.ndarray:
        if not self.bands:
            return np.zeros((0, 6))
        return np.concatenate([b.sos(sample_rate) for b in self.bands], axis=0)

    def response_db(self, frequencies_hz: Any, sample_rate: float) -> np.ndarray:
        f = np.asarray(frequencies_hz, dtype=np.float64)
        total = np.zeros(f.shape)
        for b in self.bands:
            total = total + b.response_db(f, sample_rate)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "bands": [b.to_dict() for b in self.bands]}
