"""An open page says what ingest is doing beside the live dot: "demo chat"
while the demo runs, "ingest offline since …" once it is killed (the stream
stays "Live": the web process is fine, the archive just stopped growing), and
a fresh load says the same before its stream connects."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.request

import pytest

from tests.browser import support
from tests.browser.live_dom import snapshot, wait_for, wait_live


@pytest.fixture
def demo(module_db_url):
    proc = subprocess.Popen(
        [
            support.PYTHON,
            "manage.py",
            "ingest",
            "--demo",
            "--rate",
            "20",
            "--heartbeat-seconds",
            "0.5",
        ],
        cwd=support.REPO,
        env=support.subprocess_env(module_db_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    proc.kill()
    proc.wait()


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def ingest_text(page) -> str:
    return page.locator("[data-live-ingest]").inner_text()


def test_it_says_when_ingest_went_offline(server, open_page, demo, console):
    console.allow(r"/live")  # the fresh page below is kept from its stream
    page = open_page(server.url)
    page.goto("/messages")
    wait_live(page)
    live = wait_for(page, lambda s: "demo chat" in (s.statusText or ""), 20, "demo chat said")
    assert live.statusText.startswith("Live")
    page.evaluate("window.__sameDocument = true")

    demo.send_signal(signal.SIGKILL)
    demo.wait()
    down = wait_for(
        page, lambda s: "ingest offline since" in (s.statusText or ""), 20, "ingest offline said"
    )
    assert down.state in {"connected", "idle"}  # the page's own stream is fine
    assert page.evaluate("window.__sameDocument") is True  # told by the stream, no reload
    since = page.locator("[data-live-ingest] time")
    assert since.count() == 1
    assert re.match(r"\d{4}-\d\d-\d\dT", since.get_attribute("datetime"))

    ready = json.loads(get(f"{server.url}/readyz"))
    assert (ready["status"], ready["ingest"]["state"]) == ("degraded", "offline")
    assert 'goknut_ingest_heartbeat_up{source="demo"} 0.0' in get(f"{server.url}/metrics")

    fresh = open_page(server.url)
    fresh.route("**/live*", lambda route: route.abort())  # what the server rendered, alone
    fresh.goto("/")
    assert "ingest offline since" in ingest_text(fresh)
    assert fresh.locator("[data-live-ingest] time").count() == 1
    assert snapshot(fresh).state != "connected"
