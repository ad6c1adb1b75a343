"""SQLite: every Twitch message id in its canonical UUID form becomes its 16
bytes, in the messages and in the pending deletions (messages_app/
packed_ids.py); other ids stay text. One UPDATE per table, about 10 s per
million messages; the file shrinks after `VACUUM` (docs/deployment.md).
PostgreSQL keeps its text ids: nothing runs there. Going back turns the
bytes into text again."""

from django.db import migrations

import messages_app.packed_ids
from messages_app.packed_ids import pack, unpack

COLUMNS = [
    ("messages_app_message", "twitch_id"),
    ("messages_app_pendingdeletion", "target_twitch_id"),
]


def _convert(schema_editor, function, kind: str) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.connection.ensure_connection()
    raw = schema_editor.connection.connection
    raw.create_function("goknut_convert_id", 1, function, deterministic=True)
    for table, column in COLUMNS:
        schema_editor.execute(
            f"UPDATE {table} SET {column} = goknut_convert_id({column}) "
            f"WHERE typeof({column}) = '{kind}' AND length({column}) = "
            f"{36 if kind == 'text' else 16}"
        )


def pack_ids(apps, schema_editor):
    _convert(schema_editor, pack, "text")


def unpack_ids(apps, schema_editor):
    _convert(schema_editor, unpack, "blob")


class Migration(migrations.Migration):
    dependencies = [
        ("messages_app", "0019_client_nonce_bytes"),
    ]

    operations = [
        # The columns stay as they are (varchar): only the model's field changes.
        # (An AlterField would make SQLite copy the table, and lose its triggers.)
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="message",
                    name="twitch_id",
                    field=messages_app.packed_ids.TwitchIdField(
                        blank=True, max_length=64, null=True, unique=True
                    ),
                ),
                migrations.AlterField(
                    model_name="pendingdeletion",
                    name="target_twitch_id",
                    field=messages_app.packed_ids.TwitchIdField(max_length=64, unique=True),
                ),
            ],
        ),
        migrations.RunPython(pack_ids, unpack_ids),
    ]
