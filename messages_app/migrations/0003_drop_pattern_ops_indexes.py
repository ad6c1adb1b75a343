"""PostgreSQL: drop the varchar_pattern_ops indexes Django adds beside unique CharFields.

Django creates `<table>_<column>_<hash>_like` next to the unique index of a
CharField so that `LIKE 'prefix%'` can use an index. goknut never looks these
columns up by prefix (user names are matched anywhere in the name, which no
btree serves; Twitch message ids only by equality), and every write paid for
them: a second index of random UUIDs on messages.twitch_id, and one more entry
per chat user update (the counters change an indexed column, so the update is
not HOT and every index of the row gets a new entry). SQLite has no such index.
"""

from django.db import migrations

COLUMNS = [
    ("messages_app_message", "twitch_id"),
    ("messages_app_chatuser", "username"),
    ("messages_app_channel", "name"),
]


def drop_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for table, column in COLUMNS:
            cursor.execute(
                """SELECT indexname FROM pg_indexes
                   WHERE schemaname = current_schema() AND tablename = %s
                     AND indexname LIKE %s AND indexdef LIKE %s""",
                [table, f"{table}_{column}%_like", "%varchar_pattern_ops%"],
            )
            for (name,) in cursor.fetchall():
                schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in COLUMNS:
        name = schema_editor.quote_name(f"{table}_{column}_like")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column} varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0002_search_index")]

    operations = [migrations.RunPython(drop_like_indexes, create_like_indexes)]
