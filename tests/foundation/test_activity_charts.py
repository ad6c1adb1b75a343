"""The activity charts' buckets (ChannelHour, UserDay) count exactly the chat
and notices stored, through the write path, erasure, retention, the delete
of a channel with its history, a renamed channel absorbing a row, and the
migration that fills them from an archive."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from messages_app import erasure, retention
from messages_app.models import (
    COUNTED_KINDS,
    Channel,
    ChannelHour,
    ChatUser,
    Kind,
    Message,
    OptOut,
    UserDay,
)
from messages_app.writes import delete_channel
from tests.conftest import chat

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)  # two hours before midnight UTC
ROOMS = {"forsen": "1", "xqc": "2"}
USERS = {"alice": "10", "bob": "20"}
DELETION = {"room-id": "2", "target-msg-id": "x", "login": "bob"}


def line(channel: str, login: str, minutes: float, kind: int = Kind.PRIVMSG, **extra):
    tags = {"room-id": ROOMS.get(channel, "99"), "user-id": USERS[login]}
    if kind == Kind.CLEARCHAT:
        tags = {"room-id": ROOMS[channel], "target-user-id": USERS[login], "ban-duration": "60"}
    tags = extra.pop("tags", tags)
    return chat(channel, login, f"{login} in {channel}", kind=kind, tags=tags,
                sent_at=T0 + timedelta(minutes=minutes), **extra)  # fmt: skip


def hour(minutes: float) -> datetime:
    return (T0 + timedelta(minutes=minutes)).replace(minute=0, second=0, microsecond=0)


def day(minutes: float) -> date:
    return (T0 + timedelta(minutes=minutes)).date()


def channel_hours() -> dict:
    rows = ChannelHour.objects.values_list("channel__name", "hour", "count")
    return {(name, at): n for name, at, n in rows}


def user_days() -> dict:
    return {(name, d): n for name, d, n in UserDay.objects.values_list("user__username", "day",
                                                                       "count")}  # fmt: skip


def assert_buckets_exact() -> None:
    """Both tables equal a recount of the stored chat and notices, and no row is
    left at 0 (an empty hour or day has no row, as if never written)."""
    hours, days = Counter(), Counter()
    rows = Message.objects.filter(kind__in=COUNTED_KINDS)
    for channel, login, sent_at in rows.values_list("channel__name", "user__username", "sent_at"):
        hours[channel, sent_at.replace(minute=0, second=0, microsecond=0)] += 1
        days[login, sent_at.date()] += 1
    assert channel_hours() == dict(hours)
    assert user_days() == dict(days)


@pytest.fixture
def archive(store):
    """alice and bob in #forsen and #xqc over 22:00-01:30 UTC (two days), with
    notices, a timeout and a deletion (which count nothing), in two batches."""
    store(
        line("forsen", "alice", 0),
        line("forsen", "alice", 5),
        line("forsen", "bob", 10, kind=Kind.USERNOTICE, system_text="bob subscribed"),
        line("xqc", "alice", 20),
        line("forsen", "bob", 61),  # 23:01
        line("forsen", "bob", 62, kind=Kind.CLEARCHAT),  # a timeout: not chat
    )
    store(
        line("forsen", "alice", 30),  # the first hour again, in a later batch
        line("forsen", "alice", 125),  # 00:05 the next day
        line("xqc", "bob", 150),
        line("xqc", "bob", 151, kind=Kind.CLEARMSG, tags=DELETION),
    )


def test_it_counts_chat_and_notices_per_channel_hour_and_user_day(archive):
    assert channel_hours() == {
        ("forsen", hour(0)): 4,  # alice x3 (two batches), bob's notice
        ("forsen", hour(61)): 1,
        ("forsen", hour(125)): 1,
        ("xqc", hour(20)): 1,
        ("xqc", hour(150)): 1,
    }
    assert user_days() == {
        ("alice", day(0)): 4,  # three in #forsen, one in #xqc
        ("alice", day(125)): 1,
        ("bob", day(0)): 2,
        ("bob", day(150)): 1,
    }
    assert_buckets_exact()


def test_an_erased_user_leaves_no_chart_bucket_and_the_rest_exact(archive):
    erasure.opt_out(OptOut.Subject.USER, twitch_id="10", login="alice", by="staff")
    erasure.erase_pending(batch_size=2)
    assert not UserDay.objects.filter(user__username="alice").exists()
    assert channel_hours() == {
        ("forsen", hour(0)): 1,
        ("forsen", hour(61)): 1,
        ("xqc", hour(150)): 1,
    }
    assert_buckets_exact()


def test_an_erased_channel_leaves_no_hour_and_its_users_days_exact(archive):
    erasure.opt_out(OptOut.Subject.CHANNEL, twitch_id="1", login="forsen", by="staff")
    erasure.erase_pending(batch_size=3)
    assert not Channel.objects.filter(name="forsen").exists()
    assert user_days() == {("alice", day(0)): 1, ("bob", day(150)): 1}
    assert_buckets_exact()


def test_retention_takes_expired_lines_off_the_charts(archive, settings):
    settings.RETENTION_DAYS = None
    Channel.objects.filter(name="forsen").update(retention_days=1)
    # The cutoff is 23:30 of the first day: #forsen keeps only its line of 00:05.
    removed = retention.prune(now=T0 + timedelta(days=1, minutes=90))
    assert {expiry.name: n for expiry, n in removed.items()} == {"forsen": 6}  # a timeout too
    assert channel_hours() == {
        ("forsen", hour(125)): 1,
        ("xqc", hour(20)): 1,
        ("xqc", hour(150)): 1,
    }
    assert user_days() == {("alice", day(0)): 1, ("alice", day(125)): 1,
                           ("bob", day(150)): 1}  # fmt: skip
    assert_buckets_exact()


def test_deleting_a_channel_with_its_history_takes_it_off_every_users_days(archive):
    delete_channel(Channel.objects.get(name="forsen"), keep_history=False)
    assert not ChannelHour.objects.filter(channel__name="forsen").exists()
    assert user_days() == {("alice", day(0)): 1, ("bob", day(150)): 1}
    assert_buckets_exact()


def test_keeping_a_deleted_channels_history_keeps_its_charts(archive):
    before = (channel_hours(), user_days())
    delete_channel(Channel.objects.get(name="forsen"), keep_history=True)
    assert (channel_hours(), user_days()) == before


def test_a_renamed_channel_absorbs_the_hours_of_the_row_added_for_its_new_name(store):
    store(line("oldchan", "alice", 0, tags={"room-id": "500", "user-id": "10"}))
    Channel.objects.create(name="newchan")  # staff follow the new name...
    store(chat("newchan", "bob", "id-less line", sent_at=T0 + timedelta(minutes=1)),
          chat("newchan", "bob", "later", sent_at=T0 + timedelta(minutes=70)))  # fmt: skip
    assert channel_hours()[("newchan", hour(0))] == 1  # ...and lines without ids arrive
    # Twitch renamed room 500 to newchan: its row absorbs the one staff added.
    store(chat("newchan", "alice", "after", sent_at=T0 + timedelta(minutes=2),
               tags={"room-id": "500", "user-id": "10"}))  # fmt: skip
    channel = Channel.objects.get()
    assert (channel.name, channel.twitch_id) == ("newchan", "500")
    assert channel_hours() == {("newchan", hour(0)): 3, ("newchan", hour(70)): 1}
    assert_buckets_exact()


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def test_the_migration_fills_the_buckets_from_the_stored_messages():
    apps = migrate(("messages_app", "0013_ingest_heartbeat"))
    try:
        channels = apps.get_model("messages_app", "Channel").objects
        users = apps.get_model("messages_app", "ChatUser").objects
        messages = apps.get_model("messages_app", "Message").objects
        forsen, xqc = channels.create(name="forsen"), channels.create(name="xqc")
        seen = {"first_seen_at": T0, "last_seen_at": T0}
        alice = users.create(username="alice", **seen)
        bob = users.create(username="bob", **seen)
        for pk, (channel, user, minutes, kind) in enumerate([
            (forsen, alice, 0, Kind.PRIVMSG),
            (forsen, alice, 59.99, Kind.PRIVMSG),  # 22:59:59.4: still the first hour
            (forsen, bob, 60, Kind.USERNOTICE),
            (forsen, bob, 61, Kind.CLEARCHAT),  # not counted
            (xqc, alice, 120, Kind.PRIVMSG),  # midnight: the next day
            (xqc, None, 121, Kind.CLEARCHAT),  # a clear of the chat: no user
        ], start=1):  # fmt: skip
            messages.create(id=pk, channel=channel, user=user, kind=kind, text="hi",
                                   sent_at=T0 + timedelta(minutes=minutes))  # fmt: skip
        apps = migrate(("messages_app", "0014_activity_charts"))
        hours = apps.get_model("messages_app", "ChannelHour").objects
        assert {(h.channel_id, h.hour): h.count for h in hours.all()} == {
            (forsen.pk, hour(0)): 2, (forsen.pk, hour(60)): 1, (xqc.pk, hour(120)): 1}  # fmt: skip
        days = apps.get_model("messages_app", "UserDay").objects
        assert {(d.user_id, d.day): d.count for d in days.all()} == {
            (alice.pk, day(0)): 2, (bob.pk, day(0)): 1, (alice.pk, day(120)): 1}  # fmt: skip
    finally:
        migrate(("messages_app", max_migration()))
    # The write path's upserts meet the rows the migration wrote (same keys).
    from messages_app.writes import store_batch

    store_batch([chat("forsen", "alice", sent_at=T0 + timedelta(minutes=30))])
    assert ChannelHour.objects.get(channel__name="forsen", hour=hour(0)).count == 3
    alice_day = UserDay.objects.get(user=ChatUser.objects.get(username="alice"), day=day(0))
    assert alice_day.count == 3


def max_migration() -> str:
    executor = MigrationExecutor(connection)
    return max(name for app, name in executor.loader.graph.leaf_nodes() if app == "messages_app")
