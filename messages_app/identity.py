"""Identity by Twitch ids, for the write path (writes.store_batch).

A user is their Twitch `user-id`, a channel its `room-id`; logins are names
that can change. Lines without ids (old logs, JSON replays) fall back to the
login. These functions run inside store_batch's transaction, on its cursor.
"""

from __future__ import annotations

import logging

from django.db import connection

from messages_app import batch_sql as sql
from messages_app.models import Channel, ChatUser, ChatUserName, Kind

log = logging.getLogger("messages_app.writes")

NAME_TYPES = ("bigint", "text", "timestamptz", "timestamptz")

# A user is their Twitch `user-id`, a channel its `room-id`; logins are names
# that can change. Lines without ids (old logs, JSON replays) fall back to the
# login. These caches hold the id -> login pairs this process has settled, so
# a batch of known chatters costs no query; store_batch empties them when the
# database disagrees.
KNOWN_USERS: dict[str, str] = {}
KNOWN_CHANNELS: dict[str, str] = {}
_CACHE_LIMIT = 200_000


def twitch_user_id(record) -> str | None:
    tags = record.tags
    if record.kind == Kind.CLEARCHAT:
        value = tags.get("target-user-id")
    elif record.kind == Kind.CLEARMSG:
        return None  # the line names the author by login only
    else:
        value = tags.get("user-id")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 32:
        return value
    return None


def user_twitch_ids(cursor, stamped: list) -> tuple[dict[str, str], set[str]]:
    """login -> Twitch user id for this batch, and the logins whose pair was not
    settled before it (their name history is written), after making the user rows agree
    with the ids: a login a known id now uses renames that user's row (one user,
    one history); a row of the same login stored from lines without ids is
    taken to be this account and gets the id; a row holding the login for
    another id (the name was freed and taken) is moved aside as
    `<login>~<row id>`."""
    pairs: dict[str, str] = {}
    for r, _at in stamped:
        twitch_id = twitch_user_id(r)
        if twitch_id and r.username:
            pairs[r.username] = twitch_id
    todo = {login: tid for login, tid in pairs.items() if KNOWN_USERS.get(tid) != login}
    if todo:
        _reconcile_users(cursor, todo)
        if len(KNOWN_USERS) > _CACHE_LIMIT:
            KNOWN_USERS.clear()
        KNOWN_USERS.update((tid, login) for login, tid in todo.items())
    return pairs, set(todo)


def _reconcile_users(cursor, todo: dict[str, str]) -> None:
    table = sql.table(ChatUser)
    mark = "?" if connection.vendor == "sqlite" else "%s"
    logins, ids = list(todo), list(todo.values())
    by_id: dict[str, tuple] = {}  # twitch id -> (pk, login, first seen, last seen)
    by_name: dict[str, tuple[int, str | None]] = {}
    for chunk_logins, chunk_ids in zip(sql.chunks(logins, 400), sql.chunks(ids, 400), strict=True):
        names = ", ".join([mark] * len(chunk_logins))
        cursor.execute(
            f"SELECT id, username, twitch_id, first_seen_at, last_seen_at FROM {table} "
            f"WHERE twitch_id IN ({names}) OR username IN ({names})",
            [*chunk_ids, *chunk_logins],
        )
        for pk, username, twitch_id, first, last in cursor.fetchall():
            if twitch_id:
                by_id[twitch_id] = (pk, username, first, last)
            by_name[username] = (pk, twitch_id)
    for login, twitch_id in todo.items():
        owner = by_id.get(twitch_id)
        holder = by_name.get(login)
        if owner is not None and owner[1] == login:
            continue
        if holder is not None and (owner is None or holder[0] != owner[0]):
            if owner is None and holder[1] is None:  # stored from lines without ids
                cursor.execute(f"UPDATE {table} SET twitch_id = {mark} WHERE id = {mark}",
                               [twitch_id, holder[0]])  # fmt: skip
                continue
            cursor.execute(f"UPDATE {table} SET username = {mark} WHERE id = {mark}",
                           [f"{login}~{holder[0]}", holder[0]])  # fmt: skip
        if owner is not None:  # a rename: the history keeps the old login
            cursor.execute(f"UPDATE {table} SET username = {mark} WHERE id = {mark}",
                           [login, owner[0]])  # fmt: skip
            _close_name(cursor, *owner)
            log.info("user %s is now %s", owner[1], login)


def _close_name(cursor, user_id: int, login: str, first, last) -> None:
    """A login given up: its history row ends at the user's last line so far."""
    table = sql.table(ChatUserName)
    statement = f"""
        INSERT INTO {table} (user_id, login, first_seen_at, last_seen_at) {{rows}}
        ON CONFLICT (user_id, login) DO UPDATE SET last_seen_at = excluded.last_seen_at"""
    sql.execute_rows(cursor, statement, [(user_id, login, first, last)], NAME_TYPES)


def channel_twitch_ids(cursor, stamped: list) -> dict[str, str]:
    """channel -> room id, for the channels whose room id no other channel row
    holds (a renamed channel keeps its old row, id included, for now)."""
    rooms: dict[str, str] = {}
    for r, _at in stamped:
        room = r.tags.get("room-id")
        if isinstance(room, str) and room.isascii() and room.isdigit() and len(room) <= 32:
            rooms[r.channel] = room
    todo = {name: room for name, room in rooms.items() if KNOWN_CHANNELS.get(room) != name}
    if todo:
        table = sql.table(Channel)
        mark = "?" if connection.vendor == "sqlite" else "%s"
        marks = ", ".join([mark] * len(todo))
        cursor.execute(
            f"SELECT twitch_id, name FROM {table} WHERE twitch_id IN ({marks})",
            list(todo.values()),
        )
        held = dict(cursor.fetchall())
        for name, room in list(todo.items()):
            if held.get(room, name) != name:
                del rooms[name]  # another row has it: leave this one without
                del todo[name]
        if len(KNOWN_CHANNELS) > _CACHE_LIMIT:
            KNOWN_CHANNELS.clear()
        KNOWN_CHANNELS.update((room, name) for name, room in todo.items())
    return rooms


def upsert_names(cursor, counted: list, user_ids: dict[str, int], unsettled: set[str]) -> None:
    """The name history, written when a user's login is first met (in this
    process) and when it changes (_close_name), not on every line: the current
    login's last line is the user's last_seen_at. Lines without ids keep no
    history (their login is the only name they can have)."""
    names: dict[tuple[int, str], list] = {}
    for r, at, _id in counted:
        if r.username not in unsettled:
            continue
        key = (user_ids[r.username], r.username)
        entry = names.get(key)
        if entry is None:
            names[key] = [at, at]
        else:
            entry[0], entry[1] = min(entry[0], at), max(entry[1], at)
    if not names:
        return
    table = sql.table(ChatUserName)
    statement = f"""
        INSERT INTO {table} (user_id, login, first_seen_at, last_seen_at)
        {{rows}}
        ON CONFLICT (user_id, login) DO UPDATE SET
            first_seen_at = {sql.earlier(table, "first_seen_at")},
            last_seen_at = {sql.later(table, "last_seen_at")}"""
    sql.execute_rows(cursor, statement, [(*key, *entry) for key, entry in names.items()],
                     NAME_TYPES)  # fmt: skip
