"""Chat text and tags are untrusted: hostile HTML shows as text on page load, in live
updates and in polled updates, and never runs."""

from __future__ import annotations

import re
from urllib.parse import quote

from tests.browser import support
from tests.browser.live_dom import wait_for, wait_live
from tests.browser.pages import PAGES
from tests.conftest import chat

HOSTILE = (
    "<script>window.__pwned='script'</script> "
    "<img src=x onerror=\"window.__pwned='img'\"> "
    "<b>bold</b> &amp; </li></ol><svg onload=\"window.__pwned='svg'\">"
)
# Twitch sends these tags; a hostile or broken server could send anything.
HOSTILE_NAME = "<b>Alice</b>"
HOSTILE_COLOR = "red\"onmouseover=\"window.__pwned='color'"
DEADLINE_S = 10.0  # polled updates included


def _hostile_line(marker: str) -> str:
    return support.privmsg(
        "forsen", "alice", f"{marker} {HOSTILE}", display_name=HOSTILE_NAME, color=HOSTILE_COLOR
    )


def _hostile_chat(marker: str):
    return chat(
        "forsen",
        "alice",
        f"{marker} {HOSTILE}",
        display_name=HOSTILE_NAME,
        tags={"color": HOSTILE_COLOR, "display-name": HOSTILE_NAME},
    )


def _rows_with(page, marker: str) -> list[dict]:
    return page.evaluate(
        """(marker) => [...document.querySelectorAll('[data-id], .search-result, li, article')]
              .filter((el) => el.textContent.includes(marker) && !el.querySelector('[data-id]'))
              .map((el) => ({
                text: el.textContent,
                markup: el.querySelectorAll('script, img, b, svg').length,
                handlers: [el, ...el.querySelectorAll('*')].flatMap((e) =>
                  [...e.attributes].map((a) => a.name).filter((n) => n.startsWith('on'))),
              }))""",
        marker,
    )


def _assert_shown_as_text(page, marker: str) -> None:
    def seen(_snap):
        return any(
            "<script>window.__pwned='script'</script>" in row["text"]
            and "<img src=x onerror=" in row["text"]
            and HOSTILE_NAME in row["text"]
            for row in _rows_with(page, marker)
        )

    wait_for(page, seen, DEADLINE_S, f"the hostile message {marker} as text")
    for row in _rows_with(page, marker):
        assert row["markup"] == 0, f"chat text became markup in {row}"
        assert not row["handlers"], f"a chat tag became an event handler in {row}"
    assert page.evaluate("window.__pwned") is None, "chat text ran as script"


def _watch_for_x(page) -> list[str]:
    fetched = []
    page.on("request", lambda r: re.search(r"/x$", r.url) and fetched.append(r.url))
    return fetched


def test_it_shows_hostile_html_as_text_on_load_and_live(open_page, server, store):
    loaded, streamed = f"loaded-{support.token()}", f"streamed-{support.token()}"
    store(_hostile_chat(loaded))
    pages = {}
    for live_page in (p for p in PAGES if p.has_list):
        page = open_page(server.url)
        pages[live_page] = (page, _watch_for_x(page))
        page.goto(live_page.path)
        _assert_shown_as_text(page, loaded)
        wait_live(page)
    support.ingest(server.database_url, [_hostile_line(streamed)])
    for live_page, (page, fetched) in pages.items():
        _assert_shown_as_text(page, streamed)
        assert not fetched, f"{live_page}: an <img> from chat text was loaded: {fetched}"


def test_it_shows_hostile_html_as_text_in_polled_rows(open_page, server, store, console):
    console.allow(r"net::ERR_FAILED")  # our own aborted /live requests
    store(_hostile_chat(f"seed-{support.token()}"))
    page = open_page(server.url)
    fetched = _watch_for_x(page)
    page.route(re.compile(r"/live(\?|$)"), lambda route: route.abort())
    page.goto("/messages")
    wait_for(page, lambda s: s.state == "polling", DEADLINE_S, "a polling status")
    polled = f"polled-{support.token()}"
    support.ingest(server.database_url, [_hostile_line(polled)])
    _assert_shown_as_text(page, polled)
    assert not fetched, f"an <img> from chat text was loaded: {fetched}"


def test_it_shows_hostile_html_as_text_in_search_results(open_page, server, store):
    marker = f"found{support.token()}"
    store(_hostile_chat(marker))
    page = open_page(server.url)
    fetched = _watch_for_x(page)
    page.goto(f"/search?q={quote(marker)}")
    _assert_shown_as_text(page, marker)
    assert not fetched, f"an <img> from chat text was loaded: {fetched}"
