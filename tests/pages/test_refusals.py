"""Refusals are quick, plain and quiet: a 4xx with a reason, one log line.

The static paths are asked over real HTTP from a daphne (what serves /static
is the ASGI stack, not a view); the raw request line goes out as written, so
no client library normalizes `..` away first.
"""

from __future__ import annotations

import http.client
import logging
import re
import time

import pytest

from messages_app.models import Channel
from tests.browser import support
from tests.conftest import chat, database_url
from tests.pages.conftest import html

# Ways out of the static roots, and other paths no static file has.
ODD_STATIC_PATHS = [
    "/static/..%2Fgoknut%2Fsettings.py",
    "/static/../goknut/settings.py",
    "/static/css/../../goknut/settings.py",
    "/static/%2e%2e/goknut/settings.py",
    "/static/css/..%2F..%2Fgoknut%2Fsettings.py",
    "/static/%252e%252e%252fgoknut%252fsettings.py",
    "/static/..%5Cgoknut%5Csettings.py",
    "/static//etc/passwd",
    "/static/%2Fetc%2Fpasswd",
    "/static/css%00.css",
    "/static/./css/goknut.css",
    "/static/",
    "/static/css/",
    "/static/" + "a" * 300 + ".css",
    "/static/no-such-file.css",
]
QUICK_S = 1.0  # was 2.6 s with a traceback


@pytest.fixture(scope="module")
def daphne(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        url = database_url()
    server = support.Daphne(url, tmp_path_factory.mktemp("refusals") / "daphne.log").start()
    yield server
    server.stop()


def raw_request(daphne, method: str, path: str, body: str = "", headers=None):
    """(response, body, seconds) of a request whose path is sent byte for byte."""
    conn = http.client.HTTPConnection("127.0.0.1", daphne.port, timeout=10)
    started = time.monotonic()
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        return response, text, time.monotonic() - started
    finally:
        conn.close()


@pytest.mark.parametrize("path", ODD_STATIC_PATHS)
def test_it_answers_a_quick_404_for_a_static_path_outside_the_files(daphne, path):
    before = len(daphne.log(10**7))
    response, body, seconds = raw_request(daphne, "GET", path)
    assert response.status == 404
    assert seconds < QUICK_S
    assert "SECRET_KEY" not in body and "root:" not in body
    assert "Traceback" not in daphne.log(10**7)[before:]


def test_it_still_serves_the_static_files(daphne):
    response, body, _ = raw_request(daphne, "GET", "/static/css/goknut.css")
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/css")
    assert "--bg:" in body


def test_it_answers_an_anonymous_channel_add_with_403_and_one_log_line(daphne, db):
    response, _, _ = raw_request(daphne, "GET", "/channels")
    assert response.status == 200
    cookie = response.getheader("Set-Cookie", "")
    token = re.search(r"csrftoken=([^;]+)", cookie).group(1)
    before = len(daphne.log(10**7))
    response, body, _ = raw_request(
        daphne,
        "POST",
        "/channels",
        body=f"name=newchan&csrfmiddlewaretoken={token}",
        headers={
            "Cookie": f"csrftoken={token}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status == 403
    assert "Only staff can do that" in body
    assert not Channel.objects.filter(name="newchan").exists()

    def logged():
        return [line for line in daphne.log(10**7)[before:].splitlines() if "/channels" in line]

    support.wait_until(lambda: any('"POST /channels"' in line for line in logged()), 5)
    lines = daphne.log(10**7)[before:]
    assert "Traceback" not in lines
    app_lines = [line for line in logged() if '"POST /channels"' not in line]  # not the access log
    assert app_lines == [app_lines[0]] and "Forbidden" in app_lines[0]


def test_it_logs_an_anonymous_channel_add_without_a_traceback(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.post("/channels", {"name": "newchan"})
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name.startswith("django")]
    assert len(records) == 1
    assert records[0].exc_info is None


@pytest.mark.parametrize("value", ["banana", "", "True", "0"])
def test_it_refuses_an_enabled_value_that_is_not_true_or_false(staff_client, store, value):
    store(chat(channel="forsen"))
    Channel.objects.filter(name="forsen").update(enabled=True)
    response = staff_client.post("/channels/forsen/enabled", {"enabled": value})
    assert response.status_code == 400
    assert "enabled must be true or false" in html(response)
    assert Channel.objects.get(name="forsen").enabled is True


def test_it_refuses_an_enable_request_without_a_value(staff_client, store):
    store(chat(channel="forsen"))
    Channel.objects.filter(name="forsen").update(enabled=True)
    response = staff_client.post("/channels/forsen/enabled", {})
    assert response.status_code == 400
    assert Channel.objects.get(name="forsen").enabled is True
