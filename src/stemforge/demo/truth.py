"""The ground truth of a demo song: what a listener hears, in seconds from the start."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stemforge.demo.theory import parse_pitch_class
from stemforge.results import Result

#: General MIDI percussion numbers used for the drum notes.
KICK_MIDI, SNARE_MIDI, CLOSED_HAT_MIDI, OPEN_HAT_MIDI, CRASH_MIDI = 36, 38, 42, 46, 49


@dataclass(frozen=True)
class Note(Result):
    """One note: MIDI pitch (General MIDI drum numbers for drums), onset and note-off in
    seconds (the release rings on after ``end_s``), MIDI velocity 1-127."""

    pitch_midi: int
    start_s: float
    end_s: float
    velocity: int


@dataclass(frozen=True)
class ChordSpan(Result):
    """A triad held from ``start_s`` to ``end_s``: ``root`` is a note name spelled in the key,
    ``quality`` is "maj" or "min" (mir_eval shorthand; ``label`` gives "A:min")."""

    start_s: float
    end_s: float
    root: str
    quality: str

    @property
    def root_pitch_class(self) -> int:
        return parse_pitch_class(self.root)

    @property
    def label(self) -> str:
        return f"{self.root}:{self.quality}"


@dataclass(frozen=True)
class Section(Result):
    """A labelled span of whole bars."""

    label: str
    start_s: float
    end_s: float
    bars: int


@dataclass(frozen=True, eq=False)
class SongTruth(Result):
    """Everything a detector should find in a demo song.

    - ``tempo_bpm``: beats per minute at the start; with ``tempo_drift`` the tempo rises
      linearly with the beat count to ``end_tempo_bpm = tempo_bpm * (1 + tempo_drift)``.
    - A beat is the counted pulse (``beat_unit``): a quarter note in 3/4 and 4/4, a dotted
      quarter in 6/8, so 6/8 has ``beats_per_bar`` 2 and ``tempo_bpm`` counts dotted quarters.
    - ``beat_times_s`` is the grid of every beat of every bar (swing and humanised timing move
      notes, never the grid); ``downbeat_times_s`` the first beat of each bar.
    - ``key`` is the tonic as spelled by the caller ("F#", "Bb"), ``mode`` "major"/"minor";
      minor songs use the natural minor scale plus the raised 7th over a major V chord.
    - ``notes[stem]`` lists every note of each stem in onset order.
    - The audio runs ``duration_s``: the last bar ends at ``sections[-1].end_s``, then
      releases and reverb ring out.
    """

    tempo_bpm: float
    time_signature: str
    beats_per_bar: int
    beat_times_s: np.ndarray
    downbeat_times_s: np.ndarray
    key: str
    mode: str
    sections: tuple[Section, ...]
    chords: tuple[ChordSpan, ...]
    notes: dict[str, tuple[Note, ...]]
    beat_unit: str = "quarter"
    tempo_drift: float = 0.0
    end_tempo_bpm: float = 0.0
    swing: float = 0.0
    duration_s: float = 0.0
    sample_rate: int = 44100
    seed: int = 0

    @property
    def tonic_pitch_class(self) -> int:
        return parse_pitch_class(self.key)

    def note_times_s(self, stem: str) -> np.ndarray:
        """Onsets of one stem's notes, in seconds."""
        return np.array([n.start_s for n in self.notes[stem]], np.float64)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SongTruth:
        """Rebuild from :meth:`to_dict` output (for example a saved ``truth.json``)."""
        d = dict(data)
        d["beat_times_s"] = np.asarray(d["beat_times_s"], np.float64)
        d["downbeat_times_s"] = np.asarray(d["downbeat_times_s"], np.float64)
        d["sections"] = tuple(Section(**s) for s in d["sections"])
        d["chords"] = tuple(ChordSpan(**c) for c in d["chords"])
        d["notes"] = {k: tuple(Note(**n) for n in v) for k, v in d["notes"].items()}
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> SongTruth:
        """Read a ``truth.json`` written by :meth:`Song.save`."""
        return cls.from_dict(json.loads(Path(path).read_text()))
