"""Musical analysis (tempo, beats, downbeats, key, chords, structure) of 4 minutes, one core.

Target (issue #3): under 3 s after warm-up, on one core.
"""

from __future__ import annotations

from common import best_of, four_minute_track, pin_to_one_core

TARGET_S = 3.0


def main() -> None:
    pin_to_one_core()
    from stemforge.analysis.music import analyze_music
    from stemforge.audio import load

    audio = load(four_minute_track())
    seconds = best_of(lambda: analyze_music(audio), repeat=3)
    result = analyze_music(audio)
    verdict = "PASS" if seconds < TARGET_S else "FAIL"
    print(f"track: {audio.duration_s:.1f} s stereo {audio.sample_rate} Hz")
    print(
        f"musical analysis, one core, best of 3: {seconds:.2f} s "
        f"({audio.duration_s / seconds:.0f}x real time; target {TARGET_S:.0f} s -> {verdict}, "
        f"ratio {seconds / TARGET_S:.2f} of budget)"
    )
    for step, t in sorted(result.timings_s.items(), key=lambda kv: -kv[1]):
        print(f"  {step:<10} {t:6.2f} s")
    print(
        f"  found: {result.rhythm.tempo_bpm:.1f} BPM {result.rhythm.time_signature}, "
        f"{result.key.key}, {len(result.chords.segments)} chord changes, "
        f"{len(result.structure.sections)} sections"
    )


if __name__ == "__main__":
    main()
