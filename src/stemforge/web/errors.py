"""Errors of the web layer and the handlers that turn every error into JSON.

Every error the API returns has one shape, ``{"error": "<ErrorClass>", "message": "...",
"hint": "..." | null}``, with the status of the error class (``http_status``). Messages
name no server path: a :class:`~stemforge.errors.StemforgeError`'s ``path`` is left out.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from stemforge.errors import StemforgeError

log = logging.getLogger(__name__)


class WebError(StemforgeError):
    """A problem with a request to the web platform."""


class WebConfigError(WebError):
    """The server's settings do not work together (local mode on a public address, ...)."""


class AuthenticationError(WebError):
    """Wrong user name or password."""

    http_status = 401


class NotAuthenticatedError(WebError):
    """The request carries no valid login session (server mode)."""

    http_status = 401


class LoginRequired(Exception):
    """A page needs a login: the browser is sent to ``/login`` (not an API error)."""

    def __init__(self, next_url: str):
        super().__init__(next_url)
        self.next_url = next_url


class UserExistsError(WebError):
    http_status = 409


class UserNotFoundError(WebError):
    http_status = 404


class PasswordPolicyError(WebError):
    """A password or user name that is not allowed."""


class UploadTooLargeError(WebError):
    """The upload is larger than the server accepts."""

    http_status = 413


class NotAudioError(WebError):
    """An uploaded file is not audio stemforge can read."""

    http_status = 415


class BadUploadError(WebError):
    """The upload request is not a multipart form with files."""


class RangeNotSatisfiableError(WebError):
    """A ``Range:`` request for bytes the file does not have."""

    http_status = 416

    def __init__(self, size_bytes: int):
        super().__init__(
            f"the requested range is outside the file ({size_bytes} bytes).",
            hint="Ask for bytes from 0 to the file's size minus one.",
        )
        self.headers = {"Content-Range": f"bytes */{size_bytes}"}


def bare_message(exc: StemforgeError) -> str:
    """The error's message without its path and hint (those are separate fields)."""
    message = getattr(exc, "message", None)
    if isinstance(message, str):
        return message
    text = str(exc)
    if exc.hint and text.endswith(" " + exc.hint):
        text = text[: -len(exc.hint) - 1]
    if exc.path and text.startswith(exc.path + ": "):
        text = text[len(exc.path) + 2 :]
    return text


def error_body(error: str, message: str, hint: str | None = None, **extra: Any) -> dict:
    return {"error": error, "message": message, "hint": hint, **extra}


def error_response(exc: StemforgeError) -> JSONResponse:
    return JSONResponse(
        error_body(type(exc).__name__, bare_message(exc), exc.hint),
        status_code=exc.http_status,
        headers=getattr(exc, "headers", None),
    )


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get(
        "accept", ""
    )


async def _stemforge_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StemforgeError)
    if exc.http_status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404 and _wants_html(request):
        from stemforge.web.pages import not_found_page

        return not_found_page(request)
    names = {404: "NotFound", 405: "MethodNotAllowed"}
    hints = {404: "See /api/docs for the API's routes."}
    return JSONResponse(
        error_body(
            names.get(exc.status_code, "HTTPError"),
            str(exc.detail),
            hints.get(exc.status_code),
        ),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for item in exc.errors():
        where = " ".join(str(part) for part in item.get("loc", ()))
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return JSONResponse(
        error_body(
            "ValidationError",
            "the request is not valid: " + "; ".join(problems) + ".",
            "Check the parameters against the API's schema at /api/docs.",
            details=[{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()],
        ),
        status_code=422,
    )


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    from urllib.parse import quote

    return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error in %s %s", request.method, request.url.path)
    return JSONResponse(
        error_body(
            "InternalError",
            "the server met an unexpected error.",
            "Try again; if it happens again, the server's log says what went wrong.",
        ),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StemforgeError, _stemforge_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Exception, _unexpected)
