"""The JSON API under ``/api``: one router per area. A later feature adds its module's
router to :data:`API_ROUTERS` (or passes it to ``create_app(routers=...)``)."""

from stemforge.web.api import audio, auth, export, health, jobs, tracks, uploads

#: The API's routers, in the order they are matched.
API_ROUTERS = [
    health.router,
    auth.router,
    tracks.router,
    audio.router,
    uploads.router,
    jobs.router,
    export.router,
]

__all__ = ["API_ROUTERS"]
