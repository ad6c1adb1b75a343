"""Real parts for the browser tests and the screenshot script.

A `Daphne` web server and `manage.py ingest --replay` run as subprocesses
against the same database as the test (a SQLite file or PostgreSQL), and
Debian's chromium is driven through Playwright. Nothing here mocks the project.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
DAPHNE = str(Path(sys.executable).with_name("daphne"))
CHROMIUM = os.environ.get("GOKNUT_CHROMIUM", "/usr/bin/chromium")
AXE_JS = REPO / "node_modules" / "axe-core" / "axe.min.js"

# Only loopback networking and nothing the browser does on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}


def missing_dependencies(*, axe: bool = True) -> list[str]:
    """What the browser suite needs and cannot find (empty when it can run);
    axe-core only matters to the accessibility tests."""
    missing = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the Python playwright package (pip install playwright)")
    if axe and not AXE_JS.is_file():
        missing.append("axe-core in node_modules (npm ci)")
    return missing


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_env(database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for the test process only
    env.update(
        DATABASE_URL=database_url,
        DJANGO_SETTINGS_MODULE="goknut.settings",
        PYTHONUNBUFFERED="1",
        DEBUG="false",
    )
    env.update(extra or {})
    return env


def wait_until(condition, timeout: float, interval: float = 0.05, message: str = ""):
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout}s")
        time.sleep(interval)


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


STARTED: list[Daphne] = []  # for the logs of a failed test


@dataclass
class Daphne:
    """`daphne goknut.asgi:application` on 127.0.0.1, stoppable and restartable on its port."""

    database_url: str
    log_path: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> Daphne:
        log = open(self.log_path, "ab")  # noqa: SIM115  (the process owns it)
        self.process = subprocess.Popen(
            [DAPHNE, "-b", "127.0.0.1", "-p", str(self.port), "goknut.asgi:application"],
            cwd=REPO,
            env=subprocess_env(self.database_url, self.env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if self not in STARTED:
            STARTED.append(self)

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"daphne exited with {self.process.returncode}:\n{self.log()}")
            return http_status(f"{self.url}/healthz") == 200

        wait_until(ready, timeout, message=f"daphne not up in {timeout}s:\n{self.log()}")
        return self

    def stop(self, timeout: float = 5) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            # Open event streams can hold a graceful shutdown; the tests need the port back.
            self.process.kill()
            self.process.wait(timeout)

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""


def manage(
    database_url: str,
    *args: str,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> str:
    """Run `manage.py <args>` in its own process; fail with its output if it fails."""
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=REPO,
        env=subprocess_env(database_url, env),
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} exited {done.returncode}\n"
            f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
        )
    return done.stdout + done.stderr


def ingest(database_url: str, lines: Iterable[str]) -> str:
    """Write chat through a separate `manage.py ingest --replay -` process."""
    return manage(database_url, "ingest", "--replay", "-", input="\n".join(lines) + "\n")


def privmsg(
    channel: str,
    username: str,
    text: str,
    *,
    display_name: str | None = None,
    color: str = "#1E90FF",
    user_id: int | None = None,
) -> str:
    """One raw Twitch IRC PRIVMSG line, as irc.chat.twitch.tv sends it."""
    ms = int(datetime.now(UTC).timestamp() * 1000)
    tags = {
        "badge-info": "",
        "badges": "",
        "color": color,
        "display-name": display_name or username.capitalize(),
        "emotes": "",
        "first-msg": "0",
        "flags": "",
        "id": str(uuid.uuid4()),
        "mod": "0",
        "room-id": str(zlib.crc32(channel.encode()) % 10**8),
        "subscriber": "0",
        "tmi-sent-ts": str(ms),
        "turbo": "0",
        "user-id": str(user_id or zlib.crc32(username.encode()) % 10**8),
        "user-type": "",
    }
    tag_text = ";".join(f"{key}={value}" for key, value in tags.items())
    return f"@{tag_text} :{username}!{username}@{username}.tmi.twitch.tv PRIVMSG #{channel} :{text}"


def token() -> str:
    """A marker unique to one test run, put in message texts to find them on a page."""
    return uuid.uuid4().hex[:8]


def npm_available() -> bool:
    return shutil.which("npm") is not None
