"""Unit tests of the fan-out (live.broadcast): topics, bounded queues, and the
cut-off of a subscriber that falls behind. No socket and no event loop: a
Subscriber without a writer is a queue of chunks (what the connection's task
sends); the grace period runs on a fake clock."""

from __future__ import annotations

import types

import pytest

from live import broadcast
from live.broadcast import BEHIND_GRACE_SECONDS, HARD_LIMIT_FACTOR, Broadcaster, Subscriber
from live.events import Spec

LIMIT = 100


def subscriber(view: str = "messages", limit: int = LIMIT, **names: str) -> Subscriber:
    return Subscriber(Spec(view, **names), limit)


def subscribed(broadcaster: Broadcaster, *subs: Subscriber) -> list[Subscriber]:
    for sub in subs:
        broadcaster.add(sub)
    return list(subs)


class Clock:
    """time.monotonic for live.broadcast, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(broadcast, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


class Writer:
    """Stands in for live.sockets.SocketWriter: reports the bytes left unsent."""

    def __init__(self, backlog: int = 0, gone: bool = False) -> None:
        self.backlog, self.gone, self.written = backlog, gone, []

    def write(self, chunk: bytes) -> int:
        if self.gone:
            raise ConnectionResetError("peer gone")
        self.written.append(chunk)
        return self.backlog


# --- topics ------------------------------------------------------------------


def test_it_delivers_a_chunk_once_to_every_subscriber_of_its_topic():
    b = Broadcaster()
    first, second = subscribed(b, subscriber(), subscriber())
    assert b.publish("messages", b"event: a\n\n") == 2
    assert first.take() == second.take() == b"event: a\n\n"


def test_it_delivers_nothing_to_other_topics():
    b = Broadcaster()
    home, channel = subscribed(b, subscriber("home"), subscriber("channel", channel="forsen"))
    b.publish("messages", b"x")
    b.publish("channel-xqc", b"y")
    assert home.take() == channel.take() == b""
    assert not home.wake.is_set() and not channel.wake.is_set()


def test_it_returns_zero_for_a_topic_nobody_follows():
    assert Broadcaster().publish("home", b"x") == 0


def test_it_shares_one_topic_between_equal_streams():
    b = Broadcaster()
    first, second = subscribed(
        b, subscriber(channel="forsen", user="alice"), subscriber(channel="forsen", user="alice")
    )
    assert set(b.topics) == {"messages-channel-forsen-user-alice"}
    assert b.publish(first.topic, b"x") == 2
    assert second.take() == b"x"


def test_it_hands_every_subscriber_the_same_bytes_object():
    b = Broadcaster()
    first, second = subscribed(b, subscriber(), subscriber())
    chunk = b"event: message\n" + b"x" * 50
    b.publish("messages", chunk)
    assert first.pending[0] is chunk and second.pending[0] is chunk  # encoded once


def test_it_keeps_the_order_of_chunks_and_empties_the_queue_on_take():
    b = Broadcaster()
    [sub] = subscribed(b, subscriber(limit=10_000))
    for n in range(5):
        b.publish("messages", f"{n};".encode())
    assert (sub.pending_bytes, sub.take()) == (10, b"0;1;2;3;4;")
    assert (sub.pending_bytes, sub.take()) == (0, b"")


def test_it_wakes_the_connection_when_a_chunk_arrives():
    b = Broadcaster()
    [sub] = subscribed(b, subscriber())
    assert not sub.wake.is_set()
    b.publish("messages", b"x")
    assert sub.wake.is_set()


def test_it_stops_delivering_to_a_removed_subscriber():
    b = Broadcaster()
    gone, stays = subscribed(b, subscriber(), subscriber())
    b.remove(gone)
    assert b.publish("messages", b"x") == 1
    assert (gone.take(), stays.take()) == (b"", b"x")
    assert b.count == 1


def test_it_forgets_a_topic_when_its_last_subscriber_leaves():
    b = Broadcaster()
    [sub] = subscribed(b, subscriber("home"))
    b.remove(sub)
    assert (b.topics, b.count) == ({}, 0)


def test_it_ignores_removing_a_subscriber_twice_or_one_never_added():
    b = Broadcaster()
    sub, other = subscribed(b, subscriber(), subscriber("users"))
    b.remove(sub)
    b.remove(sub)
    b.remove(subscriber("users"))
    assert b.count == 1
    assert b.topics == {"users": {other}}


def test_it_counts_only_subscribers_that_got_the_chunk():
    b = Broadcaster()
    closed, _open = subscribed(b, subscriber(), subscriber())
    closed.close("client_gone")
    assert b.publish("messages", b"x") == 1


# --- the queue bound (servers whose send() blocks) ----------------------------


def test_it_cuts_off_a_subscriber_whose_queue_passes_its_bound():
    sub = subscriber()
    for _ in range(HARD_LIMIT_FACTOR):
        sub.push(b"x" * LIMIT)
    assert not sub.closed  # exactly at the bound
    sub.push(b"x")
    assert (sub.closed, sub.reason) == (True, "backpressure")


def test_it_drops_the_queue_of_a_subscriber_it_cuts_off():
    sub = subscriber()
    for _ in range(HARD_LIMIT_FACTOR + 1):
        sub.push(b"x" * LIMIT)
    assert sub.closed
    assert (sub.take(), sub.pending_bytes) == (b"", 0)  # memory stays bounded
    assert sub.wake.is_set()  # its task wakes up to end the response


def test_it_keeps_delivering_to_the_others_when_one_is_cut_off():
    b = Broadcaster()
    stalled, healthy = subscribed(b, subscriber(), subscriber())
    chunks = [f"{n:03d}".encode() * 40 for n in range(HARD_LIMIT_FACTOR + 5)]  # 120 B each
    received = b""
    for chunk in chunks:
        b.publish("messages", chunk)
        received += healthy.take()  # the healthy one keeps reading, the other never
    assert stalled.closed and stalled.reason == "backpressure"
    assert not healthy.closed
    assert received == b"".join(chunks)


def test_it_gives_nothing_more_to_a_subscriber_once_it_is_closed():
    sub = subscriber()
    sub.close("client_gone")
    sub.push(b"x")
    assert (sub.take(), sub.pending_bytes) == (b"", 0)


def test_it_keeps_the_first_reason_a_subscriber_was_closed_for():
    sub = subscriber()
    sub.close("client_gone")
    sub.close("backpressure")
    assert sub.reason == "client_gone"


def test_it_keeps_one_big_chunk_however_big_it_is():
    # A burst is one tick's chunk: it may be bigger than the bound on its own.
    sub = subscriber()
    sub.push(b"x" * (HARD_LIMIT_FACTOR * LIMIT * 3))
    assert not sub.closed
    assert len(sub.take()) == HARD_LIMIT_FACTOR * LIMIT * 3


def test_it_keeps_a_subscriber_that_reads_as_fast_as_chunks_arrive():
    sub = subscriber()
    for _ in range(100):
        sub.push(b"x" * (HARD_LIMIT_FACTOR * LIMIT // 2))
        sub.push(b"x" * (HARD_LIMIT_FACTOR * LIMIT // 2))
        sub.take()
    assert not sub.closed


# --- falling behind over time (the socket backlog under daphne) --------------


def test_it_does_not_call_a_subscriber_behind_at_or_under_its_limit(clock):
    sub = subscriber()
    for _ in range(3):
        assert not sub.too_far_behind(LIMIT)
        clock.now += BEHIND_GRACE_SECONDS * 10
    assert not sub.too_far_behind(0)


def test_it_allows_a_subscriber_over_its_limit_the_grace_period(clock):
    sub = subscriber()
    assert not sub.too_far_behind(LIMIT + 1)
    clock.now += BEHIND_GRACE_SECONDS
    assert not sub.too_far_behind(LIMIT + 1)
    clock.now += 0.01
    assert sub.too_far_behind(LIMIT + 1)


def test_it_starts_the_grace_period_again_once_a_subscriber_catches_up(clock):
    sub = subscriber()
    sub.too_far_behind(LIMIT * 2)
    clock.now += BEHIND_GRACE_SECONDS - 0.5
    assert not sub.too_far_behind(LIMIT)  # caught up for a moment
    clock.now += 1.0
    assert not sub.too_far_behind(LIMIT * 2)  # behind again: a new grace period
    clock.now += BEHIND_GRACE_SECONDS - 0.1
    assert not sub.too_far_behind(LIMIT * 2)
    clock.now += 0.2
    assert sub.too_far_behind(LIMIT * 2)


def test_it_calls_a_subscriber_over_the_hard_limit_behind_at_once(clock):
    sub = subscriber()
    assert not sub.too_far_behind(HARD_LIMIT_FACTOR * LIMIT)
    assert subscriber().too_far_behind(HARD_LIMIT_FACTOR * LIMIT + 1)


def test_it_cuts_off_a_stalled_socket_after_the_grace_period(clock):
    sub = subscriber()
    sub.writer = Writer(backlog=LIMIT * 5)
    sub.push(b"a")
    clock.now += BEHIND_GRACE_SECONDS
    sub.push(b"b")
    assert not sub.closed
    clock.now += 0.5
    sub.push(b"c")
    assert (sub.closed, sub.reason) == (True, "backpressure")
    sub.push(b"d")
    assert sub.writer.written == [b"a", b"b", b"c"]  # nothing written once cut off


def test_it_keeps_a_socket_that_drains_within_the_grace_period(clock):
    sub = subscriber()
    sub.writer = writer = Writer(backlog=LIMIT * 5)
    for _ in range(10):
        sub.push(b"x")
        clock.now += BEHIND_GRACE_SECONDS * 0.9
        writer.backlog = LIMIT * 5 if writer.backlog == 0 else 0
    assert not sub.closed


def test_it_closes_a_subscriber_whose_socket_is_gone():
    sub = subscriber()
    sub.writer = Writer(gone=True)
    sub.push(b"x")
    assert (sub.closed, sub.reason) == (True, "client_gone")
