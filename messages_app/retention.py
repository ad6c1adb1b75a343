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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from messages_app import erasure
from messages_app.models import Channel, ChannelDay, Message
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
    for expiry in expiries(now):
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
