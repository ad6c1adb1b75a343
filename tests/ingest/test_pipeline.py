"""Backpressure and database errors, with a real lock held on the test database."""

import sqlite3
import time

import pytest
from django.db import connection
from prometheus_client import REGISTRY

from messages_app.ingest.simulator import privmsg
from messages_app.models import Message
from tests.ingest.twitch_server import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="holds a SQLite write lock"),
]


class WriteLock:
    """Another process's write transaction on the SQLite file: writers must wait."""

    def __enter__(self):
        self.db = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        self.db.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc):
        self.db.execute("COMMIT")
        self.db.close()


def test_it_slows_the_reader_instead_of_dropping_when_the_database_is_slow(twitch_server, ingest):
    runner = ingest(twitch_server.url, queue_size=50, batch_size=50)
    twitch_server.wait_for_login()
    text = "long line of chat " * 90
    lines = [privmsg("forsen", f"user{n % 97}", text, twitch_id=f"bp{n}") for n in range(4_000)]
    with WriteLock():
        sending = twitch_server.send_nowait(*lines)  # about 7 MB
        time.sleep(1.5)
        # The reader took no more than the queue, the batch being written and the
        # chunk it was in the middle of (256 KB, ~160 lines) off the socket: the
        # rest waits in TCP buffers (and once they are full, in the server).
        assert runner.queue_depth <= 50
        assert runner.pipeline.received <= 50 + 50 + 200
        assert Message.objects.count() == 0
    sending.result(timeout=30)
    wait_until(lambda: Message.objects.count() == 4_000, "every line stored", 30)
    stats = runner.stop()
    assert (stats.stored, stats.duplicates, sum(stats.skipped.values())) == (4_000, 0, 0)


def test_it_retries_a_batch_when_the_database_is_locked(twitch_server, ingest, monkeypatch):
    # New connections (the ingest thread's) give up on a lock after 50 ms.
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.05)
    before = REGISTRY.get_sample_value("goknut_ingest_db_retries_total")
    runner = ingest(twitch_server.url)
    twitch_server.wait_for_login()
    with WriteLock():
        twitch_server.send(
            *[privmsg("forsen", "alice", f"hi {n}", twitch_id=f"r{n}") for n in range(3)]
        )
        wait_until(
            lambda: REGISTRY.get_sample_value("goknut_ingest_db_retries_total") > before + 1,
            "retries while the database is locked",
        )
    wait_until(lambda: Message.objects.count() == 3, "the batch stored after the lock is gone")
    assert runner.stop().stored == 3
