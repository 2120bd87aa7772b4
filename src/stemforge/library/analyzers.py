"""How the library analyses a track, and the version string stored with each analysis.

An :class:`Analyzer` maps a file to the JSON of :meth:`MixAnalysis.to_dict` (or the
subset of it the quick analyzer computes). Its ``algorithm_version`` is stored with
every analysis so ``library reanalyze --outdated`` finds tracks analysed by an older
algorithm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemforge import __version__
from stemforge.progress import ProgressCallback, no_progress

#: Bump when the analysis changes in a way that makes stored results stale.
ANALYSIS_ALGORITHM_VERSION = f"mix-analysis/1 stemforge/{__version__}"


@dataclass(frozen=True)
class Analyzer:
    algorithm_version: str
    run: Callable[[Path, ProgressCallback], dict[str, Any]]


def _full(path: Path, progress: ProgressCallback = no_progress) -> dict[str, Any]:
    from stemforge.analysis.report import analyze

    return analyze(path, progress=progress).to_dict()


def _quick(path: Path, progress: ProgressCallback = no_progress) -> dict[str, Any]:
    """Loudness, true peak, LRA and the musical analysis only (no psychoacoustics,
    spectrum, stereo or transients): the search columns and segments, several times faster."""
    from stemforge.analysis.loudness import loudness
    from stemforge.analysis.music import analyze_music
    from stemforge.audio import info, load

    audio = load(path).require_finite()
    progress("loudness", 0.1)
    loud = loudness(audio)
    progress("music", 0.4)
    music = analyze_music(audio)
    return {
        "source": str(path),
        "sample_rate": audio.sample_rate,
        "channels": audio.channels,
        "duration_s": audio.duration_s,
        "file": info(path).to_dict(),
        "loudness": loud.to_dict(),
        "music": music.to_dict(),
    }


#: The real analysis (``analyze()``): what ``library add`` runs.
FULL_ANALYZER = Analyzer(ANALYSIS_ALGORITHM_VERSION, _full)
#: A fast subset with the same JSON layout for the search columns.
QUICK_ANALYZER = Analyzer(f"quick-analysis/1 stemforge/{__version__}", _quick)
