"""Reverb rules on synthetic rooms of known decay: staccato chords on every bar and clicks
on every beat at 120 BPM, convolved with exponentially decaying noise (RT60 0.5 s,
2.5 s, or 2.5 s below 400 Hz and 0.8 s above), and a dry bass line with a planted room
mode (a two-pole resonance at 87 Hz ringing 1.5 s).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from stemforge import config
from stemforge.advice.doctor import examine
from stemforge.advice.findings import Severity
from stemforge.advice.rules import RuleContext
from stemforge.advice.rules import reverb as reverb_rules
from stemforge.advice.targets import genre_profile, platform_target, target_set
from stemforge.audio import Audio

SR = 44100
LN_1000 = np.log(1000.0)
RULE_IDS = {"reverb_too_long", "muddy_reverb_tail", "room_mode"}


@pytest.fixture(scope="module", autouse=True)
def _home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.HOME_ENV, str(tmp_path_factory.mktemp("home")))
        yield


def noise_ir(rt60_s=None, *, bands=None, seed=0) -> np.ndarray:
    """Gaussian noise decaying 60 dB in ``rt60_s``, or ``bands`` = [(low-pass or
    high-pass corner in Hz, "low"/"high", rt60_s), ...] summed; unit energy."""
    rng = np.random.default_rng(seed)
    longest = max(rt for *_, rt in bands) if bands else rt60_s
    t = np.arange(int(1.5 * longest * SR)) / SR
    if bands is None:
        h = rng.standard_normal(t.size) * np.exp(-LN_1000 * t / rt60_s)
    else:
        h = np.zeros(t.size)
        for corner, kind, rt in bands:
            sos = scipy.signal.butter(4, corner, f"{kind}pass", fs=SR, output="sos")
            h += scipy.signal.sosfiltfilt(sos, rng.standard_normal(t.size)) * np.exp(
                -LN_1000 * t / rt
            )
    return h / np.sqrt(np.sum(h**2))


def tone(f0_hz: float, duration_s: float, partials: int = 8) -> np.ndarray:
    t = np.arange(int(duration_s * SR)) / SR
    x = sum(0.6**k * np.sin(2 * np.pi * f0_hz * (k + 1) * t + k) for k in range(partials))
    env = np.minimum(t / 0.005, 1.0)
    env[-441:] *= np.linspace(1.0, 0.0, 441)
    return x * env


def hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def material(duration_s: float, *, seed: int, low=45, high=80, bass=False) -> np.ndarray:
    """Chords of three random notes on every bar, clicks on every beat (accented on 1 and
    3), and with ``bass`` a short bass note on beats 2 and 4; 120 BPM."""
    rng = np.random.default_rng(seed)
    x = np.zeros(int(duration_s * SR))
    beat = 0
    while (beat + 1) * 0.5 < duration_s - 1:
        start = int(beat * 0.5 * SR)
        if beat % 4 == 0:
            for pitch in rng.integers(low, high, size=3):
                note = 0.3 * tone(hz(pitch), 0.15)
                x[start : start + note.size] += note
        if bass and beat % 2 == 1:
            note = 0.4 * tone(hz(rng.choice([33, 36, 38, 40, 43])), 0.2, partials=6)
            x[start : start + note.size] += note
        n = int(0.03 * SR)
        click = np.random.default_rng(beat).standard_normal(n) * np.exp(-np.arange(n) / 176.4)
        x[start : start + n] += click * (0.5 if beat % 2 == 0 else 0.25)
        beat += 1
    return x


def resonate(x: np.ndarray, f0_hz: float, t60_s: float) -> np.ndarray:
    """Add a two-pole resonance at ``f0_hz`` (unit peak gain) ringing ``t60_s``."""
    r = 10.0 ** (-3.0 / (t60_s * SR))
    w = 2 * np.pi * f0_hz / SR
    b, a = [1.0 - r], [1.0, -2.0 * r * np.cos(w), r * r]
    _, h = scipy.signal.freqz(b, a, worN=[w])
    return x + scipy.signal.lfilter(b, a, x) / np.abs(h[0])


def audio(x: np.ndarray) -> Audio:
    return Audio.from_array((0.3 * x / np.abs(x).max()).astype(np.float32), SR)


def wet(dry: np.ndarray, ir: np.ndarray) -> np.ndarray:
    return scipy.signal.fftconvolve(dry, ir)[: dry.size]


@pytest.fixture(scope="module")
def results():
    chords = material(20.0, seed=0)
    low_chords = material(20.0, seed=0, low=36, high=72)
    band = material(30.0, seed=3, bass=True)
    signals = {
        "short_room": wet(chords, noise_ir(0.5)),
        "long_room": wet(chords, noise_ir(2.5)),
        "boomy_room": wet(low_chords, noise_ir(bands=[(400, "low", 2.5), (400, "high", 0.8)])),
        "dry_band": band,
        "mode": resonate(band, 87.0, 1.5),
    }
    return {name: examine(audio(x)) for name, x in signals.items()}


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def context(result, genre=None) -> RuleContext:
    p, g = platform_target("spotify"), genre_profile(genre) if genre else None
    return RuleContext(
        analysis=result.analysis,
        targets=target_set(platform=p, genre=g),
        platform=p,
        genre=g.name if g else None,
        genre_profile=g,
        reverb=result.reverb,
    )


def test_reverb_longer_than_a_bar(results):
    f = results["long_room"].by_rule("reverb_too_long")
    assert len(f) == 1
    f = f[0]
    # A 2.5 s room at 120 BPM (0.5 s beats): about 5 beats, over the 4-beat rule of thumb.
    assert f.evidence["rt60_s"] == pytest.approx(2.5, rel=0.2)
    assert f.evidence["tempo_bpm"] == pytest.approx(120.0, abs=1.0)
    assert f.evidence["rt60_beats"] == pytest.approx(f.evidence["rt60_s"] / 0.5, rel=0.01)
    assert f.severity == Severity.WARNING
    assert f.fix.processor == "reverb" and f.fix.parameters["decay_s"] == pytest.approx(1.0)
    assert "reverb_too_long" not in rules(results["short_room"])


def test_long_reverb_is_the_style_of_ambient(results):
    # Ambient is judged by absolute limits (3.75 s): a 2.5 s room passes.
    assert reverb_rules.reverb_too_long(context(results["long_room"], "ambient")) == []
    assert reverb_rules.reverb_too_long(context(results["long_room"], "pop"))


def test_muddy_reverb_tail(results):
    f = results["boomy_room"].by_rule("muddy_reverb_tail")
    assert len(f) == 1
    f = f[0]
    # 2.5 s below 400 Hz against 0.8 s above: a bass ratio of about 3.
    assert f.evidence["low_rt60_s"] == pytest.approx(2.5, rel=0.25)
    assert f.evidence["mid_rt60_s"] == pytest.approx(0.8, rel=0.25)
    assert f.severity == Severity.PROBLEM
    assert f.fix.processor == "high_pass" and f.fix.parameters["cutoff_hz"] == 250.0
    assert f.fix.target == "reverb return" and "250 Hz" in f.fix.action
    for name in ("long_room", "short_room"):  # the same decay in every band
        assert "muddy_reverb_tail" not in rules(results[name]), name


def test_planted_room_mode_gets_a_narrow_cut(results):
    modes = results["mode"].by_rule("room_mode")
    near = [f for f in modes if abs(f.evidence["frequency_hz"] - 87.0) <= 3.0]
    assert len(near) == 1, [f.message for f in modes]
    f = near[0]
    assert f.evidence["decay_s"] > 2 * f.evidence["neighbour_decay_s"]
    assert f.severity == Severity.WARNING
    assert f.fix.processor == "peaking_eq"
    assert f.fix.parameters["frequency_hz"] == pytest.approx(87.0, abs=3.0)
    assert 4.0 <= f.fix.parameters["q"] <= 10.0 and f.fix.parameters["gain_db"] <= -3.0
    assert "room_mode" not in rules(results["dry_band"])
