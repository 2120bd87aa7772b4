"""Mixing: mix sheets, the deterministic renderer and its processors, the automatic
mixer (``auto_mix``) and the auto-gain stem mixer of source document 001
(``StemMixer``, ``GainPredictor``, ``CNNGainPredictor``).

>>> from stemforge.mixing import MixSheet, render      # doctest: +SKIP
>>> sheet = MixSheet.flat(stems).with_stem("vox", gain_db=2.0, pan=0.1)  # doctest: +SKIP
>>> mix = render(stems, sheet)                          # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

#: Where each public name lives: the package imports a module only when a name from it is
#: first used, so `stemforge --help` does not load scipy, numba and torch.
_EXPORTS = {
    "AutoMixResult": "stemforge.mixing.automix",
    "Band": "stemforge.mixing.sheet",
    "CNNGainPredictor": "stemforge.mixing.cnn",
    "ChannelEQ": "stemforge.mixing.sheet",
    "CompressionResult": "stemforge.mixing.dynamics",
    "Compressor": "stemforge.mixing.sheet",
    "CompressorStream": "stemforge.mixing.dynamics",
    "GainPrediction": "stemforge.mixing.gain",
    "GainPredictor": "stemforge.mixing.gain",
    "Limiter": "stemforge.mixing.sheet",
    "LimiterResult": "stemforge.mixing.limiter",
    "MasterBus": "stemforge.mixing.sheet",
    "MixRenderError": "stemforge.mixing.errors",
    "MixSheet": "stemforge.mixing.sheet",
    "MixSheetError": "stemforge.mixing.errors",
    "RenderedMix": "stemforge.mixing.render",
    "Reverb": "stemforge.mixing.sheet",
    "ReverbStream": "stemforge.mixing.reverb",
    "RoleGuess": "stemforge.mixing.roles",
    "SHEET_VERSION": "stemforge.mixing.sheet",
    "StemChannel": "stemforge.mixing.sheet",
    "StemMixer": "stemforge.mixing.stem_mixer",
    "apply_reverb": "stemforge.mixing.reverb",
    "auto_mix": "stemforge.mixing.automix",
    "balance_gains": "stemforge.mixing.pan",
    "compress": "stemforge.mixing.dynamics",
    "detect_roles": "stemforge.mixing.roles",
    "interpolated_peaks": "stemforge.mixing.limiter",
    "limit": "stemforge.mixing.limiter",
    "pan": "stemforge.mixing.pan",
    "pan_gains": "stemforge.mixing.pan",
    "render": "stemforge.mixing.render",
    "smoothing_coefficient": "stemforge.mixing.dynamics",
    "static_curve_db": "stemforge.mixing.dynamics",
    "true_peak_limit": "stemforge.mixing.limiter",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stemforge.mixing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
