"""Training the gain CNN on multitracks with their mixes (``stemforge train-gain DATASET``).

**Dataset layout** (:func:`find_songs`): ``DATASET`` is a folder of songs, each a folder
holding its mix, a file named ``mix.*`` or ``mixture.*`` (any audio format stemforge
reads), and its stems, either in a ``stems/`` sub-folder or as the other audio files
beside the mix (the MUSDB18 layout: ``mixture.wav``, ``drums.wav``, ``bass.wav``, ...).
A ``DATASET`` that itself holds a mix is one song. Stems must be aligned with the mix
(starting at its first sample) and last as long, within :data:`LENGTH_TOLERANCE_S`.

**Targets** (:func:`fit_gains`): the gain each stem had in the mix, found by least
squares, ``mix ~= sum_i g_i stem_i``:

- ``"time"``: on the aligned samples of all channels, by the normal equations
  ``(S^T S) g = S^T m`` (accumulated in float64, block by block). When the mix is the
  sum of the stems through faders only, as in a bounce of the stems or a dataset built
  from them, this recovers the faders exactly (the residual is the noise of the files);
- ``"stft"``: on STFT powers, ``|M|^2 ~= sum_i g_i^2 |S_i|^2`` with ``g >= 0``, the
  power of 2048-point Hann frames (hop 1024) summed in third-octave bands. A mix that
  was processed after the faders (bus EQ, compression, limiting, a lossy encoding, a
  small delay) no longer equals any weighted sum of the stems sample by sample, and
  its phase changes make the time-domain fit shrink the gains towards zero; powers
  ignore phase. Powers rather than magnitudes, because the powers of independent
  stems add in expectation where magnitudes do not (``|a + b| <= |a| + |b|``: a
  magnitude fit came out 1 to 8 dB low on the demo songs). The fit is non-negative
  least squares, reweighted eight times by the fitted power so that every band and
  frame counts by its relative error and quiet stems are not drowned by loud cells.
  On demo songs whose mix was delayed 60 samples and passed through an all-pass
  filter it lands within about 1 dB of the true gains (most stems within 0.5 dB),
  where the time-domain fit is off by 15 to 90 dB;
- ``"auto"`` (the default): the time-domain fit, unless it leaves a residual above
  :data:`MAX_TIME_RESIDUAL_DB` (it explains less than 99 % of the mix's energy), in
  which case the mix was processed and the magnitude fit is used.

Gains are clamped to at least :data:`MIN_GAIN` (-80 dB; a negative gain, a stem used
upside down or not at all, is clamped and reported), and ``gain_db = 20 log10 g``. The
relative residual ``10 log10(|m - S g|^2 / |m|^2)`` is reported per song.

**Training** (:func:`train_gain_model`): songs are split into training and validation
sets by song (never by stem, so the validation songs are unheard); the CNN of
:mod:`stemforge.mixing.cnn` learns the gains in dB (Huber loss, Adam) with early
stopping on the validation loss; the best epoch's weights are saved atomically to the
model folder.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stemforge.audio.io import AUDIO_SUFFIXES, load
from stemforge.audio.signal import Audio
from stemforge.audio.stems import stem_names
from stemforge.errors import StemforgeError
from stemforge.mixing.cnn import (
    CNNConfig,
    build_model,
    save_model,
    stem_inputs,
)
from stemforge.mixing.features import stem_level_db
from stemforge.mixing.gain import stem_type
from stemforge.progress import ProgressCallback, no_progress
from stemforge.results import Result

__all__ = [
    "GainDatasetError",
    "GainFit",
    "GainTrainingError",
    "SongFiles",
    "TrainingReport",
    "find_songs",
    "fit_gains",
    "read_song",
    "train_gain_model",
]

MIX_NAMES = ("mix", "mixture")
#: Stems may differ from the mix in length by at most this much (encoder padding).
LENGTH_TOLERANCE_S = 0.01
#: The smallest gain a fit gives (-80 dB).
MIN_GAIN = 1e-4
#: A time-domain fit worse than this (relative residual) means the mix was processed.
MAX_TIME_RESIDUAL_DB = -20.0
_BLOCK_FRAMES = 1 << 18
_STFT_N_FFT = 2048
_STFT_HOP = 1024
_REWEIGHTINGS = 8


class GainDatasetError(StemforgeError):
    """A training dataset is not laid out as ``train-gain`` needs."""


class GainTrainingError(StemforgeError):
    """Training cannot run on this dataset (too few songs or usable stems)."""


# --- the dataset --------------------------------------------------------------------------


@dataclass(frozen=True)
class SongFiles(Result):
    """One song of a dataset: its folder, its mix file and its stem files by name."""

    name: str
    folder: str
    mix: str
    stems: dict[str, str]


def _audio_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in AUDIO_SUFFIXES
    )


def _song_files(folder: Path) -> SongFiles:
    files = _audio_files(folder)
    mixes = [p for p in files if p.stem.lower() in MIX_NAMES]
    if not mixes:
        raise GainDatasetError(
            "this song has no mix file.",
            path=folder,
            hint="Put the song's mix beside its stems as mix.wav or mixture.wav (any audio "
            "format), with the stems in a stems/ sub-folder or beside it.",
        )
    if len(mixes) > 1:
        raise GainDatasetError(
            f"this song has {len(mixes)} mix files ({', '.join(p.name for p in mixes)}).",
            path=folder,
            hint="Keep one mix.* or mixture.* file per song.",
        )
    stem_folder = folder / "stems"
    stem_files = (
        _audio_files(stem_folder) if stem_folder.is_dir() else [p for p in files if p != mixes[0]]
    )
    if not stem_files:
        where = stem_folder if stem_folder.is_dir() else folder
        raise GainDatasetError(
            "this song has a mix but no stems.",
            path=where,
            hint="Put the stems as audio files in a stems/ sub-folder or beside the mix.",
        )
    names = stem_names(stem_files)
    return SongFiles(
        name=folder.name,
        folder=str(folder),
        mix=str(mixes[0]),
        stems={n: str(p) for n, p in zip(names, stem_files, strict=True)},
    )


def find_songs(dataset: str | Path) -> list[SongFiles]:
    """The songs of a dataset folder (see the module docstring), sorted by folder name."""
    root = Path(dataset)
    if not root.is_dir():
        raise GainDatasetError(
            "no such dataset folder." if not root.exists() else "the dataset is not a folder.",
            path=root,
            hint="Give a folder of songs, each a folder with mix.* and its stems.",
        )
    if any(p.stem.lower() in MIX_NAMES for p in _audio_files(root)):
        return [_song_files(root)]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise GainDatasetError(
            "the dataset folder holds no song folders.",
            path=root,
            hint="Make one folder per song, each with mix.* and its stems (stems/*.wav).",
        )
    return [_song_files(f) for f in folders]


def read_song(song: SongFiles) -> tuple[dict[str, Audio], Audio]:
    """Load a song's stems and mix at the mix's rate, mono or stereo as the mix, equally long.

    Stems up to :data:`LENGTH_TOLERANCE_S` shorter or longer than the mix are padded or
    cut to its length; a larger difference is an error (they are not aligned).
    """
    mix = load(song.mix)
    channels = 1 if mix.channels == 1 else 2
    mix = mix.to_channels(channels)
    rate, frames = mix.sample_rate, mix.frames
    tolerance = round(LENGTH_TOLERANCE_S * rate)
    stems: dict[str, Audio] = {}
    for name, path in song.stems.items():
        audio = load(path, sample_rate=rate)
        if abs(audio.frames - frames) > tolerance:
            raise GainDatasetError(
                f"stem {name!r} lasts {audio.frames / rate:.3f} s but the mix lasts "
                f"{frames / rate:.3f} s; stems and mix must be aligned and equally long.",
                path=path,
                hint="Export every stem from the start to the end of the song, like the mix.",
            )
        samples = audio.to_channels(channels).samples
        if samples.shape[1] < frames:
            samples = np.pad(samples, ((0, 0), (0, frames - samples.shape[1])))
        stems[name] = Audio(samples[:, :frames], rate)
    return stems, mix


# --- least squares ------------------------------------------------------------------------


@dataclass(frozen=True)
class GainFit(Result):
    """The gains of stems in a mix by least squares (see :func:`fit_gains`).

    ``gains_db[name]`` is ``None`` for a silent stem (it has no gain to find);
    ``clamped`` names stems whose gain came out below :data:`MIN_GAIN` (or negative).
    ``residual_db`` is the energy left unexplained relative to the mix's, and
    ``time_residual_db`` that of the time-domain fit (also when the STFT fit was used).
    """

    gains: dict[str, float]
    gains_db: dict[str, float | None]
    residual_db: float
    method: str
    time_residual_db: float
    clamped: tuple[str, ...]
    silent: tuple[str, ...]


def _samples(value: Audio | np.ndarray) -> np.ndarray:
    arr = value.samples if isinstance(value, Audio) else np.asarray(value, dtype=np.float64)
    return arr[None, :] if arr.ndim == 1 else arr


def _db10(ratio: float) -> float:
    return 10.0 * math.log10(ratio) if ratio > 0 else -math.inf


def fit_gains(
    stems: Mapping[str, Audio | np.ndarray],
    mix: Audio | np.ndarray,
    *,
    method: str = "auto",
    max_time_residual_db: float = MAX_TIME_RESIDUAL_DB,
    sample_rate: int | None = None,
) -> GainFit:
    """Least-squares gains of ``stems`` in ``mix`` (same shape ``(channels, frames)``).

    ``method``: "time", "stft" or "auto" (see the module docstring). ``sample_rate``
    places the STFT fit's bands for numpy input (default: the mix's rate, else 44.1 kHz).

    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.standard_normal((2, 1, 4800))
    >>> fit = fit_gains({"a": a, "b": b}, 0.5 * a + 2.0 * b)
    >>> round(fit.gains_db["a"], 3), round(fit.gains_db["b"], 3)
    (-6.021, 6.021)
    """
    if method not in ("auto", "time", "stft"):
        raise StemforgeError(f"method must be 'auto', 'time' or 'stft', got {method!r}.")
    if not stems:
        raise GainDatasetError("no stems to fit.")
    rate = mix.sample_rate if isinstance(mix, Audio) else int(sample_rate or 44100)
    m = _samples(mix)
    names = list(stems)
    arrays = [_samples(stems[n]) for n in names]
    for name, arr in zip(names, arrays, strict=True):
        if arr.shape != m.shape:
            raise GainDatasetError(
                f"stem {name!r} is shaped {arr.shape} but the mix {m.shape} (channels, frames).",
                hint="Load stems and mix with read_song(), which aligns them.",
            )
    mix_energy = float(np.sum(m.astype(np.float64) ** 2))
    if mix_energy == 0:
        raise GainDatasetError("the mix is silent; there are no gains to find.")
    energies = [float(np.sum(a.astype(np.float64) ** 2)) for a in arrays]
    silent = tuple(n for n, e in zip(names, energies, strict=True) if e == 0)
    active = [i for i, n in enumerate(names) if n not in silent]

    g_time, res_time = _fit_time([arrays[i] for i in active], m, mix_energy)
    use = method
    if method == "auto":
        use = "time" if res_time <= max_time_residual_db else "stft"
    if use == "time":
        g, residual = g_time, res_time
    else:
        g, residual = _fit_stft([arrays[i] for i in active], m, rate)

    gains: dict[str, float] = {}
    gains_db: dict[str, float | None] = {}
    clamped = []
    values = dict(zip([names[i] for i in active], g, strict=True))
    for name in names:
        if name in silent:
            gains[name], gains_db[name] = 0.0, None
            continue
        value = float(values[name])
        if value < MIN_GAIN:
            clamped.append(name)
            value = MIN_GAIN
        gains[name], gains_db[name] = value, 20.0 * math.log10(value)
    return GainFit(
        gains=gains,
        gains_db=gains_db,
        residual_db=residual,
        method=use,
        time_residual_db=res_time,
        clamped=tuple(clamped),
        silent=silent,
    )


def _fit_time(arrays: list[np.ndarray], m: np.ndarray, mix_energy: float):
    k = len(arrays)
    if k == 0:
        return np.zeros(0), 0.0
    gram = np.zeros((k, k))
    rhs = np.zeros(k)
    frames = m.shape[1]
    for start in range(0, frames, _BLOCK_FRAMES):
        block = np.stack([a[:, start : start + _BLOCK_FRAMES].ravel() for a in arrays]).astype(
            np.float64
        )
        target = m[:, start : start + _BLOCK_FRAMES].ravel().astype(np.float64)
        gram += block @ block.T
        rhs += block @ target
    g = np.linalg.lstsq(gram, rhs, rcond=None)[0]
    residual = 0.0
    for start in range(0, frames, _BLOCK_FRAMES):
        approx = sum(
            gi * a[:, start : start + _BLOCK_FRAMES].astype(np.float64)
            for gi, a in zip(g, arrays, strict=True)
        )
        diff = m[:, start : start + _BLOCK_FRAMES] - approx
        residual += float(np.sum(diff * diff))
    return g, _db10(residual / mix_energy)


def _band_index(sample_rate: int) -> tuple[np.ndarray, int]:
    """The band of each STFT bin: below 50 Hz, then third octaves up to Nyquist."""
    freqs = np.fft.rfftfreq(_STFT_N_FFT, 1.0 / sample_rate)
    edges = [0.0, 50.0]
    while edges[-1] * 2 ** (1 / 3) < sample_rate / 2:
        edges.append(edges[-1] * 2 ** (1 / 3))
    index = np.searchsorted(np.asarray(edges), freqs, side="right") - 1
    return index, len(edges)


def _band_powers(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """STFT power summed in bands, per channel, frame and band, flattened (float64)."""
    index, n_bands = _band_index(sample_rate)
    window = np.hanning(_STFT_N_FFT + 1)[:-1]
    n_frames = max(1, 1 + (x.shape[1] - 1) // _STFT_HOP)
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, _STFT_N_FFT)))
    bands = np.zeros((index.size, n_bands))
    bands[np.arange(index.size), index] = 1.0
    out = np.zeros((x.shape[0], n_frames, n_bands))
    step = 256  # frames per block: bounded memory on long songs
    for start in range(0, n_frames, step):
        count = min(step, n_frames - start)
        idx = (start + np.arange(count))[:, None] * _STFT_HOP + np.arange(_STFT_N_FFT)[None, :]
        power = np.abs(np.fft.rfft(padded[:, idx] * window, axis=-1)) ** 2
        out[:, start : start + count] = power @ bands
    return out.ravel()


def _fit_stft(arrays: list[np.ndarray], m: np.ndarray, sample_rate: int):
    """Gains from band powers: ``P_mix ~= sum_i w_i P_i``, ``w >= 0``, ``g = sqrt(w)``.

    Powers of independent sources add in expectation (the cross terms average out over
    the bins of a band), so unlike a fit of magnitudes this is not biased low where
    stems overlap. An ordinary non-negative least-squares fit is dominated by the
    loudest cells and leaves quiet stems unsettled, so it only starts an iteratively
    reweighted fit of the relative error, each cell weighted by 1 / (the fitted power
    there).
    """
    import scipy.optimize

    k = len(arrays)
    if k == 0:
        return np.zeros(0), 0.0
    target = _band_powers(m, sample_rate)
    keep = target > 1e-12 * target.max()
    basis = np.stack([_band_powers(a, sample_rate)[keep] for a in arrays])
    target = target[keep]
    w, _ = scipy.optimize.nnls(basis.T, target)
    floor = 1e-9 * target.max()
    for _ in range(_REWEIGHTINGS):
        weight = 1.0 / np.maximum(w @ basis, floor)
        w, _ = scipy.optimize.nnls((basis * weight).T, target * weight)
    residual = float(np.sum((target - w @ basis) ** 2)) / float(np.sum(target**2))
    return np.sqrt(w), _db10(residual)


# --- training -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SongFit(Result):
    """A song's least-squares fit as the training report shows it."""

    name: str
    method: str
    residual_db: float
    gains_db: dict[str, float | None]
    used: tuple[str, ...]


@dataclass(frozen=True)
class TrainingReport(Result):
    """What :func:`train_gain_model` did.

    ``train_losses`` and ``validation_losses`` (Huber, dB) per epoch;
    ``validation_mae_db`` is the mean absolute error of the saved (best) model's gains on
    the validation songs' stems, ``baseline_mae_db`` that of always predicting the
    training songs' mean gain (a model should beat it).
    """

    n_songs: int
    n_train_songs: int
    n_validation_songs: int
    validation_songs: tuple[str, ...]
    n_stems: int
    n_examples: int
    epochs: int
    best_epoch: int
    stopped_early: bool
    train_losses: tuple[float, ...]
    validation_losses: tuple[float, ...]
    validation_mae_db: float
    baseline_mae_db: float
    songs: tuple[SongFit, ...]
    skipped: tuple[str, ...]
    model_path: str | None
    metadata_path: str | None
    seconds: float


@dataclass
class _Stem:
    song: str
    name: str
    mel: np.ndarray
    side: np.ndarray
    target_db: float


def _examples(
    songs: Sequence[SongFiles],
    config: CNNConfig,
    fit_method: str,
    progress: ProgressCallback,
) -> tuple[list[_Stem], list[SongFit], list[str]]:
    stems_out: list[_Stem] = []
    fits: list[SongFit] = []
    skipped: list[str] = []
    for i, song in enumerate(songs):
        progress(f"reading {song.name}", i / max(1, len(songs)))
        stems, mix = read_song(song)
        fit = fit_gains(stems, mix, method=fit_method)
        measured = {n: stem_level_db(a, measure=config.loudness_measure) for n, a in stems.items()}
        levels = {n: level for n, (level, _) in measured.items()}
        audible = [levels[n] for n, (_, silent) in measured.items() if not silent]
        reference = float(np.mean(audible)) if audible else -math.inf
        used = []
        for name, audio in stems.items():
            gain_db = fit.gains_db[name]
            if gain_db is None or measured[name][1]:
                skipped.append(f"{song.name}/{name}: silent")
                continue
            if name in fit.clamped:
                skipped.append(f"{song.name}/{name}: not found in the mix (gain <= -80 dB)")
                continue
            mel, side = stem_inputs(audio, stem_type(name), levels[name], reference, config)
            stems_out.append(_Stem(song.name, name, mel, side, float(gain_db)))
            used.append(name)
        fits.append(SongFit(song.name, fit.method, fit.residual_db, fit.gains_db, tuple(used)))
    return stems_out, fits, skipped


def _tensors(torch, items: list[_Stem]):
    mel = torch.from_numpy(np.concatenate([s.mel for s in items])[:, None])
    side = torch.from_numpy(np.concatenate([s.side for s in items]))
    target = torch.from_numpy(
        np.concatenate([np.full(s.mel.shape[0], s.target_db, np.float32) for s in items])
    )
    return mel, side, target


def _stem_mae(torch, model, items: list[_Stem]) -> float:
    errors = []
    with torch.no_grad():
        for s in items:
            out = model(torch.from_numpy(s.mel[:, None]), torch.from_numpy(s.side))
            errors.append(abs(float(out.double().mean()) - s.target_db))
    return float(np.mean(errors)) if errors else math.nan


def _train_loop(
    torch,
    model,
    train_items,
    val_items,
    epochs,
    patience,
    learning_rate,
    batch_size,
    seed,
    progress,
):
    """Adam on the Huber loss (dB) with early stopping; leaves the best epoch's weights in
    ``model``. Returns the losses per epoch, the best epoch and whether it stopped early."""
    loss_fn = torch.nn.HuberLoss(delta=3.0)
    x_mel, x_side, y = _tensors(torch, train_items)
    v_mel, v_side, v_y = _tensors(torch, val_items)
    train_losses: list[float] = []
    val_losses: list[float] = []
    best_loss, best_epoch, best_state = math.inf, 0, None
    stopped_early = False
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        n = y.shape[0]
        for epoch in range(1, epochs + 1):
            model.train()
            perm = torch.randperm(n)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = perm[start : start + batch_size]
                optimizer.zero_grad()
                loss = loss_fn(model(x_mel[idx], x_side[idx]), y[idx])
                loss.backward()
                optimizer.step()
                total += loss.item() * idx.numel()
            train_losses.append(total / n)
            model.eval()
            with torch.no_grad():
                val_losses.append(float(loss_fn(model(v_mel, v_side), v_y)))
            if val_losses[-1] < best_loss - 1e-6:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best_loss, best_epoch = val_losses[-1], epoch
            progress("training", epoch / epochs)
            if epoch - best_epoch >= patience:
                stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return tuple(train_losses), tuple(val_losses), best_epoch, stopped_early


def train_gain_model(
    dataset: str | Path,
    *,
    epochs: int = 100,
    out: str | Path | None = None,
    save: bool = True,
    validation_fraction: float = 0.2,
    patience: int = 15,
    learning_rate: float = 3e-3,
    batch_size: int = 32,
    config: CNNConfig | None = None,
    fit_method: str = "auto",
    seed: int = 0,
    num_threads: int | None = None,
    progress: ProgressCallback = no_progress,
) -> TrainingReport:
    """Train the gain CNN on ``dataset`` (see the module docstring) and save it.

    ``out``: the folder to save ``gain_cnn.pt``/``gain_cnn.json`` in (default: the model
    folder, where :class:`~stemforge.mixing.cnn.CNNGainPredictor` looks).
    ``validation_fraction`` of the songs (at least one) are held out; training stops
    after ``patience`` epochs without a better validation loss. Deterministic for a
    given ``seed``. ``num_threads`` sets torch's intra-op threads while training (and
    restores them after): a small network trains fastest on one thread on a busy
    machine, where waiting threads cost more than they add.
    """
    from stemforge.mixing.cnn import _torch

    started = time.perf_counter()
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise GainTrainingError(f"epochs must be a whole number of 1 or more, got {epochs!r}.")
    if not 0 < validation_fraction < 1:
        raise GainTrainingError(
            f"validation_fraction must lie between 0 and 1, got {validation_fraction!r}."
        )
    config = config or CNNConfig()
    songs = find_songs(dataset)
    if len(songs) < 2:
        raise GainTrainingError(
            f"the dataset holds {len(songs)} song; training needs at least 2 (one is held "
            "out to check the model on music it has not heard).",
            path=dataset,
            hint="Add more songs, each a folder with mix.* and its stems.",
        )
    torch = _torch()
    items, fits, skipped = _examples(songs, config, fit_method, progress)

    rng = np.random.default_rng(seed)
    order = [songs[i].name for i in rng.permutation(len(songs))]
    n_val = min(len(songs) - 1, max(1, round(validation_fraction * len(songs))))
    val_songs = set(order[:n_val])
    train_items = [s for s in items if s.song not in val_songs]
    val_items = [s for s in items if s.song in val_songs]
    if not train_items or not val_items:
        raise GainTrainingError(
            "too few usable stems to train and validate (silent stems and stems missing "
            "from their mix are left out).",
            path=dataset,
            hint="Check that each mix contains its stems.",
        )

    model = build_model(config, seed=seed)
    threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    try:
        train_losses, val_losses, best_epoch, stopped_early = _train_loop(
            torch,
            model,
            train_items,
            val_items,
            epochs,
            patience,
            learning_rate,
            batch_size,
            seed,
            progress,
        )
        val_mae = _stem_mae(torch, model, val_items)
    finally:
        torch.set_num_threads(threads)
    mean_target = float(np.mean([s.target_db for s in train_items]))
    baseline_mae = float(np.mean([abs(s.target_db - mean_target) for s in val_items]))

    report = TrainingReport(
        n_songs=len(songs),
        n_train_songs=len(songs) - n_val,
        n_validation_songs=n_val,
        validation_songs=tuple(sorted(val_songs)),
        n_stems=len(items),
        n_examples=int(sum(s.mel.shape[0] for s in items)),
        epochs=len(train_losses),
        best_epoch=best_epoch,
        stopped_early=stopped_early,
        train_losses=tuple(train_losses),
        validation_losses=tuple(val_losses),
        validation_mae_db=val_mae,
        baseline_mae_db=baseline_mae,
        songs=tuple(fits),
        skipped=tuple(skipped),
        model_path=None,
        metadata_path=None,
        seconds=time.perf_counter() - started,
    )
    if save:
        info: dict[str, Any] = {
            "n_songs": report.n_songs,
            "epochs": report.epochs,
            "best_epoch": report.best_epoch,
            "validation_mae_db": report.validation_mae_db,
            "baseline_mae_db": report.baseline_mae_db,
            "dataset": str(Path(dataset).resolve()),
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        model_path, meta_path = save_model(model, config, out, info=info)
        import dataclasses

        report = dataclasses.replace(
            report, model_path=str(model_path), metadata_path=str(meta_path)
        )
    progress("done", 1.0)
    return report


# --- a synthetic dataset with known gains ---------------------------------------------------


def write_demo_dataset(
    folder: str | Path,
    *,
    n_songs: int = 8,
    seed: int = 0,
    sample_rate: int = 22050,
    bars: int = 2,
    max_gain_db: float = 9.0,
) -> dict[str, dict[str, float]]:
    """Write a training dataset whose target gains are known: returns them by song and stem.

    Each song is a :func:`stemforge.demo.generate_song` (seed ``seed + i``, ``bars`` bars
    of verse). Its mix is saved as it is (``mix.wav``); each stem is saved with a random
    level change of -``max_gain_db``..+``max_gain_db`` dB (``stems/<name>.wav``, 32-bit
    float so nothing clips), so the gain that brings it back into the mix is that change
    with its sign turned, which :func:`fit_gains` must find and the CNN learn.
    """
    from stemforge.audio.io import save
    from stemforge.demo import generate_song

    root = Path(folder)
    rng = np.random.default_rng(seed)
    planted: dict[str, dict[str, float]] = {}
    for i in range(n_songs):
        song = generate_song(
            sections=[("verse", bars)], seed=seed + i, sample_rate=sample_rate, reverb=False
        )
        name = f"song{i:02d}"
        stems_dir = root / name / "stems"
        stems_dir.mkdir(parents=True, exist_ok=True)
        save(root / name / "mix.wav", song.mix, bit_depth=32)
        planted[name] = {}
        for stem, audio in song.stems.items():
            gain_db = float(rng.uniform(-max_gain_db, max_gain_db))
            save(stems_dir / f"{stem}.wav", audio.apply_gain_db(-gain_db), bit_depth=32)
            planted[name][stem] = gain_db
    return planted
