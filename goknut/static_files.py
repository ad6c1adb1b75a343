"""/static/ under daphne (SERVE_STATIC=true): files from the static roots only.

Django's ASGIStaticFilesHandler turns only Http404 into a 404. A path that
leaves the static roots (`/static/..%2Fgoknut%2Fsettings.py`: daphne decodes
%2F, so the finder sees `../goknut/settings.py`) makes the finder's safe_join
raise SuspiciousFileOperation, which escaped as a 500 with a traceback, and a
NUL byte raised ValueError the same way. Here a path is checked before any
file system call: anything but plain relative segments is a quick 404, and so
is whatever the finders refuse or do not have. Nothing outside the roots is ever read.
"""

from __future__ import annotations

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.contrib.staticfiles.views import serve
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotFound

NOT_FOUND = b"Not found"


def is_plain_path(path: str) -> bool:
    """Relative segments with no `.`/`..`, no backslash and no control
    characters: the only paths a static file can have."""
    if not path or path.startswith("/") or "\\" in path:
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return False
    segments = path.split("/")
    return all(s not in ("", ".", "..") for s in segments)


class StaticFilesHandler(ASGIStaticFilesHandler):
    """ASGIStaticFilesHandler whose every refusal is a plain 404."""

    def serve(self, request: HttpRequest) -> HttpResponse:
        path = request.path.removeprefix(self.base_url.path)
        if not is_plain_path(path):
            return not_found()
        try:
            return serve(request, path, insecure=True)
        except (Http404, SuspiciousOperation, ValueError, OSError):
            return not_found()


def not_found() -> HttpResponse:
    # Plain text, no template: nothing for a prober to make slow.
    return HttpResponseNotFound(NOT_FOUND, content_type="text/plain; charset=utf-8")
