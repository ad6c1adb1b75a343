"""Shared fan-out: one set of subscribers per django-eventstream channel.

The relay hands each channel one chunk of encoded events per tick; every
subscriber gets a reference to the same bytes (encoded once, shared by all).
A subscriber is only a bounded queue of chunks and an event that wakes its
connection's writer. Pushing never waits: a subscriber that falls more than
`limit` bytes behind (see endpoint._pump) is cut off (closed) and resumes later by cursor, so a
slow or stalled client can never delay the relay, ingestion or anyone else.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque

from live.events import Spec

_ids = itertools.count(1)
HARD_LIMIT_FACTOR = 16  # over this many times `limit` behind, a client is cut at once


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
        self.behind_since: float | None = None  # since when over `limit` (endpoint._pump)

    def push(self, chunk: bytes) -> None:
        if self.closed:
            return
        self.pending.append(chunk)
        self.pending_bytes += len(chunk)
        # One tick's chunk may be big (a burst); only chunks piling up behind a
        # writer that cannot send them count (servers whose send() blocks), with
        # room for live events queued while a new connection's replay is read.
        if self.pending_bytes > HARD_LIMIT_FACTOR * self.limit and len(self.pending) > 1:
            self.close("backpressure")
        self.wake.set()

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
        for sub in list(subs):  # push may not remove, but stay safe against it
            sub.push(chunk)
        return len(subs)
