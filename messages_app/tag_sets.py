"""Tags that many lines share, stored once (models.TagSet).

Twitch sends about 300 bytes of tags with every chat line, and nearly all of
them repeat from one line of a user to the next: badges, badge-info, colour,
display name, mod, subscriber, turbo, user-type, user-id. Stored as JSON on
every row they were most of an archive's size (docs/perf.md, "Storage"). So a
line's tags are split in two:

- the shared part goes to a tag set: one row per user and distinct content,
  found by a digest of the two, and used in every channel the user writes in;
- the line keeps only its own tags (`Message.tags`): the client-nonce (as 16
  bytes in `Message.client_nonce` when it is 32 hex digits), emotes
  and flags when not empty, first-msg and returning-chatter when not "0" (the
  set holds their usual value, which the line's own overrides), a
  deletion's target-msg-id, a timeout's ban-duration, reply and msg-param
  tags, anything that is not a string.

Three tags are not stored at all when a column holds them: `id` (the twitch_id
column), `tmi-sent-ts` (sent_at, to the millisecond) and `room-id` (the
channel's twitch_id, which never changes once set: writes._upsert_channels).
The tag set keeps the key with a null value, so `join` puts them back only on
lines that had them. A room-id that is not the channel's stays with the line.
`join(split(tags)) == tags`, tag for tag (tests/foundation/test_tag_sets.py).

A row whose `tag_set` is null keeps all its tags in `tags` (a message made
through the ORM, or stored before migration 0015 and not yet converted). Sets
made before migration 0018 belong to a channel too and keep their room-id.

A tag set belongs to its user: erasing the user deletes it (on_delete
CASCADE), so no badge, colour or display name outlives them; it holds nothing
of a channel (an older set of a channel is erased with the channel).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from hashlib import blake2b

import orjson

from messages_app import batch_sql as sql

# Tags that belong to the one line.
# (`historical` marks a backfilled line, docs/ingest.md: a query of the row finds it.)
OWN_KEYS = frozenset({"client-nonce", "target-msg-id", "ban-duration", "bits", "historical"})
OWN_PREFIXES = ("msg-param-", "reply-", "pinned-chat-", "rm-")
# Tags with a usual value: the line keeps its own only when it is another.
USUALLY = {"emotes": "", "flags": "", "first-msg": "0", "returning-chatter": "0"}

# The tags a column holds (Message.twitch_id, Message.sent_at, Channel.twitch_id).
COLUMN_KEYS = frozenset({"id", "tmi-sent-ts", "room-id"})

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)


def sent_ms(sent_at: datetime) -> str:
    """`tmi-sent-ts` as a line sent at `sent_at` (aware) carries it."""
    return str((sent_at - EPOCH) // ONE_MS)


def split(
    tags: dict, twitch_id: str | None, sent_at: datetime, room_id: str | None = None
) -> tuple[dict, dict]:
    """(shared, own) of a line's tags; see the module docstring. `room_id` is
    the channel's ("" when it has none); None keeps a room-id as it is (the
    channel-bound sets of migration 0015)."""
    shared: dict = {}
    own: dict = {}
    for key, value in tags.items():
        if type(value) is not str:
            own[key] = value
        elif key in COLUMN_KEYS:
            if key == "id":
                column = twitch_id
            elif key == "tmi-sent-ts":
                column = sent_ms(sent_at)
            elif room_id is None:
                shared[key] = value
                continue
            else:
                column = room_id
            if value == column:
                shared[key] = None
            else:
                own[key] = value
        elif key in OWN_KEYS or key.startswith(OWN_PREFIXES):
            own[key] = value
        elif key in USUALLY:
            # The set has the key with its usual value, which the line's own
            # overrides: a user's lines with and without emotes share one set.
            usual = USUALLY[key]
            shared[key] = usual
            if value != usual:
                own[key] = value
        else:
            shared[key] = value
    return shared, own


def join(
    shared: dict | None,
    own: dict,
    twitch_id: str | None,
    sent_at: datetime,
    room_id: str | None = None,
    nonce: bytes | None = None,
) -> dict:
    """A line's tags as Twitch sent them, from its tag set, its own tags and
    its packed client-nonce."""
    if nonce is not None:
        own = {**own, "client-nonce": nonce.hex()}
    if not shared:
        return own
    tags = {**shared, **own}
    if "id" in shared and shared["id"] is None:
        tags["id"] = twitch_id or ""
    if "tmi-sent-ts" in shared and shared["tmi-sent-ts"] is None:
        tags["tmi-sent-ts"] = sent_ms(sent_at)
    if "room-id" in shared and shared["room-id"] is None:
        tags["room-id"] = room_id or ""
    return tags


def pack_nonce(own: dict) -> bytes | None:
    """Take a client-nonce of 32 lowercase hex digits (the one Twitch's own
    clients send) off `own`: its 16 bytes, for Message.client_nonce. Any other
    nonce stays in `own` as it came; None then."""
    value = own.get("client-nonce")
    if type(value) is not str or len(value) != 32:
        return None
    try:
        packed = bytes.fromhex(value)
    except ValueError:
        return None
    if packed.hex() != value:  # upper case, or spaces fromhex skips
        return None
    del own["client-nonce"]
    return packed


def needs_room(shared: dict | None) -> bool:
    """Whether `join` needs the channel's room id to rebuild this set's lines."""
    return bool(shared) and "room-id" in shared and shared["room-id"] is None


def digest(channel_id: int | None, user_id: int | None, shared: dict) -> bytes:
    """The set's key: of its user and content (and of its channel for the sets
    of migration 0015, which used the channel's id; new sets use none)."""
    text = orjson.dumps(shared, option=orjson.OPT_SORT_KEYS)
    return blake2b(b"%d:%d:" % (channel_id or 0, user_id or 0) + text, digest_size=16).digest()


def assign(cursor, wanted: dict[bytes, tuple[int, int | None, dict]]) -> dict[bytes, int]:
    """digest -> tag set id for each wanted set (digest -> channel id, user id,
    shared tags), creating the missing ones. Runs in the write path's
    transaction, after its lock on message ids: writers do not race here."""
    from messages_app.models import TagSet

    table = sql.table(TagSet)
    found: dict[bytes, int] = {}
    digests = list(wanted)
    if sql.vendor() == "postgresql":
        cursor.execute(f"SELECT digest, id FROM {table} WHERE digest = ANY(%s)", [digests])
        found.update((bytes(d), id_) for d, id_ in cursor.fetchall())
        digests = []
    for chunk in sql.chunks(digests, sql.MAX_ROWS_PER_STATEMENT):
        marks = ", ".join(["?"] * len(chunk))
        cursor.execute(f"SELECT digest, id FROM {table} WHERE digest IN ({marks})", chunk)
        found.update(cursor.fetchall())
    missing = [d for d in wanted if d not in found]
    if missing:
        to_json = sql.json_adapter()
        rows = [(d, wanted[d][0], wanted[d][1], to_json(wanted[d][2])) for d in missing]
        statement = f"""
            INSERT INTO {table} (digest, channel_id, user_id, tags)
            {{rows}}
            RETURNING digest, id"""
        types = ("bytea", "bigint", "bigint", "jsonb")
        found.update((bytes(d), id_) for d, id_ in sql.upsert(cursor, statement, rows, types))
    return found


class Loaded:
    """Tag sets read by id, each parsed once (a read of many lines)."""

    def __init__(self) -> None:
        self.sets: dict[int, dict] = {}

    def load(self, ids) -> None:
        from messages_app.models import TagSet

        todo = [i for i in set(ids) if i is not None and i not in self.sets]
        for chunk in sql.chunks(todo, 500):
            self.sets.update(TagSet.objects.filter(id__in=chunk).values_list("id", "tags"))

    def join(
        self,
        set_id: int | None,
        own: dict,
        twitch_id: str | None,
        sent_at,
        room_id: str = "",
        nonce: bytes | None = None,
    ) -> dict:
        shared = None if set_id is None else self.sets.get(set_id)
        return join(shared, own, twitch_id, sent_at, room_id, nonce)
