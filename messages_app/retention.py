"""Retention: lines older than their channel's retention are removed for good.

`RETENTION_DAYS` (settings; None: keep everything) is the default and
`Channel.retention_days` overrides it per channel: null takes the default, 0
keeps the channel forever, N keeps N days. A line of any kind (message, notice,
moderation line) expires when its `sent_at` is older than now - N days.

Expired lines go exactly the way an erasure takes an opted-out user's
(erasure.erase_batch): in bounded batches, each its own transaction, with every
total corrected (channel and user totals, per-user channel rows, minute
buckets, channel days; a row left at 0 goes), live pages told that the
channel's totals changed, and on SQLite the files scrubbed once a pass removed
something. The running ingest does it from its erasure thread (a pass at most
every PASS_EVERY_S, a batch at a time: the writer never waits for more than
one batch); `manage.py prune` does it on demand.

Finding them never scans the messages table: a channel's days up to the
cutoff's (ChannelDay, one index range) give the id range of its expired
lines, and a batch reads that range through the (channel, -id) index with
the sent_at test on each row. Only the cutoff's own day has lines on both
sides, so the last batch of a channel reads at most that one day of it (a
read before the batch's write transaction: erasure.erase_batch).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from messages_app import batch_sql as sql
from messages_app import erasure, partitions
from messages_app.models import COUNTED_KINDS, Channel, ChannelDay, Message
from messages_app.signals import channel_changed

log = logging.getLogger(__name__)

BATCH = erasure.BATCH
PASS_EVERY_S = 300.0  # the running ingest looks for expired lines every 5 minutes


@dataclass(frozen=True, slots=True)
class Expiry:
    """One channel with a retention: its lines sent before `cutoff` expire."""

    channel_id: int
    name: str
    days: int
    cutoff: datetime


def retention_days(channel_days: int | None, default: int | None) -> int | None:
    """The days a channel's lines are kept, None for forever."""
    days = default if channel_days is None else channel_days
    return days or None


def expiries(now: datetime) -> list[Expiry]:
    """Every channel whose lines expire, with its cutoff (in UTC, as the days are)."""
    now = now.astimezone(UTC)
    default = settings.RETENTION_DAYS
    channels = Channel.objects.order_by("id").values_list("id", "name", "retention_days")
    found = []
    for pk, name, own in channels:
        days = retention_days(own, default)
        if days is not None:
            found.append(Expiry(pk, name, days, now - timedelta(days=days)))
    return found


def expired(expiry: Expiry) -> Q | None:
    """The channel's expired lines, bounded by the ids of its days up to the
    cutoff's (None: it has none). Lines stored out of time order (an import, a
    backfill) can share that range; the sent_at test leaves them alone."""
    days = ChannelDay.objects.filter(channel_id=expiry.channel_id, day__lte=expiry.cutoff.date())
    bounds = days.aggregate(lo=Min("first_id"), hi=Max("last_id"))
    if bounds["lo"] is None:
        return None
    return Q(channel_id=expiry.channel_id, id__gte=bounds["lo"], id__lte=bounds["hi"],
             sent_at__lt=expiry.cutoff)  # fmt: skip


def prune_batches(
    *, now: datetime | None = None, batch_size: int = BATCH
) -> Iterator[tuple[Expiry, int]]:
    """One pass over every channel with a retention, one batch per step: yields
    (channel, lines removed) after each committed batch that removed some.
    Stop it anywhere: what is left expired is found again by the next pass."""
    now = now or timezone.now()
    found = expiries(now)
    yield from _expired_months(found)
    for expiry in found:
        scope = expired(expiry)
        if scope is None:
            continue
        while True:
            removed = erasure.erase_batch(scope, batch_size)
            if removed:
                _announce(expiry.channel_id)
                time.sleep(erasure.PAUSE_S)  # the write lock is free for ingest: see PAUSE_S
                yield expiry, removed
            if removed < batch_size:
                break


def _expired_months(found: list[Expiry]) -> Iterator[tuple[Expiry, int]]:
    """PostgreSQL: drop each month's partition (partitions.py) whose every line
    has expired, with its totals, instead of deleting its lines one batch at
    a time; yields (channel, lines removed) per channel of a dropped month.
    A month where some channel keeps lines longer stays; the batches take
    its expired lines."""
    if sql.vendor() != "postgresql" or not found:
        return
    with sql.write_cursor() as cursor:
        if not partitions.is_partitioned(cursor):
            return
        months = partitions.existing(cursor)
    by_channel = {expiry.channel_id: expiry for expiry in found}
    latest = max(expiry.cutoff for expiry in found)
    for (year, month), table in sorted(months.items()):
        start, end = (
            partitions.month_start(year, month),
            partitions.month_start(*partitions.next_month(year, month)),
        )
        if end > latest:
            return  # this month and the later ones still hold lines someone keeps
        if not _may_have_expired(start, end, by_channel):
            continue
        try:
            removed = _drop_month(table, by_channel)
        except OperationalError as exc:  # a lock not had in time: the next pass
            log.warning("could not drop %s: %s", table, exc)
            continue
        for channel_id, count in removed.items():
            yield by_channel[channel_id], count


def _may_have_expired(start: datetime, end: datetime, by_channel: dict[int, Expiry]) -> bool:
    """Whether every channel with days in [start, end) has a cutoff after it
    (from the day counters: no read of the month itself)."""
    days = ChannelDay.objects.filter(day__gte=start.date(), day__lt=end.date())
    channels = set(days.values_list("channel_id", flat=True).distinct())
    return all(pk in by_channel and by_channel[pk].cutoff >= end for pk in channels)


def _drop_month(table: str, by_channel: dict[int, Expiry]) -> dict[int, int]:
    """Drop one month's partition if every line of it has expired, taking its
    lines off every total in the same transaction; returns lines per channel.

    SHARE on the partition keeps lines from being added to that month
    meanwhile (an import; live chat goes to this month's partition and does
    not wait). The drop itself takes the table's ACCESS EXCLUSIVE lock for
    the last moment of the transaction; lock_timeout bounds the wait for it."""
    with transaction.atomic(), sql.write_cursor() as cursor:
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
        cursor.execute(f"SELECT channel_id, MAX(sent_at) FROM {table} GROUP BY channel_id")
        newest = cursor.fetchall()
        if any(pk not in by_channel or at >= by_channel[pk].cutoff for pk, at in newest):
            return {}  # a line sent later than its id's month (a clock ahead)
        totals = _month_totals(cursor, table)
        erasure.subtract(totals)
        cursor.execute(f"DROP TABLE {table}")
        lines = Counter()
        for (channel_id, _day), count in totals.days.items():
            lines[channel_id] += count
        for channel_id in lines:
            _announce(channel_id)
    log.info("dropped %s: %d expired lines", table, sum(lines.values()))
    return dict(lines)


MONTH_TOTALS = {
    "channels": ("channel_id", True),
    "users": ("user_id", True),
    "stats": ("user_id, channel_id", True),
    "minutes": ("date_trunc('minute', sent_at, 'UTC')", True),
    "hours": ("channel_id, date_trunc('hour', sent_at, 'UTC')", True),
    "days": ("channel_id, (sent_at AT TIME ZONE 'UTC')::date", False),
    "user_days": ("user_id, (sent_at AT TIME ZONE 'UTC')::date", True),
}


def _month_totals(cursor, table: str) -> erasure.Totals:
    """What a month's lines count in, grouped by the database (keys as the
    write path stores them; chat and notices only, but for the days)."""
    counts = {}
    for field, (keys, counted_only) in MONTH_TOTALS.items():
        where = "WHERE kind = ANY(%s)" if counted_only else ""
        params = [sorted(COUNTED_KINDS)] if counted_only else []
        cursor.execute(f"SELECT {keys}, COUNT(*) FROM {table} {where} GROUP BY {keys}", params)
        counts[field] = Counter(
            {(row[0] if len(row) == 2 else tuple(row[:-1])): row[-1] for row in cursor.fetchall()}
        )
    return erasure.Totals(**counts)


def _announce(channel_id: int) -> None:
    """The channel's totals changed: live pages resend them (after the batch's
    commit, which has happened; robust: a failing receiver is only logged)."""

    def changed() -> None:
        channel_changed.send(sender=Channel, channel_id=channel_id)

    transaction.on_commit(changed, robust=True)


def prune(
    *, now: datetime | None = None, batches: int | None = None, batch_size: int = BATCH
) -> dict[Expiry, int]:
    """Remove expired lines, at most `batches` batches (None: all of them).
    Returns the lines removed per channel; on SQLite the files are scrubbed
    when anything went (erasure.scrub)."""
    removed: dict[Expiry, int] = {}
    for expiry, count in islice(prune_batches(now=now, batch_size=batch_size), batches):
        removed[expiry] = removed.get(expiry, 0) + count
    if removed:
        erasure.scrub()
    return removed


def count_expired(*, now: datetime | None = None) -> list[tuple[Expiry, int]]:
    """The expired lines of every channel with a retention, counted, nothing removed."""
    counts = []
    for expiry in expiries(now or timezone.now()):
        scope = expired(expiry)
        counts.append((expiry, 0 if scope is None else Message.objects.filter(scope).count()))
    return counts


class Pruner:
    """The running ingest's retention, one batch per step() (pipeline.py runs it
    in its erasure thread, between erasure batches).

    A pass starts when one is due, then each step() removes one batch; the step
    that finds nothing more ends the pass (and scrubs SQLite's files when the
    pass removed anything), and the next pass is due PASS_EVERY_S later. With
    nothing expired, a pass reads the channels, their days and at most the
    rest of each one's cutoff day, every few minutes."""

    def __init__(self, *, every_s: float = PASS_EVERY_S, batch_size: int = BATCH) -> None:
        self.every_s = every_s
        self.batch_size = batch_size
        self._pass: Iterator[tuple[Expiry, int]] | None = None
        self._due_at = 0.0
        self._removed = 0  # by passes not scrubbed after yet

    def step(self, moment: float, *, now: datetime | None = None) -> int:
        """Remove one batch if a pass runs or is due at `moment` (a monotonic
        clock's reading); `now` (default: the time) sets the cutoffs of a pass
        it starts. Returns the lines removed, 0 when nothing is to do now."""
        if self._pass is None:
            if moment < self._due_at:
                return 0
            partitions.ensure_ahead(now or timezone.now())  # PostgreSQL: months ahead
            self._pass = prune_batches(now=now, batch_size=self.batch_size)
        try:
            _expiry, removed = next(self._pass, (None, 0))
        except BaseException:
            self._end(moment)
            raise
        if removed:
            self._removed += removed
            return removed
        self._end(moment)
        self.close()
        return 0

    def close(self) -> None:
        """Scrub after what was removed and not scrubbed after yet (the end of a
        pass, or a stopping ingest in the middle of one)."""
        if self._removed:
            erasure.scrub()
            log.info("removed %d expired lines", self._removed)
            self._removed = 0

    def _end(self, moment: float) -> None:
        self._pass = None
        self._due_at = moment + self.every_s
