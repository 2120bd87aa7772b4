"""Loudness, peak, dynamics and transient rules on a demo song with the problems planted.

The clean mix is a demo song turned to Spotify's -14 LUFS. Each plant changes one thing
by a known amount (a gain, a limiter, a clipper, a spike, an inter-sample over, a quiet
verse), so the findings are checked against what was done, not against the analysis.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.ndimage as ndimage

from stemforge import config
from stemforge.advice.doctor import examine
from stemforge.advice.findings import Severity
from stemforge.advice.rules import RuleContext, dynamics, loudness, peaks, transients
from stemforge.advice.targets import genre_profile, platform_target, target_set
from stemforge.analysis.loudness import loudness as measure_loudness
from stemforge.demo import generate_song

RULE_IDS = {
    "mix_silent",
    "loudness_above_target",
    "loudness_below_target",
    "true_peak_over_ceiling",
    "clipping",
    "inter_sample_overs",
    "over_compressed",
    "crest_factor_below_genre",
    "crest_factor_above_genre",
    "loudness_range_below_genre",
    "loudness_range_above_genre",
    "weak_transients",
}


@pytest.fixture(scope="module", autouse=True)
def _home(tmp_path_factory):
    """No genre classifier of the user's: STEMFORGE_HOME in a temporary folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.HOME_ENV, str(tmp_path_factory.mktemp("home")))
        yield


@functools.cache
def clean():
    song = generate_song(tempo_bpm=120, sections=(("verse", 4), ("chorus", 4)), seed=1)
    return at_lufs(song.mix, -14.0)


def at_lufs(audio, lufs):
    return audio.apply_gain_db(lufs - measure_loudness(audio).integrated_lufs)


def limit(audio, drive_db, ceiling_dbfs=-1.0, lookahead_s=0.005):
    """A look-ahead brick-wall limiter: the gain reaches the needed reduction before each
    peak (minimum filter, then a moving average of the look-ahead length)."""
    x = audio.samples.astype(np.float64) * 10 ** (drive_db / 20)
    need = np.minimum(1.0, 10 ** (ceiling_dbfs / 20) / np.maximum(np.abs(x).max(axis=0), 1e-12))
    n = round(lookahead_s * audio.sample_rate)
    gain = ndimage.uniform_filter1d(ndimage.minimum_filter1d(need, 2 * n + 1), n + 1)
    return audio.with_samples((x * gain).astype(np.float32))


def flat_times(audio, level=0.9):
    """Times of samples at the clip level (the truth of a clipped plant)."""
    at = (np.abs(audio.samples) >= level - 1e-6).any(axis=0)
    return np.flatnonzero(at) / audio.sample_rate


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def only(result, rule):
    found = result.by_rule(rule)
    assert len(found) == 1, [f.message for f in result.findings]
    return found[0]


def context(result, *, platform="spotify", genre=None) -> RuleContext:
    p = platform_target(platform) if platform else None
    g = genre_profile(genre) if genre else None
    return RuleContext(
        analysis=result.analysis,
        targets=target_set(platform=p, genre=g),
        platform=p,
        genre=g.name if g else None,
        genre_profile=g,
        reverb=result.reverb,
    )


@pytest.fixture(scope="module")
def mixes():
    x = clean()
    sr = x.sample_rate
    out = {"clean": x, "loud": x.apply_gain_db(6.0), "quiet": x.apply_gain_db(-10.0)}
    # Quiet and peaky: -20 LUFS with one sample at 0.7 (-3.1 dBFS): PLR about 17 dB.
    peaky = x.apply_gain_db(-6.0).samples.copy()
    peaky[:, 5 * sr] = 0.7
    out["peaky"] = x.with_samples(peaky)
    out["limited"] = at_lufs(limit(x, 14.0), -14.0)
    out["limited_loud"] = limit(x, 14.0)
    loud = x.samples * 10 ** (10 / 20)
    out["clipped"] = x.with_samples(np.clip(loud, -0.9, 0.9))
    # A few clipped peaks: the loudest reach 5 % over the clip level.
    few = x.samples * (0.9 * 1.05 / np.abs(x.samples).max())
    out["few_clips"] = x.with_samples(np.clip(few, -0.9, 0.9))
    spike = x.apply_gain_db(-0.5).samples.copy()
    spike[:, 7 * sr] = 0.95  # -0.45 dBFS, alone: true peak over -1 dBTP, nothing else
    out["spike"] = x.with_samples(spike)
    # An inter-sample over: 20 ms of a sine at fs/4, 45 degrees, amplitude 1.3: samples
    # at +-0.92, the waveform between them at +2.3 dBFS. At 5 s.
    isp = x.samples.copy()
    n = np.arange(round(0.02 * sr))
    isp[:, 5 * sr : 5 * sr + n.size] = 1.3 * np.sin(np.pi / 2 * n + np.pi / 4)
    out["isp"] = x.with_samples(isp)
    # The verse (first 8 s) 12 dB under the chorus.
    dyn = x.samples.copy()
    dyn[:, : 8 * sr] *= 10 ** (-12 / 20)
    out["dynamic"] = at_lufs(x.with_samples(dyn), -14.0)
    return out


@pytest.fixture(scope="module")
def results(mixes):
    return {name: examine(audio) for name, audio in mixes.items()}


def test_clean_mix_at_the_target_gives_none_of_these_findings(results):
    assert not rules(results["clean"]) & RULE_IDS, results["clean"].findings
    assert results["clean"].platform == "spotify" and results["clean"].target_source == "default"


def test_too_loud_says_how_much_spotify_turns_it_down(results):
    f = only(results["loud"], "loudness_above_target")
    # 6 dB of gain on a -14 LUFS mix: Spotify turns it down 6 dB.
    assert f.evidence["turn_down_db"] == pytest.approx(6.0, abs=0.1)
    assert "Spotify will turn it down 6.0 dB" in f.message
    assert f.severity == Severity.WARNING
    assert f.fix.processor == "limiter" and f.fix.parameters["input_gain_db"] == pytest.approx(-6.0)
    # Within the 1 LU tolerance nothing is said.
    assert "loudness_above_target" not in rules(results["clean"])


def test_too_quiet_depends_on_what_the_platform_does(results):
    quiet = results["quiet"]
    f = only(quiet, "loudness_below_target")
    # -24 LUFS, peaks 10 dB under the clean mix's: Spotify can raise it all 10 dB.
    assert f.evidence["turn_up_db"] == pytest.approx(10.0, abs=0.1)
    assert f.severity == Severity.INFO and f.fix.processor == "gain"
    # YouTube does not turn quiet masters up: 10 dB short, a problem.
    yt = loudness.loudness_vs_target(context(quiet, platform="youtube"))[0]
    assert yt.evidence["shortfall_db"] == pytest.approx(10.0, abs=0.1)
    assert yt.severity == Severity.PROBLEM and "does not turn quiet tracks up" in yt.message
    # EBU R 128 (-23 +-0.5 LUFS): 1 dB under a broadcast delivery spec is a problem.
    ebu = loudness.loudness_vs_target(context(quiet, platform="ebu_r128"))[0]
    assert ebu.rule == "loudness_below_target" and ebu.severity == Severity.PROBLEM
    assert ebu.fix.parameters["gain_db"] == pytest.approx(1.0, abs=0.1)
    # The AES range (-20 to -16 LUFS) is advice, not a spec: a warning.
    aes = loudness.loudness_vs_target(context(quiet, platform="aes_streaming"))[0]
    assert aes.severity == Severity.WARNING
    # At -14 LUFS none of them has anything to say for Spotify; EBU finds it too loud.
    assert loudness.loudness_vs_target(context(results["clean"])) == []
    ebu_clean = loudness.loudness_vs_target(context(results["clean"], platform="ebu_r128"))
    assert ebu_clean[0].rule == "loudness_above_target"


def test_quiet_and_peaky_cannot_be_raised_all_the_way(results):
    f = only(results["peaky"], "loudness_below_target")
    # -20 LUFS with a -3.1 dBFS peak: raised until the peak meets -1 dBTP, the track stays
    # PLR - 13 = 17.1 - 13 = 4 dB short.
    assert f.evidence["shortfall_db"] == pytest.approx(3.9, abs=0.3)
    assert f.severity == Severity.WARNING
    assert "quieter than other tracks" in f.message
    assert f.fix.processor == "limiter" and f.fix.parameters["ceiling_dbtp"] == -1.0


def test_true_peak_over_the_ceiling(results):
    f = only(results["spike"], "true_peak_over_ceiling")
    assert f.evidence["true_peak_dbtp"] == pytest.approx(-0.45, abs=0.1)
    assert f.evidence["ceiling_dbtp"] == -1.0 and f.severity == Severity.WARNING
    assert f.fix.processor == "limiter" and f.fix.parameters["ceiling_dbtp"] == -1.0
    assert "-1.0 dBTP" in f.fix.action
    assert "true_peak_over_ceiling" not in rules(results["clean"])
    # A spike over full scale is a problem.
    over = results["isp"].by_rule("true_peak_over_ceiling")[0]
    assert over.severity == Severity.PROBLEM


def test_loud_masters_get_spotifys_lower_ceiling(results):
    loud = results["limited_loud"]  # about -7 LUFS, limited to -1 dBFS sample peak
    f = only(loud, "true_peak_over_ceiling")
    assert f.evidence["ceiling_dbtp"] == -2.0  # louder than -14 LUFS: below -2 dBTP
    apple = peaks.true_peak_over_ceiling(context(loud, platform="apple_music"))
    assert apple[0].evidence["ceiling_dbtp"] == -1.0
    assert peaks.true_peak_over_ceiling(context(loud, platform="cd_club")) == []  # -0.3 dBTP


def test_clipping_with_times(results, mixes):
    f = only(results["clipped"], "clipping")
    assert f.severity == Severity.PROBLEM
    assert abs(f.when[0].start_s - flat_times(mixes["clipped"])[0]) < 0.01
    assert "listed" in f.message  # thousands of runs: the first 1000 per channel have times
    few = only(results["few_clips"], "clipping")
    assert few.severity == Severity.WARNING
    assert few.evidence["clipped_runs"] < peaks.CLIP_PROBLEM_RUNS
    # Every clipped peak lies in one of the reported spans, and every span holds one.
    flat = flat_times(mixes["few_clips"])
    assert all(any(s.start_s - 0.01 <= t <= s.end_s + 0.01 for s in few.when) for t in flat)
    assert all(any(s.start_s - 0.01 <= t <= s.end_s + 0.01 for t in flat) for s in few.when)
    assert "clipping" not in rules(results["clean"])


def test_inter_sample_over_at_its_time(results):
    f = only(results["isp"], "inter_sample_overs")
    assert f.evidence["max_inter_sample_peak_dbfs"] == pytest.approx(2.28, abs=0.3)
    assert f.severity == Severity.PROBLEM
    assert any(span.start_s - 0.05 <= 5.0 <= span.end_s + 0.05 for span in f.when)
    assert "true-peak" in f.fix.action
    assert "inter_sample_overs" not in rules(results["clean"])
    assert "inter_sample_overs" not in rules(results["spike"])


def test_over_compression(results):
    f = only(results["limited"], "over_compressed")
    assert f.evidence["plr_db"] < 8.0 and f.severity == Severity.WARNING
    assert f.fix.processor == "limiter" and f.fix.parameters["input_gain_db"] < 0
    assert "over_compressed" not in rules(results["clean"])
    # Hard clipping 10 dB into a clipper squashes further than the limiter.
    assert results["clipped"].by_rule("over_compressed")


def test_weak_transients(results):
    f = only(results["limited"], "weak_transients")
    assert f.evidence["punch_db"] < transients.PUNCH_WARNING_DB
    assert f.fix.processor == "transient_shaper" and f.fix.target == "drums"
    assert "weak_transients" not in rules(results["clean"])
    # Classical music is not judged on drum punch.
    assert transients.weak_transients(context(results["limited"], genre="classical")) == []


def test_crest_factor_against_the_genre(results):
    clean, limited = results["clean"], results["limited"]
    # Clean crest about 14.7 dB: above EDM's 7-11 dB (information), inside jazz's 14-22.
    above = dynamics.crest_factor_vs_genre(context(clean, genre="edm"))
    assert [f.rule for f in above] == ["crest_factor_above_genre"]
    assert above[0].severity == Severity.INFO
    assert dynamics.crest_factor_vs_genre(context(clean, genre="jazz")) == []
    below = dynamics.crest_factor_vs_genre(context(limited, genre="jazz"))
    assert below[0].rule == "crest_factor_below_genre" and below[0].severity == Severity.WARNING
    assert below[0].fix.parameters["input_gain_db"] < -3.0
    # Without a genre there is nothing to compare with.
    assert dynamics.crest_factor_vs_genre(context(limited)) == []


def test_loudness_range_against_the_genre(results):
    clean, dyn = results["clean"], results["dynamic"]
    # The steady demo song (LRA about 3.5 LU) is below jazz's 7-15 LU, inside EDM's 3-7.
    low = dynamics.loudness_range_vs_genre(context(clean, genre="jazz"))
    assert low[0].rule == "loudness_range_below_genre" and low[0].severity == Severity.WARNING
    assert dynamics.loudness_range_vs_genre(context(clean, genre="edm")) == []
    # A verse 12 dB under the chorus: a range of about 12 LU, above pop's 4-8 LU.
    assert dyn.analysis.loudness.loudness_range_lu > 9.0
    high = dynamics.loudness_range_vs_genre(context(dyn, genre="pop"))
    assert high[0].rule == "loudness_range_above_genre"
    assert high[0].fix.processor == "compressor"
    assert dynamics.loudness_range_vs_genre(context(dyn, genre="classical")) == []


def test_silent_mix_is_one_clear_problem():
    silent = clean().with_samples(np.zeros_like(clean().samples))
    result = examine(silent)
    assert [f.rule for f in result.findings if f.severity == Severity.PROBLEM] == ["mix_silent"]
    assert "mix_silent" not in rules(examine(clean().slice_s(0, 6)))
