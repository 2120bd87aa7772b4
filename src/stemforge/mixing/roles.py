"""What each stem is: its role in the mix (kick, bass, lead vocal, pad, ...), from its name
and from its sound.

Roles (:data:`ROLES`): ``kick``, ``snare``, ``hats`` (hi-hats, cymbals, shakers: bright
percussion), ``drums`` (a kit, overheads, rooms, loops and breaks), ``bass``,
``lead_vocal``, ``backing_vocal``, ``keys`` (piano, organ, electric piano, chord stabs),
``guitar``, ``synth`` (lead lines, arpeggios, plucks), ``pad`` (sustained chords,
strings, textures), ``fx`` (risers, impacts, scratches, effects) and ``other``.

**From the name** (:func:`role_from_name`). The name is split into words (separators,
camelCase, digits: ``"Kick In 2"``, ``"leadVox"``, ``"BGVOX_HIGH"``), each word looked up
in a table of the names engineers and DAW templates use, in several languages ("OH"
overheads, "BV" backing vocal, "Vox", "Gtr", "Pno", "caisse claire", "Gesang", "voz",
...). Words of four letters or more are also found inside glued words ("leadvocal").
Each word votes for a role with a weight (an instrument noun such as "kick" weighs
more than a hint such as "beat" or "effect"); the last word of a name counts a little
more (English names end with the head noun: "SCRATCH HATS" are hats). Combinations are
read first: "bass drum" is a kick, "lead" with a vocal word a lead vocal, "lead" alone a
synth line, a backing word with a vocal word a backing vocal.

**From the sound** (:func:`role_features`, :func:`role_from_audio`). One pass of
non-overlapping 2048-sample Hann frames over the mono sum (about 43 ms) gives, over the
frames where the stem plays: the spectral centroid, the share of energy below 120 Hz and
above 5 kHz, the spectral flatness (Gray & Markel 1974: geometric over arithmetic mean of
the power spectrum, 100 Hz to 10 kHz), and per frame the periodicity and fundamental
frequency from the normalised autocorrelation (the inverse FFT of the power spectrum,
divided by the window's own autocorrelation, as in Boersma 1993); a 5 ms RMS envelope
gives the envelope range (percussive sounds rise and die; sustained ones do not) and the
onset rate; consecutive voiced frames give the pitch flutter (median frame-to-frame
change within a note, in cents: a singer's vibrato moves 10 to 30 cents, a synth
oscillator none) and the pitch fall (a tuned kick's pitch drops after every hit); the
share of the strongest pitch class and the ratio of the lowest spectral peak to the
fundamental tell one voice from a chord. Rules over these features score each role; the
best score is the guess and the margin to the next gives the confidence. The rules were
written from the physics of each instrument and checked on the demo songs of
:mod:`stemforge.demo`, whose stems are known.

**Both** (:func:`detect_role`, :func:`detect_roles`): a confident name wins; a weak or
missing name defers to the sound. Across a set of stems, when several are heard as a
lead vocal, the one that sings longest stays the lead and the others become backing
vocals (the order of the stems never matters: ties go by name).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import scipy.fft

from stemforge.analysis.spectrum import hann
from stemforge.audio.signal import Audio
from stemforge.results import Result

__all__ = [
    "BAND_CENTRES_HZ",
    "ROLES",
    "RoleFeatures",
    "RoleGuess",
    "detect_role",
    "detect_roles",
    "name_words",
    "role_features",
    "role_from_audio",
    "role_from_name",
]

ROLES: tuple[str, ...] = (
    "kick",
    "snare",
    "hats",
    "drums",
    "bass",
    "lead_vocal",
    "backing_vocal",
    "keys",
    "guitar",
    "synth",
    "pad",
    "fx",
    "other",
)

#: Role descriptions for sentences ("the backing vocal").
ROLE_LABELS: dict[str, str] = {
    "kick": "kick",
    "snare": "snare",
    "hats": "hi-hats",
    "drums": "drums",
    "bass": "bass",
    "lead_vocal": "lead vocal",
    "backing_vocal": "backing vocal",
    "keys": "keys",
    "guitar": "guitar",
    "synth": "synth",
    "pad": "pad",
    "fx": "effects",
    "other": "unidentified part",
}

#: A name guess at least this confident is taken over the sound.
NAME_WINS_CONFIDENCE = 0.6

# --- names ---------------------------------------------------------------------------------

_STRONG, _MEDIUM, _WEAK = 1.0, 0.7, 0.45

# word -> (role, weight). Short words match whole words only; words of 4+ letters are also
# found inside glued words.
_WORDS: dict[str, tuple[str, float]] = {}


def _add(role: str, weight: float, words: str) -> None:
    for w in words.split():
        _WORDS[w] = (role, weight)


_add(
    "kick",
    _STRONG,
    "kick kik kck kicks kickdrum bassdrum bd bombo cassa grosse grossecaisse "
    "grancassa bombodrum kickin kickout kicksub sub-kick subkick",
)
_add(
    "snare",
    _STRONG,
    "snare snares snr sn sd snaretop snarebottom rullante caja redoblante "
    "caisseclaire claire kleine",
)
_add("snare", _MEDIUM, "clap claps rim rimshot handclap")
_add(
    "hats",
    _STRONG,
    "hat hats hh hihat hihats hi-hat charleston ride crash cymbal cymbals cym "
    "shaker shakers tamb tambourine tambourin becken",
)
_add(
    "drums",
    _STRONG,
    "drum drums drm drms kit overhead overheads oh ohs room rooms tom toms "
    "batterie schlagzeug bateria batteria perc percussion percussions conga congas "
    "bongo bongos drumloop breakbeat",
)
_add("drums", _MEDIUM, "beat beats loop loops groove break breaks top tops")
_add(
    "bass",
    _STRONG,
    "bass bs bas basse basso bajo bassline basslines bassgtr 808 sub subbass "
    "contrabass doublebass upright",
)
_add(
    "lead_vocal",
    _STRONG,
    "vox vocal vocals voc vo vox1 voice voices lv leadvox leadvocal singer sing "
    "voix voz voce stimme gesang chant rap mc spoken",
)
_add(
    "backing_vocal",
    _STRONG,
    "bv bvs bgv bgvs bgvox bkg bkgd bkv backing backings backingvocal backingvox "
    "harmony harmonies harm choir choirs coro choeur choeurs chor adlib adlibs "
    "backgroundvocal dbl double doubles",
)
_add(
    "keys",
    _STRONG,
    "keys key keyboard keyboards piano pianos pno pn rhodes wurli wurlitzer organ "
    "org hammond b3 clav clavinet epiano ep klavier orgel chords chord stabs stab "
    "harpsichord celesta",
)
_add(
    "guitar",
    _STRONG,
    "guitar guitars gtr gtrs gt git guit ag eg acoustic electric guitare gitarre "
    "guitarra chitarra strat tele banjo mandolin ukulele uke",
)
_add(
    "synth",
    _STRONG,
    "synth synths syn synthesizer synthesiser arp arps arpeggio pluck plucks lead "
    "leads minilogue moog juno jupiter prophet saw supersaw sequence seq bell bells "
    "brass horn horns trumpet sax flute whistle",
)
_add(
    "pad",
    _STRONG,
    "pad pads strings string str strs atmos atmosphere atmosphere drone drones "
    "texture textures ambience ambient violin violins cello cellos orchestra "
    "ensemble",
)
_add(
    "fx",
    _STRONG,
    "fx sfx effect effects riser risers uplifter downlifter sweep sweeps impact "
    "impacts whoosh noise scratch scratches transition transitions reverse rev "
    "swell swells foley",
)
_add("fx", _MEDIUM, "build buildup hit hits fill fills vinyl glitch")

#: Words that tell nothing about the role (formats, takes, sides, versions).
_IGNORED = frozenset(
    "stem stems track trk tr mix main alt take tk comp final mobile print bounce wav "  # noqa: SIM905
    "flac mp3 m4a l r left right st stereo mono dry wet new old version ver v copy "
    "audio part the and of a in out".split()
)
_VOCAL_WORDS = frozenset(w for w, (r, _) in _WORDS.items() if r == "lead_vocal")
_BACKING_WORDS = frozenset(w for w, (r, _) in _WORDS.items() if r == "backing_vocal")
_DRUM_WORDS = frozenset({"drum", "drums", "drm"})
#: Words that name an effect return: the echo or reverb of another part, mixed as an effect.
_RETURN_WORDS = frozenset(
    {"echo", "echoes", "delay", "delays", "dly", "verb", "reverb", "rvb", "throw", "throws"}
)
_GLUED_MIN_LETTERS = 4


def name_words(name: str) -> list[str]:
    """The words of a stem name: split at separators, camelCase and digits, lower case.

    >>> name_words("6.Caesium_Stem_VOX LEAD")
    ['caesium', 'stem', 'vox', 'lead']
    >>> name_words("leadVox2-L")
    ['lead', 'vox', 'l']
    """
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    # "808" and "b3" keep their digits; other numbers separate words ("Kick1", "Gtr 2").
    words = []
    for part in re.split(r"[\W_]+", spaced):
        if not part:
            continue
        low = part.lower()
        if low in _WORDS:
            words.append(low)
            continue
        words.extend(w for w in re.split(r"\d+", low) if w)
    return [_fold(w) for w in words]


def _fold(word: str) -> str:
    """Lower case without accents ("chœurs" -> "choeurs", "bateria")."""
    table = str.maketrans("àâäáãåçéèêëíìîïñóòôöõúùûüýÿ", "aaaaaaceeeeiiiinooooouuuuyy")
    return word.replace("œ", "oe").replace("æ", "ae").translate(table)


@dataclass(frozen=True)
class RoleGuess(Result):
    """A stem's role with ``confidence`` (0..1), the ``reason`` in words, and where it came
    from (``source``: "name", "audio", "name+audio" or "set" when the set of stems changed
    it)."""

    role: str
    confidence: float
    reason: str
    source: str


def role_from_name(name: str) -> RoleGuess | None:
    """The role a stem's name points to, or ``None`` when no word of it is known."""
    words = [w for w in name_words(name) if w not in _IGNORED]
    if not words:
        return None
    joined = " ".join(words)
    has_vocal = any(w in _VOCAL_WORDS for w in words)
    has_backing = any(w in _BACKING_WORDS for w in words)
    # Combinations first.
    if re.search(r"\bbass ?drum\b", joined) or ("bass" in words and "kick" in words):
        return RoleGuess("kick", 0.95, f'"{name}": a bass drum is the kick', "name")
    returns = [w for w in words if w in _RETURN_WORDS]
    if returns:
        # "Vox Delay", "BGVOX ECHO": the wet return of another part is an effect.
        return RoleGuess(
            "fx", 0.9, f'"{name}": "{returns[0]}" names an effect return (the wet signal)', "name"
        )
    if has_backing:
        word = next(w for w in words if w in _BACKING_WORDS)
        return RoleGuess("backing_vocal", 0.95, f'"{name}": "{word}" names a backing vocal', "name")
    if has_vocal:
        word = next(w for w in words if w in _VOCAL_WORDS)
        return RoleGuess("lead_vocal", 0.9, f'"{name}": "{word}" names a vocal', "name")
    if "bass" in words and any(w in ("synth", "syn", "808", "sub") for w in words):
        return RoleGuess("bass", 0.95, f'"{name}": a synth bass', "name")
    if any(w in _DRUM_WORDS for w in words) and any(
        w in ("kick", "snare", "hat", "hats", "hh", "tom", "toms", "overhead", "overheads", "oh")
        for w in words
    ):
        # "Drum Kick", "Drums OH": the specific word decides.
        words = [w for w in words if w not in _DRUM_WORDS]

    votes: dict[str, float] = {}
    hits: dict[str, list[str]] = {}
    n = len(words)
    for i, word in enumerate(words):
        found = _lookup(word)
        for role, weight, matched in found:
            head_bonus = 0.15 if i == n - 1 else 0.0  # the head noun comes last
            votes[role] = votes.get(role, 0.0) + weight + head_bonus
            hits.setdefault(role, []).append(matched)
    if not votes:
        return None
    ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
    role, score = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    # A strong word at the end of the name gives 0.91, a hint word alone 0.6 to 0.8; a
    # rival role lowers it by the share of the votes it took.
    confidence = 0.45 + 0.4 * min(score, 1.15)
    if runner_up:
        confidence *= 1.0 - 0.5 * runner_up / score
    words_text = ", ".join(f'"{w}"' for w in hits[role])
    reason = f'"{name}": {words_text} → {ROLE_LABELS[role]}'
    if len(ranked) > 1:
        reason += f" (also {', '.join(ROLE_LABELS[r] for r, _ in ranked[1:])})"
    return RoleGuess(role, round(max(0.3, confidence), 2), reason, "name")


def _lookup(word: str) -> list[tuple[str, float, str]]:
    if word in _WORDS:
        role, weight = _WORDS[word]
        return [(role, weight, word)]
    if len(word) < _GLUED_MIN_LETTERS:
        return []
    # Glued words ("leadvocal", "bgvoxhigh"): the longest known words inside, no overlaps.
    found: list[tuple[str, float, str]] = []
    taken = np.zeros(len(word), bool)
    for key in sorted(_WORDS, key=lambda k: (-len(k), k)):
        if len(key) < _GLUED_MIN_LETTERS:
            continue
        start = word.find(key)
        if start >= 0 and not taken[start : start + len(key)].any():
            taken[start : start + len(key)] = True
            role, weight = _WORDS[key]
            found.append((role, weight * 0.9, key))
    return found


# --- sound ---------------------------------------------------------------------------------

_FRAME = 2048
_ENVELOPE_S = 0.005
_ACTIVE_RANGE_DB = 45.0
_SILENCE_DBFS = -75.0
_VOICED = 0.6  # normalised autocorrelation peak of a voiced (periodic) frame
_MIN_F0_HZ, _MAX_F0_HZ = 40.0, 1000.0
#: Most frames whose spectra are analysed, in runs of consecutive frames.
_MAX_SPECTRA = 512
_RUN = 16


@dataclass(frozen=True)
class RoleFeatures(Result):
    """What :func:`role_features` measured (over the frames where the stem plays).

    ``active_fraction``: share of the duration where it plays; ``centroid_hz``: spectral
    centroid of the summed power spectrum; ``low_share``/``high_share``: energy below
    120 Hz / above 5 kHz over the total; ``flatness``: median spectral flatness (0 tone ..
    1 white noise); ``envelope_range_db``: 95th minus 20th percentile of the 5 ms RMS
    envelope in dB (percussive sounds: 25 dB and more); ``onset_rate_hz``: onsets per
    second of playing time; ``decay_db``: median fall of the level from an onset's peak to
    150-250 ms later (a drum hit dies away, a held note does not); ``voiced_fraction``:
    share of frames whose autocorrelation peak reaches 0.6; ``periodicity``: median
    autocorrelation peak; ``f0_median_hz``: median fundamental of the voiced frames;
    ``lowest_peak_ratio``: median ratio of the lowest strong spectral peak to the
    fundamental in voiced frames (about 1 for one voice, 3 or more for a chord, whose
    common period lies below all of its notes); ``chroma_peak_share``: median share of the
    strongest pitch class in the energy between 200 Hz and 3 kHz (one harmonic voice puts
    most of it in its own pitch class, about 0.6 to 0.9; a chord spreads it, 0.5 and
    less); ``pitch_flutter_cents``: median frame-to-frame pitch
    change within notes; ``pitch_fall``: the share of consecutive voiced frames whose pitch
    falls by more than 15 cents less the share where it rises (a tuned kick drum's pitch
    falls after every hit: 0.2 and more; sung or played notes move both ways: about 0);
    ``stereo_width``: side energy over mid plus side; ``crest_db``: peak over RMS inside
    the 400 ms windows where it plays (their median); ``rms_dbfs``: RMS of the playing part;
    ``low_edge_hz``: the frequency below which 1 % of the energy lies; ``band_levels_db``:
    the energy in each third-octave band of :data:`BAND_CENTRES_HZ` relative to the total
    (dB, floored at -120), the stem's long-term spectrum; ``balance_db``: the right
    channel's energy over the left's (dB; positive: placed to the right).
    """

    active_fraction: float
    centroid_hz: float
    low_share: float
    high_share: float
    flatness: float
    envelope_range_db: float
    onset_rate_hz: float
    decay_db: float
    voiced_fraction: float
    periodicity: float
    f0_median_hz: float
    lowest_peak_ratio: float
    chroma_peak_share: float
    pitch_flutter_cents: float
    pitch_fall: float
    stereo_width: float
    crest_db: float
    rms_dbfs: float
    low_edge_hz: float = 0.0
    band_levels_db: tuple[float, ...] = ()
    balance_db: float = 0.0

    @property
    def silent(self) -> bool:
        return self.active_fraction == 0.0


_CREST_WINDOW_S = 0.4


def _playing(power: np.ndarray) -> np.ndarray:
    """Where a stem plays: mean squares within :data:`_ACTIVE_RANGE_DB` of its loudest and
    above :data:`_SILENCE_DBFS`."""
    loudest = float(power.max())
    return (power > loudest * 10 ** (-_ACTIVE_RANGE_DB / 10)) & (power > 10 ** (_SILENCE_DBFS / 10))


def _window_crest_db(body: np.ndarray, frame_ms: np.ndarray, sr: int) -> float:
    """The crest factor of the sound itself: the median, over the windows of
    :data:`_CREST_WINDOW_S` where the stem plays, of peak over RMS (dB). A song whose
    verse is quieter than its chorus has a large crest factor over the whole song but
    not inside its notes; a compressor acts on the second."""
    per = max(1, round(_CREST_WINDOW_S * sr / _FRAME))
    n = len(frame_ms) // per
    if n == 0:
        per, n = len(frame_ms), 1
    frames = body[:, : n * per]
    peak = np.maximum(frames.max(axis=2), -frames.min(axis=2)).max(axis=0)
    peak = peak.reshape(n, per).max(axis=1)
    power = frame_ms[: n * per].reshape(n, per).mean(axis=1)
    playing = _playing(power)
    if not playing.any():
        return 0.0
    return float(np.median(10 * np.log10(peak[playing] ** 2 / power[playing])))


def role_features(audio: Audio) -> RoleFeatures:
    """Measure the features :func:`role_from_audio` reads (see the module docstring).

    The spectral features are measured on at most :data:`_MAX_SPECTRA` frames where the
    stem plays, in runs of :data:`_RUN` consecutive frames spread evenly over them (a
    sample of the whole song that keeps notes whole for the pitch flutter): about 0.1 s
    for 4 minutes of stereo at 48 kHz on one core.
    """
    x = audio.samples
    sr = audio.sample_rate
    mono = (x[0] + x[1]) * np.float32(0.5) if x.shape[0] == 2 else x.mean(axis=0, dtype=np.float32)
    n_frames = len(mono) // _FRAME
    if n_frames == 0:
        mono = np.pad(mono, (0, _FRAME - len(mono)))
        x = np.pad(x, ((0, 0), (0, _FRAME - x.shape[1])))
        n_frames = 1
    frames = mono[: n_frames * _FRAME].reshape(n_frames, _FRAME)
    # Activity and level from the channels' own power (an anti-phase pair sums to nothing
    # in mono but still plays).
    body = x[:, : n_frames * _FRAME].reshape(x.shape[0], n_frames, _FRAME)
    # float32 sums (1e-6 relative error here) run three times faster than float64 ones.
    frame_ms = np.einsum("cij,cij->i", body, body).astype(np.float64) / (_FRAME * x.shape[0])
    loudest = float(frame_ms.max())
    if loudest <= 10 ** (_SILENCE_DBFS / 10):
        return _silent_features()
    active = _playing(frame_ms)
    playing_idx = np.flatnonzero(active)
    idx = _sample_runs(playing_idx)
    padded = _power_spectra(frames[idx])  # (active frames, 2 N point bins)
    spec = padded[:, ::2]  # the N-point spectrum: every other bin of the zero-padded one
    freqs = np.fft.rfftfreq(_FRAME, 1.0 / sr)
    total = spec.sum(axis=0, dtype=np.float64)
    energy = float(total.sum()) or 1e-30
    centroid = float((total * freqs).sum() / energy)
    low_share = float(total[freqs < 120.0].sum() / energy)
    high_share = float(total[freqs > 5000.0].sum() / energy)
    cumulative = np.cumsum(total) / energy
    low_edge = float(freqs[min(int(np.searchsorted(cumulative, 0.01)), len(freqs) - 1)])
    band_db = _third_octave_levels(total, freqs, energy)
    band = (freqs >= 100.0) & (freqs <= min(10_000.0, 0.45 * sr))
    p = spec[:, band] + 1e-20
    flat = np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)
    flatness = float(np.median(flat))

    periodicity, f0 = _autocorrelation_pitch(padded, sr)
    voiced = periodicity >= _VOICED
    flutter, fall = _pitch_motion(f0, voiced, idx)
    lowest_ratio = _lowest_peak_ratio(spec, freqs, f0, voiced)
    chroma_share = _chroma_peak_share(padded, sr, voiced)
    env_range, onset_rate, decay = _envelope(mono, sr, active, n_frames)

    rms = math.sqrt(float(np.mean(frame_ms[playing_idx])))
    crest = _window_crest_db(body, frame_ms, sr)
    if x.shape[0] >= 2:
        left = x[0, : n_frames * _FRAME].reshape(n_frames, _FRAME)[idx]
        right = x[1, : n_frames * _FRAME].reshape(n_frames, _FRAME)[idx]
        mid_e = float(np.sum(np.square(left + right, dtype=np.float64)))
        side_e = float(np.sum(np.square(left - right, dtype=np.float64)))
        width = side_e / (mid_e + side_e) if mid_e + side_e > 0 else 0.0
        left_e = float(np.sum(np.square(left, dtype=np.float64)))
        right_e = float(np.sum(np.square(right, dtype=np.float64)))
        tiny = 1e-12 * (left_e + right_e)  # a silent side reads as 120 dB down, clipped below
        balance = 10 * math.log10((right_e + tiny) / (left_e + tiny)) if left_e + right_e else 0.0
    else:
        width = balance = 0.0
    return RoleFeatures(
        active_fraction=round(len(playing_idx) / n_frames, 4),
        centroid_hz=round(centroid, 1),
        low_share=round(low_share, 4),
        high_share=round(high_share, 4),
        flatness=round(flatness, 4),
        envelope_range_db=round(env_range, 2),
        onset_rate_hz=round(onset_rate, 3),
        decay_db=round(decay, 2),
        voiced_fraction=round(float(voiced.mean()), 4),
        periodicity=round(float(np.median(periodicity)), 4),
        f0_median_hz=round(float(np.median(f0[voiced])) if voiced.any() else 0.0, 1),
        lowest_peak_ratio=round(lowest_ratio, 3),
        chroma_peak_share=round(chroma_share, 3),
        pitch_flutter_cents=round(flutter, 2),
        pitch_fall=round(fall, 3),
        stereo_width=round(width, 4),
        balance_db=round(float(np.clip(balance, -60.0, 60.0)), 2),
        crest_db=round(crest, 2),
        rms_dbfs=round(20 * math.log10(rms) if rms > 0 else -200.0, 2),
        low_edge_hz=round(low_edge, 1),
        band_levels_db=band_db,
    )


#: Centres of the third-octave bands of ``RoleFeatures.band_levels_db`` (IEC 61260 base-10
#: centres 10^(n/10) rounded as usual: 25 Hz .. 16 kHz).
BAND_CENTRES_HZ: tuple[float, ...] = tuple(round(10 ** (n / 10), 1) for n in range(14, 43))


def _third_octave_levels(total: np.ndarray, freqs: np.ndarray, energy: float) -> tuple[float, ...]:
    """Energy per third-octave band relative to ``energy`` (dB): the power density of the
    bins, interpolated on a grid of 16 points per band and integrated, so that the low
    bands, narrower than one bin, still get their share."""
    centres = np.asarray(BAND_CENTRES_HZ)
    df = freqs[1] - freqs[0]
    density = total / df
    steps = (np.arange(16) + 0.5) / 16 - 0.5  # fractions of a band, centred
    grid = centres[:, None] * 10 ** (0.1 * steps[None, :])
    width = centres * (10**0.05 - 10**-0.05)
    sums = np.interp(grid, freqs, density).mean(axis=1) * width
    with np.errstate(divide="ignore"):
        levels = 10 * np.log10(sums / energy)
    return tuple(round(float(v), 2) for v in np.maximum(levels, -120.0))


def _sample_runs(idx: np.ndarray) -> np.ndarray:
    """At most :data:`_MAX_SPECTRA` of the frame indices ``idx``: runs of :data:`_RUN`
    consecutive entries, their starts spread evenly."""
    if len(idx) <= _MAX_SPECTRA:
        return idx
    n_runs = _MAX_SPECTRA // _RUN
    starts = np.linspace(0, len(idx) - _RUN, n_runs).astype(int)
    return idx[(starts[:, None] + np.arange(_RUN)[None, :]).ravel()]


def _silent_features() -> RoleFeatures:
    zeros = dict.fromkeys((f.name for f in dataclasses.fields(RoleFeatures)), 0.0)
    floor = (-120.0,) * len(BAND_CENTRES_HZ)
    return RoleFeatures(**{**zeros, "rms_dbfs": -200.0, "band_levels_db": floor})


def _power_spectra(frames: np.ndarray) -> np.ndarray:
    """Power spectra of the Hann-windowed frames zero-padded to twice their length."""
    out = np.empty((len(frames), _FRAME + 1), np.float32)
    window = hann(_FRAME)
    for start in range(0, len(frames), 256):
        block = frames[start : start + 256] * window
        spec = scipy.fft.rfft(block, n=2 * _FRAME, axis=1, workers=1)
        out[start : start + 256] = spec.real**2 + spec.imag**2
    return out


_WINDOW_AC: np.ndarray | None = None


def _window_autocorrelation() -> np.ndarray:
    global _WINDOW_AC
    if _WINDOW_AC is None:
        w = hann(_FRAME).astype(np.float64)
        spec = np.abs(np.fft.rfft(w, 2 * _FRAME)) ** 2
        ac = np.fft.irfft(spec)[:_FRAME]
        _WINDOW_AC = ac / ac[0]
    return _WINDOW_AC


def _autocorrelation_pitch(spec: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: the normalised autocorrelation peak in the pitch range and its f0 (Hz).

    The autocorrelation is the inverse FFT of the power spectrum of the frame zero-padded
    to twice its length (so it is linear, not circular), divided by the window's
    autocorrelation (Boersma 1993), and searched for its highest peak between 1/1000 s and
    1/40 s lags (at most 60 % of the frame).
    """
    lo = max(2, int(sr / _MAX_F0_HZ))
    hi = min(int(sr / _MIN_F0_HZ), int(_FRAME * 0.6))
    wac = _window_autocorrelation()[lo : hi + 2]
    peaks = np.zeros(len(spec))
    f0 = np.zeros(len(spec))
    for start in range(0, len(spec), 256):
        block = spec[start : start + 256]
        ac = scipy.fft.irfft(block, axis=1, workers=1)
        energy = ac[:, :1]
        ac = ac[:, lo : hi + 2] / np.maximum(energy, 1e-30) / wac
        inner = ac[:, 1:-1]
        is_peak = (inner >= ac[:, :-2]) & (inner >= ac[:, 2:])
        masked = np.where(is_peak, inner, -np.inf)
        # Prefer the shortest lag within 10 % of the best peak (avoids octave-down errors).
        best = masked.max(axis=1, keepdims=True)
        candidates = masked >= 0.9 * best
        first = np.argmax(candidates, axis=1)
        rows = np.arange(len(block))
        value = inner[rows, first]
        a, b, c = ac[rows, first], ac[rows, first + 1], ac[rows, first + 2]
        denom = a - 2 * b + c
        shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0)
        lag = lo + first + 1 + np.clip(shift, -0.5, 0.5)
        ok = np.isfinite(value)
        peaks[start : start + len(block)] = np.where(ok, np.clip(value, 0.0, 1.0), 0.0)
        f0[start : start + len(block)] = np.where(ok, sr / lag, 0.0)
    return peaks, f0


def _pitch_motion(f0: np.ndarray, voiced: np.ndarray, idx: np.ndarray) -> tuple[float, float]:
    """Pitch flutter (median |change| in cents between consecutive voiced frames of one
    note) and pitch fall (share of falls less share of rises by more than 15 cents, over
    consecutive voiced frames less than half an octave apart)."""
    both = voiced[1:] & voiced[:-1] & (np.diff(idx) == 1)
    if both.sum() < 8:
        return 0.0, 0.0
    signed = 1200.0 * np.log2(f0[1:][both] / f0[:-1][both])
    cents = np.abs(signed)
    within = cents[cents < 80.0]  # a bigger step is a new note
    flutter = float(np.median(within)) if len(within) >= 8 else 0.0
    near = signed[cents < 600.0]
    fall = float((np.sum(near < -15.0) - np.sum(near > 15.0)) / len(near)) if len(near) else 0.0
    return flutter, fall


def _lowest_peak_ratio(
    spec: np.ndarray, freqs: np.ndarray, f0: np.ndarray, voiced: np.ndarray
) -> float:
    """Median over voiced frames of (lowest spectral peak within 20 dB of the frame's
    strongest, above 30 Hz) / f0."""
    rows = np.flatnonzero(voiced)
    if len(rows) == 0:
        return 0.0
    if len(rows) > 400:  # an even subset is plenty for a median
        rows = rows[np.linspace(0, len(rows) - 1, 400).astype(int)]
    lo = int(np.searchsorted(freqs, 30.0))
    p = spec[rows, lo:]
    strong = p >= p.max(axis=1, keepdims=True) * 0.01
    inner = strong[:, 1:-1] & (p[:, 1:-1] >= p[:, :-2]) & (p[:, 1:-1] >= p[:, 2:])
    has = inner.any(axis=1)
    if not has.any():
        return 0.0
    first = np.argmax(inner, axis=1) + 1 + lo
    ratio = freqs[first] / np.maximum(f0[rows], 1e-9)
    return float(np.median(ratio[has]))


def _chroma_peak_share(padded: np.ndarray, sr: int, voiced: np.ndarray) -> float:
    """Median over voiced frames of the strongest pitch class's share of the energy
    between 200 Hz and 3 kHz (bins of the zero-padded spectrum, 1/2 the frame rate's
    resolution: a semitone is wider than a bin from about 200 Hz up)."""
    rows = np.flatnonzero(voiced)
    if len(rows) == 0:
        return 0.0
    freqs = np.fft.rfftfreq(2 * _FRAME, 1.0 / sr)
    band = (freqs >= 200.0) & (freqs <= 3000.0)
    pitch_class = np.round(12 * np.log2(freqs[band] / 440.0)).astype(int) % 12
    onehot = np.zeros((band.sum(), 12), np.float32)
    onehot[np.arange(band.sum()), pitch_class] = 1.0
    chroma = padded[rows][:, band] @ onehot  # (frames, 12)
    total = chroma.sum(axis=1)
    ok = total > 0
    if not ok.any():
        return 0.0
    return float(np.median(chroma[ok].max(axis=1) / total[ok]))


def _envelope(
    mono: np.ndarray, sr: int, active: np.ndarray, n_frames: int
) -> tuple[float, float, float]:
    """Envelope range (dB), onset rate (per second of playing time) and the median decay
    150-250 ms after an onset (dB), from the 5 ms RMS envelope."""
    hop = max(1, round(_ENVELOPE_S * sr))
    n = len(mono) // hop
    if n < 4:
        return 0.0, 0.0, 0.0
    blocks = mono[: n * hop].reshape(n, hop)
    ms = np.einsum("ij,ij->i", blocks, blocks).astype(np.float64) / hop
    # Keep the 5 ms blocks inside active analysis frames.
    frame_of_block = np.minimum((np.arange(n) * hop) // _FRAME, n_frames - 1)
    keep = active[frame_of_block]
    if keep.sum() < 4:
        return 0.0, 0.0, 0.0
    level = 10 * np.log10(ms + 1e-12)
    playing = level[keep]
    env_range = float(np.percentile(playing, 95) - np.percentile(playing, 20))
    # Onsets: the level jumps by 9 dB or more within 15 ms, and it is not quiet.
    lag = 3
    rise = level[lag:] - level[:-lag]
    loud = level[lag:] > float(np.percentile(playing, 95)) - 30.0
    hit = (rise >= 9.0) & loud & keep[lag:]
    starts = np.flatnonzero(hit[1:] & ~hit[:-1]) + 1
    # At most one onset per 50 ms.
    kept: list[int] = []
    gap = max(1, round(0.05 / _ENVELOPE_S))
    for s in starts + lag:
        if not kept or s - kept[-1] >= gap:
            kept.append(int(s))
    playing_s = keep.sum() * hop / sr
    rate = len(kept) / playing_s if playing_s > 0 else 0.0
    # Decay: peak within 30 ms of the onset against the mean level 150-250 ms after it,
    # for onsets with no other onset in those 250 ms.
    peak_n, a_n, b_n = (
        round(0.03 / _ENVELOPE_S),
        round(0.15 / _ENVELOPE_S),
        round(0.25 / _ENVELOPE_S),
    )
    falls = []
    for i, s in enumerate(kept):
        nxt = kept[i + 1] if i + 1 < len(kept) else n
        if nxt - s < b_n or s + b_n > n:
            continue
        falls.append(float(level[s : s + peak_n].max() - level[s + a_n : s + b_n].mean()))
    decay = float(np.median(falls)) if falls else 0.0
    return env_range, rate, decay


def _ramp(value: float, low: float, high: float) -> float:
    """0 at ``low``, 1 at ``high``, linear between (reversed when low > high)."""
    if low == high:
        return float(value >= high)
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def _audio_scores(f: RoleFeatures) -> dict[str, float]:
    """Scores 0..1 of each role for the features (physically motivated fuzzy rules)."""
    percussive = _ramp(f.envelope_range_db, 15.0, 30.0) * _ramp(f.voiced_fraction, 0.7, 0.3)
    sustained = 1.0 - _ramp(f.envelope_range_db, 12.0, 28.0)
    tonal = _ramp(f.flatness, 0.25, 0.05)
    pitched = _ramp(f.voiced_fraction, 0.3, 0.7)
    # One voice: the lowest peak is the fundamental and one pitch class dominates; a chord
    # has a common period below its notes and spreads over several pitch classes.
    one_voice = (
        pitched * _ramp(f.lowest_peak_ratio, 1.6, 1.3) * _ramp(f.chroma_peak_share, 0.4, 0.5)
    )
    chordal = (
        tonal
        * pitched
        * max(_ramp(f.lowest_peak_ratio, 1.4, 1.8), _ramp(f.chroma_peak_share, 0.45, 0.38))
    )
    low = _ramp(f.low_share, 0.2, 0.6)
    bright = _ramp(f.centroid_hz, 3000.0, 7000.0) * _ramp(f.high_share, 0.2, 0.5)
    mid = _ramp(f.centroid_hz, 500.0, 1200.0) * _ramp(f.centroid_hz, 6000.0, 3500.0)
    no_low = _ramp(f.low_share, 0.3, 0.05)
    vibrato = _ramp(f.pitch_flutter_cents, 2.5, 5.0) * _ramp(f.pitch_fall, 0.2, 0.1)
    # A tuned kick drum's pitch falls after each hit (the membrane relaxes) ...
    sweep = _ramp(f.pitch_fall, 0.08, 0.2) * _ramp(f.f0_median_hz, 150.0, 90.0) * low
    # ... and any kick is a low sound that comes and goes with the beat.
    thump = _ramp(f.envelope_range_db, 10.0, 15.0) * _ramp(f.low_share, 0.6, 0.8)
    f0 = f.f0_median_hz if f.f0_median_hz else 1000.0
    return {
        "kick": low * _ramp(f.centroid_hz, 1500.0, 300.0) * max(percussive, sweep, thump),
        "snare": percussive * mid * no_low * _ramp(f.flatness, 0.02, 0.1),
        "hats": max(percussive, 0.5) * bright * no_low,
        "drums": percussive * _ramp(f.low_share, 0.03, 0.15) * _ramp(f.high_share, 0.03, 0.15),
        "bass": low
        * _ramp(f0, 250.0, 120.0)
        * max(one_voice, tonal)
        * (1.0 - percussive)
        * (1.0 - max(sweep, thump)),
        "lead_vocal": one_voice * vibrato * _ramp(f0, 90.0, 150.0) * no_low,
        "synth": one_voice * (1.0 - vibrato) * no_low * _ramp(f0, 120.0, 200.0),
        "keys": chordal * no_low * (1.0 - 0.5 * sustained) * (1.0 - percussive),
        "pad": chordal * no_low * sustained,
        "fx": _ramp(f.flatness, 0.2, 0.45) * (1.0 - percussive) * (1.0 - bright),
    }


def _describe(f: RoleFeatures) -> str:
    parts = [
        f"centroid {f.centroid_hz:.0f} Hz",
        f"{100 * f.low_share:.0f} % below 120 Hz",
        f"{100 * f.high_share:.0f} % above 5 kHz",
        f"envelope range {f.envelope_range_db:.0f} dB",
        f"{100 * f.voiced_fraction:.0f} % pitched",
    ]
    if f.voiced_fraction >= 0.3:
        parts.append(f"f0 {f.f0_median_hz:.0f} Hz, flutter {f.pitch_flutter_cents:.0f} cents")
    parts.append(f"flatness {f.flatness:.2f}")
    return ", ".join(parts)


def role_from_audio(features: RoleFeatures) -> RoleGuess:
    """The role the sound points to (see the module docstring); ``other`` when no rule
    fits, with confidence 0."""
    if features.silent:
        return RoleGuess("other", 0.0, "silent: nothing to hear", "audio")
    scores = _audio_scores(features)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], ROLES.index(kv[0])))
    role, best = ranked[0]
    second = ranked[1][1]
    if best < 0.15:
        return RoleGuess("other", 0.0, f"no role fits its sound ({_describe(features)})", "audio")
    confidence = min(0.9, best * (0.5 + (best - second) / max(best, 1e-9)))
    reason = f"sounds like {ROLE_LABELS[role]}: {_describe(features)}"
    return RoleGuess(role, round(confidence, 2), reason, "audio")


def detect_role(
    name: str, audio: Audio | None = None, *, features: RoleFeatures | None = None
) -> RoleGuess:
    """One stem's role from its name and (if given) its sound (see the module docstring)."""
    by_name = role_from_name(name)
    if audio is None and features is None:
        return by_name or RoleGuess("other", 0.0, f'"{name}": no known word', "name")
    f = features if features is not None else role_features(audio)  # type: ignore[arg-type]
    by_audio = role_from_audio(f)
    if by_name is None:
        return by_audio
    if (
        by_name.role in _ANY_FUNCTION
        and by_audio.role == "bass"
        and by_audio.confidence >= NAME_WINS_CONFIDENCE
    ):
        # The name says which instrument; the sound says it plays the bass line.
        return RoleGuess(
            "bass",
            round(min(by_name.confidence, by_audio.confidence), 2),
            f"{by_name.reason}, playing the bass line: {by_audio.reason}",
            "name+audio",
        )
    if by_name.role == by_audio.role or _compatible(by_name.role, by_audio.role):
        conf = min(0.99, by_name.confidence + 0.5 * by_audio.confidence * (1 - by_name.confidence))
        return RoleGuess(
            by_name.role, round(conf, 2), f"{by_name.reason}; the sound agrees", "name+audio"
        )
    if by_name.confidence >= NAME_WINS_CONFIDENCE or by_audio.confidence < by_name.confidence:
        return RoleGuess(
            by_name.role,
            by_name.confidence,
            f"{by_name.reason} (the sound suggests {ROLE_LABELS[by_audio.role]})",
            "name",
        )
    return RoleGuess(
        by_audio.role,
        by_audio.confidence,
        f"{by_audio.reason} (the name suggested {ROLE_LABELS[by_name.role]})",
        "audio",
    )


#: Instruments whose name does not say their function in the mix (a synth or keys may
#: play the bass line).
_ANY_FUNCTION = frozenset({"synth", "keys", "guitar", "other"})

_FAMILIES = (
    {"kick", "snare", "hats", "drums"},
    {"lead_vocal", "backing_vocal"},
    {"keys", "pad", "synth", "guitar"},
)


def _compatible(a: str, b: str) -> bool:
    return any(a in fam and b in fam for fam in _FAMILIES)


def detect_roles(
    stems: Mapping[str, Audio] | Iterable[tuple[str, Audio]],
    *,
    features: Mapping[str, RoleFeatures] | None = None,
) -> dict[str, RoleGuess]:
    """The role of every stem, keyed by name in sorted order (see the module docstring).

    When more than one stem is a lead vocal, the one that sings longest (ties: the
    first name) stays lead and the others become backing vocals.
    """
    items = dict(stems.items() if isinstance(stems, Mapping) else stems)
    feats = dict(features or {})
    for name in sorted(items):
        if name not in feats:
            feats[name] = role_features(items[name])
    guesses = {name: detect_role(name, features=feats[name]) for name in sorted(items)}
    leads = [n for n, g in guesses.items() if g.role == "lead_vocal"]
    if len(leads) > 1:
        named = [n for n in leads if guesses[n].source != "audio"]
        pool = named or leads
        keep = min(pool, key=lambda n: (-feats[n].active_fraction, n))
        for n in leads:
            if n != keep:
                g = guesses[n]
                guesses[n] = RoleGuess(
                    "backing_vocal",
                    round(min(g.confidence, 0.7), 2),
                    f"{g.reason}; another vocal ({keep}) sings longer, so this one backs it",
                    "set",
                )
    return guesses
