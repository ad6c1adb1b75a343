"""The relay: one per web process, it turns stored messages into live events.

It keeps one cursor (the highest `messages.id` it has published) and, on every
wake-up or every `POLL_SECONDS`, reads the rows after it in id order in its own
thread, renders and encodes them once, and hands one chunk per
django-eventstream channel to the broadcaster. Wake-ups come from the write
path's `messages_stored` signal: directly for writes in this process, through
the channel layer group `live-relay` when the layer is shared (Redis). Writes
of another process on the in-memory layer are found by the timed read, which
on an idle database is one primary-key probe.

The event loop only ever publishes finished bytes; every database read runs in
a thread (`reader` for ticks, `lookups` for connection set-up), so a slow query
cannot stall the connections. What is read, and how, is live/reads.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from django.conf import settings
from django.db import DatabaseError

from live import events, metrics, reads, wakeups
from live.broadcast import Broadcaster, Subscriber

log = logging.getLogger("live")

# The change probe: while chat flows, other processes' commits are seen within
# ~10 ms; after 2 s without any, it looks every 50 ms (each look costs ~0.3 ms
# of the event loop, 3% of a core at 100 a second, 0.6% at 20).
POLL_SECONDS, IDLE_POLL_SECONDS, IDLE_AFTER_SECONDS = 0.01, 0.05, 2.0
# Ticks are coalesced: each one costs every subscriber a socket write (25-45 us
# on loopback, most of it the kernel's), so the more subscribers, the fewer
# ticks a second (10 ms apart with a handful, 50 ms from 1,000 subscribers on).
MIN_TICK_SECONDS, MAX_TICK_SECONDS, TICK_SECONDS_PER_SUBSCRIBER = 0.01, 0.05, 0.00005
# Ingest's heartbeat (messages_app/ingest/heartbeat.py) is read this often; a
# change goes to every stream as a `status` with reason `ingest`.
INGEST_READ_SECONDS = 2.0
# Home's "last minute" and "last hour" fall as time passes: with home open, a
# tick at least this often even when no chat comes.
WINDOWS_REFRESH_SECONDS = 5.0


class Relay:
    _instance: ClassVar[Relay | None] = None

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.broadcaster = Broadcaster()
        self.cursor = 0
        self.connections = 0  # accepted and not yet closed (the SSE_MAX_CONNECTIONS count)
        self.reader = ThreadPoolExecutor(1, thread_name_prefix="live-relay")
        self.lookups = ThreadPoolExecutor(2, thread_name_prefix="live-connect")
        self.keepalive = float(getattr(settings, "SSE_KEEPALIVE_SECONDS", 25))
        self._woken = False
        self._waker: asyncio.Future | None = None
        self._woken_at: float | None = None
        self._syncers: list[asyncio.Future] = []
        self.home_totals: dict[str, int] = {}
        self._ready = loop.create_future()
        # "database-unavailable" while reads fail: streams are told, new
        # connections are refused with a 503 at once (live/endpoint.py).
        self.db_error = ""
        # Ingest's state as status events carry it ({"state", "source", "label",
        # "since"}); None until the heartbeat was read.
        self.ingest: dict | None = None
        self._ingest_read_at = 0.0
        self._dirty_totals = False
        self.totals = reads.HomeTotals()  # read in the reader thread only
        self.erasures = reads.Erasures()  # likewise
        self.channel_ids: dict[str, int] = {}  # name -> id, for connect validation
        self.user_ids: dict[str, int] = {}
        self.task = loop.create_task(self._run())
        if wakeups.layer_is_shared():
            self.layer_task = loop.create_task(self._listen_to_layer())

    # -- life cycle -----------------------------------------------------------

    @classmethod
    def get(cls) -> Relay:
        """The relay of this process, started on first use (from the event loop)."""
        loop = asyncio.get_running_loop()
        if cls._instance is None or cls._instance.loop is not loop:
            cls._instance = cls(loop)
        return cls._instance

    async def ready(self) -> None:
        await asyncio.shield(self._ready)

    def wake_threadsafe(self, committed_at: float | None = None, dirty: bool = False) -> None:
        """Called from any thread after a commit in this process."""
        with contextlib.suppress(RuntimeError):  # the loop closed at shutdown
            if dirty:
                self.loop.call_soon_threadsafe(self.forget)
            else:
                self.loop.call_soon_threadsafe(self.wake, committed_at)

    def wake(self, committed_at: float | None = None, dirty: bool = False) -> None:
        if committed_at is not None and (self._woken_at is None or committed_at < self._woken_at):
            self._woken_at = committed_at
        if dirty:
            self._dirty_totals = True
        self._woken = True
        _resolve(self._waker)

    async def sync(self) -> int:
        """Wait for a read of the database that starts after this call (shared by
        every connection arriving meanwhile); returns the cursor it reached.
        Everything stored before the call is then published or at most one
        backlog batch away."""
        future = self.loop.create_future()
        self._syncers.append(future)
        self.wake()
        return await future

    async def _run(self) -> None:
        while True:
            try:
                self.cursor, self.home_totals = await self.loop.run_in_executor(
                    self.reader, self._start
                )
                break
            except Exception as exc:
                self._read_failed(exc)
                await asyncio.sleep(1)
        self._read_worked()
        self._ready.set_result(None)
        log.info("live relay started cursor=%d", self.cursor)
        probe = reads.ChangeProbe()
        last_keepalive = time.monotonic()
        last_read = active_at = refreshed_at = 0.0
        while True:
            # Sleeping even right after a tick that found rows measured better at
            # 1,000 clients x 1,000 msg/s than looking again at once (p95 -10%).
            idle = time.monotonic() - active_at > IDLE_AFTER_SECONDS
            await self._sleep(IDLE_POLL_SECONDS if idle else POLL_SECONDS)
            now = time.monotonic()
            if now - self._ingest_read_at >= INGEST_READ_SECONDS:
                self._ingest_read_at = now
                await self._read_ingest()
            if now - last_keepalive >= self.keepalive:
                last_keepalive = now
                self._send_keepalive()
            refresh = now - refreshed_at >= WINDOWS_REFRESH_SECONDS and self._shows("home")
            if refresh:
                refreshed_at = now
            woken = self._woken or self._dirty_totals or bool(self._syncers) or refresh
            if not probe.changed() and not woken:
                continue  # nothing committed anywhere since the last look
            active_at = now
            self._woken = False
            wait = self._tick_interval() - (time.monotonic() - last_read)
            if wait > 0:
                await asyncio.sleep(wait)
            last_read = time.monotonic()
            tick = await self._tick(refresh)
            if tick is not None and len(tick.rows) >= reads.BATCH:
                self.wake()  # more backlog: read again at once

    def _tick_interval(self) -> float:
        """Ticks are coalesced: each costs every subscriber a socket write."""
        interval = self.broadcaster.count * TICK_SECONDS_PER_SUBSCRIBER
        return max(MIN_TICK_SECONDS, min(MAX_TICK_SECONDS, interval))

    async def _tick(self, refresh: bool = False) -> reads.Tick | None:
        """Read what is new, publish it, answer the connections waiting in sync()."""
        woken_at, self._woken_at = self._woken_at, None
        dirty, self._dirty_totals = self._dirty_totals, False
        syncers, self._syncers = self._syncers, []
        started = time.monotonic()
        try:
            views = frozenset(s.view for s in self._first_subscribers())
            tick = await self.loop.run_in_executor(
                self.reader, reads.read_tick, self.cursor, dirty, views, self.totals,
                self.erasures, refresh,
            )  # fmt: skip
        except Exception as exc:
            self._read_failed(exc)
            self._dirty_totals = True
            for future in syncers:  # connections waiting for "now": refused (503)
                if not future.done():
                    future.set_exception(DatabaseUnavailable())
            await asyncio.sleep(0.5)
            return None
        self._read_worked()
        if tick is not None:
            self.home_totals = tick.totals
            if woken_at is not None:
                tick.detected_at = min(tick.detected_at, woken_at)
            read = time.monotonic()
            self._publish(tick)
            log.debug(
                "relay tick rows=%d subscribers=%d read=%.1fms publish=%.1fms",
                len(tick.rows), self.broadcaster.count, (read - started) * 1000,
                (time.monotonic() - read) * 1000,
            )  # fmt: skip
        for future in syncers:
            if not future.done():
                future.set_result(self.cursor)
        return tick

    def _read_failed(self, exc: Exception) -> None:
        metrics.RELAY_ERRORS.inc()
        if not isinstance(exc, DatabaseError):
            log.exception("live relay read failed; retrying")
            return
        if self.db_error:
            return  # said once per outage
        self.db_error = "database-unavailable"
        log.warning("live relay cannot read the database (%s); retrying", exc)
        self._publish_status("error", self.db_error)

    def _read_worked(self) -> None:
        if self.db_error:
            self.db_error = ""
            log.warning("live relay reads the database again")
            self._publish_status("connected", "database-back")

    def _publish_status(self, state: str, reason: str) -> None:
        extra = self.ingest_fields()
        for topic in list(self.broadcaster.topics):
            self.broadcaster.publish(
                topic, events.status(topic, self.cursor, state, reason, **extra)
            )

    def ingest_fields(self) -> dict:
        """What every status event adds about ingest (the first one included)."""
        return {} if self.ingest is None else {"ingest": self.ingest}

    async def _read_ingest(self) -> None:
        """Read the heartbeat (reader thread); tell every stream when it changed."""
        try:
            state = await self.loop.run_in_executor(self.reader, _ingest_state)
        except Exception as exc:  # the tick's read reports a database outage
            log.debug("live relay could not read the ingest heartbeat: %s", exc)
            return
        if state == self.ingest:
            return
        known, self.ingest = self.ingest is not None, state
        if known and not self.db_error:
            self._publish_status("connected", "ingest")

    async def _sleep(self, seconds: float) -> None:
        """Sleep until woken or `seconds` pass; a future and a timer, no task."""
        if self._woken:
            return
        self._waker = waker = self.loop.create_future()
        timer = self.loop.call_later(seconds, _resolve, waker)
        try:
            await waker
        finally:
            timer.cancel()

    def _start(self) -> tuple[int, dict[str, int]]:
        return reads.max_id(), self.totals.read(set(), set(), True)

    async def _listen_to_layer(self) -> None:
        """Wake-ups from other processes (Redis): one group message per stored
        batch, received once per web process, never once per client."""
        while True:
            try:
                await wakeups.listen(self.wake_from_layer)
            except asyncio.CancelledError:
                raise
            except Exception:  # set-up failed (Redis down at start): try again
                log.warning("live relay cannot subscribe to Redis yet; retrying", exc_info=True)
                await asyncio.sleep(1)

    def wake_from_layer(self, committed_at: float | None, dirty: bool) -> None:
        if dirty:  # a channel changed in another process (or wake-ups were missed)
            self.forget()
        else:
            self.wake(committed_at)

    # -- publishing (event loop) --------------------------------------------------

    def _publish(self, tick: reads.Tick) -> None:
        sent = 0
        frame, encode = events.frame, events.encode
        for topic, subs in list(self.broadcaster.topics.items()):
            spec = next(iter(subs)).spec
            view = spec.view
            parts: list[bytes] = []
            if view in events.VIEWS_WITH_MESSAGES:
                parts = [frame(topic, r.type, r.id, r.data) for r in tick.rows
                         if spec.wants(r.channel_name, r.username)]  # fmt: skip
                parts += [encode(topic, dict(e, cursor=tick.high)) for e in tick.erased]
            if view == "home" and tick.metrics is not None:
                parts.append(encode(topic, tick.metrics))
            elif view == "channels":
                parts = [encode(topic, p) for p in tick.channels.values()]
            elif view == "users":
                parts = [encode(topic, p) for p in tick.users.values()]
            elif view == "user_profile" and spec.user in tick.users:
                parts.append(encode(topic, dict(tick.users[spec.user], type="user_profile")))
            elif view == "channel" and spec.channel in tick.channels:
                parts.append(encode(topic, tick.channels[spec.channel]))
            if parts:
                receivers = self.broadcaster.publish(topic, b"".join(parts))
                metrics.EVENTS_SENT.labels(view).inc(len(parts) * receivers)
                sent += receivers
        self.cursor = tick.high
        if tick.rows:
            metrics.TICKS.inc()
            if sent:
                metrics.LAG.observe(max(0.0, time.time() - tick.detected_at))

    def _shows(self, view: str) -> bool:
        return any(sub.spec.view == view for sub in self._first_subscribers())

    def _first_subscribers(self):
        for subs in self.broadcaster.topics.values():
            yield next(iter(subs))

    def _send_keepalive(self) -> None:
        # A `status` event rather than an SSE comment: EventSource never shows
        # comments to scripts, and the client needs something to see to know
        # the stream is alive. Its id is the relay cursor: every event of the
        # channel up to it is already queued before it. During a database
        # outage it keeps saying so, or a page would go back to "Live".
        if self.db_error:
            self._publish_status("error", self.db_error)
        else:
            self._publish_status("connected", "keep-alive")

    # -- connection set-up (lookups threads) ------------------------------------

    def subscribe(self, sub: Subscriber) -> int:
        """Register `sub` and return the cursor live events will continue from."""
        self.broadcaster.add(sub)
        return self.cursor

    async def lookup(self, spec: events.Spec) -> dict[str, int | None]:
        """{"channel": id, "user": id} of the names in `spec`, None when unknown.
        Known names are cached: most connections need no query at all."""
        ids: dict[str, int | None] = {}
        if spec.channel:
            ids["channel"] = self.channel_ids.get(spec.channel)
        if spec.user:
            ids["user"] = self.user_ids.get(spec.user)
        if None not in ids.values():
            return ids
        ids = await self.loop.run_in_executor(self.lookups, reads.lookup, spec)
        for kind, cache in (("channel", self.channel_ids), ("user", self.user_ids)):
            if ids.get(kind) is not None:
                if len(cache) > 100_000:
                    cache.clear()
                cache[getattr(spec, kind)] = ids[kind]
        return ids

    def forget(self) -> None:
        """A channel changed: drop the name caches and resend totals."""
        self.channel_ids.clear()
        self.user_ids.clear()
        self.wake(dirty=True)

    async def catch_up(
        self, spec: events.Spec, ids: dict[str, int | None], after: int, upto: int, resumed: bool
    ) -> bytes:
        if after >= upto and spec.view in ("home", "messages"):
            # Nothing to replay and totals at hand: no thread, no query.
            return b"".join(
                reads.totals_list(spec, ids, resumed, upto, [], False, self.home_totals)
            )
        return await self.loop.run_in_executor(
            self.lookups, reads.catch_up, spec, ids, after, upto, resumed, dict(self.home_totals)
        )


def _ingest_state() -> dict:
    from django.db import close_old_connections

    from messages_app.ingest import heartbeat

    try:
        return heartbeat.read_state().public()
    except DatabaseError:
        close_old_connections()  # the next tick gets a working connection
        raise


class DatabaseUnavailable(Exception):
    """The relay cannot read the database (an outage): no "now" to start from."""


def _resolve(future: asyncio.Future | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


# -- signal wiring (apps.ready) ---------------------------------------------------


def _announce(dirty: bool = False) -> None:
    """Wake this process's relay at once and, on a shared layer, every other's."""
    relay = Relay._instance
    wakeups.announce(relay.wake_threadsafe if relay is not None else None, dirty)


def on_messages_stored(sender, **kwargs) -> None:
    _announce()


def on_channel_changed(sender, **kwargs) -> None:
    _announce(dirty=True)


def connect_signals() -> None:
    from messages_app.signals import channel_changed, messages_stored, user_erased

    messages_stored.connect(on_messages_stored, dispatch_uid="live.relay.stored")
    channel_changed.connect(on_channel_changed, dispatch_uid="live.relay.channel")
    user_erased.connect(on_channel_changed, dispatch_uid="live.relay.erased")  # totals changed
