"""The mix sheet: every decision of a mix, readable and editable, that re-renders the same mix.

A :class:`MixSheet` holds one :class:`StemChannel` per stem (gain, constant-power pan,
mute and solo, :class:`ChannelEQ`, :class:`Compressor`, reverb send, start offset, and
``notes`` saying why each setting was chosen) and a :class:`MasterBus` (EQ, glue
compressor, true-peak :class:`Limiter`, the shared :class:`Reverb`). Everything is a
frozen dataclass whose fields carry their units; values are checked when a sheet is
built and a bad one raises :class:`~stemforge.mixing.errors.MixSheetError` naming the
field and the allowed range.

Numbers are rounded when the sheet is built, to the precision its JSON shows (0.01 dB,
0.01 Hz, 0.01 ms, 0.001 for pan and Q, 1 µs for offsets), so that ``to_json`` and
``from_json`` give back an equal sheet and a saved sheet re-renders bit for bit the mix
rendered from the sheet in memory.

The JSON form is versioned (:data:`SHEET_VERSION`): a sheet written by a newer
stemforge, or holding fields this version does not know, is refused with a message
saying so, rather than being rendered differently. Fields left out of a hand-written
sheet take their defaults.

>>> sheet = MixSheet.flat(["kick", "bass"]).with_stem("bass", gain_db=-3.0, pan=-0.2)
>>> MixSheet.from_json(sheet.to_json()) == sheet
True
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stemforge.audio.filters import EQ, HighPass, HighShelf, LowPass, LowShelf, PeakingEQ
from stemforge.audio.signal import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from stemforge.mixing.errors import MixSheetError
from stemforge.output import write_bytes_atomic
from stemforge.results import Result

__all__ = [
    "MAX_BANDS",
    "PASS_SLOPES_DB_PER_OCT",
    "SHEET_VERSION",
    "Band",
    "ChannelEQ",
    "Compressor",
    "Limiter",
    "MasterBus",
    "MixSheet",
    "MixSheetError",
    "Reverb",
    "StemChannel",
]

#: Version of the JSON form; bumped when a field changes meaning.
SHEET_VERSION = 1
#: Peaking bands per EQ.
MAX_BANDS = 6
#: Slopes of the high- and low-pass filters (Butterworth orders 2, 4 and 8).
PASS_SLOPES_DB_PER_OCT = (12, 24, 48)
#: Most stems in one sheet (as :data:`stemforge.audio.stems.MAX_STEMS`).
MAX_STEMS = 64
#: Largest boost or cut of a shelf or band (as :data:`stemforge.audio.filters.MAX_GAIN_DB`).
MAX_EQ_GAIN_DB = 24.0


# --- validation helpers -------------------------------------------------------------------


def _num(
    owner: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    decimals: int = 2,
    hint: str | None = None,
) -> float:
    """``value`` as a float rounded to ``decimals``, checked to lie in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise MixSheetError(f"{owner}.{name} must be a number, got {value!r}.", hint=hint)
    out = float(value)
    if not math.isfinite(out):
        raise MixSheetError(f"{owner}.{name} must be finite, got {value!r}.", hint=hint)
    out = round(out, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0
    too_low = low is not None and (out <= low if low_open else out < low)
    too_high = high is not None and out > high
    if too_low or too_high:
        if low is not None and high is not None:
            lower = f"above {low:g} and at most" if low_open else f"from {low:g} to"
            allowed = f"{lower} {high:g}"
        elif low is not None:
            allowed = f"{'above' if low_open else 'at least'} {low:g}"
        else:
            allowed = f"at most {high:g}"
        raise MixSheetError(f"{owner}.{name} must be {allowed}, got {value!r}.", hint=hint)
    return out


def _opt_num(owner: str, name: str, value: Any, **kwargs) -> float | None:
    return None if value is None else _num(owner, name, value, **kwargs)


def _bool(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise MixSheetError(f"{owner}.{name} must be true or false, got {value!r}.")
    return value


def _text(owner: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise MixSheetError(f"{owner}.{name} must be text, got {value!r}.")
    return value


def _notes(owner: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise MixSheetError(
            f"{owner}.notes must be a list of sentences, got {value!r}.",
            hint='Write e.g. "notes": ["High-passed at 40 Hz to clear rumble."]',
        )
    notes = tuple(value)
    for note in notes:
        if not isinstance(note, str):
            raise MixSheetError(f"{owner}.notes must hold text only, got {note!r}.")
    return notes


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _slope(owner: str, name: str, value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or value not in PASS_SLOPES_DB_PER_OCT
    ):
        raise MixSheetError(
            f"{owner}.{name} must be one of {list(PASS_SLOPES_DB_PER_OCT)} dB/oct, got {value!r}.",
            hint="12, 24 and 48 dB/oct are Butterworth filters of order 2, 4 and 8.",
        )
    return int(value)


def _in(where: str, exc: MixSheetError) -> MixSheetError:
    """``exc`` again with ``where`` (the place in the sheet) in front of its message."""
    return MixSheetError(f"{where}: {exc.message}", hint=exc.hint)


def _from_mapping(cls: type, data: Any, where: str, nested: Mapping[str, Any] | None = None):
    """Build dataclass ``cls`` from a JSON object, refusing unknown fields.

    ``nested`` maps a field name to the function that builds that field's value from
    its JSON (given the value and its place).
    """
    if not isinstance(data, Mapping):
        raise MixSheetError(
            f"{where} must be a JSON object (a {cls.__name__}), got {type(data).__name__}."
        )
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise MixSheetError(
            f"{where} has unknown field(s) {unknown}.",
            hint=f"A {cls.__name__} has the fields {names}; check the spelling, or upgrade "
            "stemforge if the sheet was written by a newer version.",
        )
    kwargs = {}
    for key, value in data.items():
        if nested and key in nested and value is not None:
            value = nested[key](value, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except MixSheetError as exc:
        raise _in(where, exc) from None


def _coerce(cls: type, value: Any, owner: str, name: str):
    """A nested sheet object given as itself or as its JSON object."""
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return cls.from_dict(value, where=f"{owner}.{name}")
    raise MixSheetError(f"{owner}.{name} must be a {cls.__name__}, got {type(value).__name__}.")


def _check_below_nyquist(where: str, frequency_hz: float, sample_rate: float) -> None:
    nyquist = sample_rate / 2
    if frequency_hz >= nyquist:
        raise MixSheetError(
            f"{where} = {frequency_hz:g} Hz is at or above the Nyquist frequency "
            f"({nyquist:g} Hz) of the render rate {sample_rate:g} Hz.",
            hint=f"Set it below {nyquist:g} Hz, or render at a higher sample_rate.",
        )


class _SheetPart(Result):
    """Shared ``from_dict`` of the sheet's dataclasses (JSON object -> instance)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str | None = None):
        return _from_mapping(cls, data, where or cls.__name__, cls._nested_builders())

    @classmethod
    def _nested_builders(cls) -> Mapping[str, Any]:
        return {}


# --- the parts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Band(_SheetPart):
    """A peaking (bell) band: ``gain_db`` at ``frequency_hz``, width ``q`` (Audio EQ Cookbook)."""

    frequency_hz: float
    gain_db: float
    q: float = 1.0

    def __post_init__(self) -> None:
        _set(
            self,
            "frequency_hz",
            _num("Band", "frequency_hz", self.frequency_hz, low=0, low_open=True),
        )
        _set(
            self,
            "gain_db",
            _num("Band", "gain_db", self.gain_db, low=-MAX_EQ_GAIN_DB, high=MAX_EQ_GAIN_DB),
        )
        _set(self, "q", _num("Band", "q", self.q, low=0.05, high=100.0, decimals=3))


def _bands(value: Any, where: str) -> tuple[Band, ...]:
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise MixSheetError(f"{where} must be a list of bands, got {value!r}.")
    out = []
    for i, band in enumerate(value):
        if isinstance(band, Mapping):
            band = Band.from_dict(band, where=f"{where}[{i}]")
        out.append(band)
    return tuple(out)


@dataclass(frozen=True)
class ChannelEQ(_SheetPart):
    """An EQ: high- and low-pass (Butterworth, 12, 24 or 48 dB/oct), two shelves, <= 6 bells.

    A filter is off when its frequency is ``None``; a shelf or band with 0 dB gain is a
    no-op and left out of :meth:`filters`. Signal order: high-pass, low shelf, bands,
    high shelf, low-pass.
    """

    high_pass_hz: float | None = None
    high_pass_slope_db_per_oct: int = 12
    low_pass_hz: float | None = None
    low_pass_slope_db_per_oct: int = 12
    low_shelf_hz: float | None = None
    low_shelf_gain_db: float = 0.0
    high_shelf_hz: float | None = None
    high_shelf_gain_db: float = 0.0
    bands: tuple[Band, ...] = ()

    def __post_init__(self) -> None:
        o = "ChannelEQ"
        for name in ("high_pass_hz", "low_pass_hz", "low_shelf_hz", "high_shelf_hz"):
            _set(self, name, _opt_num(o, name, getattr(self, name), low=0, low_open=True))
        for name in ("high_pass_slope_db_per_oct", "low_pass_slope_db_per_oct"):
            _set(self, name, _slope(o, name, getattr(self, name)))
        for name in ("low_shelf_gain_db", "high_shelf_gain_db"):
            value = getattr(self, name)
            _set(self, name, _num(o, name, value, low=-MAX_EQ_GAIN_DB, high=MAX_EQ_GAIN_DB))
        bands = _bands(self.bands, f"{o}.bands")
        for band in bands:
            if not isinstance(band, Band):
                raise MixSheetError(f"{o}.bands must hold Band objects, got {type(band).__name__}.")
        if len(bands) > MAX_BANDS:
            raise MixSheetError(
                f"{o}.bands holds {len(bands)} peaking bands; at most {MAX_BANDS} are allowed.",
                hint="Merge neighbouring bands, or use the shelves for broad changes.",
            )
        _set(self, "bands", bands)
        hp, lp = self.high_pass_hz, self.low_pass_hz
        if hp is not None and lp is not None and hp >= lp:
            raise MixSheetError(
                f"{o}.high_pass_hz ({hp:g} Hz) must be below low_pass_hz ({lp:g} Hz); "
                "together they would remove the whole signal.",
                hint="Swap them, or turn one off (null).",
            )

    @classmethod
    def _nested_builders(cls) -> Mapping[str, Any]:
        return {"bands": _bands}

    @property
    def is_flat(self) -> bool:
        """True when the EQ changes nothing (no pass filter, no shelf or band with gain)."""
        return not self._active()

    def _active(self) -> list[tuple[str, float]]:
        """The (field, frequency) of each active filter, in signal order."""
        out: list[tuple[str, float]] = []
        if self.high_pass_hz is not None:
            out.append(("high_pass_hz", self.high_pass_hz))
        if self.low_shelf_hz is not None and self.low_shelf_gain_db != 0:
            out.append(("low_shelf_hz", self.low_shelf_hz))
        for i, band in enumerate(self.bands):
            if band.gain_db != 0:
                out.append((f"bands[{i}].frequency_hz", band.frequency_hz))
        if self.high_shelf_hz is not None and self.high_shelf_gain_db != 0:
            out.append(("high_shelf_hz", self.high_shelf_hz))
        if self.low_pass_hz is not None:
            out.append(("low_pass_hz", self.low_pass_hz))
        return out

    def filters(self, sample_rate: float, *, where: str = "eq") -> EQ | None:
        """The :class:`stemforge.audio.filters.EQ` chain for ``sample_rate``; ``None`` if flat.

        Raises :class:`MixSheetError` when a frequency is at or above Nyquist.
        """
        for name, frequency_hz in self._active():
            _check_below_nyquist(f"{where}.{name}", frequency_hz, sample_rate)
        chain = []
        if self.high_pass_hz is not None:
            chain.append(HighPass(self.high_pass_hz, self.high_pass_slope_db_per_oct))
        if self.low_shelf_hz is not None and self.low_shelf_gain_db != 0:
            chain.append(LowShelf(self.low_shelf_hz, self.low_shelf_gain_db))
        chain.extend(PeakingEQ(b.frequency_hz, b.gain_db, b.q) for b in self.bands if b.gain_db)
        if self.high_shelf_hz is not None and self.high_shelf_gain_db != 0:
            chain.append(HighShelf(self.high_shelf_hz, self.high_shelf_gain_db))
        if self.low_pass_hz is not None:
            chain.append(LowPass(self.low_pass_hz, self.low_pass_slope_db_per_oct))
        return EQ(tuple(chain)) if chain else None


@dataclass(frozen=True)
class Compressor(_SheetPart):
    """A feed-forward compressor (see :mod:`stemforge.mixing.dynamics`).

    Above ``threshold_db`` the level rises by 1/``ratio``; the knee is ``knee_db`` wide
    (soft, quadratic); ``attack_ms`` and ``release_ms`` are the detector's time
    constants (time to 1 - 1/e of a step); ``makeup_db`` is added after.
    """

    threshold_db: float = -18.0
    ratio: float = 2.0
    attack_ms: float = 10.0
    release_ms: float = 100.0
    knee_db: float = 6.0
    makeup_db: float = 0.0

    def __post_init__(self) -> None:
        o = "Compressor"
        _set(self, "threshold_db", _num(o, "threshold_db", self.threshold_db, low=-80, high=0))
        _set(
            self,
            "ratio",
            _num(
                o,
                "ratio",
                self.ratio,
                low=1,
                high=100,
                hint="A ratio is >= 1: 1 leaves the level unchanged, 4 is 4:1.",
            ),
        )
        _set(self, "attack_ms", _num(o, "attack_ms", self.attack_ms, low=0, high=1000))
        _set(
            self,
            "release_ms",
            _num(o, "release_ms", self.release_ms, low=0, low_open=True, high=10000),
        )
        _set(self, "knee_db", _num(o, "knee_db", self.knee_db, low=0, high=48))
        _set(self, "makeup_db", _num(o, "makeup_db", self.makeup_db, low=-48, high=48))


@dataclass(frozen=True)
class Limiter(_SheetPart):
    """The master's true-peak limiter (see :mod:`stemforge.mixing.limiter`).

    ``target_lufs`` (BS.1770-4 integrated loudness), when given, sets a gain before the
    limiter; the output's true peak never exceeds ``ceiling_dbtp``. ``lookahead_ms`` is
    how far ahead the gain starts to fall before a peak.
    """

    ceiling_dbtp: float = -1.0
    target_lufs: float | None = None
    release_ms: float = 50.0
    lookahead_ms: float = 2.0

    def __post_init__(self) -> None:
        o = "Limiter"
        _set(self, "ceiling_dbtp", _num(o, "ceiling_dbtp", self.ceiling_dbtp, low=-30, high=0))
        _set(self, "target_lufs", _opt_num(o, "target_lufs", self.target_lufs, low=-60, high=0))
        _set(
            self,
            "release_ms",
            _num(o, "release_ms", self.release_ms, low=0, low_open=True, high=5000),
        )
        _set(
            self,
            "lookahead_ms",
            _num(o, "lookahead_ms", self.lookahead_ms, low=0.5, high=20),
        )


@dataclass(frozen=True)
class StemChannel(_SheetPart):
    """One stem's channel strip: EQ -> compressor -> gain -> pan, and a reverb send.

    ``pan`` runs from -1 (left) to 1 (right), constant power (left = cos, right = sin of
    (pan + 1) pi / 4). Any soloed stem silences the stems that are not soloed; a muted
    stem is silent. ``reverb_send_db`` is the level sent (post-fader) to the shared
    reverb (``None``: no send). ``offset_s`` delays the stem's start. ``notes`` say why
    each setting was chosen.
    """

    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False
    eq: ChannelEQ = field(default_factory=ChannelEQ)
    compressor: Compressor | None = None
    reverb_send_db: float | None = None
    offset_s: float = 0.0
    role: str | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        o = "StemChannel"
        _set(
            self,
            "gain_db",
            _num(o, "gain_db", self.gain_db, low=-96, high=36, hint="Mute the stem to silence it."),
        )
        _set(
            self,
            "pan",
            _num(
                o,
                "pan",
                self.pan,
                low=-1,
                high=1,
                decimals=3,
                hint="-1 is hard left, 0 centre, 1 hard right.",
            ),
        )
        _set(self, "mute", _bool(o, "mute", self.mute))
        _set(self, "solo", _bool(o, "solo", self.solo))
        _set(self, "eq", _coerce(ChannelEQ, self.eq, o, "eq"))
        if self.compressor is not None:
            _set(self, "compressor", _coerce(Compressor, self.compressor, o, "compressor"))
        _set(
            self,
            "reverb_send_db",
            _opt_num(o, "reverb_send_db", self.reverb_send_db, low=-96, high=12),
        )
        _set(
            self,
            "offset_s",
            _num(
                o,
                "offset_s",
                self.offset_s,
                low=0,
                high=86400,
                decimals=6,
                hint="To move a stem earlier, delay the other stems instead.",
            ),
        )
        if self.role is not None:
            _set(self, "role", _text(o, "role", self.role))
        _set(self, "notes", _notes(o, self.notes))

    @classmethod
    def _nested_builders(cls) -> Mapping[str, Any]:
        return {
            "eq": lambda v, w: ChannelEQ.from_dict(v, where=w),
            "compressor": lambda v, w: Compressor.from_dict(v, where=w),
        }


@dataclass(frozen=True)
class Reverb(_SheetPart):
    """The shared send reverb (see :mod:`stemforge.mixing.reverb`).

    ``room_size`` and ``damping`` from 0 to 1; ``return_db`` is the return fader;
    ``high_pass_hz`` cleans the low end of what comes back (``None``: off); ``width``
    from 0 (mono) to 1 (full stereo).
    """

    room_size: float = 0.4
    damping: float = 0.5
    return_db: float = 0.0
    high_pass_hz: float | None = 200.0
    width: float = 1.0

    def __post_init__(self) -> None:
        o = "Reverb"
        _set(self, "room_size", _num(o, "room_size", self.room_size, low=0, high=1, decimals=3))
        _set(self, "damping", _num(o, "damping", self.damping, low=0, high=1, decimals=3))
        _set(self, "return_db", _num(o, "return_db", self.return_db, low=-96, high=24))
        _set(
            self,
            "high_pass_hz",
            _opt_num(o, "high_pass_hz", self.high_pass_hz, low=0, low_open=True),
        )
        _set(self, "width", _num(o, "width", self.width, low=0, high=1, decimals=3))


@dataclass(frozen=True)
class MasterBus(_SheetPart):
    """The master: EQ -> glue compressor -> limiter, and the shared reverb's return."""

    eq: ChannelEQ = field(default_factory=ChannelEQ)
    compressor: Compressor | None = None
    limiter: Limiter = field(default_factory=Limiter)
    reverb: Reverb = field(default_factory=Reverb)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        o = "MasterBus"
        _set(self, "eq", _coerce(ChannelEQ, self.eq, o, "eq"))
        if self.compressor is not None:
            _set(self, "compressor", _coerce(Compressor, self.compressor, o, "compressor"))
        _set(self, "limiter", _coerce(Limiter, self.limiter, o, "limiter"))
        _set(self, "reverb", _coerce(Reverb, self.reverb, o, "reverb"))
        _set(self, "notes", _notes(o, self.notes))

    @classmethod
    def _nested_builders(cls) -> Mapping[str, Any]:
        return {
            "eq": lambda v, w: ChannelEQ.from_dict(v, where=w),
            "compressor": lambda v, w: Compressor.from_dict(v, where=w),
            "limiter": lambda v, w: Limiter.from_dict(v, where=w),
            "reverb": lambda v, w: Reverb.from_dict(v, where=w),
        }


# --- the sheet ---------------------------------------------------------------------------

# Order of the top-level keys in the JSON form (what a person reads first comes first).
_TOP_ORDER = ("version", "created_by", "sample_rate", "notes", "stems", "master")


@dataclass(frozen=True)
class MixSheet(Result):
    """Every decision of a mix: one :class:`StemChannel` per stem and the :class:`MasterBus`.

    ``stems`` is kept as a dict sorted by name. ``sample_rate`` is the render rate
    (``None``: the highest rate among the stems). ``created_by`` says what made the
    sheet ("manual", "rules", "reference", ...).
    """

    stems: Mapping[str, StemChannel]
    master: MasterBus = field(default_factory=MasterBus)
    sample_rate: int | None = None
    version: int = SHEET_VERSION
    created_by: str = "manual"
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        o = "MixSheet"
        _check_version(self.version)
        if not isinstance(self.stems, Mapping):
            raise MixSheetError(
                f"{o}.stems must map stem names to channels, got {type(self.stems).__name__}."
            )
        if not 1 <= len(self.stems) <= MAX_STEMS:
            raise MixSheetError(
                f"{o}.stems holds {len(self.stems)} stems; a sheet has 1 to {MAX_STEMS}.",
                hint="Use MixSheet.flat(names) for a starting sheet.",
            )
        stems: dict[str, StemChannel] = {}
        for name in sorted(self.stems, key=_name_key):
            if not isinstance(name, str) or not name.strip():
                raise MixSheetError(f"{o}.stems: stem names must be non-empty text, got {name!r}.")
            channel = self.stems[name]
            if isinstance(channel, Mapping):
                channel = StemChannel.from_dict(channel, where=f"stems[{name!r}]")
            elif not isinstance(channel, StemChannel):
                raise MixSheetError(
                    f"{o}.stems[{name!r}] must be a StemChannel, got {type(channel).__name__}."
                )
            stems[name] = channel
        _set(self, "stems", stems)
        _set(self, "master", _coerce(MasterBus, self.master, o, "master"))
        if self.sample_rate is not None:
            rate = self.sample_rate
            if (
                isinstance(rate, bool)
                or not isinstance(rate, (int, float))
                or rate != int(rate)
                or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE
            ):
                raise MixSheetError(
                    f"{o}.sample_rate must be a whole number of Hz from {MIN_SAMPLE_RATE} to "
                    f"{MAX_SAMPLE_RATE}, got {rate!r}.",
                    hint="Use null to render at the highest rate among the stems.",
                )
            _set(self, "sample_rate", int(rate))
        _set(self, "created_by", _text(o, "created_by", self.created_by))
        _set(self, "notes", _notes(o, self.notes))

    def __hash__(self) -> int:
        return hash((tuple(self.stems.items()), self.master, self.sample_rate, self.version))

    # --- views --------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The stem names, sorted."""
        return tuple(self.stems)

    @property
    def audible(self) -> tuple[str, ...]:
        """The stems that play: the soloed ones if any is soloed, less the muted ones."""
        soloed = [n for n, c in self.stems.items() if c.solo]
        playing = soloed if soloed else list(self.stems)
        return tuple(n for n in playing if not self.stems[n].mute)

    # --- building -----------------------------------------------------------------------

    @classmethod
    def flat(cls, names: Iterable[str], **kwargs: Any) -> MixSheet:
        """Unity gain, centred, no processing; the limiter at its default ceiling."""
        if isinstance(names, str):
            names = [names]
        return cls(stems={n: StemChannel() for n in names}, **kwargs)

    def with_stem(self, name: str, **changes: Any) -> MixSheet:
        """A copy with stem ``name``'s channel changed (``gain_db=-3``, ``eq=ChannelEQ(...)``)."""
        if name not in self.stems:
            raise MixSheetError(
                f"the sheet has no stem named {name!r}; its stems are {list(self.stems)}."
            )
        channel = _replace(self.stems[name], changes, f"stems[{name!r}]")
        return dataclasses.replace(self, stems={**self.stems, name: channel})

    def with_master(self, **changes: Any) -> MixSheet:
        """A copy with the master bus changed (``limiter=Limiter(-1.0, -14.0)``, ...)."""
        return dataclasses.replace(self, master=_replace(self.master, changes, "master"))

    # --- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe values, keys in a stable order (see :meth:`to_json`)."""
        data = {
            "version": self.version,
            "created_by": self.created_by,
            "sample_rate": self.sample_rate,
            "notes": list(self.notes),
            "stems": {name: channel.to_dict() for name, channel in self.stems.items()},
            "master": self.master.to_dict(),
        }
        return {k: data[k] for k in _TOP_ORDER}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "sheet") -> MixSheet:
        """Read :meth:`to_dict`'s form; fields left out take their defaults.

        Refuses a newer version, a missing version, and unknown fields.
        """
        if not isinstance(data, Mapping):
            raise MixSheetError(f"a mix sheet must be a JSON object, got {type(data).__name__}.")
        if "version" not in data:
            raise MixSheetError(
                f'the {where} has no "version" field.',
                hint=f'Add "version": {SHEET_VERSION} at the top of the sheet.',
            )
        _check_version(data["version"])
        unknown = sorted(set(data) - set(_TOP_ORDER))
        if unknown:
            raise MixSheetError(
                f"the {where} has unknown field(s) {unknown}.",
                hint=f"A mix sheet has the fields {list(_TOP_ORDER)}; check the spelling.",
            )
        stems = data.get("stems")
        if not isinstance(stems, Mapping):
            raise MixSheetError(
                f'the {where}\'s "stems" must be an object of stem name -> channel.',
                hint='Write e.g. "stems": {"kick": {"gain_db": -3.0}}.',
            )
        channels = {
            name: StemChannel.from_dict(value, where=f"stems[{name!r}]")
            for name, value in stems.items()
        }
        master = data.get("master")
        kwargs: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v)
            for k, v in data.items()
            if k not in ("stems", "master")
        }
        if master is not None:
            kwargs["master"] = MasterBus.from_dict(master, where="master")
        try:
            return cls(stems=channels, **kwargs)
        except MixSheetError as exc:
            raise _in(where, exc) from None

    def to_json(self) -> str:
        """The sheet as indented JSON, readable by a person, keys in a stable order."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> MixSheet:
        """Read a sheet from :meth:`to_json`'s text (or one written by hand)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MixSheetError(
                f"the mix sheet is not valid JSON: {exc.msg} at line {exc.lineno}, "
                f"column {exc.colno}.",
                hint="Check for a missing comma or quote near that place.",
            ) from None
        return cls.from_dict(data)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the sheet as JSON to ``path`` atomically; returns the path."""
        return write_bytes_atomic(path, self.to_json().encode("utf-8"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> MixSheet:
        """Read a sheet saved by :meth:`save` (or written by hand)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MixSheetError(
                "no such mix sheet.", path=p, hint="Check the path of the --sheet file."
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MixSheetError(f"the mix sheet cannot be read ({exc}).", path=p) from None
        try:
            return cls.from_json(text)
        except MixSheetError as exc:
            raise MixSheetError(exc.message, path=p, hint=exc.hint) from None


def _name_key(name: Any) -> tuple[int, str]:
    return (0, name) if isinstance(name, str) else (1, repr(name))


def _check_version(version: Any) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise MixSheetError(
            f"the mix sheet's version must be a whole number >= 1, got {version!r}.",
            hint=f"Sheets of this stemforge have version {SHEET_VERSION}.",
        )
    if version > SHEET_VERSION:
        raise MixSheetError(
            f"the mix sheet has version {version}, newer than the version {SHEET_VERSION} "
            "this stemforge reads.",
            hint="Upgrade stemforge (pip install -U stemforge) to render it.",
        )


def _replace(obj: Any, changes: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(obj)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise MixSheetError(
            f"{where} has no field(s) {unknown}.", hint=f"Its fields are {sorted(names)}."
        )
    try:
        return dataclasses.replace(obj, **changes)
    except MixSheetError as exc:
        raise _in(where, exc) from None
