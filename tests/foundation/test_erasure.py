"""Opt-out with real erasure: every row, index entry and total of the user
goes, and on SQLite no byte of what they wrote stays in the files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from messages_app import erasure
from messages_app.models import (
    ActivityBucket,
    Channel,
    ChannelDay,
    ChatUser,
    ChatUserName,
    Kind,
    Message,
    OptOut,
    OptOutCode,
    OptOutEvent,
    UserChannelStats,
)
from messages_app.search import matching
from tests.conftest import chat

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "zqxjvkwordonlyalicewrote"


def line(login: str, user_id: str, channel: str = "forsen", minutes: int = 0, **extra):
    tags = {"user-id": user_id, "room-id": {"forsen": "1", "xqc": "2"}[channel]}
    tags.update(extra.pop("tags", {}))
    return chat(channel=channel, username=login, tags=tags,
                sent_at=T0 + timedelta(minutes=minutes), **extra)  # fmt: skip


@pytest.fixture
def archive(store):
    alice = [line("alice", "10", ch, m, text=f"{SECRET} number {m}")
             for m, ch in enumerate(["forsen", "xqc", "forsen"] * 4)]  # fmt: skip
    bob = [line("bob", "20", ch, m, text="bob was here") for m, ch in enumerate(["forsen", "xqc"])]
    timeout = line("alice", "10", minutes=30, kind=Kind.CLEARCHAT, text="",
                   tags={"target-user-id": "10", "room-id": "1", "ban-duration": "60"})  # fmt: skip
    store(*alice[:6], *bob)
    store(*alice[6:], timeout)
    return {"alice": len(alice), "bob": len(bob)}


def test_it_erases_every_row_and_total_of_an_opted_out_user(archive):
    erasure.opt_out(OptOut.Subject.USER, twitch_id="10", login="alice", by="staff")
    assert erasure.erase_pending(batch_size=5) == archive["alice"] + 1  # the timeout too
    assert not Message.objects.filter(text__contains=SECRET).exists()
    assert not ChatUser.objects.filter(username="alice").exists()
    assert not ChatUserName.objects.filter(login="alice").exists()
    assert list(UserChannelStats.objects.values_list("user__username", flat=True)) == ["bob"] * 2
    assert dict(Channel.objects.values_list("name", "total_messages")) == {"forsen": 1, "xqc": 1}
    assert ActivityBucket.objects.aggregate(n=Sum("count"))["n"] == archive["bob"]
    assert ChannelDay.objects.aggregate(n=Sum("lines"))["n"] == archive["bob"]
    assert not matching(Message.objects.all(), SECRET).exists()
    optout = OptOut.objects.get()
    assert optout.erased_at is not None
    assert list(OptOutEvent.objects.order_by("at").values_list("action", "by")) == [
        ("opt-out", "staff"), ("erased", "staff")]  # fmt: skip


def test_no_byte_of_the_erased_text_stays_in_the_sqlite_files(archive):
    if connection.vendor != "sqlite":
        pytest.skip("SKIPPED: a byte scan of the database files is for SQLite")
    files = [Path(connection.settings_dict["NAME"])]
    files.append(files[0].with_name(files[0].name + "-wal"))
    assert any(SECRET.encode() in path.read_bytes() for path in files if path.exists())
    erasure.opt_out(OptOut.Subject.USER, twitch_id="10", login="alice", by="staff")
    erasure.erase_pending()
    connection.close()  # nothing of ours held open: the files are what is left
    for path in files:
        if path.exists():
            data = path.read_bytes()
            assert SECRET.encode() not in data, path
            assert b"number 11" not in data, path
    assert Message.objects.filter(text="bob was here").count() == archive["bob"]


def test_an_erasure_resumes_where_it_stopped(archive):
    erasure.opt_out(OptOut.Subject.USER, twitch_id="10", login="alice", by="staff")
    assert erasure.erase_pending(batches=1, batch_size=4) == 4
    assert OptOut.objects.get().erased_at is None
    assert Channel.objects.aggregate(n=Sum("total_messages"))["n"] == archive["bob"] + 8
    erasure.erase_pending(batch_size=4)
    assert OptOut.objects.get().erased_at is not None
    assert Channel.objects.aggregate(n=Sum("total_messages"))["n"] == archive["bob"]


def test_new_lines_of_an_opted_out_user_or_channel_are_dropped_and_counted(archive, store):
    erasure.opt_out(OptOut.Subject.USER, twitch_id="10", login="alice", by="staff")
    erasure.opt_out(OptOut.Subject.CHANNEL, twitch_id="2", login="xqc", by="staff")
    result = store(line("alice", "10", minutes=90), line("renamed_alice", "10", minutes=91),
                   line("bob", "20", "xqc", 92), line("bob", "20", minutes=93))  # fmt: skip
    assert (result.stored, result.opted_out) == (1, 3)


def test_the_chat_command_opts_its_sender_out_with_a_fresh_code(client, store):
    code = client.post("/api/optout").json()
    store(line("mallory", "66", text=f"!goknut optout {code}zz"),  # not the code
          line("alice", "10", minutes=1, text=f"!goknut optout {code}"))  # fmt: skip
    optout = OptOut.objects.get()
    assert (optout.twitch_id, optout.login, optout.by) == ("10", "alice", "chat")
    assert not OptOutCode.objects.exists()  # one use
    store(line("bob", "20", minutes=2, text=f"!justlog optout {code}"))  # reused: nothing
    assert OptOut.objects.count() == 1
    expired = client.post("/api/optout").json()
    OptOutCode.objects.update(created_at=T0)
    store(line("bob", "20", minutes=3, text=f"!JUSTLOG optout {expired}"))
    assert OptOut.objects.count() == 1
    assert not Message.objects.filter(user__username="alice").exists()  # the command too


def test_opting_in_again_archives_new_lines_and_keeps_the_erased_history_erased(archive, store):
    optout = erasure.opt_out(OptOut.Subject.USER, twitch_id="10", login="alice", by="staff")
    erasure.erase_pending()
    erasure.opt_in(optout, by="staff")
    assert store(line("alice", "10", minutes=200, text="back again")).stored == 1
    assert list(Message.objects.filter(user__username="alice").values_list("text", flat=True)) == [
        "back again"]  # fmt: skip
    assert [e.action for e in OptOutEvent.objects.order_by("at")] == ["opt-out", "erased", "opt-in"]


def test_an_opted_out_channel_is_erased_with_every_total(archive):
    erasure.opt_out(OptOut.Subject.CHANNEL, twitch_id="2", login="xqc", by="staff")
    erasure.erase_pending(batch_size=3)
    assert list(Channel.objects.values_list("name", flat=True)) == ["forsen"]
    in_forsen = Message.objects.filter(channel__name="forsen").count()
    assert ActivityBucket.objects.aggregate(n=Sum("count"))["n"] == in_forsen - 1  # the timeout
    totals = dict(ChatUser.objects.values_list("username", "total_messages"))
    assert totals == {"alice": 8, "bob": 1}


def test_manage_py_erase_finishes_every_pending_erasure(archive):
    from io import StringIO

    from django.core.management import call_command

    erasure.opt_out(OptOut.Subject.USER, twitch_id="10", login="alice", by="staff")
    out = StringIO()
    call_command("erase", "--batch-size", "3", stdout=out)
    assert out.getvalue().strip() == f"erased {archive['alice'] + 1} lines of 1 opt-outs"
    assert OptOut.objects.get().erased_at is not None
