"""Live updates: latency under load, and idle connections one daphne process holds.

One daphne serves /live from a fresh migrated SQLite file. SSE clients are raw
asyncio sockets in CLIENT_PROCESSES separate processes (so the measuring side
does not starve the server of the GIL). Chat comes the way it does in
production: the Twitch-protocol simulator (in this process) sends lines at a
fixed rate over TCP on 127.0.0.1 to `manage.py ingest` in its own process, on
the default in-memory layer (the relay finds ingest's rows by its timed read).

Latency is from the line leaving the IRC server (its tmi-sent-ts, in ms) to the
moment a client read the event off its socket (same machine, wall clock). Every
client checks every message it should get: lost = expected - unique received,
duplicates and out-of-order ids are counted, not sampled. Latency is sampled:
connection k keeps the times of ids with id % SAMPLE == k % SAMPLE.

Run as a module, it is a client worker: `python -m tests.benchmarks.test_live
client PORT COUNT VIEW OFFSET` (see `main`).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_PROCESSES = 2
SAMPLE = 10
SCENARIOS = [(100, 100), (100, 1_000), (1_000, 100), (1_000, 1_000)]  # (clients, msg/s)
SECONDS = 6  # writing time per scenario
DRAIN_SECONDS = 30  # after writing: time for the last events to arrive
IDLE_CONNECTIONS = 10_000
IDLE_SECONDS = 30  # longer than one keep-alive period (25 s): its round is included
TARGET_P95_MS = 100
TARGET_KB_PER_CONNECTION = 25
TARGET_IDLE_CPU = 5.0
EVENT_PREFIX = b"event: message\nid: "
EVENT_ID = re.compile(rb"event: message\nid: [^:\n]+:(\d+)\n")


# -- workers (run in their own processes) --------------------------------------


async def _client(port: int, count: int, view: str, offset: int) -> None:
    """Open `count` streams; print `ready`; on `stop LO HI TIMES` report and exit."""
    results: list[dict] = [
        {"n": 0, "dups": 0, "gaps": 0, "last": 0, "samples": []} for _ in range(count)
    ]
    connected = 0
    all_connected = asyncio.Event()
    request = f"GET /live?view={view} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode()
    gate = asyncio.Semaphore(200)  # connects in flight: stay under the listen backlog

    async def reader(index: int) -> None:
        nonlocal connected
        state = results[index]
        state["mod"] = (offset + index) % SAMPLE
        async with gate:
            for _attempt in range(5):
                try:
                    r, w = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
                    break
                except OSError:
                    await asyncio.sleep(0.5)
            else:
                state["error"] = "connect failed"
                connected += 1
                return
            w.write(request)
            buffer = b""
            while b"\n\n" not in buffer.partition(b"\r\n\r\n")[2]:
                data = await r.read(65536)
                if not data:
                    state["error"] = buffer[:200].decode(errors="replace")
                    connected += 1
                    if connected == count:
                        all_connected.set()
                    return
                buffer += data
        connected += 1
        if connected == count:
            all_connected.set()
        carry = b""
        reads = state["samples"]
        last = 0
        while True:
            data = await r.read(1 << 22)
            if not data:
                break
            now = time.time()
            data = carry + data
            cut = data.rfind(b"\n\n") + 2
            if cut == 1:  # no complete event yet
                carry = data
                continue
            carry = data[cut:]
            # Cheap on purpose (the clients must not starve the server): ids are
            # contiguous on this stream, so first id, last id and the number of
            # events prove a read complete; only an anomaly is parsed in full.
            first_match = EVENT_ID.search(data, 0, cut)
            if first_match is None:
                continue
            last_match = EVENT_ID.match(data, data.rfind(EVENT_PREFIX, 0, cut))
            first, final = int(first_match.group(1)), int(last_match.group(1))
            n = data.count(EVENT_PREFIX, 0, cut)
            if first > last and final - first + 1 == n:
                if last and first > last + 1:
                    state["gaps"] += first - last - 1  # skipped ids: truly lost
                state["n"] += n
                last = final
            else:
                for match in EVENT_ID.finditer(data, 0, cut):
                    id_ = int(match.group(1))
                    if id_ <= last:
                        state["dups"] += 1
                        continue
                    if last and id_ > last + 1:
                        state["gaps"] += id_ - last - 1
                    last = id_
                    state["n"] += 1
            reads.append((first, final, now))
            state["last"] = last
        state["closed"] = True  # the server ended it (a backpressure cut-off)

    tasks = [asyncio.create_task(reader(i)) for i in range(count)]
    await all_connected.wait()
    errors = sum(1 for s in results if "error" in s)
    print(f"ready {count - errors} {errors}", flush=True)
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if line.startswith("wait"):  # wait HI SECONDS: until every stream has HI or ended
        _, target, seconds = line.split()
        deadline = time.monotonic() + float(seconds)
        while time.monotonic() < deadline and any(
            s["last"] < int(target) and not s.get("closed") for s in results
        ):
            await asyncio.sleep(0.1)
        print("drained", flush=True)
        line = await loop.run_in_executor(None, sys.stdin.readline)
    _, lo, hi, times_path = line.split()
    lo, hi = int(lo), int(hi)
    for task in tasks:
        task.cancel()
    times = json.loads(Path(times_path).read_text()) if times_path != "-" else {}
    starts = {int(k): v for k, v in times.items()}
    latencies, lost, late, dups, cut = [], 0, 0, 0, 0
    for state in results:
        if "error" in state:
            continue
        cut += bool(state.get("closed"))
        lost += state["gaps"]
        # Not received by the stop: cut off, or still on the way (late).
        late += max(0, (hi - lo + 1) - state["n"] - state["gaps"]) if hi >= lo else 0
        dups += state["dups"]
        mod = state["mod"]
        for first, final, now in state["samples"]:
            start = first + (mod - first) % SAMPLE
            latencies += [now - starts[i] for i in range(start, final + 1, SAMPLE) if i in starts]
    report = {"lost": lost, "late": late, "dups": dups, "cut": cut, "latencies": latencies}
    print(json.dumps(report), flush=True)


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
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        close()
        server.close()
    assert f"stored {count} messages, 0 duplicates, skipped 0" in out, out + err[-2000:]
    times_path.write_text(json.dumps(times))
    # The ingest process's CPU while chat flowed, in % of one core.
    ingest_cpu = (cpu[-1] - cpu[0]) / (time.monotonic() - began) * 100
    return {"lo": min(times), "hi": max(times), "ingest_cpu": ingest_cpu}


def main(argv: list[str]) -> None:
    if argv[0] == "client":
        port, count, view, offset = int(argv[1]), int(argv[2]), argv[3], int(argv[4])
        asyncio.run(_client(port, count, view, offset))


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
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "goknut.asgi:application"],
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


def _clients(port: int, total: int, view: str = "messages") -> list[subprocess.Popen]:
    share = total // CLIENT_PROCESSES
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.benchmarks.test_live",
                "client",
                str(port),
                str(share),
                view,
                str(i * share),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_raise_nofile,
        )
        for i in range(CLIENT_PROCESSES)
    ]
    for proc in procs:
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
    for proc in procs:
        proc.stdin.write(f"stop {lo} {hi} {times}\n")
        proc.stdin.flush()
    totals = {"lost": 0, "late": 0, "dups": 0, "cut": 0, "latencies": []}
    for proc in procs:
        report = json.loads(proc.stdout.readline())
        proc.wait(30)
        for key in totals:
            totals[key] += report[key]
    return totals


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
            sent = span["hi"] - span["lo"] + 1
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
        "batching), through SQLite, to the event read off the socket by raw asyncio SSE\n"
        f"clients (`/live?view=messages`, {CLIENT_PROCESSES} client processes), {SECONDS} s\n"
        "per row, one daphne process, in-memory channel layer (so the relay finds\n"
        "ingest's rows by its 10 ms change probe). Latency in ms, sampled on 1 in\n"
        f'{SAMPLE} messages per client. Every message of every client is checked: "lost"\n'
        'are ids skipped on a stream (a gap), "not arrived" are messages a client had\n'
        f"not received {DRAIN_SECONDS} s after the last was stored (late, or on a client the\n"
        "server cut off for falling behind, which a real client would resume by cursor).\n"
        "CPU: % of one core; the client processes' together. Machine load\n"
        "average during the rows:\n"
        f"{', '.join(f'{x:.1f}' for x in loads)} on {os.cpu_count()} CPUs (above the CPU count,\n"
        "every process, daphne, ingest and the clients included, waits for a core).\n\n"
        "| clients | msg/s | messages | p50 | p95 | p99 | max | lost | not arrived | duplicates "
        "| cut off | daphne CPU | clients CPU | ingest CPU |\n"
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
        f"{IDLE_CONNECTIONS:,} idle `/live?view=home` streams to one daphne process\n"
        f"(clients in {CLIENT_PROCESSES} processes, connected in {connect_seconds:.1f} s).\n\n"
        "| connections | RSS before | RSS after | per connection | daphne CPU idle "
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


if __name__ == "__main__":
    main(sys.argv[1:])
