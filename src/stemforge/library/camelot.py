"""Camelot wheel arithmetic: keys as codes ``1A``..``12B`` and harmonic compatibility.

The wheel orders keys by fifths: the number moves one step per fifth (C major = 8B,
G major = 9B), ``A`` is minor and ``B`` major, and a minor key shares its number with
its relative major (A minor = 8A, C major = 8B). Two keys mix harmonically when they
are the same, relative (same number, other letter) or one step apart with the same
letter (wrapping 12 -> 1).
"""

from __future__ import annotations

import re

from stemforge.library.errors import InvalidKeyError

_PITCH_CLASSES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_CODE = re.compile(r"^\s*(1[0-2]|[1-9])\s*([ABab])\s*$")
_KEY = re.compile(
    r"^\s*([A-Ga-g])\s*([#♯b♭]?)\s*(major|maj|minor|min|m|M)?\s*$",
)


def pitch_class(tonic: str) -> int:
    """``"F#"`` -> 6, ``"Bb"`` -> 10."""
    tonic = tonic.strip()
    if not tonic or tonic[0].upper() not in _PITCH_CLASSES:
        raise InvalidKeyError(f"{tonic!r} is not a note name.", hint="Use e.g. C, F#, Bb.")
    value = _PITCH_CLASSES[tonic[0].upper()]
    for accidental in tonic[1:]:
        value += {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)
    return value % 12


def camelot_code(tonic: str, mode: str) -> str:
    """The Camelot code of a key: ``camelot_code("A", "minor") == "8A"``."""
    pc = pitch_class(tonic)
    minor = mode.lower().startswith("min")
    major_pc = (pc + 3) % 12 if minor else pc
    number = (major_pc * 7 % 12 + 7) % 12 + 1
    return f"{number}{'A' if minor else 'B'}"


def parse_key(text: str) -> str:
    """A Camelot code from ``"8A"``, ``"A minor"``, ``"Am"``, ``"F# major"``, ``"Bb"``."""
    match = _CODE.match(text)
    if match:
        return f"{int(match.group(1))}{match.group(2).upper()}"
    match = _KEY.match(text)
    if not match:
        raise InvalidKeyError(
            f"{text!r} is not a key.",
            hint='Use a key such as "A minor", "Am", "F# major", "Bb" or a Camelot code "8A".',
        )
    letter, accidental, mode = match.groups()
    minor = mode is not None and (mode == "m" or mode.lower() in ("minor", "min"))
    return camelot_code(letter.upper() + accidental, "minor" if minor else "major")


def key_name(code: str) -> str:
    """``"8A"`` -> ``"A minor"`` (sharps for black keys)."""
    number, letter = split(code)
    major_pc = ((number - 8) * 7) % 12
    if letter == "A":
        return f"{_SHARP_NAMES[(major_pc - 3) % 12]} minor"
    return f"{_SHARP_NAMES[major_pc]} major"


def split(code: str) -> tuple[int, str]:
    match = _CODE.match(code)
    if not match:
        raise InvalidKeyError(f"{code!r} is not a Camelot code.", hint="Use 1A..12A or 1B..12B.")
    return int(match.group(1)), match.group(2).upper()


def compatible_codes(code: str) -> tuple[str, ...]:
    """The codes that mix with ``code``: itself, its relative, and ±1 on the wheel."""
    number, letter = split(code)
    other = "B" if letter == "A" else "A"
    down = (number - 2) % 12 + 1
    up = number % 12 + 1
    return (f"{number}{letter}", f"{number}{other}", f"{down}{letter}", f"{up}{letter}")


def is_compatible(a: str, b: str) -> bool:
    """Whether keys (names or codes) ``a`` and ``b`` mix harmonically."""
    return parse_key(b) in compatible_codes(parse_key(a))
