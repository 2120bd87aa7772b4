"""Audio files in and out: :func:`load`, :func:`info` and :func:`save`.

``load`` reads WAV, AIFF, FLAC, Ogg Vorbis, Opus, MP3, M4A (AAC, ALAC) and more into an
:class:`~stemforge.audio.signal.Audio`, with encoders' priming and padding trimmed so
durations are exact (see :mod:`stemforge.audio.decode`). ``save`` writes WAV or FLAC
atomically (see :mod:`stemforge.audio.encode`).

Every problem with a file is a :class:`~stemforge.errors.StemforgeError` naming the
file and what to do; no soundfile, PyAV or OS exception escapes. Invalid argument
values (a negative ``start_s``) are programming errors and raise ``ValueError``.

Damaged files: a file cut short (an interrupted copy or download) loads the frames
that are there, as DAWs do; a corrupt packet in a compressed stream is skipped, as
FFmpeg does (what follows it moves earlier by the packet's length). Both come with an
:class:`AudioDamagedWarning` saying what happened. A file from which nothing at all
decodes raises :class:`~stemforge.errors.AudioDecodeError`.
"""

from __future__ import annotations

import math
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemforge.audio import decode, encode
from stemforge.audio.resample import resample
from stemforge.audio.signal import MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, Audio
from stemforge.errors import (
    AudioDecodeError,
    AudioFileNotFoundError,
    AudioPermissionError,
    AudioWriteError,
    EmptyAudioError,
    InvalidAudioError,
    UnsupportedFormatError,
)
from stemforge.results import Result

#: File suffixes stemforge treats as audio when it scans a folder (other files are ignored;
#: the loader itself goes by a file's content, not its name).
AUDIO_SUFFIXES = (
    ".wav",
    ".wave",
    ".flac",
    ".aif",
    ".aiff",
    ".aifc",
    ".caf",
    ".mp3",
    ".m4a",
    ".mp4",
    ".aac",
    ".ogg",
    ".oga",
    ".opus",
    ".webm",
    ".mka",
    ".wma",
    ".alac",
)

LOAD_MIN_SAMPLE_RATE = 8_000
LOAD_MAX_SAMPLE_RATE = 192_000

__all__ = [
    "AudioClippingWarning",
    "AudioDamagedWarning",
    "AudioInfo",
    "info",
    "load",
    "save",
]


class AudioDamagedWarning(UserWarning):
    """A file was cut short or had undecodable packets; what could be decoded was loaded."""


class AudioClippingWarning(UserWarning):
    """Samples beyond full scale were clipped when saving to an integer format."""


@dataclass(frozen=True)
class AudioInfo(Result):
    """What a file holds, read from its headers without decoding it.

    ``container`` is the file format ("wav", "aiff", "flac", "ogg", "mp3", "mp4",
    "matroska", ...), ``codec`` the coding of the samples ("pcm_s16", "pcm_s24",
    "pcm_f32", "flac", "alac", "vorbis", "opus", "mp3", "aac", ...). ``frames`` is the
    length :func:`load` returns: exact for PCM, FLAC, Ogg, MP3 with a LAME/Xing header
    and MP4 with an edit list or iTunSMPB tag; within a few milliseconds for Matroska/WebM
    (whose clock counts milliseconds); estimated from the bit rate for MP3 without such
    a header and for raw ADTS AAC. ``bit_depth`` is the stored sample
    width of lossless and PCM files, ``None`` for lossy codecs. ``bitrate_bps`` is the
    coded bit rate in bits per second: exact for PCM, the stream's nominal rate where
    the container states one, else the file's average (metadata included).
    """

    path: str
    container: str
    codec: str
    sample_rate: int
    channels: int
    frames: int
    duration_s: float
    bit_depth: int | None
    bitrate_bps: int | None
    lossless: bool


def info(path: str | os.PathLike) -> AudioInfo:
    """Describe an audio file: format, codec, rate, channels, length, bit depth, bit rate.

    Reads headers only (and, for FFmpeg-decoded formats, one packet, whose decoded
    form says the true rate and channel count of HE-AAC). Describes files that
    :func:`load` refuses (a 384 kHz or 16-channel file) so that a caller can explain.
    """
    p, head, size = _checked_input(path)
    source = decode.open_source(p, head, size)
    try:
        si = source.info
    finally:
        source.close()
    return AudioInfo(
        path=str(p),
        container=si.container,
        codec=si.codec,
        sample_rate=si.sample_rate,
        channels=si.channels,
        frames=si.frames,
        duration_s=si.frames / si.sample_rate if si.sample_rate else 0.0,
        bit_depth=si.bit_depth,
        bitrate_bps=si.bitrate_bps,
        lossless=si.lossless,
    )


def load(
    path: str | os.PathLike,
    *,
    sample_rate: int | None = None,
    mono: bool = False,
    start_s: float | None = None,
    duration_s: float | None = None,
) -> Audio:
    """Decode an audio file into float32 samples shaped (channels, frames), full scale 1.0.

    ``start_s`` and ``duration_s`` (seconds of the file) read just that part: a seek in
    the file, not a decode of all of it; past the end, what there is is returned.
    ``mono=True`` averages the channels (:meth:`Audio.to_mono`); ``sample_rate``
    resamples with soxr (:func:`stemforge.audio.resample`), after the part is cut.

    Integer PCM is scaled by 2**(bits-1) (16-bit -32768 reads as -1.0). Files must be
    8 to 192 kHz with 1 to 8 channels. Opus always decodes at 48 kHz, its native rate.

    Example: ``load("mix.flac", start_s=30.0, duration_s=10.0, mono=True)``.
    """
    _check_arguments(sample_rate, start_s, duration_s)
    p, head, size = _checked_input(path)
    source = decode.open_source(p, head, size)
    try:
        si = source.info
        _check_loadable(p, si)
        start = 0 if start_s is None else round(start_s * si.sample_rate)
        count = None if duration_s is None else max(1, round(duration_s * si.sample_rate))
        decoded = source.read(start, count)
        if decoded.error is not None and isinstance(source, decode.SoundfileSource):
            decoded = _retry_with_ffmpeg(p, head, size, si, start, count, decoded)
    finally:
        source.close()

    samples = decoded.samples
    got = samples.shape[1]
    if got == 0:
        if decoded.error is None and start > 0:
            raise EmptyAudioError(
                f"start_s={start_s} is at or past the end of the file "
                f"({si.frames / si.sample_rate:.3f} s long).",
                path=p,
                hint="Choose a start within the file.",
            )
        if decoded.error is None and not si.declared_frames:
            raise EmptyAudioError(
                "the file holds no audio frames (it is a valid file of length 0).",
                path=p,
                hint="Export the audio again; this file is empty.",
            )
        reason = (decoded.error or "its audio data is missing").rstrip(".")
        raise AudioDecodeError(
            f"no audio could be decoded from it ({reason}).",
            path=p,
            hint="The file is damaged or incomplete; export or download it again.",
        )
    _warn_if_damaged(p, si, start, count, got, decoded)
    if si.can_be_nonfinite:
        _check_finite(p, samples, si.sample_rate, start)

    samples.setflags(write=False)  # Audio then keeps it as is: no copy
    audio = Audio(samples, si.sample_rate)
    if mono:
        audio = audio.to_mono()
    if sample_rate is not None and sample_rate != audio.sample_rate:
        audio = resample(audio, sample_rate)
    return audio


def save(
    path: str | os.PathLike, audio: Audio, *, bit_depth: int = 24, dither: bool = True
) -> Path:
    """Write ``audio`` as WAV or FLAC (by the suffix), atomically; return the path.

    ``bit_depth``: 16 or 24 (integer PCM) or 32 (IEEE float, WAV only: FLAC has no
    float samples). Integer output is clipped to full scale: samples beyond +/-1.0 are
    set to the largest code and an :class:`AudioClippingWarning` says how many; save
    as 32-bit float to keep them. 16-bit output gets deterministic TPDF dither unless
    ``dither=False`` (see :mod:`stemforge.audio.encode`); 24-bit is never dithered
    (its quantisation noise, 144 dB under full scale, is below any converter's).

    The file is written under a temporary name in the destination folder, fsynced and
    renamed into place: a crash, a full disk or an error never leaves half a file, and
    a file already there stays untouched unless the new one is complete.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in encode.SAVE_FORMATS:
        raise UnsupportedFormatError(
            f"cannot save as {suffix or 'a file without a suffix'!r}; stemforge saves "
            f"{' and '.join(encode.SAVE_FORMATS)}.",
            path=p,
            hint="Name the file .wav or .flac; convert it afterwards for other formats.",
        )
    if bit_depth not in encode.SUBTYPES:
        raise UnsupportedFormatError(
            f"bit_depth={bit_depth!r}; choose 16 or 24 (integer) or 32 (float).", path=p
        )
    if suffix == ".flac" and bit_depth == 32:
        raise UnsupportedFormatError(
            "FLAC has no 32-bit float samples.",
            path=p,
            hint="Use bit_depth=24 for FLAC, or save as .wav to keep 32-bit float.",
        )
    if suffix == ".flac" and audio.sample_rate > 65_535 and audio.sample_rate % 10:
        # FLAC frame headers code rates above 65535 Hz in tens of Hz (RFC 9639, 9.1.2);
        # libFLAC's streamable subset, which libsndfile uses, refuses the others.
        raise UnsupportedFormatError(
            f"FLAC cannot store {audio.sample_rate} Hz: above 65535 Hz its rates must be "
            "multiples of 10 Hz.",
            path=p,
            hint="Save as .wav, or resample to a standard rate (88200, 96000, 192000 Hz) first.",
        )
    if not isinstance(audio, Audio):
        raise TypeError(f"audio must be an Audio, not {type(audio).__name__}")
    if audio.frames == 0:
        raise EmptyAudioError("nothing to save: the signal has no frames.", path=p)
    if not audio.is_finite:
        raise InvalidAudioError(
            "the signal contains NaN or infinite samples; a file of them would be unplayable.",
            path=p,
            hint="Check the processing that produced it.",
        )
    folder = p.parent
    if not folder.is_dir():
        raise AudioWriteError(
            f"cannot save here: the folder {str(folder)!r} does not exist.",
            path=p,
            hint="Create the folder first, or choose another path.",
        )
    if p.is_dir():
        raise AudioWriteError(
            "cannot save here: it is a folder.", path=p, hint="Give a file name inside it."
        )
    clipped = encode.write_atomic(p, audio, bits=bit_depth, dither=dither)
    if clipped:
        peak_db = 20 * math.log10(float(np.abs(audio.samples).max()))
        warnings.warn(
            AudioClippingWarning(
                f"{p}: {clipped} sample(s) beyond full scale (peak {peak_db:+.2f} dBFS) were "
                f"clipped to fit {bit_depth}-bit. Lower the gain, or save with bit_depth=32 "
                "(WAV) to keep them."
            ),
            stacklevel=2,
        )
    return p


# --- checks --------------------------------------------------------------------------------


def _check_arguments(
    sample_rate: int | None, start_s: float | None, duration_s: float | None
) -> None:
    if sample_rate is not None:
        if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate:
            raise ValueError(f"sample_rate must be a whole number of Hz, got {sample_rate!r}")
        if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise UnsupportedFormatError(
                f"cannot resample to {sample_rate} Hz; choose {MIN_SAMPLE_RATE} to "
                f"{MAX_SAMPLE_RATE} Hz."
            )
    if start_s is not None and not (math.isfinite(start_s) and start_s >= 0):
        raise ValueError(f"start_s must be a finite number of seconds >= 0, got {start_s!r}")
    if duration_s is not None and not (math.isfinite(duration_s) and duration_s > 0):
        raise ValueError(f"duration_s must be a finite number of seconds > 0, got {duration_s!r}")


def _checked_input(path: str | os.PathLike) -> tuple[Path, bytes, int]:
    """The path as a Path, its first 64 bytes and its size; errors a person can act on."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, not {type(path).__name__}")
    p = Path(path)
    try:
        st = os.stat(p)
        if stat.S_ISDIR(st.st_mode):
            raise AudioFileNotFoundError(
                "this is a folder, not an audio file.", path=p, hint="Give a file inside it."
            )
        if not stat.S_ISREG(st.st_mode):
            raise AudioDecodeError(
                "this is not a regular file (a device, pipe or socket).",
                path=p,
                hint="Save the audio to a file and load that.",
            )
        if st.st_size == 0:
            raise EmptyAudioError(
                "the file is empty (0 bytes).",
                path=p,
                hint="It was probably cut off while being written, copied or downloaded; "
                "get it again.",
            )
        with open(p, "rb") as fh:
            head = fh.read(64)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise AudioFileNotFoundError(
            "no such file.", path=p, hint="Check the folder and the file name's spelling."
        ) from exc
    except PermissionError as exc:
        raise AudioPermissionError(
            "permission denied: this user may not read the file (or a folder on its path).",
            path=p,
            hint="Check its permissions (ls -l) or copy it somewhere readable.",
        ) from exc
    except (OSError, ValueError) as exc:  # name too long, symlink loop, NUL byte, I/O error
        raise AudioFileNotFoundError(
            f"the file cannot be opened ({getattr(exc, 'strerror', None) or exc}).",
            path=p,
            hint="Check the path.",
        ) from exc
    return p, head, st.st_size


def _check_loadable(p: Path, si: decode.SourceInfo) -> None:
    if not LOAD_MIN_SAMPLE_RATE <= si.sample_rate <= LOAD_MAX_SAMPLE_RATE:
        raise UnsupportedFormatError(
            f"its sample rate is {si.sample_rate} Hz; stemforge loads {LOAD_MIN_SAMPLE_RATE} to "
            f"{LOAD_MAX_SAMPLE_RATE} Hz.",
            path=p,
            hint="Resample it first, e.g. `ffmpeg -i IN -ar 48000 OUT.flac`.",
        )
    if not 1 <= si.channels <= MAX_CHANNELS:
        raise UnsupportedFormatError(
            f"it has {si.channels} channels; stemforge loads 1 to {MAX_CHANNELS}.",
            path=p,
            hint="Split it into stems or fold it down first, e.g. with ffmpeg's -ac or pan filter.",
        )


def _check_finite(p: Path, samples: np.ndarray, sample_rate: int, start: int) -> None:
    # A float64 sum of float32 values cannot overflow, so it is finite exactly when
    # every sample is, at the cost of one pass and no temporary array.
    if math.isfinite(samples.sum(dtype=np.float64)):
        return
    bad = ~np.isfinite(samples)
    first = int(np.argmax(bad.any(axis=0)))
    raise InvalidAudioError(
        f"it contains {int(bad.sum())} NaN or infinite sample(s), the first at "
        f"{(start + first) / sample_rate:.3f} s.",
        path=p,
        hint="The program that wrote it produced invalid numbers; export it again.",
    )


def _retry_with_ffmpeg(p, head, size, si, start, count, decoded):
    """libsndfile stopped with an error: FFmpeg, which skips damage, may decode more."""
    alt = decode.fallback_source(p, head, size)
    if alt is None:
        return decoded
    try:
        if (alt.info.sample_rate, alt.info.channels) != (si.sample_rate, si.channels):
            return decoded
        other = alt.read(start, count)
    finally:
        alt.close()
    return other if other.samples.shape[1] > decoded.samples.shape[1] else decoded


def _warn_if_damaged(p, si, start, count, got, decoded) -> None:
    declared = si.declared_frames
    wanted_end = declared if count is None or declared is None else min(start + count, declared)
    problems = []
    if wanted_end is not None and start + got < wanted_end - si.declared_slack:
        problems.append(
            f"the file is cut short or damaged: its header promises "
            f"{declared / si.sample_rate:.3f} s but decoding ends at "
            f"{(start + got) / si.sample_rate:.3f} s"
        )
    elif decoded.error is not None:
        problems.append(
            f"decoding stopped early at {(start + got) / si.sample_rate:.3f} s ({decoded.error})"
        )
    if decoded.skipped:
        problems.append(
            f"{decoded.skipped} damaged packet(s) could not be decoded and were left out, "
            "so the audio after them is early by their length"
        )
    if problems:
        message = f"{p}: {'; '.join(problems)}. Loaded what could be decoded."
        warnings.warn(AudioDamagedWarning(message), stacklevel=3)
