"""Reference rules: a demo song compared with itself, with a copy given 6 dB more low end
and 6 dB less top, and with a copy pushed 14 dB into a limiter and narrowed (side
-8 dB). The unchanged song is the reference each time.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.ndimage as ndimage

from stemforge import config
from stemforge.advice.doctor import examine
from stemforge.advice.findings import Severity
from stemforge.analysis.loudness import loudness as measure_loudness
from stemforge.audio import save
from stemforge.audio.filters import EQ, HighShelf, LowShelf
from stemforge.demo import generate_song

RULE_IDS = {
    "reference_loudness",
    "reference_tonal_balance",
    "reference_eq",
    "reference_width",
    "reference_dynamics",
    "reference_punch",
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


def limit(audio, drive_db, ceiling_dbfs=-1.0, lookahead_s=0.005):
    x = audio.samples.astype(np.float64) * 10 ** (drive_db / 20)
    need = np.minimum(1.0, 10 ** (ceiling_dbfs / 20) / np.maximum(np.abs(x).max(axis=0), 1e-12))
    n = round(lookahead_s * audio.sample_rate)
    gain = ndimage.uniform_filter1d(ndimage.minimum_filter1d(need, 2 * n + 1), n + 1)
    return audio.with_samples((x * gain).astype(np.float32))


def narrower(audio, side_gain_db):
    x = audio.samples.astype(np.float64)
    mid, side = (x[0] + x[1]) / 2, (x[0] - x[1]) / 2 * 10 ** (side_gain_db / 20)
    return audio.with_samples(np.stack([mid + side, mid - side]).astype(np.float32))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    reference_file = tmp_path_factory.mktemp("ref") / "reference.wav"
    save(reference_file, clean(), bit_depth=24)
    tilted = EQ((LowShelf(150.0, 6.0), HighShelf(4000.0, -6.0))).process(clean())
    squashed = narrower(limit(clean(), 14.0), -8.0)
    return {
        "same": examine(clean(), reference=reference_file),
        "tilted": examine(at_lufs(tilted), reference=clean()),
        "squashed": examine(squashed, reference=clean()),
    }


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def test_a_mix_against_itself_differs_in_nothing(results):
    same = results["same"]
    assert same.reference is not None and same.reference_analysis is not None
    assert not rules(same) & RULE_IDS, [f.message for f in same.findings]


def test_tonal_balance_against_the_reference(results):
    tilted = results["tilted"]
    bands = {f.evidence["band"]: f for f in tilted.by_rule("reference_tonal_balance")}
    # 6 dB more below 150 Hz and 6 dB less above 4 kHz, at equal loudness.
    assert {"sub", "presence", "air"} <= set(bands), list(bands)
    assert (
        bands["sub"].evidence["difference_db"] > 3 and bands["air"].evidence["difference_db"] < -3
    )
    assert bands["air"].severity in (Severity.WARNING, Severity.PROBLEM)
    # Each fix works against the difference, in that band.
    sub_fix, air_fix = bands["sub"].fix, bands["air"].fix
    assert sub_fix.parameters["gain_db"] < 0 and air_fix.parameters["gain_db"] > 0
    assert sub_fix.parameters["frequency_hz"] < 250 and air_fix.parameters["frequency_hz"] >= 2000
    assert sub_fix.processor in ("low_shelf", "peaking_eq")
    # The whole fitted EQ comes as one finding, ready for filter_from_dict.
    (eq,) = tilted.by_rule("reference_eq")
    assert eq.fix.processor == "eq" and eq.fix.parameters["type"] == "eq"
    assert len(eq.fix.parameters["bands"]) == len(tilted.reference.suggested_eq.bands) > 0
    # Loudness was matched before the plant was compared; nothing else changed.
    assert not rules(tilted) & {"reference_width", "reference_dynamics", "reference_loudness"}


def test_dynamics_width_punch_and_level_against_the_reference(results):
    squashed = results["squashed"]
    (loud,) = squashed.by_rule("reference_loudness")
    assert loud.severity == Severity.INFO and loud.evidence["difference_db"] > 5
    (dyn,) = squashed.by_rule("reference_dynamics")
    assert dyn.severity == Severity.WARNING and dyn.fix.parameters["input_gain_db"] < -3
    (width,) = squashed.by_rule("reference_width")
    assert width.evidence["mix_width"] < width.evidence["reference_width"]
    # The fix's side gain restores the reference's width (the plant took 8 dB off it).
    assert width.fix.parameters["side_gain_db"] == pytest.approx(8.0, abs=0.5)
    (punch,) = squashed.by_rule("reference_punch")
    assert punch.fix.processor == "transient_shaper"
    for rule in ("reference_dynamics", "reference_width", "reference_punch"):
        assert rule not in rules(results["tilted"])
