"""Live updates: latency under load, and idle connections one daphne process holds.
(One file for the live benchmark's set-up, load, checks and report: long, but
read top to bottom.)

One daphne serves /live from a fresh migrated SQLite file. The SSE clients are
sse_client.c (one epoll loop over raw sockets, in CLIENT_PROCESSES processes,
compiled with gcc on first use): the measuring side shares the machine with
the server it measures, so it must cost as little CPU as it can. Chat comes
the way it does in production: the Twitch-protocol simulator (in this process)
sends lines at a fixed rate over TCP on 127.0.0.1 to `manage.py ingest` in its
own process, on the default in-memory layer (the relay finds ingest's rows by
its timed read).

Latency is from the line leaving the IRC server (its tmi-sent-ts, in ms) to the
moment a client read the event off its socket (same machine, wall clock). Every
client checks every message it should get: lost = stored ids up to the last one
received that were not received (ids are times, not a dense range: each client
reports its count, the sum of its ids and the last one),
duplicates and out-of-order ids are counted, not sampled. Latency is sampled:
connection k keeps the times of ids with id % SAMPLE == k % SAMPLE.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_PROCESSES = 2
SAMPLE = 10
SCENARIOS = [(100, 100), (100, 1_000), (1_000, 100), (1_000, 1_000)]  # (clients, msg/s)
if os.environ.get("BENCH_LIVE_SCENARIOS"):  # e.g. "1000x1000,100x100": only these rows
    SCENARIOS = [
        tuple(int(n) for n in row.split("x"))
        for row in os.environ["BENCH_LIVE_SCENARIOS"].split(",")
    ]
SECONDS = 6  # writing time per scenario
DRAIN_SECONDS = 30  # after writing: time for the last events to arrive
IDLE_CONNECTIONS = 10_000
IDLE_SECONDS = 30  # longer than one keep-alive period (25 s): its round is included
TARGET_P95_MS = 100
TARGET_KB_PER_CONNECTION = 25
TARGET_IDLE_CPU = 5.0
CLIENT_SOURCE = Path(__file__).with_name("sse_client.c")
SERVER = os.environ.get("BENCH_LIVE_SERVER", "daphne")  # or uvicorn, to compare


def ingest_chat(db_url: str, rate: int, seconds: float, times_path: Path, rows, **env) -> dict:
    """`rate` chat lines a second for `seconds` from the chat simulator (in this
    process) over TCP to `manage.py ingest` (its own process, default batching),
    as in production. Waits until every line is stored, then writes
    {messages.id: the line's send time (its tmi-sent-ts)} to `times_path`.
    `rows` is test_ingest's (rows_after, close) pair for the database."""
    from tests.benchmarks.test_ingest import CHANNELS, cpu_seconds
    from tests.ingest.twitch_server import ThreadedTwitchServer, manage

    rows_after, close = rows
    count = int(rate * seconds)
    cursor = max((id_ for id_, _sent in rows_after(0)), default=0)
    server = ThreadedTwitchServer(rate=rate, limit=count)
    channels = [arg for name in CHANNELS for arg in ("--channel", name)]
    proc = manage(db_url, "ingest", "--irc-url", server.url, *channels, env=env)
    times: dict[int, float] = {}
    cpu: list[float] = []
    began = 0.0
    try:
        deadline = time.monotonic() + seconds + 60
        while len(times) < count and time.monotonic() < deadline and proc.poll() is None:
            for id_, sent in rows_after(cursor):
                times[id_], cursor = sent, id_
            if times and not cpu:
                cpu.append(cpu_seconds(proc.pid))
                began = time.monotonic()
            time.sleep(0.1)
        cpu.append(cpu_seconds(proc.pid))
        ended = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        close()
        server.close()
    assert f"stored {count} messages, 0 duplicates, skipped 0" in out, out + err[-2000:]
    times_path.write_text(json.dumps(times))
    # The ingest process's CPU while chat flowed, in % of one core.
    ingest_cpu = (cpu[-1] - cpu[0]) / (ended - began) * 100
    return {"lo": min(times), "hi": max(times), "count": len(times), "ingest_cpu": ingest_cpu}


# -- the benchmark ---------------------------------------------------------------


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _env(db_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": db_url, "DJANGO_SETTINGS_MODULE": "goknut.settings"}
    env.pop("REDIS_URL", None)
    env.update(LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"), **extra)
    return env


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Daphne:
    def __init__(self, db_url: str, tmp: Path, **env: str) -> None:
        import httpx

        self.port = _free_port()
        self.log = tmp / f"daphne-{self.port}.log"
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
        if SERVER == "uvicorn":  # for a comparison only: `pip install uvicorn[standard]`
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ]
        self.process = subprocess.Popen(
            [*command, "goknut.asgi:application"],
            cwd=ROOT, env=_env(db_url, SSE_MAX_CONNECTIONS="20000", **env),
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, preexec_fn=_raise_nofile,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).is_success:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(self.log.read_text())
        # Start the relay and load the row template before anything is measured.
        with httpx.stream("GET", f"http://127.0.0.1:{self.port}/live?view=home") as r:
            next(r.iter_lines())

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _client_binary() -> Path:
    """sse_client.c, compiled once per version of its source."""
    source = CLIENT_SOURCE.read_bytes()
    binary = (
        Path(tempfile.gettempdir()) / f"goknut-sse-client-{hashlib.sha1(source).hexdigest()[:12]}"
    )
    if not binary.exists():
        built = binary.with_name(f"{binary.name}.{os.getpid()}")  # parallel workers
        if shutil.which("gcc") is None:
            raise RuntimeError(
                f"gcc is needed to build the benchmark's SSE client, {CLIENT_SOURCE}"
            )
        subprocess.run(["gcc", "-O2", "-Wall", "-o", str(built), str(CLIENT_SOURCE)], check=True)
        built.replace(binary)
    return binary


def _clients(port: int, total: int, view: str = "messages") -> list[subprocess.Popen]:
    """`total` streams of `view`, split between CLIENT_PROCESSES client processes;
    returns once every stream is open."""
    share = total // CLIENT_PROCESSES
    binary = _client_binary()
    procs = [
        subprocess.Popen(
            [str(binary), str(port), str(share), view],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_raise_nofile,
        )
        for i in range(CLIENT_PROCESSES)
    ]
    for i, proc in enumerate(procs):
        proc.offset = i * share  # streams of different processes sample different ids
        ready = proc.stdout.readline().split()
        assert ready and ready[0] == "ready", f"client failed: {ready}"
        assert ready[2] == "0", f"{ready[2]} client connections failed"
    return procs


def _drain(procs: list[subprocess.Popen], hi: int, seconds: float) -> None:
    """Let every client read up to `hi` (or be cut off) before counting."""
    for proc in procs:
        proc.stdin.write(f"wait {hi} {seconds}\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.stdout.readline().strip() == "drained"


def _finish(procs: list[subprocess.Popen], lo: int, hi: int, times: str) -> dict:
    """Stop the clients; lost, not arrived, duplicated and cut-off counts over
    every stream, and the latencies of the sampled ids (`times`: {id: sent},
    every id stored in the row: ids are times, not a dense range)."""
    starts = (
        {int(k): v for k, v in json.loads(Path(times).read_text()).items()} if times != "-" else {}
    )
    stored = sorted(i for i in starts if lo <= i <= hi)
    sums = list(itertools.accumulate(stored, initial=0))  # sums[k]: of the k lowest ids
    sampled = {mod: [i for i in stored if i % SAMPLE == mod] for mod in range(SAMPLE)}
    expected = Expected(stored, sums, sampled, starts)
    totals = {"lost": 0, "late": 0, "dups": 0, "cut": 0, "latencies": []}
    for proc in procs:
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        streams = json.loads(proc.stdout.readline())["streams"]
        proc.wait(30)
        for index, stream in enumerate(streams):
            _count(stream, (proc.offset + index) % SAMPLE, expected, totals)
    return totals


@dataclass
class Expected:
    stored: list[int]  # the row's ids, in order
    sums: list[int]
    sampled: dict[int, list[int]]  # the ids whose latency connection k samples
    starts: dict[int, float]  # id -> sent


def _count(stream: dict, mod: int, expected: Expected, totals: dict) -> None:
    """Add one stream's figures; it samples the latency of ids with id % SAMPLE == mod.
    Lost: stored ids up to the last it got that it did not get (its count and
    the sum of its ids against the stored ones); not arrived: those after."""
    if "error" in stream:
        return
    totals["cut"] += stream["closed"]
    upto = bisect.bisect_right(expected.stored, stream["last"])
    lost = upto - stream["n"]
    if not lost and stream["sum"] != expected.sums[upto] % 2**64:
        lost = 1  # as many ids as stored, but not the same ones
    totals["lost"] += max(lost, 0)
    # Not received by the stop: cut off, or still on the way (late).
    totals["late"] += len(expected.stored) - upto
    totals["dups"] += stream["dups"]
    ids = expected.sampled[mod]
    for first, final, read_at in stream["reads"]:
        at = bisect.bisect_left(ids, first)
        for i in ids[at : bisect.bisect_right(ids, final)]:
            totals["latencies"].append(read_at - expected.starts[i])


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


@pytest.fixture(scope="module")
def bench_db(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("live-bench") / "bench.sqlite3"
    url = f"sqlite:///{path}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT, env=_env(url), check=True,
    )  # fmt: skip
    return url


def _sqlite_rows(db_url: str):
    from tests.benchmarks.test_ingest import sqlite_rows

    return sqlite_rows(db_url.removeprefix("sqlite:///"))


RESULTS: dict[str, str] = {}


@pytest.mark.bench
def test_live_latency(bench_db, tmp_path, perf_report):
    daphne = Daphne(bench_db, tmp_path)
    rows = []
    misses = []
    loads: list[float] = []
    broken: list[str] = []
    try:
        for clients, rate in SCENARIOS:
            procs = _clients(daphne.port, clients)
            time.sleep(1)
            cpu0, t0 = daphne.cpu_seconds(), time.monotonic()
            clients0 = sum(_cpu_seconds(p.pid) for p in procs)
            times = tmp_path / f"times-{clients}-{rate}.json"
            span = ingest_chat(bench_db, rate, SECONDS, times, _sqlite_rows(bench_db))
            _drain(procs, span["hi"], DRAIN_SECONDS)
            cpu = (daphne.cpu_seconds() - cpu0) / (time.monotonic() - t0) * 100
            client_cpu = sum(_cpu_seconds(p.pid) for p in procs) - clients0
            client_cpu = client_cpu / (time.monotonic() - t0) * 100
            loads.append(os.getloadavg()[0])
            result = _finish(procs, span["lo"], span["hi"], str(times))
            lat = result["latencies"]
            p50, p95, p99 = (_pct(lat, q) for q in (0.5, 0.95, 0.99))
            sent = span["count"]
            rows.append(
                f"| {clients:,} | {rate:,} | {sent:,} | {p50:.0f} | {p95:.0f} | {p99:.0f} | "
                f"{max(lat) * 1000 if lat else float('nan'):.0f} | {result['lost']:,} | "
                f"{result['late']:,} | {result['dups']:,} | {result['cut']:,} | {cpu:.0f}% | "
                f"{client_cpu:.0f}% | {span['ingest_cpu']:.0f}% |"
            )
            print(rows[-1], file=sys.stderr)
            if result["lost"] or result["dups"]:
                broken.append(f"{clients}x{rate}: {result['lost']} lost, {result['dups']} dups")
            if result["lost"] or result["dups"] or result["late"]:
                misses.append(
                    f"{clients}x{rate}: lost {result['lost']:,}, not arrived "
                    f"{result['late']:,} ({result['cut']} clients cut off for falling "
                    f"behind), duplicates {result['dups']:,}"
                )
            if clients == 1_000 and rate == 1_000 and p95 > TARGET_P95_MS:
                misses.append(f"p95 {p95:.0f} ms > {TARGET_P95_MS} ms at 1,000 x 1,000/s")
    finally:
        daphne.stop()
    body = (
        "From the chat line leaving the local IRC server (the simulator; its\n"
        "`tmi-sent-ts`) over TCP to `manage.py ingest` in its own process (default\n"
        "batching), through SQLite, to the event read off the socket by the SSE clients\n"
        f"(`/live?view=messages`; tests/benchmarks/sse_client.c, {CLIENT_PROCESSES} processes of\n"
        f"one epoll loop each), {SECONDS} s per row, one {SERVER} process, in-memory\n"
        "channel layer (so the relay finds ingest's rows by its 10 ms change probe).\n"
        "Latency in ms, sampled on 1 in\n"
        f'{SAMPLE} messages per client. Every message of every client is checked: "lost"\n'
        "are stored ids a stream skipped (a gap, found from its count and the sum of\n"
        'its ids against the stored ones), "not arrived" are messages a client had\n'
        f"not received {DRAIN_SECONDS} s after the last was stored (late, or on a client the\n"
        "server cut off for falling behind, which a real client would resume by cursor).\n"
        "CPU: % of one core; the client processes' together. Machine load\n"
        "average during the rows:\n"
        f"{', '.join(f'{x:.1f}' for x in loads)} on {os.cpu_count()} CPUs (above the CPU count,\n"
        f"every process, {SERVER}, ingest and the clients included, waits for a core).\n\n"
        "| clients | msg/s | messages | p50 | p95 | p99 | max | lost | not arrived | duplicates "
        f"| cut off | {SERVER} CPU | clients CPU | ingest CPU |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        + "\n".join(rows)
        + "\n\n"
        f"Target: p95 <= {TARGET_P95_MS} ms at 1,000 msg/s with 1,000 clients, nothing lost "
        "or duplicated. " + ("**Missed:** " + "; ".join(misses) if misses else "Met.")
    )
    RESULTS["latency"] = body
    _report(perf_report)
    # Order and exactly-once are correctness, not speed: they must hold however
    # busy the machine is.
    assert not broken, broken


@pytest.mark.bench
def test_live_idle_connections(bench_db, tmp_path, perf_report):
    daphne = Daphne(bench_db, tmp_path)
    try:
        time.sleep(1)
        before = daphne.rss_kb()
        began = time.monotonic()
        procs = _clients(daphne.port, IDLE_CONNECTIONS, view="home")
        connect_seconds = time.monotonic() - began
        time.sleep(2)
        after = daphne.rss_kb()
        cpu0, t0 = daphne.cpu_seconds(), time.monotonic()
        time.sleep(IDLE_SECONDS)
        cpu = (daphne.cpu_seconds() - cpu0) / (time.monotonic() - t0) * 100
        _finish(procs, 1, 0, "-")
    finally:
        daphne.stop()
    per_conn = (after - before) / IDLE_CONNECTIONS
    ok = per_conn <= TARGET_KB_PER_CONNECTION and cpu < TARGET_IDLE_CPU
    body = (
        f"{IDLE_CONNECTIONS:,} idle `/live?view=home` streams to one {SERVER} process\n"
        f"(clients in {CLIENT_PROCESSES} processes, connected in {connect_seconds:.1f} s).\n\n"
        f"| connections | RSS before | RSS after | per connection | {SERVER} CPU idle "
        f"({IDLE_SECONDS} s) |\n|---:|---:|---:|---:|---:|\n"
        f"| {IDLE_CONNECTIONS:,} | {before / 1024:.0f} MiB | {after / 1024:.0f} MiB | "
        f"{per_conn:.1f} KB | {cpu:.1f}% |\n\n"
        f"Machine load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.\n\n"
        f"Target: <= {TARGET_KB_PER_CONNECTION} KB per connection and < {TARGET_IDLE_CPU:.0f}% "
        "CPU. " + ("Met." if ok else "**Missed.**")
    )
    RESULTS["idle"] = body
    _report(perf_report)


def _report(perf_report) -> None:
    body = "\n\n".join(
        f"### {title}\n\n{RESULTS[key]}"
        for key, title in (("latency", "Latency under load"), ("idle", "Idle connections"))
        if key in RESULTS
    )
    perf_report("live", "Live updates (/live)", body)
