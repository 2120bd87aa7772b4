"""Stereo and phase rules on a demo song with phase and image problems planted.

Plants: the right channel's low end (< 120 Hz) in inverted polarity; its 1.4-2.8 kHz
band inverted; the whole right channel inverted from 6 to 10 s; the side signal raised;
both channels made the mid; the right channel 5 dB up. Each plant is turned back to
-14 LUFS so that loudness findings stay out of the way.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.signal

from stemforge import config
from stemforge.advice.doctor import examine
from stemforge.advice.findings import Severity
from stemforge.advice.rules import RuleContext, stereo
from stemforge.advice.targets import genre_profile, platform_target, target_set
from stemforge.analysis.loudness import loudness as measure_loudness
from stemforge.audio import Audio
from stemforge.demo import generate_song

RULE_IDS = {
    "mono_compatibility",
    "low_end_out_of_phase",
    "band_out_of_phase",
    "out_of_phase_passages",
    "stereo_too_wide",
    "stereo_too_narrow",
    "mono_mix",
    "left_right_balance",
}


@pytest.fixture(scope="module", autouse=True)
def _home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.HOME_ENV, str(tmp_path_factory.mktemp("home")))
        yield


def at_lufs(audio, lufs=-14.0):
    return audio.apply_gain_db(lufs - measure_loudness(audio).integrated_lufs)


@functools.cache
def clean():
    song = generate_song(tempo_bpm=120, sections=(("verse", 4), ("chorus", 4)), seed=1)
    return at_lufs(song.mix)


def butter(x, sr, btype, cutoff):
    sos = scipy.signal.butter(4, cutoff, btype, fs=sr, output="sos")
    return scipy.signal.sosfiltfilt(sos, x)


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def only(result, rule):
    found = result.by_rule(rule)
    assert len(found) == 1, [f.message for f in result.findings]
    return found[0]


def context(result, genre=None) -> RuleContext:
    p, g = platform_target("spotify"), genre_profile(genre) if genre else None
    return RuleContext(
        analysis=result.analysis,
        targets=target_set(platform=p, genre=g),
        platform=p,
        genre=g.name if g else None,
        genre_profile=g,
    )


def mid_side(x, side_gain_db):
    mid, side = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2 * 10 ** (side_gain_db / 20)
    return np.stack([mid + side, mid - side])


@pytest.fixture(scope="module")
def mixes():
    a = clean()
    sr, x = a.sample_rate, a.samples.astype(np.float64)

    def audio(samples):
        return at_lufs(a.with_samples(samples.astype(np.float32)))

    low = x.copy()
    low[1] -= 2 * butter(low[1], sr, "lowpass", 120.0)
    band = x.copy()
    band[1] -= 2 * butter(band[1], sr, "bandpass", [1400.0, 2800.0])
    passage = x.copy()
    passage[1, 6 * sr : 10 * sr] *= -1
    inverted = x.copy()
    inverted[1] *= -1
    louder_right = x.copy()
    louder_right[1] *= 10 ** (5 / 20)
    return {
        "clean": a,
        "low_inverted": audio(low),
        "band_inverted": audio(band),
        "passage_inverted": audio(passage),
        "inverted": audio(inverted),
        "wider": audio(mid_side(x, 6.0)),
        "very_wide": audio(mid_side(x, 10.0)),
        "centre_only": audio(mid_side(x, -200.0)),
        "mono_file": at_lufs(Audio(x.mean(axis=0, keepdims=True).astype(np.float32), sr)),
        "louder_right": audio(louder_right),
    }


@pytest.fixture(scope="module")
def results(mixes):
    return {name: examine(audio) for name, audio in mixes.items()}


def test_clean_mix_has_no_stereo_findings(results):
    assert not rules(results["clean"]) & RULE_IDS, results["clean"].findings


def test_inverted_low_end_says_make_the_bass_mono(results):
    f = only(results["low_inverted"], "low_end_out_of_phase")
    assert f.severity == Severity.PROBLEM
    bands = f.evidence["bands"]
    assert "63 Hz" in bands and bands["63 Hz"]["correlation"] < -0.9
    assert f.fix.processor == "bass_mono" and f.fix.parameters["cutoff_hz"] == 120.0
    assert "mono below 120 Hz" in f.fix.action
    assert "low_end_out_of_phase" not in rules(results["band_inverted"])


def test_an_inverted_band_is_found_in_its_octave(results):
    f = only(results["band_inverted"], "band_out_of_phase")
    # The 2 kHz octave (1.41-2.82 kHz) holds the inverted 1.4-2.8 kHz band.
    assert f.evidence["band"] == "2 kHz" and f.evidence["correlation"] < -0.5
    assert f.fix.parameters["low_hz"] == pytest.approx(1413, abs=2)
    assert "band_out_of_phase" not in rules(results["low_inverted"])


def test_out_of_phase_passage_with_its_times(results):
    f = only(results["passage_inverted"], "out_of_phase_passages")
    assert len(f.when) == 1
    assert f.when[0].start_s == pytest.approx(6.0, abs=0.3)
    assert f.when[0].end_s == pytest.approx(10.0, abs=0.3)
    assert "0:06-0:10" in f.message
    # 4 s of 18 s: 22 % of the track, a problem.
    assert f.severity == Severity.PROBLEM and f.fix.processor == "polarity"


def test_mono_compatibility_of_an_inverted_channel(results):
    f = only(results["inverted"], "mono_compatibility")
    assert f.severity == Severity.PROBLEM and f.evidence["correlation"] < -0.5
    assert f.fix.processor == "polarity"  # the whole mix inverted on one side
    for name in ("clean", "passage_inverted", "band_inverted"):
        assert "mono_compatibility" not in rules(results[name]), name


def test_width_without_a_genre(results):
    wide = only(results["very_wide"], "stereo_too_wide")
    assert wide.evidence["width"] > stereo.TOO_WIDE
    assert wide.fix.processor == "mid_side_gain" and wide.fix.parameters["side_gain_db"] < 0
    narrow = only(results["centre_only"], "stereo_too_narrow")
    assert narrow.severity == Severity.INFO and narrow.fix.parameters["side_gain_db"] > 0
    mono = only(results["mono_file"], "mono_mix")
    assert mono.severity == Severity.INFO
    # A moderately wider mix (side +6 dB, width about 0.3) is fine without a genre.
    assert not rules(results["wider"]) & {"stereo_too_wide", "stereo_too_narrow"}


def test_width_against_the_genre(results):
    clean, wider = results["clean"], results["wider"]
    # The clean width (about 0.10) sits inside pop's 0.08-0.25; side +6 dB (about 0.3) is
    # wider than pop and inside ambient's 0.20-0.50; the clean one narrower than ambient.
    assert stereo.stereo_width(context(clean, "pop")) == []
    f = stereo.stereo_width(context(wider, "pop"))[0]
    assert f.rule == "stereo_too_wide" and f.evidence["genre"] == "pop"
    assert stereo.stereo_width(context(wider, "ambient")) == []
    f = stereo.stereo_width(context(clean, "ambient"))[0]
    assert f.rule == "stereo_too_narrow" and f.severity == Severity.WARNING
    # The fix's side gain brings the width to the genre's typical value.
    w, goal = f.evidence["width"], genre_profile("ambient").stereo_width.typical
    g2 = 10 ** (f.fix.parameters["side_gain_db"] / 10)
    assert g2 * w / (1 - w + g2 * w) == pytest.approx(goal, abs=0.01)


def test_left_right_balance(results):
    f = only(results["louder_right"], "left_right_balance")
    # 5 dB more on the right than the clean mix had.
    before = results["clean"].analysis.stereo.balance_db
    assert f.evidence["balance_db"] == pytest.approx(before + 5.0, abs=0.05)
    assert f.severity == Severity.WARNING and "right" in f.message
    assert f.fix.parameters["right_gain_db"] == pytest.approx(
        -f.evidence["balance_db"] / 2, abs=0.1
    )
    assert "left_right_balance" not in rules(results["inverted"])
