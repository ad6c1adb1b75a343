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
cannot stall the connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models import Max

from live import events, metrics, wakeups
from live.broadcast import Broadcaster, Subscriber
from messages_app.models import Channel, ChatUser, Message

log = logging.getLogger("live")

# The change probe: while chat flows, other processes' commits are seen within
# ~10 ms; after 2 s without any, it looks every 50 ms (each look costs ~0.3 ms
# of the event loop, 3% of a core at 100 a second, 0.6% at 20).
POLL_SECONDS, IDLE_POLL_SECONDS, IDLE_AFTER_SECONDS = 0.01, 0.05, 2.0
# Ticks are coalesced: each one costs every subscriber a socket write (25-45 us
# on loopback, most of it the kernel's), so the more subscribers, the fewer
# ticks a second (10 ms apart with a handful, 50 ms from 1,000 subscribers on).
MIN_TICK_SECONDS, MAX_TICK_SECONDS, TICK_SECONDS_PER_SUBSCRIBER = 0.01, 0.05, 0.00005
BATCH = 1000  # rows per read; a bigger backlog is read in consecutive ticks
REPLAY_LIMIT = 500  # the contract: at most 500 messages replayed, else `fallback`
SKIPPED_COUNT_LIMIT = 100_000  # a fallback counts the messages it skips up to this
RECOUNT_SECONDS = 10  # home totals are recounted at least this often while chat flows
LIST_TOTALS_LIMIT = 1000  # channels sent on connect to the channels view
TOP_USERS = 100  # users sent on connect to the users view without a cursor


@dataclass(slots=True)
class Row:
    id: int
    channel_name: str
    username: str
    data: str  # the JSON of the `message` payload, encoded once


@dataclass(slots=True)
class Tick:
    high: int
    rows: list[Row]
    metrics: dict[str, Any] | None = None
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # by username
    detected_at: float = 0.0


def _channel_payload(row: dict, cursor: int) -> dict[str, Any]:
    return {
        "type": "channel_count",
        "cursor": cursor,
        "channel_id": row["id"],
        "channel_name": row["name"],
        "total_messages": row["total_messages"],
        "last_message_at": events.iso(row["last_message_at"]),
    }


def _user_payload(row: dict, cursor: int, kind: str = "user_count") -> dict[str, Any]:
    return {
        "type": kind,
        "cursor": cursor,
        "user_id": row["id"],
        "username": row["username"],
        "total_messages": row["total_messages"],
        "last_seen_at": events.iso(row["last_seen_at"]),
    }


CHANNEL_FIELDS = ("id", "name", "total_messages", "last_message_at")
USER_FIELDS = ("id", "username", "total_messages", "last_seen_at")


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
        self._dirty_totals = False
        self._totals: dict[str, int] = {}
        self._max_ids = (0, 0)  # highest user and channel id counted in _totals
        self._counted_at = 0.0
        table = connection.ops.quote_name(Channel._meta.db_table)
        self._sum_sql = f"SELECT SUM(total_messages) FROM {table}"
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
        probe = _ChangeProbe()
        last_keepalive = time.monotonic()
        last_read = active_at = 0.0
        while True:
            # Sleeping even right after a tick that found rows measured better at
            # 1,000 clients x 1,000 msg/s than looking again at once (p95 -10%).
            idle = time.monotonic() - active_at > IDLE_AFTER_SECONDS
            await self._sleep(IDLE_POLL_SECONDS if idle else POLL_SECONDS)
            now = time.monotonic()
            if now - last_keepalive >= self.keepalive:
                last_keepalive = now
                self._send_keepalive()
            woken = self._woken or self._dirty_totals or bool(self._syncers)
            if not probe.changed() and not woken:
                continue  # nothing committed anywhere since the last look
            active_at = now
            self._woken = False
            wait = self._tick_interval() - (time.monotonic() - last_read)
            if wait > 0:
                await asyncio.sleep(wait)
            last_read = time.monotonic()
            tick = await self._tick()
            if tick is not None and len(tick.rows) >= BATCH:
                self.wake()  # more backlog: read again at once

    def _tick_interval(self) -> float:
        """Ticks are coalesced: each costs every subscriber a socket write."""
        interval = self.broadcaster.count * TICK_SECONDS_PER_SUBSCRIBER
        return max(MIN_TICK_SECONDS, min(MAX_TICK_SECONDS, interval))

    async def _tick(self) -> Tick | None:
        """Read what is new, publish it, answer the connections waiting in sync()."""
        woken_at, self._woken_at = self._woken_at, None
        dirty, self._dirty_totals = self._dirty_totals, False
        syncers, self._syncers = self._syncers, []
        started = time.monotonic()
        try:
            views = frozenset(s.view for s in self._first_subscribers())
            tick = await self.loop.run_in_executor(
                self.reader, self._read, self.cursor, dirty, views
            )
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
        for topic in list(self.broadcaster.topics):
            self.broadcaster.publish(topic, events.status(topic, self.cursor, state, reason))

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
        close_old_connections()
        return _max_id(), self._read_totals(set(), set(), True)

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

    # -- reading (relay thread) -------------------------------------------------

    def _read(self, cursor: int, dirty: bool, views: frozenset[str]) -> Tick | None:
        """Rows after `cursor`, rendered and encoded, with the totals the
        subscribed `views` show. Counts no view shows are not read: a view that
        gains its first subscriber meanwhile gets fresh counts from its catch-up,
        which reads the database after subscribing, hence after these rows."""
        close_old_connections()
        # The rows and counters are read without a transaction: SQLite's IMMEDIATE
        # mode would take the write lock. Counters read after the rows may already
        # include newer rows; those come in the next tick with fresher totals, and
        # totals (not deltas) make that harmless.
        values = events.message_values(Message.objects.after(cursor).order_by("id"))
        messages = list(values[:BATCH])
        if not messages and not dirty:
            return None
        detected_at = time.time()
        high = messages[-1][0] if messages else cursor
        payload, dumps = events.message_payload, events.dumps
        rows = [Row(m[0], m[2], m[4], dumps(payload(m))) for m in messages]
        channel_ids = {m[1] for m in messages}
        user_ids = {m[3] for m in messages}
        tick = Tick(high=high, rows=rows, detected_at=detected_at)
        if views & {"channels", "channel"}:
            if dirty:
                channel_qs = Channel.objects.active().values(*CHANNEL_FIELDS)[:LIST_TOTALS_LIMIT]
            else:
                channel_qs = Channel.objects.filter(id__in=channel_ids).values(*CHANNEL_FIELDS)
            for row in channel_qs:
                tick.channels[row["name"]] = _channel_payload(row, high)
        if views & {"users", "user_profile"}:
            for row in ChatUser.objects.filter(id__in=user_ids).values(*USER_FIELDS):
                tick.users[row["username"]] = _user_payload(row, high)
        totals = self._read_totals(user_ids, channel_ids, dirty)
        tick.metrics = {"type": "metrics", "cursor": high, **totals}
        self.home_totals = totals
        return tick

    def _read_totals(
        self, user_ids: set[int], channel_ids: set[int], dirty: bool
    ) -> dict[str, int]:
        """Home totals from the counters. Counting users and channels costs a
        scan, so it is redone only when a user or channel id above the highest
        seen appears (ids only grow), a channel changed, or every RECOUNT_SECONDS
        (another process deleted one); the message total is a sum over the
        channel rows, one plain statement (the ORM's compile cost more)."""
        newest = (max(user_ids, default=0), max(channel_ids, default=0))
        grew = newest[0] > self._max_ids[0] or newest[1] > self._max_ids[1]
        stale = time.monotonic() - self._counted_at > RECOUNT_SECONDS
        if dirty or stale or grew or not self._totals:
            self._max_ids = (max(newest[0], self._max_ids[0]), max(newest[1], self._max_ids[1]))
            self._counted_at = time.monotonic()
            self._totals["total_channels"] = Channel.objects.active().count()
            self._totals["total_users"] = ChatUser.objects.count()
        with connection.cursor() as cursor:
            cursor.execute(self._sum_sql)
            self._totals["total_messages"] = int(cursor.fetchone()[0] or 0)  # Decimal on PostgreSQL
        return dict(self._totals)

    # -- publishing (event loop) --------------------------------------------------

    def _publish(self, tick: Tick) -> None:
        sent = 0
        frame, encode = events.frame, events.encode
        for topic, subs in list(self.broadcaster.topics.items()):
            spec = next(iter(subs)).spec
            view = spec.view
            parts: list[bytes] = []
            if view in events.VIEWS_WITH_MESSAGES:
                parts = [frame(topic, "message", r.id, r.data) for r in tick.rows
                         if spec.wants(r.channel_name, r.username)]  # fmt: skip
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
        ids = await self.loop.run_in_executor(self.lookups, _lookup, spec)
        for kind, cache in (("channel", self.channel_ids), ("user", self.user_ids)):
            if ids.get(kind) is not None:
                if len(cache) > 100_000:
                    cache.clear()
                cache[getattr(spec, kind)] = ids[kind]
        return ids

    def forget(self, channel_id: int | None = None) -> None:
        """A channel changed: drop the name caches and resend totals."""
        self.channel_ids.clear()
        self.user_ids.clear()
        self.wake(dirty=True)

    async def catch_up(
        self, spec: events.Spec, ids: dict[str, int | None], after: int, upto: int, resumed: bool
    ) -> bytes:
        if after >= upto and spec.view in ("home", "messages"):
            # Nothing to replay and totals at hand: no thread, no query.
            return _totals_frames(spec, ids, resumed, upto, [], False, self.home_totals)
        return await self.loop.run_in_executor(
            self.lookups, _catch_up, spec, ids, after, upto, resumed, dict(self.home_totals)
        )


class DatabaseUnavailable(Exception):
    """The relay cannot read the database (an outage): no "now" to start from."""


def _resolve(future: asyncio.Future | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


class _ChangeProbe:
    """Has anything been committed since the last call? On SQLite,
    `PRAGMA data_version` on a private connection answers in microseconds without
    reading any table (so it runs on the event loop); elsewhere: always "maybe",
    and the relay's read itself is the probe."""

    def __init__(self) -> None:
        self.connection = None
        self.version = None
        db = settings.DATABASES["default"]
        if db["ENGINE"].endswith("sqlite3"):
            try:
                self.connection = sqlite3.connect(db["NAME"], isolation_level=None, timeout=0.1)
            except sqlite3.Error:
                log.warning("live relay: no data_version probe, reading every poll")

    def changed(self) -> bool:
        if self.connection is None:
            return True
        try:
            (version,) = self.connection.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            return True
        changed, self.version = version != self.version, version
        return changed


def _max_id() -> int:
    close_old_connections()
    return Message.objects.aggregate(n=Max("id"))["n"] or 0


def _lookup(spec: events.Spec) -> dict[str, int | None]:
    close_old_connections()
    ids: dict[str, int | None] = {}
    if spec.channel:
        ids["channel"] = (
            Channel.objects.filter(name=spec.channel).values_list("id", flat=True).first()
        )
    if spec.user:
        ids["user"] = (
            ChatUser.objects.filter(username=spec.user).values_list("id", flat=True).first()
        )
    return ids


def _catch_up(
    spec: events.Spec,
    ids: dict[str, int | None],
    after: int,
    upto: int,
    resumed: bool,
    home_totals: dict[str, int],
) -> bytes:
    """The replay (messages in (after, upto]) and current totals for a new
    connection, as one chunk sent before any live event."""
    close_old_connections()
    topic, view = spec.topic, spec.view
    out: list[bytes] = []
    replayed: list[tuple] = []
    fallback = False
    if after < upto and view in events.VIEWS_WITH_MESSAGES | {"users"}:
        qs = Message.objects.filter(id__gt=after, id__lte=upto).order_by("id")
        if "channel" in ids:
            qs = qs.for_channel(ids["channel"])
        if "user" in ids:
            qs = qs.for_user(ids["user"])
        replayed = list(events.message_values(qs)[: REPLAY_LIMIT + 1])
        if len(replayed) > REPLAY_LIMIT:
            fallback = True
            # How many the client skips, so the page can say so and link to them
            # (counted up to a bound: an index range scan, never the whole table).
            skipped = qs[:SKIPPED_COUNT_LIMIT].count()
            out.append(
                events.status(
                    topic, upto, "fallback", "too-far-behind", 0,
                    skipped=skipped, skipped_more=skipped >= SKIPPED_COUNT_LIMIT, after_id=after,
                )
            )  # fmt: skip
        elif view != "users":
            for row in replayed:
                data = events.dumps(events.message_payload(row))
                out.append(events.frame(topic, "message", row[0], data))
    out.append(_totals_frames(spec, ids, resumed, upto, replayed, fallback, home_totals))
    return b"".join(out)


def _totals_frames(
    spec: events.Spec,
    ids: dict[str, int | None],
    resumed: bool,
    upto: int,
    replayed: list[tuple],
    fallback: bool,
    home_totals: dict[str, int],
) -> bytes:
    return b"".join(_totals_list(spec, ids, resumed, upto, replayed, fallback, home_totals))


def _totals_list(
    spec: events.Spec,
    ids: dict[str, int | None],
    resumed: bool,
    upto: int,
    replayed: list[tuple],
    fallback: bool,
    home_totals: dict[str, int],
) -> list[bytes]:
    topic, view = spec.topic, spec.view
    if view == "home":
        # The relay's totals, read with its last tick (so as of `upto` or later).
        return [events.encode(topic, {"type": "metrics", "cursor": upto, **home_totals})]
    if view in ("channels", "channel"):
        qs = Channel.objects.active().values(*CHANNEL_FIELDS)
        if view == "channel":
            qs = Channel.objects.filter(id=ids["channel"]).values(*CHANNEL_FIELDS)
        return [events.encode(topic, _channel_payload(r, upto)) for r in qs[:LIST_TOTALS_LIMIT]]
    if view == "users":
        if resumed and not fallback:
            qs = ChatUser.objects.filter(id__in={row[3] for row in replayed})
        else:
            qs = ChatUser.objects.by_activity()[:TOP_USERS]
        return [events.encode(topic, _user_payload(r, upto)) for r in qs.values(*USER_FIELDS)]
    if view == "user_profile":
        rows = ChatUser.objects.filter(id=ids["user"]).values(*USER_FIELDS)
        return [events.encode(topic, _user_payload(r, upto, "user_profile")) for r in rows]
    return []


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
    from messages_app.signals import channel_changed, messages_stored

    messages_stored.connect(on_messages_stored, dispatch_uid="live.relay.stored")
    channel_changed.connect(on_channel_changed, dispatch_uid="live.relay.channel")
