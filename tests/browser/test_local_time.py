"""Times in the visitor's zone: the message filters select the rows the visitor
sees in local time, and a time the live client re-dates keeps a true UTC title.

Chromium runs in a zone that is not UTC (Playwright's timezone_id): Kolkata
(+05:30, no summer time) and New York in July (-04:00, while today may well be
-05:00: the offset must be the one of the time typed, not of now).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.browser import support
from tests.browser.live_dom import wait_live
from tests.conftest import chat


@pytest.fixture
def open_in_zone(open_page):
    """open_in_zone(base_url, zone, javascript=True) -> a page whose clock is in `zone`."""
    return lambda base_url, zone, javascript=True: open_page(
        base_url, timezone_id=zone, locale="en-US", java_script_enabled=javascript
    )


def store_hours(store, channel: str, day: str, hours: list[int]) -> None:
    """One message per UTC hour of `day`, its text naming the hour: "h10"."""
    records = []
    for hour in hours:
        sent_at = datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=UTC)
        records.append(chat(channel=channel, text=f"h{hour}", sent_at=sent_at))
    store(*records)


def shown_texts(page) -> list[str]:
    return page.locator("#message-list .msg-text").all_inner_texts()


def filter_by_local_time(page, since: str, until: str = "") -> None:
    page.fill("#f-since", since)
    if until:
        page.fill("#f-until", until)
    with page.expect_navigation():
        page.get_by_role("button", name="Apply filters").click()


def test_it_filters_by_the_local_time_the_rows_show_in_kolkata(open_in_zone, server, store):
    channel = f"tz{support.token()}"
    store_hours(store, channel, "2024-03-01", [10, 11, 12])  # 15:30, 16:30, 17:30 in Kolkata
    page = open_in_zone(server.url, "Asia/Kolkata")
    page.goto(f"/messages?channel={channel}")
    assert page.locator("label[for=f-since]").inner_text() == "Since (your time)"
    assert page.locator("label[for=f-until]").inner_text() == "Until (your time)"
    shown = page.locator("#message-list .msg", has_text="h11").locator("time")
    assert "4:30" in shown.inner_text()  # the row says 04:30 PM, local

    filter_by_local_time(page, "2024-03-01T16:30:00", "2024-03-01T17:30:00")

    assert shown_texts(page) == ["h11"]
    # The URL says UTC; the inputs still show what the visitor typed.
    assert "since=2024-03-01T11%3A00%3A00" in page.url
    assert "until=2024-03-01T12%3A00%3A00" in page.url
    assert page.input_value("#f-since") == "2024-03-01T16:30"  # the browser drops :00
    assert page.input_value("#f-until") == "2024-03-01T17:30"


def test_it_uses_the_offset_of_the_time_typed_in_new_york(open_in_zone, server, store):
    channel = f"tz{support.token()}"
    store_hours(store, channel, "2024-07-01", [14, 15, 16])  # 10:00, 11:00, 12:00 EDT
    page = open_in_zone(server.url, "America/New_York")
    page.goto(f"/messages?channel={channel}")

    filter_by_local_time(page, "2024-07-01T11:00:00")

    assert shown_texts(page) == ["h16", "h15"]  # newest first
    assert "since=2024-07-01T15%3A00%3A00" in page.url


def test_it_shows_a_utc_time_from_the_url_in_local_time(open_in_zone, server, store):
    channel = f"tz{support.token()}"
    store_hours(store, channel, "2024-03-01", [10, 11, 12])
    page = open_in_zone(server.url, "Asia/Kolkata")
    # An offset in the URL too: the form renders it as UTC, the page as local.
    page.goto(f"/messages?channel={channel}&since=2024-03-01T13:00:00%2B02:00")
    assert page.input_value("#f-since") == "2024-03-01T16:30"
    assert shown_texts(page) == ["h12", "h11"]


def test_it_says_utc_and_takes_utc_without_javascript(open_in_zone, server, store):
    channel = f"tz{support.token()}"
    store_hours(store, channel, "2024-03-01", [10, 11, 12])
    page = open_in_zone(server.url, "Asia/Kolkata", javascript=False)
    page.goto(f"/messages?channel={channel}")
    assert page.locator("label[for=f-since]").inner_text() == "Since (UTC)"

    filter_by_local_time(page, "2024-03-01T11:00:00")

    assert shown_texts(page) == ["h12", "h11"]
    assert page.input_value("#f-since") == "2024-03-01T11:00"


def utc_title(iso: str) -> str:
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def test_it_keeps_the_hover_title_true_when_a_live_time_changes(open_in_zone, server, store):
    channel = f"tz{support.token()}"
    store_hours(store, channel, "2024-03-01", [10])
    page = open_in_zone(server.url, "Asia/Kolkata")
    page.goto("/channels")
    wait_live(page)
    last = page.locator(f"tr:has(a[href='/channels/{channel}']) [data-field=last_message_at] time")
    assert last.get_attribute("title") == "2024-03-01 10:00:00 UTC"

    support.ingest(server.database_url, [support.privmsg(channel, "viewer", "now")])

    support.wait_until(lambda: not last.get_attribute("datetime").startswith("2024-"), 5,
                       message="the live update of the channel's last message")  # fmt: skip
    iso = last.get_attribute("datetime")
    assert last.get_attribute("title") == utc_title(iso)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", last.get_attribute("title"))
