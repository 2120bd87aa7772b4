"""Automatic mixing against the artist's own balance: the Caesium multitrack, levels randomised.

The 16 stems of "Caesium" (``shared/data/multitrack/caesium_stems``) sum to the artist's
mix. For each seed every stem's level is moved by a random offset (uniform in
+/-``SPREAD_DB`` dB) and the randomised stems go to three mixers that never see the
original levels:

- **plain sum**: the randomised stems added as they are;
- **loudness-normalised sum**: every stem brought to the same BS.1770 integrated loudness,
  then added (the equal-loudness rule of Perez-Gonzalez & Reiss 2009 in its plainest
  form);
- **automix**: :func:`stemforge.mixing.automix.auto_mix` (roles, EQ, compression, pan,
  role-based balance, limiter to Spotify's -14 LUFS / -1 dBTP).

Measures against the artist's mix (the plain sum of the original stems):

- **per-stem level error** (dB): each stem's gain in the candidate relative to the
  artist's, measured as the BS.1770 loudness of what that stem contributes to the
  candidate (for the automix: through its EQ, compressor, gain and pan) minus its
  loudness in the artist's mix; the median over stems is removed (a mix's overall
  level is not part of its balance); reported as the median and the worst |error| over
  the stems that sound;
- **MR-STFT distance** of the candidate mix, loudness-matched to the artist's mix: the
  multi-resolution STFT loss of Yamamoto et al. 2020 ("Parallel WaveGAN", eq. 4-6):
  spectral convergence ||S - S'||_F / ||S||_F plus mean |log S - log S'|, averaged over
  FFT sizes 512, 1024 and 2048 (hops 1/4, Hann windows), per channel;
- **loudness**: the integrated loudness (LUFS) and true peak (dBTP) as delivered, and
  how far outside Spotify's target each is (|LUFS + 14| and the true peak above
  -1 dBTP); and the short-term loudness contour error: the RMS difference of the 3 s
  loudness over time from the artist's mix after matching integrated loudness (LU),
  which says whether the song's sections keep their relative loudness;
- **masking** (:func:`stemforge.analysis.masking.masking`, issue #4): the mean, over the
  stems that sound, of each stem's loss to the rest of its mix (dB: how much quieter it
  sounds than alone), computed on the stems as each mix places them, played at the
  artist's mix loudness (the model has a threshold in quiet, so a mix heard quieter
  would lose more to it; every candidate is heard at one level); shown beside it
  (not counted in the verdict), the same mean over the stems the automix puts first
  (lead vocal, kick, snare, bass), whose room its EQ cuts clear.

The automix decides from levels it measures, so its decisions are the same for every
seed (a stem turned up 6 dB is turned down 6 dB): its rows vary only through rounding.

Run: ``python benchmarks/bench_automix.py [--seeds 5] [--spread 10] [--stems DIR]``. About
1-2 minutes a seed on one core for the 16 Caesium stems.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import scipy.fft

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SHARED_DATA

from stemforge.analysis.loudness import loudness
from stemforge.analysis.masking import masking
from stemforge.audio.io import AUDIO_SUFFIXES
from stemforge.audio.signal import Audio
from stemforge.audio.stems import Stems, load_stems
from stemforge.mixing.automix import auto_mix, channel_output, stem_loudness_lufs

STEMS = SHARED_DATA / "multitrack" / "caesium_stems"
SPREAD_DB = 10.0
SEEDS = 5
FFT_SIZES = (512, 1024, 2048)
TARGET_LUFS, CEILING_DBTP = -14.0, -1.0
PRE_LIMITER = "(automix pre-limiter)"
#: The roles the automix puts first (its EQ clears room for them).
LEADING = ("lead_vocal", "kick", "snare", "bass")


# --- measures ------------------------------------------------------------------------------


def stem_lufs(audio: Audio) -> float:
    """BS.1770-4 integrated loudness (the automix's own meter, no true-peak scan)."""
    return stem_loudness_lufs(audio)


def _stft_mag(x: np.ndarray, n_fft: int) -> np.ndarray:
    hop = n_fft // 4
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    n = 1 + max(0, (len(x) - n_fft) // hop)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop][:n]
    out = np.empty((n, n_fft // 2 + 1), np.float32)
    for s in range(0, n, 4096):
        out[s : s + 4096] = np.abs(scipy.fft.rfft(frames[s : s + 4096] * window, axis=1))
    return out


def mr_stft(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Multi-resolution STFT loss (Yamamoto et al. 2020): mean over resolutions and
    channels of spectral convergence + log-magnitude L1."""
    total, count = 0.0, 0
    for c in range(reference.shape[0]):
        for n_fft in FFT_SIZES:
            s = _stft_mag(reference[c], n_fft)
            e = _stft_mag(estimate[c], n_fft)
            sc = float(np.linalg.norm(s - e) / max(np.linalg.norm(s), 1e-12))
            mag = float(np.mean(np.abs(np.log(np.maximum(s, 1e-7)) - np.log(np.maximum(e, 1e-7)))))
            total += sc + mag
            count += 1
    return total / count


def short_term_contour(audio: Audio) -> np.ndarray:
    r = loudness(audio)
    return np.asarray(r.short_term.values, dtype=np.float64), r


def contour_error(reference: np.ndarray, estimate: np.ndarray) -> float:
    ok = np.isfinite(reference) & np.isfinite(estimate) & (reference > -70) & (estimate > -70)
    return float(np.sqrt(np.mean((reference[ok] - estimate[ok]) ** 2))) if ok.any() else math.nan


def mean_masking_db(stems: dict[str, Audio]) -> tuple[float, dict[str, float]]:
    result = masking(stems)
    per = {s.name: s.loss_db for s in result.stems if not s.silent}
    return float(np.mean(list(per.values()))), per


# --- the candidates ------------------------------------------------------------------------


def candidate(name: str, contributions: dict[str, Audio], artist_lufs: dict[str, float]):
    """Per-stem gains (dB re the artist) and the mix from each stem's contribution."""
    gains = {}
    for stem, audio in contributions.items():
        if math.isfinite(artist_lufs[stem]):
            gains[stem] = stem_lufs(audio) - artist_lufs[stem]
    total = None
    for stem in sorted(contributions):
        x = contributions[stem].samples.astype(np.float64)
        total = x if total is None else total + x
    return gains, total


def level_errors(gains: dict[str, float]) -> np.ndarray:
    values = np.array([gains[k] for k in sorted(gains)])
    return np.abs(values - np.median(values))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--spread", type=float, default=SPREAD_DB)
    parser.add_argument("--duration", type=float, default=None, help="seconds of each stem")
    parser.add_argument(
        "--stems",
        type=Path,
        default=STEMS,
        help="a folder of stems that sum to the artist's mix (a file named mixture.* in it "
        "is that mix, not a stem: it is left out)",
    )
    args = parser.parse_args(argv if argv is not None else [])

    start = time.perf_counter()
    files = sorted(
        p
        for p in args.stems.iterdir()
        if p.is_file() and p.stem.lower() != "mixture" and p.suffix.lower() in AUDIO_SUFFIXES
    )
    stems: Stems = load_stems(files, duration_s=args.duration)
    print(
        f"{len(stems)} stems of {stems.duration_s:.1f} s at {stems.sample_rate} Hz loaded in "
        f"{time.perf_counter() - start:.1f} s"
    )
    artist_lufs = {n: stem_lufs(a) for n, a in stems.items()}
    artist_mix = stems.mix()
    artist_contour, artist_loud = short_term_contour(artist_mix)
    artist_masking, artist_per = mean_masking_db(dict(stems.items()))
    print(
        f"artist's mix (sum of the stems): {artist_loud.integrated_lufs:.1f} LUFS, "
        f"{artist_loud.true_peak_dbtp:.1f} dBTP, mean masking {artist_masking:.2f} dB"
    )

    rows: dict[str, list[dict[str, float]]] = {
        "plain sum": [],
        "loudness-normalised": [],
        "automix": [],
        PRE_LIMITER: [],
    }
    before_after = None
    stem_errors: dict[str, dict[str, float]] = {}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        offsets = {n: float(rng.uniform(-args.spread, args.spread)) for n in stems.names}
        randomised = {
            n: a.with_samples(a.samples * np.float32(10 ** (offsets[n] / 20)))
            for n, a in stems.items()
        }
        t0 = time.perf_counter()
        result = auto_mix(randomised, target="spotify")
        automix_s = time.perf_counter() - t0
        contributions = {
            "plain sum": randomised,
            "loudness-normalised": {
                n: a.apply_gain_db(-23.0 - stem_lufs(a)) if math.isfinite(stem_lufs(a)) else a
                for n, a in randomised.items()
            },
            "automix": {n: channel_output(a, result.sheet.stems[n]) for n, a in randomised.items()},
        }
        for label, contrib in contributions.items():
            gains, total = candidate(label, contrib, artist_lufs)
            errors = level_errors(gains)
            # Masking depends on the playback level (the threshold in quiet): every mix's
            # stems are heard at the artist's mix loudness, as the MR-STFT compares them.
            level = artist_loud.integrated_lufs - stem_lufs(Audio(total, stems.sample_rate))
            mask_mean, mask_per = mean_masking_db(
                {n: a.apply_gain_db(level) for n, a in contrib.items()}
            )
            leading = [mask_per[n] for n in mask_per if result.sheet.stems[n].role in LEADING]
            # The automix as delivered (through its master limiter) and, apart, the sum of
            # its channels before the limiter; the baselines as summed.
            mixes = {label: result.audio if label == "automix" else Audio(total, stems.sample_rate)}
            if label == "automix":
                mixes[PRE_LIMITER] = Audio(total, stems.sample_rate)
            for row, mix in mixes.items():
                delivered = loudness(mix)
                matched = mix.apply_gain_db(artist_loud.integrated_lufs - delivered.integrated_lufs)
                contour, _ = short_term_contour(matched)
                rows[row].append(
                    {
                        "median_err": float(np.median(errors)),
                        "worst_err": float(errors.max()),
                        "mrstft": mr_stft(artist_mix.samples, matched.samples),
                        "lufs": delivered.integrated_lufs,
                        "tp": delivered.true_peak_dbtp,
                        "lufs_off": abs(delivered.integrated_lufs - TARGET_LUFS),
                        "tp_over": max(0.0, delivered.true_peak_dbtp - CEILING_DBTP),
                        "contour": contour_error(artist_contour, contour),
                        "masking": mask_mean,
                        "lead_masking": float(np.mean(leading)) if leading else math.nan,
                    }
                )
            if seed == 0:
                before_after = before_after or {}
                before_after[label] = mask_per
                stem_errors[label] = dict(
                    zip(
                        sorted(gains),
                        np.array([gains[k] for k in sorted(gains)])
                        - np.median(list(gains.values())),
                        strict=True,
                    )
                )
        print(f"seed {seed}: automix took {automix_s:.1f} s ({result.timings_s})")
        if seed == 0:
            for line in result.summary():
                print("   ", line)

    print("\nMeans over seeds (worst seed in brackets); lower is better everywhere.")
    header = (
        f"{'mixer':<21}{'level err median':>18}{'level err worst':>17}{'MR-STFT':>9}"
        f"{'LUFS':>7}{'|LUFS+14|':>10}{'dBTP':>7}{'TP over':>9}{'contour LU':>11}{'masking dB':>11}"
        f"{'leading':>9}"
    )
    print(header)
    summary = {}
    for label, values in rows.items():
        mean = {k: float(np.mean([v[k] for v in values])) for k in values[0]}
        worst = {k: float(np.max([v[k] for v in values])) for k in values[0]}
        summary[label] = mean
        print(
            f"{label:<21}{mean['median_err']:>10.2f} [{worst['median_err']:5.2f}]"
            f"{mean['worst_err']:>9.2f} [{worst['worst_err']:5.2f}]{mean['mrstft']:>9.3f}"
            f"{mean['lufs']:>7.1f}{mean['lufs_off']:>10.2f}{mean['tp']:>7.1f}{mean['tp_over']:>9.2f}"
            f"{mean['contour']:>11.2f}{mean['masking']:>11.2f}{mean['lead_masking']:>9.2f}"
        )
    roles = {n: c.role for n, c in result.sheet.stems.items()}
    artist_leading = np.mean([v for n, v in artist_per.items() if roles[n] in LEADING])
    print(
        f"{'artist':<21}{'':>18}{'':>17}{'':>9}{artist_loud.integrated_lufs:>7.1f}"
        f"{abs(artist_loud.integrated_lufs - TARGET_LUFS):>10.2f}"
        f"{artist_loud.true_peak_dbtp:>7.1f}"
        f"{max(0.0, artist_loud.true_peak_dbtp - CEILING_DBTP):>9.2f}"
        f"{0.0:>11.2f}{artist_masking:>11.2f}"
        f"{artist_leading:>9.2f}"
    )

    print(
        f"{PRE_LIMITER} is the sum of the automix's channels before its master limiter: "
        "the balance, EQ, compression and pan alone (not a delivered mix)."
    )
    print("\nBeats both baselines?")
    keys = ("median_err", "worst_err", "mrstft", "lufs_off", "tp_over", "contour", "masking")
    print(
        "  ('leading' is the masking of the lead vocal, kick, snare and bass alone, the parts "
        "the automix's EQ clears room for; it is shown, not counted.)"
    )
    for key in keys:
        a = summary["automix"][key]
        others = [summary[k][key] for k in ("plain sum", "loudness-normalised")]
        verdict = "yes" if all(a < o or (a == o == 0.0) for o in others) else "NO"
        print(f"  {key:<11} automix {a:.3f} vs {', '.join(f'{o:.3f}' for o in others)}: {verdict}")

    if stem_errors:
        print("\nPer-stem level error, seed 0 (dB re the artist's balance, median removed):")
        labels = list(stem_errors)
        print(f"  {'stem':<24}{'role':<15}" + "".join(f"{k[:19]:>20}" for k in labels))
        for name in sorted(stem_errors["automix"]):
            role = result.sheet.stems[name].role or ""
            cells = "".join(f"{stem_errors[k].get(name, math.nan):>+20.1f}" for k in labels)
            print(f"  {name:<24}{role:<15}{cells}")
    if before_after:
        print("\nMasking per stem, seed 0 (dB lost to the rest of the mix):")
        print("  randomised plain sum -> automix (the artist's own mix)")
        for name in sorted(before_after["plain sum"]):
            b = before_after["plain sum"][name]
            a = before_after["automix"].get(name, math.nan)
            art = artist_per.get(name, math.nan)
            print(f"  {name:<24}{b:7.2f} -> {a:6.2f}   (artist {art:6.2f})")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
