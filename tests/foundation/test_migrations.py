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
