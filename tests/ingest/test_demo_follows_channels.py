"""Staff actions on channels hold for the running ingest: the demo (`ingest
--demo`, its simulator in-process) and Twitch (the IRC test server) alike. A
disabled channel stops growing, an archived one (deleted, history kept) stops
recording, and one deleted with its history does not come back."""

from __future__ import annotations

import signal
import subprocess

import pytest

from messages_app.chatgen import channel_names
from messages_app.management.commands.ingest import DEMO_CHANNELS
from messages_app.models import Channel, Message
from messages_app.writes import add_channel, delete_channel, set_channel_enabled
from tests.factories import ChannelFactory
from tests.ingest.test_ingest_command import finish
from tests.ingest.twitch_server import ThreadedTwitchServer, manage, privmsg, wait_until

DEMO = channel_names(DEMO_CHANNELS)  # forsen, xqc, sodapoppin, lirik, summit1g, shroud
TARGET, WITNESS = "xqc", "forsen"


def staff(action: str, name: str) -> None:
    """What the staff pages do (messages_app/writes.py channel actions)."""
    channel = Channel.objects.get(name=name)
    if action == "disable":
        set_channel_enabled([channel], False)
    elif action == "archive":
        delete_channel(channel, keep_history=True)
    else:
        delete_channel(channel, keep_history=False)


def lines_of(name: str) -> int:
    return Message.objects.filter(channel__name=name).count()


def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == 0, err[-3000:]
    return out


@pytest.fixture
def demo(ingest_process):
    """`manage.py ingest --demo` at 400 lines/s; stopped at teardown."""
    return lambda: ingest_process("--demo", "--rate", "400")


def wait_for_chat(*names: str, more_than: dict[str, int] | None = None) -> None:
    for name in names:
        floor = (more_than or {}).get(name, 0)
        wait_until(lambda n=name, f=floor: lines_of(n) > f + 20, f"demo chat in #{name}", 30)


def assert_still_enabled(name: str) -> None:
    assert Channel.objects.to_join().filter(name=name).exists()


@pytest.mark.parametrize("action", ["disable", "archive", "delete"])
def test_it_stops_demo_chat_in_a_channel_staff_took_out(demo, action):
    proc = demo()
    wait_for_chat(TARGET, WITNESS)
    staff(action, TARGET)
    frozen = lines_of(TARGET)  # everything committed before the change
    witness = lines_of(WITNESS)
    wait_for_chat(WITNESS, more_than={WITNESS: witness + 200})  # chat goes on elsewhere
    out = stop(proc)

    assert lines_of(TARGET) == frozen
    if action == "delete":
        # Its last lines in flight did not create it again.
        assert not Channel.objects.filter(name=TARGET).exists()
        assert frozen == 0
    else:
        channel = Channel.objects.get(name=TARGET)
        assert channel.total_messages == frozen
        assert not channel.enabled
        assert (channel.deleted_at is not None) == (action == "archive")
    assert_still_enabled(WITNESS)
    assert "stored" in out


def test_it_adds_its_channels_on_the_first_run_only(demo):
    proc = demo()
    wait_for_chat(*DEMO)
    assert set(Channel.objects.to_join().values_list("name", flat=True)) == set(DEMO)
    staff("disable", TARGET)
    staff("delete", "lirik")
    stop(proc)
    frozen = lines_of(TARGET)

    proc = demo()  # the next run follows the channel list as staff left it
    wait_for_chat(WITNESS, more_than={WITNESS: lines_of(WITNESS) + 100})
    stop(proc)
    assert lines_of(TARGET) == frozen
    assert not Channel.objects.get(name=TARGET).enabled
    assert not Channel.objects.filter(name="lirik").exists()


def test_it_chats_in_a_channel_staff_add(demo):
    proc = demo()
    wait_for_chat(WITNESS)
    add_channel("mychannel")
    wait_for_chat("mychannel")
    stop(proc)
    assert Channel.objects.get(name="mychannel").total_messages == lines_of("mychannel")


def test_it_restores_chat_when_staff_restore_an_archived_channel(demo):
    proc = demo()
    wait_for_chat(TARGET)
    staff("archive", TARGET)
    frozen = lines_of(TARGET)
    add_channel(TARGET)  # the channel list's "add" restores an archived channel
    wait_for_chat(TARGET, more_than={TARGET: frozen})
    stop(proc)


# -- Twitch: the IRC test server, the real command -------------------------------


@pytest.mark.parametrize("action", ["disable", "archive", "delete"])
def test_it_stores_nothing_twitch_sends_after_staff_took_a_channel_out(db_url, action):
    """Lines that arrive after the change but before the PART (ingest reads the
    channel list once a second) are not stored either."""
    ChannelFactory(name=TARGET)
    ChannelFactory(name=WITNESS)
    server = ThreadedTwitchServer()
    proc = manage(db_url, "ingest", "--irc-url", server.url)
    try:
        conn = server.wait_for_login(timeout=20)
        server.wait_for(lambda: conn.joined == {TARGET, WITNESS}, "both JOINs", 20)
        server.send(*[privmsg(TARGET, "alice", f"before {n}") for n in range(5)], "PING :one")
        server.wait_for(lambda: "PONG :one" in conn.received, "PONG")
        wait_until(lambda: lines_of(TARGET) == 5, "the first lines stored")

        staff(action, TARGET)
        late = [privmsg(TARGET, "alice", f"after {n}") for n in range(50)]
        server.send(*late, privmsg(WITNESS, "bob", "still here"), "PING :two")
        server.wait_for(lambda: "PONG :two" in conn.received, "PONG")
        server.wait_for(lambda: TARGET not in conn.joined, f"PART #{TARGET}", 10)
        wait_until(lambda: lines_of(WITNESS) == 1, "the witness line stored")
        out = stop(proc)
    finally:
        proc.kill()
        server.close()
    assert f"PART #{TARGET}" in server.received()
    assert not Message.objects.filter(text__startswith="after").exists()
    if action == "delete":
        assert not Channel.objects.filter(name=TARGET).exists()
    else:
        assert Channel.objects.get(name=TARGET).total_messages == 5
    assert "dropped 50 (channel_left 50)" in out
