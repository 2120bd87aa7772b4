"""Masking between stems, on signals whose overlap is known by construction and on the
real Caesium multitrack."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal

from stemforge.analysis.masking import (
    absolute_threshold_db_spl,
    band_levels,
    critical_bands,
    hz_to_bark,
    masking,
    spreading_db,
    top_clashes,
)
from stemforge.audio.signal import Audio
from stemforge.audio.stems import align_stems, load_stems
from stemforge.errors import AnalysisError, InvalidAudioError

SR = 48_000
DURATION_S = 8.0


def _audio(x):
    return Audio(np.atleast_2d(np.asarray(x, np.float32)), SR)


def _tone(freq_hz, amplitude=0.2, duration_s=DURATION_S):
    t = np.arange(round(duration_s * SR)) / SR
    return _audio(amplitude * np.sin(2 * np.pi * freq_hz * t))


def _kick(freq_hz=60.0, start_s=2.0, end_s=6.0, bpm=120, amplitude=0.5):
    """Sine bursts decaying with a 120 ms time constant, one per beat from start_s to end_s."""
    x = np.zeros(round(DURATION_S * SR))
    t = np.arange(round(0.4 * SR)) / SR
    burst = amplitude * np.sin(2 * np.pi * freq_hz * t) * np.exp(-t / 0.12)
    for onset_s in np.arange(start_s, end_s - 1e-9, 60 / bpm):
        i = round(onset_s * SR)
        x[i : i + burst.size] += burst[: x.size - i]
    return _audio(x)


def _vocal(duration_s=6.0):
    """A 200 Hz pulse train through a 1-3 kHz band-pass: harmonics in the formant region."""
    pulses = np.zeros(round(duration_s * SR))
    pulses[:: SR // 200] = 1.0
    sos = scipy.signal.butter(4, [1000, 3000], btype="band", fs=SR, output="sos")
    x = scipy.signal.sosfilt(sos, pulses)
    return _audio(0.05 * x / np.sqrt(np.mean(x**2)))


def _pad(rng, *, lowpass_hz=None, duration_s=6.0):
    """A C-major-seventh chord of sawtooth waves at -14 dBFS RMS, rich in harmonics to 24 kHz."""
    t = np.arange(round(duration_s * SR)) / SR
    x = sum(
        scipy.signal.sawtooth(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        for f in (130.81, 164.81, 196.0, 246.94)
    )
    if lowpass_hz:
        x = scipy.signal.sosfilt(scipy.signal.butter(8, lowpass_hz, fs=SR, output="sos"), x)
    return _audio(0.2 * x / np.sqrt(np.mean(x**2)))


# --- the building blocks ---------------------------------------------------------------------


def test_bark_bands_follow_zwickers_table():
    low, centre, high = critical_bands("bark", max_hz=20000)
    assert len(centre) == 25 and low[0] == 20 and high[-1] == 20000
    # Zwicker (1961) critical-band edges; the 1980 formula is within 5 % of them.
    table = [100, 200, 300, 400, 510, 630, 770, 920, 1080, 1270, 1480, 1720, 2000, 2320]
    table += [2700, 3150, 3700, 4400, 5300, 6400, 7700, 9500, 12000, 15500]
    np.testing.assert_allclose(high[:-1], table, rtol=0.05)
    np.testing.assert_allclose(np.diff(hz_to_bark(np.append(low, high[-1])))[1:-1], 1.0, rtol=1e-5)


def test_erb_bands_are_one_erb_wide():
    low, centre, high = critical_bands("erb", max_hz=20000)
    assert len(centre) == 41
    erb_hz = 24.7 * (4.37 * centre / 1000 + 1)  # Glasberg & Moore (1990), eq. 3
    np.testing.assert_allclose((high - low)[1:-1], erb_hz[1:-1], rtol=0.01)


def test_spreading_function_and_threshold_in_quiet():
    assert spreading_db(0.0) == pytest.approx(0.0, abs=0.01)
    # Asymptotic slopes of Schroeder et al.: 25 dB/Bark below the masker, 10 above.
    assert spreading_db(-10) - spreading_db(-11) == pytest.approx(25.0, abs=0.2)
    assert spreading_db(10) - spreading_db(11) == pytest.approx(10.0, abs=0.2)
    assert spreading_db(1.0) > spreading_db(-1.0)  # upward spread of masking
    # Terhardt's threshold: about 3.4 dB SPL at 1 kHz, lowest near 3.3 kHz, high at 50 Hz.
    assert absolute_threshold_db_spl(1000) == pytest.approx(3.37, abs=0.01)
    f = np.geomspace(20, 20000, 2000)
    assert 3000 < f[np.argmin(absolute_threshold_db_spl(f))] < 3700
    assert absolute_threshold_db_spl(50) > 35


def test_band_levels_use_the_psychoacoustic_calibration():
    # A -20 dBFS (peak) sine plays at 100 - 20 = 80 dB SPL (full_scale_db_spl=100).
    sine = _tone(1000, amplitude=0.1, duration_s=2.0)
    bl = band_levels(sine)
    band = int(np.searchsorted(bl.high_hz, 1000))
    assert bl.low_hz[band] < 1000 < bl.high_hz[band]
    assert np.median(bl.levels_db_spl[band]) == pytest.approx(80.0, abs=0.05)
    assert np.median(band_levels(sine, full_scale_db_spl=90).levels_db_spl[band]) == (
        pytest.approx(70.0, abs=0.05)
    )
    # Power is averaged over the channels: a silent right channel halves it (-3 dB).
    stereo = Audio(np.vstack([sine.samples, np.zeros_like(sine.samples)]), SR)
    assert np.median(band_levels(stereo).levels_db_spl[band]) == pytest.approx(76.99, abs=0.05)
    assert np.median(bl.tonality[band]) > 0.4


def test_tonality_separates_tones_from_noise(rng):
    noise = band_levels(_audio(0.1 * rng.standard_normal(2 * SR)))
    assert np.median(noise.tonality) < 0.1
    tone = band_levels(_tone(5000, duration_s=2.0))
    band = int(np.searchsorted(tone.high_hz, 5000))
    assert np.median(tone.tonality[band]) > 0.9


# --- synthetic stems with known overlap ----------------------------------------------------


def test_kick_and_bass_on_the_same_note_mask_each_other_most():
    kick = _kick(60.0)
    results = {f: masking({"kick": kick, "bass": _tone(f)}) for f in (60, 120, 240)}
    on_kick = {f: r.pair("bass", "kick") for f, r in results.items()}
    on_bass = {f: r.pair("kick", "bass") for f, r in results.items()}
    # Both directions order by distance on the Bark scale; the kick, 4 dB louder in its
    # band, hides the sustained bass less than the bass hides it.
    assert on_kick[60].masked_fraction > on_kick[120].masked_fraction > on_kick[240].masked_fraction
    assert on_bass[60].masked_fraction > on_bass[120].masked_fraction > on_bass[240].masked_fraction
    assert on_kick[60].loss_db > on_kick[120].loss_db + 4
    assert on_kick[60].loss_db > on_kick[240].loss_db + 10
    assert on_kick[60].masked_fraction > 0.6
    for pair in (on_kick[60], on_bass[60]):
        worst = pair.worst_bands[0]
        assert worst.low_hz <= 60 <= worst.high_hz  # the 20-101 Hz band, centred at 61 Hz
    # When: the kick plays from 2 s to 6 s (its last burst dies away by 6.1 s).
    for pair in (on_kick[60], on_bass[60]):
        assert pair.time_ranges
        assert all(r.start_s >= 1.8 and r.end_s <= 6.3 for r in pair.time_ranges)
        covered = sum(min(r.end_s, 5.5) - max(r.start_s, 2.0) for r in pair.time_ranges)
        assert covered > 0.9 * 3.5
    assert results[60].clashes[0].score == pytest.approx(on_kick[60].masked_fraction, abs=1e-4)


def test_erb_bands_find_the_same_clash():
    result = masking({"kick": _kick(60.0), "bass": _tone(60)}, band_scale="erb")
    assert result.settings.n_bands == 41
    worst = result.pair("bass", "kick").worst_bands[0]
    assert worst.low_hz <= 60 <= worst.high_hz
    far = masking({"kick": _kick(60.0), "bass": _tone(240)}, band_scale="erb")
    assert (
        result.pair("bass", "kick").masked_fraction > far.pair("bass", "kick").masked_fraction + 0.2
    )


def test_vocal_under_a_bright_pad_is_masked_in_its_formant_region(rng):
    vocal = _vocal()
    bright = masking({"vocal": vocal, "pad": _pad(rng)})
    dark = masking({"vocal": vocal, "pad": _pad(rng, lowpass_hz=500)})
    masked, clear = bright.pair("pad", "vocal"), dark.pair("pad", "vocal")
    assert masked.masked_fraction > 0.6 and clear.masked_fraction < 0.2
    assert masked.loss_db > clear.loss_db + 15
    assert 1000 < masked.worst_bands[0].centre_hz < 3000
    for band in masked.worst_bands:  # all in or at the edge of the formant region
        assert band.high_hz > 1000 and band.low_hz < 3000 and band.masked_fraction > 0.7
    # Per band, against the rest of the mix (here: the pad), in 1-3 kHz.
    centres = bright.band_centres_hz
    formant = (centres > 1000) & (centres < 3000)
    assert np.nanmin(bright.stem("vocal").band_masked_fraction[formant]) > 0.5
    dark_bands = dark.stem("vocal").band_masked_fraction[formant]
    assert np.nanmax(dark_bands) < 0.2 and np.nanmedian(dark_bands) < 0.02  # upward spread only
    assert bright.stem("vocal").main_maskers == ("pad",)


def test_time_ranges_lie_where_the_stem_plays(rng):
    # Noise in 1-3 kHz from 2 s to 4 s only, against a pad sounding all the time.
    x = np.zeros(6 * SR)
    sos = scipy.signal.butter(4, [1000, 3000], btype="band", fs=SR, output="sos")
    x[2 * SR : 4 * SR] = 0.05 * scipy.signal.sosfilt(sos, rng.standard_normal(2 * SR))
    result = masking({"burst": _audio(x), "pad": _pad(rng)})
    half_frame_s = result.settings.n_fft / 2 / SR  # 43 ms: a frame's reach around its centre
    for pair in (result.pair("pad", "burst"), result.pair("burst", "pad")):
        assert pair.time_ranges, pair
        for span in pair.time_ranges:
            assert 2 - half_frame_s <= span.start_s and span.end_s <= 4 + half_frame_s, span
    assert result.pair("pad", "burst").time_ranges[0].duration_s > 1.8


def test_silent_stem_is_flagged_and_masks_nothing():
    stems = align_stems({"kick": _kick(), "bass": _tone(60), "off": _audio(np.zeros(8 * SR))})
    result = masking(stems)
    assert stems.silent == ("off",)
    assert result.silent_stems == ("off",)
    off = result.stem("off")
    assert off.silent and off.masked_fraction == 0 and off.worst_bands == ()
    for other in ("kick", "bass"):
        assert result.pair("off", other).masked_fraction == 0
        assert result.pair(other, "off").masked_fraction == 0
        assert result.pair(other, "off").time_ranges == ()
    # The others mask each other exactly as without the silent stem.
    alone = masking({"kick": _kick(), "bass": _tone(60)})
    assert result.pair("bass", "kick").masked_fraction == alone.pair("bass", "kick").masked_fraction
    assert "silent" in off.describe()
    json.dumps(result.to_dict())


def test_reordering_the_stems_permutes_the_results(rng):
    signals = {
        "kick": _kick(),
        "bass": _tone(60),
        "vocal": _vocal(8.0),
        "pad": _pad(rng, duration_s=8.0),
    }
    order = ["pad", "kick", "vocal", "bass"]
    a = masking(signals)
    b = masking({n: signals[n] for n in order})
    assert b.stem_names == tuple(order)
    index = [a.stem_names.index(n) for n in order]
    np.testing.assert_allclose(
        b.pair_masked_fraction, a.pair_masked_fraction[np.ix_(index, index)], atol=2e-4
    )
    for name in order:
        sa, sb = a.stem(name), b.stem(name)
        assert sb.masked_fraction == pytest.approx(sa.masked_fraction, abs=2e-4)
        assert [w.centre_hz for w in sb.worst_bands] == [w.centre_hz for w in sa.worst_bands]
        assert sb.time_ranges == sa.time_ranges
        for other in order:
            if other != name:
                pa, pb = a.pair(other, name), b.pair(other, name)
                assert pb.worst_bands == pa.worst_bands and pb.time_ranges == pa.time_ranges


def test_gains_are_heard_as_if_the_samples_were_scaled(rng):
    signals = {"kick": _kick(), "bass": _tone(60), "vocal": _vocal(8.0)}
    gains = {"bass": -9.0, "vocal": 4.5}
    scaled = {n: a.apply_gain_db(gains.get(n, 0.0)) for n, a in signals.items()}
    a = masking(scaled)
    b = masking(signals, gains_db=gains)
    np.testing.assert_allclose(b.pair_masked_fraction, a.pair_masked_fraction, atol=1e-4)
    for name in signals:
        assert b.stem(name).loss_db == pytest.approx(a.stem(name).loss_db, abs=0.01)
    # The bass turned down 9 dB hides the kick less than at full level.
    assert b.pair("bass", "kick").loss_db < masking(signals).pair("bass", "kick").loss_db
    with pytest.raises(AnalysisError, match="not there: drums"):
        masking(signals, gains_db={"drums": 1.0})
    with pytest.raises(AnalysisError, match="finite"):
        masking(signals, gains_db={"bass": float("nan")})


def test_result_is_json_and_top_clashes_rank_pairs(rng):
    result = masking({"kick": _kick(), "bass": _tone(60), "vocal": _vocal(8.0)})
    assert len(result.pairs) == 6 and len(result.clashes) == 3
    top = top_clashes(result, 2)
    assert [(p.masker, p.target) for p in top] == [("bass", "kick"), ("kick", "bass")]
    assert top[0].masked_fraction >= top[1].masked_fraction
    assert "bass masks kick" in top[0].describe() and "20 Hz-101 Hz" in top[0].describe()
    text = json.dumps(result.to_dict())
    assert len(text) < 100_000
    heat = result.clashes[0].heatmap
    assert heat.dtype == np.uint8 and heat.shape == (25, len(result.times_s))
    assert len(result.times_s) <= 200


def test_bad_input_is_refused():
    with pytest.raises(AnalysisError, match="2 to 64 stems"):
        masking({"solo": _tone(100)})
    x = np.zeros((1, SR), np.float32)
    x[0, 5] = np.nan
    with pytest.raises(InvalidAudioError, match="stem 'b'"):
        masking({"a": _tone(100, duration_s=1.0), "b": Audio(x, SR)})
    with pytest.raises(AnalysisError, match="band_scale"):
        masking({"a": _tone(100), "b": _tone(200)}, band_scale="mel")


def test_sixteen_stems_give_every_pair_and_a_compact_result(rng):
    """All 240 ordered pairs of 16 stems, and a JSON result that stays small (the heatmaps
    are pooled to at most 200 columns). Speed: ``benchmarks/bench_masking.py``."""
    noise = Audio(rng.standard_normal((2, 30 * SR), dtype=np.float32) * 0.05, SR)
    stems = align_stems({f"stem {i}": noise for i in range(16)})
    result = masking(stems)
    assert len(result.pairs) == 240
    assert len(result.times_s) <= 200
    assert len(json.dumps(result.to_dict())) < 1_500_000


# --- the real multitrack -------------------------------------------------------------------------


def test_caesium_stems(shared_data):
    # 20 s from bar 96 (130 BPM: 175.4 s), where the kick plays with the synth and vocals.
    folder = shared_data / "multitrack" / "caesium_stems"
    stems = load_stems(folder, start_s=95 * 4 * 60 / 130, duration_s=20.0)
    result = masking(stems)
    assert len(result.stem_names) == 16 and len(result.pairs) == 240
    assert set(result.silent_stems) == set(stems.silent)
    # Independent truth: the stem with the most energy below 100 Hz (besides the kick).
    sos = scipy.signal.butter(8, 100, fs=stems.sample_rate, output="sos")
    low_energy = {
        n: float(np.mean(scipy.signal.sosfilt(sos, a.samples.astype(np.float64)) ** 2))
        for n, a in stems.items()
        if n != "KICK"
    }
    loudest_low = max(low_energy, key=low_energy.get)
    kick = result.stem("KICK")
    assert kick.main_maskers[0] == loudest_low == "MINILOGUE_SYNTH_mobile"
    worst = result.pair(loudest_low, "KICK").worst_bands[0]
    assert worst.high_hz < 110  # the 20-101 Hz band
    print("\nCaesium, bars 96-105, the worst clashes:")
    for pair in top_clashes(result, 8):
        print(" ", pair.describe())
    print(" ", kick.describe())
