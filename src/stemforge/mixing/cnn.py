"""A trainable gain predictor: a small CNN on log-mel spectrograms (source document 001).

:class:`CNNGainPredictor` predicts each stem's gain in dB with a convolutional network
trained on the user's own multitracks (``stemforge train-gain DATASET``, see
:mod:`stemforge.mixing.train`). No model ships with stemforge: without a trained
model in the model folder the predictor says so once and falls back to the rules of
:class:`~stemforge.mixing.gain.GainPredictor`, giving exactly their numbers.

Input per stem (:func:`stem_inputs`): the stem is summed to mono and resampled to
``sample_rate`` (22.05 kHz); its ``excerpts_per_stem`` (4) loudest non-overlapping
windows of ``excerpt_s`` (3) seconds become log-mel spectrograms (``n_mels`` 48,
``n_fft`` 1024, ``hop_length`` 512; power in dB, not normalised, so the network hears
the stem's level). Beside them go the stem type as a one-hot code over
:data:`~stemforge.mixing.gain.STEM_TYPES` and two numbers, the stem's level (BS.1770
LUFS, or RMS dBFS) and its distance from the mean level of the stems, which is the
context a fader decision needs. The stem's gain is the mean of the network's outputs
over its excerpts, clamped to :data:`CNN_GAIN_RANGE_DB`.

Network (:func:`build_model`): three 3x3 convolutions with ReLU (two followed by 2x2
max pooling, the last by global average pooling) -> a two-layer head over the pooled
features, the one-hot code and the two levels, plus a linear path from the code and
levels to the output.

Files in the model folder (:func:`stemforge.config.models_dir`): ``gain_cnn.pt`` (the
``state_dict``, read with ``torch.load(weights_only=True)``, so no code is unpickled)
and ``gain_cnn.json`` (format, version, the input settings above, the stem types, the
SHA-256 of the weights, and how the model was trained). Inference runs on the CPU in
eval mode under a fixed seed, so the same stems give the same gains.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stemforge import config as sf_config
from stemforge.audio.signal import Audio
from stemforge.errors import ModelNotInstalledError, StemforgeError
from stemforge.mixing.features import StemFeatures
from stemforge.mixing.gain import (
    STEM_TYPES,
    GainPrediction,
    GainPredictor,
    as_audio_dict,
)
from stemforge.optional import require_module
from stemforge.results import Result

__all__ = [
    "CNN_GAIN_RANGE_DB",
    "METADATA_FILE",
    "MODEL_FILE",
    "CNNConfig",
    "CNNGainPredictor",
    "GainModelError",
    "build_model",
    "load_model",
    "save_model",
    "stem_inputs",
]

log = logging.getLogger(__name__)

MODEL_FILE = "gain_cnn.pt"
METADATA_FILE = "gain_cnn.json"
METADATA_FORMAT = "stemforge-gain-cnn"
#: Bumped whenever the inputs or the network change: older models are refused.
MODEL_VERSION = 1
TRAIN_COMMAND = "stemforge train-gain DATASET"
#: Lowest and highest gain the CNN gives (wider than the rules: it learns real mixes).
CNN_GAIN_RANGE_DB = (-24.0, 12.0)
_LEVEL_FLOOR_DB = -100.0
_INFERENCE_SEED = 0


class GainModelError(StemforgeError):
    """The saved gain model is unreadable, damaged, or made for another stemforge."""

    http_status = 500


def _torch():
    return require_module(
        "torch",
        "the CNN gain predictor needs PyTorch, which is not installed.",
        hint="Install it with `pip install 'stemforge[ml]'`, or use the rules (use_cnn=False).",
    )


@dataclass(frozen=True)
class CNNConfig(Result):
    """The input settings and size of a gain CNN (stored in ``gain_cnn.json``)."""

    sample_rate: int = 22050
    n_fft: int = 1024
    hop_length: int = 512
    n_mels: int = 48
    excerpt_s: float = 3.0
    excerpts_per_stem: int = 4
    channels: tuple[int, ...] = (8, 16, 24)
    hidden: int = 32
    stem_types: tuple[str, ...] = STEM_TYPES
    loudness_measure: str = "lufs"

    def __post_init__(self) -> None:
        problems = []
        if not 8000 <= int(self.sample_rate) <= 192_000:
            problems.append(f"sample_rate {self.sample_rate}")
        if self.excerpt_s <= 0 or self.excerpts_per_stem < 1:
            problems.append("excerpt_s and excerpts_per_stem must be positive")
        if self.n_mels < 8 or self.n_fft < 64 or self.hop_length < 1:
            problems.append(f"n_mels {self.n_mels}, n_fft {self.n_fft}, hop {self.hop_length}")
        if len(self.channels) != 3 or min(self.channels) < 1 or self.hidden < 1:
            problems.append(
                f"channels {self.channels} (three positive sizes), hidden {self.hidden}"
            )
        if self.loudness_measure not in ("lufs", "rms"):
            problems.append(f"loudness_measure {self.loudness_measure!r}")
        if problems:
            raise GainModelError(f"invalid CNN settings: {'; '.join(problems)}.")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "stem_types", tuple(self.stem_types))

    @property
    def excerpt_frames(self) -> int:
        return max(1, round(self.excerpt_s * self.sample_rate))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CNNConfig:
        names = {f for f in cls.__dataclass_fields__}
        return cls(
            **{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items() if k in names}
        )


# --- the network ------------------------------------------------------------------------


def build_model(config: CNNConfig, *, seed: int = 0):
    """A freshly initialised gain CNN (weights drawn under ``seed``)."""
    torch = _torch()
    nn = torch.nn

    class GainCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c1, c2, c3 = config.channels
            self.features = nn.Sequential(
                nn.Conv2d(1, c1, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(c1, c2, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(c2, c3, 3, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
            )
            side = len(config.stem_types) + 2
            self.head = nn.Sequential(
                nn.Linear(c3 + side, config.hidden), nn.ReLU(), nn.Linear(config.hidden, 1)
            )
            self.skip = nn.Linear(side, 1)

        def forward(self, mel, side):
            pooled = self.features(mel)
            return (self.head(torch.cat([pooled, side], dim=1)) + self.skip(side)).squeeze(1)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GainCNN()


# --- inputs -----------------------------------------------------------------------------


def _excerpt_starts(mono: np.ndarray, length: int, count: int) -> list[int]:
    """Starts of the ``count`` loudest non-overlapping windows of ``length`` samples."""
    n = mono.size
    if n <= length:
        return [0]
    starts = list(range(0, n - length + 1, length))
    if starts[-1] != n - length:
        starts.append(n - length)  # the end, overlapping the last full window
    power = np.concatenate([[0.0], np.cumsum(mono.astype(np.float64) ** 2)])
    energy = np.array([power[s + length] - power[s] for s in starts])
    order = np.argsort(-energy, kind="stable")
    chosen: list[int] = []
    for i in order:
        s = starts[i]
        if all(abs(s - c) >= length for c in chosen):
            chosen.append(s)
        if len(chosen) == count:
            break
    return sorted(chosen)


def log_mel_excerpts(audio: Audio, config: CNNConfig) -> np.ndarray:
    """The stem's loudest excerpts as log-mel power spectrograms in dB, scaled by 1/20:
    float32 shaped ``(excerpts, n_mels, frames)``."""
    import librosa

    mono = audio.to_mono()
    if mono.sample_rate != config.sample_rate:
        mono = mono.resample(config.sample_rate)
    y = mono.samples[0].astype(np.float64)
    length = config.excerpt_frames
    out = []
    for start in _excerpt_starts(y, length, config.excerpts_per_stem):
        seg = y[start : start + length]
        if seg.size < length:
            seg = np.pad(seg, (0, length - seg.size))
        mel = librosa.feature.melspectrogram(
            y=seg,
            sr=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            n_mels=config.n_mels,
            center=True,
        )
        db = 10.0 * np.log10(np.maximum(mel, 10 ** (_LEVEL_FLOOR_DB / 10)))
        out.append(db / 20.0)
    return np.stack(out).astype(np.float32)


def side_inputs(kind: str, level_db: float, reference_db: float, config: CNNConfig) -> np.ndarray:
    """The one-hot stem type, the level / 20 and the distance from the mean level / 10."""
    onehot = np.zeros(len(config.stem_types), np.float32)
    onehot[config.stem_types.index(kind) if kind in config.stem_types else -1] = 1.0
    level = max(level_db, _LEVEL_FLOOR_DB) if math.isfinite(level_db) else _LEVEL_FLOOR_DB
    ref = max(reference_db, _LEVEL_FLOOR_DB) if math.isfinite(reference_db) else level
    return np.concatenate([onehot, [level / 20.0, (level - ref) / 10.0]]).astype(np.float32)


def stem_inputs(
    audio: Audio, kind: str, level_db: float, reference_db: float, config: CNNConfig
) -> tuple[np.ndarray, np.ndarray]:
    """One stem's network inputs: log-mel excerpts ``(k, n_mels, frames)`` and side ``(k, s)``."""
    mel = log_mel_excerpts(audio, config)
    side = np.tile(side_inputs(kind, level_db, reference_db, config), (mel.shape[0], 1))
    return mel, side


# --- files ------------------------------------------------------------------------------


def default_model_path() -> Path:
    """``models_dir()/gain_cnn.pt``."""
    return sf_config.models_dir() / MODEL_FILE


def _paths(path: str | Path | None) -> tuple[Path, Path]:
    p = default_model_path() if path is None else Path(path)
    if p.is_dir():
        p = p / MODEL_FILE
    return p, p.with_suffix(".json")


def save_model(
    model, config: CNNConfig, folder: str | Path | None = None, *, info: Mapping | None = None
) -> tuple[Path, Path]:
    """Write ``gain_cnn.pt`` and ``gain_cnn.json`` into ``folder`` (default: the model
    folder), each atomically; returns both paths."""
    from stemforge import __version__
    from stemforge.output import write_bytes_atomic, write_json_atomic

    torch = _torch()
    target = Path(folder) if folder is not None else sf_config.models_dir(create=True)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GainModelError(
            f"cannot create the model folder ({exc.strerror or exc}).",
            path=target,
            hint=f"Choose a writable folder, or set {sf_config.HOME_ENV}.",
        ) from exc
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    weights = buffer.getvalue()
    model_path, meta_path = target / MODEL_FILE, target / METADATA_FILE
    meta = {
        "format": METADATA_FORMAT,
        "version": MODEL_VERSION,
        "stemforge_version": __version__,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "config": config.to_dict(),
        **({"training": dict(info)} if info else {}),
    }
    write_bytes_atomic(model_path, weights)
    write_json_atomic(meta_path, meta)
    return model_path, meta_path


def load_model(path: str | Path | None = None):
    """Load a saved gain CNN: ``(model, config, metadata)``.

    ``path`` is a ``.pt`` file or a folder holding ``gain_cnn.pt`` (default: the model
    folder). A missing file raises :class:`ModelNotInstalledError` with the command that
    trains one; a damaged or foreign one :class:`GainModelError`.
    """
    model_path, meta_path = _paths(path)
    if not model_path.is_file():
        raise ModelNotInstalledError(
            f"no trained gain model at {model_path}.",
            hint=f"Train one on your own multitracks with `{TRAIN_COMMAND}` (or copy a "
            f"trained {MODEL_FILE} and {METADATA_FILE} into {model_path.parent}).",
        )
    retrain = f"Train it again with `{TRAIN_COMMAND}`, or delete it to use the rules."
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(metadata, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        raise GainModelError(
            f"the model's metadata file {METADATA_FILE} is missing beside it.",
            path=model_path,
            hint=retrain,
        ) from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise GainModelError(
            f"the model's metadata is unreadable ({exc}).", path=meta_path, hint=retrain
        ) from None
    if metadata.get("format") != METADATA_FORMAT:
        raise GainModelError("not a stemforge gain model.", path=meta_path, hint=retrain)
    if metadata.get("version") != MODEL_VERSION:
        raise GainModelError(
            f"the model has version {metadata.get('version')!r}; this stemforge reads "
            f"version {MODEL_VERSION}.",
            path=meta_path,
            hint=retrain,
        )
    try:
        config = CNNConfig.from_dict(metadata["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GainModelError(
            f"the model's settings are unreadable ({exc}).", path=meta_path, hint=retrain
        ) from None
    if config.stem_types != STEM_TYPES:
        raise GainModelError(
            f"the model knows the stem types {list(config.stem_types)}, not {list(STEM_TYPES)}.",
            path=meta_path,
            hint=retrain,
        )
    weights = model_path.read_bytes()
    if hashlib.sha256(weights).hexdigest() != metadata.get("weights_sha256"):
        raise GainModelError(
            "the weights do not match their metadata (a damaged or replaced file).",
            path=model_path,
            hint=retrain,
        )
    torch = _torch()
    model = build_model(config)
    try:
        state = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # torch raises many types for a damaged file
        raise GainModelError(
            f"the weights are unreadable ({type(exc).__name__}: {exc}).",
            path=model_path,
            hint=retrain,
        ) from None
    model.eval()
    return model, config, metadata


# --- the predictor ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Loaded:
    model: Any
    config: CNNConfig
    metadata: dict = field(repr=False)
    path: Path


class CNNGainPredictor(GainPredictor):
    """Gain prediction by a trained CNN; the rules when no model is installed.

    ``model_path``: a ``gain_cnn.pt`` file or its folder (default: the model folder).
    ``verbose`` prints the one-line note when it falls back to the rules.

    >>> predictor = CNNGainPredictor()            # doctest: +SKIP
    >>> predictor.load()                          # False: no model, rules are used
    """

    method = "cnn"

    def __init__(
        self,
        sample_rate: int = 44100,
        *,
        model_path: str | Path | None = None,
        loudness_measure: str = "lufs",
        verbose: bool = True,
    ) -> None:
        super().__init__(sample_rate, loudness_measure=loudness_measure)
        self.model_path = model_path
        self.verbose = verbose
        self.fallback_note: str | None = None
        self._loaded: _Loaded | None = None
        self._tried = False

    @property
    def is_loaded(self) -> bool:
        return self._loaded is not None

    @property
    def config(self) -> CNNConfig | None:
        return self._loaded.config if self._loaded else None

    @property
    def metadata(self) -> dict | None:
        return self._loaded.metadata if self._loaded else None

    def load(self, path: str | Path | None = None) -> bool:
        """Load the model; ``True`` when loaded.

        With no ``path`` (and no ``model_path``) a missing model is not an error: the
        predictor notes it once (printed when ``verbose``, and logged) and uses the
        rules. A path given explicitly must exist (:class:`ModelNotInstalledError`);
        a damaged model raises :class:`GainModelError`.
        """
        self._tried = True
        explicit = path if path is not None else self.model_path
        try:
            model, config, metadata = load_model(explicit)
        except ModelNotInstalledError:
            if explicit is not None:
                raise
            self._loaded = None
            folder = default_model_path().parent
            self.fallback_note = (
                f"No trained gain model in {folder} ({MODEL_FILE}); using the rule-based "
                f"gain predictor. Train one on your own multitracks with `{TRAIN_COMMAND}`, "
                f"or copy a trained {MODEL_FILE} and {METADATA_FILE} into that folder."
            )
            log.info(self.fallback_note)
            if self.verbose:
                print(self.fallback_note)
            return False
        self._loaded = _Loaded(model, config, metadata, _paths(explicit)[0])
        self.fallback_note = None
        self.loudness_measure = config.loudness_measure
        return True

    def predict(self, stems: Any, *, verbose: bool = False) -> GainPrediction:
        """Gains by the CNN, or by the rules (with ``fallback_note``) when no model exists."""
        if not self._tried:
            self.load()
        audio = as_audio_dict(stems, self.sample_rate)
        features = {name: self.extract_features(a) for name, a in audio.items()}
        if self._loaded is None:
            prediction = self.predict_from_features(features)
            prediction = _replace(prediction, fallback_note=self.fallback_note)
        else:
            prediction = self._predict_cnn(audio, features)
        self.last_prediction = prediction
        if verbose:
            print(prediction.summary())
        return prediction

    def _predict_cnn(
        self, audio: Mapping[str, Audio], features: Mapping[str, StemFeatures]
    ) -> GainPrediction:
        torch = _torch()
        loaded = self._loaded
        assert loaded is not None
        cfg = loaded.config
        types, levels, reference = self._levels(features)
        trained = loaded.metadata.get("training", {})
        mae = trained.get("validation_mae_db")
        about = f"CNN model {loaded.path.name}" + (
            f" (validation MAE {mae:.2f} dB)" if isinstance(mae, (int, float)) else ""
        )
        low, high = CNN_GAIN_RANGE_DB
        gains: dict[str, float] = {}
        notes: dict[str, tuple[str, ...]] = {}
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(_INFERENCE_SEED)
            for name, a in audio.items():
                if features[name].silent:
                    gains[name], notes[name] = 0.0, ("Silent stem: left at 0 dB.",)
                    continue
                mel, side = stem_inputs(a, types[name], levels[name], reference, cfg)
                out = loaded.model(torch.from_numpy(mel[:, None]), torch.from_numpy(side))
                raw = float(out.double().mean())
                gain = min(max(raw, low), high)
                text = [f"{about}: {raw:+.2f} dB for this {types[name]} stem."]
                if gain != raw:
                    text.append(f"Clamped to the range {low:+.0f}..{high:+.0f} dB.")
                gains[name], notes[name] = gain + 0.0, tuple(text)
        return GainPrediction(
            gains_db=gains,
            stem_types=types,
            features=dict(features),
            levels_db=levels,
            reference_level_db=reference,
            notes=notes,
            method="cnn",
            loudness_measure=self.loudness_measure,
        )


def _replace(prediction: GainPrediction, **changes: Any) -> GainPrediction:
    import dataclasses

    return dataclasses.replace(prediction, **changes)
