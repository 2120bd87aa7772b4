"""Tempo for :func:`stemforge.analysis.rhythm.rhythm`: periodicity of the onset novelty,
the choice of metrical level (the tempo octave), loops, and tempo figures from beats.

See the :mod:`stemforge.analysis.rhythm` docstring for the method as a whole.
"""

from __future__ import annotations

import math

import numpy as np

from stemforge.analysis.beats import (
    FRAME_RATE_HZ,
    local_period,
    running_median,
    track_beats,
)
from stemforge.analysis.common import TimeSeries

MIN_BPM, MAX_BPM = 30.0, 300.0
#: Tempos where the first tracking pass may start, and where levels may end up.
SEED_RANGE_BPM = (40.0, 240.0)
LEVEL_RANGE_BPM = (35.0, 260.0)
#: The pulse score above which a level's weaker pulses are beats, and what each octave
#: that a level lies further outside the preferred range adds to it.
LEVEL_THRESHOLD = 0.9
RANGE_WEIGHT = 0.4
#: A grouping of pulses whose strong phase leads by this many standard errors is real.
MIN_SPLIT_Z = 2.0
#: A metrical level's period must show at least this autocorrelation of the novelty.
MIN_LEVEL_ACF = 0.1
#: Clips up to this long that start on an onset may be loops cut at bar lines.
LOOP_MAX_S = 30.0
LOOP_BEATS = np.array([3, 4, 6, 8, 12, 16, 24, 32, 48, 64], np.float64)
LOOP_TOLERANCE = 0.06
#: A loop's exact beat grid must catch this much of the novelty above chance, and this
#: share of what freely tracked beats catch.
LOOP_MIN_ALIGNMENT = 0.15
LOOP_MIN_RELATIVE = 0.6


# --- periodicity --------------------------------------------------------------------------


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Unbiased autocorrelation of ``x`` less its mean, normalised to r(0) = 1."""
    n = len(x)
    y = x - x.mean()
    size = 1 << math.ceil(math.log2(max(2 * n, 2)))
    spec = np.fft.rfft(y, size)
    r = np.fft.irfft(spec.real**2 + spec.imag**2, size)[:n]
    r /= n - np.arange(n)
    return r / r[0] if r[0] > 0 else np.zeros(n)


def salience(r: np.ndarray, tempo_bpm: np.ndarray) -> np.ndarray:
    """Mean autocorrelation at the first four multiples of each tempo's period (lags up
    to half the signal): the harmonic enhancement of Percival & Tzanetakis (2014)."""
    period = 60.0 * FRAME_RATE_HZ / np.asarray(tempo_bpm, np.float64)
    max_lag = (len(r) - 1) / 2
    total = np.zeros(period.shape)
    count = np.zeros(period.shape)
    lags = np.arange(len(r))
    for k in (1, 2, 3, 4):
        lag = k * period
        ok = lag <= max_lag
        total[ok] += np.interp(lag[ok], lags, r)
        count[ok] += 1
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def periodicity(r: np.ndarray, tempo_bpm: float, tolerance: float = 0.02) -> float:
    """The largest autocorrelation within ``tolerance`` of the tempo's period."""
    period = 60.0 * FRAME_RATE_HZ / tempo_bpm
    lags = np.linspace((1 - tolerance) * period, (1 + tolerance) * period, 9)
    lags = lags[lags < len(r) - 1]
    return float(np.interp(lags, np.arange(len(r)), r).max()) if len(lags) else 0.0


def seed_tempo(r: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """(seed tempo, tempo grid, salience on it): the salience peak between 40 and 240 BPM
    weighted by a broad log-normal around 120 BPM (sd 1.5 octaves); the metrical level
    is chosen afterwards, so this only says where to start."""
    grid = np.geomspace(MIN_BPM, MAX_BPM, 720)
    sal = salience(r, grid)
    weighted = sal * np.exp(-0.5 * (np.log2(grid / 120.0) / 1.5) ** 2)
    sel = (grid >= SEED_RANGE_BPM[0]) & (grid <= SEED_RANGE_BPM[1])
    return float(grid[sel][np.argmax(weighted[sel])]), grid, sal


# --- loops --------------------------------------------------------------------------------


def whole_beats(tempo_bpm: float, duration_s: float) -> bool:
    """Whether a clip of ``duration_s`` holds a whole number of beats (at least 2,
    within a quarter beat) at the tempo: the levels a loop can have."""
    count = tempo_bpm * duration_s / 60.0
    return count >= 1.75 and abs(count - round(count)) <= 0.25


def loop_tempo(
    novelty: np.ndarray, duration_s: float, r: np.ndarray, grid: np.ndarray, sal: np.ndarray
) -> float | None:
    """The tempo that makes a short clip a whole number of bars, or None.

    A clip is taken for a loop cut at bar lines (as sample libraries cut them and as
    loop-based tools assume) when it lasts at most LOOP_MAX_S, starts on an onset
    (within 50 ms), one of its four strongest periodicities lies within 6 % of a tempo
    giving it 1 to 16 bars of 3 or 4 beats, and that tempo's exact beat grid from the
    first sample catches the onsets (:func:`grid_alignment` within 58 ms at least
    LOOP_MIN_ALIGNMENT, and at least LOOP_MIN_RELATIVE of that of beats tracked freely
    near the tempo, up to the last of them). That exact tempo is returned.
    """
    if duration_s > LOOP_MAX_S or novelty.max() <= 0:
        return None
    first = int(np.argmax(novelty > 0.2 * novelty.max()))
    if first / FRAME_RATE_HZ > 0.05:
        return None
    loop_bpm = 60.0 * LOOP_BEATS / duration_s
    inner = (sal[1:-1] > sal[:-2]) & (sal[1:-1] >= sal[2:])
    peaks = np.flatnonzero(inner) + 1
    peaks = peaks[(grid[peaks] >= SEED_RANGE_BPM[0]) & (grid[peaks] <= MAX_BPM)]
    peaks = peaks[np.argsort(sal[peaks])[::-1]]
    peaks = [p for p in peaks if periodicity(r, grid[p]) >= MIN_LEVEL_ACF][:4]
    for p in peaks:
        dist = np.abs(np.log(loop_bpm / grid[p]))
        k = int(np.argmin(dist))
        in_range = SEED_RANGE_BPM[0] <= loop_bpm[k] <= SEED_RANGE_BPM[1]
        if dist[k] <= math.log1p(LOOP_TOLERANCE) and in_range:
            # The exact grid, from the first sample, must catch the onsets, nearly as
            # well as beats tracked freely near that tempo.
            period = 60.0 * FRAME_RATE_HZ / loop_bpm[k]
            free_beats = track_beats(novelty, period, tightness=100.0)
            span = novelty[: int(free_beats[-1] + period / 2) + 1] if len(free_beats) else novelty
            exact = grid_alignment(span, np.arange(0.0, len(span), period), 5)
            free = grid_alignment(span, free_beats, 5)
            if exact >= max(LOOP_MIN_ALIGNMENT, LOOP_MIN_RELATIVE * free):
                return float(loop_bpm[k])
    return None


def grid_alignment(novelty: np.ndarray, grid: np.ndarray, radius: int) -> float:
    """The share of the novelty within ``radius`` frames of the grid points, above its
    chance level (the share of frames so covered), as a fraction of the way to 1."""
    n = len(novelty)
    mask = np.zeros(n, bool)
    idx = np.round(grid).astype(np.int64)
    for k in range(-radius, radius + 1):
        mask[np.clip(idx + k, 0, n - 1)] = True
    total = novelty.sum()
    chance = float(mask.mean())
    if total <= 0 or chance >= 1.0:
        return 0.0
    return (float(novelty[mask].sum() / total) - chance) / (1.0 - chance)


# --- metrical level -----------------------------------------------------------------------


def pulse_profiles(bands: np.ndarray, pulses: np.ndarray, radius: int = 2) -> np.ndarray:
    """The band-flux profile (a row of ``bands``) of the strongest frame within
    ``radius`` frames of each pulse."""
    strength = bands.sum(axis=1)
    n = len(strength)
    idx = np.clip(np.round(pulses).astype(np.int64), 0, n - 1)
    window = np.clip(idx[:, None] + np.arange(-radius, radius + 1)[None, :], 0, n - 1)
    best = window[np.arange(len(idx)), np.argmax(strength[window], axis=1)]
    return bands[best].astype(np.float64)


def pulse_score(reference: np.ndarray, other: np.ndarray) -> float:
    """``ratio + 3 * excess`` of the mean ``other`` profile against the mean
    ``reference`` profile: ``ratio`` is their total flux relative to the reference's,
    ``excess`` the share of it by which ``other`` is stronger band by band."""
    if len(reference) == 0 or len(other) == 0:
        return 0.0
    ref = reference.mean(axis=0)
    oth = other.mean(axis=0)
    total = ref.sum()
    if total <= 0:
        return 0.0
    return float((oth.sum() + 3.0 * np.maximum(oth - ref, 0.0).sum()) / total)


def split_score(profiles: np.ndarray, parts: int) -> tuple[float, int, float]:
    """(score, phase, contrast z): the pulses split into ``parts`` phases, the weaker
    phases scored against the strongest. A low score means the pulses alternate strong
    and weak, so they subdivide a level ``parts`` times slower whose beats are the
    strong phase. ``z`` is the strong phase's lead in total flux over the others in
    standard errors: under 2, the phases do not differ beyond chance."""
    usable = len(profiles) // parts * parts
    if usable < 2 * parts:
        return math.inf, 0, 0.0
    totals = profiles[:usable].sum(axis=1).reshape(-1, parts)
    strong = int(np.argmax(totals.mean(axis=0)))
    rest = np.delete(totals, strong, axis=1).ravel()
    se = math.sqrt(totals[:, strong].var() / len(totals) + rest.var() / len(rest))
    z = (totals[:, strong].mean() - rest.mean()) / se if se > 0 else math.inf
    others = np.concatenate([profiles[p:usable:parts] for p in range(parts) if p != strong])
    return pulse_score(profiles[strong:usable:parts], others), strong, float(z)


def octave_distance(tempo_bpm: float, low: float, high: float) -> float:
    """How far outside [low, high] the tempo lies, in octaves (0 inside)."""
    if low <= tempo_bpm <= high:
        return 0.0
    return abs(math.log2(tempo_bpm / (low if tempo_bpm < low else high)))


def choose_level(
    novelty: np.ndarray,
    bands: np.ndarray,
    r: np.ndarray,
    beats: np.ndarray,
    preferred: tuple[float, float],
    *,
    tightness: float,
    loop_s: float | None = None,
) -> tuple[np.ndarray, str]:
    """Walk the metrical levels from the tracked one; returns (beats, rule).

    Between a level and one ``parts`` (2 or 3) times faster, the faster one's beats are
    tracked and split into ``parts`` phases (:func:`split_score`). The faster level is
    the beat when its score is at least ``LEVEL_THRESHOLD + RANGE_WEIGHT * (its octave
    distance from the preferred range - the slower level's)``. A decision that only
    the range makes also needs the pulses to group in ``parts`` at least as clearly as
    in the other number (:func:`_groups_by`); and when the faster pulses clearly group
    in the other number instead, the slower level is none of theirs (half of a 3/4
    bar) and the faster one is taken. Levels need an autocorrelation of at least
    MIN_LEVEL_ACF at their period (and a loop must hold a whole number of them). The walk takes the
    clearest move, never returns to a level, and stops after four moves. ``rule`` is
    "preferred_range" when the range turned a decision, else "evidence".
    """
    n = len(novelty)
    rule = "evidence"
    position = 0.0  # log2 of the tempo relative to the first tracked level
    visited = {position}
    for _ in range(4):
        if len(beats) < 4:
            break
        tempo = 60.0 * FRAME_RATE_HZ / float(np.median(np.diff(beats)))
        here = octave_distance(tempo, *preferred)
        profiles = pulse_profiles(bands, beats)
        splits = {k: split_score(profiles, k) for k in (2, 3)}
        slower = {
            k: _possible(tempo / k, r, loop_s) and round(position - math.log2(k), 6) not in visited
            for k in (2, 3)
        }
        moves = []  # (margin, log2 step, phase, faster beats, decided by the range)
        held_by_range = False
        for parts in (2, 3):
            step = math.log2(parts)
            if slower[parts]:
                score, phase, _ = splits[parts]
                slow = tempo / parts
                need = LEVEL_THRESHOLD + RANGE_WEIGHT * (here - octave_distance(slow, *preferred))
                by_range = score >= LEVEL_THRESHOLD
                if score < need and (not by_range or _groups_by(splits, parts, slower)):
                    moves.append((need - score, -step, phase, None, by_range))
                elif score < LEVEL_THRESHOLD:
                    held_by_range = True
            fast = tempo * parts
            if _possible(fast, r, loop_s) and round(position + step, 6) not in visited:
                fast_beats = track_beats(
                    novelty, local_period(beats, n) / parts, tightness=tightness
                )
                fast_profiles = pulse_profiles(bands, fast_beats)
                fast_splits = {k: split_score(fast_profiles, k) for k in (2, 3)}
                score = fast_splits[parts][0]
                need = LEVEL_THRESHOLD + RANGE_WEIGHT * (octave_distance(fast, *preferred) - here)
                by_range = score < LEVEL_THRESHOLD
                # The faster beats group into this level by ``parts``; their grouping by
                # the other number is only a rival if that level could be chosen too.
                rivals = {parts: True, 5 - parts: _possible(fast / (5 - parts), r, loop_s)}
                z_here, z_other = fast_splits[parts][2], fast_splits[5 - parts][2]
                if z_other >= MIN_SPLIT_Z and z_other > z_here:
                    # The faster pulses group by the other number: this level is no
                    # level of theirs (half of a 3/4 bar), so the faster one is taken.
                    moves.append((1.0, step, 0, fast_beats, False))
                elif score >= need and (not by_range or _groups_by(fast_splits, parts, rivals)):
                    moves.append((score - need, step, 0, fast_beats, by_range))
                elif score >= LEVEL_THRESHOLD:
                    held_by_range = True
        if not moves:
            if held_by_range:
                rule = "preferred_range"
            break
        _, step, phase, fast_beats, by_range = max(moves, key=lambda m: m[0])
        position = round(position + step, 6)
        visited.add(position)
        beats = beats[phase :: round(2 ** (-step))] if step < 0 else fast_beats.astype(np.float64)
        if by_range:
            rule = "preferred_range"
    return beats, rule


def _possible(tempo_bpm: float, r: np.ndarray, loop_s: float | None) -> bool:
    """Whether a tempo can be a metrical level: within LEVEL_RANGE_BPM, periodic, and
    a whole number of beats in a loop."""
    return (
        LEVEL_RANGE_BPM[0] <= tempo_bpm <= LEVEL_RANGE_BPM[1]
        and periodicity(r, tempo_bpm) >= MIN_LEVEL_ACF
        and (loop_s is None or whole_beats(tempo_bpm, loop_s))
    )


def _groups_by(
    splits: dict[int, tuple[float, int, float]], parts: int, possible: dict[int, bool]
) -> bool:
    """Whether the pulses group in ``parts`` at least as clearly (by the strong phase's
    z) as in the other number (2 or 3), where that grouping leads to a ``possible``
    level: a tie between levels is only settled by the range for a grouping the
    pulses support (a 3/4 bar has no level two beats long)."""
    other = 5 - parts
    return not possible[other] or splits[parts][2] >= splits[other][2]


# --- figures from the beats ---------------------------------------------------------------


def tempo_figures(beat_times_s: np.ndarray) -> tuple[float, float, TimeSeries, bool]:
    """(tempo_bpm, stability, tempo curve, is_steady) from the beat times.

    The local tempo at each beat interval is 60 over the median of the 9 intervals
    around it. ``is_steady`` when one constant grid (a least-squares line through beat
    time against beat number) fits 95 % of the beats within 35 ms or a tenth of a beat;
    the tempo is then 60 over that line's slope, else the median local tempo.
    ``stability = 1 - (p95 - p5) / median`` of the local tempo, scaled so a 20 % spread
    gives 0.
    """
    ibi = np.diff(beat_times_s)
    local_bpm = 60.0 / running_median(ibi, 4)
    curve = TimeSeries(
        np.round((beat_times_s[:-1] + beat_times_s[1:]) / 2, 4), np.round(local_bpm, 2), "BPM"
    )
    median_bpm = float(np.median(local_bpm))
    p5, p95 = np.percentile(local_bpm, [5, 95])
    stability = float(np.clip(1.0 - (p95 - p5) / median_bpm / 0.2, 0.0, 1.0))
    index = np.arange(len(beat_times_s), dtype=np.float64)
    slope, intercept = np.polyfit(index, beat_times_s, 1)
    residual = beat_times_s - (slope * index + intercept)
    steady = bool(np.percentile(np.abs(residual), 95) <= min(0.035, 0.1 * slope))
    tempo = 60.0 / slope if steady else median_bpm
    return tempo, stability, curve, steady
