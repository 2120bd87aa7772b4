"""Decoding backends behind :func:`stemforge.audio.load` and :func:`stemforge.audio.info`.

Two backends, chosen by the file's first bytes (never by its name):

- **libsndfile** (through soundfile) for WAV/RF64, AIFF, FLAC, MP3 and CAF. Its seeks
  are sample-exact there and MP3 gapless trimming (LAME/Xing header) is built in.
- **FFmpeg** (through PyAV) for MP4/M4A (AAC, ALAC), Ogg (Vorbis, Opus), Matroska/WebM,
  ASF, ADTS AAC, and for anything libsndfile rejects or fails to decode (a WAV holding
  MP3, a truncated FLAC). Ogg goes to FFmpeg first: it decodes 4 min of stereo Opus in
  0.53 s against libsndfile's 1.34 s (Vorbis 0.30 s against 0.41 s), and libsndfile
  1.2.2's seeks in Ogg Vorbis land 249 samples off in a file's last pages.

FFmpeg's demuxer is always named explicitly (no content probing), so a file can
only ever be read as an audio container: a playlist or a concat script renamed
``.m4a`` is refused, never followed.

Encoder delay and padding. MP3 (LAME header), Ogg (pre-skip, final granule) and
Matroska (CodecDelay, DiscardPadding) are trimmed by the decoders. For MP4, FFmpeg
skips the priming frames named by the edit list (1024 for FFmpeg's AAC encoder,
2112 for Apple's) but keeps the padding at the end; the length is then cut to
Apple's ``iTunSMPB`` tag when it is present and consistent, else to the edit
list's duration (FFmpeg writes it in milliseconds, so within 1 ms). Raw ADTS AAC
carries no such information: its priming and padding stay.

Sample positions in FFmpeg streams come from frame timestamps relative to the
first decoded frame, so a seek followed by an exact trim gives the same samples as
a decode from the start (0.5 s of pre-roll covers the MDCT overlap of AAC, Vorbis
and Opus and MP3's bit reservoir). Elementary streams (MP3, ADTS) have no exact
timestamps after a seek: they are decoded from the start and the head discarded.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from stemforge.errors import AudioDecodeError, StemforgeError, UnsupportedFormatError

BLOCK_FRAMES = 1 << 16
PREROLL_S = 0.5
SUPPORTED_FORMATS = "WAV, AIFF, FLAC, Ogg Vorbis, Opus, MP3, M4A/AAC/ALAC, WebM/Matroska, WMA"


@dataclass(frozen=True)
class Kind:
    """What the first bytes say the file is, and which backends to try in which order."""

    name: str
    backends: tuple[str, ...]  # "sf" and/or "av:<demuxer>"


_UNKNOWN = Kind("unknown", ("sf",))


def sniff(head: bytes) -> Kind:
    """Name the container from the file's first 64 bytes (magic numbers)."""
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return Kind("wav", ("sf", "av:wav"))
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return Kind("aiff", ("sf", "av:aiff"))
    if head[:4] == b"fLaC":
        return Kind("flac", ("sf", "av:flac"))
    if head[:4] == b"OggS":
        return Kind("ogg", ("av:ogg", "sf"))
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return Kind("mp4", ("av:mov",))
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return Kind("matroska", ("av:matroska",))
    if head[:4] == b"caff":
        return Kind("caf", ("sf", "av:caf"))
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return Kind("asf", ("av:asf",))
    if head[:3] == b"ID3":
        # An ID3v2 tag may precede MP3, ADTS AAC or FLAC: let FFmpeg tell which.
        return Kind("mp3", ("sf", "av:probe"))
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        if head[1] & 0x06 == 0:  # MPEG layer bits 00: ADTS AAC
            return Kind("aac", ("av:aac",))
        return Kind("mp3", ("sf", "av:mp3"))
    return _UNKNOWN


# Demuxers FFmpeg may pick when probing an ID3-tagged file.
_PROBE_ALLOWED = {"mp3", "aac", "flac"}

# Container families whose timestamps stay sample-exact after a seek.
_EXACT_SEEK_FAMILIES = {"mp4", "ogg", "wav", "aiff", "flac", "caf"}

_LOSSLESS_CODECS = {"flac", "alac", "wavpack", "tta", "ape", "mlp", "truehd", "tak"}


@dataclass
class SourceInfo:
    """Facts about an opened file (internal; :class:`AudioInfo` is the public view)."""

    container: str
    codec: str
    sample_rate: int
    channels: int
    frames: int
    bit_depth: int | None
    lossless: bool
    can_be_nonfinite: bool
    bitrate_bps: int | None
    declared_frames: int | None  # the length the header promises, where it says one
    declared_slack: int = 0  # how far short of it a complete file may end


@dataclass
class Decoded:
    samples: np.ndarray  # (channels, frames) float32
    error: str | None  # why decoding stopped early, if it did
    skipped: int = 0  # damaged packets left out


class BackendError(Exception):
    """A backend could not open or decode the file; ``unsupported`` if the codec is the cause."""

    def __init__(self, message: str, *, unsupported: bool = False):
        super().__init__(message)
        self.unsupported = unsupported


class _Collector:
    """Decoded blocks gathered into one (channels, frames) float32 array.

    The first allocation is the expected length, bounded by what the file's size
    makes plausible (a corrupt header cannot make it allocate gigabytes); it grows
    by half if the file holds more.
    """

    def __init__(self, channels: int, expected: int | None, bound: int):
        capacity = bound if expected is None else min(expected, bound)
        self.buf = np.empty((channels, max(capacity, 1)), np.float32)
        self.n = 0

    def _reserve(self, n: int) -> np.ndarray:
        """Room for ``n`` more frames; the (channels, n) slice to fill."""
        if self.n + n > self.buf.shape[1]:
            capacity = max(self.buf.shape[1] * 3 // 2, self.n + n)
            grown = np.empty((self.buf.shape[0], capacity), np.float32)
            grown[:, : self.n] = self.buf[:, : self.n]
            self.buf = grown
        dest = self.buf[:, self.n : self.n + n]
        self.n += n
        return dest

    def add(self, block: np.ndarray) -> None:
        """A (channels, n) block of float samples."""
        self._reserve(block.shape[1])[...] = block

    def add_rows(self, rows: list[np.ndarray], lo: int, hi: int) -> None:
        """Samples ``lo:hi`` of one raw row per channel, scaled to +/-1 while copied.

        Integers are divided by 2**(bits-1) (unsigned 8-bit centred on 128 first).
        """
        dest = self._reserve(hi - lo)
        for row, out in zip(rows, dest, strict=True):
            src = row[lo:hi]
            if src.dtype.kind == "f":
                out[...] = src
            elif src.dtype == np.uint8:
                out[...] = src
                out -= 128
                out *= np.float32(1 / 128)
            else:
                np.multiply(src, 2.0 ** (1 - 8 * src.dtype.itemsize), out=out, casting="unsafe")

    def result(self) -> np.ndarray:
        """The samples, C-contiguous (so that :class:`Audio` keeps them without a copy)."""
        out = self.buf[:, : self.n]
        return out if out.flags.c_contiguous else out.copy()


def _plausible_frames(file_size: int, channels: int) -> int:
    # FLAC codes digital silence at about 300 frames a byte (stereo); real codecs far less.
    return (1 << 20) + file_size * 512 // max(channels, 1)


# --- libsndfile ------------------------------------------------------------------------

_SF_CODECS: dict[str, tuple[str, int | None, bool]] = {
    # subtype: (codec, bit depth, lossless)
    "PCM_S8": ("pcm_s8", 8, True),
    "PCM_U8": ("pcm_u8", 8, True),
    "PCM_16": ("pcm_s16", 16, True),
    "PCM_24": ("pcm_s24", 24, True),
    "PCM_32": ("pcm_s32", 32, True),
    "FLOAT": ("pcm_f32", 32, True),
    "DOUBLE": ("pcm_f64", 64, True),
    "ULAW": ("pcm_mulaw", 8, False),
    "ALAW": ("pcm_alaw", 8, False),
    "ALAC_16": ("alac", 16, True),
    "ALAC_20": ("alac", 20, True),
    "ALAC_24": ("alac", 24, True),
    "ALAC_32": ("alac", 32, True),
    "VORBIS": ("vorbis", None, False),
    "OPUS": ("opus", None, False),
    "MPEG_LAYER_I": ("mp1", None, False),
    "MPEG_LAYER_II": ("mp2", None, False),
    "MPEG_LAYER_III": ("mp3", None, False),
}
_SF_CONTAINERS = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "AIFF": "aiff", "OGG": "ogg"}
_WAV_DATA_SHORT = re.compile(r"^data : (\d+) \(should be (\d+)\)", re.MULTILINE)


# libmpg123 (inside libsndfile) prints "Note: Illegal Audio-MPEG-Header..." straight to
# file descriptor 2 when it meets damaged or non-MPEG data. stemforge reports such files
# itself, in one line, so the descriptor is muted while libsndfile parses them.
_CHATTY_KINDS = {"mp3", "unknown"}


@contextlib.contextmanager
def _quiet_c_stderr(kind: Kind) -> Iterator[None]:
    if kind.name not in _CHATTY_KINDS:
        yield
        return
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class SoundfileSource:
    def __init__(self, path: Path, kind: Kind, file_size: int):
        self._kind = kind
        try:
            with _quiet_c_stderr(kind):
                self._file = sf.SoundFile(str(path))
        except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
            raise BackendError(_sf_message(exc)) from exc
        f = self._file
        self._file_size = file_size
        codec, bit_depth, lossless = _SF_CODECS.get(f.subtype, (f.subtype.lower(), None, False))
        container = _SF_CONTAINERS.get(f.format, f.format.lower())
        if container == "flac":
            codec = "flac"
        integer = lossless and not codec.startswith("pcm_f")
        frames = max(int(f.frames), 0)
        declared = None
        if container == "wav":
            declared = frames
            short = _WAV_DATA_SHORT.search(f.extra_info)
            block_align = (bit_depth or 0) // 8 * f.channels
            if short and block_align:
                stated = int(short.group(1))
                # 0 and 0xFFFFFFFF are the placeholders of streaming writers, not sizes.
                if 0 < stated < 0xFFFFFFFF:
                    declared = stated // block_align
        elif container in ("flac", "aiff"):
            declared = frames
        duration_s = frames / f.samplerate if f.samplerate > 0 else 0.0
        if lossless and bit_depth:
            bitrate = f.samplerate * f.channels * bit_depth if container != "flac" else None
        else:
            bitrate = None
        if bitrate is None and duration_s > 0:
            bitrate = round(file_size * 8 / duration_s)  # average, metadata included
        self.info = SourceInfo(
            container=container,
            codec=codec,
            sample_rate=int(f.samplerate),
            channels=int(f.channels),
            frames=frames,
            bit_depth=bit_depth,
            lossless=lossless,
            can_be_nonfinite=not integer,
            bitrate_bps=bitrate,
            declared_frames=declared,
        )

    def read(self, start: int, count: int | None) -> Decoded:
        f = self._file
        channels = f.channels
        remaining = max(self.info.frames - start, 0)
        expected = remaining if count is None else min(count, remaining)
        collector = _Collector(channels, expected, _plausible_frames(self._file_size, channels))
        error = None
        if start >= self.info.frames and self.info.container != "mp3":
            return Decoded(collector.result(), None)  # past the end (MP3 lengths may be estimates)
        try:
            with _quiet_c_stderr(self._kind):
                self._read_into(collector, start, count)
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            error = _sf_message(exc)
        return Decoded(collector.result(), error)

    def _read_into(self, collector: _Collector, start: int, count: int | None) -> None:
        f = self._file
        if start:
            f.seek(start)
        buf = np.empty((BLOCK_FRAMES, f.channels), np.float32)
        while count is None or collector.n < count:
            want = BLOCK_FRAMES if count is None else min(BLOCK_FRAMES, count - collector.n)
            got = f.read(always_2d=True, out=buf[:want])
            if len(got):
                collector.add(got.T)
            if len(got) < want:
                break

    def close(self) -> None:
        self._file.close()


def _sf_message(exc: BaseException) -> str:
    text = getattr(exc, "error_string", "") or str(exc)
    return text.replace("Error opening", "libsndfile could not open").strip() or type(exc).__name__


# --- FFmpeg ------------------------------------------------------------------------------

_PCM_BITS = re.compile(r"^pcm_[suf](\d+)")
_DTYPES = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "s64": np.int64}
_DTYPES |= {"flt": np.float32, "dbl": np.float64}
_FAMILIES = {"mov": "mp4", "matroska": "matroska", "ogg": "ogg", "asf": "asf", "aac": "adts"}


def frame_rows(frame: av.AudioFrame, channels: int) -> list[np.ndarray]:
    """A decoded frame as one 1-D array per channel: views of its buffers, its sample type."""
    fmt = frame.format
    dtype = _DTYPES[fmt.name.rstrip("p")]
    n = frame.samples
    if fmt.is_planar:
        return [np.frombuffer(plane, dtype, count=n) for plane in frame.planes[:channels]]
    return list(np.frombuffer(frame.planes[0], dtype, count=n * channels).reshape(n, channels).T)


class PyAVSource:
    def __init__(self, path: Path, kind: Kind, demuxer: str, file_size: int):
        self._path = path
        self._demuxer = demuxer
        self._file_size = file_size
        self._open()
        c, s = self._container, self._stream
        ctx = s.codec_context
        codec = ctx.codec.canonical_name
        family = _FAMILIES.get(self._demuxer, kind.name)
        sr, tb = self.sample_rate, s.time_base
        # Sample-exact positions need timestamps of at least one-sample resolution
        # (Matroska's are milliseconds) and a container that keeps them after a seek.
        self._seekable = (
            family in _EXACT_SEEK_FAMILIES
            and self._origin is not None
            and tb is not None
            and tb <= Fraction(1, sr)
        )

        # Where the real signal ends, in samples after the first decoded one. The MP4
        # index describes every packet even when the data is cut short, so it is also
        # the length to check for truncation: exactly with iTunSMPB; from the edit list,
        # which counts the priming in some files (Apple's without iTunSMPB), only a
        # shortfall beyond priming and a frame is a truncation.
        self._end: int | None = None
        declared, slack = None, 0
        if family == "mp4" and tb is not None:
            smpb = _itunsmpb(c.metadata) or _itunsmpb(s.metadata)
            if (
                smpb
                and tb == Fraction(1, sr)
                and (s.duration is None or s.duration == sum(smpb))
                and self._origin in (None, smpb[0])
            ):
                self._end = declared = smpb[1]
            elif s.duration:
                start = s.start_time if s.start_time is not None else (self._origin or 0)
                self._end = round((start + s.duration - (self._origin or 0)) * tb * sr)
                declared, slack = self._end, 2112 + 2048
        if self._end is not None:
            frames = self._end
        else:
            if s.duration and tb is not None:
                frames = round(s.duration * tb * sr)
                if family == "flac":
                    declared = frames  # STREAMINFO's total
            elif c.duration:
                frames = round(c.duration * sr / av.time_base)
            else:
                frames = 0
            if codec == "opus" and family in ("ogg", "matroska"):
                frames -= _opus_preskip(ctx.extradata)  # counted in the stated length
        self._ogg_cut = family == "ogg" and not _ogg_has_end_page(path)
        if family == "ogg" and not self._ogg_cut:
            declared = frames  # the last page's granule position: exact

        bit_depth, lossless = _av_bit_depth(codec, ctx, self._first_format)
        bitrate = ctx.bit_rate or c.bit_rate or None
        if codec.startswith("pcm_") and bit_depth:
            bitrate = sr * self.channels * bit_depth
        self.info = SourceInfo(
            container=family,
            codec=codec,
            sample_rate=sr,
            channels=self.channels,
            frames=max(frames, 0),
            bit_depth=bit_depth,
            lossless=lossless,
            can_be_nonfinite=self._first_format.rstrip("p") in ("flt", "dbl"),
            bitrate_bps=int(bitrate) if bitrate else None,
            declared_frames=declared,
            declared_slack=slack,
        )

    def _open(self) -> None:
        """Open the container and decode its first frame: rate, channels and time origin."""
        fmt = None if self._demuxer == "probe" else self._demuxer
        try:
            self._container = av.open(str(self._path), format=fmt, metadata_errors="ignore")
        except (av.FFmpegError, OSError, ValueError, RuntimeError) as exc:
            raise BackendError(f"FFmpeg could not open it ({_av_message(exc)}).") from exc
        c = self._container
        if fmt is None:
            names = set(c.format.name.split(","))
            if not names & _PROBE_ALLOWED:
                self.close()
                raise BackendError(f"FFmpeg reads it as {c.format.name!r}, not audio.")
            self._demuxer = sorted(names & _PROBE_ALLOWED)[0]
        if not c.streams.audio:
            self.close()
            raise BackendError("the file holds no audio stream.")
        self._stream = c.streams.audio[0]
        if self._stream.codec_context is None:
            self.close()
            raise BackendError("FFmpeg has no decoder for its audio codec.", unsupported=True)
        self.errors = 0
        self._stop_reason: str | None = None
        self._broken = self._exhausted = False
        self._frames = self._decode_packets(c.demux(self._stream))
        first = next(self._frames, None)
        if first is None:
            self.close()
            raise BackendError(self._stop_reason or "no audio could be decoded from it.")
        self.sample_rate = int(first.sample_rate)
        self.channels = int(first.layout.nb_channels)
        self._first_format = first.format.name
        self._origin = first.pts
        self._first = first

    def _decode_packets(self, packets):
        """Frames from ``packets``.

        A damaged packet is skipped and counted in ``errors`` once audio follows it;
        packets failing at the very end, or a demuxer that breaks off, mean the file
        was cut short (``_broken``).
        """
        failed = 0
        try:
            for packet in packets:
                try:
                    frames = packet.decode()
                except av.error.EOFError:
                    break
                except (av.FFmpegError, ValueError) as exc:
                    failed += 1
                    self._stop_reason = f"FFmpeg could not decode a packet: {_av_message(exc)}"
                    continue
                if frames and failed:
                    self.errors += failed
                    failed = 0
                yield from frames
        except (av.FFmpegError, OSError, ValueError, RuntimeError) as exc:
            self._stop_reason = f"the data breaks off: {_av_message(exc)}"
            failed += 1
            with contextlib.suppress(av.FFmpegError, ValueError):
                yield from self._stream.codec_context.decode(None)
        self._exhausted = True
        if failed:
            self._broken = True

    def read(self, start: int, count: int | None) -> Decoded:
        end = math.inf if count is None else start + count
        if self._end is not None:
            end = min(end, self._end)
        expected = None if math.isinf(end) else max(int(end) - start, 0)
        if expected is None and self.info.frames:
            expected = max(self.info.frames - start, 0)
        collector = _Collector(
            self.channels, expected, _plausible_frames(self._file_size, self.channels)
        )
        frames, index = self._position(start)
        for frame in frames:
            if frame.sample_rate != self.sample_rate or frame.layout.nb_channels != self.channels:
                raise UnsupportedFormatError(
                    f"the audio changes from {self.sample_rate} Hz, {self.channels} channel(s) "
                    f"to {frame.sample_rate} Hz, {frame.layout.nb_channels} in the middle.",
                    path=self._path,
                    hint="Convert it to one format first, e.g. `ffmpeg -i IN -ar 48000 OUT.flac`.",
                )
            n = frame.samples
            lo, hi = max(start - index, 0), min(n, end - index)
            if hi > lo:
                collector.add_rows(frame_rows(frame, self.channels), lo, int(hi))
            index += n
            if index >= end:
                break
        error = self._stop_reason if self._broken else None
        if error is None and self._exhausted and self._ogg_cut:
            error = "the Ogg stream lacks its end-of-stream page: the file was cut short"
        return Decoded(collector.result(), error, skipped=self.errors)

    def _position(self, start: int):
        """Frames to read ``start`` from, and the sample index of the first of them."""
        preroll = round(PREROLL_S * self.sample_rate)
        if start > preroll and self._seekable:
            s = self._stream
            target = Fraction(start - preroll, self.sample_rate) / s.time_base
            try:
                self._container.seek(self._origin + math.floor(target), stream=s, backward=True)
                frames = self._decode_packets(self._container.demux(s))
                first = next(frames, None)
            except (av.FFmpegError, OSError, ValueError):
                first = None
            if first is not None and first.pts is not None:
                index = round((first.pts - self._origin) * s.time_base * self.sample_rate)
                if 0 <= index <= start:
                    return _chain(first, frames), index
            # The seek overshot or lost the timestamps: decode from the start instead.
            self.close()
            self._open()
        return _chain(self._first, self._frames), 0

    def close(self) -> None:
        with contextlib.suppress(av.FFmpegError, OSError, AttributeError):
            self._container.close()


def _chain(first, rest):
    yield first
    yield from rest


def _av_message(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).rstrip(".")


def _itunsmpb(metadata) -> tuple[int, int, int] | None:
    """Apple's gapless tag: (priming, length, padding) in samples."""
    value = next((v for k, v in metadata.items() if k.lower() == "itunsmpb"), None)
    if not value:
        return None
    try:
        words = [int(w, 16) for w in value.split()]
        priming, padding, length = words[1], words[2], words[3]
    except (ValueError, IndexError):
        return None
    return (priming, length, padding) if length > 0 else None


def _ogg_has_end_page(path: Path) -> bool:
    """Whether a complete Ogg page near the end of the file carries the end-of-stream flag.

    A complete Ogg stream ends with such a page (RFC 3533, section 6); a file cut
    short has lost it (or part of it), and has no header that states its length.
    """
    try:
        with open(path, "rb") as fh:
            fh.seek(max(fh.seek(0, 2) - (1 << 17), 0))
            tail = fh.read()
    except OSError:
        return True
    at = tail.find(b"OggS")
    while at >= 0:
        header = tail[at : at + 27]
        if len(header) == 27 and header[4] == 0 and header[5] & 0x04:
            segments = tail[at + 27 : at + 27 + header[26]]
            if at + 27 + header[26] + sum(segments) <= len(tail):
                return True
        at = tail.find(b"OggS", at + 4)
    return False


def _opus_preskip(extradata: bytes | None) -> int:
    if extradata and extradata[:8] == b"OpusHead" and len(extradata) >= 12:
        return int.from_bytes(extradata[10:12], "little")
    return 0


def _av_bit_depth(codec: str, ctx, first_format: str) -> tuple[int | None, bool]:
    match = _PCM_BITS.match(codec)
    if match:
        return int(match.group(1)), True
    if codec.startswith("pcm_"):  # mu-law, A-law
        return 8, False
    if codec not in _LOSSLESS_CODECS:
        return None, False
    extra = ctx.extradata or b""
    if codec == "flac" and len(extra) >= 18:
        return ((int.from_bytes(extra[10:18], "big") >> 36) & 31) + 1, True
    if codec == "alac" and len(extra) >= 18 and extra[4:8] == b"alac":
        return extra[17], True
    return {"s16": 16, "u8": 8}.get(first_format.rstrip("p")), True


# --- choosing ----------------------------------------------------------------------------


def open_source(path: Path, head: bytes, file_size: int) -> SoundfileSource | PyAVSource:
    """Open ``path`` with the first backend that can, in the order its content suggests."""
    kind = sniff(head)
    failures: list[BackendError] = []
    for backend in kind.backends:
        try:
            if backend == "sf":
                return SoundfileSource(path, kind, file_size)
            return PyAVSource(path, kind, backend.removeprefix("av:"), file_size)
        except BackendError as exc:
            failures.append(exc)
    raise _open_error(path, kind, failures)


def fallback_source(path: Path, head: bytes, file_size: int) -> PyAVSource | None:
    """FFmpeg, when libsndfile opened the file but failed while decoding it."""
    kind = sniff(head)
    for backend in kind.backends:
        if backend.startswith("av:"):
            try:
                return PyAVSource(path, kind, backend.removeprefix("av:"), file_size)
            except (BackendError, StemforgeError):
                return None
    return None


def _open_error(path: Path, kind: Kind, failures: list[BackendError]) -> StemforgeError:
    unsupported = [f for f in failures if f.unsupported]
    if unsupported:
        return UnsupportedFormatError(
            f"its audio codec cannot be decoded: {unsupported[0]}",
            path=path,
            hint="Convert it to WAV or FLAC with the program that made it, or with ffmpeg.",
        )
    if kind is _UNKNOWN:
        return AudioDecodeError(
            "this is not an audio file stemforge can read (its content matches no known "
            "audio format).",
            path=path,
            hint=f"Supported: {SUPPORTED_FORMATS}. If it plays elsewhere, convert it to WAV or "
            "FLAC first.",
        )
    reasons = "; ".join(dict.fromkeys(str(f) for f in failures))
    return AudioDecodeError(
        f"it looks like {kind.name.upper()} but cannot be decoded: {reasons}",
        path=path,
        hint="The file is probably damaged or incomplete; export or download it again.",
    )
