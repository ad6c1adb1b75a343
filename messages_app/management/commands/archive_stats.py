"""`manage.py archive_stats`: what the archive costs, in bytes per stored line
and per table and index, lines per kind, per channel and per day
(messages_app/archive_stats.py says which figures are exact). `--json` for
machines. Read-only; safe beside a running ingest."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from messages_app import archive_stats
from messages_app.archive_stats import ArchiveStats

MIB = 1024 * 1024


def size(n: float) -> str:
    """Bytes for a reader: "1,234 B", "12.3 MiB", "4.56 GiB"."""
    if n < 10_000:
        return f"{n:,.0f} B"
    if n < 1024 * MIB:
        return f"{n / MIB:,.1f} MiB"
    return f"{n / 1024 / MIB:,.2f} GiB"


class Command(BaseCommand):
    help = "Report what the archive costs: bytes per line, per table, kind, channel and day."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="one JSON object, for machines"
        )
        parser.add_argument(
            "--exact-kinds",
            action="store_true",
            help="count chat and notices with a full COUNT of the messages table "
            "(seconds per 10 million lines) instead of estimating their split",
        )
        parser.add_argument(
            "--channels", type=int, default=20, help="channels listed (default %(default)s)"
        )

    def handle(self, *args, as_json: bool, exact_kinds: bool, channels: int, **options) -> None:
        stats = archive_stats.measure(exact_kinds=exact_kinds)
        if as_json:
            self.stdout.write(json.dumps(stats.as_json(), indent=2))
            return
        for line in report(stats, channels=channels):
            self.stdout.write(line)


def report(stats: ArchiveStats, *, channels: int = 20) -> list[str]:
    """The text report, one line per item."""
    return [
        *_summary(stats),
        "",
        *_tables(stats),
        "",
        *_kinds(stats),
        "",
        *_channels(stats, channels),
        "",
        *_days(stats),
    ]


def _summary(stats: ArchiveStats) -> list[str]:
    per = stats.bytes_per_message
    lines = [
        f"goknut archive on {stats.vendor}, measured {stats.measured_at:%Y-%m-%d %H:%M:%S} UTC "
        f"in {stats.seconds:.2f} s",
        f"Stored lines: {stats.messages:,} (every kind; exact, the channels' day counters)",
        f"Tables and indexes, search index included: {size(stats.used_bytes)} "
        f"({stats.used_bytes:,} bytes)"
        + (f" = {per:,.1f} bytes per line" if per is not None else ""),
    ]
    if stats.vendor == "sqlite":
        lines.append(
            f"Database file: {size(stats.database_bytes)} = tables and indexes + free pages "
            f"{size(stats.free_bytes or 0)} + other pages {size(stats.other_bytes)}; "
            f"WAL file: {size(stats.wal_bytes or 0)}"
        )
    else:
        lines.append(
            f"Database (pg_database_size): {size(stats.database_bytes)}, of which system "
            f"catalogs and other {size(stats.other_bytes)}; WAL is the server's, not counted"
        )
    return lines


def _tables(stats: ArchiveStats) -> list[str]:
    rows = stats.breakdown()
    note = "exact, dbstat" if stats.vendor == "sqlite" else "~ the planner's estimate"
    title = f"Per table (bytes exact; rows {note})"
    names = [f"  {row.name} ({row.kind})" if row.kind else row.name for row in rows]
    width = max(len(title), *map(len, names)) + 2
    out = [f"{title:<{width}}{'bytes':>14} {'per line':>9} {'share':>6} {'rows':>14}"]
    for name, row in zip(names, rows, strict=True):
        per = "-" if row.per_line is None else f"{row.per_line:,.1f}"
        share = "-" if row.share is None else f"{row.share:.1f}%"
        counted = "" if row.rows is None else f"{'' if row.rows_exact else '~'}{row.rows:,}"
        out.append(f"{name:<{width}}{row.bytes:>14,} {per:>9} {share:>6} {counted:>14}".rstrip())
    return out


def _kinds(stats: ArchiveStats) -> list[str]:
    out = ["Lines per kind"]
    for kind in stats.kinds:
        out.append(f"  {kind.label:<24}{kind.rows:>14,}  {kind.how}")
    return out


def _channels(stats: ArchiveStats, limit: int) -> list[str]:
    per = stats.bytes_per_message or 0
    out = [
        f"Per channel: lines of every kind and chat + notices (exact, counters); "
        f"bytes = lines x {per:,.1f} (estimate)",
        f"  {'channel':<27}{'lines':>14} {'chat+notices':>14} {'days':>6} {'bytes':>12}",
    ]
    for channel in stats.channels[:limit]:
        name = f"#{channel.name}" + (" (deleted)" if channel.deleted else "")
        out.append(
            f"  {name:<27}{channel.lines:>14,} {channel.counted:>14,} "
            f"{channel.days:>6,} {size(channel.bytes_estimate):>12}"
        )
    if len(stats.channels) > limit:
        out.append(f"  ... and {len(stats.channels) - limit:,} more (--channels N)")
    return out


def _days(stats: ArchiveStats) -> list[str]:
    per = stats.bytes_per_message or 0
    out = [
        f"Growth per UTC day, last {len(stats.days)} days: lines sent that day (exact; an "
        f"import counts on the days its lines were sent); bytes = lines x {per:,.1f} (estimate)"
    ]
    for day in stats.days:
        out.append(f"  {day.day:%Y-%m-%d}{day.lines:>14,} {size(day.bytes_estimate):>12}")
    mean = stats.growth_per_day
    out.append(
        f"  mean {mean:,.0f} lines a day: {size(mean * per)} a day, "
        f"{size(mean * per * 365)} a year at this rate"
    )
    return out
