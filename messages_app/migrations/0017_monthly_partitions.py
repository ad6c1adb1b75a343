"""PostgreSQL: the messages table partitioned by month (messages_app/partitions.py).

The table is rebuilt: a partitioned table of the same columns takes its name,
one partition per UTC month from the oldest line to AHEAD months after this
one, the rows are copied (in id order, so each partition's heap is in time
order), and the indexes are built on the filled partitions. The Twitch id's
unique constraint becomes a plain index (the partition key would have to be
part of it); the write path finds duplicates under its lock. The id column
loses its identity sequence: every message gets its id from its time
(message_ids.py).

This copies the archive: about a minute per few million rows, with the
table locked; stop ingest first (docs/deployment.md). Going back rebuilds a
plain table with its unique constraint and identity. SQLite: nothing to do.

A frozen snapshot, as migrations are: the columns and indexes are those of
migration 0016.
"""

from datetime import UTC, datetime, timedelta

from django.db import migrations

TABLE = "messages_app_message"
OLD = f"{TABLE}_old"
AHEAD = 2
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
COLUMNS = (
    "id, text, sent_at, twitch_id, tags, is_action, channel_id, user_id, kind, system_text, "
    "deleted_at, tag_set_id"
)
FOREIGN_KEYS = f"""
    ALTER TABLE {TABLE}
        ADD CONSTRAINT {TABLE}_channel_id_fk FOREIGN KEY (channel_id)
            REFERENCES messages_app_channel(id) DEFERRABLE INITIALLY DEFERRED,
        ADD CONSTRAINT {TABLE}_user_id_fk FOREIGN KEY (user_id)
            REFERENCES messages_app_chatuser(id) DEFERRABLE INITIALLY DEFERRED"""
INDEXES = [
    f"CREATE INDEX message_channel_idx ON {TABLE} (channel_id, id DESC)",
    f"CREATE INDEX message_user_idx ON {TABLE} (user_id, id DESC, channel_id)",
    f"""CREATE INDEX message_mod_channel_idx ON {TABLE} (channel_id, id DESC)
        WHERE kind = ANY (ARRAY[2, 13])""",
    f"""CREATE INDEX message_mod_user_idx ON {TABLE} (user_id, id DESC)
        WHERE kind = ANY (ARRAY[2, 13])""",
    f"""CREATE INDEX message_text_search_idx ON {TABLE}
        USING GIN (to_tsvector('simple'::regconfig, (text || ' '::text) || system_text))""",
]


def _month_id(year: int, month: int) -> int:
    return (datetime(year, month, 1, tzinfo=UTC) - EPOCH) // MICROSECOND


def _months(cursor):
    """(year, month) of every month the archive has lines of, and of this
    month and the AHEAD after it: no empty partitions between old lines."""
    cursor.execute(
        f"""SELECT DISTINCT EXTRACT(YEAR FROM moment)::int, EXTRACT(MONTH FROM moment)::int
            FROM (SELECT to_timestamp(id / 1000000.0) AT TIME ZONE 'UTC' AS moment
                  FROM {OLD}) AS m"""
    )
    months = set(cursor.fetchall())
    now = datetime.now(UTC)
    year, month = now.year, now.month
    for _ in range(AHEAD + 1):
        months.add((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(months)


def _rename_away(cursor, table: str) -> None:
    """The table and its indexes under other names (index names are per schema)."""
    cursor.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass", [table]
    )
    for (index,) in cursor.fetchall():
        cursor.execute(f'ALTER INDEX "{index}" RENAME TO "{index[:55]}_old"')
    cursor.execute(f"ALTER TABLE {table} RENAME TO {OLD}")


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        _rename_away(cursor, TABLE)
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING STORAGE, "
            f"PRIMARY KEY (id)) PARTITION BY RANGE (id)"
        )
        for year, month in _months(cursor):
            nxt = (year + 1, 1) if month == 12 else (year, month + 1)
            cursor.execute(
                f"CREATE TABLE {TABLE}_p{year:04d}_{month:02d} PARTITION OF {TABLE} "
                f"FOR VALUES FROM ({_month_id(year, month)}) TO ({_month_id(*nxt)})"
            )
        cursor.execute(f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM {OLD} ORDER BY id")
        cursor.execute(f"DROP TABLE {OLD}")
        cursor.execute(FOREIGN_KEYS)
        for statement in [*INDEXES, f"CREATE INDEX message_twitch_id_idx ON {TABLE} (twitch_id)"]:
            cursor.execute(statement)
        cursor.execute(f"ANALYZE {TABLE}")


def backward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        _rename_away(cursor, TABLE)
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD} INCLUDING DEFAULTS INCLUDING STORAGE, "
            f"PRIMARY KEY (id))"
        )
        cursor.execute(f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM {OLD} ORDER BY id")
        cursor.execute(f"DROP TABLE {OLD}")  # its partitions with it
        cursor.execute(
            f"ALTER TABLE {TABLE} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY, "
            f"ADD CONSTRAINT {TABLE}_twitch_id_key UNIQUE (twitch_id)"
        )
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {TABLE}), 0) + 1, false)"
        )
        cursor.execute(FOREIGN_KEYS)
        for statement in INDEXES:
            cursor.execute(statement)
        cursor.execute(f"ANALYZE {TABLE}")


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0016_search_index_without_sizes")]

    operations = [migrations.RunPython(forward, backward, elidable=True)]
