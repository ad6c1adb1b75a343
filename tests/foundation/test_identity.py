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
