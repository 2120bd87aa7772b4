"""Stem roles from names and from sound (stemforge.mixing.roles)."""

from __future__ import annotations

import numpy as np
import pytest

from stemforge.audio.signal import Audio
from stemforge.demo import generate_song
from stemforge.mixing.roles import (
    ROLES,
    detect_role,
    detect_roles,
    role_features,
    role_from_audio,
    role_from_name,
)

SR = 44100


# --- names ----------------------------------------------------------------------------------

NAMES = [
    ("Kick In", "kick"),
    ("Kick Out 2", "kick"),
    ("BD", "kick"),
    ("Bass Drum", "kick"),
    ("Grosse caisse", "kick"),
    ("SNR top", "snare"),
    ("Snare_Bottom", "snare"),
    ("caja", "snare"),
    ("OH L", "drums"),
    ("Overheads", "drums"),
    ("Room Mics", "drums"),
    ("Batterie", "drums"),
    ("GARAGE BEAT", "drums"),
    ("HiHat", "hats"),
    ("hh", "hats"),
    ("Ride", "hats"),
    ("SCRATCH HATS", "hats"),  # the head noun comes last
    ("Bass DI", "bass"),
    ("808", "bass"),
    ("Sub Bass", "bass"),
    ("Synth Bass", "bass"),
    ("Lead Vox", "lead_vocal"),
    ("6.Caesium_Stem_VOX LEAD", "lead_vocal"),
    ("leadVox2-L", "lead_vocal"),  # camelCase and digits
    ("Vocal 1", "lead_vocal"),
    ("Gesang", "lead_vocal"),
    ("voz principal", "lead_vocal"),
    ("BV", "backing_vocal"),
    ("BGVOX HIGH", "backing_vocal"),
    ("bgvoxhigh", "backing_vocal"),  # glued words
    ("Harmony 2", "backing_vocal"),
    ("Chœurs", "backing_vocal"),
    ("Backing Vocals", "backing_vocal"),
    ("Piano", "keys"),
    ("Rhodes", "keys"),
    ("Pno L", "keys"),
    ("Gtr Rhythm", "guitar"),
    ("Acoustic Gtr", "guitar"),
    ("Gitarre", "guitar"),
    ("Lead Synth", "synth"),
    ("Arp", "synth"),
    ("MINILOGUE_SYNTH_mobile", "synth"),
    ("Pad", "pad"),
    ("Strings", "pad"),
    ("Riser FX", "fx"),
    ("FILL SCRATCH", "fx"),
    ("MICROCOSM_EFFECT", "fx"),
    ("BGVOX ECHO", "fx"),  # an effect return, not the backing vocal itself
    ("Vox Delay", "fx"),
    ("Lead Vocal Reverb", "fx"),
    ("Gtr Verb", "fx"),
]


@pytest.mark.parametrize(("name", "role"), NAMES)
def test_role_from_name(name, role):
    guess = role_from_name(name)
    assert guess is not None, name
    assert guess.role == role, guess.reason
    assert guess.source == "name"
    assert 0.3 <= guess.confidence <= 1.0
    assert name in guess.reason


@pytest.mark.parametrize("name", ["Track 1", "Audio 07", "stem", "xyz"])
def test_unknown_names_give_no_role(name):
    assert role_from_name(name) is None


def test_a_strong_word_is_more_certain_than_a_hint():
    assert role_from_name("Kick").confidence > role_from_name("Beat").confidence


# --- features against synthesised signals of known properties --------------------------------


def _tone(freq_hz, seconds=3.0, vibrato_cents=0.0, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    cents = vibrato_cents * np.sin(2 * np.pi * 5.5 * t)
    phase = 2 * np.pi * np.cumsum(freq_hz * 2 ** (cents / 1200)) / SR
    # A few harmonics, falling 6 dB/octave, like a sung or bowed note.
    x = sum(np.sin(k * phase) / k for k in range(1, 6))
    return amp * x / np.max(np.abs(x))


def test_features_of_a_steady_tone():
    f = role_features(Audio.from_array(_tone(220.0), SR))
    assert f.f0_median_hz == pytest.approx(220.0, rel=0.01)
    assert f.voiced_fraction > 0.95
    assert f.pitch_flutter_cents < 1.0
    assert f.lowest_peak_ratio == pytest.approx(1.0, abs=0.1)
    assert f.flatness < 0.01
    assert f.active_fraction == pytest.approx(1.0, abs=0.02)


def test_crest_factor_is_the_sounds_not_the_songs():
    """A sine's crest factor is 3.01 dB (peak sqrt(2) times its RMS); a sine that plays 20 dB
    quieter for a while (a quiet verse) is still a sine inside its notes."""
    t = np.arange(4 * SR) / SR
    sine = 0.5 * np.sin(2 * np.pi * 220.0 * t)
    assert role_features(Audio.from_array(sine, SR)).crest_db == pytest.approx(3.01, abs=0.05)
    verse = np.where(t < 2.0, 0.1, 1.0) * sine
    assert role_features(Audio.from_array(verse, SR)).crest_db == pytest.approx(3.01, abs=0.05)


def test_vibrato_shows_as_pitch_flutter():
    steady = role_features(Audio.from_array(_tone(300.0), SR))
    sung = role_features(Audio.from_array(_tone(300.0, vibrato_cents=30.0), SR))
    assert sung.pitch_flutter_cents > 5.0 > steady.pitch_flutter_cents


def test_noise_is_flat_and_unpitched(rng):
    f = role_features(Audio.from_array(0.1 * rng.standard_normal(3 * SR), SR))
    assert f.flatness > 0.5
    assert f.voiced_fraction < 0.05
    # White noise: the centroid sits near a quarter of the sample rate.
    assert f.centroid_hz == pytest.approx(SR / 4, rel=0.05)


def test_chord_has_a_common_period_below_its_notes():
    t = np.arange(3 * SR) / SR
    notes = (220.0, 277.18, 329.63)  # A major
    x = sum(np.sin(2 * np.pi * f * t) for f in notes)
    f = role_features(Audio.from_array(0.2 * x, SR))
    assert f.lowest_peak_ratio > 1.8  # the lowest note lies well above the common f0


def test_low_share_and_stereo_width():
    t = np.arange(2 * SR) / SR
    low = 0.3 * np.sin(2 * np.pi * 60 * t)
    f = role_features(Audio(np.stack([low, low]).astype(np.float32), SR))
    assert f.low_share > 0.95
    assert f.stereo_width == pytest.approx(0.0, abs=1e-6)
    wide = role_features(Audio(np.stack([low, -low]).astype(np.float32), SR))
    assert wide.stereo_width == pytest.approx(1.0, abs=1e-6)


def test_silence_has_no_role():
    f = role_features(Audio.silence(2.0, SR))
    assert f.silent
    assert role_from_audio(f).role == "other"
    assert role_from_audio(f).confidence == 0.0


# --- sound alone on the demo song's stems, whose truth is known ------------------------------

TRUTH = {
    "kick": {"kick"},
    "snare": {"snare"},
    "hats": {"hats"},
    "bass": {"bass"},
    "chords": {"keys", "pad"},
    "lead": {"synth"},
    "vocal": {"lead_vocal"},
}


@pytest.fixture(scope="module")
def songs():
    return [
        generate_song(
            sections=[("verse", 2), ("chorus", 2)], seed=2, tempo_bpm=118, key="D", mode="minor"
        ),
        generate_song(sections=[("chorus", 4)], seed=9, tempo_bpm=92, key="Eb", mode="major"),
    ]


def test_roles_from_sound_alone(songs):
    for song in songs:
        for name, audio in song.stems.items():
            features = role_features(audio)
            assert not features.silent, name
            guess = role_from_audio(features)
            assert guess.role in TRUTH[name], f"{name}: {guess.reason}"
            assert guess.source == "audio"
            assert guess.confidence > 0.2, guess.reason


def test_a_synth_that_plays_the_bass_line_is_mixed_as_bass(songs):
    guess = detect_role("Minilogue Synth", songs[0].stems["bass"])
    assert guess.role == "bass"
    assert "bass line" in guess.reason
    # The same name on a synth lead stays a synth.
    assert detect_role("Minilogue Synth", songs[0].stems["lead"]).role == "synth"


def test_a_confident_name_wins_over_the_sound(songs):
    guess = detect_role("Vocal", songs[0].stems["hats"])
    assert guess.role == "lead_vocal"
    assert "sound suggests hi-hats" in guess.reason
    # A kit piece named as another is still a drum: the sound does not object.
    assert "sound agrees" in detect_role("Snare", songs[0].stems["kick"]).reason


def test_two_sung_parts_give_one_lead_and_one_backing(songs):
    vocal = songs[0].stems["vocal"]
    half = vocal.samples.copy()
    half[:, : half.shape[1] // 2] = 0.0  # sings half as long
    guesses = detect_roles({"part b": vocal.with_samples(half), "part a": vocal})
    assert guesses["part a"].role == "lead_vocal"
    assert guesses["part b"].role == "backing_vocal"
    assert guesses["part b"].source == "set"
    # The order of the stems does not matter.
    again = detect_roles({"part a": vocal, "part b": vocal.with_samples(half)})
    assert again == guesses


def test_every_role_is_known():
    for name, role in NAMES:
        assert role in ROLES, name
