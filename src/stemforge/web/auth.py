"""Accounts and login sessions of server mode.

Passwords are hashed with scrypt (RFC 7914; ``hashlib.scrypt``, N=2**14, r=8, p=1, a
random 16-byte salt per password) and compared in constant time. A login makes a random
32-byte token (``secrets.token_urlsafe``) that the browser keeps in an HttpOnly,
SameSite=Lax cookie; the database keeps only the token's SHA-256, so a copy of the
database cannot be used to log in. Logging out deletes the session row; a session ends
by itself at ``expires_at``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from stemforge.library import Library
from stemforge.library.models import LoginSession, Track, User, utcnow
from stemforge.results import Result
from stemforge.web.errors import (
    AuthenticationError,
    PasswordPolicyError,
    UserExistsError,
    UserNotFoundError,
)

COOKIE_NAME = "stemforge_session"
LOCAL_USER = "local"
#: scrypt cost: 16 MiB of memory and about 50 ms a hash on one core.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class UserInfo(Result):
    id: int
    name: str
    is_admin: bool
    has_password: bool
    created_at: str


def _info(user: User) -> UserInfo:
    return UserInfo(
        id=user.id,
        name=user.name,
        is_admin=bool(user.is_admin),
        has_password=user.password_hash is not None,
        created_at=user.created_at.isoformat() if user.created_at else "",
    )


# --- passwords ------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$<salt>$<key>`` (base64) of ``password`` with a new random salt."""
    check_password(password)
    salt = secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=KEY_BYTES
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` matches the ``stored`` hash (constant-time comparison). A
    missing or unreadable hash never matches, but costs the same time."""
    try:
        scheme, n, r, p, salt, key = (stored or "").split("$")
        if scheme != "scrypt":
            raise ValueError(scheme)
        params = int(n), int(r), int(p)
        salt_bytes, expected = base64.b64decode(salt), base64.b64decode(key)
    except ValueError:
        params, salt_bytes, expected = (SCRYPT_N, SCRYPT_R, SCRYPT_P), b"\0" * SALT_BYTES, b""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    got = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt_bytes,
        n=params[0],
        r=params[1],
        p=params[2],
        dklen=len(expected) or KEY_BYTES,
    )
    return hmac.compare_digest(got, expected) and bool(expected)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            f"the password is too short ({len(password)} characters).",
            hint=f"Use at least {MIN_PASSWORD_LENGTH} characters.",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError(
            "the password is too long.", hint=f"Use at most {MAX_PASSWORD_LENGTH} characters."
        )


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        raise PasswordPolicyError(
            f"{name!r} cannot be a user name.",
            hint="Use 1 to 64 letters, digits, '.', '_', '-' or '@', starting with a letter "
            "or digit.",
        )


# --- users ----------------------------------------------------------------------------------


def create_user(lib: Library, name: str, password: str, *, is_admin: bool = False) -> UserInfo:
    """Make an account (server mode). The name must be new."""
    check_name(name)
    hashed = hash_password(password)
    with lib.session() as session:
        if session.scalar(select(User.id).where(func.lower(User.name) == name.lower())):
            raise UserExistsError(
                f"a user named {name!r} exists already.",
                hint="Choose another name, or change the password with `stemforge users password`.",
            )
        user = User(name=name, password_hash=hashed, is_admin=is_admin)
        session.add(user)
        session.flush()
        return _info(user)


def set_password(lib: Library, name: str, password: str) -> UserInfo:
    """A new password; every login session of the user ends."""
    hashed = hash_password(password)
    with lib.session() as session:
        user = _user_named(session, name)
        user.password_hash = hashed
        session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
        return _info(user)


def list_users(lib: Library) -> list[UserInfo]:
    with lib.session() as session:
        return [_info(u) for u in session.scalars(select(User).order_by(User.id))]


def get_user(lib: Library, user_id: int) -> UserInfo | None:
    with lib.session() as session:
        user = session.get(User, user_id)
        return _info(user) if user is not None else None


def _user_named(session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise UserNotFoundError(
            f"no user is named {name!r}.", hint="List the users with `stemforge users list`."
        )
    return user


def remove_user(lib: Library, name: str) -> int:
    """Remove an account with its tracks (their media included), sessions and jobs;
    returns the number of tracks removed. The local user cannot be removed."""
    if name == LOCAL_USER:
        raise PasswordPolicyError(
            "the local user owns the library of local mode and cannot be removed."
        )
    with lib.session() as session:
        user_id = _user_named(session, name).id
        track_ids = list(session.scalars(select(Track.id).where(Track.user_id == user_id)))
    for track_id in track_ids:
        lib.remove(track_id, user_id=user_id)
    with lib.session() as session:
        session.execute(delete(User).where(User.id == user_id))
    return len(track_ids)


def ensure_local_user(lib: Library) -> int:
    """The id of the local user, made if a damaged database lacks it."""
    found = lib.local_user_id()
    if found is not None:
        return found
    with lib.session() as session:
        session.add(User(name=LOCAL_USER, is_admin=True))
    lib._local_user_id = None
    found = lib.local_user_id()
    assert found is not None
    return found


# --- logins ---------------------------------------------------------------------------------


def authenticate(lib: Library, name: str, password: str) -> UserInfo:
    """The user whose name and password these are, or :class:`AuthenticationError` (the
    same error, after the same work, whether the name or the password was wrong)."""
    with lib.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        stored = user.password_hash if user is not None else None
        info = _info(user) if user is not None else None
    if not verify_password(password, stored) or info is None:
        raise AuthenticationError(
            "wrong user name or password.",
            hint="Check both; an administrator can set a new password with `stemforge users "
            "password NAME`.",
        )
    return info


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_session(lib: Library, user_id: int, ttl_s: float) -> str:
    """A new login session; returns the token for the cookie (shown only this once)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with lib.session() as session:
        session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
        session.add(
            LoginSession(
                token_sha256=_token_hash(token),
                user_id=user_id,
                created_at=now,
                expires_at=now + timedelta(seconds=ttl_s),
            )
        )
    return token


def session_user(lib: Library, token: str | None) -> UserInfo | None:
    """The user of a live session, or None (no token, unknown, or expired: an expired
    session is deleted)."""
    if not token or len(token) > 200:
        return None
    digest = _token_hash(token)
    with lib.session() as session:
        row = session.scalar(select(LoginSession).where(LoginSession.token_sha256 == digest))
        if row is None:
            return None
        expires = row.expires_at
        if expires.tzinfo is None:  # SQLite hands back naive UTC
            expires = expires.replace(tzinfo=utcnow().tzinfo)
        if expires <= utcnow():
            session.delete(row)
            return None
        user = session.get(User, row.user_id)
        return _info(user) if user is not None else None


def end_session(lib: Library, token: str | None) -> None:
    if token:
        with lib.session() as session:
            session.execute(
                delete(LoginSession).where(LoginSession.token_sha256 == _token_hash(token))
            )
