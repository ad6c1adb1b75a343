import pytest
from django.core.management import call_command
from django.db.models import Sum

from messages_app.models import ActivityBucket, Channel, ChatUser, Message

pytestmark = pytest.mark.django_db


def seed(**options) -> str:
    options = {"messages": 250, "channels": 3, "users": 20, "batch_size": 100, **options}
    return call_command("seed_chat", **options)


def test_it_stores_the_asked_number_of_messages():
    summary = seed()
    assert Message.objects.count() == 250
    assert summary.startswith("stored 250 messages (0 duplicates)")


def test_it_keeps_every_counter_in_step():
    seed()
    assert Channel.objects.count() == 3
    assert Channel.objects.aggregate(n=Sum("total_messages"))["n"] == 250
    assert ChatUser.objects.count() <= 20
    assert ChatUser.objects.aggregate(n=Sum("total_messages"))["n"] == 250
    assert ActivityBucket.objects.aggregate(n=Sum("count"))["n"] == 250


def test_it_creates_its_channels_enabled():
    seed()
    assert Channel.objects.filter(enabled=True).count() == 3


def test_it_stores_nothing_twice_when_run_again_with_the_same_seed():
    seed()
    summary = seed()
    assert Message.objects.count() == 250
    assert summary.startswith("stored 0 messages (250 duplicates)")


def test_it_adds_new_chat_with_another_seed():
    seed()
    seed(seed=2)
    assert Message.objects.count() == 500


def test_it_spreads_messages_over_the_asked_days():
    seed(days=2)
    first, last = Message.objects.order_by("id")[0], Message.objects.order_by("-id")[0]
    hours = (last.sent_at - first.sent_at).total_seconds() / 3600
    assert 47 < hours < 48


@pytest.mark.parametrize("option", ["messages", "channels", "users", "batch_size"])
def test_it_refuses_counts_below_one(option, capsys):
    with pytest.raises(SystemExit) as caught:
        seed(**{option: 0})
    assert caught.value.code == 2
    assert f"--{option.replace('_', '-')} must be at least 1" in capsys.readouterr().err
    assert not Message.objects.exists()
