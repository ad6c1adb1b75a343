"""A database outage answers a fast 503 page, not a 500 with a traceback.

Any page can need the database, so the outage is caught where every view's
exception passes (process_exception also sees errors raised while a template
response renders). The page retries by itself; `Retry-After` tells clients and
proxies when to try again. One warning per outage in the log, not one
traceback per request.
"""

from __future__ import annotations

import logging
import sys
import time

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.deprecation import MiddlewareMixin

from goknut import metrics

log = logging.getLogger("goknut")

RETRY_AFTER_S = 5
LOG_EVERY_S = 30.0


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """Sync only, and last in MIDDLEWARE on purpose. Under daphne Django builds
    the chain from the inside out; an async-capable MiddlewareMixin runs each
    process_request/process_response through sync_to_async, a thread hop
    apiece. A sync-only middleware innermost makes every middleware around it
    run synchronously in one thread: /healthz went from 6.5 to 2.6 ms of CPU
    (docs/perf.md). process_exception sees view errors whatever the place."""

    async_capable = False

    def __init__(self, get_response) -> None:
        super().__init__(get_response)
        self.last_logged = -LOG_EVERY_S

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        metrics.DATABASE_UNAVAILABLE.inc()
        now = time.monotonic()
        if now - self.last_logged >= LOG_EVERY_S:
            self.last_logged = now
            log.warning("database unavailable, answering 503: %s", exception)
        return unavailable(request)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an outage met outside a view (a middleware saving a session)
    is still a 503; anything else is the plain 500 page."""
    if isinstance(sys.exc_info()[1], OperationalError | InterfaceError):
        return unavailable(request)
    return HttpResponse(loader.render_to_string("500.html"), status=500)


def unavailable(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):  # API clients get text, and CORS to read it
        response = HttpResponse("database unavailable, try again", status=503,
                                content_type="text/plain; charset=utf-8")  # fmt: skip
        response["Access-Control-Allow-Origin"] = "*"
    else:
        body = loader.render_to_string("503.html", {"retry_after": RETRY_AFTER_S})
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    return response
