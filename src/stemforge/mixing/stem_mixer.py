"""The stem mixer of source document 001: auto-gain, optional high- and low-pass per stem.

>>> mixer = StemMixer(sample_rate=44100)                               # doctest: +SKIP
>>> stems = {"drums": "stems/drums.wav", "bass": "stems/bass.wav",
...          "vocals": "stems/vocals.wav", "synth": "stems/synth.wav"}  # doctest: +SKIP
>>> mixed_audio = mixer.mix_stems(stems, auto_gain=True, use_cnn=False)  # doctest: +SKIP
>>> mixer.save_audio(mixed_audio, "auto_mix.wav")                      # doctest: +SKIP

:meth:`StemMixer.mix_stems` aligns the stems (:func:`stemforge.audio.stems.align_stems`:
resampled to the mixer's ``sample_rate``, mono duplicated to stereo, padded to the
longest), predicts a gain per stem (:class:`~stemforge.mixing.gain.GainPredictor`, or
:class:`~stemforge.mixing.cnn.CNNGainPredictor` with ``use_cnn=True``, which falls back
to the rules without a trained model), writes every decision into a
:class:`~stemforge.mixing.sheet.MixSheet` (gains, Butterworth 12 dB/octave high- and
low-passes from ``high_pass_cutoffs`` / ``low_pass_cutoffs``, a note per decision) and
renders it with :func:`stemforge.mixing.render.render`, whose master limiter keeps the
sum at or below -1 dBTP. The sheet is kept as :attr:`StemMixer.last_sheet`: save it,
edit it, and render it again for the same mix.

The mix comes back as an :class:`~stemforge.audio.signal.Audio` (float32 samples shaped
``(channels, frames)`` in ``.samples``, and its ``sample_rate``);
:meth:`StemMixer.save_audio` takes it or a bare numpy array.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from stemforge.audio.signal import Audio
from stemforge.audio.stems import Stems, align_stems
from stemforge.errors import StemforgeError
from stemforge.mixing.gain import GainPrediction, GainPredictor, as_audio_dict

__all__ = ["StemMixer"]


class StemMixer:
    """Mix stems with automatic gain (see the module docstring).

    After :meth:`mix_stems`: :attr:`last_sheet` (the :class:`MixSheet`),
    :attr:`last_prediction` (the :class:`GainPrediction`, ``None`` without auto-gain) and
    :attr:`last_render` (the :class:`RenderedMix`: loudness, true peak, limiter work).
    """

    def __init__(self, sample_rate: int = 44100) -> None:
        if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate:
            raise StemforgeError(f"sample_rate must be a whole number of Hz, got {sample_rate!r}.")
        self.sample_rate = int(sample_rate)
        self.last_sheet = None
        self.last_prediction: GainPrediction | None = None
        self.last_render = None

    # --- loading ----------------------------------------------------------------------------

    def load_stems(self, stems: Any) -> Stems:
        """Stems aligned at the mixer's rate: from a folder, a :class:`Stems`, or a mapping of
        names to file paths, :class:`Audio` or numpy arrays (at the mixer's rate)."""
        from stemforge.audio.stems import load_stems

        if isinstance(stems, (str, os.PathLike)):
            return load_stems(stems, sample_rate=self.sample_rate)
        if isinstance(stems, Stems) and stems.sample_rate == self.sample_rate:
            return stems
        return align_stems(as_audio_dict(stems, self.sample_rate), sample_rate=self.sample_rate)

    # --- mixing -----------------------------------------------------------------------------

    def predict_gains(
        self, stems: Any, *, use_cnn: bool = False, verbose: bool = True
    ) -> GainPrediction:
        """The predicted gain of every stem (rules, or the CNN with ``use_cnn``)."""
        aligned = self.load_stems(stems)
        if use_cnn:
            from stemforge.mixing.cnn import CNNGainPredictor

            predictor: GainPredictor = CNNGainPredictor(self.sample_rate, verbose=verbose)
        else:
            predictor = GainPredictor(self.sample_rate)
        prediction = predictor.predict(aligned, verbose=verbose)
        self.last_prediction = prediction
        return prediction

    def mix_stems(
        self,
        stems: Any,
        auto_gain: bool = True,
        use_cnn: bool = False,
        high_pass_cutoffs: Mapping[str, float] | None = None,
        low_pass_cutoffs: Mapping[str, float] | None = None,
        gains_db: Mapping[str, float] | None = None,
        verbose: bool = True,
    ) -> Audio:
        """Mix ``stems`` and return the mix as an :class:`Audio`.

        ``auto_gain`` predicts each stem's gain (``use_cnn`` with the trained CNN);
        ``gains_db`` sets gains by hand (they win over predicted ones; without
        ``auto_gain`` other stems stay at 0 dB). ``high_pass_cutoffs`` and
        ``low_pass_cutoffs`` map stem names to cutoffs in Hz (Butterworth, 12 dB/octave,
        -3 dB at the cutoff). ``verbose`` prints the predicted gains as the document does.
        """
        aligned = self.load_stems(stems)
        names = list(aligned.names)
        hp = _per_stem("high_pass_cutoffs", high_pass_cutoffs, names)
        lp = _per_stem("low_pass_cutoffs", low_pass_cutoffs, names)
        manual = _per_stem("gains_db", gains_db, names)

        prediction = None
        if auto_gain:
            prediction = self.predict_gains(aligned, use_cnn=use_cnn, verbose=verbose)
        self.last_prediction = prediction
        sheet = self.build_sheet(names, prediction, hp, lp, manual)
        from stemforge.mixing.render import render

        rendered = render(aligned, sheet, sample_rate=self.sample_rate)
        self.last_sheet = sheet
        self.last_render = rendered
        return rendered.audio

    def build_sheet(
        self,
        names: list[str],
        prediction: GainPrediction | None,
        high_pass_cutoffs: Mapping[str, float],
        low_pass_cutoffs: Mapping[str, float],
        gains_db: Mapping[str, float],
    ):
        """The :class:`MixSheet` of a mix: gains, high- and low-passes, and why."""
        from stemforge.mixing.sheet import ChannelEQ, MasterBus, MixSheet, StemChannel

        channels = {}
        for name in names:
            notes: list[str] = []
            gain = 0.0
            if prediction is not None:
                gain = prediction.gains_db[name]
                notes.append(f"Auto-gain ({prediction.method}): {gain:+.2f} dB.")
                notes.extend(prediction.notes.get(name, ()))
            if name in gains_db:
                gain = float(gains_db[name])
                notes.append(f"Gain {gain:+.2f} dB set by hand.")
            eq = ChannelEQ(
                high_pass_hz=high_pass_cutoffs.get(name), low_pass_hz=low_pass_cutoffs.get(name)
            )
            if name in high_pass_cutoffs:
                notes.append(f"High-passed at {high_pass_cutoffs[name]:g} Hz (requested).")
            if name in low_pass_cutoffs:
                notes.append(f"Low-passed at {low_pass_cutoffs[name]:g} Hz (requested).")
            channels[name] = StemChannel(gain_db=gain, eq=eq, notes=tuple(notes))
        method = prediction.method if prediction is not None else None
        sheet_notes = []
        if prediction is not None and prediction.fallback_note:
            sheet_notes.append(prediction.fallback_note)
        return MixSheet(
            stems=channels,
            master=MasterBus(
                notes=("The limiter keeps the summed stems at or below its ceiling.",)
            ),
            sample_rate=self.sample_rate,
            created_by=f"auto-gain ({method})" if method else "manual",
            notes=tuple(sheet_notes),
        )

    # --- saving -----------------------------------------------------------------------------

    def save_audio(
        self, audio: Audio | np.ndarray, path: str | os.PathLike, *, bit_depth: int = 24
    ) -> Path:
        """Write ``audio`` (an :class:`Audio`, or an array at the mixer's rate) as WAV or FLAC
        by the suffix of ``path``, atomically; returns the path."""
        from stemforge.audio.io import save

        if not isinstance(audio, Audio):
            audio = Audio.from_array(np.asarray(audio), self.sample_rate)
        return save(path, audio, bit_depth=bit_depth)


def _per_stem(what: str, values: Mapping[str, float] | None, names: list[str]) -> dict:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise StemforgeError(
            f"{what} must map stem names to numbers, got {type(values).__name__}.",
            hint=f"Write e.g. {what}={{'{names[0]}': 80.0}}.",
        )
    unknown = [k for k in values if k not in names]
    if unknown:
        raise StemforgeError(
            f"{what} names unknown stem(s) {unknown}; the stems are {names}.",
            hint="Use the stems' names as given to mix_stems.",
        )
    return dict(values)
