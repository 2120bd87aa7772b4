"""Camelot arithmetic and file-name metadata: checked against the published Camelot wheel."""

from __future__ import annotations

import pytest

from stemforge.library import InvalidKeyError, camelot_code, compatible_codes, parse_key
from stemforge.library.camelot import is_compatible, key_name
from stemforge.library.metadata import parse_file_name

# The Camelot wheel as printed by Mixed In Key.
WHEEL = {
    "1A": "G# minor", "2A": "D# minor", "3A": "A# minor", "4A": "F minor", "5A": "C minor",
    "6A": "G minor", "7A": "D minor", "8A": "A minor", "9A": "E minor", "10A": "B minor",
    "11A": "F# minor", "12A": "C# minor", "1B": "B major", "2B": "F# major", "3B": "C# major",
    "4B": "G# major", "5B": "D# major", "6B": "A# major", "7B": "F major", "8B": "C major",
    "9B": "G major", "10B": "D major", "11B": "A major", "12B": "E major",
}  # fmt: skip


@pytest.mark.parametrize(("code", "name"), WHEEL.items())
def test_wheel(code, name):
    tonic, mode = name.split()
    assert camelot_code(tonic, mode) == code
    assert parse_key(name) == code
    assert key_name(code) == name


@pytest.mark.parametrize(
    ("text", "code"),
    [("Am", "8A"), ("Bbm", "3A"), ("Bb", "6B"), ("Db major", "3B"), ("8a", "8A"), ("F#", "2B")],
)
def test_parse_key_spellings(text, code):
    assert parse_key(text) == code


def test_compatibility_wraps_the_wheel():
    assert set(compatible_codes("12A")) == {"12A", "12B", "11A", "1A"}
    assert set(compatible_codes("1B")) == {"1B", "1A", "12B", "2B"}
    assert is_compatible("A minor", "C major") and is_compatible("Am", "G major") is False
    assert is_compatible("8A", "9A") and is_compatible("8A", "8B")
    assert not is_compatible("8A", "10A") and not is_compatible("8A", "9B")


def test_bad_key_is_actionable():
    with pytest.raises(InvalidKeyError, match="Camelot"):
        parse_key("H minor")


@pytest.mark.parametrize(
    ("name", "artist", "title", "number"),
    [
        ("Daft Punk - One More Time.mp3", "Daft Punk", "One More Time", None),
        ("01 Intro.flac", None, "Intro", 1),
        ("07 - Outro.wav", None, "Outro", 7),
        ("03. Song Name.wav", None, "Song Name", 3),
        ("2 Unlimited - No Limit.mp3", "2 Unlimited", "No Limit", None),
        ("plain.wav", None, "plain", None),
    ],
)
def test_file_name_metadata(name, artist, title, number):
    meta = parse_file_name(name)
    assert (meta.artist, meta.title, meta.track_number) == (artist, title, number)
