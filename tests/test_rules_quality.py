"""Quality rules on a demo song with technical faults planted: a DC offset, hiss in a
pause, silence at both ends, an MP3-style 16 kHz brick wall, a steep 5 kHz low-pass,
upsampling to 96 kHz, and files written at 22.05 kHz 16-bit and as Ogg Vorbis.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import soundfile as sf

from stemforge import config
from stemforge.advice.doctor import examine
from stemforge.advice.findings import Severity
from stemforge.analysis.loudness import loudness as measure_loudness
from stemforge.audio import Audio, save
from stemforge.audio.filters import LowPass
from stemforge.demo import generate_song

RULE_IDS = {
    "dc_offset",
    "noise_floor",
    "leading_silence",
    "trailing_silence",
    "lowpassed_source",
    "upsampled_source",
    "band_limited",
    "lossy_source",
    "low_sample_rate",
    "low_bit_depth",
}


@pytest.fixture(scope="module", autouse=True)
def _home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(config.HOME_ENV, str(tmp_path_factory.mktemp("home")))
        yield


def at_lufs(audio, lufs=-14.0):
    return audio.apply_gain_db(lufs - measure_loudness(audio).integrated_lufs)


@functools.cache
def clean() -> Audio:
    song = generate_song(tempo_bpm=120, sections=(("verse", 4), ("chorus", 4)), seed=1)
    return at_lufs(song.mix)


def brick_wall(audio: Audio, cutoff_hz: float) -> Audio:
    bins = np.fft.rfft(audio.samples, axis=1)
    bins[:, np.fft.rfftfreq(audio.frames, 1 / audio.sample_rate) > cutoff_hz] = 0
    return audio.with_samples(np.fft.irfft(bins, n=audio.frames, axis=1).astype(np.float32))


def dc_offset(frames: int, sample_rate: int, level=0.02, fade_s=0.5) -> np.ndarray:
    """A DC offset of ``level`` that fades out over the last ``fade_s`` with the song.

    (Without the fade the beat tracker puts a beat on the very last sample, which the
    musical analysis then refuses: a bug reported to its owner.)
    """
    offset = np.full(frames, level, np.float32)
    n = round(fade_s * sample_rate)
    offset[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return offset


def with_pause(audio: Audio, start_s=6.0, end_s=9.0) -> np.ndarray:
    x = audio.samples.copy()
    x[:, int(start_s * audio.sample_rate) : int(end_s * audio.sample_rate)] = 0.0
    return x


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    x = clean()
    sr = x.sample_rate
    rng = np.random.default_rng(7)
    hiss = 10 ** (-50 / 20) * rng.standard_normal(x.samples.shape)  # -50 dBFS RMS
    silence = np.zeros((2, 3 * sr), np.float32), np.zeros((2, 6 * sr), np.float32)
    folder = tmp_path_factory.mktemp("files")
    low_rate = folder / "low.wav"
    save(low_rate, x.resample(22050), bit_depth=16)
    good = folder / "good.wav"
    save(good, x, bit_depth=24)
    vorbis = folder / "mix.ogg"
    sf.write(vorbis, x.samples.T, sr, format="OGG", subtype="VORBIS")
    signals = {
        "clean": x,
        "dc": x.with_samples(x.samples + dc_offset(x.frames, sr)),
        "pause": x.with_samples(with_pause(x)),
        "hiss": x.with_samples((with_pause(x) + hiss).astype(np.float32)),
        "padded": x.with_samples(np.concatenate([silence[0], x.samples, silence[1]], axis=1)),
        "mp3_like": brick_wall(x, 16000.0),
        "dull": at_lufs(LowPass(5000.0, 48).process(x)),
        "upsampled": x.resample(96000),
        "low_rate_file": low_rate,
        "good_file": good,
        "vorbis_file": vorbis,
    }
    return {name: examine(signal) for name, signal in signals.items()}


def rules(result) -> set[str]:
    return {f.rule for f in result.findings}


def only(result, rule):
    found = result.by_rule(rule)
    assert len(found) == 1, [f.message for f in result.findings]
    return found[0]


def test_clean_mix_has_no_quality_findings(results):
    for name in ("clean", "good_file"):
        assert not rules(results[name]) & RULE_IDS, results[name].findings


def test_dc_offset(results):
    f = only(results["dc"], "dc_offset")
    planted = dc_offset(clean().frames, clean().sample_rate).mean()
    assert f.evidence["max_dc_offset_db"] == pytest.approx(20 * np.log10(planted), abs=0.2)
    assert f.severity == Severity.WARNING
    assert f.fix.processor == "high_pass" and f.fix.parameters["cutoff_hz"] == 20.0


def test_hiss_in_a_pause(results):
    f = only(results["hiss"], "noise_floor")
    assert f.evidence["noise_floor_dbfs"] == pytest.approx(-50.0, abs=1.5)
    assert f.severity == Severity.WARNING
    assert f.fix.processor == "noise_gate"
    assert f.fix.parameters["threshold_dbfs"] == pytest.approx(
        f.evidence["noise_floor_dbfs"] + 6, abs=1
    )
    # The same pause in digital silence: nothing to report.
    assert "noise_floor" not in rules(results["pause"])


def test_silence_at_both_ends(results):
    lead = only(results["padded"], "leading_silence")
    assert lead.evidence["leading_silence_s"] == pytest.approx(3.0, abs=0.02)
    assert lead.severity == Severity.WARNING
    assert lead.fix.processor == "trim"
    assert lead.fix.parameters["start_s"] == pytest.approx(2.95, abs=0.02)
    tail = only(results["padded"], "trailing_silence")
    # 6 s of zeros after the song's own tail (its last sound ends before the file does).
    before = results["clean"].analysis.quality.trailing_silence_s
    assert tail.evidence["trailing_silence_s"] == pytest.approx(6.0 + before, abs=0.02)
    assert tail.severity == Severity.WARNING


def test_lossy_encoder_low_pass(results):
    f = only(results["mp3_like"], "lowpassed_source")
    assert f.evidence["cliff_hz"] == pytest.approx(16000.0, rel=0.03)
    assert f.severity == Severity.WARNING and "lossy" in f.message
    assert "lowpassed_source" not in rules(results["dull"])


def test_dull_top_end_is_band_limited(results):
    f = only(results["dull"], "band_limited")
    assert f.severity == Severity.INFO and f.evidence["effective_bandwidth_hz"] < 17_000


def test_upsampled_file(results):
    f = only(results["upsampled"], "upsampled_source")
    assert f.evidence["sample_rate"] == 96000
    assert f.evidence["cliff_hz"] == pytest.approx(22050.0, rel=0.1)
    assert "upsampled_source" not in rules(results["clean"])


def test_file_format(results):
    low = results["low_rate_file"]
    assert only(low, "low_sample_rate").evidence["sample_rate"] == 22050
    depth = only(low, "low_bit_depth")
    assert depth.evidence["bit_depth"] == 16 and depth.severity == Severity.INFO
    lossy = only(results["vorbis_file"], "lossy_source")
    assert lossy.evidence["codec"] == "vorbis" and lossy.severity == Severity.WARNING
    assert "lossless" in lossy.fix.action
    # The encoder's own low-pass is no news once the file is known to be lossy.
    assert all(
        f.severity == Severity.INFO for f in results["vorbis_file"].by_rule("lowpassed_source")
    )
    # An Audio has no file to judge.
    assert not rules(results["clean"]) & {"lossy_source", "low_sample_rate", "low_bit_depth"}
