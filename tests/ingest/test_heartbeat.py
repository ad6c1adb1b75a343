"""Ingest's heartbeat as a web process reads it: /readyz and /metrics say
whether ingest is running, connected and in channels, with `manage.py ingest`
as a real subprocess (the demo, or Twitch's address with nothing answering)."""

from __future__ import annotations

import re
import signal

import pytest
from django.test import Client

from messages_app.ingest.heartbeat import make_run_plan
from messages_app.models import IngestHeartbeat
from tests.ingest.test_ingest_command import finish, free_port
from tests.ingest.twitch_server import manage, wait_until

FAST = ("--heartbeat-seconds", "0.5")  # stale after 3 missed beats + 1 s: 2.5 s


@pytest.fixture
def web():
    return Client(HTTP_HOST="127.0.0.1")


@pytest.fixture
def started(ingest_process):
    return lambda *args: ingest_process(*FAST, *args)


def ready(web) -> dict:
    response = web.get("/readyz")
    assert response.status_code == 200  # degraded is not down
    return response.json()


def gauge(web, name: str, source: str) -> float | None:
    text = web.get("/metrics").content.decode()
    match = re.search(rf'^goknut_ingest_heartbeat_{name}{{source="{source}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else None


def test_it_says_ok_while_the_demo_is_connected_and_chatting(started, web):
    started("--demo", "--rate", "200")
    wait_until(lambda: ready(web)["status"] == "ok", "/readyz ok", 30)
    ingest = ready(web)["ingest"]
    assert (ingest["state"], ingest["source"], ingest["label"]) == ("live", "demo", "demo chat")
    assert ingest["connected"] is True
    assert ingest["channels_joined"] == 6
    wait_until(lambda: ready(web)["ingest"]["last_line_at"], "a line seen", 10)
    assert ready(web)["ingest"]["seconds_since_last_line"] < 5
    assert ready(web)["database"]
    assert gauge(web, "up", "demo") == 1
    assert gauge(web, "connected", "demo") == 1
    assert gauge(web, "channels_joined", "demo") == 6
    assert gauge(web, "seconds_since_last_line", "demo") < 5


def test_it_says_degraded_once_ingest_is_killed(started, web):
    proc = started("--demo", "--rate", "50")
    wait_until(lambda: ready(web)["status"] == "ok", "/readyz ok", 30)
    proc.send_signal(signal.SIGKILL)  # no chance to say goodbye
    proc.wait()
    wait_until(lambda: ready(web)["status"] == "degraded", "/readyz degraded", 10)
    ingest = ready(web)["ingest"]
    assert (ingest["state"], ingest["label"]) == ("offline", "ingest offline since")
    assert ingest["since"] == ingest["updated_at"]  # its last beat
    assert ingest["seconds_since_heartbeat"] > 1.5
    assert gauge(web, "up", "demo") == 0
    assert gauge(web, "channels_joined", "demo") == 0
    assert gauge(web, "seconds_since_heartbeat", "demo") > 1.5


def test_it_says_offline_at_once_after_a_clean_stop(started, web):
    proc = started("--demo", "--rate", "50", "--heartbeat-seconds", "30")
    wait_until(lambda: ready(web)["status"] == "ok", "/readyz ok", 30)
    proc.send_signal(signal.SIGTERM)
    code, _, err = finish(proc)
    assert code == 0, err[-3000:]
    beat = IngestHeartbeat.objects.get(source="demo")
    assert beat.stopped_at is not None
    assert ready(web)["ingest"]["state"] == "offline"  # no 90 s wait for staleness
    assert ready(web)["ingest"]["since"].startswith(beat.stopped_at.isoformat()[:19])


def test_it_says_connecting_while_twitch_does_not_answer(started, web):
    port = free_port()  # nothing listens there
    started("--irc-url", f"irc://127.0.0.1:{port}", "--channel", "forsen")
    wait_until(lambda: ready(web)["ingest"].get("last_error"), "an error reported", 20)
    body = ready(web)
    assert body["status"] == "degraded"
    ingest = body["ingest"]
    assert (ingest["state"], ingest["source"]) == ("connecting", "twitch")
    assert ingest["label"] == "connecting to Twitch…"
    assert f"127.0.0.1:{port} failed" in ingest["last_error"]
    assert gauge(web, "up", "twitch") == 1
    assert gauge(web, "connected", "twitch") == 0


def test_it_says_when_ingest_never_ran(db, web):
    body = ready(web)
    assert body["status"] == "degraded"
    assert body["ingest"] == {"state": "offline", "source": "", "label": "ingest has not run yet"}
    assert "goknut_ingest_heartbeat_up{" not in web.get("/metrics").content.decode()


def test_it_records_a_replay_and_its_end(db_url, web, tmp_path):
    log = tmp_path / "chat.log"
    log.write_text("@id=r1;tmi-sent-ts=1700000000000 :a!a@a.tmi.twitch.tv PRIVMSG #forsen :hi\n")
    code, _, err = finish(manage(db_url, "ingest", "--replay", str(log)))
    assert code == 0, err[-3000:]
    ingest = ready(web)["ingest"]
    assert (ingest["state"], ingest["source"]) == ("offline", "replay")
    assert ingest["last_line_at"]


@pytest.mark.parametrize(
    ("last", "requested", "channels", "says", "flag"),
    [
        (None, "", False, "no Twitch channel is configured", "--demo"),
        (None, "", True, "1 channel(s) are enabled", ""),
        ("demo", "", True, "it ran here last", "--demo"),
        ("twitch", "", False, "it ran here last", ""),
        ("demo", "twitch", True, "SWITCHING from the demo", ""),
    ],
)
def test_make_run_says_which_source_and_why(db, last, requested, channels, says, flag):
    from django.utils import timezone

    from tests.factories import ChannelFactory

    if channels:
        ChannelFactory(name="forsen")
    if last:
        now = timezone.now()
        IngestHeartbeat.objects.create(source=last, started_at=now, updated_at=now)
    plan = make_run_plan(requested)
    first, *lines = plan.split("\n")
    assert first == flag
    assert says in "\n".join(lines)
    if says.startswith("SWITCHING"):
        assert "will be joined on Twitch: forsen" in plan
