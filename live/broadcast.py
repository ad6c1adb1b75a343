"""Shared fan-out: one set of subscribers per django-eventstream channel.

The relay hands each channel one chunk of encoded events per tick; every
subscriber gets a reference to the same bytes (encoded once, shared by all).
Under daphne a subscriber writes each chunk to its socket at once (a
`live.sockets.SocketWriter`); elsewhere, and until its connection's replay is
out, it is a bounded queue of chunks and an event that wakes the connection's
task. Pushing never waits: a subscriber that falls more than `limit` bytes
behind for BEHIND_GRACE_SECONDS (or HARD_LIMIT_FACTOR times that at all) is cut
off (closed) and resumes later by cursor, so a slow or stalled client can never
delay the relay, ingestion or anyone else.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque

from live.events import Spec
from live.sockets import SocketWriter

_ids = itertools.count(1)
HARD_LIMIT_FACTOR = 16  # over this many times `limit` behind, a client is cut at once
BEHIND_GRACE_SECONDS = 2.0  # a burst may leave a healthy client behind this long


class Subscriber:
    __slots__ = (
        "behind_since",
        "closed",
        "connected_at",
        "id",
        "limit",
        "pending",
        "pending_bytes",
        "reason",
        "spec",
        "topic",
        "view",
        "wake",
        "writer",
    )

    def __init__(self, spec: Spec, limit: int) -> None:
        self.id = next(_ids)
        self.spec = spec
        self.topic = spec.topic
        self.view = spec.view
        self.limit = limit
        self.pending: deque[bytes] = deque()
        self.pending_bytes = 0
        self.wake = asyncio.Event()
        self.closed = False
        self.reason = ""
        self.connected_at = time.monotonic()
        self.behind_since: float | None = None  # since when over `limit`
        self.writer: SocketWriter | None = None  # set by the endpoint once the replay is out

    def push(self, chunk: bytes) -> None:
        if self.closed:
            return
        if self.writer is not None:
            try:
                backlog = self.writer.write(chunk)
            except ConnectionError:
                self.close("client_gone")
                return
            if self.too_far_behind(backlog):
                self.close("backpressure")
            return
        self.pending.append(chunk)
        self.pending_bytes += len(chunk)
        # One tick's chunk may be big (a burst); only chunks piling up behind a
        # writer that cannot send them count (servers whose send() blocks), with
        # room for live events queued while a new connection's replay is read.
        if self.pending_bytes > HARD_LIMIT_FACTOR * self.limit and len(self.pending) > 1:
            self.close("backpressure")
        self.wake.set()

    def too_far_behind(self, backlog: int) -> bool:
        """Over `limit` bytes waiting for longer than BEHIND_GRACE_SECONDS, or over
        HARD_LIMIT_FACTOR x `limit` at all."""
        if backlog <= self.limit:
            self.behind_since = None
            return False
        if backlog > HARD_LIMIT_FACTOR * self.limit:
            return True
        now = time.monotonic()
        if self.behind_since is None:
            self.behind_since = now
        return now - self.behind_since > BEHIND_GRACE_SECONDS

    def take(self) -> bytes:
        data = b"".join(self.pending)
        self.pending.clear()
        self.pending_bytes = 0
        return data

    def close(self, reason: str) -> None:
        if not self.closed:
            self.closed = True
            self.reason = reason
            self.pending.clear()
            self.pending_bytes = 0
            self.wake.set()


class Broadcaster:
    def __init__(self) -> None:
        self.topics: dict[str, set[Subscriber]] = {}
        self.count = 0

    def add(self, sub: Subscriber) -> None:
        self.topics.setdefault(sub.topic, set()).add(sub)
        self.count += 1

    def remove(self, sub: Subscriber) -> None:
        subs = self.topics.get(sub.topic)
        if subs is not None and sub in subs:
            subs.discard(sub)
            self.count -= 1
            if not subs:
                del self.topics[sub.topic]

    def publish(self, topic: str, chunk: bytes) -> int:
        """Queue one chunk for every subscriber of `topic`; returns how many got it."""
        subs = self.topics.get(topic)
        if not subs:
            return 0
        received = 0
        for sub in list(subs):  # push may not remove, but stay safe against it
            sub.push(chunk)
            received += not sub.closed  # a cut-off or departed one got nothing
        return received
