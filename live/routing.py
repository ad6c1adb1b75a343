"""The ASGI application: /live is served by our own app, the rest by Django."""

from channels.routing import ProtocolTypeRouter
from django.conf import settings

from goknut.static_files import StaticFilesHandler
from live.endpoint import live_app

LIVE_PATH = "/live"


class LiveRouter:
    """Send `/live` to the SSE app before Django's handler sees it: no middleware,
    session or thread per stream (see docs/live-updates.md)."""

    def __init__(self, django_app) -> None:
        self.django_app = django_app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == LIVE_PATH:
            await live_app(scope, receive, send)
        else:
            await self.django_app(scope, receive, send)


def build_application(django_application):
    http = django_application
    if settings.SERVE_STATIC:
        # Self-hosted installs get working assets from daphne alone; behind a
        # proxy, let it serve STATIC_ROOT and set SERVE_STATIC=false.
        http = StaticFilesHandler(http)  # any odd path: a quick 404
    return ProtocolTypeRouter({"http": LiveRouter(http)})
