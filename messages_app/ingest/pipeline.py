"""From parsed records to the write path: a bounded queue and one batch writer.

The socket reader puts records on a bounded queue (10,000 by default); the writer takes
what is waiting and stores it through `store_batch` in a single worker thread
(Django's database connection belongs to the thread that opened it, so every
batch uses the same one). A full queue makes the reader wait, so a slow
database slows reading from the socket instead of dropping chat. See
docs/ingest.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)

from messages_app.ingest import metrics
from messages_app.writes import BatchResult, ChatRecord, store_batch

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 10_000
RETRY_FIRST_S = 0.05
RETRY_MAX_S = 5.0
# On shutdown a database that stays down this long loses the batch (and says so)
# rather than keeping the process alive forever.
SHUTDOWN_RETRY_S = 30.0
LOG_EVERY_S = 10.0
CHECKPOINT_S = 1.0
ERASURE_POLL_S = 1.0  # how often an idle erasure task looks for opt-outs to erase
COMMIT_GAP_S = 0.02  # while chat flows, at most 50 commits a second


RECHECKS = 3  # batches done again because a channel changed under them (PostgreSQL)


class _ChannelsChanged(Exception):
    pass


def _wanted(names: set[str]) -> dict[str, int]:
    """name -> id of those channels that are to be joined."""
    from messages_app.models import Channel

    return dict(Channel.objects.to_join().filter(name__in=names).values_list("name", "id"))


def _checkpoint() -> None:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def close_connection() -> None:
    """Close this thread's database connection (run it in the thread that used it)."""
    connection.close()


def _erase_a_batch() -> int:
    from messages_app.erasure import erase_pending

    try:
        return erase_pending(batches=1)
    finally:
        close_old_connections()


def _prune_a_batch(pruner) -> int:
    try:
        return pruner.step(time.monotonic())
    finally:
        close_old_connections()


def _stop_pruning(pruner) -> None:
    try:
        pruner.close()  # a pass cut short still leaves no trace in the files
    except DatabaseError as exc:
        log.warning("scrubbing after expired chat failed: %s", exc)


class IngestStats:
    """What happened to the input: stored, duplicates, skipped by reason.

    Skips are logged at most once per reason every LOG_EVERY_S seconds, so a
    flood of bad lines cannot flood the log.
    """

    def __init__(self) -> None:
        self.received = 0  # lines read (IRC, file, backfill source), whatever became of them
        self.stored = 0
        self.duplicates = 0
        self.not_chat = 0
        # Chat records the backfill source supplied, handed to the write path (each is
        # also a received line, and ends up stored or a duplicate like any other).
        self.backfilled = 0
        self.skipped: Counter[str] = Counter()  # bad input, by reason
        self.dropped: Counter[str] = Counter()  # good lines that could not be stored
        self._last_logged: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()

    def skip(self, reason: str, detail: str = "", sample: bytes | str = b"") -> None:
        self.skipped[reason] += 1
        metrics.SKIPPED.labels(reason).inc()
        now = time.monotonic()
        if now - self._last_logged.get(reason, -LOG_EVERY_S) < LOG_EVERY_S:
            self._suppressed[reason] += 1
            return
        self._last_logged[reason] = now
        more = self._suppressed.pop(reason, 0)
        log.warning(
            "skipped a line (%s%s): %r%s",
            reason,
            f", {detail}" if detail else "",
            sample[:120],
            f" ({more} more since the last report)" if more else "",
        )

    def add_result(self, result: BatchResult) -> None:
        self.stored += result.stored
        self.duplicates += result.duplicates
        metrics.MESSAGES_STORED.inc(result.stored)
        metrics.DUPLICATES.inc(result.duplicates)
        if result.invalid:
            self.skipped["invalid_record"] += result.invalid
            metrics.SKIPPED.labels("invalid_record").inc(result.invalid)
        if result.opted_out:
            self.drop("opted_out", result.opted_out)

    def drop(self, reason: str, count: int = 1) -> None:
        """Count lines that were received but will never be stored, and say why."""
        self.dropped[reason] += count
        metrics.DROPPED.labels(reason).inc(count)

    def summary(self) -> str:
        """One line for the end of a run. `received` equals the sum of the rest
        (stored, duplicates, skipped, other lines, dropped) once the queue is empty;
        `backfilled` (shown when not 0) is the part of stored and duplicates that
        came from the backfill source."""
        text = f"stored {self.stored} messages, {self.duplicates} duplicates, "
        text += "skipped " + _with_reasons(self.skipped)
        if self.not_chat:
            text += f", {self.not_chat} other lines (not chat)"
        if self.backfilled:
            text += f", backfilled {self.backfilled}"
        return f"{text}; received {self.received} lines, dropped {_with_reasons(self.dropped)}"


def _with_reasons(counts: Counter[str]) -> str:
    total = sum(counts.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items())) + ")"


class Pipeline:
    """A bounded queue of records and the task that stores them in batches.

    The queue is a deque with two events rather than an asyncio.Queue: the
    reader hands over a whole chunk of lines at once and the writer takes a
    whole batch, instead of paying for a put and a get per message.

    A batch is flushed as soon as nothing more is waiting (quiet chat is stored
    at once), else when it holds `batch_size` records or has been open for
    `flush_ms`, whichever comes first. While a batch is being stored the queue
    fills, so batches grow with the load by themselves.

    While chat flows, commits are at least COMMIT_GAP_S apart (never more than
    `flush_ms`, and never while a full batch waits): a transaction per message
    or two cost about 70 KB of SQLite writes and half a millisecond of CPU each,
    so 100 messages a second wrote 7 MB/s. The first message after a quiet
    spell is still stored at once (docs/ingest.md, "Batching").
    """

    def __init__(
        self,
        stats: IngestStats,
        *,
        batch_size: int = 100,
        flush_ms: int = 100,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        store: Callable[[list[ChatRecord]], BatchResult] = store_batch,
    ) -> None:
        self.stats = stats
        self.batch_size = batch_size
        self.flush_s = flush_ms / 1000
        self.commit_gap_s = min(COMMIT_GAP_S, self.flush_s)
        self.queue_size = queue_size
        self._queue: deque[ChatRecord] = deque()
        self._waiting = asyncio.Event()  # set while records wait (or input ended)
        self._room = asyncio.Event()  # set while the queue has room
        self._room.set()
        self._store = store
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-db")
        self._closing = False
        self._stopped = False  # the writer has ended: nothing more can be stored
        self._sqlite = connection.vendor == "sqlite"
        self.received = 0  # records put, stored or not
        self._followed: Callable[[], frozenset[str]] | None = None
        self._left = 0  # records of channels left, dropped by the writer thread
        self.last_error = ""  # the last database error, for the heartbeat
        metrics.QUEUE_DEPTH.set_function(self.depth)

    def follow(self, followed: Callable[[], frozenset[str]]) -> None:
        """Live ingest: chat of a channel that `followed()` names (the database
        asked for it in this run) is stored only while the channel is still to
        be joined, checked in the batch's transaction. So nothing more is
        stored for a channel staff disabled or deleted, even lines that arrive
        before the PART, and one deleted with its history is not created again."""
        self._followed = followed

    def depth(self) -> int:
        """Records received and not yet handed to the write path."""
        return len(self._queue)

    async def put(self, record: ChatRecord) -> None:
        await self.put_many([record])

    async def put_many(self, records: list[ChatRecord]) -> None:
        """Queue records in order; waits while the queue is full (the backpressure)."""
        queue = self._queue
        self.received += len(records)
        while records:
            if self._stopped:  # the writer failed: waiting for room would hang
                self.stats.drop("writer_stopped", len(records))
                return
            room = self.queue_size - len(queue)
            if room <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            if room >= len(records):
                queue.extend(records)
                records = []
            else:
                queue.extend(records[:room])
                records = records[room:]
            self._waiting.set()

    async def close(self) -> None:
        """No more input: the writer stores everything queued before, then ends."""
        self._closing = True
        self._waiting.set()

    async def run(self) -> None:
        """The writer: runs until close() and everything queued before it is stored."""
        loop = asyncio.get_running_loop()
        queue = self._queue
        checkpoints = asyncio.create_task(self._checkpoints()) if self._sqlite else None
        # Erasures run beside the real write path (not beside a test's own store).
        erasures = asyncio.create_task(self._erasures()) if self._store is store_batch else None
        last_commit = -self.commit_gap_s
        try:
            while queue or not self._closing:
                if not queue:
                    self._waiting.clear()
                    await self._waiting.wait()
                    continue
                deadline = loop.time() + self.flush_s
                gap = last_commit + self.commit_gap_s - loop.time()
                if gap > 0 and len(queue) < self.batch_size and not self._closing:
                    await asyncio.sleep(gap)  # chat flows: let this batch grow a little
                last_commit = loop.time()
                batch = self._take(self.batch_size)
                while len(batch) < self.batch_size and not self._closing:
                    if not queue:
                        if loop.time() >= deadline:
                            break
                        # One turn of the loop lets the reader hand over lines it has
                        # already read before we decide that nothing more is waiting.
                        await asyncio.sleep(0)
                        if not queue:
                            break
                    batch += self._take(self.batch_size - len(batch))
                await self._flush(batch)
        finally:
            self._stopped = True
            self._room.set()
            if queue:  # only when the writer failed: close() waits for an empty queue
                self.stats.drop("writer_stopped", len(queue))
                queue.clear()
            for task in (checkpoints, erasures):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await loop.run_in_executor(self._executor, close_connection)
            self._executor.shutdown(wait=True)

    async def _checkpoints(self) -> None:
        """Copy the SQLite WAL into the database from a thread of its own.

        By default the connection whose commit grows the WAL past 1,000 pages
        runs the checkpoint inside that commit, fsync included: every few
        seconds one batch took hundreds of milliseconds. The writer turns that
        off (see _store_in_thread) and a PASSIVE checkpoint here, which never
        blocks the writer, keeps the WAL short instead.
        """
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-checkpoint")
        try:
            while True:
                await asyncio.sleep(CHECKPOINT_S)
                try:
                    await loop.run_in_executor(executor, _checkpoint)
                except DatabaseError as exc:
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            executor.submit(close_connection)
            executor.shutdown(wait=False)

    async def _erasures(self) -> None:
        """Erase opted-out users and channels while chat is stored, and when no
        erasure waits, remove expired lines (retention): one batch at a time
        from a thread of its own (its own connection), so the writer never
        waits for more than one batch (messages_app/erasure.py, retention.py).
        A stopped ingest resumes both when it starts again."""
        from messages_app.retention import Pruner

        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-erasure")
        pruner = Pruner()
        try:
            while True:
                try:
                    erased = await loop.run_in_executor(executor, _erase_a_batch)
                except DatabaseError as exc:
                    log.warning("erasure of opted-out chat failed, retrying: %s", exc)
                    erased = 0
                metrics.ERASED.inc(erased)
                pruned = 0
                if not erased:  # an erasure goes first
                    try:
                        pruned = await loop.run_in_executor(executor, _prune_a_batch, pruner)
                    except DatabaseError as exc:
                        log.warning("removing expired chat failed, retrying later: %s", exc)
                    metrics.PRUNED.inc(pruned)
                await asyncio.sleep(0 if erased or pruned else ERASURE_POLL_S)
        finally:
            executor.submit(_stop_pruning, pruner)
            executor.submit(close_connection)
            # A batch in flight (its scrub included) finishes before ingest
            # ends: the files are left as an erasure leaves them.
            await asyncio.shield(loop.run_in_executor(None, executor.shutdown, True))

    def _take(self, count: int) -> list[ChatRecord]:
        queue = self._queue
        if count >= len(queue):
            batch = list(queue)
            queue.clear()
        else:
            batch = [queue.popleft() for _ in range(count)]
        self._room.set()
        return batch

    async def _flush(self, batch: list[ChatRecord]) -> None:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        delay = RETRY_FIRST_S
        give_up_at = None
        store = self._store_in_thread
        while True:
            try:
                result = await loop.run_in_executor(self._executor, store, batch)
                break
            except (OperationalError, InterfaceError) as exc:
                # Locked, busy, disk full, connection lost: the transaction rolled
                # back as a whole, so the same batch can simply be stored again.
                metrics.DB_RETRIES.inc()
                self.last_error = f"database error: {exc}"
                if self._closing:
                    give_up_at = give_up_at or time.monotonic() + SHUTDOWN_RETRY_S
                    if time.monotonic() > give_up_at:
                        log.error(
                            "database still failing at shutdown, %d lost: %s", len(batch), exc
                        )
                        self.stats.drop("db_unavailable", len(batch))
                        return
                log.warning(
                    "database error, retrying %d records in %.2fs: %s", len(batch), delay, exc
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, RETRY_MAX_S)
            except Exception:
                if store == self._store_each:
                    raise
                log.exception("batch of %d failed; storing its records one by one", len(batch))
                store = self._store_each
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.FLUSH_SECONDS.observe(time.perf_counter() - started)
        self.stats.add_result(result)
        left, self._left = self._left, 0  # the writer thread is done with it
        if left:
            self.stats.drop("channel_left", left)

    def _store_in_thread(self, batch: list[ChatRecord]) -> BatchResult:
        try:
            if self._sqlite and connection.connection is None:
                # A new connection: leave WAL checkpoints to _checkpoints().
                connection.ensure_connection()
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA wal_autocheckpoint=0")
            if self._followed is not None:
                return self._store_followed(batch)
            return self._store(batch)
        except (OperationalError, InterfaceError):
            close_old_connections()  # drops the connection if it became unusable
            raise

    def _store_followed(self, batch: list[ChatRecord]) -> BatchResult:
        """store() without the records of followed channels no longer to be
        joined; the check and the batch are one transaction. SQLite's is
        IMMEDIATE, so no channel change commits in between. On PostgreSQL a
        change can commit while the batch runs (the write path's channel upsert
        even waits for a deletion, then inserts the channel again): the
        channels are read again before commit, and if they changed the batch
        is rolled back and done again with what is now true."""
        names = {record.channel.lower() for record in batch} & self._followed()
        if not names:
            return self._store(batch)
        recheck = connection.vendor != "sqlite"
        for _attempt in range(RECHECKS):
            try:
                with transaction.atomic():
                    wanted = _wanted(names)
                    left = names - set(wanted)
                    kept = [r for r in batch if r.channel.lower() not in left] if left else batch
                    result = self._store(kept)
                    if recheck and _wanted(names) != wanted:
                        raise _ChannelsChanged
            except _ChannelsChanged:
                from messages_app import identity

                identity.KNOWN_USERS.clear()  # ids it settled were rolled back
                identity.KNOWN_CHANNELS.clear()
                continue
            self._left += len(batch) - len(kept)  # committed: counted once
            return result
        raise OperationalError("channels kept changing under a batch")  # retried

    def _store_each(self, batch: list[ChatRecord]) -> BatchResult:
        """Isolate a record the write path cannot take, so the rest is still stored."""
        total = BatchResult()
        for record in batch:
            try:
                result = self._store_in_thread([record])
            except (OperationalError, InterfaceError):
                raise
            except Exception:
                log.exception(
                    "dropped a record the write path rejected (channel %s, Twitch id %s)",
                    record.channel,
                    record.twitch_id,
                )
                self.stats.drop("write_error")
                continue
            total.stored += result.stored
            total.duplicates += result.duplicates
            total.invalid += result.invalid
            total.opted_out += result.opted_out
        return total
