"""Rhythm patterns per time signature, and what each kind of section plays.

Positions and durations are in beats from the start of the bar (a beat is a quarter in
3/4 and 4/4, a dotted quarter in 6/8, whose eighths fall on thirds of a beat). Velocities
are MIDI (1-127); the downbeat kick is always the strongest drum hit of the bar.
"""

from __future__ import annotations

from dataclasses import dataclass

T = 1.0 / 3.0  # an eighth note in 6/8

# --- drums: (position, velocity); hats add an open flag ---------------------------------

KICK = {
    "4/4": {
        "sparse": [[(0, 110)]],
        "main": [
            [(0, 124), (2, 98)],
            [(0, 124), (1.5, 84), (2, 98)],
            [(0, 124), (2, 98), (2.5, 82)],
            [(0, 124), (0.75, 78), (2, 98)],
        ],
        "busy": [
            [(0, 127), (1.5, 88), (2, 100), (3.5, 80)],
            [(0, 127), (2, 100), (2.5, 86), (3.5, 78)],
            [(0, 127), (0.75, 82), (2, 100), (2.75, 78)],
        ],
        "half": [[(0, 122)], [(0, 122), (2.5, 82)]],
    },
    "3/4": {
        "sparse": [[(0, 110)]],
        "main": [[(0, 124)], [(0, 124), (2.5, 82)]],
        "busy": [[(0, 127), (1.5, 86)], [(0, 127), (2.5, 88)]],
        "half": [[(0, 122)]],
    },
    "6/8": {
        "sparse": [[(0, 110)]],
        "main": [[(0, 124)], [(0, 124), (2 * T, 80)], [(0, 124), (5 * T, 76)]],
        "busy": [[(0, 127), (2 * T, 84), (5 * T, 78)], [(0, 127), (2 * T, 80), (1, 90)]],
        "half": [[(0, 122)]],
    },
}

SNARE = {
    "4/4": {
        "backbeat": [(1, 104), (3, 108)],
        "fill": [(1, 104), (3, 108), (3.5, 72), (3.75, 88)],
        "half": [(2, 106)],
        "soft": [(1, 80), (3, 84)],
    },
    "3/4": {
        "backbeat": [(1, 84), (2, 92)],
        "fill": [(1, 84), (2, 92), (2.5, 76)],
        "half": [(2, 96)],
        "soft": [(1, 66), (2, 72)],
    },
    "6/8": {
        "backbeat": [(1, 106)],
        "fill": [(1, 106), (4 * T, 72), (5 * T, 88)],
        "half": [(1, 100)],
        "soft": [(1, 82)],
    },
}


def _hats(positions_velocities, open_at=()):
    return [(p, v, p in open_at) for p, v in positions_velocities]


HATS = {
    "4/4": {
        "quarter": [_hats([(b, 62) for b in range(4)])],
        "eighth": [
            _hats([(i / 2, 86 if i % 2 == 0 else 62) for i in range(8)]),
            _hats([(i / 2, 86 if i % 2 == 0 else 62) for i in range(8)], open_at=(3.5,)),
        ],
        "sixteenth": [
            _hats([(i / 4, (90, 50, 72, 54)[i % 4]) for i in range(16)]),
            _hats([(i / 4, (90, 50, 72, 54)[i % 4]) for i in range(16) if i % 4 != 3], (1.5, 3.5)),
        ],
    },
    "3/4": {
        "quarter": [_hats([(b, 62) for b in range(3)])],
        "eighth": [
            _hats([(i / 2, (90 if i == 0 else 76) if i % 2 == 0 else 60) for i in range(6)]),
            _hats(
                [(i / 2, (90 if i == 0 else 76) if i % 2 == 0 else 60) for i in range(6)], (2.5,)
            ),
        ],
        "sixteenth": [
            _hats([(i / 4, (92 if i == 0 else 74, 48, 64, 50)[i % 4]) for i in range(12)]),
        ],
    },
    "6/8": {
        "quarter": [_hats([(0, 70), (1, 60)])],
        "eighth": [
            _hats([(i * T, (92, 56, 68, 84, 56, 68)[i]) for i in range(6)]),
            _hats([(i * T, (92, 56, 68, 84, 56, 68)[i]) for i in range(6)], (5 * T,)),
        ],
        "sixteenth": [
            _hats(
                [
                    (i * T / 2, (94, 44, 64, 44, 66, 44, 86, 44, 64, 44, 66, 48)[i])
                    for i in range(12)
                ]
            ),
        ],
    },
}

# --- bass: (position, duration, degree): "R" root, "3" third, "5" fifth, "8" octave ------

BASS = {
    "4/4": {
        "whole": [[(0, 4, "R")]],
        "verse": [
            [(0, 1.5, "R"), (1.5, 0.5, "R"), (2, 1.5, "R"), (3.5, 0.5, "3")],
            [(0, 1, "R"), (1, 1, "5"), (2, 1.5, "R"), (3.5, 0.5, "8")],
            [(0, 1.5, "R"), (1.5, 1, "R"), (2.5, 0.5, "3"), (3, 1, "5")],
        ],
        "chorus": [
            [(i / 2, 0.5, d) for i, d in enumerate("RR8RR35R")],
            [
                (0, 0.5, "R"),
                (0.5, 0.5, "R"),
                (1, 0.5, "8"),
                (1.5, 0.5, "R"),
                (2, 1, "R"),
                (3, 0.5, "3"),
                (3.5, 0.5, "5"),
            ],
        ],
    },
    "3/4": {
        "whole": [[(0, 3, "R")]],
        "verse": [[(0, 2, "R"), (2, 1, "5")], [(0, 1.5, "R"), (1.5, 0.5, "3"), (2, 1, "5")]],
        "chorus": [
            [(0, 1, "R"), (1, 1, "3"), (2, 1, "5")],
            [(0, 0.5, "R"), (0.5, 0.5, "R"), (1, 1, "5"), (2, 0.5, "8"), (2.5, 0.5, "R")],
        ],
    },
    "6/8": {
        "whole": [[(0, 2, "R")]],
        "verse": [[(0, 1, "R"), (1, 1, "5")], [(0, 2 * T, "R"), (2 * T, T, "3"), (1, 1, "R")]],
        "chorus": [
            [(0, 2 * T, "R"), (2 * T, T, "3"), (1, 2 * T, "5"), (5 * T, T, "R")],
            [(0, T, "R"), (T, T, "R"), (2 * T, T, "8"), (1, 1, "R")],
        ],
    },
}

# --- keys stabs: (position, duration) ---------------------------------------------------

KEYS = {
    "4/4": [
        [(0, 0.5), (1.5, 0.5), (3, 0.5)],
        [(0.5, 0.5), (1.5, 0.5), (2.5, 0.5), (3.5, 0.5)],
        [(0, 1), (1.5, 0.5), (2.5, 1)],
    ],
    "3/4": [[(1, 0.5), (2, 0.5)], [(0, 1), (1, 0.5), (2, 0.5)]],
    "6/8": [[(0, T), (2 * T, T), (1, T), (5 * T, T)], [(T, T), (2 * T, T), (4 * T, T), (5 * T, T)]],
}

# --- melodies: one bar each, (position, duration) ----------------------------------------

LEAD = {
    "4/4": {
        "body": [
            [(0, 1), (1, 0.5), (1.5, 0.5), (2, 1), (3, 1)],
            [(0, 0.5), (0.5, 0.5), (1, 1), (2, 0.5), (2.5, 0.5), (3, 1)],
            [(0, 1.5), (1.5, 0.5), (2, 2)],
            [(0.5, 0.5), (1, 0.5), (1.5, 1), (2.5, 0.5), (3, 1)],
            [(0, 0.5), (0.5, 0.5), (1, 0.5), (1.5, 0.5), (2, 1.5), (3.5, 0.5)],
        ],
        "end": [[(0, 1), (1, 1), (2, 2)], [(0, 0.5), (0.5, 0.5), (1, 3)], [(0, 3)]],
    },
    "3/4": {
        "body": [
            [(0, 1), (1, 1), (2, 1)],
            [(0, 1.5), (1.5, 0.5), (2, 1)],
            [(0, 0.5), (0.5, 0.5), (1, 1), (2, 1)],
            [(0, 0.5), (0.5, 0.5), (1, 0.5), (1.5, 0.5), (2, 1)],
        ],
        "end": [[(0, 3)], [(0, 1), (1, 2)]],
    },
    "6/8": {
        "body": [
            [(0, 2 * T), (2 * T, T), (1, 2 * T), (5 * T, T)],
            [(i * T, T) for i in range(6)],
            [(0, 1), (1, 1)],
            [(0, 1), (1, 2 * T), (5 * T, T)],
        ],
        "end": [[(0, 2)], [(0, T), (T, T), (2 * T, 4 * T)]],
    },
}

VOCAL = {
    "4/4": {
        "body": [
            [(0, 1), (1, 1), (2, 1), (3, 1)],
            [(0, 1.5), (1.5, 0.5), (2, 1), (3, 1)],
            [(0.5, 0.5), (1, 1), (2, 1.5), (3.5, 0.5)],
            [(0, 2), (2, 1), (3, 1)],
        ],
        "end": [[(0, 2)], [(0, 1), (1, 2)], [(0, 0.5), (0.5, 2)]],
    },
    "3/4": {
        "body": [[(0, 1), (1, 1), (2, 1)], [(0, 2), (2, 1)], [(0, 1.5), (1.5, 0.5), (2, 1)]],
        "end": [[(0, 2)], [(0, 1), (1, 1.5)]],
    },
    "6/8": {
        "body": [
            [(0, 1), (1, 2 * T), (5 * T, T)],
            [(0, 2 * T), (2 * T, T), (1, 1)],
            [(0, T), (T, T), (2 * T, T), (1, 1)],
        ],
        "end": [[(0, 1.5)], [(0, 2 * T), (2 * T, 1)]],
    },
}


@dataclass(frozen=True)
class SectionStyle:
    """What a kind of section plays, and how hard."""

    kick: str | None
    snare: str | None
    hats: str | None
    crash: bool
    bass: str | None
    chords: str  # "pad", "keys" or "pad+keys"
    cutoff_hz: float  # pad brightness
    lead: bool
    vocal: str | None  # register: "low" or "high"
    velocity_scale: float = 1.0
    fade_out: bool = False


STYLES = {
    "intro": SectionStyle("sparse", None, "quarter", False, None, "pad", 700.0, False, None, 0.8),
    "verse": SectionStyle(
        "main", "backbeat", "eighth", False, "verse", "keys", 1500.0, False, "low", 0.9
    ),
    "chorus": SectionStyle(
        "busy", "fill", "sixteenth", True, "chorus", "pad+keys", 2600.0, True, "high", 1.0
    ),
    "bridge": SectionStyle(
        "half", "half", "eighth", True, "verse", "pad", 1800.0, True, None, 0.95
    ),
    "breakdown": SectionStyle(None, None, None, False, None, "pad", 1100.0, False, "low", 0.9),
    "outro": SectionStyle(
        "sparse", "soft", "eighth", False, "whole", "pad", 900.0, False, None, 0.85, True
    ),
}

#: Melodic registers (lowest, highest MIDI pitch).
BASS_ROOT_RANGE = (36, 47)
LEAD_RANGE = (72, 86)
VOCAL_RANGE = {"low": (57, 69), "high": (62, 74)}
PAD_WINDOW_LOW = 55
KEYS_WINDOW_LOW = 60
