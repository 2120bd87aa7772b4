"""Atomic output: a failed write leaves the destination as it was and no temporary file."""

from __future__ import annotations

import json
import os

import pytest

from stemforge.errors import OutputWriteError, StemforgeError
from stemforge.output import atomic_output, write_json_atomic


def test_json_written_whole_and_nan_free(tmp_path):
    path = write_json_atomic(tmp_path / "r.json", {"lufs": None, "values": [1.5, 2]})
    assert json.loads(path.read_text()) == {"lufs": None, "values": [1.5, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_failure_inside_keeps_existing_file(tmp_path):
    dest = tmp_path / "mix.json"
    dest.write_text("original")
    with pytest.raises(RuntimeError), atomic_output(dest) as tmp:
        tmp.write(b"half a fi")
        raise RuntimeError("crash while writing")
    assert dest.read_text() == "original"
    assert [p.name for p in tmp_path.iterdir()] == ["mix.json"]


def test_missing_folder_is_an_actionable_error(tmp_path):
    with pytest.raises(OutputWriteError, match="folder does not exist") as info:
        write_json_atomic(tmp_path / "nope" / "r.json", {})
    assert isinstance(info.value, StemforgeError)
    assert "nope" in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_folder(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OutputWriteError, match="writable"):
            write_json_atomic(tmp_path / "r.json", {})
    finally:
        tmp_path.chmod(0o700)


def test_nan_is_refused_rather_than_written(tmp_path):
    with pytest.raises(ValueError):
        write_json_atomic(tmp_path / "r.json", {"x": float("nan")})
    assert not list(tmp_path.iterdir())


def test_disk_full_gives_clear_error_and_keeps_original(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) makes the OS refuse the write, as a full disk does."""
    import subprocess
    import sys
    import textwrap

    dest = tmp_path / "big.json"
    dest.write_text("original")
    code = textwrap.dedent(f"""
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
        from stemforge.output import write_json_atomic
        from stemforge.errors import OutputWriteError
        try:
            write_json_atomic({str(dest)!r}, list(range(10000)))
        except OutputWriteError as e:
            print("ERR", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("ERR"), out.stderr
    assert "another disk" in out.stdout
    assert dest.read_text() == "original"
    assert [p.name for p in tmp_path.iterdir()] == ["big.json"]


def test_output_gets_umask_permissions_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json_atomic(tmp_path / "r.json", {})
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
