"""Message ids that follow the time a line was sent.

A message's id is the microsecond it was sent (since the Unix epoch), nudged up
to the next free microsecond when another line holds it. So `ORDER BY id` is
time order, and every keyset that pages by id (the pages, search's walk of the
FTS5 rowids, the logs API, the id ranges of ChannelDay and ActivityBucket)
shows imported history at its time, with no index on sent_at: each index on
(sent_at, id) beside the id ones would cost every insert and tens of bytes per
message.

Live streams read `id > cursor` in the order lines arrive, so a line arriving
now must never take an id below one already published. `assign` therefore
sorts each line into one of two places:

- **New** (sent at most LATE_S before the newest stored line, or before now):
  appended, at its microsecond or just above the newest id, whichever is
  higher. A line a few milliseconds late (two IRC connections, two clocks) is
  thus at most LATE_S out of time order, and never missed by a live page.
- **History** (older than that: an import, a backfill after a long outage): at
  its own microsecond, or the next free one above it. It sits below every live
  cursor, so open pages do not receive it as new chat; pages show it where it
  belongs once loaded, and the totals count it at once.

A time in the future (a bad clock, a bad file) counts as now, so it cannot push
the ids of the chat that follows into the past.

Every writer calls `assign` while it holds the write lock (SQLite's IMMEDIATE
transaction, writes.lock_message_ids on PostgreSQL), so the newest id it reads
cannot change under it. Ids stay below 2**53 until the year 2255: JavaScript
reads them as exact numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from messages_app import batch_sql as sql

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
LATE_S = 10  # how late a line may arrive and still be appended for live pages
LATE_US = LATE_S * 1_000_000
WINDOW_US = 1000  # the microseconds of one Twitch timestamp (milliseconds)
PROBES_PER_STATEMENT = 200


def slot(moment: datetime) -> int:
    """The microseconds from the Unix epoch to `moment`, at least 1."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(1, (moment - EPOCH) // MICROSECOND)


def lag(id_: int, moment: datetime) -> int:
    """How far an id is from the microsecond `moment` names (SQLite stores
    this, not the time: models.SentAtField); 0 unless it was nudged."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return id_ - (moment - EPOCH) // MICROSECOND


def newest_id(cursor) -> int:
    cursor.execute("SELECT MAX(id) FROM messages_app_message")
    return cursor.fetchone()[0] or 0


def assign(cursor, sent: list[datetime]) -> list[int]:
    """Ids for new messages sent at `sent`, in that order (see the module
    docstring). `cursor` is a driver cursor inside the writer's lock."""
    newest = newest_id(cursor)
    now = slot(timezone.now())
    # An empty archive has no newest line: lines are new from LATE_S before now.
    floor = (min(newest, now) if newest else now) - LATE_US
    ids: list[int] = []
    history: list[tuple[int, int]] = []  # (position, slot)
    for position, moment in enumerate(sent):
        at = min(slot(moment), now)
        if at > floor:
            newest = max(at, newest + 1)
            ids.append(newest)
        else:
            ids.append(0)
            history.append((position, at))
    if history:
        _place_history(cursor, history, ids)
    return ids


def _place_history(cursor, history: list[tuple[int, int]], ids: list[int]) -> None:
    """Give each history line the first free id at or above its slot."""
    taken = {id_ for id_ in ids if id_}
    pending = history
    while pending:
        taken |= _stored_ids(cursor, sorted({at for _, at in pending}))
        overflow = []
        for position, at in pending:
            id_ = at
            while id_ in taken:
                id_ += 1
            if id_ >= at + WINDOW_US:  # beyond what was probed: probe again from there
                overflow.append((position, id_))
                continue
            ids[position] = id_
            taken.add(id_)
        pending = overflow


def _stored_ids(cursor, starts: list[int]) -> set[int]:
    """The stored ids within WINDOW_US of each start."""
    mark = "?" if sql.vendor() == "sqlite" else "%s"
    found: set[int] = set()
    for first in range(0, len(starts), PROBES_PER_STATEMENT):
        chunk = starts[first : first + PROBES_PER_STATEMENT]
        probe = f"SELECT id FROM messages_app_message WHERE id >= {mark} AND id < {mark}"
        params = [p for start in chunk for p in (start, start + WINDOW_US)]
        cursor.execute(" UNION ALL ".join([probe] * len(chunk)), params)
        found.update(id_ for (id_,) in cursor.fetchall())
    return found
