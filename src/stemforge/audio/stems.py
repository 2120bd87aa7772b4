"""Stems: several signals brought to one sample rate, channel layout and length.

:func:`load_stems` reads a folder (or a list) of stem files, :func:`align_stems`
aligns signals already in memory. Both give a :class:`Stems`, whose ``notes`` say
what was done to each stem, so that a report can tell the user:

- **sample rate**: the most common rate among the stems (ties go to the higher
  rate) unless ``sample_rate`` is given; the others are resampled with soxr
  ("resampled 24000 -> 48000 Hz");
- **channels**: stereo if any stem has two or more channels, else mono; mono stems
  are duplicated ("mono duplicated to stereo"), multichannel stems folded down
  with :meth:`Audio.to_stereo` (ITU-R BS.775 weights);
- **length**: every stem starts at 0 s (or at its ``offsets_s`` entry, by zeros at
  the start) and is zero-padded at the end to the longest ("padded 1.2 s at the
  end"). Nothing is ever cut off.

A stem whose peak is below ``silence_dbfs`` (-90 dBFS) is kept and listed in
``silent`` ("silent (peak below -90 dBFS)"); the mix doctor reports it. Stems with
NaN or infinite samples, more than :data:`MAX_STEMS` stems, an empty folder or a
file that fails to decode are refused with a :class:`~stemforge.errors.StemforgeError`
naming the stem.

Names of stem files are the file names without the extension and without the
prefix all of them share, cut back to a separator (``_ - . space``): the
folder ``6.Caesium_Stem_KICK.m4a``, ``6.Caesium_Stem_VOX LEAD.m4a``, ... gives
``KICK``, ``VOX LEAD``, ... Duplicates get ``_2``, ``_3``.

Memory: all stems are held as float32; 16 stereo stems of 4 minutes at 48 kHz
take 1.4 GB.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemforge.audio.io import AUDIO_SUFFIXES, load
from stemforge.audio.io import info as audio_info
from stemforge.audio.signal import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, Audio
from stemforge.errors import (
    AudioFileNotFoundError,
    EmptyAudioError,
    InvalidAudioError,
    StemforgeError,
    UnsupportedFormatError,
)
from stemforge.results import Result

__all__ = ["MAX_STEMS", "Stems", "align_stems", "load_stems", "stem_names"]

#: The most stems one call takes (a large session exported track by track).
MAX_STEMS = 64

_SEPARATORS = "_-. "


@dataclass(frozen=True, eq=False)
class Stems(Result):
    """Aligned stems: one sample rate, one channel count, one length.

    ``names[i]`` names ``audio[i]``; ``notes[name]`` lists what was changed in that
    stem (empty when nothing was); ``silent`` names the silent stems; ``sources``
    holds the file each stem came from (``None`` for signals given in memory).
    ``to_dict()`` leaves the samples out.
    """

    names: tuple[str, ...]
    audio: tuple[Audio, ...] = field(repr=False)
    sample_rate: int
    channels: int
    frames: int
    notes: dict[str, tuple[str, ...]]
    silent: tuple[str, ...]
    sources: tuple[str | None, ...]

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, name: str) -> Audio:
        try:
            return self.audio[self.names.index(name)]
        except ValueError:
            raise KeyError(f"no stem named {name!r}; the stems are {list(self.names)}") from None

    def items(self) -> list[tuple[str, Audio]]:
        return list(zip(self.names, self.audio, strict=True))

    def mix(self) -> Audio:
        """The sum of all stems (float64 sum, float32 result; no gain, no limiting)."""
        total = np.zeros((self.channels, self.frames), np.float64)
        for a in self.audio:
            total += a.samples
        return Audio(total, self.sample_rate)


def stem_names(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Stem names from file names: without the extension and the shared prefix; unique.

    >>> stem_names(["6.Caesium_Stem_KICK.m4a", "6.Caesium_Stem_VOX LEAD.m4a"])
    ['KICK', 'VOX LEAD']
    """
    stems = [Path(p).stem for p in paths]
    prefix = os.path.commonprefix(stems) if len(stems) > 1 else ""  # noqa: RUF071 (characters)
    # Cut the prefix back to its last separator, so "Kick"/"Keys" keep their "K".
    cut = max((prefix.rfind(c) for c in _SEPARATORS), default=-1) + 1
    names = [s[cut:].strip(_SEPARATORS) or s for s in stems]
    seen: Counter[str] = Counter()
    unique = []
    taken = set(names)
    for name in names:
        seen[name] += 1
        candidate = name
        if seen[name] > 1:
            k = seen[name]
            while f"{name}_{k}" in taken:
                k += 1
            candidate = f"{name}_{k}"
            taken.add(candidate)
        unique.append(candidate)
    return unique


def load_stems(
    folder_or_paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    sample_rate: int | None = None,
    offsets_s: Mapping[str, float] | Sequence[float] | None = None,
    start_s: float | None = None,
    duration_s: float | None = None,
    silence_dbfs: float = -90.0,
) -> Stems:
    """Load stem files and align them (see the module docstring).

    ``folder_or_paths``: a folder (its audio files, sorted by name; hidden files and
    sub-folders are skipped) or a list of files. ``start_s``/``duration_s`` read the
    same part of every file (a stem that ends before ``start_s`` reads as silence).
    ``offsets_s`` (by name or in file order) delays stems; see :func:`align_stems`.

    >>> stems = load_stems("stems/", sample_rate=48000)  # doctest: +SKIP
    >>> stems.names, stems.notes["VOX"]                   # doctest: +SKIP
    """
    paths = _stem_paths(folder_or_paths)
    names = stem_names(paths)
    signals: dict[str, Audio] = {}
    load_notes: dict[str, list[str]] = {}
    for name, path in zip(names, paths, strict=True):
        signals[name], load_notes[name] = _load_one(name, path, start_s, duration_s)
    return _align(
        signals, sample_rate, offsets_s, silence_dbfs, tuple(str(p) for p in paths), load_notes
    )


def align_stems(
    stems: Mapping[str, Audio],
    *,
    sample_rate: int | None = None,
    offsets_s: Mapping[str, float] | Sequence[float] | None = None,
    silence_dbfs: float = -90.0,
) -> Stems:
    """Bring 1 to 64 named signals to one sample rate, channel layout and length.

    ``offsets_s`` (seconds >= 0, by name or in order; missing names are 0) delays a
    stem by zeros at its start: a stem exported from bar 5 of a song at 120 BPM gets
    ``8.0``. Rules for rate, channels and length: see the module docstring.
    """
    return _align(stems, sample_rate, offsets_s, silence_dbfs, None, None)


def _align(
    stems: Mapping[str, Audio],
    sample_rate: int | None,
    offsets_s: Mapping[str, float] | Sequence[float] | None,
    silence_dbfs: float,
    sources: tuple[str, ...] | None,
    load_notes: Mapping[str, list[str]] | None,
) -> Stems:
    if not isinstance(stems, Mapping):
        raise TypeError(f"stems must be a mapping of name -> Audio, not {type(stems).__name__}")
    _check_count(len(stems))
    names = list(stems)
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise StemforgeError(f"stem names must be non-empty strings, got {name!r}.")
        audio = stems[name]
        if not isinstance(audio, Audio):
            raise TypeError(f"stem {name!r} must be an Audio, not {type(audio).__name__}")
        if not audio.is_finite:
            bad = ~np.isfinite(audio.samples)
            first = int(np.argmax(bad.any(axis=0)))
            raise InvalidAudioError(
                f"stem {name!r} contains {int(bad.sum())} NaN or infinite sample(s), the first "
                f"at {first / audio.sample_rate:.3f} s.",
                hint="Export that stem again; stemforge cannot measure it.",
            )
    delays = _offsets(names, offsets_s)
    rate = _target_rate([stems[n] for n in names], sample_rate)
    channels = 2 if any(stems[n].channels >= 2 for n in names) else 1

    notes: dict[str, list[str]] = {n: list((load_notes or {}).get(n, ())) for n in names}
    converted: dict[str, Audio] = {}
    for name in names:
        audio = stems[name]
        if audio.sample_rate != rate:
            notes[name].append(f"resampled {audio.sample_rate} -> {rate} Hz")
            audio = audio.resample(rate)
        if audio.channels != channels:
            if audio.channels == 1:
                notes[name].append("mono duplicated to stereo")
            else:
                notes[name].append(f"folded down from {audio.channels} channels to stereo")
            audio = audio.to_stereo()
        delay = round(delays[name] * rate)
        if delay:
            notes[name].append(f"delayed {_duration_text(delay, rate)}")
            audio = audio.with_samples(np.pad(audio.samples, ((0, 0), (delay, 0))))
        converted[name] = audio

    frames = max(a.frames for a in converted.values())
    if frames == 0:
        raise EmptyAudioError("every stem is empty (0 frames); there is nothing to align.")
    threshold = 10.0 ** (silence_dbfs / 20.0)
    aligned: list[Audio] = []
    silent: list[str] = []
    for name in names:
        audio = converted[name]
        if audio.frames < frames:
            notes[name].append(f"padded {_duration_text(frames - audio.frames, rate)} at the end")
            audio = audio.pad_to(frames)
        peak = max(float(audio.samples.max()), -float(audio.samples.min()))
        if peak <= threshold:
            silent.append(name)
            notes[name].append(
                "silent (all zero)" if peak == 0 else f"silent (peak below {silence_dbfs:g} dBFS)"
            )
        aligned.append(audio)

    return Stems(
        names=tuple(names),
        audio=tuple(aligned),
        sample_rate=rate,
        channels=channels,
        frames=frames,
        notes={n: tuple(notes[n]) for n in names},
        silent=tuple(silent),
        sources=sources if sources is not None else (None,) * len(names),
    )


# --- helpers --------------------------------------------------------------------------------


def _check_count(count: int) -> None:
    if count == 0:
        raise EmptyAudioError("no stems given.", hint="Give at least one stem.")
    if count > MAX_STEMS:
        raise StemforgeError(
            f"{count} stems; stemforge takes at most {MAX_STEMS}.",
            hint="Bounce related tracks to groups (drums, vocals, keys, ...) and give those.",
        )


def _stem_paths(folder_or_paths) -> list[Path]:
    if isinstance(folder_or_paths, (str, os.PathLike)):
        p = Path(folder_or_paths)
        if p.is_dir():
            return _folder_files(p)
        if not p.exists():
            raise AudioFileNotFoundError(
                "no such folder or file.", path=p, hint="Check the path of the stems folder."
            )
        paths = [p]
    else:
        paths = [Path(x) for x in folder_or_paths]
    _check_count(len(paths))
    return paths


def _folder_files(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir(), key=lambda e: e.name)
    except PermissionError as exc:
        raise AudioFileNotFoundError(
            "permission denied: this user may not list the folder.",
            path=folder,
            hint="Check its permissions (ls -ld).",
        ) from exc
    files = [e for e in entries if not e.name.startswith(".") and e.is_file()]
    audio = [e for e in files if e.suffix.lower() in AUDIO_SUFFIXES]
    if not audio:
        what = f"{len(files)} file(s), none of them audio" if files else "nothing"
        raise AudioFileNotFoundError(
            f"no audio files in this stem folder (it holds {what}).",
            path=folder,
            hint=f"Put the stems in it as {', '.join(AUDIO_SUFFIXES)} files.",
        )
    _check_count(len(audio))
    return audio


def _load_one(
    name: str, path: Path, start_s: float | None, duration_s: float | None
) -> tuple[Audio, list[str]]:
    notes: list[str] = []
    try:
        if start_s:
            described = audio_info(path)
            if start_s >= described.duration_s:
                notes.append(f"ends at {described.duration_s:.3f} s, before the part read")
                empty = np.zeros((described.channels, 0), np.float32)
                return Audio(empty, described.sample_rate), notes
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            audio = load(path, start_s=start_s, duration_s=duration_s)
    except StemforgeError as exc:
        # The message already names the file, the reason and what to do.
        raise type(exc)(f"stem {name!r} could not be loaded: {exc}") from exc
    for w in caught:
        notes.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return audio, notes


def _duration_text(frames: int, rate: int) -> str:
    """ "1.250 s", or "12 samples" below a millisecond."""
    if frames < rate / 1000:
        return f"{frames} sample{'s' if frames != 1 else ''}"
    return f"{frames / rate:.3f} s"


def _offsets(names: list[str], offsets_s) -> dict[str, float]:
    if offsets_s is None:
        return dict.fromkeys(names, 0.0)
    if isinstance(offsets_s, Mapping):
        unknown = [k for k in offsets_s if k not in names]
        if unknown:
            raise StemforgeError(
                f"offsets_s names unknown stem(s) {unknown}; the stems are {names}."
            )
        values = {n: float(offsets_s.get(n, 0.0)) for n in names}
    else:
        offsets = list(offsets_s)
        if len(offsets) != len(names):
            raise StemforgeError(
                f"offsets_s has {len(offsets)} value(s) for {len(names)} stem(s).",
                hint="Give one offset per stem, or a mapping of name -> seconds.",
            )
        values = {n: float(v) for n, v in zip(names, offsets, strict=True)}
    for name, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise StemforgeError(
                f"the offset of stem {name!r} is {value!r} s; offsets are seconds >= 0.",
                hint="To move a stem earlier, delay the other stems instead.",
            )
    return values


def _target_rate(signals: list[Audio], sample_rate: int | None) -> int:
    if sample_rate is not None:
        if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate:
            raise ValueError(f"sample_rate must be a whole number of Hz, got {sample_rate!r}")
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise UnsupportedFormatError(
                f"cannot align stems at {sample_rate} Hz; choose {MIN_SAMPLE_RATE} to "
                f"{MAX_SAMPLE_RATE} Hz."
            )
        return int(sample_rate)
    counts = Counter(s.sample_rate for s in signals)
    return max(counts, key=lambda r: (counts[r], r))
