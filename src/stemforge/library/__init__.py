"""The track library: database models, media store, ingest and search (issue #5)."""

from stemforge.library.analyzers import (
    ANALYSIS_ALGORITHM_VERSION,
    FULL_ANALYZER,
    QUICK_ANALYZER,
    Analyzer,
)
from stemforge.library.camelot import camelot_code, compatible_codes, is_compatible, parse_key
from stemforge.library.errors import (
    DatabaseError,
    InvalidKeyError,
    LibraryError,
    LibraryWriteError,
    TrackNotFoundError,
)
from stemforge.library.library import SORT_KEYS, Library, SearchQuery, collect_audio_files
from stemforge.library.results import (
    IngestItem,
    IngestReport,
    ReanalyzeReport,
    RemovedTrack,
    TrackDetail,
    TrackSummary,
)

__all__ = [
    "ANALYSIS_ALGORITHM_VERSION",
    "FULL_ANALYZER",
    "QUICK_ANALYZER",
    "SORT_KEYS",
    "Analyzer",
    "DatabaseError",
    "IngestItem",
    "IngestReport",
    "InvalidKeyError",
    "Library",
    "LibraryError",
    "LibraryWriteError",
    "ReanalyzeReport",
    "RemovedTrack",
    "SearchQuery",
    "TrackDetail",
    "TrackNotFoundError",
    "TrackSummary",
    "camelot_code",
    "collect_audio_files",
    "compatible_codes",
    "is_compatible",
    "parse_key",
]
