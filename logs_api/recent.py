"""`/api/v2/recent-messages/<login>`: recent-messages2's API (to be written)."""

from django.http import HttpRequest, HttpResponse

from logs_api.views import api


@api
def recent_messages(request: HttpRequest, login: str) -> HttpResponse:
    return HttpResponse("not built yet", status=501, content_type="text/plain; charset=utf-8")
