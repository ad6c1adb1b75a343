"""SQLite: the search index without word positions (FTS5 `detail=none`).

With positions, FTS5 keeps where each word stands in each line, so that it can
answer phrases ("world record"); they cost about 16 of the index's 47 bytes a
message (docs/perf.md, "Storage"). Without them the index answers which lines
hold every word of a phrase, and search tests those lines for the phrase in a
small index of their own rows that keeps positions (messages_app/search.py,
Fts), so results are the same. The index is created again and rebuilt from
the messages, about 15 s per million; going back rebuilds it with positions.
PostgreSQL: nothing to do (its text index is a GIN over the tsvector).
"""

from django.db import migrations

FTS = "messages_app_message_fts"
TABLE = "messages_app_message"
COLUMNS = ["text", "system_text"]


def _fts(positions: bool) -> list[str]:
    names = ", ".join(COLUMNS)
    new = ", ".join(f"new.{c}" for c in COLUMNS)
    old = ", ".join(f"old.{c}" for c in COLUMNS)
    detail = "" if positions else ", detail=none"
    return [
        f"DROP TRIGGER IF EXISTS {FTS}_au",
        f"DROP TRIGGER IF EXISTS {FTS}_ad",
        f"DROP TRIGGER IF EXISTS {FTS}_ai",
        f"DROP TABLE IF EXISTS {FTS}",
        f"""CREATE VIRTUAL TABLE {FTS} USING fts5(
            {names}, content='{TABLE}', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2', columnsize=0{detail})""",
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
        for sql in _fts(positions=False):
            schema_editor.execute(sql)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in _fts(positions=True):
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0023_postgresql_user_count")]

    operations = [migrations.RunPython(forward, backward, elidable=True)]
