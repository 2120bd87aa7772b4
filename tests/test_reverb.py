"""Reverb and room modes against synthetic rooms of known RT60 and planted resonances.

Impulse responses are exponentially decaying Gaussian noise (broadband, or a sum of
band-passed noises with their own RT60s); their RT60 is confirmed by the exact ISO
3382-1 evaluation (``rt60_from_impulse_response``) before it serves as the truth for the
blind estimate. Dry material: staccato notes and chords (synthesised), drum one-shots and
LJ Speech sentences from the shared data, all with gaps between them.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import soxr

from stemforge.analysis.reverb import (
    ReverbResult,
    reverb,
    room_modes,
    rt60_from_impulse_response,
)
from stemforge.audio import Audio
from stemforge.errors import AnalysisError

SR = 44100
LN_1000 = np.log(1000.0)


# --- material ---------------------------------------------------------------------------


def noise_ir(rt60_s: float, *, seed: int = 0, sample_rate: int = SR, bands=None) -> np.ndarray:
    """Gaussian noise decaying 60 dB in ``rt60_s`` (or, with ``bands`` = [((lo, hi), rt60)],
    a sum of band-passed noises each with its own decay), 1.5 RT60 long, unit energy."""
    rng = np.random.default_rng(seed)
    longest = max(rt for _, rt in bands) if bands else rt60_s
    t = np.arange(int(1.5 * longest * sample_rate)) / sample_rate
    if bands is None:
        h = rng.standard_normal(len(t)) * np.exp(-LN_1000 * t / rt60_s)
    else:
        h = np.zeros(len(t))
        for (lo, hi), rt in bands:
            if lo <= 0:
                sos = scipy.signal.butter(4, hi, "lowpass", fs=sample_rate, output="sos")
            elif hi >= sample_rate / 2:
                sos = scipy.signal.butter(4, lo, "highpass", fs=sample_rate, output="sos")
            else:
                sos = scipy.signal.butter(4, [lo, hi], "bandpass", fs=sample_rate, output="sos")
            noise = scipy.signal.sosfiltfilt(sos, rng.standard_normal(len(t)))
            h += noise * np.exp(-LN_1000 * t / rt)
    return h / np.sqrt(np.sum(h**2))


def wet(dry: np.ndarray, ir: np.ndarray) -> np.ndarray:
    y = scipy.signal.fftconvolve(dry, ir)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def tone(f0_hz: float, duration_s: float, *, partials: int = 8) -> np.ndarray:
    """Harmonics at 0.6^k, 5 ms attack, 10 ms release."""
    t = np.arange(int(duration_s * SR)) / SR
    x = sum(
        0.6**k * np.sin(2 * np.pi * f0_hz * (k + 1) * t + k)
        for k in range(partials)
        if f0_hz * (k + 1) < 0.45 * SR
    )
    env = np.minimum(t / 0.005, 1.0)
    release = int(0.01 * SR)
    env[-release:] *= np.linspace(1.0, 0.0, release)
    return x * env


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def staccato(duration_s: float, *, seed: int, gap_s=(0.8, 1.6)) -> np.ndarray:
    """Notes and chords of 1-3 random pitches (E2 .. E6), 80-300 ms long, with gaps."""
    rng = np.random.default_rng(seed)
    x = np.zeros(int(duration_s * SR))
    t = 0.2
    while t < duration_s - 1.0:
        length = rng.uniform(0.08, 0.3)
        start = int(t * SR)
        for pitch in rng.integers(40, 88, size=rng.integers(1, 4)):
            note = tone(midi_hz(pitch), length) * rng.uniform(0.2, 0.5)
            x[start : start + len(note)] += note
        t += length + rng.uniform(*gap_s)
    return x


def bass_line(duration_s: float, *, seed: int, frequent: int = 41, gap_s=(0.3, 0.8)):
    """Staccato bass notes, half of them ``frequent`` (F2 = 87.3 Hz), the rest five others."""
    rng = np.random.default_rng(seed)
    others = (36, 38, 43, 45, 48)
    x = np.zeros(int(duration_s * SR))
    t = 0.1
    while t < duration_s - 1.0:
        pitch = frequent if rng.random() < 0.5 else int(rng.choice(others))
        length = rng.uniform(0.15, 0.4)
        note = 0.5 * tone(midi_hz(pitch), length, partials=6)
        x[int(t * SR) : int(t * SR) + len(note)] += note
        t += length + rng.uniform(*gap_s)
    return x


@pytest.fixture(scope="module")
def one_shots(shared_data) -> list[np.ndarray]:
    """Drum-machine one-shots shorter than 0.5 s: kicks, snares, hats, claps, percussion.

    Longer ones (toms, cymbals, booming kicks) and the acoustic kit (recorded in a studio
    whose room reads about 0.55 s) decay by themselves for as long as a small room does,
    and the blind estimate cannot tell such a decay from reverb.
    """
    shots = []
    kits = [shared_data / "drums" / k for k in ("oramics_pd_drum_machines", "sonic_pi")]
    for path in sorted(p for kit in kits for p in kit.rglob("*") if p.suffix in (".wav", ".flac")):
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
        if rate != SR:
            mono = soxr.resample(mono, rate, SR)
        if len(mono) < 0.5 * SR and np.abs(mono).max() > 0:
            shots.append(mono / np.abs(mono).max())
    assert len(shots) > 50
    return shots


def drum_hits(one_shots, duration_s: float, *, seed: int, gap_s=(0.7, 1.5)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros(int(duration_s * SR))
    t = 0.1
    while t < duration_s - 1.0:
        shot = one_shots[rng.integers(len(one_shots))]
        start = int(t * SR)
        part = shot[: len(x) - start]
        x[start : start + len(part)] += 0.5 * part
        t += len(shot) / SR + rng.uniform(*gap_s)
    return x


@pytest.fixture(scope="module")
def dry(shared_data, one_shots) -> dict[str, np.ndarray]:
    sentences = []
    for path in sorted((shared_data / "speech" / "speech_ljspeech").glob("*.flac")):
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        sentences += [soxr.resample(data.mean(axis=1), rate, SR), np.zeros(SR)]
    return {
        "staccato": staccato(30.0, seed=1),
        "drums": drum_hits(one_shots, 30.0, seed=2),
        "speech": np.concatenate(sentences),
    }


def mono(x: np.ndarray, sample_rate: int = SR) -> Audio:
    return Audio.from_array(np.asarray(x, np.float32), sample_rate)


def resonate(x: np.ndarray, f0_hz: float, t60_s: float) -> np.ndarray:
    """Add a two-pole resonance at ``f0_hz`` (unit peak gain) that rings ``t60_s``."""
    r = 10.0 ** (-3.0 / (t60_s * SR))
    w = 2 * np.pi * f0_hz / SR
    b, a = [1.0 - r], [1.0, -2.0 * r * np.cos(w), r * r]
    _, h = scipy.signal.freqz(b, a, worN=[w])
    return x + scipy.signal.lfilter(b, a, x) / np.abs(h[0])


# --- impulse responses: the exact method and the truth of the synthetic rooms ----------


@pytest.mark.parametrize("rt60_s", [0.3, 0.6, 1.2, 2.0])
def test_synthetic_ir_has_the_rt60_it_was_built_with(rt60_s):
    r = rt60_from_impulse_response(mono(noise_ir(rt60_s, seed=3)))
    assert r.t20_s == pytest.approx(rt60_s, rel=0.03)
    assert r.t30_s == pytest.approx(rt60_s, rel=0.03)
    assert r.rt60_s == r.t30_s
    assert r.edt_s == pytest.approx(rt60_s, rel=0.06)  # an exponential decay: EDT = T30
    assert r.noise_floor_db == -np.inf
    for band in r.bands:
        assert band.t30_s == pytest.approx(rt60_s, rel=0.12), band.name


def test_ir_with_background_noise_is_truncated_and_compensated():
    rt60_s = 1.2
    h = np.concatenate([noise_ir(rt60_s, seed=5), np.zeros(SR)])
    noise = np.random.default_rng(9).standard_normal(len(h))
    h += noise * np.abs(h).max() * 10 ** (-55 / 20)
    r = rt60_from_impulse_response(mono(h))
    # Without Chu's subtraction and Lundeby's truncation the noise would flatten the
    # Schroeder curve's lower end and T30 would read long.
    assert r.t30_s == pytest.approx(rt60_s, rel=0.05)
    assert r.t20_s == pytest.approx(rt60_s, rel=0.05)
    # Noise 55 dB below the sample peak lies further below the peak of the energy.
    assert -70 < r.noise_floor_db < -50


def test_ir_octave_bands_follow_the_rt60_of_each_band():
    design = [((0, 355), 1.6), ((355, 1410), 1.2), ((1410, 5600), 0.8), ((5600, SR / 2), 0.5)]
    expected = {"125 Hz": 1.6, "250 Hz": 1.6, "500 Hz": 1.2, "1 kHz": 1.2, "2 kHz": 0.8,
                "4 kHz": 0.8, "8 kHz": 0.5}  # fmt: skip
    r = rt60_from_impulse_response(mono(noise_ir(1.6, seed=4, bands=design)))
    assert [b.name for b in r.bands] == list(expected)
    for band in r.bands:
        # 15 %: the octave filters reach into the neighbouring design region.
        assert band.t30_s == pytest.approx(expected[band.name], rel=0.15), band.name


def test_ir_rejects_silence():
    with pytest.raises(AnalysisError):
        rt60_from_impulse_response(Audio.silence(1.0, SR, channels=1))


# --- blind RT60 -------------------------------------------------------------------------

CASES = [(m, rt) for m in ("staccato", "drums") for rt in (0.3, 0.6, 1.2, 2.0)] + [
    ("speech", rt) for rt in (0.6, 1.2, 2.0)
]


@pytest.fixture(scope="module")
def estimates(dry) -> dict[tuple[str, float], tuple[ReverbResult, float]]:
    out = {}
    for material, rt60_s in CASES:
        ir = noise_ir(rt60_s, seed=11)
        truth = rt60_from_impulse_response(mono(ir)).t30_s
        out[material, rt60_s] = reverb(mono(wet(dry[material], ir))), truth
    return out


@pytest.mark.parametrize(("material", "rt60_s"), CASES)
def test_blind_rt60_within_20_percent(estimates, material, rt60_s):
    result, truth = estimates[material, rt60_s]
    assert result.reason is None
    assert result.decay_count >= 5
    assert abs(result.rt60_s - truth) / truth <= 0.2
    assert 0.0 < result.confidence <= 1.0


@pytest.mark.parametrize("material", ["staccato", "drums", "speech"])
def test_more_reverb_reads_longer(estimates, material):
    values = [estimates[m, rt][0].rt60_s for m, rt in CASES if m == material]
    assert np.all(np.diff(values) > 0), values


@pytest.mark.parametrize("material", ["staccato", "drums"])
def test_edt_of_a_purely_reverberant_signal_matches_rt60(estimates, material):
    # No direct sound: the decay is one exponential, so EDT and RT60 agree (ISO 3382-1).
    result, truth = estimates[material, 1.2]
    assert result.edt_s == pytest.approx(truth, rel=0.25)


@pytest.mark.parametrize("material", ["staccato", "drums"])
def test_dry_signal_reads_short_or_no_reverb(dry, material):
    result = reverb(mono(dry[material]))
    assert np.isnan(result.rt60_s) or result.rt60_s < 0.3
    assert np.isnan(result.rt60_s) == (result.reason is not None)


def test_dry_speech_has_decays_of_its_own(dry):
    # The floor of what speech can show: the voice's own decays and the recording room
    # of LJ Speech. Reverb shorter than this (0.3 s) reads long on speech.
    result = reverb(mono(dry["speech"]))
    assert 0.15 < result.rt60_s < 0.4


def test_direct_sound_shortens_edt_but_not_rt60(dry):
    rt60_s = 1.2
    ir = noise_ir(rt60_s, seed=12)
    x = dry["staccato"]
    reverberant = scipy.signal.fftconvolve(x, ir)[: len(x)]
    # Reverberant energy 12 dB under the direct sound (the IR has unit energy).
    mix = x + reverberant * 10 ** (-12 / 20)
    result = reverb(mono(mix))
    assert abs(result.rt60_s - rt60_s) / rt60_s <= 0.2
    assert result.edt_s < 0.75 * result.rt60_s


def test_octave_bands_follow_a_frequency_dependent_room(dry, one_shots):
    design = [((0, 355), 1.6), ((355, 1410), 1.2), ((1410, 5600), 0.8), ((5600, SR / 2), 0.5)]
    ir = noise_ir(1.6, seed=5, bands=design)
    truth = {b.name: b.t30_s for b in rt60_from_impulse_response(mono(ir)).bands}
    x = staccato(30.0, seed=7) + drum_hits(one_shots, 30.0, seed=8)
    result = reverb(mono(wet(x, ir)))
    assert [b.name for b in result.bands] == list(truth)
    for band in result.bands:
        assert band.decay_count >= 5, band.name
        assert abs(band.rt60_s - truth[band.name]) / truth[band.name] <= 0.2, band.name
    # Broadband weighs 250 Hz .. 4 kHz equally: between the extremes of those bands.
    assert truth["4 kHz"] < result.rt60_s < truth["250 Hz"]


def test_stereo_48k_input(dry):
    rate = 48000
    x = soxr.resample(dry["drums"], SR, rate)
    rt60_s = 0.8
    left = noise_ir(rt60_s, seed=21, sample_rate=rate)
    right = noise_ir(rt60_s, seed=22, sample_rate=rate)  # decorrelated channels
    stereo = np.stack([scipy.signal.fftconvolve(x, left), scipy.signal.fftconvolve(x, right)])
    result = reverb(Audio((0.5 * stereo / np.abs(stereo).max()).astype(np.float32), rate))
    assert abs(result.rt60_s - rt60_s) / rt60_s <= 0.2


def test_dense_sustained_music_says_why_instead_of_guessing():
    # A chord held for 20 s with slow swells, in a 1 s room: never a free decay.
    t = np.arange(20 * SR) / SR
    chord = sum(np.sin(2 * np.pi * midi_hz(p) * t) for p in (48, 52, 55, 60, 64))
    swell = 1.0 + 0.3 * np.sin(2 * np.pi * 0.25 * t)
    result = reverb(mono(wet(chord * swell, noise_ir(1.0, seed=13))[: len(t)]))
    assert np.isnan(result.rt60_s)
    assert result.decay_count < 5
    assert "free decays" in result.reason
    assert result.confidence == 0.0


def test_short_silent_and_json():
    short = reverb(mono(np.random.default_rng(0).standard_normal(SR // 2)))
    assert np.isnan(short.rt60_s) and short.reason.startswith("too short")
    silent = reverb(Audio.silence(3.0, SR))
    assert np.isnan(silent.rt60_s) and silent.reason.startswith("silent")
    assert all(np.isnan(b.rt60_s) and b.decay_count == 0 for b in silent.bands)
    text = json.dumps(silent.to_dict())  # NaN becomes null: valid JSON
    assert json.loads(text)["rt60_s"] is None


def test_bad_parameters_raise():
    x = mono(np.zeros(2 * SR))
    with pytest.raises(AnalysisError):
        reverb(x, quantile=1.5)
    with pytest.raises(AnalysisError):
        reverb(x, fit_start_db=30.0, fit_end_db=25.0)


def test_four_minutes_of_stereo_is_fast():
    rng = np.random.default_rng(3)
    block = (
        rng.standard_normal(30 * SR).astype(np.float32)
        * np.repeat(rng.random(30 * 4) > 0.5, SR // 4).astype(np.float32)[: 30 * SR]
    )
    song = np.tile(wet(block, noise_ir(0.6, seed=14))[: 30 * SR], 8)
    audio = Audio(np.stack([song, song[::-1]]), SR)
    reverb(audio)  # warm up (imports, FFT plans)
    start = time.process_time()
    result = reverb(audio)
    elapsed = time.process_time() - start
    assert result.duration_s == pytest.approx(240.0)
    assert elapsed < 1.5  # about 0.25 s measured on one core; generous for loaded machines


# --- room modes -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def band(one_shots) -> np.ndarray:
    """60 s of notes and chords, drum hits and a bass line of six pitches, dry."""
    x = staccato(60.0, seed=31, gap_s=(0.4, 1.0))
    x += drum_hits(one_shots, 60.0, seed=32, gap_s=(0.6, 1.4))
    x += bass_line(60.0, seed=33, frequent=45)
    return x


@pytest.mark.parametrize(("f0_hz", "t60_s"), [(87.0, 1.5), (55.0, 1.5), (140.0, 1.2)])
def test_planted_mode_is_found(band, f0_hz, t60_s):
    modes = room_modes(mono(resonate(band, f0_hz, t60_s)))
    near = [m for m in modes if abs(m.frequency_hz - f0_hz) <= 3.0]
    assert len(near) == 1, modes
    mode = near[0]
    assert mode.decay_s >= 2.0 * mode.neighbour_decay_s
    assert 0.5 * t60_s <= mode.decay_s <= 1.3 * t60_s
    assert mode.q == pytest.approx(np.pi * mode.frequency_hz * mode.decay_s / LN_1000)
    assert mode.presence >= 0.6


def test_no_mode_without_a_resonance(band):
    assert room_modes(mono(band)) == ()


def test_mode_found_in_a_reverberant_room(band):
    x = scipy.signal.fftconvolve(band, noise_ir(0.4, seed=34))[: len(band)]
    modes = room_modes(mono(resonate(x, 87.0, 1.5)))
    assert any(abs(m.frequency_hz - 87.0) <= 3.0 for m in modes), modes
    assert not any(abs(m.frequency_hz - 87.0) <= 10.0 for m in room_modes(mono(x)))


def test_a_bass_note_played_often_is_not_a_mode(one_shots):
    # F2 (87.3 Hz) in half the notes: energy at 87 Hz, but it stops when the note stops.
    x = bass_line(60.0, seed=41) + drum_hits(one_shots, 60.0, seed=42, gap_s=(0.6, 1.4))
    assert not any(abs(m.frequency_hz - 87.3) <= 10.0 for m in room_modes(mono(x)))
    roomy = scipy.signal.fftconvolve(x, noise_ir(0.5, seed=43))[: len(x)]
    assert not any(abs(m.frequency_hz - 87.3) <= 10.0 for m in room_modes(mono(roomy)))
    # The same line with a resonance that rings: now there is a mode there.
    modes = room_modes(mono(resonate(x, 87.3, 1.5)))
    assert any(abs(m.frequency_hz - 87.3) <= 3.0 for m in modes), modes


def test_reverb_reports_room_modes(band):
    result = reverb(mono(resonate(band, 87.0, 1.5)))
    assert any(abs(m.frequency_hz - 87.0) <= 3.0 for m in result.room_modes)
    assert reverb(mono(band), find_room_modes=False).room_modes == ()
