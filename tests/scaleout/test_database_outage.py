"""A PostgreSQL outage as daphne sees it: pages and /live answer a fast 503,
open streams are told, and everything comes back by itself. The outage is a
proxy between daphne and the real server being cut (connections reset, new
ones refused), so the rest of the suite keeps its database."""

from __future__ import annotations

import time
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.ingest.twitch_server import wait_until
from tests.scaleout.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxied(db_url):
    if not db_url.startswith("postgres"):
        pytest.skip("SKIPPED: a database outage needs PostgreSQL (run by the PostgreSQL suite)")
    parts = urlsplit(db_url)
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    user = f"{parts.username}@" if parts.username else ""
    netloc = f"{user}127.0.0.1:{proxy.port}"
    yield proxy, urlunsplit(parts._replace(netloc=netloc))
    proxy.close()


def timed_get(url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, timeout=15)
    return response, time.monotonic() - started


def test_it_answers_503_while_the_database_is_down_and_recovers_by_itself(
    proxied, server_factory, sse, store
):
    from tests.conftest import chat

    proxy, url = proxied
    store(chat(text="before the outage"))
    web = server_factory(DATABASE_URL=url)
    assert web.get("/").status_code == 200
    stream = sse(web.url + "/live?view=messages")
    stream.next()  # connected

    proxy.cut()
    told = stream.until(lambda e: e.type == "status" and e.data["state"] == "error", timeout=10)
    assert told[-1].data["reason"] == "database-unavailable"
    for path in ("/", "/messages", "/channels"):
        response, seconds = timed_get(web.url + path)
        assert response.status_code == 503, path
        assert response.headers["retry-after"] == "5"
        assert "The archive is unavailable, retrying" in response.text
        assert seconds < 5, f"{path} took {seconds:.1f}s"
    response, seconds = timed_get(web.url + "/api/channel/forsen/user/viewer")
    assert (response.status_code, response.headers["retry-after"]) == (503, "5")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"  # an API client's
    assert response.headers["access-control-allow-origin"] == "*"
    assert seconds < 5
    response, seconds = timed_get(web.url + "/live?view=messages")
    assert (response.status_code, response.headers["retry-after"]) == (503, "5")
    assert seconds < 2
    # Keep-alives (every second here) keep saying so: the page does not go back to "Live".
    later = stream.until(lambda e: e.type == "status", timeout=5)[-1]
    assert later.data["state"] == "error"

    proxy.restore()
    back = stream.until(lambda e: e.type == "status" and e.data["state"] == "connected", 15)
    assert back[-1].data["reason"] == "database-back"
    wait_until(lambda: httpx.get(web.url + "/", timeout=10).status_code == 200, "pages back", 15)
    assert httpx.get(web.url + "/api/channel/forsen/user/viewer", timeout=10).status_code == 302
    stored = store(chat(text="after the outage"))
    assert stream.messages(1)[0].data["id"] == stored.last_id
    fresh = sse(web.url + "/live?view=messages")
    assert fresh.status_code == 200
    log = web.log()
    assert "Traceback" not in log
    assert log.count("live relay cannot read the database") == 1
