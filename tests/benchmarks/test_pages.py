"""Page and search server time on archives of 1,000,000 and 10,000,000 messages.

Each archive is built once by `seed_chat` and reused: 1M messages in 15 channels
from 50,000 users (a few minutes) at BENCH_PAGES_DB (default
/tmp/bench1m.sqlite3), 10M from 200,000 users (about half an hour, 3 GB) at
BENCH_PAGES_10M_DB (default /tmp/bench10m.sqlite3), and the same 10M on
PostgreSQL, database goknut_bench_pages_10m at BENCH_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432; rebuilt when its counters do not hold 10M);
`manage.py migrate` runs on each first, so they follow new migrations. The
same pages must stay as fast on the big ones (the storage issue's "pages stay
flat as the archive grows").

A worker process (this module run with DATABASE_URL pointing at the archive)
requests every page through Django's test Client, the whole stack from the
middleware to the rendered HTML, with parameters drawn at random from the data:
channels, active and quiet users, cursors deep in history, time windows, common
and rare search terms. Every request is timed (wall clock, perf_counter) after a
warm-up round; the report gives p50/p95/max per page against the targets of the
pages issue (page p95 <= 25 ms, search p95 <= 50 ms). Figures, not assertions:
a busy neighbour on a shared machine changes them, so `make bench` runs alone.

Worker: `python -m tests.benchmarks.test_pages ITERATIONS` with DATABASE_URL set;
prints one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DB = Path(os.environ.get("BENCH_PAGES_DB", "/tmp/bench1m.sqlite3"))
DB_10M = Path(os.environ.get("BENCH_PAGES_10M_DB", "/tmp/bench10m.sqlite3"))
PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
PG_DATABASE = "goknut_bench_pages_10m"  # kept between runs, as the SQLite archives
MESSAGES, CHANNELS, USERS = 1_000_000, 15, 50_000
USERS_10M = 200_000
ITERATIONS = int(os.environ.get("BENCH_PAGES_ITERATIONS", "150"))
PAGE_TARGET_MS, SEARCH_TARGET_MS = 25.0, 50.0
COMMON = ["lol", "the", "KEKW", "boss", "chat", "Pog"]
RARE = ["ñandú", "straße", "cutscene", "raiders", "привет", "zzzz"]
FANCY = ['"boss fight"', "speed*", "lol -gg", '"world record" -pb', "hype train"]


# -- the worker (runs in its own process, on the archive) ---------------------


def scenarios(rng: random.Random) -> dict[str, list[str]]:
    """URLs per page, drawn from what the archive holds."""
    from messages_app.models import ActivityBucket, Channel, ChatUser, Message

    newest = Message.objects.order_by("-id").values_list("id", flat=True).first()
    oldest = Message.objects.order_by("id").values_list("id", flat=True).first()
    channels = list(Channel.objects.values_list("name", flat=True))
    users = list(ChatUser.objects.by_activity().values_list("username", flat=True)[:20_000])
    active, quiet = users[:200], users[5_000:]
    minutes = list(ActivityBucket.objects.values_list("minute", flat=True))
    n = ITERATIONS

    def pick(items: list) -> str:
        return rng.choice(items)

    def window() -> str:
        start = pick(minutes)
        return f"since={start:%Y-%m-%dT%H:%M}&until={start + timedelta(hours=1):%Y-%m-%dT%H:%M}"

    def cursor() -> int:  # ids are times (message_ids.py): one within the archive
        return rng.randint(oldest, newest)

    def query() -> str:
        return pick(COMMON + RARE + FANCY).replace(" ", "+").replace('"', "%22")

    cursors = [f"{rng.randint(1, 50)}-{rng.randint(1, 50_000)}" for _ in range(n)]
    return {
        "home": ["/"] * n,
        "home metrics partial": ["/home/metrics"] * n,
        "messages": [rng.choice(["/messages", f"/messages?before={cursor()}"]) for _ in range(n)],
        "messages, channel filter": [
            f"/messages?channel={pick(channels)}&before={cursor()}" for _ in range(n)
        ],
        "messages, user filter": [f"/messages?user={pick(users)}" for _ in range(n)],
        "messages, time window": [f"/messages?{window()}" for _ in range(n)],
        "messages rows partial (poll)": [
            f"/messages/rows?after_id={newest - rng.randint(0, 50)}" for _ in range(n)
        ],
        "messages rows partial (older)": [f"/messages/rows?before={cursor()}" for _ in range(n)],
        "channels": ["/channels"] * n,
        "channel": [
            rng.choice(
                [f"/channels/{pick(channels)}", f"/channels/{pick(channels)}?before={cursor()}"]
            )
            for _ in range(n)
        ],
        "users": [rng.choice(["/users", f"/users?cursor={pick(cursors)}"]) for _ in range(n)],
        "users, name search": [
            f"/users?q={rng.choice(['wolf', 'ninja1', 'zzq', 'cat', '77', 'potato4'])}"
            for _ in range(n)
        ],
        "user profile": [f"/users/{pick(active + quiet)}" for _ in range(n)],
        "user profile, channel filter": [
            f"/users/{pick(active)}?channel={pick(channels)}" for _ in range(n)
        ],
        "search": [f"/search?q={query()}" for _ in range(n)],
        "search, older page": [f"/search?q={query()}&before={cursor()}" for _ in range(n)],
        "search, channel filter": [
            f"/search?q={query()}&channel={pick(channels)}" for _ in range(n)
        ],
        "search, user filter": [
            f"/search?q={query()}&user={pick(active + quiet)}" for _ in range(n)
        ],
        "search, time window": [f"/search?q={query()}&{window()}" for _ in range(n)],
    }


def _p95(sorted_values: list[float]) -> float:
    return sorted_values[max(0, int(len(sorted_values) * 0.95) - 1)]


def worker(iterations: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "goknut.settings")
    import django

    django.setup()
    from django.test import Client

    client = Client(HTTP_HOST="localhost")
    rng = random.Random(4)
    results = {}
    for name, urls in scenarios(rng).items():
        for url in urls[:10]:  # warm-up: templates, caches, page cache
            client.get(url)
        timings, cpu, statuses = [], [], set()
        for url in urls[:iterations]:
            started, cpu_started = time.perf_counter(), time.process_time()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            statuses.add(response.status_code)
        timings.sort()
        cpu.sort()
        results[name] = {
            "n": len(timings),
            "p50": statistics.median(timings),
            "p95": _p95(timings),
            "max": timings[-1],
            # CPU time of this process (SQLite runs in it too): what a request
            # costs when it is not waiting for a busy neighbour's core.
            "cpu_p50": statistics.median(cpu),
            "cpu_p95": _p95(cpu),
            "statuses": sorted(statuses),
        }
    return results


# -- the benchmark --------------------------------------------------------------


def _manage(url: str, *args: str, timeout: float, **extra_env: str) -> None:
    env = {**os.environ, "DATABASE_URL": url, **extra_env}
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=timeout
    )


def _archive(db: Path, messages: int, users: int) -> None:
    """Build the archive unless it exists; bring its schema up to date."""
    if not db.exists():
        _build(f"sqlite:///{db}", messages, users)
    _manage(f"sqlite:///{db}", "migrate", "--noinput", "-v0", timeout=3_600)


def _build(url: str, messages: int, users: int) -> None:
    _manage(url, "migrate", "--noinput", "-v0", timeout=300)
    seed = [f"--messages={messages}", f"--channels={CHANNELS}", f"--users={users}"]
    # A bench archive may lose its last commits in a crash: PostgreSQL need not
    # wait for the disk on each batch (PGOPTIONS is read by libpq; SQLite ignores it).
    _manage(url, "seed_chat", *seed, timeout=3 * 3_600, PGOPTIONS="-c synchronous_commit=off")


@pytest.mark.bench
def test_it_measures_page_server_time(perf_report):
    _archive(DB, MESSAGES, USERS)
    _measure(perf_report, _sqlite(DB), MESSAGES, USERS, "pages", "Pages and search")


@pytest.mark.bench
def test_pages_stay_as_fast_on_10_million_messages(perf_report):
    _archive(DB_10M, 10 * MESSAGES, USERS_10M)
    _measure(perf_report, _sqlite(DB_10M), 10 * MESSAGES, USERS_10M, "pages-10m",
             "Pages and search at 10,000,000 messages")  # fmt: skip


@pytest.mark.bench
def test_pages_on_postgresql_at_10_million_messages(perf_report):
    archive = _postgres_archive(10 * MESSAGES, USERS_10M)
    if archive is None:
        return  # said loudly: no server
    _measure(perf_report, archive, 10 * MESSAGES, USERS_10M, "pages-10m-postgresql",
             "Pages and search on PostgreSQL at 10,000,000 messages")  # fmt: skip


@dataclass
class Archive:
    url: str  # DATABASE_URL
    engine: str
    size_bytes: Callable[[], int]
    warm: Callable[[], None]
    server: str = ""  # the database server's version and settings, when it has them


def _sqlite(db: Path) -> Archive:
    return Archive(f"sqlite:///{db}", "SQLite", lambda: db.stat().st_size, lambda: _warm(db))


def _postgres_archive(messages: int, users: int) -> Archive | None:
    """The PostgreSQL archive at PG_URL/PG_DATABASE, built by seed_chat unless a
    complete one is there (its counters hold `messages`), or None (said loudly)
    when no server answers."""
    import psycopg

    try:
        admin = psycopg.connect(f"{PG_URL}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"\n*** PostgreSQL pages not measured: nothing answered on {PG_URL} ({exc})",
              file=sys.stderr)  # fmt: skip
        return None
    url = f"{PG_URL}/{PG_DATABASE}"
    with admin:
        if _stored(url) != messages:
            admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {PG_DATABASE}")
            _build(url, messages, users)
        _manage(url, "migrate", "--noinput", "-v0", timeout=3_600)
        # The statistics and visibility map autovacuum would have made by now (a
        # freshly built archive has neither; some servers run with autovacuum off).
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

    def size() -> int:
        with psycopg.connect(url) as conn:
            return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]

    return Archive(url, "PostgreSQL", size, lambda: None, _server_settings(url))


SERVER_SETTINGS = ("shared_buffers", "effective_cache_size", "random_page_cost", "work_mem",
                   "autovacuum")  # fmt: skip


def _server_settings(url: str) -> str:
    """What the figures depend on beyond the machine: docs/deployment.md,
    "Tuning PostgreSQL" (goknut's connections set jit=off themselves)."""
    import psycopg

    with psycopg.connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        values = [
            f"{name}={conn.execute(f'SHOW {name}').fetchone()[0]}" for name in SERVER_SETTINGS
        ]
    return f"PostgreSQL {version}, " + ", ".join(values)


def _stored(url: str) -> int | None:
    """How many messages the archive's counters hold; None if it has no schema."""
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            row = conn.execute("SELECT sum(total_messages) FROM messages_app_channel").fetchone()
    except psycopg.Error:
        return None
    return row[0]


def _warm(db: Path) -> None:
    """Read the archive once, so the page cache holds it as a running server's
    would (this VM gives cold pages back within minutes)."""
    with open(db, "rb") as f:
        while f.read(1 << 24):
            pass


def _cached_gib() -> float:
    """The machine's page cache now (/proc/meminfo "Cached")."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Cached:"):
            return int(line.split()[1]) / 2**20
    return 0.0


def _measure(perf_report, archive: Archive, messages: int, users: int, section: str, title: str):
    archive.warm()
    cached = _cached_gib()
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.test_pages", str(ITERATIONS)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": archive.url},
        capture_output=True,
        text=True,
        timeout=1_800,
        check=True,
    )
    results = json.loads(out.stdout.strip().splitlines()[-1])
    rows = []
    for name, r in results.items():
        target = SEARCH_TARGET_MS if name.startswith("search") else PAGE_TARGET_MS
        verdict = "ok" if r["p95"] <= target else "**over**"
        rows.append(
            f"| {name} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} "
            f"| {r['cpu_p50']:.1f} | {r['cpu_p95']:.1f} | {target:.0f} | {verdict} |"
        )
    where = "SQLite included" if archive.engine == "SQLite" else "not the PostgreSQL server's"
    server = f"Server: {archive.server}.\n" if archive.server else ""
    body = (
        f"Server time per request (Django test Client: middleware, views, queries,\n"
        f"templates) on a {messages:,}-message {archive.engine} archive ({CHANNELS} channels,\n"
        f"{users:,} users, `seed_chat`; {archive.size_bytes() / 2**30:.1f} GiB),"
        " parameters drawn at random per request.\n"
        f"{server}"
        f"Targets: page p95 <= {PAGE_TARGET_MS:.0f} ms, search p95 <= "
        f"{SEARCH_TARGET_MS:.0f} ms.\n\n"
        "| page | requests | p50 ms | p95 ms | max ms | CPU p50 ms | CPU p95 ms "
        "| target p95 ms | |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---|\n" + "\n".join(rows) + "\n\n"
        "The verdict compares the wall-clock p95 with the target. CPU columns are the\n"
        f"worker's own CPU time per request ({where}): on a shared machine\n"
        "they show what a request costs without waiting for a core, or for the disk:\n"
        f"the page cache held {cached:.1f} GiB before the run, {_cached_gib():.1f} GiB after\n"
        "(an SQLite archive is read once before the run; where wall and CPU times part\n"
        "on SQLite, reads went to the disk).\n\n"
        "How: keyset pagination by id (no OFFSET), counters instead of COUNT(*), rows\n"
        "rendered by one Python function behind partials/message_row.html, and search\n"
        "walking the FTS5 index in rowid order, or the filter's own index\n"
        "(messages_app.search.newest_matches; PostgreSQL: a budgeted walk of the newest\n"
        "lines with a substring prefilter, then the GIN index, search._planned_matches).\n"
        "See docs/pages.md."
    )
    perf_report(section, title, body)
    for name, r in results.items():
        assert r["statuses"] == [200], f"{name} answered {r['statuses']}"


if __name__ == "__main__":
    print(json.dumps(worker(int(sys.argv[1]))))
