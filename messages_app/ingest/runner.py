"""The two ways ingest runs: live from IRC, or replaying a file. Both feed the
same parser, pipeline and write path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import BinaryIO

from messages_app.ingest import metrics
from messages_app.ingest.backfill import Backfill
from messages_app.ingest.channel_sync import follow_database
from messages_app.ingest.heartbeat import Heartbeat
from messages_app.ingest.irc import TwitchClient
from messages_app.ingest.parser import (
    KNOWN_COMMANDS,
    RECORD_COMMANDS,
    UTF8_REPLACED,
    SkipLine,
    decode_line_checked,
    parse_json_record,
    parse_line,
    to_record,
)
from messages_app.ingest.pipeline import IngestStats, Pipeline
from messages_app.ingest.recent_messages import redact

log = logging.getLogger(__name__)

REPLAY_CHUNK = 500  # records handed to the queue at once


async def run_irc(
    url: str,
    stop: asyncio.Event,
    pipeline: Pipeline,
    *,
    extra_channels: Iterable[str] = (),
    sync_interval: float = 1.0,
    backfill_url: str = "",
    backfill_options: dict | None = None,
    heartbeat: Heartbeat | None = None,
    **client_options,
) -> TwitchClient:
    """Ingest from IRC until `stop` is set, then store everything received.

    With `backfill_url` (a recent-messages API base), each channel's gap is
    fetched from it whenever the server confirms a JOIN (backfill.py).
    Raises irc.LoginFailed if the server refuses the credentials. With
    `heartbeat`, the client's state goes to the database every few seconds.
    """
    backfill = None
    on_records = pipeline.put_many
    if backfill_url:
        backfill = Backfill(backfill_url, pipeline, **(backfill_options or {}))
        on_records = backfill.put_live
        client_options["on_joined"] = backfill.joined
    client = TwitchClient(url, on_records, pipeline.stats, **client_options)
    pipeline.follow(lambda: client.followed)
    beating = None
    if heartbeat is not None:
        heartbeat.client, heartbeat.pipeline = client, pipeline
        beating = asyncio.create_task(heartbeat.run(stop))
    writer = asyncio.create_task(pipeline.run())
    # If the writer dies the reader would wait on a full queue forever: stop instead.
    writer.add_done_callback(lambda _task: stop.set())
    sync = asyncio.create_task(
        follow_database(client, stop, extra=extra_channels, interval=sync_interval)
    )
    try:
        if backfill is not None:
            log.info("backfill after every (re)join from %s", redact(backfill_url))
            await backfill.load()
        await client.run(stop)
    finally:
        stop.set()
        if backfill is not None:
            # Before the writer's close: lines already fetched are stored too.
            await backfill.close()
        with contextlib.suppress(Exception):
            await sync
        if not writer.done():
            log.info("storing %d received records before exit", pipeline.depth())
            await pipeline.close()
        try:
            await writer  # re-raises a writer failure
        finally:
            if beating is not None:
                await beating  # "stopped", written while the last records were stored
    return client


async def run_replay(
    stream: BinaryIO, pipeline: Pipeline, stop: asyncio.Event, heartbeat: Heartbeat | None = None
) -> None:
    """Raw Twitch IRC lines or JSON lines, through the same parser and write path."""
    stats = pipeline.stats
    writer = asyncio.create_task(pipeline.run())
    writer.add_done_callback(lambda _task: stop.set())
    beating = None
    if heartbeat is not None:
        heartbeat.pipeline = pipeline
        beating = asyncio.create_task(heartbeat.run(stop))
    records = []
    try:
        for raw in stream:
            if stop.is_set():
                break
            record = _replay_record(raw.rstrip(b"\r\n"), stats)
            if record is not None:
                records.append(record)
            if len(records) >= REPLAY_CHUNK:
                if heartbeat is not None:
                    heartbeat.saw_lines()
                await pipeline.put_many(records)
                records = []
                await asyncio.sleep(0)  # let the writer start a batch while we read on
        if heartbeat is not None and records:
            heartbeat.saw_lines()
        await pipeline.put_many(records)
    finally:
        if not writer.done():
            await pipeline.close()
        try:
            await writer
        finally:
            if beating is not None:
                stop.set()
                await beating


def _replay_record(raw: bytes, stats: IngestStats):
    if not raw.strip():
        return None
    stats.received += 1
    metrics.RECEIVED.inc()
    now = datetime.now(UTC)
    try:
        line, replaced = decode_line_checked(raw)
        if replaced:  # kept: invalid UTF-8 only in its tags
            UTF8_REPLACED.inc()
        if line.lstrip().startswith("{"):
            return parse_json_record(line, now)
        message = parse_line(line)
        if message.command in RECORD_COMMANDS:
            return to_record(message, now)
    except SkipLine as exc:
        stats.skip(exc.reason, exc.detail, raw)
        return None
    except Exception as exc:  # a parser bug must cost one line, not the replay
        stats.skip("parse_error", repr(exc), raw)
        return None
    if message.command in KNOWN_COMMANDS:
        stats.not_chat += 1
    else:
        stats.skip("unknown_command", message.command, raw)
    return None
