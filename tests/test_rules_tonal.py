"""Tonal rules on a demo song with EQ problems planted: a 300 Hz boost (mud), a 3.15 kHz
boost (harshness; +20 dB, as the demo song is dark to begin with), a narrow resonance
between the notes of the key, a dull top end (tonal balance against a genre). Plants
are turned back to -14 LUFS.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from stemforge import config
from stemforge.advice.doctor import examine
from stemforge.advice.findings import Severity
from stemforge.advice.rules import RuleContext, tonal
from stemforge.advice.targets import genre_profile, platform_target, target_set
from stemforge.analysis.loudness import loudness as measure_loudness
from stemforge.analysis.spectrum import spectrum
from stemforge.audio import Audio
from stemforge.audio.filters import HighShelf, PeakingEQ
from stemforge.demo import generate_song

RULE_IDS = {"tonal_balance", "mud", "harshness", "resonance"}
#: The demo song is in A minor; D#/Eb, a tritone from the tonic, is in no A major or
#: minor scale. D#6 = 440 * 2^(6/12) * 2 = 1244.5 Hz.
OFF_SCALE_HZ = 440.0 * 2 ** (6 / 12) * 2


@pytest.fixture(scope="module", autouse=True)
def _home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.HOME_ENV, str(tmp_path_factory.mktemp("home")))
        yield


def at_lufs(audio, lufs=-14.0):
    return audio.apply_gain_db(lufs - measure_loudness(audio).integrated_lufs)


@functools.cache
def song():
    return generate_song(tempo_bpm=120, sections=(("verse", 4), ("chorus", 4)), seed=1)


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


@pytest.fixture(scope="module")
def results():
    assert song().truth.key == "A" and song().truth.mode == "minor"
    clean = at_lufs(song().mix)
    plants = {
        "clean": clean,
        "mud": PeakingEQ(300.0, 10.0, 1.0).process(clean),
        "harsh": PeakingEQ(3150.0, 20.0, 1.0).process(clean),
        "resonance": PeakingEQ(OFF_SCALE_HZ, 12.0, 8.0).process(clean),
        "dull": HighShelf(5000.0, -15.0).process(clean),
    }
    return {name: examine(at_lufs(audio)) for name, audio in plants.items()}


def test_clean_mix_has_no_tonal_findings(results):
    assert not rules(results["clean"]) & RULE_IDS, results["clean"].findings


def test_mud(results):
    f = only(results["mud"], "mud")
    assert f.evidence["excess_db"] >= tonal.BUMP_WARNING_DB
    assert 200 <= f.evidence["peak_hz"] <= 500
    # The fix cuts in the boosted region, at most 6 dB, with a bell.
    assert f.fix.processor == "peaking_eq"
    assert 250 <= f.fix.parameters["frequency_hz"] <= 400
    assert -6.0 <= f.fix.parameters["gain_db"] < 0
    assert "mud" not in rules(results["harsh"])


def test_harshness(results):
    f = only(results["harsh"], "harshness")
    assert 2500 <= f.evidence["peak_hz"] <= 4000
    assert f.fix.parameters["frequency_hz"] == pytest.approx(3150, rel=0.3)
    assert f.fix.parameters["gain_db"] < 0
    assert "harshness" not in rules(results["mud"])


def test_harshness_is_not_judged_above_the_bandwidth():
    # Nothing above 7 kHz (an FFT brick wall): no upper neighbour to judge 2-5 kHz by.
    mix = song().mix
    bins = np.fft.rfft(mix.samples, axis=1)
    bins[:, np.fft.rfftfreq(mix.frames, 1 / mix.sample_rate) > 7000] = 0
    cut = mix.with_samples(np.fft.irfft(bins, n=mix.frames, axis=1).astype(np.float32))
    measured = spectrum(cut)
    assert measured.effective_bandwidth_hz < 7500
    assert tonal.bump(measured, tonal.HARSH_REGION_HZ, tonal.HARSH_NEIGHBOURS_HZ) is None
    assert tonal.bump(measured, tonal.MUD_REGION_HZ, tonal.MUD_NEIGHBOURS_HZ) is not None


def test_bumps_need_a_full_range_signal():
    # A solo instrument (a 330 Hz tone with harmonics) has nothing at 63-125 Hz: no line
    # to judge its low mids by, however strong they are.
    t = np.arange(6 * 44100) / 44100
    tone = sum(0.5**k * np.sin(2 * np.pi * 330 * (k + 1) * t) for k in range(12))
    solo = spectrum(Audio.from_array((0.3 * tone).astype(np.float32), 44100))
    assert tonal.bump(solo, tonal.MUD_REGION_HZ, tonal.MUD_NEIGHBOURS_HZ) is None


def test_resonance_between_the_notes(results):
    f = only(results["resonance"], "resonance")
    assert f.evidence["frequency_hz"] == pytest.approx(OFF_SCALE_HZ, rel=0.03)
    assert f.evidence["kind"] in ("resonance", "tonal")
    assert f.severity in (Severity.WARNING, Severity.PROBLEM)
    # A narrow cut at the resonance: "cut N dB at F Hz, Q q".
    assert f.fix.processor == "peaking_eq"
    assert f.fix.parameters["frequency_hz"] == pytest.approx(OFF_SCALE_HZ, rel=0.03)
    assert tonal.RESONANCE_Q[0] <= f.fix.parameters["q"] <= tonal.RESONANCE_Q[1]
    assert -9 <= f.fix.parameters["gain_db"] <= -2
    assert f.fix.action.startswith("cut ") and " Hz, Q " in f.fix.action


def test_peaks_on_notes_of_the_key_are_music_not_resonances(results):
    spectrum = results["clean"].analysis.spectrum
    # The analysis sees narrow peaks of kind "resonance" in the clean song (its A notes)...
    notes = [r for r in spectrum.resonances if r.kind == "resonance"]
    assert notes
    # ...which sit on notes of A minor, so the rule leaves them alone.
    ctx = context(results["clean"])
    musical = tonal._musical_pitch_classes(ctx)
    assert musical is not None and all(tonal._is_musical(r.frequency_hz, musical) for r in notes)
    assert not tonal._is_musical(OFF_SCALE_HZ, musical)
    assert tonal.resonances(ctx) == []


def test_tonal_balance_against_the_genre(results):
    clean, dull = results["clean"], results["dull"]
    # The demo song is a little dark for pop (presence and high-mid just under its
    # range: information only), with its air band inside the range.
    before = tonal.tonal_balance(context(clean, "pop"))
    assert {f.evidence["band"] for f in before} <= {"high_mid", "presence"}
    assert all(f.severity == Severity.INFO for f in before)
    findings = tonal.tonal_balance(context(dull, "pop"))
    air = [f for f in findings if f.evidence["band"] == "air"]
    assert len(air) == 1 and air[0].evidence["outside_by_db"] < 0
    assert air[0].severity in (Severity.WARNING, Severity.PROBLEM)
    # The air band gets a high shelf at 6 kHz that boosts towards pop's typical level.
    fix = air[0].fix
    assert fix.processor == "high_shelf" and fix.parameters["frequency_hz"] == 6000.0
    typical = genre_profile("pop").tonal_balance["air"].typical
    wanted = typical - air[0].evidence["relative_db"]
    assert fix.parameters["gain_db"] == pytest.approx(min(wanted, tonal.MAX_TONAL_GAIN_DB))
    # Without a genre there is no target to compare with.
    assert tonal.tonal_balance(context(dull)) == []
    assert all(math.isfinite(f.evidence["relative_db"]) for f in findings)
