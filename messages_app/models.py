"""The chat archive: channels, chat users, messages and maintained counters.

Counts shown on pages are counters kept by the write path (messages_app.writes),
never COUNT(*) over messages on a request path. Message ids are the cursor for
ordering, pagination, de-duplication and live-update resume.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.db import connection, connections, models
from django.db.models import Q, Subquery
from django.db.models.base import ModelState
from django.db.models.expressions import RawSQL

from messages_app import message_ids, packed_ids, partitions, tag_sets
from messages_app.packed_ids import TwitchIdField
from messages_app.validators import validate_twitch_login


class FastLoad(models.Model):
    """Rows load without Model.__init__: a message page builds four instances
    per row (the message, its channel, user and tag set) and __init__'s
    per-field work was a third of loading them (51 rows: 5.8 -> 3.8 ms of CPU
    on SQLite). Equivalent for these models: their fields keep plain
    attributes (no descriptor of their own that a value must go through), a
    deferred field is one missing from __dict__ exactly as Django leaves it,
    and nothing listens to pre_init or post_init for them."""

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        new = cls.__new__(cls)
        new.__dict__.update(zip(field_names, values, strict=True))  # attnames, in order
        state = new._state = ModelState()
        state.adding = False
        state.db = db
        return new


class ChannelQuerySet(models.QuerySet):
    def active(self) -> ChannelQuerySet:
        """Channels that were not deleted (deleted-with-history ones stay browsable)."""
        return self.filter(deleted_at__isnull=True)

    def to_join(self) -> ChannelQuerySet:
        """Channels a running ingest should be in."""
        return self.active().filter(enabled=True)


class Channel(FastLoad):
    name = models.CharField(max_length=25, unique=True, validators=[validate_twitch_login])
    # Twitch's `room-id`, filled from the first line that carries it.
    twitch_id = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001 (unique when set)
    display_name = models.CharField(max_length=64, blank=True)
    enabled = models.BooleanField(default=True, help_text="Ingest joins enabled channels.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when staff delete the channel but keep its history: ingest leaves it,
    # the channel list hides it, its messages stay browsable.
    deleted_at = models.DateTimeField(null=True, blank=True)
    total_messages = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    # Days a line of this channel is kept (messages_app/retention.py).
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        verbose_name="retention (days)",
        help_text="Lines older than this many days are removed. Empty: the RETENTION_DAYS "
        "setting; 0: kept forever.",
    )

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["twitch_id"],
                condition=models.Q(twitch_id__isnull=False),
                name="channel_twitch_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.name = (self.name or "").strip().lstrip("#").lower()
        super().save(*args, **kwargs)

    @property
    def label(self) -> str:
        return self.display_name or self.name


@models.CharField.register_lookup
class Substring(models.Lookup):
    """`field__substring="x"`: the value contains x, case-sensitively (names are
    stored lowercase). Django's `contains` is LIKE '%x%', which SQLite compares
    case-insensitively and which scanned 50,000 user names in 9.3 ms; GLOB
    '*x*' takes 4.9 ms. PostgreSQL: strpos()."""

    lookup_name = "substring"

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"strpos({lhs}, %s) > 0", [*params, self.rhs]

    def as_sqlite(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        # GLOB's own wildcards and sets, each made a literal set of one.
        literal = "".join(f"[{c}]" if c in "*?[" else c for c in self.rhs)
        return f"{lhs} GLOB %s", [*params, f"*{literal}*"]


NAME_INDEX = "messages_app_chatuser_name"  # SQLite FTS5, trigram tokenizer
INDEXED_FRAGMENT = re.compile(r"[a-z0-9_]{3,}")  # trigrams of a Twitch login, no wildcards


class ChatUserQuerySet(models.QuerySet):
    def total(self) -> int:
        """count(), which for every user of a PostgreSQL archive is the figure
        its triggers keep (migration 0023): COUNT(*) there reads every row."""
        connection = connections[self.db]
        if connection.vendor == "postgresql" and not self.query.has_filters():
            with connection.cursor() as cursor:
                cursor.execute("SELECT users FROM messages_app_usercount")
                row = cursor.fetchone()
            if row is not None:
                return row[0]
        return self.count()

    def by_activity(self) -> ChatUserQuerySet:
        return self.order_by("-total_messages", "id")

    def name_contains(self, fragment: str) -> ChatUserQuerySet:
        return self.filter(username__substring=fragment.strip().lower())

    def name_contains_indexed(self, fragment: str) -> ChatUserQuerySet:
        """The rows of name_contains(fragment), found through the trigram name
        index of migration 0005 when it can answer (three or more login
        characters): for a fragment few names hold, 0.1 ms instead of reading
        every name (5-20 ms at 50,000 users). Others fall back to the scan."""
        fragment = fragment.strip().lower()
        vendor = connections[self.db].vendor
        if not INDEXED_FRAGMENT.fullmatch(fragment) or vendor not in ("sqlite", "postgresql"):
            return self.name_contains(fragment)
        if vendor == "postgresql":
            return self.filter(username__contains=fragment)  # LIKE: the pg_trgm index
        in_index = RawSQL(
            f"SELECT rowid FROM {NAME_INDEX} WHERE username GLOB %s", [f"*{fragment}*"]
        )
        return self.filter(id__in=in_index)


class ChatUser(FastLoad):
    # The current login: a name that can change. The Twitch `user-id` is the
    # identity when lines carry it; lines without one fall back to the login.
    username = models.CharField(max_length=64, unique=True)
    twitch_id = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001 (unique when set)
    display_name = models.CharField(max_length=64, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    total_messages = models.BigIntegerField(default=0)

    objects = ChatUserQuerySet.as_manager()

    class Meta:
        verbose_name = "chat user"
        indexes = [
            # /users: most active first, paged by (total_messages, id).
            models.Index(fields=["-total_messages", "id"], name="chatuser_activity_idx"),
        ]
        constraints = [
            # Partial, so SQLite adds it as an index instead of rebuilding the table.
            models.UniqueConstraint(
                fields=["twitch_id"],
                condition=models.Q(twitch_id__isnull=False),
                name="chatuser_twitch_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.username

    @property
    def label(self) -> str:
        return self.display_name or self.username


class ChatUserName(models.Model):
    """A login a user had, with the first and last time a line was sent under
    it: the name history (old profile URLs redirect through it)."""

    user = models.ForeignKey(ChatUser, on_delete=models.CASCADE, related_name="names")
    login = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "login"], name="chatusername_user_login"),
        ]
        indexes = [
            # /users/<old login>: redirect to the current one.
            models.Index(fields=["login"], name="chatusername_login_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.login} ({self.user_id})"


class MessageQuerySet(models.QuerySet):
    def newest_first(self) -> MessageQuerySet:
        return self.order_by("-id")

    def for_channel(self, channel: Channel | int) -> MessageQuerySet:
        return self.filter(channel=channel)

    def for_user(self, user: ChatUser | int) -> MessageQuerySet:
        return self.filter(user=user)

    def with_twitch_ids(self, *twitch_ids: str) -> MessageQuerySet:
        """The lines with these Twitch ids; on SQLite through the index on
        their first 4 bytes (migration 0024), which a plain filter misses."""
        qs = self.filter(twitch_id__in=twitch_ids)
        if connection.vendor != "sqlite" or not twitch_ids:
            return qs
        column = f'"{Message._meta.db_table}"."twitch_id"'
        where, params = packed_ids.lookup_sql([packed_ids.pack(i) for i in twitch_ids], column)
        return qs.filter(RawSQL(where, params, output_field=models.BooleanField()))

    def after(self, cursor: int) -> MessageQuerySet:
        """Newer than the cursor (live updates, polling)."""
        return self.filter(id__gt=cursor)

    def before(self, cursor: int) -> MessageQuerySet:
        """Older than the cursor (keyset pagination)."""
        return self.filter(id__lt=cursor)

    def sent_between(self, since: datetime | None, until: datetime | None) -> MessageQuerySet:
        """Filter by sent_at, narrowed first to an id range from the minute buckets.

        Messages carry no sent_at index (it would slow every insert); the buckets
        map a time range to the ids stored in it, so the primary key does the work.
        """
        if since is None and until is None:
            return self
        bounds = ActivityBucket.objects.id_range(since, until)
        if bounds is None:
            return self.none()
        qs = self.filter(id__gte=bounds[0], id__lte=bounds[1])
        if since is not None:
            qs = qs.filter(sent_at__gte=since)
        if until is not None:
            qs = qs.filter(sent_at__lt=until)
        return qs

    def with_related(self) -> MessageQuerySet:
        return self.select_related("channel", "user", "tag_set")


class Kind(models.IntegerChoices):
    """The IRC command of an archived line, numbered as the chat-log API
    (justlog, rustlog) numbers them."""

    PRIVMSG = 1, "chat"
    CLEARCHAT = 2, "timeout, ban or clear"
    USERNOTICE = 4, "notice"
    CLEARMSG = 13, "deleted message"


# What total_messages counts: what people wrote or did, never moderation.
COUNTED_KINDS = frozenset({Kind.PRIVMSG, Kind.USERNOTICE})


class TagSet(FastLoad):
    """Tags that lines of a user share, stored once: see messages_app/tag_sets.py.
    Erased with its user. `channel` is set only on the sets of migration 0015,
    made per channel (they are erased with it too)."""

    digest = models.BinaryField(max_length=16, unique=True)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", null=True)
    user = models.ForeignKey(ChatUser, on_delete=models.CASCADE, related_name="+", null=True)
    tags = models.JSONField(default=dict)

    def __str__(self) -> str:
        return f"tag set {self.id}"


# SQLite: sent_at as Django stores it ("YYYY-MM-DD HH:MM:SS[.ffffff]", UTC),
# worked out from the id (the microsecond sent, message_ids.py) less sent_lag.
SENT_AT_SQL = (
    "strftime('%Y-%m-%d %H:%M:%S', (id - IFNULL(sent_lag, 0)) / 1000000, 'unixepoch')"
    " || CASE WHEN (id - IFNULL(sent_lag, 0)) % 1000000 THEN"
    " printf('.%06d', (id - IFNULL(sent_lag, 0)) % 1000000) ELSE '' END"
)


class SentAtField(models.DateTimeField):
    """When a message was sent. On SQLite a virtual generated column (migration
    0022): the id already holds the time to the microsecond, so the row keeps
    only `sent_lag`, the id less that time: 0 for nearly every line, and SQLite
    stores a 0 in no bytes, where the text took 26. The ORM leaves a generated
    column out of INSERT and UPDATE (Message.save sets sent_lag instead);
    reads, filters and RETURNING see the time as before. PostgreSQL keeps a
    timestamptz column (8 bytes; its partitions are ranges of ids)."""

    db_persist = False

    @property
    def generated(self) -> bool:  # Field.generated is a class attribute
        return connection.vendor == "sqlite"

    def generated_sql(self, connection) -> tuple[str, tuple]:
        return SENT_AT_SQL.replace("%", "%%"), ()  # the schema editor formats it


class Message(FastLoad):
    # No single-column FK indexes: the (channel, id) and (user, id) indexes below
    # serve those lookups too, and every index costs the write path.
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    # NULL only for a clear of the whole chat (a CLEARCHAT without a target).
    user = models.ForeignKey(
        ChatUser, on_delete=models.CASCADE, related_name="messages", db_index=False, null=True
    )
    kind = models.SmallIntegerField(choices=Kind, default=Kind.PRIVMSG)
    text = models.TextField()
    # A USERNOTICE's `system-msg` ("alice subscribed for 12 months!"), searchable.
    system_text = models.TextField(blank=True, default="")
    # Set on a message a moderator deleted (CLEARMSG): when.
    deleted_at = models.DateTimeField(null=True, blank=True)
    sent_at = SentAtField()
    # SQLite: id - the microsecond sent (SentAtField); NULL on PostgreSQL.
    sent_lag = models.BigIntegerField(null=True, blank=True, editable=False)
    # Twitch's message `id` tag: a line seen twice (reconnect, replay) is stored
    # once, by the write path (writes._drop_duplicates), not by a constraint.
    # 16 bytes on SQLite (packed_ids.py), indexed by its first 4 there and
    # whole in each monthly partition on PostgreSQL: look lines up with
    # MessageQuerySet.with_twitch_ids, which names the SQLite index's key.
    twitch_id = TwitchIdField(max_length=64, null=True, blank=True)
    # The line's own tags; those it shares with the user's other lines are in
    # tag_set (all of them here when it is null): tag_sets.py.
    tags = models.JSONField(default=dict, blank=True)
    # The client-nonce tag as 16 bytes when it is 32 hex digits (17 bytes
    # stored, not 51 of JSON); any other stays in `tags`.
    client_nonce = models.BinaryField(max_length=16, null=True, blank=True)
    # No constraint and no index: the write path checks the sets it refers to,
    # and a set goes only with its channel or user, whose lines go first.
    tag_set = models.ForeignKey(
        TagSet, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
        null=True, blank=True, related_name="+",
    )  # fmt: skip
    is_action = models.BooleanField(default=False, help_text="Sent with /me")

    objects = MessageQuerySet.as_manager()

    class Meta:
        indexes = [
            # /channels/<name> and the channel filter: newest first within a channel.
            # (On SQLite the index is on channel_id alone, rowid = id: migration 0021.)
            models.Index(fields=["channel", "-id"], name="message_channel_idx"),
            # /users/<name>: a user's messages newest first. channel_id rides
            # along so the channel filter (profile, /messages?user=&channel=) is
            # tested in the index instead of on each table row: 4.2 -> 0.45 ms
            # for an active user on the 1M-message archive.
            models.Index(fields=["user", "-id", "channel"], name="message_user_idx"),
            # Timeouts, bans and deletions of a channel and of a user (the
            # channel page's and the profile's moderation lists): a few rows
            # among millions, so partial indexes that hold only them.
            models.Index(
                fields=["channel", "-id"],
                condition=models.Q(kind__in=[Kind.CLEARCHAT, Kind.CLEARMSG]),
                name="message_mod_channel_idx",
            ),
            models.Index(
                fields=["user", "-id"],
                condition=models.Q(kind__in=[Kind.CLEARCHAT, Kind.CLEARMSG]),
                name="message_mod_user_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.id} {self.text[:40]}"

    def save(self, *args, **kwargs) -> None:
        """A message made through the ORM (tests, the shell; ingest uses
        writes.store_batch) gets its id from the time it was sent, as every
        message does (message_ids.py)."""
        if self._state.adding:
            connection.ensure_connection()
            cursor = connection.connection.cursor()
            try:
                if self.pk is None:
                    self.pk = message_ids.assign(cursor, [self.sent_at])[0]
                    kwargs["force_insert"] = True
                if connection.vendor == "sqlite":
                    self.sent_lag = message_ids.lag(self.pk, self.sent_at)
                partitions.ensure(cursor, [self.pk])  # PostgreSQL: the month's partition
            finally:
                cursor.close()
        super().save(*args, **kwargs)

    @property
    def all_tags(self) -> dict:
        """The line's tags as Twitch sent them (its own and its tag set's)."""
        own = self.tags if isinstance(self.tags, dict) else {}
        nonce = self.client_nonce
        if self.tag_set_id is None:
            return tag_sets.join(None, own, self.twitch_id, self.sent_at, nonce=nonce)
        shared = self.tag_set.tags
        room = self.channel.twitch_id if tag_sets.needs_room(shared) else None
        return tag_sets.join(shared, own, self.twitch_id, self.sent_at, room, nonce)

    @property
    def color(self) -> str:
        return self.all_tags.get("color", "")


class PendingDeletion(models.Model):
    """A CLEARMSG whose target message is not stored (yet): the write path marks
    the target deleted when it arrives (a backfill, an import), then drops the
    row. Almost always empty."""

    target_twitch_id = TwitchIdField(max_length=64, unique=True)
    deleted_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"deletion of {self.target_twitch_id} pending"


class UserChannelStats(FastLoad):
    """How much one user wrote in one channel (the profile's per-channel table)."""

    # The unique (user, channel) constraint is the index for user lookups.
    user = models.ForeignKey(
        ChatUser, on_delete=models.CASCADE, related_name="channel_stats", db_index=False
    )
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="user_stats")
    total_messages = models.BigIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        verbose_name = "user channel stats"
        verbose_name_plural = "user channel stats"
        constraints = [
            # Also the index for a profile's channel list (user_id first).
            models.UniqueConstraint(fields=["user", "channel"], name="userchannelstats_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.channel_id}: {self.total_messages}"


class ActivityBucketQuerySet(models.QuerySet):
    def since(self, moment: datetime) -> int:
        """Chat and notices sent since `moment`, to the microsecond (home: last
        minute, last hour): see since_parts."""
        whole, edge_rows = self.since_parts(moment)
        return (whole.aggregate(n=models.Sum("v"))["n"] or 0) + edge_rows.count()

    def since_parts(self, moment: datetime) -> tuple[models.QuerySet, models.QuerySet]:
        """What since() adds up: the whole minutes after moment's, from their
        counts (the buckets, with the count as `v`), and moment's own minute
        by its rows from `moment` on (found by the bucket's id range: at most a
        minute of rows, on the primary key)."""
        edge = moment.replace(second=0, microsecond=0)
        bucket = self.filter(minute=edge)
        edge_rows = Message.objects.filter(
            id__gte=Subquery(bucket.values("first_id")[:1]),
            id__lte=Subquery(bucket.values("last_id")[:1]),
            sent_at__gte=moment,
            sent_at__lt=edge + timedelta(minutes=1),
            kind__in=COUNTED_KINDS,
        )
        return self.filter(minute__gt=edge).values(v=models.F("count")), edge_rows

    def id_range(self, since: datetime | None, until: datetime | None) -> tuple[int, int] | None:
        window = self.window(since, until)
        return None if window is None else window[:2]

    def window(self, since: datetime | None, until: datetime | None) -> tuple[int, int, int] | None:
        """(lowest id, highest id, chat and notices) of the minutes from since's
        to until's, or None when none has lines."""
        q = Q()
        if since is not None:
            q &= Q(minute__gte=since.replace(second=0, microsecond=0))
        if until is not None:
            q &= Q(minute__lt=until)
        row = self.filter(q).aggregate(
            lo=models.Min("first_id"), hi=models.Max("last_id"), lines=models.Sum("count")
        )
        if row["lo"] is None:
            return None
        return row["lo"], row["hi"], int(row["lines"])


class ActivityBucket(models.Model):
    """Messages per minute of sent_at, with the lowest and highest id stored in it."""

    minute = models.DateTimeField(primary_key=True)
    count = models.BigIntegerField(default=0)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()

    objects = ActivityBucketQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M}: {self.count}"


class ChannelDay(models.Model):
    """The lines (every kind) of one channel on one UTC day, with the lowest and
    highest message id among them: the logs API's list of days, and the id
    range that bounds a day's or a month's scan of that channel (whatever order
    the lines were stored in, an imported day included)."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="days",
                                db_index=False)  # fmt: skip
    day = models.DateField()
    lines = models.BigIntegerField(default=0)
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()

    class Meta:
        constraints = [
            # Also the index of a channel's days, newest first.
            models.UniqueConstraint(fields=["channel", "day"], name="channelday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} on {self.day}: {self.lines}"


class OptOut(models.Model):
    """A user or a channel that asked not to be archived: its new lines are
    dropped by the write path, what was stored of it is erased
    (messages_app/erasure.py; `erased_at` says when that finished) and the logs
    API answers 403 for it. Deleting the row is an opt-in again."""

    class Subject(models.TextChoices):
        USER = "user"
        CHANNEL = "channel"

    subject = models.CharField(max_length=7, choices=Subject)
    # The Twitch id when known (user-id / room-id), else the login at the time.
    twitch_id = models.CharField(max_length=32, blank=True, default="")
    login = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    # Who: "chat" (the user's own code) or the staff member's username.
    by = models.CharField(max_length=150, blank=True, default="")
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "opt-out"
        indexes = [models.Index(fields=["subject", "twitch_id"], name="optout_id_idx"),
                   models.Index(fields=["subject", "login"], name="optout_login_idx")]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.subject} {self.login or self.twitch_id} opted out"


class OptOutCode(models.Model):
    """A one-time code from `POST /api/optout`, valid for a minute: the user
    types `!goknut optout <code>` in an archived channel to opt out."""

    code = models.CharField(max_length=6, unique=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.code


class OptOutEvent(models.Model):
    """The audit list of opt-outs and opt-ins: who, when, of whom."""

    action = models.CharField(max_length=8)  # "opt-out", "opt-in", "erased"
    subject = models.CharField(max_length=7, choices=OptOut.Subject)
    twitch_id = models.CharField(max_length=32, blank=True, default="")
    login = models.CharField(max_length=64, blank=True, default="")
    by = models.CharField(max_length=150, blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)
    detail = models.CharField(max_length=200, blank=True, default="")
    # "erased": [[row id, login], ...] of the user or channel rows erased, for
    # the live `erased` event (open pages remove those rows).
    erased = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.action} of {self.subject} {self.login or self.twitch_id} by {self.by}"


class IngestHeartbeat(models.Model):
    """What a running `manage.py ingest` says about itself every few seconds,
    one row per source, so every web process (on any machine) can tell pages,
    /readyz and /metrics whether chat is arriving (messages_app/ingest/heartbeat.py)."""

    class Source(models.TextChoices):
        TWITCH = "twitch"
        DEMO = "demo"
        REPLAY = "replay"

    source = models.CharField(max_length=8, choices=Source, unique=True)
    connected = models.BooleanField(default=False)  # logged in (a replay: reading)
    channels_joined = models.PositiveIntegerField(default=0)
    last_line_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, default="")
    # How often the writer beats: a row older than a few of these is a dead ingest.
    interval_s = models.FloatField(default=5.0)
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)  # set by a clean exit
    # The database's clock, not the ingest machine's: readers compare it with theirs.
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.source} ingest"


class ChannelHour(models.Model):
    """Chat and notices (COUNTED_KINDS) of one channel in one UTC hour of
    sent_at: the channel page's activity charts (per hour, per day, the
    busiest-hours heatmap), read as a few hundred rows of this table and never
    as a COUNT over messages. Kept by the write path, erasure, retention,
    delete_channel and identity._absorb_channel."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="hours",
                                db_index=False)  # fmt: skip
    hour = models.DateTimeField()  # UTC, minutes and seconds 0
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of the charts' read: one channel's hours since a time.
            models.UniqueConstraint(fields=["channel", "hour"], name="channelhour_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id} at {self.hour:%Y-%m-%d %H}:00: {self.count}"


class UserDay(models.Model):
    """Chat and notices of one user on one UTC day, in every channel: the
    profile's activity chart. Kept as ChannelHour is."""

    user = models.ForeignKey(ChatUser, on_delete=models.CASCADE, related_name="days",
                             db_index=False)  # fmt: skip
    day = models.DateField()
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of the profile chart's read: one user's days since a day.
            models.UniqueConstraint(fields=["user", "day"], name="userday_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.day}: {self.count}"
