"""A genre classifier the user trains on their own labelled folders.

``train_genre_classifier(FOLDER)`` reads ``FOLDER/<genre>/...`` (each sub-folder a
genre), extracts :data:`FEATURE_NAMES` from at most ``max_duration_s`` of the middle of
each file, picks the scikit-learn pipeline (standard scaling, then logistic regression,
3 nearest neighbours or a random forest) with the best stratified
cross-validated accuracy, and saves it under ``config.models_dir()/genre/``
(``model.joblib`` and ``metadata.json``). No classifier ships with stemforge.

``predict_genre(audio)`` uses the saved model; :func:`resolve_genre` is what ``analyze``
calls: an explicit genre always wins, else the trained model predicts, else none.

The model file is a pickle (joblib): load only models you trained yourself.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from stemforge import config
from stemforge.advice.targets import (
    GENRES,
    SkippedFile,
    _check_folder,
    audio_files,
    canonical_genre,
)
from stemforge.analysis.bands import band_arrays, bin_weights, tonal_bands
from stemforge.audio import Audio
from stemforge.errors import AnalysisError, ModelNotInstalledError, StemforgeError
from stemforge.optional import require_module
from stemforge.progress import ProgressCallback, no_progress
from stemforge.results import Result

#: Bumped whenever the features change: a model trained on other features is refused.
FEATURE_VERSION = 1
ANALYSIS_RATE_HZ = 22050
N_FFT = 2048
HOP_LENGTH = 512
N_MFCC = 13
N_MELS = 64
MIN_DURATION_S = 3.0
DEFAULT_MAX_DURATION_S = 60.0
MIN_FILES_PER_GENRE = 3
MIN_GENRES = 2
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
METADATA_FORMAT = "stemforge-genre-model"
TRAIN_COMMAND = "stemforge genre train FOLDER"

_TONAL = tuple(b.name for b in tonal_bands())
FEATURE_NAMES: tuple[str, ...] = (
    "integrated_lufs",
    "loudness_range_lu",
    "crest_factor_db",
    "stereo_width",
    "stereo_correlation",
    *(f"tonal_{b}_relative_db" for b in _TONAL),
    *(
        f"spectral_{k}_{s}"
        for k in ("centroid_hz", "bandwidth_hz", "rolloff_hz", "flatness")
        for s in ("mean", "std")
    ),
    "zero_crossing_rate",
    "frame_rms_std_db",
    "onset_rate_per_s",
    "onset_strength_mean",
    "onset_strength_std",
    "pulse_clarity",
    "tempo_bpm",
    *(f"mfcc{i}_mean" for i in range(N_MFCC)),
    *(f"mfcc{i}_std" for i in range(N_MFCC)),
)


# --- errors ---------------------------------------------------------------------------


class GenreModelNotTrainedError(ModelNotInstalledError):
    """No genre classifier has been trained yet."""


class GenreModelError(StemforgeError):
    """The saved genre classifier is unreadable or was made for other features."""

    http_status = 500


class GenreTrainingError(StemforgeError):
    """The training folder cannot train a classifier (too few genres or files)."""


class UnknownGenreError(StemforgeError):
    """An explicit genre that neither a genre profile nor the trained model knows."""


def _require_sklearn():
    return require_module(
        "sklearn",
        "the genre classifier needs scikit-learn, which is not installed.",
        hint="Install it with `pip install 'stemforge[ml]'`.",
    )


# --- features -------------------------------------------------------------------------


def middle_excerpt(audio: Audio, max_duration_s: float) -> Audio:
    """At most ``max_duration_s`` from the middle of ``audio``."""
    if audio.duration_s <= max_duration_s:
        return audio
    start = (audio.duration_s - max_duration_s) / 2
    return audio.slice_s(start, start + max_duration_s)


def genre_features(
    audio: Audio, *, max_duration_s: float = DEFAULT_MAX_DURATION_S
) -> dict[str, float]:
    """The classifier's features (:data:`FEATURE_NAMES`) of the middle of ``audio``.

    Loudness features follow ITU-R BS.1770 (:func:`stemforge.analysis.loudness.loudness`);
    width and correlation use the definitions of :mod:`stemforge.analysis.stereo`;
    the crest factor that of :mod:`stemforge.analysis.dynamics`. Spectral, MFCC and
    onset features come from one STFT of the mono mix at 22.05 kHz (2048-point, hop 512).
    """
    librosa = require_module(
        "librosa",
        "genre features need librosa, which is not installed.",
        hint="Install it with `pip install 'stemforge[analysis]'`.",
    )

    from stemforge.analysis.loudness import loudness

    audio = middle_excerpt(audio.require_finite(), max_duration_s)
    if audio.duration_s < MIN_DURATION_S:
        raise AnalysisError(
            f"the audio lasts {audio.duration_s:.1f} s; genre features need at least "
            f"{MIN_DURATION_S:g} s."
        )
    lr = loudness(audio)
    if not math.isfinite(lr.integrated_lufs):
        raise AnalysisError("the audio is silent (no loudness above the -70 LUFS gate).")
    out: dict[str, float] = {
        "integrated_lufs": lr.integrated_lufs,
        "loudness_range_lu": lr.loudness_range_lu,
    }
    x = audio.samples
    peak = float(np.abs(x).max())
    mean_square = float(np.mean(np.square(x, dtype=np.float64)))
    out["crest_factor_db"] = 20 * math.log10(peak) - 10 * math.log10(mean_square)
    left, right = audio.to_stereo().samples.astype(np.float64)
    e_l, e_r, c_lr = float(left @ left), float(right @ right), float(left @ right)
    e_mid, e_side = max(e_l + e_r + 2 * c_lr, 0.0), max(e_l + e_r - 2 * c_lr, 0.0)
    out["stereo_width"] = e_side / (e_mid + e_side)
    out["stereo_correlation"] = c_lr / math.sqrt(e_l * e_r) if e_l > 0 and e_r > 0 else 0.0

    mono = audio.to_mono()
    if mono.sample_rate != ANALYSIS_RATE_HZ:
        mono = mono.resample(ANALYSIS_RATE_HZ, quality="MQ")
    y = mono.samples[0]
    sr = ANALYSIS_RATE_HZ
    power = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP_LENGTH)) ** 2
    frame_power = power.sum(axis=0)
    active = frame_power > frame_power.max() * 1e-6  # within 60 dB of the loudest frame

    bands = tonal_bands(nyquist_hz=sr / 2)
    low, _, high = band_arrays(bands)
    w = bin_weights(low, high, n_bins=power.shape[0], bin_hz=sr / N_FFT)
    band_power = w @ power[:, active].mean(axis=1)
    rel = 10 * np.log10(np.maximum(band_power / band_power.sum(), 1e-20))
    for band, level in zip(bands, rel, strict=True):
        out[f"tonal_{band.name}_relative_db"] = float(level)
    for band in _TONAL[len(bands) :]:  # bands above Nyquist (not at 22.05 kHz)
        out[f"tonal_{band}_relative_db"] = -200.0

    mag = np.sqrt(power)
    shape = {
        "centroid_hz": librosa.feature.spectral_centroid(S=mag, sr=sr)[0],
        "bandwidth_hz": librosa.feature.spectral_bandwidth(S=mag, sr=sr)[0],
        "rolloff_hz": librosa.feature.spectral_rolloff(S=mag, sr=sr, roll_percent=0.85)[0],
        "flatness": librosa.feature.spectral_flatness(S=mag)[0],
    }
    for key, values in shape.items():
        v = values[active]
        out[f"spectral_{key}_mean"] = float(v.mean())
        out[f"spectral_{key}_std"] = float(v.std())
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP_LENGTH)[0]
    n = min(len(zcr), len(active))
    out["zero_crossing_rate"] = float(zcr[:n][active[:n]].mean())
    frame_db = 10 * np.log10(frame_power[active])
    out["frame_rms_std_db"] = float(frame_db.std())

    mel_db = librosa.power_to_db(
        librosa.feature.melspectrogram(S=power, sr=sr, n_mels=N_MELS), ref=1.0, top_db=80.0
    )
    envelope = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=HOP_LENGTH)
    onsets = librosa.onset.onset_detect(
        onset_envelope=envelope, sr=sr, hop_length=HOP_LENGTH, units="frames"
    )
    out["onset_rate_per_s"] = len(onsets) / audio.duration_s
    out["onset_strength_mean"] = float(envelope.mean())
    out["onset_strength_std"] = float(envelope.std())
    out["pulse_clarity"] = _pulse_clarity(envelope, sr / HOP_LENGTH)
    out["tempo_bpm"] = float(
        np.atleast_1d(librosa.feature.tempo(onset_envelope=envelope, sr=sr, hop_length=HOP_LENGTH))[
            0
        ]
    )
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC)[:, active]
    for i in range(N_MFCC):
        out[f"mfcc{i}_mean"] = float(mfcc[i].mean())
        out[f"mfcc{i}_std"] = float(mfcc[i].std())
    return {k: float(out[k]) for k in FEATURE_NAMES}


def _pulse_clarity(envelope: np.ndarray, frame_rate_hz: float) -> float:
    """Highest normalised autocorrelation of the onset envelope at lags 0.25-2 s
    (30-240 BPM): near 1 for a steady beat, near 0 without one."""
    e = envelope - envelope.mean()
    lo, hi = round(0.25 * frame_rate_hz), round(2.0 * frame_rate_hz)
    if len(e) <= hi or not np.any(e):
        return 0.0
    ac = np.correlate(e, e, mode="full")[len(e) - 1 :]
    return float(max(ac[lo : hi + 1].max() / ac[0], 0.0))


def file_features(
    path: str | Path, *, max_duration_s: float = DEFAULT_MAX_DURATION_S
) -> dict[str, float]:
    """:func:`genre_features` of a file, decoding only the middle ``max_duration_s``."""
    from stemforge.audio import info, load

    duration = info(path).duration_s
    start = max(0.0, (duration - max_duration_s) / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # damaged files fail below or measure what decodes
        audio = load(
            path,
            start_s=start if start > 0 else None,
            duration_s=max_duration_s if duration > max_duration_s else None,
        )
    return genre_features(audio, max_duration_s=max_duration_s)


# --- training ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GenreTrainingResult(Result):
    """What training did: data, the chosen classifier and its cross-validated accuracy.

    ``cv_accuracy`` is the stratified ``cv_folds``-fold accuracy of the chosen
    classifier (the best of ``candidate_accuracy``, so slightly optimistic).
    ``per_genre_accuracy`` is its cross-validated recall per genre; ``confusion[i][j]``
    counts files of ``genres[i]`` predicted as ``genres[j]``.
    """

    genres: tuple[str, ...]
    file_counts: dict[str, int]
    classifier: str
    cv_accuracy: float
    cv_folds: int
    candidate_accuracy: dict[str, float]
    per_genre_accuracy: dict[str, float]
    confusion: tuple[tuple[int, ...], ...]
    feature_names: tuple[str, ...]
    skipped: tuple[SkippedFile, ...]
    sklearn_version: str
    trained_at: str
    model_path: str | None = None
    metadata_path: str | None = None


def _candidates(random_state: int) -> dict:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "logistic_regression": make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000)),
        "nearest_neighbours": make_pipeline(
            StandardScaler(), KNeighborsClassifier(n_neighbors=3, weights="distance")
        ),
        "random_forest": make_pipeline(
            StandardScaler(),
            RandomForestClassifier(n_estimators=200, random_state=random_state, n_jobs=1),
        ),
    }


def _genre_folders(root: Path) -> tuple[dict[str, list[Path]], list[SkippedFile]]:
    genres: dict[str, list[Path]] = {}
    skipped: list[SkippedFile] = []
    for sub in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if sub.is_dir():
            files, _ = audio_files(sub)
            genres[sub.name] = files
        elif sub.is_file():
            skipped.append(SkippedFile(sub.name, "not in a genre sub-folder."))
    return genres, skipped


def _check_counts(counts: dict[str, int], root: Path, min_files: int, after: str = "") -> None:
    usable = {g: n for g, n in counts.items() if n > 0}
    layout = f"Put each genre's tracks in its own sub-folder: {root}/<genre>/*.wav."
    if len(usable) < MIN_GENRES:
        found = ", ".join(f"{g} ({n})" for g, n in counts.items()) or "none"
        raise GenreTrainingError(
            f"training needs at least {MIN_GENRES} genres with audio{after}; found: {found}.",
            path=root,
            hint=layout,
        )
    few = {g: n for g, n in counts.items() if n < min_files}
    if few:
        listed = ", ".join(f"{g} ({n})" for g, n in few.items())
        raise GenreTrainingError(
            f"each genre needs at least {min_files} usable files{after}; too few in: {listed}.",
            path=root,
            hint=f"Add files to those genres or remove their folders. {layout}",
        )


def train_genre_classifier(
    folder: str | Path,
    *,
    save: bool = True,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    min_files_per_genre: int = MIN_FILES_PER_GENRE,
    random_state: int = 0,
    progress: ProgressCallback = no_progress,
) -> GenreTrainingResult:
    """Train on ``folder/<genre>/<files>`` and (with ``save``) store the model.

    Unreadable, too short or silent files are skipped with their reason. Raises
    :class:`GenreTrainingError` with fewer than 2 genres or fewer than
    ``min_files_per_genre`` usable files in a genre.
    """
    sklearn = _require_sklearn()
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    root = _check_folder(folder)
    by_genre, skipped = _genre_folders(root)
    _check_counts({g: len(f) for g, f in by_genre.items()}, root, min_files_per_genre)

    rows, labels = [], []
    total = sum(len(f) for f in by_genre.values())
    done = 0
    for genre, files in by_genre.items():
        for path in files:
            progress(f"{genre}: {path.name}"[:40], done / total)
            done += 1
            rel = str(path.relative_to(root))
            try:
                feats = file_features(path, max_duration_s=max_duration_s)
            except StemforgeError as exc:
                skipped.append(SkippedFile(rel, str(exc)))
                continue
            rows.append([feats[k] for k in FEATURE_NAMES])
            labels.append(genre)
    counts = {g: labels.count(g) for g in by_genre}
    _check_counts(counts, root, min_files_per_genre, after=" after skipping unusable files")
    genres = tuple(g for g in by_genre if counts[g] > 0)

    progress("cross-validating", 0.95)
    x = np.asarray(rows, np.float64)
    y = np.asarray([genres.index(g) for g in labels])
    folds = min(5, min(counts[g] for g in genres))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    scores: dict[str, float] = {}
    predictions: dict[str, np.ndarray] = {}
    candidates = _candidates(random_state)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, pipeline in candidates.items():
            proba = cross_val_predict(pipeline, x, y, cv=cv, method="predict_proba")
            predictions[name] = proba.argmax(axis=1)
            scores[name] = float(np.mean(predictions[name] == y))
        best = max(scores, key=lambda k: scores[k])  # ties: the first (simplest) candidate
        model = candidates[best].fit(x, y)
    pred = predictions[best]
    confusion = tuple(
        tuple(int(np.sum((y == i) & (pred == j))) for j in range(len(genres)))
        for i in range(len(genres))
    )
    per_genre = {g: float(np.mean(pred[y == i] == i)) for i, g in enumerate(genres)}
    result = GenreTrainingResult(
        genres=genres,
        file_counts={g: counts[g] for g in genres},
        classifier=best,
        cv_accuracy=scores[best],
        cv_folds=folds,
        candidate_accuracy=scores,
        per_genre_accuracy=per_genre,
        confusion=confusion,
        feature_names=FEATURE_NAMES,
        skipped=tuple(skipped),
        sklearn_version=sklearn.__version__,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    if save:
        result = _save(model, result, max_duration_s)
    progress("done", 1.0)
    return result


def model_dir() -> Path:
    return config.models_dir() / "genre"


def _save(model, result: GenreTrainingResult, max_duration_s: float) -> GenreTrainingResult:
    import dataclasses

    import joblib

    from stemforge import __version__
    from stemforge.output import atomic_output, write_json_atomic

    folder = model_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenreModelError(
            f"cannot create the model folder ({exc.strerror or exc}).",
            path=folder,
            hint=f"Set {config.HOME_ENV} to a writable folder.",
        ) from exc
    model_path, meta_path = folder / MODEL_FILE, folder / METADATA_FILE
    result = dataclasses.replace(result, model_path=str(model_path), metadata_path=str(meta_path))
    with atomic_output(model_path) as handle:
        joblib.dump({"pipeline": model, "feature_version": FEATURE_VERSION}, handle)
    meta = {
        "format": METADATA_FORMAT,
        "feature_version": FEATURE_VERSION,
        "stemforge_version": __version__,
        "max_duration_s": max_duration_s,
        **result.to_dict(),
    }
    write_json_atomic(meta_path, meta)
    return result


# --- prediction -------------------------------------------------------------------------


@dataclass(frozen=True)
class GenreModel:
    """A loaded classifier and its metadata (see :func:`load_genre_model`)."""

    pipeline: object
    genres: tuple[str, ...]
    metadata: dict


_CACHE: dict[tuple[str, int, int], GenreModel] = {}  # the last model loaded


def is_trained() -> bool:
    """Whether a genre classifier has been saved."""
    return (model_dir() / MODEL_FILE).is_file() and (model_dir() / METADATA_FILE).is_file()


def load_genre_model() -> GenreModel:
    """The saved classifier; :class:`GenreModelNotTrainedError` if there is none."""
    model_path, meta_path = model_dir() / MODEL_FILE, model_dir() / METADATA_FILE
    if not is_trained():
        raise GenreModelNotTrainedError(
            f"no genre classifier has been trained yet (looked in {model_dir()}).",
            hint=(
                f"Train one on your own labelled tracks with `{TRAIN_COMMAND}` "
                "(one sub-folder per genre, at least 3 files each), or pass the genre "
                "explicitly with --genre."
            ),
        )
    key = (str(model_path), model_path.stat().st_mtime_ns, meta_path.stat().st_mtime_ns)
    if key in _CACHE:
        return _CACHE[key]
    retrain = f"Train it again with `{TRAIN_COMMAND}`."
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        genres = tuple(str(g) for g in metadata["genres"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GenreModelError(
            f"the classifier's metadata is unreadable ({exc}).", path=meta_path, hint=retrain
        ) from exc
    if metadata.get("format") != METADATA_FORMAT:
        raise GenreModelError("not a stemforge genre model.", path=meta_path, hint=retrain)
    if metadata.get("feature_version") != FEATURE_VERSION:
        raise GenreModelError(
            "the classifier was trained on the features of another stemforge version.",
            path=model_path,
            hint=retrain,
        )
    _require_sklearn()
    import joblib

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn's version warning: checked below by use
            stored = joblib.load(model_path)
        pipeline = stored["pipeline"]
        if stored.get("feature_version") != FEATURE_VERSION or not hasattr(
            pipeline, "predict_proba"
        ):
            raise ValueError("not a stemforge genre classifier")
    except Exception as exc:  # a pickle can fail in many ways
        raise GenreModelError(
            f"the classifier file is unreadable ({type(exc).__name__}: {exc}).",
            path=model_path,
            hint=retrain,
        ) from exc
    model = GenreModel(pipeline, genres, metadata)
    _CACHE.clear()
    _CACHE[key] = model
    return model


@dataclass(frozen=True)
class GenreScore(Result):
    genre: str
    probability: float


@dataclass(frozen=True)
class GenrePrediction(Result):
    """The most likely genre, its probability and every genre ranked.

    ``model_cv_accuracy`` is the trained model's cross-validated accuracy, a guide to
    how far to trust the prediction.
    """

    genre: str
    probability: float
    ranking: tuple[GenreScore, ...]
    model_cv_accuracy: float | None


def predict_genre(source: Audio | str | Path) -> GenrePrediction:
    """Predict the genre of an :class:`Audio` or a file with the user's trained model.

    Raises :class:`GenreModelNotTrainedError` (with the command to train one) when no
    model has been trained.
    """
    model = load_genre_model()
    max_s = float(model.metadata.get("max_duration_s", DEFAULT_MAX_DURATION_S))
    if isinstance(source, Audio):
        feats = genre_features(source, max_duration_s=max_s)
    else:
        feats = file_features(source, max_duration_s=max_s)
    x = np.asarray([[feats[k] for k in FEATURE_NAMES]], np.float64)
    try:
        proba = model.pipeline.predict_proba(x)[0]
    except Exception as exc:
        raise GenreModelError(
            f"the classifier could not predict ({type(exc).__name__}: {exc}).",
            hint=f"Train it again with `{TRAIN_COMMAND}`.",
        ) from exc
    order = np.argsort(-proba, kind="stable")
    ranking = tuple(GenreScore(model.genres[i], float(proba[i])) for i in order)
    cv = model.metadata.get("cv_accuracy")
    return GenrePrediction(
        ranking[0].genre, ranking[0].probability, ranking, None if cv is None else float(cv)
    )


def resolve_genre(
    audio: Audio, explicit: str | None = None, *, min_probability: float = 0.0
) -> tuple[str | None, str]:
    """The genre to use for ``audio`` and how it was chosen.

    Returns ``(genre, "explicit")`` when ``explicit`` is given (it always wins; it must
    name a genre profile, one of its aliases, or a genre of the trained model),
    ``(genre, "predicted")`` from the trained classifier when its probability is at
    least ``min_probability``, else ``(None, "none")``. A genre that matches a profile
    of :mod:`stemforge.advice.targets` (also by alias) is returned as the profile name;
    other trained labels are returned as they are. A saved but broken model raises
    :class:`GenreModelError`.
    """
    if explicit is not None and str(explicit).strip():
        profile = canonical_genre(explicit)
        if profile is not None:
            return profile, "explicit"
        trained = load_genre_model().genres if is_trained() else ()
        for label in trained:
            if label.strip().lower() == str(explicit).strip().lower():
                return label, "explicit"
        raise UnknownGenreError(
            f"unknown genre {explicit!r}.",
            hint=f"Use one of: {', '.join((*GENRES, *trained))}.",
        )
    if not is_trained():
        return None, "none"
    prediction = predict_genre(audio)
    if prediction.probability < min_probability:
        return None, "none"
    return canonical_genre(prediction.genre) or prediction.genre, "predicted"
