"""Who am I, log in, log out (``/api/me``, ``/api/login``, ``/api/logout``)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from stemforge.web import auth
from stemforge.web.deps import LibraryDep, SettingsDep, UserDep
from stemforge.web.errors import WebError

router = APIRouter(prefix="/api", tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=auth.MAX_PASSWORD_LENGTH)


class Me(BaseModel):
    id: int
    name: str
    is_admin: bool


@router.get("/me", response_model=Me)
def me(user: UserDep) -> dict:
    """The user the requests act for (in local mode: the local user)."""
    return user.to_dict()


@router.post("/login", response_model=Me)
def login(
    body: Login,
    request: Request,
    response: Response,
    lib: LibraryDep,
    settings: SettingsDep,
) -> dict:
    """Server mode: check the name and password, start a session and set its cookie
    (``stemforge_session``: HttpOnly, SameSite=Lax). 401 for a wrong name or password."""
    if settings.mode != "server":
        raise WebError(
            "local mode has no accounts: nothing to log in to.",
            hint="Start the server with --server to use accounts.",
        )
    user = auth.authenticate(lib, body.username, body.password)
    token = auth.create_session(lib, user.id, settings.session_ttl_s)
    secure = settings.cookie_secure
    if secure is None:
        secure = request.url.scheme == "https"
    response.set_cookie(
        auth.COOKIE_NAME,
        token,
        max_age=int(settings.session_ttl_s),
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    return {"id": user.id, "name": user.name, "is_admin": user.is_admin}


@router.post("/logout")
def logout(request: Request, response: Response, lib: LibraryDep) -> dict:
    """End this session (its cookie no longer logs in, even if kept)."""
    auth.end_session(lib, request.cookies.get(auth.COOKIE_NAME))
    response.delete_cookie(auth.COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return {"ok": True}
