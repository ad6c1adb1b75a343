"""Staff set how long a channel's lines are kept on its page; everyone sees it,
and the next prune keeps to it."""

from datetime import UTC, datetime, timedelta

import pytest

from messages_app.models import Channel, Message
from messages_app.retention import prune
from tests.conftest import chat

pytestmark = pytest.mark.django_db


def post(client, **data):
    return client.post("/channels/forsen/retention", data)


def test_everyone_sees_how_long_lines_are_kept(client, store, settings):
    store(chat("forsen"))
    settings.RETENTION_DAYS = 30
    page = client.get("/channels/forsen").content.decode()
    assert "30 days, then removed" in page
    assert "Retention (staff)" not in page  # the form is for staff
    Channel.objects.filter(name="forsen").update(retention_days=0)
    assert "Forever" in client.get("/channels/forsen").content.decode()


@pytest.mark.django_db(transaction=True)  # prune commits, then checkpoints the WAL
def test_staff_set_days_and_the_next_prune_keeps_to_them(staff_client, store):
    now = datetime.now(UTC)
    store(chat("forsen", text="old", sent_at=now - timedelta(days=10)), chat("forsen", text="new"))
    response = post(staff_client, keep="days", days="7")
    assert response.status_code == 302
    assert Channel.objects.get(name="forsen").retention_days == 7
    page = staff_client.get(response["Location"]).content.decode()
    assert "#forsen keeps its lines 7 days." in page
    assert "7 days, then removed" in page
    prune()
    assert list(Message.objects.values_list("text", flat=True)) == ["new"]
    assert Channel.objects.get(name="forsen").total_messages == 1


def test_staff_go_back_to_the_default_or_to_forever(staff_client, store, settings):
    store(chat("forsen"))
    settings.RETENTION_DAYS = 90
    post(staff_client, keep="days", days="3")
    post(staff_client, keep="forever")
    assert Channel.objects.get(name="forsen").retention_days == 0
    post(staff_client, keep="default", days="")
    assert Channel.objects.get(name="forsen").retention_days is None
    assert "90 days, then removed" in staff_client.get("/channels/forsen").content.decode()


BAD = [{"keep": "days"}, {"keep": "days", "days": "0"}, {"keep": "days", "days": "x"},
       {"keep": "never"}, {}]  # fmt: skip


@pytest.mark.parametrize("data", BAD)
def test_bad_values_are_a_clear_400_and_change_nothing(staff_client, store, data):
    store(chat("forsen"))
    response = post(staff_client, **data)
    assert response.status_code == 400
    assert Channel.objects.get(name="forsen").retention_days is None


def test_only_staff_may_set_it(client, store):
    store(chat("forsen"))
    response = post(client, keep="forever")
    assert response.status_code in (302, 403)  # to the sign-in page, or refused
    assert Channel.objects.get(name="forsen").retention_days is None
