"""Platform targets, genre profiles, target sets and custom targets built from references."""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from stemforge import config
from stemforge.advice.targets import (
    GENRES,
    PLATFORMS,
    TONAL_BAND_NAMES,
    CustomTarget,
    GenreProfile,
    TargetBuildError,
    TargetValue,
    UnknownTargetError,
    build_targets,
    deviation,
    find_target,
    genre_profile,
    list_targets,
    load_custom_target,
    platform_target,
    target_set,
)
from stemforge.cli import app
from stemforge.demo import generate_song

GAINS_DB = (0.0, -3.0, -6.0, -9.0, -12.0)

# --- platforms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "lufs", "tp", "document"),
    [
        ("spotify", -14.0, -1.0, "Spotify for Artists"),
        ("apple_music", -16.0, -1.0, "Sound Check"),
        ("youtube", -14.0, -1.0, "YouTube"),
        ("amazon_music", -14.0, -2.0, "Amazon Music"),
        ("tidal", -14.0, -1.0, "TIDAL"),
        ("ebu_r128", -23.0, -1.0, "EBU R 128"),
        ("atsc_a85", -24.0, -2.0, "ATSC A/85"),
        ("aes_streaming", -18.0, -1.0, "AES TD1004.1.15-10"),
    ],
)
def test_documented_platform_figures_and_their_sources(name, lufs, tp, document):
    p = platform_target(name)
    assert p.integrated_lufs == lufs
    assert p.true_peak_max_dbtp == tp
    assert document in p.source
    values = p.target_values()
    assert values["integrated_lufs"].typical == lufs
    assert values["true_peak_dbtp"].high == tp and values["true_peak_dbtp"].low is None
    for v in values.values():
        assert v.source.strip()


def test_platform_details():
    spotify = platform_target("Spotify")
    assert spotify.other_levels_lufs == {"loud": -11.0, "quiet": -19.0}
    ebu = platform_target("EBU-R128")
    assert ebu.tolerance_lu == 0.5 and "1.0 LU" in ebu.tolerance_source  # live programmes
    aes = platform_target("aes").target_values()["integrated_lufs"]
    assert (aes.low, aes.high) == (-20.0, -16.0)
    club = platform_target("cd").target_values()["integrated_lufs"]
    assert (club.low, club.high) == (-9.0, -6.0)
    assert "stemforge editorial" in platform_target("cd_club").source
    # Figures that no platform document states are labelled as such.
    assert "stemforge editorial" in platform_target("youtube").true_peak_source
    assert "not verified" in platform_target("deezer").source
    for p in PLATFORMS.values():
        assert p.source and p.tolerance_source and p.true_peak_source


def test_unknown_platform_lists_the_names():
    with pytest.raises(UnknownTargetError) as info:
        platform_target("napster")
    for name in ("spotify", "ebu_r128", "cd_club"):
        assert name in str(info.value)


# --- genres -------------------------------------------------------------------------------

REQUIRED_GENRES = (
    "edm",
    "hip_hop",
    "pop",
    "rock",
    "metal",
    "jazz",
    "classical",
    "folk_acoustic",
    "ambient",
    "rnb",
)


@pytest.mark.parametrize("name", REQUIRED_GENRES)
def test_every_genre_value_has_a_range_and_a_source(name):
    g = genre_profile(name)
    assert isinstance(g, GenreProfile)
    assert set(g.tonal_balance) == set(TONAL_BAND_NAMES)
    values = g.target_values()
    expected = {"integrated_lufs", "loudness_range_lu", "crest_factor_db", "stereo_width"}
    assert expected | {f"tonal_{b}_relative_db" for b in TONAL_BAND_NAMES} == set(values)
    for key, v in values.items():
        assert v.source.strip(), key
        assert v.low < v.typical < v.high, key
        assert "stemforge editorial" in v.source  # none of these is a measured statistic
    assert 0.0 <= g.stereo_width.low < g.stereo_width.high <= 1.0
    # Relative band levels are shares of one total: their powers must add up to ~1.
    total = sum(10 ** (v.typical / 10) for v in g.tonal_balance.values())
    assert 10 * math.log10(total) == pytest.approx(0.0, abs=1.0)


def test_genre_aliases_and_unknown_genre():
    assert genre_profile("Hip-Hop").name == "hip_hop"
    assert genre_profile("R&B").name == "rnb"
    assert genre_profile("acoustic").name == "folk_acoustic"
    with pytest.raises(UnknownTargetError, match="classical"):
        genre_profile("polka")


def test_loud_genres_are_louder_and_less_dynamic_than_quiet_ones():
    for loud in ("edm", "hip_hop", "metal"):
        for quiet in ("jazz", "classical"):
            assert GENRES[loud].integrated_lufs.typical > GENRES[quiet].integrated_lufs.high
            assert GENRES[loud].crest_factor_db.high < GENRES[quiet].crest_factor_db.typical


# --- comparisons --------------------------------------------------------------------------


def test_deviation_hand_computed():
    t = TargetValue(-10.0, -6.0, -8.0, "LUFS", "test")
    assert deviation("x", t, -4.0).outside_by == 2.0
    assert deviation("x", t, -12.5).outside_by == -2.5
    inside = deviation("x", t, -7.0)
    assert inside.outside_by == 0.0 and inside.within and inside.z_score is None
    assert math.isnan(deviation("x", t, math.nan).outside_by)

    dist = TargetValue(-10.0, -6.0, -8.0, "LUFS", "refs", spread=2.0, count=5)
    d = deviation("x", dist, -4.0)
    assert d.outside_by == 2.0 and d.z_score == pytest.approx(2.0)
    assert deviation("x", dist, -9.0).z_score == pytest.approx(-0.5)

    ceiling = TargetValue(None, -1.0, None, "dBTP", "ceiling")
    assert deviation("tp", ceiling, -30.0).outside_by == 0.0
    assert deviation("tp", ceiling, 0.5).outside_by == pytest.approx(1.5)


def test_target_set_layers():
    ts = target_set(platform="spotify", genre="edm")
    assert ts.name == "edm + spotify"
    # The platform's delivery level wins over the genre's loudness; the genre gives the rest.
    d = ts.compare("integrated_lufs", -8.0)
    assert (d.low, d.high, d.outside_by) == (-15.0, -13.0, 5.0)
    assert "Spotify" in d.source
    crest = ts.compare("crest_factor_db", 6.0)
    assert crest.outside_by == -1.0 and "editorial" in crest.source
    assert "true_peak_dbtp" in ts and "stereo_width" in ts
    with pytest.raises(KeyError, match="no_such_value"):
        ts.compare("no_such_value", 1.0)
    only_genre = target_set(genre="jazz")
    assert "true_peak_dbtp" not in only_genre
    assert only_genre.compare("integrated_lufs", -16.0).within


# --- custom targets -----------------------------------------------------------------------


def _ffmpeg_integrated(ffmpeg: str, wav: Path) -> float:
    out = subprocess.run(
        [ffmpeg, "-nostdin", "-nostats", "-hide_banner", "-i", str(wav), "-af", "ebur128",
         "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    summary = out.stderr[out.stderr.rindex("Summary:") :]
    return float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))


@pytest.fixture(scope="module")
def references(tmp_path_factory) -> Path:
    """Five gain-scaled copies of one demo song (float WAV), a corrupt file and a README."""
    folder = tmp_path_factory.mktemp("references")
    song = generate_song(tempo_bpm=120, sections=[("verse", 4), ("chorus", 4)], sample_rate=48000)
    for i, gain in enumerate(GAINS_DB):
        audio = song.mix.apply_gain_db(gain)
        sf.write(folder / f"ref{i}.wav", audio.frames_first(), 48000, subtype="FLOAT")
    (folder / "sub").mkdir()
    (folder / "sub" / "corrupt.flac").write_bytes(b"fLaC" + bytes(range(256)) * 8)
    (folder / "README.txt").write_text("not audio")
    return folder


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.ffmpeg
def test_build_targets_keeps_the_distribution(references, home, ffmpeg):
    target = build_targets(references, name="refs")
    assert isinstance(target, CustomTarget)
    assert target.track_count == len(GAINS_DB)
    assert [s.file for s in target.skipped] == [str(Path("sub") / "corrupt.flac")]
    assert target.skipped[0].reason
    assert Path(target.path) == config.targets_dir() / "refs.json"

    # Independent reference: ffmpeg's meter on the unscaled file; a gain of g dB moves
    # integrated loudness by exactly g LU (BS.1770 gates are relative).
    l0 = _ffmpeg_integrated(ffmpeg, references / "ref0.wav")
    loud = target.values["integrated_lufs"]
    assert loud.count == 5
    assert loud.mean == pytest.approx(l0 + np.mean(GAINS_DB), abs=0.15)
    assert loud.std == pytest.approx(np.std(GAINS_DB, ddof=1), abs=0.01)  # sqrt(22.5)
    assert loud.max == pytest.approx(l0, abs=0.15)
    assert loud.min == pytest.approx(l0 - 12.0, abs=0.15)
    assert loud.median == pytest.approx(l0 - 6.0, abs=0.15)
    assert loud.p25 == pytest.approx(l0 - 9.0, abs=0.15)  # linear interpolation, n = 5
    # Gain changes neither crest factor, width nor tonal balance.
    for key in ("crest_factor_db", "stereo_width", "tonal_bass_relative_db"):
        assert target.values[key].std < 0.01, key

    # JSON round trip.
    data = json.loads((config.targets_dir() / "refs.json").read_text())
    assert data["format"] == "stemforge-custom-target" and data["track_count"] == 5
    again = load_custom_target("refs")
    assert again.values == target.values
    assert again.tracks == target.tracks and again.skipped == target.skipped
    assert isinstance(find_target("refs"), CustomTarget)
    assert ("custom", "refs") in {(t.kind, t.name) for t in list_targets()}

    # A value above every reference: outside by the excess, z-score in reference spreads.
    ts = target_set(custom="refs")
    d = ts.compare("integrated_lufs", loud.max + 3.0)
    assert d.outside_by == pytest.approx(3.0)
    assert d.z_score == pytest.approx((loud.max + 3.0 - loud.mean) / loud.std)
    assert d.z_score == pytest.approx(9.0 / math.sqrt(22.5), abs=0.02)
    assert "5 track(s)" in d.source


def test_build_targets_errors(tmp_path, home):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TargetBuildError, match="no audio files"):
        build_targets(empty, name="x")
    (empty / "notes.txt").write_text("hello")
    with pytest.raises(TargetBuildError, match="no audio files"):
        build_targets(empty, name="x")
    (empty / "bad.wav").write_bytes(b"RIFF garbage")
    with pytest.raises(TargetBuildError, match="none of the 1 audio file"):
        build_targets(empty, name="x")
    with pytest.raises(TargetBuildError, match="does not exist"):
        build_targets(tmp_path / "missing", name="x")
    with pytest.raises(TargetBuildError, match="built-in"):
        build_targets(empty, name="spotify")
    with pytest.raises(TargetBuildError, match="usable target name"):
        build_targets(empty, name="../evil")
    with pytest.raises(UnknownTargetError, match="targets build"):
        load_custom_target("never-built")
    assert not config.targets_dir().exists() or not list(config.targets_dir().glob("*.json"))


def test_corrupt_target_file_is_an_actionable_error(home):
    config.targets_dir(create=True)
    (config.targets_dir() / "broken.json").write_text("{not json")
    with pytest.raises(Exception, match="Rebuild it"):
        load_custom_target("broken")
    entry = next(t for t in list_targets() if t.name == "broken")
    assert entry.description.startswith("unreadable")


def test_cli_targets(references, tmp_path):
    runner = CliRunner()
    env = {config.HOME_ENV: str(tmp_path / "clihome")}
    result = runner.invoke(app, ["targets", "build", str(references), "--name", "mine"], env=env)
    assert result.exit_code == 0, result.output
    saved = tmp_path / "clihome" / "targets" / "mine.json"
    assert saved.is_file()
    assert "Saved to" in result.output and "corrupt.flac" in result.output
    assert json.loads(saved.read_text())["track_count"] == 5

    listed = runner.invoke(app, ["targets", "list", "--json"], env=env)
    names = {(e["kind"], e["name"]) for e in json.loads(listed.output)}
    assert {("custom", "mine"), ("platform", "spotify"), ("genre", "edm")} <= names

    shown = runner.invoke(app, ["targets", "show", "mine", "--json"], env=env)
    assert json.loads(shown.output)["values"]["integrated_lufs"]["count"] == 5
    spotify = runner.invoke(app, ["targets", "show", "spotify"], env=env)
    assert spotify.exit_code == 0 and "Loudness normalization" in spotify.output
    missing = runner.invoke(app, ["targets", "show", "nope"], env=env)
    assert missing.exit_code == 1
