"""Automatic mixing by rules: stems in, a mix sheet whose every setting says why, a mix out.

A knowledge-based mixer in the tradition the source documents describe (Perez-Gonzalez
& Reiss; Gonzalez & Reiss; Ronan et al.): each decision comes from the stems' roles
(:mod:`stemforge.mixing.roles`) and measurements of their sound, and lands in a
:class:`~stemforge.mixing.sheet.MixSheet` whose ``notes`` say it in words, so a person
can read, change and re-render it (:func:`stemforge.mixing.render.render`).

1. **Roles** from names and sound (:func:`~stemforge.mixing.roles.detect_roles`).
2. **High-pass by role** (:data:`HIGH_PASS_HZ`: a backing vocal at 120 Hz, a pad at
   120 Hz, hi-hats at 250 Hz; none on kick, bass and drum kits, whose fundamentals live in
   the lowest octave), never above 80 % of the
   stem's own low edge (the frequency under which 1 % of its energy lies), so a synth
   that plays the bass line keeps it.
3. **Compression by role and crest factor** (:data:`COMPRESSION`): a stem whose crest
   factor (peak over RMS inside the 400 ms windows where it plays: the density of the
   sound, not the difference between its verse and chorus) exceeds its role's typical
   value by :data:`MIN_CREST_EXCESS_DB` is compressed,
   the ratio growing with the excess (1 + excess / 3, capped by role), the threshold
   :data:`THRESHOLD_ABOVE_RMS_DB` over its RMS; a dense stem is left alone.
4. **Panning** in the spirit of Gonzalez & Reiss (2007, "Automatic mixing: live
   downmixing stereo panner", DAFx-07): low end, kick, snare, lead vocal and full drum
   kits stay centred; stems bounced with a stereo image of their own (wide, or already
   placed to one side) keep it; every other stem is classed by the octave band holding
   most of its energy; stems sharing a band are spectrally similar and spread apart, in
   pairs placed symmetrically left and right (from +/-0.3 to +/-0.7, :func:`spread`), an odd
   one out in the centre, alternating which side leads from band to band so the image
   stays balanced. The order inside a band comes from role priority and the sound
   (spectral centroid, then a hash of the samples), never from names or input order.
5. **Balance**: every stem at one loudness, as Perez-Gonzalez & Reiss (2009,
   "Automatic gain and fader control for live mixing", WASPAA) set their faders, moved
   by its role's offset (:data:`ROLE_OFFSETS_LU`, plus a genre's,
   :data:`GENRE_OFFSETS_LU`): the rhythm section, backing vocals and instruments at the
   reference, hi-hats, pads and effects behind. Each lead vocal is as loud as all the
   other stems together where it sings (-3 LU against the mix, Pestana & Reiss 2014).
   Each stem's loudness is its own BS.1770-4 integrated loudness (K-weighting, 400 ms
   blocks, -70 LUFS and -10 LU gates), so a part that plays for one verse is set by how
   loud it is while it plays; it is corrected for what its EQ, compressor and pan will
   do (predicted from its third-octave spectrum, its peak envelope and its channel
   levels). Per stem, not per role group: five backing-vocal stems that take turns are
   each as loud as one would be, not a fifth of it.
6. **EQ against masking**: the masking model of :mod:`stemforge.analysis.masking` runs
   on the balanced stems (the whole song up to :data:`MASKING_EXCERPT_S`; a longer one
   on the windows where most of them play together, :func:`_masking_spans`); where a
   stem of lower priority (:data:`ROLE_PRIORITY`) masks one of higher priority (the
   masked stem loses at least :data:`MIN_MASKING_LOSS_DB` in a band where it has at least
   :data:`MIN_TARGET_SHARE_DB` of its energy), the masker gets a small bell cut there
   (``-(1 + 0.2 loss)`` dB, at most :data:`MAX_CUT_DB`, the band's own width as Q), at
   most :data:`MAX_CUTS` per stem, cuts within a third of an octave merged; cuts below
   the masker's high-pass are left to it. A stem the mix buries (it loses
   :data:`BURIED_MARGIN_DB` more of its loudness to the others than the median stem) is
   lifted by up to :data:`MAX_LIFT_DB` (:func:`_decide_lifts`; Ward, Reiss & Athwal 2012,
   "Multitrack mixing using a model of loudness and partial loudness", AES 133rd
   Convention, balance the loudness each part keeps in the mix). Gains are then
   balanced again with the cuts and lifts counted in.
7. **Master**: a true-peak limiter to the target platform's loudness and ceiling
   (:func:`stemforge.advice.targets.platform_target`); with a reference track, the EQ
   that matches its tonal balance (:func:`stemforge.advice.reference.compare_to_reference`,
   at most :data:`MAX_REFERENCE_BANDS` bands of +/-:data:`MAX_REFERENCE_GAIN_DB`, fitted
   from 40 Hz up) on the master and its loudness as the target (under the platform's
   ceiling).

Everything is deterministic and independent of the order of the stems: stems are
handled in sorted-name order, ties are broken by the sound, and the renderer sums in
float64 in a fixed order.

Sources of the balance: equal loudness is the rule of Perez-Gonzalez & Reiss (2009);
that engineers do not leave every source at equal loudness, and put the lead vocal in
front, is a finding of Pestana & Reiss (2014, "Intelligent audio production strategies
informed by best practices", AES 53rd Conference). The offsets' sizes (+3 LU in front,
-3 LU behind) are stemforge editorial, from common mixing practice, in two coarse steps
so that a person can read them; they are not a corpus statistic. The one multitrack
with the artist's own balance here (Caesium, ``benchmarks/bench_automix.py``) measures
them; no figure was fitted to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.signal

from stemforge.analysis.loudness import gated_blocks, gated_loudness_lufs, k_weighting_sos
from stemforge.audio.filters import EQ
from stemforge.audio.signal import Audio
from stemforge.audio.stems import Stems, align_stems
from stemforge.errors import StemforgeError
from stemforge.mixing.pan import stereo_gains
from stemforge.mixing.roles import (
    BAND_CENTRES_HZ,
    ROLE_LABELS,
    RoleFeatures,
    RoleGuess,
    detect_roles,
    role_features,
)
from stemforge.mixing.sheet import (
    Band,
    ChannelEQ,
    Compressor,
    Limiter,
    MasterBus,
    MixSheet,
    StemChannel,
)
from stemforge.progress import ProgressCallback, no_progress
from stemforge.results import Result

__all__ = [
    "COMPRESSION",
    "GENRE_OFFSETS_LU",
    "HIGH_PASS_HZ",
    "ROLE_OFFSETS_LU",
    "ROLE_PRIORITY",
    "AutoMixResult",
    "Decision",
    "StemAnalysis",
    "analyse_stems",
    "auto_mix",
    "channel_output",
    "decide",
    "spread",
    "stem_loudness_lufs",
]

# --- the rules ------------------------------------------------------------------------------

#: A lead vocal's loudness against all the other stems together where it sings (LU):
#: level with them, -3 LU against the whole mix (Pestana & Reiss 2014).
LEAD_OVER_REST_LU = 0.0
#: Each stem's loudness against the equal-loudness reference, by role (LU): in front,
#: at the reference, or behind. See the module docstring for the sources. A lead vocal
#: follows LEAD_OVER_REST_LU instead, unless it sings alone.
FOREGROUND_LU = 3.0
BACKGROUND_LU = -3.0
ROLE_OFFSETS_LU: dict[str, float] = {
    "lead_vocal": FOREGROUND_LU,
    "bass": 0.0,
    "kick": 0.0,
    "snare": 0.0,
    "drums": 0.0,
    "backing_vocal": 0.0,
    "keys": 0.0,
    "guitar": 0.0,
    "synth": 0.0,
    "other": 0.0,
    "hats": BACKGROUND_LU,
    "pad": BACKGROUND_LU,
    "fx": BACKGROUND_LU,
}

#: Genre offsets added to the role offsets (LU), stemforge editorial: what each style pushes
#: forward or back (EDM and hip-hop lift kick and bass, rock the guitars, jazz lowers the
#: kit, ambient lifts pads and textures).
GENRE_OFFSETS_LU: dict[str, dict[str, float]] = {
    "edm": {"kick": 2.0, "bass": 1.5, "synth": 1.0, "pad": 1.0, "lead_vocal": -1.0},
    "hip_hop": {"kick": 2.0, "bass": 2.0, "snare": 1.0, "lead_vocal": 1.0, "pad": -1.0},
    "pop": {"lead_vocal": 0.5, "backing_vocal": 0.5},
    "rock": {"guitar": 2.0, "snare": 1.0, "drums": 1.0, "keys": -1.0, "synth": -1.0},
    "metal": {"guitar": 2.5, "kick": 1.0, "snare": 1.0, "lead_vocal": -1.0},
    "jazz": {"drums": -2.0, "kick": -3.0, "snare": -2.0, "keys": 1.0, "bass": 0.5},
    "classical": {"pad": 2.0, "keys": 1.0, "drums": -3.0, "kick": -3.0},
    "folk_acoustic": {"guitar": 2.0, "lead_vocal": 0.5, "drums": -2.0, "kick": -2.0},
    "ambient": {"pad": 2.0, "fx": 2.0, "kick": -2.0, "snare": -2.0},
    "rnb": {"lead_vocal": 0.5, "bass": 1.5, "kick": 1.0, "keys": 0.5},
}

#: Who gives way when two stems mask each other: the lower number is cut.
ROLE_PRIORITY: dict[str, int] = {
    "lead_vocal": 100,
    "kick": 90,
    "snare": 85,
    "bass": 80,
    "backing_vocal": 60,
    "drums": 60,
    "synth": 50,
    "guitar": 50,
    "keys": 45,
    "hats": 40,
    "other": 35,
    "pad": 30,
    "fx": 20,
}

#: High-pass cutoff by role (Hz) and why.
HIGH_PASS_HZ: dict[str, tuple[float | None, str]] = {
    "kick": (None, "its fundamental lives in the lowest octave"),
    "bass": (None, "its fundamental lives in the lowest octave"),
    "drums": (None, "the kick in it lives in the lowest octave"),
    "snare": (80.0, "the snare's body starts above 80 Hz; below is kick spill and rumble"),
    "hats": (250.0, "nothing useful below; it only muddies the kick and bass"),
    "lead_vocal": (80.0, "nothing useful below 80 Hz in a voice: breath pops and rumble"),
    "backing_vocal": (120.0, "nothing useful below; the lead vocal carries the low end"),
    "keys": (80.0, "clears room for the bass"),
    "guitar": (90.0, "clears room for the bass"),
    "synth": (90.0, "clears room for the bass"),
    "pad": (120.0, "a pad's low end only blurs the bass"),
    "fx": (100.0, "clears room for the kick and bass"),
    "other": (40.0, "removes rumble"),
}

#: Roles that stay in the centre: the low end, kick, snare, lead vocal, whole kits.
CENTRE_ROLES = frozenset({"kick", "snare", "bass", "lead_vocal", "drums"})
#: A stem with more than this share of its energy below 120 Hz stays centred.
CENTRE_LOW_SHARE = 0.35
#: A stem already wider than this (side energy over mid plus side), or already this far
#: off centre (dB between its channels), keeps the stereo image it was bounced with: the
#: panner places (near-)mono sources, as Gonzalez & Reiss's did.
STEREO_WIDTH = 0.1
PLACED_BALANCE_DB = 3.0


@dataclass(frozen=True)
class CompressionRule(Result):
    """Compression of a role: used when the crest factor exceeds ``crest_db`` by 1 dB or
    more; ratio ``1 + excess / 3`` up to ``max_ratio``."""

    crest_db: float
    max_ratio: float
    attack_ms: float
    release_ms: float


#: Compression by role (``None``: never). Typical crest factors and time constants are
#: stemforge editorial from common practice: fast attack on vocals, slow enough on kick
#: and snare to keep the hit.
COMPRESSION: dict[str, CompressionRule | None] = {
    "lead_vocal": CompressionRule(13.0, 4.0, 5.0, 80.0),
    "backing_vocal": CompressionRule(13.0, 3.0, 10.0, 100.0),
    "bass": CompressionRule(11.0, 4.0, 15.0, 120.0),
    "kick": CompressionRule(15.0, 3.0, 25.0, 80.0),
    "snare": CompressionRule(17.0, 3.0, 15.0, 100.0),
    "drums": CompressionRule(16.0, 2.5, 20.0, 150.0),
    "keys": CompressionRule(15.0, 2.5, 15.0, 150.0),
    "guitar": CompressionRule(14.0, 3.0, 10.0, 120.0),
    "synth": CompressionRule(14.0, 2.0, 15.0, 150.0),
    "other": CompressionRule(16.0, 2.0, 20.0, 150.0),
    "hats": None,
    "pad": None,
    "fx": None,
}
#: The compressor's threshold sits this far above the stem's RMS where it plays.
THRESHOLD_ABOVE_RMS_DB = 6.0
#: A stem is compressed only when its crest factor exceeds its role's by this much (dB).
MIN_CREST_EXCESS_DB = 2.0

#: EQ against masking: a pair is worth a cut when the masked stem loses this much
#: loudness overall (dB) ...
MIN_PAIR_LOSS_DB = 1.5
#: ... and at least this much in the band cut (dB), in the pair's BANDS_PER_PAIR worst
#: bands ...
MIN_MASKING_LOSS_DB = 3.0
BANDS_PER_PAIR = 2
#: ... where the masked stem has at least this share of its energy (dB re its total): a
#: cut only helps where the masked stem has something to be heard.
MIN_TARGET_SHARE_DB = -12.0
#: The cut is 1 + loss / 5 dB, at most MAX_CUT_DB; at most MAX_CUTS cuts per stem.
MAX_CUT_DB = 3.0
MAX_CUTS = 3
#: Masking is measured on at most this much of a song (s): the whole of a shorter one,
#: of a longer one the windows of MASKING_WINDOW_S where the most stems play together.
MASKING_EXCERPT_S = 300.0
MASKING_WINDOW_S = 10.0
#: Lifting buried stems (:func:`_decide_lifts`): from this much more masking loss than
#: the median stem (dB), half a dB per dB, at most MAX_LIFT_DB.
BURIED_MARGIN_DB = 3.0
LIFT_PER_DB = 0.5
MAX_LIFT_DB = 3.0
#: The master EQ that matches a reference: a gentle tonal match, not a copy of its notes.
MAX_REFERENCE_GAIN_DB = 4.0
MAX_REFERENCE_BANDS = 4
#: The highest fader: when the balance would need more, the whole mix moves down and the
#: limiter's gain before it makes up the loudness.
MAX_FADER_DB = 12.0
#: Gains are kept within this range (dB); with MAX_FADER_DB only a stem more than 52 dB
#: quieter than the loudest one can reach the floor.
GAIN_LIMITS_DB = (-40.0, 24.0)

# BS.1770-4 gating (as stemforge.analysis.loudness).
_LOUDNESS_OFFSET = -0.691
_BLOCK_SEGMENTS = 4


# --- results --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision(Result):
    """One decision: the stem (or ``"master"``), what kind (``role``, ``gain``, ``pan``,
    ``high_pass``, ``eq_cut``, ``compressor``, ``limiter``, ``reference``), the sentence,
    and its numbers."""

    stem: str
    kind: str
    text: str
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StemAnalysis(Result):
    """What the mixer measured on one stem: role, sound features, BS.1770 integrated
    loudness (LUFS, -inf when silent), and whether it is silent."""

    name: str
    role: RoleGuess
    features: RoleFeatures
    loudness_lufs: float
    silent: bool


@dataclass(frozen=True)
class AutoMixResult(Result):
    """The automatic mix: the ``sheet`` (re-render it with
    :func:`~stemforge.mixing.render.render` for the same mix), the rendered ``mix``, what
    was measured on each stem (``stems``), every ``decisions`` in words, and the target
    used. ``masking_before`` holds the masking of the balanced stems the EQ was decided
    from (``None`` with fewer than two stems that sound)."""

    sheet: MixSheet
    mix: Any = field(repr=False)  # stemforge.mixing.render.RenderedMix
    stems: tuple[StemAnalysis, ...]
    decisions: tuple[Decision, ...]
    target: str
    target_lufs: float
    ceiling_dbtp: float
    genre: str | None
    integrated_lufs: float
    true_peak_dbtp: float
    timings_s: dict[str, float]
    notes: tuple[str, ...] = ()
    masking_before: Any = field(default=None, repr=False)

    @property
    def audio(self) -> Audio:
        return self.mix.audio

    def summary(self) -> list[str]:
        """A short readable account: one line per stem, then the master."""
        lines = []
        for s in self.stems:
            ch = self.sheet.stems[s.name]
            if s.silent:
                lines.append(f"{s.name}: silent, left as it is")
                continue
            parts = [f"{ROLE_LABELS.get(s.role.role, s.role.role)}", f"{ch.gain_db:+.1f} dB"]
            parts.append(_pan_text(ch.pan))
            if ch.eq.high_pass_hz:
                parts.append(f"high-pass {ch.eq.high_pass_hz:g} Hz")
            for b in ch.eq.bands:
                parts.append(f"{b.gain_db:+.1f} dB at {_hz(b.frequency_hz)}")
            if ch.compressor is not None:
                c = ch.compressor
                parts.append(f"compressor {c.ratio:g}:1 at {c.threshold_db:g} dBFS")
            lines.append(f"{s.name}: " + ", ".join(parts))
        lim = self.sheet.master.limiter
        lines.append(
            f"master: limiter to {lim.target_lufs:g} LUFS, ceiling {lim.ceiling_dbtp:g} dBTP "
            f"({self.target}); the mix reads {self.integrated_lufs:.1f} LUFS, "
            f"{self.true_peak_dbtp:.1f} dBTP"
        )
        for note in self.sheet.master.notes[1:]:  # the first one is the limiter's
            lines.append(f"master: {note}")
        return lines


# --- measuring ------------------------------------------------------------------------------


class _Measured:
    """Per stem: K-weighted mean square per 100 ms segment and channel (``segments``), the
    integrated loudness, and (computed when first asked for: only compressed stems need
    them) the 1 ms peak and power envelopes."""

    def __init__(self, audio: Audio, segments: np.ndarray, loudness_lufs: float):
        self.audio = audio
        self.segments = segments
        self.loudness_lufs = loudness_lufs
        self._envelopes: tuple[np.ndarray, np.ndarray] | None = None

    def _compute_envelopes(self) -> tuple[np.ndarray, np.ndarray]:
        if self._envelopes is None:
            x = self.audio.samples
            ms = max(1, round(self.audio.sample_rate / 1000))
            n_ms = x.shape[1] // ms
            blocks = x[:, : n_ms * ms].reshape(x.shape[0], n_ms, ms)
            if n_ms:
                peak = np.maximum(blocks.max(axis=2), -blocks.min(axis=2)).max(axis=0)
            else:
                peak = np.zeros(0, np.float32)
            power = np.einsum("cnm,cnm->n", blocks, blocks, dtype=np.float64) / (ms * x.shape[0])
            self._envelopes = (peak.astype(np.float64), power)
        return self._envelopes

    @property
    def peak_env(self) -> np.ndarray:
        """Max |x| over the channels per millisecond."""
        return self._compute_envelopes()[0]

    @property
    def power_env(self) -> np.ndarray:
        """Mean square over the channels per millisecond."""
        return self._compute_envelopes()[1]


def _measure(audio: Audio) -> _Measured:
    """BS.1770-4 integrated loudness (without the true-peak scan), with the K-weighted
    segment energies that predict the loudness of any gain and pan of the stem."""
    sr = audio.sample_rate
    x = audio.samples
    hop = max(1, round(sr / 10))
    n_seg = x.shape[1] // hop
    lufs = math.nan
    body = x[:, : n_seg * hop].reshape(x.shape[0], n_seg, hop)
    # float32 sums of 100 ms (1e-6 relative error) run three times faster than float64.
    seg = np.einsum("csn,csn->cs", body, body).astype(np.float64) / hop
    if sr >= 44_100:
        seg = _k_weighted_segments(x, seg, hop, k_weighting_sos(sr).astype(np.float32))
    else:  # below 44.1 kHz the K-filter's shelf warps; the loudness module upsamples
        from stemforge.analysis.loudness import loudness as _bs1770

        lufs = _bs1770(audio).integrated_lufs  # unweighted segments, scaled to it below
    loud = _gated_lufs(seg.sum(axis=0))
    if sr < 44_100 and math.isfinite(loud) and math.isfinite(lufs):
        seg = seg * 10 ** ((lufs - loud) / 10)
        loud = lufs
    return _Measured(audio, seg, loud)


#: Digital silence this long (segments of 100 ms) is skipped by the K-filter: its ringing
#: dies away within 200 ms (by then 200 dB down), and skipping both saves time on sparse
#: stems and keeps the float32 recursion out of the slow denormal range, which it would
#: reach after about 0.35 s of silence.
_SKIP_SILENCE_SEGMENTS = 5
_SILENT_POWER = 1e-24  # -240 dBFS


def _k_weighted_segments(x: np.ndarray, raw: np.ndarray, hop: int, sos: np.ndarray):
    """K-weighted mean square per 100 ms segment and channel, filtering only the spans
    between runs of digital silence of half a second or more (each span starts from a
    rested filter and runs on 200 ms into the silence for the filter's ringing)."""
    n_seg = raw.shape[1]
    silent = raw.sum(axis=0) <= _SILENT_POWER
    out = np.zeros_like(raw)
    spans = []
    start = None
    run = 0
    for i in range(n_seg):
        if silent[i]:
            run += 1
            if start is not None and run >= _SKIP_SILENCE_SEGMENTS:
                spans.append((start, i - run + 1))
                start = None
        else:
            if start is None:
                start = i
            run = 0
    if start is not None:
        spans.append((start, n_seg))
    for a, end in spans:
        b = min(n_seg, end + 2)  # the ringing after the sound stops
        # The -400 dBFS guard: decaying tails and short silences inside a span would
        # otherwise run through the recursion as (slow) denormal numbers.
        y = scipy.signal.sosfilt(sos, _undenormal(x[:, a * hop : b * hop]), axis=1)
        y = y.reshape(x.shape[0], b - a, hop)
        out[:, a:b] = np.einsum("csn,csn->cs", y, y).astype(np.float64) / hop
    return out


_DITHER = np.random.default_rng(0x5EED).standard_normal(4096).astype(np.float32) * np.float32(1e-20)


def _undenormal(x: np.ndarray) -> np.ndarray:
    """``x`` plus noise at -400 dBFS: keeps an IIR filter's state out of the denormal range
    in long silences (where a float32 recursion runs tens of times slower) without
    changing any level that can be measured."""
    frames = x.shape[-1]
    whole = frames - frames % len(_DITHER)
    out = np.empty(x.shape, np.result_type(x.dtype, np.float32))
    shape = (*x.shape[:-1], whole // len(_DITHER), len(_DITHER))
    np.add(x[..., :whole].reshape(shape), _DITHER, out=out[..., :whole].reshape(shape))
    out[..., whole:] = x[..., whole:] + _DITHER[: frames - whole]
    return out


def stem_loudness_lufs(audio: Audio) -> float:
    """BS.1770-4 integrated loudness of ``audio`` (LUFS; -inf when silent), as
    :func:`stemforge.analysis.loudness.loudness` measures it but without its true-peak
    scan, which costs ten times more than the loudness itself."""
    return _measure(audio).loudness_lufs


def _gated_lufs(segment_power: np.ndarray) -> float:
    """Integrated loudness (BS.1770-4 section 2.8) from channel-summed K-weighted mean
    squares per 100 ms segment: 400 ms blocks every 100 ms, absolute and relative gates."""
    if len(segment_power) < _BLOCK_SEGMENTS:
        return -math.inf
    return gated_loudness_lufs(_block_power(segment_power))


def _content_key(audio: Audio) -> str:
    """A hash of the samples: breaks ties by the sound itself, never by the name."""
    step = max(1, audio.frames // 65536)
    return hashlib.blake2b(audio.samples[:, ::step].tobytes(), digest_size=8).hexdigest()


def analyse_stems(
    stems: Stems | Mapping[str, Audio], *, progress: ProgressCallback = no_progress
) -> tuple[Stems, dict[str, StemAnalysis], dict[str, _Measured]]:
    """Align the stems (sorted by name) and measure each: features, role, loudness."""
    stem_set = _aligned(stems)
    features: dict[str, RoleFeatures] = {}
    measured: dict[str, _Measured] = {}
    for i, (name, audio) in enumerate(stem_set.items()):
        progress(f"analysing {name}", i / max(1, len(stem_set)))
        features[name] = role_features(audio)
        measured[name] = _measure(audio)
    roles = detect_roles(stem_set.items(), features=features)
    out = {}
    for name in stem_set.names:
        silent = name in stem_set.silent or not math.isfinite(measured[name].loudness_lufs)
        out[name] = StemAnalysis(
            name, roles[name], features[name], measured[name].loudness_lufs, silent
        )
    return stem_set, out, measured


def _aligned(stems: Stems | Mapping[str, Audio]) -> Stems:
    if isinstance(stems, Stems):
        order = sorted(stems.names)
        if list(stems.names) == order:
            return stems
        return Stems(
            names=tuple(order),
            audio=tuple(stems[n] for n in order),
            sample_rate=stems.sample_rate,
            channels=stems.channels,
            frames=stems.frames,
            notes={n: stems.notes.get(n, ()) for n in order},
            silent=tuple(n for n in order if n in stems.silent),
            sources=tuple(stems.sources[stems.names.index(n)] for n in order),
        )
    if not isinstance(stems, Mapping):
        raise TypeError(f"stems must be a Stems or a mapping of name -> Audio, not {type(stems)}")
    return align_stems({n: stems[n] for n in sorted(stems, key=str)})


# --- deciding -------------------------------------------------------------------------------


@dataclass
class _Plan:
    """The decisions for one stem while they are being made."""

    name: str
    analysis: StemAnalysis
    measured: _Measured
    content: str
    high_pass_hz: float | None = None
    cuts: list[tuple[float, float, float, str]] = field(default_factory=list)  # f, dB, q, why
    compressor: Compressor | None = None
    pan: float = 0.0
    gain_db: float = 0.0
    lift_db: float = 0.0
    lift_why: str = ""
    lead_rule: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def role(self) -> str:
        return self.analysis.role.role

    @property
    def priority(self) -> int:
        return ROLE_PRIORITY.get(self.role, 35)

    def eq(self) -> ChannelEQ:
        bands = tuple(Band(f, g, q) for f, g, q, _ in sorted(self.cuts))
        return ChannelEQ(high_pass_hz=self.high_pass_hz, bands=bands)


def _role_offset(role: str, genre: str | None) -> float:
    """The role's loudness against the equal-loudness reference (LU), with the genre's."""
    base = ROLE_OFFSETS_LU.get(role, ROLE_OFFSETS_LU["other"])
    return base + (GENRE_OFFSETS_LU.get(genre, {}).get(role, 0.0) if genre else 0.0)


def _decide_high_pass(plan: _Plan) -> None:
    cutoff, why = HIGH_PASS_HZ.get(plan.role, HIGH_PASS_HZ["other"])
    label = ROLE_LABELS.get(plan.role, plan.role)
    if cutoff is None:
        plan.notes.append(f"No high-pass ({label}): {why}.")
        return
    edge = plan.analysis.features.low_edge_hz
    limit = 0.8 * edge if edge > 0 else cutoff
    if limit < cutoff:
        if limit < 25.0:
            plan.notes.append(
                f"No high-pass: the {label} has content down to {edge:.0f} Hz (1 % of its "
                "energy lies below)."
            )
            return
        cutoff = _round_hz(limit)
        why = f"lower than usual for a {label}: 1 % of its energy lies below {edge:.0f} Hz"
    plan.high_pass_hz = float(cutoff)
    plan.notes.append(f"High-pass at {cutoff:g} Hz, 12 dB/oct: {label}, {why}.")


def _decide_compressor(plan: _Plan) -> None:
    rule = COMPRESSION.get(plan.role)
    label = ROLE_LABELS.get(plan.role, plan.role)
    f = plan.analysis.features
    if rule is None:
        plan.notes.append(f"No compressor ({label}): its natural dynamics are kept.")
        return
    excess = f.crest_db - rule.crest_db
    if excess < MIN_CREST_EXCESS_DB:
        plan.notes.append(
            f"No compressor: crest factor {f.crest_db:.1f} dB, already as dense as a {label} "
            f"usually is ({rule.crest_db:g} dB)."
        )
        return
    ratio = round(min(rule.max_ratio, max(1.5, 1.0 + excess / 3.0)), 1)
    threshold = round(f.rms_dbfs + THRESHOLD_ABOVE_RMS_DB, 1)
    plan.compressor = Compressor(
        threshold_db=threshold,
        ratio=ratio,
        attack_ms=rule.attack_ms,
        release_ms=rule.release_ms,
        knee_db=6.0,
        makeup_db=0.0,
    )
    plan.notes.append(
        f"Compressor {ratio:g}:1 at {threshold:g} dBFS ({THRESHOLD_ABOVE_RMS_DB:g} dB over its "
        f"RMS), attack {rule.attack_ms:g} ms, release {rule.release_ms:g} ms: crest factor "
        f"{f.crest_db:.1f} dB, {excess:.1f} dB more than a {label} usually has; the fader "
        "restores its level."
    )


def spread(count: int) -> list[float]:
    """Pan positions for ``count`` spectrally similar stems: pairs at +/-(0.3 .. 0.7),
    the first pair widest, an odd one out in the centre (first)."""
    pairs = count // 2
    out = [0.0] if count % 2 else []
    for k in range(pairs, 0, -1):
        p = round(0.3 + 0.4 * k / pairs, 3)
        out.extend([-p, p])
    return out


_OCTAVES = (
    (0, 3),
    (3, 6),
    (6, 9),
    (9, 12),
    (12, 15),
    (15, 18),
    (18, 21),
    (21, 24),
    (24, 27),
    (27, 29),
)


def _dominant_octave(f: RoleFeatures) -> int:
    levels = 10 ** (np.asarray(f.band_levels_db) / 10)
    octave = [levels[a:b].sum() for a, b in _OCTAVES]
    return int(np.argmax(octave))


def _decide_pans(plans: list[_Plan]) -> None:
    by_band: dict[int, list[_Plan]] = {}
    for plan in plans:
        f = plan.analysis.features
        label = ROLE_LABELS.get(plan.role, plan.role)
        if plan.role in CENTRE_ROLES:
            plan.notes.append(f"Centre: the {label} anchors the middle of the image.")
            continue
        if f.low_share > CENTRE_LOW_SHARE:
            plan.notes.append(
                f"Centre: {100 * f.low_share:.0f} % of its energy is below 120 Hz; low end "
                "stays in the middle."
            )
            continue
        if f.stereo_width >= STEREO_WIDTH or abs(f.balance_db) >= PLACED_BALANCE_DB:
            how = (
                f"it is already wide (side energy {100 * f.stereo_width:.0f} %)"
                if f.stereo_width >= STEREO_WIDTH
                else f"it is already placed {'right' if f.balance_db > 0 else 'left'} "
                f"({abs(f.balance_db):.1f} dB between its channels)"
            )
            plan.notes.append(f"No pan: {how}; its own stereo image is kept as it is.")
            continue
        by_band.setdefault(_dominant_octave(f), []).append(plan)
    leading_left = True
    for band in sorted(by_band):
        group = sorted(
            by_band[band],
            key=lambda p: (-p.priority, p.analysis.features.centroid_hz, p.content),
        )
        low = BAND_CENTRES_HZ[_OCTAVES[band][0]] * 10**-0.05
        high = BAND_CENTRES_HZ[_OCTAVES[band][1] - 1] * 10**0.05
        where = f"{_hz(low)}-{_hz(high)}"
        if len(group) == 1:
            group[0].notes.append(
                f"Centre: nothing else has most of its energy at {where}, so nothing to "
                "move it away from."
            )
            continue
        positions = spread(len(group))
        if not leading_left:
            positions = [-p for p in positions]
        leading_left = not leading_left
        others = {p.name for p in group}
        for plan, pos in zip(group, positions, strict=True):
            plan.pan = pos
            rest = ", ".join(sorted(others - {plan.name}))
            if pos == 0:
                plan.notes.append(
                    f"Centre: shares {where} with {rest}; it leads that band, the others "
                    "move to the sides."
                )
            else:
                plan.notes.append(
                    f"Pan {_pan_text(pos)}: most of its energy is at {where}, like {rest}; "
                    "spectrally similar stems go to opposite sides so they mask each other "
                    "less (Gonzalez & Reiss 2007)."
                )


# The K-weighting magnitude at the third-octave centres (for predicting an EQ's effect).
def _k_weight_power(sample_rate: int) -> np.ndarray:
    freqs = np.asarray(BAND_CENTRES_HZ)
    _, h = scipy.signal.sosfreqz(k_weighting_sos(sample_rate), worN=freqs, fs=sample_rate)
    return np.abs(h) ** 2


def _eq_change_db(plan: _Plan, eq: ChannelEQ, sample_rate: int) -> float:
    """The change of the stem's K-weighted loudness that ``eq`` makes, from its
    third-octave spectrum."""
    chain = eq.filters(sample_rate)
    if chain is None:
        return 0.0
    freqs = np.asarray(BAND_CENTRES_HZ)
    ok = freqs < 0.45 * sample_rate
    p = (
        10 ** (np.asarray(plan.analysis.features.band_levels_db)[ok] / 10)
        * _k_weight_power(sample_rate)[ok]
    )
    h = 10 ** (chain.response_db(freqs[ok], sample_rate) / 10)
    total = p.sum()
    return 10 * math.log10((p * h).sum() / total) if total > 0 else 0.0


def _compressor_change(plan: _Plan) -> tuple[float, np.ndarray | None]:
    """The loudness change (dB) the compressor makes and its gain per millisecond, from
    the stem's 1 ms peak envelope run through the compressor's own detector."""
    comp = plan.compressor
    if comp is None or plan.measured.peak_env.size == 0:
        return 0.0, None
    from stemforge.mixing.dynamics import CompressorStream

    env = plan.measured.peak_env[None, :].copy()
    gain_db = np.empty(env.shape[1])
    CompressorStream(comp, 1000).process(env, gain_db)
    power = plan.measured.power_env
    total = power.sum()
    if total <= 0:
        return 0.0, None
    g2 = 10 ** (gain_db / 10)
    return 10 * math.log10(float((power * g2).sum() / total)), g2


def _segment_energy(plan: _Plan, sample_rate: int, eq_db: float, comp_g2: np.ndarray | None):
    """The stem's K-weighted energy per 100 ms segment after EQ, compressor and pan (at
    0 dB gain), channel-summed."""
    seg = plan.measured.segments
    left, right = stereo_gains(plan.pan, 2 if seg.shape[0] >= 2 else 1)
    if seg.shape[0] >= 2:
        energy = left**2 * seg[0] + right**2 * seg[1]
    else:  # mono: the pan law's two sides both carry the one channel
        energy = (left**2 + right**2) * seg[0]
    energy = energy * 10 ** (eq_db / 10)
    if comp_g2 is not None:
        per_seg = 100  # milliseconds per segment
        n = min(len(energy), len(comp_g2) // per_seg)
        if n:
            power = plan.measured.power_env[: n * per_seg].reshape(n, per_seg)
            g = comp_g2[: n * per_seg].reshape(n, per_seg)
            with np.errstate(invalid="ignore", divide="ignore"):
                factor = np.where(
                    power.sum(axis=1) > 0,
                    (power * g).sum(axis=1) / np.maximum(power.sum(axis=1), 1e-300),
                    1.0,
                )
            energy = energy.copy()
            energy[:n] *= factor
    return energy


def _block_power(segments: np.ndarray) -> np.ndarray:
    """Mean square of 400 ms blocks every 100 ms from 100 ms segment mean squares."""
    cum = np.concatenate([[0.0], np.cumsum(segments)])
    return (cum[_BLOCK_SEGMENTS:] - cum[:-_BLOCK_SEGMENTS]) / _BLOCK_SEGMENTS


def _balance(plans: list[_Plan], sample_rate: int, genre: str | None, target_lufs: float):
    """Set every gain so that each stem's integrated loudness, through its EQ, compressor
    and pan, is the reference plus its role's offset (:data:`ROLE_OFFSETS_LU`), and the
    predicted mix lands on ``target_lufs``.

    Each stem is measured as BS.1770-4 gates it, so a vocal that sings one verse is set by
    how loud it is when it sings (relative loudness as De Man et al. 2014 and Pestana &
    Reiss 2014 measure it).
    """
    energies: dict[str, np.ndarray] = {}
    for plan in plans:
        eq_db = _eq_change_db(plan, plan.eq(), sample_rate)
        _, g2 = _compressor_change(plan)
        energies[plan.name] = _segment_energy(plan, sample_rate, eq_db, g2)
    for plan in plans:
        offset = _role_offset(plan.role, genre) + plan.lift_db
        plan.gain_db = offset - _gated_lufs(energies[plan.name])
    _balance_leads(plans, energies, genre)
    # Predicted mix loudness; shift everything so it lands on the target.
    mix = None
    for plan in sorted(plans, key=lambda p: p.content):
        e = energies[plan.name] * 10 ** (plan.gain_db / 10)
        mix = e if mix is None else mix + e
    mix_lufs = _gated_lufs(mix)
    shift = target_lufs - mix_lufs if math.isfinite(mix_lufs) else 0.0
    # Faders above MAX_FADER_DB are unusual: the whole mix moves down instead (the balance
    # stays as it is) and the limiter's gain before it makes up the loudness.
    shift = min(shift, MAX_FADER_DB - max(p.gain_db for p in plans))
    for plan in plans:
        plan.gain_db = float(np.clip(plan.gain_db + shift, *GAIN_LIMITS_DB))
    return energies


def _balance_leads(plans: list[_Plan], energies: dict[str, np.ndarray], genre: str | None):
    """Each lead vocal as loud as everything else together where it sings (plus the
    genre's offset): -3 LU against the mix, Pestana & Reiss 2014. Measured over the
    vocal's own gated blocks (BS.1770-4 gates), against the power sum of the other stems
    at their gains there; a vocal that sings alone keeps its role offset."""
    leads = [p for p in plans if p.role == "lead_vocal"]
    others = sorted((p for p in plans if p.role != "lead_vocal"), key=lambda p: p.content)
    if not leads or not others:
        return
    rest = None
    for p in others:
        e = _block_power(energies[p.name]) * 10 ** (p.gain_db / 10)
        rest = e if rest is None else rest + e
    for plan in leads:
        own = _block_power(energies[plan.name])
        sings = gated_blocks(own)
        if not sings.any():
            continue
        rest_there = float(rest[sings].mean())
        if rest_there <= 0:
            continue
        genre_lu = GENRE_OFFSETS_LU.get(genre, {}).get("lead_vocal", 0.0) if genre else 0.0
        plan.gain_db = (
            10 * math.log10(rest_there / float(own[sings].mean())) + LEAD_OVER_REST_LU + genre_lu
        )
        plan.lead_rule = True


def _masking_spans(plans: list[_Plan], sample_rate: int) -> list[tuple[int, int]]:
    """Where to measure masking: the whole song up to :data:`MASKING_EXCERPT_S`; longer
    songs, the windows of :data:`MASKING_WINDOW_S` where the most stems play together
    (masking happens where parts overlap), as sample spans in time order.

    A stem plays in a 100 ms segment when the segment is within 20 dB of its own gated
    loudness; ties go to the earlier window, so the choice is deterministic.
    """
    n_seg = min(p.measured.segments.shape[1] for p in plans)
    hop = round(sample_rate / 10)
    total_s = n_seg / 10
    if total_s <= MASKING_EXCERPT_S:
        return [(0, n_seg * hop)]
    count = np.zeros(n_seg)
    for plan in plans:
        seg = plan.measured.segments[:, :n_seg].sum(axis=0)
        level = 10 ** ((plan.analysis.loudness_lufs - _LOUDNESS_OFFSET) / 10)
        count += seg >= level / 100.0
    window = round(MASKING_WINDOW_S * 10)
    cum = np.concatenate([[0.0], np.cumsum(count)])
    score = cum[window:] - cum[:-window]  # stems playing, summed over each window
    chosen: list[int] = []
    taken = np.zeros(len(score), bool)
    for _ in range(int(MASKING_EXCERPT_S // MASKING_WINDOW_S)):
        candidates = np.where(taken, -1.0, score)
        best = int(np.argmax(candidates))
        if candidates[best] < 0:
            break
        chosen.append(best)
        taken[max(0, best - window + 1) : best + window] = True
    return [(start * hop, (start + window) * hop) for start in sorted(chosen)]


def _masking_input(
    stem_set: Stems, plans: list[_Plan], spans: list[tuple[int, int]]
) -> tuple[Stems, dict[str, float]]:
    """The stems that sound, cut to ``spans`` joined end to end (the whole song is passed as
    it is, not copied), and the gains the masking model hears them at."""
    names = tuple(sorted(p.name for p in plans))
    whole = len(spans) == 1  # (the whole song: _masking_spans gives one span for it)
    audio = []
    for name in names:
        a = stem_set[name]
        if not whole:
            a = a.with_samples(np.concatenate([a.samples[:, x:y] for x, y in spans], axis=1))
        audio.append(a)
    subset = Stems(
        names=names,
        audio=tuple(audio),
        sample_rate=stem_set.sample_rate,
        channels=stem_set.channels,
        frames=audio[0].frames,
        notes={n: () for n in names},
        silent=(),
        sources=tuple(None for _ in names),
    )
    return subset, {p.name: p.gain_db for p in plans}


def _decide_cuts(plans: list[_Plan], result) -> list[Decision]:
    """Bell cuts where a lower-priority stem masks a higher-priority one."""
    by_name = {p.name: p for p in plans}
    decisions = []
    candidates: dict[str, list[tuple[float, float, float, str]]] = {}
    for pair in result.pairs:
        masker, target = by_name.get(pair.masker), by_name.get(pair.target)
        if masker is None or target is None or masker.priority >= target.priority:
            continue
        if pair.loss_db < MIN_PAIR_LOSS_DB:
            continue
        for band in pair.worst_bands[:BANDS_PER_PAIR]:
            if band.loss_db < MIN_MASKING_LOSS_DB:
                continue
            if masker.high_pass_hz is not None and band.high_hz <= 1.5 * masker.high_pass_hz:
                continue  # the high-pass already clears it
            share_db = _band_share_db(target.analysis.features, band.low_hz, band.high_hz)
            if share_db < MIN_TARGET_SHARE_DB:
                continue  # the masked stem has little to lose there
            cut = round(min(MAX_CUT_DB, 1.0 + 0.2 * band.loss_db), 1)
            width = max(band.high_hz - band.low_hz, 1.0)
            q = round(float(np.clip(band.centre_hz / width, 0.7, 4.0)), 2)
            freq = _round_hz(band.centre_hz)
            why = (
                f"-{cut:.1f} dB cut at {_hz(freq)}, Q {q:g}: {_who(masker)} masks "
                f"{_who(target)} here (it loses {band.loss_db:.1f} dB in this band, "
                f"{pair.loss_db:.1f} dB overall)."
            )
            candidates.setdefault(masker.name, []).append((freq, -cut, q, why))
    for name in sorted(candidates):
        merged: list[tuple[float, float, float, str]] = []
        # Deepest first; a cut within a third of an octave of a kept one is merged into it.
        for cand in sorted(candidates[name], key=lambda c: (c[1], c[0])):
            if any(abs(math.log2(cand[0] / m[0])) < 1 / 3 for m in merged):
                continue
            merged.append(cand)
            if len(merged) == MAX_CUTS:
                break
        by_name[name].cuts = merged
        for f, g, q, why in sorted(merged):
            by_name[name].notes.append(why[0].upper() + why[1:])
            decisions.append(
                Decision(name, "eq_cut", why, {"frequency_hz": f, "gain_db": g, "q": q})
            )
    return decisions


def _decide_lifts(plans: list[_Plan], result) -> list[Decision]:
    """Lift the stems the mix buries: a stem that loses :data:`BURIED_MARGIN_DB` more of
    its loudness to the rest of the mix than the median stem does is raised by
    :data:`LIFT_PER_DB` dB per dB of the excess, at most :data:`MAX_LIFT_DB` (the loudness
    each part keeps in the mix, not its loudness alone, is what Ward, Reiss & Athwal 2012
    balance)."""
    losses = {s.name: s.loss_db for s in result.stems if not s.silent}
    if len(losses) < 3:
        return []
    median = float(np.median(list(losses.values())))
    decisions = []
    for plan in sorted(plans, key=lambda p: p.name):
        loss = losses.get(plan.name)
        if plan.lead_rule or loss is None or loss - median <= BURIED_MARGIN_DB:
            continue  # (a lead vocal is set against the rest of the mix instead)
        lift = round(min(MAX_LIFT_DB, LIFT_PER_DB * (loss - median - BURIED_MARGIN_DB)), 1)
        if lift < 0.1:
            continue
        plan.lift_db = lift
        plan.lift_why = (
            f"lifted {lift:+.1f} dB because the mix buries it: it loses {loss:.0f} dB of its "
            f"loudness to the other stems, the median stem {median:.0f} dB"
        )
        decisions.append(
            Decision(plan.name, "lift", plan.lift_why, {"lift_db": lift, "loss_db": loss})
        )
    return decisions


def _resolve_target_and_genre(target, genre: str | None):
    """The platform target and the canonical genre name (errors list the known ones)."""
    from stemforge.advice.targets import canonical_genre, genre_profile, platform_target

    platform = platform_target(target) if isinstance(target, str) else target
    genre_key = None
    if genre is not None:
        genre_key = canonical_genre(genre)
        if genre_key is None:
            genre_profile(genre)  # raises the error that lists the genres
    return platform, genre_key


def _band_share_db(f: RoleFeatures, low_hz: float, high_hz: float) -> float:
    """The stem's energy between ``low_hz`` and ``high_hz`` relative to its total (dB),
    from its third-octave spectrum (at least the third octave nearest the middle)."""
    centres = np.asarray(BAND_CENTRES_HZ)
    levels = 10 ** (np.asarray(f.band_levels_db) / 10)
    inside = (centres >= low_hz) & (centres <= high_hz)
    if not inside.any():
        inside = np.abs(np.log(centres / math.sqrt(low_hz * high_hz))) == np.min(
            np.abs(np.log(centres / math.sqrt(low_hz * high_hz)))
        )
    total = float(levels[inside].sum())
    return 10 * math.log10(total) if total > 0 else -120.0


def decide(
    stem_set: Stems,
    analyses: Mapping[str, StemAnalysis],
    measured: Mapping[str, _Measured],
    *,
    target: str = "spotify",
    genre: str | None = None,
    progress: ProgressCallback = no_progress,
) -> tuple[MixSheet, list[Decision], Any, dict[str, float]]:
    """The mix sheet for analysed stems (see the module docstring); also the decisions in
    words, the masking result the cuts came from, and the time each step took."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    platform, genre_key = _resolve_target_and_genre(target, genre)
    sr = stem_set.sample_rate
    plans = [
        _Plan(n, analyses[n], measured[n], _content_key(stem_set[n]))
        for n in stem_set.names
        if not analyses[n].silent
    ]
    if not plans:
        raise AutoMixError(
            "every stem is silent (no gated BS.1770 block above -70 LUFS); there is "
            "nothing to mix.",
            hint="Check that the stems were exported with their audio.",
        )
    decisions: list[Decision] = []
    for plan in plans:
        g = plan.analysis.role
        decisions.append(
            Decision(
                plan.name,
                "role",
                f"{ROLE_LABELS.get(g.role, g.role)}: {g.reason}",
                {"role": g.role, "confidence": g.confidence, "source": g.source},
            )
        )
        plan.notes.append(
            f"Role: {ROLE_LABELS.get(g.role, g.role)} ({g.source}, confidence "
            f"{g.confidence:.2f}): {g.reason}."
        )
        _decide_high_pass(plan)
        _decide_compressor(plan)
    _decide_pans(plans)
    _balance(plans, sr, genre_key, platform.integrated_lufs)
    timings["decide_first"] = time.perf_counter() - clock

    clock = time.perf_counter()
    masking_result = None
    spans: list[tuple[int, int]] = []
    if len(plans) >= 2:
        from stemforge.analysis.masking import masking

        progress("masking", 0.0)
        spans = _masking_spans(plans, sr)
        heard, gains = _masking_input(stem_set, plans, spans)
        masking_result = masking(heard, gains_db=gains)
        decisions.extend(_decide_cuts(plans, masking_result))
        decisions.extend(_decide_lifts(plans, masking_result))
        _balance(plans, sr, genre_key, platform.integrated_lufs)
    timings["masking"] = time.perf_counter() - clock

    for plan in plans:
        label = ROLE_LABELS.get(plan.role, plan.role)
        base = ROLE_OFFSETS_LU.get(plan.role, ROLE_OFFSETS_LU["other"])
        where = "in front of" if base > 0 else "behind" if base < 0 else "level with"
        offset = f"{base:+g} LU, " if base else ""
        genre_lu = GENRE_OFFSETS_LU.get(genre_key, {}).get(plan.role, 0.0) if genre_key else 0.0
        if genre_lu:
            offset += f"{genre_lu:+g} LU for {genre_key}, "
        lifted = f", {plan.lift_why}" if plan.lift_db else ""
        if plan.lead_rule:
            genre_text = f" ({genre_lu:+g} LU for {genre_key})" if genre_lu else ""
            text = (
                f"Gain {plan.gain_db:+.1f} dB: the {label} as loud as all the other stems "
                f"together where it sings{genre_text}, -3 LU against the mix (Pestana & Reiss "
                f"2014); it measured {plan.analysis.loudness_lufs:.1f} LUFS as given."
            )
        else:
            text = (
                f"Gain {plan.gain_db:+.1f} dB: the {label} {where} the mix's reference "
                f"loudness ({offset}every stem measured where it plays){lifted}; it measured "
                f"{plan.analysis.loudness_lufs:.1f} LUFS as given."
            )
        plan.notes.insert(1, text)
        decisions.append(Decision(plan.name, "gain", text, {"gain_db": round(plan.gain_db, 2)}))

        def note(*prefixes: str, plan: _Plan = plan) -> str:
            return next((n for n in plan.notes if n.startswith(prefixes)), "")

        decisions.append(
            Decision(plan.name, "pan", note("Centre", "Pan", "No pan"), {"pan": plan.pan})
        )
        decisions.append(
            Decision(
                plan.name,
                "high_pass",
                note("High-pass", "No high-pass"),
                {"high_pass_hz": plan.high_pass_hz},
            )
        )
        decisions.append(
            Decision(
                plan.name,
                "compressor",
                note("Compressor", "No compressor"),
                plan.compressor.to_dict() if plan.compressor is not None else {},
            )
        )

    channels = {}
    for name in stem_set.names:
        a = analyses[name]
        if a.silent:
            channels[name] = StemChannel(
                role=a.role.role, notes=("Silent: nothing to mix; left at 0 dB, centred.",)
            )
            continue
        plan = next(p for p in plans if p.name == name)
        channels[name] = StemChannel(
            gain_db=round(plan.gain_db, 2),
            pan=plan.pan,
            eq=plan.eq(),
            compressor=plan.compressor,
            role=plan.role,
            notes=tuple(plan.notes),
        )
    limiter = Limiter(
        ceiling_dbtp=platform.true_peak_max_dbtp, target_lufs=platform.integrated_lufs
    )
    master_note = (
        f"Limiter to {platform.integrated_lufs:g} LUFS with a {platform.true_peak_max_dbtp:g} "
        f"dBTP true-peak ceiling: the {platform.display_name} target."
    )
    decisions.append(Decision("master", "limiter", master_note, limiter.to_dict()))
    notes = [
        f"Automatic mix by rules for {platform.display_name}"
        + (f", genre {genre_key}" if genre_key else "")
        + "."
    ]
    if masking_result is not None:
        where = ", ".join(f"{_clock(a / sr)}-{_clock(b / sr)}" for a, b in spans)
        notes.append(f"Masking between the stems was measured over {where}.")
    sheet = MixSheet(
        stems=channels,
        master=MasterBus(limiter=limiter, notes=(master_note,)),
        sample_rate=sr,
        created_by="automix",
        notes=tuple(notes),
    )
    return sheet, decisions, masking_result, timings


def auto_mix(
    stems: Stems | Mapping[str, Audio],
    *,
    target: str = "spotify",
    genre: str | None = None,
    reference: Audio | str | None = None,
    progress: ProgressCallback = no_progress,
) -> AutoMixResult:
    """Mix ``stems`` automatically (see the module docstring) and render the result.

    ``stems``: a :class:`~stemforge.audio.stems.Stems` or a mapping of name -> Audio;
    ``target``: a platform (``spotify``, ``apple_music``, ``youtube``, ...); ``genre``: a
    genre profile name (``edm``, ``hip_hop``, ``rock``, ...) whose offsets shift the
    balance; ``reference``: a track (path or Audio) whose tonal balance and loudness the
    master matches.
    """
    from stemforge.mixing.render import render

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    _resolve_target_and_genre(target, genre)  # bad names fail before the long analysis
    ref_audio = _reference_audio(reference) if reference is not None else None
    stem_set, analyses, measured = analyse_stems(stems, progress=progress)
    timings["analyse"] = time.perf_counter() - clock
    sheet, decisions, masking_result, decide_times = decide(
        stem_set, analyses, measured, target=target, genre=genre, progress=progress
    )
    timings.update(decide_times)
    clock = time.perf_counter()
    progress("rendering", 0.9)
    rendered = render(stem_set, sheet)
    timings["render"] = time.perf_counter() - clock
    notes: list[str] = []
    if ref_audio is not None:
        clock = time.perf_counter()
        sheet, more = _match_reference(sheet, rendered.audio, ref_audio)
        decisions.extend(more)
        rendered = render(stem_set, sheet)
        timings["reference"] = time.perf_counter() - clock
    silent = [a.name for a in analyses.values() if a.silent]
    if silent:
        notes.append(f"silent stems left out of every decision: {', '.join(silent)}")
    lim = sheet.master.limiter
    return AutoMixResult(
        sheet=sheet,
        mix=rendered,
        stems=tuple(analyses[n] for n in stem_set.names),
        decisions=tuple(decisions),
        target=target if isinstance(target, str) else target.name,
        target_lufs=float(lim.target_lufs) if lim.target_lufs is not None else math.nan,
        ceiling_dbtp=float(lim.ceiling_dbtp),
        genre=genre,
        integrated_lufs=float(rendered.integrated_lufs),
        true_peak_dbtp=float(rendered.true_peak_dbtp),
        timings_s={k: round(v, 3) for k, v in timings.items()},
        notes=tuple(notes),
        masking_before=masking_result,
    )


# --- reference ------------------------------------------------------------------------------


def _reference_audio(reference: Audio | str) -> Audio:
    if isinstance(reference, Audio):
        return reference
    from stemforge.audio.io import load

    return load(reference)


def _match_reference(sheet: MixSheet, mix: Audio, reference: Audio):
    """Master EQ toward the reference's tonal balance, and its loudness as the target."""
    from stemforge.advice.reference import compare_to_reference
    from stemforge.analysis.loudness import loudness

    comparison = compare_to_reference(
        mix,
        reference,
        max_bands=MAX_REFERENCE_BANDS,
        max_gain_db=MAX_REFERENCE_GAIN_DB,
        fit_min_hz=40.0,
        verify=False,
    )
    low_shelf = high_shelf = None
    bands: list[Band] = []
    for f in comparison.suggested_eq.bands:
        kind = getattr(f, "kind", "")
        gain = float(np.clip(f.gain_db, -MAX_REFERENCE_GAIN_DB, MAX_REFERENCE_GAIN_DB))
        if kind == "low_shelf" and low_shelf is None:
            low_shelf = (f.frequency_hz, gain)
        elif kind == "high_shelf" and high_shelf is None:
            high_shelf = (f.frequency_hz, gain)
        elif kind == "peaking" and len(bands) < 6:
            bands.append(Band(f.frequency_hz, gain, f.q))
    eq = ChannelEQ(
        low_shelf_hz=low_shelf[0] if low_shelf else None,
        low_shelf_gain_db=low_shelf[1] if low_shelf else 0.0,
        high_shelf_hz=high_shelf[0] if high_shelf else None,
        high_shelf_gain_db=high_shelf[1] if high_shelf else 0.0,
        bands=tuple(bands),
    )
    ref_lufs = loudness(reference).integrated_lufs
    limiter = sheet.master.limiter
    notes = list(sheet.master.notes)
    decisions = []
    described = "; ".join(_describe_filter(f) for f in comparison.suggested_eq.bands) or "none"
    eq_note = (
        f"Master EQ toward the reference's tonal balance ({described}): its smoothed spectrum "
        f"differed by up to {comparison.difference_max_db:.1f} dB."
    )
    notes.append(eq_note)
    decisions.append(Decision("master", "reference", eq_note, eq.to_dict()))
    if math.isfinite(ref_lufs):
        target = float(np.clip(ref_lufs, -60.0, 0.0))
        limiter = dataclasses.replace(limiter, target_lufs=round(target, 2))
        ln = (
            f"Limiter target {target:.1f} LUFS: the reference's loudness (ceiling "
            f"{limiter.ceiling_dbtp:g} dBTP kept from the platform)."
        )
        notes.append(ln)
        decisions.append(Decision("master", "reference", ln, {"target_lufs": target}))
    master = dataclasses.replace(sheet.master, eq=eq, limiter=limiter, notes=tuple(notes))
    return dataclasses.replace(sheet, master=master), decisions


def _describe_filter(f) -> str:
    kind = getattr(f, "kind", "filter").replace("_", " ")
    return f"{kind} {f.gain_db:+.1f} dB at {_hz(f.frequency_hz)}"


# --- per-stem output (for measuring a mix) ---------------------------------------------------


def channel_output(audio: Audio, channel: StemChannel, sample_rate: int | None = None) -> Audio:
    """What one channel strip of a sheet sends to the master bus: EQ -> compressor ->
    gain -> pan, as :func:`stemforge.mixing.render.render` computes it (stereo, float32).

    For measuring a mix stem by stem (its loudness, its masking); the render itself does
    not need it. Equal to the render's own strip within 1e-15 (a -400 dBFS noise guards
    the filters against denormal numbers).
    """
    from stemforge.mixing.dynamics import CompressorStream

    if sample_rate is not None and audio.sample_rate != sample_rate:
        audio = audio.resample(sample_rate)
    if audio.channels > 2:
        audio = audio.to_stereo()
    rate = audio.sample_rate
    x = audio.samples.astype(np.float64)
    chain: EQ | None = channel.eq.filters(rate)
    if chain is not None:
        # Noise at -400 dBFS keeps the filters out of the (slow) denormal range in long
        # silences; it changes no level that can be measured.
        x = scipy.signal.sosfilt(chain.sos(rate), _undenormal(x), axis=-1)
    if channel.compressor is not None:
        CompressorStream(channel.compressor, rate).process(x)
    gain = 10.0 ** (channel.gain_db / 20.0)
    left, right = stereo_gains(channel.pan, audio.channels)
    last = x.shape[0] - 1
    out = np.stack([gain * left * x[0], gain * right * x[last]])
    return Audio(out, rate)


# --- text -----------------------------------------------------------------------------------


def _hz(value: float) -> str:
    return f"{value / 1000:.3g} kHz" if value >= 1000 else f"{value:.0f} Hz"


def _round_hz(value: float) -> float:
    """Two significant digits below 1 kHz, as a person sets a dial (87 -> 87, 1234 -> 1200)."""
    if value <= 0:
        return 0.0
    digits = 1 - math.floor(math.log10(value))
    return float(round(value, digits))


def _who(plan: _Plan) -> str:
    """ "the pad (Pad A)", or "the kick" when the name says it already."""
    label = ROLE_LABELS.get(plan.role, plan.role)
    if plan.name.strip().lower() == label.lower():
        return f"the {label}"
    return f"the {label} ({plan.name})"


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:04.1f}"


def _pan_text(pan: float) -> str:
    if abs(pan) < 0.005:
        return "centre"
    side = "left" if pan < 0 else "right"
    return f"{abs(pan) * 100:.0f} % {side}"


class AutoMixError(StemforgeError):
    """The stems cannot be mixed automatically (none of them sounds)."""
