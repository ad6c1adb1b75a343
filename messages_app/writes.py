"""The write path: every chat message is stored through `store_batch`.

One batch is one transaction: upsert channels and users, insert messages (a
Twitch message id seen before is skipped), advance every counter by the batch,
and keep the minute buckets in step. The full-text index follows by triggers
(SQLite FTS5) or an expression index (PostgreSQL). After commit, the
`messages_stored` signal names the stored id range so live updates can read it.

This is set-based SQL on purpose, a handful of statements per batch on one
cursor: the ORM's per-object bulk_create costs about twice as much per message,
and the write path is the hot path of ingest (figures in docs/perf.md). Rows that
need their ids back (channels, users, messages) go in one multi-row
INSERT ... RETURNING; on SQLite the counter upserts that return nothing use
executemany, whose one-row statement is prepared once, not once per row count.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils import timezone

from messages_app.models import ActivityBucket, Channel, ChatUser, Message, UserChannelStats
from messages_app.signals import channel_changed, messages_stored
from messages_app.validators import TWITCH_LOGIN_RE, normalize_login

log = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 5000  # Twitch allows 500 characters; anything far longer is not chat.
MAX_ROWS_PER_STATEMENT = 1000  # 7 parameters a row stays under SQLite's 32,766.
RACE_RETRIES = 3
MESSAGE_ID_LOCK = 0x676F6B6E7574  # "goknut": the advisory lock key of lock_message_ids


@dataclass(slots=True)
class ChatRecord:
    """One parsed chat message, before it has an id."""

    channel: str
    username: str
    text: str
    sent_at: datetime
    display_name: str = ""
    twitch_id: str | None = None
    tags: dict = field(default_factory=dict)
    is_action: bool = False


@dataclass(slots=True)
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    invalid: int = 0
    first_id: int | None = None
    last_id: int | None = None
    channel_ids: set[int] = field(default_factory=set)
    user_ids: set[int] = field(default_factory=set)


class _LostRace(Exception):
    """Another writer stored one of our Twitch ids between check and insert."""


def store_batch(records: Iterable[ChatRecord]) -> BatchResult:
    """Store a batch of chat records in one transaction; see the module docstring."""
    clean, invalid = _clean(records)
    for _attempt in range(RACE_RETRIES):
        try:
            result = _store_clean(clean)
        except _LostRace:
            continue
        result.invalid = invalid
        return result
    raise RuntimeError("store_batch kept losing races on Twitch message ids")


def _clean(records: Iterable[ChatRecord]) -> tuple[list[ChatRecord], int]:
    clean, invalid = [], 0
    for record in records:
        record.channel = normalize_login(record.channel)
        record.username = normalize_login(record.username)
        # PostgreSQL text cannot hold NUL; nobody can see it in chat anyway.
        record.text = record.text.replace("\x00", "")
        if record.sent_at.tzinfo is None:
            record.sent_at = record.sent_at.replace(tzinfo=UTC)
        elif record.sent_at.tzinfo is not UTC:
            record.sent_at = record.sent_at.astimezone(UTC)
        if (
            not TWITCH_LOGIN_RE.fullmatch(record.channel)
            or not record.username
            or len(record.username) > 64
            or len(record.text) > MAX_TEXT_LENGTH
        ):
            invalid += 1
            continue
        clean.append(record)
    if invalid:
        log.warning("write path skipped %d invalid records", invalid)
    return clean, invalid


def _store_clean(records: list[ChatRecord]) -> BatchResult:
    result = BatchResult()
    # One cursor for the batch: django-prometheus builds a wrapper class per cursor.
    with transaction.atomic(), _write_cursor() as cursor:
        lock_message_ids(cursor)
        fresh = _drop_duplicates(cursor, records)
        result.duplicates = len(records) - len(fresh)
        if not fresh:
            return result
        # Each sent_at becomes its query parameter once; the counters take min/max
        # over these values (SQLite's ISO strings sort like the times they name).
        to_db = _datetime_adapter()
        stamped = [(r, to_db(r.sent_at)) for r in fresh]
        channel_ids = _upsert_channels(cursor, stamped)
        user_ids = _upsert_users(cursor, stamped)
        ids = _insert_messages(cursor, stamped, channel_ids, user_ids)
        _upsert_user_channel_stats(cursor, stamped, channel_ids, user_ids)
        _upsert_buckets(cursor, fresh, ids)
        result.stored = len(ids)
        result.first_id, result.last_id = ids[0], ids[-1]
        result.channel_ids = set(channel_ids.values())
        result.user_ids = set(user_ids.values())
        # robust: a failing receiver is logged, and the committed batch is not
        # reported as failed (the pipeline would store it again, record by record).
        transaction.on_commit(lambda: _announce(result), robust=True)
    return result


def lock_message_ids(cursor) -> None:
    """Make message ids become visible in id order, whatever the number of writers.

    The live relay reads `id > cursor`. On PostgreSQL two transactions can take
    ids 1-100 and 101-200 and commit the second first: a reader would move its
    cursor to 200 and never see 1-100. Holding one transaction-scoped advisory
    lock from before the first id is taken until commit makes writers take ids
    and commit one after the other. SQLite needs nothing: its writers are
    already serialised (IMMEDIATE transactions).
    """
    if connection.vendor == "postgresql":
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [MESSAGE_ID_LOCK])


def _announce(result: BatchResult) -> None:
    messages_stored.send(
        sender=Message,
        first_id=result.first_id,
        last_id=result.last_id,
        count=result.stored,
        channel_ids=result.channel_ids,
        user_ids=result.user_ids,
    )


def _drop_duplicates(cursor, records: list[ChatRecord]) -> list[ChatRecord]:
    """Drop records whose Twitch id is already stored or repeats within the batch."""
    wanted = sorted({r.twitch_id for r in records if r.twitch_id})
    stored = set()
    table = _table(Message)
    if wanted and connection.vendor == "postgresql":
        cursor.execute(f"SELECT twitch_id FROM {table} WHERE twitch_id = ANY(%s)", [wanted])
        stored.update(twitch_id for (twitch_id,) in cursor.fetchall())
        wanted = []
    for chunk in _chunks(wanted, MAX_ROWS_PER_STATEMENT):
        marks = ", ".join(["?"] * len(chunk))  # SQLite only, from here
        cursor.execute(f"SELECT twitch_id FROM {table} WHERE twitch_id IN ({marks})", chunk)
        stored.update(twitch_id for (twitch_id,) in cursor.fetchall())
    fresh, seen = [], set()
    for record in records:
        if record.twitch_id:
            if record.twitch_id in stored or record.twitch_id in seen:
                continue
            seen.add(record.twitch_id)
        fresh.append(record)
    return fresh


Stamped = list[tuple[ChatRecord, object]]  # records with sent_at as a query parameter


def _upsert_channels(cursor, stamped: Stamped) -> dict[str, int]:
    """Create unknown channels (disabled: a replayed log must not make ingest join
    them) and advance the counters of known ones. Returns name -> id."""
    counts: dict[str, list] = {}
    for r, at in stamped:
        entry = counts.get(r.channel)
        if entry is None:
            counts[r.channel] = [1, at]
        else:
            entry[0] += 1
            entry[1] = max(entry[1], at)
    now = _datetime_adapter()(timezone.now())
    rows = [(name, "", False, now, now, n, last) for name, (n, last) in counts.items()]
    table = _table(Channel)
    sql = f"""
        INSERT INTO {table} (name, display_name, enabled, created_at, updated_at,
                             total_messages, last_message_at)
        {{rows}}
        ON CONFLICT (name) DO UPDATE SET
            total_messages = {table}.total_messages + excluded.total_messages,
            last_message_at = {_later(table, "last_message_at")}
        RETURNING id, name"""
    return dict((name, id_) for id_, name in _upsert(cursor, sql, rows, CHANNEL_TYPES))


def _upsert_users(cursor, stamped: Stamped) -> dict[str, int]:
    """Create or update chat users with their counters. Returns username -> id."""
    users: dict[str, list] = {}
    for r, at in stamped:
        entry = users.get(r.username)
        if entry is None:
            users[r.username] = [r.display_name[:64], at, at, 1]
            continue
        entry[0] = r.display_name[:64] or entry[0]
        entry[1] = min(entry[1], at)
        entry[2] = max(entry[2], at)
        entry[3] += 1
    rows = [(name, *entry) for name, entry in users.items()]
    table = _table(ChatUser)
    sql = f"""
        INSERT INTO {table} (username, display_name, first_seen_at, last_seen_at,
                             total_messages)
        {{rows}}
        ON CONFLICT (username) DO UPDATE SET
            display_name = CASE WHEN excluded.display_name <> ''
                THEN excluded.display_name ELSE {table}.display_name END,
            first_seen_at = {_earlier(table, "first_seen_at")},
            last_seen_at = {_later(table, "last_seen_at")},
            total_messages = {table}.total_messages + excluded.total_messages
        RETURNING id, username"""
    return dict((name, id_) for id_, name in _upsert(cursor, sql, rows, USER_TYPES))


def _insert_messages(
    cursor, stamped: Stamped, channel_ids: dict[str, int], user_ids: dict[str, int]
) -> list[int]:
    """Insert the messages; returns their ids in record order.

    Both SQLite and PostgreSQL assign the ids of a multi-row INSERT in VALUES
    order (one writer holds SQLite's lock; a PostgreSQL statement draws its
    sequence values row by row), so sorted ids line up with the records.

    One multi-row statement, not executemany: every statement opens a savepoint
    and SQLite's FTS5 flushes its pending terms to disk at each one, so row-by-row
    inserts would write one index segment per message (about 9x slower).
    """
    to_json = connection.ops.adapt_json_value
    rows = [
        (
            channel_ids[r.channel],
            user_ids[r.username],
            r.text,
            at,
            r.twitch_id or None,
            to_json(r.tags, None),
            r.is_action,
        )
        for r, at in stamped
    ]
    sql = f"""
        INSERT INTO {_table(Message)} (channel_id, user_id, text, sent_at, twitch_id,
                                       tags, is_action)
        {{rows}}
        ON CONFLICT DO NOTHING
        RETURNING id"""
    ids = sorted(id_ for (id_,) in _upsert(cursor, sql, rows, MESSAGE_TYPES))
    if len(ids) != len(rows):
        raise _LostRace
    return ids


def _upsert_user_channel_stats(
    cursor, stamped: Stamped, channel_ids: dict[str, int], user_ids: dict[str, int]
) -> None:
    stats: dict[tuple[int, int], list] = {}
    for r, at in stamped:
        key = (user_ids[r.username], channel_ids[r.channel])
        entry = stats.get(key)
        if entry is None:
            stats[key] = [1, at, at]
            continue
        entry[0] += 1
        entry[1] = min(entry[1], at)
        entry[2] = max(entry[2], at)
    rows = [(*key, *entry) for key, entry in stats.items()]
    table = _table(UserChannelStats)
    sql = f"""
        INSERT INTO {table} (user_id, channel_id, total_messages, first_seen_at,
                             last_seen_at)
        {{rows}}
        ON CONFLICT (user_id, channel_id) DO UPDATE SET
            total_messages = {table}.total_messages + excluded.total_messages,
            first_seen_at = {_earlier(table, "first_seen_at")},
            last_seen_at = {_later(table, "last_seen_at")}"""
    _execute_rows(cursor, sql, rows, STATS_TYPES)


def _upsert_buckets(cursor, records: list[ChatRecord], ids: list[int]) -> None:
    to_db = _datetime_adapter()
    buckets: dict[datetime, list[int]] = defaultdict(lambda: [0, 0, 0])
    for record, id_ in zip(records, ids, strict=True):
        entry = buckets[record.sent_at.replace(second=0, microsecond=0)]
        if entry[0] == 0:
            entry[1] = id_
        entry[0] += 1
        entry[2] = id_  # ids ascend with the records
    rows = [(to_db(m), n, lo, hi) for m, (n, lo, hi) in buckets.items()]
    table = _table(ActivityBucket)
    sql = f"""
        INSERT INTO {table} (minute, count, first_id, last_id)
        {{rows}}
        ON CONFLICT (minute) DO UPDATE SET
            count = {table}.count + excluded.count,
            first_id = CASE WHEN excluded.first_id < {table}.first_id
                THEN excluded.first_id ELSE {table}.first_id END,
            last_id = CASE WHEN excluded.last_id > {table}.last_id
                THEN excluded.last_id ELSE {table}.last_id END"""
    _execute_rows(cursor, sql, rows, BUCKET_TYPES)


# -- SQL helpers ---------------------------------------------------------------


@contextmanager
def _write_cursor():
    """The cursor of a batch: the driver's own, on Django's connection and in its
    transaction, with errors still raised as Django's (the pipeline retries
    OperationalError). django-prometheus does not count these statements.

    SQLite: a plain sqlite3 cursor and `?` placeholders. Django's cursor turns
    every `%s` into `?` with a regular expression and wraps each call twice
    (its own and django-prometheus's): 3-5% of the CPU of a batch of 100
    (A/B in one process, six rounds).
    PostgreSQL: a psycopg cursor with server-side binding. Django's cursors
    bind on the client, so psycopg rendered every value into the SQL text,
    arrays through a Python quoting loop: most of a 1,000-row batch's time.
    Here the column arrays go in psycopg's binary format (`%b`, see _unnest).
    """
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        import psycopg

        cursor = psycopg.Cursor(connection.connection)
    else:
        cursor = connection.connection.cursor()
    with connection.wrap_database_errors:
        try:
            yield cursor
        finally:
            cursor.close()


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _later(table: str, column: str) -> str:
    """The later of the stored and the incoming value (NULL-safe, both databases)."""
    return (
        f"CASE WHEN {table}.{column} IS NULL OR excluded.{column} > {table}.{column} "
        f"THEN excluded.{column} ELSE {table}.{column} END"
    )


def _earlier(table: str, column: str) -> str:
    return (
        f"CASE WHEN {table}.{column} IS NULL OR excluded.{column} < {table}.{column} "
        f"THEN excluded.{column} ELSE {table}.{column} END"
    )


def _sqlite_datetime(value: datetime) -> str:
    # What Django's adapter stores for a UTC value ("YYYY-MM-DD HH:MM:SS[.ffffff]"),
    # without its time zone arithmetic, which was a fifth of the write path's time.
    return value.isoformat(" ")[:-6]  # drop "+00:00": _clean made every value UTC


def _datetime_adapter():
    """The function that turns a UTC datetime into a query parameter.

    Looked up once per statement: `connection.vendor` goes through a
    context-local proxy that costs microseconds on every access.
    """
    if connection.vendor == "sqlite":
        return _sqlite_datetime
    return lambda value: value


def _chunks(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


# Column types of each statement's rows, in order, for PostgreSQL's arrays.
CHANNEL_TYPES = ("text", "text", "boolean", "timestamptz", "timestamptz", "bigint", "timestamptz")
USER_TYPES = ("text", "text", "timestamptz", "timestamptz", "bigint")
MESSAGE_TYPES = ("bigint", "bigint", "text", "timestamptz", "text", "jsonb", "boolean")
STATS_TYPES = ("bigint", "bigint", "bigint", "timestamptz", "timestamptz")
BUCKET_TYPES = ("timestamptz", "bigint", "bigint", "bigint")


def _values_sql(rows: Sequence[tuple]) -> str:
    """SQLite: a multi-row VALUES list in the driver's own placeholders."""
    row = "(" + ", ".join(["?"] * len(rows[0])) + ")"
    return "VALUES " + ", ".join([row] * len(rows))


def _unnest(rows: Sequence[tuple], types: Sequence[str]) -> tuple[str, list]:
    """PostgreSQL: the rows as one array per column, `SELECT * FROM unnest(...)`.

    With one placeholder a column instead of one a value, psycopg does not
    split and quote a statement of 7,000 placeholders (the query text of a
    1,000-row VALUES list is too long for its cache), and the server parses a
    short statement: batches of 1,000 went from about 370 to 150 ms. Rows come
    out of unnest in array order, so ids are still assigned in record order.
    """
    arrays = ", ".join(f"%b::{kind}[]" for kind in types)
    return f"SELECT * FROM unnest({arrays})", [list(column) for column in zip(*rows, strict=True)]


def _execute_rows(cursor, sql: str, rows: list[tuple], types: Sequence[str]) -> None:
    """Run an INSERT that returns nothing for every row.

    SQLite: executemany of the one-row statement, prepared once, where a multi-row
    statement would be prepared anew for every row count. PostgreSQL: one
    statement of column arrays (_unnest).
    """
    if connection.vendor == "sqlite":
        cursor.executemany(sql.format(rows=_values_sql(rows[:1])), rows)
    else:
        rows_sql, params = _unnest(rows, types)
        cursor.execute(sql.format(rows=rows_sql), params)


def _upsert(cursor, sql: str, rows: list[tuple], types: Sequence[str]) -> list[tuple]:
    """Run a multi-row INSERT ... RETURNING; returns every returned row.

    SQLite: multi-row VALUES in chunks (parameters per statement are limited);
    PostgreSQL: one statement of column arrays (_unnest)."""
    if connection.vendor != "sqlite":
        rows_sql, params = _unnest(rows, types)
        cursor.execute(sql.format(rows=rows_sql), params)
        return cursor.fetchall()
    returned: list[tuple] = []
    for chunk in _chunks(rows, MAX_ROWS_PER_STATEMENT):
        params = [value for row in chunk for value in row]
        cursor.execute(sql.format(rows=_values_sql(chunk)), params)
        returned.extend(cursor.fetchall())
    return returned


# -- channel management ------------------------------------------------------


def delete_channel(channel: Channel, *, keep_history: bool) -> None:
    """Delete a channel, keeping its messages browsable or deleting them too.

    Keeping history marks the channel deleted (ingest leaves it, the channel list
    hides it). Deleting history removes its messages and takes them off every
    user's counters in the same transaction, so totals stay true.
    """
    with transaction.atomic():
        if keep_history:
            channel.enabled = False
            channel.deleted_at = timezone.now()
            channel.save(update_fields=["enabled", "deleted_at", "updated_at"])
        else:
            _subtract_user_totals(channel)
            channel.delete()
    transaction.on_commit(
        lambda: channel_changed.send(sender=Channel, channel_id=channel.pk), robust=True
    )


def _subtract_user_totals(channel: Channel) -> None:
    users, stats = _table(ChatUser), _table(UserChannelStats)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {users} SET total_messages = total_messages - (
                    SELECT s.total_messages FROM {stats} s
                    WHERE s.user_id = {users}.id AND s.channel_id = %s)
                WHERE id IN (SELECT user_id FROM {stats} WHERE channel_id = %s)""",
            [channel.pk, channel.pk],
        )
