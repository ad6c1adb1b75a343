"""SQLite: the search index without its per-message sizes table.

FTS5 keeps, by default, a `_docsize` table with the token count of every
indexed row, about 16 bytes per message (docs/perf.md, "Storage"). Only the
ranking functions (bm25) read it, and goknut never ranks: search walks the
index in id order (messages_app/search.py). `columnsize=0` drops it. The
index is created again and rebuilt from the messages, about 15 s per million
on SQLite; going back rebuilds it with the table. PostgreSQL: nothing to do.
"""

from django.db import migrations

FTS = "messages_app_message_fts"
TABLE = "messages_app_message"
COLUMNS = ["text", "system_text"]


def _fts(columnsize: bool) -> list[str]:
    names = ", ".join(COLUMNS)
    new = ", ".join(f"new.{c}" for c in COLUMNS)
    old = ", ".join(f"old.{c}" for c in COLUMNS)
    sizes = "" if columnsize else ", columnsize=0"
    return [
        f"DROP TRIGGER IF EXISTS {FTS}_au",
        f"DROP TRIGGER IF EXISTS {FTS}_ad",
        f"DROP TRIGGER IF EXISTS {FTS}_ai",
        f"DROP TABLE IF EXISTS {FTS}",
        f"""CREATE VIRTUAL TABLE {FTS} USING fts5(
            {names}, content='{TABLE}', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'{sizes})""",
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


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in _fts(columnsize=False):
            schema_editor.execute(sql)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in _fts(columnsize=True):
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0015_tag_sets")]

    operations = [migrations.RunPython(forward, backward, elidable=True)]
