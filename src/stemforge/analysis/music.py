"""The musical facts of a track: tempo, beats, meter, key, chords and structure.

``analyze_music(audio)`` runs rhythm first (the beat grid), computes one chromagram
shared by key, chords and structure, and returns a :class:`MusicAnalysis`. Each part
stays a pure function of the audio; this module only sequences them so that the
expensive front ends are computed once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from stemforge.analysis.chords import ChordResult, chords
from stemforge.analysis.chroma import beat_chroma, chromagram
from stemforge.analysis.key import KeyResult, key
from stemforge.analysis.rhythm import RhythmResult, rhythm
from stemforge.analysis.structure import StructureResult, structure
from stemforge.audio import Audio
from stemforge.progress import ProgressCallback, no_progress
from stemforge.results import Result

#: The DJ-software default for the reported tempo; alternatives are always listed.
DEFAULT_TEMPO_RANGE_BPM = (78.0, 155.0)


@dataclass(frozen=True)
class MusicAnalysis(Result):
    """Rhythm, tonality and structure of one signal."""

    rhythm: RhythmResult
    key: KeyResult
    chords: ChordResult
    structure: StructureResult
    timings_s: dict[str, float] = field(default_factory=dict)


def analyze_music(
    audio: Audio,
    *,
    preferred_range_bpm: tuple[float, float] = DEFAULT_TEMPO_RANGE_BPM,
    progress: ProgressCallback = no_progress,
) -> MusicAnalysis:
    """Tempo, beats, downbeats, meter, key, chords and sections of ``audio``."""
    timings: dict[str, float] = {}

    def timed(name: str, fraction: float, run):
        progress(name, fraction)
        start = time.perf_counter()
        out = run()
        timings[name] = time.perf_counter() - start
        return out

    beats = timed("rhythm", 0.0, lambda: rhythm(audio, preferred_range_bpm=preferred_range_bpm))
    # One grid for chords and structure: beats strictly inside the signal (a tracker may put
    # one on the very last sample, which has no chroma frame after it).
    beat_s = beats.beat_times_s[beats.beat_times_s < audio.duration_s]
    downbeat_s = beats.downbeat_times_s[beats.downbeat_times_s < audio.duration_s]
    chroma = timed("chroma", 0.3, lambda: chromagram(audio))
    key_result = timed("key", 0.5, lambda: key(audio, chroma=chroma))
    chord_result = timed("chords", 0.6, lambda: chords(audio, beat_times_s=beat_s, chroma=chroma))
    sections = timed(
        "structure",
        0.8,
        lambda: structure(
            audio,
            beat_times_s=beat_s,
            downbeat_times_s=downbeat_s,
            # No tempo found: structure gets an empty grid and returns one section.
            beats_per_bar=beats.beats_per_bar or 4,
            beat_chroma=beat_chroma(chroma, beat_s, end_s=audio.duration_s)
            if len(beat_s)
            else None,
        ),
    )
    progress("music done", 1.0)
    return MusicAnalysis(
        rhythm=beats, key=key_result, chords=chord_result, structure=sections, timings_s=timings
    )
