from datetime import UTC, datetime, timedelta

import pytest

from messages_app.models import Message
from tests.conftest import chat
from tests.pages.conftest import HOSTILE, html, newest_ids, row_ids

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def many(store):
    """120 messages, one a minute from T0, alternating two channels and users."""
    store(
        *[
            chat(
                "forsen" if n % 2 else "xqc",
                "alice" if n % 3 else "bob",
                f"line {n}",
                sent_at=T0 + timedelta(minutes=n),
            )
            for n in range(120)
        ]
    )


def test_it_lists_the_newest_50_first(client, many):
    response = client.get("/messages")
    assert response.status_code == 200
    assert row_ids(response) == newest_ids(50)


def test_it_pages_back_without_skipping_or_repeating_while_messages_arrive(client, store, many):
    seen: list[int] = []
    response = client.get("/messages")
    while True:
        ids = row_ids(response)
        seen += ids
        store(chat(text="arrived meanwhile"))  # would shift an OFFSET page
        if 'rel="next"' not in html(response):
            break
        response = client.get(f"/messages?before={ids[-1]}")
    original = list(Message.objects.exclude(text="arrived meanwhile").values_list("id", flat=True))
    assert seen == sorted(original, reverse=True)


def test_it_says_when_history_runs_out(client, many):
    oldest = Message.objects.order_by("id").first().id
    text = html(client.get(f"/messages?before={oldest}"))
    assert "No older messages" in text


def test_it_pages_forward_with_after(client, many):
    ids = sorted(Message.objects.values_list("id", flat=True))
    response = client.get(f"/messages?after={ids[9]}")
    assert row_ids(response) == sorted(ids[10:60], reverse=True)
    assert f"after={ids[59]}" in html(response)


def test_it_filters_by_channel(client, many):
    response = client.get("/messages?channel=forsen")
    assert row_ids(response) == newest_ids(50, channel__name="forsen")
    assert 'data-live-url="/live?view=messages&amp;after_id=' in html(response)
    assert "channel=forsen" in html(response)


def test_it_filters_by_user(client, many):
    response = client.get("/messages?user=bob")
    assert row_ids(response) == newest_ids(50, user__username="bob")


def test_it_filters_by_time_range(client, many):
    response = client.get("/messages?since=2024-05-01T12:10&until=2024-05-01T12:20")
    window = {"sent_at__gte": T0 + timedelta(minutes=10), "sent_at__lt": T0 + timedelta(minutes=20)}
    assert row_ids(response) == newest_ids(50, **window)
    assert len(row_ids(response)) == 10


def test_it_filters_by_text(client, store, many):
    store(chat(text="a rare pineapple"), chat(text="more pineapple please"))
    response = client.get("/messages?q=pineapple")
    assert row_ids(response) == newest_ids(2, text__contains="pineapple")
    assert "<mark>pineapple</mark>" in html(response)


def test_it_does_not_stream_lists_filtered_by_text_or_time(client, many):
    for query in ("q=line", "since=2024-05-01T12:10"):
        text = html(client.get(f"/messages?{query}"))
        assert "data-live-list" not in text
        assert "data-live-root" not in text


def test_it_says_nothing_matches(client, many):
    text = html(client.get("/messages?channel=forsen&user=bob&q=nothingatall"))
    assert "No messages match these filters" in text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("before=abc", "Enter a whole number"),
        ("before=-5", "greater than or equal to 0"),
        ("after_id=99999999999999999999999", "less than or equal to"),
        ("since=yesterday", "Enter a valid date/time"),
        ("until=2024-13-45", "Enter a valid date/time"),
        ("channel=nobody", "No channel named “nobody”"),
        ("user=nobody", "No chat user named “nobody”"),
        ("since=2024-05-02&until=2024-05-01", "must be earlier"),
        ("before=5&after=3", "only one of"),
    ],
)
def test_it_explains_bad_parameters_with_a_400(client, many, query, message):
    response = client.get(f"/messages?{query}")
    assert response.status_code == 400
    assert message in html(response)
    assert "Start over without filters" in html(response)


def test_it_escapes_hostile_chat_and_names(client, store):
    store(chat(text=HOSTILE, display_name='"><script>x()</script>', tags={"color": "red;x:url(y)"}))
    text = html(client.get("/messages"))
    assert "<script>" not in text.split("</header>")[1]
    assert "<img src=x" not in text
    assert "style=" not in text.split('<ol class="msg-list"')[1].split("</ol>")[0]


def test_it_colours_names_with_readable_versions_of_their_colour(client, store):
    store(chat(tags={"color": "#0000FF"}))
    text = html(client.get("/messages"))
    assert 'style="--name-light:#' in text
    assert ";--name-dark:#" in text


def test_the_rows_partial_returns_newer_rows_for_polling(client, many):
    ids = newest_ids(120)
    response = client.get(f"/messages/rows?after_id={ids[5]}")
    assert response.status_code == 200
    assert row_ids(response) == ids[:5]
    assert "<html" not in html(response)
    assert "hx-swap-oob" not in html(response)


def test_the_rows_partial_keeps_the_filters_when_polling(client, many):
    ids = newest_ids(120)
    response = client.get(f"/messages/rows?channel=forsen&after_id={ids[10]}")
    assert row_ids(response) == [
        i for i in ids[:10] if Message.objects.get(id=i).channel.name == "forsen"
    ]


def test_the_rows_partial_caps_a_poll_at_500(client, store):
    store(*[chat(text=f"n{n}") for n in range(510)])
    assert len(row_ids(client.get("/messages/rows?after_id=0"))) == 500


def test_the_rows_partial_returns_an_older_page_with_its_pager(client, many):
    ids = newest_ids(120)
    response = client.get(f"/messages/rows?before={ids[49]}")
    assert row_ids(response) == ids[50:100]
    text = html(response)
    assert 'id="message-list-pager" aria-label="Pages of messages" hx-swap-oob="true"' in text
    assert f'href="/messages?before={ids[99]}"' in text
    assert f'hx-get="/messages/rows?before={ids[99]}"' in text


def test_the_rows_partial_explains_bad_parameters(client):
    response = client.get("/messages/rows?after_id=x")
    assert response.status_code == 400


def test_a_poll_that_cannot_bring_every_new_row_says_how_many_arrived(client, store):
    first = store(chat(text="seen"))
    store(*[chat(text=f"while away {n}") for n in range(505)])
    response = client.get(f"/messages/rows?after_id={first.last_id}")
    assert len(row_ids(response)) == 500  # the newest 500
    assert response["X-Goknut-Skipped"] == "505"
    assert response["X-Goknut-Skipped-After"] == str(first.last_id)
    fifth = Message.objects.filter(text__startswith="while away").order_by("id")[4].id
    caught_up = client.get(f"/messages/rows?after_id={fifth}")
    assert "X-Goknut-Skipped" not in caught_up  # exactly 500 new: nothing left out


def test_it_filters_by_kind_and_stops_following_the_stream(client, store):
    from messages_app.models import Kind

    store(
        chat(text="plain chat"),
        chat(text="", kind=Kind.USERNOTICE, system_text="viewer subscribed!"),
        chat(text="", kind=Kind.CLEARCHAT, tags={"ban-duration": "60"}),
    )
    notices = client.get("/messages?kind=notices")
    assert "viewer subscribed!" in html(notices) and "plain chat" not in html(notices)
    assert "data-live-list" not in html(notices)  # the stream cannot filter by kind
    moderation = html(client.get("/messages?kind=moderation"))
    assert "was timed out for 1 minute" in moderation and "plain chat" not in moderation
    assert client.get("/messages?kind=everything").status_code == 400


def test_it_marks_deleted_messages_and_can_hide_their_text(client, store, settings):
    from messages_app.models import Kind

    store(chat(text="regrettable words", twitch_id="gone-1"))
    store(chat(text="", kind=Kind.CLEARMSG, tags={"target-msg-id": "gone-1"}))
    shown = html(client.get("/messages"))
    assert "msg-deleted" in shown and "deleted by a moderator" in shown
    assert "regrettable words" in shown  # readable by default, marked deleted
    settings.SHOW_DELETED_TEXT = False
    hidden = html(client.get("/messages"))
    assert "deleted by a moderator" in hidden and "regrettable words" not in hidden
    assert row_ids(client.get("/search?q=regrettable")) == []  # not found either


def test_it_greys_the_lines_a_timeout_ban_or_clear_covered(client, store):
    from messages_app.models import Kind

    store(
        chat(channel="forsen", username="troll", text="troll before", twitch_id="m1"),
        chat(channel="xqc", username="troll", text="troll elsewhere", twitch_id="m2"),
        chat(channel="forsen", username="fine", text="fine before", twitch_id="m3"),
        chat(channel="forsen", username="troll", text="", kind=Kind.CLEARCHAT,
             tags={"ban-duration": "600"}),
        chat(channel="forsen", username="troll", text="troll after", twitch_id="m4"),
    )  # fmt: skip
    page = html(client.get("/messages"))

    def row(text):
        start = page.rindex("<li", 0, page.index(text))
        return page[start : page.index(">", start)]

    assert "msg-moderated" in row("troll before")
    assert "msg-moderated" not in row("troll elsewhere")  # another channel
    assert "msg-moderated" not in row("fine before")  # another user
    assert "msg-moderated" not in row("troll after")  # after the timeout
    store(chat(channel="forsen", username="", text="", kind=Kind.CLEARCHAT))  # a clear
    cleared = html(client.get("/messages"))
    start = cleared.rindex("<li", 0, cleared.index("fine before"))
    assert "msg-moderated" in cleared[start : cleared.index(">", start)]
