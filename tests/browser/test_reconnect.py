"""The web server goes away while pages are open, and comes back on its port."""

from __future__ import annotations

import pytest

from tests.browser import support
from tests.browser.live_dom import (
    LIVE_STATES,
    LOST_STATES,
    snapshot,
    wait_for,
    wait_for_all,
    wait_live,
)
from tests.browser.pages import PAGES, Expectation, assert_same_as_fresh_fetch, chat_lines

LOST_DEADLINE_S = 5.0
RESUME_DEADLINE_S = 15.0  # the client's own retry back-off decides; it must not give up
LIVE_DEADLINE_S = 2.0
WATCHED = [p for p in PAGES if p.name in {"messages", "channels", "home"}]


@pytest.fixture
def own_server(module_db_url, tmp_path):
    """A daphne this test may stop and start again on the same port."""
    daphne = support.Daphne(module_db_url, tmp_path / "daphne.log").start()
    yield daphne
    daphne.stop()


def test_it_shows_the_lost_connection_and_resumes_after_a_restart(
    open_page, own_server, seed, console
):
    # While the server is down the browser logs each refused connection attempt.
    console.allow(r"net::ERR_")
    seed()
    pages = {}
    for live_page in WATCHED:
        page = open_page(own_server.url)
        page.goto(live_page.path)
        wait_live(page)
        page.evaluate("window.__notReloaded = true")
        pages[live_page] = (page, snapshot(page))

    own_server.stop()
    for live_page, (page, before) in pages.items():
        lost = wait_for(
            page, lambda s: s.state in LOST_STATES, LOST_DEADLINE_S, f"{live_page}: lost connection"
        )
        assert lost.statusText != before.statusText, f"status text still says {lost.statusText!r}"

    marker = f"meanwhile-{support.token()}"
    support.ingest(own_server.database_url, chat_lines(marker, 30))
    own_server.start()

    for live_page, (page, before) in pages.items():
        expected = Expectation.now(live_page, marker, before.cap)
        assert not expected.reached(before)
        wait_for(
            page,
            lambda s, e=expected: e.reached(s) and s.state in LIVE_STATES,
            RESUME_DEADLINE_S,
            f"{live_page}: messages written while the server was down, and a connected status",
            invariant=expected.invariant,
        )
        resumed = snapshot(page)
        expected.assert_exact(resumed)
        assert page.evaluate("window.__notReloaded === true"), f"{live_page} reloaded itself"
        assert set(before.ids) <= set(resumed.ids), f"{live_page}: rows shown before were lost"

    # And it is live again, not just caught up.
    marker = f"after-{support.token()}"
    support.ingest(own_server.database_url, chat_lines(marker, 6))
    expected = {p: Expectation.now(p, marker, before.cap) for p, (_, before) in pages.items()}
    watches = [
        (str(p), page, expected[p].reached, expected[p].invariant) for p, (page, _) in pages.items()
    ]
    wait_for_all(watches, LIVE_DEADLINE_S, "live updates after resuming")
    fresh = open_page(own_server.url)
    for live_page, (page, _) in pages.items():
        expected[live_page].assert_exact(snapshot(page))
        assert_same_as_fresh_fetch(page, fresh, live_page.path)


def test_it_says_how_many_messages_a_fallback_skipped_and_links_to_them(
    open_page, own_server, seed, console
):
    console.allow(r"net::ERR_")  # refused reconnects while the server is down
    seed()
    page = open_page(own_server.url)
    page.goto("/messages")
    wait_live(page)
    left_at = max(snapshot(page).ids)

    own_server.stop()
    wait_for(page, lambda s: s.state in LOST_STATES, LOST_DEADLINE_S, "the lost connection")
    marker = f"away-{support.token()}"
    support.ingest(own_server.database_url, chat_lines(marker, 620))  # > the 500 replayed
    own_server.start()

    note = page.locator("[data-live-skipped]")
    note.wait_for(timeout=RESUME_DEADLINE_S * 1000)
    assert note.get_attribute("data-live-skipped") == "620"
    assert "620 messages arrived" in note.inner_text()
    wait_live(page)
    assert f"{marker} line 00619" in page.text_content("[data-live-list]")  # the newest shown

    note.locator("a").click()
    page.wait_for_url(f"**/messages?after={left_at}")
    # textContent: innerText leaves out rows that content-visibility skips off screen.
    assert f"{marker} line 00000" in page.text_content("main")  # the first skipped


def test_it_applies_a_timeout_that_happened_while_it_was_away_after_resuming(
    open_page, own_server, seed, console
):
    from messages_app.ingest.simulator import clearchat

    console.allow(r"net::ERR_")  # refused reconnects while the server is down
    seed()
    marker = f"mod{support.token()}"
    troll = f"t{marker}"[:25]
    spam = support.privmsg("forsen", troll, f"{marker} spam", user_id=424242)
    support.ingest(own_server.database_url, [spam])
    page = open_page(own_server.url)
    page.goto("/messages")
    wait_live(page)
    assert page.locator(".msg-moderated").count() == 0

    own_server.stop()
    wait_for(page, lambda s: s.state in LOST_STATES, LOST_DEADLINE_S, "the lost connection")
    timeout = clearchat("forsen", troll, duration=600, target_user_id="424242")
    support.ingest(own_server.database_url, [timeout])
    own_server.start()

    # The replay after the cursor carries the timeout: the line is greyed and
    # the timeout listed, exactly as a fresh load shows them.
    page.locator(".msg-mod").first.wait_for(timeout=RESUME_DEADLINE_S * 1000)
    assert page.locator(f".msg-moderated[data-user='{troll}']").count() == 1
    rows = "[data-live-list] > [data-id]"
    classes = "els => els.map(e => e.id + ' ' + (e.dataset.user || '-') + ' ' + e.className)"
    live = [c.replace(" is-new", "") for c in page.eval_on_selector_all(rows, classes)]
    fresh = open_page(own_server.url)
    fresh.goto("/messages")
    assert fresh.eval_on_selector_all(rows, classes) == live
