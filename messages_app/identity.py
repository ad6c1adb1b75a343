"""Identity by Twitch ids, for the write path (writes.store_batch).

A user is their Twitch `user-id`, a channel its `room-id`; logins are names
that can change. Lines without ids (old logs, JSON replays) fall back to the
login. These functions run inside store_batch's transaction, on its cursor.
"""

from __future__ import annotations

import logging

from messages_app import batch_sql as sql
from messages_app.models import (
    Channel,
    ChannelDay,
    ChannelHour,
    ChatUser,
    ChatUserName,
    Kind,
    Message,
    TagSet,
    UserChannelStats,
)

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


def user_twitch_ids(cursor, stamped: list) -> tuple[dict[str, str], set[str], dict[str, str]]:
    """login -> Twitch user id for this batch, the logins whose pair was not
    settled before it (their name history is written), and the aliases: logins
    an id used earlier in this same batch -> the login it used last (a rename
    inside one batch, as a replayed month can hold; one user, both names in
    the history). Before returning, the user rows are made to agree with the
    ids: a login a known id now uses renames that user's row (one user,
    one history); a row of the same login stored from lines without ids is
    taken to be this account and gets the id; a row holding the login for
    another id (the name was freed and taken) is moved aside as
    `<login>~<row id>`."""
    latest: dict[str, tuple] = {}  # twitch id -> (time, login) of its last line
    logins: dict[str, set[str]] = {}
    for r, at in stamped:
        twitch_id = twitch_user_id(r)
        if twitch_id and r.username:
            seen = latest.get(twitch_id)
            if seen is None or at >= seen[0]:
                latest[twitch_id] = (at, r.username)
            logins.setdefault(twitch_id, set()).add(r.username)
    pairs = {login: twitch_id for twitch_id, (_at, login) in latest.items()}
    aliases = {
        login: latest[twitch_id][1]
        for twitch_id, used in logins.items()
        for login in used
        if login != latest[twitch_id][1] and login not in pairs
    }
    todo = {login: tid for login, tid in pairs.items() if KNOWN_USERS.get(tid) != login}
    if todo:
        _reconcile_users(cursor, todo)
        if len(KNOWN_USERS) > _CACHE_LIMIT:
            KNOWN_USERS.clear()
        KNOWN_USERS.update((tid, login) for login, tid in todo.items())
    return pairs, set(todo) | set(aliases), aliases


def _reconcile_users(cursor, todo: dict[str, str]) -> None:
    table, mark = sql.table(ChatUser), _mark()
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


def channel_twitch_ids(cursor, stamped: list) -> tuple[dict[str, str], set[int]]:
    """channel -> room id for this batch, and the channel rows it changed, after
    making the rows agree with the ids: a login a known room id now uses is that
    channel renamed, so its row takes the new login (history, counters and id
    kept) and absorbs a row of the new login stored without an id (the one
    staff added to follow the new name); a row holding the login for another
    room (the name was freed and taken) is moved aside as `<login>~<row id>`."""
    rooms: dict[str, str] = {}
    for r, _at in stamped:
        room = r.tags.get("room-id")
        if isinstance(room, str) and room.isascii() and room.isdigit() and len(room) <= 32:
            rooms[r.channel] = room
    todo = {name: room for name, room in rooms.items() if KNOWN_CHANNELS.get(room) != name}
    changed: set[int] = set()
    if todo:
        table = sql.table(Channel)
        marks = ", ".join([_mark()] * len(todo))
        cursor.execute(
            f"SELECT twitch_id, id, name FROM {table} WHERE twitch_id IN ({marks})",
            list(todo.values()),
        )
        held = {room: (pk, name) for room, pk, name in cursor.fetchall()}
        for name, room in todo.items():
            if room in held and held[room][1] != name:
                changed |= _rename_channel(cursor, held[room], name)
        if len(KNOWN_CHANNELS) > _CACHE_LIMIT:
            KNOWN_CHANNELS.clear()
        KNOWN_CHANNELS.update((room, name) for name, room in todo.items())
    return rooms, changed


def _mark() -> str:
    return "?" if sql.vendor() == "sqlite" else "%s"


def _rename_channel(cursor, owner: tuple[int, str], login: str) -> set[int]:
    """The row `owner` (pk, old login) takes `login`; returns the rows changed."""
    table, mark = sql.table(Channel), _mark()
    pk, old = owner
    cursor.execute(f"SELECT id, twitch_id FROM {table} WHERE name = {mark}", [login])
    holder = cursor.fetchone()
    if holder is not None and holder[1] is None:
        _absorb_channel(cursor, pk, holder[0])
    elif holder is not None:
        suffix = f"~{holder[0]}"
        cursor.execute(f"UPDATE {table} SET name = {mark} WHERE id = {mark}",
                       [login[: 25 - len(suffix)] + suffix, holder[0]])  # fmt: skip
    cursor.execute(f"UPDATE {table} SET name = {mark} WHERE id = {mark}", [login, pk])
    log.info("channel %s is now %s", old, login)
    return {pk} if holder is None else {pk, holder[0]}


def _absorb_channel(cursor, keep: int, drop: int) -> None:
    """Move the messages, per-user counters, days, hours and totals of channel
    row `drop` into `keep`, which also takes drop's enabled/deleted state (the
    operator's latest word on the channel), then delete `drop`."""
    channels, mark = sql.table(Channel), _mark()
    messages, stats = sql.table(Message), sql.table(UserChannelStats)
    cursor.execute(f"UPDATE {messages} SET channel_id = {mark} WHERE channel_id = {mark}",
                   [keep, drop])  # fmt: skip
    # The sets keep their digests (made with drop's id): unique all the same.
    cursor.execute(f"UPDATE {sql.table(TagSet)} SET channel_id = {mark} WHERE channel_id = {mark}",
                   [keep, drop])  # fmt: skip
    cursor.execute(
        f"""INSERT INTO {stats} (user_id, channel_id, total_messages, first_seen_at, last_seen_at)
            SELECT user_id, {mark}, total_messages, first_seen_at, last_seen_at
            FROM {stats} WHERE channel_id = {mark} AND true
            ON CONFLICT (user_id, channel_id) DO UPDATE SET
                total_messages = {stats}.total_messages + excluded.total_messages,
                first_seen_at = {sql.earlier(stats, "first_seen_at")},
                last_seen_at = {sql.later(stats, "last_seen_at")}""",
        [keep, drop],
    )
    cursor.execute(f"DELETE FROM {stats} WHERE channel_id = {mark}", [drop])
    days = sql.table(ChannelDay)
    cursor.execute(
        f"""INSERT INTO {days} (channel_id, day, lines, first_id, last_id)
            SELECT {mark}, day, lines, first_id, last_id FROM {days}
            WHERE channel_id = {mark} AND true
            ON CONFLICT (channel_id, day) DO UPDATE SET
                lines = {days}.lines + excluded.lines,
                first_id = {sql.earlier(days, "first_id")},
                last_id = {sql.later(days, "last_id")}""",
        [keep, drop],
    )
    cursor.execute(f"DELETE FROM {days} WHERE channel_id = {mark}", [drop])
    hours = sql.table(ChannelHour)  # the activity charts
    cursor.execute(
        f"""INSERT INTO {hours} (channel_id, hour, count)
            SELECT {mark}, hour, count FROM {hours} WHERE channel_id = {mark} AND true
            ON CONFLICT (channel_id, hour) DO UPDATE SET count = {hours}.count + excluded.count""",
        [keep, drop],
    )
    cursor.execute(f"DELETE FROM {hours} WHERE channel_id = {mark}", [drop])
    cursor.execute(
        f"""UPDATE {channels} SET
                total_messages = total_messages + (SELECT total_messages FROM {channels} d
                                                   WHERE d.id = {mark}),
                last_message_at = COALESCE((SELECT MAX(d.last_message_at) FROM {channels} d
                                            WHERE d.id IN ({mark}, {mark})), last_message_at),
                enabled = (SELECT enabled FROM {channels} d WHERE d.id = {mark}),
                deleted_at = (SELECT deleted_at FROM {channels} d WHERE d.id = {mark})
            WHERE id = {mark}""",
        [drop, keep, drop, drop, drop, keep],
    )
    cursor.execute(f"DELETE FROM {channels} WHERE id = {mark}", [drop])


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
