"""Modes and security: scrypt password hashes, login sessions (cookie, logout, expiry),
one library per user (another user's track is 404 on every route), local mode without
login and only on loopback, the users command line, and the 0004 migration. The
account tests run on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, text, update
from typer.testing import CliRunner

from stemforge.cli import app as cli_app
from stemforge.library import QUICK_ANALYZER, Library
from stemforge.library.db import (
    create_library_engine,
    current_revision,
    head_revision,
    migrate,
)
from stemforge.library.models import LoginSession, utcnow
from stemforge.web import WebSettings, create_app
from stemforge.web.auth import (
    COOKIE_NAME,
    create_user,
    hash_password,
    list_users,
    verify_password,
)
from stemforge.web.errors import PasswordPolicyError, WebConfigError

from .support import client, sine_file

PASSWORD = "correct horse battery"


def test_password_hash_is_scrypt_with_a_salt_of_its_own():
    stored = hash_password(PASSWORD)
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", 2**14, 8, 1)
    # recomputed independently with the standard library: the same key
    expected = hashlib.scrypt(
        PASSWORD.encode(), salt=base64.b64decode(salt), n=2**14, r=8, p=1, dklen=32
    )
    assert base64.b64decode(key) == expected
    assert PASSWORD not in stored
    again = hash_password(PASSWORD)
    assert again.split("$")[4] != salt and again != stored  # a new salt every time
    assert verify_password(PASSWORD, stored) and verify_password(PASSWORD, again)
    assert not verify_password(PASSWORD + " ", stored)
    assert not verify_password(PASSWORD, None) and not verify_password(PASSWORD, "garbage")
    with pytest.raises(PasswordPolicyError, match="at least 8"):
        hash_password("short")


@pytest.fixture
def server_app(make_app, db_url):
    app = make_app(mode="server", database_url=db_url)
    lib = app.state.library
    alice = create_user(lib, "alice", PASSWORD, is_admin=True)
    bob = create_user(lib, "bob", "bobs password")
    return app, alice, bob


def _login(app, name, password):
    api = client(app)
    response = api.post("/api/login", json={"username": name, "password": password})
    return api, response


def test_login_logout_and_cookie(server_app):
    app, alice, _ = server_app
    anonymous = client(app)
    assert anonymous.get("/api/me").status_code == 401
    assert anonymous.get("/api/tracks").json()["error"] == "NotAuthenticatedError"
    assert anonymous.get("/api/health").json() == {
        "ok": True,
        "mode": "server",
        "version": anonymous.get("/api/health").json()["version"],
    }
    page = anonymous.get("/jobs?x=1", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=/jobs%3Fx%3D1"

    for name, password in (("alice", "wrong password"), ("nobody", PASSWORD), ("ALICE", PASSWORD)):
        _, wrong = _login(app, name, password)
        assert wrong.status_code == 401 and wrong.json()["error"] == "AuthenticationError"
        assert COOKIE_NAME not in wrong.cookies

    api, ok = _login(app, "alice", PASSWORD)
    assert ok.status_code == 200 and ok.json() == {
        "id": alice.id,
        "name": "alice",
        "is_admin": True,
    }
    cookie = ok.headers["set-cookie"]
    assert f"{COOKIE_NAME}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    token = ok.cookies[COOKIE_NAME]
    assert api.get("/api/me").json()["name"] == "alice"
    assert api.get("/", follow_redirects=False).status_code == 200
    # the database keeps the token's hash only
    with app.state.library.session() as session:
        stored = session.scalars(select(LoginSession.token_sha256)).all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]

    assert api.post("/api/logout").status_code == 200
    assert api.get("/api/me").status_code == 401
    replay = client(app)  # the old cookie, kept by someone: no longer a login
    replay.cookies.set(COOKIE_NAME, token)
    assert replay.get("/api/me").status_code == 401


def test_session_expires(server_app):
    app, *_ = server_app
    api, _ = _login(app, "bob", "bobs password")
    assert api.get("/api/me").status_code == 200
    with app.state.library.session() as session:
        session.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert api.get("/api/me").status_code == 401
    with app.state.library.session() as session:  # an expired session is deleted
        assert session.scalars(select(LoginSession)).all() == []


def test_each_user_sees_only_their_own_library(server_app, audio_dir):
    app, alice, bob = server_app
    lib = app.state.library
    song = sine_file(audio_dir / "song.wav", amplitude=0.3, duration_s=2.0)
    alice_track = lib.add([song], user_id=alice.id, analyzer=QUICK_ANALYZER).items[0].track_id
    # the same file is a track of bob's own; again for alice it is a duplicate
    bob_item = lib.add([song], user_id=bob.id, analyzer=QUICK_ANALYZER).items[0]
    assert bob_item.status == "added" and bob_item.track_id != alice_track
    assert lib.add([song], user_id=alice.id, analyzer=QUICK_ANALYZER).items[0].status == (
        "duplicate"
    )
    as_alice, _ = _login(app, "alice", PASSWORD)
    as_bob, _ = _login(app, "bob", "bobs password")
    assert [t["id"] for t in as_alice.get("/api/tracks").json()["items"]] == [alice_track]
    assert [t["id"] for t in as_bob.get("/api/tracks").json()["items"]] == [bob_item.track_id]

    for method, path, kwargs in (
        ("get", "", {}),
        ("get", "/analysis", {}),
        ("get", "/doctor", {}),
        ("get", "/report", {}),
        ("get", "/peaks", {}),
        ("get", "/audio", {}),
        ("get", "/audio?download=1", {}),
        ("post", "/tags", {"json": {"add": ["mine"]}}),
        ("post", "/reanalyze", {}),
        ("delete", "", {}),
    ):
        response = getattr(as_bob, method)(f"/api/tracks/{alice_track}{path}", **kwargs)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == "TrackNotFoundError"
        # the same answer as for a track that does not exist
        missing = getattr(as_bob, method)(f"/api/tracks/999999{path}", **kwargs).json()
        assert missing["message"].replace("999999", "N") == response.json()["message"].replace(
            str(alice_track), "N"
        )
    assert as_alice.get(f"/api/tracks/{alice_track}").status_code == 200
    assert lib.show(alice_track).summary.tags == ()  # bob's tagging did nothing
    # the page of another user's track is the 404 page
    assert as_bob.get(f"/tracks/{alice_track}").status_code == 404
    # exports hold only your own tracks
    export = as_bob.get("/api/export")
    assert export.status_code == 200
    import io
    import zipfile

    manifest = json.loads(zipfile.ZipFile(io.BytesIO(export.content)).read("manifest.json"))
    assert [t["id"] for t in manifest["tracks"]] == [bob_item.track_id]
    # server mode shows no server paths
    detail = as_alice.get(f"/api/tracks/{alice_track}").json()
    assert detail["media_folder"] is None and "/" not in (detail["source_path"] or "")


def test_jobs_are_private(server_app, audio_dir):
    app, *_ = server_app
    as_alice, _ = _login(app, "alice", PASSWORD)
    as_bob, _ = _login(app, "bob", "bobs password")
    wav = sine_file(audio_dir / "x.wav").read_bytes()
    job_id = as_alice.post("/api/uploads", files={"files": ("x.wav", wav)}).json()["files"][0][
        "job_id"
    ]
    assert [j["id"] for j in as_alice.get("/api/jobs").json()["items"]] == [job_id]
    assert as_bob.get("/api/jobs").json()["items"] == []
    assert as_bob.get(f"/api/jobs/{job_id}").status_code == 404
    assert as_bob.post(f"/api/jobs/{job_id}/cancel").status_code == 404
    assert as_alice.post(f"/api/jobs/{job_id}/cancel").json()["state"] == "cancelled"


def test_local_mode_needs_no_login_and_stays_on_loopback(make_app, tmp_path):
    app = make_app()
    api = client(app)
    me = api.get("/api/me").json()
    assert me["name"] == "local" and me["id"] == app.state.library.local_user_id()
    login = api.post("/api/login", json={"username": "local", "password": "whatever"})
    assert login.status_code == 400 and "server" in login.json()["hint"]
    # DNS rebinding: a page of another site reaching 127.0.0.1 has that site's Host
    assert api.get("/api/me", headers={"Host": "evil.example"}).status_code == 400
    assert api.get("/api/me", headers={"Host": "evil.example:8000"}).status_code == 400
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert api.get("/api/me", headers={"Host": host}).status_code == 200, host
    # cross-site request forgery: another site's page may read nothing (CORS) and
    # change nothing, even where a form could POST without any script
    job_id = api.post(
        "/api/uploads", files={"files": ("a.wav", sine_file(tmp_path / "a.wav").read_bytes())}
    ).json()["files"][0]["job_id"]
    cancel = f"/api/jobs/{job_id}/cancel"
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://127.0.0.1:9999"},
    ):
        refused = api.post(cancel, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.json()["error"] == "CrossSiteRequestError"
    assert api.get("/api/jobs").json()["items"][0]["state"] == "queued"
    same = api.post(cancel, headers={"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200 and same.json()["state"] == "cancelled"
    assert api.get("/api/me", headers={"Origin": "http://evil.example"}).status_code == 200

    for host in ("0.0.0.0", "192.168.1.20", "example.com", "::"):
        with pytest.raises(WebConfigError, match="--server"):
            WebSettings(host=host, home=tmp_path).check()
    with pytest.raises(WebConfigError):
        create_app(WebSettings(host="0.0.0.0", home=tmp_path / "never"))
    assert not (tmp_path / "never").exists()  # refused before anything was made
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        WebSettings(host=host).check()
    WebSettings(mode="server", host="0.0.0.0").check()

    refused = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0"])
    assert refused.exit_code == 1
    assert "local mode" in refused.output and "--server" in refused.output


def test_users_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMFORGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("STEMFORGE_DATABASE_URL", raising=False)
    runner = CliRunner()
    added = runner.invoke(
        cli_app, ["users", "add", "carol", "--admin", "--password-stdin"], input="s3cret-pass\n"
    )
    assert added.exit_code == 0, added.output
    again = runner.invoke(cli_app, ["users", "add", "carol", "--password-stdin"], input="x" * 9)
    assert again.exit_code == 1 and "exists" in again.output
    short = runner.invoke(cli_app, ["users", "add", "dave", "--password-stdin"], input="abc\n")
    assert short.exit_code == 1 and "too short" in short.output
    bad_name = runner.invoke(cli_app, ["users", "add", "../x", "--password-stdin"], input="a" * 9)
    assert bad_name.exit_code == 1
    listed = json.loads(runner.invoke(cli_app, ["users", "list", "--json"]).output)
    assert [(u["name"], u["is_admin"], u["has_password"]) for u in listed] == [
        ("local", False, False),
        ("carol", True, True),
    ]
    with Library.open() as lib:
        app = create_app(WebSettings(mode="server", run_worker=False))
        _, ok = _login(app, "carol", "s3cret-pass")
        assert ok.status_code == 200
        app.state.library.close()
        assert [u.name for u in list_users(lib)] == ["local", "carol"]
    changed = runner.invoke(
        cli_app, ["users", "password", "carol", "--password-stdin"], input="another-pass\n"
    )
    assert changed.exit_code == 0
    removed = runner.invoke(cli_app, ["users", "remove", "carol", "--yes"])
    assert removed.exit_code == 0 and "Removed carol" in removed.output
    assert runner.invoke(cli_app, ["users", "remove", "local", "--yes"]).exit_code == 1


def test_removing_a_user_removes_their_library(server_app, audio_dir):
    from stemforge.web.auth import remove_user

    app, alice, bob = server_app
    lib = app.state.library
    song = sine_file(audio_dir / "s.wav", amplitude=0.2)
    bob_track = lib.add([song], user_id=bob.id, analyzer=QUICK_ANALYZER).items[0].track_id
    alice_track = lib.add([song], user_id=alice.id, analyzer=QUICK_ANALYZER).items[0].track_id
    assert remove_user(lib, "bob") == 1
    assert not lib.media_folder(bob_track).exists() and lib.media_folder(alice_track).is_dir()
    assert [u.name for u in list_users(lib)] == ["local", "alice"]
    _, gone = _login(app, "bob", "bobs password")
    assert gone.status_code == 401


def test_a_0003_database_is_upgraded(db_url, tmp_path, audio_dir):
    """A library made before accounts: its tracks become the local user's, the same file
    may then be added for another user, and logins work."""
    engine = create_library_engine(db_url)
    migrate(engine, "0003")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tracks (content_sha256, status, source_path, in_place, file_name,"
                " size_bytes, title, added_at, updated_at) VALUES ('ab', 'ready', '/x.wav',"
                " false, 'x.wav', 10, 'Old One', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    with Library.open(db_url, home=tmp_path / "home") as lib:
        assert current_revision(lib.engine) == head_revision() >= "0004"
        inspector = inspect(lib.engine)
        assert "login_sessions" in inspector.get_table_names()
        assert {"password_hash", "is_admin"} <= {c["name"] for c in inspector.get_columns("users")}
        assert "user_id" in {c["name"] for c in inspector.get_columns("jobs")}
        uniques = [c["column_names"] for c in inspector.get_unique_constraints("tracks")]
        assert ["user_id", "content_sha256"] in uniques and ["content_sha256"] not in uniques
        with lib.engine.connect() as conn:
            owner = conn.execute(text("SELECT user_id FROM tracks")).scalar_one()
        assert owner == lib.local_user_id()
        user = create_user(lib, "erin", PASSWORD)
        song = sine_file(audio_dir / "s.wav")
        for who in (None, user.id):
            assert lib.add([song], user_id=who, analyzer=QUICK_ANALYZER).added == 1
