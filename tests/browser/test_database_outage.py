"""An open page during a database outage: it stops saying "Live", says why,
and goes back to "Live" by itself when the database returns (PostgreSQL behind
a proxy the test cuts; see tests/scaleout/test_database_outage.py)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.browser import support
from tests.browser.live_dom import wait_for, wait_live
from tests.scaleout.tcp_proxy import TcpProxy


@pytest.fixture
def proxied_server(module_db_url, tmp_path):
    if not module_db_url.startswith("postgres"):
        pytest.skip("SKIPPED: a database outage needs PostgreSQL (run by the PostgreSQL suite)")
    parts = urlsplit(module_db_url)
    proxy = TcpProxy(parts.hostname, parts.port or 5432)
    user = f"{parts.username}@" if parts.username else ""
    url = urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))
    daphne = support.Daphne(url, tmp_path / "daphne.log", env={"SSE_KEEPALIVE_SECONDS": "1"})
    daphne.start()
    yield proxy, daphne
    daphne.stop()
    proxy.close()


def test_it_says_the_archive_is_unavailable_and_comes_back_by_itself(
    proxied_server, open_page, seed, console
):
    console.allow(r"503")  # a poll or reconnect answered while the database is down
    proxy, daphne = proxied_server
    seed()
    page = open_page(daphne.url)
    page.goto("/messages")
    wait_live(page)

    proxy.cut()
    down = wait_for(page, lambda s: s.state == "unavailable", 10, "the outage on the page")
    assert "Archive unavailable" in down.statusText

    proxy.restore()
    wait_live(page, timeout=20)
