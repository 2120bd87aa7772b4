"""Compare a mix with a reference track, and suggest the EQ that matches its tonal balance.

:func:`compare_to_reference` measures both signals with the analysis layer and reports
each figure as a :class:`Difference` (mix minus reference):

1. **Loudness match.** Integrated loudness (ITU-R BS.1770-4, :func:`~stemforge.analysis.
   loudness.loudness`) of both; ``loudness_match_gain_db`` = reference minus mix is the
   gain that makes them equally loud. Level-dependent figures are reported as they are
   (``integrated_lufs``, ``short_term_max_lufs``, ``true_peak_dbtp``) and, for the peaks,
   also after the match (``*_matched``: how far the mix's peaks would stand above the
   reference's at equal loudness). Tonal levels are always compared after the match.
2. **Loudness and dynamics**: LRA, PLR (loudness group); crest factor, median
   short-term crest factor and the TT DR value (dynamics group).
3. **Stereo**: correlation, width ``E_S / (E_M + E_S)``, side-to-mid ratio, balance.
4. **Tonal balance**: the level of each named band (sub .. air) and each third-octave
   band, mix (loudness-matched) minus reference, in dB.
5. **Transients**: punch and onset rate.
6. **Suggested EQ**: at most ``max_bands`` bands (peaking EQs, and shelves at the
   extremes) that bring the mix's smoothed spectrum within ``target_db`` of the
   reference's over ``fit_min_hz`` .. ``fit_max_hz``.

The EQ fit
----------
Both long-term average spectra come from :func:`~stemforge.analysis.spectrum.spectrum`
as power density on a 1/24-octave grid, ``P(f)``. The smoothed spectrum is the power
density over a window ``smoothing_octaves`` wide around each grid point (the fraction-
of-octave smoothing of a spectrum analyser: cells weighted by their width in Hz). The
*difference curve* is ``d(f) = 10 log10(S[P_mix](f) / S[P_ref](f))`` on the grid
points in the fit range, with its mean over log frequency removed
(``spectral_offset_db``): the EQ matches the *shape* of the spectrum, and the overall
level is the loudness match's job.

An EQ with response ``G(f)`` (dB) changes the mix's smoothed spectrum to
``S[P_mix 10^(G/10)]``, which is computed exactly from the mix's 1/24-octave density,
so the residual predicted for an EQ is what measuring the equalised mix gives (up to
the variation of ``G`` within a 1/24-octave cell; 0.02 dB on the test songs). The fit:

- greedy placement: a bell at the largest residual ``|r|``, gain ``-r``, Q from the
  width where the residual stays above half its peak (the cookbook's bandwidth
  definition); when that region reaches an end of the fit range, a shelf there is
  tried too (one low and one high shelf at most). Where the EQ curve already sits at
  its limit in the needed direction no band is placed; a peak where no band helps is
  skipped for the next largest (3 tries);
- joint refinement of (log2 frequency, gain, ln Q) of all bands by
  :func:`scipy.optimize.least_squares` (trust-region reflective, Jacobian by the chain
  rule through the smoothing) on the mean-removed residual. Bounds: gain
  +-``max_gain_db``, Q ``min_q`` .. ``max_q`` for bells and ``min_q`` .. 2 for shelves,
  each frequency within half an octave (bells) or an octave (shelves) of where it was
  placed, so a band keeps to the feature it was placed for. A penalty on the EQ curve
  beyond +-``max_gain_db`` keeps stacked bands from getting round the gain limit;
- repeated until the predicted residual stays within ``fit_tolerance_db`` (half the
  target by default, a margin for the re-measurement), ``max_bands`` are placed, or no
  new band lowers the squared residual by 5 %; bands under 0.1 dB are dropped and the
  rest refined once more. When this misses the tolerance the greedy run is repeated
  with a "tilt" shelf also on offer at every step (at the single step that best splits
  the residual) and the fit with the lower squared residual is kept.

Frequencies are rounded to 3 significant digits, gains to 0.1 dB and Q to 0.01 (as a
person would set them); the predicted residual is that of the rounded EQ. With
``verify`` (the default) the EQ is applied to the mix and the spectrum measured again:
``measured_residual_*`` are from that measurement, ``predicted_residual_*`` from the
filter responses. :func:`apply_suggested_eq` applies it to a mix and matches loudness.

A suggested EQ is only as meaningful as the comparison: against a different song the
difference curve holds that song's bass line and notes too, so the bands chase
content as well as tone (narrow Q) and the goal may be out of reach; the notes then
say how close the fit came.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize

from stemforge.analysis.dynamics import DynamicsResult, dynamics
from stemforge.analysis.loudness import LoudnessResult, loudness
from stemforge.analysis.spectrum import SpectrumResult, compact, spectrum
from stemforge.analysis.stereo import StereoResult, stereo
from stemforge.analysis.transients import TransientResult, transients
from stemforge.audio.filters import (
    EQ,
    HIGH_SHELF,
    LOW_SHELF,
    PEAKING,
    Filter,
    HighShelf,
    LowShelf,
    PeakingEQ,
    rbj_sos,
    section_responses_db,
)
from stemforge.audio.signal import Audio
from stemforge.errors import AnalysisError
from stemforge.results import Result

#: Shortest signal compared: one short-term loudness window (EBU Tech 3341).
MIN_DURATION_S = 3.0
#: Bands whose fitted gain ends below this are dropped from the suggestion.
MIN_BAND_GAIN_DB = 0.1
#: Highest Q of a suggested shelf (above about 0.7 a shelf overshoots; beyond 2 it rings).
MAX_SHELF_Q = 2.0
#: How far (octaves) the refinement may move a bell / a shelf from where it was placed.
BELL_REACH_OCTAVES = 0.5
SHELF_REACH_OCTAVES = 1.0
#: Where the EQ is this close to +-max_gain_db no new band is placed to push it further.
LIMIT_MARGIN_DB = 0.5
#: Residual peaks tried per step before the fit gives up adding bands.
PROPOSAL_ATTEMPTS = 3
#: Iterations of one least-squares refinement (enough to converge from a greedy start;
#: caps the rare slow crawl along a bound).
MAX_ITERATIONS = 100
#: Spectra are floored this far below their own peak before comparing (empty bands).
SPECTRUM_RANGE_DB = 90.0


@dataclass(frozen=True)
class Difference(Result):
    """One figure of mix and reference: ``difference = mix - reference`` in ``unit``."""

    name: str
    mix: float
    reference: float
    difference: float
    unit: str


def _difference(name: str, mix: float, reference: float, unit: str) -> Difference:
    mix, reference = float(mix), float(reference)
    diff = mix - reference if math.isfinite(mix) and math.isfinite(reference) else math.nan
    return Difference(name, mix, reference, diff, unit)


@dataclass(frozen=True)
class ReferenceComparison(Result):
    """A mix against a reference; see the module docstring for every figure.

    Groups of :class:`Difference`: ``loudness``, ``dynamics``, ``stereo`` (empty when
    either signal is mono), ``tonal_balance`` (named bands), ``third_octave``,
    ``transients``. Curves on ``frequencies_hz`` (the fit grid, 1/24 octave):
    ``difference_db`` (smoothed mix minus reference, mean removed), ``eq_response_db``
    (the suggested EQ), ``predicted_residual_db`` and ``measured_residual_db`` (empty
    without ``verify``). ``difference_max_db`` / ``difference_rms_db`` summarise the
    difference before any EQ, the ``*_residual_*`` figures after it. ``target_met``: the
    residual (measured if verified, else predicted) stays within ``target_db``.
    """

    sample_rate: int
    loudness_match_gain_db: float
    loudness: tuple[Difference, ...]
    dynamics: tuple[Difference, ...]
    stereo: tuple[Difference, ...]
    tonal_balance: tuple[Difference, ...]
    third_octave: tuple[Difference, ...]
    transients: tuple[Difference, ...]
    suggested_eq: EQ
    fit_min_hz: float
    fit_max_hz: float
    smoothing_octaves: float
    spectral_offset_db: float
    difference_max_db: float
    difference_rms_db: float
    predicted_residual_max_db: float
    predicted_residual_rms_db: float
    measured_residual_max_db: float
    measured_residual_rms_db: float
    target_db: float
    target_met: bool
    frequencies_hz: np.ndarray
    difference_db: np.ndarray
    eq_response_db: np.ndarray
    predicted_residual_db: np.ndarray
    measured_residual_db: np.ndarray
    notes: tuple[str, ...] = field(default=())

    @property
    def verified(self) -> bool:
        """Whether the EQ was applied and the result measured."""
        return math.isfinite(self.measured_residual_max_db)

    @property
    def residual_max_db(self) -> float:
        """Largest |residual| after the EQ: measured if verified, else predicted."""
        return self.measured_residual_max_db if self.verified else self.predicted_residual_max_db

    @property
    def residual_rms_db(self) -> float:
        """RMS residual after the EQ: measured if verified, else predicted."""
        return self.measured_residual_rms_db if self.verified else self.predicted_residual_rms_db

    def differences(self) -> tuple[Difference, ...]:
        """Every difference of every group, in report order."""
        return (
            self.loudness
            + self.dynamics
            + self.stereo
            + self.tonal_balance
            + self.third_octave
            + self.transients
        )

    def difference(self, name: str) -> Difference:
        """The difference named ``name`` (e.g. ``"width"``, ``"bass"``, ``"1 kHz"``)."""
        for d in self.differences():
            if d.name == name:
                return d
        raise KeyError(name)


# --- preparation ------------------------------------------------------------------------


def _prepare(mix: Audio, reference: Audio) -> tuple[Audio, Audio, list[str], bool]:
    """Both at the mix's rate and in stereo; checks the lengths.

    Returns ``(mix, reference, notes, stereo_comparable)``.
    """
    notes: list[str] = []
    for what, audio in (("mix", mix), ("reference", reference)):
        audio.require_finite()
        if audio.duration_s < MIN_DURATION_S:
            raise AnalysisError(
                f"the {what} is {audio.duration_s:.2f} s long; comparing needs at least "
                f"{MIN_DURATION_S:g} s (one short-term loudness window).",
                hint="Pass a longer excerpt of the track.",
            )
    if reference.sample_rate != mix.sample_rate:
        notes.append(
            f"reference resampled from {reference.sample_rate} Hz to the mix's {mix.sample_rate} Hz"
        )
        reference = reference.resample(mix.sample_rate)
    stereo_comparable = True
    for what, audio in (("mix", mix), ("reference", reference)):
        if audio.channels > 2:
            notes.append(f"the {what} has {audio.channels} channels: folded down to stereo")
        elif audio.channels == 1:
            stereo_comparable = False
            notes.append(
                f"the {what} is mono: measured as dual mono (the same signal on both "
                "speakers); stereo width and correlation are not compared"
            )
    return mix.to_stereo(), reference.to_stereo(), notes, stereo_comparable


def _check_not_silent(what: str, lr: LoudnessResult) -> None:
    if not math.isfinite(lr.integrated_lufs):
        raise AnalysisError(
            f"the {what} is silent (no 400 ms block above the {lr.absolute_gate_lufs:g} LUFS "
            "gate): there is nothing to compare.",
            hint="Check that the right file was given and that it is not muted.",
        )


@dataclass(frozen=True)
class _Measured:
    loudness: LoudnessResult
    spectrum: SpectrumResult
    dynamics: DynamicsResult
    stereo: StereoResult | None
    transients: TransientResult


def _measure(audio: Audio, what: str, with_stereo: bool) -> _Measured:
    lr = loudness(audio)
    _check_not_silent(what, lr)
    return _Measured(
        loudness=lr,
        spectrum=spectrum(audio),
        dynamics=dynamics(audio, loudness_result=lr),
        stereo=stereo(audio) if with_stereo else None,
        transients=transients(audio),
    )


# --- spectra on the fit grid ------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """The 1/24-octave LTAS grid, the smoothing matrix and the fit points."""

    frequencies_hz: np.ndarray  # all grid centres used (fine grid)
    smoothing: np.ndarray  # (n_fit, n_fine): smoothed density = smoothing @ density
    fit: np.ndarray  # indices into the fine grid of the fit points

    @property
    def fit_hz(self) -> np.ndarray:
        return self.frequencies_hz[self.fit]

    def smoothed_db(self, density: np.ndarray) -> np.ndarray:
        return 10 * np.log10(self.smoothing @ density)


def _grid(freqs: np.ndarray, fit_min_hz: float, fit_max_hz: float, octaves: float) -> _Grid:
    log_f = np.log2(freqs)
    fit = np.flatnonzero((freqs >= fit_min_hz * (1 - 1e-9)) & (freqs <= fit_max_hz * (1 + 1e-9)))
    # Cell widths in Hz are proportional to f on a log grid: weight by f.
    inside = np.abs(log_f[fit][:, None] - log_f[None, :]) <= octaves / 2 + 1e-9
    weights = np.where(inside, freqs[None, :], 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    return _Grid(freqs, weights, fit)


def _density(result: SpectrumResult) -> np.ndarray:
    """Linear power density on the LTAS grid, floored ``SPECTRUM_RANGE_DB`` below its peak."""
    db = np.asarray(result.ltas_density_db, dtype=np.float64)
    db = np.maximum(db, db.max() - SPECTRUM_RANGE_DB)
    return 10 ** (db / 10)


# --- the EQ fit -------------------------------------------------------------------------

_CLASSES = {PEAKING: PeakingEQ, LOW_SHELF: LowShelf, HIGH_SHELF: HighShelf}
#: Weight of the penalty on an EQ curve beyond +-max_gain_db (per dB, against 1 per dB of
#: residual): stacked bands may not get round the gain limit.
_LIMIT_WEIGHT = 10.0
#: Forward-difference step of the band responses' derivatives (octaves, dB, ln Q).
_STEP = 1e-6
#: Relative tolerances of the least-squares refinement (cost and parameters).
_TOLERANCE = 1e-5


@dataclass
class _FitProblem:
    """The residual of an EQ (bands as kind codes and a parameter vector) on the fit grid.

    Parameters per band: (log2 frequency, gain dB, ln q).
    """

    grid: _Grid
    mix_density: np.ndarray
    target_db: np.ndarray  # smoothed reference on the fit points
    sample_rate: int
    low_hz: float
    high_hz: float
    max_gain_db: float
    min_q: float
    max_q: float

    def band_responses(self, kinds: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Each band's response in dB on the whole grid, (n_bands, n_grid): the fast path
        of the filter classes."""
        if len(kinds) == 0:
            return np.zeros((0, len(self.grid.frequencies_hz)))
        sos = rbj_sos(kinds, 2 ** x[0::3], x[1::3], np.exp(x[2::3]), self.sample_rate)
        return section_responses_db(sos, self.grid.frequencies_hz, self.sample_rate)

    def response(self, kinds: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The EQ's response in dB on the whole grid."""
        return self.band_responses(kinds, x).sum(axis=0)

    def residual(self, eq_db: np.ndarray) -> np.ndarray:
        """Smoothed (mix + EQ) minus reference on the fit points, mean removed."""
        r = self.grid.smoothed_db(self.mix_density * 10 ** (eq_db / 10)) - self.target_db
        return r - r.mean()

    def objective(self, kinds: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The residual, then the penalty on the EQ curve beyond +-max_gain_db."""
        eq_db = self.response(kinds, x)
        excess = np.maximum(np.abs(eq_db[self.grid.fit]) - self.max_gain_db, 0.0)
        return np.concatenate([self.residual(eq_db), _LIMIT_WEIGHT * excess])

    def jacobian(self, kinds: np.ndarray, x: np.ndarray) -> np.ndarray:
        """d objective / d x by the chain rule: the residual at fit point i moves with the
        EQ curve through the smoothing, ``dr_i = sum_j W_ij dE_j`` with
        ``W_ij = S_ij Q_j / sum_j S_ij Q_j``, ``Q = P_mix 10^(E/10)`` (mean removed
        afterwards); each band's ``dE / dx`` by a forward difference of its own response."""
        per_band = self.band_responses(kinds, x)
        eq_db = per_band.sum(axis=0)
        weights = self.grid.smoothing * (self.mix_density * 10 ** (eq_db / 10))[None, :]
        weights /= weights.sum(axis=1, keepdims=True)
        n = len(kinds)
        d_eq = np.empty((len(eq_db), 3 * n))
        for p in range(3):
            shifted = x.copy()
            shifted[p::3] += _STEP
            d_eq[:, p::3] = ((self.band_responses(kinds, shifted) - per_band) / _STEP).T
        jac_r = weights @ d_eq
        jac_r -= jac_r.mean(axis=0)
        fit_eq = eq_db[self.grid.fit]
        over = (np.abs(fit_eq) > self.max_gain_db)[:, None]
        jac_p = _LIMIT_WEIGHT * np.where(over, np.sign(fit_eq)[:, None] * d_eq[self.grid.fit], 0.0)
        return np.concatenate([jac_r, jac_p])

    def bounds(self, kinds: np.ndarray, placed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bounds per band: gain and Q limits, and the frequency within
        :data:`BELL_REACH_OCTAVES` (bells) or :data:`SHELF_REACH_OCTAVES` (shelves) of
        where the band was placed, inside the fit range."""
        lo, hi = [], []
        f_lo, f_hi = math.log2(self.low_hz), math.log2(self.high_hz)
        for kind, f in zip(kinds, placed, strict=True):
            reach = BELL_REACH_OCTAVES if kind == PEAKING else SHELF_REACH_OCTAVES
            q_hi = self.max_q if kind == PEAKING else MAX_SHELF_Q
            lo += [max(f - reach, f_lo), -self.max_gain_db, math.log(self.min_q)]
            hi += [min(f + reach, f_hi), self.max_gain_db, math.log(q_hi)]
        return np.array(lo), np.array(hi)

    def refine(
        self, kinds: np.ndarray, placed: np.ndarray, x0: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """Joint least-squares refinement of all bands; returns (x, cost)."""
        lo, hi = self.bounds(kinds, placed)
        margin = 1e-6 * (hi - lo)
        x0 = np.clip(x0, lo + margin, hi - margin)
        sol = scipy.optimize.least_squares(
            lambda x: self.objective(kinds, x),
            x0,
            jac=lambda x: self.jacobian(kinds, x),
            bounds=(lo, hi),
            method="trf",
            x_scale=np.tile([0.25, 1.0, 0.3], len(kinds)),
            ftol=_TOLERANCE,
            xtol=_TOLERANCE,
            max_nfev=MAX_ITERATIONS,
        )
        return sol.x, float(sol.cost)

    def propose(
        self, r: np.ndarray, allowed: np.ndarray, allow_shelves: bool, tilt: bool
    ) -> tuple[list[tuple[int, list[float]]], np.ndarray]:
        """Bands for the largest |residual| among the ``allowed`` points: a bell (gain -r,
        Q from the width where the residual stays above half its peak) and, when that
        region reaches an end of the fit range, a shelf there (midpoint at the region's
        inner half-height point). Also returns the region (a mask)."""
        f = self.grid.fit_hz
        n = len(r)
        i = int(np.argmax(np.where(allowed, np.abs(r), -1.0)))
        peak = float(r[i])
        above = np.sign(peak) * r >= abs(peak) / 2
        j_lo = i
        while j_lo > 0 and above[j_lo - 1]:
            j_lo -= 1
        j_hi = i
        while j_hi < n - 1 and above[j_hi + 1]:
            j_hi += 1
        # Half-height points halfway (in log frequency) between the last point above
        # half the peak and the first one below it.
        low = math.sqrt(f[j_lo] * f[j_lo - 1]) if j_lo > 0 else f[0] / 2 ** (1 / 48)
        high = math.sqrt(f[j_hi] * f[j_hi + 1]) if j_hi < n - 1 else f[-1] * 2 ** (1 / 48)
        q = float(np.clip(f[i] / (high - low), self.min_q, self.max_q))
        gain = float(np.clip(-peak, -self.max_gain_db, self.max_gain_db))
        out = [(PEAKING, [math.log2(f[i]), gain, math.log(q)])]
        shelf_q = math.log(math.sqrt(0.5))
        if allow_shelves and j_lo == 0 and j_hi < n - 1:
            out.append((LOW_SHELF, [math.log2(high), gain, shelf_q]))
        if allow_shelves and j_hi == n - 1 and j_lo > 0:
            out.append((HIGH_SHELF, [math.log2(low), gain, shelf_q]))
        if allow_shelves and tilt:
            out.append(self.step_shelf(r))
        region = np.zeros(n, bool)
        region[j_lo : j_hi + 1] = True
        return out, region

    def step_shelf(self, r: np.ndarray) -> tuple[int, list[float]]:
        """A shelf at the best single step of the residual (the split where a two-level
        fit removes most, ``h^2 k (n - k) / n``), low or high by which side is narrower."""
        f = self.grid.fit_hz
        n = len(r)
        k = np.arange(1, n)
        cum = np.cumsum(r)
        step = (cum[-1] - cum[:-1]) / (n - k) - cum[:-1] / k
        best = int(np.argmax(step**2 * k * (n - k)))
        split = math.sqrt(f[best] * f[best + 1])
        # EQ = -r: a low shelf lifts the part below the split by the step's height.
        kind = LOW_SHELF if split < math.sqrt(f[0] * f[-1]) else HIGH_SHELF
        gain = float(step[best]) if kind == LOW_SHELF else -float(step[best])
        gain = float(np.clip(gain, -self.max_gain_db, self.max_gain_db))
        return kind, [math.log2(split), gain, math.log(math.sqrt(0.5))]


def _stats(r: np.ndarray) -> tuple[float, float]:
    if r.size == 0:
        return math.nan, math.nan
    return float(np.max(np.abs(r))), float(np.sqrt(np.mean(r**2)))


def _fit_eq(
    problem: _FitProblem, *, max_bands: int, tolerance_db: float, allow_shelves: bool
) -> list[Filter]:
    """Greedy placement and joint refinement (see the module docstring): first with
    shelves only at the extremes; when that misses ``tolerance_db``, again with a tilt
    shelf on offer at every step, keeping the better fit."""
    kinds, x, cost, max_db = _greedy(problem, max_bands, tolerance_db, allow_shelves, False)
    if max_db > tolerance_db and allow_shelves:
        alt = _greedy(problem, max_bands, tolerance_db, allow_shelves, True)
        if alt[2] < cost:
            kinds, x, cost, max_db = alt
    bands = [
        _CLASSES[int(kind)](
            float(f"{2 ** x[3 * i]:.3g}"),
            round(float(x[3 * i + 1]), 1),
            q=round(float(math.exp(x[3 * i + 2])), 2),
        )
        for i, kind in enumerate(kinds)
    ]
    bands = [b for b in bands if b.gain_db != 0.0]  # type: ignore[attr-defined]
    return sorted(bands, key=lambda b: b.frequency_hz)  # type: ignore[attr-defined]


def _greedy(
    problem: _FitProblem, max_bands: int, tolerance_db: float, allow_shelves: bool, tilt: bool
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """One greedy run: (kinds, parameters, cost, max |residual|)."""
    kinds = np.zeros(0, np.int64)
    placed = np.zeros(0)
    x = np.zeros(0)
    r = problem.residual(problem.response(kinds, x))
    best_max, _ = _stats(r)
    best_cost = 0.5 * float(np.sum(r**2))
    while len(kinds) < max_bands and best_max > tolerance_db:
        # Points where the EQ is already at its limit in the needed direction are no
        # place for another band; nor are peaks where a band did not help.
        eq_fit = problem.response(kinds, x)[problem.grid.fit]
        allowed = (np.sign(eq_fit) != -np.sign(r)) | (
            np.abs(eq_fit) < problem.max_gain_db - LIMIT_MARGIN_DB
        )
        accepted = None
        for _ in range(PROPOSAL_ATTEMPTS):
            if not allowed.any():
                break
            proposals, region = problem.propose(r, allowed, allow_shelves, tilt)
            trials = []
            for kind, params in proposals:
                if kind != PEAKING and kind in kinds:
                    continue  # one low and one high shelf at most
                k, p = np.append(kinds, kind), np.append(placed, params[0])
                trials.append((k, p, *problem.refine(k, p, np.concatenate([x, params]))))
            best = min(trials, key=lambda t: t[3])
            if best[3] <= 0.95 * best_cost:
                accepted = best
                break
            allowed &= ~region
        if accepted is None:
            break  # no further band helps
        kinds, placed, x, best_cost = accepted
        r = problem.residual(problem.response(kinds, x))
        best_max = _stats(r)[0]
    keep = np.abs(x[1::3]) >= MIN_BAND_GAIN_DB
    kinds, x = kinds[keep], x.reshape(-1, 3)[keep].ravel()
    if len(kinds):
        # A last joint refinement, each band free to move again around where it ended.
        x, best_cost = problem.refine(kinds, x[0::3].copy(), x)
    best_max = _stats(problem.residual(problem.response(kinds, x)))[0]
    return kinds, x, best_cost, best_max


# --- the comparison ---------------------------------------------------------------------


def compare_to_reference(
    mix: Audio,
    reference: Audio,
    *,
    max_bands: int = 6,
    fit_min_hz: float = 30.0,
    fit_max_hz: float = 16000.0,
    smoothing_octaves: float = 1 / 3,
    target_db: float = 1.0,
    fit_tolerance_db: float = 0.5,
    max_gain_db: float = 12.0,
    min_q: float = 0.3,
    max_q: float = 8.0,
    shelves: bool = True,
    verify: bool = True,
) -> ReferenceComparison:
    """Compare ``mix`` with ``reference`` and suggest an EQ (see the module docstring).

    The reference is resampled to the mix's rate; a mono signal is compared as dual
    mono; more than two channels are folded to stereo (each noted in ``notes``).
    Raises :class:`~stemforge.errors.AnalysisError` when either is shorter than 3 s or
    silent.
    """
    if not 0 <= max_bands <= 20:
        raise AnalysisError(f"max_bands must be 0 to 20, got {max_bands}.")
    if not 0 < fit_min_hz < fit_max_hz:
        raise AnalysisError(
            f"the fit range {fit_min_hz:g} .. {fit_max_hz:g} Hz is empty.",
            hint="Give 0 < fit_min_hz < fit_max_hz.",
        )
    if not 0 < smoothing_octaves <= 2:
        raise AnalysisError(f"smoothing_octaves must be in (0, 2], got {smoothing_octaves:g}.")
    if not 0 < min_q < max_q or not 0 < max_gain_db <= 24:
        raise AnalysisError("need 0 < min_q < max_q and 0 < max_gain_db <= 24.")

    mix, reference, notes, with_stereo = _prepare(mix, reference)
    m = _measure(mix, "mix", with_stereo)
    r = _measure(reference, "reference", with_stereo)
    gain_db = r.loudness.integrated_lufs - m.loudness.integrated_lufs

    # The fit range: inside Nyquist and below any brick-wall cliff of either signal.
    sr = mix.sample_rate
    high = min(fit_max_hz, 0.45 * sr)
    for what, s in (("mix", m.spectrum), ("reference", r.spectrum)):
        if s.lowpass_cliff_detected and math.isfinite(s.cliff_hz) and s.cliff_hz * 0.9 < high:
            high = 0.9 * s.cliff_hz
            notes.append(
                f"the {what} is low-passed at {s.cliff_hz:.0f} Hz (lossy encoding?): "
                f"the EQ is fitted up to {high:.0f} Hz"
            )
    if high != fit_max_hz and not any("low-passed" in n for n in notes):
        notes.append(f"the EQ is fitted up to {high:.0f} Hz (the audio's bandwidth)")
    if high <= fit_min_hz * 2:
        raise AnalysisError(
            f"the fit range {fit_min_hz:g} .. {high:.0f} Hz is too narrow for this audio.",
            hint="Lower fit_min_hz or use audio with a higher sample rate.",
        )

    freqs = np.asarray(m.spectrum.ltas_frequencies_hz, dtype=np.float64)
    grid = _grid(freqs, fit_min_hz, high, smoothing_octaves)
    mix_density, ref_density = _density(m.spectrum), _density(r.spectrum)
    target = grid.smoothed_db(ref_density)
    raw = grid.smoothed_db(mix_density) - target
    offset = float(raw.mean()) + gain_db
    difference = raw - raw.mean()

    problem = _FitProblem(
        grid=grid,
        mix_density=mix_density,
        target_db=target,
        sample_rate=sr,
        low_hz=max(fit_min_hz / 1.5, 10.0),
        high_hz=min(high * 1.2, 0.45 * sr),
        max_gain_db=max_gain_db,
        min_q=min_q,
        max_q=max_q,
    )
    bands = _fit_eq(
        problem, max_bands=max_bands, tolerance_db=fit_tolerance_db, allow_shelves=shelves
    )
    eq = EQ(tuple(bands))
    response_fine = eq.response_db(grid.frequencies_hz, sr)
    predicted = problem.residual(response_fine)
    pred_max, pred_rms = _stats(predicted)

    measured = np.zeros(0)
    if verify:
        after = spectrum(eq.process(mix))
        measured = grid.smoothed_db(_density(after)) - target
        measured -= measured.mean()
    meas_max, meas_rms = _stats(measured)
    achieved = meas_max if verify else pred_max
    if achieved > target_db:
        notes.append(
            f"with {len(bands)} band(s) the smoothed spectrum comes within {achieved:.2f} dB "
            f"of the reference (goal {target_db:g} dB; it was {_stats(difference)[0]:.2f} dB "
            "apart before the EQ)"
        )

    return ReferenceComparison(
        sample_rate=sr,
        loudness_match_gain_db=float(gain_db),
        loudness=_loudness_differences(m.loudness, r.loudness, gain_db),
        dynamics=_dynamics_differences(m, r),
        stereo=_stereo_differences(m, r) if with_stereo else (),
        tonal_balance=_tonal_differences(m.spectrum, r.spectrum, gain_db),
        third_octave=_third_octave_differences(m.spectrum, r.spectrum, gain_db),
        transients=_transient_differences(m, r),
        suggested_eq=eq,
        fit_min_hz=float(grid.fit_hz[0]),
        fit_max_hz=float(grid.fit_hz[-1]),
        smoothing_octaves=float(smoothing_octaves),
        spectral_offset_db=offset,
        difference_max_db=_stats(difference)[0],
        difference_rms_db=_stats(difference)[1],
        predicted_residual_max_db=pred_max,
        predicted_residual_rms_db=pred_rms,
        measured_residual_max_db=meas_max,
        measured_residual_rms_db=meas_rms,
        target_db=float(target_db),
        target_met=bool(achieved <= target_db),
        frequencies_hz=compact(grid.fit_hz, digits=5),
        difference_db=compact(difference),
        eq_response_db=compact(response_fine[grid.fit]),
        predicted_residual_db=compact(predicted),
        measured_residual_db=compact(measured),
        notes=tuple(notes),
    )


def apply_suggested_eq(
    mix: Audio, comparison: ReferenceComparison, *, match_loudness: bool = True
) -> Audio:
    """The mix through the comparison's suggested EQ, then (``match_loudness``) turned to
    the reference's integrated loudness.

    The mix must have the sample rate it was compared at.
    """
    if mix.sample_rate != comparison.sample_rate:
        raise AnalysisError(
            f"the mix is at {mix.sample_rate} Hz but was compared at {comparison.sample_rate} Hz.",
            hint="Pass the same mix that was compared.",
        )
    out = comparison.suggested_eq.process(mix)
    if match_loudness:
        now = loudness(out).integrated_lufs
        target = comparison.difference("integrated_lufs").reference
        if math.isfinite(now) and math.isfinite(target):
            out = out.apply_gain_db(target - now)
    return out


# --- the differences --------------------------------------------------------------------


def _loudness_differences(
    m: LoudnessResult, r: LoudnessResult, gain_db: float
) -> tuple[Difference, ...]:
    return (
        _difference("integrated_lufs", m.integrated_lufs, r.integrated_lufs, "LUFS"),
        _difference("short_term_max_lufs", m.short_term_max_lufs, r.short_term_max_lufs, "LUFS"),
        _difference(
            "short_term_max_matched_lufs",
            m.short_term_max_lufs + gain_db,
            r.short_term_max_lufs,
            "LUFS",
        ),
        _difference("loudness_range_lu", m.loudness_range_lu, r.loudness_range_lu, "LU"),
        _difference("plr_db", m.plr_db, r.plr_db, "dB"),
        _difference("true_peak_dbtp", m.true_peak_dbtp, r.true_peak_dbtp, "dBTP"),
        _difference("true_peak_matched_dbtp", m.true_peak_dbtp + gain_db, r.true_peak_dbtp, "dBTP"),
    )


def _dynamics_differences(m: _Measured, r: _Measured) -> tuple[Difference, ...]:
    md, rd = m.dynamics, r.dynamics

    def dr(d) -> float:
        finite = [v for v in d.channel_dr_db if math.isfinite(v)]
        return float(np.mean(finite)) if finite else math.nan

    return (
        _difference("crest_factor_db", md.crest_factor_db, rd.crest_factor_db, "dB"),
        _difference(
            "short_term_crest_median_db",
            md.crest_p50_db,
            rd.crest_p50_db,
            "dB",
        ),
        _difference("dr_db", dr(md), dr(rd), "dB"),
    )


def _stereo_differences(m: _Measured, r: _Measured) -> tuple[Difference, ...]:
    ms, rs = m.stereo, r.stereo
    assert ms is not None and rs is not None
    return (
        _difference("correlation", ms.correlation, rs.correlation, "ratio"),
        _difference("width", ms.width, rs.width, "ratio"),
        _difference("side_to_mid_db", ms.side_to_mid_db, rs.side_to_mid_db, "dB"),
        _difference("balance_db", ms.balance_db, rs.balance_db, "dB"),
    )


def _tonal_differences(
    m: SpectrumResult, r: SpectrumResult, gain_db: float
) -> tuple[Difference, ...]:
    ref = {b.name: b for b in r.tonal_balance}
    return tuple(
        _difference(b.name, b.level_db + gain_db, ref[b.name].level_db, "dB")
        for b in m.tonal_balance
        if b.name in ref
    )


def _third_octave_differences(
    m: SpectrumResult, r: SpectrumResult, gain_db: float
) -> tuple[Difference, ...]:
    ref = {b.name: b for b in r.third_octave}
    return tuple(
        _difference(b.name, b.level_db + gain_db, ref[b.name].level_db, "dB")
        for b in m.third_octave
        if b.name in ref
    )


def _transient_differences(m: _Measured, r: _Measured) -> tuple[Difference, ...]:
    mt, rt = m.transients, r.transients
    return (
        _difference("punch_db", mt.punch_db, rt.punch_db, "dB"),
        _difference("onset_rate_per_s", mt.onset_rate_per_s, rt.onset_rate_per_s, "per s"),
    )
