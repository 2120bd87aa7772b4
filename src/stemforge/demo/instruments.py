"""The synth voices of the demo songs: drums, bass, pad, keys, lead and a sung voice.

Every voice returns float32 samples at ``sample_rate`` (mono 1-D, or ``(2, n)`` for the
stereo pad) and peaks near 1.0 at full velocity; levels are set by the mixer. Pitched
voices are wavetable oscillators: one period of a band-limited spectrum (harmonics up
to ``_max_harmonic_hz``, so nothing aliases) read with a 32-bit fixed-point phase.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from stemforge.demo.theory import midi_to_hz

TABLE_BITS = 13
TABLE_SIZE = 1 << TABLE_BITS
_PHASE_SHIFT = np.uint32(32 - TABLE_BITS)
_TWO_32 = float(1 << 32)

#: Drum hit lengths in seconds (the truth's note end is start + this).
KICK_S, SNARE_S, CLOSED_HAT_S, OPEN_HAT_S, CRASH_S = 0.4, 0.35, 0.09, 0.45, 1.8


# --- oscillators and envelopes ------------------------------------------------------


def _max_harmonic_hz(sample_rate: int) -> float:
    return min(8000.0, 0.4 * sample_rate)


def harmonic_table(amplitudes: np.ndarray, phases: np.ndarray | None = None) -> np.ndarray:
    """One period, ``sum_k a_k sin(2 pi k x + phi_k)`` for k = 1..len(amplitudes)."""
    spectrum = np.zeros(TABLE_SIZE // 2 + 1, np.complex128)
    k = np.arange(1, len(amplitudes) + 1)
    phi = np.zeros(len(k)) if phases is None else phases
    spectrum[k] = np.asarray(amplitudes) * np.exp(1j * (phi - np.pi / 2)) * (TABLE_SIZE / 2)
    return np.fft.irfft(spectrum, TABLE_SIZE).astype(np.float32)


def _n_harmonics(f0_hz: float, sample_rate: int, headroom: float = 1.0) -> int:
    return max(1, int(_max_harmonic_hz(sample_rate) / (f0_hz * headroom)))


def phase_steady(freq_hz: float, n: int, sample_rate: int, start_cycles: float = 0.0) -> np.ndarray:
    """Fixed-point phase (2**32 per cycle) of a steady tone, for :func:`read_table`."""
    inc = np.uint32(round(freq_hz / sample_rate * _TWO_32) % (1 << 32))
    start = np.uint32(int(start_cycles % 1.0 * _TWO_32))
    return np.arange(n, dtype=np.uint32) * inc + start


def phase_from_freq(freq_hz: np.ndarray, sample_rate: int) -> np.ndarray:
    """Fixed-point phase of a tone whose frequency changes sample by sample (float32 is
    precise to 1e-7 of the frequency here, a millionth of a semitone)."""
    inc = (np.asarray(freq_hz, np.float32) * np.float32(_TWO_32 / sample_rate)).astype(np.uint32)
    return np.cumsum(inc, dtype=np.uint32)


def read_table(table: np.ndarray, phase: np.ndarray) -> np.ndarray:
    return table[phase >> _PHASE_SHIFT]


def adsr(
    gate_n: int,
    sample_rate: int,
    *,
    attack_s: float,
    decay_s: float,
    sustain: float,
    release_s: float,
) -> np.ndarray:
    """Attack (linear), decay (exponential, time constant ``decay_s``) to ``sustain``,
    held to the gate, then a release that reaches exactly zero after ``release_s``."""
    sr = sample_rate
    t = np.arange(gate_n, dtype=np.float32) / np.float32(sr)
    a = max(attack_s, 1.0 / sr)
    env = sustain + (1.0 - sustain) * np.exp(-np.maximum(t - a, 0.0) / decay_s, dtype=np.float32)
    env = np.where(t < a, t / a, env).astype(np.float32)
    rel_n = max(2, int(release_s * sr))
    level = float(env[-1]) if gate_n else 0.0
    tr = np.arange(rel_n, dtype=np.float32) / rel_n
    tail = level * np.exp(-4.0 * tr) * (1.0 - tr)
    return np.concatenate([env, tail.astype(np.float32)])


def _fade_out(x: np.ndarray, sample_rate: int, fade_s: float = 0.01) -> np.ndarray:
    n = min(len(x), int(fade_s * sample_rate))
    if n:
        x[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return x


def _lowpass_gain(freqs_hz: np.ndarray, cutoff_hz: float, order: int = 2) -> np.ndarray:
    return 1.0 / np.sqrt(1.0 + (freqs_hz / cutoff_hz) ** (2 * order))


def _filtered_noise(
    rng: np.random.Generator, n: int, sample_rate: int, btype: str, cutoff_hz, order: int = 2
) -> np.ndarray:
    nyq = 0.5 * sample_rate
    cut = np.minimum(np.atleast_1d(np.asarray(cutoff_hz, np.float64)), 0.9 * nyq) / nyq
    sos = signal.butter(order, cut if len(cut) > 1 else cut[0], btype=btype, output="sos")
    return signal.sosfilt(sos, rng.standard_normal(n)).astype(np.float32)


def _normalise_peak(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return (x / peak).astype(np.float32) if peak > 0 else x.astype(np.float32)


# --- drums ----------------------------------------------------------------------------


@lru_cache(maxsize=64)
def kick(sample_rate: int, variant: int = 0, tune_hz: float = 50.0) -> np.ndarray:
    """A sine swept from about 3.3 times ``tune_hz`` down to ``tune_hz`` (producers tune the
    kick to the key), with a noise click, lightly saturated."""
    sr = sample_rate
    rng = np.random.default_rng(1000 + variant)
    t = np.arange(int(KICK_S * sr)) / sr
    f_start, f_end, tau = (3.2 + 0.15 * variant) * tune_hz, tune_hz, 0.032
    phase = 2 * np.pi * (f_end * t + (f_start - f_end) * tau * (1.0 - np.exp(-t / tau)))
    body = np.sin(phase) * np.exp(-t / 0.17) * np.minimum(t / 0.0008, 1.0)
    click = _filtered_noise(rng, len(t), sr, "highpass", 1500.0) * np.exp(-t / 0.0025)
    x = np.tanh(1.6 * (body + 0.35 * click)) / np.tanh(1.6)
    return _fade_out(_normalise_peak(x), sr)


@lru_cache(maxsize=64)
def snare(sample_rate: int, variant: int = 0, tune_hz: float = 200.0) -> np.ndarray:
    """Two damped tones (``tune_hz`` and a fifth above) and band-passed noise."""
    sr = sample_rate
    rng = np.random.default_rng(2000 + variant)
    t = np.arange(int(SNARE_S * sr)) / sr
    tone = 0.7 * np.sin(2 * np.pi * tune_hz * t) * np.exp(-t / 0.045) + 0.35 * np.sin(
        2 * np.pi * 1.5 * tune_hz * t
    ) * np.exp(-t / 0.03)
    noise = _filtered_noise(rng, len(t), sr, "bandpass", [1200.0, 9000.0]) * np.exp(-t / 0.1)
    x = (tone + 1.2 * noise / (np.std(noise[: int(0.03 * sr)]) + 1e-9) * 0.25) * np.minimum(
        t / 0.0006, 1.0
    )
    return _fade_out(_normalise_peak(x), sr)


@lru_cache(maxsize=64)
def hat(sample_rate: int, variant: int = 0, *, open_hat: bool = False) -> np.ndarray:
    """High-passed noise with a metallic cluster of square waves; closed or open."""
    sr = sample_rate
    rng = np.random.default_rng(3000 + variant + (100 if open_hat else 0))
    length_s, decay_s = (OPEN_HAT_S, 0.14) if open_hat else (CLOSED_HAT_S, 0.022)
    t = np.arange(int(length_s * sr)) / sr
    metal = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in (317, 440, 529, 612, 787, 881))
    metal = _highpass(metal, sr, 6500.0)
    noise = _filtered_noise(rng, len(t), sr, "highpass", 7000.0, order=3)
    x = (noise + 0.08 * metal) * np.exp(-t / decay_s) * np.minimum(t / 0.0005, 1.0)
    return _fade_out(_normalise_peak(x), sr, 0.005)


@lru_cache(maxsize=16)
def crash(sample_rate: int, variant: int = 0) -> np.ndarray:
    """A long, bright wash of noise for section starts."""
    sr = sample_rate
    rng = np.random.default_rng(4000 + variant)
    t = np.arange(int(CRASH_S * sr)) / sr
    noise = _filtered_noise(rng, len(t), sr, "highpass", 3500.0, order=2)
    x = noise * (0.25 * np.exp(-t / 0.05) + 0.75 * np.exp(-t / 0.6)) * np.minimum(t / 0.001, 1.0)
    return _fade_out(_normalise_peak(x), sr, 0.05)


def _highpass(x: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    cut = min(cutoff_hz, 0.45 * sample_rate) / (0.5 * sample_rate)
    return signal.sosfilt(signal.butter(2, cut, "highpass", output="sos"), x)


# --- pitched voices -------------------------------------------------------------------


@lru_cache(maxsize=512)
def _saw_table(pitch_midi: int, sample_rate: int, cutoff_hz: float, power: float) -> np.ndarray:
    f0 = midi_to_hz(pitch_midi)
    k = np.arange(1, _n_harmonics(f0, sample_rate, 1.01) + 1)
    amps = k**-power * _lowpass_gain(k * f0, cutoff_hz)
    return harmonic_table(amps)


def _pluck(
    pitch_midi: int,
    gate_n: int,
    sample_rate: int,
    *,
    bright: np.ndarray,
    dark: np.ndarray,
    tone_decay_s: float,
    attack_s: float,
    decay_s: float,
    sustain: float,
    release_s: float,
) -> np.ndarray:
    env = adsr(
        gate_n,
        sample_rate,
        attack_s=attack_s,
        decay_s=decay_s,
        sustain=sustain,
        release_s=release_s,
    )
    phase = phase_steady(midi_to_hz(pitch_midi), len(env), sample_rate)
    b = read_table(bright, phase)
    d = read_table(dark, phase)
    t = np.arange(len(env), dtype=np.float32) / np.float32(sample_rate)
    mix = np.exp(-t / np.float32(tone_decay_s))
    return (d + (b - d) * mix) * env


def bass_note(pitch_midi: int, gate_n: int, sample_rate: int) -> np.ndarray:
    """A plucked bass: a bright, saw-like attack that mellows to a round tone."""
    return 0.8 * _pluck(
        pitch_midi,
        gate_n,
        sample_rate,
        bright=_saw_table(pitch_midi, sample_rate, 2200.0, 1.0),
        dark=_saw_table(pitch_midi, sample_rate, 300.0, 1.6),
        tone_decay_s=0.09,
        attack_s=0.004,
        decay_s=0.35,
        sustain=0.55,
        release_s=0.05,
    )


def lead_note(pitch_midi: int, gate_n: int, sample_rate: int) -> np.ndarray:
    """A saw lead with a filter that closes after the attack."""
    return 0.7 * _pluck(
        pitch_midi,
        gate_n,
        sample_rate,
        bright=_saw_table(pitch_midi, sample_rate, 5000.0, 1.0),
        dark=_saw_table(pitch_midi, sample_rate, 1400.0, 1.0),
        tone_decay_s=0.18,
        attack_s=0.006,
        decay_s=0.4,
        sustain=0.7,
        release_s=0.12,
    )


def keys_note(pitch_midi: int, gate_n: int, sample_rate: int) -> np.ndarray:
    """An electric-piano-like stab: bright onset, decaying, mostly fundamental."""
    return 0.6 * _pluck(
        pitch_midi,
        gate_n,
        sample_rate,
        bright=_saw_table(pitch_midi, sample_rate, 3000.0, 1.7),
        dark=_saw_table(pitch_midi, sample_rate, 700.0, 2.2),
        tone_decay_s=0.08,
        attack_s=0.003,
        decay_s=0.45,
        sustain=0.25,
        release_s=0.15,
    )


#: Pad detune per channel, in cents: two voices left, two right.
PAD_DETUNE_CENTS = ((-9.0, 4.0), (-4.0, 9.0))


def pad_tone(pitch_midi: int, n: int, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """A sustained low-passed stereo saw pair, detuned differently left and right, ``(2, n)``."""
    table = _saw_table(pitch_midi, sample_rate, cutoff_hz, 1.0)
    f0 = midi_to_hz(pitch_midi)
    out = np.zeros((2, n), np.float32)
    for ch, cents in enumerate(PAD_DETUNE_CENTS):
        for i, c in enumerate(cents):
            start = (pitch_midi * 0.618 + ch * 0.31 + i * 0.5) % 1.0
            out[ch] += read_table(table, phase_steady(f0 * 2 ** (c / 1200), n, sample_rate, start))
    return out * np.float32(0.35)


def pad_envelope(gate_n: int, sample_rate: int) -> np.ndarray:
    return adsr(gate_n, sample_rate, attack_s=0.12, decay_s=0.6, sustain=0.8, release_s=0.45)


# --- voice ----------------------------------------------------------------------------

#: Formant centre frequencies and bandwidths (Hz) of sung vowels.
VOWELS = {
    "a": ((800, 80), (1200, 90), (2500, 120), (3400, 160)),
    "e": ((450, 70), (1900, 100), (2600, 120), (3400, 160)),
    "i": ((300, 60), (2300, 100), (3000, 130), (3600, 160)),
    "o": ((500, 70), (850, 80), (2500, 120), (3400, 160)),
    "u": ((330, 60), (750, 80), (2400, 120), (3400, 160)),
}


def _formant_gain(freqs_hz: np.ndarray, vowel: str) -> np.ndarray:
    """Magnitude of a cascade of resonators (unity at 0 Hz), as in a Klatt synthesiser."""
    g = np.ones_like(freqs_hz)
    for fc, bw in VOWELS[vowel]:
        h = bw / 2.0
        g *= (fc**2 + h**2) / np.sqrt(((freqs_hz - fc) ** 2 + h**2) * ((freqs_hz + fc) ** 2 + h**2))
    return g


@lru_cache(maxsize=512)
def vowel_table(pitch_midi: int, vowel: str, sample_rate: int) -> np.ndarray:
    """One period of a glottal source (harmonics falling 6 dB/octave) through vowel formants,
    at unit RMS."""
    f0 = midi_to_hz(pitch_midi)
    k = np.arange(1, _n_harmonics(f0, sample_rate, 1.3) + 1)
    amps = k**-1.0 * _formant_gain(k * f0, vowel)
    amps /= np.sqrt(np.sum(amps**2) / 2.0)
    return harmonic_table(amps)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def vocal_phrase(
    pitches_midi: list[int],
    starts_n: list[int],
    end_n: int,
    vowels: list[str],
    gains: list[float],
    sample_rate: int,
    *,
    consonants: list[np.ndarray | None] | None = None,
) -> np.ndarray:
    """A legato sung phrase: note i sounds from ``starts_n[i]`` to the next start (the last
    to ``end_n``), samples relative to the phrase start (``starts_n[0] == 0``).

    The pitch glides into each note (45 ms), vibrato (5.3 Hz, +/-22 cents) fades in after
    220 ms, vowels cross-fade over 60 ms, the level dips briefly at each new syllable, and
    an optional consonant noise burst starts each syllable.
    """
    sr = sample_rate
    release_n = int(0.15 * sr)
    n = end_n + release_n
    bounds = [*starts_n, end_n]
    pitch = np.empty(n, np.float32)
    glide_n = max(1, int(0.045 * sr))
    vib_delay_n, vib_ramp_n = int(0.22 * sr), int(0.25 * sr)
    vib_depth = np.zeros(n, np.float32)
    for i, p in enumerate(pitches_midi):
        a, b = bounds[i], (bounds[i + 1] if i + 1 < len(pitches_midi) else n)
        prev, ramp_n = (pitches_midi[i - 1], glide_n) if i else (p - 0.4, int(0.07 * sr))
        pitch[a:b] = p
        r = min(ramp_n, b - a)
        pitch[a : a + r] += (prev - p) * (
            1.0 - _smoothstep(np.arange(r, dtype=np.float32) / ramp_n)
        )
        if b - a > vib_delay_n:
            ramp = np.arange(b - a - vib_delay_n, dtype=np.float32) / np.float32(vib_ramp_n)
            vib_depth[a + vib_delay_n : b] = 0.22 * np.minimum(ramp, 1.0)
    vibrato = np.sin(np.arange(n, dtype=np.float32) * np.float32(2 * np.pi * 5.3 / sr))
    pitch += vib_depth * vibrato
    freq = np.exp2((pitch - np.float32(69.0)) / np.float32(12.0)) * np.float32(440.0)
    phase = phase_from_freq(freq, sr)

    xf = max(2, int(0.06 * sr))
    out = np.zeros(n, np.float32)
    for i, p in enumerate(pitches_midi):
        a = bounds[i]
        b = bounds[i + 1] if i + 1 < len(pitches_midi) else n
        lo = a if i == 0 else max(0, a - xf // 2)
        hi = n if i + 1 == len(pitches_midi) else min(n, b + xf // 2)
        w = np.ones(hi - lo, np.float32)
        if i > 0:
            w[:xf] = np.linspace(0.0, 1.0, xf, dtype=np.float32)[: min(xf, hi - lo)]
        if i + 1 < len(pitches_midi):
            m = min(xf, hi - lo)
            w[-m:] *= np.linspace(1.0, 0.0, xf, dtype=np.float32)[-m:]
        out[lo:hi] += gains[i] * w * read_table(vowel_table(p, vowels[i], sr), phase[lo:hi])

    env = np.ones(n, np.float32)
    att = max(2, int(0.05 * sr))
    env[:att] = np.linspace(0.0, 1.0, att, dtype=np.float32)
    tr = np.arange(release_n, dtype=np.float32) / release_n
    env[end_n:] = np.exp(-3.0 * tr) * (1.0 - tr)
    dip = max(2, int(0.07 * sr))
    bump = (0.35 * np.hanning(dip)).astype(np.float32)
    for a in starts_n[1:]:
        lo, hi = max(0, a - dip // 2), min(n, a - dip // 2 + dip)
        env[lo:hi] *= 1.0 - bump[lo - (a - dip // 2) : hi - (a - dip // 2)]
    out *= env
    if consonants:
        for a, g, c in zip(starts_n, gains, consonants, strict=True):
            if c is not None:
                m = min(len(c), n - a)
                out[a : a + m] += g * c[:m]
    return out


@lru_cache(maxsize=8)
def consonant(sample_rate: int, kind: int) -> np.ndarray:
    """Short noise bursts that start syllables: 0 is an 's', 1 a 't', 2 an 'h'."""
    sr = sample_rate
    rng = np.random.default_rng(5000 + kind)
    if kind == 0:
        n, band, decay = int(0.08 * sr), [4500.0, 9000.0], 0.03
    elif kind == 1:
        n, band, decay = int(0.03 * sr), [2000.0, 6000.0], 0.008
    else:
        n, band, decay = int(0.06 * sr), [700.0, 3000.0], 0.025
    t = np.arange(n) / sr
    x = _filtered_noise(rng, n, sr, "bandpass", band) * np.exp(-t / decay)
    return (0.12 * _normalise_peak(_fade_out(x, sr, 0.005))).astype(np.float32)
