"""Automatic gain prediction by rules (source document 001, "AI-powered automatic gain").

:class:`GainPredictor` extracts the document's features of every stem
(:func:`stemforge.mixing.features.stem_features`) and sets each stem's gain in dB as
the sum of:

1. **a baseline by stem type** (from the document): drums -2 dB, bass -1.5 dB,
   vocals 0 dB, synth -2.5 dB; other stems -2 dB (not in the document: the middle of
   the drum and synth baselines). The type comes from the stem's name through
   :func:`stemforge.mixing.roles.role_from_name` ("kick", "OH", "808", "VOX LEAD",
   "pad", ... in several languages), folded onto the document's five types by
   :data:`ROLE_TYPES`;
2. **a loudness adjustment**: quieter stems are boosted and louder ones cut, by
   :data:`LOUDNESS_WEIGHT` (one half) of their distance from the stems' mean level,
   at most :data:`MAX_LOUDNESS_ADJUST_DB` either way. The level is the stem's
   integrated loudness per ITU-R BS.1770-4 (K-weighted and gated, so a bass is not
   judged by the low-frequency energy the ear hardly weighs, and a vocal not by its
   silences); ``loudness_measure="rms"`` uses the RMS in dBFS as the document does.
   Stems without a gated BS.1770 block (shorter than 400 ms) use their RMS level;
3. **a brightness correction for vocals**: a dull vocal (spectral centroid below
   :data:`DULL_VOCAL_HZ`) is lifted 1 dB so that it stays intelligible over the mix;
   a harsh one (above :data:`HARSH_VOCAL_HZ`) is lowered 1 dB;
4. **dynamic-range handling**: a stem whose active frames vary by less than
   :data:`OVER_COMPRESSED_DB` (over-compressed: it sounds louder than its level)
   is lowered :data:`OVER_COMPRESSION_CUT_DB`;

and the total is clamped to :data:`GAIN_RANGE_DB`. Silent stems get 0 dB and stay
out of the mean. Each stem's ``notes`` say in words what each term did.

>>> from stemforge.demo import generate_song                # doctest: +SKIP
>>> prediction = GainPredictor().predict(generate_song().stems)  # doctest: +SKIP
>>> print(prediction.summary())                               # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stemforge.audio.signal import Audio
from stemforge.errors import StemforgeError
from stemforge.mixing.features import StemFeatures, stem_features
from stemforge.results import Result

__all__ = [
    "BASELINE_DB",
    "GAIN_RANGE_DB",
    "STEM_TYPES",
    "GainPrediction",
    "GainPredictor",
    "as_audio_dict",
    "stem_type",
]

#: The document's stem types, in the order of a one-hot code.
STEM_TYPES: tuple[str, ...] = ("drums", "bass", "vocals", "synth", "other")
#: Baseline gain per stem type (drums, bass, vocals, synth from the document).
BASELINE_DB: dict[str, float] = {
    "drums": -2.0,
    "bass": -1.5,
    "vocals": 0.0,
    "synth": -2.5,
    "other": -2.0,
}
#: The roles of :mod:`stemforge.mixing.roles` folded onto the document's types.
ROLE_TYPES: dict[str, str] = {
    "kick": "drums",
    "snare": "drums",
    "hats": "drums",
    "drums": "drums",
    "bass": "bass",
    "lead_vocal": "vocals",
    "backing_vocal": "vocals",
    "keys": "synth",
    "synth": "synth",
    "pad": "synth",
    "guitar": "other",
    "fx": "other",
    "other": "other",
}
#: Share of the distance from the mean level that the loudness adjustment corrects.
LOUDNESS_WEIGHT = 0.5
MAX_LOUDNESS_ADJUST_DB = 6.0
DULL_VOCAL_HZ = 1200.0
HARSH_VOCAL_HZ = 4500.0
VOCAL_BRIGHTNESS_DB = 1.0
OVER_COMPRESSED_DB = 6.0
OVER_COMPRESSION_CUT_DB = -1.0
#: Lowest and highest gain the predictor gives.
GAIN_RANGE_DB = (-12.0, 6.0)
LOUDNESS_MEASURES = ("lufs", "rms")

ANALYSIS_HEADER = "Analyzing stems for optimal gain settings..."
SUMMARY_HEADER = "=== PREDICTED GAIN SUMMARY ==="


def stem_type(name: str) -> str:
    """The document's type of a stem from its name: drums, bass, vocals, synth or other.

    >>> [stem_type(n) for n in ("Kick In", "808", "VOX LEAD", "Pad wide", "Gtr 2")]
    ['drums', 'bass', 'vocals', 'synth', 'other']
    """
    from stemforge.mixing.roles import role_from_name

    guess = role_from_name(name)
    return ROLE_TYPES.get(guess.role, "other") if guess is not None else "other"


def _clean(value: float) -> float:
    """``value`` with -0.0 turned into 0.0 (so summaries never print "-0.00")."""
    return float(value) + 0.0


@dataclass(frozen=True)
class GainPrediction(Result):
    """Predicted gains (dB) for a set of stems, with the features they came from.

    ``levels_db`` are the levels the loudness adjustment compared (LUFS or dBFS, see
    ``loudness_measure``), ``reference_level_db`` their mean. ``method`` is "rules" or
    "cnn"; ``fallback_note`` says why rules were used when a CNN was asked for.
    Dictionaries keep the order of the stems as given.
    """

    gains_db: dict[str, float]
    stem_types: dict[str, str]
    features: dict[str, StemFeatures]
    levels_db: dict[str, float]
    reference_level_db: float
    notes: dict[str, tuple[str, ...]]
    method: str = "rules"
    loudness_measure: str = "lufs"
    fallback_note: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.gains_db)

    def analysis_lines(self) -> list[str]:
        """``"  drums: -1.00 dB (RMS: 0.0492, Centroid: 0.3343)"`` per stem, as in the document."""
        return [
            f"  {name}: {_clean(round(gain, 2)):.2f} dB "
            f"(RMS: {self.features[name].rms:.4f}, "
            f"Centroid: {self.features[name].spectral_centroid:.4f})"
            for name, gain in self.gains_db.items()
        ]

    def summary(self) -> str:
        """The document's printout: the analysis lines, then the predicted gain summary."""
        lines = [ANALYSIS_HEADER, *self.analysis_lines(), "", SUMMARY_HEADER]
        lines += [f"  {n}: {_clean(round(g, 2)):.2f} dB" for n, g in self.gains_db.items()]
        return "\n".join(lines)


def as_audio_dict(stems: Any, sample_rate: int) -> dict[str, Audio]:
    """Stems as ``{name: Audio}``: from a :class:`~stemforge.audio.stems.Stems`, or a mapping
    of names to :class:`Audio`, numpy arrays (at ``sample_rate``; 1-D, ``(channels, frames)``
    or ``(frames, channels)``) or audio file paths."""
    from stemforge.audio.io import load
    from stemforge.audio.stems import Stems

    if isinstance(stems, Stems):
        return dict(stems.items())
    if not isinstance(stems, Mapping):
        raise StemforgeError(
            f"stems must map stem names to audio, not {type(stems).__name__}.",
            hint="Give e.g. {'drums': 'stems/drums.wav', 'bass': 'stems/bass.wav'}.",
        )
    if not stems:
        raise StemforgeError("no stems given.", hint="Give at least one stem.")
    out: dict[str, Audio] = {}
    for name, value in stems.items():
        if not isinstance(name, str) or not name.strip():
            raise StemforgeError(f"stem names must be non-empty text, got {name!r}.")
        if isinstance(value, Audio):
            out[name] = value
        elif isinstance(value, np.ndarray):
            out[name] = Audio.from_array(value, sample_rate)
        elif isinstance(value, (str, os.PathLike)):
            try:
                out[name] = load(Path(value))
            except StemforgeError as exc:
                raise type(exc)(f"stem {name!r} could not be loaded: {exc}") from exc
        else:
            raise StemforgeError(
                f"stem {name!r} is a {type(value).__name__}; give a file path, an Audio or "
                "a numpy array."
            )
    return out


class GainPredictor:
    """Rule-based gain prediction (see the module docstring).

    ``sample_rate`` is the rate of stems given as bare numpy arrays.
    ``loudness_measure``: "lufs" (ITU-R BS.1770-4 integrated loudness, the default)
    or "rms" (RMS level in dBFS, as the document).
    """

    method = "rules"

    def __init__(self, sample_rate: int = 44100, *, loudness_measure: str = "lufs") -> None:
        if loudness_measure not in LOUDNESS_MEASURES:
            raise StemforgeError(
                f"loudness_measure must be one of {list(LOUDNESS_MEASURES)}, "
                f"got {loudness_measure!r}."
            )
        self.sample_rate = int(sample_rate)
        self.loudness_measure = loudness_measure
        self.last_prediction: GainPrediction | None = None

    # --- features -------------------------------------------------------------------------

    def extract_features(self, audio: Audio | np.ndarray) -> StemFeatures:
        """The document's features of one stem."""
        if not isinstance(audio, Audio):
            audio = Audio.from_array(np.asarray(audio), self.sample_rate)
        return stem_features(audio, with_loudness=self.loudness_measure == "lufs")

    def level_db(self, features: StemFeatures) -> float:
        """The level the loudness adjustment compares: LUFS, or dBFS RMS (see the class)."""
        if self.loudness_measure == "lufs" and math.isfinite(features.loudness_lufs):
            return features.loudness_lufs
        return features.rms_dbfs

    # --- prediction -----------------------------------------------------------------------

    def predict(self, stems: Any, *, verbose: bool = False) -> GainPrediction:
        """Predict a gain for every stem (a mapping of names to paths, Audio or arrays, or
        :class:`~stemforge.audio.stems.Stems`); ``verbose`` prints the summary."""
        audio = as_audio_dict(stems, self.sample_rate)
        features = {name: self.extract_features(a) for name, a in audio.items()}
        prediction = self.predict_from_features(features)
        self.last_prediction = prediction
        if verbose:
            print(prediction.summary())
        return prediction

    def _levels(
        self, features: Mapping[str, StemFeatures]
    ) -> tuple[dict[str, str], dict[str, float], float]:
        """Each stem's type and level, and the reference level: the mean of the audible
        stems' levels (-inf when none is audible)."""
        types = {name: stem_type(name) for name in features}
        levels = {name: self.level_db(f) for name, f in features.items()}
        audible = [levels[n] for n, f in features.items() if not f.silent]
        reference = float(np.mean(audible)) if audible else -math.inf
        return types, levels, reference

    def predict_from_features(self, features: Mapping[str, StemFeatures]) -> GainPrediction:
        """The rules applied to features already extracted."""
        types, levels, reference = self._levels(features)
        gains: dict[str, float] = {}
        notes: dict[str, tuple[str, ...]] = {}
        for name, f in features.items():
            gains[name], notes[name] = self._rules(types[name], f, levels[name], reference)
        return GainPrediction(
            gains_db=gains,
            stem_types=types,
            features=dict(features),
            levels_db=levels,
            reference_level_db=reference,
            notes=notes,
            method="rules",
            loudness_measure=self.loudness_measure,
        )

    def _rules(
        self, kind: str, f: StemFeatures, level: float, reference: float
    ) -> tuple[float, tuple[str, ...]]:
        unit = (
            "LUFS"
            if self.loudness_measure == "lufs" and math.isfinite(f.loudness_lufs)
            else "dBFS RMS"
        )
        if f.silent:
            return 0.0, ("Silent stem: left at 0 dB.",)
        baseline = BASELINE_DB[kind]
        notes = [f"Baseline {baseline:+.1f} dB for {kind}."]
        gain = baseline

        distance = reference - level
        adjust = float(
            np.clip(LOUDNESS_WEIGHT * distance, -MAX_LOUDNESS_ADJUST_DB, MAX_LOUDNESS_ADJUST_DB)
        )
        if round(adjust, 2) != 0:
            side = "quieter" if distance > 0 else "louder"
            notes.append(
                f"{abs(distance):.1f} dB {side} than the stems' mean ({level:.1f} vs "
                f"{reference:.1f} {unit}): {adjust:+.2f} dB."
            )
        gain += adjust

        if kind == "vocals":
            if f.spectral_centroid_hz < DULL_VOCAL_HZ:
                gain += VOCAL_BRIGHTNESS_DB
                notes.append(
                    f"Dull vocal (centroid {f.spectral_centroid_hz:.0f} Hz < {DULL_VOCAL_HZ:.0f} "
                    f"Hz): {VOCAL_BRIGHTNESS_DB:+.1f} dB to stay intelligible."
                )
            elif f.spectral_centroid_hz > HARSH_VOCAL_HZ:
                gain -= VOCAL_BRIGHTNESS_DB
                notes.append(
                    f"Harsh vocal (centroid {f.spectral_centroid_hz:.0f} Hz > "
                    f"{HARSH_VOCAL_HZ:.0f} Hz): {-VOCAL_BRIGHTNESS_DB:+.1f} dB."
                )

        if f.dynamic_range_db < OVER_COMPRESSED_DB:
            gain += OVER_COMPRESSION_CUT_DB
            notes.append(
                f"Over-compressed (dynamic range {f.dynamic_range_db:.1f} dB < "
                f"{OVER_COMPRESSED_DB:.0f} dB): {OVER_COMPRESSION_CUT_DB:+.1f} dB."
            )

        low, high = GAIN_RANGE_DB
        if not low <= gain <= high:
            notes.append(f"Clamped from {gain:+.2f} dB to the range {low:+.0f}..{high:+.0f} dB.")
            gain = min(max(gain, low), high)
        return _clean(gain), tuple(notes)

    def summary(self, prediction: GainPrediction | None = None) -> str:
        """:meth:`GainPrediction.summary` of ``prediction`` (default: the last one)."""
        prediction = prediction or self.last_prediction
        if prediction is None:
            raise StemforgeError("no prediction yet.", hint="Call predict(stems) first.")
        return prediction.summary()
