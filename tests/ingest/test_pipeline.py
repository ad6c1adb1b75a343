"""Backpressure and database errors, with a real lock held on the test database."""

import sqlite3
import time

import psycopg
import pytest
from django.db import connection
from prometheus_client import REGISTRY

from messages_app.ingest.simulator import privmsg
from messages_app.models import Message
from messages_app.writes import MESSAGE_ID_LOCK
from tests.ingest.twitch_server import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


class WriteLock:
    """Another connection holds what every message write needs: writers must wait.

    SQLite: a write transaction on the file. PostgreSQL: the write path's
    id-order advisory lock (messages_app.writes.lock_message_ids)."""

    def __enter__(self):
        settings = connection.settings_dict
        if connection.vendor == "sqlite":
            self.db = sqlite3.connect(settings["NAME"], isolation_level=None)
            self.db.execute("BEGIN IMMEDIATE")
        else:
            self.db = psycopg.connect(
                dbname=settings["NAME"],
                user=settings["USER"] or "postgres",
                password=settings["PASSWORD"] or None,
                host=settings["HOST"] or "127.0.0.1",
                port=settings["PORT"] or 5432,
            )
            self.db.execute("SELECT pg_advisory_xact_lock(%s)", [MESSAGE_ID_LOCK])
        return self

    def __exit__(self, *exc):
        self.db.commit()
        self.db.close()


def _give_up_on_locks_quickly(monkeypatch) -> None:
    """New connections (the ingest thread's) give up on a lock after 50 ms."""
    if connection.vendor == "sqlite":
        monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.05)
    else:
        monkeypatch.setitem(connection.settings_dict["OPTIONS"], "options", "-c lock_timeout=50")


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
    _give_up_on_locks_quickly(monkeypatch)
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
