"""The mix doctor's ``examine``: inputs, targets, genres, stems, the result, and a clean
mix that must not be called broken.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from stemforge import config
from stemforge.advice.doctor import DEFAULT_PLATFORM, MixDoctorResult, examine
from stemforge.advice.findings import AREAS, Severity, sort_findings
from stemforge.advice.genre import UnknownGenreError, model_dir
from stemforge.advice.rules import ALL_RULES
from stemforge.advice.targets import UnknownTargetError, build_targets
from stemforge.analysis.loudness import loudness as measure_loudness
from stemforge.audio import Audio, save
from stemforge.audio.stems import align_stems
from stemforge.demo import generate_song


@pytest.fixture(scope="module", autouse=True)
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.HOME_ENV, str(path))
        yield path


@functools.cache
def song():
    return generate_song(tempo_bpm=120, sections=(("verse", 4), ("chorus", 4)), seed=1)


def at_lufs(audio, lufs=-14.0):
    return audio.apply_gain_db(lufs - measure_loudness(audio).integrated_lufs)


@functools.cache
def excerpt() -> Audio:
    """6 s of the song at -14 LUFS: enough for the API tests, quick to analyse."""
    return at_lufs(song().mix.slice_s(0.0, 6.0))


@pytest.fixture(scope="module")
def clean() -> MixDoctorResult:
    """The demo song's mix turned to Spotify's -14 LUFS, with its stems."""
    stems = {name: a.apply_gain_db(0.0) for name, a in song().stems.items()}
    gain = -14.0 - measure_loudness(song().mix).integrated_lufs
    return examine(
        song().mix.apply_gain_db(gain),
        stems={n: a.apply_gain_db(gain) for n, a in stems.items()},
    )


def test_a_clean_mix_has_no_problems(clean, capsys):
    with capsys.disabled():
        print(f"\n--- findings for a clean demo mix at -14 LUFS ({len(clean.findings)}):")
        for f in clean.findings:
            fix = f" -> {f.fix.action}" if f.fix else ""
            print(f"  [{f.severity.value}] {f.rule}: {f.message}{fix}")
    assert not [f for f in clean.findings if f.severity == Severity.PROBLEM]
    assert len([f for f in clean.findings if f.severity == Severity.WARNING]) <= 2


def test_result_names_its_targets_and_is_json(clean):
    assert clean.platform == DEFAULT_PLATFORM == "spotify"
    assert clean.target_source == "default" and clean.targets.name == "spotify"
    assert clean.genre is None and clean.genre_source == "none" and clean.notes == ()
    assert clean.masking is not None and clean.reverb is not None and clean.reference is None
    assert set(clean.stem_notes) == set(song().stems)
    assert {"load", "analysis", "reverb", "masking", "rules"} <= set(clean.timings_s)
    data = json.loads(json.dumps(clean.to_dict()))
    assert data["platform"] == "spotify" and data["target_source"] == "default"
    assert data["targets"]["values"]["integrated_lufs"]["typical"] == -14.0
    assert len(data["findings"]) == len(clean.findings)


def test_findings_are_sorted_complete_and_actionable():
    # A mix with many problems at once: loud, clipped, an inverted low end.
    x = excerpt().samples.astype(np.float64) * 10 ** (12 / 20)
    x[1] = -x[1]
    result = examine(excerpt().with_samples(np.clip(x, -0.95, 0.95).astype(np.float32)))
    assert len(result.findings) >= 4
    assert result.findings == sort_findings(result.findings)
    assert result.findings[0].severity == Severity.PROBLEM
    for f in result.findings:
        assert f.area in AREAS and f.message and isinstance(f.evidence, dict)
        if f.fix is not None:
            assert f.fix.action
            if f.fix.parameters:
                assert f.fix.processor
        json.dumps(f.to_dict())
    assert len(ALL_RULES) == len(set(ALL_RULES)) >= 30


def test_explicit_platform_and_custom_targets(tmp_path, home):
    apple = examine(excerpt(), target="Apple Music")
    assert apple.platform == "apple_music" and apple.target_source == "explicit"
    # -14 LUFS is 2 dB over Apple's -16 LUFS: Apple turns it down.
    (f,) = apple.by_rule("loudness_above_target")
    assert f.evidence["turn_down_db"] == pytest.approx(2.0, abs=0.15)
    assert "Apple Music will turn it down" in f.message

    # A custom target from two references at about -20 LUFS, by object and by name.
    refs = tmp_path / "refs"
    refs.mkdir()
    for i, lufs in enumerate((-20.5, -19.5)):
        save(refs / f"ref{i}.wav", at_lufs(song().mix.slice_s(6.0, 12.0), lufs), bit_depth=24)
    mine = build_targets(refs, name="mine")
    by_object = examine(excerpt(), target=mine)
    by_name = examine(excerpt(), target="mine")
    for result in (by_object, by_name):
        assert result.platform is None and result.target_source == "custom"
        (f,) = result.by_rule("loudness_above_target")
        assert f.evidence["target_lufs"] == pytest.approx(-20.0, abs=0.1)
    with pytest.raises(UnknownTargetError, match="spotify"):
        examine(excerpt(), target="nowhere-fm")


def test_explicit_genre_adds_its_targets():
    result = examine(excerpt(), genre="Hip-Hop")
    assert result.genre == "hip_hop" and result.genre_source == "explicit"
    assert "tonal_sub_relative_db" in result.targets and "stereo_width" in result.targets
    assert result.targets.values["integrated_lufs"].typical == -14.0  # the platform wins
    with pytest.raises(UnknownGenreError, match="polka"):
        examine(excerpt(), genre="polka")


def test_a_predicted_genre_is_used_with_its_profile(monkeypatch):
    import stemforge.advice.doctor as doctor

    asked = []

    def fake_resolve(audio, explicit=None, *, min_probability=0.0):
        asked.append((explicit, min_probability))
        return "electronic", "predicted"  # an alias, as a user's label might be

    monkeypatch.setattr(doctor, "resolve_genre", fake_resolve)
    result = examine(excerpt())
    assert asked == [(None, doctor.GENRE_MIN_PROBABILITY)]
    assert result.genre == "electronic" and result.genre_source == "predicted"
    assert result.targets.values["stereo_width"].high == 0.30  # the EDM profile's range


def test_a_broken_genre_classifier_is_noted_not_fatal(home):
    folder = model_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.joblib").write_bytes(b"not a pickle")
    (folder / "metadata.json").write_text(
        json.dumps({"format": "stemforge-genre-model", "feature_version": 1, "genres": ["a"]})
    )
    try:
        result = examine(excerpt())
        assert result.genre is None and result.genre_source == "none"
        assert any("genre classifier" in n for n in result.notes)
        assert result.findings is not None and result.analysis is not None
        # An explicit built-in genre does not need the classifier at all.
        assert examine(excerpt(), genre="rock").genre == "rock"
        # A name that only the (unreadable) classifier could know is used as given.
        lofi = examine(excerpt(), genre="lofi")
        assert lofi.genre == "lofi" and any("no built-in profile" in n for n in lofi.notes)
        assert "tonal_sub_relative_db" not in lofi.targets
    finally:
        for p in folder.iterdir():
            p.unlink()


def test_stems_in_every_form(tmp_path):
    stems = {n: a.slice_s(0.0, 6.0) for n, a in song().stems.items() if n in ("kick", "bass")}
    files = []
    for name, audio in stems.items():
        files.append(tmp_path / f"track_{name}.wav")
        save(files[-1], audio, bit_depth=24)
    from_list = examine(excerpt(), stems=files)
    from_stems = examine(excerpt(), stems=align_stems(stems))
    assert from_list.masking.stem_names == ("kick", "bass")  # the shared prefix cut off
    assert from_stems.masking.stem_names == ("kick", "bass")
    # One stem cannot mask another: noted, not an error.
    single = examine(excerpt(), stems={"bass": stems["bass"]})
    assert single.masking is None and any("two stems" in n for n in single.notes)


def test_progress_is_reported_to_the_end():
    seen = []
    examine(excerpt(), progress=lambda step, fraction: seen.append((step, fraction)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(step.startswith("analysis: ") for step, _ in seen)
