"""Write path throughput: `store_batch` against a plain sqlite3 baseline.

Each figure comes from a fresh process writing into a fresh copy of a migrated
database: first WARMUP messages (users and channels get created, caches fill),
then MESSAGES timed messages in batches of the given size. The store and baseline
runs alternate and the best of ROUNDS counts, so a busy neighbour on a shared
machine costs a round, not the result.

The baseline does the same work with nothing but the sqlite3 module, the way a
careful hand-written version would: the same indexes, FTS5 triggers, counters,
minute buckets and duplicate check, in one IMMEDIATE transaction per batch,
executemany for the counter upserts and one multi-row INSERT for the messages.
Messages are not inserted with executemany: each statement opens a savepoint,
and FTS5 flushes its pending terms to disk at every savepoint, so one-row
inserts write one index segment per message (the "executemany" line shows it).

Run as a module, it is the worker: `python -m tests.benchmarks.test_write_path
MODE BATCH MESSAGES WARMUP` with DATABASE_URL set; it prints one JSON line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 30_000
WARMUP = 5_000
ROUNDS = 3
BATCH_SIZES = (100, 1_000)
CHANNELS, USERS = 10, 5_000
TARGET_RATE = 15_000  # messages/s at batches of 1,000 (docs/architecture.md, "Performance bars")
TARGET_RATIO = 0.8  # of the plain sqlite3 baseline
CPU: list[float] = []
PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
EPOCH, MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)


# -- the worker (runs in its own process) --------------------------------------


def _records(count: int) -> list:
    from messages_app.chatgen import ChatGenerator

    end = datetime(2026, 1, 2, tzinfo=UTC)
    return list(ChatGenerator(CHANNELS, USERS, seed=1).records(count, end - timedelta(1), end))


def _timed(store: Callable[[list], object], records: list, batch: int, warmup: int) -> float:
    """Store the warm-up unmeasured, then the rest; returns messages/s of the rest."""
    for start in range(0, warmup, 1_000):
        store(records[start : min(start + 1_000, warmup)])
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(warmup, len(records), batch):
        store(records[start : start + batch])
    CPU.append((len(records) - warmup) / (time.process_time() - cpu))
    return (len(records) - warmup) / (time.perf_counter() - started)


def _sqlite3_store(con, executemany_messages: bool = False) -> Callable[[list], None]:
    """The baseline: one batch of ChatRecords into the same schema, plain sqlite3."""
    upsert_channel = """
        INSERT INTO messages_app_channel (name, display_name, enabled, created_at,
            updated_at, total_messages, last_message_at) VALUES (?, '', 0, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET total_messages = total_messages + excluded.total_messages,
            last_message_at = max(coalesce(last_message_at, ''), excluded.last_message_at)"""
    upsert_user = """
        INSERT INTO messages_app_chatuser (username, display_name, first_seen_at,
            last_seen_at, total_messages) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (username) DO UPDATE SET
            display_name = coalesce(nullif(excluded.display_name, ''), display_name),
            first_seen_at = min(first_seen_at, excluded.first_seen_at),
            last_seen_at = max(last_seen_at, excluded.last_seen_at),
            total_messages = total_messages + excluded.total_messages"""
    upsert_stats = """
        INSERT INTO messages_app_userchannelstats (user_id, channel_id, total_messages,
            first_seen_at, last_seen_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (user_id, channel_id) DO UPDATE SET
            total_messages = total_messages + excluded.total_messages,
            first_seen_at = min(first_seen_at, excluded.first_seen_at),
            last_seen_at = max(last_seen_at, excluded.last_seen_at)"""
    upsert_bucket = """
        INSERT INTO messages_app_activitybucket (minute, count, first_id, last_id)
        VALUES (?, ?, ?, ?)
        ON CONFLICT (minute) DO UPDATE SET count = count + excluded.count,
            first_id = min(first_id, excluded.first_id),
            last_id = max(last_id, excluded.last_id)"""
    upsert_day = """
        INSERT INTO messages_app_channelday (channel_id, day, lines, first_id, last_id)
        VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (channel_id, day) DO UPDATE SET lines = lines + excluded.lines,
            first_id = min(first_id, excluded.first_id),
            last_id = max(last_id, excluded.last_id)"""
    upsert_hour = """
        INSERT INTO messages_app_channelhour (channel_id, hour, count) VALUES (?, ?, ?)
        ON CONFLICT (channel_id, hour) DO UPDATE SET count = count + excluded.count"""
    upsert_user_day = """
        INSERT INTO messages_app_userday (user_id, day, count) VALUES (?, ?, ?)
        ON CONFLICT (user_id, day) DO UPDATE SET count = count + excluded.count"""
    # No sent_at: SQLite derives it from the id (migration 0022).
    insert_message = """
        INSERT INTO messages_app_message (id, channel_id, user_id, text, twitch_id,
            tags, is_action) VALUES """
    marks = "(?, ?, ?, ?, ?, ?, ?)"

    def store(records: list) -> None:
        con.execute("BEGIN IMMEDIATE")
        wanted = [r.twitch_id for r in records]
        stored = {
            twitch_id
            for (twitch_id,) in con.execute(
                "SELECT twitch_id FROM messages_app_message WHERE twitch_id IN "
                f"({', '.join('?' * len(wanted))})",
                wanted,
            )
        }
        fresh = {r.twitch_id: r for r in records if r.twitch_id not in stored}.values()
        rows = [(r, r.sent_at.isoformat(" ")[:-6]) for r in fresh]
        now = datetime.now(UTC).isoformat(" ")[:-6]
        channels, users, pairs, minutes = {}, {}, {}, {}
        for r, at in rows:
            n, last = channels.get(r.channel, (0, at))
            channels[r.channel] = (n + 1, max(last, at))
            name, first, last, n = users.get(r.username, ("", at, at, 0))
            users[r.username] = (r.display_name or name, min(first, at), max(last, at), n + 1)
        con.executemany(upsert_channel, [(c, now, now, n, t) for c, (n, t) in channels.items()])
        con.executemany(upsert_user, [(u, *v) for u, v in users.items()])
        channel_ids = dict(
            con.execute(
                "SELECT name, id FROM messages_app_channel WHERE name IN "
                f"({', '.join('?' * len(channels))})",
                list(channels),
            )
        )
        user_ids = dict(
            con.execute(
                "SELECT username, id FROM messages_app_chatuser WHERE username IN "
                f"({', '.join('?' * len(users))})",
                list(users),
            )
        )
        # Ids are the microseconds lines were sent (messages_app/message_ids.py):
        # this benchmark's chat is new, so each goes at its time or above the newest.
        (newest,) = con.execute("SELECT COALESCE(MAX(id), 0) FROM messages_app_message").fetchone()
        ids = []
        for r, _at in rows:
            newest = max((r.sent_at - EPOCH) // MICROSECOND, newest + 1)
            ids.append(newest)
        values = [
            (
                id_,
                channel_ids[r.channel],
                user_ids[r.username],
                r.text,
                r.twitch_id,
                json.dumps(r.tags),
                r.is_action,
            )
            for (r, at), id_ in zip(rows, ids, strict=True)
        ]
        if executemany_messages:
            con.executemany(insert_message + marks, values)
        else:
            con.execute(
                insert_message + ", ".join([marks] * len(values)),
                [v for row in values for v in row],
            )
        days, hours, user_days = {}, {}, {}
        for id_, (r, at) in zip(ids, rows, strict=True):
            key = (user_ids[r.username], channel_ids[r.channel])
            n, first, last = pairs.get(key, (0, at, at))
            pairs[key] = (n + 1, min(first, at), max(last, at))
            minute = at[:16] + ":00"
            n, low, _high = minutes.get(minute, (0, id_, id_))
            minutes[minute] = (n + 1, low, id_)
            day = (channel_ids[r.channel], at[:10])
            n, low, _high = days.get(day, (0, id_, id_))
            days[day] = (n + 1, low, id_)
            hour = (channel_ids[r.channel], at[:13] + ":00:00")
            hours[hour] = hours.get(hour, 0) + 1
            user_day = (user_ids[r.username], at[:10])
            user_days[user_day] = user_days.get(user_day, 0) + 1
        con.executemany(upsert_stats, [(*key, *v) for key, v in pairs.items()])
        con.executemany(upsert_bucket, [(m, *v) for m, v in minutes.items()])
        con.executemany(upsert_day, [(*key, *v) for key, v in days.items()])
        con.executemany(upsert_hour, [(*key, n) for key, n in sorted(hours.items())])
        con.executemany(upsert_user_day, [(*key, n) for key, n in sorted(user_days.items())])
        con.execute("COMMIT")

    return store


def worker(mode: str, batch: int, messages: int, warmup: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "goknut.settings")
    django.setup()
    import sqlite3

    from django.conf import settings
    from django.core.management import call_command

    from messages_app.writes import store_batch

    db = settings.DATABASES["default"]
    if mode == "migrate":
        call_command("migrate", verbosity=0)
        return {}
    records = _records(warmup + messages)
    if mode == "store":
        rate = _timed(store_batch, records, batch, warmup)
    else:
        con = sqlite3.connect(db["NAME"], isolation_level=None)
        con.executescript(db["OPTIONS"]["init_command"])  # the same PRAGMAs as the app
        store = _sqlite3_store(con, executemany_messages=mode == "sqlite3-executemany")
        rate = _timed(store, records, batch, warmup)
        con.close()
    return {"rate": rate, "cpu_rate": CPU[-1], "state": _state()}


def _state() -> list[int]:
    """What a user could count afterwards: messages, every counter, search hits."""
    from django.db.models import Sum

    from messages_app.models import (
        ActivityBucket,
        Channel,
        ChannelDay,
        ChannelHour,
        ChatUser,
        Message,
        UserChannelStats,
        UserDay,
    )
    from messages_app.search import matching

    return [
        Message.objects.count(),
        ChannelDay.objects.aggregate(n=Sum("lines"))["n"],
        ChannelHour.objects.aggregate(n=Sum("count"))["n"],
        UserDay.objects.aggregate(n=Sum("count"))["n"],
        Channel.objects.aggregate(n=Sum("total_messages"))["n"],
        ChatUser.objects.aggregate(n=Sum("total_messages"))["n"],
        ChatUser.objects.count(),
        UserChannelStats.objects.aggregate(n=Sum("total_messages"))["n"],
        ActivityBucket.objects.aggregate(n=Sum("count"))["n"],
        matching(Message.objects.all(), "chat").count(),
    ]


# -- the benchmark -------------------------------------------------------------


def _run(mode: str, url: str, batch: int = 1_000, messages: int = MESSAGES) -> dict:
    """One worker process; returns its rates and the state it left behind."""
    args = [mode, str(batch), str(messages), str(WARMUP)]
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.test_write_path", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _fresh_copy(template: Path, path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def _postgres(batch: int) -> tuple[str, dict] | None:
    """store_batch on a throwaway PostgreSQL database: (server version, worker
    result), or None when no server answers on PG_URL."""
    import psycopg

    try:
        admin = psycopg.connect(f"{PG_URL}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return None
    name = f"goknut_bench_{uuid.uuid4().hex[:8]}"
    try:
        version = admin.execute("SHOW server_version").fetchone()[0].split()[0]
        admin.execute(f"CREATE DATABASE {name}")
        _run("migrate", f"{PG_URL}/{name}")
        return version, _run("store", f"{PG_URL}/{name}", batch)
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.mark.bench
def test_it_measures_the_write_path(tmp_path, perf_report):
    template = tmp_path / "template.sqlite3"
    _run("migrate", f"sqlite:///{template}")
    db = tmp_path / "run.sqlite3"
    rows, best, states = [], {}, set()
    for batch in BATCH_SIZES:
        runs: dict[str, list[dict]] = {"store": [], "sqlite3": []}
        for _round in range(ROUNDS):
            for mode, results in runs.items():
                results.append(_run(mode, _fresh_copy(template, db), batch))
        for mode, results in runs.items():
            best[mode, batch] = max(results, key=lambda result: result["rate"])
            states.update(json.dumps(result["state"]) for result in results)
        store, plain = best["store", batch], best["sqlite3", batch]
        rows.append(
            f"| {batch:,} | {store['rate']:,.0f} | {plain['rate']:,.0f} "
            f"| {store['rate'] / plain['rate']:.2f} "
            f"| {store['cpu_rate']:,.0f} | {plain['cpu_rate']:,.0f} |"
        )
        print(rows[-1], file=sys.stderr)
    naive = _run("sqlite3-executemany", _fresh_copy(template, db), 1_000)
    postgres = _postgres(1_000)
    rate, ratio = (
        best["store", 1_000]["rate"],
        (best["store", 1_000]["rate"] / best["sqlite3", 1_000]["rate"]),
    )
    met = rate >= TARGET_RATE and ratio >= TARGET_RATIO
    body = "\n".join(
        [
            f"SQLite file in WAL mode with the FTS5 index. Per run: {WARMUP:,} messages "
            f"untimed, then {MESSAGES:,} timed, {CHANNELS} channels, {USERS:,} users "
            "(Zipf-like); a fresh process and database per run; store and baseline "
            f"alternate, best of {ROUNDS}. CPU msg/s counts the process's CPU time only, "
            "so it moves less when other processes share the machine.",
            "",
            "| batch | store_batch msg/s | plain sqlite3 msg/s | ratio "
            "| store_batch CPU msg/s | plain sqlite3 CPU msg/s |",
            "|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Target at batches of 1,000: >= {TARGET_RATE:,} msg/s and >= {TARGET_RATIO} "
            f"of the baseline: {rate:,.0f} msg/s, {ratio:.2f}. "
            + ("Met." if met else "**Missed.**"),
            "",
            f"- Plain sqlite3 inserting the messages with executemany as well: "
            f"{naive['rate']:,.0f} msg/s (FTS5 writes one index segment per statement).",
            (
                f"- PostgreSQL {postgres[0]} on 127.0.0.1 (synchronous_commit on), "
                f"store_batch, batches of 1,000: {postgres[1]['rate']:,.0f} msg/s."
                if postgres
                else "- PostgreSQL: nothing answered on 127.0.0.1:5432, not measured."
            ),
        ]
    )
    perf_report("write-path", "Write path (store_batch)", body)
    # The baseline is only a baseline if it did the same work: every run, store or
    # plain sqlite3, left the same messages, counters and search hits behind.
    assert len(states) == 1, states
    assert postgres is None or postgres[1]["state"] == json.loads(states.pop())


if __name__ == "__main__":
    mode, batch, messages, warmup = sys.argv[1], *map(int, sys.argv[2:5])
    print(json.dumps(worker(mode, batch, messages, warmup)))
