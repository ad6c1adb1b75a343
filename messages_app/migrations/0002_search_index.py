"""Full-text search: FTS5 with triggers on SQLite, a GIN expression index on PostgreSQL.

Triggers keep the FTS5 index in step with every insert, update and delete, from
the write path, the admin or a cascade, so nothing can leave it stale.
"""

from django.db import migrations

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE messages_app_message_fts USING fts5(
        text, content='messages_app_message', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2')""",
    """CREATE TRIGGER messages_app_message_fts_ai AFTER INSERT ON messages_app_message BEGIN
        INSERT INTO messages_app_message_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    """CREATE TRIGGER messages_app_message_fts_ad AFTER DELETE ON messages_app_message BEGIN
        INSERT INTO messages_app_message_fts(messages_app_message_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
    END""",
    """CREATE TRIGGER messages_app_message_fts_au AFTER UPDATE OF text ON messages_app_message
    BEGIN
        INSERT INTO messages_app_message_fts(messages_app_message_fts, rowid, text)
        VALUES ('delete', old.id, old.text);
        INSERT INTO messages_app_message_fts(rowid, text) VALUES (new.id, new.text);
    END""",
    "INSERT INTO messages_app_message_fts(messages_app_message_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS messages_app_message_fts_au",
    "DROP TRIGGER IF EXISTS messages_app_message_fts_ad",
    "DROP TRIGGER IF EXISTS messages_app_message_fts_ai",
    "DROP TABLE IF EXISTS messages_app_message_fts",
]
POSTGRES_FORWARD = [
    # messages_app.search matches this exact expression so the planner uses the index.
    """CREATE INDEX message_text_search_idx ON messages_app_message
        USING GIN (to_tsvector('simple'::regconfig, text))""",
]
POSTGRES_BACKWARD = ["DROP INDEX IF EXISTS message_text_search_idx"]


def run(statements_by_vendor):
    def apply(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0001_initial")]

    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
    ]
