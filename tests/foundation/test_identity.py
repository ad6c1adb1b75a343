"""Identity by Twitch ids: a user is their user-id, a channel its room-id;
logins are names that change, with their history kept."""

from datetime import UTC, datetime, timedelta

import pytest

from messages_app.models import Channel, ChatUser, ChatUserName, Kind, Message
from tests.conftest import chat

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def said(login: str, user_id: str | None, minutes: int = 0, **extra):
    tags = {"user-id": user_id, "room-id": "22484632"} if user_id else {}
    return chat(username=login, tags=tags, sent_at=T0 + timedelta(minutes=minutes), **extra)


def test_it_keeps_one_user_through_a_rename_and_records_both_names(store, client):
    store(said("oldname", "123", 0), said("oldname", "123", 1))
    store(said("newname", "123", 60))
    user = ChatUser.objects.get()
    assert (user.username, user.twitch_id, user.total_messages) == ("newname", "123", 3)
    names = {n.login: (n.first_seen_at, n.last_seen_at) for n in user.names.all()}
    assert names == {
        "oldname": (T0, T0 + timedelta(minutes=1)),
        "newname": (T0 + timedelta(minutes=60), T0 + timedelta(minutes=60)),
    }
    assert Message.objects.filter(user=user).count() == 3
    old = client.get("/users/oldname?channel=forsen")
    assert (old.status_code, old["Location"]) == (301, "/users/newname?channel=forsen")


@pytest.mark.parametrize("stored_before", [False, True])
def test_it_keeps_one_user_through_a_rename_inside_one_batch(store, stored_before):
    if stored_before:
        store(said("oldname", "123", 0))
    store(said("oldname", "123", 1), said("newname", "123", 60), said("oldname", "123", 2))
    user = ChatUser.objects.get()
    assert (user.username, user.twitch_id) == ("newname", "123")
    assert user.total_messages == 3 + stored_before
    names = {n.login: (n.first_seen_at, n.last_seen_at) for n in user.names.all()}
    assert names == {
        "oldname": (T0 + timedelta(minutes=0 if stored_before else 1), T0 + timedelta(minutes=2)),
        "newname": (T0 + timedelta(minutes=60), T0 + timedelta(minutes=60)),
    }
    assert user.channel_stats.get().total_messages == 3 + stored_before


def test_it_gives_a_login_stored_without_ids_its_id_when_one_arrives(store):
    store(said("alice", None))
    store(said("alice", "77", 5))
    alice = ChatUser.objects.get()
    assert (alice.twitch_id, alice.total_messages) == ("77", 2)


def test_it_moves_aside_a_row_whose_login_another_account_took(store):
    store(said("bob", "1"))
    store(said("bob", "2", 10))  # account 1 renamed (unseen), account 2 took "bob"
    rows = dict(ChatUser.objects.values_list("twitch_id", "username"))
    assert rows["2"] == "bob"
    assert rows["1"].startswith("bob~")
    assert ChatUser.objects.get(twitch_id="2").total_messages == 1


def test_it_identifies_the_target_of_a_timeout_by_its_user_id(store):
    store(said("spammer", None))
    store(chat(username="spammer", kind=Kind.CLEARCHAT, text="",
               tags={"target-user-id": "999", "ban-duration": "600"}))  # fmt: skip
    assert ChatUser.objects.get(username="spammer").twitch_id == "999"


def test_it_keeps_a_channels_room_id(store):
    store(said("alice", "77"))
    assert Channel.objects.get(name="forsen").twitch_id == "22484632"


def test_it_stores_a_batch_whose_ids_the_cache_got_wrong(store):
    store(said("carol", "55"))
    ChatUser.objects.filter(username="carol").update(username="caroline")  # behind its back
    ChatUserName.objects.all().delete()
    store(said("carol", "55", 5))
    carol = ChatUser.objects.get(twitch_id="55")
    assert (carol.username, carol.total_messages) == ("carol", 2)


def in_room(channel: str, room: str, login: str = "alice", minutes: int = 0, **extra):
    tags = {"user-id": str(sum(map(ord, login))), "room-id": room}
    return chat(channel=channel, username=login, tags=tags,
                sent_at=T0 + timedelta(minutes=minutes), **extra)  # fmt: skip


def test_a_renamed_channel_keeps_its_row_history_and_counters(store, client):
    store(in_room("oldchan", "500", text="before"), in_room("oldchan", "500", minutes=1))
    store(in_room("newchan", "500", minutes=60, text="after the rename"))
    channel = Channel.objects.get()
    assert (channel.name, channel.twitch_id, channel.total_messages) == ("newchan", "500", 3)
    assert channel.last_message_at == T0 + timedelta(minutes=60)
    assert Message.objects.filter(channel=channel).count() == 3
    stats = ChatUser.objects.get(username="alice").channel_stats.get()
    assert (stats.channel_id, stats.total_messages) == (channel.pk, 3)
    page = client.get("/channels/newchan")
    assert page.status_code == 200
    assert b"before" in page.content
    assert b"after the rename" in page.content


def test_a_renamed_channel_absorbs_the_row_staff_added_for_its_new_name(store):
    store(in_room("oldchan", "500"), in_room("oldchan", "500", "bob", minutes=1))
    Channel.objects.filter(name="oldchan").update(enabled=False)  # Twitch no longer has it
    added = Channel.objects.create(name="newchan")  # staff follow the new name
    store(in_room("newchan", "500", "bob", minutes=60), in_room("newchan", "500", minutes=61))
    assert not Channel.objects.filter(pk=added.pk).exists()
    channel = Channel.objects.get()
    assert (channel.name, channel.twitch_id, channel.enabled) == ("newchan", "500", True)
    assert channel.total_messages == 4
    assert list(channel.days.values_list("lines", flat=True)) == [4]
    per_user = dict(channel.user_stats.values_list("user__username", "total_messages"))
    assert per_user == {"alice": 2, "bob": 2}
    bob = channel.user_stats.get(user__username="bob")
    assert (bob.first_seen_at, bob.last_seen_at) == (T0 + timedelta(minutes=1),
                                                     T0 + timedelta(minutes=60))  # fmt: skip


def test_a_renamed_channel_moves_aside_a_row_whose_login_another_room_had(store):
    store(in_room("samename", "1"))
    store(in_room("other", "2", minutes=1))
    store(in_room("samename", "2", minutes=2))  # room 2 renamed to a freed login
    rows = dict(Channel.objects.values_list("twitch_id", "name"))
    assert rows["2"] == "samename"
    assert rows["1"].startswith("samename~")
    assert Channel.objects.get(twitch_id="2").total_messages == 2


def test_a_channel_rename_is_announced_for_every_row_it_changed(store):
    from messages_app.signals import channel_changed

    store(in_room("oldchan", "500"))
    added = Channel.objects.create(name="newchan")
    seen: list[int] = []
    channel_changed.connect(receiver := lambda **kwargs: seen.append(kwargs["channel_id"]))
    try:
        store(in_room("newchan", "500", minutes=5))
    finally:
        channel_changed.disconnect(receiver)
    assert set(seen) == {Channel.objects.get().pk, added.pk}
