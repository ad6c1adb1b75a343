"""Home's "Last minute" and "Last hour" are exact sliding windows: what was
sent in the last 60 s / 3,600 s, never a whole minute bucket more, and never
more than the archive holds after a channel's history is deleted."""

from datetime import UTC, datetime, timedelta

import pytest

from messages_app import pages
from messages_app.models import ActivityBucket, Channel, Kind
from messages_app.writes import delete_channel
from tests.conftest import chat

pytestmark = pytest.mark.django_db

TEN = datetime(2025, 5, 1, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return TEN + timedelta(seconds=seconds)


def test_it_counts_from_the_exact_moment_not_from_its_minute(store):
    store(*[chat(text=f"m{s}", sent_at=at(s)) for s in (10, 50, 65, 100)])
    assert ActivityBucket.objects.since(at(30)) == 3  # 10:00:50, 10:01:05, 10:01:40
    assert ActivityBucket.objects.since(at(0)) == 4
    assert ActivityBucket.objects.since(at(70)) == 1
    assert ActivityBucket.objects.since(at(101)) == 0


def test_moderation_in_the_edge_minute_is_not_counted(store):
    store(
        chat(text="said", sent_at=at(40)),
        chat("forsen", "viewer", "", kind=Kind.CLEARCHAT, sent_at=at(45)),
        chat(text="later", sent_at=at(70)),
    )
    assert ActivityBucket.objects.since(at(30)) == 2


def test_deleting_a_channels_history_takes_it_off_the_windows(store):
    now = datetime.now(UTC)
    store(*[chat("forsen", text=f"f{n}", sent_at=now - timedelta(seconds=n)) for n in range(3)])
    store(*[chat("xqc", text=f"x{n}", sent_at=now - timedelta(seconds=n)) for n in range(2)])
    delete_channel(Channel.objects.get(name="forsen"), keep_history=False)
    values = pages.home_metrics_values()
    assert values["total_messages"] == 2
    assert values["last_hour"] == values["last_minute"] == 2
