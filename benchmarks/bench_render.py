"""Mix rendering: 16 stereo stems of 4 minutes at 44.1 kHz through a full mix sheet, one core.

Every stem gets an EQ (24 dB/oct high-pass and 3 peaking bands) and a compressor; half
of them send to the shared reverb; the master has a glue compressor and the true-peak
limiter aiming at -12 LUFS. The issue's budget is 20 s for analysing, mixing and
rendering 16 such stems; this prints the render's share, its ratio to real time, and
the ratio to a reference measured in the same run: the same chain built from
pedalboard's C++ plug-ins (its 12 dB/oct high-pass twice, peak filters, compressor,
reverb, limiter), which is what a DAW-style plug-in chain costs on this machine.
"""

from __future__ import annotations

import math
import time

import numpy as np
from common import pin_to_one_core

STEMS = 16
DURATION_S = 240.0
SAMPLE_RATE = 44_100


def stems_16() -> dict:
    """16 stereo stems from three 4-minute demo songs (kick, snare, hats, bass, ...)."""
    from stemforge.audio.signal import Audio
    from stemforge.demo import generate_song

    sections = [("intro", 8), ("verse", 24), ("chorus", 24), ("breakdown", 16)]
    sections += [("chorus", 24), ("outro", 24)]  # 120 bars of 4/4 at 120 BPM: 240 s
    frames = round(DURATION_S * SAMPLE_RATE)
    out = {}
    for seed in (1, 2, 3):
        song = generate_song(tempo_bpm=120, sections=sections, seed=seed, sample_rate=SAMPLE_RATE)
        for name, audio in song.stems.items():
            if len(out) < STEMS:
                stereo = audio.to_stereo().pad_to(frames).samples[:, :frames]
                out[f"{seed}_{name}"] = Audio(stereo, SAMPLE_RATE)
    return out


def sheet_for(names):
    from stemforge.mixing import (
        Band,
        ChannelEQ,
        Compressor,
        Limiter,
        MasterBus,
        MixSheet,
        Reverb,
        StemChannel,
    )

    channels = {}
    for i, name in enumerate(sorted(names)):
        channels[name] = StemChannel(
            gain_db=-3.0 - (i % 4),
            pan=round(-0.6 + 1.2 * i / (len(names) - 1), 3),
            eq=ChannelEQ(
                high_pass_hz=30.0 + 5 * i,
                high_pass_slope_db_per_oct=24,
                bands=(Band(200.0 + 20 * i, -2.0, 1.4), Band(1000.0, 1.0), Band(4000.0, 1.5, 2)),
            ),
            compressor=Compressor(threshold_db=-24.0, ratio=3.0, attack_ms=10, release_ms=120),
            reverb_send_db=-12.0 if i % 2 else None,
        )
    master = MasterBus(
        compressor=Compressor(threshold_db=-14.0, ratio=1.5, attack_ms=30, release_ms=200),
        limiter=Limiter(ceiling_dbtp=-1.0, target_lufs=-12.0),
        reverb=Reverb(room_size=0.5),
    )
    return MixSheet(stems=channels, master=master, created_by="benchmark")


def pedalboard_reference(stems, sheet) -> np.ndarray:
    """The same chain in pedalboard (C++): per stem filters and compressor, reverb, master."""
    import pedalboard as pb

    total = np.zeros((2, next(iter(stems.values())).frames), np.float32)
    send = np.zeros_like(total)
    for name, audio in sorted(stems.items()):
        ch = sheet.stems[name]
        chain = pb.Pedalboard(
            [
                pb.HighpassFilter(ch.eq.high_pass_hz),
                pb.HighpassFilter(ch.eq.high_pass_hz),
                *(pb.PeakFilter(b.frequency_hz, b.gain_db, b.q) for b in ch.eq.bands),
                pb.Compressor(
                    threshold_db=ch.compressor.threshold_db,
                    ratio=ch.compressor.ratio,
                    attack_ms=ch.compressor.attack_ms,
                    release_ms=ch.compressor.release_ms,
                ),
                pb.Gain(ch.gain_db),
            ]
        )
        y = chain(audio.samples, SAMPLE_RATE)
        total += y
        if ch.reverb_send_db is not None:
            send += y * np.float32(10 ** (ch.reverb_send_db / 20))
    total += pb.Reverb(room_size=0.5, wet_level=0.33, dry_level=0.0)(send, SAMPLE_RATE)
    glue = sheet.master.compressor
    master = pb.Pedalboard(
        [
            pb.Compressor(glue.threshold_db, glue.ratio, glue.attack_ms, glue.release_ms),
            pb.Limiter(threshold_db=-1.0),
        ]
    )
    return master(total, SAMPLE_RATE)


def cpu() -> float:
    return time.process_time()


def main() -> dict[str, float]:
    pin_to_one_core()
    from stemforge.analysis.truepeak import true_peak
    from stemforge.mixing import render

    start = time.perf_counter()
    stems = stems_16()
    sheet = sheet_for(stems)
    print(
        f"{len(stems)} stems x {DURATION_S:.0f} s stereo at {SAMPLE_RATE} Hz "
        f"(synthesised in {time.perf_counter() - start:.1f} s)"
    )
    # Warm-up on a short excerpt: numba's cached kernels and the reverb's normalisation.
    short = {n: a.slice_s(0, 2.0) for n, a in stems.items()}
    render(short, sheet)

    walls, cpus, mixes = [], [], []
    for _ in range(2):
        wall, used = time.perf_counter(), cpu()
        mixes.append(render(stems, sheet))
        walls.append(time.perf_counter() - wall)
        cpus.append(cpu() - used)
    mix = mixes[0]
    identical = np.array_equal(mixes[0].audio.samples, mixes[1].audio.samples)

    wall, used = time.perf_counter(), cpu()
    reference = pedalboard_reference(stems, sheet)
    ref_wall, ref_cpu = time.perf_counter() - wall, cpu() - used

    best, best_cpu = min(walls), min(cpus)
    print(f"render: {best:.2f} s wall, {best_cpu:.2f} s CPU (best of 2, one core)")
    print(f"  real time ratio: {DURATION_S / best:.1f}x faster than real time")
    print(f"  issue budget (analyse + mix + render 16 x 4 min): 20 s; render uses {best / 20:.0%}")
    print(f"  pedalboard plug-in chain (reference): {ref_wall:.2f} s wall, {ref_cpu:.2f} s CPU")
    print(
        f"  stemforge / pedalboard: {best_cpu / ref_cpu:.2f}x (CPU), {best / ref_wall:.2f}x (wall)"
    )
    print(
        f"mix: {mix.integrated_lufs:.2f} LUFS (target -12), {mix.true_peak_dbtp:.3f} dBTP "
        f"(ceiling -1; meter {true_peak(mix.audio).true_peak_dbtp:.3f}), limiter "
        f"{mix.limiter_gain_reduction_db:.1f} dB max reduction, "
        f"bit-identical on a second render: {identical}"
    )
    peak = 20 * math.log10(float(np.abs(reference).max()) + 1e-12)
    print(f"reference output sample peak {peak:.2f} dBFS (pedalboard's limiter is not true-peak)")
    return {
        "render_s": best,
        "render_cpu_s": best_cpu,
        "realtime_ratio": DURATION_S / best,
        "pedalboard_s": ref_wall,
        "ratio_to_pedalboard": best_cpu / ref_cpu,
    }


if __name__ == "__main__":
    main()
