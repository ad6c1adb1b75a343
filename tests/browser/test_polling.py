"""Without streaming (ENABLE_SSE=false, or /live unreachable) pages say they
poll, and still update."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.browser import support
from tests.browser.live_dom import LIVE_STATES, snapshot, wait_for, wait_for_all
from tests.browser.pages import PAGES, Expectation, assert_same_as_fresh_fetch, chat_lines

POLL_DEADLINE_S = 10.0
LIVE_STREAM = re.compile(r"/live(\?|$)")


@pytest.fixture(scope="module")
def sse_off_server(module_db_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("daphne-sse-off") / "daphne.log"
    daphne = support.Daphne(module_db_url, log, env={"ENABLE_SSE": "false"}).start()
    yield daphne
    daphne.stop()


def _says_polling(snap) -> bool:
    return snap.state == "polling" and "poll" in (snap.statusText or "").lower()


def _assert_polls_and_updates(open_page, daphne, pages: dict) -> None:
    """Every page says it polls, then shows chat written by ingest, as a fresh load would."""
    polling = wait_for_all(
        [(str(p), page, _says_polling, None) for p, page in pages.items()],
        POLL_DEADLINE_S,
        "a status saying the page polls",
    )
    marker = f"polled-{support.token()}"
    support.ingest(daphne.database_url, chat_lines(marker, 12))
    expected = {p: Expectation.now(p, marker, polling[str(p)].cap) for p in pages}
    for live_page, expectation in expected.items():
        assert not expectation.reached(polling[str(live_page)]), f"{live_page} shows it already"
    wait_for_all(
        [(str(p), page, expected[p].reached, expected[p].invariant) for p, page in pages.items()],
        POLL_DEADLINE_S,
        "polled updates",
    )
    fresh = open_page(daphne.url)
    for live_page, page in pages.items():
        shown = snapshot(page)
        expected[live_page].assert_exact(shown)
        assert _says_polling(shown), f"{live_page}: status changed to {shown.describe()}"
        assert_same_as_fresh_fetch(page, fresh, live_page.path)


def test_it_polls_when_streaming_is_turned_off(open_page, sse_off_server, seed):
    seed()
    stream_requests = []
    pages = {}
    for live_page in PAGES:
        page = open_page(sse_off_server.url)
        page.on("request", lambda r: LIVE_STREAM.search(r.url) and stream_requests.append(r.url))
        page.goto(live_page.path)
        pages[live_page] = page
    _assert_polls_and_updates(open_page, sse_off_server, pages)
    assert not stream_requests, f"pages opened {stream_requests} with streaming off"


def test_it_falls_back_to_polling_when_the_stream_is_blocked(open_page, server, seed, console):
    console.allow(r"net::ERR_FAILED")  # our own aborted /live requests
    seed()
    blocked = []
    pages = {}
    for live_page in PAGES:
        page = open_page(server.url)
        page.route(LIVE_STREAM, lambda route: (blocked.append(route.request.url), route.abort()))
        page.goto(live_page.path)
        pages[live_page] = page
    _assert_polls_and_updates(open_page, server, pages)
    tried = {parse_qs(urlsplit(url).query).get("view", ["?"])[0] for url in blocked}
    assert tried == {"home", "messages", "channels", "channel", "users", "user_profile"}, tried


def test_it_says_live_when_the_stream_returns_during_a_poll(open_page, server, seed, console):
    """A poll still on the way when the stream opens again must not leave the
    status saying "polling" (it did, until the next keep-alive 25 s later)."""
    console.allow(r"net::ERR_FAILED")  # our own aborted /live requests
    seed()
    page = open_page(server.url)
    stream = {"blocked": True}
    polls = {"hold": False, "held": []}

    def live(route):
        route.abort() if stream["blocked"] else route.continue_()

    def rows(route):
        polls["held"].append(route) if polls["hold"] else route.continue_()

    page.route(LIVE_STREAM, live)
    page.route(re.compile(r"/messages/rows"), rows)
    page.goto("/messages")
    wait_for_all([("messages", page, _says_polling, None)], POLL_DEADLINE_S, "polling")
    polls["hold"] = True  # the next poll stays on the way...
    wait_for(page, lambda _s: polls["held"], POLL_DEADLINE_S, "a poll on the way")
    stream["blocked"] = False  # ...while the stream comes back
    wait_for(page, lambda s: s.state in LIVE_STATES, 20, "a live status once the stream is back")
    polls["held"].pop().continue_()  # now the poll answers
    time.sleep(1)
    shown = snapshot(page)
    assert shown.state in LIVE_STATES, f"a late poll set the status back: {shown.describe()}"
    assert not polls["held"], "the page kept polling with the stream open"
