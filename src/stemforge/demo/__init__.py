"""Deterministic multitrack demo songs with exact ground truth, for tests, benchmarks and demos.

>>> from stemforge.demo import generate_song
>>> song = generate_song(tempo_bpm=120, key="F#", mode="minor", seed=3)  # doctest: +SKIP
>>> song.truth.beat_times_s[:4], song.stems["vocal"]                      # doctest: +SKIP
"""

from stemforge.demo.song import STEM_NAMES, Song, default_sections, generate_song
from stemforge.demo.truth import ChordSpan, Note, Section, SongTruth

__all__ = [
    "STEM_NAMES",
    "ChordSpan",
    "Note",
    "Section",
    "Song",
    "SongTruth",
    "default_sections",
    "generate_song",
]
