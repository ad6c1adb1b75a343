"""Delivery guarantees: order, no gap or duplicate under bursts and reconnects,
the replay limit, stalled clients, and writers in another process."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time

from messages_app.models import Message
from tests.conftest import chat, stored_ids
from tests.live.conftest import ROOT


def all_ids_after(cursor: int) -> list[int]:
    return list(Message.objects.after(cursor).order_by("id").values_list("id", flat=True))


def test_it_delivers_a_burst_of_5000_in_order_without_duplicates(server, sse, store):
    messages = sse(server.url + "/live?view=messages")
    home = sse(server.url + "/live?view=home")
    start = messages.next().cursor
    home.next()
    for batch in range(10):
        store(*[chat(f"chan{n % 7}", f"user{n % 50}", f"burst {batch}-{n}") for n in range(500)])

    for client in (messages, home):
        ids = [e.data["id"] for e in client.messages(5000, timeout=60)]
        assert ids == all_ids_after(start)  # in order, none missing, none twice
    home.drain()
    last_metrics = [e for e in home.seen if e.type == "metrics"][-1]
    assert last_metrics.data["total_messages"] == Message.objects.count()


def test_it_resumes_from_last_event_id_without_gap_or_duplicate(server, sse, store):
    first = sse(server.url + "/live?view=messages")
    start = first.next().cursor
    store(*[chat(text=f"a{n}") for n in range(10)])
    seen = first.messages(10)
    first.close()  # the connection drops...

    store(*[chat(text=f"b{n}") for n in range(10)])  # ...while chat goes on
    resumed = sse(server.url + "/live?view=messages", headers={"Last-Event-ID": seen[-1].id})
    replayed = resumed.messages(10)
    store(*[chat(text=f"c{n}") for n in range(5)])
    live = resumed.messages(5)

    ids = [e.data["id"] for e in seen + replayed + live]
    assert ids == all_ids_after(start)


def test_it_resumes_from_the_after_id_and_last_event_id_parameters(server, sse, store):
    before = store(chat(text="seen"))
    missed = store(chat(text="missed 1"), chat(text="missed 2"))
    for query in (f"after_id={before.last_id}", f"lastEventId=home:{before.last_id}"):
        client = sse(server.url + f"/live?view=home&{query}")
        got = client.until(lambda e: e.type == "metrics")
        assert [e.type for e in got] == ["status", "message", "message", "metrics"]
        assert [e.data["id"] for e in got[1:3]] == [missed.first_id, missed.last_id]


def test_it_tells_a_client_too_far_behind_to_reload(server, sse, store):
    before = store(chat())
    missed = stored_ids(store(*[chat(text=f"n{n}") for n in range(501)]))
    client = sse(server.url + f"/live?view=messages&after_id={before.last_id}")
    client.next()
    fallback = client.next()
    assert fallback.type == "status"
    assert fallback.data["state"] == "fallback"
    # The page can say how many it skips, and link to them from where it was.
    assert (fallback.data["skipped"], fallback.data["skipped_more"]) == (501, False)
    assert fallback.data["after_id"] == before.last_id
    assert not [e for e in client.drain() if e.type == "message"]

    exactly_500 = sse(server.url + f"/live?view=messages&after_id={missed[0]}")
    assert len(exactly_500.messages(500)) == 500


def test_it_cuts_off_a_stalled_client_without_slowing_the_others(server_factory, sse, store):
    server = server_factory(SSE_CLIENT_BUFFER_BYTES="500000")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect
    stalled.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    stalled.sendall(b"GET /live?view=messages HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    healthy = sse(server.url + "/live?view=messages")
    start = healthy.next().cursor
    time.sleep(0.2)  # the stalled client is subscribed too

    began = time.monotonic()
    for batch in range(6):  # ~6 MB of events: far beyond its buffers
        store(*[chat(text=f"{batch}-{n} " + "x" * 900) for n in range(500)])
    got = healthy.messages(3000, timeout=30)
    elapsed = time.monotonic() - began

    assert [e.data["id"] for e in got] == all_ids_after(start)
    assert elapsed < 20, f"healthy client took {elapsed:.1f}s"
    # Cut off once it stayed behind past the grace period (at its next event).
    deadline = time.monotonic() + 10
    while "sse backpressure cut-off" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    metrics = server.get("/metrics").text
    assert 'goknut_sse_backpressure_drops_total{view="messages"} 1.0' in metrics
    stalled.settimeout(5)
    with contextlib.suppress(ConnectionResetError):  # aborted: the rest is dropped
        while stalled.recv(1 << 20):
            pass
    stalled.close()


def dechunk(body: bytes) -> bytes:
    """An HTTP/1.1 chunked body (complete chunks only) as the bytes it carries."""
    out, pos = [], 0
    while True:
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            return b"".join(out)
        size = int(body[pos:line_end], 16)
        start = line_end + 2
        if len(body) < start + size + 2:
            return b"".join(out)
        assert body[start + size : start + size + 2] == b"\r\n", "broken chunk framing"
        out.append(body[start : start + size])
        pos = start + size + 2


def test_it_keeps_a_slow_reader_that_catches_up(server_factory, sse, store):
    server = server_factory(SSE_CLIENT_BUFFER_BYTES="100000")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    slow.sendall(b"GET /live?view=messages HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    time.sleep(0.3)
    # ~190 KB in one tick: the kernel takes part of each write, Twisted the rest.
    result = store(*[chat(text=f"{n} " + "y" * 400) for n in range(300)])
    received, deadline = b"", time.monotonic() + 10
    head, stream = b"", b""
    while stream.count(b"event: message") < 300 and time.monotonic() < deadline:
        received += slow.recv(65536)
        time.sleep(0.001)
        head, _, body = received.partition(b"\r\n\r\n")
        stream = dechunk(body)
    slow.close()
    assert b"transfer-encoding: chunked" in head.lower()
    events = [b for b in stream.decode().split("\n\n") if b.startswith("event: message")]
    assert len(events) == 300
    assert [int(e.split("\n")[1].rsplit(":", 1)[1]) for e in events] == stored_ids(result)
    assert "backpressure" not in server.log()


def test_it_delivers_writes_of_another_process_on_the_in_memory_layer(server, sse, db_url):
    client = sse(server.url + "/live?view=messages")
    start = client.next().cursor
    script = (
        "from tests.conftest import chat; from messages_app.writes import store_batch; "
        "[store_batch([chat(text=f'ingest {b}-{n}') for n in range(20)]) for b in range(5)]"
    )
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "goknut.settings"}
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=env, check=True
    )
    got = client.messages(100, timeout=10)
    assert [e.data["id"] for e in got] == all_ids_after(start)
    assert got[-1].data["text"] == "ingest 4-19"


def test_an_erased_user_is_announced_to_open_pages(server, sse, store):
    from messages_app import erasure
    from messages_app.models import ChatUser, OptOut

    store(chat("forsen", "alice", "something to forget", tags={"user-id": "10"}),
          chat("forsen", "bob", "stays"))  # fmt: skip
    alice = ChatUser.objects.get(username="alice").pk
    messages = sse(server.url + "/live?view=messages")
    channel = sse(server.url + "/live?view=channel&channel=forsen")
    messages.next(), channel.next()
    erasure.opt_out(OptOut.Subject.USER, twitch_id="10", login="alice", by="staff")
    erasure.erase_pending()
    for client in (messages, channel):
        erased = client.until(lambda e: e.type == "erased")[-1]
        assert (erased.data["user_id"], erased.data["login"]) == (alice, "alice")
    later = store(chat("forsen", "bob", "after"))
    assert messages.messages(1)[0].data["id"] == later.last_id  # the stream goes on
