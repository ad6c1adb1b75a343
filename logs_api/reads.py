"""The lines of a channel (or of one user in it) over a period, read by keyset
in chunks: bounded memory whatever the size, never OFFSET, never the whole
period at once. A channel's days (ChannelDay) bound the id range scanned."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import orjson
from django.db import connection
from django.db.models import F, Max, Min
from django.db.models.fields.json import KeyTextTransform

from logs_api.periods import Period, days_of, month
from messages_app import tag_sets
from messages_app.batch_sql import chunks
from messages_app.batch_sql import table as sql_table
from messages_app.models import (
    Channel,
    ChannelDay,
    ChatUser,
    ChatUserName,
    Message,
    UserChannelStats,
)
from messages_app.packed_ids import unpack

# Lines read and sent at a time. GOKNUT_API_CHUNK exists for the tests, which
# stream their small archive in chunks of a few lines (tests/api/test_streaming.py).
CHUNK = int(os.environ.get("GOKNUT_API_CHUNK", "2000"))
FIELDS = ("id", "kind", "text", "system_text", "sent_at", "twitch_id", "is_action", "user_id",
          "deleted_at")  # fmt: skip
# A line's own tags, its tag set and its packed client-nonce (messages_app/tag_sets.py).
TAG_FIELDS = ("tags", "tag_set_id", "client_nonce")


@dataclass(slots=True)
class Line:
    """One archived event as the API shows it."""

    id: int
    kind: int
    text: str
    system_text: str
    sent_at: datetime
    twitch_id: str | None
    is_action: bool
    user_id: int | None
    deleted_at: datetime | None
    tags: dict
    login: str  # the user's login when the line was sent ("" for a clear of the chat)
    channel: str


@dataclass
class Scope:
    """Which lines: a channel, optionally one user in it, optionally a text."""

    channel: Channel
    user: ChatUser | None = None
    search: str | None = None

    def queryset(self):
        if self.user is None:
            qs = Message.objects.filter(channel_id=self.channel.pk)
        elif connection.vendor == "sqlite":
            # A user in a channel: SQLite (no statistics) would walk the
            # channel's index and read every row of it for the user's few; the
            # user's index holds the channel, so the channel is compared as an
            # expression no index offers ("channel_id + 0"). 100 ms -> < 1 ms
            # for a quiet user on 1M lines.
            qs = Message.objects.filter(user_id=self.user.pk)
            qs = qs.alias(in_channel=F("channel_id") + 0).filter(in_channel=self.channel.pk)
        else:
            qs = Message.objects.filter(channel_id=self.channel.pk, user_id=self.user.pk)
        if self.search:
            qs = qs.filter(text__icontains=self.search)
        return qs


def id_bounds(channel: Channel, period: Period) -> tuple[int, int] | None:
    first, last = days_of(period)
    row = ChannelDay.objects.filter(channel=channel, day__gte=first, day__lte=last).aggregate(
        lo=Min("first_id"), hi=Max("last_id")
    )
    return None if row["lo"] is None else (row["lo"], row["hi"])


def lines(
    scope: Scope, period: Period, *, reverse: bool = False, with_tags: bool = True
) -> Iterator[list[Line]]:
    """Chunks of lines in id order (newest first when reverse)."""
    bounds = id_bounds(scope.channel, period)
    if bounds is None:
        return
    lo, hi = bounds
    base = scope.queryset().filter(sent_at__gte=period.since, sent_at__lt=period.until)
    if with_tags:
        fields = (*FIELDS, *TAG_FIELDS)
    else:  # the text format: no tags parsed, but a timeout's duration is said
        base = base.annotate(ban=KeyTextTransform("ban-duration", "tags"))
        fields = (*FIELDS, "ban")
    logins = Logins()
    while lo <= hi:
        qs = base.filter(id__gte=lo, id__lte=hi)
        rows = fetch(qs.order_by("-id" if reverse else "id").values_list(*fields)[:CHUNK])
        if not rows:
            return
        yield logins.build(rows, scope.channel, with_tags)
        if len(rows) < CHUNK:
            return
        if reverse:
            hi = rows[-1][0] - 1
        else:
            lo = rows[-1][0] + 1


def fetch(qs) -> list[tuple]:
    """The rows of a values_list of FIELDS (+ tags or ban) as the database
    driver gives them: Logins.build converts them. Django's per-row converters
    (its JSON decoding, its datetime parsing) were half of a JSON download's
    time (docs/perf.md, "Logs API")."""
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def user_months(channel: Channel, user: ChatUser) -> list[tuple[int, int]]:
    """The (year, month)s a user has lines in a channel, newest first: the
    span from their oldest to their newest line there (two index seeks), then
    one EXISTS probe per month of it, bounded by the channel's days. A user's
    lines are never all read."""
    scope = Scope(channel, user).queryset()
    oldest = scope.order_by("id").values_list("sent_at", flat=True).first()
    newest = scope.order_by("-id").values_list("sent_at", flat=True).first()
    if oldest is None:
        return []
    stats = UserChannelStats.objects.filter(channel=channel, user=user).first()
    first, last = min(oldest, newest), max(oldest, newest)
    if stats is not None:  # lines stored out of time order (imports) widen the span
        first, last = min(first, stats.first_seen_at), max(last, stats.last_seen_at)
    bounds = month_bounds(channel, first.date(), last.date())
    months = []
    for (y, m), (lo, hi) in sorted(bounds.items(), reverse=True):
        period = month(str(y), str(m))
        # A first id, not EXISTS: for EXISTS SQLite (no ANALYZE statistics)
        # walked the channel's index through the whole month; ordered by id
        # it takes the user's index (p95 125 -> 4.7 ms, docs/perf.md).
        probe = scope.filter(id__gte=lo, id__lte=hi, sent_at__gte=period.since,
                             sent_at__lt=period.until).order_by("id")  # fmt: skip
        found = probe.values_list("id", flat=True).first() is not None
        if found:
            months.append((y, m))
    return months


def month_bounds(channel: Channel, first: date, last: date) -> dict[tuple[int, int], tuple]:
    """(year, month) -> the id range of the channel's lines in it."""
    bounds: dict[tuple[int, int], tuple[int, int]] = {}
    days = ChannelDay.objects.filter(channel=channel, day__gte=first.replace(day=1), day__lte=last)
    for day, lo, hi in days.values_list("day", "first_id", "last_id"):
        key = (day.year, day.month)
        seen = bounds.get(key)
        bounds[key] = (lo, hi) if seen is None else (min(seen[0], lo), max(seen[1], hi))
    return bounds


def random_line(scope: Scope) -> Line | None:
    """One line picked at random: a day of the channel drawn by its number of
    lines, a random id of that day's range (ids are times, so a busy hour is as
    likely as its share of chat), then the first line of the scope at or after
    it (else before it)."""
    days = list(
        ChannelDay.objects.filter(channel=scope.channel, lines__gt=0).values_list(
            "lines", "first_id", "last_id"
        )
    )
    if not days:
        return None
    _lines, lo, hi = random.choices(days, weights=[d[0] for d in days])[0]
    pick = random.randint(lo, hi)
    qs = scope.queryset()
    found = list(qs.filter(id__gte=pick).order_by("id").values_list(*FIELDS, *TAG_FIELDS)[:1]) or (
        list(qs.filter(id__lt=pick).order_by("-id").values_list(*FIELDS, *TAG_FIELDS)[:1])
    )
    return Logins().lines(found, scope.channel, True)[0] if found else None


def _ban(duration: str | None) -> dict:
    return {"ban-duration": duration} if duration else {}


class Logins:
    """user id -> the login at the time of a line: the current login, or for a
    renamed user the login whose name history covers that time."""

    def __init__(self) -> None:
        self.current: dict[int, str] = {}
        self.history: dict[int, list[tuple[datetime, str]]] = {}
        self.tag_sets = tag_sets.Loaded()

    def lines(self, rows: list[tuple], channel: Channel, with_tags: bool) -> list[Line]:
        """Lines of `channel` from rows of Django's values_list (FIELDS +
        TAG_FIELDS, or + ban)."""
        room = channel.twitch_id or ""
        self._load({row[7] for row in rows if row[7] is not None})
        if with_tags:
            self.tag_sets.load(row[10] for row in rows)
        out = []
        for row in rows:
            user_id = row[7]
            if with_tags:
                tags = self.tag_sets.join(row[10], row[9] or {}, row[5], row[4], room, row[11])
            else:
                tags = _ban(row[9])
            out.append(
                Line(
                    *row[:9],
                    tags=tags,
                    login=self.login(user_id, row[4]) if user_id else "",
                    channel=channel.name,
                )
            )
        return out

    def build(self, rows: list[tuple], channel: Channel, with_tags: bool) -> list[Line]:
        """Lines from driver rows (see fetch), in one pass: SQLite's JSON is
        text and its datetimes naive; psycopg converts both itself."""
        self._load({row[7] for row in rows if row[7] is not None})
        current, history = self.current, self.history
        # SQLite: text, or naive UTC datetimes (Django's converters by declared
        # type); PostgreSQL: aware datetimes.
        naive = bool(rows) and (isinstance(rows[0][4], str) or rows[0][4].tzinfo is None)
        if with_tags:
            self.tag_sets.load(row[10] for row in rows)
        join = self.tag_sets.join
        name, room = channel.name, channel.twitch_id or ""
        out = []
        append = out.append
        for (
            id_,
            kind,
            text,
            system,
            sent,
            twitch_id,
            action,
            user_id,
            deleted,
            extra,
            *packed,  # with tags: the tag set id and the packed client-nonce
        ) in rows:
            if naive:  # SQLite
                sent = _utc(sent)
                if deleted is not None:
                    deleted = _utc(deleted)
                twitch_id = unpack(twitch_id)  # 16 bytes (messages_app/packed_ids.py)
            if with_tags:
                tags = orjson.loads(extra) if isinstance(extra, str) else (extra or {})
                set_id, nonce = packed
                if set_id is not None or nonce is not None:
                    tags = join(set_id, tags, twitch_id, sent, room, nonce)
            else:
                tags = {"ban-duration": extra} if extra else {}
            if user_id is None:
                login = ""
            elif user_id in history:
                login = self.login(user_id, sent)
            else:
                login = current[user_id]
            append(Line(id_, kind, text, system, sent, twitch_id, bool(action), user_id,
                        deleted, tags, login, name))  # fmt: skip
        return out

    def login(self, user_id: int, at: datetime) -> str:
        past = self.history.get(user_id)
        if past:
            chosen = past[0][1]
            for first_seen, login in past:
                if first_seen <= at:
                    chosen = login
            return chosen
        return self.current[user_id]

    def _load(self, user_ids: set[int]) -> None:
        """Current logins and name histories of the users not seen yet: two
        plain statements (the ORM's were half the time of a 500-line day)."""
        missing = list(user_ids - self.current.keys())
        if not missing:
            return
        users, names_table = sql_table(ChatUser), sql_table(ChatUserName)
        names: dict[int, list[tuple[datetime, str]]] = {}
        with connection.cursor() as cursor:
            for chunk in chunks(missing, 500):
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"SELECT id, username FROM {users} WHERE id IN ({marks})", chunk)
                self.current.update(cursor.fetchall())
                cursor.execute(
                    f"SELECT user_id, login, first_seen_at FROM {names_table} "
                    f"WHERE user_id IN ({marks})",
                    chunk,
                )
                for user_id, login, first in cursor.fetchall():
                    names.setdefault(user_id, []).append((first, login))
        for user_id, past in names.items():
            if len(past) > 1:  # renamed: the login of each time
                self.history[user_id] = sorted(
                    (first if getattr(first, "tzinfo", None) else _utc(first), login)
                    for first, login in past
                )
