"""What a mix is compared against: platform targets, genre profiles and custom targets.

Every figure carries its ``source``. Figures from standards and platform documents name
the document; figures that are rules of thumb from mastering practice say so
("stemforge editorial ...") and come with wide ranges that reflect that uncertainty.

- :class:`PlatformTarget`: delivery loudness and true-peak ceiling of a streaming
  service, broadcast standard or medium (:func:`platform_target`).
- :class:`GenreProfile`: typical integrated loudness, loudness range, crest factor,
  stereo width and tonal balance of a genre (:func:`genre_profile`).
- :class:`CustomTarget`: the measured distribution of the user's own reference tracks
  (:func:`build_targets`, :func:`load_custom_target`), saved as JSON under
  ``config.targets_dir()``.
- :class:`TargetSet`: the values one mix is checked against; ``compare(name, measured)``
  gives a :class:`Deviation` (how far outside the range, and a z-score where the target
  is a measured distribution).

Value names (shared by all three kinds, and by :func:`measured_values`): see
:data:`VALUE_UNITS`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from stemforge import config
from stemforge.analysis.bands import TONAL_BAND_EDGES_HZ
from stemforge.audio.io import AUDIO_SUFFIXES
from stemforge.errors import StemforgeError
from stemforge.progress import ProgressCallback, no_progress
from stemforge.results import Result

# --- errors ---------------------------------------------------------------------------


class UnknownTargetError(StemforgeError):
    """No platform, genre or custom target has the given name."""

    http_status = 404


class TargetBuildError(StemforgeError):
    """A custom target could not be built (no usable reference tracks, a bad name)."""


class TargetFileError(StemforgeError):
    """A saved custom target is unreadable or not a stemforge target file."""


# --- value names ------------------------------------------------------------------------

TONAL_BAND_NAMES: tuple[str, ...] = tuple(name for name, _, _ in TONAL_BAND_EDGES_HZ)


def tonal_value_name(band: str) -> str:
    """The value name of a tonal band's relative level, e.g. ``tonal_bass_relative_db``."""
    return f"tonal_{band}_relative_db"


#: Every value name a target may hold, with its unit.
VALUE_UNITS: dict[str, str] = {
    "integrated_lufs": "LUFS",
    "true_peak_dbtp": "dBTP",
    "loudness_range_lu": "LU",
    "plr_db": "dB",
    "crest_factor_db": "dB",
    "stereo_width": "ratio",
    "stereo_correlation": "ratio",
    "spectral_centroid_hz": "Hz",
    **{tonal_value_name(b): "dB re total" for b in TONAL_BAND_NAMES},
}


# --- target values and deviations -------------------------------------------------------


@dataclass(frozen=True)
class TargetValue(Result):
    """A target range ``low <= value <= high`` (``None``: unbounded on that side).

    ``typical`` is the centre to aim for. For a measured distribution (custom targets)
    ``typical`` is the mean, ``spread`` the sample standard deviation and ``count``
    the number of tracks; editorial and documented targets have no spread.
    """

    low: float | None
    high: float | None
    typical: float | None
    unit: str
    source: str
    spread: float | None = None
    count: int | None = None


@dataclass(frozen=True)
class Deviation(Result):
    """A measured value against a target.

    ``outside_by``: 0 inside ``[low, high]``, ``measured - high`` (positive) above it,
    ``measured - low`` (negative) below it; NaN if ``measured`` is NaN.
    ``z_score``: ``(measured - typical) / spread`` when the target is a measured
    distribution with a positive spread, else ``None``.
    """

    name: str
    measured: float
    low: float | None
    high: float | None
    typical: float | None
    unit: str
    outside_by: float
    z_score: float | None
    source: str

    @property
    def within(self) -> bool:
        return self.outside_by == 0.0


def deviation(name: str, target: TargetValue, measured: float) -> Deviation:
    """Compare ``measured`` with ``target`` (see :class:`Deviation`)."""
    x = float(measured)
    if math.isnan(x):
        outside = math.nan
    elif target.high is not None and x > target.high:
        outside = x - target.high
    elif target.low is not None and x < target.low:
        outside = x - target.low
    else:
        outside = 0.0
    z = None
    if (
        target.spread is not None
        and target.typical is not None
        and math.isfinite(target.spread)
        and target.spread > 0
        and not math.isnan(x)
    ):
        z = (x - target.typical) / target.spread
    return Deviation(
        name=name,
        measured=x,
        low=target.low,
        high=target.high,
        typical=target.typical,
        unit=target.unit,
        outside_by=outside,
        z_score=z,
        source=target.source,
    )


# --- platforms --------------------------------------------------------------------------

EDITORIAL = "stemforge editorial: typical mastering practice, not a measured corpus statistic"
_STREAMING_TOLERANCE = (
    "stemforge editorial: within 1 LU the service's normalisation changes the level by "
    "less than 1 dB; the service sets no tolerance"
)
_EDITORIAL_TP = (
    "stemforge editorial: -1 dBTP leaves headroom for lossy encoding; the service "
    "publishes no ceiling that stemforge can cite"
)


@dataclass(frozen=True)
class PlatformTarget(Result):
    """Delivery loudness of a platform, standard or medium.

    ``integrated_lufs`` +/- ``tolerance_lu`` is the range to land in;
    ``true_peak_max_dbtp`` the ceiling. ``other_levels_lufs`` lists alternative
    playback levels (Spotify's "loud" and "quiet"). Each figure names its source.
    """

    name: str
    display_name: str
    integrated_lufs: float
    tolerance_lu: float
    true_peak_max_dbtp: float
    notes: str
    source: str
    tolerance_source: str
    true_peak_source: str
    normalises: bool
    other_levels_lufs: dict[str, float] = field(default_factory=dict)

    def target_values(self) -> dict[str, TargetValue]:
        """The platform's values as :class:`TargetValue` (integrated loudness, true peak)."""
        return {
            "integrated_lufs": TargetValue(
                self.integrated_lufs - self.tolerance_lu,
                self.integrated_lufs + self.tolerance_lu,
                self.integrated_lufs,
                "LUFS",
                f"{self.display_name}: {self.source} Tolerance: {self.tolerance_source}.",
            ),
            "true_peak_dbtp": TargetValue(
                None,
                self.true_peak_max_dbtp,
                None,
                "dBTP",
                f"{self.display_name}: {self.true_peak_source}.",
            ),
        }


PLATFORMS: dict[str, PlatformTarget] = {
    p.name: p
    for p in (
        PlatformTarget(
            name="spotify",
            display_name="Spotify",
            integrated_lufs=-14.0,
            tolerance_lu=1.0,
            true_peak_max_dbtp=-1.0,
            notes=(
                "Normal (default) playback level -14 LUFS; Premium listeners can choose "
                "Loud (-11 LUFS, with a limiter) or Quiet (-19 LUFS). Louder masters are "
                "turned down, so extra loudness buys nothing in the default setting; "
                "quieter ones are turned up only as far as 1 dB of true-peak headroom "
                "allows. Albums are normalised as a whole. Masters louder than -14 LUFS "
                "should peak below -2 dBTP."
            ),
            source=(
                "Spotify for Artists, 'Loudness normalization' (support article): "
                "playback normalised to -14 LUFS integrated (ITU-R BS.1770), with Loud "
                "-11 LUFS and Quiet -19 LUFS settings."
            ),
            tolerance_source=_STREAMING_TOLERANCE,
            true_peak_source=(
                "Spotify for Artists, 'Loudness normalization': keep the master below "
                "-1 dBTP (below -2 dBTP if it is louder than -14 LUFS) to avoid "
                "distortion when it is transcoded to lossy formats"
            ),
            normalises=True,
            other_levels_lufs={"loud": -11.0, "quiet": -19.0},
        ),
        PlatformTarget(
            name="apple_music",
            display_name="Apple Music",
            integrated_lufs=-16.0,
            tolerance_lu=1.0,
            true_peak_max_dbtp=-1.0,
            notes=(
                "Sound Check normalises playback to about -16 LUFS. Apple's Digital "
                "Masters guidance asks that encoded files not clip (it provides the "
                "afclip tool to check)."
            ),
            source=(
                "Apple Music Sound Check: -16 LUFS integrated, the figure widely measured "
                "and reported by mastering engineers; stemforge knows of no Apple document "
                "that states it in LUFS."
            ),
            tolerance_source=_STREAMING_TOLERANCE,
            true_peak_source=(
                "stemforge editorial: -1 dBTP leaves headroom for AAC encoding (Apple "
                "Digital Masters asks that the encoded file not clip, without a dBTP figure)"
            ),
            normalises=True,
        ),
        PlatformTarget(
            name="youtube",
            display_name="YouTube",
            integrated_lufs=-14.0,
            tolerance_lu=1.0,
            true_peak_max_dbtp=-1.0,
            notes="Louder uploads are turned down; quieter ones are not turned up.",
            source=(
                "YouTube playback normalisation of about -14 LUFS, as measured by mastering "
                "engineers with 'Stats for nerds' (content loudness); YouTube does not "
                "publish the figure."
            ),
            tolerance_source=_STREAMING_TOLERANCE,
            true_peak_source=_EDITORIAL_TP,
            normalises=True,
        ),
        PlatformTarget(
            name="amazon_music",
            display_name="Amazon Music",
            integrated_lufs=-14.0,
            tolerance_lu=1.0,
            true_peak_max_dbtp=-2.0,
            notes="Normalisation to -14 LUFS; masters should peak at or below -2 dBTP.",
            source=(
                "Amazon Music loudness normalisation: -14 LUFS integrated, as widely "
                "reported by mastering engineers and tool vendors; stemforge has not "
                "verified it against an Amazon document."
            ),
            tolerance_source=_STREAMING_TOLERANCE,
            true_peak_source=(
                "Amazon Music: true peak at or below -2 dBTP, as widely reported; not "
                "verified by stemforge against an Amazon document"
            ),
            normalises=True,
        ),
        PlatformTarget(
            name="tidal",
            display_name="TIDAL",
            integrated_lufs=-14.0,
            tolerance_lu=1.0,
            true_peak_max_dbtp=-1.0,
            notes="Normalisation to -14 LUFS.",
            source="TIDAL loudness normalisation: -14 LUFS integrated, as widely reported.",
            tolerance_source=_STREAMING_TOLERANCE,
            true_peak_source=_EDITORIAL_TP,
            normalises=True,
        ),
        PlatformTarget(
            name="deezer",
            display_name="Deezer",
            integrated_lufs=-15.0,
            tolerance_lu=1.0,
            true_peak_max_dbtp=-1.0,
            notes="Approximate: the figure comes from third-party measurements.",
            source=(
                "Deezer normalisation of about -15 LUFS as reported by third-party "
                "loudness comparisons; not verified against Deezer documentation, treat "
                "as approximate."
            ),
            tolerance_source=_STREAMING_TOLERANCE,
            true_peak_source=_EDITORIAL_TP,
            normalises=True,
        ),
        PlatformTarget(
            name="ebu_r128",
            display_name="EBU R 128 (broadcast)",
            integrated_lufs=-23.0,
            tolerance_lu=0.5,
            true_peak_max_dbtp=-1.0,
            notes=(
                "Programme loudness -23.0 LUFS +/-0.5 LU (+/-1.0 LU for live programmes "
                "where exact normalisation is not practicable), as in R 128 v3.0 (2014); "
                "v4.0 (2020) restates the tolerance as +/-1 LU in production and +/-0.2 LU "
                "for QC measurements. Loudness range is to be measured and reported "
                "(EBU Tech 3342); R 128 sets no limit for it, and EBU Tech 3343 gives "
                "production guidance."
            ),
            source=(
                "EBU R 128, 'Loudness normalisation and permitted maximum level of audio "
                "signals' (v3.0 2014, v4.0 2020): target level -23.0 LUFS."
            ),
            tolerance_source=(
                "EBU R 128 v3.0 (2014): within +/-0.5 LU of the target (+/-1.0 LU for "
                "live programmes); v4.0 (2020): +/-1 LU in production, +/-0.2 LU in QC"
            ),
            true_peak_source="EBU R 128: maximum permitted true peak level -1 dBTP",
            normalises=False,
        ),
        PlatformTarget(
            name="atsc_a85",
            display_name="ATSC A/85 (US television)",
            integrated_lufs=-24.0,
            tolerance_lu=2.0,
            true_peak_max_dbtp=-2.0,
            notes="LKFS and LUFS are the same unit (ITU-R BS.1770).",
            source=(
                "ATSC A/85 Recommended Practice, 'Techniques for Establishing and "
                "Maintaining Audio Loudness for Digital Television': target loudness "
                "-24 LKFS."
            ),
            tolerance_source=(
                "stemforge editorial: +/-2 dB is common US broadcast delivery practice, "
                "not a figure stemforge attributes to A/85"
            ),
            true_peak_source=(
                "ATSC A/85, as commonly cited in US delivery specifications: true peak not "
                "above -2 dBTP"
            ),
            normalises=False,
        ),
        PlatformTarget(
            name="aes_streaming",
            display_name="AES streaming recommendation",
            integrated_lufs=-18.0,
            tolerance_lu=2.0,
            true_peak_max_dbtp=-1.0,
            notes=(
                "TD1004 (2015) recommends a target between -16 and -20 LUFS for streaming "
                "and file playback; its successor AES TD1008 (2021) recommends that "
                "track-normalised music stay at or below -16 LUFS."
            ),
            source=(
                "AES TD1004.1.15-10, 'Recommendation for Loudness of Audio Streaming and "
                "Network File Playback' (2015): target loudness not above -16 and not "
                "below -20 LUFS integrated."
            ),
            tolerance_source="AES TD1004.1.15-10: the recommended range -16 to -20 LUFS",
            true_peak_source=(
                "AES TD1008 (2021, successor to TD1004), section 4: maximum true peak not "
                "above -1 dBTP at the codec input of lossy-encoded streams"
            ),
            normalises=False,
        ),
        PlatformTarget(
            name="cd_club",
            display_name="CD / club master (no normalisation)",
            integrated_lufs=-7.5,
            tolerance_lu=1.5,
            true_peak_max_dbtp=-0.3,
            notes=(
                "No normalisation on CD or club systems, so loudness is a competitive "
                "convention, not a standard: loud references sit around -9 to -6 LUFS. "
                "Use -1 dBTP if the same master will be encoded to a lossy format."
            ),
            source=f"{EDITORIAL}: loud CD and club masters around -9 to -6 LUFS.",
            tolerance_source=f"{EDITORIAL}: the -9 to -6 LUFS span",
            true_peak_source=f"{EDITORIAL}: ceilings of -0.3 to -1 dBTP",
            normalises=False,
        ),
    )
}

_PLATFORM_ALIASES = {
    "apple": "apple_music",
    "itunes": "apple_music",
    "amazon": "amazon_music",
    "ebu": "ebu_r128",
    "r128": "ebu_r128",
    "atsc": "atsc_a85",
    "a85": "atsc_a85",
    "aes": "aes_streaming",
    "cd": "cd_club",
    "club": "cd_club",
}


def _key(name: str) -> str:
    return re.sub(r"[\s\-/]+", "_", str(name).strip().lower())


def platform_target(name: str) -> PlatformTarget:
    """The platform target named ``name`` (case and ``-``/``_``/space insensitive)."""
    key = _key(name)
    key = _PLATFORM_ALIASES.get(key, key)
    if key in PLATFORMS:
        return PLATFORMS[key]
    raise UnknownTargetError(
        f"no platform target named {name!r}.",
        hint=f"Known platforms: {', '.join(PLATFORMS)}.",
    )


# --- genres -----------------------------------------------------------------------------

_TONAL_SOURCE = (
    "stemforge editorial: a rough tonal shape typical of commercial mixes in this genre "
    "(band power relative to the total of the named bands), not a measured corpus statistic"
)
_WIDTH_SOURCE = (
    "stemforge editorial: typical stereo width of commercial mixes in this genre "
    "(side energy over total, E_S/(E_M+E_S)), not a measured corpus statistic"
)
#: Tolerance (dB) around the typical tonal level: wider in the bands where arrangement
#: and taste vary most.
_TONAL_TOLERANCE_DB = {
    "sub": 6.0,
    "bass": 4.0,
    "low_mid": 4.0,
    "mid": 4.0,
    "high_mid": 5.0,
    "presence": 5.0,
    "air": 6.0,
}


@dataclass(frozen=True)
class GenreProfile(Result):
    """Typical values of commercial masters in a genre, each a :class:`TargetValue`.

    ``tonal_balance`` maps the named tonal bands of :mod:`stemforge.analysis.bands`
    (sub, bass, low_mid, mid, high_mid, presence, air) to their level relative to the
    total power of all named bands (dB, as ``TonalBand.relative_db``).
    ``stereo_width`` is in the units of :func:`stemforge.analysis.stereo.stereo`.
    """

    name: str
    display_name: str
    integrated_lufs: TargetValue
    loudness_range_lu: TargetValue
    crest_factor_db: TargetValue
    stereo_width: TargetValue
    tonal_balance: dict[str, TargetValue]
    notes: str
    aliases: tuple[str, ...] = ()

    def target_values(self) -> dict[str, TargetValue]:
        out = {
            "integrated_lufs": self.integrated_lufs,
            "loudness_range_lu": self.loudness_range_lu,
            "crest_factor_db": self.crest_factor_db,
            "stereo_width": self.stereo_width,
        }
        out.update({tonal_value_name(b): v for b, v in self.tonal_balance.items()})
        return out


def _genre(
    name: str,
    display_name: str,
    *,
    lufs: tuple[float, float, float],
    lra: tuple[float, float, float],
    crest: tuple[float, float, float],
    width: tuple[float, float, float],
    tonal: tuple[float, ...],
    notes: str,
    aliases: tuple[str, ...] = (),
) -> GenreProfile:
    def value(triple, unit, source):
        low, typical, high = triple
        return TargetValue(low, high, typical, unit, source)

    tonal_values = {
        band: TargetValue(
            level - _TONAL_TOLERANCE_DB[band],
            level + _TONAL_TOLERANCE_DB[band],
            level,
            "dB re total",
            _TONAL_SOURCE,
        )
        for band, level in zip(TONAL_BAND_NAMES, tonal, strict=True)
    }
    return GenreProfile(
        name=name,
        display_name=display_name,
        integrated_lufs=value(lufs, "LUFS", f"{EDITORIAL} (unnormalised release masters)"),
        loudness_range_lu=value(lra, "LU", EDITORIAL),
        crest_factor_db=value(crest, "dB", f"{EDITORIAL} (sample peak over RMS, whole track)"),
        stereo_width=value(width, "ratio", _WIDTH_SOURCE),
        tonal_balance=tonal_values,
        notes=notes,
        aliases=aliases,
    )


# (low, typical, high) triples; tonal levels: sub, bass, low_mid, mid, high_mid, presence, air.
GENRES: dict[str, GenreProfile] = {
    g.name: g
    for g in (
        _genre(
            "edm",
            "EDM / electronic dance",
            lufs=(-9.0, -7.0, -5.0),
            lra=(3.0, 5.0, 7.0),
            crest=(7.0, 9.0, 11.0),
            width=(0.10, 0.18, 0.30),
            tonal=(-7.0, -3.0, -10.0, -10.0, -17.0, -20.0, -17.0),
            notes="Loud, dense masters; strong sub and bass, mono low end.",
            aliases=("electronic", "dance", "house", "techno", "trance", "dubstep", "dnb"),
        ),
        _genre(
            "hip_hop",
            "Hip-hop / rap",
            lufs=(-10.0, -8.0, -6.0),
            lra=(3.0, 5.0, 8.0),
            crest=(8.0, 10.0, 12.0),
            width=(0.05, 0.12, 0.22),
            tonal=(-5.0, -3.0, -10.0, -10.0, -18.0, -21.0, -19.0),
            notes="Heavy sub (808s), centred vocal and low end, often narrow.",
            aliases=("hiphop", "rap", "trap"),
        ),
        _genre(
            "pop",
            "Pop",
            lufs=(-11.0, -9.0, -7.0),
            lra=(4.0, 6.0, 8.0),
            crest=(8.0, 10.0, 12.0),
            width=(0.08, 0.15, 0.25),
            tonal=(-10.0, -4.0, -8.0, -7.0, -16.0, -19.0, -18.0),
            notes="Loud, bright vocal-forward masters.",
        ),
        _genre(
            "rock",
            "Rock",
            lufs=(-11.0, -9.0, -7.0),
            lra=(4.0, 6.0, 9.0),
            crest=(8.0, 10.0, 12.0),
            width=(0.10, 0.18, 0.30),
            tonal=(-13.0, -5.0, -7.0, -5.0, -14.0, -18.0, -19.0),
            notes="Guitars fill the mids; double-tracked guitars widen the image.",
            aliases=("indie", "punk", "alternative"),
        ),
        _genre(
            "metal",
            "Metal",
            lufs=(-10.0, -8.0, -6.0),
            lra=(3.0, 5.0, 7.0),
            crest=(7.0, 9.0, 11.0),
            width=(0.12, 0.20, 0.32),
            tonal=(-13.0, -5.0, -8.0, -5.0, -13.0, -17.0, -18.0),
            notes="Dense, loud and mid-heavy; wide rhythm guitars.",
            aliases=("heavy_metal",),
        ),
        _genre(
            "jazz",
            "Jazz",
            lufs=(-20.0, -16.0, -12.0),
            lra=(7.0, 10.0, 15.0),
            crest=(14.0, 18.0, 22.0),
            width=(0.10, 0.20, 0.35),
            tonal=(-16.0, -5.0, -6.0, -5.0, -14.0, -20.0, -21.0),
            notes="Dynamic, lightly limited; natural room width.",
        ),
        _genre(
            "classical",
            "Classical / orchestral",
            lufs=(-26.0, -20.0, -16.0),
            lra=(10.0, 15.0, 22.0),
            crest=(16.0, 20.0, 26.0),
            width=(0.12, 0.25, 0.40),
            tonal=(-22.0, -7.0, -5.0, -4.0, -12.0, -20.0, -25.0),
            notes="Wide dynamics, little or no limiting; little sub content.",
            aliases=("orchestral", "orchestra", "chamber"),
        ),
        _genre(
            "folk_acoustic",
            "Folk / acoustic",
            lufs=(-18.0, -14.0, -11.0),
            lra=(5.0, 8.0, 12.0),
            crest=(12.0, 15.0, 18.0),
            width=(0.08, 0.16, 0.30),
            tonal=(-18.0, -6.0, -6.0, -4.0, -13.0, -18.0, -19.0),
            notes="Moderate loudness, natural dynamics; acoustic instruments in the mids.",
            aliases=("folk", "acoustic", "singer_songwriter", "country"),
        ),
        _genre(
            "ambient",
            "Ambient",
            lufs=(-22.0, -16.0, -12.0),
            lra=(5.0, 9.0, 14.0),
            crest=(12.0, 16.0, 22.0),
            width=(0.20, 0.32, 0.50),
            tonal=(-10.0, -4.0, -7.0, -7.0, -16.0, -20.0, -19.0),
            notes="Quiet, wide and soft-edged; little transient content.",
            aliases=("drone", "new_age", "chillout"),
        ),
        _genre(
            "rnb",
            "R&B / soul",
            lufs=(-12.0, -9.5, -7.0),
            lra=(4.0, 6.0, 9.0),
            crest=(9.0, 11.0, 13.0),
            width=(0.08, 0.15, 0.25),
            tonal=(-7.0, -3.0, -9.0, -8.0, -17.0, -20.0, -19.0),
            notes="Warm low end, smooth top, vocal-forward.",
            aliases=("r&b", "r_and_b", "randb", "soul"),
        ),
    )
}


def canonical_genre(name: str) -> str | None:
    """The profile name for ``name`` or one of its aliases ("Hip-Hop" -> "hip_hop"), or None."""
    key = _key(name)
    if key in GENRES:
        return key
    for genre in GENRES.values():
        if key in genre.aliases or key.replace("_", "") in genre.aliases:
            return genre.name
    return None


def genre_profile(name: str) -> GenreProfile:
    """The genre profile named ``name`` (aliases accepted: "hip-hop", "r&b", "electronic")."""
    key = canonical_genre(name)
    if key is None:
        raise UnknownTargetError(
            f"no genre profile named {name!r}.", hint=f"Known genres: {', '.join(GENRES)}."
        )
    return GENRES[key]


# --- measurements -----------------------------------------------------------------------


def values_from_results(loudness, dynamics, stereo, spectrum) -> dict[str, float]:
    """The target value names measured by the analyses' results (see :data:`VALUE_UNITS`)."""
    out = {
        "integrated_lufs": float(loudness.integrated_lufs),
        "true_peak_dbtp": float(loudness.true_peak_dbtp),
        "loudness_range_lu": float(loudness.loudness_range_lu),
        "plr_db": float(loudness.plr_db),
        "crest_factor_db": float(dynamics.crest_factor_db),
        "stereo_width": float(stereo.width),
        "stereo_correlation": float(stereo.correlation),
        "spectral_centroid_hz": float(spectrum.centroid_hz),
    }
    for band in spectrum.tonal_balance:
        out[tonal_value_name(band.name)] = float(band.relative_db)
    return out


def measured_values(source) -> dict[str, float]:
    """Target values of an :class:`~stemforge.audio.Audio` or a ``MixAnalysis``.

    An ``Audio`` is measured with only the analyses needed (loudness, dynamics, stereo,
    spectrum); a ``MixAnalysis`` (from :func:`stemforge.analyze`) is read as it is.
    """
    if hasattr(source, "loudness") and hasattr(source, "spectrum"):
        return values_from_results(source.loudness, source.dynamics, source.stereo, source.spectrum)
    from stemforge.analysis.dynamics import dynamics
    from stemforge.analysis.loudness import loudness
    from stemforge.analysis.spectrum import spectrum
    from stemforge.analysis.stereo import stereo

    audio = source.require_finite()
    lr = loudness(audio)
    return values_from_results(
        lr, dynamics(audio, loudness_result=lr), stereo(audio), spectrum(audio)
    )


# --- custom targets ---------------------------------------------------------------------

TARGET_FORMAT = "stemforge-custom-target"
TARGET_FORMAT_VERSION = 1
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
PERCENTILES = (10, 25, 50, 75, 90)


@dataclass(frozen=True)
class ValueStats(Result):
    """The distribution of one value over the reference tracks.

    ``std`` is the sample standard deviation (n - 1; NaN for one track); percentiles
    interpolate linearly (numpy's default). Non-finite measurements are left out, so
    ``count`` may be below the number of tracks.
    """

    unit: str
    count: int
    mean: float
    std: float
    min: float
    max: float
    p10: float
    p25: float
    median: float
    p75: float
    p90: float

    @classmethod
    def of(cls, values, unit: str) -> ValueStats:
        v = np.asarray([x for x in values if x is not None and math.isfinite(x)], np.float64)
        if v.size == 0:
            nan = math.nan
            return cls(unit, 0, nan, nan, nan, nan, nan, nan, nan, nan, nan)
        p = np.percentile(v, PERCENTILES)
        std = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
        return cls(
            unit, int(v.size), float(v.mean()), std, float(v.min()), float(v.max()), *map(float, p)
        )


@dataclass(frozen=True)
class TrackMeasurement(Result):
    """One reference track and its measured values."""

    file: str
    duration_s: float
    values: dict[str, float]


@dataclass(frozen=True)
class SkippedFile(Result):
    """A file that was not used, and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class CustomTarget(Result):
    """The measured distribution of a folder of reference tracks (see :func:`build_targets`)."""

    name: str
    created: str
    folder: str
    track_count: int
    values: dict[str, ValueStats]
    tracks: tuple[TrackMeasurement, ...]
    skipped: tuple[SkippedFile, ...]
    path: str | None = None

    def target_values(self) -> dict[str, TargetValue]:
        """Each value as a range from the quietest/lowest to the loudest/highest reference,
        centred on the mean, with the standard deviation as spread (for z-scores)."""
        source = (
            f"custom reference set {self.name!r}: {self.track_count} track(s) from "
            f"{self.folder}, measured by stemforge on {self.created[:10]}"
        )
        out = {}
        for name, s in self.values.items():
            if s.count == 0:
                continue
            out[name] = TargetValue(
                s.min,
                s.max,
                s.mean,
                s.unit,
                source,
                spread=s.std if math.isfinite(s.std) else None,
                count=s.count,
            )
        return out


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise TargetBuildError(
            f"{name!r} is not a usable target name.",
            hint="Use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit.",
        )
    if canonical_genre(name) is not None or _key(name) in PLATFORMS:
        raise TargetBuildError(
            f"{name!r} is already the name of a built-in platform or genre target.",
            hint="Choose another name, e.g. 'my-references'.",
        )
    return name


def audio_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Audio files under ``folder`` (recursive, sorted, hidden files left out) and the
    other files found."""
    audio, other = [], []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        (audio if path.suffix.lower() in AUDIO_SUFFIXES else other).append(path)
    return audio, other


def _check_folder(folder: str | Path) -> Path:
    path = Path(folder).expanduser()
    if not path.exists():
        raise TargetBuildError("the folder does not exist.", path=path, hint="Check the path.")
    if not path.is_dir():
        raise TargetBuildError(
            "this is a file, not a folder.", path=path, hint="Give a folder of reference tracks."
        )
    return path


def build_targets(
    folder: str | Path,
    *,
    name: str,
    save: bool = True,
    progress: ProgressCallback = no_progress,
) -> CustomTarget:
    """Measure every audio file under ``folder`` and keep the distribution of each value.

    Files that cannot be decoded or measured (or are silent) are skipped, each with its
    reason in ``skipped``. With ``save`` the target is written atomically as JSON to
    ``config.targets_dir()/NAME.json`` (replacing one of that name); its path is in
    ``path``. Raises :class:`TargetBuildError` when no file could be used.
    """
    from stemforge.audio import load

    _check_name(name)
    root = _check_folder(folder)
    files, _ = audio_files(root)
    if not files:
        raise TargetBuildError(
            "the folder holds no audio files.",
            path=root,
            hint=f"Put reference tracks ({', '.join(sorted(AUDIO_SUFFIXES))}) in it.",
        )
    tracks: list[TrackMeasurement] = []
    skipped: list[SkippedFile] = []
    for i, path in enumerate(files):
        rel = str(path.relative_to(root))
        progress(f"measuring {path.name}"[:40], i / len(files))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a damaged file is reported when unusable
                audio = load(path)
            values = measured_values(audio)
        except StemforgeError as exc:
            skipped.append(SkippedFile(rel, str(exc)))
            continue
        if not math.isfinite(values["integrated_lufs"]):
            skipped.append(SkippedFile(rel, "silent: no audio above the -70 LUFS gate."))
            continue
        tracks.append(TrackMeasurement(rel, audio.duration_s, values))
    progress("done", 1.0)
    if not tracks:
        reasons = "; ".join(f"{s.file}: {s.reason}" for s in skipped[:5])
        raise TargetBuildError(
            f"none of the {len(files)} audio file(s) could be measured ({reasons}).",
            path=root,
            hint="Check that the files play and are not silent.",
        )
    stats = {
        key: ValueStats.of([t.values.get(key, math.nan) for t in tracks], unit)
        for key, unit in VALUE_UNITS.items()
    }
    target = CustomTarget(
        name=name,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        folder=str(root.resolve()),
        track_count=len(tracks),
        values=stats,
        tracks=tuple(tracks),
        skipped=tuple(skipped),
    )
    if save:
        target = save_custom_target(target)
    return target


def custom_target_path(name: str) -> Path:
    return config.targets_dir() / f"{name}.json"


def save_custom_target(target: CustomTarget) -> CustomTarget:
    """Write ``target`` atomically to ``config.targets_dir()/NAME.json``; return it with
    ``path`` set."""
    from stemforge.output import write_json_atomic

    config.targets_dir(create=True)
    path = custom_target_path(_check_name(target.name))
    data = {"format": TARGET_FORMAT, "format_version": TARGET_FORMAT_VERSION, **target.to_dict()}
    data.pop("path", None)
    write_json_atomic(path, data)
    return dataclasses.replace(target, path=str(path))


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _from_json(data: dict, path: Path) -> CustomTarget:
    values = {
        key: ValueStats(
            unit=str(s["unit"]),
            count=int(s["count"]),
            **{k: _num(s[k]) for k in ("mean", "std", "min", "max", "p10", "p25")},
            **{k: _num(s[k]) for k in ("median", "p75", "p90")},
        )
        for key, s in data["values"].items()
    }
    tracks = tuple(
        TrackMeasurement(
            str(t["file"]),
            float(t["duration_s"]),
            {k: _num(v) for k, v in t["values"].items()},
        )
        for t in data["tracks"]
    )
    skipped = tuple(SkippedFile(str(s["file"]), str(s["reason"])) for s in data["skipped"])
    return CustomTarget(
        name=str(data["name"]),
        created=str(data["created"]),
        folder=str(data["folder"]),
        track_count=int(data["track_count"]),
        values=values,
        tracks=tracks,
        skipped=skipped,
        path=str(path),
    )


def load_custom_target(name: str) -> CustomTarget:
    """The custom target saved as ``name`` by :func:`build_targets`."""
    path = custom_target_path(name) if _NAME_RE.match(str(name)) else None
    if path is None or not path.is_file():
        known = [p.stem for p in _custom_files()]
        raise UnknownTargetError(
            f"no custom target named {name!r} in {config.targets_dir()}.",
            hint=(
                f"Known custom targets: {', '.join(known)}."
                if known
                else "Build one with `stemforge targets build FOLDER --name NAME`."
            ),
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != TARGET_FORMAT:
            raise ValueError("not a stemforge custom target")
        if int(data.get("format_version", 0)) > TARGET_FORMAT_VERSION:
            raise ValueError("written by a newer stemforge")
        return _from_json(data, path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TargetFileError(
            f"the custom target file is unreadable ({exc}).",
            path=path,
            hint="Rebuild it with `stemforge targets build FOLDER --name NAME`.",
        ) from exc


def _custom_files() -> list[Path]:
    folder = config.targets_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


@dataclass(frozen=True)
class TargetSummary(Result):
    """One entry of :func:`list_targets`."""

    kind: str  # "platform", "genre" or "custom"
    name: str
    description: str


def list_targets() -> tuple[TargetSummary, ...]:
    """Every platform, genre and custom target, with a one-line description."""
    out = [
        TargetSummary(
            "platform",
            p.name,
            f"{p.display_name}: {p.integrated_lufs:g} LUFS, true peak <= "
            f"{p.true_peak_max_dbtp:g} dBTP",
        )
        for p in PLATFORMS.values()
    ]
    out += [
        TargetSummary(
            "genre",
            g.name,
            f"{g.display_name}: {g.integrated_lufs.low:g} to {g.integrated_lufs.high:g} LUFS "
            "(editorial)",
        )
        for g in GENRES.values()
    ]
    for path in _custom_files():
        try:
            target = load_custom_target(path.stem)
        except StemforgeError as exc:
            out.append(TargetSummary("custom", path.stem, f"unreadable: {exc}"))
            continue
        loud = target.values.get("integrated_lufs")
        level = f", mean {loud.mean:.1f} LUFS" if loud and loud.count else ""
        out.append(
            TargetSummary("custom", target.name, f"{target.track_count} reference track(s){level}")
        )
    return tuple(out)


def find_target(name: str) -> PlatformTarget | GenreProfile | CustomTarget:
    """A platform, genre or custom target by name (in that order)."""
    key = _key(name)
    if _PLATFORM_ALIASES.get(key, key) in PLATFORMS:
        return platform_target(name)
    if canonical_genre(name) is not None:
        return genre_profile(name)
    try:
        return load_custom_target(name)
    except UnknownTargetError:
        raise UnknownTargetError(
            f"no target named {name!r}.",
            hint=(
                f"Platforms: {', '.join(PLATFORMS)}. Genres: {', '.join(GENRES)}. "
                f"Custom: {', '.join(p.stem for p in _custom_files()) or 'none yet'}; "
                "`stemforge targets list` shows them all."
            ),
        ) from None


# --- target sets ------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetSet(Result):
    """The values one mix is compared against, each with its source.

    Built by :func:`target_set`; ``compare(name, measured)`` gives a :class:`Deviation`.
    """

    name: str
    values: dict[str, TargetValue]

    def __contains__(self, value_name: str) -> bool:
        return value_name in self.values

    def compare(self, value_name: str, measured: float) -> Deviation:
        """How ``measured`` lies against the target for ``value_name``."""
        try:
            target = self.values[value_name]
        except KeyError:
            raise KeyError(
                f"{value_name!r} has no target in {self.name!r}; it has {', '.join(self.values)}"
            ) from None
        return deviation(value_name, target, measured)

    def compare_all(self, measured: dict[str, float]) -> dict[str, Deviation]:
        """Deviations of every measured value that has a target."""
        return {k: self.compare(k, v) for k, v in measured.items() if k in self.values}


def target_set(
    *,
    platform: str | PlatformTarget | None = None,
    genre: str | GenreProfile | None = None,
    custom: str | CustomTarget | None = None,
) -> TargetSet:
    """Combine targets; later layers override earlier ones value by value:
    genre profile < custom references < platform (the delivery requirement, which sets
    only integrated loudness and true peak)."""
    layers: list[tuple[str, dict[str, TargetValue]]] = []
    if genre is not None:
        g = genre_profile(genre) if isinstance(genre, str) else genre
        layers.append((g.name, g.target_values()))
    if custom is not None:
        c = load_custom_target(custom) if isinstance(custom, str) else custom
        layers.append((c.name, c.target_values()))
    if platform is not None:
        p = platform_target(platform) if isinstance(platform, str) else platform
        layers.append((p.name, p.target_values()))
    values: dict[str, TargetValue] = {}
    for _, layer in layers:
        values.update(layer)
    return TargetSet(" + ".join(n for n, _ in layers) or "none", values)
