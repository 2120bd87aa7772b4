"""Search, tags, re-analysis and migrations on SQLite and PostgreSQL, against the demo
songs' known tempo and key (the generator's ground truth)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import inspect, text

from stemforge.demo import generate_song
from stemforge.library import (
    FULL_ANALYZER,
    QUICK_ANALYZER,
    InvalidKeyError,
    Library,
    LibraryError,
    SearchQuery,
)
from stemforge.library.db import create_library_engine, current_revision, head_revision, migrate

# (tempo_bpm, tonic, mode, seed, Camelot code, genre)
SONGS = [
    (124, "A", "minor", 1, "8A", "House"),
    (100, "D", "minor", 2, "7A", "Hip Hop"),
    (140, "E", "minor", 3, "9A", "Techno"),
    (90, "F#", "major", 4, "2B", "Hip Hop"),
    (100, "C", "major", 5, "8B", "Pop"),
]


@pytest.fixture(scope="module")
def song_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    files = []
    for bpm, tonic, mode, seed, _, genre in SONGS:
        song = generate_song(
            tempo_bpm=bpm, key=tonic, mode=mode, seed=seed, sections=[("intro", 2), ("verse", 4)]
        )
        path = song.save(root / f"s{seed}") / "mix.wav"
        named = path.with_name(f"Artist {seed} - {genre} {tonic} {mode}.wav")
        path.rename(named)
        files.append((named, song.mix.duration_s))
    return files


@pytest.fixture
def loaded(db_url, tmp_path, song_files):
    from mutagen.id3 import TCON
    from mutagen.wave import WAVE

    for (path, _), (*_, genre) in zip(song_files, SONGS, strict=True):
        w = WAVE(path)
        if w.tags is None:
            w.add_tags()
            w.tags.add(TCON(text=genre))
            w.save()
    lib = Library.open(db_url, home=tmp_path / "home")
    report = lib.add([p for p, _ in song_files], analyzer=QUICK_ANALYZER)
    assert report.added == len(SONGS), report.to_dict()
    ids = {SONGS[i][3]: item.track_id for i, item in enumerate(report.items)}
    yield lib, ids
    lib.close()


def _seeds(lib, ids, **query):
    back = {v: k for k, v in ids.items()}
    return [back[t.id] for t in lib.search(SearchQuery(**query))]


def test_filters_match_the_ground_truth(loaded, song_files):
    lib, ids = loaded
    assert sorted(_seeds(lib, ids, bpm_min=95, bpm_max=105)) == [2, 5]
    assert _seeds(lib, ids, bpm_min=120, bpm_max=130) == [1]
    assert _seeds(lib, ids, key="A minor") == [1]
    assert _seeds(lib, ids, key="2B") == [4]
    # compatible with A minor (8A): 8A itself, 8B relative, 7A and 9A neighbours; not 2B
    assert sorted(_seeds(lib, ids, compatible_with="Am")) == [1, 2, 3, 5]
    assert sorted(_seeds(lib, ids, genre="hip hop")) == [2, 4]
    assert _seeds(lib, ids, text="artist 3") == [3]
    assert _seeds(lib, ids, text="F# MAJOR") == [4]  # file name, case-insensitive
    durations = {seed: d for (_, d), (_, _, _, seed, _, _) in zip(song_files, SONGS, strict=True)}
    longest = max(durations, key=durations.get)
    assert _seeds(lib, ids, duration_min_s=durations[longest] - 0.01) == [longest]
    lufs = {t.id: t.integrated_lufs for t in lib.search()}
    assert all(-20 < v < -8 for v in lufs.values())
    loudest = max(lufs, key=lufs.get)
    assert [t.id for t in lib.search(SearchQuery(lufs_min=lufs[loudest] - 1e-6))] == [loudest]
    assert _seeds(lib, ids, bpm_min=95, bpm_max=105, compatible_with="8A") == [2, 5]


def test_sorting(loaded):
    lib, ids = loaded
    assert _seeds(lib, ids, sort="bpm") == [4, 2, 5, 1, 3]  # ties by id
    assert _seeds(lib, ids, sort="bpm", descending=True)[:2] == [3, 1]
    assert _seeds(lib, ids, sort="key") == [4, 2, 1, 5, 3]  # 2B, 7A, 8A, 8B, 9A
    assert _seeds(lib, ids, sort="added") == [1, 2, 3, 4, 5]
    titles = [t.title for t in lib.search(SearchQuery(sort="title"))]
    assert titles == sorted(titles, key=str.lower)
    assert len(lib.search(SearchQuery(limit=2))) == 2
    with pytest.raises(LibraryError, match="Sort by one of"):
        lib.search(SearchQuery(sort="colour"))
    with pytest.raises(InvalidKeyError):
        lib.search(SearchQuery(key="Q minor"))


def test_tags_and_reanalysis(loaded):
    lib, ids = loaded
    assert lib.tag(ids[1], ["Warmup", "peak", "peak"]) == ("peak", "warmup")
    lib.tag(ids[3], ["peak"])
    assert sorted(_seeds(lib, ids, tag="PEAK")) == [1, 3]
    assert lib.tag(ids[1], ["peak"], remove=True) == ("warmup",)
    assert _seeds(lib, ids, tag="peak") == [3]

    # quick analyses are outdated relative to the full algorithm
    assert sorted(lib.outdated(FULL_ANALYZER.algorithm_version)) == sorted(ids.values())
    report = lib.reanalyze([ids[1]], analyzer=FULL_ANALYZER)
    assert report.items[0].analysis_version == 2
    assert ids[1] not in lib.outdated(FULL_ANALYZER.algorithm_version)
    detail = lib.show(ids[1])
    assert [(a.analysis_version, a.is_current) for a in detail.analyses] == [(1, False), (2, True)]
    full = lib.analysis_json(ids[1])
    assert {"psychoacoustic", "spectrum", "transients"} <= set(full)
    assert detail.summary.camelot == "8A" and abs(detail.summary.tempo_bpm - 124) < 1
    assert len(lib.search()) == len(SONGS)  # one current analysis per track
    again = lib.reanalyze(outdated=True, analyzer=QUICK_ANALYZER)  # nothing outdated for quick
    assert [i.track_id for i in again.items] == [ids[1]]


def test_old_database_is_migrated_on_open(db_url, tmp_path):
    engine = create_library_engine(db_url)
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "jobs" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tracks (content_sha256, status, source_path, in_place, file_name,"
                " size_bytes, title, added_at, updated_at) VALUES ('ab', 'ready', '/x.wav',"
                " false, 'x.wav', 10, 'Old One', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    with Library.open(db_url, home=tmp_path) as lib:
        assert current_revision(lib.engine) == head_revision() == "0005"
        names = set(inspect(lib.engine).get_table_names())
        assert {"jobs", "stems", "samples", "midi", "lyrics", "ratings"} <= names
        indexes = {i["name"] for i in inspect(lib.engine).get_indexes("analyses")}
        assert "ix_analyses_current_camelot_tempo" in indexes  # 0005
        assert "ix_analyses_current_camelot" not in indexes
        with lib.engine.connect() as conn:
            assert conn.execute(text("SELECT title FROM tracks")).scalar_one() == "Old One"
            users = conn.execute(text("SELECT name FROM users")).scalars().all()
            assert users == ["local"]


def test_sqlite_pragmas(tmp_path):
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with Library.open(url, home=tmp_path) as lib, lib.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000


def test_default_database_is_in_stemforge_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMFORGE_HOME", str(tmp_path / "h"))
    monkeypatch.delenv("STEMFORGE_DATABASE_URL", raising=False)
    with Library.open() as lib:
        assert lib.engine.url.database == str(tmp_path / "h" / "library.db")
        assert lib.media_root == tmp_path / "h" / "media"


def test_cli_json(loaded, db_url, tmp_path):
    lib, ids = loaded
    env = dict(os.environ, STEMFORGE_HOME=str(tmp_path / "home"), STEMFORGE_DATABASE_URL=db_url)

    def cli(*args):
        out = subprocess.run(
            [sys.executable, "-m", "stemforge.cli", "library", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return out

    out = cli("search", "--compatible", "8A", "--bpm-max", "110", "--sort", "bpm", "--json")
    assert out.returncode == 0, out.stderr
    assert sorted(r["id"] for r in json.loads(out.stdout)) == sorted([ids[2], ids[5]])
    assert cli("tag", str(ids[4]), "vinyl").returncode == 0
    rows = json.loads(cli("list", "--json").stdout)
    assert {r["id"]: r["tags"] for r in rows}[ids[4]] == ["vinyl"]
    shown = json.loads(cli("show", str(ids[3]), "--json").stdout)
    assert shown["summary"]["camelot"] == "9A" and shown["sections"]
    missing = cli("show", "999")
    assert missing.returncode == 1 and "no track has id 999" in missing.stderr
    removed = cli("remove", str(ids[4]))
    assert removed.returncode == 0 and len(lib.search()) == len(SONGS) - 1


def test_tags_of_a_large_result_come_from_the_filter(db_url, tmp_path):
    """Past 200 matches the tags are fetched by the search's own filter (not by a list of
    ids): every track still carries exactly its tags, and filters still apply."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from stemforge.library.models import Analysis, Track

    now = datetime(2025, 1, 1, tzinfo=UTC)
    with Library.open(db_url, home=tmp_path) as lib:
        tracks = [
            dict(id=i, content_sha256=f"{i:064x}", status="ready", source_path=f"/m/{i}.wav",
                 in_place=False, file_name=f"{i}.wav", size_bytes=1, title=f"T{i}",
                 added_at=now, updated_at=now)
            for i in range(1, 301)
        ]  # fmt: skip
        analyses = [
            dict(id=i, track_id=i, analysis_version=1, algorithm_version="t", is_current=True,
                 created_at=now, tempo_bpm=100.0 + i % 50, camelot="8A" if i % 3 else "3B",
                 result_json={})
            for i in range(1, 301)
        ]  # fmt: skip
        with lib.engine.begin() as conn:
            conn.execute(insert(Track.__table__), tracks)
            conn.execute(insert(Analysis.__table__), analyses)
        if lib.engine.dialect.name == "postgresql":
            with lib.engine.begin() as conn:
                conn.execute(text("SELECT setval('tracks_id_seq', 300)"))
        for i in (3, 4, 250, 299):
            lib.tag(i, ["warm-up", f"n{i}"])
        found = lib.search(SearchQuery(compatible_with="8A"))
        assert len(found) == 200 and all(t.camelot == "8A" for t in found)
        tagged = {t.id: t.tags for t in found if t.tags}
        assert tagged == {i: (f"n{i}", "warm-up") for i in (4, 250, 299)}
        everything = {t.id: t.tags for t in lib.search() if t.tags}
        assert everything == {i: (f"n{i}", "warm-up") for i in (3, 4, 250, 299)}
        page = lib.search(SearchQuery(sort="title", limit=5, descending=True))
        assert [t.title for t in page] == ["T99", "T98", "T97", "T96", "T95"]
