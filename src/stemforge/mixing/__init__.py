"""Mixing: mix sheets, the deterministic renderer and its processors, the automatic
mixer (``auto_mix``) and the auto-gain stem mixer of source document 001
(``StemMixer``, ``GainPredictor``, ``CNNGainPredictor``).

>>> from stemforge.mixing import MixSheet, render      # doctest: +SKIP
>>> sheet = MixSheet.flat(stems).with_stem("vox", gain_db=2.0, pan=0.1)  # doctest: +SKIP
>>> mix = render(stems, sheet)                          # doctest: +SKIP
"""

from stemforge.mixing.automix import AutoMixResult, auto_mix
from stemforge.mixing.cnn import CNNGainPredictor
from stemforge.mixing.dynamics import (
    CompressionResult,
    CompressorStream,
    compress,
    smoothing_coefficient,
    static_curve_db,
)
from stemforge.mixing.errors import MixRenderError, MixSheetError
from stemforge.mixing.gain import GainPrediction, GainPredictor
from stemforge.mixing.limiter import LimiterResult, interpolated_peaks, limit, true_peak_limit
from stemforge.mixing.pan import balance_gains, pan, pan_gains
from stemforge.mixing.render import RenderedMix, render
from stemforge.mixing.reverb import ReverbStream, apply_reverb
from stemforge.mixing.roles import RoleGuess, detect_roles
from stemforge.mixing.sheet import (
    SHEET_VERSION,
    Band,
    ChannelEQ,
    Compressor,
    Limiter,
    MasterBus,
    MixSheet,
    Reverb,
    StemChannel,
)
from stemforge.mixing.stem_mixer import StemMixer

__all__ = [
    "SHEET_VERSION",
    "AutoMixResult",
    "Band",
    "CNNGainPredictor",
    "ChannelEQ",
    "CompressionResult",
    "Compressor",
    "CompressorStream",
    "GainPrediction",
    "GainPredictor",
    "Limiter",
    "LimiterResult",
    "MasterBus",
    "MixRenderError",
    "MixSheet",
    "MixSheetError",
    "RenderedMix",
    "Reverb",
    "ReverbStream",
    "RoleGuess",
    "StemChannel",
    "StemMixer",
    "apply_reverb",
    "auto_mix",
    "balance_gains",
    "compress",
    "detect_roles",
    "interpolated_peaks",
    "limit",
    "pan",
    "pan_gains",
    "render",
    "smoothing_coefficient",
    "static_curve_db",
    "true_peak_limit",
]
