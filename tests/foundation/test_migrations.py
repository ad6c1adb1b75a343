"""Migrating an existing archive forward fills what the stored lines know."""

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
