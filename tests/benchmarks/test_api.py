"""The logs API (/api) against a real daphne: streaming a month, and the small answers.

1. Streaming. A dedicated archive (BENCH_API_MONTH_DB, default
   /tmp/bench_api_month.sqlite3, built once and reused; `manage.py migrate` runs
   on it first) holds 1,000,000 lines of ONE channel in ONE UTC month: the
   simulator's real-shaped IRC lines (messages_app.ingest.simulator.ChatLines,
   with notices, deletions, timeouts and bans mixed in), parsed by the ingest
   parser and stored through the write path (store_batch, batches of 1,000).
   One day of that month holds 100,000 lines. The 1M-message archive of the
   other benchmarks cannot serve here: seed_chat spreads it over 15 channels
   and 7 days, so no channel has a million lines in a month.

   Each download runs on a fresh daphne process, so that its VmHWM (the
   kernel's high-water mark of the resident set) belongs to that download
   alone. A thread also samples /proc/<pid>/status every 5 ms for RssAnon:
   the process's own memory (Python objects, SQLite's page cache), without
   the pages of the database file SQLite maps (mmap_size, goknut/settings.py),
   which count in VmHWM but are the kernel's file cache, shared and
   reclaimable (up to mmap_size: 256 MB). The bars: first body byte within
   1 s, >= 50,000 lines/s, RssAnon < 400 MB, and the month's RssAnon peak at
   most 50 MB above the day's (memory must not grow with the size of the
   answer; SQLite's page cache, cache_size 64 MB, fills during both). VmHWM
   is printed, not judged. Every line is counted and must match the archive.

2. Small answers. p95 latency of /api/list, a channel's day of up to 1,000
   lines (text and json), a user's month (json) and that user's list of
   months, for active users and for quiet ones (1-3 lines in the busiest
   channel: the hardest to find among its lines), on the 1M-message archive
   of the pages benchmark (BENCH_PAGES_DB, built by test_pages if missing),
   and /api/capabilities as the floor (daphne and the middleware alone).
   Sequential requests over one keep-alive connection, a warm-up first, the
   whole answer read. Target p95 <= 25 ms.

The figures go to the "Logs API" section of docs/perf.md before the bars are
checked, so a run that misses one still records it. Alone:
`.venv/bin/python -m pytest -q -m bench -p no:randomly -s tests/benchmarks/test_api.py`.

Builder: `python -m tests.benchmarks.test_api build` with DATABASE_URL set.
"""

from __future__ import annotations

import os
import random
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.benchmarks import test_pages

ROOT = Path(__file__).resolve().parents[2]
MONTH_DB = Path(os.environ.get("BENCH_API_MONTH_DB", "/tmp/bench_api_month.sqlite3"))
CHANNEL = "xqc"
YEAR, MONTH, DAYS = 2024, 3, 31
BUSY_DAY, BUSY_LINES = 15, 100_000
MONTH_LINES = 1_000_000
BATCH = 1_000
CHATTERS = 20_000

FIRST_BYTE_BAR_S = 1.0
LINES_PER_S_BAR = 50_000
PEAK_RSS_BAR_MB = 400
GROWTH_BAR_MB = 50
LATENCY_BAR_MS = 25.0
SAMPLES = int(os.environ.get("BENCH_API_SAMPLES", "300"))
WARMUP = 20
SMALL_DAY = 1_000  # "a day of a channel of up to 1,000 lines"

# How each format ends a line: one count per line, none inside one. A JSON
# string escapes its quotes, so `"systemText":` (with the quote unescaped) only
# opens a field of the json format's objects, once per object.
FORMATS = {"text": ("", b"\n"), "ndjson": ("ndjson", b"\n"), "json": ("json", b'"systemText":')}


# -- the month archive ----------------------------------------------------------


def day_lines(day: int) -> int:
    quiet = (MONTH_LINES - BUSY_LINES) // (DAYS - 1)
    extra = MONTH_LINES - BUSY_LINES - quiet * (DAYS - 1)
    return BUSY_LINES if day == BUSY_DAY else quiet + (extra if day == DAYS else 0)


def sent_times():
    """Epoch milliseconds of every line of the month, evenly spread over each day."""
    for day in range(1, DAYS + 1):
        start = datetime(YEAR, MONTH, day, tzinfo=UTC)
        start_ms = int(start.timestamp() * 1000)
        count = day_lines(day)
        step = 86_400_000 / count
        for n in range(count):
            yield start_ms + int(n * step)


def build_month() -> None:
    """Store the month through the ingest parser and the write path (in this
    process: the DATABASE_URL archive, already migrated)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "goknut.settings")
    import django

    django.setup()
    from django.db import connection

    from messages_app.ingest.parser import parse_line, to_record
    from messages_app.ingest.simulator import ChatLines
    from messages_app.writes import store_batch

    chat = ChatLines(seed=11, users=CHATTERS, mix=True)
    started, stored, batch = time.monotonic(), 0, []
    for ms in sent_times():
        (line,) = chat.lines([CHANNEL], 1, ms)
        received = datetime.fromtimestamp(ms / 1000, UTC) + timedelta(milliseconds=200)
        batch.append(to_record(parse_line(line), received))
        if len(batch) == BATCH:
            stored += store_batch(batch).stored
            batch = []
    if batch:
        stored += store_batch(batch).stored
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    print(f"stored {stored:,} lines in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if stored != MONTH_LINES:
        raise SystemExit(f"stored {stored} lines, not {MONTH_LINES}")


def _run(db: Path, *args: str, timeout: float) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "DJANGO_SETTINGS_MODULE":
           "goknut.settings"}  # fmt: skip
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, timeout=timeout)


def month_archive() -> Path:
    """The month archive, built unless cached (under another name until complete),
    its schema brought up to date."""
    if not MONTH_DB.exists():
        building = MONTH_DB.with_name(MONTH_DB.name + ".building")
        for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
            leftover.unlink(missing_ok=True)
        _run(building, "manage.py", "migrate", "--noinput", "-v0", timeout=300)
        _run(building, "-m", "tests.benchmarks.test_api", "build", timeout=1_800)
        building.rename(MONTH_DB)
    _run(MONTH_DB, "manage.py", "migrate", "--noinput", "-v0", timeout=600)
    return MONTH_DB


def archived_lines(db: Path, channel: str, first_day: int, last_day: int) -> int:
    """What the archive holds for the channel on those days of the month, read
    two ways (the per-day counters and the messages themselves): they must agree."""
    since = datetime(YEAR, MONTH, first_day, tzinfo=UTC)
    until = datetime(YEAR, MONTH, last_day, tzinfo=UTC) + timedelta(days=1)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        (channel_id,) = conn.execute(
            "SELECT id FROM messages_app_channel WHERE name = ?", (channel,)
        ).fetchone()
        (by_days,) = conn.execute(
            "SELECT SUM(lines) FROM messages_app_channelday"
            " WHERE channel_id = ? AND day >= ? AND day < ?",
            (channel_id, since.date().isoformat(), until.date().isoformat()),
        ).fetchone()
        lo, hi = conn.execute(
            "SELECT MIN(first_id), MAX(last_id) FROM messages_app_channelday"
            " WHERE channel_id = ? AND day >= ? AND day < ?",
            (channel_id, since.date().isoformat(), until.date().isoformat()),
        ).fetchone()
        (by_rows,) = conn.execute(
            "SELECT COUNT(*) FROM messages_app_message WHERE channel_id = ? AND id BETWEEN ? AND ?",
            (channel_id, lo, hi),
        ).fetchone()
    assert by_days == by_rows, f"ChannelDay says {by_days} lines, the messages {by_rows}"
    return by_rows


# -- measuring a download ---------------------------------------------------------


def _status_kb(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "RssAnon", "RssFile"):
            values[key] = int(rest.split()[0])
    return values


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    """The highest RssAnon and RssFile of a process, read every 5 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_anon_kb = self.peak_file_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.take(_status_kb(self.pid))
            self.done.wait(0.005)

    def take(self, status: dict[str, int]) -> None:
        self.peak_anon_kb = max(self.peak_anon_kb, status["RssAnon"])
        self.peak_file_kb = max(self.peak_file_kb, status["RssFile"])

    def stop(self) -> None:
        self.done.set()
        self.join()


@dataclass
class Download:
    lines: int
    megabytes: float
    first_byte_s: float
    seconds: float
    cpu_seconds: float  # the daphne process's, user and system
    hwm_mb: float  # VmHWM after the download
    anon_before_mb: float
    anon_peak_mb: float
    file_peak_mb: float

    @property
    def lines_per_s(self) -> float:
        return self.lines / self.seconds

    @property
    def lines_per_cpu_s(self) -> float:
        return self.lines / self.cpu_seconds


def download(base_url: str, pid: int, path: str, marker: bytes) -> Download:
    """GET `path` to its end, counting `marker`; the daphne's memory meanwhile."""
    import httpx

    before, cpu_before = _status_kb(pid), _cpu_seconds(pid)
    sampler = RssSampler(pid)
    sampler.start()
    count, size, first_byte, tail = 0, 0, None, b""
    keep = len(marker) - 1
    with httpx.Client(base_url=base_url, timeout=120) as client:
        started = time.perf_counter()
        with client.stream("GET", path) as response:
            assert response.status_code == 200, response.read()[:300]
            for chunk in response.iter_raw():
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                size += len(chunk)
                data = tail + chunk
                count += data.count(marker)
                tail = data[-keep:] if keep else b""
        seconds = time.perf_counter() - started
    sampler.stop()
    after = _status_kb(pid)
    sampler.take(after)
    mb = 1 / 1024
    return Download(
        lines=count,
        megabytes=size / 1e6,
        first_byte_s=first_byte or seconds,
        seconds=seconds,
        cpu_seconds=_cpu_seconds(pid) - cpu_before,
        hwm_mb=after["VmHWM"] * mb,
        anon_before_mb=before["RssAnon"] * mb,
        anon_peak_mb=sampler.peak_anon_kb * mb,
        file_peak_mb=sampler.peak_file_kb * mb,
    )


def measured_download(db: Path, tmp: Path, path: str, marker: bytes, warm_up: str) -> Download:
    """`path` downloaded from a daphne started for it, after one small warm-up request."""
    import httpx

    from tests.browser import support

    daphne = support.Daphne(f"sqlite:///{db}", tmp / "daphne.log").start()
    try:
        httpx.get(f"{daphne.url}{warm_up}", timeout=60).raise_for_status()
        return download(daphne.url, daphne.process.pid, path, marker)
    finally:
        daphne.stop()


def month_path(fmt: str) -> str:
    since = datetime(YEAR, MONTH, 1, tzinfo=UTC)
    until = datetime(YEAR + (MONTH == 12), MONTH % 12 + 1, 1, tzinfo=UTC)
    query = f"from={since:%Y-%m-%dT%H:%M:%SZ}&to={until:%Y-%m-%dT%H:%M:%SZ}"
    return f"/api/channel/{CHANNEL}?{query}" + (f"&{fmt}" if fmt else "")


def day_path(fmt: str, day: int = BUSY_DAY) -> str:
    return f"/api/channel/{CHANNEL}/{YEAR}/{MONTH}/{day}" + (f"?{fmt}" if fmt else "")


# -- the small answers ----------------------------------------------------------


USERS_SQL = (
    "SELECT s.channel_id, u.username, s.total_messages, strftime('%Y-%m', s.first_seen_at),"
    " strftime('%Y-%m', s.last_seen_at) FROM messages_app_userchannelstats s"
    " JOIN messages_app_chatuser u ON u.id = s.user_id"
)


def latency_urls(db: Path, rng: random.Random) -> tuple[dict[str, list[str]], dict[str, str]]:
    """URLs per scenario, drawn from the archive, and a note on what each covers."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        channels = dict(conn.execute("SELECT id, name FROM messages_app_channel"))
        days = conn.execute(
            "SELECT channel_id, day, lines FROM messages_app_channelday"
            " WHERE lines <= ? ORDER BY lines DESC LIMIT 50",
            (SMALL_DAY,),
        ).fetchall()
        if not days:  # no day that small: the smallest days there are
            days = conn.execute(
                "SELECT channel_id, day, lines FROM messages_app_channelday ORDER BY lines LIMIT 5"
            ).fetchall()
        (busiest,) = conn.execute(
            "SELECT channel_id FROM messages_app_channelday GROUP BY channel_id"
            " ORDER BY SUM(lines) DESC LIMIT 1"
        ).fetchone()
        # Active users: the 300 who wrote most in a channel among those whose
        # lines are of a size a client pages through (not a bot's tens of
        # thousands). Quiet ones: 1 to 3 lines in the busiest channel, where
        # finding them among the channel's lines is hardest.
        active = conn.execute(
            f"{USERS_SQL} WHERE s.total_messages BETWEEN 200 AND 2000"
            " ORDER BY s.total_messages DESC LIMIT 300"
        ).fetchall()
        quiet = conn.execute(
            f"{USERS_SQL} WHERE s.channel_id = ? AND s.total_messages BETWEEN 1 AND 3"
            " ORDER BY s.id LIMIT 300",
            (busiest,),
        ).fetchall()
    assert days and active and quiet, "the archive lacks channel days or users"

    def day_url(fmt: str) -> str:
        cid, day, _lines = rng.choice(days)
        y, m, d = (int(part) for part in day.split("-"))
        return f"/api/channel/{channels[cid]}/{y}/{m}/{d}" + (f"?{fmt}" if fmt else "")

    def user_month(users: list) -> str:
        cid, login, _n, *months = rng.choice(users)  # the month of its first or last line
        y, m = rng.choice(months).split("-")
        return f"/api/channel/{channels[cid]}/user/{login}/{int(y)}/{int(m)}?json"

    def user_list(users: list) -> str:
        cid, login, *_ = rng.choice(users)
        return f"/api/list?channel={channels[cid]}&user={login}"

    n = SAMPLES + WARMUP
    names = list(channels.values())
    day_sizes = f"{min(d[2] for d in days):,}-{max(d[2] for d in days):,} lines"
    active_sizes = f"{min(u[2] for u in active):,}-{max(u[2] for u in active):,}"
    notes = {
        "floor: /api/capabilities": "a constant answer",
        "list of a channel's days": f"{len(names)} channels",
        "a channel's day, text": day_sizes,
        "a channel's day, json": day_sizes,
        "a user's month, json": f"users of {active_sizes} lines in a channel",
        "list of a user's months": "the same users",
        "a quiet user's month, json": f"users of 1-3 lines in #{channels[busiest]}",
        "list of a quiet user's months": "the same users",
    }
    urls = {
        "floor: /api/capabilities": ["/api/capabilities"] * n,
        "list of a channel's days": [f"/api/list?channel={rng.choice(names)}" for _ in range(n)],
        "a channel's day, text": [day_url("") for _ in range(n)],
        "a channel's day, json": [day_url("json") for _ in range(n)],
        "a user's month, json": [user_month(active) for _ in range(n)],
        "list of a user's months": [user_list(active) for _ in range(n)],
        "a quiet user's month, json": [user_month(quiet) for _ in range(n)],
        "list of a quiet user's months": [user_list(quiet) for _ in range(n)],
    }
    return urls, notes


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)]


def latencies(base_url: str, pid: int, urls: dict[str, list[str]]) -> dict[str, dict]:
    """Per scenario: wall-clock ms of each whole answer, one keep-alive connection,
    and the server's CPU ms per answer."""
    import httpx

    results = {}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for name, paths in urls.items():
            for path in paths[:WARMUP]:
                client.get(path)
            timings, statuses, sizes = [], set(), []
            cpu_before = _cpu_seconds(pid)
            for path in paths[WARMUP:]:
                started = time.perf_counter()
                response = client.get(path)
                timings.append((time.perf_counter() - started) * 1000)
                statuses.add(response.status_code)
                sizes.append(len(response.content))
            results[name] = {
                "n": len(timings),
                "p50": statistics.median(timings),
                "p95": _p95(timings),
                "max": max(timings),
                "bytes": statistics.median(sizes),
                "cpu": (_cpu_seconds(pid) - cpu_before) * 1000 / len(timings),
                "statuses": sorted(statuses),
            }
    return results


# -- the benchmark ----------------------------------------------------------------


def _load() -> str:
    return ", ".join(f"{value:.1f}" for value in os.getloadavg())


@pytest.mark.bench
def test_api_streams_a_month_and_answers_small_requests_fast(tmp_path, perf_report):
    db = month_archive()
    month_count = archived_lines(db, CHANNEL, 1, DAYS)
    day_count = archived_lines(db, CHANNEL, BUSY_DAY, BUSY_DAY)
    assert month_count == MONTH_LINES and day_count == BUSY_LINES
    load_before = _load()

    streams: dict[tuple[str, str], Download] = {}
    for fmt, (flag, marker) in FORMATS.items():
        warm_up = day_path(flag, 1) + ("&" if flag else "?") + "limit=10"
        for period, path in (("day", day_path(flag)), ("month", month_path(flag))):
            result = measured_download(db, tmp_path, path, marker, warm_up)
            streams[(fmt, period)] = result
            print(f"{fmt} {period}: {result}", file=sys.stderr)

    test_pages._archive(test_pages.DB, test_pages.MESSAGES, test_pages.USERS)
    urls, notes = latency_urls(test_pages.DB, random.Random(5))
    from tests.browser import support

    daphne = support.Daphne(f"sqlite:///{test_pages.DB}", tmp_path / "daphne-1m.log").start()
    try:
        small = latencies(daphne.url, daphne.process.pid, urls)
    finally:
        daphne.stop()
    load_after = _load()

    perf_report(
        "api",
        "Logs API",
        report(streams, small, notes, day_count, month_count, load_before, load_after),
    )

    failures = []
    for (fmt, period), result in streams.items():
        expected = month_count if period == "month" else day_count
        assert result.lines == expected, f"{fmt} {period}: {result.lines} lines, not {expected}"
        if result.first_byte_s > FIRST_BYTE_BAR_S:
            failures.append(f"{fmt} {period}: first byte after {result.first_byte_s:.2f} s")
        if result.lines_per_s < LINES_PER_S_BAR:
            failures.append(f"{fmt} {period}: {result.lines_per_s:,.0f} lines/s")
        if result.anon_peak_mb > PEAK_RSS_BAR_MB:
            failures.append(f"{fmt} {period}: RssAnon peak {result.anon_peak_mb:.0f} MB")
    for fmt in FORMATS:
        growth = streams[(fmt, "month")].anon_peak_mb - streams[(fmt, "day")].anon_peak_mb
        if growth > GROWTH_BAR_MB:
            failures.append(f"{fmt}: the month's RssAnon peak is {growth:.0f} MB above the day's")
    for name, r in small.items():
        assert r["statuses"] == [200], f"{name} answered {r['statuses']}"
        if r["p95"] > LATENCY_BAR_MS:
            failures.append(f"{name}: p95 {r['p95']:.1f} ms")
    assert not failures, "bars not met: " + "; ".join(failures)


def _verdict(ok: bool) -> str:
    return "ok" if ok else "**below bar**"


def report(streams, small, notes, day_count, month_count, load_before, load_after) -> str:
    rows = []
    for (fmt, period), r in streams.items():
        ok = (
            r.first_byte_s <= FIRST_BYTE_BAR_S
            and r.lines_per_s >= LINES_PER_S_BAR
            and r.anon_peak_mb < PEAK_RSS_BAR_MB
        )
        rows.append(
            f"| {fmt} | {period} | {r.lines:,} | {r.megabytes:,.0f} | {r.first_byte_s * 1000:.0f} "
            f"| {r.seconds:.1f} | {r.lines_per_s:,.0f} | {r.lines_per_cpu_s:,.0f} "
            f"| {r.anon_before_mb:.0f} | {r.anon_peak_mb:.0f} | {r.file_peak_mb:.0f} "
            f"| {r.hwm_mb:.0f} | {_verdict(ok)} |"
        )
    growth = []
    for fmt in FORMATS:
        more = streams[(fmt, "month")].anon_peak_mb - streams[(fmt, "day")].anon_peak_mb
        growth.append(f"{fmt} {more:+.0f} MB ({_verdict(more < GROWTH_BAR_MB)})")
    small_rows = [
        f"| {name} | {notes[name]} | {r['n']} | {r['bytes']:,.0f} | {r['p50']:.1f} "
        f"| {r['p95']:.1f} | {r['max']:.1f} | {r['cpu']:.1f} "
        f"| {_verdict(r['p95'] <= LATENCY_BAR_MS)} |"
        for name, r in small.items()
    ]
    return (
        "### Streaming a month of one channel\n\n"
        f"One channel's UTC month of {month_count:,} lines (simulator lines with notices\n"
        "and moderation mixed in, through the ingest parser and the write path, in an\n"
        f"archive of their own), and its busiest day of {day_count:,} lines, downloaded\n"
        "whole over HTTP, each row from a daphne process started for it (the month as\n"
        "`/api/channel/<c>?from=&to=`, the day as `/api/channel/<c>/<y>/<m>/<d>`).\n"
        "Every line is counted and matches the archive. First byte: from the request\n"
        "to the first byte of the body. CPU: daphne's own (user + system), so\n"
        "lines per CPU-s moves less when neighbours share the machine. RssAnon: the\n"
        "process's own memory (Python, SQLite's page cache of up to 64 MB), sampled\n"
        "every 5 ms; RssFile: mapped files (the database pages SQLite maps, up to\n"
        "`mmap_size`, 256 MB, and the code); VmHWM: the kernel's peak of both.\n"
        f"Load average (1, 5, 15 min) before: {load_before}.\n\n"
        "| format | period | lines | MB | first byte ms | s | lines/s | lines per CPU-s "
        "| RssAnon before MB | RssAnon peak MB | RssFile peak MB | VmHWM MB | |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
        + "\n".join(rows)
        + "\n\n"
        f"RssAnon peak, month minus day: {', '.join(growth)}.\n\n"
        f"Bars: first byte <= {FIRST_BYTE_BAR_S:.0f} s, >= {LINES_PER_S_BAR:,} lines/s, "
        f"RssAnon < {PEAK_RSS_BAR_MB} MB,\nand the month's RssAnon peak less than "
        f"{GROWTH_BAR_MB} MB above the day's. VmHWM is\nshown, not judged: its file "
        "part is the kernel's page cache, shared and reclaimable.\n\n"
        "### Small answers\n\n"
        "Wall-clock time of whole answers on the 1,000,000-message archive of\n"
        '"Pages and search" (15 channels, 50,000 users, 7 days), sequential over one\n'
        f"keep-alive connection to one daphne process, {WARMUP} requests of warm-up\n"
        "first, parameters drawn at random; CPU: daphne's, mean per request.\n"
        f"Load average at the end: {load_after}.\n\n"
        "| request | drawn from | requests | median bytes | p50 ms | p95 ms | max ms "
        "| CPU ms | |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---|\n" + "\n".join(small_rows) + "\n\n"
        f"Target: p95 <= {LATENCY_BAR_MS:.0f} ms each."
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        build_month()
