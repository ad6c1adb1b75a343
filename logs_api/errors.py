"""The API's errors: plain text with a reason, as justlog and rustlog answer."""

from __future__ import annotations

from django.http import HttpResponse

OPTED_OUT = "User or channel has opted out"


class ApiError(Exception):
    """Raised anywhere below a view; answered as `status` with `reason`."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def bad_request(reason: str) -> ApiError:
    return ApiError(400, reason)


def not_found(reason: str) -> ApiError:
    return ApiError(404, reason)


def opted_out() -> ApiError:
    return ApiError(403, OPTED_OUT)


def error_response(error: ApiError) -> HttpResponse:
    return HttpResponse(error.reason, status=error.status, content_type="text/plain; charset=utf-8")
