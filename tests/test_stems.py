"""Stems: loading a folder, names, and alignment of rate, channels and length."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from stemforge.audio import load
from stemforge.audio.signal import Audio
from stemforge.audio.stems import (
    AUDIO_SUFFIXES,
    MAX_STEMS,
    Stems,
    align_stems,
    load_stems,
    stem_names,
)
from stemforge.errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    InvalidAudioError,
    StemforgeError,
)


def _sine(freq_hz, duration_s, sample_rate, channels=1, amplitude=0.5):
    t = np.arange(round(duration_s * sample_rate)) / sample_rate
    x = amplitude * np.sin(2 * np.pi * freq_hz * t)
    return Audio(np.tile(x, (channels, 1)), sample_rate)


def _rms_db(x):
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2))


# --- real multitracks ---------------------------------------------------------------------


def test_excerpt_stems_sum_to_the_mixture_sample_for_sample(shared_data):
    folder = shared_data / "multitrack" / "caesium_excerpt"
    stems = load_stems([folder / f"{n}.flac" for n in ("vocals", "drums", "other")])
    assert stems.names == ("vocals", "drums", "other")
    assert all(notes == () for notes in stems.notes.values())
    mixture = load(folder / "mixture.flac")
    mixed = stems.mix()
    assert (mixed.sample_rate, mixed.channels, mixed.frames) == (48000, 2, 960000)
    np.testing.assert_array_equal(mixed.samples, mixture.samples)


def test_caesium_folder_gives_sixteen_named_stems_at_48k(shared_data):
    folder = shared_data / "multitrack" / "caesium_stems"
    stems = load_stems(folder, duration_s=2.0)
    assert len(stems) == 16
    assert stems.names[:2] == ("ALT HATS", "BGVOX ALT")
    assert {"KICK", "VOX LEAD", "GARAGE BEAT", "MINILOGUE_SYNTH_mobile"} <= set(stems.names)
    assert stems.sample_rate == 48000 and stems.channels == 2
    assert all(a.frames == stems.frames == 96000 for a in stems.audio)
    # The synth is the one 24 kHz file (the others are 48 kHz).
    assert stems.notes["MINILOGUE_SYNTH_mobile"][0] == "resampled 24000 -> 48000 Hz"
    assert stems.sources[stems.names.index("KICK")].endswith("6.Caesium_Stem_KICK.m4a")
    # Silent stems: exactly those whose first 2 s decode to zeros.
    zero = {
        n
        for n, path in zip(stems.names, stems.sources, strict=True)
        if not np.any(load(path, duration_s=2.0).samples)
    }
    assert set(stems.silent) == zero and "GARAGE BEAT" in zero and "KICK" not in zero
    assert stems.notes["GARAGE BEAT"] == ("silent (all zero)",)
    # The kick plays in bar 2 (from 1.85 s at 130 BPM); it is the same signal as loaded alone.
    kick = load(folder / "6.Caesium_Stem_KICK.m4a", duration_s=2.0)
    np.testing.assert_array_equal(stems["KICK"].samples, kick.samples)
    d = stems.to_dict()
    assert "audio" not in d and json.dumps(d)


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "names"),
    [
        (["6.Caesium_Stem_KICK.m4a", "6.Caesium_Stem_VOX LEAD.m4a"], ["KICK", "VOX LEAD"]),
        (["Kick.wav", "Keys.wav"], ["Kick", "Keys"]),  # no separator: "K" is not a prefix
        (["song - bass.wav", "song - bass synth.wav"], ["bass", "bass synth"]),
        (["kick.wav", "kick.flac", "kick_2.aiff"], ["kick", "kick_3", "kick_2"]),
        (["/x/My Song_Vocals.wav"], ["My Song_Vocals"]),  # one file keeps its name
        (["a/mix_01.wav", "b/mix_02.wav"], ["01", "02"]),
    ],
)
def test_stem_names(files, names):
    assert stem_names(files) == names


# --- alignment -------------------------------------------------------------------------------


def test_rates_channels_and_lengths_are_aligned_with_notes():
    stems = align_stems(
        {
            "bass": _sine(110, 1.0, 44100),  # mono, 44.1 kHz
            "keys": _sine(440, 1.5, 48000, channels=2),
            "pad": _sine(220, 0.5, 48000, channels=6, amplitude=0.1),  # 5.1
        }
    )
    assert (stems.sample_rate, stems.channels, stems.frames) == (48000, 2, 72000)
    assert stems.notes["bass"] == (
        "resampled 44100 -> 48000 Hz",
        "mono duplicated to stereo",
        "padded 0.500 s at the end",
    )
    assert stems.notes["keys"] == ()
    assert stems.notes["pad"] == (
        "folded down from 6 channels to stereo",
        "padded 1.000 s at the end",
    )
    bass = stems["bass"].samples
    np.testing.assert_array_equal(bass[0], bass[1])
    assert not bass[:, 48000:].any()  # zero padding after 1 s
    # soxr keeps the sine's level (-9.03 dB RMS) away from the edges.
    assert _rms_db(bass[0, 2000:46000]) == pytest.approx(20 * np.log10(0.5) - 3.0103, abs=0.02)
    # BS.775 fold-down of six equal channels: L = L + C/sqrt2 + Ls/sqrt2 (LFE dropped).
    pad_left = stems["pad"].samples[0, :24000]
    expected = 0.1 * (1 + 2 * 10 ** (-3 / 20)) / np.sqrt(2)
    assert np.sqrt(np.mean(pad_left.astype(np.float64) ** 2)) == pytest.approx(expected, rel=1e-4)
    mix = stems.mix()
    assert mix.frames == 72000 and mix.channels == 2


def test_given_rate_and_mono_stems_stay_mono():
    stems = align_stems({"a": _sine(100, 1, 48000), "b": _sine(200, 1, 48000)}, sample_rate=44100)
    assert (stems.sample_rate, stems.channels, stems.frames) == (44100, 1, 44100)
    assert stems.notes == {
        "a": ("resampled 48000 -> 44100 Hz",),
        "b": ("resampled 48000 -> 44100 Hz",),
    }


def test_most_common_rate_wins_and_ties_go_up():
    three = {"a": _sine(100, 1, 44100), "b": _sine(100, 1, 44100), "c": _sine(100, 1, 48000)}
    assert align_stems(three).sample_rate == 44100
    two = {"a": _sine(100, 1, 44100), "b": _sine(100, 1, 96000)}
    assert align_stems(two).sample_rate == 96000


def test_offsets_delay_stems():
    a, b = _sine(100, 1.0, 8000), _sine(100, 1.0, 8000)
    stems = align_stems({"a": a, "b": b}, offsets_s={"b": 0.25})
    assert stems.frames == 10000
    assert stems.notes["b"] == ("delayed 0.250 s",)
    assert stems.notes["a"] == ("padded 0.250 s at the end",)
    np.testing.assert_array_equal(stems["b"].samples[:, 2000:], b.samples)
    assert not stems["b"].samples[:, :2000].any()
    by_order = align_stems({"a": a, "b": b}, offsets_s=[0.0, 0.25])
    np.testing.assert_array_equal(by_order["b"].samples, stems["b"].samples)
    with pytest.raises(StemforgeError, match=r"'b'.*seconds >= 0"):
        align_stems({"a": a, "b": b}, offsets_s={"b": -0.1})
    with pytest.raises(StemforgeError, match="unknown stem"):
        align_stems({"a": a, "b": b}, offsets_s={"c": 1.0})
    with pytest.raises(StemforgeError, match="1 value"):
        align_stems({"a": a, "b": b}, offsets_s=[0.0])


def test_silent_stem_is_kept_and_flagged():
    quiet = Audio(np.full((1, 8000), 1e-6, np.float32), 8000)  # -120 dBFS
    stems = align_stems({"tone": _sine(100, 1, 8000), "off": Audio.silence(1, 8000, 1), "q": quiet})
    assert stems.silent == ("off", "q")
    assert stems.notes["off"] == ("silent (all zero)",)
    assert stems.notes["q"] == ("silent (peak below -90 dBFS)",)


# --- refusals --------------------------------------------------------------------------------


def test_nan_stem_is_refused_by_name():
    x = np.zeros((2, 4800), np.float32)
    x[1, 2400] = np.nan
    with pytest.raises(InvalidAudioError, match=r"stem 'snare'.*1 NaN.*0\.050 s"):
        align_stems({"kick": _sine(60, 0.1, 48000), "snare": Audio(x, 48000)})


def test_nan_in_a_float_wav_names_the_stem(tmp_path):
    x = np.zeros((4800, 2), np.float32)
    x[100, 0] = np.inf
    sf.write(tmp_path / "track_bad.wav", x, 48000, subtype="FLOAT")
    sf.write(tmp_path / "track_good.wav", np.zeros_like(x), 48000, subtype="FLOAT")
    with pytest.raises(InvalidAudioError, match=r"stem 'bad' could not be loaded.*NaN or infinite"):
        load_stems(tmp_path)


def test_undecodable_stem_is_named(tmp_path):
    sf.write(tmp_path / "drums.wav", np.zeros(800), 8000)
    (tmp_path / "bass.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(40))
    with pytest.raises(AudioDecodeError, match=r"stem 'bass' could not be loaded.*bass\.wav"):
        load_stems(tmp_path)


def test_folders_without_audio_are_refused(tmp_path):
    with pytest.raises(AudioFileNotFoundError, match=r"no audio files.*holds nothing.*\.wav"):
        load_stems(tmp_path)
    (tmp_path / "README.txt").write_text("stems of my song")
    (tmp_path / ".hidden.wav").write_bytes(b"")
    with pytest.raises(AudioFileNotFoundError, match=r"1 file\(s\), none of them audio"):
        load_stems(tmp_path)
    with pytest.raises(AudioFileNotFoundError, match="no such folder"):
        load_stems(tmp_path / "missing")


def test_folder_skips_other_files(tmp_path):
    sf.write(tmp_path / "01_bass.flac", 0.1 * np.ones(800), 8000)
    sf.write(tmp_path / "02_keys.wav", 0.1 * np.ones((400, 2)), 8000)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    stems = load_stems(tmp_path)
    assert stems.names == ("01_bass", "02_keys")  # no shared prefix up to a separator
    assert stems.notes["01_bass"] == ("mono duplicated to stereo",)
    assert stems.notes["02_keys"] == ("padded 0.050 s at the end",)
    assert ".flac" in AUDIO_SUFFIXES and ".m4a" in AUDIO_SUFFIXES


def test_more_than_64_stems_are_refused(tmp_path):
    many = {f"s{i}": Audio.silence(0.01, 8000, 1) for i in range(MAX_STEMS + 1)}
    with pytest.raises(StemforgeError, match="65 stems; stemforge takes at most 64"):
        align_stems(many)
    with pytest.raises(StemforgeError, match="65 stems"):
        load_stems([tmp_path / f"{i}.wav" for i in range(65)])
    assert len(align_stems(dict(list(many.items())[:64]))) == 64


def test_stems_result_shape():
    stems = align_stems({"a": _sine(100, 0.1, 8000)})
    assert isinstance(stems, Stems)
    assert stems.items()[0][0] == "a" and stems.duration_s == pytest.approx(0.1)
    with pytest.raises(KeyError, match="no stem named 'b'"):
        stems["b"]


def test_a_part_past_the_end_of_a_short_stem_reads_as_silence(tmp_path):
    sf.write(tmp_path / "long.wav", 0.1 * np.ones(8000), 8000)
    sf.write(tmp_path / "short.wav", 0.1 * np.ones(1600), 8000)
    stems = load_stems(tmp_path, start_s=0.5)
    assert stems.frames == 4000
    assert stems.silent == ("short",)
    assert stems.notes["short"] == (
        "ends at 0.200 s, before the part read",
        "padded 0.500 s at the end",
        "silent (all zero)",
    )
    np.testing.assert_allclose(stems["long"].samples, 0.1, atol=1e-4)
