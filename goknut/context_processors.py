from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict:
    return {"ENABLE_SSE": settings.ENABLE_SSE, "SHOW_DELETED_TEXT": settings.SHOW_DELETED_TEXT}
