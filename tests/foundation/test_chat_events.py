"""Every chat event through the write path: notices count as chat, moderation
events do not, and a deletion marks its target whichever arrives first."""

from datetime import UTC, datetime, timedelta

import pytest

from messages_app.models import (
    ActivityBucket,
    Channel,
    ChatUser,
    Kind,
    Message,
    PendingDeletion,
    UserChannelStats,
)
from messages_app.search import matching
from tests.conftest import chat

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def notice(username="alice", text="", system_text="alice subscribed for 3 months!", **extra):
    return chat(
        username=username, text=text, kind=Kind.USERNOTICE, system_text=system_text, **extra
    )


def deletion(target: str, username="alice", text="deleted words", **extra):
    tags = {"target-msg-id": target, "login": username}
    return chat(username=username, text=text, kind=Kind.CLEARMSG, tags=tags, **extra)


def timeout(username="alice", seconds=600, **extra):
    tags = {"ban-duration": str(seconds)} if seconds else {}
    return chat(username=username, text="", kind=Kind.CLEARCHAT, tags=tags, **extra)


def test_it_counts_chat_and_notices_but_never_moderation(store):
    store(
        chat(username="alice", text="hi", sent_at=T0),
        notice(text="loving it", sent_at=T0 + timedelta(seconds=1)),
        notice(username="bob", sent_at=T0 + timedelta(seconds=2)),
        deletion("x-1", sent_at=T0 + timedelta(seconds=3)),
        timeout(sent_at=T0 + timedelta(seconds=4)),
        timeout(username="", seconds=0, sent_at=T0 + timedelta(seconds=5)),  # a clear
    )
    assert Message.objects.count() == 6
    assert Channel.objects.get(name="forsen").total_messages == 3
    alice = ChatUser.objects.get(username="alice")
    assert alice.total_messages == 2
    assert alice.last_seen_at == T0 + timedelta(seconds=1)  # a timeout is not "seen"
    assert UserChannelStats.objects.get(user=alice).total_messages == 2
    assert sum(ActivityBucket.objects.values_list("count", flat=True)) == 3
    clear = Message.objects.get(kind=Kind.CLEARCHAT, user=None)
    assert clear.channel.name == "forsen"


def test_it_creates_a_user_first_seen_in_a_moderation_event_with_nothing_counted(store):
    store(timeout(username="troll", sent_at=T0))
    troll = ChatUser.objects.get(username="troll")
    assert troll.total_messages == 0
    store(chat(username="troll", text="back", sent_at=T0 + timedelta(hours=1)))
    troll.refresh_from_db()
    assert (troll.total_messages, troll.last_seen_at) == (1, T0 + timedelta(hours=1))


def test_it_stores_a_notices_system_text_and_finds_it_by_search(store):
    store(notice(system_text="bob gifted a Tier 1 sub to carol!", username="bob"))
    found = matching(Message.objects.all(), "gifted carol")
    assert [m.system_text for m in found] == ["bob gifted a Tier 1 sub to carol!"]


@pytest.mark.parametrize("order", ["target first", "same batch", "same batch reversed"])
def test_it_marks_the_deleted_message_with_the_time_of_the_deletion(store, order):
    target = chat(text="oops", twitch_id="t-1", sent_at=T0)
    clear = deletion("t-1", sent_at=T0 + timedelta(seconds=30))
    if order == "target first":
        store(target)
        store(clear)
    else:
        store(*([target, clear] if order == "same batch" else [clear, target]))
    assert Message.objects.get(twitch_id="t-1").deleted_at == T0 + timedelta(seconds=30)
    assert not PendingDeletion.objects.exists()


def test_it_marks_a_message_deleted_before_it_arrived(store):
    store(deletion("late-1", sent_at=T0 + timedelta(seconds=30)))
    assert PendingDeletion.objects.get().target_twitch_id == "late-1"
    store(chat(text="unrelated", twitch_id="other"), chat(text="late", twitch_id="late-1"))
    assert Message.objects.get(twitch_id="late-1").deleted_at == T0 + timedelta(seconds=30)
    assert Message.objects.get(twitch_id="other").deleted_at is None
    assert not PendingDeletion.objects.exists()


def test_it_stores_a_deletion_seen_twice_once(store):
    first = store(deletion("t-2", twitch_id="clearmsg-of-t-2"))
    again = store(deletion("t-2", twitch_id="clearmsg-of-t-2"))
    assert (first.stored, again.duplicates) == (1, 1)
