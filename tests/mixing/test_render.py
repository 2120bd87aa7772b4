"""Rendering a mix sheet: exactness, alignment, solo and mute, determinism, true peak."""

from __future__ import annotations

import hashlib
import math
import time

import numpy as np
import pytest
import scipy.signal

from stemforge.analysis.loudness import loudness
from stemforge.analysis.truepeak import true_peak
from stemforge.audio.filters import EQ, HighPass, HighShelf, LowPass, PeakingEQ
from stemforge.audio.io import load
from stemforge.audio.signal import Audio
from stemforge.audio.stems import align_stems
from stemforge.mixing import MixRenderError, render
from stemforge.mixing.pan import pan_gains
from stemforge.mixing.sheet import (
    Band,
    ChannelEQ,
    Compressor,
    Limiter,
    MasterBus,
    MixSheet,
    Reverb,
    StemChannel,
)
from stemforge.mixing.sosfilt import sosfilt_frames_first

FS = 48000


def tone(frequency_hz, seconds=1.0, level=0.1, channels=2, rate=FS, phase=0.0):
    t = np.arange(round(seconds * rate)) / rate
    x = level * np.sin(2 * np.pi * frequency_hz * t + phase)
    return Audio(np.tile(x, (channels, 1)).astype(np.float32), rate)


def digest(audio: Audio) -> str:
    return hashlib.sha256(audio.samples.tobytes()).hexdigest()


def test_one_stem_flat_sheet_is_the_input(rng):
    x = Audio((rng.standard_normal((2, FS)) * 0.05).astype(np.float32), FS)
    mix = render({"only": x}, MixSheet.flat(["only"]))
    assert mix.audio.samples.dtype == np.float32 and mix.audio.sample_rate == FS
    assert np.abs(mix.audio.samples - x.samples).max() <= 1e-6
    assert mix.limiter_gain_reduction_db == 0.0


def test_real_stems_flat_sum_is_the_real_mixture(shared_data):
    """The excerpt's mixture is the exact sum of its stems; a flat render reproduces it."""
    folder = shared_data / "multitrack" / "caesium_excerpt"
    parts = {n: load(folder / f"{n}.flac", duration_s=4.0) for n in ("vocals", "drums", "other")}
    mixture = load(folder / "mixture.flac", duration_s=4.0)
    assert true_peak(mixture).true_peak_dbtp < -1.0  # below the default ceiling
    mix = render(parts, MixSheet.flat(parts))
    assert np.abs(mix.audio.samples - mixture.samples).max() <= 1e-6
    assert mix.integrated_lufs == pytest.approx(loudness(mixture).integrated_lufs, abs=1e-6)


@pytest.mark.parametrize("gain_db", [-6.02, -20.0, 3.5])
def test_gain_db_is_exact_on_a_sine(gain_db):
    x = tone(440.0, level=0.2)
    mix = render({"a": x}, MixSheet.flat(["a"]).with_stem("a", gain_db=gain_db))
    assert np.allclose(mix.audio.samples, x.samples * 10 ** (gain_db / 20), rtol=0, atol=1e-6)


def test_mono_stem_is_panned_with_constant_power():
    x = tone(300.0, channels=1, level=0.3)
    for position in (-1.0, -0.4, 0.0, 0.7):
        mix = render({"m": x}, MixSheet.flat(["m"]).with_stem("m", pan=position)).audio
        left, right = pan_gains(position)
        assert np.allclose(mix.samples[0], x.samples[0] * left, atol=1e-6)
        assert np.allclose(mix.samples[1], x.samples[0] * right, atol=1e-6)
    hard_left = render({"m": x}, MixSheet.flat(["m"]).with_stem("m", pan=-1.0)).audio
    assert not hard_left.samples[1].any()


@pytest.mark.parametrize("frequency_hz", [30.0, 100.0, 250.0, 1000.0, 3000.0, 9000.0, 15000.0])
def test_eq_response_matches_the_audio_filters(frequency_hz):
    eq = ChannelEQ(
        high_pass_hz=60.0,
        high_pass_slope_db_per_oct=24,
        low_pass_hz=12000.0,
        low_pass_slope_db_per_oct=12,
        high_shelf_hz=8000.0,
        high_shelf_gain_db=3.0,
        bands=(Band(250.0, -4.0, 1.4), Band(3000.0, 5.0, 2.0)),
    )
    truth = EQ(
        (
            HighPass(60.0, 24),
            PeakingEQ(250.0, -4.0, 1.4),
            PeakingEQ(3000.0, 5.0, 2.0),
            HighShelf(8000.0, 3.0),
            LowPass(12000.0, 12),
        )
    ).response_db([frequency_hz], FS)[0]
    x = tone(frequency_hz, seconds=1.5, level=0.01)
    mix = render({"a": x}, MixSheet.flat(["a"]).with_stem("a", eq=eq)).audio
    steady = slice(FS // 2, None)  # after the filters' transients
    ratio = np.sqrt(np.mean(mix.samples[0, steady].astype(float) ** 2)) / np.sqrt(
        np.mean(x.samples[0, steady].astype(float) ** 2)
    )
    assert 20 * math.log10(ratio) == pytest.approx(truth, abs=0.05)


def test_stems_of_different_rates_lengths_and_channels(rng):
    stems = {
        "mono22k": Audio((rng.standard_normal((1, 22050)) * 0.05).astype(np.float32), 22050),
        "stereo48k": Audio((rng.standard_normal((2, 2 * FS)) * 0.05).astype(np.float32), FS),
        "surround": Audio((rng.standard_normal((6, 66150)) * 0.05).astype(np.float32), 44100),
    }
    sheet = MixSheet.flat(stems).with_stem("surround", offset_s=1.0, compressor=Compressor())
    mix = render(stems, sheet)
    assert mix.sample_rate == FS  # the highest rate
    assert mix.audio.channels == 2
    assert mix.duration_s == pytest.approx(2.5)  # surround: 1.0 s offset + 1.5 s
    assert mix.audio.frames == round(2.5 * FS)
    assert "resampled 22050 -> 48000 Hz" in mix.notes["mono22k"]
    assert "folded down from 6 channels to stereo" in mix.notes["surround"]
    # The mono stem ends at 1 s: after that only the others (and filter tails) remain.
    assert mix.duration_s == mix.audio.duration_s
    # A rate asked for by the sheet wins over the stems' rates.
    at_44k = render(stems, MixSheet.flat(stems, sample_rate=44100))
    assert at_44k.sample_rate == 44100 and at_44k.audio.frames == round(2.0 * 44100)


def test_offsets_shift_a_click_exactly():
    click = np.zeros((2, FS // 2), np.float32)
    click[:, 100] = 0.5
    stems = {"a": Audio(click, FS), "b": Audio(click, FS)}
    sheet = MixSheet.flat(stems).with_stem("b", offset_s=0.25, gain_db=-6.0)
    out = render(stems, sheet).audio.samples
    hits = np.flatnonzero(out[0])
    assert list(hits) == [100, 100 + FS // 4]
    assert out[0, 100] == pytest.approx(0.5, abs=1e-7)
    assert out[0, 100 + FS // 4] == pytest.approx(0.5 * 10 ** (-6 / 20), abs=1e-7)
    assert out.shape[1] == FS // 2 + FS // 4


def test_mute_and_solo():
    stems = {"a": tone(200.0), "b": tone(500.0, level=0.05), "c": tone(900.0, level=0.07)}
    sheet = MixSheet.flat(stems)
    everything = render(stems, sheet).audio.samples
    expected = sum(s.samples.astype(np.float64) for s in stems.values())
    assert np.allclose(everything, expected, atol=1e-6)
    muted = render(stems, sheet.with_stem("b", mute=True)).audio.samples
    assert np.allclose(muted, stems["a"].samples + stems["c"].samples, atol=1e-6)
    soloed = render(stems, sheet.with_stem("c", solo=True)).audio.samples
    assert np.allclose(soloed, stems["c"].samples, atol=1e-6)
    two = render(stems, sheet.with_stem("a", solo=True).with_stem("b", solo=True))
    assert np.allclose(two.audio.samples, stems["a"].samples + stems["b"].samples, atol=1e-6)
    assert two.playing == ("a", "b") and two.notes["c"] == ("not soloed",)
    silent = render(stems, sheet.with_stem("c", solo=True, mute=True))
    assert not silent.audio.samples.any() and silent.audio.frames == FS


def test_sixty_four_stems():
    stems = {f"s{i:02d}": tone(100.0 + 37 * i, seconds=0.2, level=0.005) for i in range(64)}
    mix = render(stems, MixSheet.flat(stems))
    expected = sum(s.samples.astype(np.float64) for s in stems.values())
    assert np.allclose(mix.audio.samples, expected, atol=1e-6)
    with pytest.raises(MixRenderError, match="1 to 64"):
        render({**stems, "one_more": tone(50.0, seconds=0.2)}, MixSheet.flat(stems))


def busy_session(rng, count=6, seconds=2.0):
    """Stems with every stage in use: EQ, compressors, sends, pans, offsets, a hot master."""
    stems, channels = {}, {}
    for i in range(count):
        rate = (FS, 44100, 22050)[i % 3]
        ch = 1 + i % 2
        frames = round((seconds - 0.1 * i) * rate)
        hits = np.zeros((ch, frames))
        hits[:, :: rate // 4] = 1.0
        kernel = np.exp(-np.arange(800) / 80.0) * rng.standard_normal(800)
        x = np.stack([np.convolve(h, kernel)[:frames] for h in hits]) * 0.3
        x += 0.1 * rng.standard_normal((ch, frames))
        stems[f"stem{i}"] = Audio(x.astype(np.float32), rate)
        channels[f"stem{i}"] = StemChannel(
            gain_db=3.0 - i,
            pan=(-0.8, 0.5, 0.0, 1.0, -0.2, 0.3)[i % 6],
            eq=ChannelEQ(high_pass_hz=40.0 + 10 * i, bands=(Band(300.0 + 100 * i, -2.0),)),
            compressor=Compressor(-20.0, 3.0) if i % 2 == 0 else None,
            reverb_send_db=-10.0 if i % 3 == 0 else None,
            offset_s=0.05 * i,
        )
    master = MasterBus(
        eq=ChannelEQ(low_shelf_hz=80.0, low_shelf_gain_db=1.5),
        compressor=Compressor(-16.0, 2.0, 30.0, 200.0),
        limiter=Limiter(ceiling_dbtp=-1.0, target_lufs=-9.0),
        reverb=Reverb(room_size=0.6),
    )
    return stems, MixSheet(stems=channels, master=master)


def test_render_is_deterministic_and_independent_of_stem_order(rng):
    stems, sheet = busy_session(rng)
    first = render(stems, sheet)
    second = render(stems, sheet)
    assert digest(first.audio) == digest(second.audio)
    reversed_stems = dict(reversed(list(stems.items())))
    assert list(reversed_stems) != list(stems)
    assert digest(render(reversed_stems, sheet).audio) == digest(first.audio)
    # And through the JSON of the sheet: an edited-and-saved sheet re-renders exactly.
    again = render(stems, MixSheet.from_json(sheet.to_json()))
    assert digest(again.audio) == digest(first.audio)


def test_hot_mix_stays_under_the_ceiling(rng):
    stems, sheet = busy_session(rng)
    hot = sheet
    for name in stems:
        hot = hot.with_stem(name, gain_db=12.0)
    for ceiling in (-1.0, -0.3):
        mix = render(stems, hot.with_master(limiter=Limiter(ceiling_dbtp=ceiling)))
        measured = true_peak(mix.audio).true_peak_dbtp
        assert measured <= ceiling
        assert mix.true_peak_dbtp == pytest.approx(measured)
        assert mix.limiter_gain_reduction_db > 6.0


def test_target_loudness_and_report(rng):
    stems, sheet = busy_session(rng)
    mix = render(stems, sheet)
    assert mix.integrated_lufs == pytest.approx(-9.0, abs=0.5) and mix.target_reached
    assert set(mix.stem_gain_reduction_db) == {"stem0", "stem2", "stem4"}
    assert all(v > 0 for v in mix.stem_gain_reduction_db.values())
    assert mix.master_gain_reduction_db > 0
    report = mix.to_dict()
    assert "audio" not in report and "sheet" not in report
    assert report["sample_rate"] == FS


def test_reverb_send_adds_a_tail():
    click = np.zeros((1, FS), np.float32)
    click[0, 10] = 0.5
    stems = {"c": Audio(click, FS)}
    dry = render(stems, MixSheet.flat(["c"])).audio.samples
    wet_sheet = MixSheet.flat(["c"]).with_stem("c", reverb_send_db=0.0)
    wet = render(stems, wet_sheet).audio.samples
    assert not dry[:, 100:].any()
    tail = wet[:, FS // 10 : FS // 5].astype(np.float64)
    assert np.sqrt(np.mean(tail**2)) > 1e-4  # the reverb rings after the click
    quieter = render(stems, wet_sheet.with_master(reverb=Reverb(return_db=-20.0))).audio.samples
    ratio = np.sqrt(np.mean(quieter[:, FS // 10 : FS // 5].astype(np.float64) ** 2))
    assert 20 * math.log10(ratio / np.sqrt(np.mean(tail**2))) == pytest.approx(-20.0, abs=0.01)


def test_aligned_stems_object_is_accepted(rng):
    x = {"a": tone(220.0, seconds=0.5), "b": tone(330.0, seconds=0.3, channels=1)}
    stems = align_stems(x)
    mix = render(stems, MixSheet.flat(stems.names))
    assert mix.audio.frames == stems.frames
    assert "mono duplicated to stereo" in mix.notes["b"]


def test_sheet_and_stems_must_match():
    x = {"a": tone(220.0, seconds=0.1)}
    with pytest.raises(MixRenderError, match="no channel in the mix sheet"):
        render({**x, "b": tone(330.0, seconds=0.1)}, MixSheet.flat(["a"]))
    with pytest.raises(MixRenderError, match="not given"):
        render(x, MixSheet.flat(["a", "ghost"]))
    with pytest.raises(MixRenderError, match="render at"):
        render(x, MixSheet.flat(["a"]), sample_rate=1000)


def test_sixteen_stems_of_thirty_seconds_render_faster_than_real_time(rng):
    """Not a benchmark (see benchmarks/bench_render.py): a guard against a slow path
    (a per-sample loop in Python would take minutes)."""
    seconds = 30.0
    frames = round(seconds * 44100)
    base = (rng.standard_normal((2, frames)) * 0.05).astype(np.float32)
    stems = {f"s{i:02d}": Audio(np.roll(base, 1000 * i, axis=1), 44100) for i in range(16)}
    channels = {
        name: StemChannel(
            eq=ChannelEQ(high_pass_hz=40.0, bands=(Band(500.0, -2.0), Band(3000.0, 1.5))),
            compressor=Compressor(),
            reverb_send_db=-12.0 if i % 2 else None,
            pan=-0.5 + i / 16,
        )
        for i, name in enumerate(stems)
    }
    sheet = MixSheet(
        stems=channels,
        master=MasterBus(compressor=Compressor(-12.0, 1.5), limiter=Limiter(target_lufs=-12.0)),
    )
    start = time.process_time()
    mix = render(stems, sheet)
    elapsed = time.process_time() - start
    assert mix.duration_s == pytest.approx(seconds)
    assert mix.true_peak_dbtp <= -1.0
    assert elapsed < seconds, f"16 x 30 s took {elapsed:.1f} s of CPU"


@pytest.mark.parametrize("channels", [1, 2])
def test_streaming_sections_equal_scipy_sosfilt(rng, channels):
    """The renderer's filter loop runs the audio.filters sections exactly as scipy does."""
    sos = EQ((HighPass(40.0, 48), PeakingEQ(250.0, -3.0, 1.4), HighShelf(8000.0, 2.0))).sos(FS)
    x = rng.standard_normal((channels, 30000))
    truth = scipy.signal.sosfilt(sos, x, axis=-1)
    zi = np.zeros((sos.shape[0], channels, 2))
    parts = []
    for start in range(0, 30000, 7001):  # blocks of any size carry the state over
        block = np.ascontiguousarray(x[:, start : start + 7001].T)
        sosfilt_frames_first(np.ascontiguousarray(sos), zi, block)
        parts.append(block.T)
    assert np.array_equal(np.concatenate(parts, axis=1), truth)


def test_silence_after_a_sound_decays_to_zero_not_to_subnormals():
    sos = np.ascontiguousarray(EQ((HighPass(30.0, 24), PeakingEQ(100.0, 6.0, 4.0))).sos(FS))
    x = np.zeros((20 * FS, 2))
    x[0] = 1.0
    sosfilt_frames_first(sos, np.zeros((sos.shape[0], 2, 2)), x)
    tiny = np.finfo(np.float64).tiny  # the smallest normal number
    assert not np.any((x != 0) & (np.abs(x) < tiny))
    assert not x[-FS:].any()  # long silent before the end
