"""Melodies over a chord progression: chord tones on strong beats, scale steps between,
phrases that end on a chord tone and, where the chord allows, on the tonic."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemforge.demo.theory import Chord, Key, pitches_in_range
from stemforge.demo.timing import Meter


@dataclass(frozen=True)
class MelodyNote:
    bar: int  # bar index within the section
    position_beats: float  # within the bar
    duration_beats: float
    pitch_midi: int
    strong: bool
    phrase_end: bool  # last note of a phrase (followed by a rest in the vocal)


def phrase_rhythm(
    rng: np.random.Generator, bars: int, pool: dict[str, list], phrase_bars: int
) -> list[tuple[list, bool]]:
    """Bar rhythms for a section: each phrase of ``phrase_bars`` bars repeats one body
    rhythm, varies it in the middle and closes with an ending rhythm. Gives
    ``(rhythm, closes_phrase)`` per bar."""
    body, end = pool["body"], pool["end"]
    a, b = rng.choice(len(body), size=2, replace=False)
    endings = [end[i] for i in rng.choice(len(end), size=2, replace=len(end) < 2)]
    out = []
    for bar in range(bars):
        in_phrase = bar % phrase_bars
        last_of_phrase = in_phrase == phrase_bars - 1 or bar == bars - 1
        if last_of_phrase:
            out.append((endings[(bar // phrase_bars) % 2], True))
        else:
            alternate = (bar // phrase_bars + in_phrase) % 2
            out.append((body[b] if alternate else body[a], False))
    return out


def is_strong(position_beats: float, duration_beats: float, meter: Meter) -> bool:
    """Bar starts, the middle of a 4/4 bar, and anything a beat or longer."""
    if duration_beats >= 1.0 - 1e-9 or abs(position_beats) < 1e-9:
        return True
    return meter.beats_per_bar == 4 and abs(position_beats - 2.0) < 1e-9


def compose_line(
    rng: np.random.Generator,
    *,
    key: Key,
    meter: Meter,
    chords: list[Chord],
    rhythm: list[tuple[list, bool]],
    register: tuple[int, int],
) -> list[MelodyNote]:
    """Pitches for ``rhythm`` (from :func:`phrase_rhythm`) over one chord per bar.

    Strong notes take chord tones, others scale tones of :meth:`Key.melody_pcs` (harmonic
    minor over V); steps are preferred to leaps, leaps over a fifth are rare, and the last
    note of a phrase is the tonic when the chord contains it, else the nearest chord tone.
    """
    low, high = register
    centre = (low + high) / 2.0
    tonics = pitches_in_range({key.tonic_pc}, low, high)
    prev = min(tonics, key=lambda p: abs(p - centre))
    repeats = 0
    notes: list[MelodyNote] = []
    for bar, (bar_rhythm, closes) in enumerate(rhythm):
        chord = chords[bar]
        scale = key.melody_pcs(chord)
        for j, (pos, dur) in enumerate(bar_rhythm):
            final = closes and j == len(bar_rhythm) - 1
            strong = is_strong(pos, dur, meter)
            if final:
                target = {key.tonic_pc} if key.tonic_pc in chord.pitch_classes else {chord.root_pc}
                pitch = min(pitches_in_range(target, low, high), key=lambda p: abs(p - prev))
            else:
                pcs = chord.pitch_classes if strong else scale
                cands = np.array(pitches_in_range(pcs, low, high))
                dist = np.abs(cands - prev)
                w = np.exp(-dist / 2.5) * np.exp(-(((cands - centre) / (high - low)) ** 2) * 2.0)
                w[dist > 7] *= 0.05
                if repeats >= 1:
                    w[dist == 0] *= 0.2
                pitch = int(rng.choice(cands, p=w / w.sum()))
            repeats = repeats + 1 if pitch == prev else 0
            prev = pitch
            notes.append(MelodyNote(bar, float(pos), float(dur), int(pitch), strong, final))
    return notes
