"""Tag sets (messages_app/tag_sets.py): the tags a user's lines share are
stored once, and every line still gives back every tag it came with."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from logs_api import raw, reads
from messages_app import erasure, tag_sets
from messages_app.ingest.parser import parse_line, to_record
from messages_app.models import Channel, ChatUser, Message, OptOut, TagSet
from messages_app.writes import delete_channel, store_batch
from tests.benchmarks.test_storage import real_lines

RECEIVED = datetime(2026, 12, 1, tzinfo=UTC)


def records(count: int, seed: int = 1) -> tuple[list[str], list]:
    lines = list(real_lines(count, seed=seed))
    return lines, [to_record(parse_line(line), RECEIVED) for line in lines]


def stored_raw_lines() -> dict[str, str]:
    """Twitch id -> the line as `?raw` rebuilds it, for every stored line."""
    out = {}
    for channel in Channel.objects.all():
        scope = reads.Scope(channel, None)
        rows = list(scope.queryset().order_by("id").values_list(*reads.FIELDS, *reads.TAG_FIELDS))
        for line in reads.Logins().lines(rows, channel, True):
            out[line.twitch_id] = raw.raw_line(line)
    return out


def parsed(line: str):
    message = parse_line(line)
    return message.command, message.params, message.prefix, message.tags


def test_split_and_join_give_back_every_tag_of_real_lines():
    _lines, recs = records(3_000)
    rooms = {r.channel: r.tags["room-id"] for r in recs if r.tags.get("room-id")}
    for r in recs:
        room = rooms[r.channel]
        shared, own = tag_sets.split(r.tags, r.twitch_id, r.sent_at, room)
        assert tag_sets.join(shared, own, r.twitch_id, r.sent_at, room) == r.tags
        assert "badges" not in own and "display-name" not in own
        # the channel's room-id is not stored on the line; CLEARMSG's is empty
        assert tag_sets.needs_room(shared) == (r.tags.get("room-id") == room)
        # migration 0015's sets, bound to a channel, keep their room-id
        shared, own = tag_sets.split(r.tags, r.twitch_id, r.sent_at)
        assert tag_sets.join(shared, own, r.twitch_id, r.sent_at) == r.tags


def test_a_tag_that_disagrees_with_its_column_is_kept_on_the_line():
    sent = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    tags = {"id": "other", "tmi-sent-ts": "1", "color": "#FF0000", "emotes": "25:0-4"}
    shared, own = tag_sets.split(tags, "abc", sent)
    assert own == {"id": "other", "tmi-sent-ts": "1", "emotes": "25:0-4"}
    assert shared == {"color": "#FF0000", "emotes": ""}  # the usual value, which own overrides
    marked, _own = tag_sets.split({"id": "abc", "tmi-sent-ts": "1767323045678"}, "abc", sent)
    assert marked == {"id": None, "tmi-sent-ts": None}
    shared, own = tag_sets.split({"room-id": "22484632", "turbo": "0"}, "abc", sent, "71092938")
    assert (shared, own) == ({"turbo": "0"}, {"room-id": "22484632"})  # not the channel's
    shared, own = tag_sets.split({"first-msg": "1", "returning-chatter": "0"}, "abc", sent, "")
    assert (shared, own) == ({"first-msg": "0", "returning-chatter": "0"}, {"first-msg": "1"})


@pytest.mark.django_db
def test_real_lines_go_in_and_come_out_of_raw_tag_for_tag():
    lines, recs = records(2_000, seed=7)
    for start in range(0, len(recs), 500):
        store_batch(recs[start : start + 500])
    served = stored_raw_lines()
    by_id: dict[str, str] = {}
    for r, line in zip(recs, lines, strict=True):
        by_id.setdefault(r.twitch_id, line)  # a line seen twice is stored once, the first
    assert len(served) == len(by_id) == Message.objects.count()
    for twitch_id, line in by_id.items():
        assert parsed(served[twitch_id]) == parsed(line), line
    # What the rows keep: a few tags of their own, the rest shared.
    own = Message.objects.exclude(tag_set=None).values_list("tags", flat=True)
    assert len(own) == len(by_id)
    assert all("badges" not in tags and "id" not in tags for tags in own)


ALICE = (
    "@badge-info=subscriber/14;badges=subscriber/12,premium/1;client-nonce={nonce};"
    "color=#1E90FF;display-name=Alice;emotes={emotes};first-msg=0;flags=;id={id};mod=0;"
    "returning-chatter=0;room-id={room};subscriber=1;tmi-sent-ts={ts};turbo=0;user-id=10;"
    "user-type= :alice!alice@alice.tmi.twitch.tv PRIVMSG #{channel} :{text}"
)


def alice_id(n: int) -> str:
    return f"5f1c1c3e-0000-4000-8000-{n:012d}"


def alice(n: int, channel: str = "forsen", room: str = "22484632", text: str = "hello") -> str:
    emotes = "25:6-10" if text.endswith("Kappa") else ""
    return ALICE.format(nonce=f"{n:032x}", emotes=emotes, id=alice_id(n),
                        room=room, ts=1764590000000 + n, channel=channel, text=text)  # fmt: skip


@pytest.mark.django_db
def test_lines_of_a_user_share_one_set_in_every_channel():
    store_batch([to_record(parse_line(alice(n)), RECEIVED) for n in range(5)])
    store_batch([to_record(parse_line(alice(n)), RECEIVED) for n in range(5, 10)])
    store_batch([to_record(parse_line(alice(10, "xqc", "71092938")), RECEIVED)])
    assert TagSet.objects.count() == 1
    assert TagSet.objects.get().channel_id is None  # it holds nothing of a channel
    assert TagSet.objects.get().tags["room-id"] is None
    row = Message.objects.filter(twitch_id=alice_id(3))
    row = row.values("tags", "client_nonce").get()
    assert row["tags"] == {}  # all that line 3 keeps of its own: its nonce, as 16 bytes
    assert bytes(row["client_nonce"]) == (3).to_bytes(16, "big")
    served = stored_raw_lines()
    assert parsed(served[alice_id(3)]) == parsed(alice(3))
    assert parsed(served[alice_id(10)]) == parsed(alice(10, "xqc", "71092938"))
    xqc = Message.objects.with_related().get(channel__name="xqc")
    assert xqc.all_tags["room-id"] == "71092938"


def test_only_a_nonce_of_32_lowercase_hex_digits_is_packed():
    nonce = "0f" * 16
    own = {"client-nonce": nonce, "emotes": "25:0-4"}
    assert tag_sets.pack_nonce(own) == bytes.fromhex(nonce) and own == {"emotes": "25:0-4"}
    assert tag_sets.join(None, own, "abc", RECEIVED, nonce=bytes.fromhex(nonce)) == {
        "client-nonce": nonce,
        "emotes": "25:0-4",
    }
    for odd in ["0F" * 16, "0f " * 10 + "0f", "g" * 32, "ab" * 15, "", "chatterino-1234"]:
        own = {"client-nonce": odd}
        assert tag_sets.pack_nonce(own) is None and own == {"client-nonce": odd}, odd


@pytest.mark.django_db
def test_a_nonce_other_clients_send_is_kept_as_it_came():
    store_batch([to_record(parse_line(alice(1).replace(f"{1:032x}", "Chatterino-7")), RECEIVED)])
    message = Message.objects.with_related().get()
    assert message.client_nonce is None and message.tags == {"client-nonce": "Chatterino-7"}
    assert message.all_tags["client-nonce"] == "Chatterino-7"


@pytest.mark.django_db
def test_a_room_id_other_than_the_channels_stays_on_its_line():
    store_batch([to_record(parse_line(alice(1)), RECEIVED)])
    store_batch([to_record(parse_line(alice(2, room="99999999")), RECEIVED)])
    assert Channel.objects.get().twitch_id == "22484632"  # the first room-id is kept
    odd = Message.objects.get(twitch_id=alice_id(2))
    assert odd.tags["room-id"] == "99999999"
    assert "room-id" not in odd.tag_set.tags
    served = stored_raw_lines()
    assert parsed(served[alice_id(2)]) == parsed(alice(2, room="99999999"))


@pytest.mark.django_db
def test_pages_show_the_shared_badges_and_colours(client):
    store_batch([to_record(parse_line(alice(1, text="hello Kappa")), RECEIVED)])
    message = Message.objects.with_related().get()
    assert message.tag_set_id is not None
    assert message.color == "#1E90FF"
    assert message.all_tags["badges"] == "subscriber/12,premium/1"
    page = client.get("/channels/forsen").content.decode()
    assert '<span class="emote emote-name">Kappa</span>' in page  # emotes: the line's own
    assert 'title="Prime Gaming"' in page and 'title="Subscriber (14 months)' in page


@pytest.mark.django_db(transaction=True)
def test_erasing_a_user_or_a_channel_takes_their_tag_sets():
    _lines, recs = records(600, seed=3)
    store_batch(recs)
    user = ChatUser.objects.order_by("-total_messages").first()
    assert TagSet.objects.filter(user=user).exists()
    erasure.opt_out(OptOut.Subject.USER, twitch_id=user.twitch_id, login=user.username, by="t")
    erasure.erase_pending()
    assert not TagSet.objects.filter(user_id=user.id).exists()
    assert not TagSet.objects.filter(**{"tags__user-id": user.twitch_id}).exists()
    channel = Channel.objects.order_by("id").first()
    channel_id, room = channel.id, channel.twitch_id
    delete_channel(channel, keep_history=False)
    assert not TagSet.objects.filter(channel_id=channel_id).exists()
    assert not TagSet.objects.filter(**{"tags__room-id": room}).exists()
    left = Message.objects.exclude(tag_set=None).values_list("tag_set_id", flat=True)
    assert set(left) <= set(TagSet.objects.values_list("id", flat=True))  # none dangles


def migrate(target: str | None = None):
    """Migrate messages_app to `target`, or to its latest migration."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    node = (
        ("messages_app", target) if target else executor.loader.graph.leaf_nodes("messages_app")[0]
    )
    executor.migrate([node])
    return executor.loader.project_state([node]).apps


@pytest.mark.django_db(transaction=True)
def test_an_archive_of_100000_lines_migrates_back_and_forth_unchanged():
    _lines, recs = records(100_000, seed=11)
    for start in range(0, len(recs), 1_000):
        store_batch(recs[start : start + 1_000])
    before = stored_raw_lines()
    count = Message.objects.count()
    assert len(before) == count > 99_000
    assert TagSet.objects.count() < count / 10  # about one per user and kind of line
    try:
        apps = migrate("0014_activity_charts")  # every tag back on its row
        Old = apps.get_model("messages_app", "Message")
        assert Old.objects.count() == count
        whole = dict(Old.objects.values_list("twitch_id", "tags")[:2_000])
        sample: dict[str, dict] = {}
        for r in recs:
            if r.twitch_id in whole:
                sample.setdefault(r.twitch_id, r.tags)
        assert whole == sample
    finally:
        migrate()  # and the later ones (0016's search index, 0017's partitions)
    assert Message.objects.count() == count
    assert Message.objects.filter(tag_set=None).count() < count / 100  # split again
    assert not TagSet.objects.filter(channel=None).exists()  # 0015's sets, per channel
    assert stored_raw_lines() == before


@pytest.mark.django_db(transaction=True)
def test_going_back_before_sets_per_user_and_packed_nonces_puts_the_tags_on_the_rows():
    lines, recs = records(3_000, seed=5)
    whole: dict[str, dict] = {}
    for r in recs:
        whole.setdefault(r.twitch_id, r.tags)
    store_batch(recs[:1_500])
    first = stored_raw_lines()
    try:
        apps = migrate("0017_monthly_partitions")  # before 0018 and 0019
        Old = apps.get_model("messages_app", "Message")
        assert not apps.get_model("messages_app", "TagSet").objects.filter(channel=None).exists()
        assert not Old.objects.exclude(tag_set=None).exists()
        folded = dict(Old.objects.values_list("twitch_id", "tags"))
        assert folded == {k: whole[k] for k in folded} and len(folded) == len(first)
        migrate()
        assert stored_raw_lines() == first
        store_batch(recs[1_500:])  # new lines get sets per user and packed nonces again
        assert TagSet.objects.filter(channel=None).exists()
        assert Message.objects.exclude(client_nonce=None).exists()
        both = stored_raw_lines()
        apps = migrate("0018_tag_sets_per_user")  # before 0019: the nonces in the tags
        Old = apps.get_model("messages_app", "Message")
        nonces = dict(Old.objects.values_list("twitch_id", "tags__client-nonce"))
        assert nonces == {k: whole[k].get("client-nonce") for k in nonces}
        assert len(nonces) == len(both)
    finally:
        migrate()
    assert stored_raw_lines() == both
    stored = {r.twitch_id: line for r, line in reversed(list(zip(recs, lines, strict=True)))}
    assert {k: parsed(v) for k, v in both.items()} == {k: parsed(stored[k]) for k in both}
