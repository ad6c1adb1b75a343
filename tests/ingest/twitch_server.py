"""A Twitch-protocol IRC server on 127.0.0.1 for tests, driven from synchronous code.

It is the simulator of messages_app.ingest.simulator on its own event loop in a
background thread, so tests (and other suites: live updates, benchmarks) can
start `manage.py ingest --irc-url <server.url>` or the client in-process and
script what "Twitch" says:

    def test_it_...(twitch_server):
        twitch_server.send(privmsg("forsen", "alice", "hi"))
        twitch_server.wait_for(lambda: ..., "what we wait for")

Another suite uses the fixture with `from tests.ingest.twitch_server import
twitch_server  # noqa: F401` in its conftest, and the real command with
`manage(db_url, "ingest", "--irc-url", server.url, "--channel", "forsen")`.
For generated chat, `ThreadedTwitchServer(rate=1000)` sends Twitch-like lines
at 1,000 a second to every logged-in client (in the channels it joined; add
`limit=N` to stop after N lines); each line's tmi-sent-ts is its send time.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import pytest

from messages_app.ingest.simulator import Connection, TwitchServer, privmsg

__all__ = ["ThreadedTwitchServer", "manage", "privmsg", "twitch_server", "wait_until"]

REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """Poll until predicate() is true; fail the test naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


class ThreadedTwitchServer:
    """TwitchServer(**options) running in a background thread."""

    def __init__(self, **options) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = TwitchServer(**options)
        self._call(self.server.start())

    def _call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def connections(self) -> list[Connection]:
        return list(self.server.connections)

    @property
    def current(self) -> Connection:
        """The newest connection (fails if there is none)."""
        assert self.server.connections, "no client connected"
        return self.server.connections[-1]

    def received(self) -> list[str]:
        """Every line any client sent, in order per connection."""
        return [line for conn in self.connections for line in list(conn.received)]

    def send(self, *lines: str) -> None:
        """Send raw lines (CRLF added) to every logged-in client."""
        self._call(self.server.send(*lines))

    def send_nowait(self, *lines: str) -> Future:
        """Like send(), without waiting for the client to read (to test backpressure)."""
        return asyncio.run_coroutine_threadsafe(self.server.send(*lines), self.loop)

    def send_bytes(self, data: bytes) -> None:
        self._call(self.server.send_bytes(data))

    def drop(self) -> None:
        """Close every client connection, as a Twitch server restart does."""
        self._call(self.server.drop())

    def set(self, **options) -> None:
        """Change server options (answer_pings, rate, ...) between connections."""
        for name, value in options.items():
            self.loop.call_soon_threadsafe(setattr, self.server, name, value)

    def wait_for_login(self, connections: int = 1, timeout: float = 10.0) -> Connection:
        wait_until(
            lambda: len(self.connections) >= connections and self.current.nick,
            f"client login number {connections}",
            timeout,
        )
        return self.current

    def wait_for(self, predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
        wait_until(predicate, what, timeout)

    def close(self) -> None:
        try:
            self._call(self.server.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


@pytest.fixture
def twitch_server():
    """A Twitch IRC server on 127.0.0.1 (an ephemeral port); see ThreadedTwitchServer."""
    server = ThreadedTwitchServer()
    yield server
    server.close()


def manage(db_url: str, *args: str, **popen) -> subprocess.Popen:
    """Start `manage.py <args>` (e.g. "ingest", "--irc-url", server.url) against the
    test database (the `db_url` fixture), without Twitch settings from the
    environment; stdout and stderr are pipes, as text."""
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"}
    for name in ("TWITCH_CHANNELS", "TWITCH_USERNAME", "TWITCH_OAUTH_TOKEN"):
        env.pop(name, None)
    env.update(popen.pop("env", {}))
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
