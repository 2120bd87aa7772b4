"""Rhythm: tempo and beat accuracy against librosa and Essentia, and speed on a 4-minute track.

Accuracy on the real recordings with a stated tempo (trumpet loop 90 BPM, "Caesium"
130 BPM) and on 20 demo songs (60-180 BPM; 4/4, 3/4, 6/8; MP3 at 128 kb/s, white or pink
noise at 20 dB SNR, 1 % tempo drift): tempo Acc1 (within 4 % of the truth) and Acc2
(within 4 % of the truth or its x2, /2, x3, /3), and mir_eval's beat F-measure (70 ms,
first 5 s trimmed) where the beats are known. Side by side: librosa's default
``beat.beat_track`` and, if ``essentia`` is importable (AGPL: never a dependency of the
package), Essentia's ``RhythmExtractor2013(method="multifeature")``.
Speed: ``rhythm()`` on the 4-minute track, one core, best of 3 after a warm-up.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from common import ROOT, SHARED_DATA, best_of, four_minute_track, pin_to_one_core

REAL = [
    ("trumpet loop (90)", "music/sorohanro_-_solo-trumpet-06.hq.ogg", 90.0),
    ("Caesium (130)", "music/6.Caesium_Master_mobile.m4a", 130.0),
]

# (tempo, metre, key, seed, degradation, drift)
DEMO = [
    (60, "4/4", "C", 1, "clean", 0.0),
    (70, "4/4", "A", 2, "mp3", 0.0),
    (85, "4/4", "D", 3, "white", 0.0),
    (100, "4/4", "F#", 4, "pink", 0.0),
    (120, "4/4", "Eb", 5, "clean", 0.0),
    (128, "4/4", "G", 6, "mp3", 0.0),
    (140, "4/4", "Bb", 7, "clean", 0.01),
    (150, "4/4", "B", 8, "white", 0.0),
    (174, "4/4", "E", 9, "clean", 0.0),
    (180, "4/4", "F", 10, "pink", 0.0),
    (66, "3/4", "F", 11, "clean", 0.0),
    (90, "3/4", "C#", 12, "mp3", -0.01),
    (108, "3/4", "Ab", 13, "white", 0.0),
    (140, "3/4", "D", 14, "pink", 0.0),
    (176, "3/4", "G", 15, "clean", 0.0),
    (50, "6/8", "E", 16, "clean", 0.0),
    (66, "6/8", "A", 17, "mp3", 0.0),
    (80, "6/8", "Bb", 18, "white", 0.0),
    (100, "6/8", "C", 19, "pink", 0.0),
    (110, "4/4", "G", 20, "white", -0.01),
]


def _sections(tempo_bpm: float, time_signature: str) -> list[tuple[str, int]]:
    beats_per_bar = {"4/4": 4, "3/4": 3, "6/8": 2}[time_signature]
    bars = max(8, round(40.0 / (beats_per_bar * 60.0 / tempo_bpm)))
    a = max(1, bars // 9)
    return [("intro", a), ("verse", 3 * a), ("chorus", 3 * a), ("breakdown", a),
            ("chorus", max(1, bars - 8 * a))]  # fmt: skip


def _degrade(audio, kind: str, seed: int):
    import numpy as np

    from stemforge.audio import Audio, load, save

    if kind == "mp3":
        with tempfile.TemporaryDirectory() as folder:
            wav, mp3 = Path(folder) / "in.wav", Path(folder) / "out.mp3"
            save(wav, audio, bit_depth=16)
            cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-b:a", "128k",
                   str(mp3)]  # fmt: skip
            subprocess.run(cmd, check=True)
            return load(mp3)
    if kind in ("white", "pink"):
        x = audio.samples.astype(np.float64)
        noise = np.random.default_rng(seed).standard_normal(x.shape)
        if kind == "pink":
            spec = np.fft.rfft(noise, axis=1)
            f = np.fft.rfftfreq(x.shape[1])
            spec[:, 1:] /= np.sqrt(f[1:])
            spec[:, 0] = 0
            noise = np.fft.irfft(spec, x.shape[1], axis=1)
        noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (20.0 / 10))
        return Audio((x + noise).astype(np.float32), audio.sample_rate)
    return audio


def _accuracy(estimate: float, truth: float) -> tuple[bool, bool]:
    def near(t: float) -> bool:
        return abs(estimate - t) <= 0.04 * t

    return near(truth), any(near(truth * f) for f in (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0))


def _f_measure(reference, estimated) -> float:
    import mir_eval
    import numpy as np

    ref = mir_eval.beat.trim_beats(np.asarray(reference, np.float64))
    est = mir_eval.beat.trim_beats(np.asarray(estimated, np.float64))
    return float(mir_eval.beat.f_measure(ref, est)) if len(est) and len(ref) else 0.0


def _trackers():
    """name -> fn(Audio) -> (tempo_bpm, beat_times_s)."""
    import numpy as np

    os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
    import librosa

    from stemforge.analysis.rhythm import rhythm

    def ours(audio):
        r = rhythm(audio)
        return (r.tempo_bpm if r.found else float("nan")), np.asarray(r.beat_times_s)

    def librosa_default(audio):
        y = audio.to_mono().resample(22050).samples[0]
        tempo, frames = librosa.beat.beat_track(y=y, sr=22050)
        times = librosa.frames_to_time(frames, sr=22050)
        return float(np.atleast_1d(tempo)[0]), times

    trackers = {"stemforge": ours, "librosa": librosa_default}
    try:
        import essentia.standard as es
    except ImportError:
        print("essentia is not importable: its column is left out")
    else:
        extractor = es.RhythmExtractor2013(method="multifeature")

        def essentia_multifeature(audio):
            y = audio.to_mono().resample(44100).samples[0].astype(np.float32)
            bpm, beats, _, _, _ = extractor(y)
            return float(bpm), np.asarray(beats)

        trackers["essentia"] = essentia_multifeature
    return trackers


def main() -> dict[str, float]:
    pin_to_one_core()
    import numpy as np

    from stemforge.audio import load
    from stemforge.demo import generate_song

    trackers = _trackers()
    names = list(trackers)
    head = "".join(f"{n:>22}" for n in names)
    figures: dict[str, float] = {}

    print(f"\nreal recordings (tempo BPM, Acc1/Acc2)\n{'':24}{head}")
    real_acc = {n: [] for n in names}
    for label, rel, truth in REAL:
        audio = load(SHARED_DATA / rel)
        row = ""
        for n in names:
            tempo, _ = trackers[n](audio)
            a1, a2 = _accuracy(tempo, truth)
            real_acc[n].append((a1, a2))
            row += f"{tempo:>12.1f} {int(a1)}/{int(a2):<8}"
        print(f"{label:<24}{row}")

    print(f"\ndemo songs (tempo BPM, Acc1/Acc2, beat F-measure)\n{'':24}{head}")
    demo_acc = {n: [] for n in names}
    demo_f = {n: [] for n in names}
    for tempo_bpm, meter, key, seed, kind, drift in DEMO:
        song = generate_song(tempo_bpm=tempo_bpm, time_signature=meter, key=key, seed=seed,
                             tempo_drift=drift, sections=_sections(tempo_bpm, meter))  # fmt: skip
        audio = _degrade(song.mix, kind, seed)
        label = f"{tempo_bpm} {meter} {kind}" + (f" {drift:+.0%}" if drift else "")
        row = ""
        for n in names:
            tempo, beats = trackers[n](audio)
            a1, a2 = _accuracy(tempo, song.truth.tempo_bpm)
            f = _f_measure(song.truth.beat_times_s, beats)
            demo_acc[n].append((a1, a2))
            demo_f[n].append(f)
            row += f"{tempo:>8.1f} {int(a1)}/{int(a2)} {f:6.3f}  "
        print(f"{label:<24}{row}")

    print(f"\nsummary{'':17}{head}")
    for what, table in (("real Acc1", real_acc), ("demo Acc1", demo_acc)):
        for i, suffix in ((0, "1"), (1, "2")):
            label = what[:-1] + suffix
            vals = {n: np.mean([acc[i] for acc in table[n]]) for n in names}
            print(f"{label:<24}" + "".join(f"{vals[n]:>22.2f}" for n in names))
            for n in names:
                figures[f"{n} {label}"] = float(vals[n])
    vals = {n: float(np.mean(demo_f[n])) for n in names}
    print(f"{'demo beat F (mean)':<24}" + "".join(f"{vals[n]:>22.3f}" for n in names))
    for n in names:
        figures[f"{n} demo beat F"] = vals[n]

    from stemforge.analysis.rhythm import rhythm

    path = four_minute_track()
    audio = load(path)
    seconds = best_of(lambda: rhythm(audio))
    print(f"\nrhythm() on {path.name} ({audio.duration_s:.0f} s, {audio.sample_rate} Hz stereo), "
          f"one core, best of 3: {seconds:.3f} s")  # fmt: skip
    figures["rhythm 4-minute seconds"] = seconds
    for n in names[1:]:
        other = best_of(lambda n=n: trackers[n](audio), repeat=1)
        print(f"{n} on the same track (after a warm-up): {other:.3f} s")
        figures[f"{n} 4-minute seconds"] = other
    return figures


if __name__ == "__main__":
    main()
