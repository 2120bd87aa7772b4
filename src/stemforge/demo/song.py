"""The arrangement and the public :func:`generate_song`.

A song is planned in beats (sections of whole bars, one chord per bar, patterns and
melodies per section label), timed in seconds through the tempo map, swing and
humanisation, rendered one stem at a time (each distinct note or drum hit rendered once,
then placed), mixed with static levels and normalised to -1 dBTP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemforge.audio.signal import Audio
from stemforge.demo import instruments as inst
from stemforge.demo.effects import Reverb, pan_gains, true_peak
from stemforge.demo.melody import compose_line, phrase_rhythm
from stemforge.demo.patterns import (
    BASS,
    BASS_ROOT_RANGE,
    HATS,
    KEYS,
    KEYS_WINDOW_LOW,
    KICK,
    LEAD,
    LEAD_RANGE,
    PAD_WINDOW_LOW,
    SNARE,
    STYLES,
    VOCAL,
    VOCAL_RANGE,
)
from stemforge.demo.theory import (
    MAJOR_CADENCES,
    MAJOR_LOOPS,
    MINOR_CADENCES,
    MINOR_LOOPS,
    Chord,
    Key,
    midi_to_hz,
    window_voicing,
)
from stemforge.demo.timing import Meter, TimeMap, check_tempo, parse_meter, swing_beats
from stemforge.demo.truth import (
    CLOSED_HAT_MIDI,
    CRASH_MIDI,
    KICK_MIDI,
    OPEN_HAT_MIDI,
    SNARE_MIDI,
    ChordSpan,
    Note,
    Section,
    SongTruth,
)
from stemforge.errors import StemforgeError

STEM_NAMES = ("kick", "snare", "hats", "bass", "chords", "lead", "vocal")
SECTION_LABELS = tuple(STYLES)
#: Seconds of audio after the last bar, for releases and reverb.
TAIL_S = 2.0
MAX_DURATION_S = 1800.0
TARGET_TRUE_PEAK_DBTP = -1.0
#: Gate lengths are rounded to this grid so repeated notes render once.
_GATE_GRID_S = 0.005
_HUMANIZE_SD_S, _HUMANIZE_MAX_S = 0.002, 0.005

#: Static mix: fader gain (linear), pan (-1..1), reverb send (linear).
_MIX = {
    "kick": (0.95, 0.0, 0.0),
    "snare": (1.4, 0.04, 0.0),
    "hats": (0.34, 0.3, 0.0),
    "bass": (0.75, 0.0, 0.0),
    "chords": (0.24, -0.2, 0.4),
    "lead": (0.38, -0.25, 0.35),
    "vocal": (0.5, 0.0, 0.3),
}


@dataclass(frozen=True, eq=False)
class Song:
    """A generated song: stereo stems of equal length, their sum, and the ground truth."""

    stems: dict[str, Audio]
    mix: Audio
    truth: SongTruth

    @property
    def sample_rate(self) -> int:
        return self.mix.sample_rate

    @property
    def duration_s(self) -> float:
        return self.mix.duration_s

    def save(self, folder: str | Path) -> Path:
        """Write ``stems/<name>.flac``, ``mix.wav`` (24-bit) and ``truth.json`` into ``folder``
        (created if missing), each atomically. Returns the folder."""
        from stemforge.audio import save as save_audio
        from stemforge.output import write_json_atomic

        root = Path(folder)
        try:
            (root / "stems").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StemforgeError(
                f"cannot create the folder ({exc.strerror or exc}).",
                path=root,
                hint="Choose a writable location.",
            ) from exc
        for name, audio in self.stems.items():
            save_audio(root / "stems" / f"{name}.flac", audio, bit_depth=24)
        save_audio(root / "mix.wav", self.mix, bit_depth=24)
        write_json_atomic(root / "truth.json", self.truth.to_dict())
        return root


# --- validation -----------------------------------------------------------------------


def _check_number(name: str, value, low: float, high: float) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not low <= x <= high:
        raise StemforgeError(f"{name} {value!r} is out of range.", hint=f"Use {low:g} to {high:g}.")
    return x


def _check_sample_rate(sample_rate) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise StemforgeError(
            f"sample_rate must be a whole number of Hz, got {sample_rate!r}.",
            hint="Use for example 44100 or 48000.",
        )
    if not 16_000 <= sample_rate <= 192_000:
        raise StemforgeError(
            f"sample_rate {sample_rate} Hz is out of range.", hint="Use 16000 to 192000 Hz."
        )
    return int(sample_rate)


def _check_sections(sections) -> list[tuple[str, int]]:
    allowed = ", ".join(SECTION_LABELS)
    try:
        items = list(sections)
    except TypeError:
        items = None
    if not items:
        raise StemforgeError(
            "sections must be a non-empty sequence of (label, bars) pairs.",
            hint=f'For example [("verse", 8), ("chorus", 8)]; labels: {allowed}.',
        )
    out = []
    for item in items:
        try:
            label, bars = item
        except (TypeError, ValueError):
            raise StemforgeError(
                f"section {item!r} is not a (label, bars) pair.", hint=f"Labels: {allowed}."
            ) from None
        label_norm = str(label).strip().lower()
        if label_norm not in STYLES:
            raise StemforgeError(
                f"unknown section label {label!r}.", hint=f"Use one of: {allowed}."
            )
        if isinstance(bars, bool) or not isinstance(bars, (int, np.integer)) or bars < 1:
            raise StemforgeError(
                f"section {label!r} has {bars!r} bars.",
                hint="Give a whole number of bars, 1 or more.",
            )
        out.append((label_norm, int(bars)))
    return out


def default_sections(tempo_bpm: float, time_signature: str = "4/4") -> list[tuple[str, int]]:
    """Intro 4, verse 8k, chorus 8k, breakdown 4k, chorus 8k, outro 4 bars, with k from 1 to
    8 chosen so the song lasts closest to two minutes (128 s at 120 BPM in 4/4)."""
    meter = parse_meter(time_signature)
    bar_s = meter.beats_per_bar * 60.0 / tempo_bpm

    def layout(k: int) -> list[tuple[str, int]]:
        return [
            ("intro", 4),
            ("verse", 8 * k),
            ("chorus", 8 * k),
            ("breakdown", 4 * k),
            ("chorus", 8 * k),
            ("outro", 4),
        ]

    best = min(range(1, 9), key=lambda k: abs(sum(b for _, b in layout(k)) * bar_s - 120.0))
    return layout(best)


# --- composition ----------------------------------------------------------------------


@dataclass
class _Event:
    stem: str
    start_beat: float  # from the start of the song, before swing
    dur_beats: float
    pitch: int
    velocity: float
    kind: str = ""
    pitches: tuple[int, ...] = ()
    cutoff_hz: float = 0.0
    gate: float = 0.9  # held fraction of the duration
    vowel: str = "a"
    consonant: int = -1
    legato_next: bool = False
    variant: int = 0
    # filled in by timing:
    start_n: int = 0
    gate_n: int = 0
    vel: int = 0


@dataclass
class _Composer:
    key: Key
    meter: Meter
    seed: int
    layout: list[tuple[str, int]]
    events: list[_Event] = field(default_factory=list)
    bar_chords: list[Chord] = field(default_factory=list)

    def __post_init__(self) -> None:
        ss = np.random.SeedSequence([self.seed, 0x5EED])
        rngs = [np.random.default_rng(s) for s in ss.spawn(6)]
        self.rng_harmony, self.rng_patterns, self.rng_lead, self.rng_vocal, self.rng_sound, _ = rngs
        self.sig = self.meter.time_signature
        self.bpb = self.meter.beats_per_bar
        self._progressions: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._patterns: dict[str, dict[str, int]] = {}
        self._lines: dict[tuple, list] = {}

    # harmony
    def _progression(self, label: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if label not in self._progressions:
            minor = self.key.mode == "minor"
            loops = MINOR_LOOPS if minor else MAJOR_LOOPS
            cadences = MINOR_CADENCES if minor else MAJOR_CADENCES
            taken = {
                self._progressions[x][0] for x in ("verse", "chorus") if x in self._progressions
            }
            if label in ("intro", "outro") and "chorus" in self._progressions:
                loop = self._progressions["chorus"][0]
            else:
                free = [lp for lp in loops if lp not in taken] or list(loops)
                loop = free[self.rng_harmony.integers(len(free))]
            cadence = cadences[self.rng_harmony.integers(len(cadences))]
            self._progressions[label] = (loop, cadence)
        return self._progressions[label]

    def _section_chords(self, label: str, bars: int, last: bool) -> list[Chord]:
        loop, cadence = self._progression(label)
        if bars >= 4:
            numerals = [loop[i % 4] for i in range(bars - 4)] + list(cadence)
        else:
            numerals = [loop[i] for i in range(bars)]
        chords = [self.key.chord(n) for n in numerals]
        if last:
            chords[-1] = self.key.chord("I" if self.key.mode == "major" else "i")
        return chords

    def _pattern(self, label: str, part: str, n_choices: int) -> int:
        chosen = self._patterns.setdefault(label, {})
        if part not in chosen:
            chosen[part] = int(self.rng_patterns.integers(n_choices))
        return chosen[part]

    def compose(self) -> None:
        # Resolve progressions in a fixed order (verse, chorus first) so intros share the chorus's.
        for label in ("verse", "chorus"):
            if any(lb == label for lb, _ in self.layout):
                self._progression(label)
        bar0 = 0
        for index, (label, bars) in enumerate(self.layout):
            chords = self._section_chords(label, bars, last=index == len(self.layout) - 1)
            self.bar_chords.extend(chords)
            self._section(label, bars, bar0, chords)
            bar0 += bars

    def _section(self, label: str, bars: int, bar0: int, chords: list[Chord]) -> None:
        style = STYLES[label]
        sig, bpb = self.sig, self.bpb
        for b in range(bars):
            beat0 = (bar0 + b) * bpb
            scale = style.velocity_scale
            if style.fade_out and bars > 1:
                scale *= 1.0 - 0.45 * b / (bars - 1)
            chord = chords[b]

            def add(stem, pos, dur, pitch, vel, _beat0=beat0, _scale=scale, **kw):
                self.events.append(_Event(stem, _beat0 + pos, dur, pitch, vel * _scale, **kw))

            if style.kick:
                variants = KICK[sig][style.kick]
                for pos, vel in variants[self._pattern(label, "kick", len(variants))]:
                    add("kick", pos, 0.25, KICK_MIDI, vel, variant=self._variant(3))
            if style.snare:
                kind = style.snare
                if kind == "fill":
                    kind = "fill" if (b % 4 == 3 or b == bars - 1) else "backbeat"
                for pos, vel in SNARE[sig][kind]:
                    add("snare", pos, 0.25, SNARE_MIDI, vel, variant=self._variant(3))
            if style.crash and b == 0:
                add("hats", 0.0, 1.0, CRASH_MIDI, 100, kind="crash", variant=self._variant(2))
            if style.hats:
                variants = HATS[sig][style.hats]
                for pos, vel, is_open in variants[self._pattern(label, "hats", len(variants))]:
                    if style.crash and b == 0 and pos == 0:
                        continue
                    kind = "open" if is_open else "closed"
                    midi = OPEN_HAT_MIDI if is_open else CLOSED_HAT_MIDI
                    add("hats", pos, 0.25, midi, vel, kind=kind, variant=self._variant(3))
            if style.bass:
                variants = BASS[sig][style.bass]
                root = BASS_ROOT_RANGE[0] + (chord.root_pc - BASS_ROOT_RANGE[0]) % 12
                third = root + (4 if chord.quality == "maj" else 3)
                pitch_of = {"R": root, "3": third, "5": root + 7, "8": root + 12}
                legato = style.bass == "whole"
                for pos, dur, degree in variants[self._pattern(label, "bass", len(variants))]:
                    vel = 112 if pos == 0 else 96
                    add("bass", pos, dur, pitch_of[degree], vel, gate=0.96 if legato else 0.85)
            if "pad" in style.chords:
                voicing = (
                    window_voicing(chord, PAD_WINDOW_LOW)[0] - 12,
                    *window_voicing(chord, PAD_WINDOW_LOW),
                )
                add(
                    "chords",
                    0.0,
                    bpb,
                    chord.root_pc,
                    84,
                    kind="pad",
                    pitches=voicing,
                    cutoff_hz=style.cutoff_hz,
                    gate=1.0,
                )
            if "keys" in style.chords:
                voicing = window_voicing(chord, KEYS_WINDOW_LOW)
                variants = KEYS[sig]
                for pos, dur in variants[self._pattern(label, "keys", len(variants))]:
                    vel = 96 if pos == 0 else 80
                    add(
                        "chords",
                        pos,
                        dur,
                        chord.root_pc,
                        vel,
                        kind="keys",
                        pitches=voicing,
                        gate=0.8,
                    )
        if style.lead:
            self._line("lead", label, bars, bar0, chords, LEAD_RANGE, style.velocity_scale)
        if style.vocal:
            register = VOCAL_RANGE[style.vocal]
            self._line("vocal", label, bars, bar0, chords, register, style.velocity_scale)

    def _variant(self, n: int) -> int:
        return int(self.rng_sound.integers(n))

    def _line(self, stem, label, bars, bar0, chords, register, scale) -> None:
        # A repeated section (same label and chords) repeats its melody, as songs do.
        cache_key = (stem, label, tuple(chords))
        if cache_key not in self._lines:
            rng = self.rng_lead if stem == "lead" else self.rng_vocal
            pool = (LEAD if stem == "lead" else VOCAL)[self.sig]
            rhythm = phrase_rhythm(rng, bars, pool, 4 if stem == "lead" else 2)
            notes = compose_line(
                rng, key=self.key, meter=self.meter, chords=chords, rhythm=rhythm, register=register
            )
            vowels = rng.choice(list("aaeioou"), size=len(notes))
            consonants = rng.choice([-1, -1, 0, 1, 2], size=len(notes))
            self._lines[cache_key] = [
                (n, str(v), int(c)) for n, v, c in zip(notes, vowels, consonants, strict=True)
            ]
        line = self._lines[cache_key]
        for i, (n, vowel, cons) in enumerate(line):
            start = (bar0 + n.bar) * self.bpb + n.position_beats
            nxt = line[i + 1][0] if i + 1 < len(line) else None
            tied = (
                stem == "vocal"
                and not n.phrase_end
                and nxt is not None
                and abs((bar0 + nxt.bar) * self.bpb + nxt.position_beats - start - n.duration_beats)
                < 1e-6
            )
            vel = (100 if n.strong else 86) * scale
            self.events.append(
                _Event(
                    stem,
                    start,
                    n.duration_beats,
                    n.pitch_midi,
                    vel,
                    vowel=vowel,
                    consonant=cons,
                    legato_next=tied,
                    gate=1.0 if tied else 0.88,
                )
            )


# --- timing ---------------------------------------------------------------------------


def _time_events(events, *, time_map, meter, swing, sr, rng_human, humanize) -> None:
    if not events:
        return
    starts = np.array([e.start_beat for e in events])
    ends = starts + np.array([e.dur_beats * e.gate for e in events])
    start_s = time_map.seconds(swing_beats(starts, swing, meter))
    end_s = time_map.seconds(swing_beats(ends, swing, meter))
    if humanize:
        offsets = np.clip(
            rng_human.normal(0.0, _HUMANIZE_SD_S, len(events)), -_HUMANIZE_MAX_S, _HUMANIZE_MAX_S
        )
        jitter = rng_human.integers(-5, 6, len(events))
    else:
        offsets = np.zeros(len(events))
        jitter = np.zeros(len(events), np.int64)
    grid = max(1, round(_GATE_GRID_S * sr))
    start_n = np.maximum(0, np.round((start_s + offsets) * sr)).astype(np.int64)
    gate_n = np.maximum(grid, np.round((end_s - start_s) * sr / grid).astype(np.int64) * grid)
    vel = np.clip(np.round([e.velocity for e in events]) + jitter, 1, 127).astype(np.int64)
    for e, s, g, v in zip(events, start_n.tolist(), gate_n.tolist(), vel.tolist(), strict=True):
        e.start_n, e.gate_n, e.vel = s, g, v


# --- rendering ------------------------------------------------------------------------


def _place(buf: np.ndarray, start: int, x: np.ndarray, gain: float) -> None:
    n = min(x.shape[-1], buf.shape[-1] - start)
    if n > 0:
        buf[..., start : start + n] += np.float32(gain) * x[..., :n]


def _drum_gain(vel: int) -> float:
    return (vel / 127.0) ** 1.6


def _tone_gain(vel: int) -> float:
    return (vel / 127.0) ** 1.2


def drum_tuning_hz(key: Key) -> tuple[float, float]:
    """Kick and snare fundamentals: the tonic from D#1 to D2, and from E3 to D#4."""
    kick_midi = 27 + (key.tonic_pc - 3) % 12
    snare_midi = 52 + (key.tonic_pc - 4) % 12
    return midi_to_hz(kick_midi), midi_to_hz(snare_midi)


def _render_drums(events, stem: str, frames: int, sr: int, key: Key) -> np.ndarray:
    buf = np.zeros(frames, np.float32)
    kick_hz, snare_hz = drum_tuning_hz(key)
    for e in events:
        if stem == "kick":
            x = inst.kick(sr, e.variant, kick_hz)
        elif stem == "snare":
            x = inst.snare(sr, e.variant, snare_hz)
        elif e.kind == "crash":
            x = inst.crash(sr, e.variant)
        else:
            x = inst.hat(sr, e.variant, open_hat=e.kind == "open")
        _place(buf, e.start_n, x, _drum_gain(e.vel))
    return buf


def _render_notes(events, voice, frames: int, sr: int) -> np.ndarray:
    buf = np.zeros(frames, np.float32)
    cache: dict[tuple[int, int], np.ndarray] = {}
    for e in events:
        k = (e.pitch, e.gate_n)
        if k not in cache:
            cache[k] = voice(e.pitch, e.gate_n, sr)
        _place(buf, e.start_n, cache[k], _tone_gain(e.vel))
    return buf


def _render_chords(events, frames: int, sr: int, keys_pan: float) -> np.ndarray:
    out = np.zeros((2, frames), np.float32)
    keys = np.zeros(frames, np.float32)
    pads = [e for e in events if e.kind == "pad"]
    # One sustained tone per (pitch, brightness), long enough for its longest use.
    longest: dict[tuple[int, float], int] = {}
    envelopes: dict[int, np.ndarray] = {}
    for e in pads:
        if e.gate_n not in envelopes:
            envelopes[e.gate_n] = inst.pad_envelope(e.gate_n, sr)
        for p in e.pitches:
            k = (p, e.cutoff_hz)
            longest[k] = max(longest.get(k, 0), len(envelopes[e.gate_n]))
    tones = {k: inst.pad_tone(k[0], n, sr, k[1]) for k, n in sorted(longest.items())}
    chord_cache: dict[tuple, np.ndarray] = {}
    for e in pads:
        k = (e.pitches, e.cutoff_hz, e.gate_n)
        if k not in chord_cache:
            env = envelopes[e.gate_n]
            acc = np.zeros((2, len(env)), np.float32)
            for p in e.pitches:
                acc += tones[(p, e.cutoff_hz)][:, : len(env)]
            chord_cache[k] = acc * env
        _place(out, e.start_n, chord_cache[k], _tone_gain(e.vel))
    keys_cache: dict[tuple, np.ndarray] = {}
    for e in (e for e in events if e.kind == "keys"):
        k = (e.pitches, e.gate_n)
        if k not in keys_cache:
            keys_cache[k] = sum(inst.keys_note(p, e.gate_n, sr) for p in e.pitches)
        _place(keys, e.start_n, keys_cache[k], _tone_gain(e.vel))
    gl, gr = pan_gains(keys_pan)
    out[0] += gl * keys
    out[1] += gr * keys
    return out


def _vocal_phrases(events) -> list[list]:
    phrases, current = [], []
    for e in events:
        current.append(e)
        if not e.legato_next:
            phrases.append(current)
            current = []
    if current:
        phrases.append(current)
    return phrases


def _render_vocal(events, frames: int, sr: int) -> np.ndarray:
    buf = np.zeros(frames, np.float32)
    for phrase in _vocal_phrases(events):
        s0 = phrase[0].start_n
        starts = [e.start_n - s0 for e in phrase]
        end = phrase[-1].start_n + phrase[-1].gate_n - s0
        if len(phrase) > 1:  # keep notes in order despite humanised onsets
            starts = list(np.maximum.accumulate(starts))
        x = inst.vocal_phrase(
            [e.pitch for e in phrase],
            starts,
            max(end, starts[-1] + 1),
            [e.vowel for e in phrase],
            [_tone_gain(e.vel) for e in phrase],
            sr,
            consonants=[
                inst.consonant(sr, e.consonant) if e.consonant >= 0 else None for e in phrase
            ],
        )
        _place(buf, s0, x, 1.0)
    return buf


def _to_stereo(mono: np.ndarray, pan: float) -> np.ndarray:
    gl, gr = pan_gains(pan)
    out = np.empty((2, len(mono)), np.float32)
    np.multiply(mono, np.float32(gl), out=out[0])
    np.multiply(mono, np.float32(gr), out=out[1])
    return out


# --- truth ----------------------------------------------------------------------------


def _truth_notes(events, stem: str, sr: int) -> tuple[Note, ...]:
    notes = []
    if stem in ("kick", "snare", "hats"):
        lengths = {
            "kick": inst.KICK_S,
            "snare": inst.SNARE_S,
            "closed": inst.CLOSED_HAT_S,
            "open": inst.OPEN_HAT_S,
            "crash": inst.CRASH_S,
        }
        for e in events:
            length = lengths[stem if stem != "hats" else e.kind]
            notes.append(Note(e.pitch, e.start_n / sr, e.start_n / sr + length, e.vel))
    elif stem == "chords":
        for e in events:
            for p in e.pitches:
                notes.append(Note(p, e.start_n / sr, (e.start_n + e.gate_n) / sr, e.vel))
    elif stem == "vocal":
        for phrase in _vocal_phrases(events):
            for i, e in enumerate(phrase):
                end_n = phrase[i + 1].start_n if i + 1 < len(phrase) else e.start_n + e.gate_n
                notes.append(Note(e.pitch, e.start_n / sr, max(end_n, e.start_n + 1) / sr, e.vel))
    else:
        notes = [Note(e.pitch, e.start_n / sr, (e.start_n + e.gate_n) / sr, e.vel) for e in events]
    notes.sort(key=lambda n: (n.start_s, n.pitch_midi))
    return tuple(notes)


def _chord_spans(bar_chords: list[Chord], downbeats: np.ndarray, end_s: float, key: Key):
    bounds = [*downbeats.tolist(), end_s]
    spans: list[ChordSpan] = []
    for i, c in enumerate(bar_chords):
        root = key.spell(c.root_pc)
        if spans and spans[-1].root == root and spans[-1].quality == c.quality:
            last = spans.pop()
            spans.append(ChordSpan(last.start_s, bounds[i + 1], root, c.quality))
        else:
            spans.append(ChordSpan(bounds[i], bounds[i + 1], root, c.quality))
    return tuple(spans)


# --- the public entry point -----------------------------------------------------------


def generate_song(
    *,
    tempo_bpm: float = 120.0,
    key: str = "A",
    mode: str = "minor",
    time_signature: str = "4/4",
    sections: Sequence[tuple[str, int]] | None = None,
    sample_rate: int = 44100,
    seed: int = 0,
    swing: float = 0.1,
    humanize: bool = True,
    reverb: bool = True,
    tempo_drift: float = 0.0,
) -> Song:
    """A deterministic multitrack demo song with exact ground truth.

    ``tempo_bpm`` (40-250) counts beats: quarter notes in 3/4 and 4/4, dotted quarters in 6/8.
    ``key`` is a tonic with an optional sharp or flat ("A", "F#", "Bb"), ``mode`` "major" or
    "minor". ``sections`` is a sequence of ``(label, bars)`` with labels intro, verse, chorus,
    bridge, breakdown, outro (default: :func:`default_sections`). ``swing`` (0-1) delays
    off-beat eighths by ``swing/6`` beat; ``humanize`` moves onsets by a few ms (sd 2 ms, at
    most 5 ms) and varies velocities; ``tempo_drift`` (-0.5..0.5) is the fractional tempo
    change from the first to the last beat. Same arguments give bit-identical audio.

    >>> song = generate_song(tempo_bpm=96, key="Bb", mode="major", sections=[("verse", 4)])
    >>> sorted(song.stems) == sorted(STEM_NAMES)
    True
    """
    tempo = check_tempo(tempo_bpm)
    song_key = Key.parse(key, mode)
    meter = parse_meter(time_signature)
    sr = _check_sample_rate(sample_rate)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise StemforgeError(f"seed must be a whole number, 0 or more, got {seed!r}.")
    swing = _check_number("swing", swing, 0.0, 1.0)
    drift = _check_number("tempo_drift", tempo_drift, -0.5, 0.5)
    layout = (
        default_sections(tempo, meter.time_signature)
        if sections is None
        else _check_sections(sections)
    )

    total_bars = sum(b for _, b in layout)
    total_beats = total_bars * meter.beats_per_bar
    time_map = TimeMap(tempo, float(total_beats), drift)
    song_end_s = float(time_map.seconds(total_beats))
    if song_end_s > MAX_DURATION_S:
        raise StemforgeError(
            f"the song would last {song_end_s:.0f} s.",
            hint=f"Use fewer bars or a faster tempo; the limit is {MAX_DURATION_S:.0f} s.",
        )
    frames = math.ceil((song_end_s + TAIL_S) * sr)

    composer = _Composer(song_key, meter, int(seed), layout)
    composer.compose()
    rng_human = np.random.default_rng(np.random.SeedSequence([int(seed), 0xB0D1]))
    by_stem = {name: [e for e in composer.events if e.stem == name] for name in STEM_NAMES}
    for name in STEM_NAMES:
        by_stem[name].sort(key=lambda e: e.start_beat)
        _time_events(
            by_stem[name],
            time_map=time_map,
            meter=meter,
            swing=swing,
            sr=sr,
            rng_human=rng_human,
            humanize=bool(humanize),
        )

    stems = _render_stems(by_stem, frames, sr, song_key, reverb=bool(reverb))
    mix = np.zeros((2, frames), np.float32)
    for name in STEM_NAMES:
        mix += stems[name]
    peak = true_peak(mix)
    gain = np.float32(10 ** (TARGET_TRUE_PEAK_DBTP / 20) / peak) if peak > 0 else np.float32(1.0)
    for name in STEM_NAMES:
        stems[name] *= gain
        stems[name].setflags(write=False)
    mix *= gain
    mix.setflags(write=False)

    beats = np.arange(total_beats, dtype=np.float64)
    downbeats = time_map.seconds(beats[:: meter.beats_per_bar])
    section_list, bar0 = [], 0
    for label, bars in layout:
        start, end = time_map.seconds(
            [bar0 * meter.beats_per_bar, (bar0 + bars) * meter.beats_per_bar]
        )
        section_list.append(Section(label, float(start), float(end), bars))
        bar0 += bars
    truth = SongTruth(
        tempo_bpm=tempo,
        time_signature=meter.time_signature,
        beats_per_bar=meter.beats_per_bar,
        beat_times_s=time_map.seconds(beats),
        downbeat_times_s=downbeats,
        key=song_key.name,
        mode=song_key.mode,
        sections=tuple(section_list),
        chords=_chord_spans(composer.bar_chords, downbeats, song_end_s, song_key),
        notes={name: _truth_notes(by_stem[name], name, sr) for name in STEM_NAMES},
        beat_unit=meter.beat_unit,
        tempo_drift=drift,
        end_tempo_bpm=time_map.end_tempo_bpm,
        swing=swing,
        duration_s=frames / sr,
        sample_rate=sr,
        seed=int(seed),
    )
    return Song(
        stems={name: Audio(stems[name], sr) for name in STEM_NAMES},
        mix=Audio(mix, sr),
        truth=truth,
    )


def _render_stems(
    by_stem, frames: int, sr: int, key: Key, *, reverb: bool
) -> dict[str, np.ndarray]:
    verb = Reverb(sr, frames) if reverb else None
    stems: dict[str, np.ndarray] = {}
    for name in STEM_NAMES:
        events = by_stem[name]
        fader, pan, send = _MIX[name]
        if name in ("kick", "snare", "hats"):
            mono = _render_drums(events, name, frames, sr, key)
        elif name == "bass":
            mono = _render_notes(events, inst.bass_note, frames, sr)
        elif name == "lead":
            mono = _render_notes(events, inst.lead_note, frames, sr)
        elif name == "vocal":
            mono = _render_vocal(events, frames, sr)
        else:
            mono = None
        if mono is None:
            stereo = _render_chords(events, frames, sr, keys_pan=pan)
            dry_send = stereo[0] + stereo[1] if verb is not None and send > 0 and events else None
        else:
            stereo = _to_stereo(mono, pan)
            dry_send = mono if verb is not None and send > 0 and events else None
        if dry_send is not None:
            verb.add_wet(dry_send, stereo, send)
        stereo *= np.float32(fader)
        stems[name] = stereo
    return stems
