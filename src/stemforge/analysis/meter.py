"""Metre and downbeats for :func:`stemforge.analysis.rhythm.rhythm`, given the beats.

- **Subdivision**: the novelty peaks at the beat's thirds (the weaker of the two) against
  those at its halves, less the median novelty: ternary (6/8: two dotted-quarter beats a
  bar) when the thirds are more than 1.5 times the halves and over 3 % of the beats'
  own peaks; binary (3/4 or 4/4) otherwise (a swung off-beat fills only one third).
- **Downbeat salience** of each beat (as the bar-level cues of Peeters & Papadopoulos,
  IEEE TASLP 2011, and Durand et al., ICASSP 2015): the low-band (under 150 Hz: kick
  and bass) level over the first 70 ms, less its mean over the 9 beats around;
  harmonic change, the chroma distance between the two beats after and the two before;
  and the onset novelty at the beat; each standardised, weighted 1, 1 and 0.5.
- **Bar length and phase**: for each bar length (3 or 4 beats when binary, 2 when
  ternary) and phase, the mean salience of the bar's first beat less that of the
  others; the best gives the time signature and the downbeats.
"""

from __future__ import annotations

import numpy as np

from stemforge.analysis.beats import moving_average, peak_near, subdivide

W_LOW, W_CHANGE, W_NOVELTY = 1.0, 1.0, 0.5
TIME_SIGNATURES = {2: "6/8", 3: "3/4", 4: "4/4"}


def subdivision(novelty: np.ndarray, beats: np.ndarray) -> tuple[str, float]:
    """("binary" or "ternary", clarity 0..1) of the beat's subdivision."""
    if len(beats) < 4:
        return "binary", 0.0
    base = float(np.median(novelty))
    halves = subdivide(beats, 2)[1::2]
    thirds = subdivide(beats, 3)
    at_beat = float(peak_near(novelty, beats, 1, 1).mean()) - base
    at_half = float(peak_near(novelty, halves, 1, 1).mean()) - base
    at_third = (
        min(
            float(peak_near(novelty, thirds[1::3], 1, 1).mean()),
            float(peak_near(novelty, thirds[2::3], 1, 1).mean()),
        )
        - base
    )
    half, third = max(at_half, 0.0), max(at_third, 0.0)
    ternary = third > 1.5 * half and third > 0.03 * at_beat
    clarity = abs(third - half) / (third + half) if third + half > 0 else 0.0
    return ("ternary" if ternary else "binary"), float(clarity)


def _standardise(x: np.ndarray) -> np.ndarray:
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def downbeat_salience(
    beats: np.ndarray, novelty: np.ndarray, low_db: np.ndarray, chroma: np.ndarray
) -> np.ndarray:
    """How much each beat sounds like the start of a bar (see the module docstring)."""
    n = len(low_db)
    b = np.clip(np.round(beats).astype(np.int64), 0, n - 1)
    level = peak_near(low_db, beats + 3, 3, 3)  # the first 70 ms after the beat
    low = _standardise(level - moving_average(level, 9))
    onset = _standardise(peak_near(novelty, beats, 3, 3))

    step = int(np.median(np.diff(b))) if len(b) > 1 else 1
    edges = np.concatenate([b, [min(n, b[-1] + step)]])
    cum = np.concatenate([np.zeros((1, 12)), np.cumsum(chroma, axis=0, dtype=np.float64)])
    seg = np.sqrt(np.maximum(cum[edges[1:]] - cum[edges[:-1]], 0.0))
    unit = seg / np.maximum(np.linalg.norm(seg, axis=1, keepdims=True), 1e-12)
    padded = np.vstack([np.zeros((2, 12)), unit, np.zeros((2, 12))])
    before = padded[:-4] + padded[1:-3]  # beats i-2 and i-1
    after = padded[2:-2] + padded[3:-1]  # beats i and i+1
    nb = np.linalg.norm(before, axis=1)
    na = np.linalg.norm(after, axis=1)
    ok = (nb > 0) & (na > 0)
    change = np.zeros(len(b))
    change[ok] = 1.0 - np.sum(before[ok] * after[ok], axis=1) / (nb[ok] * na[ok])
    return W_LOW * low + W_CHANGE * _standardise(change) + W_NOVELTY * onset


def meter(
    beats: np.ndarray,
    novelty: np.ndarray,
    low_db: np.ndarray,
    chroma: np.ndarray,
    subdivision_kind: str,
    clarity: float,
) -> tuple[int, str, int, float]:
    """(beats per bar, time signature, phase of the first downbeat, confidence).

    The confidence is the margin of the chosen bar length's contrast over the best
    other length (2, 3 or 4 beats), relative to its own, times the subdivision clarity
    for 6/8.
    """
    allowed = (2,) if subdivision_kind == "ternary" else (3, 4)
    if len(beats) < 8:
        bpb = allowed[-1]
        return bpb, TIME_SIGNATURES[bpb], 0, 0.0
    d = downbeat_salience(beats, novelty, low_db, chroma)
    scored = {}
    for bpb in (2, 3, 4):
        usable = len(d) // bpb * bpb
        means = np.array([d[p:usable:bpb].mean() for p in range(bpb)])
        phase = int(np.argmax(means))
        scored[bpb] = (float(means[phase] - np.delete(means, phase).mean()), phase)
    bpb = max(allowed, key=lambda k: scored[k][0])
    contrast, phase = scored[bpb]
    # Bars of 2 and 4 beats nest (each reading scores half or two thirds of the other),
    # so each is judged against 3 only.
    others = [scored[k][0] for k in (2, 3, 4) if k != bpb and {k, bpb} != {2, 4}]
    runner = max(max(others), 0.0)
    confidence = float(np.clip((contrast - runner) / contrast, 0.0, 1.0)) if contrast > 0 else 0.0
    if subdivision_kind == "ternary":
        confidence *= clarity
    return bpb, TIME_SIGNATURES[bpb], phase, confidence
