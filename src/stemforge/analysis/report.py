"""The whole measurement of a mix: every standard analysis in one result.

``analyze(path_or_audio)`` loads the file (if given a path), runs loudness,
psychoacoustic loudness, dynamics, stereo, spectrum, transients, quality and the
musical analysis (tempo, beats, meter, key, chords, structure), and returns a
:class:`MixAnalysis`. Each part is a pure function of the audio; this module only
sequences them, reports progress and records timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from stemforge.analysis.dynamics import DynamicsResult, dynamics
from stemforge.analysis.loudness import LoudnessResult, loudness
from stemforge.analysis.music import DEFAULT_TEMPO_RANGE_BPM, MusicAnalysis, analyze_music
from stemforge.analysis.psychoacoustic import PsychoacousticResult, psychoacoustic_loudness
from stemforge.analysis.quality import QualityResult, quality
from stemforge.analysis.spectrum import SpectrumResult, spectrum
from stemforge.analysis.stereo import StereoResult, stereo
from stemforge.analysis.transients import TransientResult, transients
from stemforge.audio import Audio, AudioInfo, info, load
from stemforge.errors import EmptyAudioError
from stemforge.progress import ProgressCallback, no_progress
from stemforge.results import Result

#: The shortest signal the full analysis accepts (one BS.1770 gating block).
MIN_DURATION_S = 0.4


@dataclass(frozen=True)
class MixAnalysis(Result):
    """Every standard measurement of one signal."""

    source: str | None
    sample_rate: int
    channels: int
    duration_s: float
    file: AudioInfo | None
    loudness: LoudnessResult
    psychoacoustic: PsychoacousticResult
    dynamics: DynamicsResult
    stereo: StereoResult
    spectrum: SpectrumResult
    transients: TransientResult
    quality: QualityResult
    music: MusicAnalysis
    timings_s: dict[str, float] = field(default_factory=dict)


def analyze(
    source: str | Path | Audio,
    *,
    progress: ProgressCallback = no_progress,
    time_varying_loudness: bool = False,
    preferred_range_bpm: tuple[float, float] = DEFAULT_TEMPO_RANGE_BPM,
) -> MixAnalysis:
    """Measure ``source`` (a path or an :class:`Audio`) to broadcast and mastering standards."""
    timings: dict[str, float] = {}
    file_info = None
    if isinstance(source, Audio):
        audio, name = source, None
    else:
        progress("loading", 0.0)
        start = time.perf_counter()
        file_info = info(source)
        audio = load(source)
        timings["load"] = time.perf_counter() - start
        name = str(source)
    audio.require_finite()
    if audio.duration_s < MIN_DURATION_S:
        raise EmptyAudioError(
            f"the signal lasts {audio.duration_s:.3f} s; the analysis needs at least "
            f"{MIN_DURATION_S} s (one BS.1770 gating block).",
            path=name,
        )

    steps = [
        ("loudness", lambda: loudness(audio)),
        (
            "psychoacoustic",
            lambda: psychoacoustic_loudness(audio, time_varying=time_varying_loudness),
        ),
        ("stereo", lambda: stereo(audio)),
        ("spectrum", lambda: spectrum(audio)),
        ("transients", lambda: transients(audio)),
        ("quality", lambda: quality(audio)),
        ("music", lambda: analyze_music(audio, preferred_range_bpm=preferred_range_bpm)),
    ]
    results: dict[str, Result] = {}
    for index, (step, run) in enumerate(steps):
        progress(step, index / (len(steps) + 1))
        start = time.perf_counter()
        results[step] = run()
        timings[step] = time.perf_counter() - start
    progress("dynamics", len(steps) / (len(steps) + 1))
    start = time.perf_counter()
    results["dynamics"] = dynamics(audio, loudness_result=results["loudness"])
    timings["dynamics"] = time.perf_counter() - start
    progress("done", 1.0)

    return MixAnalysis(
        source=name,
        sample_rate=audio.sample_rate,
        channels=audio.channels,
        duration_s=audio.duration_s,
        file=file_info,
        timings_s=timings,
        **results,  # type: ignore[arg-type]
    )
