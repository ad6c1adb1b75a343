"""SQLite: the Twitch message id indexed by its first 4 bytes, not whole.

The unique index on the 16-byte id cost 30 bytes a line (docs/perf.md,
"Storage"): the id, the rowid (a microsecond time, 8 bytes) and the entry's
own overhead. The write path already finds a batch's duplicates itself, inside
its IMMEDIATE transaction, before it inserts (writes._drop_duplicates), as it
does on PostgreSQL, where the ids are not unique per table since the monthly
partitions (0017); so the index only has to find the lines that hold an id.
Four bytes of a UUID find one line in four billion, and the row itself is
then compared whole: `substr(twitch_id, 1, 4) = ? AND twitch_id = ?`
(packed_ids.PREFIX_SQL). 18 bytes a line instead of 30.

SQLite cannot drop a UNIQUE column constraint, so the table is copied: a table
without it, the rows in id order, the old table dropped and the new one
renamed, then its indexes and triggers made again from their own SQL in the
order they were made (SQLite's planner breaks ties between indexes by that
order, see 0021). The search index keeps its rows: it refers to the messages
by id. About 7 s per million lines (the 1M bench archive); stop ingest first
(docs/deployment.md). Going back copies the table with its UNIQUE constraint
(which fails if the ORM stored one id twice meanwhile). PostgreSQL: nothing
runs; only the model's state changes (unique=False there since 0017).
"""

from django.db import migrations

import messages_app.packed_ids

TABLE = "messages_app_message"
COPY = f"{TABLE}__copy"
UNIQUE_COLUMN = '"twitch_id" varchar(64) NULL UNIQUE'
PLAIN_COLUMN = '"twitch_id" varchar(64) NULL'
PREFIX_INDEX = f"CREATE INDEX message_twitch_id_idx ON {TABLE} (substr(twitch_id, 1, 4))"


def _copy_table(schema_editor, old_column: str, new_column: str, prefix_index: bool) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [TABLE])
        (create,) = cursor.fetchone()
        assert create.count(old_column) == 1, create
        cursor.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = %s"
            " AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY rowid",
            [TABLE],
        )
        later = [sql for _type, name, sql in cursor.fetchall() if name != "message_twitch_id_idx"]
        cursor.execute(f"PRAGMA table_xinfo({TABLE})")
        columns = ", ".join(f'"{row[1]}"' for row in cursor.fetchall() if row[6] == 0)
    statements = [
        create.replace(old_column, new_column).replace(f'"{TABLE}"', f'"{COPY}"', 1),
        f"INSERT INTO {COPY} ({columns}) SELECT {columns} FROM {TABLE} ORDER BY id",
        f"DROP TABLE {TABLE}",
        f"ALTER TABLE {COPY} RENAME TO {TABLE}",
        *([PREFIX_INDEX] if prefix_index else []),
        *later,
    ]
    for statement in statements:
        schema_editor.execute(statement, None)  # None: no %-formatting of the SQL


def prefix_index(apps, schema_editor):
    _copy_table(schema_editor, UNIQUE_COLUMN, PLAIN_COLUMN, prefix_index=True)


def unique_index(apps, schema_editor):
    _copy_table(schema_editor, PLAIN_COLUMN, UNIQUE_COLUMN, prefix_index=False)


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0023_postgresql_user_count")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="twitch_id",
                    field=messages_app.packed_ids.TwitchIdField(
                        blank=True, max_length=64, null=True
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(prefix_index, unique_index)],
        ),
    ]
