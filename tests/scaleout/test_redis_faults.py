"""Faults on the Redis side of the scale-out path: a long idle spell, a Redis
restart, a web process killed outright. Real Redis servers on 127.0.0.1 (the
machine's for the idle test, a private one this test can stop and start), real
daphne processes, `manage.py ingest --replay` as the writer."""

from __future__ import annotations

import os
import time

import pytest
import redis

from tests.ingest.twitch_server import wait_until
from tests.scaleout.conftest import replay_process
from tests.scaleout.test_two_web_processes import chat_lines, ids_after, message_ids

pytestmark = pytest.mark.redis


def subscribers(url: str) -> int:
    """Subscriptions to the relays' group (channels_redis.pubsub names its
    channel <prefix>__group__<group>)."""
    channel = f"{os.environ['CHANNEL_LAYER_PREFIX']}__group__live-relay"
    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return dict(client.pubsub_numsub(channel)).get(channel.encode(), 0)
    finally:
        client.close()


def problems(log: str) -> list[str]:
    return [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]


def test_it_keeps_one_subscription_and_logs_nothing_through_30_idle_seconds(
    db_url, redis_url, server_factory, sse
):
    web = server_factory(REDIS_URL=redis_url)
    client = sse(web.url + "/live?view=messages")
    start = client.next().cursor
    wait_until(lambda: subscribers(redis_url) == 1, "the relay's subscription")

    time.sleep(30)  # nothing published: the list-based layer timed out here

    assert subscribers(redis_url) == 1
    replay_process(db_url, redis_url, chat_lines(50, "after the quiet"))
    assert message_ids(client, 50) == ids_after(start)
    log = web.log()
    assert problems(log) == []
    assert "Redis" not in log  # no outage reported


def test_it_rides_out_a_redis_restart_with_one_warning_and_nothing_stored_twice(
    db_url, private_redis, server_factory, sse
):
    web = server_factory(REDIS_URL=private_redis.url)
    client = sse(web.url + "/live?view=messages")
    start = client.next().cursor
    wait_until(lambda: subscribers(private_redis.url) == 1, "the relay's subscription")
    replay_process(db_url, private_redis.url, chat_lines(50, "before"))
    got = message_ids(client, 50)

    private_redis.stop()
    started = time.monotonic()
    during = replay_process(db_url, private_redis.url, chat_lines(50, "during"))
    # Announcing is fire-and-forget: the batch was neither retried nor held up.
    assert "stored 50 messages, 0 duplicates" in during.stdout
    assert time.monotonic() - started < 20
    assert during.stderr.count("live wake-ups cannot reach Redis") == 1
    got += message_ids(client, 50)  # the relay reads on its timer meanwhile
    wait_until(lambda: "live relay lost Redis" in web.log(), "the relay noticing", 15)

    private_redis.start()
    wait_until(lambda: subscribers(private_redis.url) == 1, "subscribed again", 20)
    wait_until(lambda: "Redis is back" in web.log(), "the relay noticing the return", 15)
    replay_process(db_url, private_redis.url, chat_lines(50, "after"))
    got += message_ids(client, 50)

    assert got == ids_after(start)
    log = web.log()
    assert log.count("live relay lost Redis") == 1
    assert log.count("Redis is back") == 1
    assert problems(log) == []


def test_it_leaves_no_subscriber_behind_when_a_web_process_is_killed(
    db_url, redis_url, server_factory, sse
):
    steady = server_factory(REDIS_URL=redis_url)
    doomed = server_factory(REDIS_URL=redis_url)
    watcher = sse(steady.url + "/live?view=messages")
    client = sse(doomed.url + "/live?view=messages")
    start = max(watcher.next().cursor, client.next().cursor)
    wait_until(lambda: subscribers(redis_url) == 2, "both relays subscribed")
    replay_process(db_url, redis_url, chat_lines(60, "before"))
    before = client.messages(60, timeout=30)

    doomed.process.kill()  # SIGKILL: no clean-up of any kind
    doomed.process.wait(10)
    wait_until(lambda: subscribers(redis_url) == 1, "the dead process's subscription gone", 10)
    replay_process(db_url, redis_url, chat_lines(60, "while it is gone"))

    # Its browser reconnects to the other web process and resumes by cursor.
    resumed = sse(steady.url + "/live?view=messages", headers={"Last-Event-ID": before[-1].id})
    replay_process(db_url, redis_url, chat_lines(60, "after"))
    expected = ids_after(start)
    assert len(expected) == 180
    assert [e.data["id"] for e in before] + message_ids(resumed, 120) == expected
    assert message_ids(watcher, 180) == expected
    assert problems(steady.log()) == []


def test_it_stores_every_line_it_read_on_sigterm_mid_burst_on_the_scale_out_path(db_url, redis_url):
    """The SIGTERM drain of tests/ingest, with the deployment's settings (Redis
    layer; PostgreSQL in the PostgreSQL run of the suite)."""
    from tests.ingest.test_ingest_command import sigterm_mid_burst

    sigterm_mid_burst(db_url, {"REDIS_URL": redis_url})
