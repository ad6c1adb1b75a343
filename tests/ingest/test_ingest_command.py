"""`manage.py ingest` as operators run it: a subprocess against the test database."""

import re
import signal
import socket
import subprocess
from io import BytesIO, StringIO, TextIOWrapper
from pathlib import Path

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from messages_app.models import Channel, Kind, Message
from tests.factories import ChannelFactory
from tests.ingest.twitch_server import ThreadedTwitchServer, manage, privmsg, wait_until

LOG = Path(__file__).parent / "data" / "twitch.log"


def finish(proc: subprocess.Popen, timeout: float = 30, stdin: str | None = None):
    """Wait for the process; returns (exit code, stdout, stderr)."""
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"ingest did not exit in {timeout}s:\n{err[-3000:]}") from None
    return proc.returncode, out, err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_it_exits_with_an_error_on_a_bad_oauth_token(db_url):
    server = ThreadedTwitchServer(check_token=lambda token: token == "oauth:good")
    try:
        proc = manage(
            db_url,
            "ingest",
            "--irc-url",
            server.url,
            env={"TWITCH_USERNAME": "goknutbot", "TWITCH_OAUTH_TOKEN": "oauth:bad"},
        )
        code, _, err = finish(proc, timeout=20)
        assert code == 1
        assert "Login authentication failed" in err
        assert "TWITCH_OAUTH_TOKEN" in err
        assert len(server.connections) == 1  # no retry loop
    finally:
        server.close()


def test_it_stores_every_received_line_on_sigterm_with_a_full_queue(db_url, twitch_server):
    ChannelFactory(name="forsen")
    proc = manage(
        db_url, "ingest", "--irc-url", twitch_server.url, "--queue-size", "200", "--batch-size", "5"
    )
    try:
        conn = twitch_server.wait_for_login(timeout=20)
        twitch_server.wait_for(lambda: conn.joined == {"forsen"}, "JOIN #forsen")
        lines = [
            privmsg("forsen", f"viewer{n % 50}", f"chat {n}", twitch_id=f"s{n}")
            for n in range(1500)
        ]
        twitch_server.send(*lines, "PING :all-sent")
        # The client answers a PING only after it has queued every line before it.
        twitch_server.wait_for(lambda: "PONG :all-sent" in conn.received, "PONG", 30)
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, err[-3000:]
    queued = int(re.search(r"storing (\d+) received records", err).group(1))
    assert queued > 0  # the queue still held records when the signal came
    assert "stored 1500 messages, 0 duplicates, skipped 0" in out
    assert Message.objects.count() == 1500
    assert Channel.objects.get(name="forsen").total_messages == 1500


def summary_count(out: str, pattern: str) -> int:
    match = re.search(pattern, out)
    assert match, f"no {pattern!r} in the summary: {out!r}"
    return int(match.group(1))


def sigterm_mid_burst(db_url: str, env: dict | None = None) -> str:
    """SIGTERM while the socket, asyncio's buffer and the queue all hold chat;
    checks that every chat line the server wrote before answering ingest's
    drain PING is stored, and returns the summary."""
    ChannelFactory(name="forsen")
    server = ThreadedTwitchServer(rate=5000)
    proc = manage(
        db_url, "ingest", "--irc-url", server.url, "--queue-size", "100", "--batch-size", "50",
        env=env or {},
    )  # fmt: skip
    try:
        conn = server.wait_for_login(timeout=20)
        server.wait_for(lambda: conn.sent >= 4000, "a burst under way", 30)
        proc.send_signal(signal.SIGTERM)
        code, out, err = finish(proc)
    finally:
        proc.kill()
        server.close()
    assert code == 0, err[-3000:]
    sent_before_answer = [sent for payload, sent in conn.pongs if payload.startswith("drain")]
    assert sent_before_answer, f"ingest stopped reading without draining: {out!r}"
    stored = Message.objects.count()
    # Lines read in the same chunk as the answer count too: they were received.
    assert sent_before_answer[-1] <= stored <= conn.sent
    assert stored >= 4000  # we signalled once the server had sent 4,000
    assert summary_count(out, r"stored (\d+) messages") == stored
    assert "dropped 0" in out
    return out


def test_it_stores_every_line_it_read_when_sigterm_comes_mid_burst(db_url):
    out = sigterm_mid_burst(db_url)
    stored = Message.objects.count()
    # Every line read is accounted for: stored, or counted as something else.
    received = summary_count(out, r"received (\d+) lines")
    other = summary_count(out, r"(\d+) other lines")
    assert received == stored + other
    assert "dropped 0" in out


def test_it_replays_a_twitch_log_file(db_url):
    code, out, err = finish(manage(db_url, "ingest", "--replay", str(LOG)))
    assert code == 0, err
    # 5 chat lines, a resub and a timeout; one line repeats.
    assert out.strip().startswith(
        "stored 7 messages, 1 duplicates, skipped 2 (malformed 1, unknown_command 1)"
    )
    resub = Message.objects.get(kind=Kind.USERNOTICE)
    assert (resub.user.username, resub.all_tags["msg-id"]) == ("turbofox", "resub")
    assert resub.system_text
    timeout = Message.objects.get(kind=Kind.CLEARCHAT)
    assert (timeout.user.username, timeout.all_tags["ban-duration"]) == ("spammer42", "600")
    texts = dict(Message.objects.values_list("twitch_id", "text"))
    assert texts["0a1b2c3d-1111-4e5f-9a6b-7c8d9e0f1a2b"] == "Kappa 😂 straße 日本語"
    action = Message.objects.get(twitch_id="5e6f7a8b-2222-4c3d-8e9f-0a1b2c3d4e5f")
    assert (action.text, action.is_action) == ("waves at chat", True)
    reply = Message.objects.select_related("user").get(text="@DarkWolf hi there")
    assert reply.all_tags["reply-parent-msg-body"] == "hi there; \\o/"  # "\:" is ";"
    assert reply.user.display_name == "Sleepy Otter"
    # A replayed log does not make ingest join its channels.
    assert set(Channel.objects.values_list("name", "enabled")) == {
        ("forsen", False),
        ("xqc", False),
    }

    again = StringIO()
    call_command("ingest", "--replay", str(LOG), stdout=again)
    assert again.getvalue().startswith("stored 0 messages, 8 duplicates")
    assert Message.objects.count() == 7


@pytest.mark.django_db(transaction=True)
def test_it_replays_json_lines_from_stdin(monkeypatch):
    lines = (
        '{"channel": "forsen", "username": "alice", "text": "hi", "id": "j1",'
        ' "sent_at": "2024-05-01T12:00:00Z", "tags": {"color": "#FF0000"}}\n'
        '{"channel": "forsen", "text": "no user"}\n'
        '{"channel": "forsen", "login": "bob", "text": "yo", "tmi-sent-ts": 1714564800000}\n'
    )
    monkeypatch.setattr("sys.stdin", TextIOWrapper(BytesIO(lines.encode())))
    out = StringIO()
    call_command("ingest", "--replay", "-", stdout=out)
    assert out.getvalue().startswith("stored 2 messages, 0 duplicates, skipped 1")
    assert sorted(Message.objects.values_list("user__username", "text")) == [
        ("alice", "hi"),
        ("bob", "yo"),
    ]


@pytest.mark.django_db
def test_it_rejects_a_bad_channel_name(tmp_path):
    with pytest.raises(CommandError, match="bad channel name"):
        call_command("ingest", "--channel", "no spaces!", "--replay", str(tmp_path / "x"))
    with override_settings(TWITCH_CHANNELS=["ok", "#also-bad"]), pytest.raises(CommandError):
        call_command("ingest", "--replay", str(tmp_path / "x"))
    assert not Channel.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_it_creates_and_enables_channels_from_options_and_settings(tmp_path):
    ChannelFactory(name="lirik", enabled=False)
    empty = tmp_path / "empty.log"
    empty.write_text("")
    with override_settings(TWITCH_CHANNELS=["xqc"]):
        call_command("ingest", "--channel", "#Forsen", "--channel", "lirik", "--replay", str(empty))
    assert set(Channel.objects.to_join().values_list("name", flat=True)) == {
        "forsen",
        "lirik",
        "xqc",
    }


def test_it_runs_a_demo_without_internet_and_serves_metrics(db_url):
    port = free_port()
    proc = manage(db_url, "ingest", "--demo", "--rate", "200", "--metrics-port", str(port))
    try:
        wait_until(lambda: Message.objects.count() >= 50, "demo chat stored", 20)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        proc.send_signal(signal.SIGINT)
        code, out, err = finish(proc)
    finally:
        proc.kill()
    assert code == 0, err[-3000:]
    assert re.search(r"^goknut_ingest_messages_stored_total [1-9]", metrics, re.M)
    assert "goknut_ingest_irc_connected 1.0" in metrics
    stored = int(re.search(r"stored (\d+) messages", out).group(1))
    assert stored == Message.objects.count()
    # The demo's first run adds its channels, enabled: it chats in what is to be
    # joined, as Twitch would (tests/ingest/test_demo_follows_channels.py).
    assert Channel.objects.to_join().count() == 6
    assert Message.objects.filter(text__regex=r"[^\x00-\x7f]").exists()  # unicode in chat


def test_the_running_ingest_removes_expired_chat_and_counts_it_in_metrics(db_url, store):
    from datetime import UTC, datetime, timedelta

    from tests.conftest import chat

    old = datetime.now(UTC) - timedelta(days=10)
    store(*[chat("forsen", text=f"old {n}", sent_at=old) for n in range(30)])
    port = free_port()
    proc = manage(db_url, "ingest", "--demo", "--rate", "20", "--metrics-port", str(port),
                  env={"RETENTION_DAYS": "3"})  # fmt: skip
    pruned = re.compile(r"^goknut_ingest_pruned_messages_total (\S+)$", re.M)

    def counted() -> float:
        found = pruned.search(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
        return float(found.group(1)) if found else 0.0

    try:
        wait_until(lambda: not Message.objects.filter(text__startswith="old ").exists(),
                   "expired chat removed", 30)  # fmt: skip
        wait_until(lambda: counted() == 30, "the pruned lines counted in /metrics", 10)
    finally:
        proc.kill()
        finish(proc)
    assert (
        Message.objects.filter(channel__name="forsen", sent_at__lt=old + timedelta(days=1)).count()
        == 0
    )
