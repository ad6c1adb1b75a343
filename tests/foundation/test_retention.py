"""Retention: lines older than their channel's retention go, every kind of them,
with every total kept exact, resumably, from `manage.py prune` and from the
running ingest; on SQLite no byte of them stays in the files."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from messages_app import partitions, retention
from messages_app.erasure import erase_batch
from messages_app.ingest.pipeline import IngestStats, Pipeline
from messages_app.models import (
    COUNTED_KINDS,
    ActivityBucket,
    Channel,
    ChannelDay,
    ChatUser,
    Kind,
    Message,
    UserChannelStats,
)
from messages_app.search import matching
from messages_app.signals import channel_changed
from tests.conftest import chat
from tests.ingest.twitch_server import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# The fake clock: every function gets now=NOW. It is the time the tests start,
# so the tests of manage.py prune and of the running ingest (real clock), which
# come minutes later, agree with it: lines are whole hours from every cutoff.
NOW = datetime.now(UTC).replace(microsecond=0)
AGES = [1, 25, 49, 71, 73, 97, 121, 145, 169, 193, 217]  # hours before NOW: 9 days
SECRET = "vqxzkoldwordsnobodykeeps"  # the text of every line older than 72 hours
ROOMS = {"forsen": "1", "xqc": "2"}
REPO = Path(__file__).resolve().parents[2]


def at(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def words(channel: str, age: int) -> str:
    return f"{SECRET}{channel} {age}h" if age > 72 else f"kept {age}h"


def lines_of(channel: str, age: int) -> list:
    """A chat message of alice and of bob, a sub notice, bob's message deleted
    by a moderator; at every third age also a timeout of bob and a clear of the chat."""
    room = {"room-id": ROOMS[channel]}
    bob_id = f"bob-{channel}-{age}"
    text = words(channel, age)
    records = [
        chat(channel, "alice", text, sent_at=at(age), tags={**room, "user-id": "10"}),
        chat(channel, "bob", text, sent_at=at(age) + timedelta(minutes=1),
             twitch_id=bob_id, tags={**room, "user-id": "20"}),
        chat(channel, "alice", text, sent_at=at(age) + timedelta(minutes=2),
             kind=Kind.USERNOTICE, system_text=f"alice subscribed {text}",
             tags={**room, "user-id": "10"}),
        chat(channel, "bob", text, sent_at=at(age) + timedelta(minutes=3),
             kind=Kind.CLEARMSG, tags={**room, "target-msg-id": bob_id, "login": "bob"}),
    ]  # fmt: skip
    if AGES.index(age) % 3 == 0:
        records += [
            chat(channel, "bob", "", sent_at=at(age) + timedelta(minutes=4), kind=Kind.CLEARCHAT,
                 tags={**room, "target-user-id": "20", "ban-duration": "60"}),
            chat(channel, "", "", sent_at=at(age) + timedelta(minutes=5), kind=Kind.CLEARCHAT,
                 tags=room),
        ]  # fmt: skip
    return records


def drop_months_of_other_tests() -> None:
    """PostgreSQL: the empty partitions older than last month, which other
    tests' lines made (DDL outlives their flush), so that a pass here sees only
    this archive's months. Rolled back with the test."""
    if connection.vendor != "postgresql":
        return
    last_month = (NOW.replace(day=1) - timedelta(days=1)).replace(day=1)
    with connection.cursor() as cursor:
        for (year, month), name in partitions.existing(cursor).items():
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {name})")
            if (year, month) < (last_month.year, last_month.month) and not cursor.fetchone()[0]:
                cursor.execute(f"DROP TABLE {name}")


@pytest.fixture
def archive(store, settings):
    settings.RETENTION_DAYS = None
    drop_months_of_other_tests()
    for age in reversed(AGES):  # oldest first, as a running ingest stores them
        store(*lines_of("forsen", age), *lines_of("xqc", age))
    assert_totals_exact()


def ages(channel: str) -> list[int]:
    """The ages (hours before NOW) of a channel's lines still stored."""
    sent = Message.objects.filter(channel__name=channel).values_list("sent_at", flat=True)
    return sorted({math.ceil((NOW - moment).total_seconds() / 3600) for moment in sent})


def kept(hours: int) -> list[int]:
    return [age for age in AGES if age < hours]


def removed_by_name(removed: dict) -> dict[str, int]:
    return {expiry.name: count for expiry, count in removed.items()}


def assert_totals_exact() -> None:
    """Every maintained counter equals a recount of the stored rows, no row is
    left at 0, and the id ranges of buckets and days still hold their ids."""
    rows = list(Message.objects.values_list("id", "channel_id", "user_id", "kind", "sent_at"))
    counted = [row for row in rows if row[3] in COUNTED_KINDS]
    per_channel = Counter(row[1] for row in counted)
    assert {pk: n for pk, n in Channel.objects.values_list("id", "total_messages")} == {
        pk: per_channel[pk] for pk in Channel.objects.values_list("id", flat=True)}  # fmt: skip
    per_user = Counter(row[2] for row in counted)
    assert {pk: n for pk, n in ChatUser.objects.values_list("id", "total_messages")} == {
        pk: per_user[pk] for pk in ChatUser.objects.values_list("id", flat=True)}  # fmt: skip
    stats = UserChannelStats.objects.values_list("user_id", "channel_id", "total_messages")
    assert {(u, c): n for u, c, n in stats} == Counter((row[2], row[1]) for row in counted)
    minutes = {}
    for id_, _channel, _user, _kind, sent_at in counted:
        minutes.setdefault(sent_at.replace(second=0, microsecond=0), []).append(id_)
    buckets = {b.minute: b for b in ActivityBucket.objects.all()}
    assert {m: b.count for m, b in buckets.items()} == {m: len(i) for m, i in minutes.items()}
    for minute, ids in minutes.items():
        assert buckets[minute].first_id <= min(ids) and max(ids) <= buckets[minute].last_id
    days = {}
    for id_, channel, _user, _kind, sent_at in rows:
        days.setdefault((channel, sent_at.date()), []).append(id_)
    stored = {(d.channel_id, d.day): d for d in ChannelDay.objects.all()}
    assert {key: d.lines for key, d in stored.items()} == {k: len(i) for k, i in days.items()}
    for key, ids in days.items():
        assert stored[key].first_id <= min(ids) and max(ids) <= stored[key].last_id


def test_nothing_expires_without_a_retention(archive, settings):
    Channel.objects.filter(name="xqc").update(retention_days=0)
    assert retention.prune(now=NOW) == {}
    settings.RETENTION_DAYS = 3
    Channel.objects.filter(name="forsen").update(retention_days=0)
    assert retention.prune(now=NOW) == {}
    assert ages("forsen") == ages("xqc") == AGES


def test_it_removes_every_kind_of_line_older_than_retention_days(archive, settings):
    settings.RETENTION_DAYS = 3
    expired = Message.objects.filter(sent_at__lt=NOW - timedelta(days=3))
    kinds = set(expired.values_list("kind", flat=True))
    assert kinds == {Kind.PRIVMSG, Kind.USERNOTICE, Kind.CLEARMSG, Kind.CLEARCHAT}
    per_channel = dict(Counter(expired.values_list("channel__name", flat=True)))

    announced = []
    channel_changed.connect(receiver := lambda **kwargs: announced.append(kwargs["channel_id"]))
    try:
        removed = retention.prune(now=NOW, batch_size=7)
    finally:
        channel_changed.disconnect(receiver)

    assert removed_by_name(removed) == per_channel
    assert set(announced) == set(Channel.objects.values_list("id", flat=True))  # live totals
    assert {e.cutoff for e in removed} == {NOW - timedelta(days=3)}
    assert ages("forsen") == ages("xqc") == kept(72)
    assert not Message.objects.filter(text__contains=SECRET).exists()
    assert not matching(Message.objects.all(), SECRET).exists()
    assert_totals_exact()


@pytest.mark.parametrize(
    ("default", "forsen", "xqc", "forsen_kept", "xqc_kept"),
    [
        (3, 5, 1, kept(120), kept(24)),  # longer and shorter than the default
        (3, 0, None, AGES, kept(72)),  # 0: forsen is kept forever
        (None, None, 2, AGES, kept(48)),  # no default: only xqc expires
    ],
)
def test_a_channel_setting_overrides_the_default(
    archive, settings, default, forsen, xqc, forsen_kept, xqc_kept
):
    settings.RETENTION_DAYS = default
    Channel.objects.filter(name="forsen").update(retention_days=forsen)
    Channel.objects.filter(name="xqc").update(retention_days=xqc)
    retention.prune(now=NOW, batch_size=5)
    assert ages("forsen") == forsen_kept
    assert ages("xqc") == xqc_kept
    assert_totals_exact()


def test_a_user_channel_row_left_at_0_goes(archive, settings, store):
    store(chat("xqc", "carol", "only once", sent_at=at(200), tags={"room-id": "2"}))
    settings.RETENTION_DAYS = 3
    retention.prune(now=NOW)
    assert not UserChannelStats.objects.filter(user__username="carol").exists()
    assert ChatUser.objects.get(username="carol").total_messages == 0  # the user row stays
    assert_totals_exact()


@pytest.fixture
def line_by_line(monkeypatch):
    """Retention in batches of lines only. On PostgreSQL, when the archive's
    nine days span the start of a month (days 4 to 9 of every month, by the
    real clock), the expired month's partition is dropped whole in one step;
    tests/foundation/test_partitions.py tests that."""
    monkeypatch.setattr(retention, "_expired_months", lambda found: iter(()))


def test_a_prune_resumes_where_it_stopped(archive, settings, line_by_line):
    settings.RETENTION_DAYS = 3
    expired = Message.objects.filter(sent_at__lt=NOW - timedelta(days=3))
    total = expired.count()
    for left in (total - 4, total - 8):
        assert sum(retention.prune(now=NOW, batches=1, batch_size=4).values()) == 4
        assert expired.count() == left
        assert_totals_exact()
    assert sum(retention.prune(now=NOW, batch_size=4).values()) == total - 8
    assert not expired.exists()
    assert ages("forsen") == ages("xqc") == kept(72)
    assert_totals_exact()


def test_manage_py_prune_counts_with_dry_run_then_removes(archive, settings):
    settings.RETENTION_DAYS = 3
    Channel.objects.filter(name="xqc").update(retention_days=1)
    in_forsen = Message.objects.filter(channel__name="forsen", sent_at__lt=at(72)).count()
    in_xqc = Message.objects.filter(channel__name="xqc", sent_at__lt=at(24)).count()

    out = StringIO()
    call_command("prune", "--dry-run", stdout=out)
    report = out.getvalue().splitlines()
    assert report[0].startswith(f"#forsen: would remove {in_forsen} lines older than 3 days")
    assert report[1].startswith(f"#xqc: would remove {in_xqc} lines older than 1 days")
    assert report[2] == f"would remove {in_forsen + in_xqc} expired lines (dry run)"
    assert ages("forsen") == ages("xqc") == AGES

    out = StringIO()
    call_command("prune", "--batch-size", "6", stdout=out)
    report = out.getvalue().splitlines()
    assert report[0].startswith(f"#forsen: removed {in_forsen} lines older than 3 days")
    assert report[1].startswith(f"#xqc: removed {in_xqc} lines older than 1 days")
    assert report[2] == f"removed {in_forsen + in_xqc} expired lines"
    assert (ages("forsen"), ages("xqc")) == (kept(72), kept(24))
    assert_totals_exact()

    out = StringIO()
    call_command("prune", stdout=out)
    assert out.getvalue() == "removed 0 expired lines\n"


def test_no_byte_of_an_expired_line_stays_in_the_sqlite_files(archive, settings):
    if connection.vendor != "sqlite":
        pytest.skip("SKIPPED: a byte scan of the database files is for SQLite")
    assert in_sqlite_files(SECRET)
    settings.RETENTION_DAYS = 3
    retention.prune(now=NOW, batch_size=10)
    connection.close()  # nothing of ours held open: the files are what is left
    assert not in_sqlite_files(SECRET)
    assert in_sqlite_files("kept 71h")  # what is kept is there to be found
    assert Message.objects.filter(text="kept 71h").count() == 8  # 2 channels x 4 lines


def test_an_ingest_stopped_in_the_middle_of_a_pass_still_scrubs(archive, settings):
    if connection.vendor != "sqlite":
        pytest.skip("SKIPPED: a byte scan of the database files is for SQLite")
    settings.RETENTION_DAYS = 3
    pruner = retention.Pruner(batch_size=1000)
    assert pruner.step(0.0, now=NOW) > 0  # forsen's expired lines, then it stops
    pruner.close()
    connection.close()
    assert not in_sqlite_files(SECRET + "forsen")
    assert in_sqlite_files(SECRET + "xqc")  # the rest of the pass did not run


def test_pruning_passes_come_at_most_every_few_minutes(archive, settings, store, line_by_line):
    settings.RETENTION_DAYS = 3
    expired = Message.objects.filter(sent_at__lt=at(72)).count()
    pruner = retention.Pruner(every_s=300, batch_size=20)
    removed = []
    while step := pruner.step(0.0, now=NOW):
        removed.append(step)
    assert sum(removed) == expired
    assert max(removed) == 20  # one batch a step
    store(chat("forsen", "late", "imported late", sent_at=at(500), tags={"room-id": "1"}))
    assert pruner.step(299.0, now=NOW) == 0  # the next pass is not due yet
    assert Message.objects.filter(text="imported late").exists()
    assert pruner.step(300.0, now=NOW) == 1
    assert pruner.step(300.0, now=NOW) == 0  # the pass is over
    assert not Message.objects.filter(text="imported late").exists()
    assert_totals_exact()


class RunningPipeline:
    """The ingest's pipeline (the real write path, its erasure and retention
    thread) on an event loop of its own thread, as `manage.py ingest` runs it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.pipeline = Pipeline(IngestStats())
        self.thread = threading.Thread(target=self.loop.run_until_complete,
                                       args=(self.pipeline.run(),), daemon=True)  # fmt: skip
        self.thread.start()

    def put(self, *records) -> None:
        asyncio.run_coroutine_threadsafe(self.pipeline.put_many(list(records)), self.loop).result()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.pipeline.close(), self.loop).result(5)
        self.thread.join(10)
        assert not self.thread.is_alive(), "the pipeline did not stop"
        self.loop.close()


def test_the_running_ingest_removes_expired_lines_while_it_stores_chat(archive, settings):
    settings.RETENTION_DAYS = 3  # the real clock, minutes after NOW
    running = RunningPipeline()
    try:
        running.put(chat("forsen", "alice", "live now", tags={"room-id": "1", "user-id": "10"}))
        wait_until(lambda: not Message.objects.filter(text__contains=SECRET).exists(),
                   "the expired lines to go", 20)  # fmt: skip
        wait_until(lambda: Message.objects.filter(text="live now").exists(), "the new line")
        if connection.vendor == "sqlite":  # the pass ends with the files scrubbed
            wait_until(lambda: not in_sqlite_files(SECRET), "no byte of them in the files", 20)
    finally:
        running.stop()
    assert ages("xqc") == kept(72)
    assert_totals_exact()


def in_sqlite_files(text: str) -> bool:
    database = Path(connection.settings_dict["NAME"])
    files = (database, database.with_name(database.name + "-wal"))
    return any(text.encode() in path.read_bytes() for path in files if path.exists())


def test_a_second_eraser_of_the_same_rows_subtracts_nothing(archive):
    """PostgreSQL: `manage.py prune` beside the running ingest may read the rows
    another transaction is deleting; it waits at its DELETE and, once they are
    gone, must not take them off the totals again. (SQLite writers queue up at
    BEGIN, so the second one never sees them.)"""
    if connection.vendor != "postgresql":
        pytest.skip("SKIPPED: concurrent erasers reach the same rows on PostgreSQL only")
    scope = Q(channel__name="forsen")
    in_forsen = Message.objects.filter(scope).count()
    second = []

    def other_eraser() -> None:
        try:
            second.append(erase_batch(scope, 5))
        finally:
            connection.close()

    with transaction.atomic():
        assert erase_batch(scope, 5) == 5  # deleted, not committed yet
        thread = threading.Thread(target=other_eraser)
        thread.start()
        wait_until(lambda: waiting_delete(), "the second eraser to wait at its DELETE")
    thread.join(10)
    assert second == [5]  # the same five lines, gone
    assert Message.objects.filter(channel__name="forsen").count() == in_forsen - 5
    assert_totals_exact()  # taken off once


def waiting_delete() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction it is cached
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND query LIKE 'DELETE FROM %%messages_app_message%%'")  # fmt: skip
        return cursor.fetchone()[0] > 0


def test_staff_set_a_channels_retention_in_the_admin(archive, staff_client):
    forsen = Channel.objects.get(name="forsen")
    url = reverse("admin:messages_app_channel_change", args=[forsen.pk])
    assert b'name="retention_days"' in staff_client.get(url).content
    form = {"name": "forsen", "display_name": "", "twitch_id": "1", "enabled": "on",
            "deleted_at_0": "", "deleted_at_1": "", "retention_days": "14"}  # fmt: skip
    assert staff_client.post(url, form).status_code == 302
    assert Channel.objects.get(pk=forsen.pk).retention_days == 14
    form["retention_days"] = ""
    assert staff_client.post(url, form).status_code == 302
    assert Channel.objects.get(pk=forsen.pk).retention_days is None
    form["retention_days"] = "-1"
    assert staff_client.post(url, form).status_code == 200  # the form again, with the error
    assert Channel.objects.get(pk=forsen.pk).retention_days is None


def manage(*args: str, retention_days: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "goknut.settings"}
    env.pop("RETENTION_DAYS", None)
    if retention_days is not None:
        env["RETENTION_DAYS"] = retention_days
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


@pytest.mark.parametrize("raw", ["thirty", "0", "-7", "1.5"])
def test_a_bad_retention_days_stops_start_up_naming_the_variable(raw):
    done = manage("check", retention_days=raw)
    assert done.returncode != 0
    assert "RETENTION_DAYS" in done.stderr
    assert repr(raw) in done.stderr or f"got {raw}" in done.stderr


def test_retention_days_reads_a_number_of_days_or_nothing():
    show = ["shell", "--no-imports", "-c",
            "from django.conf import settings; print(settings.RETENTION_DAYS)"]  # fmt: skip
    assert manage(*show, retention_days=" 30 ").stdout == "30\n"
    assert manage(*show, retention_days="").stdout == "None\n"
    assert manage(*show, retention_days=None).stdout == "None\n"


def test_a_pass_reads_no_message_when_no_day_reaches_the_cutoff(archive, settings):
    """The running ingest's look every few minutes: the channels and their days."""
    settings.RETENTION_DAYS = 30
    with CaptureQueriesContext(connection) as queries:
        assert retention.prune(now=NOW) == {}
    assert len(queries) == 3  # the channels, then the days before each one's cutoff
    assert not [q for q in queries if '"messages_app_message"' in q["sql"]]
