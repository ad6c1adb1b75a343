"""How the batch writer groups chat into transactions: a recording store in
place of the write path, real asyncio timing, no database."""

from __future__ import annotations

import asyncio
import time

from messages_app.ingest.pipeline import COMMIT_GAP_S, IngestStats, Pipeline
from messages_app.writes import BatchResult


class Recorder:
    """A store that notes when each batch came and how big it was."""

    def __init__(self) -> None:
        self.commits: list[tuple[float, int]] = []

    def __call__(self, batch: list) -> BatchResult:
        self.commits.append((time.monotonic(), len(batch)))
        return BatchResult(stored=len(batch))


def run(feed, gap: float | None = None, **options) -> list[tuple[float, int]]:
    """Run a pipeline while `feed(pipeline)` puts records; its commits, in order."""
    recorder = Recorder()

    async def main() -> None:
        pipeline = Pipeline(IngestStats(), store=recorder, **options)
        pipeline._sqlite = False  # no WAL checkpoints: there is no database here
        if gap is not None:
            pipeline.commit_gap_s = gap
        writer = asyncio.create_task(pipeline.run())
        await feed(pipeline)
        await pipeline.close()
        await writer

    asyncio.run(main())
    return recorder.commits


def test_flowing_chat_is_committed_at_most_once_a_gap():
    began = []

    async def feed(pipeline):
        began.append(time.monotonic())
        for n in range(100):  # a line every 2 ms or so
            await pipeline.put(n)
            await asyncio.sleep(0.002)
        began.append(time.monotonic())

    commits = run(feed, gap=0.05)
    assert sum(size for _, size in commits) == 100
    # Without the gap each line was its own transaction (about 100 of them).
    assert len(commits) <= (began[1] - began[0]) / 0.05 + 2, commits
    assert max(size for _, size in commits) > 10


def test_the_first_line_after_a_quiet_spell_is_stored_at_once():
    sent = []

    async def feed(pipeline):
        await pipeline.put("first")
        await asyncio.sleep(0.5)  # quiet: longer than the gap
        sent.append(time.monotonic())
        await pipeline.put("after the quiet")
        await asyncio.sleep(0.3)

    commits = run(feed, gap=0.2, flush_ms=1000)
    assert [size for _, size in commits] == [1, 1]
    assert commits[1][0] - sent[0] < 0.1  # not held back for the 0.2 s gap


def test_full_batches_do_not_wait_for_the_gap():
    async def feed(pipeline):
        await pipeline.put_many(list(range(1_000)))  # a backlog of ten batches
        await asyncio.sleep(0.5)  # still running (closing skips the gap)

    commits = run(feed, gap=0.2, batch_size=100)
    assert [size for _, size in commits] == [100] * 10
    assert commits[-1][0] - commits[0][0] < 0.2  # with the gap: 1.8 s


def test_the_gap_is_never_longer_than_flush_ms():
    assert Pipeline(IngestStats()).commit_gap_s == COMMIT_GAP_S
    assert Pipeline(IngestStats(), flush_ms=5).commit_gap_s == 0.005
