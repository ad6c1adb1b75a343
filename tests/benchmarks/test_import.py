"""Import throughput: `manage.py import_logs FILE` -> write path -> SQLite.

A file of GENERATED_LINES raw IRC lines from the chat simulator's realistic mix
(notices, deletions, timeouts and bans among the chat, several channels) is
imported by the real command in a subprocess into the test database (SQLite,
WAL, FTS5 search index), three times: into an empty archive, again (every line
a duplicate), and gzipped into an empty archive again. The rate is the
command's own figure (lines read over the time from its start to its last
commit, Django's start-up excluded); "lines per CPU-s" divides the lines by the
CPU time of the whole process, start-up included.
"""

from __future__ import annotations

import gzip
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from messages_app import identity
from messages_app.ingest.simulator import ChatLines
from messages_app.models import Message

pytestmark = [
    pytest.mark.bench,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="measures the SQLite default"),
]

REPO = Path(__file__).resolve().parents[2]
GENERATED_LINES = 200_000
CHANNELS = [f"bench_{n}" for n in range(8)]
TARGET_RATE = 10_000  # lines/s (the bar for imports)
TIMEOUT_S = 300


def generate(path: Path) -> Path:
    chat = ChatLines(seed=11, users=2_000, mix=True)
    start = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp() * 1000)
    with open(path, "w") as out:
        for n in range(0, GENERATED_LINES, 100):
            out.write("\n".join(chat.lines(CHANNELS, 100, start + n * 40)) + "\n")
    return path


def import_file(db_url: str, path: Path) -> dict:
    """Run the command once; its rate, stored and duplicate counts, CPU time."""
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "manage.py", "import_logs", str(path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    read = re.search(r"^read: (\d+) lines in ([\d.]+) s \(([\d,]+) lines/s\)", out, re.M)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "lines": int(read.group(1)),
        "rate": int(read.group(3).replace(",", "")),
        "wall": wall,
        "per_cpu": int(read.group(1)) / cpu,
        "stored": int(re.search(r"^stored: (\d+) ", out, re.M).group(1)),
        "duplicates": int(re.search(r"^not stored: duplicates (\d+)", out, re.M).group(1)),
        "summary": out,
    }


def empty_archive() -> None:
    call_command("flush", interactive=False, verbosity=0)
    identity.KNOWN_USERS.clear()
    identity.KNOWN_CHANNELS.clear()


def test_import_throughput(db_url, tmp_path, perf_report):
    log = generate(tmp_path / "chat.log")
    zipped = tmp_path / "chat.log.gz"
    with open(log, "rb") as source, gzip.open(zipped, "wb") as target:
        shutil.copyfileobj(source, target)
    load_before = os.getloadavg()[0]

    first = import_file(db_url, log)
    assert (first["stored"], first["duplicates"]) == (GENERATED_LINES, 0), first["summary"]
    assert Message.objects.count() == GENERATED_LINES
    again = import_file(db_url, log)
    assert (again["stored"], again["duplicates"]) == (0, GENERATED_LINES), again["summary"]
    empty_archive()
    packed = import_file(db_url, zipped)
    assert (packed["stored"], packed["duplicates"]) == (GENERATED_LINES, 0), packed["summary"]
    load_after = os.getloadavg()[0]

    def row(name: str, run: dict) -> str:
        return f"| {name} | {run['rate']:,} | {run['per_cpu']:,.0f} | {run['wall']:.1f} |"

    verdict = "meets" if first["rate"] >= TARGET_RATE else "does NOT meet"
    size, packed_size = log.stat().st_size / 1e6, zipped.stat().st_size / 1e6
    body = f"""
`manage.py import_logs FILE` (a subprocess) -> Pipeline (batches of 1,000) -> write
path -> SQLite (WAL, FTS5 search index). The file: {GENERATED_LINES:,} raw IRC lines of
the simulator's realistic mix (about 2% notices, 0.5% deletions, timeouts and bans) in
{len(CHANNELS)} channels from about 2,000 chatters, {size:.0f} MB ({packed_size:.0f} MB
gzipped). Every line stored exactly once, and none on the rerun (checked). "lines/s" is
the command's own figure (lines read over the time from its start to its last commit);
"lines per CPU-s" divides them by the whole process's CPU time, Django's start-up
included; "wall s" is the subprocess from start to exit. Load average (1 min) of the
machine: {load_before:.1f} before, {load_after:.1f} after: other work shared the two
cores, so the figures are pessimistic.

| run | lines/s | lines per CPU-s | wall s |
|---|---|---|---|
{row("into an empty archive", first)}
{row("the same file again (all duplicates)", again)}
{row("gzipped, into an empty archive", packed)}

{first["rate"]:,} lines/s into an empty archive {verdict} the target of {TARGET_RATE:,} lines/s.
"""
    perf_report("import", "Import: `manage.py import_logs` -> SQLite", body)
