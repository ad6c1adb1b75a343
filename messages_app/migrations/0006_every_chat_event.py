"""Every chat event: a kind per row (PRIVMSG 1, CLEARCHAT 2, USERNOTICE 4,
CLEARMSG 13), a notice's system text, when a message was deleted, a user that
may be missing (a clear of the whole chat), and a search index over text and
system text.

Existing rows are all PRIVMSG: `kind` is added with a database default of 1,
so no row is rewritten on PostgreSQL, and on SQLite the new columns are added
with ALTER TABLE ADD COLUMN. Making `user_id` nullable on SQLite needs the one
table rebuild (SQLite cannot drop NOT NULL), which also drops the search
index's triggers: they are created again, over both columns, and the index
rebuilt (about 15 s for a million messages).
"""

import django.db.models.deletion
from django.db import migrations, models

FTS = "messages_app_message_fts"
TABLE = "messages_app_message"

SQLITE_DROP_FTS = [
    f"DROP TRIGGER IF EXISTS {FTS}_au",
    f"DROP TRIGGER IF EXISTS {FTS}_ad",
    f"DROP TRIGGER IF EXISTS {FTS}_ai",
    f"DROP TABLE IF EXISTS {FTS}",
]
SQLITE_ADD_COLUMNS = [
    f"ALTER TABLE {TABLE} ADD COLUMN kind smallint NOT NULL DEFAULT 1",
    f"ALTER TABLE {TABLE} ADD COLUMN system_text text NOT NULL DEFAULT ''",
    f"ALTER TABLE {TABLE} ADD COLUMN deleted_at datetime NULL",
]


def sqlite_fts(columns: list[str]) -> list[str]:
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    return [
        f"""CREATE VIRTUAL TABLE {FTS} USING fts5(
            {names}, content='{TABLE}', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2')""",
        f"""CREATE TRIGGER {FTS}_ai AFTER INSERT ON {TABLE} BEGIN
            INSERT INTO {FTS}(rowid, {names}) VALUES (new.id, {new});
        END""",
        f"""CREATE TRIGGER {FTS}_ad AFTER DELETE ON {TABLE} BEGIN
            INSERT INTO {FTS}({FTS}, rowid, {names}) VALUES ('delete', old.id, {old});
        END""",
        f"""CREATE TRIGGER {FTS}_au AFTER UPDATE OF {names} ON {TABLE} BEGIN
            INSERT INTO {FTS}({FTS}, rowid, {names}) VALUES ('delete', old.id, {old});
            INSERT INTO {FTS}(rowid, {names}) VALUES (new.id, {new});
        END""",
        f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')",
    ]


POSTGRES_FORWARD = [
    f"ALTER TABLE {TABLE} ADD COLUMN kind smallint NOT NULL DEFAULT 1",
    f"ALTER TABLE {TABLE} ADD COLUMN system_text text NOT NULL DEFAULT ''",
    f"ALTER TABLE {TABLE} ADD COLUMN deleted_at timestamp with time zone NULL",
    f"ALTER TABLE {TABLE} ALTER COLUMN user_id DROP NOT NULL",
    "DROP INDEX IF EXISTS message_text_search_idx",
    # messages_app.search uses this exact expression, so the planner uses the index.
    f"""CREATE INDEX message_text_search_idx ON {TABLE}
        USING GIN (to_tsvector('simple'::regconfig, text || ' ' || system_text))""",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS message_text_search_idx",
    f"DELETE FROM {TABLE} WHERE user_id IS NULL",
    f"ALTER TABLE {TABLE} ALTER COLUMN user_id SET NOT NULL",
    f"ALTER TABLE {TABLE} DROP COLUMN deleted_at",
    f"ALTER TABLE {TABLE} DROP COLUMN system_text",
    f"ALTER TABLE {TABLE} DROP COLUMN kind",
    f"""CREATE INDEX message_text_search_idx ON {TABLE}
        USING GIN (to_tsvector('simple'::regconfig, text))""",
]


def _user_field(nullable: bool, model, apps) -> models.ForeignKey:
    field = models.ForeignKey(
        apps.get_model("messages_app", "ChatUser"),
        on_delete=django.db.models.deletion.CASCADE,
        related_name="messages",
        db_index=False,
        null=nullable,
    )
    field.set_attributes_from_name("user")
    field.model = model
    return field


def forward(apps, schema_editor):
    statements = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_FORWARD:
            statements(sql)
        return
    message = apps.get_model("messages_app", "Message")  # as of 0005: no new columns yet
    for sql in SQLITE_DROP_FTS:
        statements(sql)
    # The table rebuild, with the columns of 0005; the new ones are added after it.
    old = message._meta.get_field("user")
    schema_editor.alter_field(message, old, _user_field(True, message, apps))
    for sql in SQLITE_ADD_COLUMNS + sqlite_fts(["text", "system_text"]):
        statements(sql)


def backward(apps, schema_editor):
    statements = schema_editor.execute
    if schema_editor.connection.vendor == "postgresql":
        for sql in POSTGRES_BACKWARD:
            statements(sql)
        return
    message = apps.get_model("messages_app", "Message")  # as of 0006
    for sql in SQLITE_DROP_FTS:
        statements(sql)
    statements(f"DELETE FROM {TABLE} WHERE user_id IS NULL OR kind <> 1")
    for name in ("deleted_at", "system_text", "kind"):
        schema_editor.remove_field(message, message._meta.get_field(name))
    old = message._meta.get_field("user")
    schema_editor.alter_field(message, old, _user_field(False, message, apps))
    for sql in sqlite_fts(["text"]):
        statements(sql)


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0005_chatuser_name_index")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.AddField(
                    model_name="message",
                    name="kind",
                    field=models.SmallIntegerField(
                        choices=[
                            (1, "chat"),
                            (2, "timeout, ban or clear"),
                            (4, "notice"),
                            (13, "deleted message"),
                        ],
                        default=1,
                    ),
                ),
                migrations.AddField(
                    model_name="message",
                    name="system_text",
                    field=models.TextField(blank=True, default=""),
                ),
                migrations.AddField(
                    model_name="message",
                    name="deleted_at",
                    field=models.DateTimeField(blank=True, null=True),
                ),
                migrations.AlterField(
                    model_name="message",
                    name="user",
                    field=models.ForeignKey(
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="messages_app.chatuser",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="PendingDeletion",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("target_twitch_id", models.CharField(max_length=64, unique=True)),
                ("deleted_at", models.DateTimeField()),
            ],
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("kind__in", [2, 13])),
                fields=["channel", "-id"],
                name="message_mod_channel_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("kind__in", [2, 13])),
                fields=["user", "-id"],
                name="message_mod_user_idx",
            ),
        ),
    ]
