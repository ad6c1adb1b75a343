"""SQLite: sent_at worked out from the id, not stored (models.SentAtField).

The id is the microsecond a line was sent, nudged up when another line holds
it (message_ids.py), so the row keeps `sent_lag` = id - that microsecond: 0
(no bytes) on nearly every line, where the time as text took 26 bytes.
`sent_at` becomes a VIRTUAL generated column that gives the same text back.

ALTER TABLE ADD/DROP COLUMN, never a copy of the table: a copy would drop the
search index's triggers. The lag is written only where it is not 0; DROP
COLUMN rewrites every row (about a minute per 10 million on this machine), and
the file shrinks after VACUUM (docs/deployment.md). Backwards: sent_at is a
stored column again (nullable: ADD COLUMN cannot add a NOT NULL one without a
default), sent_lag goes. PostgreSQL: only the sent_lag column, NULL, which
costs no bytes there (its rows already carry a null bitmap for deleted_at).
"""

from django.db import migrations, models

import messages_app.models

TABLE = "messages_app_message"
# The microsecond a stored sent_at names ("YYYY-MM-DD HH:MM:SS[.ffffff]", UTC).
STORED_US = (
    "CAST(strftime('%s', substr(sent_at, 1, 19)) AS INTEGER) * 1000000"
    " + CASE WHEN length(sent_at) > 20"
    " THEN CAST(substr(substr(sent_at, 21) || '000000', 1, 6) AS INTEGER) ELSE 0 END"
)


def _run(schema_editor, *statements: str) -> None:
    for statement in statements:
        schema_editor.execute(statement, None)  # None: no %-formatting of the SQL


def from_id(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    lag = f"id - ({STORED_US})"
    _run(
        schema_editor,
        f"UPDATE {TABLE} SET sent_lag = {lag} WHERE {lag} != 0",
        f"ALTER TABLE {TABLE} DROP COLUMN sent_at",
        f"ALTER TABLE {TABLE} ADD COLUMN sent_at datetime"
        f" GENERATED ALWAYS AS ({messages_app.models.SENT_AT_SQL}) VIRTUAL",
    )


def stored(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    _run(
        schema_editor,
        f"ALTER TABLE {TABLE} ADD COLUMN sent_at_stored datetime",
        f"UPDATE {TABLE} SET sent_at_stored = sent_at",
        f"ALTER TABLE {TABLE} DROP COLUMN sent_at",
        f"ALTER TABLE {TABLE} RENAME COLUMN sent_at_stored TO sent_at",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("messages_app", "0021_sqlite_channel_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="sent_lag",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(from_id, stored)],
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="sent_at",
                    field=messages_app.models.SentAtField(),
                ),
            ],
        ),
    ]
