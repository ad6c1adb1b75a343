"""Migrating an existing archive forward fills what the stored lines know."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE, AFTER = ("messages_app", "0006_every_chat_event"), ("messages_app", "0007_twitch_ids")


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def test_it_fills_twitch_ids_and_the_name_history_from_stored_tags():
    apps = migrate(BEFORE)
    try:
        Channel = apps.get_model("messages_app", "Channel")
        ChatUser = apps.get_model("messages_app", "ChatUser")
        Message = apps.get_model("messages_app", "Message")
        forsen = Channel.objects.create(name="forsen")
        seen = {"first_seen_at": "2025-01-01T00:00Z", "last_seen_at": "2025-01-02T00:00Z"}
        alice = ChatUser.objects.create(username="alice", **seen)
        legacy = ChatUser.objects.create(username="legacy", **seen)
        # A user renamed before this version: two rows, one Twitch account.
        older = ChatUser.objects.create(
            username="oldbob", first_seen_at="2024-01-01T00:00Z", last_seen_at="2024-06-01T00:00Z"
        )
        newer = ChatUser.objects.create(username="bob", **seen)
        for user, tags in (
            (alice, {"user-id": "1", "room-id": "900"}),
            (legacy, {}),
            (older, {"user-id": "2"}),
            (newer, {"user-id": "2"}),
        ):
            Message.objects.create(
                channel=forsen, user=user, text="hi", sent_at="2025-01-01T00:00Z", tags=tags
            )
        apps = migrate(AFTER)
        ChatUser = apps.get_model("messages_app", "ChatUser")
        ids = dict(ChatUser.objects.values_list("username", "twitch_id"))
        assert ids == {"alice": "1", "legacy": None, "bob": "2", "oldbob": None}
        assert apps.get_model("messages_app", "Channel").objects.get().twitch_id == "900"
        names = apps.get_model("messages_app", "ChatUserName").objects
        assert sorted(names.values_list("login", flat=True)) == ["alice", "bob", "legacy", "oldbob"]
    finally:
        migrate(("messages_app", max_migration()))


def max_migration() -> str:
    executor = MigrationExecutor(connection)
    return max(name for app, name in executor.loader.graph.leaf_nodes() if app == "messages_app")


def test_it_fills_the_days_of_every_channel_from_the_stored_lines():
    apps = migrate(("messages_app", "0007_twitch_ids"))
    try:
        Channel = apps.get_model("messages_app", "Channel")
        ChatUser = apps.get_model("messages_app", "ChatUser")
        Message = apps.get_model("messages_app", "Message")
        forsen, xqc = Channel.objects.create(name="forsen"), Channel.objects.create(name="xqc")
        seen = {"first_seen_at": "2025-01-01T00:00Z", "last_seen_at": "2025-01-02T00:00Z"}
        alice = ChatUser.objects.create(username="alice", **seen)
        ids = [
            Message.objects.create(channel=channel, user=alice, text="hi", sent_at=at, kind=kind).id
            for channel, at, kind in (
                (forsen, "2025-01-01T23:59:59Z", 1),
                (xqc, "2025-01-01T12:00Z", 1),
                (forsen, "2025-01-02T00:00Z", 2),  # a timeout counts as a line of the day
                (forsen, "2025-01-01T00:00Z", 1),  # stored later, sent earlier
            )
        ]
        apps = migrate(("messages_app", "0008_api_days_and_optouts"))
        days = apps.get_model("messages_app", "ChannelDay").objects
        rows = {
            (d.channel.name, d.day.isoformat()): (d.lines, d.first_id, d.last_id)
            for d in days.all()
        }
        assert rows == {
            ("forsen", "2025-01-01"): (2, ids[0], ids[3]),
            ("xqc", "2025-01-01"): (1, ids[1], ids[1]),
            ("forsen", "2025-01-02"): (1, ids[2], ids[2]),
        }
    finally:
        migrate(("messages_app", max_migration()))


def test_it_renumbers_an_archive_so_that_ids_follow_the_time_sent():
    from messages_app import message_ids
    from messages_app.search import newest_matches

    apps = migrate(("messages_app", "0011_channel_retention_days"))
    try:
        Channel = apps.get_model("messages_app", "Channel")
        Message = apps.get_model("messages_app", "Message")
        forsen = Channel.objects.create(name="forsen")
        restart_message_ids()  # as in an archive made before 0012: ids from 1
        sent = ["2025-01-01T10:00:00Z", "2024-12-31T23:00:00Z", "2025-01-01T10:00:00Z",
                "2025-01-01T09:59:30Z"]  # fmt: skip
        for n, at in enumerate(sent):  # arrival order: ids 1-4, not time order
            Message.objects.create(channel=forsen, text=f"needle {n}", sent_at=at, kind=1)
        apps = migrate(("messages_app", "0012_time_ordered_ids"))
        Message = apps.get_model("messages_app", "Message")
        rows = list(Message.objects.order_by("id").values_list("id", "text"))
        assert [text for _, text in rows] == ["needle 1", "needle 3", "needle 0", "needle 2"]
        ten = message_ids.slot(datetime(2025, 1, 1, 10, tzinfo=UTC))
        assert [id_ for id_, _ in rows][2:] == [ten, ten + 1]  # one microsecond apart
        days = apps.get_model("messages_app", "ChannelDay").objects.order_by("day")
        assert [(d.day.isoformat(), d.lines, d.first_id, d.last_id) for d in days] == [
            ("2024-12-31", 1, rows[0][0], rows[0][0]),
            ("2025-01-01", 3, rows[1][0], rows[3][0]),
        ]
        buckets = apps.get_model("messages_app", "ActivityBucket").objects.order_by("minute")
        assert [(b.count, b.first_id, b.last_id) for b in buckets] == [
            (1, rows[0][0], rows[0][0]), (1, rows[1][0], rows[1][0]), (2, ten, ten + 1),
        ]  # fmt: skip
    finally:
        migrate(("messages_app", max_migration()))
    # The search index follows the new ids (SQLite rebuilds it).
    from messages_app.models import Message as Current

    found = newest_matches(Current.objects.all(), "needle", 10)
    assert [m.text for m in found] == ["needle 2", "needle 0", "needle 3", "needle 1"]


def restart_message_ids() -> None:
    """Make the next autoincrement message id 1, whatever earlier tests stored."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DELETE FROM sqlite_sequence WHERE name = 'messages_app_message'")
        else:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('messages_app_message', 'id'), 1, false)"
            )


def test_sent_at_is_worked_out_from_the_id_and_back_to_the_microsecond():
    """0022: on SQLite a row keeps id - the microsecond sent (0 for most lines)
    and sent_at is computed from it; every time comes back exact, both ways,
    also for lines nudged off their microsecond, history and a clock ahead."""
    from messages_app.models import Message as Current
    from messages_app.writes import store_batch
    from tests.conftest import chat

    base = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    now = datetime.now(UTC).replace(microsecond=0)
    times = [
        base, base, base,  # one millisecond, three lines: nudged ids
        base.replace(microsecond=123_456), base.replace(second=59, microsecond=999_999),
        datetime(2019, 7, 4, 23, 59, 59, 500_000, tzinfo=UTC),  # history (an import)
        now, now + timedelta(hours=2),  # a clock ahead: its id is now, not then
    ]  # fmt: skip
    store_batch([chat(text=f"line {n}", sent_at=at) for n, at in enumerate(times)])
    stored = dict(Current.objects.values_list("id", "sent_at"))
    assert sorted(stored.values()) == sorted(times)
    lags = list(Current.objects.order_by("id").values_list("sent_lag", flat=True))
    if connection.vendor == "sqlite":
        assert sorted(lags)[1:] == [0, 0, 0, 0, 0, 1, 2]
        assert -2 * 3600 * 10**6 < sorted(lags)[0] < -3600 * 10**6  # the clock ahead
        assert Current.objects.filter(sent_at__gte=now + timedelta(hours=1)).count() == 1
    else:
        assert lags == [None] * len(times)  # PostgreSQL keeps sent_at itself
    try:
        apps = migrate(("messages_app", "0021_sqlite_channel_index"))
        Old = apps.get_model("messages_app", "Message")
        assert dict(Old.objects.values_list("id", "sent_at")) == stored
        if connection.vendor == "sqlite":  # PostgreSQL: ids come from the write path only
            # A line stored before 0022 by the ORM of then: an id that is not its time.
            Old.objects.create(channel_id=Old.objects.first().channel_id, text="old orm",
                               sent_at=base - timedelta(days=400), kind=1, tags={})  # fmt: skip
            stored[Old.objects.get(text="old orm").id] = base - timedelta(days=400)
    finally:
        migrate(("messages_app", max_migration()))
    assert dict(Current.objects.values_list("id", "sent_at")) == stored
