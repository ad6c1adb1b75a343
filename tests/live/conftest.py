"""A real daphne serving /live against the test database, and a real SSE client.

Every test gets its own daphne process: pytest-django empties the tables after
each test, and a relay that outlived that would hold a cursor from before.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, **kwargs) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kwargs)


def start_daphne(db_url: str, tmp_path: Path, **env: str) -> Server:
    port = free_port()
    log_path = tmp_path / f"daphne-{port}.log"
    full_env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SSE_KEEPALIVE_SECONDS": "1",
        "DJANGO_SETTINGS_MODULE": "goknut.settings",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "goknut.asgi:application"],
        cwd=ROOT, env=full_env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # a busy machine starts Python slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return Server(url, process, log_path)
        except httpx.TransportError:
            time.sleep(0.05)
        if process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("daphne did not start:\n" + log_path.read_text(errors="replace"))


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def server_factory(db_url, tmp_path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def _start(**env: str) -> Server:
        server = start_daphne(db_url, tmp_path, **env)
        started.append(server)
        return server

    yield _start
    for server in started:
        stop(server.process)


@pytest.fixture
def server(server_factory) -> Server:
    return server_factory()


@dataclass
class Event:
    type: str
    id: str
    data: dict

    @property
    def cursor(self) -> int:
        return self.data["cursor"]


class SSEClient:
    """Reads /live in a thread and queues parsed events (comments are skipped)."""

    def __init__(self, url: str, headers: dict | None = None) -> None:
        self.url = url
        self.events: queue.Queue[Event | None] = queue.Queue()
        self.seen: list[Event] = []
        self.status_code: int | None = None
        self.headers: httpx.Headers | None = None
        self._opened = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self._thread = threading.Thread(target=self._read, args=(headers or {},), daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "no response from /live"

    def _read(self, headers: dict) -> None:
        try:
            with self._client.stream("GET", self.url, headers=headers) as response:
                self.status_code = response.status_code
                self.headers = response.headers
                self._opened.set()
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if not line:
                        if "data" in fields:
                            self.events.put(
                                Event(fields.get("event", "message"), fields.get("id", ""),
                                      json.loads(fields["data"]))
                            )  # fmt: skip
                        fields = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value[1:] if value.startswith(" ") else value
        except (httpx.HTTPError, RuntimeError, ValueError):
            pass
        finally:
            self._opened.set()
            self.events.put(None)

    def next(self, timeout: float = 10) -> Event:
        event = self.events.get(timeout=timeout)
        if event is None:
            raise EOFError("stream closed")
        self.seen.append(event)
        return event

    def until(self, predicate: Callable[[Event], bool], timeout: float = 10) -> list[Event]:
        """Events read until (and including) the first that matches."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.01, deadline - time.monotonic()))
            got.append(event)
            if predicate(event):
                return got

    def messages(self, count: int, timeout: float = 10) -> list[Event]:
        got: list[Event] = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            event = self.next(max(0.01, deadline - time.monotonic()))
            if event.type == "message":
                got.append(event)
        return got

    def drain(self, quiet: float = 0.3) -> list[Event]:
        got = []
        while True:
            try:
                got.append(self.next(quiet))
            except (queue.Empty, EOFError):
                return got

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def sse() -> Iterator[Callable[..., SSEClient]]:
    clients: list[SSEClient] = []

    def _open(url: str, headers: dict | None = None) -> SSEClient:
        client = SSEClient(url, headers)
        clients.append(client)
        return client

    yield _open
    for client in clients:
        client.close()
