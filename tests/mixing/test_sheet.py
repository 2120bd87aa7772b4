"""The mix sheet: JSON round trip, versioning, validation with actionable errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stemforge.audio.filters import EQ, HighPass, HighShelf, LowPass, LowShelf, PeakingEQ
from stemforge.audio.signal import Audio
from stemforge.errors import StemforgeError
from stemforge.mixing import render
from stemforge.mixing.errors import MixSheetError
from stemforge.mixing.sheet import (
    SHEET_VERSION,
    Band,
    ChannelEQ,
    Compressor,
    Limiter,
    MasterBus,
    MixSheet,
    Reverb,
    StemChannel,
)


def full_sheet() -> MixSheet:
    """A sheet in which every field differs from its default."""
    eq = ChannelEQ(
        high_pass_hz=35.5,
        high_pass_slope_db_per_oct=24,
        low_pass_hz=16000.0,
        low_pass_slope_db_per_oct=48,
        low_shelf_hz=120.0,
        low_shelf_gain_db=-2.5,
        high_shelf_hz=9000.0,
        high_shelf_gain_db=1.75,
        bands=(Band(250.0, -3.0, 1.4), Band(3150.0, 2.25, 2.0)),
    )
    vocal = StemChannel(
        gain_db=-4.25,
        pan=-0.3,
        mute=True,
        solo=True,
        eq=eq,
        compressor=Compressor(-24.0, 3.5, 5.0, 120.0, 4.0, 2.5),
        reverb_send_db=-12.0,
        offset_s=1.234567,
        role="lead_vocal",
        notes=("High-passed at 35.5 Hz to clear rumble.", "Panned slightly left."),
    )
    master = MasterBus(
        eq=ChannelEQ(high_pass_hz=25.0, bands=(Band(60.0, 1.0, 0.7),)),
        compressor=Compressor(-12.0, 1.5, 30.0, 300.0, 8.0, 1.0),
        limiter=Limiter(ceiling_dbtp=-0.5, target_lufs=-11.0, release_ms=80.0, lookahead_ms=3.0),
        reverb=Reverb(room_size=0.7, damping=0.2, return_db=-3.0, high_pass_hz=300.0, width=0.8),
        notes=("Glue at 1.5:1.",),
    )
    return MixSheet(
        stems={"vocal": vocal, "bass": StemChannel(gain_db=1.0, pan=0.25)},
        master=master,
        sample_rate=48000,
        created_by="rules",
        notes=("Balanced by the rule-based mixer.",),
    )


def test_json_round_trip_keeps_every_field():
    sheet = full_sheet()
    text = sheet.to_json()
    back = MixSheet.from_json(text)
    assert back == sheet
    assert back.to_dict() == sheet.to_dict()
    # Every field reached the JSON with its own value (nothing fell back to a default).
    data = json.loads(text)
    vocal = data["stems"]["vocal"]
    assert vocal["compressor"] == {
        "threshold_db": -24.0,
        "ratio": 3.5,
        "attack_ms": 5.0,
        "release_ms": 120.0,
        "knee_db": 4.0,
        "makeup_db": 2.5,
    }
    assert vocal["eq"]["bands"][1] == {"frequency_hz": 3150.0, "gain_db": 2.25, "q": 2.0}
    assert vocal["offset_s"] == 1.234567
    assert vocal["mute"] is True and vocal["solo"] is True
    assert data["master"]["limiter"]["target_lufs"] == -11.0
    assert data["master"]["reverb"]["width"] == 0.8
    assert data["sample_rate"] == 48000 and data["created_by"] == "rules"


def test_json_is_readable_and_ordered():
    text = full_sheet().to_json()
    assert text.startswith('{\n  "version": 1,')  # indented, the version first
    data = json.loads(text)
    assert list(data) == ["version", "created_by", "sample_rate", "notes", "stems", "master"]
    assert list(data["stems"]) == ["bass", "vocal"]  # sorted by name
    assert list(data["stems"]["bass"])[:4] == ["gain_db", "pan", "mute", "solo"]


def test_save_and_load(tmp_path):
    sheet = full_sheet()
    path = sheet.save(tmp_path / "mix.json")
    assert MixSheet.load(path) == sheet
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_numbers_are_rounded_to_what_the_json_shows():
    channel = StemChannel(gain_db=-3.14159, pan=0.123456)
    assert channel.gain_db == -3.14 and channel.pan == 0.123
    assert Band(1234.5678, 1.005, 0.70711).q == 0.707
    sheet = MixSheet(stems={"a": channel})
    assert MixSheet.from_json(sheet.to_json()) == sheet


def test_stems_are_kept_sorted_and_json_objects_are_accepted():
    sheet = MixSheet(stems={"snare": {"gain_db": -2}, "kick": StemChannel()})
    assert sheet.names == ("kick", "snare")
    assert sheet.stems["snare"] == StemChannel(gain_db=-2.0)


def test_hand_written_sheet_takes_defaults():
    sheet = MixSheet.from_json('{"version": 1, "stems": {"kick": {"gain_db": -3}}}')
    assert sheet.stems["kick"] == StemChannel(gain_db=-3.0)
    assert sheet.master == MasterBus()
    assert sheet.master.limiter.ceiling_dbtp == -1.0


def test_flat_and_with_stem():
    sheet = MixSheet.flat(["b", "a"])
    assert sheet.names == ("a", "b")
    assert all(c == StemChannel() for c in sheet.stems.values())
    edited = sheet.with_stem("b", gain_db=-6.0, compressor=Compressor())
    assert edited.stems["b"].gain_db == -6.0 and edited.stems["b"].compressor == Compressor()
    assert sheet.stems["b"] == StemChannel()  # the original is untouched
    with pytest.raises(MixSheetError, match="no stem named 'c'"):
        sheet.with_stem("c", gain_db=1.0)
    with pytest.raises(MixSheetError, match="gian_db"):
        sheet.with_stem("a", gian_db=1.0)
    with pytest.raises(MixSheetError, match="pan"):
        sheet.with_stem("a", pan=3.0)
    master = sheet.with_master(limiter=Limiter(target_lufs=-14.0))
    assert master.master.limiter.target_lufs == -14.0


def test_audible_follows_solo_and_mute():
    sheet = MixSheet.flat(["a", "b", "c"])
    assert sheet.audible == ("a", "b", "c")
    assert sheet.with_stem("b", mute=True).audible == ("a", "c")
    soloed = sheet.with_stem("c", solo=True)
    assert soloed.audible == ("c",)
    assert soloed.with_stem("c", mute=True).audible == ()


# --- versions and unknown fields -----------------------------------------------------------


def test_newer_version_is_refused_with_a_clear_message():
    text = json.dumps({"version": SHEET_VERSION + 1, "stems": {"a": {}}})
    with pytest.raises(MixSheetError, match="newer") as info:
        MixSheet.from_json(text)
    assert "Upgrade stemforge" in str(info.value)
    assert isinstance(info.value, StemforgeError)


def test_missing_version_is_refused():
    with pytest.raises(MixSheetError, match='"version"'):
        MixSheet.from_json('{"stems": {"a": {}}}')


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"version": 1, "stems": {"a": {}}, "colour": "red"}, ["colour"]),
        ({"version": 1, "stems": {"a": {"gain": -3}}}, ["stems['a']", "gain"]),
        ({"version": 1, "stems": {"a": {"eq": {"hp_hz": 30}}}}, ["stems['a'].eq", "hp_hz"]),
        ({"version": 1, "stems": {"a": {}}, "master": {"limiter": {"lufs": -9}}}, ["lufs"]),
    ],
)
def test_unknown_fields_are_named(data, words):
    with pytest.raises(MixSheetError) as info:
        MixSheet.from_dict(data)
    for word in words:
        assert word in str(info.value)
    assert "unknown field" in str(info.value)


def test_invalid_json_says_where():
    with pytest.raises(MixSheetError, match="line 1"):
        MixSheet.from_json('{"version": 1, "stems": }')


def test_load_missing_file(tmp_path):
    with pytest.raises(MixSheetError, match="no such mix sheet"):
        MixSheet.load(tmp_path / "nope.json")


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("pan", [-1.01, 1.5, float("nan")])
def test_pan_outside_range(pan):
    with pytest.raises(MixSheetError, match="pan"):
        StemChannel(pan=pan)


@pytest.mark.parametrize("slope", [6, 18, 36, 0, True, "24"])
def test_slope_must_be_12_24_or_48(slope):
    with pytest.raises(MixSheetError, match=r"\[12, 24, 48\]"):
        ChannelEQ(high_pass_hz=30.0, high_pass_slope_db_per_oct=slope)
    with pytest.raises(MixSheetError, match="low_pass_slope"):
        ChannelEQ(low_pass_hz=9000.0, low_pass_slope_db_per_oct=slope)


def test_accepted_slopes():
    for slope in (12, 24, 48):
        eq = ChannelEQ(high_pass_hz=30.0, high_pass_slope_db_per_oct=slope)
        assert eq.filters(48000).bands[0].slope_db_per_octave == slope


def test_at_most_six_bands():
    bands = tuple(Band(100.0 * (i + 1), 1.0) for i in range(7))
    ChannelEQ(bands=bands[:6])
    with pytest.raises(MixSheetError, match="at most 6"):
        ChannelEQ(bands=bands)
    data = {"version": 1, "stems": {"a": {"eq": {"bands": [b.to_dict() for b in bands]}}}}
    with pytest.raises(MixSheetError, match="at most 6"):
        MixSheet.from_dict(data)


@pytest.mark.parametrize("ratio", [0.5, 0.99, -2.0])
def test_ratio_below_one(ratio):
    with pytest.raises(MixSheetError, match="ratio") as info:
        Compressor(ratio=ratio)
    assert ">= 1" in str(info.value)


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (Band, {"frequency_hz": 0.0, "gain_db": 1.0}, "frequency_hz"),
        (Band, {"frequency_hz": 100.0, "gain_db": 30.0}, "gain_db"),
        (Band, {"frequency_hz": 100.0, "gain_db": 1.0, "q": 0.0}, "q"),
        (Compressor, {"attack_ms": -1.0}, "attack_ms"),
        (Compressor, {"release_ms": 0.0}, "release_ms"),
        (Compressor, {"threshold_db": 3.0}, "threshold_db"),
        (Compressor, {"knee_db": -1.0}, "knee_db"),
        (Limiter, {"ceiling_dbtp": 0.5}, "ceiling_dbtp"),
        (Limiter, {"target_lufs": 3.0}, "target_lufs"),
        (StemChannel, {"offset_s": -0.1}, "offset_s"),
        (StemChannel, {"gain_db": "loud"}, "gain_db"),
        (StemChannel, {"mute": 1}, "mute"),
        (StemChannel, {"notes": "one string"}, "notes"),
        (Reverb, {"room_size": 1.5}, "room_size"),
        (ChannelEQ, {"high_pass_hz": 5000.0, "low_pass_hz": 4000.0}, "high_pass_hz"),
    ],
)
def test_out_of_range_values_name_their_field(cls, kwargs, field):
    with pytest.raises(MixSheetError, match=field):
        cls(**kwargs)


def test_sheet_needs_stems_and_a_valid_rate():
    with pytest.raises(MixSheetError, match="1 to 64"):
        MixSheet(stems={})
    with pytest.raises(MixSheetError, match="1 to 64"):
        MixSheet.flat([f"s{i}" for i in range(65)])
    with pytest.raises(MixSheetError, match="sample_rate"):
        MixSheet.flat(["a"], sample_rate=44100.5)


def test_frequency_at_or_above_nyquist_is_refused_at_render():
    eq = ChannelEQ(high_shelf_hz=12000.0, high_shelf_gain_db=3.0)
    eq.filters(48000)  # fine at 48 kHz
    with pytest.raises(MixSheetError, match="Nyquist") as info:
        eq.filters(22050)
    assert "high_shelf_hz" in str(info.value)
    stem = Audio(np.zeros((1, 2205), np.float32), 22050)
    sheet = MixSheet.flat(["synth"]).with_stem("synth", eq=eq)
    with pytest.raises(MixSheetError, match=r"stems\['synth'\]\.eq\.high_shelf_hz.*Nyquist"):
        render({"synth": stem}, sheet)
    # Rendering at a higher rate makes the same sheet valid.
    assert render({"synth": stem}, sheet, sample_rate=48000).sample_rate == 48000


def test_filters_are_the_audio_filters_chain():
    eq = full_sheet().stems["vocal"].eq
    chain = eq.filters(48000)
    expected = EQ(
        (
            HighPass(35.5, 24),
            LowShelf(120.0, -2.5),
            PeakingEQ(250.0, -3.0, 1.4),
            PeakingEQ(3150.0, 2.25, 2.0),
            HighShelf(9000.0, 1.75),
            LowPass(16000.0, 48),
        )
    )
    assert chain == expected
    f = np.geomspace(20, 20000, 50)
    assert np.allclose(chain.response_db(f, 48000), expected.response_db(f, 48000))
    assert ChannelEQ().filters(48000) is None
    assert ChannelEQ(low_shelf_hz=100.0, bands=(Band(500.0, 0.0),)).is_flat
