"""A database outage met by a page is a 503 that retries, never a 500."""

from django.db import InterfaceError, OperationalError
from django.test import RequestFactory

from goknut.middleware import DatabaseUnavailableMiddleware, server_error


def middleware() -> DatabaseUnavailableMiddleware:
    return DatabaseUnavailableMiddleware(lambda request: None)


def test_it_answers_503_with_retry_after_when_the_database_is_unreachable():
    request = RequestFactory().get("/messages")
    for error in (OperationalError("connection refused"), InterfaceError("connection closed")):
        response = middleware().process_exception(request, error)
        assert response.status_code == 503
        assert response["Retry-After"] == "5"
        assert response["Cache-Control"] == "no-store"
        assert b"The archive is unavailable, retrying" in response.content
        assert b'http-equiv="refresh" content="5"' in response.content


def test_it_leaves_other_errors_to_the_500_page():
    request = RequestFactory().get("/")
    assert middleware().process_exception(request, ValueError("a bug")) is None


def test_it_turns_an_outage_outside_a_view_into_a_503_too():
    request = RequestFactory().get("/")
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        assert server_error(request).status_code == 503
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content
