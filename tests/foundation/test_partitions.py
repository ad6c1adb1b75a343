"""PostgreSQL: the messages table in monthly partitions (messages_app/partitions.py,
migration 0017). Lines go to their month's partition, made on the way or ahead
by the running ingest; a duplicate is found across months; a month's pages
read one partition; retention drops a month that has expired for everyone,
totals included; the migration goes back and forth with every line kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from messages_app import partitions, retention
from messages_app.models import Channel, ChannelDay, Message
from tests.conftest import chat
from tests.foundation.test_retention import assert_totals_exact

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="monthly partitions are PostgreSQL's"
    ),
]

NOW = datetime.now(UTC).replace(microsecond=0)


def rows(sql: str, params=()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def months() -> set[tuple[int, int]]:
    with connection.cursor() as cursor:
        return set(partitions.existing(cursor))


def partition_of_each_line() -> dict[str, str]:
    """Twitch id -> the partition its row is stored in."""
    return dict(rows("SELECT twitch_id, tableoid::regclass::text FROM messages_app_message"))


def month(moment: datetime) -> tuple[int, int]:
    return moment.year, moment.month


def months_back(n: int) -> datetime:
    """The 15th of the month n months before this one, at noon UTC."""
    year, month_ = NOW.year, NOW.month - n
    while month_ < 1:
        year, month_ = year - 1, month_ + 12
    return datetime(year, month_, 15, 12, tzinfo=UTC)


def test_the_table_is_partitioned_by_month_with_the_months_ahead():
    assert rows("SELECT relkind FROM pg_class WHERE relname = 'messages_app_message'") == [("p",)]
    current = month(NOW)
    ahead = [current]
    for _ in range(partitions.AHEAD):
        ahead.append(partitions.next_month(*ahead[-1]))
    assert set(ahead) <= months()
    # Each partition has the table's indexes: the search index among them.
    indexes = rows(
        "SELECT indexdef FROM pg_indexes WHERE tablename = %s", [partitions.name(*current)]
    )
    assert any("gin (to_tsvector" in definition for (definition,) in indexes)
    assert len(indexes) == 7  # primary key, channel, user, two moderation, search, Twitch id


def test_each_line_goes_to_the_partition_of_its_month_made_on_the_way(store):
    old, older = datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC), datetime(2019, 3, 1, tzinfo=UTC)
    assert (2019, 3) not in months() and (2024, 2) not in months()
    store(
        chat(text="leap day", twitch_id="a", sent_at=old),
        chat(text="long ago", twitch_id="b", sent_at=older),
        chat(text="now", twitch_id="c", sent_at=NOW),
    )
    assert partition_of_each_line() == {
        "a": "messages_app_message_p2024_02",
        "b": "messages_app_message_p2019_03",
        "c": partitions.name(*month(NOW)),
    }
    assert {(2019, 3), (2024, 2)} <= months()
    assert (2019, 4) not in months()  # no empty months between
    # Made through the ORM (the shell, the admin, tests) as well.
    Message.objects.create(
        channel=Channel.objects.get(), text="orm", sent_at=older.replace(year=2018)
    )
    assert (2018, 3) in months()


def test_a_line_seen_again_is_stored_once_whatever_its_month(store):
    edge = datetime(2024, 2, 29, 23, 59, 59, 999000, tzinfo=UTC)  # its id may be in March
    for _ in range(2):
        store(
            chat(text="at the edge", twitch_id="edge", sent_at=edge),
            chat(text="old", twitch_id="old", sent_at=datetime(2021, 7, 1, tzinfo=UTC)),
            chat(text="live", twitch_id="live", sent_at=NOW),
        )
    result = store(chat(text="live", twitch_id="live", sent_at=NOW))
    assert result.duplicates == 1 and result.stored == 0
    assert sorted(Message.objects.values_list("twitch_id", flat=True)) == ["edge", "live", "old"]
    assert Channel.objects.get().total_messages == 3


def test_the_running_ingests_retention_pass_makes_the_months_ahead(settings):
    settings.RETENTION_DAYS = None
    later = partitions.next_month(*partitions.next_month(*month(NOW)))
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {partitions.name(*later)}")
    assert later not in months()
    retention.Pruner().step(0.0)  # what ingest's erasure thread calls
    assert later in months()


def test_a_month_of_one_channel_reads_one_partition(store):
    for n in range(3):
        store(*(chat(text=f"line {i}", sent_at=months_back(n) + timedelta(seconds=i))
                for i in range(20)))  # fmt: skip
    channel = Channel.objects.get()
    low, high = partitions.bounds(*month(months_back(1)))
    query = Message.objects.filter(channel=channel, id__gte=low, id__lt=high).order_by("-id")[:50]
    plan = "\n".join(row[0] for row in rows(f"EXPLAIN {query.query}"))
    named = set(re.findall(r"messages_app_message_p(\d{4})_(\d{2})", plan))
    assert named == {(str(months_back(1).year), f"{months_back(1).month:02d}")}, plan
    assert len(list(query)) == 20


def test_a_partition_dropped_behind_the_writers_back_is_made_again(store):
    store(chat(text="first", sent_at=datetime(2022, 5, 1, tzinfo=UTC)))
    assert (2022, 5) in partitions.KNOWN
    with connection.cursor() as cursor:  # as retention in another process would
        cursor.execute(f"DROP TABLE {partitions.name(2022, 5)}")
    result = store(chat(text="second", sent_at=datetime(2022, 5, 2, tzinfo=UTC)))
    assert result.stored == 1
    assert list(Message.objects.values_list("text", flat=True)) == ["second"]


def test_retention_drops_the_months_that_expired_for_every_channel(store, settings):
    """Kept 62 days: the lines of 4, 5 and 6 months ago expire, last month's
    stay. Months 4 and 6 go as tables; month 5 holds a line of a channel that
    keeps everything, so its expired lines go one batch at a time."""
    settings.RETENTION_DAYS = 62
    Channel.objects.create(name="keeper", retention_days=0)
    for n in (1, 4, 5, 6):
        for channel in ("forsen", "xqc"):
            store(*(chat(channel, f"user{i % 3}", f"old {n} {i}", sent_at=months_back(n) +
                         timedelta(minutes=i)) for i in range(30)))  # fmt: skip
    store(chat("keeper", "alice", "kept forever", sent_at=months_back(5)))
    assert_totals_exact()

    removed = retention.prune(now=NOW)

    assert {expiry.name: count for expiry, count in removed.items()} == {"forsen": 90, "xqc": 90}
    left = months()
    assert month(months_back(4)) not in left and month(months_back(6)) not in left
    assert {month(months_back(5)), month(months_back(1))} <= left
    texts = set(Message.objects.values_list("text", flat=True))
    assert texts == {"kept forever"} | {f"old 1 {i}" for i in range(30)}
    assert Message.objects.count() == 61
    assert_totals_exact()
    cutoff = (NOW - timedelta(62)).date()
    assert not ChannelDay.objects.filter(channel__name="xqc", day__lt=cutoff).exists()


def test_the_migration_goes_back_to_a_plain_table_and_forth_with_every_line(store):
    for n in range(3):
        store(*(chat(text=f"line {n} {i}", sent_at=months_back(n * 7) + timedelta(seconds=i))
                for i in range(50)))  # fmt: skip
    before = sorted(Message.objects.values_list("id", "twitch_id", "text", "sent_at"))
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("messages_app", "0016_search_index_without_sizes")])
        assert rows("SELECT relkind FROM pg_class WHERE relname = 'messages_app_message'") == [
            ("r",)
        ]
        unique = "SELECT count(*) FROM pg_constraint WHERE conname = %s"
        assert rows(unique, ["messages_app_message_twitch_id_key"]) == [(1,)]
        assert sorted(Message.objects.values_list("id", "twitch_id", "text", "sent_at")) == before
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes("messages_app"))
    assert sorted(Message.objects.values_list("id", "twitch_id", "text", "sent_at")) == before
    assert {month(months_back(n * 7)) for n in range(3)} <= months()
    assert set(partition_of_each_line().values()) == {
        partitions.name(*month(months_back(n * 7))) for n in range(3)
    }
