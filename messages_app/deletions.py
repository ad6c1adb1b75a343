"""CLEARMSG for the write path (writes.store_batch): mark the message a
moderator deleted, whichever of the two arrives first."""

from __future__ import annotations

from messages_app import batch_sql as sql
from messages_app import packed_ids
from messages_app.models import Kind, Message, PendingDeletion


def mark_deleted(cursor, stamped: list, first_id: int) -> None:
    """CLEARMSG: mark the message it deleted, whichever of the two came first.

    A CLEARMSG normally follows its target: the target is updated by its Twitch
    id. One whose target is not stored (yet: a backfill or an import may bring
    it later) is remembered in PendingDeletion, and a batch that stores new
    messages while any deletion is pending marks them too. That table is almost
    always empty, so the usual batch pays one cheap EXISTS.
    """
    table, pending = sql.table(Message), sql.table(PendingDeletion)
    deletions = [
        (packed_ids.for_db(r.tags.get("target-msg-id")), at)  # 16 bytes on SQLite
        for r, at in stamped
        if r.kind == Kind.CLEARMSG and r.tags.get("target-msg-id")
    ]
    if deletions:
        found = _update_deleted(cursor, table, deletions)
        missing = [(target, at) for target, at in deletions if target not in found]
        if missing:
            statement = f"""INSERT INTO {pending} (target_twitch_id, deleted_at) {{rows}}
                ON CONFLICT (target_twitch_id) DO NOTHING"""
            sql.execute_rows(cursor, statement, missing, ("text", "timestamptz"))
    cursor.execute(f"SELECT 1 FROM {pending} LIMIT 1")
    if cursor.fetchone() is None:
        return
    id_param = "?" if sql.vendor() == "sqlite" else "%s"
    cursor.execute(
        f"""UPDATE {table} SET deleted_at = (
                SELECT p.deleted_at FROM {pending} p WHERE p.target_twitch_id = {table}.twitch_id)
            WHERE id >= {id_param} AND twitch_id IN (SELECT target_twitch_id FROM {pending})""",
        [first_id],
    )
    cursor.execute(
        f"""DELETE FROM {pending} WHERE target_twitch_id IN (
                SELECT twitch_id FROM {table} WHERE id >= {id_param} AND deleted_at IS NOT NULL)""",
        [first_id],
    )


def _update_deleted(cursor, table: str, deletions: list[tuple]) -> set:
    """Set deleted_at on the targets that are stored; returns their Twitch ids
    (as stored: packed on SQLite)."""
    if sql.vendor() == "sqlite":
        key = packed_ids.PREFIX_SQL  # the index's key (migration 0024), then the whole id
        cursor.executemany(
            f"UPDATE {table} SET deleted_at = ?"
            f" WHERE {key} = ? AND +twitch_id = ? AND deleted_at IS NULL",  # +: lookup_sql
            [(at, packed_ids.prefix(target), target) for target, at in deletions],
        )
        where, params = packed_ids.lookup_sql([t for t, _at in deletions], mark="?")
        cursor.execute(f"SELECT twitch_id FROM {table} WHERE {where}", params)
        return {twitch_id for (twitch_id,) in cursor.fetchall()}
    rows_sql, params = sql.unnest(deletions, ("text", "timestamptz"))
    cursor.execute(
        f"""UPDATE {table} SET deleted_at = COALESCE({table}.deleted_at, d.at)
            FROM ({rows_sql}) AS d(target, at) WHERE {table}.twitch_id = d.target
            RETURNING {table}.twitch_id""",
        params,
    )
    return {twitch_id for (twitch_id,) in cursor.fetchall()}
