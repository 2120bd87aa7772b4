"""The CNN gain predictor: the fallback to the rules, a tiny model trained here, bad files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stemforge.audio.io import save
from stemforge.audio.signal import Audio
from stemforge.config import models_dir
from stemforge.errors import ModelNotInstalledError
from stemforge.mixing.cnn import (
    METADATA_FILE,
    MODEL_FILE,
    CNNConfig,
    CNNGainPredictor,
    GainModelError,
    build_model,
    save_model,
)
from stemforge.mixing.gain import GainPredictor
from stemforge.mixing.train import train_gain_model

SR = 16000
TINY = CNNConfig(
    sample_rate=SR,
    n_fft=512,
    hop_length=256,
    n_mels=16,
    excerpt_s=0.5,
    excerpts_per_stem=2,
    channels=(4, 4, 4),
    hidden=8,
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty STEMFORGE_HOME: the model folder is ``home/models``."""
    monkeypatch.setenv("STEMFORGE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def voices(rng, n: int) -> dict[str, np.ndarray]:
    """Three stems with different sounds: noise bursts, a low tone, a vibrato tone."""
    t = np.arange(n) / SR
    bursts = rng.standard_normal(n) * (np.sin(2 * np.pi * 4 * t) > 0.6)
    bass = np.sin(2 * np.pi * 70 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t))
    vocal_phase = 2 * np.pi * 330 * t + 3 * np.sin(2 * np.pi * 5 * t)
    vocal = sum(np.sin(k * vocal_phase) / k for k in (1, 2, 3)) * (np.sin(2 * np.pi * t) > -0.5)
    return {"drums": 0.2 * bursts, "bass": 0.3 * bass, "vocals": 0.2 * vocal}


def write_dataset(folder, rng, n_songs: int = 8, duration_s: float = 1.5):
    """Songs whose stems were saved at planted level changes; mix = the unchanged sum."""
    planted = {}
    n = round(duration_s * SR)
    for i in range(n_songs):
        song = folder / f"song{i}"
        (song / "stems").mkdir(parents=True)
        stems = voices(rng, n)
        save(song / "mix.wav", Audio(sum(stems.values())[None], SR), bit_depth=32)
        planted[song.name] = {}
        for name, x in stems.items():
            gain_db = float(rng.uniform(-8, 8))
            raw = x * 10 ** (-gain_db / 20)
            save(song / "stems" / f"{name}.wav", Audio(raw[None], SR), bit_depth=32)
            planted[song.name][name] = gain_db
    return planted


def test_without_a_model_it_falls_back_to_the_rules(home, rng, capsys):
    stems = {k: Audio(v[None], SR) for k, v in voices(rng, SR).items()}
    predictor = CNNGainPredictor(SR)
    prediction = predictor.predict(stems)
    out = capsys.readouterr().out
    assert out.count("stemforge train-gain DATASET") == 1
    assert str(home / "models") in out
    assert not predictor.is_loaded
    assert prediction.method == "rules"
    assert prediction.fallback_note is not None and "train-gain" in prediction.fallback_note
    rules = GainPredictor(SR).predict(stems)
    assert prediction.gains_db == rules.gains_db  # exactly the rules' numbers
    # A second prediction does not repeat the note.
    predictor.predict(stems)
    assert capsys.readouterr().out == ""


def test_an_explicit_missing_model_is_an_error(home):
    with pytest.raises(ModelNotInstalledError, match="stemforge train-gain DATASET"):
        CNNGainPredictor(model_path=home / "elsewhere" / MODEL_FILE).load()


def test_tiny_model_trained_saved_reloaded_deterministic(home, tmp_path, rng, capsys):
    planted = write_dataset(tmp_path / "dataset", rng)
    threads = torch.get_num_threads()
    report = train_gain_model(
        tmp_path / "dataset",
        epochs=25,
        patience=25,
        config=TINY,
        learning_rate=1e-2,
        batch_size=8,
        seed=1,
        num_threads=1,
    )
    assert torch.get_num_threads() == threads  # restored after training
    # Saved where the predictor looks (the model folder of STEMFORGE_HOME).
    assert report.model_path == str(models_dir() / MODEL_FILE)
    assert (models_dir() / METADATA_FILE).is_file()
    assert report.n_songs == 8 and report.n_validation_songs == 2
    assert report.n_stems == 24 and report.n_examples == 48
    assert report.epochs == 25 and len(report.validation_losses) == 25
    # Training lowers the loss.
    assert min(report.train_losses[-5:]) < 0.5 * report.train_losses[0]
    # Least-squares targets are the planted gains.
    for fit in report.songs:
        for name in fit.used:
            assert fit.gains_db[name] == pytest.approx(planted[fit.name][name], abs=0.01)

    song = tmp_path / "dataset" / report.validation_songs[0]
    stems = {p.stem: str(p) for p in sorted((song / "stems").iterdir())}
    predictor = CNNGainPredictor(SR)
    assert predictor.load() is True
    assert capsys.readouterr().out == ""  # no fallback note
    first = predictor.predict(stems)
    assert first.method == "cnn" and first.fallback_note is None
    torch.manual_seed(12345)  # the global seed does not change inference
    again = predictor.predict(stems)
    fresh = CNNGainPredictor(SR).predict(stems)  # reloaded from disk
    assert first.gains_db == again.gains_db == fresh.gains_db
    assert all(np.isfinite(list(first.gains_db.values())))
    # The saved model is the best epoch's: its error on this song is what the report says
    # on average (two validation songs), so within a few dB of the planted gains.
    errors = [abs(first.gains_db[n] - planted[song.name][n]) for n in stems]
    assert float(np.mean(errors)) < 2 * report.validation_mae_db + 1.0
    assert all("CNN model gain_cnn.pt" in first.notes[n][0] for n in stems)


def _saved(folder):
    model = build_model(TINY)
    return save_model(model, TINY, folder)


def test_damaged_model_files_are_clear_errors(home, tmp_path):
    folder = tmp_path / "model"
    model_path, meta_path = _saved(folder)
    assert CNNGainPredictor(model_path=folder).load() is True

    meta = json.loads(meta_path.read_text())
    model_path.write_bytes(b"not a torch file")
    with pytest.raises(GainModelError, match=r"do not match their metadata.*train-gain"):
        CNNGainPredictor(model_path=folder).load()

    # Garbage whose checksum matches: torch cannot read it.
    import hashlib

    meta["weights_sha256"] = hashlib.sha256(b"not a torch file").hexdigest()
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(GainModelError, match="weights are unreadable"):
        CNNGainPredictor(model_path=model_path).load()

    meta_path.write_text("{broken")
    with pytest.raises(GainModelError, match="metadata is unreadable"):
        CNNGainPredictor(model_path=folder).load()
    meta_path.unlink()
    with pytest.raises(GainModelError, match=r"metadata file gain_cnn\.json is missing"):
        CNNGainPredictor(model_path=folder).load()

    model_path, meta_path = _saved(folder)
    meta = json.loads(meta_path.read_text())
    meta["version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(GainModelError, match="version 99"):
        CNNGainPredictor(model_path=folder).load()

    # A damaged model in the default folder is an error too, not a silent fallback.
    models_dir(create=True)
    (models_dir() / MODEL_FILE).write_bytes(b"junk")
    (models_dir() / METADATA_FILE).write_text("[]")
    with pytest.raises(GainModelError):
        CNNGainPredictor(SR).predict({"drums": np.zeros((1, SR))})


def test_excerpts_are_the_loudest_windows():
    from stemforge.mixing.cnn import _excerpt_starts

    x = np.zeros(10_000)
    x[6000:7000] = 1.0
    x[1000:1500] = 0.5
    assert _excerpt_starts(x, 1000, 1) == [6000]
    assert _excerpt_starts(x, 1000, 2) == [1000, 6000]
    assert _excerpt_starts(x[:800], 1000, 3) == [0]
