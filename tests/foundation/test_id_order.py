"""Message ids become visible in id order, even with concurrent writers.

The live relay reads `id > cursor` and moves its cursor to the highest id it
saw; if a higher id could commit before a lower one, the lower one would never
be sent. A writer here holds its transaction open after storing, a second
writer stores meanwhile, and a reader watching the table must never see the
second writer's rows while the first writer's are still invisible.
"""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from messages_app.models import Message
from tests.conftest import chat

pytestmark = pytest.mark.django_db(transaction=True)


def _in_thread(target) -> threading.Thread:
    def run():
        try:
            target()
        finally:
            connection.close()  # each thread has its own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_late_commit_never_lets_a_higher_id_show_first(store):
    first_stored, first_ids, second_ids, snapshots = threading.Event(), [], [], []

    def slow_writer():
        with transaction.atomic():
            store(*[chat(text=f"slow {n}") for n in range(50)])
            first_stored.set()
            time.sleep(0.6)  # ingest stuck mid-commit (slow disk, long batch)

    def quick_writer():
        first_stored.wait(5)
        # Another channel, user and minute: no row lock shared with the slow
        # writer. Sent now (a minute ahead of the slow lines' bucket): new chat,
        # whose ids go above the slow writer's.
        soon = datetime.now(UTC) + timedelta(minutes=1)
        store(*[chat("xqc", "other", f"quick {n}", sent_at=soon) for n in range(50)])

    def reader():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(snapshots) < 10_000:
            snapshots.append(set(Message.objects.values_list("id", flat=True)))
            if len(snapshots[-1]) == 100:
                return
            time.sleep(0.005)

    threads = [_in_thread(slow_writer), _in_thread(quick_writer), _in_thread(reader)]
    for thread in threads:
        thread.join(15)

    for prefix, ids in (("slow", first_ids), ("quick", second_ids)):
        ids.extend(Message.objects.filter(text__startswith=prefix).values_list("id", flat=True))
    assert len(first_ids) == len(second_ids) == 50
    assert min(second_ids) > max(first_ids)
    assert snapshots[-1] == set(first_ids) | set(second_ids)
    for seen in snapshots:
        # Whatever is visible is everything up to the highest visible id.
        assert seen == {i for i in first_ids + second_ids if i <= max(seen, default=0)}
