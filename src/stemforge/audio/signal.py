"""The :class:`Audio` type: float32 samples shaped (channels, frames) and a sample rate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemforge.errors import EmptyAudioError, InvalidAudioError, UnsupportedFormatError

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 8


_G3 = 10 ** (-3 / 20)
_G6 = 10 ** (-6 / 20)
# Left and right fold-down weights per channel count (see Audio.to_stereo).
_FOLD_DOWN = {
    3: ([1, 0, _G3], [0, 1, _G3]),
    4: ([1, 0, _G3, 0], [0, 1, 0, _G3]),
    5: ([1, 0, _G3, _G3, 0], [0, 1, _G3, 0, _G3]),
    6: ([1, 0, _G3, 0, _G3, 0], [0, 1, _G3, 0, 0, _G3]),
    7: ([1, 0, _G3, 0, _G6, _G3, 0], [0, 1, _G3, 0, _G6, 0, _G3]),
    8: ([1, 0, _G3, 0, _G3, 0, _G3, 0], [0, 1, _G3, 0, 0, _G3, 0, _G3]),
}
_FOLD_DOWN = {n: (np.array(lw), np.array(rw)) for n, (lw, rw) in _FOLD_DOWN.items()}


@dataclass(frozen=True, eq=False)
class Audio:
    """An immutable audio signal.

    ``samples`` is float32, shaped ``(channels, frames)``, read-only; full scale
    is +/-1.0. Mono is ``(1, frames)``. Build one from other layouts with
    :meth:`from_array`.

    >>> a = Audio(np.zeros((2, 48000), np.float32), 48000)
    >>> a.duration_s, a.channels
    (1.0, 2)
    """

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        if samples.ndim != 2:
            raise InvalidAudioError(
                f"samples must be shaped (channels, frames), got {samples.ndim} dimension(s) "
                f"{samples.shape}.",
                hint="Use Audio.from_array() for 1-D or (frames, channels) arrays.",
            )
        if samples.dtype.kind != "f":
            raise InvalidAudioError(
                f"samples must be floating point (full scale +/-1.0), got dtype {samples.dtype}.",
                hint="Use Audio.from_array() to scale integer PCM.",
            )
        if not 1 <= samples.shape[0] <= MAX_CHANNELS:
            raise UnsupportedFormatError(
                f"{samples.shape[0]} channels; stemforge handles 1 to {MAX_CHANNELS}.",
                hint="If the array is (frames, channels), transpose it or use Audio.from_array().",
            )
        sample_rate = int(self.sample_rate)
        if sample_rate != self.sample_rate or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
            raise UnsupportedFormatError(
                f"sample rate {self.sample_rate} Hz; stemforge handles whole rates from "
                f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz."
            )
        if samples.dtype != np.float32 or not samples.flags.c_contiguous:
            samples = np.ascontiguousarray(samples, dtype=np.float32)
        elif samples.flags.writeable:
            samples = samples.copy()
        samples.setflags(write=False)
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sample_rate", sample_rate)

    # --- construction -------------------------------------------------------------

    @classmethod
    def from_array(cls, array: np.ndarray, sample_rate: int, *, layout: str = "auto") -> Audio:
        """Build from a 1-D array (mono), ``(channels, frames)`` or ``(frames, channels)``.

        ``layout`` is ``"auto"`` (the shorter axis is channels), ``"channels_first"``
        or ``"frames_first"``. Integer arrays are scaled to +/-1.0 by their type's range.
        """
        arr = np.asarray(array)
        if arr.dtype.kind in "iu":
            info = np.iinfo(arr.dtype)
            scale = float(max(abs(info.min), info.max + 1))
            offset = 0.0 if arr.dtype.kind == "i" else scale / 2
            arr = (arr.astype(np.float64) - offset) / (scale if arr.dtype.kind == "i" else offset)
        if layout not in ("auto", "channels_first", "frames_first"):
            raise ValueError(
                f"layout must be 'auto', 'channels_first' or 'frames_first', got {layout!r}"
            )
        if arr.ndim == 1:
            arr = arr[np.newaxis, :]
        elif arr.ndim == 2:
            if layout == "frames_first" or (layout == "auto" and arr.shape[0] > arr.shape[1]):
                arr = arr.T
        else:
            raise InvalidAudioError(f"expected a 1-D or 2-D array, got shape {arr.shape}.")
        return cls(arr, sample_rate)

    @classmethod
    def silence(cls, duration_s: float, sample_rate: int = 48_000, channels: int = 2) -> Audio:
        return cls(np.zeros((channels, round(duration_s * sample_rate)), np.float32), sample_rate)

    # --- properties ---------------------------------------------------------------

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def frames(self) -> int:
        return self.samples.shape[1]

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def is_mono(self) -> bool:
        return self.channels == 1

    @property
    def is_finite(self) -> bool:
        return bool(np.isfinite(self.samples).all())

    def __repr__(self) -> str:
        return (
            f"Audio(channels={self.channels}, frames={self.frames}, "
            f"sample_rate={self.sample_rate}, duration_s={self.duration_s:.3f})"
        )

    def __len__(self) -> int:
        return self.frames

    # --- conversions --------------------------------------------------------------

    def with_samples(self, samples: np.ndarray) -> Audio:
        """The same sample rate with new samples."""
        return Audio(samples, self.sample_rate)

    def to_mono(self) -> Audio:
        """The mean of the channels, shaped (1, frames)."""
        if self.channels == 1:
            return self
        return self.with_samples(self.samples.mean(axis=0, keepdims=True, dtype=np.float64))

    def to_stereo(self) -> Audio:
        """Two channels: mono is duplicated; more than two are folded down.

        Multichannel folds down as in ITU-R BS.775 with the SMPTE/WAVE channel orders
        (3: L R C; 4: L R Ls Rs; 5: L R C Ls Rs; 6: L R C LFE Ls Rs; 7: L R C LFE Cs Ls Rs;
        8: L R C LFE Ls Rs Lb Rb): centre, surrounds and backs at -3 dB to their side,
        a back centre at -6 dB to both, LFE dropped.
        """
        if self.channels == 2:
            return self
        if self.channels == 1:
            return self.with_samples(np.repeat(self.samples, 2, axis=0))
        left, right = _FOLD_DOWN[self.channels]
        s = self.samples.astype(np.float64)
        return self.with_samples(np.stack([left @ s, right @ s]))

    def to_channels(self, channels: int) -> Audio:
        """Convert to 1 or 2 channels (other counts must already match)."""
        if channels == self.channels:
            return self
        if channels == 1:
            return self.to_mono()
        if channels == 2:
            return self.to_stereo()
        raise UnsupportedFormatError(f"cannot convert {self.channels} channels to {channels}.")

    def resample(self, sample_rate: int, *, quality: str = "HQ") -> Audio:
        """Resample with soxr (``quality``: "QQ", "LQ", "MQ", "HQ" or "VHQ")."""
        from stemforge.audio.resample import resample

        return resample(self, sample_rate, quality=quality)

    def slice_s(self, start_s: float = 0.0, end_s: float | None = None) -> Audio:
        """The part from ``start_s`` to ``end_s`` (seconds, clamped to the signal)."""
        start = max(0, round(start_s * self.sample_rate))
        end = self.frames if end_s is None else min(self.frames, round(end_s * self.sample_rate))
        return self.with_samples(self.samples[:, start : max(start, end)])

    def apply_gain_db(self, gain_db: float) -> Audio:
        return self.with_samples(self.samples * np.float32(10 ** (gain_db / 20)))

    def pad_to(self, frames: int) -> Audio:
        """Zero-pad at the end to ``frames`` (never shortens)."""
        if frames <= self.frames:
            return self
        return self.with_samples(np.pad(self.samples, ((0, 0), (0, frames - self.frames))))

    def frames_first(self) -> np.ndarray:
        """The samples as (frames, channels), the layout soundfile and most DAWs use."""
        return self.samples.T

    def require_frames(self, minimum: int = 1, *, what: str = "this analysis") -> Audio:
        """Raise :class:`EmptyAudioError` if shorter than ``minimum`` frames."""
        if self.frames < minimum:
            raise EmptyAudioError(
                f"{what} needs at least {minimum / self.sample_rate:.3f} s of audio; "
                f"got {self.duration_s:.3f} s."
            )
        return self

    def require_finite(self) -> Audio:
        if not self.is_finite:
            raise InvalidAudioError(
                "the signal contains NaN or infinite samples.",
                hint="Check the processing that produced it; stemforge cannot measure it.",
            )
        return self


def mix(signals: list[Audio]) -> Audio:
    """Sum signals of one sample rate, zero-padding the shorter ones at the end.

    Mono signals are duplicated when any signal is stereo.
    """
    if not signals:
        raise EmptyAudioError("nothing to mix: the list of signals is empty.")
    rates = {s.sample_rate for s in signals}
    if len(rates) != 1:
        raise UnsupportedFormatError(
            f"cannot mix sample rates {sorted(rates)} directly.", hint="Resample them first."
        )
    channels = max(s.channels for s in signals)
    frames = max(s.frames for s in signals)
    out = np.zeros((channels, frames), np.float64)
    for s in signals:
        out[:, : s.frames] += s.to_channels(channels).samples
    return Audio(out, signals[0].sample_rate)
