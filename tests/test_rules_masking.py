"""Masking and stem rules on the stems of a demo song with problems planted: the bass
10 dB too loud (it buries the kick), the chord pad 10 dB too loud (it buries the lead),
the vocal 20 dB too quiet, a silent stem, a stem exported at another rate, in mono and
shorter, stems longer than the mix.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from stemforge import config
from stemforge.advice.doctor import examine
from stemforge.advice.findings import Severity
from stemforge.advice.rules import RuleContext
from stemforge.advice.rules import masking as masking_rules
from stemforge.advice.rules import stems as stem_rules
from stemforge.advice.targets import platform_target, target_set
from stemforge.analysis.masking import masking
from stemforge.audio import Audio, save
from stemforge.audio.stems import align_stems
from stemforge.demo import generate_song

RULE_IDS = {"stem_clash", "stem_masked", "silent_stem", "stem_alignment", "stems_length_mismatch"}


@pytest.fixture(scope="module", autouse=True)
def _home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.HOME_ENV, str(tmp_path_factory.mktemp("home")))
        yield


@functools.cache
def song():
    return generate_song(tempo_bpm=120, sections=(("verse", 4), ("chorus", 4)), seed=1)


def changed(**gains_db) -> dict[str, Audio]:
    out = dict(song().stems)
    for name, gain in gains_db.items():
        out[name] = out[name].apply_gain_db(gain)
    return out


@pytest.fixture(scope="module")
def clean():
    """The clean mix examined with its clean stems (given as a mapping of Audio)."""
    return examine(song().mix, stems=song().stems)


def context(clean_result, stems) -> RuleContext:
    """The clean mix's analysis with other stems: only the stem rules read them."""
    aligned = align_stems(stems)
    p = platform_target("spotify")
    return RuleContext(
        analysis=clean_result.analysis,
        targets=target_set(platform=p),
        platform=p,
        masking=masking(aligned) if len(aligned) > 1 else None,
        stems=aligned,
    )


def findings(rule, ctx, name=None):
    return [f for f in rule(ctx) if name is None or f.rule == name]


def test_clean_stems_have_no_warnings(clean):
    stem_findings = [f for f in clean.findings if f.rule in RULE_IDS]
    # The demo song's busiest pairs are reported as information (bass over kick).
    assert all(f.severity == Severity.INFO for f in stem_findings), stem_findings
    assert {f.rule for f in stem_findings} <= {"stem_clash"}
    assert clean.masking is not None and clean.stem_notes == dict.fromkeys(song().stems, ())


def test_loud_bass_clashes_with_the_kick_and_is_ducked(clean):
    ctx = context(clean, changed(bass=10.0))
    clash = [f for f in masking_rules.stem_clash(ctx) if f.stems == ("bass", "kick")]
    assert len(clash) == 1
    f = clash[0]
    assert f.severity == Severity.WARNING and f.evidence["loss_db"] >= 24.0
    # The kick's fundamental region: the worst band lies below 110 Hz.
    assert f.evidence["worst_bands"][0]["high_hz"] < 110
    assert f.when and f.when[0].end_s - f.when[0].start_s > 10  # the whole song
    # A rhythmic target: duck the bass under the kick, release a quarter beat at 120 BPM.
    assert f.fix.processor == "sidechain_compression" and f.fix.target == "bass"
    assert f.fix.parameters["trigger"] == "kick"
    assert f.fix.parameters["release_ms"] == pytest.approx(125.0)
    # The sentence describes the processor; the EQ cut is the alternative.
    assert f.fix.action.startswith("sidechain the bass to the kick")
    assert any(a.startswith("cut ") and "on the bass" in a for a in f.fix.alternatives)
    # The same pair in the clean song is information only.
    before = [g for g in clean.by_rule("stem_clash") if g.stems == ("bass", "kick")]
    assert all(g.severity == Severity.INFO for g in before)


def test_loud_pad_over_the_lead_gets_an_eq_cut(clean):
    ctx = context(clean, changed(chords=10.0))
    clash = [f for f in masking_rules.stem_clash(ctx) if f.stems == ("chords", "lead")]
    assert len(clash) == 1 and clash[0].severity == Severity.WARNING
    fix = clash[0].fix
    band = clash[0].evidence["worst_bands"][0]
    assert fix.processor == "peaking_eq" and fix.target == "chords"
    assert band["low_hz"] <= fix.parameters["frequency_hz"] <= band["high_hz"]
    assert -6.0 <= fix.parameters["gain_db"] <= -2.0
    assert any("sidechain" in a for a in fix.alternatives)


def test_quiet_vocal_is_buried(clean):
    ctx = context(clean, changed(vocal=-20.0))
    masked = masking_rules.stem_masked(ctx)
    assert [f.evidence["stem"] for f in masked] == ["vocal"]
    f = masked[0]
    assert f.severity == Severity.WARNING and f.stems[0] == "vocal"
    assert "chords" in f.evidence["main_maskers"]
    assert f.fix.target == "vocal" and f.fix.parameters["gain_db"] > 0
    # 25 dB down it is a problem.
    worse = masking_rules.stem_masked(context(clean, changed(vocal=-25.0)))
    assert worse[0].severity == Severity.PROBLEM
    assert masking_rules.stem_masked(context(clean, song().stems)) == []


def test_silent_stem(clean):
    stems = {**song().stems, "fx": Audio(np.zeros((2, song().mix.frames), np.float32), 44100)}
    ctx = context(clean, stems)
    f = findings(stem_rules.silent_stem, ctx)
    assert [x.stems for x in f] == [("fx",)] and f[0].severity == Severity.WARNING
    assert "silent" in f[0].message
    # The silent stem masks nothing and is not reported as masked.
    assert all("fx" not in x.stems for x in masking_rules.stem_masked(ctx))
    assert findings(stem_rules.silent_stem, context(clean, song().stems)) == []


def test_a_stem_at_another_rate_in_mono_and_shorter(clean):
    vocal = song().stems["vocal"].to_mono().slice_s(0.0, 14.0).resample(22050)
    ctx = context(clean, {**song().stems, "vocal": vocal})
    f = findings(stem_rules.stem_alignment, ctx)
    assert [x.stems for x in f] == [("vocal",)]
    notes = f[0].evidence["notes"]
    assert any(n.startswith("resampled 22050 -> 44100") for n in notes)
    assert "mono duplicated to stereo" in notes
    assert f[0].evidence["padded_s"] == pytest.approx(4.0, abs=0.01)  # 18 s - 14 s
    assert f[0].severity == Severity.WARNING  # another rate: an export mistake
    # Only mono: information.
    mono = {**song().stems, "vocal": song().stems["vocal"].to_mono()}
    g = findings(stem_rules.stem_alignment, context(clean, mono))
    assert g[0].severity == Severity.INFO and g[0].fix is None
    assert findings(stem_rules.stem_alignment, context(clean, song().stems)) == []


def test_stems_longer_than_the_mix(clean):
    longer = {n: a.pad_to(a.frames + 3 * a.sample_rate) for n, a in song().stems.items()}
    f = findings(stem_rules.stems_length_mismatch, context(clean, longer))
    assert len(f) == 1 and f[0].evidence["stems_duration_s"] == pytest.approx(21.0)
    assert findings(stem_rules.stems_length_mismatch, context(clean, song().stems)) == []


def test_examine_reads_a_stem_folder_with_a_silent_stem(tmp_path):
    folder = song().save(tmp_path / "song")
    save(folder / "stems" / "zz_fx.wav", Audio(np.zeros((2, 44100), np.float32), 44100))
    result = examine(folder / "mix.wav", stems=folder / "stems")
    assert result.analysis.file is not None and result.analysis.source.endswith("mix.wav")
    assert [f.stems for f in result.by_rule("silent_stem")] == [("zz_fx",)]
    assert result.masking is not None and "zz_fx" in result.masking.silent_stems
    # The short silent file was padded to the others' length: noted, and reported.
    assert any(n.startswith("padded") for n in result.stem_notes["zz_fx"])
    assert [f.stems for f in result.by_rule("stem_alignment")] == [("zz_fx",)]
    # A 24-bit WAV at 44.1 kHz: nothing to say about the file.
    assert not {f.rule for f in result.findings} & {"lossy_source", "low_bit_depth"}
