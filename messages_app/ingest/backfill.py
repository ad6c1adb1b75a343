"""Backfill after an ingest gap, from a recent-messages source.

Twitch does not replay chat: what is said while ingest is not connected (a
restart, a network cut) never reaches it. A recent-messages service (the API
of robotty/recent-messages2) stays in the channels and keeps their last few
hundred lines. With INGEST_BACKFILL_URL set, every time the server confirms
one of our JOINs (on every connection, and for a channel enabled later) ingest
asks that service for the channel's lines since the newest one the archive
holds, minus a small overlap:

    GET <base>/recent-messages/<login>?limit=800&after=<ms>
    {"messages": ["<raw IRC line>", ...], "error": null, "error_code": null}

and sends them through the same parser and pipeline as live chat, so they are
stored by `store_batch` and a line already stored (its Twitch id) is counted as
a duplicate. Stored lines keep the source's tags `historical=1` (set when the
source left it out) and `rm-received-ts`.

The live reader never waits for any of this: fetches run in daemon threads
(urllib, at most CONCURRENCY at once, one per channel at a time), with a
timeout and a cap on the body; a failure is one warning and a count in
`goknut_ingest_backfill_errors_total{reason}`, nothing more. See
docs/ingest.md, "Backfill after a gap".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from django.db import DatabaseError, connection

from messages_app.ingest import metrics
from messages_app.ingest.parser import (
    KNOWN_COMMANDS,
    RECORD_COMMANDS,
    SkipLine,
    decode_line,
    parse_line,
    to_record,
)
from messages_app.ingest.pipeline import IngestStats, Pipeline
from messages_app.ingest.recent_messages import (
    DEFAULT_LIMIT,
    MAX_BODY_BYTES,
    TIMEOUT_S,
    BackfillError,
    fetch,
    recent_messages_url,
    redact,
)
from messages_app.models import Channel
from messages_app.writes import ChatRecord

log = logging.getLogger(__name__)

# `after` is compared with when the source received a line (its clock), our
# newest line's time is when Twitch says it was sent: ask from a little earlier.
OVERLAP_S = 2.0
CONCURRENCY = 4  # fetches at once, whatever the number of channels joined
LOAD_TIMEOUT_S = 5.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def backfill_records(
    channel: str, lines: list, stats: IngestStats, now: datetime
) -> list[ChatRecord]:
    """The chat records among the source's lines for `channel`, through the live
    path's parser; every line is counted as received, and as skipped or not chat
    when it is not a record."""
    records = []
    for line in lines:
        stats.received += 1
        sample = line if isinstance(line, str) else f"<{type(line).__name__}>"
        try:
            if not isinstance(line, str):
                raise SkipLine("malformed", "not a string")
            line = line.removesuffix("\n").removesuffix("\r")
            if "\r" in line or "\n" in line:
                raise SkipLine("malformed", "a line break inside the line")
            try:
                raw = line.encode()
            except UnicodeEncodeError:
                raise SkipLine("invalid_utf8", "a lone surrogate") from None
            message = parse_line(decode_line(raw))
            if message.command not in RECORD_COMMANDS:
                if message.command in KNOWN_COMMANDS:
                    stats.not_chat += 1
                else:
                    stats.skip("unknown_command", message.command, sample)
                continue
            tags = message.tags
            tags["historical"] = "1"  # marks it as backfilled, if the source did not
            # Without tmi-sent-ts the best time is when the source received it.
            record = to_record(message, _from_ms(tags.get("rm-received-ts")) or now)
            if record.channel.lower() != channel:
                raise SkipLine("wrong_channel", f"#{record.channel} in the answer for #{channel}")
            if not record.twitch_id:
                # Without an id a line cannot be told from its live copy: stored twice.
                raise SkipLine("no_id", "a backfilled line without an id tag")
        except SkipLine as exc:
            stats.skip(exc.reason, exc.detail, sample)
            continue
        except Exception as exc:  # a parser bug must cost one line, not the backfill
            stats.skip("parse_error", repr(exc), sample)
            continue
        records.append(record)
    metrics.RECEIVED.inc(len(lines))
    return records


def _from_ms(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _to_ms(moment: datetime) -> int:
    # Exact, unlike timestamp() * 1000 (a float: .123 s can become 122.99... ms).
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _older(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier bound; None (nothing known: the newest lines) covers most."""
    return None if a is None or b is None else min(a, b)


def _newest_stored() -> dict[str, datetime]:
    try:
        rows = Channel.objects.exclude(last_message_at=None).values_list("name", "last_message_at")
        return dict(rows)
    finally:
        connection.close()  # this thread's connection: the thread is not ours to keep


def _in_daemon_thread(function: Callable, *args) -> asyncio.Future:
    """function(*args) in a daemon thread of its own, as a future of this loop.

    Not a pool: a pool's threads are joined at exit, so a source that hangs would
    hold up the end of the process after SIGTERM."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(ok: bool, value) -> None:
        if not future.done():  # not given up on (timeout, stop)
            (future.set_result if ok else future.set_exception)(value)

    def run() -> None:
        try:
            outcome = (True, function(*args))
        except BaseException as exc:
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="ingest-backfill", daemon=True).start()
    return future


class Backfill:
    """Fetches what the archive missed each time a channel is (re)joined.

    `newest` holds, per channel, the newest sent time of the lines the archive
    holds or ingest has received: `Channel.last_message_at` at start, then every
    record handed to the pipeline (`put_live` wraps the client's hand-over). It
    is read at the moment our JOIN is confirmed, before any line of the new
    connection was received, so live lines never narrow the window asked for.
    """

    def __init__(
        self,
        base_url: str,
        pipeline: Pipeline,
        *,
        limit: int = DEFAULT_LIMIT,
        timeout: float = TIMEOUT_S,
        overlap: float = OVERLAP_S,
        max_bytes: int = MAX_BODY_BYTES,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.base_url = base_url
        self.pipeline = pipeline
        self.stats = pipeline.stats
        self.limit = limit
        self.timeout = timeout
        self.overlap_ms = int(overlap * 1000)
        self.max_bytes = max_bytes
        self.newest: dict[str, datetime] = {}
        self._tasks: dict[str, asyncio.Task] = {}  # at most one per channel
        self._again: dict[str, datetime | None] = {}  # rejoined while its fetch ran
        self._putting: set[str] = set()  # fetched, being handed to the pipeline
        self._slots = asyncio.Semaphore(concurrency)
        self._closed = False

    async def load(self) -> None:
        """Read the newest stored time per channel (before connecting; a database
        that does not answer within LOAD_TIMEOUT_S must not hold up live chat:
        the first fetches then ask for the newest lines)."""
        try:
            stored = await asyncio.wait_for(_in_daemon_thread(_newest_stored), LOAD_TIMEOUT_S)
        except (DatabaseError, TimeoutError) as exc:
            log.warning("backfill: could not read the channels' last lines: %r", exc)
            return
        for name, moment in stored.items():
            self.newest[name] = max(moment, self.newest.get(name, moment))

    async def put_live(self, records: list[ChatRecord]) -> None:
        """The client's hand-over of live records: note their times, queue them."""
        self._track(records)
        await self.pipeline.put_many(records)

    def _track(self, records: list[ChatRecord], latest: datetime | None = None) -> None:
        newest = self.newest
        for record in records:
            sent_at = record.sent_at if latest is None else min(record.sent_at, latest)
            known = newest.get(record.channel)
            if known is None or sent_at > known:
                newest[record.channel] = sent_at

    def joined(self, channel: str) -> None:
        """The server confirmed our JOIN of `channel`: fetch its gap (never blocks)."""
        if self._closed:
            return
        try:
            since = self.newest.get(channel)
            if channel in self._tasks:
                # One fetch per channel at a time; another follows it, from the
                # earlier of the two bounds, so this gap is covered too.
                self._again[channel] = (
                    _older(self._again[channel], since) if channel in self._again else since
                )
                return
            self._tasks[channel] = asyncio.get_running_loop().create_task(
                self._run(channel, since), name=f"backfill-{channel}"
            )
        except Exception:  # never the reader's problem
            log.exception("backfill of #%s could not start", channel)

    async def close(self) -> None:
        """Stop: give up fetches in flight; let fetched lines reach the pipeline."""
        self._closed = True
        self._again.clear()
        for channel, task in self._tasks.items():
            if channel not in self._putting:
                task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _run(self, channel: str, since: datetime | None) -> None:
        try:
            while True:
                try:
                    await self._once(channel, since)
                except Exception as exc:  # a bug here must not reach live ingest
                    log.exception("backfill of #%s failed", channel)
                    self._failed(channel, "internal", repr(exc)[:200])
                if self._closed or channel not in self._again:
                    return
                since = self._again.pop(channel)
        finally:
            # No await since the check above: a JOIN confirmed from now on starts
            # a new task rather than waiting for this one.
            self._tasks.pop(channel, None)

    async def _once(self, channel: str, since: datetime | None) -> None:
        after_ms = None if since is None else _to_ms(since) - self.overlap_ms
        url = recent_messages_url(self.base_url, channel, limit=self.limit, after_ms=after_ms)
        try:
            async with self._slots:
                answer = await asyncio.wait_for(
                    _in_daemon_thread(fetch, url, self.timeout, self.max_bytes),
                    self.timeout + 1,  # fetch() keeps to the timeout itself; this is a guard
                )
        except TimeoutError:
            self._failed(channel, "timeout", f"no answer in {self.timeout:g}s")
            return
        except BackfillError as exc:
            self._failed(channel, exc.reason, exc.detail)
            return
        if answer.error is not None or answer.error_code is not None:
            # The lines, if any, are still good (recent-messages answers what it has).
            reason = "channel_not_joined" if answer.error_code == "channel_not_joined" else None
            self._failed(
                channel, reason or "source_error", f"{answer.error_code}: {answer.error!r}"
            )
        lines = answer.lines
        if len(lines) > self.limit:
            log.warning(
                "backfill of #%s: %d lines, more than the %d asked for; using the newest",
                channel,
                len(lines),
                self.limit,
            )
            lines = lines[-self.limit :]
        elif len(lines) == self.limit and since is not None:
            log.warning(
                "backfill of #%s: the source sent the most lines asked for (%d); "
                "older lines of the gap may be missing",
                channel,
                self.limit,
            )
        metrics.BACKFILL_LINES.inc(len(lines))
        now = datetime.now(UTC)
        records = backfill_records(channel, lines, self.stats, now)
        log.info(
            "backfill of #%s: %d lines from %s since %s, %d chat lines to store",
            channel,
            len(lines),
            redact(self.base_url),
            "the newest lines" if since is None else since.isoformat(timespec="seconds"),
            len(records),
        )
        if not records:
            return
        # A source's clock (or a bad tmi-sent-ts) must not push the next window
        # into the future: it would skip the next gap.
        self._track(records, latest=now)
        self.stats.backfilled += len(records)
        self._putting.add(channel)
        try:
            await self.pipeline.put_many(records)
        finally:
            self._putting.discard(channel)

    def _failed(self, channel: str, reason: str, detail: str) -> None:
        metrics.BACKFILL_ERRORS.labels(reason).inc()
        log.warning(
            "backfill of #%s from %s failed (%s): %s",
            channel,
            redact(self.base_url),
            reason,
            detail,
        )
