"""Tag sets (messages_app/tag_sets.py): the tags a user's lines in a channel
share move from every row to one TagSet row, and the `id` and `tmi-sent-ts`
tags, which columns hold, are kept as a mark only.

The conversion reads the messages in id order and rewrites each row's tags;
nothing a user or the API sees changes (`join(split(tags)) == tags`). About
half a minute per million messages on SQLite. The files do not shrink by
themselves: run `VACUUM` (SQLite) or `VACUUM FULL messages_app_message`
(PostgreSQL, which locks the table) afterwards, or let new rows reuse the
space. Going back puts every tag on its row again.
"""

from datetime import UTC, datetime

import django.db.models.deletion
import orjson
from django.db import migrations, models

from messages_app import batch_sql, tag_sets

TABLE = "messages_app_message"
SETS = "messages_app_tagset"
FETCH = 5_000


def _marks(vendor: str) -> str:
    return "?" if vendor == "sqlite" else "%s"


def _rows(connection, after: int, where: str) -> list[tuple]:
    with batch_sql.write_cursor() as cursor:
        cursor.execute(
            f"SELECT id, channel_id, user_id, twitch_id, sent_at, tags, tag_set_id FROM {TABLE}"
            f" WHERE id > {_marks(connection.vendor)} AND {where} ORDER BY id LIMIT {FETCH}",
            [after],
        )
        return cursor.fetchall()


def aware_utc(value) -> datetime:
    if isinstance(value, str):  # SQLite without the converters
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _tags(value) -> dict:
    if isinstance(value, str | bytes):
        value = orjson.loads(value)
    return value if isinstance(value, dict) else {}


def split_archive(apps, schema_editor):
    connection = schema_editor.connection
    mark = _marks(connection.vendor)
    known: dict[bytes, int] = {}
    after = 0
    while rows := _rows(connection, after, "tag_set_id IS NULL"):
        after = rows[-1][0]
        wanted, updates = {}, []
        for id_, channel_id, user_id, twitch_id, sent_at, tags, _set in rows:
            shared, own = tag_sets.split(_tags(tags), twitch_id, aware_utc(sent_at))
            if not shared:
                continue
            digest = tag_sets.digest(channel_id, user_id, shared)
            if digest not in known:
                wanted.setdefault(digest, (channel_id, user_id, shared))
            updates.append((orjson.dumps(own).decode(), digest, id_))
        with batch_sql.write_cursor() as cursor:
            if wanted:
                known.update(tag_sets.assign(cursor, wanted))
            cursor.executemany(
                f"UPDATE {TABLE} SET tags = {mark}, tag_set_id = {mark} WHERE id = {mark}",
                [(own, known[digest], id_) for own, digest, id_ in updates],
            )


def join_archive(apps, schema_editor):
    fold(schema_editor.connection, "tag_set_id IS NOT NULL")


def fold(connection, where: str) -> None:
    """Put every tag back on the rows `where` selects (their tag_set_id among
    them), their tag sets no longer used. Migration 0018 calls it too."""
    mark = _marks(connection.vendor)
    with batch_sql.write_cursor() as cursor:
        cursor.execute("SELECT id, twitch_id FROM messages_app_channel")
        rooms = dict(cursor.fetchall())  # the room-id of 0018's sets (tag_sets.py)
    sets: dict[int, dict] = {}
    after = 0
    while rows := _rows(connection, after, where):
        after = rows[-1][0]
        todo = sorted({row[6] for row in rows} - set(sets))
        with batch_sql.write_cursor() as cursor:
            for start in range(0, len(todo), 500):
                chunk = todo[start : start + 500]
                places = ", ".join([mark] * len(chunk))
                cursor.execute(f"SELECT id, tags FROM {SETS} WHERE id IN ({places})", chunk)
                sets.update((id_, _tags(tags)) for id_, tags in cursor.fetchall())
            updates = []
            for id_, channel_id, _u, twitch_id, sent_at, tags, set_id in rows:
                shared, own, sent = sets.get(set_id), _tags(tags), aware_utc(sent_at)
                whole = tag_sets.join(shared, own, twitch_id, sent, rooms.get(channel_id))
                updates.append((orjson.dumps(whole).decode(), id_))
            cursor.executemany(
                f"UPDATE {TABLE} SET tags = {mark}, tag_set_id = NULL WHERE id = {mark}", updates
            )


class Migration(migrations.Migration):
    dependencies = [
        ("messages_app", "0014_activity_charts"),
    ]

    operations = [
        migrations.CreateModel(
            name="TagSet",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),  # fmt: skip
                ("digest", models.BinaryField(max_length=16, unique=True)),
                ("tags", models.JSONField(default=dict)),
                (
                    "channel",
                    models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                      related_name="+", to="messages_app.channel"),  # fmt: skip
                ),
                (
                    "user",
                    models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE,
                                      related_name="+", to="messages_app.chatuser"),  # fmt: skip
                ),
            ],
        ),
        migrations.AddField(
            model_name="message",
            name="tag_set",
            field=models.ForeignKey(
                blank=True, db_constraint=False, db_index=False, null=True,
                on_delete=django.db.models.deletion.DO_NOTHING, related_name="+",
                to="messages_app.tagset",
            ),  # fmt: skip
        ),
        migrations.RunPython(split_archive, join_archive, elidable=True),
    ]
