"""/users/<name>: the profile, per-channel counts, the user's messages."""

from datetime import UTC, datetime, timedelta

import pytest

from messages_app.models import ChatUser
from tests.conftest import chat
from tests.pages.conftest import HOSTILE, html, newest_ids, row_ids

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def alice(store):
    store(
        *[
            chat(
                "forsen" if n % 4 else "xqc",
                "alice",
                f"line {n}",
                sent_at=T0 + timedelta(minutes=n),
            )
            for n in range(80)
        ],
        chat("forsen", "bob", "not alice"),
    )
    return ChatUser.objects.get(username="alice")


def test_it_shows_first_and_last_seen_and_totals(client, alice):
    response = client.get("/users/alice")
    assert response.status_code == 200
    text = html(response)
    assert '<dd data-field="total_messages">80</dd>' in text
    assert '<time datetime="2024-05-01T12:00:00Z"' in text
    assert '<time datetime="2024-05-01T13:19:00Z"' in text
    assert f'data-live-key="user-{alice.id}"' in text


def test_it_lists_channels_with_per_channel_counts(client, alice):
    text = html(client.get("/users/alice"))
    forsen = text.index('href="/users/alice?channel=forsen">#forsen</a>')
    xqc = text.index('href="/users/alice?channel=xqc">#xqc</a>')
    assert forsen < xqc  # most messages first
    assert '<td class="num">60</td>' in text
    assert '<td class="num">20</td>' in text


def test_it_lists_the_users_messages_newest_first(client, alice):
    response = client.get("/users/alice")
    assert row_ids(response) == newest_ids(50, user=alice)
    assert "not alice" not in html(response)


def test_it_pages_the_users_messages(client, alice):
    first = row_ids(client.get("/users/alice"))
    older = client.get(f"/users/alice?before={first[-1]}")
    assert row_ids(older) == newest_ids(80, user=alice)[50:]
    assert "first message." in html(older)


def test_it_filters_by_channel(client, alice):
    response = client.get("/users/alice?channel=xqc")
    assert row_ids(response) == newest_ids(50, user=alice, channel__name="xqc")
    assert "channel=xqc" in html(response).split("data-live-url=")[1].split(">")[0]


def test_it_filters_by_time_range(client, alice):
    response = client.get("/users/alice?since=2024-05-01T12:30&until=2024-05-01T12:40")
    window = {"sent_at__gte": T0 + timedelta(minutes=30), "sent_at__lt": T0 + timedelta(minutes=40)}
    assert row_ids(response) == newest_ids(50, user=alice, **window)
    assert "data-live-list" not in html(response)


def test_it_filters_by_text(client, alice):
    response = client.get("/users/alice?q=%22line+7%22")
    assert row_ids(response) == newest_ids(50, user=alice, text="line 7")


def test_it_renders_the_live_hooks(client, alice):
    text = html(client.get("/users/alice"))
    assert 'data-live-view="user_profile"' in text
    assert 'data-live-url="/live?view=user_profile&amp;after_id=' in text
    assert "&amp;user=alice" in text
    assert 'data-poll-url="/users/alice/rows"' in text
    assert 'data-poll-url="/users/alice/summary" data-poll-mode="replace"' in text


def test_the_rows_partial_returns_newer_rows(client, alice, store):
    cursor = newest_ids(1)[0]
    store(chat("forsen", "alice", "fresh"), chat("forsen", "bob", "other"))
    response = client.get(f"/users/alice/rows?after_id={cursor}")
    assert row_ids(response) == newest_ids(1, user=alice)


def test_the_summary_partial_has_the_counters(client, alice):
    response = client.get("/users/alice/summary")
    assert '<dd data-field="total_messages">80</dd>' in html(response)


def test_it_gives_a_helpful_404_for_unknown_users(client):
    for url in ("/users/nobody", "/users/nobody/rows", "/users/nobody/summary"):
        response = client.get(url)
        assert response.status_code == 404
        assert "No chat user named “nobody”" in html(response)


def test_it_rejects_bad_filters(client, alice):
    assert client.get("/users/alice?since=soon").status_code == 400
    assert client.get("/users/alice?channel=nowhere").status_code == 400


def test_it_escapes_hostile_names_and_text(client, store):
    store(chat(username="mallory", display_name="<img src=x onerror=alert(1)>", text=HOSTILE))
    text = html(client.get("/users/mallory"))
    assert "<img src=x" not in text
    assert "<script>alert" not in text


def test_it_lists_the_users_timeouts_and_bans(client, store):
    from messages_app.models import Kind

    store(
        chat(channel="forsen", username="alice", text="hi"),
        chat(channel="xqc", username="alice", text="", kind=Kind.CLEARCHAT,
             tags={"ban-duration": "86400"}),
    )  # fmt: skip
    page = html(client.get("/users/alice"))
    assert "alice</a> was timed out for 1 day" in page[page.index("Timeouts and bans") :]
