"""Message ids in time order: each message's id becomes the microsecond it was
sent, as new messages get theirs (messages_app/message_ids.py), so lists ordered
by id show imported history at its time.

One pass reads every message in (sent_at, id) order and gives each the first
free microsecond at or above its time; a mapping table then renumbers the
messages in one UPDATE. The minute buckets and the channel days, which hold id
ranges, are rebuilt from the same pass, and on SQLite the search index is
rebuilt (its rowids are the ids). About a minute for a million messages on
SQLite. PostgreSQL rewrites every row: run VACUUM ANALYZE messages_app_message
afterwards to give the old row versions back. Open pages resume from their old
cursor once, then carry on. Going back keeps the new ids (old code takes ids
above them).
"""

from datetime import UTC, datetime

from django.db import migrations

from messages_app import batch_sql, message_ids

TABLE = "messages_app_message"
MAP = "messages_app_id_map"
FTS = "messages_app_message_fts"
COUNTED = (1, 4)  # PRIVMSG and USERNOTICE: what the minute buckets count
FETCH = 20_000


def renumber(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {TABLE}")
        newest = cursor.fetchone()[0]
        if newest is None or newest >= 10**14:  # empty, or ids are times already
            return
        cursor.execute(f"CREATE TEMPORARY TABLE {MAP} (old bigint PRIMARY KEY, new bigint)")
        buckets, days = _map_ids(connection, cursor, floor=newest + 1)
        cursor.execute(f"UPDATE {TABLE} SET id = (SELECT new FROM {MAP} WHERE old = {TABLE}.id)")
        cursor.execute(f"DROP TABLE {MAP}")
        _rebuild_ranges(cursor, buckets, days, connection.vendor)
        if connection.vendor == "sqlite":
            cursor.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")


def _map_ids(connection, cursor, floor: int):
    """Fill the mapping table; returns the minute buckets and channel days of
    the new ids. Every new id is above every old one, so the UPDATE never
    collides with a row it has not moved yet."""
    buckets, days = {}, {}
    # The driver's cursor, server-side on PostgreSQL: it streams the table.
    raw = connection.connection
    reader = raw.cursor("renumber") if connection.vendor == "postgresql" else raw.cursor()
    reader.execute(f"SELECT id, sent_at, kind, channel_id FROM {TABLE} ORDER BY sent_at, id")
    previous = floor - 1
    while rows := reader.fetchmany(FETCH):
        pairs = []
        for old, sent_at, kind, channel_id in rows:
            sent_at = _aware(sent_at)
            previous = max(message_ids.slot(sent_at), previous + 1, floor)
            pairs.append((old, previous))
            _widen(days, (channel_id, sent_at.date()), previous, 1)
            if kind in COUNTED:
                _widen(buckets, sent_at.replace(second=0, microsecond=0), previous, 1)
        cursor.executemany(f"INSERT INTO {MAP} (old, new) VALUES (%s, %s)", pairs)
    reader.close()
    return buckets, days


def _aware(value) -> datetime:
    if isinstance(value, str):  # SQLite without the converters
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _widen(ranges: dict, key, id_: int, lines: int) -> None:
    entry = ranges.get(key)
    if entry is None:
        ranges[key] = [lines, id_, id_]
    else:
        entry[0] += lines
        entry[2] = id_  # the pass runs in id order


def _rebuild_ranges(cursor, buckets: dict, days: dict, vendor: str) -> None:
    to_db = batch_sql.datetime_adapter()
    cursor.execute("DELETE FROM messages_app_activitybucket")
    cursor.executemany(
        "INSERT INTO messages_app_activitybucket (minute, count, first_id, last_id) "
        "VALUES (%s, %s, %s, %s)",
        [(to_db(minute), *entry) for minute, entry in buckets.items()],
    )
    cursor.execute("DELETE FROM messages_app_channelday")
    cursor.executemany(
        "INSERT INTO messages_app_channelday (channel_id, day, lines, first_id, last_id) "
        "VALUES (%s, %s, %s, %s, %s)",
        [(channel, day.isoformat() if vendor == "sqlite" else day, *entry)
         for (channel, day), entry in days.items()],  # fmt: skip
    )


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0011_channel_retention_days")]
    operations = [migrations.RunPython(renumber, migrations.RunPython.noop, elidable=False)]
