"""The audio core: the :class:`Audio` type, loading any format, saving, resampling."""

from stemforge.audio.io import AudioInfo, info, load, save
from stemforge.audio.resample import resample
from stemforge.audio.signal import Audio, mix

__all__ = ["Audio", "AudioInfo", "info", "load", "mix", "resample", "save"]
