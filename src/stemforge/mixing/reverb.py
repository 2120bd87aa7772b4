"""The shared send reverb: pedalboard's Reverb (JUCE's Freeverb), wet only, deterministic.

Freeverb (Jezar at Dreampoint, as in ``juce::Reverb``): the left and right inputs are
summed to mono and fed to 8 parallel damped comb filters and 4 series all-passes per
side; ``room_size`` sets the combs' feedback (decay time), ``damping`` their low-pass,
``width`` the decorrelation of the two outputs. Its wet level is normalised so that
white noise (independent in the two channels) comes back at the power it was sent with
(``return_db = 0``); the return
is then high-passed at ``high_pass_hz`` (Butterworth, 12 dB/oct) to keep the low end
of the mix clean. The reverb has no random modulation: the same input gives the same
output, and processing in blocks gives the same samples as one call.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from stemforge.audio.filters import HighPass
from stemforge.audio.signal import Audio
from stemforge.errors import StemforgeError
from stemforge.mixing.sheet import Reverb
from stemforge.mixing.sosfilt import EQStream

__all__ = ["ReverbStream", "apply_reverb"]

# juce::Reverb's wet gain is 3 x wet_level: 1/3 gives the raw comb-and-all-pass output.
_UNITY_WET_LEVEL = 1.0 / 3.0


def _plugin(reverb: Reverb, wet_level: float):
    try:
        import pedalboard
    except ImportError:  # pragma: no cover - pedalboard is in the mixing extra
        raise StemforgeError(
            "the send reverb needs pedalboard, which is not installed.",
            hint="Install it: pip install 'stemforge[mixing]', or remove the reverb sends.",
        ) from None
    return pedalboard.Reverb(
        room_size=reverb.room_size,
        damping=reverb.damping,
        wet_level=wet_level,
        dry_level=0.0,
        width=reverb.width,
        freeze_mode=0.0,
    )


@lru_cache(maxsize=32)
def _power_gain(room_size: float, damping: float, width: float, sample_rate: int) -> float:
    """Power gain of the reverb at unity wet level: the energy of its impulse response
    (averaged over the two outputs) per unit of input power on both inputs."""
    impulse = np.zeros((2, max(1, int(sample_rate * 0.1)) * 40), np.float32)  # 4 s
    impulse[:, 0] = 1.0
    plugin = _plugin(Reverb(room_size=room_size, damping=damping, width=width), _UNITY_WET_LEVEL)
    response = plugin.process(impulse, float(sample_rate), reset=True).astype(np.float64)
    # Both inputs carry the impulse (power 2); the outputs' energy is averaged.
    return float((response**2).sum() / 2.0 / 2.0) or 1.0


class ReverbStream:
    """The shared reverb over consecutive stereo blocks (float64 ``(2, frames)``).

    ``process(send_block)`` returns the wet return block: reverb, high-pass, return
    gain. State carries over between blocks.
    """

    def __init__(self, reverb: Reverb, sample_rate: int):
        self.reverb = reverb
        self.sample_rate = int(sample_rate)
        power = _power_gain(reverb.room_size, reverb.damping, reverb.width, self.sample_rate)
        # Normalise to unity power for white noise, then the return fader.
        self._plugin = _plugin(reverb, _UNITY_WET_LEVEL / math.sqrt(power))
        self._gain = 10.0 ** (reverb.return_db / 20.0)
        sos = None
        if reverb.high_pass_hz is not None:
            sos = HighPass(reverb.high_pass_hz, 12).sos(self.sample_rate)
        self._high_pass = EQStream(sos, 2)
        self._started = False

    def process(self, send: np.ndarray) -> np.ndarray:
        block = np.ascontiguousarray(send, dtype=np.float32)
        wet = self._plugin.process(block, float(self.sample_rate), reset=not self._started)
        self._started = True
        out = np.ascontiguousarray(wet.T, dtype=np.float64)  # frames first for the filter
        self._high_pass.process(out)
        if self._gain != 1.0:
            out *= self._gain
        return out.T


def apply_reverb(audio: Audio, reverb: Reverb) -> Audio:
    """The wet return of ``reverb`` for ``audio`` (stereo in and out; mono is duplicated)."""
    stereo = audio.to_stereo()
    wet = ReverbStream(reverb, audio.sample_rate).process(stereo.samples)
    return stereo.with_samples(wet)
