"""The FastAPI app of ``stemforge serve``: :func:`create_app` over :class:`WebSettings`.

The app is a list of routers: the JSON API's (:data:`stemforge.web.api.API_ROUTERS`, one
module per area), the pages (:mod:`stemforge.web.pages`), and whatever a later feature
passes as ``routers=``. ``/static`` serves ``web/static/``; plotly.js comes from the
installed plotly package at ``/static/vendor/plotly.min.js`` (no CDN). The OpenAPI schema
is at ``/api/openapi.json`` and its browsable form at ``/api/docs``.

The library is opened (and migrated) when the app is made; the job worker
(:mod:`stemforge.web.worker`) starts and stops with the app's lifespan, so uploads are
ingested and analysed while the server runs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from stemforge import __version__
from stemforge.jobs.executors import EXECUTORS
from stemforge.jobs.store import DEFAULT_SETTINGS, JobSettings
from stemforge.library import Library
from stemforge.web.errors import WebConfigError, WebError, install_error_handlers

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
MODES = ("local", "server")
ANALYZERS = ("full", "quick")
#: 2 GiB: a long lossless recording fits, a runaway upload does not.
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (127.0.0.0/8, ::1 or ``localhost``)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebSettings:
    """How the platform runs.

    ``mode``: ``local`` (one user, no login, loopback only) or ``server`` (accounts).
    ``database_url``/``home``: the library (default ``STEMFORGE_DATABASE_URL`` or
    ``STEMFORGE_HOME``). ``max_upload_bytes``: the largest upload request.
    ``executor``/``workers``/``ray_address``: where the in-server worker runs jobs
    (``run_worker=False`` runs none: jobs stay queued for another process). ``analyzer``:
    what an upload's ingest computes (``full`` or ``quick``). ``session_ttl_s``: how long
    a login lasts. ``sse_poll_s``/``sse_keepalive_s``: how often the job event stream
    looks at the database and sends a keep-alive comment. ``allowed_hosts``: the Host
    headers accepted (default: loopback names in local mode, which stops DNS rebinding
    from reaching a server without login; any in server mode).
    """

    mode: str = "local"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None
    home: Path | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    executor: str = "local"
    workers: int | None = None
    ray_address: str | None = None
    run_worker: bool = True
    analyzer: str = "full"
    session_ttl_s: float = 7 * 24 * 3600.0
    cookie_secure: bool | None = None  # None: when the request came over https
    sse_poll_s: float = 0.5
    sse_keepalive_s: float = 15.0
    worker_poll_s: float = 0.5
    allowed_hosts: tuple[str, ...] | None = None
    job_settings: JobSettings = field(default_factory=lambda: DEFAULT_SETTINGS)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"http://{host}:{self.port}/"

    def check(self) -> None:
        """Raise :class:`WebConfigError` for settings that do not work or are unsafe."""
        if self.mode not in MODES:
            raise WebConfigError(
                f"unknown mode {self.mode!r}.", hint=f"Use one of: {', '.join(MODES)}."
            )
        if self.mode == "local" and not is_loopback(self.host):
            raise WebConfigError(
                f"local mode has no login, so it only listens on this machine, not on {self.host}.",
                hint="Use --host 127.0.0.1, or run with --server (accounts and logins) to "
                "serve other machines.",
            )
        if self.executor not in (*EXECUTORS, "thread"):
            raise WebConfigError(
                f"unknown executor {self.executor!r}.",
                hint=f"Use one of: {', '.join(EXECUTORS)}.",
            )
        if self.analyzer not in ANALYZERS:
            raise WebConfigError(
                f"unknown analyzer {self.analyzer!r}.", hint=f"Use one of: {', '.join(ANALYZERS)}."
            )
        if self.max_upload_bytes < 1:
            raise WebConfigError("the upload limit must be at least one byte.")
        if not 0 < self.port < 65536 and self.port != 0:
            raise WebConfigError(f"port {self.port} is not a TCP port (1-65535).")

    def hosts(self) -> list[str]:
        if self.allowed_hosts is not None:
            return list(self.allowed_hosts)
        if self.mode == "server":
            return ["*"]
        return sorted({"localhost", "127.0.0.1", "[::1]", self.host})


class _RequestGuard:
    """Plain ASGI middleware (streamed responses stay streamed) for every request:

    * the ``Host`` header must be one of ``allowed_hosts`` (local mode: loopback names, so
      a web page that re-points its own domain at 127.0.0.1 cannot talk to a server that
      has no login: DNS rebinding);
    * a request that changes something (not GET, HEAD or OPTIONS) must not come from
      another site's page: its ``Origin``, when the browser sends one, must be this
      server, and ``Sec-Fetch-Site`` must not say ``cross-site`` (cross-site request
      forgery; a form on any page may POST to 127.0.0.1);
    * responses say: no MIME sniffing, no framing by other sites, no referrer to them.
    """

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"SAMEORIGIN"),
        (b"referrer-policy", b"same-origin"),
    )
    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app, allowed_hosts: list[str]):
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed = {h.lower() for h in allowed_hosts}

    @staticmethod
    def host_name(host: str) -> str:
        """``example.com:8000`` -> ``example.com``; ``[::1]:8000`` -> ``[::1]``."""
        host = host.strip().lower()
        if host.startswith("["):
            return host[: host.find("]") + 1] if "]" in host else host
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host

    async def _refuse(self, send, status: int, error: str, message: str, hint: str) -> None:
        body = json.dumps({"error": error, "message": message, "hint": hint}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    *self.HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        if not self.any_host and self.host_name(host) not in self.allowed:
            return await self._refuse(
                send,
                400,
                "InvalidHostError",
                f"this server does not answer for the host {host!r}.",
                "Open it by its own address, e.g. http://127.0.0.1:8000/.",
            )
        if scope["type"] == "http" and scope["method"] not in self.SAFE_METHODS:
            origin = headers.get("origin")
            ours = {host.strip().lower(), headers.get("x-forwarded-host", "").strip().lower()}
            foreign_origin = (
                origin is not None
                and origin != "null"
                and urlsplit(origin).netloc.lower() not in ours
            )
            if foreign_origin or headers.get("sec-fetch-site") == "cross-site" or origin == "null":
                return await self._refuse(
                    send,
                    403,
                    "CrossSiteRequestError",
                    "a page of another site may not change anything here.",
                    "Use stemforge's own pages, or a client that is not a browser.",
                )
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def plotly_js_path() -> Path:
    """``plotly.min.js`` of the installed plotly package."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise WebError(
            "plotly is not installed, so the pages cannot draw plots.",
            hint="Install stemforge[web] (it brings plotly).",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise WebError(f"the plotly package has no {path.name}.", hint="Reinstall plotly.")
    return path


def create_app(settings: WebSettings | None = None, *, routers: Sequence[APIRouter] = ()):
    """The platform's FastAPI app. ``routers``: more routers (a later feature's pages and
    API) included after the built-in ones."""
    from stemforge.web import auth
    from stemforge.web.api import API_ROUTERS
    from stemforge.web.pages import router as pages_router

    settings = settings or WebSettings()
    settings.check()
    library = Library.open(settings.database_url, home=settings.home)
    local_user_id = auth.ensure_local_user(library)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        worker = None
        if settings.run_worker:
            from stemforge.web.worker import JobWorker

            worker = JobWorker.from_settings(library, settings)
            worker.start()
        app.state.worker = worker
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            library.close()

    app = FastAPI(
        title="stemforge",
        version=__version__,
        description="Check, mix and take apart music: the JSON API of `stemforge serve`.",
        lifespan=lifespan,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.library = library
    app.state.local_user_id = local_user_id
    app.state.worker = None
    app.state.event_streams = 0
    install_error_handlers(app)

    for router in (*API_ROUTERS, *routers, pages_router):
        app.include_router(router)

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(
            plotly_js_path(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    app.add_middleware(_RequestGuard, allowed_hosts=settings.hosts())
    return app
