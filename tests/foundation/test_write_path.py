from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import transaction

from messages_app import message_ids
from messages_app.models import ActivityBucket, Channel, ChatUser, Message, UserChannelStats
from messages_app.search import matching
from messages_app.signals import channel_changed, messages_stored
from messages_app.writes import delete_channel
from tests.conftest import chat

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_stores_a_batch_and_advances_every_counter(store):
    result = store(chat("forsen", "alice"), chat("forsen", "bob"), chat("xqc", "alice"))
    assert result.stored == 3
    assert Message.objects.count() == 3
    assert Channel.objects.get(name="forsen").total_messages == 2
    assert ChatUser.objects.get(username="alice").total_messages == 2
    stats = UserChannelStats.objects.get(user__username="alice", channel__name="xqc")
    assert stats.total_messages == 1
    assert sum(ActivityBucket.objects.values_list("count", flat=True)) == 3


def test_it_stores_a_repeated_twitch_id_once(store):
    store(chat(twitch_id="abc"))
    result = store(chat(twitch_id="abc"), chat(twitch_id="abc"), chat(twitch_id="def"))
    assert (result.stored, result.duplicates) == (1, 2)
    assert Message.objects.count() == 2
    assert ChatUser.objects.get(username="viewer").total_messages == 2


def test_it_keeps_the_search_index_in_step(store):
    store(chat(text="the boss fight was insane"))
    assert matching(Message.objects.all(), "boss").count() == 1
    Message.objects.all().delete()
    assert matching(Message.objects.all(), "boss").count() == 0


def test_it_signals_after_commit_with_the_id_range(store):
    seen = []

    def receiver(**kwargs):
        seen.append((kwargs["first_id"], kwargs["last_id"], kwargs["count"]))

    messages_stored.connect(receiver)
    try:
        with transaction.atomic():
            result = store(chat(), chat())
            assert seen == []  # not before commit
        assert seen == [(result.first_id, result.last_id, 2)]
    finally:
        messages_stored.disconnect(receiver)


def test_it_leaves_nothing_half_written_on_rollback(store):
    with pytest.raises(RuntimeError), transaction.atomic():
        store(chat("forsen", "alice"))
        raise RuntimeError("boom")
    assert Message.objects.count() == 0
    assert not ChatUser.objects.exists()
    assert not Channel.objects.exists()


def test_it_counts_invalid_records_and_stores_the_rest(store):
    result = store(chat(channel="not a channel!"), chat(text="x" * 10_000), chat())
    assert (result.stored, result.invalid) == (1, 2)


def test_it_adds_up_counters_across_batches(store):
    store(chat("forsen", "alice"), chat("xqc", "alice"))
    store(chat("forsen", "alice"), chat("forsen", "bob"))
    store(chat("forsen", "alice"))
    assert Channel.objects.get(name="forsen").total_messages == 4
    assert Channel.objects.get(name="xqc").total_messages == 1
    assert ChatUser.objects.get(username="alice").total_messages == 4
    assert ChatUser.objects.get(username="bob").total_messages == 1
    stats = UserChannelStats.objects.get(user__username="alice", channel__name="forsen")
    assert stats.total_messages == 3
    assert sum(ActivityBucket.objects.values_list("count", flat=True)) == 5


def test_it_keeps_first_and_last_seen_times_whatever_the_order(store):
    early, late = datetime(2026, 1, 1, 10, tzinfo=UTC), datetime(2026, 1, 1, 12, tzinfo=UTC)
    store(chat("forsen", "alice", sent_at=late))
    store(chat("forsen", "alice", sent_at=early))  # a replayed, older line
    alice = ChatUser.objects.get(username="alice")
    assert (alice.first_seen_at, alice.last_seen_at) == (early, late)
    assert Channel.objects.get(name="forsen").last_message_at == late
    stats = UserChannelStats.objects.get(user=alice)
    assert (stats.first_seen_at, stats.last_seen_at) == (early, late)


def test_it_moves_last_seen_forward(store):
    first = datetime(2026, 1, 1, 10, tzinfo=UTC)
    store(chat("forsen", "alice", sent_at=first))
    store(chat("xqc", "alice", sent_at=first + timedelta(minutes=5)))
    alice = ChatUser.objects.get(username="alice")
    assert alice.last_seen_at == first + timedelta(minutes=5)
    assert Channel.objects.get(name="forsen").last_message_at == first


def test_it_stores_times_given_in_other_zones_as_utc(store):
    berlin = timezone(timedelta(hours=1))
    store(chat(sent_at=datetime(2026, 1, 1, 13, 0, tzinfo=berlin)))
    assert Message.objects.get().sent_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_it_keeps_the_latest_display_name(store):
    store(chat(username="alice", display_name="Alice"))
    store(chat(username="alice", display_name="ALICE"), chat(username="bob"))
    assert ChatUser.objects.get(username="alice").display_name == "ALICE"
    assert ChatUser.objects.get(username="bob").display_name == ""


def test_it_does_not_forget_a_display_name_when_a_line_has_none(store):
    store(chat(username="alice", display_name="Alice"))
    store(chat(username="alice", display_name=""))
    assert ChatUser.objects.get(username="alice").label == "Alice"


def test_it_lowercases_names_from_chat(store):
    store(chat("#ForSen", "Alice"))
    assert Channel.objects.get().name == "forsen"
    assert ChatUser.objects.get().username == "alice"


def test_it_creates_channels_first_seen_in_chat_disabled(store):
    store(chat("newchannel"))
    assert Channel.objects.get(name="newchannel").enabled is False


def test_it_keeps_known_channels_enabled(store):
    Channel.objects.create(name="forsen", enabled=True)
    store(chat("forsen"))
    assert Channel.objects.get(name="forsen").enabled is True


def test_it_signals_nothing_for_a_batch_of_duplicates(store):
    store(chat(twitch_id="once"))
    seen = []
    messages_stored.connect(receiver := lambda **kwargs: seen.append(kwargs))
    try:
        result = store(chat(twitch_id="once"))
    finally:
        messages_stored.disconnect(receiver)
    assert (result.stored, result.duplicates, seen) == (0, 1, [])


def test_it_maps_minutes_to_the_ids_stored_in_them(store):
    minute = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    result = store(
        chat(sent_at=minute + timedelta(seconds=5)),
        chat(sent_at=minute + timedelta(seconds=50)),
        chat(sent_at=minute + timedelta(minutes=1)),
    )
    bucket = ActivityBucket.objects.get(minute=minute)
    ids = [message_ids.slot(minute + timedelta(seconds=s)) for s in (5, 50)]
    assert (bucket.count, bucket.first_id, bucket.last_id) == (2, *ids)
    since = Message.objects.sent_between(minute + timedelta(minutes=1), None)
    assert [m.id for m in since] == [result.last_id]


def test_it_stores_batches_larger_than_one_statement(store):
    records = [chat(username=f"user{n % 1500}") for n in range(2_500)]
    result = store(*records)
    assert result.stored == Message.objects.count() == 2_500
    assert ChatUser.objects.count() == 1_500
    assert sum(ChatUser.objects.values_list("total_messages", flat=True)) == 2_500


@pytest.fixture
def two_channels(store):
    store(chat("forsen", "alice"), chat("forsen", "alice"), chat("forsen", "bob"))
    store(chat("xqc", "alice"), chat("xqc", "carol"))
    return Channel.objects.get(name="forsen")


def test_it_keeps_history_when_asked_to(two_channels):
    delete_channel(two_channels, keep_history=True)
    forsen = Channel.objects.get(name="forsen")
    assert forsen.deleted_at is not None and forsen.enabled is False
    assert not Channel.objects.active().filter(name="forsen").exists()
    assert Message.objects.for_channel(forsen).count() == 3
    assert ChatUser.objects.get(username="alice").total_messages == 3


def test_it_deletes_history_and_takes_it_off_the_users(two_channels):
    delete_channel(two_channels, keep_history=False)
    assert not Channel.objects.filter(name="forsen").exists()
    assert Message.objects.count() == 2
    assert ChatUser.objects.get(username="alice").total_messages == 1
    assert ChatUser.objects.get(username="bob").total_messages == 0
    assert ChatUser.objects.get(username="carol").total_messages == 1
    assert not UserChannelStats.objects.filter(user__username="bob").exists()
    assert matching(Message.objects.all(), "hello").count() == 2


def test_it_announces_a_deleted_channel_after_commit(two_channels):
    seen = []
    channel_changed.connect(receiver := lambda **kwargs: seen.append(kwargs["channel_id"]))
    try:
        with transaction.atomic():
            delete_channel(two_channels, keep_history=True)
            assert seen == []
    finally:
        channel_changed.disconnect(receiver)
    assert seen == [two_channels.pk]


def test_it_stores_factory_messages_through_the_write_path():
    from tests.factories import MessageFactory

    message = MessageFactory(channel="forsen", username="alice", text="hi")
    assert message.text == "hi"
    assert Channel.objects.get(name="forsen").total_messages == 1
    assert ChatUser.objects.get(username="alice").total_messages == 1


def test_it_announces_a_channel_deleted_with_its_history_by_its_id(two_channels):
    pk = two_channels.pk
    seen = []
    channel_changed.connect(receiver := lambda **kwargs: seen.append(kwargs["channel_id"]))
    try:
        delete_channel(two_channels, keep_history=False)
    finally:
        channel_changed.disconnect(receiver)
    assert seen == [pk]  # not None: delete() clears the instance's pk


def test_it_announces_channels_that_ingest_options_create_or_enable():
    from messages_app.writes import ensure_channels

    Channel.objects.create(name="lirik", enabled=False)
    Channel.objects.create(name="xqc", enabled=True)
    seen = []
    channel_changed.connect(receiver := lambda **kwargs: seen.append(kwargs["channel_id"]))
    try:
        assert ensure_channels(["#Forsen", "lirik", "xqc"]) == ["forsen", "lirik", "xqc"]
    finally:
        channel_changed.disconnect(receiver)
    changed = Channel.objects.filter(name__in=["forsen", "lirik"]).values_list("pk", flat=True)
    assert sorted(seen) == sorted(changed)  # xqc was already enabled: nothing to say


def test_it_keeps_each_channels_days_with_their_id_ranges(store):
    from messages_app.models import ChannelDay, Kind

    late = datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC)
    first = store(
        chat("forsen", sent_at=late),
        chat("xqc", sent_at=late),
        chat("forsen", "mod", "", kind=Kind.CLEARCHAT, sent_at=late + timedelta(seconds=1)),
    )
    # A late arrival: history, so its id is its own time, below the others.
    second = store(chat("forsen", sent_at=late - timedelta(hours=5)))
    rows = {(d.channel.name, d.day.isoformat()): (d.lines, d.first_id, d.last_id)
            for d in ChannelDay.objects.select_related("channel")}  # fmt: skip
    assert rows == {
        ("forsen", "2026-01-01"): (2, second.first_id, first.first_id),
        ("xqc", "2026-01-01"): (1, first.first_id + 1, first.first_id + 1),
        ("forsen", "2026-01-02"): (1, first.last_id, first.last_id),
    }
