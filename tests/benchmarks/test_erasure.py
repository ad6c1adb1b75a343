"""Erasure of an opted-out user with 100,000 messages, while chat is stored.

On a copy of the 1,000,000-message archive of the page benchmarks
(BENCH_PAGES_DB, built by tests/benchmarks/test_pages.py when missing), one
user gets USER_LINES messages through the write path; then the erasure runs
(erasure.erase_pending, batches of erasure.BATCH) in one thread while another
stores chat in batches of INGEST_BATCH, as the running ingest would. Printed
and written to docs/perf.md: the erasure's time and lines/s, and the write
path's batch latency before and during it (the rule: ingest never waits for
more than one erasure batch).

Run as a module, it is the worker: `python -m tests.benchmarks.test_erasure DB`
with DATABASE_URL set; it prints one JSON line.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USER_LINES = 100_000
INGEST_BATCH = 100
SECRET = "erasedbenchword"


def _line(n: int, login: str, user_id: str, text: str, start: datetime):
    from messages_app.writes import ChatRecord

    return ChatRecord(
        channel=f"chan{n % 5}",
        username=login,
        text=text,
        sent_at=start + timedelta(milliseconds=n * 37),
        twitch_id=f"bench-erase-{login}-{n}",
        tags={"user-id": user_id, "display-name": login, "color": "#1E90FF"},
    )


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def worker() -> dict:
    import django

    django.setup()
    from django.db import connection

    from messages_app import erasure
    from messages_app.models import Message, OptOut
    from messages_app.writes import store_batch

    start = datetime(2026, 2, 1, tzinfo=UTC)
    for first in range(0, USER_LINES, 1_000):
        store_batch([_line(n, "erasee", "999001", f"{SECRET} {n}", start)
                     for n in range(first, first + 1_000)])  # fmt: skip
    assert Message.objects.filter(user__username="erasee").count() == USER_LINES
    connection.close()

    latencies: dict[str, list[float]] = {"before": [], "during": []}
    phase = ["before"]
    stop = threading.Event()
    counter = [0]

    def chat() -> None:
        while not stop.is_set():
            n = counter[0]
            counter[0] += INGEST_BATCH
            batch = [_line(n + i, f"chatter{(n + i) % 500}", str(100 + (n + i) % 500), "hi",
                           start + timedelta(days=1)) for i in range(INGEST_BATCH)]  # fmt: skip
            began = time.perf_counter()
            store_batch(batch)
            latencies[phase[0]].append((time.perf_counter() - began) * 1000)
            time.sleep(0.02)  # ~ 5,000 lines/s of chat: a busy archive
        connection.close()

    chatter = threading.Thread(target=chat)
    chatter.start()
    time.sleep(3)
    phase[0] = "during"
    erasure.opt_out(OptOut.Subject.USER, twitch_id="999001", login="erasee", by="bench")
    began = time.perf_counter()
    erased = erasure.erase_pending()
    seconds = time.perf_counter() - began
    time.sleep(0.5)
    stop.set()
    chatter.join()
    assert erased == USER_LINES
    assert not Message.objects.filter(text__startswith=SECRET).exists()
    return {
        "erased": erased,
        "seconds": seconds,
        "before": latencies["before"],
        "during": latencies["during"],
    }


@pytest.mark.bench
def test_it_erases_a_100000_message_user_without_stalling_ingest(tmp_path, perf_report):
    from tests.benchmarks.test_pages import DB, MESSAGES, USERS, _archive

    _archive(DB, MESSAGES, USERS)
    copy = tmp_path / "erase.sqlite3"
    shutil.copyfile(DB, copy)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{copy}",
           "DJANGO_SETTINGS_MODULE": "goknut.settings"}  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env,
                   check=True)  # fmt: skip
    command = [sys.executable, "-m", "tests.benchmarks.test_erasure", str(copy)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    before, during = result["before"], result["during"]
    rows = [
        ("before the erasure", before),
        ("during the erasure", during),
    ]
    table = "\n".join(
        f"| {name} | {len(values)} | {statistics.median(values):.1f} | "
        f"{_percentile(values, 0.95):.1f} | {max(values):.1f} |"
        for name, values in rows
    )
    rate = result["erased"] / result["seconds"]
    body = f"""
A user with {USER_LINES:,} messages in 5 channels of the 1,000,000-message
archive (a copy of the page benchmarks' archive) opts out; `erase_pending`
erases them in batches of 2,000 (each its own transaction: the totals
subtracted, the messages and their search-index entries deleted, then a
pause of 0.1 s that leaves the write lock to ingest), then optimizes the
full-text indexes (one transaction: the one long wait below) and truncates
the WAL. Meanwhile another thread
stores chat in batches of {INGEST_BATCH} (about 5,000 lines/s), as the running
ingest would.

Erased {result["erased"]:,} lines in {result["seconds"]:.1f} s ({rate:,.0f} lines/s).

| write-path batches of {INGEST_BATCH} | batches | p50 ms | p95 ms | max ms |
|---|---:|---:|---:|---:|
{table}

The rule is that ingest never waits for more than one erasure batch: the
worst batch during the erasure is that wait plus its own time.
"""
    perf_report("erasure", "Erasure of an opted-out user", body,
                command="python -m pytest -m bench tests/benchmarks/test_erasure.py")  # fmt: skip
    assert during, "no chat was stored during the erasure"


if __name__ == "__main__":
    print(json.dumps(worker()))
