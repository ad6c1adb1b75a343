"""Answers that stream: the lines are read and rendered chunk by chunk in
Django's sync thread and sent as they come, so the first byte leaves early
and memory stays bounded whatever the period holds.

Django serves a *synchronous* iterator under ASGI by reading it to the end
into a list first (StreamingHttpResponse.__aiter__); hence an async one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

from asgiref.sync import sync_to_async

_END = object()


def stream(
    make_chunks: Callable[[], Iterator[bytes]],
) -> AsyncIterator[bytes]:
    """An async iterator over the bytes that `make_chunks()` yields, every step
    of it (database reads included) run in Django's sync thread."""

    async def chunks() -> AsyncIterator[bytes]:
        source = await sync_to_async(make_chunks)()
        step = sync_to_async(lambda: next(source, _END))
        try:
            while (part := await step()) is not _END:
                if part:
                    yield part
        finally:
            await sync_to_async(source.close)()

    return chunks()
