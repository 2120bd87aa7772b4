"""EQ filters: RBJ cookbook biquads, Butterworth passes, chains; responses against theory."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from stemforge.audio import Audio
from stemforge.audio.filters import (
    EQ,
    Filter,
    FilterParameterError,
    HighPass,
    HighShelf,
    LowPass,
    LowShelf,
    PeakingEQ,
    apply_sos,
    filter_from_dict,
)
from stemforge.errors import StemforgeError

RATES = (8000, 44100, 48000, 96000, 192000)


def sosfreqz_db(sos: np.ndarray, frequencies_hz, sample_rate: float) -> np.ndarray:
    """scipy's own evaluation of the sections: the independent truth for the responses."""
    _, h = scipy.signal.sosfreqz(sos, worN=np.asarray(frequencies_hz, float), fs=sample_rate)
    return 20 * np.log10(np.abs(h))


def butterworth_db(f, cutoff_hz: float, order: int, sample_rate: float, high: bool):
    """|H|^2 of a bilinear-transform Butterworth: 1 / (1 + (tan(w/2) / tan(wc/2))^(+-2n))."""
    ratio = np.tan(np.pi * np.asarray(f) / sample_rate) / np.tan(np.pi * cutoff_hz / sample_rate)
    if high:
        ratio = 1 / ratio
    return -10 * np.log10(1 + ratio ** (2 * order))


# --- design points ------------------------------------------------------------------------


@pytest.mark.parametrize("sample_rate", RATES)
@pytest.mark.parametrize("gain_db", [-24.0, -6.0, 3.0, 12.0, 24.0])
@pytest.mark.parametrize("q", [0.3, 1.0, 8.0])
def test_peaking_gain_at_centre_is_the_design_gain(sample_rate, gain_db, q):
    for f0 in (50.0, 1000.0, 0.4 * sample_rate):
        band = PeakingEQ(f0, gain_db, q)
        assert sosfreqz_db(band.sos(sample_rate), [f0], sample_rate)[0] == pytest.approx(
            gain_db, abs=0.01
        )
        # Far from the bell the response returns to 0 dB (DC exactly: b and a sum alike).
        assert sosfreqz_db(band.sos(sample_rate), [0.0], sample_rate)[0] == pytest.approx(
            0.0, abs=1e-9
        )


@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, 8.0])
@pytest.mark.parametrize("gain_db", [-12.0, 6.0])
def test_peaking_q_is_centre_over_half_gain_bandwidth(q, gain_db):
    # The cookbook's definition: bandwidth between the points at half the gain in dB.
    fs, f0 = 192000, 1000.0
    band = PeakingEQ(f0, gain_db, q)

    def h(f):
        return sosfreqz_db(band.sos(fs), [f], fs)[0] - gain_db / 2

    low, high = brentq(h, 10.0, f0), brentq(h, f0, 40000.0)
    assert f0 / (high - low) == pytest.approx(q, rel=0.005)
    assert math.sqrt(low * high) == pytest.approx(f0, rel=0.001)


@pytest.mark.parametrize("sample_rate", RATES)
@pytest.mark.parametrize("gain_db", [-12.0, -3.0, 6.0, 18.0])
def test_shelves_have_half_gain_at_midpoint_and_full_gain_at_the_end(sample_rate, gain_db):
    nyquist = sample_rate / 2
    for f0 in (100.0, 0.2 * sample_rate):
        low = LowShelf(f0, gain_db)
        high = HighShelf(f0, gain_db, q=0.5)
        assert sosfreqz_db(low.sos(sample_rate), [f0], sample_rate)[0] == pytest.approx(
            gain_db / 2, abs=0.01
        )
        assert sosfreqz_db(high.sos(sample_rate), [f0], sample_rate)[0] == pytest.approx(
            gain_db / 2, abs=0.01
        )
        ends = sosfreqz_db(low.sos(sample_rate), [0.0, nyquist], sample_rate)
        assert ends == pytest.approx([gain_db, 0.0], abs=1e-6)
        ends = sosfreqz_db(high.sos(sample_rate), [0.0, nyquist], sample_rate)
        assert ends == pytest.approx([0.0, gain_db], abs=1e-6)


def test_shelf_slope_one_is_q_one_over_root_two():
    for cls in (LowShelf, HighShelf):
        by_slope = cls(300.0, 6.0, slope=1.0)
        assert by_slope.effective_q == pytest.approx(1 / math.sqrt(2), rel=1e-12)
        np.testing.assert_allclose(by_slope.sos(48000), cls(300.0, 6.0).sos(48000), atol=1e-12)
    # A gentler slope: the cookbook's 1/Q = sqrt((A + 1/A)(1/S - 1) + 2).
    a = 10 ** (9.0 / 40)
    expected = 1 / math.sqrt((a + 1 / a) * (1 / 0.5 - 1) + 2)
    assert LowShelf(300.0, 9.0, slope=0.5).effective_q == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("slope", [12, 24, 48])
@pytest.mark.parametrize("sample_rate", RATES)
def test_butterworth_minus_3db_at_cutoff_and_the_exact_shape(slope, sample_rate):
    order = slope // 6
    for cutoff in (40.0, 1000.0, 0.3 * sample_rate):
        f = np.geomspace(10.0, 0.49 * sample_rate, 200)
        for cls, high in ((HighPass, True), (LowPass, False)):
            sos = cls(cutoff, slope).sos(sample_rate)
            assert sos.shape == (order // 2, 6)
            at_cutoff = sosfreqz_db(sos, [cutoff], sample_rate)[0]
            assert at_cutoff == pytest.approx(-10 * math.log10(2), abs=0.01)
            truth = butterworth_db(f, cutoff, order, sample_rate, high)
            passband = truth > -60  # deeper down, float64 rounding of the sections shows
            np.testing.assert_allclose(
                sosfreqz_db(sos, f[passband], sample_rate), truth[passband], atol=0.01
            )


@pytest.mark.parametrize("slope", [12, 24, 48])
def test_butterworth_asymptotic_slope(slope):
    fs = 48000
    # "6 dB per octave per order" is 20 log10(2) = 6.02 dB exactly.
    per_octave = slope / 6 * 20 * math.log10(2)
    # Two and three octaves into the stopband, where 1 + x^(2n) ~ x^(2n).
    hp = HighPass(2000.0, slope).sos(fs)
    below = sosfreqz_db(hp, [250.0, 500.0], fs)
    assert below[1] - below[0] == pytest.approx(per_octave, abs=0.05)
    lp = LowPass(200.0, slope).sos(fs)
    above = sosfreqz_db(lp, [800.0, 1600.0], fs)
    assert above[0] - above[1] == pytest.approx(per_octave, abs=0.3)  # warping adds a little


def test_closed_form_response_equals_sosfreqz():
    f = np.geomspace(5.0, 23990.0, 400)
    filters = [
        PeakingEQ(3000.0, -7.5, 2.2),
        LowShelf(120.0, 4.0, q=1.2),
        HighShelf(9000.0, -6.0, slope=0.7),
        HighPass(30.0, 48),
        LowPass(12000.0, 24),
    ]
    for band in filters:
        expected = sosfreqz_db(band.sos(48000), f, 48000)
        finite = expected > -250
        np.testing.assert_allclose(band.response_db(f, 48000)[finite], expected[finite], atol=1e-6)
    chain = EQ(tuple(filters))
    np.testing.assert_allclose(
        chain.response_db(f, 48000), sum(b.response_db(f, 48000) for b in filters), atol=1e-9
    )


def test_a_boost_and_the_same_cut_cancel_to_flat(rng):
    f = np.geomspace(10.0, 23900.0, 500)
    for f0, q in ((60.0, 0.7), (1000.0, 2.0), (12000.0, 8.0)):
        chain = EQ((PeakingEQ(f0, 6.0, q), PeakingEQ(f0, -6.0, q)))
        assert np.max(np.abs(sosfreqz_db(chain.sos(48000), f, 48000))) < 0.01
    shelves = EQ(
        (LowShelf(200.0, 9.0), LowShelf(200.0, -9.0), HighShelf(5e3, 3.0), HighShelf(5e3, -3.0))
    )
    assert np.max(np.abs(sosfreqz_db(shelves.sos(48000), f, 48000))) < 0.01
    # In the time domain too: the chain gives back the input.
    x = Audio(rng.standard_normal((2, 48000)).astype(np.float32) * 0.1, 48000)
    y = EQ((PeakingEQ(1000.0, 6.0, 2.0), PeakingEQ(1000.0, -6.0, 2.0))).process(x)
    np.testing.assert_allclose(y.samples, x.samples, atol=1e-5)


# --- on noise -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "band",
    [
        PeakingEQ(1000.0, 6.0, 1.4),
        PeakingEQ(250.0, -9.0, 4.0),
        LowShelf(150.0, -6.0),
        HighShelf(6000.0, 4.0),
        HighPass(100.0, 24),
        LowPass(5000.0, 48),
        EQ((HighPass(40.0, 12), PeakingEQ(400.0, -4.0, 1.0), HighShelf(8000.0, 3.0))),
    ],
    ids=lambda b: type(b).__name__,
)
def test_measured_response_on_white_noise(band, rng):
    fs = 48000
    x = rng.standard_normal((1, 10 * fs)).astype(np.float32) * 0.1
    y = band.process(Audio(x, fs)).samples
    f, p_in = scipy.signal.welch(x[0].astype(np.float64), fs, nperseg=8192)
    _, p_out = scipy.signal.welch(y[0].astype(np.float64), fs, nperseg=8192)
    # Third-octave averages of the measured power gain and of the analytic |H|^2.
    power = 10 ** (band.response_db(f, fs) / 10)
    checked = 0
    for centre in 1000 * 2.0 ** (np.arange(-15, 14) / 3):
        sel = (f >= centre / 2 ** (1 / 6)) & (f < centre * 2 ** (1 / 6))
        if sel.sum() < 3 or centre > 20000:
            continue
        expected_db = 10 * np.log10(power[sel].mean())
        if expected_db < -20:  # the stopband of a pass filter: noise floor of the estimate
            continue
        measured_db = 10 * np.log10(p_out[sel].sum() / p_in[sel].sum())
        assert measured_db == pytest.approx(expected_db, abs=0.5), centre
        checked += 1
    assert checked >= 10


# --- processing ---------------------------------------------------------------------------


def test_process_filters_each_channel_and_is_repeatable(rng):
    fs = 44100
    x = rng.standard_normal((2, fs)).astype(np.float32) * 0.1
    eq = EQ((HighPass(80.0, 24), PeakingEQ(2500.0, -3.0, 1.4)))
    audio = Audio(x, fs)
    y = eq.process(audio)
    assert y.samples.shape == x.shape and y.sample_rate == fs and y.samples.dtype == np.float32
    sos = eq.sos(fs)
    for c in range(2):
        expected = scipy.signal.sosfilt(sos, x[c].astype(np.float64))
        np.testing.assert_allclose(y.samples[c], expected, atol=1e-6)
    assert np.array_equal(eq(audio).samples, y.samples)  # same chain, same input: same output
    assert np.array_equal(audio.samples, x)  # the input is untouched
    assert np.array_equal(EQ().process(audio).samples, x)  # an empty chain is a wire
    assert np.array_equal(apply_sos(audio, sos).samples, y.samples)


def test_stable_low_cut_at_192k():
    fs = 192000
    impulse = np.zeros((1, 2 * fs), np.float32)
    impulse[0, 0] = 1.0
    y = HighPass(20.0, 48).process(Audio(impulse, fs)).samples[0].astype(np.float64)
    assert np.isfinite(y).all()
    assert np.sum(y[-fs // 10 :] ** 2) < 1e-12 * np.sum(y**2)  # the ringing has died away


@settings(max_examples=150, deadline=None)
@given(
    sample_rate=st.sampled_from([8000, 11025, 22050, 44100, 48000, 88200, 96000, 176400, 192000]),
    position=st.floats(0.0, 1.0),
    gain_db=st.floats(-24.0, 24.0),
    q=st.floats(0.1, 20.0),
    kind=st.sampled_from(["peaking", "low_shelf", "high_shelf", "high_pass", "low_pass"]),
    slope=st.sampled_from([6, 12, 18, 24, 36, 48]),
)
def test_every_valid_filter_is_stable(sample_rate, position, gain_db, q, kind, slope):
    # Frequencies from 20 Hz to 0.45 of the rate, spread in log frequency.
    f0 = 20.0 * (0.45 * sample_rate / 20.0) ** position
    if kind == "peaking":
        band: Filter = PeakingEQ(f0, gain_db, q)
    elif kind == "low_shelf":
        band = LowShelf(f0, gain_db, q=min(q, 4.0))
    elif kind == "high_shelf":
        band = HighShelf(f0, gain_db, q=min(q, 4.0))
    elif kind == "high_pass":
        band = HighPass(f0, slope)
    else:
        band = LowPass(f0, slope)
    sos = band.sos(sample_rate)
    assert np.isfinite(sos).all()
    for section in sos:
        assert np.all(np.abs(np.roots(section[3:])) < 1.0)
    assert np.isfinite(band.response_db(np.geomspace(1.0, sample_rate / 2, 50), sample_rate)).all()
    again = filter_from_dict(json.loads(json.dumps(band.to_dict())))
    assert again == band
    np.testing.assert_array_equal(again.sos(sample_rate), sos)


# --- parameters and JSON ------------------------------------------------------------------


def test_json_round_trip_of_a_chain():
    eq = EQ(
        (
            HighPass(30.0, 24),
            LowShelf(100.0, 2.0, slope=0.8),
            PeakingEQ(250.0, -3.0, 1.4),
            HighShelf(8000.0, 1.5),
            LowPass(18000.0, 12),
        )
    )
    data = json.loads(json.dumps(eq.to_dict()))
    assert data["type"] == "eq"
    assert data["bands"][2] == {"type": "peaking", "frequency_hz": 250.0, "gain_db": -3.0, "q": 1.4}
    again = EQ.from_dict(data)
    assert again == eq
    assert Filter.from_dict(data) == eq
    np.testing.assert_array_equal(again.sos(44100), eq.sos(44100))
    # Bands may be given as dicts, and lists become tuples.
    assert EQ([{"type": "peaking", "frequency_hz": 250, "gain_db": -3, "q": 1.4}]).bands == (
        PeakingEQ(250.0, -3.0, 1.4),
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PeakingEQ(1000.0, 6.0, 0.0), "q must be above 0"),
        (lambda: PeakingEQ(1000.0, 6.0, -1.0), "q must be above 0"),
        (lambda: PeakingEQ(1000.0, 30.0, 1.0), "beyond \\+/-24"),
        (lambda: LowShelf(1000.0, -25.0), "beyond \\+/-24"),
        (lambda: PeakingEQ(0.0, 6.0, 1.0), "above 0 Hz"),
        (lambda: PeakingEQ(float("nan"), 6.0, 1.0), "finite"),
        (lambda: PeakingEQ("loud", 6.0, 1.0), "must be a number"),
        (lambda: HighShelf(1000.0, 6.0, q=0.7, slope=1.0), "q or slope, not both"),
        (lambda: HighShelf(1000.0, 12.0, slope=10.0), "too steep"),
        (lambda: HighPass(100.0, 30), "slope_db_per_octave must be one of"),
        (lambda: LowPass(-5.0, 12), "above 0 Hz"),
        (lambda: EQ((PeakingEQ(1000.0, 1.0), "bass")), "not a filter"),
        (lambda: filter_from_dict({"type": "reverb"}), "unknown filter type"),
        (lambda: filter_from_dict({"type": "peaking", "frequency_hz": 1e3, "gain": 3}), "gain"),
        (lambda: PeakingEQ.from_dict({"type": "low_pass", "cutoff_hz": 1e3}), "expected"),
    ],
)
def test_bad_parameters_are_rejected_with_a_clear_error(make, message):
    with pytest.raises(FilterParameterError, match=message) as info:
        make()
    assert isinstance(info.value, StemforgeError)


def test_frequency_at_or_above_nyquist_is_rejected_at_design_time():
    band = PeakingEQ(5000.0, 3.0, 1.0)
    band.sos(44100)  # fine at 44.1 kHz
    with pytest.raises(FilterParameterError, match="Nyquist frequency \\(4000 Hz\\)"):
        band.sos(8000)
    with pytest.raises(FilterParameterError, match="below 4000 Hz"):
        band.process(Audio(np.zeros((1, 100), np.float32), 8000))
    with pytest.raises(FilterParameterError, match="Nyquist"):
        EQ((LowPass(30000.0, 12),)).sos(48000)
    with pytest.raises(FilterParameterError, match="Nyquist"):
        HighPass(4000.0, 12).sos(8000)
