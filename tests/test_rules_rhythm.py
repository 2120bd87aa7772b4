"""The tempo-drift rule on demo songs: one on a grid, one whose tempo drifts 3 % from its
first beat to its last (``generate_song(tempo_drift=0.03)``), one drifting 8 %.
"""

from __future__ import annotations

import pytest

from stemforge import config
from stemforge.advice.doctor import examine
from stemforge.advice.findings import Severity
from stemforge.advice.rules import RuleContext, rhythm
from stemforge.advice.targets import genre_profile, platform_target, target_set
from stemforge.demo import generate_song


@pytest.fixture(scope="module", autouse=True)
def _home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.HOME_ENV, str(tmp_path_factory.mktemp("home")))
        yield


@pytest.fixture(scope="module")
def songs():
    return {
        drift: generate_song(
            tempo_bpm=120, sections=(("verse", 4), ("chorus", 4)), seed=1, tempo_drift=drift
        )
        for drift in (0.0, 0.03, 0.08)
    }


@pytest.fixture(scope="module")
def results(songs):
    return {drift: examine(song.mix) for drift, song in songs.items()}


def context(result, genre=None) -> RuleContext:
    p, g = platform_target("spotify"), genre_profile(genre) if genre else None
    return RuleContext(
        analysis=result.analysis,
        targets=target_set(platform=p, genre=g),
        platform=p,
        genre=g.name if g else None,
        genre_profile=g,
    )


def test_a_track_on_a_grid_has_no_drift_finding(results):
    assert results[0.0].by_rule("tempo_drift") == ()


def test_three_percent_drift_is_found(results, songs):
    found = results[0.03].by_rule("tempo_drift")
    assert len(found) == 1
    f = found[0]
    assert f.severity == Severity.WARNING
    # The spread of the local tempo is about the planted drift (3 % start to end).
    assert f.evidence["spread_percent"] == pytest.approx(3.0, abs=1.0)
    assert "not on a grid" in f.message and "beat-match" in f.message
    assert f.fix.processor == "quantize"
    # The reported range lies within the song's tempo, at the level the tracker chose.
    truth = songs[0.03].truth
    start, end = truth.tempo_bpm, truth.end_tempo_bpm
    ratio = f.evidence["tempo_bpm"] / ((start + end) / 2)
    assert min(abs(ratio - r) for r in (0.5, 2 / 3, 1.0, 1.5, 2.0)) < 0.05


def test_large_drift_is_a_problem_but_live_genres_drift_by_nature(results):
    f = results[0.08].by_rule("tempo_drift")[0]
    assert f.severity == Severity.PROBLEM and f.evidence["spread_percent"] >= 6.0
    jazz = rhythm.tempo_drift(context(results[0.08], "jazz"))
    assert jazz[0].severity == Severity.INFO
    assert rhythm.tempo_drift(context(results[0.0], "jazz")) == []
