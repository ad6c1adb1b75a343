"""An index for user name fragments (/users?q=): FTS5 with the trigram tokenizer
on SQLite, kept in step by triggers; a pg_trgm GIN index on PostgreSQL.

Without one, a fragment few names contain meant reading every name (5-22 ms
for 50,000 users on SQLite, twenty times that for a million); the index finds
it in under a millisecond. See ChatUserQuerySet.name_contains_indexed.

pg_trgm is a trusted extension (PostgreSQL 13+): the owner of the database can
create it. Where that is not allowed the index is left out with a warning and
name search scans, as it did before.
"""

import warnings

from django.db import DatabaseError, migrations, transaction

SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE messages_app_chatuser_name USING fts5(
        username, content='messages_app_chatuser', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER messages_app_chatuser_name_ai AFTER INSERT ON messages_app_chatuser BEGIN
        INSERT INTO messages_app_chatuser_name(rowid, username) VALUES (new.id, new.username);
    END""",
    """CREATE TRIGGER messages_app_chatuser_name_ad AFTER DELETE ON messages_app_chatuser BEGIN
        INSERT INTO messages_app_chatuser_name(messages_app_chatuser_name, rowid, username)
        VALUES ('delete', old.id, old.username);
    END""",
    """CREATE TRIGGER messages_app_chatuser_name_au AFTER UPDATE OF username
    ON messages_app_chatuser BEGIN
        INSERT INTO messages_app_chatuser_name(messages_app_chatuser_name, rowid, username)
        VALUES ('delete', old.id, old.username);
        INSERT INTO messages_app_chatuser_name(rowid, username) VALUES (new.id, new.username);
    END""",
    "INSERT INTO messages_app_chatuser_name(messages_app_chatuser_name) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS messages_app_chatuser_name_au",
    "DROP TRIGGER IF EXISTS messages_app_chatuser_name_ad",
    "DROP TRIGGER IF EXISTS messages_app_chatuser_name_ai",
    "DROP TABLE IF EXISTS messages_app_chatuser_name",
]
POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """CREATE INDEX IF NOT EXISTS chatuser_name_trgm_idx ON messages_app_chatuser
        USING GIN (username gin_trgm_ops)""",
]
POSTGRES_BACKWARD = ["DROP INDEX IF EXISTS chatuser_name_trgm_idx"]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)
    elif vendor == "postgresql":
        try:
            with transaction.atomic(using=schema_editor.connection.alias):
                for statement in POSTGRES_FORWARD:
                    schema_editor.execute(statement)
        except DatabaseError as exc:
            warnings.warn(
                f"no trigram index for user name search (pg_trgm: {exc}); it scans instead",
                stacklevel=1,
            )


def backward(apps, schema_editor):
    statements = {"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}
    for statement in statements.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0004_message_user_idx_with_channel")]

    operations = [migrations.RunPython(forward, backward)]
