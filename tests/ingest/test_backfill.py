"""Backfill from a recent-messages source: URLs, answers, lines, and the real
client in-process against the Twitch-protocol server and a real HTTP source.
Long because a source can fail in many ways, each with its own test."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from messages_app.ingest.backfill import Backfill, backfill_records
from messages_app.ingest.pipeline import IngestStats, Pipeline
from messages_app.ingest.recent_messages import (
    BackfillError,
    fetch,
    parse_answer,
    recent_messages_url,
    redact,
)
from messages_app.ingest.simulator import privmsg
from messages_app.models import Channel, Message
from messages_app.writes import BatchResult
from tests.conftest import chat
from tests.factories import ChannelFactory
from tests.ingest.recent_messages_server import RecentMessagesServer
from tests.ingest.twitch_server import REPO, wait_until


def ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def errors(reason: str) -> float:
    return REGISTRY.get_sample_value("goknut_ingest_backfill_errors_total", {"reason": reason}) or 0


def accounted(stats: IngestStats) -> int:
    """What every received line became; equals stats.received."""
    return (
        stats.stored
        + stats.duplicates
        + sum(stats.skipped.values())
        + stats.not_chat
        + sum(stats.dropped.values())
    )


@pytest.fixture
def source():
    """A recent-messages service on 127.0.0.1 that knows #forsen."""
    server = RecentMessagesServer(known={"forsen"})
    yield server
    server.close()


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v2"  # nothing listens there any more


# URLs and answers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://recent-messages.robotty.de/api/v2",
         "https://recent-messages.robotty.de/api/v2/recent-messages/forsen?limit=800"),
        ("http://goknut.lan:8000/api/v2/",
         "http://goknut.lan:8000/api/v2/recent-messages/forsen?limit=800"),
        ("http://127.0.0.1:2790/api/v2?key=a b",
         "http://127.0.0.1:2790/api/v2/recent-messages/forsen?key=a+b&limit=800"),
    ],
)  # fmt: skip
def test_it_builds_the_recent_messages_url(base, expected):
    assert recent_messages_url(base, "forsen") == expected


def test_it_asks_for_a_window_in_unix_milliseconds():
    url = recent_messages_url(
        "https://rm.example/api/v2", "xqc", limit=50, after_ms=1714564800123, before_ms=17
    )
    assert url == (
        "https://rm.example/api/v2/recent-messages/xqc?limit=50&after=1714564800123&before=17"
    )
    quoted = recent_messages_url("http://h/api", "a/b?c")
    assert quoted == "http://h/api/recent-messages/a%2Fb%3Fc?limit=800"


def test_it_keeps_credentials_and_queries_out_of_logs():
    assert redact("https://user:secret@rm.example:8443/api/v2?token=x") == (
        "https://rm.example:8443/api/v2"
    )


def test_it_reads_a_recent_messages_answer():
    answer = parse_answer(b'{"messages": ["@a=1 PING :x"], "error": null, "error_code": null}')
    assert (answer.lines, answer.error, answer.error_code) == (["@a=1 PING :x"], None, None)
    not_joined = parse_answer(
        json.dumps(
            {"messages": [], "error": "not joined", "error_code": "channel_not_joined"}
        ).encode()
    )
    assert (not_joined.lines, not_joined.error_code) == ([], "channel_not_joined")
    odd = parse_answer(b'{"messages": [], "error": 5, "error_code": "<script>"}')
    assert (odd.error, odd.error_code) == ("?", "unknown")  # never logged as sent


@pytest.mark.parametrize(
    "body",
    [b"<html>502 Bad Gateway</html>", b"", b"\xff\xfe", b"[]", b'{"messages": "x"}',
     b'{"error": null}', b"[" * 100_000 + b"]" * 100_000],
)  # fmt: skip
def test_it_refuses_an_answer_that_is_not_one(body):
    with pytest.raises(BackfillError) as caught:
        parse_answer(body)
    assert caught.value.reason == "bad_response"


# Lines ----------------------------------------------------------------------------

SENT = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)


def stamped(line: str, received_ms: int = 1714564800500) -> str:
    return f"@historical=1;rm-received-ts={received_ms};{line[1:]}"


def test_it_parses_backfilled_lines_like_live_ones_and_marks_them():
    stats = IngestStats()
    now = datetime.now(UTC)
    lines = [
        stamped(privmsg("forsen", "alice", "hello 😂", twitch_id="b1", sent_at=SENT)),
        privmsg("forsen", "bob", "waves", twitch_id="b2", sent_at=SENT, action=True),
        "@historical=1;rm-received-ts=1714564801000;room-id=1;slow=5 :tmi.twitch.tv "
        "ROOMSTATE #forsen",
        "@historical=1;id=b3;rm-received-ts=1714564802000 "
        ":carol!carol@carol.tmi.twitch.tv PRIVMSG #forsen :late",
    ]
    records = backfill_records("forsen", lines, stats, now)
    assert [(r.twitch_id, r.username, r.text) for r in records] == [
        ("b1", "alice", "hello 😂"),
        ("b2", "bob", "waves"),
        ("b3", "carol", "late"),
    ]
    first, second, third = records
    assert first.tags["historical"] == "1" and first.tags["rm-received-ts"] == "1714564800500"
    assert first.sent_at == SENT
    assert second.tags["historical"] == "1"  # the source left it out: set
    assert "rm-received-ts" not in second.tags and second.is_action
    # No tmi-sent-ts: the time the source received it, not the time we fetched it.
    assert third.sent_at == datetime.fromtimestamp(1714564802, UTC)
    assert (stats.received, stats.not_chat, sum(stats.skipped.values())) == (4, 1, 0)


def test_it_skips_and_counts_lines_it_cannot_store():
    stats = IngestStats()
    lines = [
        stamped(privmsg("xqc", "alice", "wrong channel", twitch_id="w1")),
        "@historical=1 :bob!bob@bob.tmi.twitch.tv PRIVMSG #forsen :no id",
        42,
        "PRIVMSG #forsen :x\r\n@id=evil :eve!eve@eve PRIVMSG #forsen :smuggled",
        "@id=s1 :eve!eve@eve PRIVMSG #forsen :\ud800",
        "@id=big :eve!eve@eve PRIVMSG #forsen :" + "x" * 9000,
        "FROBNICATE #forsen :what",
        "@id=m1 :mallory PRIVMSG",
        stamped(privmsg("forsen", "alice", "the good one", twitch_id="ok")),
    ]
    records = backfill_records("forsen", lines, stats, datetime.now(UTC))
    assert [r.twitch_id for r in records] == ["ok"]
    assert stats.skipped == {
        "wrong_channel": 1,
        "no_id": 1,
        "malformed": 3,
        "invalid_utf8": 1,
        "oversized": 1,
        "unknown_command": 1,
    }
    assert stats.received == len(lines) == len(records) + sum(stats.skipped.values())


def test_it_says_how_many_lines_were_backfilled_in_the_summary():
    stats = IngestStats()
    stats.received, stats.stored, stats.duplicates, stats.not_chat = 9, 5, 3, 1
    assert stats.summary() == (
        "stored 5 messages, 3 duplicates, skipped 0, 1 other lines (not chat); "
        "received 9 lines, dropped 0"
    )
    stats.backfilled = 4
    assert stats.summary() == (
        "stored 5 messages, 3 duplicates, skipped 0, 1 other lines (not chat), backfilled 4; "
        "received 9 lines, dropped 0"
    )


# fetch() against a real HTTP server -------------------------------------------------


def test_it_fetches_what_the_source_holds_in_its_window(source):
    old, new = ms(SENT), ms(SENT) + 60_000
    source.record(privmsg("forsen", "a", "old", twitch_id="o1"), received_ms=old)
    source.record(privmsg("forsen", "a", "new", twitch_id="n1"), received_ms=new)
    source.record(privmsg("forsen", "a", "newer", twitch_id="n2"), received_ms=new + 1)
    url = recent_messages_url(source.url, "forsen", after_ms=old)
    assert [parse_line_id(line) for line in fetch(url).lines] == ["n1", "n2"]
    url = recent_messages_url(source.url, "forsen", limit=1)
    assert [parse_line_id(line) for line in fetch(url).lines] == ["n2"]
    url = recent_messages_url(source.url, "forsen", before_ms=new)
    assert [parse_line_id(line) for line in fetch(url).lines] == ["o1"]
    answer = fetch(recent_messages_url(source.url, "lirik"))
    assert (answer.lines, answer.error_code) == ([], "channel_not_joined")


def parse_line_id(line: str) -> str:
    from messages_app.ingest.parser import parse_line

    return parse_line(line).tags["id"]


@pytest.mark.parametrize(
    ("options", "reason", "detail"),
    [
        ({"status": 500, "body": b"Internal Server Error"}, "http_error", "HTTP 500"),
        ({"status": 403, "body": b'{"status": 403, "error": "The channel login `forsen` is '
          b'excluded from this service", "error_code": "channel_ignored"}'},
         "http_error", "HTTP 403, channel_ignored"),
        ({"body": b"x" * 2_000_000}, "too_large", "2000000 bytes"),
        ({"body": b"x" * 2_000_000, "send_length": False}, "too_large", "over 1000000 bytes"),
        ({"body": b"Hello, World"}, "bad_response", "not JSON"),
    ],
    ids=["500", "403", "huge", "huge-no-length", "garbage"],
)  # fmt: skip
def test_it_names_what_went_wrong_with_a_fetch(options, reason, detail):
    server = RecentMessagesServer(**options)
    try:
        with pytest.raises(BackfillError) as caught:
            fetch(recent_messages_url(server.url, "forsen"), max_bytes=1_000_000)
    finally:
        server.close()
    assert caught.value.reason == reason
    assert detail in caught.value.detail


def test_it_gives_up_on_a_source_that_is_down_or_slow():
    with pytest.raises(BackfillError) as caught:
        fetch(recent_messages_url(refused_url(), "forsen"))
    assert caught.value.reason == "unreachable"
    slow = RecentMessagesServer(delay=30)
    try:
        started = time.monotonic()
        with pytest.raises(BackfillError) as caught:
            fetch(recent_messages_url(slow.url, "forsen"), timeout=0.3)
        assert caught.value.reason == "timeout"
        assert time.monotonic() - started < 2
    finally:
        slow.close()


# Backfill on its own, with the real source -------------------------------------------


def test_it_asks_from_before_the_rejoin_whatever_arrives_live_after_it(source):
    """The window is fixed when our JOIN is confirmed: live lines that follow at once
    (and may be stored before the fetch starts) must not narrow it."""
    before_gap = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    source.record(privmsg("forsen", "a", "gap", twitch_id="g1"), received_ms=ms(before_gap) + 500)
    pipeline = Pipeline(IngestStats(), store=lambda batch: BatchResult())  # the queue only

    async def main() -> list:
        backfill = Backfill(source.url, pipeline)
        await backfill.put_live([chat("forsen", twitch_id="l0", sent_at=before_gap)])
        backfill.joined("forsen")
        later = before_gap + timedelta(minutes=5)
        await backfill.put_live([chat("forsen", twitch_id="l1", sent_at=later)])
        await asyncio.wait_for(asyncio.gather(*backfill._tasks.values()), 5)
        await backfill.close()
        return list(pipeline._queue)

    queued = asyncio.run(main())
    assert source.asked("forsen")[0].params["after"] == str(ms(before_gap) - 2000)
    assert [r.twitch_id for r in queued] == ["l0", "l1", "g1"]
    assert queued[2].tags["historical"] == "1"
    assert pipeline.stats.backfilled == 1


# The real client, in-process ---------------------------------------------------------


def backfilled_ids() -> set[str]:
    return set(Message.objects.filter(tags__historical="1").values_list("twitch_id", flat=True))


def test_it_backfills_the_gap_on_join_and_after_every_reconnect(
    twitch_server, ingest, source, store
):
    # The archive's newest line of #forsen is from a minute ago; the source has
    # it, an older one, and three said after it.
    stored_at = datetime.now(UTC).replace(microsecond=123000) - timedelta(minutes=1)
    store(chat("forsen", twitch_id="kept", sent_at=stored_at))
    Channel.objects.filter(name="forsen").update(enabled=True)
    source.record(privmsg("forsen", "a", "older", twitch_id="g0"), received_ms=ms(stored_at) - 5000)
    source.record(privmsg("forsen", "a", "kept", twitch_id="kept"), received_ms=ms(stored_at) + 40)
    for n in (1, 2, 3):
        said = stored_at + timedelta(seconds=n)
        line = privmsg("forsen", "b", f"gap {n}", twitch_id=f"g{n}", sent_at=said)
        source.record(line, received_ms=ms(said) + 30)

    runner = ingest(twitch_server.url, backfill_url=source.url)
    conn = twitch_server.wait_for_login()
    twitch_server.wait_for(lambda: conn.joined == {"forsen"}, "JOIN #forsen")
    wait_until(lambda: backfilled_ids() == {"g1", "g2", "g3"}, "the gap stored")
    first = source.answered("forsen")[0]
    assert first.params == {"limit": "800", "after": str(ms(stored_at) - 2000)}
    assert Message.objects.count() == 4  # "kept" is a duplicate, "g0" before the window

    # Live chat, then the connection drops; chat goes on without us.
    twitch_server.send(privmsg("forsen", "c", "live", twitch_id="l1", sent_at=datetime.now(UTC)))
    source.record(privmsg("forsen", "c", "live", twitch_id="l1"))
    wait_until(lambda: Message.objects.filter(twitch_id="l1").exists(), "the live line")
    live_sent = Message.objects.get(twitch_id="l1").sent_at
    source.record(privmsg("forsen", "d", "missed", twitch_id="m1"))  # Twitch never sends it to us
    twitch_server.drop()
    twitch_server.wait_for_login(connections=2)
    wait_until(lambda: "m1" in backfilled_ids(), "the line missed during the reconnect")
    second = source.answered("forsen")[1]
    assert second.params["after"] == str(ms(live_sent) - 2000)
    stats = runner.stop()
    assert sorted(Message.objects.values_list("twitch_id", flat=True)) == [
        "g1", "g2", "g3", "kept", "l1", "m1"
    ]  # fmt: skip
    assert "l1" not in backfilled_ids()  # stored live first: the backfilled copy was a duplicate
    # Fetched: kept, g1-3, then l1, m1; kept and l1 were duplicates.
    assert (stats.backfilled, stats.stored, stats.duplicates) == (6, 5, 2)
    assert stats.received == accounted(stats)
    assert ", backfilled 6; received" in stats.summary()


def test_it_backfills_a_channel_enabled_later(twitch_server, ingest, source):
    ChannelFactory(name="forsen")
    source.record(privmsg("xqc", "a", "said before we joined", twitch_id="x1"))
    ingest(twitch_server.url, backfill_url=source.url)
    conn = twitch_server.wait_for_login()
    twitch_server.wait_for(lambda: conn.joined == {"forsen"}, "JOIN #forsen")
    wait_until(lambda: source.answered("forsen"), "the backfill of #forsen")
    assert not source.asked("xqc")
    ChannelFactory(name="xqc")
    wait_until(lambda: backfilled_ids() == {"x1"}, "the backfill of #xqc, joined later")
    assert source.asked("xqc")[0].params == {"limit": "800"}  # nothing stored: the newest lines


def test_it_keeps_one_fetch_per_channel_in_flight(twitch_server, ingest):
    ChannelFactory(name="forsen")
    source = RecentMessagesServer(known={"forsen"}, delay=1.0)
    try:
        runner = ingest(twitch_server.url, backfill_url=source.url)
        twitch_server.wait_for_login()
        wait_until(lambda: source.asked("forsen"), "the first fetch")
        for connection in (2, 3):  # two reconnects while it is in flight
            twitch_server.drop()
            conn = twitch_server.wait_for_login(connections=connection)
            twitch_server.wait_for(lambda conn=conn: conn.joined == {"forsen"}, "JOIN again")
        source.record(privmsg("forsen", "a", "missed", twitch_id="m1"))
        # The rejoins while it ran are one more fetch after it, not two at once.
        wait_until(lambda: len(source.answered("forsen")) == 2, "the follow-up fetch", 5)
        time.sleep(0.3)
        assert len(source.asked("forsen")) == 2
        assert source.most_in_flight["forsen"] == 1
        wait_until(lambda: backfilled_ids() == {"m1"}, "the follow-up's line stored")
        runner.stop()
    finally:
        source.close()


def warnings_about_backfill(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith("backfill of #forsen")
    ]


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"url": "refused"}, "unreachable"),
        ({"body": b"<html><body>502 Bad Gateway</body></html>"}, "bad_response"),
        ({"status": 503, "body": b"Service Unavailable"}, "http_error"),
        ({"status": 400, "body": b'{"status": 400, "error_code": "invalid_channel_login"}'},
         "http_error"),
        ({"body": b'{"messages": [], "error": "boom", "error_code": "internal_server_error"}'},
         "source_error"),
        ({"known": set()}, "channel_not_joined"),
        ({"body": (b'{"messages": ["' + b"x" * 200 + b'"]}') * 60_000}, "too_large"),
    ],
    ids=["down", "garbage", "503", "400", "error-json", "not-joined", "huge"],
)  # fmt: skip
def test_it_keeps_live_ingest_going_when_the_source_fails(
    twitch_server, ingest, caplog, options, reason
):
    ChannelFactory(name="forsen")
    options = {"known": {"forsen"}, **options}
    url = options.pop("url", None)
    source = RecentMessagesServer(**options)
    before = errors(reason)
    try:
        runner = ingest(twitch_server.url, backfill_url=refused_url() if url else source.url)
        conn = twitch_server.wait_for_login()
        twitch_server.wait_for(lambda: conn.joined == {"forsen"}, "JOIN #forsen")
        wait_until(lambda: errors(reason) == before + 1, f"the {reason} error counted", 5)
        sent = time.monotonic()
        twitch_server.send(privmsg("forsen", "alice", "still here", twitch_id="live1"))
        wait_until(lambda: Message.objects.filter(twitch_id="live1").exists(), "live chat", 1)
        assert time.monotonic() - sent < 1
        stats = runner.stop()
    finally:
        source.close()
    assert len(warnings_about_backfill(caplog)) == 1, caplog.text
    assert f"({reason})" in warnings_about_backfill(caplog)[0]
    assert "x" * 50 not in caplog.text  # no body in the log
    assert stats.stored == 1 and stats.backfilled == 0
    assert stats.received == accounted(stats)
    assert "backfilled" not in stats.summary()


def test_it_stores_live_chat_at_once_while_the_source_is_slow(twitch_server, ingest, caplog):
    ChannelFactory(name="forsen")
    source = RecentMessagesServer(known={"forsen"}, delay=30)  # answers after 30 s
    before = errors("timeout")
    try:
        runner = ingest(
            twitch_server.url, backfill_url=source.url, backfill_options={"timeout": 1.5}
        )
        twitch_server.wait_for_login()
        wait_until(lambda: source.in_flight["forsen"] == 1, "the fetch under way")
        for n in range(3):
            sent = time.monotonic()
            twitch_server.send(privmsg("forsen", "alice", f"live {n}", twitch_id=f"live{n}"))
            wait_until(lambda n=n: Message.objects.filter(twitch_id=f"live{n}").exists(),
                       "live chat while the fetch hangs", 1)  # fmt: skip
            assert time.monotonic() - sent < 1
        assert source.in_flight["forsen"] == 1  # still waiting for its answer
        wait_until(lambda: errors("timeout") == before + 1, "the fetch given up", 3)
        stats = runner.stop()
    finally:
        source.close()
    assert "(timeout)" in warnings_about_backfill(caplog)[0]
    assert stats.stored == 3 and stats.received == accounted(stats)


def test_it_stops_at_once_while_a_fetch_hangs(twitch_server, ingest):
    ChannelFactory(name="forsen")
    source = RecentMessagesServer(known={"forsen"}, delay=30)
    try:
        runner = ingest(twitch_server.url, backfill_url=source.url)  # the 10 s timeout
        twitch_server.wait_for_login()
        wait_until(lambda: source.in_flight["forsen"] == 1, "the fetch under way")
        started = time.monotonic()
        runner.stop()
        assert time.monotonic() - started < 2
    finally:
        source.close()


# The command ----------------------------------------------------------------------


def test_it_refuses_a_backfill_url_that_is_not_http(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest", "--replay", str(tmp_path / "none")],
        cwd=REPO,
        env={**_env(), "INGEST_BACKFILL_URL": "ftp://recent-messages.example/api/v2"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "INGEST_BACKFILL_URL must be an http:// or https:// URL" in result.stderr


@pytest.mark.django_db
def test_it_names_the_option_of_a_bad_backfill_url(tmp_path):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--backfill-url must be an http"):
        call_command(
            "ingest", "--backfill-url", "recent-messages.robotty.de", "--channel", "forsen",
            "--replay", str(tmp_path / "x"),
        )  # fmt: skip
    assert not Channel.objects.exists()  # stopped before it changed anything


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("TWITCH_", "INGEST_"))}
