"""`library export` on SQLite and PostgreSQL: folders and zips, both layouts, names that
carry BPM and key, manifest hashes that match, originals untouched, hostile metadata."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path, PurePosixPath

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from stemforge.demo import generate_song
from stemforge.errors import OutputWriteError
from stemforge.library import QUICK_ANALYZER, Library, SearchQuery
from stemforge.library.export import (
    MAX_NAME_BYTES,
    NothingToExportError,
    export_tracks,
    safe_name,
    track_label,
)
from stemforge.library.models import Lyrics, Midi, Sample, Stem, Track

# (tempo_bpm, tonic, mode, seed, expected label facts)
SONGS = [
    (124, "A", "minor", 1, "124 BPM 8A Am"),
    (100, "D", "minor", 2, "100 BPM 7A Dm"),
    (140, "E", "minor", 3, "140 BPM 9A Em"),
]


@pytest.fixture(scope="module")
def song_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    files = []
    for bpm, tonic, mode, seed, _ in SONGS:
        song = generate_song(
            tempo_bpm=bpm, key=tonic, mode=mode, seed=seed, sections=[("intro", 2), ("verse", 2)]
        )
        path = song.save(root / f"s{seed}") / "mix.wav"
        named = path.with_name(f"Artist {seed} - Song {seed}.wav")
        path.rename(named)
        files.append(named)
    return files


def _snapshot(paths):
    return {p: (Path(p).read_bytes(), os.stat(p).st_mtime_ns) for p in paths}


@pytest.fixture
def loaded(db_url, tmp_path, song_files):
    """Three tracks; the first has two stems (rows), an unlisted stem file, a sample, MIDI
    and lyrics."""
    lib = Library.open(db_url, home=tmp_path / "home")
    report = lib.add(song_files, analyzer=QUICK_ANALYZER)
    assert report.added == 3, report.to_dict()
    ids = [item.track_id for item in report.items]
    folder = lib.media_folder(ids[0])
    (folder / "stems" / "htdemucs").mkdir(parents=True)
    (folder / "stems" / "dsp").mkdir(parents=True)
    (folder / "samples").mkdir()
    (folder / "midi").mkdir()
    for name in ("vocals", "drums"):
        (folder / "stems" / "htdemucs" / f"{name}.flac").write_bytes(f"fLaC {name}".encode())
    (folder / "stems" / "dsp" / "bass.flac").write_bytes(b"fLaC bass (no row)")
    (folder / "samples" / "0001.wav").write_bytes(b"RIFF kick")
    (folder / "midi" / "vocals.mid").write_bytes(b"MThd vocals")
    with lib.session() as session:
        stems = [
            Stem(
                track_id=ids[0], model="htdemucs", name=n, path=f"{ids[0]}/stems/htdemucs/{n}.flac"
            )
            for n in ("vocals", "drums")
        ]
        session.add_all(stems)
        session.flush()
        session.add_all(
            [
                Sample(
                    track_id=ids[0],
                    stem_id=stems[1].id,
                    path=str(folder / "samples" / "0001.wav"),
                    start_s=1.0,
                    end_s=1.2,
                    category="kick",
                ),
                Midi(
                    track_id=ids[0],
                    stem_id=stems[0].id,
                    path=f"{ids[0]}/midi/vocals.mid",
                    note_count=3,
                ),
                Lyrics(track_id=ids[0], stem_id=stems[0].id, language="en", text="la la la"),
            ]
        )
    yield lib, ids
    lib.close()


def _originals(lib, ids, song_files):
    with lib.session() as session:
        stored = [lib.original_file(session.get_one(Track, i)) for i in ids]
    derived = [p for p in lib.media_folder(ids[0]).rglob("*") if p.is_file()]
    return [*song_files, *stored, *derived]


def _check_manifest(manifest, read) -> dict[int, dict]:
    tracks = {t["id"]: t for t in manifest["tracks"]}
    for track in manifest["tracks"]:
        for entry in track["files"]:
            data = read(entry["path"])
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert len(data) == entry["size_bytes"]
            if entry["source"]:
                assert Path(entry["source"]).read_bytes() == data
    return tracks


def test_export_to_a_folder_flat(loaded, song_files, tmp_path):
    lib, ids = loaded
    originals = _originals(lib, ids, song_files)
    before = _snapshot(originals)
    dest = tmp_path / "out" / "set"
    report = export_tracks(lib, SearchQuery(sort="bpm"), dest)
    assert report.layout == "flat" and not report.archive
    assert [t.id for t in report.tracks] == [ids[1], ids[0], ids[2]]  # by BPM
    names = sorted(p.name for p in dest.iterdir())
    for _, _, _, seed, facts in SONGS:
        assert f"Artist {seed} - Song {seed} [{facts}].wav" in names
    base = f"Artist 1 - Song 1 [{SONGS[0][4]}]"
    for expected in (
        f"{base} - vocals (htdemucs).flac",
        f"{base} - drums (htdemucs).flac",
        f"{base} - bass (dsp).flac",  # found in the media folder without a row
        f"{base} - sample 01 kick.wav",
        f"{base} - vocals.mid",
        f"{base} - lyrics en.txt",
        "manifest.json",
    ):
        assert expected in names
    assert len(names) == 3 + 6 + 1
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]  # no temp left
    manifest = json.loads((dest / "manifest.json").read_text())
    tracks = _check_manifest(manifest, lambda rel: dest.joinpath(rel).read_bytes())
    first = tracks[ids[0]]
    assert first["camelot"] == "8A" and round(first["tempo_bpm"]) == 124
    assert first["key"] == "A minor" and -30 < first["integrated_lufs"] < 0
    assert first["artist"] == "Artist 1" and first["title"] == "Song 1"
    assert len(first["files"]) == 7 and len(tracks[ids[1]]["files"]) == 1
    assert (dest / f"{base} - lyrics en.txt").read_text() == "la la la\n"
    assert _snapshot(originals) == before


def test_export_to_a_zip_daw_with_a_query(loaded, song_files, tmp_path):
    lib, ids = loaded
    originals = _originals(lib, ids, song_files)
    before = _snapshot(originals)
    dest = tmp_path / "set.zip"
    query = SearchQuery(bpm_min=120, bpm_max=130, compatible_with="9A")
    report = export_tracks(lib, query, dest, layout="daw")
    assert report.archive and [t.id for t in report.tracks] == [ids[0]]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    base = f"Artist 1 - Song 1 [{SONGS[0][4]}]"
    with zipfile.ZipFile(dest) as zf:
        assert zf.testzip() is None
        entries = set(zf.namelist())
        assert entries == {
            "manifest.json",
            f"{base}/audio/{base}.wav",
            f"{base}/stems/{base} - vocals (htdemucs).flac",
            f"{base}/stems/{base} - drums (htdemucs).flac",
            f"{base}/stems/{base} - bass (dsp).flac",
            f"{base}/samples/{base} - sample 01 kick.wav",
            f"{base}/midi/{base} - vocals.mid",
            f"{base}/{base} - lyrics en.txt",
        }
        manifest = json.loads(zf.read("manifest.json"))
        _check_manifest(manifest, zf.read)
    assert manifest["layout"] == "daw" and manifest["query"]["compatible_with"] == "9A"
    assert _snapshot(originals) == before

    # all three tracks, flat, into a zip
    everything = export_tracks(lib, None, tmp_path / "all.zip")
    with zipfile.ZipFile(tmp_path / "all.zip") as zf:
        _check_manifest(json.loads(zf.read("manifest.json")), zf.read)
        assert all("/" not in n for n in zf.namelist())
    assert len(everything.tracks) == 3 and everything.file_count == 3 + 6
    assert _snapshot(originals) == before


def test_hostile_metadata_gives_safe_names(loaded, tmp_path):
    lib, ids = loaded
    with lib.session() as session:
        session.execute(
            update(Track).where(Track.id == ids[0]).values(title="../../etc/passwd", artist="..")
        )
        session.execute(
            update(Track).where(Track.id == ids[1]).values(title="a/b:c*?", artist=None)
        )
        session.execute(
            update(Track).where(Track.id == ids[2]).values(title="CON\\x" * 100, artist="a\x01|<>")
        )
    for dest in (tmp_path / "folder", tmp_path / "hostile.zip"):
        for layout in ("flat", "daw"):
            target = dest.with_name(f"{layout}-{dest.name}")
            report = export_tracks(lib, None, target, layout=layout)
            paths = [f.path for t in report.tracks for f in t.files]
            if target.suffix == ".zip":
                with zipfile.ZipFile(target) as zf:
                    assert sorted(zf.namelist()) == sorted([*paths, "manifest.json"])
            else:
                on_disk = [p for p in target.rglob("*") if p.is_file()]
                assert len(on_disk) == len(paths) + 1
                for p in on_disk:
                    assert p.resolve().is_relative_to(target.resolve())
            for path in paths:
                for part in PurePosixPath(path).parts:
                    assert ".." not in part and not part.startswith(".")
                    assert not set(part) & set('<>:"\\|?*\x00')
                    assert len(part.encode()) <= 255
            names = {t.id: t.name for t in report.tracks}
            assert names[ids[0]] == f"_._etc_passwd [{SONGS[0][4]}]"
            assert names[ids[1]] == f"a_b_c__ [{SONGS[1][4]}]"
            assert names[ids[2]].startswith("a____ - CON_x")
            assert names[ids[2]].endswith(f"[{SONGS[2][4]}]")
            assert len(names[ids[2]].encode()) <= MAX_NAME_BYTES
    assert not (tmp_path / "etc").exists() and not (tmp_path.parent / "etc").exists()


def test_empty_result_and_existing_destinations_are_errors(loaded, tmp_path):
    lib, _ = loaded
    with pytest.raises(NothingToExportError, match="no track matches"):
        export_tracks(lib, SearchQuery(bpm_min=500), tmp_path / "none")
    with pytest.raises(NothingToExportError):
        export_tracks(lib, SearchQuery(text="no such song"), tmp_path / "none.zip")
    assert not (tmp_path / "none").exists() and not (tmp_path / "none.zip").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep")
    with pytest.raises(OutputWriteError, match="not empty"):
        export_tracks(lib, None, busy)
    (tmp_path / "old.zip").write_bytes(b"mine")
    with pytest.raises(OutputWriteError, match="already exists"):
        export_tracks(lib, None, tmp_path / "old.zip")
    assert (tmp_path / "old.zip").read_bytes() == b"mine"
    assert (busy / "mine.txt").read_text() == "keep"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(export_tracks(lib, SearchQuery(key="Dm"), empty).tracks) == 1


def test_cli_export(loaded, db_url, tmp_path, monkeypatch):
    from stemforge.cli import app

    monkeypatch.setenv("STEMFORGE_DATABASE_URL", db_url)
    monkeypatch.setenv("STEMFORGE_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    dest = tmp_path / "cli.zip"
    args = ["library", "export", "song", "--to", str(dest), "--bpm-max", "130", "--json"]
    result = runner.invoke(app, [*args, "--compatible", "8A", "--layout", "daw"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["archive"] and data["file_count"] == 1 + 7
    assert sorted(t["camelot"] for t in data["tracks"]) == ["7A", "8A"]
    result = runner.invoke(app, ["library", "export", "--to", str(tmp_path / "x"), "--key", "1B"])
    assert result.exit_code == 1 and "no track matches" in result.output
    result = runner.invoke(app, ["library", "export", "--to", str(tmp_path / "y"), "--layout", "a"])
    assert result.exit_code == 1 and "unknown layout" in result.output


def test_safe_name_and_label():
    assert safe_name("../../etc/passwd") == "_._etc_passwd"
    assert safe_name("a/b:c*?") == "a_b_c__"
    assert safe_name("..") == "untitled" and safe_name(" . ") == "untitled"
    assert safe_name("con") == "_con" and safe_name("LPT1.txt") == "_LPT1.txt"
    assert safe_name("Beyoncé – Déjà vu") == "Beyoncé – Déjà vu"
    long = safe_name("é" * 500)
    assert len(long.encode()) <= MAX_NAME_BYTES and long == "é" * (MAX_NAME_BYTES // 2)
    assert safe_name("tab\there\nnew") == "tab_here_new"
    label = track_label(
        artist="DJ", title=None, file_name="x.wav", tempo_bpm=127.6, camelot="5B", key="Eb"
    )
    assert label == "DJ - x [128 BPM 5B Eb]"
    assert (
        track_label(artist=None, title="T", file_name="x", tempo_bpm=None, camelot=None, key=None)
        == "T"
    )
