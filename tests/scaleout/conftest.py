"""The scale-out path needs the real Redis on 127.0.0.1:6379.

On a laptop without it these tests are skipped with a loud reason (`-rs`);
in CI (CI=true) a missing server is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest
import redis

from tests.live.conftest import ROOT, server_factory, sse  # noqa: F401  (shared fixtures)

REDIS_URL = os.environ.get("GOKNUT_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


@pytest.fixture
def layer_prefix(monkeypatch) -> str:
    """A channel-layer prefix of this test's own, for every process it starts:
    Redis pub/sub channels ignore the database number, so tests running at the
    same time (xdist workers) would hear each other's relays."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("CHANNEL_LAYER_PREFIX", prefix)
    return prefix


@pytest.fixture
def redis_url(layer_prefix) -> str:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()  # a throwaway database number: no groups left from a past run
    except redis.ConnectionError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs Redis at {REDIS_URL}: {exc}")
        pytest.skip(f"SKIPPED LOUDLY: no Redis at {REDIS_URL}, scale-out tests not run")
    return REDIS_URL


def replay(db_url: str, redis_url: str, lines: list[str]) -> str:
    """Run `manage.py ingest --replay -` as its own process: the real writer."""
    return replay_process(db_url, redis_url, lines).stdout


def replay_process(db_url: str, redis_url: str, lines: list[str]) -> subprocess.CompletedProcess:
    """replay(), with the whole finished process (its stderr too)."""
    result = subprocess.run(
        [sys.executable, "manage.py", "ingest", "--replay", "-"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own on a free port, to stop and start at will."""

    def __init__(self, binary: str, workdir: str) -> None:
        self.binary, self.workdir = binary, workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.workdir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on {self.port}") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def private_redis(tmp_path, layer_prefix):
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs redis-server on PATH for the Redis restart test")
        pytest.skip("SKIPPED LOUDLY: no redis-server on PATH, Redis restart test not run")
    server = PrivateRedis(binary, str(tmp_path))
    server.start()
    yield server
    server.stop()
