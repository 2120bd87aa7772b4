"""Loudness, dynamics and Zwicker loudness of a 4-minute 44.1 kHz stereo track, one core, vs ffmpeg.

Target: stemforge's ``loudness()`` (integrated, momentary, short-term, LRA, true peak,
PSR) no slower than ffmpeg's ``ebur128=peak=true`` on the same WAV (about 1.1 s).
Both are timed in the same run, best of 3 after a warm-up, single-threaded.
"""

from __future__ import annotations

import math
import re
import resource
import subprocess
import time

from common import best_of, ffmpeg_ebur128_seconds, four_minute_track, pin_to_one_core


def _ffmpeg_summary(path) -> dict[str, float]:
    meter = "ebur128=peak=true:metadata=1,ametadata=mode=print:file=-"
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-threads", "1", "-i", str(path),
           "-af", meter, "-f", "null", "-"]  # fmt: skip
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    last = {k: float(v) for k, v in re.findall(r"lavfi\.r128\.([\w.]+)=(\S+)", text)}
    return {
        "I": last["I"],
        "LRA": last["LRA"],
        "true_peak_dbtp": 20 * math.log10(last["true_peak"]),
    }


def _cpu_seconds(fn, repeat: int = 3) -> float:
    """Best-of CPU time (user + system, this process and its children) of ``fn()``."""

    def used() -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    fn()
    best = math.inf
    for _ in range(repeat):
        start = used()
        fn()
        best = min(best, used() - start)
    return best


def main() -> dict[str, float]:
    pin_to_one_core()
    from stemforge.analysis.dynamics import dynamics
    from stemforge.analysis.loudness import loudness
    from stemforge.analysis.psychoacoustic import psychoacoustic_loudness
    from stemforge.analysis.truepeak import oversampling_factor, scan_peaks
    from stemforge.audio import load

    path = four_minute_track()
    audio = load(path)
    print(
        f"track: {path.name}, {audio.duration_s:.1f} s, {audio.channels} ch, {audio.sample_rate} Hz"
    )

    ours_s = best_of(lambda: loudness(audio))
    ffmpeg_s = ffmpeg_ebur128_seconds(path)
    speed = audio.duration_s / ours_s
    print(f"loudness() one core, best of 3:       {ours_s:6.3f} s  ({speed:.0f}x real time)")
    print(f"ffmpeg ebur128=peak=true, best of 3:  {ffmpeg_s:6.3f} s")
    verdict = "PASS" if ours_s <= ffmpeg_s else "FAIL"
    ratio = ours_s / ffmpeg_s
    print(f"ratio stemforge / ffmpeg:             {ratio:6.2f}  (target <= 1.00 -> {verdict})")
    # CPU time is robust to other work on the machine (wall time is not).
    ours_cpu = _cpu_seconds(lambda: loudness(audio))
    ffmpeg_cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-threads", "1", "-i",
                  str(path), "-af", "ebur128=peak=true", "-f", "null", "-"]  # fmt: skip
    ffmpeg_cpu = _cpu_seconds(lambda: subprocess.run(ffmpeg_cmd, capture_output=True, check=True))
    print(f"CPU time: stemforge {ours_cpu:.3f} s, ffmpeg {ffmpeg_cpu:.3f} s, "
          f"ratio {ours_cpu / ffmpeg_cpu:.2f}")  # fmt: skip

    r = loudness(audio)
    ref = _ffmpeg_summary(path)
    print(f"  integrated {r.integrated_lufs:7.3f} LUFS  (ffmpeg {ref['I']:7.3f}, "
          f"diff {r.integrated_lufs - ref['I']:+.3f} LU)")  # fmt: skip
    print(f"  LRA        {r.loudness_range_lu:7.3f} LU    (ffmpeg {ref['LRA']:7.3f}, "
          f"diff {r.loudness_range_lu - ref['LRA']:+.3f} LU)")  # fmt: skip
    print(f"  true peak  {r.true_peak_dbtp:7.3f} dBTP  (ffmpeg {ref['true_peak_dbtp']:7.3f})")
    print(f"  PLR {r.plr_db:.2f} dB, PSR min/median {r.psr_min_db:.2f}/{r.psr_median_db:.2f} dB")

    # Where the time goes in the true-peak search.
    factor = oversampling_factor(audio.sample_rate)
    hop = round(audio.sample_rate / 10)
    for windows, label in ((0, "true peak only"), (30, "true peak + PSR windows")):
        start = time.perf_counter()
        scan = scan_peaks(audio.samples, audio.sample_rate, oversampling=factor,
                          hop_length=hop, window_segments=windows)  # fmt: skip
        took = time.perf_counter() - start
        share = scan.blocks_computed / scan.blocks_total
        print(f"  {label:<24} {took:6.3f} s, oversampled {share:5.1%} of the blocks")
    start = time.perf_counter()
    scan = scan_peaks(audio.samples, audio.sample_rate, oversampling=factor, hop_length=hop,
                      window_segments=30, prune=False)  # fmt: skip
    brute_s = time.perf_counter() - start
    print(f"  {'brute force (all blocks)':<24} {brute_s:6.3f} s")

    dyn_s = best_of(lambda: dynamics(audio, loudness_result=r))
    dyn_full_s = best_of(lambda: dynamics(audio), repeat=1)
    print(f"dynamics() given the loudness result: {dyn_s:6.3f} s")
    print(f"  measuring the loudness too:         {dyn_full_s:6.3f} s")

    zw_s = best_of(lambda: psychoacoustic_loudness(audio))
    zw = psychoacoustic_loudness(audio)
    print(f"psychoacoustic_loudness() stationary: {zw_s:6.3f} s on the loudest "
          f"{zw.analysed.duration_s:.0f} s")  # fmt: skip
    phon, acum = zw.loudness_level_phon, zw.sharpness_acum
    print(f"  {zw.loudness_sone:.1f} sone, {phon:.1f} phon, {acum:.2f} acum")
    whole_s = best_of(lambda: psychoacoustic_loudness(audio, max_duration_s=None), repeat=1)
    print(f"  stationary on the whole {audio.duration_s:.0f} s:       {whole_s:6.3f} s")
    tv_audio = audio.slice_s(60, 65)
    tv_s = best_of(lambda: psychoacoustic_loudness(tv_audio, time_varying=True), repeat=1)
    print(
        f"  time-varying on 5 s:                {tv_s:6.3f} s ({tv_s / 5:.2f} s per audio second)"
    )
    return {
        "loudness_s": ours_s,
        "ffmpeg_ebur128_s": ffmpeg_s,
        "ratio": ratio,
        "loudness_cpu_s": ours_cpu,
        "ffmpeg_ebur128_cpu_s": ffmpeg_cpu,
        "true_peak_brute_force_s": brute_s,
        "dynamics_s": dyn_s,
        "psychoacoustic_stationary_s": zw_s,
        "psychoacoustic_whole_track_s": whole_s,
        "psychoacoustic_time_varying_per_s": tv_s / 5,
    }


if __name__ == "__main__":
    main()
