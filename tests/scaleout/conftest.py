"""The scale-out path needs the real Redis on 127.0.0.1:6379.

On a laptop without it these tests are skipped with a loud reason (`-rs`);
in CI (CI=true) a missing server is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import redis

from tests.live.conftest import ROOT, server_factory, sse  # noqa: F401  (shared fixtures)

REDIS_URL = os.environ.get("GOKNUT_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


@pytest.fixture
def redis_url() -> str:
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
    return result.stdout
