"""PostgreSQL: the messages table in monthly partitions (migration 0017).

A message's id is the microsecond it was sent (message_ids.py), so the table
is partitioned by RANGE (id), one partition per UTC month. Every query that
pages by id (the pages, the logs API's days, the live cursor) reads the
partitions its id range covers and no other; retention drops a month that has
expired for every channel as one table (retention.py); each partition has its
own indexes, so an old month's are never written again.

Partitions are made before they are needed: `manage.py ingest` makes this
month's and the next AHEAD ones when it starts and at every retention pass;
the write path makes the month of any line it has no partition for (an
import of old logs), in its own transaction and under its lock. A partition
is made as a plain table and then attached, which takes a lock that lets
readers and writers of the other partitions go on (CREATE TABLE ...
PARTITION OF would lock the whole table).

SQLite has no partitions: every function here does nothing there.

What partitioning costs: the Twitch message id can no longer be unique across
the table (a unique index on a partitioned table must hold the partition
key). The write path finds duplicates itself, under the lock every writer
holds (writes._drop_duplicates), in the partitions of the batch's months and
the one before (a line seen again is the same line with the same time).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from django.db import transaction

from messages_app import batch_sql as sql

log = logging.getLogger(__name__)

TABLE = "messages_app_message"
AHEAD = 2  # months made ahead of the current one
NAME_RE = re.compile(rf"^{TABLE}_p(\d{{4}})_(\d{{2}})$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
KNOWN: set[tuple[int, int]] = set()  # (year, month) partitions this process has seen


def month_of(message_id: int) -> tuple[int, int]:
    """The UTC (year, month) of an id (microseconds since the Unix epoch)."""
    moment = datetime.fromtimestamp(message_id / 1_000_000, UTC)
    return moment.year, moment.month


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def first_id(year: int, month: int) -> int:
    """The first id of a month: its first microsecond."""
    return (month_start(year, month) - EPOCH) // MICROSECOND


def name(year: int, month: int) -> str:
    return f"{TABLE}_p{year:04d}_{month:02d}"


def bounds(year: int, month: int) -> tuple[int, int]:
    """[first id, first id of the next month) of a month's partition."""
    return first_id(year, month), first_id(*next_month(year, month))


def is_partitioned(cursor) -> bool:
    if sql.vendor() != "postgresql":
        return False
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", [TABLE])
    return cursor.fetchone()[0] == "p"


def existing(cursor) -> dict[tuple[int, int], str]:
    """(year, month) -> name of every partition of the messages table."""
    cursor.execute(
        """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = %s::regclass""",
        [TABLE],
    )
    found = {}
    for (relname,) in cursor.fetchall():
        match = NAME_RE.match(relname)
        if match:
            found[(int(match[1]), int(match[2]))] = relname
    return found


def holding(cursor, low: int) -> list[str]:
    """The tables that hold the messages with ids from `low` on: the partitions
    of that month and later ones, or the messages table itself before 0017."""
    if not is_partitioned(cursor):
        return [TABLE]
    return [name for month, name in sorted(existing(cursor).items()) if bounds(*month)[1] > low]


def ensure(cursor, ids) -> None:
    """Make the partitions of the months of these ids that do not exist yet
    (`cursor`: a driver cursor of the default connection)."""
    if sql.vendor() != "postgresql" or not ids:
        return
    low, high = month_of(min(ids)), month_of(max(ids))
    months = {low} if low == high else {month_of(id_) for id_ in ids}
    if months <= KNOWN:
        return
    with transaction.atomic():
        if not is_partitioned(cursor):
            _remember(months)  # before migration 0017, or after its reverse
            return
        _lock(cursor)
        have = existing(cursor)
        for year, month in sorted(months - set(have)):
            _create(cursor, year, month)
        _remember(months | set(have))


def ensure_ahead(now: datetime) -> list[str]:
    """This month's partition and the next AHEAD months'; returns those made."""
    if sql.vendor() != "postgresql":
        return []
    with transaction.atomic(), sql.write_cursor() as cursor:
        if not is_partitioned(cursor):
            return []
        _lock(cursor)
        have = existing(cursor)
        month = (now.astimezone(UTC).year, now.astimezone(UTC).month)
        made, months = [], set(have)
        for _ in range(AHEAD + 1):
            if month not in have:
                _create(cursor, *month)
                made.append(name(*month))
            months.add(month)
            month = next_month(*month)
        _remember(months)
    if made:
        log.info("made partitions %s", ", ".join(made))
    return made


def _remember(months: set[tuple[int, int]]) -> None:
    """Known once committed: a partition made in a transaction that is rolled
    back is gone again."""
    transaction.on_commit(lambda: KNOWN.update(months))


def _lock(cursor) -> None:
    """The writers' lock (writes.lock_message_ids; taken again by a writer that
    holds it already): one process at a time looks for and makes partitions."""
    from messages_app.writes import MESSAGE_ID_LOCK

    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [MESSAGE_ID_LOCK])


def _create(cursor, year: int, month: int) -> None:
    """A plain table shaped like the parent, then attached: ATTACH PARTITION
    takes SHARE UPDATE EXCLUSIVE on the parent (reads and writes go on), where
    CREATE TABLE ... PARTITION OF takes ACCESS EXCLUSIVE. Attaching builds the
    parent's indexes and foreign keys on the new, empty table."""
    table, (low, high) = name(year, month), bounds(year, month)
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {table} "
        f"(LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)"
    )
    cursor.execute(
        f"ALTER TABLE {TABLE} ATTACH PARTITION {table} FOR VALUES FROM ({low}) TO ({high})"
    )
