"""Fixtures of the ingest tests: the fake Twitch server and an in-process ingest."""

from __future__ import annotations

import asyncio
import subprocess
import threading

import pytest

from messages_app.ingest.pipeline import IngestStats, Pipeline
from messages_app.ingest.runner import run_irc
from tests.ingest.twitch_server import (
    manage,
    twitch_server,  # noqa: F401 (a fixture)
)

# Fast timings for in-process clients: backoff, silence detection, channel polling.
FAST = {
    "reconnect_base": 0.05,
    "reconnect_max": 0.2,
    "silence": 5.0,
    "pong_timeout": 2.0,
    "sync_interval": 0.1,
}


class InProcessIngest:
    """run_irc (client, pipeline, channel sync) on its own loop in a thread."""

    def __init__(self, url: str, *, batch_size=100, flush_ms=100, queue_size=10_000, **options):
        self.stats = IngestStats()
        self.error: BaseException | None = None
        self.client = None
        self._options = {**FAST, **options}
        self._pipeline_options = {
            "batch_size": batch_size,
            "flush_ms": flush_ms,
            "queue_size": queue_size,
        }
        self._url = url
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # reported by stop()
            self.error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self.stop_event = asyncio.Event()
        self.pipeline = Pipeline(self.stats, **self._pipeline_options)
        self._ready.set()
        await run_irc(self._url, self.stop_event, self.pipeline, **self._options)

    @property
    def queue_depth(self) -> int:
        return self.pipeline.depth()

    def stop(self, timeout: float = 15.0) -> IngestStats:
        """SIGTERM's effect: stop reading, store what was received, return the stats."""
        self._loop.call_soon_threadsafe(self.stop_event.set)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "ingest did not stop"
        self._loop.close()
        if self.error is not None:
            raise self.error
        return self.stats


@pytest.fixture
def ingest(transactional_db):
    """start(url, **options) -> InProcessIngest; stopped at teardown."""
    started: list[InProcessIngest] = []

    def start(url: str, **options) -> InProcessIngest:
        runner = InProcessIngest(url, **options)
        started.append(runner)
        return runner

    yield start
    for runner in started:
        if runner._thread.is_alive():
            runner.stop()


@pytest.fixture
def ingest_process(db_url):
    """ingest_process(*args) -> `manage.py ingest <args>` started against the test
    database; every one still running is killed at teardown."""
    procs: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = manage(db_url, "ingest", *args)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()
