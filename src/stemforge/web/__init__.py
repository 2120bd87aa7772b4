"""The web platform (``stemforge serve``): a FastAPI app with a JSON API under ``/api`` and
the browser pages, over the library, the jobs and the mix doctor.

>>> from stemforge.web import WebSettings, create_app      # doctest: +SKIP
>>> app = create_app(WebSettings(mode="server", host="0.0.0.0"))  # doctest: +SKIP

Local mode (the default) is one user without login, bound to the loopback interface;
server mode (``--server``) has accounts, login sessions and one library per user.
(Imported on first use: the command line loads ``stemforge.web.cli`` without FastAPI.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stemforge.web.app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from stemforge.web import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
