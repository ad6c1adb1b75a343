"""Backfill after a gap, with the real `manage.py ingest` as operators run it.

Ingest runs against the Twitch-protocol test server over TCP, with a real HTTP
recent-messages source that, like the real service, stays in the channel and
records every line Twitch sent. Runs on whatever database the suite uses (the
`db_url` fixture); no Redis needed.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from messages_app.models import Channel, Message
from tests.factories import ChannelFactory
from tests.ingest.recent_messages_server import RecentMessagesServer
from tests.ingest.twitch_server import ThreadedTwitchServer, manage, privmsg, wait_until
from tests.live.conftest import free_port

CHANNEL = "forsen"


def finish(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"ingest did not exit in {timeout}s:\n{err[-3000:]}") from None
    return proc.returncode, out, err


def count(out: str, pattern: str) -> int:
    match = re.search(pattern, out)
    assert match, f"no {pattern!r} in the summary: {out!r}"
    return int(match.group(1))


def accounted(out: str) -> int:
    """stored + duplicates + skipped + other lines + dropped, from a summary."""
    other = re.search(r"(\d+) other lines", out)
    return (
        count(out, r"stored (\d+) messages")
        + count(out, r"(\d+) duplicates")
        + count(out, r"skipped (\d+)")
        + (int(other.group(1)) if other else 0)
        + count(out, r"dropped (\d+)")
    )


def ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


class Chat:
    """Twitch and the recent-messages service: every line said reaches both
    (ingest only while it is connected)."""

    def __init__(self) -> None:
        self.twitch = ThreadedTwitchServer()
        self.source = RecentMessagesServer(known={CHANNEL})
        self.said: list[str] = []

    def say(self, prefix: str, n: int, *, ago: timedelta = timedelta(0)) -> list[str]:
        sent_at = datetime.now(UTC) - ago
        ids = [f"{prefix}-{i}" for i in range(n)]
        lines = [
            privmsg(CHANNEL, f"viewer{i % 7}", f"{prefix} line {i}", twitch_id=twitch_id,
                    sent_at=sent_at)
            for i, twitch_id in enumerate(ids)
        ]  # fmt: skip
        self.twitch.send(*lines)
        self.source.record(*lines, received_ms=ms(sent_at) + 20)
        self.said += ids
        return ids

    def synced(self, conn, token: str) -> None:
        """Wait until ingest has read everything sent so far (it answers this PING
        after queueing every line before it)."""
        self.twitch.send(f"PING :{token}")
        self.twitch.wait_for(lambda: f"PONG :{token}" in conn.received, f"PONG :{token}")

    def close(self) -> None:
        self.twitch.close()
        self.source.close()


@pytest.fixture
def chat():
    world = Chat()
    yield world
    world.close()


def start_ingest(db_url: str, chat: Chat, connection: int, *args: str, **popen) -> subprocess.Popen:
    """`manage.py ingest` against the chat's Twitch; returns once it has joined."""
    proc = manage(db_url, "ingest", "--irc-url", chat.twitch.url, *args, **popen)
    try:
        conn = chat.twitch.wait_for_login(connections=connection, timeout=30)
        chat.twitch.wait_for(lambda: conn.joined == {CHANNEL}, "JOIN #forsen")
    except BaseException:
        proc.kill()
        raise
    proc.conn = conn
    return proc


def test_it_backfills_what_was_said_while_ingest_was_stopped(db_url, chat):
    ChannelFactory(name=CHANNEL)
    source = chat.source
    first = start_ingest(db_url, chat, 1, "--backfill-url", source.url)
    try:
        wait_until(lambda: source.answered(CHANNEL), "the first backfill")
        old = chat.say("old", 5, ago=timedelta(minutes=10))
        live = chat.say("live", 20)
        chat.synced(first.conn, "first")
        wait_until(lambda: Message.objects.count() == 25, "the live chat stored")
        first.send_signal(signal.SIGTERM)
        code, out, err = finish(first)
    finally:
        first.kill()
    assert code == 0, err[-3000:]
    assert out.startswith("stored 25 messages, 0 duplicates, skipped 0")
    assert "backfilled" not in out  # the source had nothing before we joined
    newest = Channel.objects.get(name=CHANNEL).last_message_at

    gap = chat.say("gap", 30)  # nobody is listening on Twitch's side
    time.sleep(0.2)

    second = start_ingest(db_url, chat, 2, "--backfill-url", source.url)
    try:
        wait_until(lambda: len(source.answered(CHANNEL)) == 2, "the backfill after the restart")
        after = chat.say("after", 10)
        chat.synced(second.conn, "second")
        wait_until(lambda: Message.objects.count() == 65, "every line stored", 15)
        second.send_signal(signal.SIGTERM)
        code, out, err = finish(second)
    finally:
        second.kill()
    assert code == 0, err[-3000:]

    # Asked for everything since the archive's newest line, less the overlap.
    request = source.answered(CHANNEL)[1]
    assert request.params == {"limit": "800", "after": str(ms(newest) - 2000)}
    served = [re.search(r"[@;]id=([^; ]+)", line).group(1) for line in request.served]
    assert set(served) == set(live) | set(gap)  # not the old lines: before the window

    # The archive holds every line Twitch sent, each once.
    ids = list(Message.objects.values_list("twitch_id", flat=True))
    assert len(ids) == len(chat.said) == 65
    assert set(ids) == set(old) | set(live) | set(gap) | set(after)
    # Exactly the lines ingest missed are marked as backfilled, with the source's tags.
    historical = Message.objects.filter(tags__historical="1")
    assert set(historical.values_list("twitch_id", flat=True)) == set(gap)
    for twitch_id, tags in historical.values_list("twitch_id", "tags"):
        assert tags["rm-received-ts"] == str(source.received_ts[twitch_id])
    assert Channel.objects.get(name=CHANNEL).total_messages == 65

    # The summary says so, and every line received is accounted for.
    assert out.startswith("stored 40 messages, 20 duplicates, skipped 0")
    assert count(out, r"backfilled (\d+);") == len(served) == 50
    assert count(out, r"received (\d+) lines") == accounted(out)
    assert "dropped 0" in out


def test_it_ingests_live_chat_and_exits_at_once_when_the_source_hangs(db_url, chat):
    """A source that answers after 30 s: live lines are stored within a second,
    and SIGTERM still ends the process at once (the fetch is not waited for)."""
    ChannelFactory(name=CHANNEL)
    chat.source.delay = 30
    proc = start_ingest(db_url, chat, 1, "--backfill-url", chat.source.url)
    try:
        wait_until(lambda: chat.source.in_flight[CHANNEL] == 1, "the fetch under way")
        for n in range(3):
            sent = time.monotonic()
            chat.say(f"live{n}", 1)
            wait_until(lambda n=n: Message.objects.filter(twitch_id=f"live{n}-0").exists(),
                       "a live line while the fetch hangs", 1)  # fmt: skip
            assert time.monotonic() - sent < 1
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc, timeout=10)
    finally:
        proc.kill()
    assert code == 0, err[-3000:]
    assert time.monotonic() - stopped < 5
    assert out.startswith("stored 3 messages, 0 duplicates, skipped 0")


def test_it_ingests_as_usual_when_the_source_is_down(db_url, chat):
    ChannelFactory(name=CHANNEL)
    # A port bound and never listened on: connection refused, and no other
    # test's server can take it meanwhile (a closed server's port could be).
    refusing = socket.socket()
    refusing.bind(("127.0.0.1", 0))
    down = f"http://127.0.0.1:{refusing.getsockname()[1]}/api/v2"
    port = free_port()
    proc = start_ingest(db_url, chat, 1, "--backfill-url", down, "--metrics-port", str(port))
    try:
        chat.say("live", 5)
        chat.synced(proc.conn, "down")
        wait_until(lambda: Message.objects.count() == 5, "live chat stored")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
    finally:
        proc.kill()
        refusing.close()
    assert code == 0, err[-3000:]
    assert out.startswith("stored 5 messages, 0 duplicates, skipped 0")
    warnings = [line for line in err.splitlines() if "WARNING" in line and "backfill" in line]
    assert len(warnings) == 1 and "failed (unreachable)" in warnings[0], err[-3000:]
    assert not Message.objects.filter(tags__historical="1").exists()
    assert 'goknut_ingest_backfill_errors_total{reason="unreachable"} 1.0' in metrics


def test_it_does_not_backfill_with_no_backfill(db_url, chat):
    ChannelFactory(name=CHANNEL)
    chat.source.record(privmsg(CHANNEL, "a", "said before", twitch_id="before"))
    proc = start_ingest(
        db_url, chat, 1, "--no-backfill", env={"INGEST_BACKFILL_URL": chat.source.url}
    )
    try:
        chat.say("live", 1)
        chat.synced(proc.conn, "off")
        wait_until(lambda: Message.objects.count() == 1, "live chat stored")
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, err[-3000:]
    assert not chat.source.asked()
    assert not Message.objects.filter(twitch_id="before").exists()
    assert out.startswith("stored 1 messages, 0 duplicates, skipped 0")
    assert "backfilled" not in out
