"""The scale-out deployment measured: PostgreSQL + Redis, two daphne processes.

The same two measurements as the SQLite benchmarks, on the layout of
docs/deployment.md, against the real servers on 127.0.0.1 (a throwaway
PostgreSQL database per run, a flushed Redis database number):

- ingest: the chat simulator -> TCP -> `manage.py ingest` with
  DATABASE_URL=postgres://... and REDIS_URL set (every stored batch wakes the
  relays through channels_redis), as in test_ingest.py;
- live latency: the simulator -> TCP -> `manage.py ingest` (REDIS_URL set) ->
  two daphne processes, each woken through Redis -> SSE clients split evenly
  between them, as in test_live.py.

Both need PostgreSQL and Redis; without them the benchmark is skipped with the
reason (`make bench` runs on a development machine, not in CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.benchmarks import test_ingest, test_live

pytestmark = pytest.mark.bench

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
INGEST_MESSAGES = 30_000
INGEST_BATCH_SIZES = (100, 1_000)
LIVE_SCENARIOS = [(100, 1_000), (1_000, 1_000)]  # (clients over both webs, msg/s)
WEBS = 2
TABLES = ("message", "userchannelstats", "chatuser", "activitybucket", "channel")


@pytest.fixture(scope="module")
def servers():
    """(DATABASE_URL of a fresh migrated database, REDIS_URL); skips without them."""
    import psycopg
    import redis

    try:
        admin = psycopg.connect(f"{PG_URL}/postgres", autocommit=True, connect_timeout=3)
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
    except (psycopg.OperationalError, redis.ConnectionError) as exc:
        pytest.skip(f"PostgreSQL at {PG_URL} and Redis at {REDIS_URL} are needed: {exc}")
    name = f"goknut_bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE DATABASE {name}")
    url = f"{PG_URL}/{name}"
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=test_live.ROOT, env=test_live._env(url), check=True,
        )  # fmt: skip
        yield url, REDIS_URL, admin.execute("SHOW server_version").fetchone()[0].split()[0]
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def _postgres_rows(url: str):
    import psycopg

    con = psycopg.connect(url, autocommit=True)  # every poll sees the latest commits

    def rows_after(cursor: int) -> list[tuple[int, float]]:
        rows = con.execute(
            "SELECT id, sent_at FROM messages_app_message WHERE id > %s ORDER BY id", [cursor]
        ).fetchall()
        return [(id_, at.timestamp()) for id_, at in rows]

    return rows_after, con.close


def _empty(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("TRUNCATE " + ", ".join(f"messages_app_{t}" for t in TABLES) + " CASCADE")


def _ingest_rows(url: str, redis_url: str) -> list[str]:
    rows = []
    for size in INGEST_BATCH_SIZES:
        run = test_ingest.run_ingest(
            url,
            test_ingest.OFFERED_RATE,
            INGEST_MESSAGES,
            size,
            rows=lambda: _postgres_rows(url),
            empty=lambda: _empty(url),
            env={"REDIS_URL": redis_url},
        )
        label = f"{test_ingest.OFFERED_RATE:,}/s offered, `--batch-size {size}`"
        rows.append(test_ingest.table_row(label, run))
        print(rows[-1], file=sys.stderr)
    return rows


def _live_row(url: str, redis_url: str, webs, clients: int, rate: int, tmp) -> str:
    procs = []
    for web in webs:
        procs += test_live._clients(web.port, clients // len(webs))
    time.sleep(1)
    cpu0 = [web.cpu_seconds() for web in webs]
    t0 = time.monotonic()
    times = tmp / f"times-{clients}-{rate}.json"
    span = test_live.ingest_chat(
        url, rate, test_live.SECONDS, times, _postgres_rows(url), REDIS_URL=redis_url
    )
    test_live._drain(procs, span["hi"], test_live.DRAIN_SECONDS)
    elapsed = time.monotonic() - t0
    cpu = [(web.cpu_seconds() - c) / elapsed * 100 for web, c in zip(webs, cpu0, strict=True)]
    result = test_live._finish(procs, span["lo"], span["hi"], str(times))
    lat = result["latencies"]
    p50, p95, p99 = (test_live._pct(lat, q) for q in (0.5, 0.95, 0.99))
    row = (
        f"| {clients:,} | {rate:,} | {span['count']:,} | {p50:.0f} | {p95:.0f} | "
        f"{p99:.0f} | {max(lat) * 1000:.0f} | {result['lost']:,} | {result['late']:,} | "
        f"{result['dups']:,} | {result['cut']:,} | {' + '.join(f'{c:.0f}%' for c in cpu)} | "
        f"{span['ingest_cpu']:.0f}% |"
    )
    print(row, file=sys.stderr)
    assert not result["lost"] and not result["dups"], row  # correctness, however busy
    return row


def test_scaleout_ingest_and_live_latency(servers, tmp_path, perf_report):
    url, redis_url, version = servers
    load_before = os.getloadavg()[0]
    ingest_rows = _ingest_rows(url, redis_url)
    _empty(url)
    webs = [test_live.Daphne(url, tmp_path, REDIS_URL=redis_url) for _ in range(WEBS)]
    try:
        live_rows = [
            _live_row(url, redis_url, webs, clients, rate, tmp_path)
            for clients, rate in LIVE_SCENARIOS
        ]
    finally:
        for web in webs:
            web.stop()
    newline = "\n"
    body = f"""
PostgreSQL {version} and Redis on 127.0.0.1 (`DATABASE_URL=postgres://...`,
`REDIS_URL=redis://...`), everything on the one 2-core machine. Load average
(1 min) before: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}.

### Ingest: simulator -> TCP -> PostgreSQL

As "Ingest" above ({INGEST_MESSAGES:,} messages per run, every one stored once,
checked), with every batch also announced on Redis. Latency is queueing under an
offered load above capacity.

| run | sustained msg/s (10-90%) | msg per ingest CPU-s | p50 ms | p95 ms | max ms |
|---|---|---|---|---|---|
{newline.join(ingest_rows)}

### Live latency: two daphne processes sharing Redis

As "Live updates" above, with the clients split evenly between {WEBS} daphne
processes; ingest's commits reach both relays through channels_redis (one
group message per batch, never per client). Latency in ms; CPU per web process.

| clients | msg/s | messages | p50 | p95 | p99 | max | lost | not arrived | duplicates | cut off | daphne CPU | ingest CPU |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
{newline.join(live_rows)}
"""  # noqa: E501
    perf_report("scaleout", "Scale-out: PostgreSQL + Redis, two web processes", body)
