"""PostgreSQL: the number of chat users, kept by triggers, for the home page.

COUNT(*) over 200,000 users takes PostgreSQL 25-50 ms (it reads every row or
index entry, MVCC allows no shortcut); the home page and its live metrics ask
on every request. Statement-level triggers keep the figure in a one-row table
instead, from every path that adds or removes users (the write path's upserts
count only the rows they insert, erasure, the admin, a TRUNCATE), in the same
transaction as the change. SQLite counts an index's entries itself, fast
enough at that size, and keeps COUNT(*). Read by ChatUserQuerySet.total().
"""

from django.db import migrations

POSTGRES_FORWARD = [
    """CREATE TABLE messages_app_usercount (
        id smallint PRIMARY KEY CHECK (id = 1),
        users bigint NOT NULL)""",
    """CREATE FUNCTION messages_app_usercount_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            UPDATE messages_app_usercount SET users = users + (SELECT count(*) FROM changed);
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE messages_app_usercount SET users = users - (SELECT count(*) FROM changed);
        ELSE
            UPDATE messages_app_usercount SET users = 0;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER messages_app_usercount_insert AFTER INSERT ON messages_app_chatuser
        REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION messages_app_usercount_change()""",
    """CREATE TRIGGER messages_app_usercount_delete AFTER DELETE ON messages_app_chatuser
        REFERENCING OLD TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION messages_app_usercount_change()""",
    """CREATE TRIGGER messages_app_usercount_truncate AFTER TRUNCATE ON messages_app_chatuser
        FOR EACH STATEMENT EXECUTE FUNCTION messages_app_usercount_change()""",
    # Counted once the triggers are in place, with writers held off meanwhile.
    "LOCK TABLE messages_app_chatuser IN SHARE ROW EXCLUSIVE MODE",
    "INSERT INTO messages_app_usercount VALUES (1, (SELECT count(*) FROM messages_app_chatuser))",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS messages_app_usercount_truncate ON messages_app_chatuser",
    "DROP TRIGGER IF EXISTS messages_app_usercount_delete ON messages_app_chatuser",
    "DROP TRIGGER IF EXISTS messages_app_usercount_insert ON messages_app_chatuser",
    "DROP FUNCTION IF EXISTS messages_app_usercount_change()",
    "DROP TABLE IF EXISTS messages_app_usercount",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("messages_app", "0022_sqlite_sent_at_from_id")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
