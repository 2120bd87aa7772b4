"""Writing WAV and FLAC behind :func:`stemforge.audio.save`.

Quantisation: ``q = round(x * 2**(bits - 1) + d)``, clipped to the integer range, read
back as ``q / 2**(bits - 1)`` (the convention of libsndfile and FFmpeg for reading).
``d`` is TPDF dither for 16-bit output: the difference of two uniform variables on
[0, 1) LSB, triangular on (-1, 1) LSB, which makes the error's mean and variance
independent of the signal (Lipshitz, Wannamaker and Vanderkooy, "Quantization and
dither: a theoretical survey", JAES 1992). Total error variance is LSB**2 / 4 against
LSB**2 / 12 without dither. The noise is drawn from a fixed seed, so one signal always
gives the same file. Two exceptions keep lossless things lossless: digital silence
(samples exactly 0.0) gets no dither, and a signal already on the 16-bit grid (one
loaded from a 16-bit file, untouched) is written unchanged.

Atomic replacement: through :func:`stemforge.output.atomic_output` (temporary file in
the destination's folder, fsync, rename, folder fsync); on any failure a file already
at the destination is untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from stemforge.audio.signal import Audio
from stemforge.errors import AudioWriteError
from stemforge.output import atomic_output

BLOCK_FRAMES = 1 << 16
DITHER_SEED = 0x57E3F0
SAVE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}
_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # sndfile.h
_WAV_LIMIT_BYTES = 0xFFFFFFFF - (1 << 16)


def on_grid(samples: np.ndarray, bits: int) -> bool:
    """Whether every sample is already an exact multiple of one LSB at ``bits``."""
    scale = np.float32(2.0 ** (bits - 1))
    for i in range(0, samples.shape[1], BLOCK_FRAMES):
        y = samples[:, i : i + BLOCK_FRAMES] * scale
        if not np.array_equal(np.rint(y), y):
            return False
    return True


def quantise(
    block: np.ndarray, bits: int, rng: np.random.Generator | None
) -> tuple[np.ndarray, int]:
    """One (channels, n) float32 block as frames-first integers for libsndfile.

    Returns the integers (int16 for 16 bits; int32 holding the 24 bits in its top
    bytes, which is how libsndfile takes 24-bit data) and how many samples lay
    beyond full scale (|x| > 1) and were clipped.
    """
    scale = np.float32(2.0 ** (bits - 1))
    y = block * scale
    if rng is not None:
        noise = rng.random((2, *block.shape), dtype=np.float32)
        d = noise[0] - noise[1]
        d[block == 0] = 0
        y += d
    np.rint(y, out=y)
    clipped = int(np.count_nonzero((block > 1) | (block < -1)))
    np.clip(y, -scale, scale - 1, out=y)
    if bits == 16:
        return np.ascontiguousarray(y.T, dtype=np.int16), clipped
    q = y.astype(np.int32)
    q <<= 8
    return np.ascontiguousarray(q.T), clipped


class _Sink:
    """A file object for libsndfile's virtual I/O that keeps the first OSError.

    libsndfile only learns that a write came up short; the real cause (disk full,
    quota, file size limit) is kept here and reported.
    """

    def __init__(self, fh):
        self._fh = fh
        self.error: OSError | None = None

    def _guard(self, call, *args, failed=0):
        if self.error is not None:
            return failed
        try:
            return call(*args)
        except OSError as exc:
            self.error = exc
            return failed

    def write(self, data) -> int:
        return self._guard(self._fh.write, data)

    def readinto(self, buf) -> int:
        return self._guard(self._fh.readinto, buf)

    def read(self, size: int = -1) -> bytes:
        return self._guard(self._fh.read, size, failed=b"")

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._guard(self._fh.seek, offset, whence, failed=-1)

    def tell(self) -> int:
        return self._guard(self._fh.tell, failed=-1)


def write_atomic(path: Path, audio: Audio, *, bits: int, dither: bool) -> int:
    """Write ``audio`` to ``path`` (WAV or FLAC by suffix) atomically; return samples clipped."""
    fmt = SAVE_FORMATS[path.suffix.lower()]
    samples = audio.samples
    channels, frames = samples.shape
    if fmt == "WAV" and channels > 2:
        fmt = "WAVEX"  # WAVE_FORMAT_EXTENSIBLE: required for more than two channels
    if fmt.startswith("WAV") and frames * channels * (bits // 8) > _WAV_LIMIT_BYTES:
        fmt = "RF64"  # RIFF sizes are 32-bit: EBU Tech 3306 for files over 4 GiB
    rng = None
    if dither and bits == 16 and not on_grid(samples, 16):
        rng = np.random.default_rng(DITHER_SEED)

    clipped = 0
    with atomic_output(path, error=AudioWriteError) as fh:
        sink = _Sink(fh)
        try:
            with sf.SoundFile(
                sink, "w", audio.sample_rate, channels, SUBTYPES[bits], format=fmt
            ) as out:
                _no_peak_chunk(out)
                for i in range(0, frames, BLOCK_FRAMES):
                    block = samples[:, i : i + BLOCK_FRAMES]
                    if bits == 32:
                        data = np.ascontiguousarray(block.T)
                    else:
                        data, n = quantise(block, bits, rng)
                        clipped += n
                    out.write(data)
                    if sink.error is not None:
                        break
        except (sf.LibsndfileError, RuntimeError, AssertionError) as exc:
            if sink.error is None:
                raise AudioWriteError(
                    f"libsndfile could not encode it ({exc}).", path=path
                ) from exc
        if sink.error is not None:
            raise sink.error
    return clipped


def _no_peak_chunk(out: sf.SoundFile) -> None:
    # libsndfile stamps the PEAK chunk of float WAVs with the time of writing, which
    # would make two saves of one signal differ; the chunk is optional (and ignored by
    # readers), so leave it out.
    snd = getattr(sf, "_snd", None)
    if out.subtype == "FLOAT" and snd is not None:
        snd.sf_command(out._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
