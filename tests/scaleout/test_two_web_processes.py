"""One ingest process and two daphne processes sharing Redis (channels_redis):
every SSE client on either web process gets every message once, in order."""

from __future__ import annotations

import json
import uuid

import pytest

from messages_app.models import Message
from tests.scaleout.conftest import replay

pytestmark = pytest.mark.redis


def chat_lines(count: int, tag: str) -> list[str]:
    return [
        json.dumps(
            {
                "channel": f"chan{n % 3}",
                "username": f"user{n % 20}",
                "text": f"{tag} line {n}",
                "id": str(uuid.uuid4()),
            }
        )
        for n in range(count)
    ]


def ids_after(cursor: int) -> list[int]:
    return list(Message.objects.after(cursor).order_by("id").values_list("id", flat=True))


def message_ids(client, count: int) -> list[int]:
    return [event.data["id"] for event in client.messages(count, timeout=30)]


def test_it_delivers_every_message_once_in_order_on_both_web_processes(
    db_url, redis_url, server_factory, sse
):
    webs = [server_factory(REDIS_URL=redis_url) for _ in range(2)]
    clients = [sse(web.url + "/live?view=messages") for web in webs for _ in range(3)]
    start = max(client.next().cursor for client in clients)  # each opens with a status

    for round_ in range(3):
        replay(db_url, redis_url, chat_lines(200, f"round{round_}"))

    expected = ids_after(start)
    assert len(expected) == 600
    for client in clients:
        assert message_ids(client, 600) == expected


def test_it_resumes_clients_of_a_restarted_web_process_by_cursor(
    db_url, redis_url, server_factory, sse
):
    steady = server_factory(REDIS_URL=redis_url)
    restarted = server_factory(REDIS_URL=redis_url)
    watcher = sse(steady.url + "/live?view=messages")
    client = sse(restarted.url + "/live?view=messages")
    start = max(watcher.next().cursor, client.next().cursor)

    replay(db_url, redis_url, chat_lines(100, "before"))
    before = client.messages(100, timeout=30)
    restarted.process.terminate()  # the web process goes away mid-stream...
    restarted.process.wait(10)
    replay(db_url, redis_url, chat_lines(100, "during"))  # ...while chat goes on

    again = server_factory(REDIS_URL=redis_url)
    resumed = sse(again.url + "/live?view=messages", headers={"Last-Event-ID": before[-1].id})
    replay(db_url, redis_url, chat_lines(100, "after"))

    expected = ids_after(start)
    assert len(expected) == 300
    got = [e.data["id"] for e in before] + message_ids(resumed, 200)
    assert got == expected
    assert message_ids(watcher, 300) == expected
