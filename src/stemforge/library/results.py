"""What leaves the library layer: frozen result dataclasses with ``to_dict()``."""

from __future__ import annotations

from dataclasses import dataclass, field

from stemforge.results import Result

ADDED = "added"
DUPLICATE = "duplicate"
FAILED = "failed"


@dataclass(frozen=True)
class IngestItem(Result):
    """The outcome for one file of ``library add``."""

    path: str
    status: str  # added, duplicate or failed
    track_id: int | None = None
    reason: str | None = None
    resumed: bool = False  # an interrupted ingest of this file was finished


@dataclass(frozen=True)
class IngestReport(Result):
    items: tuple[IngestItem, ...]

    def _count(self, status: str) -> int:
        return sum(1 for item in self.items if item.status == status)

    @property
    def added(self) -> int:
        return self._count(ADDED)

    @property
    def duplicates(self) -> int:
        return self._count(DUPLICATE)

    @property
    def failed(self) -> int:
        return self._count(FAILED)

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "items": [item.to_dict() for item in self.items],
        }


@dataclass(frozen=True)
class TrackSummary(Result):
    """One row of ``library list`` / ``library search``."""

    id: int
    title: str | None
    artist: str | None
    album: str | None
    genre: str | None
    file_name: str
    tempo_bpm: float | None
    key: str | None
    camelot: str | None
    integrated_lufs: float | None
    true_peak_dbtp: float | None
    lra_lu: float | None
    duration_s: float | None
    added_at: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SegmentInfo(Result):
    kind: str  # bar, phrase or section
    position: int
    start_s: float
    end_s: float
    label: str | None = None
    bar_count: int | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class AnalysisInfo(Result):
    analysis_version: int
    algorithm_version: str
    is_current: bool
    created_at: str


@dataclass(frozen=True)
class TrackDetail(Result):
    """Everything known about one track (``library show``)."""

    summary: TrackSummary
    status: str
    content_sha256: str
    year: int | None
    track_number: int | None
    tag_bpm: float | None
    tag_key: str | None
    file_format: str | None
    sample_rate: int | None
    channels: int | None
    size_bytes: int
    source_path: str
    original_path: str | None
    in_place: bool
    media_folder: str
    files: tuple[str, ...]
    time_signature: str | None
    key_confidence: float | None
    tempo_confidence: float | None
    bar_count: int
    phrase_count: int
    sections: tuple[SegmentInfo, ...]
    analyses: tuple[AnalysisInfo, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RemovedTrack(Result):
    track_id: int
    title: str | None
    removed_folder: str | None
    kept_original: str | None  # an original referenced in place, left where it is


@dataclass(frozen=True)
class ReanalyzeItem(Result):
    track_id: int
    status: str  # analysed or failed
    analysis_version: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ReanalyzeReport(Result):
    items: tuple[ReanalyzeItem, ...]
    algorithm_version: str
