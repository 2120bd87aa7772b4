"""Target gains from mixes by least squares, and the training dataset reader."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import scipy.signal

from stemforge.audio.io import save
from stemforge.audio.signal import Audio
from stemforge.demo import generate_song
from stemforge.mixing.train import (
    GainDatasetError,
    GainTrainingError,
    find_songs,
    fit_gains,
    read_song,
    train_gain_model,
    write_demo_dataset,
)

SR = 16000


def coloured_noise(rng, n: int, low_hz: float, high_hz: float, channels: int = 2) -> np.ndarray:
    sos = scipy.signal.butter(4, [low_hz, high_hz], btype="bandpass", fs=SR, output="sos")
    return scipy.signal.sosfilt(sos, rng.standard_normal((channels, n)), axis=1)


def planted_stems(rng, n: int = 2 * SR):
    stems = {
        "low": coloured_noise(rng, n, 40, 200),
        "mid": coloured_noise(rng, n, 300, 2000),
        "high": coloured_noise(rng, n, 3000, 7000),
        "wide": coloured_noise(rng, n, 100, 6000),
    }
    gains_db = {"low": -7.5, "mid": 3.25, "high": 9.0, "wide": -1.0}
    mix = sum(10 ** (gains_db[k] / 20) * stems[k] for k in stems)
    return stems, gains_db, mix


def test_least_squares_recovers_planted_gains(rng):
    stems, gains_db, mix = planted_stems(rng)
    fit = fit_gains(stems, mix, sample_rate=SR)
    assert fit.method == "time"
    for name, g in gains_db.items():
        assert fit.gains_db[name] == pytest.approx(g, abs=0.01)
    assert fit.residual_db < -100
    assert fit.clamped == () and fit.silent == ()


def test_least_squares_with_noise_in_the_mix(rng):
    stems, gains_db, mix = planted_stems(rng)
    noise = rng.standard_normal(mix.shape)
    noise *= math.sqrt(np.sum(mix**2) / np.sum(noise**2)) * 10 ** (-40 / 20)  # -40 dB
    fit = fit_gains(stems, mix + noise, sample_rate=SR)
    assert fit.method == "time"
    for name, g in gains_db.items():
        assert fit.gains_db[name] == pytest.approx(g, abs=0.05)
    # What is left is the noise: 40 dB below the mix.
    assert fit.residual_db == pytest.approx(-40.0, abs=0.5)


def test_silent_and_absent_stems(rng):
    stems, _, mix = planted_stems(rng)
    stems = {**stems, "silent": np.zeros_like(mix), "inverted": -stems["mid"]}
    fit = fit_gains(stems, mix, sample_rate=SR)
    assert fit.gains_db["silent"] is None and fit.silent == ("silent",)
    # "inverted" and "mid" are one signal: the solver splits it by the minimum norm,
    # putting "inverted" at a negative gain, which is clamped to -80 dB and reported.
    assert "inverted" in fit.clamped
    assert fit.gains_db["inverted"] == pytest.approx(-80.0)


def processed_song(rng):
    """A demo song's stems at planted levels, and its mix delayed 60 samples and run
    through a second-order all-pass filter (phase changes, magnitude unchanged)."""
    song = generate_song(sections=[("verse", 2)], seed=3, sample_rate=22050, reverb=False)
    planted = {n: float(rng.uniform(-6, 6)) for n in song.stems}
    stems = {n: a.apply_gain_db(-planted[n]) for n, a in song.stems.items()}
    m = song.mix.samples.astype(np.float64)
    delayed = np.pad(m, ((0, 0), (60, 0)))[:, : m.shape[1]]
    processed = scipy.signal.lfilter([0.5, -1.2, 1.0], [1.0, -1.2, 0.5], delayed, axis=1)
    return stems, planted, Audio(processed, 22050)


def test_stft_fit_when_the_mix_was_processed(rng):
    stems, planted, mix = processed_song(rng)
    audible = [n for n, a in stems.items() if np.any(a.samples)]
    time_fit = fit_gains(stems, mix, method="time")
    assert time_fit.residual_db > -3  # the phase changes defeat the sample-by-sample fit
    assert max(abs(time_fit.gains_db[n] - planted[n]) for n in audible) > 10
    fit = fit_gains(stems, mix)  # auto: the time fit is too poor, so STFT powers
    assert fit.method == "stft"
    errors = [abs(fit.gains_db[n] - planted[n]) for n in audible]
    assert max(errors) < 1.5
    assert float(np.median(errors)) < 0.5


def test_real_multitrack_whose_mixture_is_the_sum(shared_data, tmp_path):
    """caesium_excerpt: mixture = vocals + drums + other, sample for sample (MUSDB layout)."""
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "caesium").symlink_to(shared_data / "multitrack" / "caesium_excerpt")
    (song,) = find_songs(dataset)
    assert song.mix.endswith("mixture.flac")
    assert sorted(song.stems) == ["drums", "other", "vocals"]
    stems, mix = read_song(song)
    fit = fit_gains(stems, mix)
    assert fit.method == "time"
    for name in stems:
        assert fit.gains_db[name] == pytest.approx(0.0, abs=0.01)
    assert fit.residual_db < -100
    stft = fit_gains(stems, mix, method="stft")
    for name in stems:
        assert stft.gains_db[name] == pytest.approx(0.0, abs=0.1)


def test_demo_dataset_targets_are_the_planted_gains(tmp_path):
    planted = write_demo_dataset(tmp_path, n_songs=2, seed=5, sample_rate=16000, bars=1)
    songs = find_songs(tmp_path)
    assert [s.name for s in songs] == ["song00", "song01"]
    for song in songs:
        stems, mix = read_song(song)
        fit = fit_gains(stems, mix)
        for name, gain_db in fit.gains_db.items():
            if gain_db is not None:
                assert gain_db == pytest.approx(planted[song.name][name], abs=0.01)


# --- the dataset layout and its errors ----------------------------------------------------


def write(path, frames: int, rate: int = SR, value: float = 0.1):
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(frames) / rate
    save(path, Audio((value * np.sin(2 * np.pi * 220 * t))[None], rate), bit_depth=24)


def test_layouts_stems_folder_beside_mix_and_single_song(tmp_path):
    write(tmp_path / "a" / "mix.wav", SR)
    write(tmp_path / "a" / "stems" / "kick.wav", SR)
    write(tmp_path / "a" / "stems" / "bass.flac", SR)
    write(tmp_path / "b" / "mixture.flac", SR)
    write(tmp_path / "b" / "vocals.wav", SR)
    songs = find_songs(tmp_path)
    assert [(s.name, sorted(s.stems)) for s in songs] == [
        ("a", ["bass", "kick"]),
        ("b", ["vocals"]),
    ]
    single = find_songs(tmp_path / "b")
    assert len(single) == 1 and single[0].stems == songs[1].stems


def test_missing_mix_is_a_clear_error(tmp_path):
    write(tmp_path / "song" / "stems" / "kick.wav", SR)
    with pytest.raises(GainDatasetError, match=r"no mix file.*mix\.wav or mixture\.wav"):
        find_songs(tmp_path)


def test_stem_length_mismatch_is_a_clear_error(tmp_path):
    write(tmp_path / "song" / "mix.wav", 2 * SR)
    write(tmp_path / "song" / "stems" / "kick.wav", 2 * SR)
    write(tmp_path / "song" / "stems" / "bass.wav", SR + SR // 2)
    (song,) = find_songs(tmp_path)
    with pytest.raises(GainDatasetError, match=r"'bass' lasts 1\.500 s but the mix lasts 2\.000"):
        read_song(song)


def test_small_length_difference_is_tolerated(tmp_path):
    write(tmp_path / "song" / "mix.wav", SR)
    write(tmp_path / "song" / "stems" / "kick.wav", SR - 40)  # 2.5 ms short
    stems, mix = read_song(find_songs(tmp_path)[0])
    assert stems["kick"].frames == mix.frames


def test_other_dataset_errors(tmp_path):
    with pytest.raises(GainDatasetError, match="no such dataset folder"):
        find_songs(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GainDatasetError, match="no song folders"):
        find_songs(tmp_path / "empty")
    write(tmp_path / "nostems" / "song" / "mix.wav", SR)
    with pytest.raises(GainDatasetError, match="no stems"):
        find_songs(tmp_path / "nostems")
    write(tmp_path / "twomix" / "song" / "mix.wav", SR)
    write(tmp_path / "twomix" / "song" / "mixture.wav", SR)
    with pytest.raises(GainDatasetError, match="2 mix files"):
        find_songs(tmp_path / "twomix")
    with pytest.raises(GainDatasetError, match="shaped"):
        fit_gains({"a": np.zeros((2, 10))}, np.ones((2, 12)))
    with pytest.raises(GainDatasetError, match="silent"):
        fit_gains({"a": np.ones((2, 10))}, np.zeros((2, 10)))


def test_training_needs_two_songs(tmp_path):
    write(tmp_path / "only" / "mix.wav", SR)
    write(tmp_path / "only" / "stems" / "kick.wav", SR)
    with pytest.raises(GainTrainingError, match="at least 2"):
        train_gain_model(tmp_path, epochs=1, save=False)
    shutil.copytree(tmp_path / "only", tmp_path / "second")
    with pytest.raises(GainTrainingError, match="epochs"):
        train_gain_model(tmp_path, epochs=0, save=False)


# --- the command line ---------------------------------------------------------------------


def test_train_gain_command(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from stemforge.cli import app

    monkeypatch.setenv("STEMFORGE_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    result = runner.invoke(app, ["train-gain", str(tmp_path / "missing")])
    assert result.exit_code == 1
    assert "no such dataset folder" in result.output

    planted = write_demo_dataset(tmp_path / "data", n_songs=2, seed=2, sample_rate=16000, bars=1)
    out = tmp_path / "model"
    result = runner.invoke(
        app, ["train-gain", str(tmp_path / "data"), "--epochs", "1", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_songs"] == 2 and report["epochs"] == 1
    assert report["model_path"] == str(out / "gain_cnn.pt") and (out / "gain_cnn.json").is_file()
    for song in report["songs"]:
        for name in song["used"]:
            assert song["gains_db"][name] == pytest.approx(planted[song["name"]][name], abs=0.01)
