"""Keys, scales, chords and progressions of the demo songs.

Pitch classes are integers 0-11 (C = 0); pitches are MIDI note numbers (A4 = 69 = 440 Hz).
Minor keys use the natural minor scale, plus the harmonic-minor leading tone (the raised
7th) wherever the dominant chord V is major.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stemforge.errors import StemforgeError

SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
FLAT_NAMES = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1}
_NAME_RE = re.compile(r"^\s*([A-Ga-g])([#♯b♭]?)\s*$")

MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)  # natural minor
MODES = ("major", "minor")

#: Triad intervals above the root, by quality (mir_eval shorthand).
TRIADS = {"maj": (0, 4, 7), "min": (0, 3, 7)}

#: Roman numeral -> (semitones above the tonic, quality).
NUMERALS = {
    "I": (0, "maj"),
    "ii": (2, "min"),
    "iii": (4, "min"),
    "IV": (5, "maj"),
    "V": (7, "maj"),
    "vi": (9, "min"),
    "i": (0, "min"),
    "III": (3, "maj"),
    "iv": (5, "min"),
    "v": (7, "min"),
    "VI": (8, "maj"),
    "VII": (10, "maj"),
}

# Four-bar loops that open on the tonic, and four-bar cadences that also close on it.
MAJOR_LOOPS = (
    ("I", "V", "vi", "IV"),
    ("I", "IV", "V", "IV"),
    ("I", "vi", "IV", "V"),
    ("I", "IV", "vi", "V"),
    ("I", "iii", "IV", "V"),
)
MAJOR_CADENCES = (("I", "IV", "V", "I"), ("I", "ii", "V", "I"), ("I", "vi", "V", "I"))
MINOR_LOOPS = (
    ("i", "VI", "III", "VII"),
    ("i", "iv", "v", "i"),
    ("i", "VI", "iv", "V"),
    ("i", "VII", "VI", "V"),
    ("i", "iv", "VI", "V"),
)
MINOR_CADENCES = (("i", "iv", "V", "i"), ("i", "VI", "V", "i"), ("i", "VII", "V", "i"))


def parse_pitch_class(name: str) -> int:
    """The pitch class of a note name such as "C", "F#", "Bb" or "a#" (also ``♯``, ``♭``)."""
    m = _NAME_RE.match(name) if isinstance(name, str) else None
    if m is None:
        raise StemforgeError(
            f"unknown key {name!r}.",
            hint="Use a note letter A-G with an optional sharp or flat, e.g. 'A', 'F#', 'Bb'.",
        )
    return (_LETTER_PC[m.group(1).upper()] + _ACCIDENTAL[m.group(2)]) % 12


def normalise_name(name: str) -> str:
    """``"bb"`` -> ``"Bb"``, ``"f♯"`` -> ``"F#"`` (the spelling is kept)."""
    parse_pitch_class(name)
    m = _NAME_RE.match(name)
    assert m is not None
    accidental = {"♯": "#", "♭": "b"}.get(m.group(2), m.group(2))
    return m.group(1).upper() + accidental


@dataclass(frozen=True)
class Chord:
    """A triad: root pitch class and quality ("maj" or "min")."""

    root_pc: int
    quality: str

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root_pc + i) % 12 for i in TRIADS[self.quality])


@dataclass(frozen=True)
class Key:
    """A tonic and a mode; ``name`` keeps the caller's spelling, chord roots follow it."""

    name: str
    tonic_pc: int
    mode: str

    @classmethod
    def parse(cls, key: str, mode: str) -> Key:
        mode_norm = mode.strip().lower() if isinstance(mode, str) else mode
        if mode_norm not in MODES:
            raise StemforgeError(f"unknown mode {mode!r}.", hint="Use 'major' or 'minor'.")
        return cls(normalise_name(key), parse_pitch_class(key), mode_norm)

    @property
    def uses_flats(self) -> bool:
        if "b" in self.name[1:]:
            return True
        if "#" in self.name[1:]:
            return False
        flat_naturals = {"F"} if self.mode == "major" else {"D", "G", "C", "F"}
        return self.name in flat_naturals

    def spell(self, pc: int) -> str:
        return (FLAT_NAMES if self.uses_flats else SHARP_NAMES)[pc % 12]

    @property
    def scale_pcs(self) -> tuple[int, ...]:
        """The diatonic scale (natural minor for minor keys)."""
        steps = MAJOR_STEPS if self.mode == "major" else MINOR_STEPS
        return tuple((self.tonic_pc + s) % 12 for s in steps)

    @property
    def leading_tone_pc(self) -> int:
        """The pitch class a semitone below the tonic (the raised 7th in minor)."""
        return (self.tonic_pc + 11) % 12

    @property
    def allowed_pcs(self) -> frozenset[int]:
        """Every pitch class the songs use: the scale, plus the leading tone in minor."""
        return frozenset(self.scale_pcs) | {self.leading_tone_pc}

    def chord(self, numeral: str) -> Chord:
        offset, quality = NUMERALS[numeral]
        return Chord((self.tonic_pc + offset) % 12, quality)

    def melody_pcs(self, chord: Chord) -> tuple[int, ...]:
        """The scale a melody uses over ``chord``: harmonic minor over a major V."""
        pcs = list(self.scale_pcs)
        if self.mode == "minor" and chord == self.chord("V"):
            pcs[6] = self.leading_tone_pc
        return tuple(pcs)


def midi_to_hz(pitch_midi: float) -> float:
    return 440.0 * 2.0 ** ((pitch_midi - 69.0) / 12.0)


def pitches_in_range(pcs: tuple[int, ...] | frozenset[int], low: int, high: int) -> list[int]:
    """All MIDI pitches from ``low`` to ``high`` (inclusive) whose pitch class is in ``pcs``."""
    return [p for p in range(low, high + 1) if p % 12 in pcs]


def window_voicing(chord: Chord, low: int) -> tuple[int, ...]:
    """The triad's tones placed in the octave ``[low, low + 12)``: smooth voice leading for free."""
    return tuple(sorted(low + (pc - low) % 12 for pc in chord.pitch_classes))
