"""What the live relay reads from the database: new rows as encoded events,
the totals each view shows, a new connection's replay. Plain functions that
run in the relay's threads (never on the event loop, but for the change probe,
which costs microseconds), testable without an event loop or a server.
live/relay.py is the loop that calls them.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Max
from django.utils import timezone

from live import events
from messages_app.models import (
    COUNTED_KINDS,
    ActivityBucket,
    Channel,
    ChatUser,
    Message,
    OptOutEvent,
)

log = logging.getLogger("live")

BATCH = 1000  # rows per read; a bigger backlog is read in consecutive ticks
REPLAY_LIMIT = 500  # the contract: at most 500 messages replayed, else `fallback`
SKIPPED_COUNT_LIMIT = 100_000  # a fallback counts the messages it skips up to this
RECOUNT_SECONDS = 10  # home totals are recounted at least this often while chat flows
WINDOWS_SECONDS = 1  # home's last minute and last hour: counted at most this often
LIST_TOTALS_LIMIT = 1000  # channels sent on connect to the channels view
TOP_USERS = 100  # users sent on connect to the users view without a cursor


@dataclass(slots=True)
class Row:
    id: int
    channel_name: str
    username: str  # "" for a clear of the whole chat
    data: str  # the JSON of the event's payload, encoded once
    type: str = "message"  # or "moderation"


@dataclass(slots=True)
class Tick:
    high: int
    rows: list[Row]
    metrics: dict[str, Any] | None = None
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)  # by name
    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # by username
    totals: dict[str, int] = field(default_factory=dict)  # the home totals, as read
    detected_at: float = 0.0
    erased: list[dict[str, Any]] = field(default_factory=list)  # `erased` events


def channel_payload(row: dict, cursor: int) -> dict[str, Any]:
    return {
        "type": "channel_count",
        "cursor": cursor,
        "channel_id": row["id"],
        "channel_name": row["name"],
        "total_messages": row["total_messages"],
        "last_message_at": events.iso(row["last_message_at"]),
    }


def user_payload(row: dict, cursor: int, kind: str = "user_count") -> dict[str, Any]:
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


class Erasures:
    """Erasures finished since the relay started (OptOutEvent "erased" rows),
    as `erased` events: open pages remove the erased user's or channel's rows.
    Read on every tick: one primary-key probe of a small table."""

    def __init__(self) -> None:
        self.seen: int | None = None

    def read(self) -> list[dict[str, Any]]:
        if self.seen is None:  # what was erased before the relay started is gone already
            newest = OptOutEvent.objects.order_by("-id").values_list("id", flat=True)
            self.seen = newest.first() or 0
            return []
        found = list(
            OptOutEvent.objects.filter(id__gt=self.seen, action="erased").order_by("id")
            .values_list("id", "subject", "erased")
        )  # fmt: skip
        if not found:
            return []
        self.seen = found[-1][0]
        key = {"user": ("user_id", "login"), "channel": ("channel_id", "channel_name")}
        payloads = []
        for _id, subject, rows in found:
            id_key, name_key = key[subject]
            payloads += [{"type": "erased", id_key: pk, name_key: name} for pk, name in rows]
        return payloads


def read_tick(
    cursor: int,
    dirty: bool,
    views: frozenset[str],
    totals: HomeTotals,
    erasures: Erasures | None = None,
    refresh: bool = False,
) -> Tick | None:
    """Rows after `cursor`, rendered and encoded, with the totals the
    subscribed `views` show. Counts no view shows are not read: a view that
    gains its first subscriber meanwhile gets fresh counts from its catch-up,
    which reads the database after subscribing, hence after these rows.
    `refresh`: a tick even with nothing new (home's last minute and last hour
    change as time passes)."""
    close_old_connections()
    # The rows and counters are read without a transaction: SQLite's IMMEDIATE
    # mode would take the write lock. Counters read after the rows may already
    # include newer rows; those come in the next tick with fresher totals, and
    # totals (not deltas) make that harmless.
    values = events.message_values(Message.objects.after(cursor).order_by("id"))
    messages = list(values[:BATCH])
    erased = erasures.read() if erasures is not None else []
    if not messages and not dirty and not erased and not refresh:
        return None
    detected_at = time.time()
    high = messages[-1][0] if messages else cursor
    payload, dumps = events.message_payload, events.dumps
    rows = []
    for m in messages:
        event = payload(m)
        rows.append(Row(m[0], m[2], m[4] or "", dumps(event), event["type"]))
    channel_ids = {m[1] for m in messages}
    user_ids = {m[3] for m in messages if m[3] is not None}  # None: a whole-chat clear
    tick = Tick(high=high, rows=rows, detected_at=detected_at, erased=erased)
    if views & {"channels", "channel"}:
        if dirty:
            channel_qs = Channel.objects.active().values(*CHANNEL_FIELDS)[:LIST_TOTALS_LIMIT]
        else:
            channel_qs = Channel.objects.filter(id__in=channel_ids).values(*CHANNEL_FIELDS)
        for row in channel_qs:
            tick.channels[row["name"]] = channel_payload(row, high)
    if views & {"users", "user_profile"}:
        for row in ChatUser.objects.filter(id__in=user_ids).values(*USER_FIELDS):
            tick.users[row["username"]] = user_payload(row, high)
    chat = sum(1 for row in rows if row.type == "message")  # chat and notices, not moderation
    before = dict(totals.values)
    tick.totals = totals.read(user_ids, channel_ids, dirty, windows="home" in views, chat=chat,
                              high=high)  # fmt: skip
    if not (messages or dirty or erased) and tick.totals == before:
        return None  # a refresh that changed nothing: no event to 10,000 idle pages
    tick.metrics = {"type": "metrics", "cursor": high, **tick.totals}
    return tick


class HomeTotals:
    """The home page's totals, kept by the relay's reader thread."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.max_ids = (0, 0)  # highest user and channel id counted in values
        self.counted_at = 0.0
        self.windows_at = float("-inf")  # when last_minute and last_hour were counted

    def read(
        self,
        user_ids: set[int],
        channel_ids: set[int],
        dirty: bool,
        windows: bool = False,
        chat: int = 0,
        high: int | None = None,
    ) -> dict[str, int]:
        """Home totals from the counters. Counting users and channels costs a
        scan, so it is redone only when a user or channel id above the highest
        seen appears (ids only grow), a channel changed, or every RECOUNT_SECONDS
        (another process deleted one); the message total is read on every
        call (_read_counts)."""
        newest = (max(user_ids, default=0), max(channel_ids, default=0))
        grew = newest[0] > self.max_ids[0] or newest[1] > self.max_ids[1]
        stale = time.monotonic() - self.counted_at > RECOUNT_SECONDS
        if dirty or stale or grew or not self.values:
            self.max_ids = (max(newest[0], self.max_ids[0]), max(newest[1], self.max_ids[1]))
            self.counted_at = time.monotonic()
            self.values["total_channels"] = Channel.objects.active().count()
            self.values["total_users"] = ChatUser.objects.count()
        self._read_counts(windows, chat, high)
        return dict(self.values)

    def _read_counts(self, windows: bool, chat: int, high: int | None) -> None:
        """The message total and, when due, last minute and last hour, as of the
        tick's cursor `high`: lines committed after the tick read its rows are in
        the counters already, so those above `high` are subtracted; the next
        tick adds them as its chat. One statement, so one snapshot (no
        transaction: one held across statements blocks a TRUNCATE or a
        partition DROP), else a line committed between two reads is counted
        twice or not at all."""
        sql, params = _totals_sql(high)
        recount = windows and (
            time.monotonic() - self.windows_at >= WINDOWS_SECONDS or "last_hour" not in self.values
        )
        spans = (("last_minute", 60), ("last_hour", 3600)) if recount else ()
        now = timezone.now()
        for _name, span in spans:
            parts = _since(now - timedelta(seconds=span), high)
            sql += ", " + ", ".join(part for part, _ in parts)
            params += [p for _, part_params in parts for p in part_params]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            got = [int(n or 0) for n in cursor.fetchone()]  # SUM is a Decimal on PostgreSQL
        self.values["total_messages"] = got[0] - got[1]
        if recount:
            self.windows_at = time.monotonic()
            for n, (name, _span) in enumerate(spans):
                whole, edge_minute, above = got[2 + 3 * n : 5 + 3 * n]
                self.values[name] = whole + edge_minute - above
        elif windows:  # between recounts the tick's new chat is added: it was sent now
            self.values["last_minute"] += chat
            self.values["last_hour"] += chat


def _totals_sql(high: int | None) -> tuple[str, list]:
    """The message total over the channel rows and the chat above `high` (read
    on every tick, so plain SQL: the ORM's compile cost more than the query)."""
    q = connection.ops.quote_name
    kinds = ", ".join(str(int(kind)) for kind in COUNTED_KINDS)
    total = f"(SELECT COALESCE(SUM(total_messages), 0) FROM {q(Channel._meta.db_table)})"
    if high is None:
        return f"SELECT {total}, 0", []
    above = (
        f"(SELECT COUNT(*) FROM {q(Message._meta.db_table)} WHERE id > %s AND kind IN ({kinds}))"
    )
    return f"SELECT {total}, {above}", [high]


def _count(qs) -> tuple[str, list]:
    """`SELECT COUNT(*)` of a queryset, as a scalar subquery with its params."""
    inner, params = qs.values("id").query.sql_with_params()
    return f"(SELECT COUNT(*) FROM ({inner}) AS counted)", list(params)


def _total(qs) -> tuple[str, list]:
    """The sum of a queryset's `v` column, as a scalar subquery with its params."""
    inner, params = qs.query.sql_with_params()
    return f"(SELECT COALESCE(SUM(v), 0) FROM ({inner}) AS summed)", list(params)


def _since(moment, high: int | None) -> list[tuple[str, list]]:
    """ActivityBucket.objects.since(moment) as of `high`, as three scalar
    subqueries: its two parts, less the chat above `high` sent since moment."""
    whole, edge_rows = ActivityBucket.objects.since_parts(moment)
    if high is None:
        return [_total(whole), _count(edge_rows), ("0", [])]
    above = Message.objects.filter(kind__in=COUNTED_KINDS, sent_at__gte=moment, id__gt=high)
    return [_total(whole), _count(edge_rows), _count(above)]


class ChangeProbe:
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


def max_id() -> int:
    close_old_connections()
    return Message.objects.aggregate(n=Max("id"))["n"] or 0


def lookup(spec: events.Spec) -> dict[str, int | None]:
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


def catch_up(
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
                event = events.message_payload(row)
                out.append(events.frame(topic, event["type"], row[0], events.dumps(event)))
    out.extend(totals_list(spec, ids, resumed, upto, replayed, fallback, home_totals))
    return b"".join(out)


def totals_list(
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
        return [events.encode(topic, channel_payload(r, upto)) for r in qs[:LIST_TOTALS_LIMIT]]
    if view == "users":
        if resumed and not fallback:
            qs = ChatUser.objects.filter(id__in={row[3] for row in replayed})
        else:
            qs = ChatUser.objects.by_activity()[:TOP_USERS]
        return [events.encode(topic, user_payload(r, upto)) for r in qs.values(*USER_FIELDS)]
    if view == "user_profile":
        rows = ChatUser.objects.filter(id=ids["user"]).values(*USER_FIELDS)
        return [events.encode(topic, user_payload(r, upto, "user_profile")) for r in rows]
    return []
