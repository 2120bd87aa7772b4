"""Transients: onset times against planted truth and librosa, punch, HPSS balance."""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest

from stemforge.analysis.transients import (
    mel_filterbank,
    onset_strength,
    transients,
)
from stemforge.audio import Audio, load

SR = 44100


def mono(x: np.ndarray) -> Audio:
    return Audio(np.asarray(x, np.float32)[None, :], SR)


def matches(estimated: np.ndarray, truth: np.ndarray, tolerance_s: float) -> int:
    """Greedy one-to-one matches within ``tolerance_s`` (as mir_eval's onset F-measure)."""
    used = np.zeros(len(truth), bool)
    hits = 0
    for t in np.sort(estimated):
        d = np.where(used, np.inf, np.abs(truth - t))
        j = int(np.argmin(d))
        if d[j] <= tolerance_s:
            used[j] = True
            hits += 1
    return hits


def one_shot(path) -> np.ndarray:
    """A drum sample at 44.1 kHz mono, trimmed to start where it first reaches 1 % of its peak."""
    x = load(path, sample_rate=SR, mono=True).samples[0]
    start = int(np.argmax(np.abs(x) >= 0.01 * np.abs(x).max()))
    return x[start:]


KITS = {
    "electronic": ("sonic_pi/bd_haus.flac", "sonic_pi/sn_dolf.flac",
                   "sonic_pi/drum_cymbal_closed.flac"),
    "808": ("sonic_pi/bd_808.flac", "sonic_pi/sn_generic.flac", "sonic_pi/hat_cab.flac"),
    "acoustic": ("oramics_pearl_master_studio/kick-01.wav",
                 "oramics_pearl_master_studio/snare-01.wav",
                 "oramics_pearl_master_studio/hihat-closed.wav"),
}  # fmt: skip


def build_loop(shared_data, kit: str) -> tuple[np.ndarray, np.ndarray]:
    """Two bars of 8ths at 120 BPM from real one-shots, each hit at a known sample."""
    kick, snare, hat = (one_shot(shared_data / "drums" / name) for name in KITS[kit])
    loop = np.zeros(SR * 5, np.float32)
    truth = []
    for step in range(16):
        t = 0.25 + step * 0.25
        sample = {0: kick, 2: snare}.get(step % 4, 0.5 * hat)
        start = round(t * SR)
        end = min(len(loop), start + len(sample))
        loop[start:end] += sample[: end - start]
        truth.append(start / SR)
    return loop, np.array(truth)


@pytest.fixture(scope="module")
def drum_loop(shared_data):
    return build_loop(shared_data, "electronic")


def test_clicks_found_at_their_times(rng):
    truth = np.array([0.3, 0.9, 1.25, 1.4, 2.0, 2.7, 3.05, 3.9])
    x = np.zeros(SR * 4)
    x[np.round(truth * SR).astype(int)] = 0.8
    r = transients(mono(x))
    assert r.onset_count == len(truth)
    assert np.abs(r.onset_times_s - truth).max() < 0.010
    # The same clicks over a -50 dBFS noise floor. The noise starting is an onset too
    # (the signal starts with sound); nothing else is extra.
    r = transients(mono(x + rng.standard_normal(len(x)) * 10 ** (-50 / 20)))
    assert r.onset_count == len(truth) + 1
    assert r.onset_times_s[0] < 0.05
    assert np.abs(r.onset_times_s[1:] - truth).max() < 0.010


@pytest.mark.parametrize("kit", sorted(KITS))
def test_drum_loop_onsets_against_truth_and_librosa(shared_data, kit):
    loop, truth = build_loop(shared_data, kit)
    r = transients(mono(loop))
    ours = r.onset_times_s
    # Every hit within 10 ms, nothing extra.
    assert matches(ours, truth, 0.010) == len(truth)
    assert len(ours) == len(truth)
    # librosa's detector side by side: it finds the same hits, on its 23 ms frame grid.
    reference = librosa.onset.onset_detect(y=loop, sr=SR, units="time")
    assert matches(reference, truth, 0.050) >= len(truth) - 1
    assert matches(ours, reference, 0.050) >= len(truth) - 1
    # ... but placed less precisely than ours.
    assert matches(reference, truth, 0.010) < matches(ours, truth, 0.010)
    assert r.onset_rate_per_s == pytest.approx(len(truth) / 5.0)


def test_onset_strength_is_librosas_spectral_flux(drum_loop):
    loop, _ = drum_loop
    y = librosa.resample(loop, orig_sr=SR, target_sr=22050)
    power = np.abs(librosa.stft(y, n_fft=1024, hop_length=256)) ** 2
    mel_power = (mel_filterbank(22050, 1024, 128) @ power).T
    ours = onset_strength(mel_power)
    mel_db = librosa.power_to_db(
        librosa.feature.melspectrogram(S=power, sr=22050, n_mels=128), top_db=80.0
    )
    reference = librosa.onset.onset_strength(S=mel_db, sr=22050, hop_length=256, center=False)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, atol=1e-3)


def _hits(envelope: np.ndarray, rng, every_s: float = 0.5, count: int = 8) -> np.ndarray:
    x = np.zeros(round((count * every_s + 0.5) * SR))
    for i in range(count):
        start = round((0.25 + i * every_s) * SR)
        x[start : start + len(envelope)] += rng.standard_normal(len(envelope)) * envelope
    return x


def _expected_punch_db(tau_s: float, attack_s=0.05, sustain_s=0.3) -> float:
    """Punch of a noise burst with amplitude exp(-t / tau): power decays as exp(-2t / tau)."""

    def mean_power(a, b):
        return tau_s / 2 * (np.exp(-2 * a / tau_s) - np.exp(-2 * b / tau_s)) / (b - a)

    return 10 * np.log10(mean_power(0, attack_s) / mean_power(attack_s, sustain_s))


def test_punch_of_short_long_and_compressed_hits(rng):
    t = np.arange(round(0.45 * SR)) / SR
    short = transients(mono(_hits(0.5 * np.exp(-t / 0.03), rng)))
    long = transients(mono(_hits(0.5 * np.exp(-t / 0.3), rng)))
    # Compression 3:1 in dB: the envelope's decay slows to a third.
    squashed = transients(mono(_hits(0.5 * np.exp(-t / 0.09), rng)))
    assert short.onset_count == long.onset_count == squashed.onset_count == 8
    assert short.punch_db == pytest.approx(_expected_punch_db(0.03), abs=1.0)
    assert long.punch_db == pytest.approx(_expected_punch_db(0.3), abs=1.0)
    assert short.punch_db > long.punch_db + 10
    assert short.punch_db > squashed.punch_db + 5
    assert np.isfinite(short.punch_db_per_onset).all()


def test_harmonic_and_percussive_balance(rng):
    t = np.arange(SR * 5) / SR
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63, 440.0))
    bursts = np.zeros(SR * 5)
    for i in range(25):
        start = round((0.1 + i * 0.2) * SR)
        bursts[start : start + 220] = rng.standard_normal(220) * 0.5
    assert transients(mono(chord)).harmonic_to_percussive_db > 10
    perc = transients(mono(bursts))
    assert perc.harmonic_to_percussive_db < -5
    assert perc.percussive_fraction > 0.75


def test_hpss_balance_agrees_with_librosa_hpss(drum_loop):
    """The reduced-resolution HPSS against librosa's full-resolution one on drums + chord."""
    loop, _ = drum_loop
    t = np.arange(len(loop)) / SR
    chord = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (196.0, 246.94, 293.66))
    mix = (loop + chord).astype(np.float32)
    ours = transients(mono(mix)).harmonic_to_percussive_db
    y = librosa.resample(mix, orig_sr=SR, target_sr=22050)
    magnitude = np.abs(librosa.stft(y))
    harmonic, percussive = librosa.decompose.hpss(magnitude)
    reference = 10 * np.log10(np.sum(harmonic**2) / np.sum(percussive**2))
    assert ours == pytest.approx(reference, abs=3.0)


def test_silence_and_long_signal_cap(rng):
    r = transients(Audio.silence(2.0, SR, 2))
    assert r.onset_count == 0
    assert np.isnan(r.punch_db)
    json.dumps(r.to_dict())
    # A long signal: HPSS looks at part of it, the series stays at 10 points a second.
    x = rng.standard_normal(SR * 60) * 0.05
    r = transients(mono(x))
    assert 0 < r.hpss_coverage < 1
    assert len(r.onset_strength_series) <= 10 * 60


def test_real_music_json(shared_data):
    audio = load(shared_data / "music" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg", duration_s=15.0)
    r = transients(audio)
    assert r.onset_count > 10
    assert np.all(np.diff(r.onset_times_s) > 0)
    text = json.dumps(r.to_dict())
    assert len(text) < 100_000


@pytest.mark.parametrize("sample_rate", [8000, 48000, 96000])
def test_other_sample_rates(sample_rate):
    truth = np.array([0.3, 0.8, 1.4])
    x = np.zeros(sample_rate * 2, np.float32)
    for t in truth:  # 2 ms noise bursts: a click that survives any resampling
        i = round(t * sample_rate)
        x[i : i + sample_rate // 500] = np.random.default_rng(1).standard_normal(sample_rate // 500)
    r = transients(Audio(0.5 * x[None, :], sample_rate))
    assert r.onset_count == 3
    assert np.abs(r.onset_times_s - truth).max() < 0.010
