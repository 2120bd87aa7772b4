"""Ingest into the library on SQLite and PostgreSQL: copies, duplicates, tags, failures,
originals untouched, removal, a full disk, and a scan killed with SIGKILL then resumed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import func, select

from stemforge.demo import generate_song
from stemforge.library import QUICK_ANALYZER, Library, TrackNotFoundError
from stemforge.library.models import Analysis, Segment, Track

SONGS = [(124, "A", "minor", 1), (100, "D", "minor", 2), (140, "E", "minor", 3)]


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Three short demo mixes (12-17 s) with known tempo and key."""
    root = tmp_path_factory.mktemp("songs")
    paths = []
    for bpm, key, mode, seed in SONGS:
        song = generate_song(
            tempo_bpm=bpm, key=key, mode=mode, seed=seed, sections=[("intro", 2), ("verse", 4)]
        )
        folder = song.save(root / f"s{seed}")
        paths.append(folder / "mix.wav")
    return paths


@pytest.fixture
def library(db_url, tmp_path):
    lib = Library.open(db_url, home=tmp_path / "home")
    yield lib
    lib.close()


def _snapshot(path):
    st = os.stat(path)
    return path.read_bytes(), st.st_mtime_ns


def test_add_copies_dedups_and_keeps_originals(library, songs, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "sub").mkdir()
    a = shutil.copy(songs[0], folder / "Some Artist - First Song.wav")
    b = shutil.copy(songs[1], folder / "sub" / "02 Second.wav")
    same_as_a = shutil.copy(songs[0], folder / "sub" / "copy of a.wav")
    (folder / "notes.wav").write_bytes(b"this is not audio at all" * 50)
    (folder / "readme.txt").write_text("ignored: not an audio suffix")
    before = {p: _snapshot(p) for p in (a, b, same_as_a)}

    report = library.add([folder], analyzer=QUICK_ANALYZER)

    by_name = {os.path.basename(i.path): i for i in report.items}
    assert set(by_name) == {a.name, b.name, same_as_a.name, "notes.wav"}
    assert (report.added, report.duplicates, report.failed) == (2, 1, 1)
    assert "not an audio file" in by_name["notes.wav"].reason
    dup = by_name[same_as_a.name]
    assert dup.status == "duplicate" and dup.track_id == by_name[a.name].track_id

    rows = {t.file_name: t for t in library.search()}
    assert rows[a.name].artist == "Some Artist" and rows[a.name].title == "First Song"
    assert rows[b.name].title == "Second"
    detail = library.show(by_name[a.name].track_id)
    stored = library.media_root / str(detail.summary.id) / "original.wav"
    assert detail.original_path == str(stored) and stored.read_bytes() == before[a][0]
    assert detail.in_place is False and "original.wav" in detail.files
    assert detail.sections and detail.bar_count > 0

    # again: every file is a duplicate or the same failure, nothing new is stored
    again = library.add([folder], analyzer=QUICK_ANALYZER)
    assert (again.added, again.duplicates, again.failed) == (0, 3, 1)
    with library.session() as s:
        assert s.scalar(select(func.count()).select_from(Track)) == 2
        assert s.scalar(select(func.count()).select_from(Analysis)) == 2

    library.remove(by_name[b.name].track_id)
    assert not (library.media_root / str(by_name[b.name].track_id)).exists()
    with pytest.raises(TrackNotFoundError):
        library.show(by_name[b.name].track_id)
    for path, snap in before.items():
        assert _snapshot(path) == snap  # bytes and mtime unchanged


def test_in_place_original_survives_remove(library, songs, tmp_path):
    original = shutil.copy(songs[2], tmp_path / "keep.wav")
    snap = _snapshot(original)
    report = library.add([original], in_place=True, analyzer=QUICK_ANALYZER)
    track_id = report.items[0].track_id
    detail = library.show(track_id)
    assert detail.in_place and detail.original_path == str(original.resolve())
    assert "original.wav" not in detail.files
    library.reanalyze([track_id], analyzer=QUICK_ANALYZER)
    removed = library.remove(track_id)
    assert removed.kept_original == str(original.resolve())
    assert _snapshot(original) == snap
    with library.session() as s:  # the cascade took analyses and segments with it
        assert s.scalar(select(func.count()).select_from(Analysis)) == 0
        assert s.scalar(select(func.count()).select_from(Segment)) == 0


def test_metadata_from_tags(library, songs, tmp_path):
    from mutagen.flac import FLAC
    from mutagen.id3 import TBPM, TCON, TDRC, TIT2, TKEY, TPE1
    from mutagen.wave import WAVE

    from stemforge.audio import load, save

    flac = tmp_path / "Wrong Artist - Wrong Title.flac"
    save(flac, load(songs[1]))
    tags = FLAC(flac)
    tags.update(
        {
            "title": "Night Drive",
            "artist": "Nova",
            "album": "Roads",
            "genre": "Synthwave",
            "date": "2019-05-01",
            "bpm": "100",
            "initialkey": "Dm",
        }
    )
    tags.save()
    wav = shutil.copy(songs[0], tmp_path / "untitled.wav")
    w = WAVE(wav)
    w.add_tags()
    for frame in (
        TIT2(text="Sunrise"),
        TPE1(text="Aurora"),
        TCON(text="House"),
        TDRC(text="2021"),
        TBPM(text="124"),
        TKEY(text="Am"),
    ):
        w.tags.add(frame)
    w.save()

    report = library.add([flac, wav], analyzer=QUICK_ANALYZER)
    assert report.added == 2, report.to_dict()
    one = library.show(report.items[0].track_id)
    assert (one.summary.title, one.summary.artist, one.summary.album) == (
        "Night Drive",
        "Nova",
        "Roads",
    )
    assert (one.summary.genre, one.year, one.tag_bpm, one.tag_key) == ("Synthwave", 2019, 100, "Dm")
    two = library.show(report.items[1].track_id)
    assert (two.summary.title, two.summary.artist, two.summary.genre) == (
        "Sunrise",
        "Aurora",
        "House",
    )
    assert (two.year, two.tag_bpm, two.tag_key) == (2021, 124, "Am")
    from stemforge.library import SearchQuery

    assert [t.id for t in library.search(SearchQuery(genre="house"))] == [two.summary.id]
    assert [t.id for t in library.search(SearchQuery(text="nova"))] == [one.summary.id]


def _env(db_url, home):
    env = dict(os.environ, STEMFORGE_HOME=str(home), STEMFORGE_DATABASE_URL=db_url)
    env.setdefault("NUMBA_CACHE_DIR", str(home / "numba"))
    return env


def test_disk_full_gives_clear_error_and_no_half_rows(db_url, songs, tmp_path):
    """RLIMIT_FSIZE makes the copy of a 2+ MB original fail as a full disk would."""
    home = tmp_path / "home"
    Library.open(db_url, home=home).close()  # the schema exists before the limit
    code = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
        from stemforge.library import Library, QUICK_ANALYZER
        from stemforge.errors import OutputWriteError
        lib = Library.open({db_url!r}, home={str(home)!r})
        try:
            lib.add([{str(songs[0])!r}], analyzer=QUICK_ANALYZER)
        except OutputWriteError as e:
            print("ERR", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.startswith("ERR"), out.stdout + out.stderr
    assert "another disk" in out.stdout
    with Library.open(db_url, home=home) as lib:
        with lib.session() as s:
            assert s.scalar(select(func.count()).select_from(Track)) == 0
        assert not any((home / "media").rglob("*.wav"))
        assert lib.add([songs[0]], analyzer=QUICK_ANALYZER).added == 1  # and it works after


def test_sigkill_mid_scan_then_resume(db_url, songs, tmp_path):
    """`library add` killed in the middle of 6 files, run again: each file once, analysed."""
    folder = tmp_path / "scan"
    folder.mkdir()
    for i in range(6):
        song = generate_song(
            tempo_bpm=96 + 8 * i, key="C", mode="major", seed=20 + i, sections=[("verse", 4)]
        )
        song.save(tmp_path / f"g{i}")
        shutil.copy(tmp_path / f"g{i}" / "mix.wav", folder / f"{i:02d} Track {i}.wav")
    home = tmp_path / "home"
    env = _env(db_url, home)
    Library.open(db_url, home=home).close()
    command = [sys.executable, "-m", "stemforge.cli", "library", "add", str(folder)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ready = 0
    with Library.open(db_url, home=home) as lib:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with lib.session() as s:
                ready = s.scalar(select(func.count()).where(Track.status == "ready"))
            if ready >= 2:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        assert 2 <= ready < 6, "the scan was not interrupted in the middle"

        out = subprocess.run([*command, "--json"], env=env, capture_output=True, timeout=300)
        assert out.returncode == 0, out.stderr.decode()
        with lib.session() as s:
            tracks = s.scalars(select(Track)).all()
            assert len(tracks) == 6 and all(t.status == "ready" for t in tracks)
            assert sorted(t.file_name for t in tracks) == sorted(os.listdir(folder))
            per_track = s.execute(
                select(Analysis.track_id, func.count()).group_by(Analysis.track_id)
            ).all()
            assert len(per_track) == 6 and all(n == 1 for _, n in per_track)
        assert len(lib.search()) == 6
        assert not list((home / "media").rglob("*.tmp"))


def test_unknown_track_is_an_actionable_error(library):
    with pytest.raises(TrackNotFoundError, match="library list"):
        library.tag(99, ["x"])
    with pytest.raises(TrackNotFoundError):
        library.remove(99)


def test_hostile_tags_are_cleaned_and_bounded(library, songs, tmp_path):
    """NUL and control characters (PostgreSQL refuses NUL in text), a 5,000-character
    artist and absurd numbers in tags: the track is added with clean, bounded values."""
    from mutagen.flac import FLAC

    from stemforge.audio import load, save

    flac = tmp_path / "hostile.flac"
    save(flac, load(songs[2]))
    tags = FLAC(flac)
    tags.update(
        {
            "title": "Night\x00Drive\r\nRemix",
            "artist": "A" * 5000,
            "genre": "\tDeep\x1bHouse  " + "x" * 300,
            "date": "0000",
            "tracknumber": "99999999999",
            "bpm": "1e9",
            "initialkey": "Am\x00" + "m" * 100,
        }
    )
    tags.save()
    report = library.add([flac], analyzer=QUICK_ANALYZER)
    assert report.added == 1, report.to_dict()
    detail = library.show(report.items[0].track_id)
    assert detail.summary.title == "Night Drive Remix"
    assert detail.summary.artist == "A" * 1000
    assert detail.summary.genre.startswith("Deep House x") and len(detail.summary.genre) == 200
    assert (detail.year, detail.track_number, detail.tag_bpm) == (None, None, None)
    assert detail.tag_key == ("Am " + "m" * 100)[:32]


def test_two_processes_adding_the_same_file_make_one_track(db_url, songs, tmp_path):
    """Two `library add` runs of one file at once: both end with the same track (the
    second either waits for the first's ingest job or finds a duplicate), and the
    library and media store hold one copy."""
    home = tmp_path / "home"
    Library.open(db_url, home=home).close()
    env = _env(db_url, home)
    command = [sys.executable, "-m", "stemforge.cli", "library", "add", str(songs[0]), "--json"]
    command += ["--workers", "1"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    import json

    reports = [json.loads(o) for o in outputs]
    assert all(r["failed"] == 0 and r["added"] + r["duplicates"] == 1 for r in reports), reports
    assert len({r["items"][0]["track_id"] for r in reports}) == 1, reports
    with Library.open(db_url, home=home) as lib:
        assert len(lib.search()) == 1
        assert len(list((home / "media").rglob("original.*"))) == 1
