"""The Twitch message id index (migration 0024): on SQLite the ids are indexed
by their first 4 bytes, and the write path, not a UNIQUE constraint, keeps a
line seen twice from being stored twice, as on PostgreSQL. Ids that share those
4 bytes are still told apart, and every lookup by id reads the index."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from messages_app.models import Message
from messages_app.search import matching
from tests.conftest import chat
from tests.foundation.test_tag_sets import migrate, stored_raw_lines

T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)
# Two UUIDs with the same first 4 bytes, and two text ids with the same first 4 characters.
TWINS = ["0badcafe-0000-4000-8000-000000000001", "0badcafe-ffff-4fff-bfff-ffffffffffff"]
TEXT_TWINS = ["imported-17", "imported-18"]


def lines(ids: list[str], seconds: int = 0) -> list:
    return [
        chat(text=f"line {twitch_id}", twitch_id=twitch_id, sent_at=T0 + timedelta(seconds=n))
        for n, twitch_id in enumerate(ids, start=seconds)
    ]


@pytest.mark.django_db
def test_ids_that_share_their_first_bytes_are_different_lines(store):
    ids = [*TWINS, *TEXT_TWINS]
    first = store(*lines(ids))
    again = store(*lines(ids), *lines([str(uuid.uuid4())], seconds=10))
    assert (first.stored, again.stored, again.duplicates) == (4, 1, 4)
    for twitch_id in ids:
        assert [m.text for m in Message.objects.with_twitch_ids(twitch_id)] == [f"line {twitch_id}"]
    assert Message.objects.with_twitch_ids(*ids).count() == 4
    assert not Message.objects.with_twitch_ids("0badcafe-0000-4000-8000-000000000002").exists()


@pytest.mark.django_db
def test_a_deletion_marks_only_its_target_among_ids_that_share_their_first_bytes(store):
    store(*lines(TWINS))
    store(chat(kind=13, text=f"line {TWINS[1]}", twitch_id=f"clearmsg-{TWINS[1]}",
               sent_at=T0 + timedelta(seconds=9), tags={"target-msg-id": TWINS[1]}))  # fmt: skip
    deleted = dict(Message.objects.with_twitch_ids(*TWINS).values_list("twitch_id", "deleted_at"))
    assert deleted == {TWINS[0]: None, TWINS[1]: T0 + timedelta(seconds=9)}


def plan(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return " ".join(row[-1] for row in cursor.fetchall())


@pytest.mark.django_db
def test_every_lookup_by_id_reads_the_index(store):
    """The statements the write path runs (caught as SQLite runs them, values
    in place) and the ORM's lookup are planned through the index, never as a
    scan of every line."""
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's partitions each index the whole id")
    store(*lines([str(uuid.uuid4()) for _ in range(20)]))
    run: list[str] = []
    connection.connection.set_trace_callback(run.append)
    try:
        store(*lines([TWINS[0], str(uuid.uuid4())], seconds=30))
        store(chat(kind=13, twitch_id=f"clearmsg-{TWINS[0]}", sent_at=T0 + timedelta(minutes=1),
                   tags={"target-msg-id": TWINS[0]}))  # fmt: skip
    finally:
        connection.connection.set_trace_callback(None)
    on_messages = re.compile(
        r'^\s*(SELECT .* FROM|UPDATE) "?messages_app_message"? .*twitch_id', re.S
    )
    lookups = [statement for statement in run if on_messages.match(statement)]
    assert len(lookups) >= 3  # the duplicates of both batches, the deletion's update
    for statement in lookups:
        assert "USING INDEX message_twitch_id_idx" in plan(statement), statement
    sql, params = Message.objects.with_twitch_ids(*TWINS).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        assert "USING INDEX message_twitch_id_idx" in " ".join(r[-1] for r in cursor.fetchall())


def schema() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT type, name FROM sqlite_master WHERE tbl_name = 'messages_app_message'"
            " ORDER BY rowid"
        )
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_migration_0024_copies_the_table_without_the_unique_index_and_back(store):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL: only the model's state changes")
    ids = [str(uuid.uuid4()) for _ in range(300)]
    store(*lines([*ids, *TEXT_TWINS]), chat(twitch_id=None, text="no id at all"))
    raw = stored_raw_lines()
    after = schema()
    assert ("index", "message_twitch_id_idx") in after
    assert ("index", "sqlite_autoindex_messages_app_message_1") not in after
    try:
        migrate("0023_postgresql_user_count")
        before = schema()
        assert before[1] == ("index", "sqlite_autoindex_messages_app_message_1")
        assert [row for row in before if row[1] != before[1][1]] == [
            row for row in after if row[1] != "message_twitch_id_idx"
        ]  # the same indexes and triggers, made in the same order
        assert stored_raw_lines() == raw
    finally:
        migrate()
    assert schema() == after
    assert stored_raw_lines() == raw and Message.objects.count() == 303
    # The search index's triggers came back with the table: it follows new lines and deletions.
    store(*lines(["5ea4c4e5-0000-4000-8000-00000000000a"], seconds=500))
    Message.objects.filter(twitch_id=ids[0]).delete()
    assert matching(Message.objects.all(), "5ea4c4e5").count() == 1
    assert matching(Message.objects.all(), ids[0].split("-")[0]).count() == 0
    assert matching(Message.objects.all(), "line").count() == 302
    assert store(*lines(ids[1:3])).duplicates == 2
