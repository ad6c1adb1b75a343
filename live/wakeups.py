"""Wake-ups between processes: "something was committed, read the database".

The write path (ingest, or a staff action in a web process) announces each
commit; every web process's relay reads the new rows by cursor. A wake-up
carries no data, so losing one costs latency, never a message: each relay
also reads on a timer (docs/live-updates.md).

With the in-memory layer a wake-up only reaches this process's relay. With
Redis it goes through the Channels layer `channels_redis.pubsub`
(RedisPubSubChannelLayer), on purpose rather than the list-based
RedisChannelLayer: a relay subscribes to the group `live-relay` once, a process
that dies leaves no member behind (Redis forgets the subscription with the
connection), there is no per-channel capacity to overflow, and an idle
subscription does not time out.

Two rules keep Redis from ever hurting the write path:
- Announcing never blocks and never raises: the message goes to a publisher
  thread with its own event loop, which coalesces bursts, gives each send two
  seconds, and reports an outage once (a warning) and the recovery once.
- A relay watches its own subscription (a ping to itself every few seconds)
  and says once that Redis is gone and once that it is back; the layer's
  receive task, which logs a traceback every second while Redis is down, is
  quieted by `QuietOutages` (settings.LOGGING).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from channels.layers import InMemoryChannelLayer, get_channel_layer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from live import metrics

log = logging.getLogger("live")

GROUP = "live-relay"
SEND_TIMEOUT_S = 2.0
PING_EVERY_S = 5.0  # a relay's check of its own subscription
OUTAGE_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)


def layer_is_shared() -> bool:
    layer = get_channel_layer()
    return layer is not None and not isinstance(layer, InMemoryChannelLayer)


class Publisher:
    """Sends wake-ups to the group from a thread of its own (one per process)."""

    _instance: Publisher | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.pending: dict | None = None  # the next message, bursts merged into it
        self.sending = False
        self.healthy = True
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="wakeups")
        self.thread.start()

    @classmethod
    def get(cls) -> Publisher:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def publish(self, committed_at: float, dirty: bool) -> None:
        """From any thread; returns at once."""
        self.loop.call_soon_threadsafe(self._queue, committed_at, dirty)

    def _queue(self, committed_at: float, dirty: bool) -> None:
        if self.pending is None:
            self.pending = {"type": "relay.wake", "committed_at": committed_at, "dirty": dirty}
        else:  # keep the earliest commit time (the latency measure) and any dirty flag
            self.pending["dirty"] = self.pending["dirty"] or dirty
        if not self.sending:
            self.sending = True
            self.loop.create_task(self._send_pending())

    async def _send_pending(self) -> None:
        layer = get_channel_layer()
        try:
            while self.pending is not None:
                message, self.pending = self.pending, None
                try:
                    await asyncio.wait_for(layer.group_send(GROUP, message), SEND_TIMEOUT_S)
                except OUTAGE_ERRORS as exc:
                    metrics.WAKEUPS_LOST.inc()
                    if self.healthy:
                        self.healthy = False
                        log.warning(
                            "live wake-ups cannot reach Redis (%s: %s); web processes find "
                            "new rows by polling until it is back",
                            type(exc).__name__,
                            exc,
                        )
                    continue
                if not self.healthy:
                    self.healthy = True
                    log.warning("live wake-ups reach Redis again")
        finally:
            self.sending = False


def flush(timeout: float = SEND_TIMEOUT_S + 0.5) -> None:
    """Wait (a bounded time) until the wake-ups already announced have been
    sent: a process that exits right after its last commit (a replay) would
    otherwise take its last wake-up with it."""
    publisher = Publisher._instance
    if publisher is None:
        return
    done = threading.Event()

    def check() -> None:
        if publisher.sending or publisher.pending is not None:
            publisher.loop.call_later(0.01, check)
        else:
            done.set()

    publisher.loop.call_soon_threadsafe(check)
    done.wait(timeout)


def announce(wake_local: Callable[[float, bool], None] | None, dirty: bool = False) -> None:
    """After a commit: wake this process's relay (if any) and, on a shared
    layer, every other process's. Never blocks, never raises."""
    now = time.time()
    if wake_local is not None:
        wake_local(now, dirty)
    if layer_is_shared():
        Publisher.get().publish(now, dirty)


async def listen(wake: Callable[[float | None, bool], None]) -> None:
    """A relay's subscription: calls wake(committed_at, dirty) for every
    wake-up from another process. Runs until cancelled.

    One channel and one group subscription for the life of the process; the
    layer re-subscribes by itself after a reconnect. The ping to our own
    channel tells whether the subscription works; after an outage the relay
    is woken with dirty=True (wake-ups may have been missed meanwhile)."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    state = {"healthy": True, "answered": time.monotonic()}
    pinger = asyncio.ensure_future(_ping(layer, channel, state))
    try:
        while True:
            message = await layer.receive(channel)
            if message.get("type") == "relay.ping":
                if not state["healthy"]:
                    state["healthy"] = True
                    log.warning("live relay: Redis is back; subscribed again")
                    wake(None, True)
                state["answered"] = time.monotonic()
                continue
            wake(message.get("committed_at"), bool(message.get("dirty")))
    finally:
        pinger.cancel()


async def _ping(layer, channel: str, state: dict) -> None:
    while True:
        await asyncio.sleep(PING_EVERY_S)
        problem = ""
        try:
            await asyncio.wait_for(layer.send(channel, {"type": "relay.ping"}), SEND_TIMEOUT_S)
        except OUTAGE_ERRORS as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if time.monotonic() - state["answered"] > 3 * PING_EVERY_S:
                problem = "no answer to its own pings"
        if problem and state["healthy"]:
            state["healthy"] = False
            metrics.LAYER_OUTAGES.inc()
            log.warning(
                "live relay lost Redis (%s); reading the database on its timer until it is back",
                problem,
            )


class QuietOutages(logging.Filter):
    """Drops the tracebacks channels_redis.pubsub logs every second while Redis
    is unreachable (the relay and the publisher each say it once); anything
    else it logs passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, OUTAGE_ERRORS)
