"""The real client, in-process, against a Twitch-protocol server over TCP on 127.0.0.1."""

import itertools
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from messages_app.ingest.irc import DRAIN_MAX_S, TAKE_MAX_S
from messages_app.ingest.simulator import privmsg
from messages_app.models import Channel, ChatUser, Message
from tests.factories import ChannelFactory
from tests.ingest.twitch_server import ThreadedTwitchServer, wait_until


def stored_ids() -> list[str]:
    return list(Message.objects.order_by("id").values_list("twitch_id", flat=True))


def test_it_logs_in_anonymously_and_asks_for_tags_and_commands(twitch_server, ingest):
    ingest(twitch_server.url)
    conn = twitch_server.wait_for_login()
    assert conn.caps == ["twitch.tv/tags", "twitch.tv/commands"]
    assert re.fullmatch(r"justinfan\d+", conn.nick)
    assert conn.token == ""
    assert not any(line.startswith("PASS") for line in conn.received)


def test_it_logs_in_with_a_token(twitch_server, ingest):
    ingest(twitch_server.url, username="GoknutBot", token="abc123")
    conn = twitch_server.wait_for_login()
    assert (conn.nick, conn.token) == ("goknutbot", "oauth:abc123")


def test_it_stores_chat_with_tags_emoji_and_actions(twitch_server, ingest):
    ingest(twitch_server.url)
    twitch_server.wait_for_login()
    twitch_server.send(
        privmsg(
            "forsen",
            "sleepyotter",
            "hello 😂 ❤️ straße 日本語 привет",
            twitch_id="m1",
            tags={"display-name": "Sleepy Otter", "badges": "vip/1", "color": "#9ACD32"},
        ),
        privmsg("forsen", "stormknight", "waves at chat", twitch_id="m2", action=True),
    )
    wait_until(lambda: Message.objects.count() == 2, "two stored messages")
    first, second = Message.objects.order_by("id").select_related("user", "channel")
    assert first.text == "hello 😂 ❤️ straße 日本語 привет"
    assert first.user.display_name == "Sleepy Otter"
    assert (first.all_tags["badges"], first.color) == ("vip/1", "#9ACD32")
    assert (second.text, second.is_action) == ("waves at chat", True)


def test_it_answers_ping_with_pong(twitch_server, ingest):
    ingest(twitch_server.url)
    twitch_server.wait_for_login()
    twitch_server.send("PING :tmi.twitch.tv")
    twitch_server.wait_for(
        lambda: "PONG :tmi.twitch.tv" in twitch_server.current.received, "PONG :tmi.twitch.tv"
    )


def test_it_joins_and_parts_as_the_database_changes(twitch_server, ingest):
    ChannelFactory(name="forsen")
    ChannelFactory(name="xqc", enabled=False)
    ingest(twitch_server.url)
    conn = twitch_server.wait_for_login()
    twitch_server.wait_for(lambda: conn.joined == {"forsen"}, "JOIN #forsen only")

    Channel.objects.filter(name="xqc").update(enabled=True)
    ChannelFactory(name="lirik")
    twitch_server.wait_for(lambda: conn.joined == {"forsen", "xqc", "lirik"}, "two JOINs", 2)

    Channel.objects.filter(name="forsen").update(enabled=False)
    Channel.objects.filter(name="lirik").delete()
    twitch_server.wait_for(lambda: conn.joined == {"xqc"}, "two PARTs", 2)
    assert "PART #forsen,#lirik" in conn.received or {"PART #forsen", "PART #lirik"} <= set(
        conn.received
    )


def test_it_keeps_to_the_join_rate_limit(twitch_server, ingest):
    for n in range(7):
        ChannelFactory(name=f"channel{n}")
    ingest(twitch_server.url, join_limit=3, join_window=0.5)
    conn = twitch_server.wait_for_login()
    started = time.monotonic()
    twitch_server.wait_for(lambda: len(conn.joined) == 7, "all 7 joins after two windows", 5)
    assert time.monotonic() - started >= 2 * 0.5 - 0.05  # 3 now, 3 after 0.5 s, 1 after 1 s
    joins = [line for line in conn.received if line.startswith("JOIN ")]
    assert [len(line.split(",")) for line in joins] == [3, 3, 1]


def test_it_reconnects_when_the_server_drops_and_stores_nothing_twice(twitch_server, ingest):
    ChannelFactory(name="forsen")
    runner = ingest(twitch_server.url)
    twitch_server.wait_for_login()
    twitch_server.send(
        *[privmsg("forsen", "alice", f"line {n}", twitch_id=f"d{n}") for n in range(5)]
    )
    wait_until(lambda: Message.objects.count() == 5, "the first 5 lines")

    twitch_server.drop()
    conn = twitch_server.wait_for_login(connections=2)
    twitch_server.wait_for(lambda: conn.joined == {"forsen"}, "JOIN again after reconnecting")
    # Twitch may repeat lines around a reconnect; their ids make them duplicates.
    twitch_server.send(
        *[privmsg("forsen", "alice", f"line {n}", twitch_id=f"d{n}") for n in range(3, 8)]
    )
    wait_until(lambda: Message.objects.count() == 8, "lines after the reconnect")
    stats = runner.stop()
    assert stored_ids() == [f"d{n}" for n in range(8)]
    assert ChatUser.objects.get(username="alice").total_messages == 8
    assert (stats.stored, stats.duplicates) == (8, 2)


def test_it_reconnects_at_once_on_reconnect(twitch_server, ingest):
    runner = ingest(twitch_server.url, reconnect_base=5.0)  # a backoff would time the test out
    first = twitch_server.wait_for_login()
    twitch_server.send("RECONNECT")
    second = twitch_server.wait_for_login(connections=2, timeout=2)
    assert second is not first
    wait_until(lambda: first.closed, "the old connection closed")
    assert runner.stop().stored == 0


def test_it_replaces_a_silent_connection(ingest):
    server = ThreadedTwitchServer(answer_pings=False)
    try:
        ingest(server.url, silence=0.2, pong_timeout=0.2)
        first = server.wait_for_login()
        second = server.wait_for_login(connections=2, timeout=3)
        assert "PING :tmi.twitch.tv" in first.received
        assert first.closed and second is not first
    finally:
        server.close()


def test_it_skips_bad_lines_counts_them_and_keeps_going(twitch_server, ingest):
    runner = ingest(twitch_server.url)
    twitch_server.wait_for_login()
    twitch_server.send_bytes(b"\xff\xfe PRIVMSG #forsen :broken\r\n")
    twitch_server.send_bytes(b"@id=1;color=#FFF\r\n")  # tags and nothing else
    twitch_server.send_bytes(b"PRIVMSG #forsen :" + b"x" * 40_000 + b"\r\n")
    twitch_server.send("FROBNICATE #forsen :what is this")
    twitch_server.send(privmsg("forsen", "alice", "still here", twitch_id="ok1"))
    wait_until(lambda: Message.objects.count() == 1, "the good line after the bad ones")
    assert Message.objects.get().text == "still here"
    stats = runner.stop()
    assert stats.skipped == {
        "invalid_utf8": 1,
        "malformed": 1,
        "oversized": 1,
        "unknown_command": 1,
    }
    assert stats.stored == 1


def test_a_slow_store_on_stop_loses_nothing_the_server_sent_before_its_answer(caplog):
    """Storing holds the reader back (a small queue, tiny batches): reading up to
    the drain answer takes far longer than drain_timeout, and still every line
    sent before the answer is stored."""
    server = ThreadedTwitchServer()
    from tests.ingest.conftest import InProcessIngest

    runner = InProcessIngest(server.url, queue_size=10, batch_size=2, drain_timeout=0.2)
    try:
        conn = server.wait_for_login()
        ChannelFactory(name="forsen")
        lines = [
            privmsg("forsen", f"v{n % 9}", f"line {n}", twitch_id=f"s{n}") for n in range(2000)
        ]
        server.send_nowait(*lines)
        wait_until(lambda: Message.objects.count() > 20, "storing under way")
        started = time.monotonic()
        stats = runner.stop(timeout=60)
        took = time.monotonic() - started
    finally:
        server.close()
    answered = [sent for payload, sent in conn.pongs if payload.startswith("drain")]
    assert answered and took > 0.2  # the answer came later than drain_timeout
    assert "no answer to the drain PING" not in caplog.text
    assert Message.objects.count() == stats.stored >= answered[-1]


def test_it_stores_what_it_read_when_the_server_ignores_the_drain_ping(caplog):
    """A server that never answers: the stop still takes every line asyncio read."""
    server = ThreadedTwitchServer(answer_pings=False)
    from tests.ingest.conftest import InProcessIngest

    runner = InProcessIngest(server.url, queue_size=20, batch_size=5, drain_timeout=0.3)
    try:
        server.wait_for_login()
        ChannelFactory(name="forsen")
        lines = [
            privmsg("forsen", f"v{n % 9}", f"line {n}", twitch_id=f"d{n}") for n in range(2000)
        ]
        server.send_nowait(*lines)
        wait_until(lambda: Message.objects.count() > 100, "storing under way")
        # The server sends on while the reader waits for batches of 5 to be
        # stored (15 s and more on a loaded PostgreSQL): give it the drain's own bound.
        stats = runner.stop(timeout=DRAIN_MAX_S + TAKE_MAX_S + 15)
    finally:
        server.close()
    assert "no answer to the drain PING" in caplog.text
    assert stats.stored == Message.objects.count() > 100
    # The server never stops sending: at most the line it was in the middle of
    # when the client closed is cut off, and it is counted.
    assert set(stats.dropped) <= {"cut_off"} and stats.dropped["cut_off"] <= 1
    assert stats.received == stats.stored + stats.not_chat + stats.dropped["cut_off"]


def test_it_stores_the_lines_after_a_reconnect_request_in_the_same_read(twitch_server, ingest):
    runner = ingest(twitch_server.url)
    twitch_server.wait_for_login()
    before = [privmsg("forsen", "a", f"b{n}", twitch_id=f"b{n}") for n in range(200)]
    # More than one read's worth (256 KB) after the request: some of it is still
    # in the socket when the client handles RECONNECT.
    after = [privmsg("forsen", "a", f"a{n}", twitch_id=f"a{n}") for n in range(3000)]
    twitch_server.send(*before, ":tmi.twitch.tv RECONNECT", *after)
    twitch_server.wait_for_login(connections=2)
    wait_until(lambda: Message.objects.count() == 3200, "every line sent before the close")
    stats = runner.stop()
    assert stats.received == stats.stored + stats.not_chat


def test_it_stores_quiet_chat_at_once(twitch_server, ingest):
    ingest(twitch_server.url, flush_ms=10_000)
    twitch_server.wait_for_login()
    twitch_server.send(privmsg("forsen", "alice", "anyone here?", twitch_id="q1"))
    # Nothing else is waiting, so the batch is flushed without waiting flush_ms.
    wait_until(lambda: Message.objects.exists(), "the message, well before flush_ms", 2)


pytestmark = pytest.mark.django_db(transaction=True)


def test_it_stops_at_once_while_a_tls_handshake_hangs(ingest):
    # The kernel completes the TCP handshake, but nothing ever answers the TLS
    # ClientHello: the client is stuck connecting (for up to 15 s) when told to stop.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(5)
        runner = ingest(f"ircs://127.0.0.1:{listener.getsockname()[1]}")
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.recv(5)[0] == 0x16  # a TLS handshake record: the ClientHello
            started = time.monotonic()
            runner.stop()
            assert time.monotonic() - started < 2


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (needs the openssl command)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl command not found")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=cert)


def test_it_speaks_tls_and_checks_the_certificate(certificate, ingest, caplog):
    server_context, trusting = certificate
    server = ThreadedTwitchServer(tls=server_context)
    try:
        assert server.url.startswith("ircs://")
        refusing = ingest(server.url)  # the system's CAs: this certificate is refused
        wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in caplog.text, "a refused certificate")
        refusing.stop()
        assert not server.connections  # no handshake completed

        ingest(server.url, tls_context=trusting)
        server.wait_for_login()
        server.send(privmsg("forsen", "alice", "over TLS", twitch_id="tls1"))
        wait_until(lambda: Message.objects.filter(text="over TLS").exists(), "the message")
    finally:
        server.close()


def test_it_backs_off_exponentially_and_resets_after_a_stable_connection(ingest):
    server = ThreadedTwitchServer(hang_up=True)
    try:
        ingest(server.url, reconnect_base=0.05, reconnect_max=1.0, stable_after=0.5)
        wait_until(lambda: len(server.connections) >= 7, "7 attempts")
        opened = [conn.opened_at for conn in server.connections[:7]]
        gaps = [later - earlier for earlier, later in itertools.pairwise(opened)]
        # Full jitter: each wait is between half and all of min(max, base * 2**n).
        ceilings = [0.05, 0.1, 0.2, 0.4, 0.8, 1.0]
        assert all(gap >= ceiling / 2 for gap, ceiling in zip(gaps, ceilings, strict=True))

        server.set(hang_up=False)
        server.wait_for_login(connections=8, timeout=3)
        time.sleep(0.7)  # longer than stable_after
        dropped = time.monotonic()
        server.drop()
        again = server.wait_for_login(connections=9)
        # The backoff started over (at most 0.05 s), not at 0.5-1 s.
        assert again.opened_at - dropped < 0.4
    finally:
        server.close()
