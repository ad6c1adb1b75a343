"""Message ids follow the time a line was sent (messages_app/message_ids.py):
every list ordered by id is in time order, history that arrives late (an
import) sits at its time below every live cursor, and new chat always goes
above what live pages have seen."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from messages_app import message_ids
from messages_app.models import ChannelDay, Message
from messages_app.search import newest_matches
from tests.conftest import chat

pytestmark = pytest.mark.django_db


def texts_newest_first() -> list[str]:
    return list(Message.objects.order_by("-id").values_list("text", flat=True))


def test_an_import_of_old_chat_lands_at_its_time_not_on_top(store):
    now = datetime.now(UTC)
    store(
        chat(text="today 1", sent_at=now - timedelta(minutes=2)), chat(text="today 2", sent_at=now)
    )
    cursor = Message.objects.order_by("-id").values_list("id", flat=True).first()
    year_ago = now - timedelta(days=365)
    store(chat(text="last year b", sent_at=year_ago + timedelta(seconds=1)),
          chat(text="last year a", sent_at=year_ago))  # fmt: skip

    assert texts_newest_first() == ["today 2", "today 1", "last year b", "last year a"]
    # Below the live cursor: an open page does not receive last year as new chat.
    assert not Message.objects.after(cursor).exists()


def test_new_chat_a_few_seconds_late_still_reaches_live_pages(store):
    now = datetime.now(UTC)
    store(chat(text="on time", sent_at=now))
    cursor = Message.objects.get().id
    # Another IRC connection's clock, or a slow line: late by less than LATE_S.
    late = now - timedelta(seconds=message_ids.LATE_S - 3)
    store(chat(text="a bit late", sent_at=late))
    assert list(Message.objects.after(cursor).values_list("text", flat=True)) == ["a bit late"]


def test_a_line_from_the_future_cannot_push_later_chat_into_the_past(store):
    store(chat(text="bad clock", sent_at=datetime(2099, 1, 1, tzinfo=UTC)))
    cursor = Message.objects.get().id
    store(chat(text="next", sent_at=datetime.now(UTC)))
    assert list(Message.objects.after(cursor).values_list("text", flat=True)) == ["next"]
    assert cursor <= message_ids.slot(datetime.now(UTC))


def test_lines_of_the_same_millisecond_get_distinct_ids_in_order(store):
    at = datetime(2025, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)
    store(chat(text="live", sent_at=datetime.now(UTC)))  # so the next batches are history
    store(*[chat(text=f"a{n}", sent_at=at) for n in range(3)])
    store(*[chat(text=f"b{n}", sent_at=at) for n in range(3)])  # the same instant, again
    rows = list(Message.objects.filter(sent_at=at).order_by("id").values_list("id", "text"))
    assert [text for _id, text in rows] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    base = message_ids.slot(at)
    assert [id_ for id_, _text in rows] == list(range(base, base + 6))


def test_a_full_millisecond_overflows_into_the_next_free_ids(store, monkeypatch):
    monkeypatch.setattr(message_ids, "WINDOW_US", 4)  # a millisecond of 4 microseconds
    at = datetime(2025, 6, 1, tzinfo=UTC)
    store(chat(text="live", sent_at=datetime.now(UTC)))
    store(*[chat(text=f"x{n}", sent_at=at) for n in range(10)])
    store(*[chat(text=f"y{n}", sent_at=at) for n in range(5)])
    ids = list(Message.objects.filter(sent_at=at).order_by("id").values_list("id", flat=True))
    assert len(set(ids)) == 15
    assert ids == list(range(message_ids.slot(at), message_ids.slot(at) + 15))


def test_ids_are_exact_javascript_numbers_until_2255():
    assert message_ids.slot(datetime(2255, 1, 1, tzinfo=UTC)) < 2**53


def test_channel_days_and_search_follow_the_time_order(store):
    now = datetime.now(UTC)
    store(chat(text="needle today", sent_at=now))
    old = datetime(2025, 3, 1, 20, 0, tzinfo=UTC)
    store(chat(text="needle then", sent_at=old), chat(text="hay then", sent_at=old))
    day = ChannelDay.objects.get(day=old.date())
    ids = sorted(Message.objects.filter(sent_at=old).values_list("id", flat=True))
    assert (day.lines, day.first_id, day.last_id) == (2, ids[0], ids[1])
    found = newest_matches(Message.objects.all(), "needle", 10)
    assert [m.text for m in found] == ["needle today", "needle then"]


def test_orm_made_messages_get_time_ids_too():
    from messages_app.models import Channel

    channel = Channel.objects.create(name="forsen")

    def make(at):
        return Message.objects.create(channel=channel, text="hi", sent_at=at, kind=2)

    newer = make(datetime(2025, 2, 1, tzinfo=UTC))
    older = make(datetime(2025, 1, 1, tzinfo=UTC))
    assert older.id == message_ids.slot(datetime(2025, 1, 1, tzinfo=UTC)) < newer.id
    with connection.cursor() as cursor:
        assert message_ids.newest_id(cursor) == newer.id
