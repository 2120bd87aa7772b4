"""Track metadata from tags (mutagen) and, where tags are missing, from the file name.

Tags read: title, artist, album, genre, year, BPM and initial key, from ID3 (MP3, WAV,
AIFF), Vorbis comments (FLAC, Ogg, Opus) and MP4 atoms (M4A). File names of the forms
``Artist - Title.ext`` and ``01 Title.ext`` (or ``01 - Title``, ``01. Title``) fill in
what the tags lack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from stemforge.results import Result

_NUMBERED = re.compile(r"^\s*(\d{1,3})\s*(?:[-._)]\s*|\s+)(.+?)\s*$")
_ARTIST_TITLE = re.compile(r"^\s*(.+?)\s+[-–]\s+(.+?)\s*$")
_YEAR = re.compile(r"(\d{4})")


@dataclass(frozen=True)
class TrackMetadata(Result):
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    genre: str | None = None
    year: int | None = None
    track_number: int | None = None
    tag_bpm: float | None = None
    tag_key: str | None = None


_ID3 = {
    "title": "TIT2",
    "artist": "TPE1",
    "album": "TALB",
    "genre": "TCON",
    "year": "TDRC",
    "track": "TRCK",
    "bpm": "TBPM",
    "key": "TKEY",
}
_VORBIS = {
    "title": ("title",),
    "artist": ("artist",),
    "album": ("album",),
    "genre": ("genre",),
    "year": ("date", "year"),
    "track": ("tracknumber",),
    "bpm": ("bpm", "tempo"),
    "key": ("initialkey", "key"),
}
_MP4 = {
    "title": ("\xa9nam",),
    "artist": ("\xa9ART",),
    "album": ("\xa9alb",),
    "genre": ("\xa9gen",),
    "year": ("\xa9day",),
    "track": ("trkn",),
    "bpm": ("tmpo",),
    "key": ("----:com.apple.iTunes:initialkey",),
}


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def read_tags(path: Path) -> dict[str, str]:
    """The raw tag values found in ``path`` (empty when it has none or mutagen fails)."""
    try:
        import mutagen

        handle = mutagen.File(path)
    except Exception:  # a damaged tag block must not stop an ingest
        return {}
    tags = getattr(handle, "tags", None)
    if not tags:
        return {}
    out: dict[str, str] = {}
    if hasattr(tags, "getall"):  # ID3
        for name, frame_id in _ID3.items():
            frames = tags.getall(frame_id)
            if frames and getattr(frames[0], "text", None):
                out[name] = str(frames[0].text[0])
        return out
    table = _MP4 if type(tags).__name__.startswith("MP4") else _VORBIS
    lowered = {str(k).lower(): v for k, v in tags.items()} if table is _VORBIS else dict(tags)
    for name, keys in table.items():
        for key in keys:
            value = lowered.get(key)
            if value:
                first = value[0] if isinstance(value, list) else value
                if isinstance(first, tuple):  # MP4 track number (n, of)
                    first = first[0]
                if isinstance(first, bytes):
                    first = first.decode("utf-8", "replace")
                out[name] = str(first)
                break
    return out


def parse_file_name(path: Path) -> TrackMetadata:
    """``"Artist - Title.ext"`` or ``"01 Title.ext"``; otherwise the stem is the title."""
    stem = Path(path).stem.replace("_", " ").strip()
    match = _ARTIST_TITLE.match(stem)
    if match and not match.group(1).isdigit():
        return TrackMetadata(title=match.group(2), artist=match.group(1))
    if match:  # "01 - Title"
        return TrackMetadata(title=match.group(2), track_number=int(match.group(1)))
    match = _NUMBERED.match(stem)
    if match:
        return TrackMetadata(title=match.group(2), track_number=int(match.group(1)))
    return TrackMetadata(title=stem or None)


def _number(text: str | None, kind=float):
    if not text:
        return None
    try:
        return kind(float(text.split("/")[0].strip()))
    except ValueError:
        return None


def clean_text(value: str | None, max_chars: int = 1000) -> str | None:
    """A tag value fit for any database: control characters (NUL breaks PostgreSQL text)
    become spaces, runs of whitespace one space, and it is cut to the column's length."""
    if value is None:
        return None
    text = " ".join(_CONTROL.sub(" ", value).split())
    return text[:max_chars] or None


def _in_range(value, low, high):
    return value if value is not None and low <= value <= high else None


def read_metadata(path: Path) -> TrackMetadata:
    """Tags first, the file name for what they lack; every value cleaned and bounded."""
    tags = read_tags(path)
    from_name = parse_file_name(path)
    year_match = _YEAR.search(tags.get("year", ""))

    def text(name: str, max_chars: int = 1000) -> str | None:
        return clean_text(tags.get(name), max_chars)

    bpm = _in_range(_number(tags.get("bpm")), 1e-3, 999.0)
    track_number = _in_range(_number(tags.get("track"), int), 0, 99_999)
    return TrackMetadata(
        title=text("title") or clean_text(from_name.title),
        artist=text("artist") or clean_text(from_name.artist),
        album=text("album"),
        genre=text("genre", 200),
        year=_in_range(int(year_match.group(1)), 1000, 2999) if year_match else None,
        track_number=track_number or _in_range(from_name.track_number, 0, 99_999),
        tag_bpm=bpm,
        tag_key=text("key", 32),
    )
