"""Render a mix sheet: stems in, one stereo mix out, the same bytes every time.

Signal flow (every stage optional; a flat sheet passes a stereo stem through unchanged):

- **Alignment**: each stem starts at 0 s plus its ``offset_s``; stems are resampled
  with soxr (:meth:`Audio.resample`) to the render rate (``render``'s ``sample_rate``,
  else the sheet's, else the highest rate among the stems); more than two channels fold
  down to stereo (ITU-R BS.775, :meth:`Audio.to_stereo`); mono stays mono until the pan.
  Shorter stems are padded with silence to the longest, so their filter tails ring
  out; the mix ends where the longest stem ends (export stems with their reverb tails).
- **Solo and mute**: if any stem is soloed only the soloed stems play; muted stems never
  play. Silent stems still count for the mix's length.
- **Per stem**: EQ (:class:`~stemforge.audio.filters.EQ` sections) -> compressor
  (:mod:`~stemforge.mixing.dynamics`) -> gain -> pan (:mod:`~stemforge.mixing.pan`:
  constant power for mono, balance for stereo) -> the master bus; the reverb send
  (post-fader, post-pan) feeds the shared reverb (:mod:`~stemforge.mixing.reverb`), whose
  return joins the master bus.
- **Master**: EQ -> glue compressor -> true-peak limiter with an optional loudness
  target (:mod:`~stemforge.mixing.limiter`), then float32.

Processing streams in blocks of :data:`BLOCK_FRAMES` frames (each stage keeps its
state between blocks), stems in sorted-name order, summed in float64: the output is
bit-identical from run to run and does not depend on the order of the stems given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from stemforge.audio.signal import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, Audio
from stemforge.audio.stems import MAX_STEMS, Stems
from stemforge.errors import InvalidAudioError
from stemforge.mixing.dynamics import CompressorStream
from stemforge.mixing.errors import MixRenderError, MixSheetError
from stemforge.mixing.limiter import limit
from stemforge.mixing.pan import stereo_gains
from stemforge.mixing.reverb import ReverbStream
from stemforge.mixing.sheet import MixSheet, StemChannel
from stemforge.mixing.sosfilt import EQStream
from stemforge.results import Result

try:  # numba is part of the analysis and mixing extras
    import numba
except ImportError:  # pragma: no cover
    numba = None

__all__ = ["BLOCK_FRAMES", "RenderedMix", "render"]

#: Frames per processing block (about 1.4 s at 48 kHz).
BLOCK_FRAMES = 65536


@dataclass(frozen=True)
class RenderedMix(Result):
    """A rendered mix and what the meters read on it.

    ``integrated_lufs`` and ``true_peak_dbtp`` are measured on the output (BS.1770-4);
    ``limiter_gain_reduction_db`` is the limiter's largest gain reduction and
    ``limiter_pre_gain_db`` the gain set before it to reach the loudness target.
    ``stem_gain_reduction_db`` holds each compressed stem's largest gain reduction,
    ``master_gain_reduction_db`` the glue compressor's (``None`` without one).
    ``notes`` say what was done to each stem to align it ("resampled 22050 -> 48000 Hz").
    """

    audio: Audio = field(repr=False)
    integrated_lufs: float
    true_peak_dbtp: float
    limiter_gain_reduction_db: float
    limiter_pre_gain_db: float
    target_reached: bool | None
    sample_rate: int
    duration_s: float
    playing: tuple[str, ...]
    stem_gain_reduction_db: dict[str, float]
    master_gain_reduction_db: float | None
    notes: dict[str, tuple[str, ...]]
    sheet: MixSheet = field(repr=False)


class _Strip:
    """One playing stem: its samples at the render rate and its processors."""

    def __init__(self, name: str, audio: Audio, channel: StemChannel, rate: int, offset: int):
        self.name = name
        self.samples = audio.samples
        self.channels = audio.channels
        self.offset = offset
        self.eq = EQStream.from_eq(channel.eq, rate, self.channels, f"stems[{name!r}].eq")
        self.compressor = (
            CompressorStream(channel.compressor, rate) if channel.compressor is not None else None
        )
        gain = 10.0 ** (channel.gain_db / 20.0)
        left, right = stereo_gains(channel.pan, self.channels)
        self.left, self.right = gain * left, gain * right
        self.send = (
            None if channel.reverb_send_db is None else 10.0 ** (channel.reverb_send_db / 20)
        )
        self._no_gain = np.zeros(0)
        self._no_send = np.zeros((0, 2))

    def add_to(self, bus: np.ndarray, send: np.ndarray | None, start: int) -> None:
        """Process this stem's part of the block starting at ``start`` and add it to the
        frames-first ``bus`` (and ``send``)."""
        frames = bus.shape[0]
        lo = max(start - self.offset, 0)
        hi = start + frames - self.offset
        if hi <= 0:
            return  # before the stem's offset: silence, and the processors' state stays zero
        block = np.empty((hi - lo, self.channels))
        _load(self.samples, lo, block)
        self.eq.process(block)
        gain = self._no_gain
        if self.compressor is not None:
            gain = self.compressor.gain(block, frames_first=True)
        at = lo + self.offset - start
        if send is not None and self.send is not None:
            _mix_in(block, gain, self.left, self.right, self.send, bus, send, at)
        else:
            _mix_in(block, gain, self.left, self.right, 0.0, bus, self._no_send, at)


def _load(samples, start, block):
    """``block`` (frames, channels) float64 = ``samples[:, start:]`` transposed, zero after
    the end of ``samples``."""
    frames, channels = block.shape
    have = min(frames, max(samples.shape[1] - start, 0))
    for n in range(have):
        for c in range(channels):
            block[n, c] = samples[c, start + n]
    for n in range(have, frames):
        for c in range(channels):
            block[n, c] = 0.0


def _mix_in(block, gain, left, right, send_gain, bus, send, at):
    """Add ``gain * block`` panned (``left``, ``right``) to ``bus`` from frame ``at``, and
    ``send_gain`` times that to ``send`` (when it has frames). A mono block feeds both
    sides; an empty ``gain`` means unity."""
    frames, channels = block.shape
    last = channels - 1
    with_gain = gain.shape[0] > 0
    with_send = send.shape[0] > 0
    sl = send_gain * left
    sr = send_gain * right
    for n in range(frames):
        g = gain[n] if with_gain else 1.0
        v0 = block[n, 0] * g
        v1 = block[n, last] * g
        bus[at + n, 0] += left * v0
        bus[at + n, 1] += right * v1
        if with_send:
            send[at + n, 0] += sl * v0
            send[at + n, 1] += sr * v1


if numba is not None:
    _load = numba.njit(cache=True, nogil=True)(_load)
    _mix_in = numba.njit(cache=True, nogil=True)(_mix_in)


def render(
    stems: Mapping[str, Audio] | Stems, sheet: MixSheet, *, sample_rate: int | None = None
) -> RenderedMix:
    """Mix ``stems`` (1 to 64 signals by name) as ``sheet`` says (see the module docstring).

    Every stem must have a channel in the sheet and every channel a stem
    (:class:`MixRenderError` otherwise); a filter frequency at or above the render
    rate's Nyquist frequency raises :class:`MixSheetError`.
    """
    if not isinstance(sheet, MixSheet):
        raise TypeError(f"sheet must be a MixSheet, not {type(sheet).__name__}")
    signals, notes = _signals(stems)
    _check_names(signals, sheet)
    rate = _render_rate(signals, sheet, sample_rate)
    _check_frequencies(sheet, rate)

    # Stem lengths at the render rate (soxr gives round(frames * rate / source rate)).
    offsets = {n: round(sheet.stems[n].offset_s * rate) for n in signals}
    lengths = {
        n: a.frames if a.sample_rate == rate else round(a.frames * rate / a.sample_rate)
        for n, a in signals.items()
    }
    total = max(offsets[n] + lengths[n] for n in signals)
    if total == 0:
        raise MixRenderError("every stem is empty (0 frames); there is nothing to render.")

    playing = sheet.audible
    strips = []
    for name in playing:  # sorted by name
        audio = signals[name]
        if audio.sample_rate != rate:
            notes[name].append(f"resampled {audio.sample_rate} -> {rate} Hz")
            audio = audio.resample(rate)
        if audio.channels > 2:
            notes[name].append(f"folded down from {audio.channels} channels to stereo")
            audio = audio.to_stereo()
        if offsets[name]:
            notes[name].append(f"starts at {sheet.stems[name].offset_s:g} s")
        strips.append(_Strip(name, audio, sheet.stems[name], rate, offsets[name]))
    for name in sheet.stems:
        if name not in playing:
            notes[name].append("muted" if sheet.stems[name].mute else "not soloed")

    master = sheet.master
    uses_reverb = any(s.send is not None for s in strips)
    reverb = ReverbStream(master.reverb, rate) if uses_reverb else None
    master_eq = EQStream.from_eq(master.eq, rate, 2, "master.eq")
    glue = CompressorStream(master.compressor, rate) if master.compressor is not None else None

    premaster = np.empty((2, total), np.float32)
    for start in range(0, total, BLOCK_FRAMES):
        frames = min(BLOCK_FRAMES, total - start)
        bus = np.zeros((frames, 2))  # frames first: the layout the filters run fastest on
        send = np.zeros((frames, 2)) if reverb is not None else None
        for strip in strips:
            strip.add_to(bus, send, start)
        if reverb is not None:
            bus += reverb.process(send.T).T
        master_eq.process(bus)
        if glue is not None:
            glue.process(bus.T)
        premaster[:, start : start + frames] = bus.T
    limited = limit(Audio(premaster, rate), master.limiter)
    return RenderedMix(
        audio=limited.audio,
        integrated_lufs=limited.output_lufs,
        true_peak_dbtp=limited.true_peak_dbtp,
        limiter_gain_reduction_db=limited.max_gain_reduction_db,
        limiter_pre_gain_db=limited.pre_gain_db,
        target_reached=limited.target_reached,
        sample_rate=rate,
        duration_s=total / rate,
        playing=playing,
        stem_gain_reduction_db={
            s.name: s.compressor.max_gain_reduction_db for s in strips if s.compressor
        },
        master_gain_reduction_db=None if glue is None else glue.max_gain_reduction_db,
        notes={n: tuple(notes[n]) for n in sorted(notes)},
        sheet=sheet,
    )


# --- checks ------------------------------------------------------------------------------


def _signals(stems: Mapping[str, Audio] | Stems) -> tuple[dict[str, Audio], dict[str, list]]:
    if isinstance(stems, Stems):
        items = stems.items()
        notes = {n: list(stems.notes.get(n, ())) for n in stems.names}
    elif isinstance(stems, Mapping):
        items = list(stems.items())
        notes = {n: [] for n in stems}
    else:
        raise TypeError(f"stems must be a mapping of name -> Audio, not {type(stems).__name__}")
    if not 1 <= len(items) <= MAX_STEMS:
        raise MixRenderError(
            f"{len(items)} stems given; a mix takes 1 to {MAX_STEMS}.",
            hint="Bounce related tracks to groups (drums, vocals, keys, ...) and mix those.",
        )
    signals = {}
    for name, audio in sorted(items, key=lambda item: str(item[0])):
        if not isinstance(audio, Audio):
            raise TypeError(f"stem {name!r} must be an Audio, not {type(audio).__name__}")
        # The float64 sum is NaN or infinite exactly when a sample is (audio never nears
        # 1e300), and needs no full-size temporary as isfinite() does.
        if not math.isfinite(float(np.sum(audio.samples, dtype=np.float64))):
            raise InvalidAudioError(
                f"stem {name!r} contains NaN or infinite samples.",
                hint="Export that stem again; it cannot be mixed.",
            )
        signals[name] = audio
    return signals, notes


def _check_names(signals: Mapping[str, Audio], sheet: MixSheet) -> None:
    extra = sorted(set(signals) - set(sheet.stems))
    missing = sorted(set(sheet.stems) - set(signals))
    if extra:
        raise MixRenderError(
            f"the stem(s) {extra} have no channel in the mix sheet (it has {list(sheet.stems)}).",
            hint="Add them to the sheet (MixSheet.flat(names) makes a starting sheet), "
            "or leave those stems out.",
        )
    if missing:
        raise MixRenderError(
            f"the mix sheet names stem(s) {missing} that were not given "
            f"(the stems are {sorted(signals)}).",
            hint="Check the stem file names, or remove those channels from the sheet.",
        )


def _render_rate(signals: Mapping[str, Audio], sheet: MixSheet, sample_rate: int | None) -> int:
    if sample_rate is None:
        return sheet.sample_rate or max(a.sample_rate for a in signals.values())
    if (
        isinstance(sample_rate, bool)
        or int(sample_rate) != sample_rate
        or not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE
    ):
        raise MixRenderError(
            f"cannot render at {sample_rate!r} Hz; choose a whole rate from {MIN_SAMPLE_RATE} "
            f"to {MAX_SAMPLE_RATE} Hz."
        )
    return int(sample_rate)


def _check_frequencies(sheet: MixSheet, rate: int) -> None:
    """Every filter of the sheet must lie below the render rate's Nyquist frequency."""
    for name, channel in sheet.stems.items():
        channel.eq.filters(rate, where=f"stems[{name!r}].eq")
    sheet.master.eq.filters(rate, where="master.eq")
    hp = sheet.master.reverb.high_pass_hz
    if hp is not None and hp >= rate / 2:
        raise MixSheetError(
            f"master.reverb.high_pass_hz = {hp:g} Hz is at or above the Nyquist frequency "
            f"({rate / 2:g} Hz) of the render rate {rate} Hz.",
            hint=f"Set it below {rate / 2:g} Hz.",
        )
