"""What the archive costs (messages_app/archive_stats.py, `manage.py
archive_stats`): real-shaped Twitch lines stored through the write path, and
every figure checked against what the database itself says it holds."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from messages_app import archive_stats
from messages_app.ingest.parser import parse_line, to_record
from messages_app.models import Channel, Kind, Message
from messages_app.writes import store_batch
from tests.benchmarks.test_storage import real_lines
from tests.conftest import chat

COMMAND_KINDS = {
    "PRIVMSG": Kind.PRIVMSG,
    "USERNOTICE": Kind.USERNOTICE,
    "CLEARCHAT": Kind.CLEARCHAT,
    "CLEARMSG": Kind.CLEARMSG,
}


def store_lines(lines: list[str]) -> Counter:
    """Parse and store raw IRC lines as ingest does; the lines sent per kind."""
    now = datetime.now(UTC)
    records = [to_record(parse_line(line), now) for line in lines]
    for start in range(0, len(records), 500):
        store_batch(records[start : start + 500])
    return Counter(COMMAND_KINDS[line.split(" ", 3)[2]] for line in lines)


def sqlite_btrees() -> set[str]:
    """Every table and index of the file that has pages of its own."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_schema WHERE rootpage > 0")
        return {name for (name,) in cursor.fetchall()} | {"sqlite_schema"}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite file's own page counts")
def test_it_adds_the_sqlite_breakdown_up_to_the_file_on_disk(transactional_db):
    store_lines(list(real_lines(3_000)))
    store_batch([chat(text="long line " * 480)])  # longer than a page: overflow pages
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    stats = archive_stats.measure()

    file_size = os.path.getsize(connection.settings_dict["NAME"])
    assert stats.database_bytes == file_size
    assert stats.used_bytes + stats.free_bytes + stats.other_bytes == file_size
    assert stats.other_bytes == 0  # no lock-byte page below 1 GiB
    assert sum(table.bytes for table in stats.tables) == stats.used_bytes
    assert stats.wal_bytes == 0
    parts = [part.name for table in stats.tables for part in table.parts]
    assert sorted(parts) == sorted(sqlite_btrees())  # each b-tree once
    by_name = {table.name: table for table in stats.tables}
    search = by_name["search index"]
    assert "messages_app_message_fts_data" in {p.name for p in search.parts}
    assert "messages_app_message_fts_docsize" not in parts  # no sizes kept (migration 0016)
    assert search.rows == by_name["messages_app_message"].rows == Message.objects.count()
    assert stats.bytes_per_message == stats.used_bytes / Message.objects.count()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's relation sizes")
def test_it_adds_the_postgres_breakdown_up_to_the_relation_sizes(db):
    store_lines(list(real_lines(3_000)))
    # A text too long and too random to stay in its row: it goes to TOAST.
    Message.objects.filter(id=Message.objects.latest("id").id).update(text=os.urandom(2400).hex())

    stats = archive_stats.measure()

    # Each table's heap, TOAST and indexes, its search index included, add up
    # to its pg_total_relation_size (a partitioned table: its partitions'); all
    # of them to the bytes reported.
    table_of = dict(
        pg_rows("SELECT i.indexrelid::regclass::text, i.indrelid::regclass::text FROM pg_index i")
    )
    measured = Counter()
    for entry in stats.tables:
        for part in entry.parts:
            measured[table_of[part.name] if part.kind == "index" else entry.name] += part.bytes
    expected = Counter()
    for name, size in pg_rows(
        "SELECT COALESCE(p.relname, c.relname), pg_total_relation_size(c.oid) FROM pg_class c "
        "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"
    ):
        expected[name] += size
    assert measured == expected
    assert sum(measured.values()) == stats.used_bytes
    by_name = {table.name: table for table in stats.tables}
    assert [p.name for p in by_name["search index"].parts] == ["message_text_search_idx"]
    toast = [p for p in by_name["messages_app_message"].parts if p.kind == "TOAST"]
    assert toast and toast[0].bytes > 8192  # more than the empty TOAST index
    assert stats.database_bytes == pg_rows("SELECT pg_database_size(current_database())")[0][0]
    assert stats.bytes_per_message == stats.used_bytes / Message.objects.count()


def pg_rows(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


def stored_kinds() -> dict[int, int]:
    """What the messages table holds per kind, by a full count."""
    counts = dict(Message.objects.values_list("kind").annotate(n=Count("id")).order_by())
    return {kind: counts.get(kind, 0) for kind in Kind}


def test_it_counts_every_kind_of_line_stored(db):
    sent = store_lines(list(real_lines(2_000, seed=3)))

    stats = archive_stats.measure()

    assert {k.kind: k.rows for k in stats.kinds} == stored_kinds()
    assert all(k.exact for k in stats.kinds)  # fewer lines than the sample: all read
    assert sum(k.rows for k in stats.kinds) == stats.messages == Message.objects.count()
    assert sent[Kind.CLEARCHAT] and sent[Kind.CLEARMSG] and sent[Kind.USERNOTICE]


def test_it_estimates_chat_and_notices_from_the_newest_lines(db, monkeypatch):
    store_lines(list(real_lines(2_000, seed=4)))
    stored = stored_kinds()
    monkeypatch.setattr(archive_stats, "SAMPLE", 400)
    newest = Counter(Message.objects.order_by("-id").values_list("kind", flat=True)[:400])

    stats = archive_stats.measure()
    exact = archive_stats.measure(exact_kinds=True)

    kinds = {k.kind: k for k in stats.kinds}
    counted = stored[Kind.PRIVMSG] + stored[Kind.USERNOTICE]
    share = newest[Kind.USERNOTICE] / (newest[Kind.PRIVMSG] + newest[Kind.USERNOTICE])
    assert kinds[Kind.USERNOTICE].rows == round(counted * share)
    assert kinds[Kind.PRIVMSG].rows + kinds[Kind.USERNOTICE].rows == counted
    assert not kinds[Kind.PRIVMSG].exact and "estimate" in kinds[Kind.PRIVMSG].how
    assert kinds[Kind.CLEARCHAT].exact and kinds[Kind.CLEARCHAT].rows == stored[Kind.CLEARCHAT]
    assert {k.kind: k.rows for k in exact.kinds} == stored
    assert all(k.exact and "full COUNT" in k.how for k in exact.kinds)


def test_it_reports_each_channel_and_the_last_30_days(db):
    now = datetime.now(UTC)
    store_lines(list(real_lines(300, seed=5, end=now)))  # the week before now
    store_lines(list(real_lines(40, seed=6, end=now - timedelta(days=40))))

    stats = archive_stats.measure()

    per_line = stats.bytes_per_message
    for channel in stats.channels:
        row = Channel.objects.get(name=channel.name)
        assert channel.lines == Message.objects.filter(channel=row).count()
        assert channel.counted == row.total_messages
        assert channel.bytes_estimate == round(channel.lines * per_line)
    assert sum(c.lines for c in stats.channels) == 340
    assert [d.day for d in stats.days] == [
        (now - timedelta(days=n)).date() for n in range(archive_stats.GROWTH_DAYS - 1, -1, -1)
    ]
    recent = Message.objects.filter(sent_at__date__gte=stats.days[0].day).count()
    assert sum(d.lines for d in stats.days) == recent == 300
    for day in stats.days:
        assert day.lines == Message.objects.filter(sent_at__date=day.day).count()
        assert day.bytes_estimate == round(day.lines * per_line)


def test_it_prints_the_report_and_json(db):
    store_lines(list(real_lines(500, seed=7)))
    text, raw = io.StringIO(), io.StringIO()

    call_command("archive_stats", stdout=text)
    call_command("archive_stats", "--json", stdout=raw)

    data = json.loads(raw.getvalue())
    assert data["messages"] == Message.objects.count() == 500
    assert data["bytes_per_message"] == data["used_bytes"] / 500
    assert sum(row["bytes"] for row in data["breakdown"] if not row["kind"]) == data["used_bytes"]
    report = text.getvalue()
    assert "Stored lines: 500" in report
    assert f"= {data['bytes_per_message']:,.1f} bytes per line" in report
    assert "search index" in report and "messages_app_message" in report
    assert "estimate" not in report.split("Lines per kind")[1].split("Per channel")[0]
