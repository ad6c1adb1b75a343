"""Ingest's heartbeat: what the running ingest says about itself, in the database.

The ingest process writes one row per source (twitch, demo, replay) every
INTERVAL_S seconds, and at once when its connection or channel count changes:
connected or not, channels joined, when the last line arrived, the last error,
and at a clean exit when it stopped. One UPDATE from a thread of its own, so it
never waits for (or holds up) the write path. Times are the database's clock
(NOW()), so a web process on another machine compares them with the same clock.

Web processes read it (a table of at most three rows): the pages' live status
(live/templatetags/live_ingest.py, the relay's status events), /readyz and the
`goknut_ingest_heartbeat_*` gauges of /metrics. A row not updated for
STALE_BEATS intervals is an ingest that died without saying so (SIGKILL, a
lost machine). docs/ingest.md, "Ingest state".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import DatabaseError, IntegrityError, close_old_connections, connection
from django.db.models.functions import Now

from messages_app.models import IngestHeartbeat

log = logging.getLogger(__name__)

INTERVAL_S = 5.0  # a beat at least this often
CHECK_S = 0.5  # how often the writer looks for a change worth a beat at once
STALE_BEATS = 3  # beats missed before a row counts as a dead ingest
CACHE_S = 2.0  # how long a web process reuses what it read for pages
LIVE_SOURCES = ("twitch", "demo")
ERROR_CHARS = 200


class Heartbeat:
    """The writer, in the ingest process. run_irc hands it the client; a replay
    calls saw_lines() per chunk."""

    def __init__(self, source: str, *, interval: float = INTERVAL_S) -> None:
        self.source = source
        self.interval = interval
        self.client = None  # irc.TwitchClient, once run_irc has made it
        self.pipeline = None  # pipeline.Pipeline: its database errors
        self.last_line_at: float | None = None  # time.time() (a replay's input)
        self.last_error = ""
        self._errors_seen: dict[str, str] = {}
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-heartbeat")
        self._started = False
        self._failing = False

    def saw_lines(self) -> None:
        self.last_line_at = time.time()

    def error(self, text: str) -> None:
        self.last_error = text[:ERROR_CHARS]

    def snapshot(self) -> dict:
        client = self.client
        if client is None:
            connected, joined, last_line = self.source == "replay", 0, self.last_line_at
        else:
            connected, joined, last_line = client.logged_in, len(client.joined), client.last_line_at
        for part in (client, self.pipeline):  # the newest error of either
            text = getattr(part, "last_error", "")
            if text and self._errors_seen.get(type(part).__name__) != text:
                self._errors_seen[type(part).__name__] = text
                self.error(text)
        return {
            "connected": connected,
            "channels_joined": joined,
            "last_line_at": last_line,
            "last_error": self.last_error,
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Beat until `stop`, then write the stop."""
        loop = asyncio.get_running_loop()
        written: tuple | None = None
        beat_at = 0.0
        try:
            while not stop.is_set():
                snap = self.snapshot()
                key = (snap["connected"], snap["channels_joined"], snap["last_error"])
                if key != written or loop.time() - beat_at >= self.interval:
                    beat_at = loop.time()
                    if await self.beat(snap):
                        written = key
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), CHECK_S)
        finally:
            await self.beat(dict(self.snapshot(), connected=False, channels_joined=0), stopped=True)
            await loop.run_in_executor(self._executor, _close_connection)
            self._executor.shutdown(wait=False)

    async def beat(self, snap: dict, *, stopped: bool = False) -> bool:
        loop = asyncio.get_running_loop()
        started, self._started = not self._started, True
        try:
            await loop.run_in_executor(
                self._executor, write, self.source, snap, self.interval, started, stopped
            )
        except DatabaseError as exc:
            if not self._failing:
                log.warning("could not write the ingest heartbeat (retrying): %s", exc)
            self._failing = True
            self._started = self._started and not started
            return False
        if self._failing:
            log.warning("the ingest heartbeat is written again")
            self._failing = False
        return True


def write(source: str, snap: dict, interval: float, started: bool, stopped: bool) -> None:
    """One UPDATE of the source's row (an INSERT the first time), in database time."""
    values = {
        "connected": snap["connected"],
        "channels_joined": snap["channels_joined"],
        "last_error": snap["last_error"][:ERROR_CHARS],
        "interval_s": interval,
        "updated_at": Now(),
        "stopped_at": Now() if stopped else None,
    }
    if snap["last_line_at"] is not None:
        # The line's age, not the ingest machine's clock, goes to the database.
        age = max(0.0, time.time() - snap["last_line_at"])
        values["last_line_at"] = Now() - timedelta(seconds=age)
    elif started:
        values["last_line_at"] = None
    if started:
        values["started_at"] = Now()
    try:
        rows = IngestHeartbeat.objects.filter(source=source)
        if not rows.update(**values):
            try:
                IngestHeartbeat.objects.create(source=source, **{"started_at": Now(), **values})
            except IntegrityError:  # another process created it meanwhile
                rows.update(**values)
    except DatabaseError:
        close_old_connections()
        raise


def _close_connection() -> None:
    connection.close()


# -- reading (web processes) ---------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One source's row as a reader sees it, ages in seconds of database time."""

    source: str
    alive: bool  # beating and not stopped
    connected: bool
    channels_joined: int
    last_line_at: datetime | None
    last_error: str
    updated_at: datetime
    stopped_at: datetime | None
    age_s: float
    last_line_age_s: float | None

    @property
    def ended_at(self) -> datetime:
        return self.stopped_at or self.updated_at


def read_rows() -> list[Row]:
    rows = []
    for beat in IngestHeartbeat.objects.annotate(db_now=Now()):
        now = beat.db_now
        age = (now - beat.updated_at).total_seconds()
        stale = age > beat.interval_s * STALE_BEATS + 1
        last_age = None if beat.last_line_at is None else (now - beat.last_line_at).total_seconds()
        rows.append(
            Row(
                source=beat.source,
                alive=beat.stopped_at is None and not stale,
                connected=beat.connected,
                channels_joined=beat.channels_joined,
                last_line_at=beat.last_line_at,
                last_error=beat.last_error,
                updated_at=beat.updated_at,
                stopped_at=beat.stopped_at,
                age_s=max(0.0, age),
                last_line_age_s=None if last_age is None else max(0.0, last_age),
            )
        )
    return rows


@dataclass(frozen=True)
class IngestState:
    """What pages say about ingest: `live`, `connecting` or `offline`."""

    state: str
    source: str = ""  # "" when no ingest ever wrote a heartbeat here
    since: datetime | None = None  # offline: when it stopped, or its last beat
    row: Row | None = None

    @property
    def healthy(self) -> bool:
        """Chat can arrive: a live ingest connected and in at least one channel."""
        row = self.row
        return (
            self.state == "live"
            and self.source in LIVE_SOURCES
            and row is not None
            and row.channels_joined > 0
        )

    @property
    def label(self) -> str:
        """The words beside the live dot ("" when "Live" says it all)."""
        if self.state == "offline":
            return "ingest offline since" if self.since else "ingest has not run yet"
        if self.state == "connecting":
            return "connecting to Twitch…" if self.source == "twitch" else "connecting to the demo…"
        if self.source == "replay":
            return "replaying a chat log"
        if self.row is not None and self.row.channels_joined == 0:
            return "ingest is in no channel"
        return "demo chat" if self.source == "demo" else ""

    def public(self) -> dict:
        """The `ingest` field of the live status events (and the page's partial)."""
        payload = {"state": self.state, "source": self.source, "label": self.label}
        if self.since is not None:
            payload["since"] = iso(self.since)
        return payload

    def summary(self) -> dict:
        """/readyz's `ingest`."""
        out = self.public()
        row = self.row
        if row is not None:
            out.update(
                connected=row.connected and row.alive,
                channels_joined=row.channels_joined if row.alive else 0,
                last_line_at=iso(row.last_line_at),
                seconds_since_last_line=_round(row.last_line_age_s),
                last_error=row.last_error,
                updated_at=iso(row.updated_at),
                seconds_since_heartbeat=_round(row.age_s),
            )
        return out


def state_of(rows: list[Row]) -> IngestState:
    """Live ingest (Twitch, then the demo) over a replay; else the last one to stop."""
    alive = {row.source: row for row in rows if row.alive}
    for source in (*LIVE_SOURCES, "replay"):
        row = alive.get(source)
        if row is not None:
            live = row.connected or source == "replay"
            return IngestState("live" if live else "connecting", source, row=row)
    if not rows:
        return IngestState("offline")
    last = max(rows, key=lambda row: row.ended_at)
    return IngestState("offline", last.source, last.ended_at, last)


def read_state() -> IngestState:
    return state_of(read_rows())


_cache: tuple[float, IngestState | None] = (-CACHE_S, None)
_cache_lock = threading.Lock()


def cached_state() -> IngestState | None:
    """read_state() at most every CACHE_S per process (pages); None if unreadable."""
    global _cache
    now = time.monotonic()
    at, state = _cache
    if now - at < CACHE_S:
        return state
    with _cache_lock:
        try:
            state = read_state()
        except DatabaseError as exc:
            log.warning("could not read the ingest heartbeat: %s", exc)
            state = None
        _cache = (now, state)
    return state


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# -- /metrics of the web process -----------------------------------------------


class HeartbeatCollector:
    """`goknut_ingest_heartbeat_*` gauges, read from the heartbeat at each scrape
    of the web process's /metrics, one sample per source that ever wrote one.
    (The ingest process's own gauges, on --metrics-port, are goknut_ingest_*.)"""

    GAUGES: tuple[tuple[str, str], ...] = (
        ("up", "1 while that ingest beats (running and not stopped)."),
        ("connected", "1 while that ingest is logged in to its IRC server (a replay: reading)."),
        ("channels_joined", "Channels that ingest has joined."),
        ("seconds_since_last_line", "Seconds since that ingest last received a line."),
        ("seconds_since_heartbeat", "Seconds since that ingest last wrote its heartbeat."),
    )

    def __init__(self, rows: Callable[[], list[Row]] = read_rows) -> None:
        self.rows = rows

    def describe(self):
        # Without describe(), registering would call collect(): a query at import.
        return list(self._families())

    def collect(self):
        try:
            rows = self.rows()
        except Exception as exc:  # a scrape never fails for these gauges (database down, or
            # a collect from where no query may run: an event loop, a test without the db)
            log.debug("ingest heartbeat gauges skipped: %s", exc)
            return []
        families = self._families()
        for row in rows:
            values = (
                float(row.alive),
                float(row.alive and row.connected),
                float(row.channels_joined if row.alive else 0),
                row.last_line_age_s,
                row.age_s,
            )
            for family, value in zip(families, values, strict=True):
                if value is not None:
                    family.add_metric([row.source], value)
        return families

    def _families(self) -> list:
        from prometheus_client.core import GaugeMetricFamily

        return [
            GaugeMetricFamily(f"goknut_ingest_heartbeat_{name}", text, labels=["source"])
            for name, text in self.GAUGES
        ]


_registered = False


def register_collector() -> None:
    """Add the gauges to the default registry (django-prometheus's /metrics), once."""
    global _registered
    if not _registered:
        from prometheus_client.registry import REGISTRY

        REGISTRY.register(HeartbeatCollector())
        _registered = True


# -- `make run`: which source, and why ------------------------------------------


def last_live_source() -> str:
    """The live source (twitch or demo) that wrote a heartbeat last, "" if none."""
    rows = [row for row in read_rows() if row.source in LIVE_SOURCES]
    return max(rows, key=lambda row: row.updated_at).source if rows else ""


def choose_source(requested: str = "") -> tuple[str, str]:
    """(source, why) for `make run`: INGEST_SOURCE, TWITCH_CHANNELS, the source
    that ran here last, enabled channels, else the demo."""
    from django.conf import settings

    from messages_app.models import Channel

    if requested in LIVE_SOURCES:
        return requested, f"INGEST_SOURCE={requested}"
    if requested:
        raise ValueError(f"INGEST_SOURCE must be twitch or demo, not {requested!r}")
    if settings.TWITCH_CHANNELS:
        return "twitch", "TWITCH_CHANNELS is set"
    last = last_live_source()
    if last:
        return last, f"it ran here last (INGEST_SOURCE={_other(last)} to switch)"
    enabled = Channel.objects.to_join().count()
    if enabled:
        return "twitch", f"{enabled} channel(s) are enabled in the database"
    return "demo", "no Twitch channel is configured (TWITCH_CHANNELS unset, none enabled)"


def _other(source: str) -> str:
    return "demo" if source == "twitch" else "twitch"


NAMES = {"twitch": "Twitch (irc.chat.twitch.tv)", "demo": "the demo (the built-in chat simulator)"}


def make_run_plan(requested: str = "") -> str:
    """What `make run` prints after the first line, which is the ingest flag
    ("" or --demo)."""
    from messages_app.models import Channel

    source, why = choose_source(requested)
    lines = [f"make run: chat from {NAMES[source]}: {why}."]
    last = last_live_source()
    if last and last != source:
        lines.append(f"make run: SWITCHING from {NAMES[last]} to {NAMES[source]}.")
        if source == "twitch":
            names = sorted(Channel.objects.to_join().values_list("name", flat=True))
            if names:
                shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
                lines.append(
                    f"make run: these enabled channels will be joined on Twitch: {shown} "
                    "(disable the demo's on /channels)"
                )
    return "\n".join(["--demo" if source == "demo" else "", *lines])
