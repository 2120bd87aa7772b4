"""The audio core: the :class:`Audio` type, loading any format, saving, resampling."""

from stemforge.audio.io import AudioInfo, info, load, save
from stemforge.audio.resample import resample
from stemforge.audio.signal import Audio, mix
from stemforge.audio.stems import Stems, align_stems, load_stems

__all__ = [
    "Audio",
    "AudioInfo",
    "Stems",
    "align_stems",
    "info",
    "load",
    "load_stems",
    "mix",
    "resample",
    "save",
]
