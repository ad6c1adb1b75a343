"""Which channels ingest should be in, read from the database.

Staff add, enable, disable and delete channels in the UI or the admin, in
another process. Ingest polls `Channel.objects.to_join()` every second (a tiny
indexed query) and hands the set to the IRC client, which JOINs and PARTs to
match, so a change is followed within 2 s without any cross-process signal.
The demo (`ingest --demo`) follows it the same way: the simulator chats only
in the channels the client joined.

What arrives between a change and the PART (up to a second of polling, and
the lines already on their way) is not stored either: the pipeline checks the
channels of each batch in the batch's own transaction (Pipeline.follow), so
a disabled or deleted channel gets nothing more, and a channel deleted with
its history is never created again by its last lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from django.db import DatabaseError, close_old_connections

from messages_app.ingest.irc import TwitchClient
from messages_app.ingest.pipeline import close_connection
from messages_app.models import Channel

log = logging.getLogger(__name__)

POLL_S = 1.0


def wanted_channels() -> set[str]:
    return set(Channel.objects.to_join().values_list("name", flat=True))


async def follow_database(
    client: TwitchClient,
    stop: asyncio.Event,
    *,
    extra: Iterable[str] = (),
    interval: float = POLL_S,
) -> None:
    """Keep `client.channels` equal to the enabled channels (plus `extra`) until stop."""
    loop = asyncio.get_running_loop()
    extra = set(extra)
    warned = False
    # Its own thread and connection: a slow batch write must not delay channel changes.
    executor = ThreadPoolExecutor(1, thread_name_prefix="ingest-channels")
    try:
        while not stop.is_set():
            try:
                names = await loop.run_in_executor(executor, _poll)
            except DatabaseError as exc:
                log.warning("could not read the channel list: %s", exc)
            else:
                client.followed = client.followed | names  # one assignment: read by the writer
                client.set_channels(names | extra)
                if not (names | extra) and not warned:
                    warned = True
                    log.warning(
                        "no channel to join: add one with --channel NAME, TWITCH_CHANNELS "
                        "or in the admin (ingest picks it up within 2 s)"
                    )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
    finally:
        await loop.run_in_executor(executor, close_connection)
        executor.shutdown(wait=False)


def _poll() -> set[str]:
    try:
        return wanted_channels()
    except DatabaseError:
        close_old_connections()
        raise
