"""`/api/docs` and `/api/openapi.json`: the API's OpenAPI description
(logs_api/openapi.py) and a page that shows it with Swagger UI, whose files
goknut serves itself (from the drf-spectacular-sidecar package): no CDN, so the
page works on an install without internet."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from logs_api import openapi
from logs_api.views import LIST_CACHE, api, json_answer

# The page asks nothing of another host, and runs no inline script: Swagger UI
# sets inline styles (style attributes) and draws its icons from data: URLs.
DOCS_POLICY = "; ".join([
    "default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:", "connect-src 'self'", "base-uri 'none'", "form-action 'none'",
    "frame-ancestors 'none'",
])  # fmt: skip


def api_root() -> str:
    """Where /api is mounted (`/api`), for the description's `servers`."""
    return reverse("logs_api:channels").removesuffix("channels").rstrip("/")


@api
def docs_page(request: HttpRequest) -> HttpResponse:
    response = render(request, "logs_api/docs.html", {"spec_url": reverse("logs_api:openapi")})
    response["Cache-Control"] = LIST_CACHE
    response["Content-Security-Policy"] = DOCS_POLICY
    return response


@api
def openapi_json(request: HttpRequest) -> HttpResponse:
    return json_answer(openapi.document(api_root()), cache=LIST_CACHE)
