"""Automatic mixing (stemforge.mixing.automix) and the ``stemforge mix`` command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from stemforge.analysis.masking import masking
from stemforge.analysis.truepeak import true_peak
from stemforge.audio.io import load
from stemforge.audio.signal import Audio
from stemforge.audio.stems import load_stems
from stemforge.cli import app
from stemforge.demo import generate_song
from stemforge.mixing.automix import auto_mix, channel_output, spread, stem_loudness_lufs
from stemforge.mixing.render import render
from stemforge.mixing.sheet import ChannelEQ, MixSheet

CENTRED = ("kick", "snare", "bass", "vocal")


def lufs(audio) -> float:
    return stem_loudness_lufs(audio)


def relative_db(levels: dict[str, float], name: str) -> float:
    """A stem's loudness relative to the power sum of all the others (dB)."""
    rest = sum(10 ** (v / 10) for k, v in levels.items() if k != name)
    return levels[name] - 10 * math.log10(rest)


@pytest.fixture(scope="module")
def song():
    return generate_song(sections=[("chorus", 2)], seed=5)


@pytest.fixture(scope="module")
def mixed(song):
    return auto_mix(song.stems)


@pytest.fixture(scope="module")
def pads():
    """Kick, bass and vocal, and two similar pads (the chord stems of two songs in one key):
    the pads mask the vocal."""
    a = generate_song(sections=[("chorus", 2)], seed=5)
    b = generate_song(sections=[("chorus", 2)], seed=6)
    stems = {n: a.stems[n] for n in ("kick", "bass", "vocal")}
    # Bounced in mono, as a pad to be placed by the mixer.
    stems["Pad A"] = a.stems["chords"].to_mono().apply_gain_db(6.0)
    stems["Pad B"] = b.stems["chords"].to_mono().apply_gain_db(6.0)
    return stems, auto_mix(stems)


# --- balance -----------------------------------------------------------------------------


def test_stem_loudness_is_bs1770(song):
    from stemforge.analysis.loudness import loudness

    for name, audio in song.stems.items():
        expected = loudness(audio).integrated_lufs
        assert stem_loudness_lufs(audio) == pytest.approx(expected, abs=0.02), name
    assert stem_loudness_lufs(song.stems["kick"].apply_gain_db(-6.0)) == pytest.approx(
        loudness(song.stems["kick"]).integrated_lufs - 6.0, abs=0.02
    )
    # A sparse stem: long digital silences (which the meter skips) between its parts.
    vocal = song.stems["vocal"].samples
    gap = np.zeros((2, 5 * song.sample_rate), np.float32)
    sparse = song.stems["vocal"].with_samples(np.concatenate([gap, vocal, gap, vocal, gap], axis=1))
    assert stem_loudness_lufs(sparse) == pytest.approx(loudness(sparse).integrated_lufs, abs=0.02)


def test_a_planted_imbalance_is_undone(song, mixed):
    boosted = dict(song.stems)
    boosted["vocal"] = song.stems["vocal"].apply_gain_db(12.0)
    result = auto_mix(boosted)
    # The mixer hears levels, not faders: the vocal's gain drops by the 12 dB it was given,
    # every other stem keeps its gain.
    for name, channel in result.sheet.stems.items():
        expected = mixed.sheet.stems[name].gain_db - (12.0 if name == "vocal" else 0.0)
        assert channel.gain_db == pytest.approx(expected, abs=0.05), name
    # And the vocal sits against the others within a few dB of where the song's own mix
    # has it (the demo's balance is an independent truth: its static mix levels).
    own = {n: lufs(a) for n, a in song.stems.items()}
    out = {n: lufs(channel_output(boosted[n], result.sheet.stems[n])) for n in boosted}
    assert relative_db(out, "vocal") == pytest.approx(relative_db(own, "vocal"), abs=3.0)
    assert (
        relative_db({n: lufs(a) for n, a in boosted.items()}, "vocal")
        > relative_db(own, "vocal") + 11.0
    )  # the input really was out of balance


def lifts(result) -> dict[str, float]:
    """The lifts the mixer gave buried stems (its decisions say them)."""
    return {d.stem: d.parameters["lift_db"] for d in result.decisions if d.kind == "lift"}


def test_roles_sit_at_their_offsets(song, mixed):
    """The balance the sheet predicts is the one the rendered stems measure: kick, snare and
    bass at one loudness (their role offset is 0 LU) unless lifted, the vocal as loud as
    all the others together."""
    out = {n: lufs(channel_output(song.stems[n], mixed.sheet.stems[n])) for n in song.stems}
    lifted = lifts(mixed)
    level = {n: out[n] - lifted.get(n, 0.0) for n in ("kick", "snare", "bass")}
    assert max(level.values()) - min(level.values()) < 1.0, level
    assert relative_db(out, "vocal") == pytest.approx(0.0, abs=1.0)


def test_each_stem_sits_at_its_offset_where_it_plays():
    """Vocal and lead play only in the chorus, kick and chords in the sparse intro too:
    each stem's own integrated loudness (measured with the project's BS.1770 meter on what
    it sends to the mix, so where it plays) less its role offset and lift is one level for
    all; the vocal matches the other stems together over the blocks where it sings."""
    from stemforge.analysis.loudness import loudness
    from stemforge.mixing.automix import ROLE_OFFSETS_LU

    song = generate_song(sections=[("intro", 2), ("chorus", 2)], seed=5)
    result = auto_mix(song.stems)
    out = {n: channel_output(a, result.sheet.stems[n]) for n, a in song.stems.items()}
    lifted = lifts(result)
    level = {
        name: loudness(out[name]).integrated_lufs
        - ROLE_OFFSETS_LU[result.sheet.stems[name].role]
        - lifted.get(name, 0.0)
        for name in ("kick", "bass", "chords", "lead", "snare", "hats")
    }
    assert max(level.values()) - min(level.values()) < 1.0, level
    # The vocal sings in the chorus (the song's truth): there it is as loud as the rest.
    chorus = next(s for s in song.truth.sections if s.label == "chorus")
    a, b = round(chorus.start_s * song.sample_rate), round(chorus.end_s * song.sample_rate)
    vocal = out["vocal"].samples[:, a:b]
    rest = sum(x.samples[:, a:b].astype(np.float64) for n, x in out.items() if n != "vocal")
    assert lufs(Audio(vocal, song.sample_rate)) == pytest.approx(
        lufs(Audio(rest, song.sample_rate)), abs=1.0
    )


def test_every_setting_says_why(mixed):
    for name, channel in mixed.sheet.stems.items():
        text = " ".join(channel.notes)
        assert "Role:" in text and "Gain" in text, name
        if channel.eq.high_pass_hz:
            assert f"High-pass at {channel.eq.high_pass_hz:g} Hz" in text
        for band in channel.eq.bands:
            assert f"{band.gain_db:.1f} dB cut at" in text and "masks" in text
    assert mixed.sheet.created_by == "automix"
    assert any(d.kind == "limiter" for d in mixed.decisions)


# --- pan and EQ --------------------------------------------------------------------------


def test_low_end_kick_snare_and_vocal_are_centred(mixed):
    for name in CENTRED:
        assert mixed.sheet.stems[name].pan == 0.0, name


def test_two_similar_pads_are_panned_apart_symmetrically(pads):
    _, result = pads
    a, b = result.sheet.stems["Pad A"].pan, result.sheet.stems["Pad B"].pan
    assert a != 0.0
    assert a == pytest.approx(-b)
    assert abs(a) == pytest.approx(spread(2)[1])
    for name in ("kick", "bass", "vocal"):
        assert result.sheet.stems[name].pan == 0.0


def test_stems_with_their_own_stereo_image_keep_it(song, mixed):
    # The demo's chords are a wide stereo pad: left where they are.
    assert mixed.sheet.stems["chords"].pan == 0.0
    assert "own stereo image" in " ".join(mixed.sheet.stems["chords"].notes)
    # Two copies of a mono sound are spread; the same two placed hard left and right in
    # their own stereo files are not moved.
    mono = song.stems["lead"].to_mono().samples[0]
    silent = np.zeros_like(mono)
    stems = {n: song.stems[n] for n in ("kick", "bass", "vocal")}
    stems["lead L"] = song.stems["lead"].with_samples(np.stack([mono, silent]))
    stems["lead R"] = song.stems["lead"].with_samples(np.stack([silent, mono]))
    placed = auto_mix(stems)
    assert placed.sheet.stems["lead L"].pan == placed.sheet.stems["lead R"].pan == 0.0


def test_non_bass_roles_are_high_passed(mixed, pads):
    for result in (mixed, pads[1]):
        for name, channel in result.sheet.stems.items():
            if channel.role in ("bass", "kick"):
                continue
            assert channel.eq.high_pass_hz is not None, name
            assert channel.eq.high_pass_hz >= 60.0, name


def test_cuts_lower_the_masking_they_were_made_for(pads):
    stems, result = pads
    sheet = result.sheet
    cut = [n for n, c in sheet.stems.items() if c.eq.bands]
    assert {"Pad A", "Pad B"} & set(cut), "the pads mask the vocal: they should be cut"
    for channel in sheet.stems.values():
        assert len(channel.eq.bands) <= 6
        assert all(-6.0 <= b.gain_db < 0.0 for b in channel.eq.bands)
    no_cuts = sheet
    for name in cut:
        eq = sheet.stems[name].eq
        no_cuts = no_cuts.with_stem(name, eq=ChannelEQ(high_pass_hz=eq.high_pass_hz))
    before = masking({n: channel_output(a, no_cuts.stems[n]) for n, a in stems.items()})
    after = masking({n: channel_output(a, sheet.stems[n]) for n, a in stems.items()})
    assert after.stem("vocal").loss_db < before.stem("vocal").loss_db
    for pad in ("Pad A", "Pad B"):
        assert after.pair(pad, "vocal").loss_db <= before.pair(pad, "vocal").loss_db


def test_a_buried_stem_is_lifted_and_heard_more(monkeypatch):
    """A soft pad shares its band with a wall of loud parts: the masking model finds it far
    more buried than the median stem, so the mixer lifts it (by at most 3 dB), and in the
    mix it keeps more of its loudness than without the lift; the stems that are not buried
    keep their balance."""
    import stemforge.mixing.automix as automix

    sr, seconds = 44100, 6
    rng = np.random.default_rng(3)
    n = seconds * sr

    def band_noise(low_hz, high_hz, amp):
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / sr)
        spec[(f < low_hz) | (f > high_hz)] = 0
        x = np.fft.irfft(spec, n)
        return (amp * x / np.abs(x).max()).astype(np.float32)

    # Parts side by side in frequency, and a pad in the middle of the synth's band.
    stems = {
        "bass": Audio.from_array(band_noise(60, 200, 0.8), sr),
        "synth": Audio.from_array(band_noise(200, 1500, 0.6), sr),
        "guitar": Audio.from_array(band_noise(1500, 4000, 0.6), sr),
        "keys": Audio.from_array(band_noise(1500, 8000, 0.6), sr),
        "pad": Audio.from_array(band_noise(900, 1100, 0.3), sr),
    }
    lifted = auto_mix(stems)
    lift = {d.stem: d.parameters["lift_db"] for d in lifted.decisions if d.kind == "lift"}
    assert 2.0 <= lift.get("pad", 0.0) <= 3.0, lift
    assert lift["pad"] == max(lift.values())
    assert not {"bass", "synth"} & set(lift), lift  # the parts that do the masking
    monkeypatch.setattr(automix, "MAX_LIFT_DB", 0.0)
    plain = auto_mix(stems)
    assert not any(d.kind == "lift" for d in plain.decisions)
    gain = {n: lifted.sheet.stems[n].gain_db - plain.sheet.stems[n].gain_db for n in stems}
    assert gain["pad"] - gain["synth"] == pytest.approx(lift["pad"], abs=0.3)

    def loss(result):
        out = {n: channel_output(a, result.sheet.stems[n]) for n, a in stems.items()}
        return masking(out).stem("pad").loss_db

    assert loss(lifted) < loss(plain) - 0.5 * lift["pad"]


# --- determinism, order, ceiling, re-rendering -------------------------------------------


def test_stem_order_never_changes_the_mix(song, mixed):
    reversed_order = auto_mix(dict(reversed(list(song.stems.items()))))
    assert np.array_equal(reversed_order.audio.samples, mixed.audio.samples)
    # Names that sort the other way round: the same sounds, the same mix, bit for bit.
    names = sorted(song.stems)
    renamed = {f"{chr(ord('z') - i)}{i} {n}": song.stems[n] for i, n in enumerate(names)}
    assert sorted(renamed)[0].endswith(names[-1])
    again = auto_mix(renamed)
    assert np.array_equal(again.audio.samples, mixed.audio.samples)


def test_masking_is_measured_where_the_parts_overlap(monkeypatch):
    """On a song longer than the excerpt (5 minutes; here set to one to keep the test
    short), masking is measured on the windows where most stems play together: here the
    only 10 s where all three play (40-50 s) must be in them. A shorter song is measured
    whole."""
    import stemforge.mixing.automix as automix

    monkeypatch.setattr(automix, "MASKING_EXCERPT_S", 60.0)
    sr, seconds = 16000, 90
    t = np.arange(seconds * sr) / sr
    inside = ((t >= 40) & (t < 50)).astype(np.float32)
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    vocal = 0.2 * np.sin(2 * np.pi * 330 * t + 0.3 * np.sin(2 * np.pi * 5.5 * t)) * inside
    pad = 0.1 * (np.sin(2 * np.pi * 262 * t) + np.sin(2 * np.pi * 330 * t)) * ((t >= 30) & (t < 55))
    stems = {
        "bass": Audio.from_array(bass, sr),
        "vocal": Audio.from_array(vocal, sr),
        "pad": Audio.from_array(pad, sr),
    }
    result = auto_mix(stems)
    assert result.masking_before.duration_s == pytest.approx(60.0, abs=0.2)
    note = next(n for n in result.sheet.notes if n.startswith("Masking"))
    spans = [
        tuple(60 * int(m) + float(s) for m, s in (part.split(":") for part in span.split("-")))
        for span in note.removeprefix("Masking between the stems was measured over ")
        .rstrip(".")
        .split(", ")
    ]
    assert sum(b - a for a, b in spans) == pytest.approx(60.0, abs=0.2)
    covered = sum(max(0.0, min(b, 50.0) - max(a, 40.0)) for a, b in spans)
    assert covered == pytest.approx(10.0, abs=0.2)
    monkeypatch.setattr(automix, "MASKING_EXCERPT_S", 90.0)
    assert auto_mix(stems).masking_before.duration_s == pytest.approx(90.0, abs=0.2)


def test_the_output_never_exceeds_the_ceiling(song):
    hot = {n: a.apply_gain_db(18.0) for n, a in song.stems.items()}
    result = auto_mix(hot, target="amazon_music")  # a -2 dBTP ceiling
    assert result.sheet.master.limiter.ceiling_dbtp == -2.0
    assert true_peak(result.audio).true_peak_dbtp <= -2.0 + 1e-6
    assert result.integrated_lufs == pytest.approx(-14.0, abs=0.5)


def test_the_written_sheet_re_renders_the_same_mix(song, mixed, tmp_path):
    path = mixed.sheet.save(tmp_path / "mix.json")
    again = render(song.stems, MixSheet.load(path))
    assert np.array_equal(again.audio.samples, mixed.audio.samples)


def test_silent_stems_are_left_alone(song):
    stems = dict(song.stems)
    stems["empty"] = song.stems["kick"].with_samples(np.zeros_like(song.stems["kick"].samples))
    result = auto_mix(stems)
    channel = result.sheet.stems["empty"]
    assert (channel.gain_db, channel.pan, channel.compressor) == (0.0, 0.0, None)
    assert channel.eq.is_flat
    assert "Silent" in channel.notes[0]


def test_bad_input_is_refused(song):
    from stemforge.advice.targets import UnknownTargetError
    from stemforge.mixing.automix import AutoMixError

    with pytest.raises(UnknownTargetError, match="Known platforms"):
        auto_mix(song.stems, target="vinyl-ish")
    with pytest.raises(UnknownTargetError, match="Known genres"):
        auto_mix(song.stems, genre="polka-step")
    silent = {n: a.with_samples(np.zeros_like(a.samples)) for n, a in song.stems.items()}
    with pytest.raises(AutoMixError, match="every stem is silent"):
        auto_mix(silent)


def test_genre_offsets_move_the_balance(song, mixed):
    edm = auto_mix(song.stems, genre="electronic")  # an alias of edm
    # EDM lifts the kick 2 LU (the snare keeps its place) and sets the vocal 1 LU under the
    # rest of the mix instead of level with it.
    before = mixed.sheet.stems["kick"].gain_db - mixed.sheet.stems["snare"].gain_db
    after = edm.sheet.stems["kick"].gain_db - edm.sheet.stems["snare"].gain_db
    assert after - before == pytest.approx(2.0, abs=0.3)
    vocal = {}
    for label, result in (("default", mixed), ("edm", edm)):
        out = {n: lufs(channel_output(a, result.sheet.stems[n])) for n, a in song.stems.items()}
        vocal[label] = relative_db(out, "vocal")
    assert vocal["edm"] - vocal["default"] == pytest.approx(-1.0, abs=0.3)


def test_a_reference_sets_the_master_tone_and_loudness(song):
    from stemforge.audio.filters import HighShelf

    # The reference: the automatic mix itself, 6 dB brighter above 4 kHz, at -20 LUFS.
    bright = HighShelf(4000.0, 6.0).process(auto_mix(song.stems).audio)
    reference = bright.apply_gain_db(-20.0 - stem_loudness_lufs(bright))
    result = auto_mix(song.stems, reference=reference)
    master = result.sheet.master
    assert master.limiter.target_lufs == pytest.approx(-20.0, abs=0.05)
    assert master.limiter.ceiling_dbtp == -1.0  # still the platform's
    assert result.integrated_lufs == pytest.approx(-20.0, abs=0.5)
    response = master.eq.filters(song.sample_rate).response_db([200.0, 8000.0], song.sample_rate)
    assert response[1] - response[0] > 2.0
    assert any("reference" in note for note in master.notes)


# --- the command line --------------------------------------------------------------------


@pytest.mark.slow  # about 10 s: a mix, the mix doctor's full analysis and a re-render
def test_cli_mixes_writes_sheet_and_report_and_re_renders_an_edit(song, tmp_path):
    folder = song.save(tmp_path / "song") / "stems"
    runner = CliRunner()
    out = tmp_path / "mix.wav"
    result = runner.invoke(app, ["mix", str(folder), "--out", str(out), "--bit-depth", "32"])
    assert result.exit_code == 0, result.output
    sheet_path, report_path = tmp_path / "mix.json", tmp_path / "mix.html"
    assert out.is_file() and sheet_path.is_file() and report_path.is_file()
    assert "vocal:" in result.output and "master: limiter" in result.output
    html = report_path.read_text()
    assert "<html" in html and "vocal" in html

    stems = load_stems(folder)
    sheet = MixSheet.load(sheet_path)
    assert np.array_equal(load(out).samples, render(stems, sheet).audio.samples)

    # Edit one gain by hand: the re-render applies exactly that change and nothing else.
    data = json.loads(sheet_path.read_text())
    data["stems"]["vocal"]["gain_db"] = round(data["stems"]["vocal"]["gain_db"] - 6.0, 2)
    edited_path = tmp_path / "edited.json"
    edited_path.write_text(json.dumps(data))
    edited = MixSheet.load(edited_path)
    assert edited == sheet.with_stem("vocal", gain_db=data["stems"]["vocal"]["gain_db"])
    out2 = tmp_path / "mix2.wav"
    result = runner.invoke(
        app,
        [
            "mix",
            str(folder),
            "--out",
            str(out2),
            "--use-sheet",
            str(edited_path),
            "--no-report",
            "--bit-depth",
            "32",
        ],
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "mix2.html").exists()
    assert np.array_equal(load(out2).samples, render(stems, edited).audio.samples)
    a = channel_output(stems["vocal"], sheet.stems["vocal"]).samples
    b = channel_output(stems["vocal"], edited.stems["vocal"]).samples
    assert np.allclose(b, a * 10 ** (-6.0 / 20), rtol=1e-5, atol=1e-9)

    # The form, `--sheet edited.json` naming an existing sheet, renders it too and
    # leaves the person's file as it was; --redecide decides anew and overwrites it.
    before = edited_path.read_bytes()
    out3 = tmp_path / "mix3.wav"
    args = ["mix", str(folder), "--out", str(out3), "--no-report", "--bit-depth", "32"]
    result = runner.invoke(app, [*args, "--sheet", str(edited_path)])
    assert result.exit_code == 0, result.output
    assert np.array_equal(load(out3).samples, load(out2).samples)
    assert edited_path.read_bytes() == before
    result = runner.invoke(app, [*args, "--sheet", str(edited_path), "--redecide"])
    assert result.exit_code == 0, result.output
    assert MixSheet.load(edited_path) == sheet


def test_cli_json_output(song, tmp_path):
    folder = song.save(tmp_path / "song") / "stems"
    out = tmp_path / "mix.flac"
    result = CliRunner().invoke(
        app, ["mix", str(folder), "--out", str(out), "--json", "--no-report", "--genre", "pop"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["output"]["mix"] == str(out) and data["output"]["report"] is None
    assert data["sheet"]["created_by"] == "automix"
    assert {s["name"] for s in data["stems"]} == set(song.stems)
    assert data["genre"] == "pop"
    assert data["output"]["true_peak_dbtp"] <= -1.0 + 1e-6
    assert out.is_file() and (tmp_path / "mix.json").is_file()


def test_cli_errors_say_what_to_do(song, tmp_path):
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["mix", str(empty), "--out", str(tmp_path / "m.wav")])
    assert result.exit_code == 1
    assert "no audio files" in result.output

    folder = song.save(tmp_path / "song") / "stems"
    sheet = MixSheet.flat(["kick", "nonexistent"])
    sheet.save(tmp_path / "wrong.json")
    result = runner.invoke(
        app,
        [
            "mix",
            str(folder),
            "--out",
            str(tmp_path / "m.wav"),
            "--use-sheet",
            str(tmp_path / "wrong.json"),
            "--no-report",
        ],
    )
    assert result.exit_code == 1
    assert "nonexistent" in result.output
    assert not (tmp_path / "m.wav").exists()


def test_cli_refuses_an_unwritable_destination_before_mixing(song, tmp_path, monkeypatch):
    """A missing output folder is found before the stems are analysed, not after."""
    import stemforge.mixing.automix as automix

    def never(*args, **kwargs):
        raise AssertionError("the mix should not start")

    monkeypatch.setattr(automix, "auto_mix", never)
    folder = song.save(tmp_path / "song") / "stems"
    runner = CliRunner()
    result = runner.invoke(app, ["mix", str(folder), "--out", str(tmp_path / "nope" / "m.wav")])
    assert result.exit_code == 1
    assert "folder does not exist" in result.output and "Create the folder" in result.output
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "m.html").mkdir()  # the report's path is taken by a folder
    result = runner.invoke(app, ["mix", str(folder), "--out", str(tmp_path / "out" / "m.wav")])
    assert result.exit_code == 1
    assert "it is a folder" in result.output
    assert list((tmp_path / "out").iterdir()) == [tmp_path / "out" / "m.html"]
