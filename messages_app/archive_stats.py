"""What the archive costs: bytes per stored line, per table and index, lines
per kind, per channel and per day (`manage.py archive_stats`, /staff/archive;
docs/deployment.md, "What the archive costs").

Exact and estimated figures are told apart everywhere:

- Bytes per table and index are exact. SQLite: the `dbstat` virtual table,
  whole pages, read in one read transaction (not BEGIN IMMEDIATE, which would
  hold ingest off for the whole walk). An FTS5 index is its shadow tables
  (`<name>_data`, `_idx`, `_docsize`, `_config`), grouped as one entry, so the
  search index shows as "search index". PostgreSQL: pg_table_size (heap, free
  space and visibility maps, TOAST) and each index's pg_total_relation_size;
  the search index (a GIN index of the messages table) is pulled out of it as
  its own entry on both databases, so their figures compare.
- Stored lines are the channels' day counters (ChannelDay.lines, every kind),
  kept exactly by the write path, erasure and retention: no COUNT over the
  messages table. Chat and notices together are Channel.total_messages, also
  exact. Timeouts, bans and deletions are counted through the partial
  moderation indexes (models.Message, message_mod_channel_idx), which hold
  only those rows. Which of the counted lines are chat and which notices no
  index tells: that split is estimated from the newest SAMPLE lines (read by
  primary key), unless those are all the lines there are, or `exact_kinds`
  asks for a full COUNT of the table (seconds per 10 million lines; the time
  it took is reported).
- Bytes per channel and per day are estimates: lines times the archive's
  average bytes per line.

Cost: dbstat reads every page of the database file, so a measure on SQLite
takes about as long as reading the file (the bench in docs/perf.md gives the
time for 200,000 lines); PostgreSQL answers its sizes from the file sizes at
once. The staff page keeps the figures for a minute.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from messages_app.models import Channel, ChannelDay, Kind, Message

SAMPLE = 10_000  # newest lines read to estimate the share of notices among counted lines
GROWTH_DAYS = 30
FTS5_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")
# What each full-text index is called in the report, by SQLite FTS5 table or
# PostgreSQL index name (migrations 0002, 0005, 0006).
SEARCH_INDEXES = {
    "messages_app_message_fts": "search index",
    "message_text_search_idx": "search index",
    "messages_app_chatuser_name": "user name index",
    "chatuser_name_trgm_idx": "user name index",
}
MODERATION = (Kind.CLEARCHAT, Kind.CLEARMSG)
MODERATION_INDEX = "message_mod_channel_idx"  # partial: kind IN (2, 13) (models.Message)


@dataclass
class Part:
    """One b-tree, heap or index: where bytes go inside a table's entry."""

    name: str
    kind: str  # "table", "index", "TOAST", "FTS5 table", "schema", "heap"
    bytes: int
    rows: int | None = None  # SQLite: entries in the b-tree, exact (dbstat)


@dataclass
class TableCost:
    """A table with its indexes, or a search index: its bytes and rows."""

    name: str
    bytes: int = 0
    parts: list[Part] = field(default_factory=list)
    rows: int | None = None
    rows_exact: bool = True  # False: PostgreSQL's reltuples, the planner's estimate


@dataclass
class Row:
    """One line of the breakdown as pages and reports show it."""

    name: str
    bytes: int
    per_line: float | None
    share: float | None  # percent of all tables and indexes
    kind: str = ""  # set on a part of a table: "index", "TOAST", ...
    rows: int | None = None
    rows_exact: bool = True


@dataclass
class KindCount:
    kind: int
    label: str
    rows: int
    exact: bool
    how: str


@dataclass
class ChannelCost:
    name: str
    lines: int  # every kind, exact (ChannelDay.lines)
    counted: int  # chat and notices, exact (Channel.total_messages)
    days: int  # UTC days with lines
    bytes_estimate: int
    deleted: bool


@dataclass
class DayGrowth:
    day: date
    lines: int
    bytes_estimate: int


@dataclass
class ArchiveStats:
    vendor: str
    measured_at: datetime
    seconds: float  # how long the measure took
    messages: int  # stored lines of every kind (the day counters)
    used_bytes: int  # every table and index, the search index included
    database_bytes: int  # SQLite: page count x page size; PostgreSQL: pg_database_size
    free_bytes: int | None  # SQLite: free pages (reused before the file grows)
    other_bytes: int  # SQLite: pages of no b-tree (lock byte); PostgreSQL: catalogs
    wal_bytes: int | None  # SQLite: the -wal file beside it
    tables: list[TableCost]
    kinds: list[KindCount]
    channels: list[ChannelCost]
    days: list[DayGrowth]

    @property
    def bytes_per_message(self) -> float | None:
        return self.used_bytes / self.messages if self.messages else None

    @property
    def growth_per_day(self) -> float:
        """Mean lines per day over the growth window (today included)."""
        return sum(d.lines for d in self.days) / len(self.days) if self.days else 0.0

    def breakdown(self) -> list[Row]:
        """Each table, then its parts (table, indexes, TOAST) when it holds 1%
        or more of the bytes; the tables under 0.1% each on one row."""
        used = self.used_bytes or 1
        small = [t for t in self.tables if t.bytes < used / 1000]
        rows = []
        for table in self.tables:
            if table in small:
                continue
            rows.append(self._row(table.name, table.bytes, rows=table.rows, exact=table.rows_exact))
            if table.bytes >= used / 100 and [p.name for p in table.parts] != [table.name]:
                rows += [self._row(p.name, p.bytes, kind=p.kind) for p in table.parts]
        if small:
            label = f"{len(small)} tables under 0.1% each"
            rows.append(self._row(label, sum(t.bytes for t in small)))
        return rows

    def _row(self, name: str, n: int, *, kind: str = "", rows=None, exact: bool = True) -> Row:
        per_line = n / self.messages if self.messages else None
        share = 100 * n / self.used_bytes if self.used_bytes else None
        return Row(name, n, per_line, share, kind, rows, exact)

    def as_json(self) -> dict:
        data = asdict(self)
        data["measured_at"] = self.measured_at.isoformat()
        data["bytes_per_message"] = self.bytes_per_message
        data["breakdown"] = [asdict(row) for row in self.breakdown()]
        for day in data["days"]:
            day["day"] = day["day"].isoformat()
        return data


def measure(*, exact_kinds: bool = False) -> ArchiveStats:
    """Measure the archive now. `exact_kinds`: count chat and notices with a
    full COUNT of the messages table instead of estimating their split."""
    started = time.perf_counter()
    with connection.cursor() as cursor, _read_snapshot(cursor):
        if connection.vendor == "sqlite":
            tables, sizes = _sqlite_tables(cursor)
        elif connection.vendor == "postgresql":
            tables, sizes = _postgres_tables(cursor)
        else:
            raise NotImplementedError(f"no archive figures for {connection.vendor}")
        messages = ChannelDay.objects.aggregate(n=Sum("lines"))["n"] or 0
        kinds = _kinds(messages, exact_kinds)
        per_line = sizes["used"] / messages if messages else 0.0
        channels = _channels(per_line)
        days = _days(per_line)
    return ArchiveStats(
        vendor=connection.vendor,
        measured_at=timezone.now(),
        seconds=time.perf_counter() - started,
        messages=messages,
        used_bytes=sizes["used"],
        database_bytes=sizes["database"],
        free_bytes=sizes.get("free"),
        other_bytes=sizes["database"] - sizes["used"] - sizes.get("free", 0),
        wal_bytes=sizes.get("wal"),
        tables=sorted(tables, key=lambda t: (-t.bytes, t.name)),
        kinds=kinds,
        channels=channels,
        days=days,
    )


@contextmanager
def _read_snapshot(cursor):
    """On SQLite, one read transaction (BEGIN DEFERRED) around the measure, so
    dbstat, the page counts and the counters see the same database. Not
    transaction.atomic(): goknut's transactions are IMMEDIATE, which would take
    the write lock and keep ingest waiting for the whole walk."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    cursor.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        cursor.execute("COMMIT")


# -- SQLite --------------------------------------------------------------------


def _sqlite_tables(cursor) -> tuple[list[TableCost], dict[str, int]]:
    """Every b-tree of the file from dbstat, grouped by the table it serves."""
    schema = cursor.execute("SELECT type, name, tbl_name, sql FROM sqlite_schema").fetchall()
    virtual = {name for _kind, name, _table, sql in schema if _is_virtual(sql)}
    owners, by_key = {}, {}
    for kind, name, table, sql in schema:
        if kind not in ("table", "index") or name in virtual:
            continue
        keyed = kind == "index" or "WITHOUT ROWID" in (sql or "").upper()
        owners[name] = (*_sqlite_owner(kind, name, table, virtual), keyed)
    cursor.execute(
        "SELECT name, pagetype, sum(pgsize), sum(ncell) FROM dbstat GROUP BY name, pagetype"
    )
    sizes, rows = Counter(), Counter()
    for name, pagetype, size, cells in cursor.fetchall():
        sizes[name] += size
        # A rowid table keeps its rows in leaf cells (interior cells are keys);
        # an index or WITHOUT ROWID b-tree keeps one entry per cell of any page.
        keyed = owners.get(name, (None, None, False))[2]
        if pagetype == "leaf" or (pagetype == "internal" and keyed):
            rows[name] += cells
    for name, size in sizes.items():
        group, part_kind, _keyed = owners.get(name, (name, "schema", False))
        entry = by_key.setdefault(group, TableCost(group))
        entry.parts.append(Part(name, part_kind, size, rows[name]))
        entry.bytes += size
        if part_kind == "table":
            entry.rows = rows[name]
    for entry in by_key.values():
        if entry.rows is None and entry.name in SEARCH_INDEXES.values():
            # Its entries: a row per indexed row, in _docsize (or, where the
            # index keeps no sizes, migration 0016, in the table it indexes).
            entry.rows = next((p.rows for p in entry.parts if p.name.endswith("_docsize")), None)
            if entry.rows is None and entry.name == SEARCH_INDEXES["messages_app_message_fts"]:
                entry.rows = rows.get(Message._meta.db_table)
        entry.parts.sort(key=lambda p: (-p.bytes, p.name))
    page_size = cursor.execute("PRAGMA page_size").fetchone()[0]
    page_count = cursor.execute("PRAGMA page_count").fetchone()[0]
    free_pages = cursor.execute("PRAGMA freelist_count").fetchone()[0]
    return list(by_key.values()), {
        "used": sum(sizes.values()),
        "database": page_count * page_size,
        "free": free_pages * page_size,
        "wal": _wal_bytes(),
    }


def _add_part(entry: TableCost, part: Part) -> None:
    """Add a part, or its bytes to the part of that name (a partition's)."""
    for known in entry.parts:
        if known.name == part.name and known.kind == part.kind:
            known.bytes += part.bytes
            return
    entry.parts.append(part)


def _is_virtual(sql: str | None) -> bool:
    return (sql or "").upper().startswith("CREATE VIRTUAL TABLE")


def _sqlite_owner(kind: str, name: str, table: str, virtual: set[str]) -> tuple[str, str]:
    """(the entry it belongs to, what it is) for one b-tree of sqlite_schema."""
    for vtab in virtual:
        if name.startswith(vtab) and name[len(vtab) :] in FTS5_SHADOWS:
            return SEARCH_INDEXES.get(vtab, f"{vtab} (FTS5)"), "FTS5 table"
    return table, kind


def _wal_bytes() -> int:
    path = connection.settings_dict["NAME"]
    try:
        return os.path.getsize(f"{path}-wal")
    except (OSError, TypeError):
        return 0


# -- PostgreSQL ----------------------------------------------------------------

# A partition (migration 0017) counts in its partitioned table's entry, its
# indexes under the names of the partitioned table's indexes.
POSTGRES_TABLES = """
    SELECT c.oid, COALESCE(p.relname, c.relname), c.reltuples::bigint, pg_table_size(c.oid),
           CASE WHEN c.reltoastrelid = 0 THEN 0 ELSE pg_total_relation_size(c.reltoastrelid) END
    FROM pg_class c
    LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
    LEFT JOIN pg_class p ON p.oid = i.inhparent
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'm')
    ORDER BY c.relname"""
POSTGRES_INDEXES = """
    SELECT i.indrelid, COALESCE(p.relname, c.relname), pg_total_relation_size(c.oid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    LEFT JOIN pg_inherits h ON h.inhrelid = c.oid
    LEFT JOIN pg_class p ON p.oid = h.inhparent
    WHERE c.relnamespace = current_schema()::regnamespace"""


def _postgres_tables(cursor) -> tuple[list[TableCost], dict[str, int]]:
    """Every table of the schema: heap (all forks), TOAST, each index; the
    full-text indexes as entries of their own; a partitioned table as one
    entry, the sum of its partitions."""
    cursor.execute(POSTGRES_TABLES)
    by_oid: dict[int, TableCost] = {}
    by_name: dict[str, TableCost] = {}
    for oid, name, reltuples, table_size, toast in cursor.fetchall():
        entry = by_name.get(name)
        if entry is None:
            entry = by_name[name] = TableCost(name, rows=0, rows_exact=False)
        if reltuples >= 0 and entry.rows is not None:
            entry.rows += reltuples
        else:
            entry.rows = None  # never analyzed
        _add_part(entry, Part(name, "heap", table_size - toast))
        if toast:  # the TOAST tables with their indexes
            _add_part(entry, Part(f"pg_toast of {name}", "TOAST", toast))
        by_oid[oid] = entry
    searches: dict[str, TableCost] = {}
    cursor.execute(POSTGRES_INDEXES)
    for table_oid, name, size in cursor.fetchall():
        if table_oid not in by_oid:
            continue
        label = SEARCH_INDEXES.get(name)
        entry = searches.setdefault(label, TableCost(label)) if label else by_oid[table_oid]
        _add_part(entry, Part(name, "index", size))
    tables = [*by_name.values(), *searches.values()]
    for entry in tables:
        entry.bytes = sum(p.bytes for p in entry.parts)
        entry.parts.sort(key=lambda p: (-p.bytes, p.name))
    cursor.execute("SELECT pg_database_size(current_database())")
    used = sum(t.bytes for t in tables)
    return tables, {"used": used, "database": cursor.fetchone()[0]}


# -- rows ----------------------------------------------------------------------


def _kinds(messages: int, exact: bool) -> list[KindCount]:
    if exact:
        return _kinds_by_full_count()
    counted = Channel.objects.aggregate(n=Sum("total_messages"))["n"] or 0
    moderation, index = _moderation_counts()
    sample = Counter(Message.objects.order_by("-id").values_list("kind", flat=True)[:SAMPLE])
    whole = sum(sample.values()) >= messages
    in_sample = sample[Kind.PRIVMSG] + sample[Kind.USERNOTICE]
    notices = sample[Kind.USERNOTICE] if whole else _share(counted, sample, in_sample)
    how = (
        "exact: every line was read (the archive holds no more than the sample)"
        if whole
        else f"estimate: the share among the newest {SAMPLE:,} lines of the exact count of "
        "chat and notices"
    )
    return [
        KindCount(Kind.PRIVMSG, Kind.PRIVMSG.label, counted - notices, whole, how),
        KindCount(Kind.USERNOTICE, Kind.USERNOTICE.label, notices, whole, how),
        *(KindCount(kind, kind.label, moderation.get(kind, 0), True, index) for kind in MODERATION),
    ]


def _moderation_counts() -> tuple[dict[int, int], str]:
    """Timeouts, bans and deletions, read through the partial moderation index
    when there is one (only those rows: a few per thousand lines, the table
    visited for each one's kind), with how they were counted. SQLite's
    planner, without ANALYZE figures, prefers a scan of the whole table:
    INDEXED BY names the index; PostgreSQL picks it itself."""
    table = Message._meta.db_table
    indexed = any(index.name == MODERATION_INDEX for index in Message._meta.indexes)
    hint = f" INDEXED BY {MODERATION_INDEX}" if indexed and connection.vendor == "sqlite" else ""
    kinds = ", ".join(str(int(kind)) for kind in MODERATION)  # the index's own condition
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT kind, COUNT(*) FROM {table}{hint} WHERE kind IN ({kinds}) GROUP BY kind"
        )
        counts = dict(cursor.fetchall())
    how = "exact: counted through the moderation index" if indexed else "exact: a full scan"
    return counts, how


def _share(counted: int, sample: Counter, in_sample: int) -> int:
    return round(counted * sample[Kind.USERNOTICE] / in_sample) if in_sample else 0


def _kinds_by_full_count() -> list[KindCount]:
    started = time.perf_counter()
    rows = dict(Message.objects.values_list("kind").annotate(n=Count("id")).order_by())
    how = f"exact: a full COUNT of the messages table ({time.perf_counter() - started:.2f} s)"
    return [KindCount(kind, kind.label, rows.get(kind, 0), True, how) for kind in Kind]


def _channels(per_line: float) -> list[ChannelCost]:
    days = {
        row["channel_id"]: row
        for row in ChannelDay.objects.values("channel_id")
        .annotate(lines=Sum("lines"), days=Count("id"))
        .order_by()
    }
    out = []
    for id_, name, counted, deleted_at in Channel.objects.values_list(
        "id", "name", "total_messages", "deleted_at"
    ):
        lines = days.get(id_, {}).get("lines") or 0
        out.append(
            ChannelCost(
                name,
                lines,
                counted,
                days.get(id_, {}).get("days") or 0,
                round(lines * per_line),
                deleted_at is not None,
            )
        )
    return sorted(out, key=lambda c: (-c.lines, c.name))


def _days(per_line: float) -> list[DayGrowth]:
    """Lines per UTC day sent in the last GROWTH_DAYS days (today included)."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=GROWTH_DAYS - 1)
    lines = dict(
        ChannelDay.objects.filter(day__gte=first)
        .values_list("day")
        .annotate(n=Sum("lines"))
        .order_by()
    )
    out = []
    for n in range(GROWTH_DAYS):
        day = first + timedelta(days=n)
        count = lines.get(day, 0)
        out.append(DayGrowth(day, count, round(count * per_line)))
    return out
