"""The user-trained genre classifier on three clearly different synthetic "genres".

The clips come from the demo generator with each genre's own tempo range, arrangement
and processing:

- edm: 124-132 BPM, the busy chorus with four-on-the-floor drums, driven into a
  soft clipper (loud, compressed);
- ambient: 60-72 BPM breakdown (no drums), a pad-heavy arrangement widened with a
  decorrelated side channel, quiet;
- acoustic: 84-100 BPM verse without the drum stems, folded to mono, with slow level
  swells (quiet and dynamic).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
from typer.testing import CliRunner

from stemforge import config
from stemforge.advice.genre import (
    FEATURE_NAMES,
    GenreModelError,
    GenreModelNotTrainedError,
    GenrePrediction,
    GenreTrainingError,
    UnknownGenreError,
    genre_features,
    model_dir,
    predict_genre,
    resolve_genre,
    train_genre_classifier,
)
from stemforge.audio import Audio
from stemforge.cli import app
from stemforge.demo import generate_song

SR = 22050
CLIPS_PER_GENRE = 6
GENRE_NAMES = ("edm", "ambient", "acoustic")
KEYS = ("A", "C", "D", "E", "F", "G", "Bb", "F#")


def _clip(genre: str, index: int) -> Audio:
    rng = np.random.default_rng([index, GENRE_NAMES.index(genre)])
    key = KEYS[index % len(KEYS)]
    mode = "minor" if index % 2 else "major"
    if genre == "edm":
        song = generate_song(
            tempo_bpm=float(rng.uniform(124, 132)), key=key, mode=mode,
            sections=[("chorus", 8)], seed=index, sample_rate=SR, swing=0.0,
        )  # fmt: skip
        x = song.mix.samples / np.abs(song.mix.samples).max()
        drive = rng.uniform(3.0, 5.0)
        y = np.tanh(drive * x) / np.tanh(drive) * 0.95
    elif genre == "ambient":
        song = generate_song(
            tempo_bpm=float(rng.uniform(60, 72)), key=key, mode=mode,
            sections=[("breakdown", 4)], seed=index, sample_rate=SR,
        )  # fmt: skip
        mid = song.mix.samples.mean(axis=0)
        # A decorrelated side: the mid delayed by 23 ms and smeared (a crude wide reverb).
        delayed = np.concatenate([np.zeros(round(0.023 * SR)), mid])[: len(mid)]
        side = scipy.signal.fftconvolve(delayed, np.exp(-np.arange(SR // 4) / (0.08 * SR)))
        side = side[: len(mid)]
        side *= 0.8 * np.std(mid) / max(np.std(side), 1e-9)
        y = np.stack([mid + side, mid - side])
        y *= 10 ** (rng.uniform(-16, -12) / 20) / np.abs(y).max()
    else:
        song = generate_song(
            tempo_bpm=float(rng.uniform(84, 100)), key=key, mode=mode,
            sections=[("verse", 4), ("chorus", 2)], seed=index, sample_rate=SR,
        )  # fmt: skip
        x = sum(song.stems[s].samples for s in ("bass", "chords", "lead", "vocal"))
        mono = x.mean(axis=0)
        t = np.arange(len(mono)) / SR
        swell = 0.55 + 0.45 * np.sin(2 * np.pi * t / rng.uniform(6, 9))
        mono = mono * swell
        y = np.stack([mono, mono]) * 10 ** (rng.uniform(-8, -5) / 20) / np.abs(mono).max()
    return Audio(y.astype(np.float32), SR)


def _write(path, audio: Audio) -> None:
    sf.write(path, audio.frames_first(), audio.sample_rate, subtype="PCM_16")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """``train/<genre>/*.wav`` (plus a corrupt file and a stray file) and held-out clips."""
    root = tmp_path_factory.mktemp("genres")
    train = root / "train"
    for genre in GENRE_NAMES:
        (train / genre).mkdir(parents=True)
        for i in range(CLIPS_PER_GENRE):
            _write(train / genre / f"{genre}{i}.wav", _clip(genre, i))
    (train / "edm" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (train / "stray.wav").write_bytes(b"")
    held_out = {g: _clip(g, 100 + GENRE_NAMES.index(g)) for g in GENRE_NAMES}
    return train, held_out


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """Train through the Python API once, with STEMFORGE_HOME in a temporary folder."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.HOME_ENV, str(home))
        result = train_genre_classifier(corpus[0])
        yield result, home


@pytest.fixture
def home_of(monkeypatch):
    def use(path):
        monkeypatch.setenv(config.HOME_ENV, str(path))
        return path

    return use


def test_features_are_complete_and_finite(corpus):
    feats = genre_features(corpus[1]["edm"])
    assert tuple(feats) == FEATURE_NAMES
    assert all(np.isfinite(v) for v in feats.values())
    # Sanity against what the clips are: edm loud with a pulse near 128 BPM, acoustic mono.
    assert feats["integrated_lufs"] > -12
    assert 60 <= feats["tempo_bpm"] <= 270
    acoustic = genre_features(corpus[1]["acoustic"])
    assert acoustic["stereo_width"] < 1e-6 and acoustic["stereo_correlation"] > 0.999
    assert genre_features(corpus[1]["ambient"])["stereo_width"] > 0.2


def test_training_cross_validates_and_saves(trained):
    result, home = trained
    assert result.genres == tuple(sorted(GENRE_NAMES))
    assert result.file_counts == dict.fromkeys(sorted(GENRE_NAMES), CLIPS_PER_GENRE)
    assert result.cv_folds == 5
    assert result.cv_accuracy >= 0.8
    assert result.cv_accuracy == max(result.candidate_accuracy.values())
    assert sum(map(sum, result.confusion)) == 3 * CLIPS_PER_GENRE
    diagonal = sum(result.confusion[i][i] for i in range(3))
    assert diagonal / (3 * CLIPS_PER_GENRE) == pytest.approx(result.cv_accuracy)
    skipped = {s.file: s.reason for s in result.skipped}
    assert set(skipped) == {"stray.wav", "edm/broken.wav"}
    assert "sub-folder" in skipped["stray.wav"] and skipped["edm/broken.wav"]

    folder = home / "models" / "genre"
    assert (folder / "model.joblib").is_file()
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["genres"] == list(result.genres)
    assert meta["feature_names"] == list(FEATURE_NAMES)
    assert meta["cv_accuracy"] == pytest.approx(result.cv_accuracy)
    assert meta["sklearn_version"] and meta["trained_at"]


def test_held_out_clips_are_predicted(trained, corpus, home_of):
    home_of(trained[1])
    for genre, audio in corpus[1].items():
        prediction = predict_genre(audio)
        assert isinstance(prediction, GenrePrediction)
        assert prediction.genre == genre
        assert prediction.probability == prediction.ranking[0].probability
        assert sum(s.probability for s in prediction.ranking) == pytest.approx(1.0)
        assert prediction.model_cv_accuracy == pytest.approx(trained[0].cv_accuracy)
    # Used automatically once trained; an explicit genre always wins.
    assert resolve_genre(corpus[1]["edm"]) == ("edm", "predicted")
    assert resolve_genre(corpus[1]["acoustic"]) == ("folk_acoustic", "predicted")  # alias
    assert resolve_genre(corpus[1]["edm"], "Jazz") == ("jazz", "explicit")
    assert resolve_genre(corpus[1]["edm"], "ACOUSTIC") == ("folk_acoustic", "explicit")
    assert resolve_genre(corpus[1]["edm"], min_probability=1.01) == (None, "none")
    with pytest.raises(UnknownGenreError, match="edm"):
        resolve_genre(corpus[1]["edm"], "polka")


def test_untrained_and_broken_models(tmp_path, home_of, corpus):
    home_of(tmp_path)
    clip = corpus[1]["ambient"]
    with pytest.raises(GenreModelNotTrainedError) as info:
        predict_genre(clip)
    assert "stemforge genre train FOLDER" in str(info.value)
    assert resolve_genre(clip) == (None, "none")
    assert resolve_genre(clip, "hip-hop") == ("hip_hop", "explicit")

    folder = model_dir()
    folder.mkdir(parents=True)
    (folder / "model.joblib").write_bytes(b"not a pickle")
    (folder / "metadata.json").write_text(
        json.dumps({"format": "stemforge-genre-model", "feature_version": 1, "genres": ["a"]})
    )
    with pytest.raises(GenreModelError, match="genre train"):
        predict_genre(clip)
    (folder / "metadata.json").write_text(
        json.dumps({"format": "stemforge-genre-model", "feature_version": 0, "genres": ["a"]})
    )
    with pytest.raises(GenreModelError, match="another stemforge version"):
        resolve_genre(clip)


def _noise_folder(root, layout: dict[str, int]):
    rng = np.random.default_rng(5)
    for genre, n in layout.items():
        (root / genre).mkdir(parents=True)
        for i in range(n):
            _write(root / genre / f"{i}.wav", Audio(0.1 * rng.standard_normal((2, 4 * SR)), SR))
    return root


def test_too_few_genres_or_files(tmp_path, home_of):
    home_of(tmp_path / "home")
    with pytest.raises(GenreTrainingError, match="at least 2 genres"):
        train_genre_classifier(_noise_folder(tmp_path / "one", {"rock": 4}))
    with pytest.raises(GenreTrainingError, match=r"too few in: jazz \(2\)"):
        train_genre_classifier(_noise_folder(tmp_path / "few", {"rock": 3, "jazz": 2}))
    # Counted again after unusable files are skipped.
    root = _noise_folder(tmp_path / "bad", {"rock": 3, "jazz": 3})
    (root / "jazz" / "0.wav").write_bytes(b"garbage")
    with pytest.raises(GenreTrainingError, match="after skipping"):
        train_genre_classifier(root)
    assert not model_dir().exists()


def test_cli_train_and_predict(corpus, tmp_path):
    runner = CliRunner()
    env = {config.HOME_ENV: str(tmp_path)}
    clip = tmp_path / "edm_clip.wav"
    _write(clip, corpus[1]["edm"])
    before = runner.invoke(app, ["genre", "predict", str(clip)], env=env)
    assert before.exit_code == 1 and "stemforge genre train" in before.output

    result = runner.invoke(app, ["genre", "train", str(corpus[0])], env=env)
    assert result.exit_code == 0, result.output
    accuracy = float(result.output.split("cross-validated accuracy ")[1].split()[0])
    assert accuracy >= 0.8
    assert "broken.wav" in result.output and (tmp_path / "models" / "genre").is_dir()

    predicted = runner.invoke(app, ["genre", "predict", str(clip), "--json"], env=env)
    assert predicted.exit_code == 0, predicted.output
    assert json.loads(predicted.output)["genre"] == "edm"
    too_few = runner.invoke(app, ["genre", "train", str(tmp_path / "models")], env=env)
    assert too_few.exit_code == 1 and "at least 2 genres" in too_few.output
