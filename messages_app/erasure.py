"""Opt-out with real erasure: everything stored of a user (or a channel) goes.

An opt-out (models.OptOut) is recorded first, in one short transaction, with
its audit event; from then on the write path drops the subject's new lines.
The erasure itself runs afterwards in bounded batches (the running ingest
calls `erase_pending` between batches of chat; `manage.py erase` does it
too), each batch its own transaction, so ingest never waits for more than one
batch, and a killed erasure resumes where it stopped: what is left to erase
is simply what is still stored.

Each batch deletes up to BATCH messages (the search index follows through
its triggers) and subtracts them from every maintained total: the channels'
and users' `total_messages`, the per-user per-channel stats, the minute
buckets, the channel days and the activity charts' channel hours and user
days. At the end the subject's own rows go (user:
per-channel stats, name history, the user row; channel: its stats and days,
the channel row). On SQLite, freed pages are overwritten (`secure_delete`,
goknut/settings.py), the full-text indexes are merged so no segment keeps an
erased term, and the WAL is checkpointed and truncated: no byte of the text
stays in the files. PostgreSQL keeps dead rows until VACUUM: docs/privacy.md.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from messages_app import batch_sql as sql
from messages_app.models import (
    COUNTED_KINDS,
    ActivityBucket,
    Channel,
    ChannelDay,
    ChannelHour,
    ChatUser,
    ChatUserName,
    Message,
    OptOut,
    OptOutEvent,
    UserChannelStats,
    UserDay,
)
from messages_app.signals import channel_changed, user_erased

log = logging.getLogger(__name__)

BATCH = 2000
FTS_TABLES = ("messages_app_message_fts", "messages_app_chatuser_name")
# Between two batches the erasure lets go of the write lock
# this long. SQLite's lock is not a queue: a writer waiting in its busy handler
# polls with growing sleeps (up to 100 ms), and an erasure that starts its next
# batch at once kept a write-path batch waiting 1.9 s (docs/perf.md, "Erasure").
PAUSE_S = 0.1


def opt_out(subject: str, *, twitch_id: str = "", login: str = "", by: str) -> OptOut:
    """Record an opt-out (once per subject) and its audit event."""
    login = login.strip().lstrip("#@").lower()
    with transaction.atomic():
        existing = OptOut.objects.filter(subject=subject).filter(_same(twitch_id, login)).first()
        if existing is not None:
            return existing
        optout = OptOut.objects.create(subject=subject, twitch_id=twitch_id, login=login, by=by)
        OptOutEvent.objects.create(action="opt-out", subject=subject, twitch_id=twitch_id,
                                   login=login, by=by)  # fmt: skip
    log.info("%s %s opted out by %s", subject, twitch_id or login, by)
    return optout


def opt_in(optout: OptOut, *, by: str) -> None:
    """Archive the subject again from now on; what was erased stays erased."""
    with transaction.atomic():
        _event("opt-in", optout, by=by)
        optout.delete()


def _event(action: str, optout: OptOut, *, by: str, detail: str = "", erased=()) -> None:
    OptOutEvent.objects.create(action=action, subject=optout.subject, twitch_id=optout.twitch_id,
                               login=optout.login, by=by, detail=detail,
                               erased=list(erased))  # fmt: skip


def _same(twitch_id: str, login: str) -> Q:
    q = Q(pk__in=[])
    if twitch_id:
        q |= Q(twitch_id=twitch_id)
    if login:
        q |= Q(login=login)
    return q


def erase_pending(*, batches: int | None = None, batch_size: int = BATCH) -> int:
    """Erase what is stored of every opt-out not erased yet, at most `batches`
    batches this call (None: until done). Returns the messages erased."""
    erased = 0
    for optout in OptOut.objects.filter(erased_at__isnull=True).order_by("id"):
        left = None if batches is None else batches
        done, count = _erase(optout, left, batch_size)
        erased += count
        if batches is not None:
            batches -= max(1, -(-count // batch_size))
        if not done or (batches is not None and batches <= 0):
            break
    return erased


def _erase(optout: OptOut, batches: int | None, batch_size: int) -> tuple[bool, int]:
    if optout.subject == OptOut.Subject.USER:
        ids = list(_users(optout).values_list("id", flat=True))
        scope = Q(user_id__in=ids)
    else:
        ids = list(_channels(optout).values_list("id", flat=True))
        scope = Q(channel_id__in=ids)
    erased = 0
    while ids and (batches is None or batches > 0):
        count = erase_batch(scope, batch_size)
        erased += count
        time.sleep(PAUSE_S)  # the write lock is free for ingest now: see PAUSE_S
        if batches is not None:
            batches -= 1
        if count < batch_size:
            break
    else:
        if ids:
            return False, erased
    _finish(optout, ids, erased)
    return True, erased


def _users(optout: OptOut):
    q = Q(pk__in=[])
    if optout.twitch_id:
        q |= Q(twitch_id=optout.twitch_id)
    if optout.login:
        same_login = Q(username=optout.login)
        if optout.twitch_id:  # the login of another account is not this user
            same_login &= Q(twitch_id__isnull=True) | Q(twitch_id=optout.twitch_id)
        q |= same_login
    return ChatUser.objects.filter(q)


def _channels(optout: OptOut):
    q = Q(pk__in=[])
    if optout.twitch_id:
        q |= Q(twitch_id=optout.twitch_id)
    if optout.login:
        q |= Q(name=optout.login)
    return Channel.objects.filter(q)


def erase_batch(scope: Q, batch_size: int = BATCH) -> int:
    """Delete one batch (up to `batch_size`, lowest ids first) of the messages the
    scope selects, with every total they counted in; returns the size of the
    batch (less than `batch_size`: the scope is done). Shared by the erasure
    and retention (messages_app/retention.py).

    The ids are found first, by a plain read: on SQLite a transaction holds the
    write lock from its start, and finding a batch can mean reading many rows
    that are not in it (retention's sent_at test). The transaction only
    deletes, and subtracts exactly the rows its DELETE ... RETURNING got, as
    they were: a second eraser (`manage.py erase` or `prune` beside the running
    ingest) may pick the same ids, and whichever deletes second subtracts
    nothing (those lines went all the same, so they count in the batch)."""
    ids = list(Message.objects.filter(scope).order_by("id").values_list("id", flat=True)
               [:batch_size])  # fmt: skip
    if not ids:
        return 0
    with transaction.atomic():
        _subtract(_delete_messages(ids))
    return len(ids)


def _delete_messages(ids: list[int]) -> list[tuple]:
    """Delete these messages (the search index follows by its triggers); returns
    (id, channel_id, user_id, kind, sent_at in UTC) of each row this deleted."""
    table = sql.table(Message)
    returning = "RETURNING id, channel_id, user_id, kind, sent_at"
    rows = []
    with sql.write_cursor() as cursor:
        for chunk in sql.chunks(ids, 500):
            if connection.vendor == "postgresql":
                cursor.execute(f"DELETE FROM {table} WHERE id = ANY(%s) {returning}", [chunk])
            else:
                marks = ", ".join(["?"] * len(chunk))
                cursor.execute(f"DELETE FROM {table} WHERE id IN ({marks}) {returning}", chunk)
            rows += [(*row[:4], _utc(row[4])) for row in cursor.fetchall()]
    return rows


def _utc(value: datetime | str) -> datetime:
    """A sent_at as the driver returns it (SQLite: its text), as an aware UTC time."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _subtract(rows: list[tuple]) -> None:
    """Take deleted rows (id, channel_id, user_id, kind, sent_at) off every total."""
    to_db = sql.datetime_adapter()
    as_text = sql.vendor() == "sqlite"
    totals = Totals(*(Counter() for _ in range(7)))
    for _id, channel, user, kind, sent_at in rows:
        day = sent_at.date().isoformat() if as_text else sent_at.date()
        totals.days[(channel, day)] += 1
        if kind not in COUNTED_KINDS:
            continue
        totals.channels[channel] += 1
        totals.users[user] += 1
        totals.stats[(user, channel)] += 1
        totals.minutes[to_db(sent_at.replace(second=0, microsecond=0))] += 1
        totals.hours[(channel, to_db(sent_at.replace(minute=0, second=0, microsecond=0)))] += 1
        totals.user_days[(user, day)] += 1
    subtract(totals)


@dataclass
class Totals:
    """What removed lines counted in, by key: chat and notices per channel, per
    user, per (user, channel), per minute, per (channel, hour), per (user, day);
    lines of every kind per (channel, day). Keys as the write path stores them."""

    channels: Counter
    users: Counter
    stats: Counter
    minutes: Counter
    hours: Counter
    days: Counter
    user_days: Counter


def subtract(totals: Totals) -> None:
    """Take removed lines off every total; a per-user channel row, a minute
    bucket, a channel day or a chart bucket (channel hour, user day) left at 0
    goes (nothing of it is stored any more)."""
    mark = "?" if sql.vendor() == "sqlite" else "%s"
    stat_key = f"user_id = {mark} AND channel_id = {mark}"
    day_key = f"channel_id = {mark} AND day = {mark}"
    hour_key = f"channel_id = {mark} AND hour = {mark}"
    user_day_key = f"user_id = {mark} AND day = {mark}"
    with sql.write_cursor() as cursor:
        _minus(cursor, Channel, "total_messages", f"id = {mark}", totals.channels.items())
        _minus(cursor, ChatUser, "total_messages", f"id = {mark}", totals.users.items())
        _minus(cursor, UserChannelStats, "total_messages", stat_key, totals.stats.items())
        _minus(cursor, ActivityBucket, "count", f"minute = {mark}", totals.minutes.items())
        _minus(cursor, ChannelDay, "lines", day_key, totals.days.items())
        _minus(cursor, ChannelHour, "count", hour_key, totals.hours.items())
        _minus(cursor, UserDay, "count", user_day_key, totals.user_days.items())
        _drop_empty(cursor, UserChannelStats, "total_messages", stat_key, totals.stats)
        _drop_empty(cursor, ActivityBucket, "count", f"minute = {mark}", totals.minutes)
        _drop_empty(cursor, ChannelDay, "lines", day_key, totals.days)
        _drop_empty(cursor, ChannelHour, "count", hour_key, totals.hours)
        _drop_empty(cursor, UserDay, "count", user_day_key, totals.user_days)


def _minus(cursor, model, column: str, where: str, counts: Iterable) -> None:
    params = []
    for key, n in counts:
        keys = key if isinstance(key, tuple) else (key,)
        params.append((n, *keys))
    if params:
        mark = "?" if connection.vendor == "sqlite" else "%s"
        table = sql.table(model)
        cursor.executemany(f"UPDATE {table} SET {column} = {column} - {mark} WHERE {where}", params)


def _drop_empty(cursor, model, column: str, where: str, keys: Iterable) -> None:
    """Delete the rows of these keys whose counter reached 0 (by key: no scan)."""
    params = [key if isinstance(key, tuple) else (key,) for key in keys]
    if params:
        table = sql.table(model)
        cursor.executemany(f"DELETE FROM {table} WHERE {where} AND {column} <= 0", params)


def _finish(optout: OptOut, ids: list[int], erased: int) -> None:
    """The subject's own rows, then the scrub, and only then `erased_at`: an
    erasure stopped before its scrub is found pending at the next start (its
    rows already gone) and scrubbed then."""
    model = ChatUser if optout.subject == OptOut.Subject.USER else Channel
    name = "username" if model is ChatUser else "name"
    rows = [list(row) for row in model.objects.filter(id__in=ids).values_list("id", name)]
    with transaction.atomic():
        if optout.subject == OptOut.Subject.USER:
            UserChannelStats.objects.filter(user_id__in=ids)._raw_delete(
                UserChannelStats.objects.db
            )
            ChatUserName.objects.filter(user_id__in=ids)._raw_delete(ChatUserName.objects.db)
            ChatUser.objects.filter(id__in=ids).delete()
        else:
            UserChannelStats.objects.filter(channel_id__in=ids)._raw_delete(
                UserChannelStats.objects.db
            )
            ChannelDay.objects.filter(channel_id__in=ids)._raw_delete(ChannelDay.objects.db)
            Channel.objects.filter(id__in=ids).delete()
    scrub()
    with transaction.atomic():
        optout.erased_at = timezone.now()
        optout.save(update_fields=["erased_at"])
        _event("erased", optout, by=optout.by, detail=f"{erased} lines", erased=rows)
        transaction.on_commit(lambda: _announce(optout.subject, ids), robust=True)
    log.info("erased %d lines of an opted-out %s", erased, optout.subject)


def _announce(subject: str, ids: list[int]) -> None:
    for pk in ids:
        if subject == OptOut.Subject.USER:
            user_erased.send(sender=ChatUser, user_id=pk)
        else:
            channel_changed.send(sender=Channel, channel_id=pk)


def scrub() -> None:
    """SQLite: leave no byte of erased text in the files. An FTS5 delete only
    adds a tombstone; the terms stay in the older segments until they are
    rewritten, so each full-text index is optimized (merged into one segment,
    one transaction), then the WAL, which still holds old page images, is
    checkpointed and truncated. Freed pages were overwritten as they were
    freed (secure_delete).

    Why not FTS5's incremental 'merge' in small steps: while chat is stored,
    new segments keep arriving and the merge works on them, so it never
    reports done and need not ever rewrite the old, large segment (seen: 231
    steps in 40 s). The optimize holds the write lock for about 0.7 s per
    million messages archived (docs/perf.md, "Erasure"); ingest's queue
    absorbs it. SQLite 3.42's FTS5 'secure-delete' option would remove the
    terms at delete time; Debian 12 ships 3.40."""
    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        for table in FTS_TABLES:
            time.sleep(PAUSE_S)
            with transaction.atomic():
                cursor.execute(f"INSERT INTO {table}({table}) VALUES('optimize')")
        # PASSIVE first: it copies the WAL without blocking writers; the
        # TRUNCATE that follows (which does block them) has little left to do.
        # Without it, truncating the WAL of a 100,000-line erasure held a
        # write-path batch for 1.4 s (docs/perf.md, "Erasure").
        for _attempt in range(50):
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            _busy, log_pages, done = cursor.fetchone()
            if done >= log_pages:
                break
        for _attempt in range(20):
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy, _log, _done = cursor.fetchone()
            if not busy:
                break
