"""`/api/docs` and `/api/openapi.json` (to be written)."""

from django.http import HttpRequest, HttpResponse

from logs_api.views import api


@api
def docs_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("not built yet", status=501, content_type="text/plain; charset=utf-8")


@api
def openapi_json(request: HttpRequest) -> HttpResponse:
    return HttpResponse("not built yet", status=501, content_type="text/plain; charset=utf-8")
