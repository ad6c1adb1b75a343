"""SQLite: the channel index on (channel_id) alone.

Every SQLite index ends with the rowid, which is the message id here, so an
index on (channel_id) is already in (channel_id, id) order: `WHERE channel_id
= ? AND id < ? ORDER BY id DESC` walks it backwards, as the query plan shows
(`USING INDEX message_channel_idx (channel_id=? AND rowid<?)`). The
id written out again in the key cost 9 bytes a line (docs/perf.md,
"Storage"). PostgreSQL has no rowid and keeps (channel_id, id DESC); the
model's state keeps that definition on both, so a later migration that makes
SQLite copy the table puts the longer index back (correct, only larger)."""

from django.db import migrations

TABLE = "messages_app_message"


# The indexes made after the channel index before this migration, made again
# after it in the same order: without statistics, SQLite's planner breaks a
# tie between two indexes that serve a query equally (channel_id = ? ...
# ORDER BY id DESC) in favour of the one made last. The moderation lists must
# read their partial indexes and a user's lines in a channel the user's
# index, not every line of the channel (tests/foundation/test_channel_index.py
# checks the plans; the pages bench saw 21 -> 146 ms and 20 -> 82 ms).
LATER = {
    "message_user_idx": ('"user_id", "id" DESC, "channel_id"', ""),
    "message_mod_channel_idx": ('"channel_id", "id" DESC', ' WHERE "kind" IN (2, 13)'),
    "message_mod_user_idx": ('"user_id", "id" DESC', ' WHERE "kind" IN (2, 13)'),
}


def _index(schema_editor, columns: str) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.execute("DROP INDEX IF EXISTS message_channel_idx")
    schema_editor.execute(f"CREATE INDEX message_channel_idx ON {TABLE} ({columns})")
    for name, (keys, where) in LATER.items():
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")
        schema_editor.execute(f"CREATE INDEX {name} ON {TABLE} ({keys}){where}")


def channel_only(apps, schema_editor):
    _index(schema_editor, "channel_id")


def channel_and_id(apps, schema_editor):
    _index(schema_editor, '"channel_id", "id" DESC')


class Migration(migrations.Migration):
    dependencies = [
        ("messages_app", "0020_twitch_ids_as_bytes"),
    ]

    operations = [migrations.RunPython(channel_only, channel_and_id)]
