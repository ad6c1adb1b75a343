"""Each view of /live: its events and payloads, checked against a fresh fetch."""

from __future__ import annotations

from messages_app.models import Channel, ChatUser, Message
from tests.conftest import chat


def message_ids_after(cursor: int, **filters) -> list[int]:
    qs = Message.objects.after(cursor).filter(**filters).order_by("id")
    return list(qs.values_list("id", flat=True))


def test_it_streams_new_messages_with_the_contract_payload(server, sse, store):
    store(chat(text="stored before connecting"))
    client = sse(server.url + "/live?view=messages")
    assert client.status_code == 200
    assert client.headers["content-type"].startswith("text/event-stream")
    hello = client.next()
    assert (hello.type, hello.data["state"]) == ("status", "connected")

    result = store(
        chat("forsen", "alice", "hi chat", display_name="Alice"),
        chat("xqc", "bob", "second"),
    )
    got = client.messages(2)

    assert [e.data["id"] for e in got] == message_ids_after(hello.cursor)
    assert [e.data["id"] for e in got] == [result.first_id, result.last_id]
    first = got[0]
    stored = Message.objects.with_related().get(id=result.first_id)
    assert first.id == f"messages:{stored.id}"
    assert first.data["type"] == "message"
    assert first.data["cursor"] == stored.id
    assert first.data["channel_id"] == stored.channel_id
    assert first.data["channel_name"] == "forsen"
    assert first.data["user_id"] == stored.user_id
    assert first.data["username"] == "alice"
    assert first.data["display_name"] == "Alice"
    assert first.data["text"] == "hi chat"
    assert first.data["sent_at"] == stored.sent_at.isoformat().replace("+00:00", "Z")
    assert first.data["is_action"] is False
    assert "html" not in first.data  # rows are built by the page (live.js rowHtml)


def test_it_sends_home_totals_first_then_messages_and_new_totals(server, sse, store):
    first = store(chat("forsen", "alice"), chat("xqc", "bob"))
    client = sse(server.url + f"/live?view=home&after_id={first.last_id}")

    on_connect = client.until(lambda e: e.type == "metrics")
    assert [e.type for e in on_connect] == ["status", "metrics"]
    assert on_connect[1].data == {
        "type": "metrics", "cursor": first.last_id,
        "total_messages": 2, "total_channels": 2, "total_users": 2,
    }  # fmt: skip

    # A known user in a new channel: the channel total must move without a new user.
    batch = store(chat("forsen", "carol"), chat("forsen", "carol"), chat("lirik", "alice"))
    live = client.until(lambda e: e.type == "metrics" and e.data["cursor"] == batch.last_id)

    # Home's windows may also bring a metrics event of their own at any time (every 5 s).
    events = [e for e in live if e.type != "metrics" or e.data["cursor"] == batch.last_id]
    assert [e.type for e in events] == ["message", "message", "message", "metrics"]
    assert [e.data["id"] for e in events[:3]] == message_ids_after(first.last_id)
    totals = live[-1].data
    assert totals["cursor"] == batch.last_id
    assert totals["total_messages"] == Message.objects.count()
    assert totals["total_channels"] == Channel.objects.active().count()
    assert totals["total_users"] == ChatUser.objects.count()


def apply_counts(events, kind: str, key: str) -> dict[str, int]:
    """What a list page shows after applying these events (totals, not deltas)."""
    return {e.data[key]: e.data["total_messages"] for e in events if e.type == kind}


def test_it_keeps_channel_counts_equal_to_the_counters(server, sse, store):
    store(chat("forsen"), chat("xqc"))
    client = sse(server.url + "/live?view=channels")
    client.next()
    # Channels come in name order; the last one ends the totals sent on connect.
    on_connect = client.until(lambda e: e.data.get("channel_name") == "xqc")
    assert apply_counts(on_connect, "channel_count", "channel_name") == {"forsen": 1, "xqc": 1}

    last = store(chat("forsen"), chat("forsen"), chat("lirik"))
    client.until(lambda e: e.cursor == last.last_id and e.data.get("channel_name") == "lirik")
    client.drain()
    assert {e.type for e in client.seen} == {"status", "channel_count"}
    counts = [e for e in client.seen if e.type == "channel_count"]  # not keep-alives
    assert all(e.data["last_message_at"].endswith("Z") for e in counts)
    shown = apply_counts(client.seen, "channel_count", "channel_name")
    assert shown == dict(Channel.objects.values_list("name", "total_messages"))


def test_it_keeps_user_counts_equal_to_the_counters(server, sse, store):
    first = store(chat(username="alice"))
    client = sse(server.url + f"/live?view=users&after_id={first.last_id}")
    client.next()
    last = store(chat(username="alice"), chat(username="bob"), chat(username="bob"))
    client.until(lambda e: e.type == "user_count" and e.cursor == last.last_id
                 and e.data["username"] == "bob")  # fmt: skip
    client.drain()
    shown = apply_counts(client.seen, "user_count", "username")
    assert shown == dict(ChatUser.objects.values_list("username", "total_messages"))
    assert {e.type for e in client.seen} == {"status", "user_count"}


def test_it_streams_only_the_profiles_user(server, sse, store):
    store(chat(username="alice"))
    client = sse(server.url + "/live?view=user_profile&user=alice")
    on_connect = client.until(lambda e: e.type == "user_profile")
    assert on_connect[-1].data["total_messages"] == 1
    assert on_connect[-1].id.startswith("user-alice:")

    start = on_connect[-1].cursor
    store(chat(username="bob"), chat(username="alice", text="a1"), chat(username="alice"))
    live = client.until(lambda e: e.type == "user_profile")
    ids = [e.data["id"] for e in live if e.type == "message"]
    assert ids == message_ids_after(start, user__username="alice")
    assert live[-1].data["total_messages"] == ChatUser.objects.get(username="alice").total_messages
    assert live[-1].data["user_id"] == ChatUser.objects.get(username="alice").id


def test_it_streams_only_the_channels_messages(server, sse, store):
    store(chat("forsen"))
    client = sse(server.url + "/live?view=channel&channel=forsen")
    start = client.next().cursor
    store(chat("xqc"), chat("forsen", text="one"), chat("xqc"), chat("forsen", text="two"))
    got = client.messages(2)
    assert [e.data["text"] for e in got] == ["one", "two"]
    assert [e.data["id"] for e in got] == message_ids_after(start, channel__name="forsen")
    assert all(e.id.startswith("channel-forsen:") for e in got)
    assert not [e for e in client.drain() if e.type == "message"]


def test_it_carries_hostile_chat_text_as_exact_json_text(server, sse, store):
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> & \u2028 "quotes"\nline'
    client = sse(server.url + "/live?view=messages")
    client.next()
    store(chat(text=hostile, display_name='<b onmouseover="x">'))
    event = client.messages(1)[0]
    # JSON carries the exact text (the reader splits lines as str.splitlines does,
    # so a raw U+2028 would have broken the event); the page escapes it
    # (tests/browser/test_escaping.py).
    assert event.data["text"] == hostile
    assert event.data["display_name"] == '<b onmouseover="x">'


def test_it_sends_readable_name_colours_and_no_colour_that_is_not_hex(server, sse, store):
    client = sse(server.url + "/live?view=messages")
    client.next()
    store(
        chat(text="red", tags={"color": "#FF0000"}),
        chat(text="styled", tags={"color": "red;background:url(x)"}),
        chat(text="plain"),
    )
    red, styled, plain = client.messages(3)
    light, dark = red.data["name_colors"]
    assert light.startswith("#") and dark.startswith("#") and light != dark
    assert "name_colors" not in styled.data
    assert "name_colors" not in plain.data


def test_it_sends_a_keep_alive_while_nothing_happens(server, sse):
    client = sse(server.url + "/live?view=messages")
    client.next()
    keep_alive = client.next(timeout=3)  # SSE_KEEPALIVE_SECONDS=1 in tests
    assert keep_alive.type == "status"
    assert keep_alive.data["state"] == "connected"


def test_it_counts_connections_in_metrics(server, sse, store):
    client = sse(server.url + "/live?view=home&after_id=0")
    client.next()
    store(chat())
    client.messages(1)
    text = server.get("/metrics").text
    assert 'goknut_sse_connections_total{view="home"} 1.0' in text
    assert 'goknut_sse_connections_active{view="home"} 1.0' in text
    assert 'goknut_sse_reconnects_total{view="home"} 1.0' in text
    assert "goknut_sse_events_sent_total" in text
    assert "goknut_sse_lag_seconds_bucket" in text


def test_it_narrows_a_message_list_to_the_channel_and_user_filters(server, sse, store):
    store(chat("forsen", "alice"), chat("xqc", "alice"))
    client = sse(server.url + "/live?view=messages&channel=forsen&user=alice")
    start = client.next().cursor
    store(
        chat("forsen", "alice", "wanted 1"),
        chat("forsen", "bob"),
        chat("xqc", "alice"),
        chat("forsen", "alice", "wanted 2"),
    )
    got = client.messages(2)
    assert [e.data["text"] for e in got] == ["wanted 1", "wanted 2"]
    expected = message_ids_after(start, channel__name="forsen", user__username="alice")
    assert [e.data["id"] for e in got] == expected
    assert not [e for e in client.drain() if e.type == "message"]
