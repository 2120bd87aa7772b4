"""``GET /api/health``: is the server up, and in which mode."""

from __future__ import annotations

from fastapi import APIRouter, Request

from stemforge import __version__

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health")
def health(request: Request) -> dict:
    """Up; the mode (``local`` or ``server``) and the version. Needs no login."""
    return {"ok": True, "mode": request.app.state.settings.mode, "version": __version__}
