"""Home's "last minute" and "last hour" stay true on an open page: they come
with every `metrics` event, and fall as time passes with no chat at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import chat


def metrics_with(client, predicate, timeout: float = 15):
    events = client.until(
        lambda e: e.type == "metrics" and "last_minute" in e.data and predicate(e.data), timeout
    )
    return events[-1].data


def test_the_windows_fall_as_time_passes_without_new_chat(server, sse, store):
    now = datetime.now(UTC)
    store(chat(text="nearly a minute ago", sent_at=now - timedelta(seconds=57)), chat(text="now"))
    home = sse(server.url + "/live?view=home")
    # Within a few seconds the older line leaves the minute; nothing was stored since.
    data = metrics_with(home, lambda d: d["last_minute"] == 1)
    assert (data["last_hour"], data["total_messages"]) == (2, 2)


def test_new_chat_raises_them_at_once(server, sse, store):
    home = sse(server.url + "/live?view=home")
    home.next()  # connected
    store(*[chat(text=f"n{n}") for n in range(3)])
    data = metrics_with(home, lambda d: d["total_messages"] == 3)
    assert (data["last_minute"], data["last_hour"]) == (3, 3)
