"""The write path: every chat message is stored through `store_batch`, and
every channel change goes through the channel actions at the end. It is the
one module that writes what pages and streams show, hence its length. Its
helpers: batch_sql.py (the SQL of both databases), identity.py (Twitch ids,
renames, the name history), deletions.py (CLEARMSG).

One batch is one transaction: upsert channels and users, insert messages (a
Twitch message id seen before is skipped), advance every counter by the batch,
and keep the minute buckets in step. The full-text index follows by triggers
(SQLite FTS5) or an expression index (PostgreSQL). After commit, the
`messages_stored` signal names the stored id range so live updates can read it.

This is set-based SQL on purpose, a handful of statements per batch on one
cursor: the ORM's per-object bulk_create costs much more per message,
and the write path is the hot path of ingest (figures in docs/perf.md). Rows that
need their ids back (channels, users, messages) go in one multi-row
INSERT ... RETURNING; on SQLite the counter upserts that return nothing use
executemany, whose one-row statement is prepared once, not once per row count.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from messages_app import batch_sql as sql
from messages_app import (
    deletions,
    identity,
    message_ids,
    optouts,
    packed_ids,
    partitions,
    tag_sets,
)
from messages_app.models import (
    COUNTED_KINDS,
    ActivityBucket,
    Channel,
    ChannelDay,
    ChannelHour,
    ChatUser,
    Kind,
    Message,
    UserChannelStats,
    UserDay,
)
from messages_app.signals import channel_changed, messages_stored
from messages_app.validators import TWITCH_LOGIN_RE, normalize_login, validate_twitch_login

log = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 5000  # Twitch allows 500 characters; anything far longer is not chat.
RACE_RETRIES = 3
DEDUPE_MARGIN = timedelta(days=31)  # _oldest_copy
MESSAGE_ID_LOCK = 0x676F6B6E7574  # "goknut": the advisory lock key of lock_message_ids


@dataclass(slots=True)
class ChatRecord:
    """One parsed chat event (a message, a notice, a moderation action), before
    it has an id.

    kind is the IRC command (models.Kind). By kind:
    - PRIVMSG: username is the sender, text what they wrote.
    - USERNOTICE: username is the user the notice is about (its `login` tag),
      text what they wrote with it ("" when nothing), system_text Twitch's
      `system-msg` (the tag itself is not kept in tags).
    - CLEARMSG: username is the author of the deleted message (`login`), text
      its text; tags keep `target-msg-id`.
    - CLEARCHAT: username is the user timed out or banned ("" for a clear of
      the whole chat); tags keep `ban-duration` (a timeout) and `target-user-id`.
    CLEARMSG and CLEARCHAT carry no `id` tag: twitch_id is then a stable id
    made from the line (parser.event_id), so a line seen twice is stored once.
    """

    channel: str
    username: str
    text: str
    sent_at: datetime
    display_name: str = ""
    twitch_id: str | None = None
    tags: dict = field(default_factory=dict)
    is_action: bool = False
    kind: int = 1  # models.Kind.PRIVMSG
    system_text: str = ""


@dataclass(slots=True)
class BatchResult:
    stored: int = 0
    duplicates: int = 0
    invalid: int = 0
    opted_out: int = 0  # lines of opted-out users or channels, not stored
    kinds: Counter = field(default_factory=Counter)  # stored lines per models.Kind
    first_id: int | None = None
    last_id: int | None = None
    channel_ids: set[int] = field(default_factory=set)
    user_ids: set[int] = field(default_factory=set)


KINDS = frozenset(Kind.values)  # Kind.values builds a new list at every call


class _LostRace(Exception):
    """Another writer stored one of our Twitch ids between check and insert."""


def store_batch(records: Iterable[ChatRecord]) -> BatchResult:
    """Store a batch of chat records in one transaction; see the module docstring."""
    clean, invalid = _clean(records)
    for _attempt in range(RACE_RETRIES):
        try:
            result = _store_clean(clean)
        except _LostRace:
            continue
        except IntegrityError:
            # A Twitch id the identity cache took for settled was moved by
            # another writer (or the archive was reset): check every id again.
            # Or a month's partition the cache took for made was dropped (retention).
            identity.KNOWN_USERS.clear()
            identity.KNOWN_CHANNELS.clear()
            partitions.KNOWN.clear()
            continue
        result.invalid = invalid
        return result
    raise RuntimeError("store_batch kept losing races on Twitch message ids")


def _clean(records: Iterable[ChatRecord]) -> tuple[list[ChatRecord], int]:
    clean, invalid = [], 0
    for record in records:
        record.channel = normalize_login(record.channel)
        record.username = normalize_login(record.username)
        # PostgreSQL text cannot hold NUL; nobody can see it in chat anyway.
        record.text = record.text.replace("\x00", "")
        record.system_text = record.system_text.replace("\x00", "")[:MAX_TEXT_LENGTH]
        if record.sent_at.tzinfo is None:
            record.sent_at = record.sent_at.replace(tzinfo=UTC)
        elif record.sent_at.tzinfo is not UTC:
            record.sent_at = record.sent_at.astimezone(UTC)
        if (
            not TWITCH_LOGIN_RE.fullmatch(record.channel)
            or record.kind not in KINDS
            # Only a clear of the whole chat has no user.
            or not (record.username or record.kind == Kind.CLEARCHAT)
            or len(record.username) > 64
            or len(record.text) > MAX_TEXT_LENGTH
        ):
            invalid += 1
            continue
        clean.append(record)
    if invalid:
        log.warning("write path skipped %d invalid records", invalid)
    return clean, invalid


def _store_clean(records: list[ChatRecord]) -> BatchResult:
    result = BatchResult()
    # One cursor for the batch: django-prometheus builds a wrapper class per cursor.
    with transaction.atomic(), sql.write_cursor() as cursor:
        lock_message_ids(cursor)
        records, result.opted_out = optouts.apply(records)
        fresh = _drop_duplicates(cursor, records)
        result.duplicates = len(records) - len(fresh)
        if not fresh:
            return result
        # Each sent_at becomes its query parameter once; the counters take min/max
        # over these values (SQLite's ISO strings sort like the times they name).
        to_db = sql.datetime_adapter()
        stamped = [(r, to_db(r.sent_at)) for r in fresh]
        room_ids, renamed = identity.channel_twitch_ids(cursor, stamped)
        channel_ids, rooms = _upsert_channels(cursor, stamped, room_ids)
        _channels_changed(renamed)
        twitch_ids, unsettled, aliases = identity.user_twitch_ids(cursor, stamped)
        user_ids = _upsert_users(cursor, stamped, twitch_ids, aliases)
        ids = _insert_messages(cursor, stamped, channel_ids, user_ids, rooms)
        counted = [(r, at, id_) for (r, at), id_ in zip(stamped, ids, strict=True)
                   if r.kind in COUNTED_KINDS]  # fmt: skip
        if counted:
            _upsert_user_channel_stats(cursor, counted, channel_ids, user_ids)
            identity.upsert_names(cursor, counted, user_ids, unsettled)
            _upsert_buckets(cursor, counted)
            _upsert_chart_buckets(cursor, counted, channel_ids, user_ids)
        _upsert_channel_days(cursor, stamped, ids, channel_ids)
        deletions.mark_deleted(cursor, stamped, min(ids))
        result.stored = len(ids)
        result.kinds.update(r.kind for r in fresh)
        result.first_id, result.last_id = min(ids), max(ids)
        result.channel_ids = set(channel_ids.values())
        result.user_ids = set(user_ids.values())
        # robust: a failing receiver is logged, and the committed batch is not
        # reported as failed (the pipeline would store it again, record by record).
        transaction.on_commit(lambda: _announce(result), robust=True)
    return result


def lock_message_ids(cursor) -> None:
    """Make message ids become visible in id order, whatever the number of writers.

    The live relay reads `id > cursor`. On PostgreSQL two transactions can take
    ids 1-100 and 101-200 and commit the second first: a reader would move its
    cursor to 200 and never see 1-100. Holding one transaction-scoped advisory
    lock from before the first id is taken until commit makes writers take ids
    and commit one after the other. SQLite needs nothing: its writers are
    already serialised (IMMEDIATE transactions).
    """
    if sql.vendor() == "postgresql":
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [MESSAGE_ID_LOCK])


def _announce(result: BatchResult) -> None:
    messages_stored.send(
        sender=Message,
        first_id=result.first_id,
        last_id=result.last_id,
        count=result.stored,
        channel_ids=result.channel_ids,
        user_ids=result.user_ids,
    )


def _drop_duplicates(cursor, records: list[ChatRecord]) -> list[ChatRecord]:
    """Drop records whose Twitch id is already stored or repeats within the batch."""
    wanted = sorted({r.twitch_id for r in records if r.twitch_id})
    stored = set()
    table = sql.table(Message)
    if wanted and sql.vendor() == "postgresql":
        # Each partition by name, through its Twitch id index alone: on the parent
        # table with `id >= oldest`, the planner may AND that index with a range
        # of the primary key that spans the whole month (75 ms a batch at two
        # million lines, growing with the month). The ids come as a subquery's
        # array: given the 1,000 values themselves, a partition without
        # statistics yet (autovacuum has not analyzed it) looks as if half its
        # rows matched, and the planner reads it whole (370 ms at 1.6 million).
        tables = partitions.holding(cursor, _oldest_copy(records))
        selects = [
            f"SELECT twitch_id FROM {name} WHERE twitch_id = ANY(ARRAY(SELECT unnest(%s::text[])))"
            for name in tables
        ]
        if selects:
            cursor.execute(" UNION ALL ".join(selects), [wanted] * len(selects))
            stored.update(twitch_id for (twitch_id,) in cursor.fetchall())
        wanted = []
    for chunk in sql.chunks(wanted, sql.MAX_ROWS_PER_STATEMENT):  # SQLite only, from here
        packed = [packed_ids.pack(twitch_id) for twitch_id in chunk]
        where, params = packed_ids.lookup_sql(packed, mark="?")
        cursor.execute(f"SELECT twitch_id FROM {table} WHERE {where}", params)
        stored.update(packed_ids.unpack(twitch_id) for (twitch_id,) in cursor.fetchall())
    fresh, seen = [], set()
    for record in records:
        if record.twitch_id:
            if record.twitch_id in stored or record.twitch_id in seen:
                continue
            seen.add(record.twitch_id)
        fresh.append(record)
    return fresh


def _oldest_copy(records: list[ChatRecord]) -> int:
    """The lowest id a stored copy of one of these lines can have.

    A line's id is its time, or a little above it (message_ids.py), or the time
    it was stored when its clock was ahead; DEDUPE_MARGIN allows for that clock.
    On PostgreSQL the Twitch id is unique per month's partition only, so the
    duplicate check reads the partitions from there on, not every month."""
    oldest = min(min(r.sent_at for r in records), timezone.now()) - DEDUPE_MARGIN
    return message_ids.slot(oldest)


Stamped = list[tuple[ChatRecord, object]]  # records with sent_at as a query parameter


def _upsert_channels(
    cursor, stamped: Stamped, room_ids: dict[str, str]
) -> tuple[dict[str, int], dict[str, str]]:
    """Create unknown channels (disabled: a replayed log must not make ingest join
    them) and advance the counters of known ones; a channel's first room-id is
    kept. Returns name -> id and name -> the room id stored ("" for none)."""
    counts: dict[str, list] = {}
    for r, at in stamped:
        entry = counts.setdefault(r.channel, [0, None])
        if r.kind in COUNTED_KINDS:  # moderation events do not count (or date) chat
            entry[0] += 1
            entry[1] = at if entry[1] is None else max(entry[1], at)
    now = sql.datetime_adapter()(timezone.now())
    rows = [
        (name, "", False, now, now, n, last, room_ids.get(name))
        for name, (n, last) in counts.items()
    ]
    table = sql.table(Channel)
    statement = f"""
        INSERT INTO {table} (name, display_name, enabled, created_at, updated_at,
                             total_messages, last_message_at, twitch_id)
        {{rows}}
        ON CONFLICT (name) DO UPDATE SET
            total_messages = {table}.total_messages + excluded.total_messages,
            last_message_at = {sql.later(table, "last_message_at")},
            twitch_id = COALESCE({table}.twitch_id, excluded.twitch_id)
        RETURNING id, name, twitch_id"""
    stored = sql.upsert(cursor, statement, rows, CHANNEL_TYPES)
    return {name: id_ for id_, name, _room in stored}, {
        name: room or "" for _id, name, room in stored
    }


def _upsert_users(
    cursor, stamped: Stamped, twitch_ids: dict[str, str], aliases: dict[str, str]
) -> dict[str, int]:
    """Create or update chat users with their counters (and their Twitch id,
    once identity.user_twitch_ids has made the rows agree). Returns login -> id,
    an alias (a login its user gave up within this batch) included."""
    users: dict[str, list] = {}
    for r, at in stamped:
        if not r.username:
            continue  # a clear of the whole chat
        login = aliases.get(r.username, r.username)
        counts = r.kind in COUNTED_KINDS
        entry = users.get(login)
        if entry is None:
            # A user first met in a moderation event gets its times (the columns
            # need one) and no count; a later message sets both.
            users[login] = [r.display_name[:64], at, at, int(counts), counts]
            continue
        entry[0] = r.display_name[:64] or entry[0]
        if counts:
            entry[1] = min(entry[1], at) if entry[4] else at
            entry[2] = max(entry[2], at) if entry[4] else at
            entry[3] += 1
            entry[4] = True
    if not users:
        return {}
    rows = [(name, *entry[:4], twitch_ids.get(name)) for name, entry in users.items()]
    table = sql.table(ChatUser)
    statement = f"""
        INSERT INTO {table} (username, display_name, first_seen_at, last_seen_at,
                             total_messages, twitch_id)
        {{rows}}
        ON CONFLICT (username) DO UPDATE SET
            display_name = CASE WHEN excluded.display_name <> ''
                THEN excluded.display_name ELSE {table}.display_name END,
            first_seen_at = CASE WHEN excluded.total_messages = 0 THEN {table}.first_seen_at
                ELSE {sql.earlier(table, "first_seen_at")} END,
            last_seen_at = CASE WHEN excluded.total_messages = 0 THEN {table}.last_seen_at
                ELSE {sql.later(table, "last_seen_at")} END,
            total_messages = {table}.total_messages + excluded.total_messages,
            twitch_id = COALESCE({table}.twitch_id, excluded.twitch_id)
        RETURNING id, username"""
    ids = dict((name, id_) for id_, name in sql.upsert(cursor, statement, rows, USER_TYPES))
    ids.update((old, ids[current]) for old, current in aliases.items())
    return ids


def _insert_messages(
    cursor,
    stamped: Stamped,
    channel_ids: dict[str, int],
    user_ids: dict[str, int],
    rooms: dict[str, str],
) -> list[int]:
    """Insert the messages; returns their ids in record order.

    The ids follow the time each line was sent (message_ids.py): ORDER BY id is
    time order, also for history that arrives late (an import).

    One multi-row statement, not executemany: every statement opens a savepoint
    and SQLite's FTS5 flushes its pending terms to disk at each one, so row-by-row
    inserts would write one index segment per message (docs/perf.md).
    """
    to_json = sql.json_adapter()
    sqlite = sql.vendor() == "sqlite"
    pack = packed_ids.pack if sqlite else _same
    ids = message_ids.assign(cursor, [r.sent_at for r, _at in stamped])
    partitions.ensure(cursor, ids)  # PostgreSQL: the months' partitions
    split = _split_tags(cursor, stamped, user_ids, rooms)
    rows = [
        (
            id_,
            channel_ids[r.channel],
            user_ids.get(r.username),  # None: a clear of the whole chat
            r.text,
            message_ids.lag(id_, r.sent_at) if sqlite else at,  # models.SentAtField
            pack(r.twitch_id or None),
            to_json(own),
            set_id,
            nonce,
            r.is_action,
            r.kind,
            r.system_text,
        )
        for (r, at), id_, (set_id, own, nonce) in zip(stamped, ids, split, strict=True)
    ]
    statement = f"""
        INSERT INTO {sql.table(Message)} (id, channel_id, user_id, text,
                                       {"sent_lag" if sqlite else "sent_at"}, twitch_id,
                                       tags, tag_set_id, client_nonce, is_action, kind,
                                       system_text)
        {{rows}}
        ON CONFLICT DO NOTHING
        RETURNING id"""
    if len(sql.upsert(cursor, statement, rows, MESSAGE_TYPES)) != len(rows):
        raise _LostRace  # a Twitch id (or an id) another writer took meanwhile
    return ids


def _split_tags(
    cursor, stamped: Stamped, user_ids: dict[str, int], rooms: dict[str, str]
) -> list[tuple[int | None, dict, bytes | None]]:
    """(tag set id, own tags, packed client-nonce) of each record:
    messages_app/tag_sets.py. A set belongs to a user, not to a channel: its
    room-id is the channel's."""
    wanted: dict[bytes, tuple] = {}
    split = []
    for r, _at in stamped:
        shared, own = tag_sets.split(r.tags, r.twitch_id, r.sent_at, rooms[r.channel])
        nonce = tag_sets.pack_nonce(own)
        if not shared:
            split.append((None, own, nonce))
            continue
        user_id = user_ids.get(r.username)
        digest = tag_sets.digest(None, user_id, shared)
        wanted.setdefault(digest, (None, user_id, shared))
        split.append((digest, own, nonce))
    set_ids = tag_sets.assign(cursor, wanted) if wanted else {}
    return [(None if d is None else set_ids[d], own, nonce) for d, own, nonce in split]


def _same(value):
    return value


Counted = list[tuple[ChatRecord, object, int]]  # counted records, sent_at parameter, id


def _upsert_user_channel_stats(
    cursor, counted: Counted, channel_ids: dict[str, int], user_ids: dict[str, int]
) -> None:
    stats: dict[tuple[int, int], list] = {}
    for r, at, _id in counted:
        key = (user_ids[r.username], channel_ids[r.channel])
        entry = stats.get(key)
        if entry is None:
            stats[key] = [1, at, at]
            continue
        entry[0] += 1
        entry[1] = min(entry[1], at)
        entry[2] = max(entry[2], at)
    rows = [(*key, *entry) for key, entry in stats.items()]
    table = sql.table(UserChannelStats)
    statement = f"""
        INSERT INTO {table} (user_id, channel_id, total_messages, first_seen_at,
                             last_seen_at)
        {{rows}}
        ON CONFLICT (user_id, channel_id) DO UPDATE SET
            total_messages = {table}.total_messages + excluded.total_messages,
            first_seen_at = {sql.earlier(table, "first_seen_at")},
            last_seen_at = {sql.later(table, "last_seen_at")}"""
    sql.execute_rows(cursor, statement, rows, STATS_TYPES)


def _upsert_buckets(cursor, counted: Counted) -> None:
    to_db = sql.datetime_adapter()
    buckets: dict[datetime, list[int]] = defaultdict(lambda: [0, 0, 0])
    for record, _at, id_ in counted:
        entry = buckets[record.sent_at.replace(second=0, microsecond=0)]
        if entry[0] == 0:
            entry[1] = entry[2] = id_
        entry[0] += 1
        entry[1], entry[2] = min(entry[1], id_), max(entry[2], id_)
    rows = [(to_db(m), n, lo, hi) for m, (n, lo, hi) in buckets.items()]
    table = sql.table(ActivityBucket)
    statement = f"""
        INSERT INTO {table} (minute, count, first_id, last_id)
        {{rows}}
        ON CONFLICT (minute) DO UPDATE SET
            count = {table}.count + excluded.count,
            first_id = {sql.earlier(table, "first_id")},
            last_id = {sql.later(table, "last_id")}"""
    sql.execute_rows(cursor, statement, rows, BUCKET_TYPES)


def _upsert_chart_buckets(
    cursor, counted: Counted, channel_ids: dict[str, int], user_ids: dict[str, int]
) -> None:
    """Chat and notices per channel and UTC hour, and per user and UTC day (the
    activity charts): one upsert of each per batch.

    On SQLite the keys are slices of the sent_at parameter, UTC text
    "YYYY-MM-DD HH:MM:SS[.ffffff]": truncating 1,000 aware datetimes and
    hashing them took 5 ms a batch, the slices 1 ms."""
    sqlite = sql.vendor() == "sqlite"
    if sqlite:
        hour_of, day_of = (lambda at: at[:13]), (lambda at: at[:10])
    else:
        hour_of = lambda at: at.replace(minute=0, second=0, microsecond=0)  # noqa: E731
        day_of = lambda at: at.date()  # noqa: E731
    hours: dict[tuple, int] = {}
    days: dict[tuple, int] = {}
    for r, at, _id in counted:
        key = (channel_ids[r.channel], hour_of(at))
        hours[key] = hours.get(key, 0) + 1
        key = (user_ids[r.username], day_of(at))
        days[key] = days.get(key, 0) + 1
    # In key order: SQLite then walks the unique index in order rather than at
    # random (a third less time for the upsert of 1,000 users).
    hour_rows = [(pk, f"{hour}:00:00" if sqlite else hour, n)
                 for (pk, hour), n in sorted(hours.items())]  # fmt: skip
    day_rows = [(pk, day, n) for (pk, day), n in sorted(days.items())]
    for model, key, rows, types in (
        (ChannelHour, "channel_id, hour", hour_rows, CHANNEL_HOUR_TYPES),
        (UserDay, "user_id, day", day_rows, USER_DAY_TYPES),
    ):
        table = sql.table(model)
        statement = f"""
            INSERT INTO {table} ({key}, count)
            {{rows}}
            ON CONFLICT ({key}) DO UPDATE SET count = {table}.count + excluded.count"""
        sql.execute_rows(cursor, statement, rows, types)


def _upsert_channel_days(
    cursor, stamped: Stamped, ids: list[int], channel_ids: dict[str, int]
) -> None:
    """Lines and id range per channel and UTC day, every kind included."""
    days: dict[tuple[int, date], list[int]] = {}
    for (r, _at), id_ in zip(stamped, ids, strict=True):
        key = (channel_ids[r.channel], r.sent_at.date())
        entry = days.get(key)
        if entry is None:
            days[key] = [1, id_, id_]
        else:
            entry[0] += 1
            entry[1], entry[2] = min(entry[1], id_), max(entry[2], id_)
    as_text = sql.vendor() == "sqlite"  # the sqlite3 date adapter is deprecated
    rows = [(pk, day.isoformat() if as_text else day, *entry) for (pk, day), entry in days.items()]
    table = sql.table(ChannelDay)
    statement = f"""
        INSERT INTO {table} (channel_id, day, lines, first_id, last_id)
        {{rows}}
        ON CONFLICT (channel_id, day) DO UPDATE SET
            lines = {table}.lines + excluded.lines,
            first_id = {sql.earlier(table, "first_id")},
            last_id = {sql.later(table, "last_id")}"""
    sql.execute_rows(cursor, statement, rows, DAY_TYPES)


# Column types of each statement's rows, in order, for PostgreSQL's arrays.
CHANNEL_TYPES = (
    "text", "text", "boolean", "timestamptz", "timestamptz", "bigint", "timestamptz", "text",
)  # fmt: skip
USER_TYPES = ("text", "text", "timestamptz", "timestamptz", "bigint", "text")
MESSAGE_TYPES = (
    "bigint", "bigint", "bigint", "text", "timestamptz", "text", "jsonb", "bigint", "bytea",
    "boolean", "smallint", "text",
)  # fmt: skip
STATS_TYPES = ("bigint", "bigint", "bigint", "timestamptz", "timestamptz")
BUCKET_TYPES = ("timestamptz", "bigint", "bigint", "bigint")
DAY_TYPES = ("bigint", "date", "bigint", "bigint", "bigint")
CHANNEL_HOUR_TYPES = ("bigint", "timestamptz", "bigint")
USER_DAY_TYPES = ("bigint", "date", "bigint")


# -- channel management ------------------------------------------------------
# Every change to a channel goes through these functions, which announce it
# after commit (channel_changed): the live pages resend their channel totals
# and ingest JOINs or PARTs at its next poll of the table.


def add_channel(name: str) -> Channel:
    """Create the channel, or restore it if it was deleted with its history kept."""
    with transaction.atomic():
        channel, created = Channel.objects.get_or_create(name=name)
        if not created:
            channel.deleted_at = None
            channel.enabled = True
            channel.save(update_fields=["deleted_at", "enabled", "updated_at"])
        _channels_changed([channel.pk])
    return channel


def ensure_channels(names: Iterable[str]) -> list[str]:
    """Create or enable (and undelete) these channels (ingest's --channel and
    TWITCH_CHANNELS). Raises ValidationError naming the first bad name before
    changing anything; returns the normalised names."""
    clean = []
    for name in names:
        login = normalize_login(name)
        validate_twitch_login(login)
        clean.append(login)
    changed = []
    with transaction.atomic():
        for login in clean:
            channel, created = Channel.objects.get_or_create(name=login)
            if not created and (not channel.enabled or channel.deleted_at is not None):
                channel.enabled, channel.deleted_at = True, None
                channel.save(update_fields=["enabled", "deleted_at", "updated_at"])
            elif not created:
                continue  # already archived as asked
            changed.append(channel.pk)
        _channels_changed(changed)
    return clean


def set_channel_enabled(channels: Iterable[Channel], enabled: bool) -> int:
    """Enable or disable channels (a deleted one is enabled only by add_channel)."""
    ids = [channel.pk for channel in channels]
    with transaction.atomic():
        # update() skips auto_now: updated_at is set here.
        updated = Channel.objects.filter(pk__in=ids).update(
            enabled=enabled, updated_at=timezone.now()
        )
        _channels_changed(ids)
    return updated


def set_channel_retention(channel: Channel, days: int | None) -> None:
    """Keep a channel's lines `days` days (None: the RETENTION_DAYS default, 0:
    forever); the running ingest prunes by it at its next pass."""
    with transaction.atomic():
        channel.retention_days = days
        channel.save(update_fields=["retention_days", "updated_at"])
        _channels_changed([channel.pk])


def save_channel(channel: Channel) -> None:
    """Save a channel edited as a whole (the admin's form)."""
    with transaction.atomic():
        channel.save()
        _channels_changed([channel.pk])


def delete_channel(channel: Channel, *, keep_history: bool) -> None:
    """Delete a channel, keeping its messages browsable or deleting them too.

    Keeping history marks the channel deleted (ingest leaves it, the channel list
    hides it). Deleting history removes its messages and takes them off every
    user's counters in the same transaction, so totals stay true.
    """
    pk = channel.pk  # delete() sets it to None
    with transaction.atomic():
        if keep_history:
            channel.enabled = False
            channel.deleted_at = timezone.now()
            channel.save(update_fields=["enabled", "deleted_at", "updated_at"])
        else:
            # Take the writers' lock first: store_batch locks the channel row
            # and then user rows, this the other way round (a deadlock on
            # PostgreSQL without it).
            with sql.write_cursor() as cursor:
                lock_message_ids(cursor)
            _subtract_user_totals(channel)
            _subtract_buckets(channel)
            channel.delete()
        _channels_changed([pk])


def _channels_changed(ids: Iterable[int]) -> None:
    """Announce after commit; robust: a failing receiver is logged, never
    reported as a failed write."""
    ids = list(ids)

    def announce() -> None:
        for pk in ids:
            channel_changed.send(sender=Channel, channel_id=pk)

    if ids:
        transaction.on_commit(announce, robust=True)


def _subtract_buckets(channel: Channel) -> None:
    """Take the channel's chat off the minute buckets (home: last minute, last
    hour) and off its users' days (the profile chart), dropping the rows it
    leaves empty; its hours (ChannelHour) go with the channel row. One read of
    the channel's times through its index, grouped here."""
    minutes, days = Counter(), Counter()
    rows = Message.objects.filter(channel=channel, kind__in=COUNTED_KINDS)
    for user_id, sent_at in rows.values_list("user_id", "sent_at").iterator(chunk_size=10_000):
        minutes[sent_at.replace(second=0, microsecond=0)] += 1
        days[user_id, sent_at.astimezone(UTC).date()] += 1
    to_db = sql.datetime_adapter()
    as_text = sql.vendor() == "sqlite"  # the sqlite3 date adapter is deprecated
    params = [(n, to_db(minute.astimezone(UTC))) for minute, n in minutes.items()]
    user_days = [(n, pk, day.isoformat() if as_text else day) for (pk, day), n in days.items()]
    with connection.cursor() as cursor:
        _subtract_counts(cursor, ActivityBucket, "minute = %s", params)
        _subtract_counts(cursor, UserDay, "user_id = %s AND day = %s", user_days)


def _subtract_counts(cursor, model, where: str, params: list[tuple]) -> None:
    """count -= n for each (n, *key), then drop the rows of those keys left at 0."""
    table = sql.table(model)
    cursor.executemany(f"UPDATE {table} SET count = count - %s WHERE {where}", params)
    cursor.executemany(f"DELETE FROM {table} WHERE {where} AND count <= 0",
                       [key for _n, *key in params])  # fmt: skip


def _subtract_user_totals(channel: Channel) -> None:
    users, stats = sql.table(ChatUser), sql.table(UserChannelStats)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {users} SET total_messages = total_messages - (
                    SELECT s.total_messages FROM {stats} s
                    WHERE s.user_id = {users}.id AND s.channel_id = %s)
                WHERE id IN (SELECT user_id FROM {stats} WHERE channel_id = %s)""",
            [channel.pk, channel.pk],
        )
