"""Opt-out end to end: a user's lines come in over TCP from the Twitch test
server, the user gets a code from /api/optout and types it in chat, and the
running ingest erases them: pages, search, the API and every total forget
them, and their later lines are dropped and counted."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from messages_app.ingest.simulator import privmsg
from messages_app.models import ActivityBucket, Channel, ChatUser, Message, OptOut
from messages_app.search import matching
from tests.factories import ChannelFactory
from tests.ingest.twitch_server import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "qjzxvbnwordsofalice"


def alice(text: str) -> str:
    return privmsg("forsen", "alice", text, tags={"user-id": "4242"})


def test_a_user_opts_out_from_chat_and_everything_of_theirs_is_erased(
    twitch_server, ingest, client
):
    ChannelFactory(name="forsen")
    runner = ingest(twitch_server.url)
    conn = twitch_server.wait_for_login()
    twitch_server.wait_for(lambda: "forsen" in conn.joined, "JOIN #forsen")
    twitch_server.send(*[alice(f"{SECRET} {n}") for n in range(300)],
                       *[privmsg("forsen", "bob", f"bob {n}") for n in range(50)])  # fmt: skip
    wait_until(lambda: Message.objects.count() == 350, "350 lines stored")
    assert client.get("/users/alice").status_code == 200
    assert Channel.objects.get(name="forsen").total_messages == 350

    code = client.post("/api/optout").json()
    twitch_server.send(alice(f"!goknut optout {code}"))
    wait_until(lambda: OptOut.objects.filter(erased_at__isnull=False).exists(), "the erasure", 20)
    twitch_server.send(alice("am I still here?"), privmsg("forsen", "bob", "after"))
    wait_until(lambda: Message.objects.filter(text="after").exists(), "bob's later line")
    stats = runner.stop()

    assert stats.dropped["opted_out"] == 2  # the command and the later line
    assert not ChatUser.objects.filter(username="alice").exists()
    assert Message.objects.count() == 51
    assert Channel.objects.get(name="forsen").total_messages == 51
    assert ActivityBucket.objects.aggregate(n=Sum("count"))["n"] == 51
    assert not matching(Message.objects.all(), SECRET).exists()
    profile = client.get("/users/alice")
    assert profile.status_code == 410
    assert b"alice opted out of this archive" in profile.content
    assert SECRET.encode() not in client.get("/messages").content
    assert client.get("/api/list?channel=forsen&user=alice").status_code == 403
    assert client.get("/api/channel/forsen/user/alice/2026/1").status_code == 403
    if connection.vendor == "sqlite":
        connection.close()
        database = Path(connection.settings_dict["NAME"])
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists():
                assert SECRET.encode() not in path.read_bytes(), path
