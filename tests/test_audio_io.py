"""Audio file I/O: load, info and save against known signals, ffmpeg and real recordings."""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import warnings
from datetime import timedelta
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stemforge import output
from stemforge.audio import Audio, AudioInfo, decode, encode, info, load, resample, save
from stemforge.audio.io import AudioClippingWarning, AudioDamagedWarning
from stemforge.errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    AudioWriteError,
    EmptyAudioError,
    InvalidAudioError,
    StemforgeError,
    UnsupportedFormatError,
)

SR = 48_000
N = 144_123  # 3.0026 s: not a multiple of any codec's frame size
LSB16 = 2.0**-15
LSB24 = 2.0**-23

# name: (suffix, ffmpeg arguments); "wav" is written by soundfile, the rest by ffmpeg
ENCODINGS = {
    "flac": (".flac", ["-c:a", "flac"]),
    "aiff": (".aiff", ["-c:a", "pcm_s16be"]),
    "alac": (".m4a", ["-c:a", "alac"]),
    "aac": (".m4a", ["-c:a", "aac", "-b:a", "192k"]),
    "aac_nopns": (
        ".m4a",
        ["-c:a", "aac", "-b:a", "192k", "-aac_pns", "0", "-movflags", "+faststart"],
    ),
    "mp3": (".mp3", ["-c:a", "libmp3lame", "-b:a", "192k"]),
    "vorbis": (".ogg", ["-c:a", "libvorbis", "-q:a", "6"]),
    "opus": (".opus", ["-c:a", "libopus", "-b:a", "160k"]),
    "webm": (".webm", ["-c:a", "libopus", "-b:a", "160k"]),
    "adts": (".aac", ["-c:a", "aac", "-b:a", "192k"]),
}
LOSSLESS = ["wav", "flac", "aiff", "alac"]


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture(scope="session")
def reference() -> np.ndarray:
    """A 48 kHz stereo test signal on the 16-bit grid, as int16 (channels, frames).

    Non-periodic (a chirp, noise bursts, decaying tones) so that cross-correlation has
    one unambiguous peak.
    """
    rng = np.random.default_rng(2024)
    t = np.arange(N) / SR
    chirp = 0.35 * np.sin(2 * np.pi * (100 * t + (6000 - 100) / (2 * t[-1]) * t**2))
    envelope = np.zeros(N)
    for onset in rng.integers(0, N - 4000, 12):
        envelope[onset : onset + 4000] += np.exp(-np.arange(4000) / 600)
    left = chirp + 0.2 * envelope * rng.standard_normal(N)
    right = np.zeros(N)
    for onset, freq in zip(rng.integers(0, N - 20000, 8), rng.uniform(200, 3000, 8), strict=True):
        k = np.arange(20000)
        right[onset : onset + 20000] += 0.2 * np.exp(-k / 5000) * np.sin(2 * np.pi * freq * k / SR)
    right += 0.1 * envelope[::-1] * rng.standard_normal(N)
    x = np.clip(np.stack([left, right]), -1, 1)
    return np.round(x * 32767).astype(np.int16)


@pytest.fixture(scope="session")
def ref_float(reference) -> np.ndarray:
    return reference.astype(np.float32) / 32768


@pytest.fixture(scope="session")
def encoded(tmp_path_factory, reference, ffmpeg) -> dict[str, Path]:
    """The reference signal in every format, encoded by ffmpeg (in parallel)."""
    folder = tmp_path_factory.mktemp("encoded")
    wav = folder / "ref.wav"
    sf.write(wav, reference.T, SR, subtype="PCM_16")
    files = {"wav": wav}
    procs = []
    for name, (suffix, args) in ENCODINGS.items():
        files[name] = folder / f"{name}{suffix}"
        cmd = [ffmpeg, "-v", "error", "-y", "-i", str(wav), *args, str(files[name])]
        procs.append(subprocess.Popen(cmd))
    assert all(p.wait() == 0 for p in procs)
    return files


@pytest.fixture(scope="session")
def full_loads(encoded) -> dict[str, Audio]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioDamagedWarning)  # intact files load silently
        return {name: load(path) for name, path in encoded.items()}


@pytest.fixture(scope="session")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scratch")


_counter = itertools.count()


def scratch_file(folder: Path, suffix: str, data: bytes) -> Path:
    path = folder / f"f{next(_counter)}{suffix}"
    path.write_bytes(data)
    return path


def ffmpeg_decode(ffmpeg: str, path: Path, channels: int) -> np.ndarray:
    out = subprocess.run(
        [ffmpeg, "-v", "error", "-i", str(path), "-f", "f32le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(out, np.float32).reshape(-1, channels).T


def ffprobe_stream(ffmpeg: str, path: Path) -> dict:
    probe = str(Path(ffmpeg).with_name("ffprobe"))
    out = subprocess.run(
        [probe, "-v", "error", "-select_streams", "a:0", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    ).stdout
    return json.loads(out)["streams"][0]


def xcorr_lag(x: np.ndarray, ref: np.ndarray, max_lag: int = 4000) -> tuple[int, float]:
    """The lag of ``x`` behind ``ref`` (samples) and the normalised correlation there."""
    n = min(len(x), len(ref))
    x, ref = x[:n].astype(np.float64), ref[:n].astype(np.float64)
    size = 1 << (2 * n - 1).bit_length()
    cc = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    values = np.r_[cc[: max_lag + 1], cc[-max_lag:]]
    best = int(np.argmax(values))
    return int(lags[best]), float(values[best] / (np.linalg.norm(x) * np.linalg.norm(ref)))


def wav_bytes(tag: int, channels: int, rate: int, bits: int, data: bytes, data_size=None) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    size = len(data) if data_size is None else data_size
    body = (
        b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", size)
        + data
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body) - 4 + (size - len(data))) + body


@contextlib.contextmanager
def hard_timeout(seconds: float):
    """Kill the test process with a traceback if a call hangs, even inside C code."""
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _drop_permission_override() -> None:
    # root ignores file permissions through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH;
    # dropped from the bounding set, they are gone after exec (prctl PR_CAPBSET_DROP)
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_unprivileged(code: str) -> dict:
    """Run ``code`` in a child Python that file permissions apply to, even under root."""
    preexec = _drop_permission_override if os.geteuid() == 0 else None
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=preexec,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


CHILD_PRELUDE = """
import json, numpy as np
from stemforge.audio import Audio, load, save
from stemforge.errors import StemforgeError
def report(fn):
    try:
        fn()
        print(json.dumps({"error": None}))
    except StemforgeError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
"""


# --- loading every format -----------------------------------------------------------------


@pytest.mark.parametrize("name", LOSSLESS)
def test_lossless_formats_load_bit_exact(name, encoded, full_loads, ref_float):
    audio = full_loads[name]
    assert audio.sample_rate == SR and audio.samples.shape == (2, N)
    np.testing.assert_array_equal(audio.samples, ref_float)
    meta = info(encoded[name])
    assert isinstance(meta, AudioInfo)
    assert (meta.sample_rate, meta.channels, meta.frames, meta.bit_depth) == (SR, 2, N, 16)
    assert meta.lossless and meta.duration_s == pytest.approx(N / SR)
    assert meta.codec == {"wav": "pcm_s16", "aiff": "pcm_s16", "flac": "flac", "alac": "alac"}[name]
    assert meta.container == {"wav": "wav", "aiff": "aiff", "flac": "flac", "alac": "mp4"}[name]


@pytest.mark.parametrize(
    ("name", "frames_tolerance", "min_corr"),
    [
        # the noise bursts code least faithfully, AAC's noise substitution replaces them
        ("aac", 48, 0.97),  # FFmpeg writes the MP4 edit list in ms: within 1 ms
        ("aac_nopns", 48, 0.98),
        ("mp3", 0, 0.98),  # LAME header: exact
        ("vorbis", 0, 0.98),
        ("opus", 0, 0.98),
        ("webm", 0, 0.98),
    ],
)
def test_lossy_formats_have_exact_length_and_no_delay(
    name, frames_tolerance, min_corr, encoded, full_loads, ref_float
):
    audio = full_loads[name]
    assert audio.sample_rate == SR and audio.channels == 2
    assert abs(audio.frames - N) <= frames_tolerance
    for ch in range(2):
        lag, corr = xcorr_lag(audio.samples[ch], ref_float[ch])
        assert lag == 0, f"{name} channel {ch} is {lag} samples late: priming not trimmed"
        assert corr > min_corr
    meta = info(encoded[name])
    # Matroska's clock counts milliseconds: its stated length is within 1 ms
    assert abs(meta.frames - audio.frames) <= (48 if name == "webm" else 0)
    assert meta.bit_depth is None and not meta.lossless
    assert meta.bitrate_bps is not None and 100_000 < meta.bitrate_bps < 260_000


def test_raw_adts_aac_keeps_its_priming(full_loads, ref_float, encoded):
    # ADTS has no edit list or gapless tag: FFmpeg's 1024 priming samples stay, as in ffmpeg.
    audio = full_loads["adts"]
    lag, corr = xcorr_lag(audio.samples[0], ref_float[0])
    assert lag == 1024 and corr > 0.97
    assert info(encoded["adts"]).container == "adts"


def test_m4a_without_noise_substitution_matches_ffmpeg_exactly_after_trimming(
    encoded, full_loads, ffmpeg
):
    ours = full_loads["aac_nopns"].samples
    theirs = ffmpeg_decode(ffmpeg, encoded["aac_nopns"], 2)
    assert theirs.shape[1] > ours.shape[1]  # ffmpeg's decode keeps the padding
    np.testing.assert_allclose(ours, theirs[:, : ours.shape[1]], atol=1e-5)


REAL_FILES = [
    "music/slow_motion_dream_excerpt.mp3",
    "music/sorohanro_-_solo-trumpet-06.hq.ogg",
    "music/6.Caesium_Master_mobile.m4a",
    "multitrack/caesium_stems/6.Caesium_Stem_FILL SCRATCH.m4a",
    "loudness/ebu_tech3341_subset/seq-3341-13-1-24bit.flac",
    "loudness/ebu_tech3341_subset/1kHz_Sine_-20_LUFS-16bit.flac",
    "loudness/itu_bs2217_subset/1770-2_Comp_AbsGateTest.wav",
    "multitrack/caesium_excerpt/mixture.flac",
]


@pytest.mark.parametrize("relative", REAL_FILES)
def test_real_files_match_ffmpeg(relative, shared_data, ffmpeg):
    path = shared_data / relative
    meta = info(path)
    probe = ffprobe_stream(ffmpeg, path)
    assert meta.sample_rate == int(probe["sample_rate"]) and meta.channels == probe["channels"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", AudioDamagedWarning)
        audio = load(path)
    assert (audio.sample_rate, audio.channels, audio.frames) == (
        meta.sample_rate,
        meta.channels,
        meta.frames,
    )
    theirs = ffmpeg_decode(ffmpeg, path, meta.channels)
    if meta.container == "mp4":
        # Apple's iTunSMPB tag names the real length; ffmpeg keeps the encoder padding.
        tag = av.open(str(path)).metadata["iTunSMPB"].split()
        assert audio.frames == int(tag[3], 16)
        assert theirs.shape[1] - audio.frames == int(tag[2], 16)
    else:
        assert audio.frames == theirs.shape[1]
    common = theirs[:, : audio.frames]
    if meta.lossless:
        np.testing.assert_array_equal(audio.samples, common)
    else:
        assert np.abs(audio.samples - common).max() < 1e-3
        loudest = int(np.argmax(np.abs(audio.samples[0])))  # stems are silent in places
        middle = slice(max(loudest - (1 << 16), 0), loudest + (1 << 16))
        lag, corr = xcorr_lag(audio.samples[0, middle], common[0, middle], max_lag=2000)
        assert lag == 0 and corr > 0.9999


@pytest.mark.parametrize(
    ("subtype", "fmt", "codes", "bits"),
    [
        ("PCM_U8", "WAV", [-128, -1, 0, 64, 127], 8),
        ("PCM_S8", "AIFF", [-128, -1, 0, 64, 100, 127], 8),  # even: libsndfile pads odd AIFF
        ("PCM_16", "WAV", [-32768, -1, 0, 12345, 32767], 16),
        ("PCM_24", "WAV", [-(2**23), -1, 0, 1234567, 2**23 - 1], 24),
        ("PCM_24", "AIFF", [-(2**23), -1, 0, 1234567, 2**23 - 1], 24),
        ("PCM_32", "WAV", [-(2**31), -256, 0, 2**30, 2**31 - 256], 32),
    ],
)
def test_integer_pcm_depths_scale_by_2_pow_bits_minus_1(subtype, fmt, codes, bits, scratch):
    path = scratch / f"depth_{subtype}{'.aiff' if fmt == 'AIFF' else '.wav'}"
    expected = np.array(codes, np.float64) / 2 ** (bits - 1)
    sf.write(path, expected, 8_000, subtype=subtype, format=fmt)
    audio = load(path)
    np.testing.assert_allclose(audio.samples[0], expected, rtol=0, atol=2**-24)
    meta = info(path)
    assert meta.bit_depth == bits and meta.lossless


@pytest.mark.parametrize(("subtype", "bits"), [("FLOAT", 32), ("DOUBLE", 64)])
def test_float_pcm_keeps_values_beyond_full_scale(subtype, bits, scratch):
    values = np.array([-2.5, -1.0, 0.0, 1e-9, 0.75, 1.5])
    path = scratch / f"float_{subtype}.wav"
    sf.write(path, values, 96_000, subtype=subtype)
    audio = load(path)
    np.testing.assert_array_equal(audio.samples[0], values.astype(np.float32))
    meta = info(path)
    assert meta.codec == f"pcm_f{bits}" and meta.bit_depth == bits


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_ffmpeg_backend_scales_every_sample_format_like_libsndfile(subtype, tmp_path):
    # the FFmpeg path converts u8, s16, s32 (24-bit left-justified), flt and dbl itself
    x = np.random.default_rng(9).uniform(-1, 1, (3000, 3))
    path = tmp_path / "fmt.wav"
    sf.write(path, x, 44_100, subtype=subtype)
    expected = sf.read(path, dtype="float32", always_2d=True)[0].T
    head = path.read_bytes()[:64]
    source = decode.PyAVSource(path, decode.sniff(head), "wav", path.stat().st_size)
    try:
        got = source.read(0, None).samples
        assert source.info.bit_depth == {"PCM_U8": 8, "PCM_16": 16, "PCM_24": 24}.get(
            subtype, 32 if subtype != "DOUBLE" else 64
        )
    finally:
        source.close()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("rate", "channels"), [(8_000, 1), (192_000, 8), (11_025, 3), (88_200, 6)])
def test_rates_and_channel_counts(rate, channels, scratch):
    data = np.random.default_rng(rate).integers(-30000, 30000, (256, channels)).astype(np.int16)
    path = scratch / f"rc_{rate}_{channels}.wav"
    sf.write(path, data, rate)
    audio = load(path)
    assert (audio.sample_rate, audio.channels) == (rate, channels)
    np.testing.assert_array_equal(audio.samples, data.T / 32768)


# --- options: part, mono, resampling ------------------------------------------------------

PARTS = [(0.0, 0.1), (0.0001, 0.2), (0.7, 0.5), (1.9, 0.31), (2.9, 5.0)]


@pytest.mark.parametrize(
    "name", ["wav", "flac", "aiff", "alac", "mp3", "vorbis", "opus", "webm", "aac_nopns", "adts"]
)
def test_part_equals_the_same_part_of_a_full_decode(name, encoded, full_loads):
    full = full_loads[name].samples
    for start_s, duration_s in PARTS:
        part = load(encoded[name], start_s=start_s, duration_s=duration_s)
        start = round(start_s * SR)
        expected = full[:, start : start + round(duration_s * SR)]
        assert part.samples.shape == expected.shape, (start_s, duration_s)
        np.testing.assert_allclose(part.samples, expected, rtol=0, atol=1e-7)
    tail = load(encoded[name], start_s=2.5)
    np.testing.assert_allclose(tail.samples, full[:, 120_000:], rtol=0, atol=1e-7)


def test_part_of_aac_with_noise_substitution_is_aligned(encoded, full_loads):
    # AAC's perceptual noise substitution (on in FFmpeg's encoder, off in Apple's) draws
    # noise from the decoder's random generator: after a seek those bands get other noise
    # of the same level, so compare alignment and level rather than samples.
    full = full_loads["aac"].samples
    for start_s, duration_s in PARTS[2:4]:
        part = load(encoded["aac"], start_s=start_s, duration_s=duration_s).samples
        start = round(start_s * SR)
        expected = full[:, start : start + part.shape[1]]
        assert part.shape[1] == round(duration_s * SR)
        lag, corr = xcorr_lag(part[0], expected[0], max_lag=1000)
        assert lag == 0 and corr > 0.95
        level_db = 10 * np.log10(
            np.mean(part.astype(np.float64) ** 2) / np.mean(expected.astype(np.float64) ** 2)
        )
        assert abs(level_db) < 0.5


class _CountingContainer:
    def __init__(self, container):
        self._container = container
        self.packets = 0

    def demux(self, *args, **kwargs):
        for packet in self._container.demux(*args, **kwargs):
            self.packets += 1
            yield packet

    def __getattr__(self, name):
        return getattr(self._container, name)


def test_part_of_a_long_m4a_decodes_only_that_part(shared_data, monkeypatch):
    path = shared_data / "multitrack/caesium_stems/6.Caesium_Stem_KICK.m4a"  # 236 s, 11079 packets
    opened = []
    real_open = av.open
    monkeypatch.setattr(
        av,
        "open",
        lambda *a, **k: opened.append(_CountingContainer(real_open(*a, **k))) or opened[-1],
    )
    part = load(path, start_s=200.0, duration_s=1.0)
    monkeypatch.undo()
    assert part.frames == 48_000
    assert sum(c.packets for c in opened) < 120  # 1.5 s of 1024-sample packets, not 236 s
    full = load(path)
    np.testing.assert_allclose(part.samples, full.samples[:, 9_600_000:9_648_000], atol=1e-4)


def test_part_of_a_flac_reads_only_that_part(shared_data, monkeypatch):
    path = shared_data / "loudness/ebu_tech3341_subset/seq-3341-1-16bit.flac"
    read_frames = []
    real_read = sf.SoundFile.read

    def counting_read(self, *args, **kwargs):
        out = real_read(self, *args, **kwargs)
        read_frames.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", counting_read)
    part = load(path, start_s=5.0, duration_s=1.0)
    assert part.frames == 48_000 and sum(read_frames) == 48_000


def test_mono_is_the_channel_mean(encoded, ref_float):
    mono = load(encoded["flac"], mono=True)
    assert mono.samples.shape == (1, N)
    np.testing.assert_allclose(mono.samples[0], ref_float.mean(axis=0), atol=1e-7)


def test_sample_rate_option_resamples_with_soxr(encoded, full_loads):
    out = load(encoded["wav"], sample_rate=44_100)
    assert out.sample_rate == 44_100 and abs(out.frames - round(N * 44_100 / SR)) <= 1
    np.testing.assert_array_equal(out.samples, resample(full_loads["wav"], 44_100).samples)
    same = load(encoded["wav"], sample_rate=SR)
    np.testing.assert_array_equal(same.samples, full_loads["wav"].samples)


def test_sample_rate_and_mono_and_part_together(encoded, ref_float):
    out = load(encoded["flac"], sample_rate=16_000, mono=True, start_s=1.0, duration_s=0.5)
    assert (out.sample_rate, out.channels) == (16_000, 1)
    assert abs(out.frames - 8_000) <= 1


def test_path_may_be_str_or_path(encoded):
    assert load(str(encoded["wav"])).frames == load(encoded["wav"]).frames == N
    assert info(str(encoded["flac"])).path == str(encoded["flac"])


def test_info_does_not_decode(shared_data, monkeypatch):
    path = shared_data / "multitrack/caesium_stems/6.Caesium_Stem_KICK.m4a"
    opened = []
    real_open = av.open
    monkeypatch.setattr(
        av,
        "open",
        lambda *a, **k: opened.append(_CountingContainer(real_open(*a, **k))) or opened[-1],
    )
    meta = info(path)
    assert sum(c.packets for c in opened) <= 4
    assert (meta.container, meta.codec, meta.sample_rate, meta.channels) == (
        "mp4",
        "aac",
        48_000,
        2,
    )
    assert meta.frames == 0xAD13B1  # its iTunSMPB length
    assert meta.to_dict()["duration_s"] == pytest.approx(0xAD13B1 / 48_000)


# --- errors -------------------------------------------------------------------------------


def _assert_names_file(exc: StemforgeError, path: Path) -> None:
    assert str(path) in str(exc)
    assert exc.path == str(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.wav"
    for fn in (load, info):
        with pytest.raises(AudioFileNotFoundError) as err:
            fn(path)
        _assert_names_file(err.value, path)
        assert "no such file" in str(err.value)


def test_directory(tmp_path):
    with pytest.raises(AudioFileNotFoundError, match="folder"):
        load(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.flac"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="0 bytes"):
        load(path)


def test_fifo_is_refused_without_hanging(tmp_path):
    path = tmp_path / "pipe.wav"
    os.mkfifo(path)
    with hard_timeout(20), pytest.raises(AudioDecodeError, match="regular file"):
        load(path)


@pytest.mark.parametrize(
    ("suffix", "data"),
    [
        (".wav", b"This is a text file, not a WAV.\n" * 20),
        (".mp3", np.random.default_rng(3).bytes(5000)),
        (".m4a", b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00" + bytes(200)),
        (
            ".mp3",
            b"ID3\x04\x00\x00\x00\x00\x00\x10" + bytes(16) + np.random.default_rng(4).bytes(3000),
        ),
    ],
)
def test_not_audio(suffix, data, tmp_path):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(data)
    for fn in (load, info):
        with pytest.raises(AudioDecodeError) as err:
            fn(path)
        _assert_names_file(err.value, path)
        assert err.value.hint


def test_video_without_audio(tmp_path, ffmpeg):
    path = tmp_path / "video.m4a"
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=32x32:d=0.2",
            "-c:v",
            "mpeg4",
            "-f",
            "mp4",
            str(path),
        ],
        check=True,
    )
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        load(path)


def test_unknown_codec_is_unsupported(tmp_path):
    path = tmp_path / "codec.wav"
    path.write_bytes(wav_bytes(0x9999, 2, 44_100, 16, bytes(4000)))
    with pytest.raises(UnsupportedFormatError, match="codec") as err:
        load(path)
    _assert_names_file(err.value, path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_float_samples(bad, tmp_path):
    data = np.zeros((4800, 2), np.float32)
    data[2400, 1] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, data, SR, subtype="FLOAT")
    with pytest.raises(
        InvalidAudioError, match=r"1 NaN or infinite sample\(s\), the first at 0.050 s"
    ):
        load(path)
    assert load(path, duration_s=0.04).frames == 1920  # the part before it is fine


@pytest.mark.parametrize(("rate", "channels"), [(4_000, 2), (7_999, 1), (384_000, 2), (48_000, 10)])
def test_unloadable_rate_or_channels(rate, channels, tmp_path):
    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros((100, channels), np.int16), rate)
    with pytest.raises(UnsupportedFormatError) as err:
        load(path)
    _assert_names_file(err.value, path)
    assert (str(rate) if channels <= 8 else "10 channels") in str(err.value)
    meta = info(path)  # info still describes it
    assert (meta.sample_rate, meta.channels) == (rate, channels)


def test_valid_wav_with_no_frames(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros((0, 2), np.int16), SR)
    with pytest.raises(EmptyAudioError, match="no audio frames"):
        load(path)
    assert info(path).frames == 0


def test_start_past_the_end(encoded):
    with pytest.raises(EmptyAudioError, match="past the end"):
        load(encoded["flac"], start_s=10.0)
    with pytest.raises(EmptyAudioError, match="past the end"):
        load(encoded["aac"], start_s=10.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start_s": -1.0},
        {"start_s": float("nan")},
        {"duration_s": 0.0},
        {"duration_s": float("inf")},
        {"sample_rate": 44_100.5},
    ],
)
def test_bad_arguments(kwargs, encoded):
    with pytest.raises(ValueError):
        load(encoded["wav"], **kwargs)


def test_bad_target_rate(encoded):
    with pytest.raises(UnsupportedFormatError):
        load(encoded["wav"], sample_rate=1_000)


def test_permission_denied(encoded):
    folder = Path(tempfile.mkdtemp(prefix="stemforge-perm-"))
    try:
        folder.chmod(0o755)
        locked = folder / "locked.wav"
        shutil.copy(encoded["wav"], locked)
        locked.chmod(0o000)
        result = run_unprivileged(CHILD_PRELUDE + f"report(lambda: load({str(locked)!r}))")
        assert result["error"] == "AudioPermissionError"
        assert "permission denied" in result["message"] and str(locked) in result["message"]
    finally:
        shutil.rmtree(folder)


def test_permission_denied_is_an_audio_error_in_process(encoded, monkeypatch, tmp_path):
    # the same mapping without a second user: the OS refuses the open
    path = tmp_path / "x.wav"
    shutil.copy(encoded["wav"], path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(AudioError, match="permission denied"):
        load(path)


# --- damaged files ------------------------------------------------------------------------


def test_truncated_wav_loads_the_frames_present(encoded, ref_float, tmp_path):
    data = encoded["wav"].read_bytes()
    header = data.index(b"data") + 8
    path = scratch_file(tmp_path, ".wav", data[: header + 4 * 50_000 + 3])  # half a frame extra
    with pytest.warns(AudioDamagedWarning, match="truncated"):
        audio = load(path)
    np.testing.assert_array_equal(audio.samples, ref_float[:, :50_000])


def test_wav_with_header_only_is_a_decode_error(encoded, tmp_path):
    data = encoded["wav"].read_bytes()
    path = scratch_file(tmp_path, ".wav", data[: data.index(b"data") + 8])
    with pytest.raises(AudioDecodeError, match="no audio could be decoded"):
        load(path)


@pytest.mark.parametrize("name", ["flac", "aac_nopns", "mp3", "vorbis", "opus"])
def test_truncated_compressed_file_loads_its_beginning(name, encoded, full_loads, tmp_path):
    data = encoded[name].read_bytes()
    path = scratch_file(tmp_path, encoded[name].suffix, data[: len(data) // 2])
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        audio = load(path)
    full = full_loads[name].samples
    assert 0.3 * N < audio.frames < 0.7 * N
    n = audio.frames - 2048  # the last packet may be partial
    np.testing.assert_allclose(audio.samples[:, :n], full[:, :n], atol=1e-4)


def test_truncated_flac_warns(encoded, tmp_path):
    data = encoded["flac"].read_bytes()
    path = scratch_file(tmp_path, ".flac", data[: len(data) // 2])
    with pytest.warns(AudioDamagedWarning, match="header promises 3.003 s"):
        load(path)


@pytest.mark.parametrize("name", ["vorbis", "opus"])
def test_truncated_ogg_warns_though_ogg_states_no_length(name, encoded, tmp_path):
    data = encoded[name].read_bytes()
    path = scratch_file(tmp_path, encoded[name].suffix, data[: len(data) - 100])
    with pytest.warns(AudioDamagedWarning, match="end-of-stream page"):
        load(path)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("aac_nopns", "1 damaged packet"),
        ("vorbis", "cut short or damaged"),
        ("flac", "cut short or damaged"),
    ],
)
def test_damage_in_the_middle_is_skipped_with_a_warning(
    name, message, encoded, full_loads, tmp_path
):
    data = bytearray(encoded[name].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 300] = np.random.default_rng(5).bytes(300)
    path = scratch_file(tmp_path, encoded[name].suffix, bytes(data))
    with pytest.warns(AudioDamagedWarning, match=message):
        audio = load(path)
    assert audio.frames < full_loads[name].frames
    head = N // 4  # well before the damage the samples are intact
    np.testing.assert_allclose(
        audio.samples[:, :head], full_loads[name].samples[:, :head], atol=1e-6
    )


def test_m4a_cut_before_its_index_is_a_decode_error(encoded, tmp_path):
    data = encoded["aac"].read_bytes()  # ffmpeg writes the moov index at the end
    path = scratch_file(tmp_path, ".m4a", data[: len(data) // 2])
    with pytest.raises(AudioDecodeError):
        load(path)


# --- fuzzing: nothing but StemforgeError, never a hang ------------------------------------

MAGIC = [
    b"",
    b"RIFF\x24\x10\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00",
    b"fLaC\x00\x00\x00\x22",
    b"OggS\x00\x02" + bytes(20),
    b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00",
    b"ID3\x04\x00\x00\x00\x00\x00\x00",
    b"\xff\xfb\x90\x64",
    b"\xff\xf1\x50\x80",
    b"\x1a\x45\xdf\xa3",
    b"FORM\x00\x00\x10\x00AIFFCOMM",
    b"caff\x00\x01\x00\x00",
]

FUZZ_SETTINGS = settings(
    max_examples=60,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _only_stemforge_errors(path: Path) -> Audio | None:
    with hard_timeout(30), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(StemforgeError):
            info(path)
        try:
            return load(path)
        except StemforgeError:
            return None


@FUZZ_SETTINGS
@given(
    magic=st.sampled_from(MAGIC),
    body=st.binary(max_size=3000),
    suffix=st.sampled_from([".wav", ".flac", ".mp3", ".m4a", ".ogg", ".bin"]),
)
def test_random_bytes_raise_only_stemforge_errors(magic, body, suffix, scratch):
    path = scratch_file(scratch, suffix, magic + body)
    audio = _only_stemforge_errors(path)
    assert audio is None or audio.frames > 0


@FUZZ_SETTINGS
@given(
    name=st.sampled_from(
        ["wav", "flac", "aiff", "alac", "aac", "aac_nopns", "mp3", "vorbis", "opus", "webm"]
    ),
    fraction=st.floats(0.0, 1.0),
)
def test_truncated_prefixes_raise_only_stemforge_errors(
    name, fraction, encoded, full_loads, scratch
):
    data = encoded[name].read_bytes()
    cut = data[: int(len(data) * fraction)]
    path = scratch_file(scratch, encoded[name].suffix, cut)
    audio = _only_stemforge_errors(path)
    if audio is not None:  # what decodes is the beginning of the signal
        full = full_loads[name].samples
        assert audio.frames <= full.shape[1]
        n = max(audio.frames - 2048, 0)
        np.testing.assert_allclose(audio.samples[:, :n], full[:, :n], atol=1e-4)


@settings(
    max_examples=25,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(position=st.floats(0.0, 0.999), value=st.integers(0, 255))
def test_corrupted_byte_raises_only_stemforge_errors(position, value, encoded, scratch):
    for name in ("flac", "mp3", "aac_nopns"):
        data = bytearray(encoded[name].read_bytes())
        data[int(position * len(data))] = value
        _only_stemforge_errors(scratch_file(scratch, encoded[name].suffix, bytes(data)))


# --- saving -------------------------------------------------------------------------------

ROUND_TRIP_RATES = st.one_of(
    st.sampled_from([8_000, 11_025, 22_050, 44_100, 48_000, 88_200, 96_000, 176_400, 192_000]),
    st.integers(8_000, 192_000),
)


@settings(
    max_examples=60,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    channels=st.integers(1, 8),
    frames=st.integers(1, 2_000),
    rate=ROUND_TRIP_RATES,
    target=st.sampled_from(
        [(".wav", 16), (".wav", 24), (".wav", 32), (".flac", 16), (".flac", 24)]
    ),
    dither=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_save_load_round_trip(channels, frames, rate, target, dither, seed, scratch):
    suffix, bits = target
    if suffix == ".flac" and rate > 65_535:
        rate -= rate % 10  # FLAC's rule, tested on its own below
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (channels, frames)).astype(np.float32)
    x[:, rng.random(frames) < 0.05] = 0.0
    x[0, 0] = rng.choice([-1.0, 1.0, 0.0, x[0, 0]])
    path = scratch / f"rt{next(_counter)}{suffix}"
    assert save(path, Audio(x, rate), bit_depth=bits, dither=dither) == path
    y = load(path)
    assert (y.sample_rate, y.channels, y.frames) == (rate, channels, frames)
    meta = info(path)
    assert meta.bit_depth == bits and meta.frames == frames
    error = np.abs(y.samples.astype(np.float64) - x)
    if bits == 32:
        assert error.max() == 0
    else:
        lsb = 2.0 ** (1 - bits)
        # rounding is within 1/2 LSB, TPDF dither adds less than 1; +1.0 clips to 1 - LSB
        bound = (1.5 if dither and bits == 16 else 1.0) * lsb
        assert error.max() <= bound
        assert np.all(y.samples[x == 0] == 0)  # digital silence stays silent


def _level_sine(amplitude_lsb: float, frames: int = 96_000) -> np.ndarray:
    t = np.arange(frames) / SR
    return (amplitude_lsb * LSB16 * np.sin(2 * np.pi * 997 * t) + 0.3 * LSB16).astype(np.float32)[
        None
    ]


def test_tpdf_dither_makes_the_error_independent_of_the_signal(tmp_path):
    x = _level_sine(7.3)
    # group the samples by where they fall between two 16-bit codes
    frac = (x[0].astype(np.float64) / LSB16) % 1.0
    bins = np.digitize(frac, [0.25, 0.5, 0.75])
    results = {}
    for dither in (True, False):
        path = save(tmp_path / f"d{dither}.wav", Audio(x, SR), bit_depth=16, dither=dither)
        error = (load(path).samples[0].astype(np.float64) - x[0]) / LSB16
        by_bin = [(error[bins == b].mean(), error[bins == b].var()) for b in range(4)]
        results[dither] = (np.sqrt(np.mean(error**2)), by_bin, np.corrcoef(error, x[0])[0, 1])
    rms, by_bin, corr = results[True]
    assert rms == pytest.approx(0.5, rel=0.03)  # variance 1/12 + 1/6 LSB^2
    # TPDF: the error's mean and variance do not depend on the signal's value
    assert max(abs(mean) for mean, _ in by_bin) < 0.03
    assert all(var == pytest.approx(0.25, rel=0.1) for _, var in by_bin)
    assert abs(corr) < 0.02
    rms_plain, by_bin_plain, _ = results[False]
    assert rms_plain == pytest.approx(np.sqrt(1 / 12), rel=0.05)
    assert max(abs(mean) for mean, _ in by_bin_plain) > 0.1  # plain rounding: signal-dependent


def test_dither_is_deterministic_and_spares_exact_16_bit_material(tmp_path, ref_float):
    x = Audio(_level_sine(100.0), SR)
    a = save(tmp_path / "a.wav", x, bit_depth=16)
    b = save(tmp_path / "b.wav", x, bit_depth=16)
    assert a.read_bytes() == b.read_bytes()
    on_grid = Audio(ref_float, SR)  # as loaded from a 16-bit file
    c = save(tmp_path / "c.flac", on_grid, bit_depth=16)
    np.testing.assert_array_equal(load(c).samples, ref_float)
    f1 = save(tmp_path / "f1.wav", x, bit_depth=32)
    f2 = save(tmp_path / "f2.wav", x, bit_depth=32)
    assert f1.read_bytes() == f2.read_bytes()  # no time-stamped PEAK chunk


def test_clipping_is_reported_and_float_keeps_overs(tmp_path):
    x = Audio(np.array([[0.5, 1.5, -2.0, 1.0, -1.0]], np.float32), SR)
    with pytest.warns(
        AudioClippingWarning, match=r"2 sample\(s\) beyond full scale \(peak \+6.02 dBFS\)"
    ):
        path = save(tmp_path / "clip.wav", x, bit_depth=16, dither=False)
    np.testing.assert_array_equal(
        load(path).samples[0], [0.5, 32767 / 32768, -1.0, 32767 / 32768, -1.0]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path32 = save(tmp_path / "over.wav", x, bit_depth=32)
    np.testing.assert_array_equal(load(path32).samples, x.samples)


@pytest.mark.parametrize(
    ("suffix", "bits", "channels", "codec", "sample_fmt", "raw_bits"),
    [
        (".wav", 16, 2, "pcm_s16le", "s16", None),
        (".wav", 24, 6, "pcm_s24le", "s32", "24"),
        (".wav", 32, 1, "pcm_f32le", "flt", None),
        (".flac", 24, 2, "flac", "s32", "24"),
        (".flac", 16, 8, "flac", "s16", "16"),
    ],
)
def test_saved_files_read_the_same_in_ffmpeg(
    suffix, bits, channels, codec, sample_fmt, raw_bits, tmp_path, ffmpeg
):
    x = np.random.default_rng(bits).uniform(-0.9, 0.9, (channels, 4_000)).astype(np.float32)
    path = save(tmp_path / f"out{suffix}", Audio(x, 44_100), bit_depth=bits)
    probe = ffprobe_stream(ffmpeg, path)
    assert probe["codec_name"] == codec and probe["sample_fmt"] == sample_fmt
    assert int(probe["sample_rate"]) == 44_100 and probe["channels"] == channels
    if raw_bits:
        assert probe["bits_per_raw_sample"] == raw_bits
    np.testing.assert_array_equal(ffmpeg_decode(ffmpeg, path, channels), load(path).samples)


@pytest.mark.parametrize("name", ["mix.mp3", "mix.ogg", "mix", "mix.aiff"])
def test_save_unsupported_suffix(name, tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"\.wav and \.flac"):
        save(tmp_path / name, Audio.silence(0.1))
    assert not any(tmp_path.iterdir())


def test_save_flac_rates_above_65535_must_be_multiples_of_10(tmp_path):
    with pytest.raises(UnsupportedFormatError, match="multiples of 10"):
        save(tmp_path / "x.flac", Audio.silence(0.01, 100_001))
    assert info(save(tmp_path / "y.flac", Audio.silence(0.01, 100_010))).sample_rate == 100_010
    assert info(save(tmp_path / "z.wav", Audio.silence(0.01, 100_001))).sample_rate == 100_001


def test_save_flac_float_and_odd_depths(tmp_path):
    with pytest.raises(UnsupportedFormatError, match=r"bit_depth=24.*\.wav"):
        save(tmp_path / "x.flac", Audio.silence(0.1), bit_depth=32)
    with pytest.raises(UnsupportedFormatError, match="16 or 24"):
        save(tmp_path / "x.wav", Audio.silence(0.1), bit_depth=20)


def test_save_refuses_bad_signals(tmp_path):
    with pytest.raises(InvalidAudioError):
        save(tmp_path / "x.wav", Audio(np.array([[0.0, np.nan]], np.float32), SR))
    with pytest.raises(EmptyAudioError):
        save(tmp_path / "x.wav", Audio(np.zeros((2, 0), np.float32), SR))
    assert not any(tmp_path.iterdir())


def test_save_into_missing_folder_or_onto_a_folder(tmp_path):
    with pytest.raises(AudioWriteError, match="does not exist") as err:
        save(tmp_path / "no" / "such" / "x.wav", Audio.silence(0.1))
    assert "Create the folder" in str(err.value)
    (tmp_path / "d.wav").mkdir()
    with pytest.raises(AudioWriteError, match="folder"):
        save(tmp_path / "d.wav", Audio.silence(0.1))


def _existing(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "mix.wav"
    save(path, Audio.silence(0.05), bit_depth=16)
    return path, path.read_bytes()


def test_failure_at_fsync_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path, before = _existing(tmp_path)

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "fsync", disk_full)
    with pytest.raises(AudioWriteError, match="disk is full") as err:
        save(path, Audio(np.full((2, 48_000), 0.25, np.float32), SR))
    _assert_names_file(err.value, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav"]


def test_any_exception_while_encoding_removes_the_temp(tmp_path, monkeypatch):
    path, before = _existing(tmp_path)

    def boom(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(encode, "quantise", boom)
    with pytest.raises(KeyboardInterrupt):
        save(path, Audio.silence(1.0), bit_depth=24)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav"]


def test_real_file_size_limit_while_writing(tmp_path):
    # RLIMIT_FSIZE makes the kernel refuse writes past 64 kB (EFBIG), as a full disk would
    path, before = _existing(tmp_path)
    code = CHILD_PRELUDE + (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        f"report(lambda: save({str(path)!r}, Audio(np.full((2, 96000), 0.1, np.float32), 48000)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["error"] == "AudioWriteError" and "largest size" in result["message"]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav"]


def test_read_only_folder():
    folder = Path(tempfile.mkdtemp(prefix="stemforge-ro-"))
    try:
        path = folder / "mix.wav"
        save(path, Audio.silence(0.05), bit_depth=16)
        before = path.read_bytes()
        path.chmod(0o666)
        folder.chmod(0o555)
        result = run_unprivileged(
            CHILD_PRELUDE + f"report(lambda: save({str(path)!r}, Audio.silence(0.2)))"
        )
        assert result["error"] == "AudioWriteError" and "permission denied" in result["message"]
        assert path.read_bytes() == before
        assert sorted(p.name for p in folder.iterdir()) == ["mix.wav"]
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_new_files_follow_the_umask_and_replacements_keep_their_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        new = save(tmp_path / "new.flac", Audio.silence(0.05))
        assert new.stat().st_mode & 0o777 == 0o644
        new.chmod(0o600)
        save(new, Audio.silence(0.1))
        assert new.stat().st_mode & 0o777 == 0o600
        assert info(new).frames == 4_800
    finally:
        os.umask(umask)


def test_multichannel_wav_uses_wave_format_extensible(tmp_path):
    path = save(tmp_path / "six.wav", Audio(np.zeros((6, 100), np.float32), SR), bit_depth=24)
    data = path.read_bytes()
    assert struct.unpack("<H", data[20:22])[0] == 0xFFFE
    assert load(path).channels == 6


def test_sniffing_ignores_the_file_name(encoded, tmp_path):
    # an MP4 named .wav and a FLAC named .mp3 load by their content
    m4a_as_wav = tmp_path / "really_m4a.wav"
    shutil.copy(encoded["aac_nopns"], m4a_as_wav)
    flac_as_mp3 = tmp_path / "really_flac.mp3"
    shutil.copy(encoded["flac"], flac_as_mp3)
    assert info(m4a_as_wav).codec == "aac" and load(m4a_as_wav).channels == 2
    assert info(flac_as_mp3).codec == "flac" and load(flac_as_mp3).frames == N
    assert decode.sniff(b"OggS" + bytes(24) + b"OpusHead").name == "ogg"
