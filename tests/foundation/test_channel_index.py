"""The channel index (migration 0021): on SQLite it is on channel_id alone,
since every SQLite index ends with the rowid (the message id), and a channel's
newest-first page still walks it without sorting; PostgreSQL keeps
(channel_id, id DESC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from messages_app.models import Channel, Message
from tests.conftest import chat
from tests.foundation.test_tag_sets import migrate

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)


def index_columns() -> list[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM pragma_index_info('message_channel_idx')")
        else:
            cursor.execute(
                """SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                   WHERE c.relname = 'message_channel_idx'
                   ORDER BY array_position(i.indkey::int2[], a.attnum)"""
            )
        return [name for (name,) in cursor.fetchall()]


def test_a_channels_page_walks_the_channel_index_newest_first_without_a_sort(store):
    store(*[chat("forsen" if n % 3 else "xqc", text=f"line {n}", sent_at=T0 + timedelta(seconds=n))
            for n in range(60)])  # fmt: skip
    forsen = Channel.objects.get(name="forsen")
    newest = Message.objects.filter(channel=forsen).order_by("-id")
    cursor = newest[10].id
    page = newest.filter(id__lt=cursor)[:20]
    plan = page.explain()
    if connection.vendor == "sqlite":
        assert "INDEX message_channel_idx (channel_id=? AND rowid<?)" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    else:  # the month's partition's copy of the index
        assert "_channel_id_id_idx" in plan and "Sort" not in plan, plan
    expected = [m.id for m in Message.objects.all() if m.channel_id == forsen.pk and m.id < cursor]
    assert [m.id for m in page] == sorted(expected, reverse=True)[:20]
    if connection.vendor == "sqlite":
        assert index_columns() == ["channel_id"]
    else:
        assert index_columns() == ["channel_id", "id"]


@pytest.mark.django_db(transaction=True)
def test_migration_0021_goes_back_to_the_index_with_the_id():
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's index does not change")
    try:
        migrate("0020_twitch_ids_as_bytes")
        assert index_columns() == ["channel_id", "id"]
    finally:
        migrate()
    assert index_columns() == ["channel_id"]


def test_a_users_lines_in_a_channel_are_read_by_the_users_index(store):
    """The logs API's user scope: a quiet user's lines are found in their own
    index, not by reading the channel's (logs_api/reads.Scope)."""
    from logs_api.reads import FIELDS, Scope
    from messages_app.models import ChatUser

    store(*[chat("forsen", "chatty" if n % 10 else "quiet", sent_at=T0 + timedelta(seconds=n))
            for n in range(50)], chat("xqc", "quiet", sent_at=T0))  # fmt: skip
    scope = Scope(Channel.objects.get(name="forsen"), ChatUser.objects.get(username="quiet"))
    lines = scope.queryset().filter(id__gte=1).order_by("id").values_list(*FIELDS)
    plan = lines.explain()
    if connection.vendor == "sqlite":
        assert "message_user_idx (user_id=? AND id>?)" in plan, plan
    assert [row[2] for row in lines] == ["hello"] * 5  # the 5 in forsen, not the one in xqc
    assert {m.channel.name for m in scope.queryset()} == {"forsen"}


@pytest.mark.parametrize("by", ["channel", "user"])
def test_the_moderation_lists_read_their_partial_indexes(store, by):
    """A channel's or a user's timeouts and bans (pages.timeouts_and_bans) come
    from the partial index of moderation rows, not from every line: SQLite
    breaks a tie between indexes for the one made last, so migration 0021 makes
    the partial ones again after the channel index."""
    from messages_app import pages
    from messages_app.models import ChatUser, Kind

    store(chat("forsen", "troll", sent_at=T0),
          chat("forsen", "troll", "", kind=Kind.CLEARCHAT, sent_at=T0 + timedelta(seconds=1),
               tags={"target-user-id": "5", "ban-duration": "60"}))  # fmt: skip
    scope = {"channel": Channel.objects.get()} if by == "channel" else {}
    if by == "user":
        scope["user"] = ChatUser.objects.get(username="troll")
    qs = Message.objects.filter(pages.MODERATION_ROWS).filter(kind=Kind.CLEARCHAT)
    qs = qs.for_channel(scope["channel"]) if by == "channel" else qs.for_user(scope["user"])
    plan = pages.row_fields(qs).order_by("-id")[:20].explain()
    if connection.vendor == "sqlite":
        assert f"message_mod_{by}_idx" in plan, plan
    assert [m.kind for m in pages.timeouts_and_bans(**scope)] == [Kind.CLEARCHAT]


def test_a_users_page_in_one_channel_reads_the_users_index(store):
    """The profile with a channel filter (and /messages?user=&channel=): the
    user's index, which holds the channel, not every line of the channel."""
    from messages_app.models import ChatUser

    store(*[chat("forsen", "chatty" if n % 10 else "quiet", sent_at=T0 + timedelta(seconds=n))
            for n in range(50)])  # fmt: skip
    quiet = ChatUser.objects.get(username="quiet")
    page = Message.objects.for_channel(Channel.objects.get()).for_user(quiet).order_by("-id")
    plan = page[:51].explain()
    if connection.vendor == "sqlite":
        assert "message_user_idx" in plan, plan
    assert len(page[:51]) == 5
