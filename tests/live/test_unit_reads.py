"""Unit tests of what the live relay reads (live.reads) against the test
database: ticks, home totals, a new connection's replay and totals. Data is
stored through the real write path (`store`); the returned bytes are parsed
back into SSE events and their JSON.

transaction=True: the reads call close_old_connections(), as in the relay's
threads, which drops a connection left inside the `db` fixture's transaction.
"""

from __future__ import annotations

import json
import threading
import time
import types
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections

from live import events, reads
from live.events import Spec
from live.reads import HomeTotals
from messages_app.models import COUNTED_KINDS, Channel, ChatUser, Message
from messages_app.writes import store_batch
from tests.conftest import chat

pytestmark = pytest.mark.django_db(transaction=True)

ALL_VIEWS = frozenset(events.VIEWS)


@dataclass
class Event:
    type: str
    id: str
    data: dict


def sse_events(raw: bytes) -> list[Event]:
    """The events of a chunk: blocks split on blank lines, each with `event:`,
    `id:` and exactly one `data:` line of JSON."""
    text = raw.decode()
    if not text:
        return []
    assert text.endswith("\n\n")
    parsed = []
    for block in text[:-2].split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(": ")
            fields.setdefault(name, []).append(value)
        assert set(fields) == {"event", "id", "data"}, block
        assert all(len(values) == 1 for values in fields.values()), block
        parsed.append(Event(fields["event"][0], fields["id"][0], json.loads(fields["data"][0])))
    return parsed


def replay(spec: Spec, after: int, upto: int, resumed: bool = True, home=None) -> list[Event]:
    raw = reads.catch_up(spec, reads.lookup(spec), after, upto, resumed, home or {})
    return sse_events(raw)


def ids_between(after: int, upto: int, **filters) -> list[int]:
    qs = Message.objects.filter(id__gt=after, id__lte=upto, **filters).order_by("id")
    return list(qs.values_list("id", flat=True))


def message_ids(got: list[Event]) -> list[int]:
    return [e.data["id"] for e in got if e.type == "message"]


def counters(windows: bool = False) -> dict[str, int]:
    """The home totals, counted the slow way; with home subscribed, also its
    last minute and last hour (chat and notices sent since then)."""
    values = {
        "total_messages": Message.objects.count(),
        "total_channels": Channel.objects.active().count(),
        "total_users": ChatUser.objects.count(),
    }
    if windows:
        now, chat = datetime.now(UTC), Message.objects.filter(kind__in=COUNTED_KINDS)
        for name, span in (("last_minute", 60), ("last_hour", 3600)):
            values[name] = chat.filter(sent_at__gte=now - timedelta(seconds=span)).count()
    return values


def tick(cursor: int, views=ALL_VIEWS, dirty: bool = False, totals=None) -> reads.Tick | None:
    return reads.read_tick(cursor, dirty, frozenset(views), totals or HomeTotals())


def delete_channel(name: str) -> None:
    Channel.objects.filter(name=name).update(deleted_at=datetime.now(UTC))


def new_user(username: str) -> ChatUser:
    now = datetime.now(UTC)
    return ChatUser.objects.create(username=username, first_seen_at=now, last_seen_at=now)


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """time.monotonic of live.reads, moved by hand (time.time stays real)."""
    fake = Clock()
    monkeypatch.setattr(
        reads, "time", types.SimpleNamespace(monotonic=fake.monotonic, time=time.time)
    )
    return fake


# --- read_tick ---------------------------------------------------------------


def test_it_reads_nothing_when_nothing_is_new(store):
    stored = store(chat(), chat())
    assert tick(stored.last_id) is None


def test_it_reads_the_rows_after_the_cursor_in_id_order(store):
    seen = store(chat("forsen", "alice", "old"))
    store(chat("xqc", "bob", "one"), chat("forsen", "carol", "two"))
    store(chat("forsen", "alice", "three"))
    got = tick(seen.last_id)
    assert [r.id for r in got.rows] == ids_between(seen.last_id, 2**62)
    assert [(r.channel_name, r.username) for r in got.rows] == [
        ("xqc", "bob"),
        ("forsen", "carol"),
        ("forsen", "alice"),
    ]
    assert got.high == got.rows[-1].id


def test_it_encodes_each_row_as_its_message_event(store):
    stored = store(chat("forsen", "alice", "hi <b>there</b>", display_name="Alice"))
    [row] = tick(stored.last_id - 1).rows
    data = json.loads(row.data)
    assert data["type"] == "message"
    assert data["cursor"] == data["id"] == stored.last_id
    assert (data["channel_name"], data["username"], data["display_name"]) == (
        "forsen",
        "alice",
        "Alice",
    )
    assert data["text"] == "hi <b>there</b>"
    assert data["sent_at"].endswith("Z")


def test_it_reads_the_colour_tag_from_the_stored_tags(store):
    stored = store(chat(tags={"color": "#1E90FF"}), chat(tags={"color": "javascript:x"}))
    coloured, plain = (json.loads(r.data) for r in tick(stored.first_id - 1).rows)
    assert len(coloured["name_colors"]) == 2
    assert "name_colors" not in plain


def test_it_reads_at_most_a_batch_of_rows_a_tick(store):
    seen = store(chat())
    store(*[chat(text=f"n{n}") for n in range(reads.BATCH + 1)])
    got = tick(seen.last_id)
    assert reads.BATCH == 1000
    assert [r.id for r in got.rows] == ids_between(seen.last_id, 2**62)[: reads.BATCH]


def test_it_reads_a_backlog_in_consecutive_ticks_without_gap_or_repeat(store, monkeypatch):
    monkeypatch.setattr(reads, "BATCH", 3)
    seen = store(chat())
    store(*[chat(text=f"n{n}") for n in range(7)])
    cursor, sizes, ids = seen.last_id, [], []
    while (got := tick(cursor)) is not None:
        sizes.append(len(got.rows))
        ids += [r.id for r in got.rows]
        cursor = got.high
    assert sizes == [3, 3, 1]
    assert ids == ids_between(seen.last_id, 2**62)


def test_it_reads_a_dirty_tick_without_new_rows(store):
    stored = store(chat("forsen"), chat("xqc"))
    got = tick(stored.last_id, {"channels"}, dirty=True)
    assert (got.high, got.rows) == (stored.last_id, [])
    assert set(got.channels) == {"forsen", "xqc"}
    assert got.totals == counters()


@pytest.mark.parametrize(
    ("views", "channels", "users"),
    [
        ({"home"}, False, False),
        ({"messages"}, False, False),
        ({"channels"}, True, False),
        ({"channel"}, True, False),
        ({"users"}, False, True),
        ({"user_profile"}, False, True),
        ({"channels", "users"}, True, True),
    ],
)
def test_it_reads_counts_only_for_the_views_subscribed(store, views, channels, users):
    stored = store(chat("forsen", "alice"))
    got = tick(stored.first_id - 1, views)
    assert (bool(got.channels), bool(got.users)) == (channels, users)
    # The relay keeps home totals whatever is subscribed; the windows for home.
    assert got.totals == counters(windows="home" in views)


def test_it_reads_the_counters_of_the_channels_and_users_it_touched(store):
    store(chat("forsen", "alice"), chat("forsen", "alice"), chat("sodapoppin", "carol"))
    seen = reads.max_id()
    stored = store(chat("xqc", "bob"), chat("forsen", "alice"))
    got = tick(seen)
    assert set(got.channels) == {"xqc", "forsen"}
    assert set(got.users) == {"bob", "alice"}
    forsen = Channel.objects.get(name="forsen")
    assert got.channels["forsen"] == {
        "type": "channel_count",
        "cursor": stored.last_id,
        "channel_id": forsen.id,
        "channel_name": "forsen",
        "total_messages": 3,
        "last_message_at": events.iso(forsen.last_message_at),
    }
    alice = ChatUser.objects.get(username="alice")
    assert got.users["alice"] == {
        "type": "user_count",
        "cursor": stored.last_id,
        "user_id": alice.id,
        "username": "alice",
        "total_messages": 3,
        "last_seen_at": events.iso(alice.last_seen_at),
    }


def test_it_reads_every_active_channel_on_a_dirty_tick(store):
    stored = store(chat("forsen"), chat("xqc"), chat("gone"))
    delete_channel("gone")
    got = tick(stored.last_id, {"channel"}, dirty=True)
    assert set(got.channels) == {"forsen", "xqc"}


def test_it_reads_home_totals_equal_to_the_counters(store):
    store(*[chat(f"chan{n % 3}", f"user{n % 5}") for n in range(20)])
    delete_channel("chan2")
    seen = reads.max_id()
    store(chat("chan0", "newcomer"))
    got = tick(seen, {"home"})
    assert got.totals == counters(windows=True)
    assert got.metrics == {"type": "metrics", "cursor": got.high, **counters(windows=True)}


class StoreMidTick(reads.Erasures):
    """Erasures whose read, between the tick's rows and its totals, has another
    thread commit a line: ingest storing a batch while the relay reads."""

    def __init__(self, record) -> None:
        super().__init__()
        self.record = record

    def read(self) -> list:
        if self.record is not None:
            worker = threading.Thread(target=self.store_one)
            worker.start()
            worker.join()
        return []

    def store_one(self) -> None:
        try:
            store_batch([self.record])
            self.record = None
        finally:
            connections.close_all()


@pytest.mark.parametrize("views", [{"home"}, {"messages"}])
def test_home_totals_are_as_of_the_tick_cursor_when_a_line_commits_mid_tick(store, views):
    store(chat("forsen", "alice", "first"))
    totals, erasures = HomeTotals(), StoreMidTick(chat("forsen", "bob", "mid-tick"))
    got = reads.read_tick(0, False, frozenset(views), totals, erasures)
    assert erasures.record is None  # the line was committed during the tick
    assert [r.id for r in got.rows] == [got.high] and Message.objects.count() == 2
    # Users and channels are counted as they are (bob's row is there already).
    windows = {"last_minute": 1, "last_hour": 1} if "home" in views else {}
    assert {k: got.totals[k] for k in ["total_messages", *windows]} == {
        "total_messages": 1,
        **windows,
    }
    after = reads.read_tick(got.high, False, frozenset(views), totals, erasures)
    assert after.totals == counters(windows="home" in views)
    assert after.totals["total_messages"] == 2


# --- HomeTotals --------------------------------------------------------------


def test_it_counts_home_totals_on_the_first_read(store):
    store(chat("forsen", "alice"), chat("xqc", "bob"), chat("xqc", "alice"))
    assert HomeTotals().read(set(), set(), False) == counters()


def test_it_counts_zero_in_an_empty_archive():
    assert HomeTotals().read(set(), set(), False) == {
        "total_messages": 0,
        "total_channels": 0,
        "total_users": 0,
    }


def test_it_keeps_user_and_channel_counts_until_a_higher_id_appears(store, clock):
    stored = store(chat("forsen", "alice"))
    totals = HomeTotals()
    before = totals.read(stored.user_ids, stored.channel_ids, False)
    new_user("lurker")
    Channel.objects.create(name="newchan")
    clock.now += 1
    assert totals.read(stored.user_ids, stored.channel_ids, False) == before


def test_it_recounts_users_when_a_higher_user_id_appears(store, clock):
    stored = store(chat("forsen", "alice"))
    totals = HomeTotals()
    totals.read(stored.user_ids, stored.channel_ids, False)
    newcomer = new_user("newcomer")
    clock.now += 1
    assert totals.read({newcomer.id}, set(), False)["total_users"] == 2


def test_it_recounts_channels_when_a_higher_channel_id_appears(store, clock):
    stored = store(chat("forsen", "alice"))
    totals = HomeTotals()
    totals.read(stored.user_ids, stored.channel_ids, False)
    channel = Channel.objects.create(name="newchan")
    clock.now += 1
    assert totals.read(set(), {channel.id}, False)["total_channels"] == 2


def test_it_recounts_on_a_dirty_read(store, clock):
    stored = store(chat("forsen"), chat("xqc"))
    totals = HomeTotals()
    totals.read(stored.user_ids, stored.channel_ids, False)
    delete_channel("xqc")
    clock.now += 1
    assert totals.read(set(), set(), True)["total_channels"] == 1


def test_it_recounts_once_the_counts_are_recount_seconds_old(store, clock):
    stored = store(chat("forsen"), chat("xqc"))
    totals = HomeTotals()
    totals.read(stored.user_ids, stored.channel_ids, False)
    delete_channel("xqc")  # by another process: no signal reaches this one
    clock.now += reads.RECOUNT_SECONDS - 1
    assert totals.read(set(), set(), False)["total_channels"] == 2
    clock.now += 2
    assert totals.read(set(), set(), False)["total_channels"] == 1


def test_it_sums_the_message_total_on_every_read(store, clock):
    stored = store(chat("forsen", "alice"))
    totals = HomeTotals()
    totals.read(stored.user_ids, stored.channel_ids, False)
    more = store(chat("forsen", "alice"), chat("forsen", "alice"))
    assert totals.read(more.user_ids, more.channel_ids, False)["total_messages"] == 3


# --- catch_up: the replay ----------------------------------------------------


def test_it_replays_exactly_the_messages_between_the_cursors_in_order(store):
    store(*[chat("forsen", f"user{n}", f"m{n}") for n in range(6)])
    ids = ids_between(0, 2**62)
    got = replay(Spec("messages"), ids[1], ids[4])
    assert [e.type for e in got] == ["message"] * 3  # a message list has no totals
    assert message_ids(got) == ids[2:5]
    assert [e.id for e in got] == [f"messages:{i}" for i in ids[2:5]]
    assert [e.data["cursor"] for e in got] == ids[2:5]
    assert [e.data["text"] for e in got] == ["m2", "m3", "m4"]


def test_it_replays_only_the_channel_of_a_channel_stream_then_its_count(store):
    store(*[chat("forsen" if n % 2 else "xqc", "alice", f"m{n}") for n in range(8)])
    store(chat("forsen", "alice", "after upto"))
    ids = ids_between(0, 2**62)
    after, upto = ids[0], ids[6]
    got = replay(Spec("channel", channel="forsen"), after, upto)
    forsen = Channel.objects.get(name="forsen")
    assert message_ids(got) == ids_between(after, upto, channel=forsen)
    assert [e.id.split(":")[0] for e in got] == ["channel-forsen"] * len(got)
    assert [e.type for e in got][-1] == "channel_count"
    assert got[-1].data == {
        "type": "channel_count",
        "cursor": upto,
        "channel_id": forsen.id,
        "channel_name": "forsen",
        "total_messages": forsen.total_messages,
        "last_message_at": events.iso(forsen.last_message_at),
    }


def test_it_replays_only_the_user_of_a_profile_stream_then_the_profile(store):
    store(*[chat(f"chan{n % 3}", "alice" if n % 3 == 0 else "bob") for n in range(9)])
    upto = reads.max_id()
    got = replay(Spec("user_profile", user="alice"), 0, upto)
    alice = ChatUser.objects.get(username="alice")
    assert message_ids(got) == ids_between(0, upto, user=alice)
    assert [e.type for e in got] == ["message"] * 3 + ["user_profile"]
    assert got[-1].data == {
        "type": "user_profile",
        "cursor": upto,
        "user_id": alice.id,
        "username": "alice",
        "total_messages": 3,
        "last_seen_at": events.iso(alice.last_seen_at),
    }


def test_it_replays_only_what_a_filtered_message_list_covers(store):
    store(
        chat("forsen", "alice", "yes 1"),
        chat("forsen", "bob", "no"),
        chat("xqc", "alice", "no"),
        chat("forsen", "alice", "yes 2"),
    )
    got = replay(Spec("messages", channel="forsen", user="alice"), 0, reads.max_id())
    assert [e.data["text"] for e in got] == ["yes 1", "yes 2"]
    assert {e.id.split(":")[0] for e in got} == {"messages-channel-forsen-user-alice"}


def test_it_replays_then_sends_the_home_totals_it_is_given(store):
    seen = store(chat())
    missed = store(chat(), chat())
    relay_totals = {"total_messages": 1234, "total_channels": 5, "total_users": 67}
    got = replay(Spec("home"), seen.last_id, missed.last_id, home=relay_totals)
    assert [e.type for e in got] == ["message", "message", "metrics"]
    assert got[-1].data == {"type": "metrics", "cursor": missed.last_id, **relay_totals}


def test_it_replays_nothing_when_the_client_missed_nothing(store):
    stored = store(chat(), chat())
    assert replay(Spec("messages"), stored.last_id, stored.last_id) == []
    got = replay(Spec("home"), stored.last_id, stored.last_id, home=counters())
    assert [e.type for e in got] == ["metrics"]


def test_it_replays_all_of_exactly_500_missed_messages(store):
    seen = store(chat())
    missed = store(*[chat(text=f"n{n}") for n in range(reads.REPLAY_LIMIT)])
    got = replay(Spec("messages"), seen.last_id, missed.last_id)
    assert reads.REPLAY_LIMIT == 500
    assert message_ids(got) == ids_between(seen.last_id, missed.last_id)
    assert len(got) == 500


def test_it_sends_a_fallback_instead_of_501_missed_messages(store):
    seen = store(chat())
    missed = store(*[chat(text=f"n{n}") for n in range(reads.REPLAY_LIMIT + 1)])
    [fallback] = replay(Spec("messages"), seen.last_id, missed.last_id)
    assert fallback.type == "status"
    assert fallback.id == f"messages:{missed.last_id}"
    assert fallback.data == {
        "type": "status",
        "cursor": missed.last_id,
        "state": "fallback",
        "reason": "too-far-behind",
        "retry_after_ms": 0,
        "skipped": 501,
        "skipped_more": False,
        "after_id": seen.last_id,
    }


def test_it_counts_as_skipped_only_the_messages_the_stream_covers(store, monkeypatch):
    monkeypatch.setattr(reads, "REPLAY_LIMIT", 3)
    store(*[chat("forsen" if n < 4 else "xqc", text=f"n{n}") for n in range(14)])
    upto = reads.max_id()
    store(chat("forsen"), chat("forsen"))  # after upto: live events, not skipped
    got = replay(Spec("channel", channel="forsen"), 0, upto)
    assert [e.type for e in got] == ["status", "channel_count"]
    assert (got[0].data["state"], got[0].data["skipped"], got[0].data["after_id"]) == (
        "fallback",
        4,
        0,
    )


def test_it_bounds_the_count_of_skipped_messages(store, monkeypatch):
    monkeypatch.setattr(reads, "REPLAY_LIMIT", 2)
    monkeypatch.setattr(reads, "SKIPPED_COUNT_LIMIT", 5)
    store(*[chat(text=f"n{n}") for n in range(8)])
    [fallback] = replay(Spec("messages"), 0, reads.max_id())
    assert (fallback.data["skipped"], fallback.data["skipped_more"]) == (5, True)


def test_it_follows_a_fallback_with_the_home_totals(store, monkeypatch):
    monkeypatch.setattr(reads, "REPLAY_LIMIT", 2)
    store(*[chat(text=f"n{n}") for n in range(3)])
    got = replay(Spec("home"), 0, reads.max_id(), home=counters())
    assert [(e.type, e.data.get("state")) for e in got] == [
        ("status", "fallback"),
        ("metrics", None),
    ]
    assert got[1].data == {"type": "metrics", "cursor": reads.max_id(), **counters()}


# --- catch_up and totals_list: the totals of each view -----------------------


def test_it_lists_the_users_of_the_missed_messages_to_a_resumed_users_stream(store):
    store(chat(username="alice"), chat(username="bob"), chat(username="old"))
    seen = reads.max_id()
    store(chat(username="carol"), chat(username="alice"), chat(username="dave"))
    upto = reads.max_id()
    store(chat(username="bob"))  # after upto: not replayed
    got = replay(Spec("users"), seen, upto)
    assert {e.type for e in got} == {"user_count"}  # users get no message events
    assert {e.data["username"] for e in got} == {"carol", "alice", "dave"}
    assert {e.data["cursor"] for e in got} == {upto}
    alice = next(e.data for e in got if e.data["username"] == "alice")
    assert alice["total_messages"] == ChatUser.objects.get(username="alice").total_messages


def test_it_lists_the_most_active_users_to_a_new_users_stream(store, monkeypatch):
    monkeypatch.setattr(reads, "TOP_USERS", 2)
    store(*[chat(username=name) for name in ["a", "b", "b", "c", "c", "c", "d", "d"]])
    upto = reads.max_id()
    got = replay(Spec("users"), upto, upto, resumed=False)
    assert [(e.data["username"], e.data["total_messages"]) for e in got] == [("c", 3), ("b", 2)]


def test_it_lists_the_most_active_users_after_a_users_fallback(store, monkeypatch):
    monkeypatch.setattr(reads, "REPLAY_LIMIT", 2)
    monkeypatch.setattr(reads, "TOP_USERS", 1)
    store(chat(username="a"), chat(username="b"), chat(username="b"))
    got = replay(Spec("users"), 0, reads.max_id())
    assert [e.type for e in got] == ["status", "user_count"]
    assert got[0].data["state"] == "fallback"
    assert got[1].data["username"] == "b"


def test_it_lists_every_active_channel_to_a_channels_stream_without_a_replay(store):
    store(chat("forsen"), chat("forsen"), chat("xqc"), chat("gone"))
    delete_channel("gone")
    upto = reads.max_id()
    got = replay(Spec("channels"), 0, upto)
    assert {e.type for e in got} == {"channel_count"}
    assert {e.data["channel_name"]: e.data["total_messages"] for e in got} == {
        "forsen": 2,
        "xqc": 1,
    }
    assert {e.data["cursor"] for e in got} == {upto}


def test_it_lists_at_most_the_channel_limit(store, monkeypatch):
    monkeypatch.setattr(reads, "LIST_TOTALS_LIMIT", 2)
    store(chat("aa"), chat("bb"), chat("cc"))
    assert len(replay(Spec("channels"), 0, 0)) == 2


@pytest.mark.parametrize(
    ("spec", "types_"),
    [
        (Spec("messages"), []),
        (Spec("messages", channel="forsen", user="alice"), []),
        (Spec("home"), ["metrics"]),
        (Spec("channel", channel="forsen"), ["channel_count"]),
        (Spec("user_profile", user="alice"), ["user_profile"]),
        (Spec("channels"), ["channel_count", "channel_count"]),
        (Spec("users"), ["user_count", "user_count"]),
    ],
)
def test_it_sends_each_view_its_own_totals(store, spec, types_):
    store(chat("forsen", "alice"), chat("xqc", "bob"))
    upto = reads.max_id()
    raw = reads.totals_list(spec, reads.lookup(spec), False, upto, [], False, counters())
    got = sse_events(b"".join(raw))
    assert [e.type for e in got] == types_
    assert {e.id for e in got} <= {f"{spec.topic}:{upto}"}


# --- lookup and max_id -------------------------------------------------------


def test_it_looks_up_the_ids_of_the_names_a_stream_follows(store):
    store(chat("forsen", "alice"))
    forsen, alice = Channel.objects.get(name="forsen"), ChatUser.objects.get(username="alice")
    assert reads.lookup(Spec("messages")) == {}
    assert reads.lookup(Spec("messages", "forsen", "alice")) == {
        "channel": forsen.id,
        "user": alice.id,
    }


def test_it_looks_up_unknown_names_as_none(store):
    store(chat("forsen", "alice"))
    assert reads.lookup(Spec("channel", "nowhere", "nobody")) == {"channel": None, "user": None}


def test_it_reads_the_highest_message_id():
    assert reads.max_id() == 0


def test_it_reads_the_highest_message_id_after_a_store(store):
    store(chat(), chat())
    stored = store(chat())
    assert reads.max_id() == stored.last_id
