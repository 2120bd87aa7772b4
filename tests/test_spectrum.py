"""Spectrum: third-octave LTAS, tonal balance, spectral features, resonances, bandwidth."""

from __future__ import annotations

import itertools
import json

import librosa
import numpy as np
import pytest
import scipy.signal
import soxr

from stemforge.analysis.bands import (
    OCTAVE_NOMINAL_HZ,
    octave_bands,
    third_octave_bands,
    tonal_bands,
)
from stemforge.analysis.spectrum import spectrum
from stemforge.audio import Audio, load

SR = 44100
EULER_GAMMA = 0.5772156649015329


def mono(x: np.ndarray, sample_rate: int = SR) -> Audio:
    return Audio(np.asarray(x, np.float32)[None, :], sample_rate)


def sine(freq_hz: float, seconds: float, amplitude: float = 0.5, sample_rate: int = SR):
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return amplitude * np.sin(2 * np.pi * freq_hz * t)


def shaped_noise(rng, seconds: float, slope: float) -> np.ndarray:
    """Noise whose power spectrum is exactly f**slope (random phases): 0 white, -1 pink."""
    n = round(seconds * SR)
    f = np.fft.rfftfreq(n, 1 / SR)
    magnitude = np.zeros_like(f)
    magnitude[1:] = f[1:] ** (slope / 2)
    x = np.fft.irfft(magnitude * np.exp(2j * np.pi * rng.random(len(f))), n)
    return 0.1 * x / np.sqrt(np.mean(x**2))


def peaking_eq(f0_hz: float, gain_db: float, q: float, fs: int):
    """RBJ Audio EQ Cookbook peaking filter (b, a)."""
    a_gain = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0_hz / fs
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a_gain, -2 * np.cos(w0), 1 - alpha * a_gain])
    a = np.array([1 + alpha / a_gain, -2 * np.cos(w0), 1 - alpha / a_gain])
    return b / a[0], a / a[0]


def test_iso_bands():
    octaves = octave_bands()
    assert octaves[0].name == "31.5 Hz" and len(octaves) == len(OCTAVE_NOMINAL_HZ)
    thirds = third_octave_bands()
    assert len(thirds) == 31 and thirds[0].name == "20 Hz" and thirds[-1].name == "20 kHz"
    one_k = next(b for b in thirds if b.name == "1 kHz")
    # IEC 61260-1: edges at 1000 * G^(+-1/6), G = 10^0.3.
    assert one_k.low_hz == pytest.approx(891.25, abs=0.01)
    assert one_k.high_hz == pytest.approx(1122.02, abs=0.01)
    for a, b in itertools.pairwise(thirds):
        assert a.high_hz == pytest.approx(b.low_hz)
    assert [b.name for b in tonal_bands()] == [
        "sub",
        "bass",
        "low_mid",
        "mid",
        "high_mid",
        "presence",
        "air",
    ]
    assert third_octave_bands(nyquist_hz=12000)[-1].high_hz == 12000


def test_sine_lands_in_its_third_octave_band():
    r = spectrum(mono(sine(1000, 5)))
    loudest = max(r.third_octave, key=lambda b: b.level_db)
    assert loudest.name == "1 kHz"
    assert loudest.level_db == pytest.approx(10 * np.log10(0.5**2 / 2), abs=0.05)
    for b in r.third_octave:
        if b.name not in ("800", "1 kHz", "1.25 kHz"):
            assert b.level_db < loudest.level_db - 40, b.name


def test_pink_noise_is_flat_and_white_rises_one_db_per_band(rng):
    pink = spectrum(mono(shaped_noise(rng, 20, -1)))
    white = spectrum(mono(shaped_noise(rng, 20, 0)))
    # The 20 kHz band is cut at Nyquist (22.05 kHz): leave it out.
    p = np.array([b.level_db for b in pink.third_octave[:-1]])
    w = np.array([b.level_db for b in white.third_octave[:-1]])
    assert np.ptp(p) < 1.0
    slope, intercept = np.polyfit(np.arange(len(w)), w, 1)
    assert slope == pytest.approx(1.0, abs=0.02)  # 10 log10(G^(1/3)) = 1 dB a band
    assert np.abs(w - (slope * np.arange(len(w)) + intercept)).max() < 0.5
    # The fine LTAS: white is flat density, pink falls 3 dB an octave.
    f, d = white.ltas_frequencies_hz, white.ltas_density_db
    band = (f > 30) & (f < 18000)
    assert np.ptp(d[band]) < 1.5
    f, d = pink.ltas_frequencies_hz, pink.ltas_density_db
    slope = np.polyfit(np.log2(f[band]), d[band], 1)[0]
    assert slope == pytest.approx(-10 * np.log10(2), abs=0.1)


def test_centroid_of_a_sine_is_its_frequency():
    for freq in (440.0, 2500.0, 7000.0):
        r = spectrum(mono(sine(freq, 3)))
        assert r.centroid_hz == pytest.approx(freq, rel=0.005)
        assert r.rolloff_hz == pytest.approx(freq, abs=2 * SR / 4096)


def test_flatness_of_white_noise_and_a_sine(rng):
    r = spectrum(mono(rng.standard_normal(SR * 10) * 0.1))
    # A periodogram bin of white noise is exponential: E[log P] = log E[P] - gamma.
    assert r.flatness == pytest.approx(np.exp(-EULER_GAMMA), abs=0.01)
    assert r.ltas_flatness > 0.95
    s = spectrum(mono(sine(1000, 3)))
    assert s.flatness < 1e-3
    assert s.ltas_flatness < 1e-3


def test_features_agree_with_librosa(shared_data):
    audio = load(
        shared_data / "music" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
        start_s=20.0,
        duration_s=15.0,
        mono=True,
    )
    y = audio.samples[0]
    r = spectrum(audio)
    kw = {"y": y, "sr": SR, "n_fft": 4096, "hop_length": 2048, "center": False}
    centroid = np.median(librosa.feature.spectral_centroid(**kw))
    rolloff = np.median(librosa.feature.spectral_rolloff(**kw, roll_percent=0.85))
    bandwidth = np.median(librosa.feature.spectral_bandwidth(**kw))
    flatness = np.median(
        librosa.feature.spectral_flatness(**{k: v for k, v in kw.items() if k != "sr"})
    )
    assert r.centroid_hz == pytest.approx(centroid, rel=0.01)
    assert r.rolloff_hz == pytest.approx(rolloff, rel=0.02)
    assert r.bandwidth_hz == pytest.approx(bandwidth, rel=0.01)
    assert r.flatness == pytest.approx(flatness, rel=0.05)


def test_planted_resonance_on_noise(rng):
    x = rng.standard_normal(SR * 10) * 0.1
    assert spectrum(mono(x)).resonances == ()
    b, a = peaking_eq(3150, 12, 8, SR)
    r = spectrum(mono(scipy.signal.lfilter(b, a, x)))
    assert len(r.resonances) == 1
    res = r.resonances[0]
    assert res.frequency_hz == pytest.approx(3150, rel=0.01)
    assert 9.0 < res.prominence_db < 13.0
    assert res.q == pytest.approx(8, rel=0.3)
    assert res.presence_fraction == 1.0
    assert res.kind == "resonance"


def test_planted_resonance_on_music(shared_data):
    audio = load(
        shared_data / "music" / "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg",
        start_s=30.0,
        duration_s=30.0,
    )
    b, a = peaking_eq(3150, 12, 8, SR)
    boosted = audio.with_samples(scipy.signal.lfilter(b, a, audio.samples, axis=1))

    def near(result):
        return [r for r in result.resonances if abs(r.frequency_hz / 3150 - 1) < 0.03]

    assert near(spectrum(audio)) == []
    found = near(spectrum(boosted))
    assert len(found) == 1
    assert found[0].prominence_db > 8
    assert found[0].presence_fraction > 0.8


def test_lowpass_at_16_khz_is_a_cliff(rng):
    x = rng.standard_normal(SR * 8) * 0.1
    sos = scipy.signal.ellip(10, 0.1, 100, 16000, fs=SR, output="sos")
    r = spectrum(mono(scipy.signal.sosfilt(sos, x)))
    assert r.effective_bandwidth_hz == pytest.approx(16000, rel=0.03)
    assert r.lowpass_cliff_detected
    assert r.bandwidth_verdict == "lowpass_cliff_detected"
    full = spectrum(mono(x))
    assert not full.lowpass_cliff_detected
    assert full.bandwidth_verdict == "full_band"
    assert full.effective_bandwidth_hz > 20000


def test_upsampled_file_stops_at_22_khz(rng):
    x = (rng.standard_normal(SR * 6) * 0.1).astype(np.float32)
    up = soxr.resample(x, SR, 96000)
    r = spectrum(mono(up, 96000))
    assert 20000 < r.effective_bandwidth_hz < 22100
    assert r.bandwidth_verdict == "upsampled"
    native = spectrum(mono(rng.standard_normal(96000 * 4) * 0.1, 96000))
    assert native.bandwidth_verdict == "full_band"
    assert native.effective_bandwidth_hz > 45000


def test_tonal_balance_of_a_bass_sine():
    r = spectrum(mono(sine(100, 4)))
    assert r.tonal("bass").energy_fraction > 0.999
    assert r.tonal("bass").relative_db == pytest.approx(0.0, abs=0.01)
    assert sum(b.energy_fraction for b in r.tonal_balance) == pytest.approx(1.0)
    assert r.tonal("mid").relative_db < -60


def test_tonal_balance_of_white_noise_follows_bandwidth(rng):
    r = spectrum(mono(shaped_noise(rng, 6, 0)))
    # White noise: power in proportion to bandwidth.
    total = sum(b.high_hz - b.low_hz for b in r.tonal_balance)
    for b in r.tonal_balance:
        assert b.energy_fraction == pytest.approx((b.high_hz - b.low_hz) / total, rel=0.03)


def test_silence_and_short_and_multichannel(rng):
    r = spectrum(Audio.silence(1.0, SR, 2))
    assert r.resonances == ()
    assert np.isnan(r.centroid_hz)
    assert r.bandwidth_verdict == "silent"
    json.dumps(r.to_dict())
    short = spectrum(mono(sine(1000, 0.4)))  # the shortest signal the report analyses
    assert max(short.third_octave, key=lambda b: b.level_db).name == "1 kHz"
    six = spectrum(Audio(rng.standard_normal((6, SR)).astype(np.float32) * 0.1, SR))
    assert six.flatness > 0.4


def test_series_rate_and_json(shared_data):
    audio = load(shared_data / "music" / "Kevin_MacLeod_-_Vibe_Ace.hq.ogg", duration_s=20.0)
    r = spectrum(audio)
    for series in (r.centroid_series, r.rolloff_series, r.flatness_series, r.bandwidth_series):
        assert 0 < len(series) <= 10 * audio.duration_s
    assert 200 <= len(r.ltas_frequencies_hz) <= 300
    text = json.dumps(r.to_dict())
    assert len(text) < 200_000


@pytest.mark.parametrize("sample_rate", [8000, 22050, 48000, 96000])
def test_other_sample_rates(sample_rate):
    r = spectrum(mono(sine(1000, 2, sample_rate=sample_rate), sample_rate))
    assert max(r.third_octave, key=lambda b: b.level_db).name == "1 kHz"
    assert r.centroid_hz == pytest.approx(1000, rel=0.01)
    assert r.third_octave[-1].high_hz <= sample_rate / 2
    assert r.ltas_frequencies_hz[-1] <= sample_rate / 2
