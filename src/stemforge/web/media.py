"""Which file the browser gets for a track: the original when browsers play its format
(WAV PCM, FLAC, MP3, AAC in MP4/M4A, Ogg Vorbis), else a FLAC preview decoded from it once
and cached in the track's media folder (AIFF, ALAC, Opus, WMA, Matroska/WebM ...).
Previews are never Opus: Chromium reports an Ogg Opus stream's duration as infinite,
which breaks seeking.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

#: (container, codec prefix) pairs that browsers play, with their media type.
PLAYABLE = {
    ("wav", "pcm_"): "audio/wav",
    ("flac", "flac"): "audio/flac",
    ("mp3", "mp3"): "audio/mpeg",
    ("mp4", "aac"): "audio/mp4",
    ("mp4", "mp3"): "audio/mp4",
    ("ogg", "vorbis"): "audio/ogg",
}
PREVIEW_NAME = "preview.flac"
#: FLAC codes rates above 65535 Hz only in tens of Hz; other rates get a WAV preview.
_FLAC_MAX_PLAIN_RATE = 65_535

_cache: dict[tuple[str, int, int], tuple[str, str]] = {}
_locks: dict[Path, threading.Lock] = {}
_guard = threading.Lock()


@dataclass(frozen=True)
class Playable:
    path: Path
    media_type: str
    is_preview: bool


def media_type_of(path: Path) -> str | None:
    """The media type of a file browsers play, or None (decided from its content)."""
    from stemforge.audio import info

    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    found = _cache.get(key)
    if found is None:
        about = info(path)
        found = (about.container, about.codec)
        _cache[key] = found
    container, codec = found
    for (want_container, want_codec), media_type in PLAYABLE.items():
        if container == want_container and codec.startswith(want_codec):
            return media_type
    return None


def playable(original: Path, folder: Path) -> Playable:
    """The original if browsers play it, else its preview (made the first time)."""
    media_type = media_type_of(original)
    if media_type is not None:
        return Playable(original, media_type, False)
    return _preview(original, folder)


def _preview(original: Path, folder: Path) -> Playable:
    from stemforge.audio import info, load, save

    rate = info(original).sample_rate
    name = PREVIEW_NAME if rate <= _FLAC_MAX_PLAIN_RATE or rate % 10 == 0 else "preview.wav"
    target = folder / name
    with _guard:
        lock = _locks.setdefault(target, threading.Lock())
    with lock:
        if not target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            save(target, load(original), bit_depth=24)
    return Playable(target, "audio/flac" if name.endswith(".flac") else "audio/wav", True)
