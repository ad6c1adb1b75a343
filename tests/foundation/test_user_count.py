"""The number of chat users on the home page: PostgreSQL keeps it by triggers
(migration 0023), which must agree with COUNT(*) after every kind of change."""

from __future__ import annotations

import pytest
from django.db import connection

from messages_app import erasure
from messages_app.models import ChatUser
from tests.conftest import chat

pytestmark = pytest.mark.django_db(transaction=True)


def counted() -> tuple[int, int]:
    return ChatUser.objects.total(), ChatUser.objects.count()


def test_the_kept_total_follows_inserts_updates_and_deletions(store):
    store(chat(username="alice"), chat(username="bob"), chat(username="alice"))
    assert counted() == (2, 2)
    store(chat(username="bob"), chat(username="carol"))  # bob's row is updated, not added
    assert counted() == (3, 3)
    ChatUser.objects.filter(username="carol").delete()
    assert counted() == (2, 2)
    assert ChatUser.objects.filter(username="bob").total() == 1  # filtered: a real count


def test_erasure_takes_the_user_out_of_the_total(store):
    store(chat(username="alice"), chat(username="bob"))
    erasure.opt_out("user", login="alice", by="test")
    erasure.erase_pending()
    assert counted() == (1, 1)


def test_a_truncated_table_counts_zero():
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE and its trigger are PostgreSQL's")
    ChatUser.objects.create(username="alice", first_seen_at="2026-01-01T00:00Z",
                            last_seen_at="2026-01-01T00:00Z")  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE messages_app_chatuser CASCADE")
    assert counted() == (0, 0)
