"""FastAPI dependencies: the settings, the library and the user of a request.

``current_user`` (API routes) answers 401 in server mode without a valid login;
``current_user_or_redirect`` (pages) sends the browser to ``/login`` instead. In local
mode both return the local user. Pass ``user.id`` as the ``user_id`` of the library's
calls (``lib.search(query, user_id=user.id)``, ``lib.show(track_id, user_id=user.id)``):
another user's track is then not found (404), and in local mode the local user's
library is every track without another owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, Request

from stemforge.library import Library
from stemforge.web.auth import COOKIE_NAME, LOCAL_USER, session_user
from stemforge.web.errors import LoginRequired, NotAuthenticatedError


@dataclass(frozen=True)
class CurrentUser:
    """The user a request acts for. ``local`` is True in local mode (no login)."""

    id: int
    name: str
    is_admin: bool
    local: bool = False

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "is_admin": self.is_admin}


def get_settings(request: Request):
    """The app's :class:`~stemforge.web.app.WebSettings`."""
    return request.app.state.settings


def get_library(request: Request) -> Library:
    """The app's library (one per app; its sessions are per call)."""
    return request.app.state.library


def _user(request: Request) -> CurrentUser | None:
    state = request.app.state
    if state.settings.mode == "local":
        return CurrentUser(id=state.local_user_id, name=LOCAL_USER, is_admin=True, local=True)
    info = session_user(state.library, request.cookies.get(COOKIE_NAME))
    if info is None:
        return None
    return CurrentUser(id=info.id, name=info.name, is_admin=info.is_admin)


def current_user(request: Request) -> CurrentUser:
    """The logged-in user (server mode) or the local user; 401 without a valid login."""
    user = _user(request)
    if user is None:
        raise NotAuthenticatedError(
            "you are not logged in, or your session has ended.",
            hint="Log in with POST /api/login (or on the /login page).",
        )
    return user


def current_user_or_redirect(request: Request) -> CurrentUser:
    """For pages: like :func:`current_user`, but without a login the browser is sent to
    ``/login?next=<this page>``."""
    user = _user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return user


# The dependencies themselves are ``async``: FastAPI runs a plain ``def`` dependency in
# its thread pool, and under 20 concurrent requests those hand-offs cost more CPU than the
# library read itself. Only a server-mode login check touches the database (off the loop).


async def _settings_dep(request: Request):
    return get_settings(request)


async def _library_dep(request: Request) -> Library:
    return get_library(request)


async def _resolved(request: Request, resolve) -> CurrentUser:
    """``resolve(request)`` on the loop in local mode (no I/O), off it in server mode."""
    if request.app.state.settings.mode == "local":
        return resolve(request)
    return await anyio.to_thread.run_sync(resolve, request)


async def _user_dep(request: Request) -> CurrentUser:
    return await _resolved(request, current_user)


async def _page_user_dep(request: Request) -> CurrentUser:
    return await _resolved(request, current_user_or_redirect)


#: Annotated parameters for routes: ``def route(user: UserDep, lib: LibraryDep)``.
UserDep = Annotated[CurrentUser, Depends(_user_dep)]
PageUserDep = Annotated[CurrentUser, Depends(_page_user_dep)]
LibraryDep = Annotated[Library, Depends(_library_dep)]
SettingsDep = Annotated[Any, Depends(_settings_dep)]
