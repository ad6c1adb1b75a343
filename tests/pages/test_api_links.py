"""The pages' way into the logs API: a channel's "browse by date" control and
its day links, and a profile's "this month in this channel" links."""

import json
import re
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import resolve

from messages_app.models import Kind, Message, OptOut
from messages_app.writes import add_channel
from tests.conftest import chat
from tests.pages.conftest import ROW_ID_RE, html, row_ids

pytestmark = pytest.mark.django_db

MAY_1 = datetime(2024, 5, 1, tzinfo=UTC)
MAY_2 = MAY_1 + timedelta(days=1)
APRIL_9 = datetime(2024, 4, 9, 20, 0, tzinfo=UTC)


@pytest.fixture
def two_days(store):
    """forsen on 1 and 2 May 2024 (UTC), with lines right at both sides of
    midnight; xqc on 1 May too, and alice's earlier month in xqc."""
    store(
        chat("xqc", "alice", "alice in april", sent_at=APRIL_9),
        *[
            chat(
                "forsen",
                "alice" if n % 2 else "bob",
                f"first day {n}",
                sent_at=MAY_1 + timedelta(minutes=20 * n),
            )
            for n in range(60)
        ],
        chat("forsen", "bob", "last second of the first day", sent_at=MAY_2 - timedelta(seconds=1)),
        chat("xqc", "bob", "other channel, first day", sent_at=MAY_1 + timedelta(hours=3)),
        chat("forsen", "bob", "midnight of the second day", sent_at=MAY_2),
        *[
            chat(
                "forsen", "alice", f"second day {n}", sent_at=MAY_2 + timedelta(hours=1, minutes=n)
            )
            for n in range(5)
        ],
    )


def ids_on(day: datetime, channel: str = "forsen") -> list[int]:
    """The channel's message ids sent on that UTC day, newest first."""
    qs = Message.objects.filter(
        channel__name=channel, sent_at__gte=day, sent_at__lt=day + timedelta(days=1)
    )
    return list(qs.order_by("-id").values_list("id", flat=True))


def listed_ids(response) -> list[int]:
    """Ids of the rows of the channel's message list (not the moderation list)."""
    text = html(response)
    start = text.index('id="channel-messages"')
    return [int(i) for i in ROW_ID_RE.findall(text[start : text.index("</ol>", start)])]


def links(text: str) -> set[str]:
    """The page's links to logs in the API (the footer's link to the API docs aside)."""
    return set(re.findall(r'href="(/api/[^"]*)"', text)) - {"/api/docs"}


def link_to(text: str, label: str) -> str:
    """The href of the one link whose text contains `label`."""
    found = [
        href for href, name in re.findall(r'<a href="([^"]*)">(.*?)</a>', text) if label in name
    ]
    assert len(found) == 1, (label, found)
    return found[0].replace("&amp;", "&")


def api_body(client, url: str) -> bytes:
    """The body of a logs API answer (streamed from an async iterator, which the
    sync test client can still read whole; Django warns that it does so)."""
    response = client.get(url)
    assert response.status_code == 200, url
    if not response.streaming:
        return response.content
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return b"".join(response)


# -- the browse-by-date control ------------------------------------------------


def test_the_day_control_is_a_labelled_get_form(client, two_days):
    text = html(client.get("/channels/forsen"))
    form = text[text.index('aria-label="Browse by date"') - 60 : text.index("Show day</button>")]
    assert 'method="get" action="/channels/forsen"' in form
    assert (
        '<label for="f-day">Day <abbr title="Coordinated Universal Time">UTC</abbr></label>' in form
    )
    assert 'id="f-day" type="date" name="day" value=""' in form
    assert 'min="2024-04-09"' not in form  # xqc's day is not forsen's
    assert 'min="2024-05-01" max="2024-05-02"' in form


def test_the_day_control_shows_only_that_utc_day(client, two_days):
    response = client.get("/channels/forsen?day=2024-05-01")
    assert response.status_code == 200
    text = html(response)
    assert listed_ids(response) == ids_on(MAY_1)[:50]
    assert "last second of the first day" in text
    assert "midnight of the second day" not in text
    assert "second day 0" not in text
    assert "other channel, first day" not in text
    assert 'value="2024-05-01"' in text
    assert "Messages on 2024-05-01" in text
    assert "data-live-root" not in text  # a past day does not follow the stream


def test_the_second_day_starts_at_midnight(client, two_days):
    response = client.get("/channels/forsen?day=2024-05-02")
    assert listed_ids(response) == ids_on(MAY_2)
    assert "midnight of the second day" in html(response)
    assert "last second of the first day" not in html(response)
    assert "That is the first message of 2024-05-02 (UTC)." in html(response)


def test_load_earlier_stays_inside_the_day(client, two_days):
    page = client.get("/channels/forsen?day=2024-05-01")
    seen = row_ids(page)
    assert f'hx-get="/channels/forsen/rows?day=2024-05-01&amp;before={seen[-1]}"' in html(page)
    older = client.get(
        f"/channels/forsen/rows?day=2024-05-01&before={seen[-1]}", HTTP_HX_REQUEST="true"
    )
    seen += row_ids(older)
    assert seen == ids_on(MAY_1)
    assert "That is the first message of 2024-05-01 (UTC)." in html(older)
    # Without JavaScript, the same button is a link to the day's next page.
    plain = client.get(f"/channels/forsen?day=2024-05-01&before={row_ids(page)[-1]}")
    assert row_ids(plain) == ids_on(MAY_1)[50:]
    assert 'href="/channels/forsen?day=2024-05-01"' in html(plain)  # back to the day's newest


def test_a_day_without_lines_says_so(client, two_days):
    response = client.get("/channels/forsen?day=2024-04-30")
    assert response.status_code == 200
    text = html(response)
    assert listed_ids(response) == []
    assert "No messages in #forsen on 2024-04-30 (UTC)." in text
    assert "runs from 2024-05-01 to 2024-05-02" in text
    assert links(text) == set()  # no logs to download for that day


@pytest.mark.parametrize(
    "value", ["2024-13-01", "2024-02-30", "yesterday", "05/01/2024", "0000-01-01", "99999-01-01"]
)
def test_an_invalid_date_shows_the_forms_error(client, two_days, value):
    for path in ("/channels/forsen", "/channels/forsen/rows"):
        response = client.get(path, {"day": value})
        assert response.status_code == 400
        assert "Day (UTC): Enter a valid date." in html(response)


def test_a_day_and_a_time_range_together_are_refused(client, two_days):
    response = client.get("/channels/forsen?day=2024-05-01&since=2024-05-01T10:00")
    assert response.status_code == 400
    assert "Use either a day or since/until, not both." in html(response)


def test_a_day_keeps_its_moderation_lines_at_both_edges(client, store):
    """Bans and clears count in no minute bucket: the day's bounds come from
    the channel's days, which count every kind."""
    store(
        chat("forsen", "", "", kind=Kind.CLEARCHAT, sent_at=MAY_1 + timedelta(seconds=5)),
        chat("forsen", "bob", "only chat", sent_at=MAY_1 + timedelta(hours=12)),
        chat(
            "forsen",
            "bob",
            "",
            kind=Kind.CLEARCHAT,
            tags={"ban-duration": "600"},
            sent_at=MAY_2 - timedelta(seconds=30),
        ),
        chat("forsen", "", "", kind=Kind.CLEARCHAT, sent_at=MAY_2 + timedelta(hours=2)),
    )
    first = client.get("/channels/forsen?day=2024-05-01")
    assert listed_ids(first) == ids_on(MAY_1)
    assert len(ids_on(MAY_1)) == 3
    second = client.get("/channels/forsen?day=2024-05-02")  # nothing but a clear of the chat
    assert listed_ids(second) == ids_on(MAY_2) != []
    assert "/api/channel/forsen/2024/5/2" in links(html(second))


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("since=0001-01-01T00:30:00%2B01:00", 400),  # before year 1 in UTC
        ("until=9999-12-31T23:59:59-05:00", 400),  # after year 9999 in UTC
        ("until=0001-01-01T00:00", 200),  # the first instant: nothing before it
    ],
)
def test_times_at_the_ends_of_the_calendar_are_never_a_500(client, two_days, query, status):
    response = client.get(f"/channels/forsen?{query}")
    assert response.status_code == status
    if status == 400:
        assert "Enter a time within years 1 to 9999 in UTC." in html(response)
    else:
        assert listed_ids(response) == []
        assert "No messages in #forsen in that time range." in html(response)


def test_the_last_possible_day_is_an_empty_day_not_an_error(client, two_days):
    response = client.get("/channels/forsen?day=9999-12-31")
    assert response.status_code == 200
    assert "No messages in #forsen on 9999-12-31 (UTC)." in html(response)


# -- the day's links -----------------------------------------------------------


def test_the_newest_day_is_linked_when_no_day_is_chosen(client, two_days):
    text = html(client.get("/channels/forsen"))
    assert links(text) == {
        "/api/channel/forsen/2024/5/2",
        "/api/channel/forsen/2024/5/2?json",
        "/api/channel/forsen/2024/5/2?raw",
    }
    assert '<a href="/channels/forsen?day=2024-05-02">2024-05-02</a>' in text
    assert ">this day as text</a>" in text


def test_the_chosen_day_is_linked_unpadded(client, two_days):
    text = html(client.get("/channels/forsen?day=2024-05-01"))
    assert links(text) == {
        "/api/channel/forsen/2024/5/1",
        "/api/channel/forsen/2024/5/1?json",
        "/api/channel/forsen/2024/5/1?raw",
    }
    assert resolve("/api/channel/forsen/2024/5/1").view_name == "logs_api:logs"


def test_following_the_day_links_gets_that_days_lines(client, two_days):
    page = html(client.get("/channels/forsen?day=2024-05-01"))
    as_text, as_json, as_raw = (link_to(page, label) for label in ("as text", "JSON", "raw IRC"))
    text = api_body(client, as_text).decode()
    assert "last second of the first day" in text
    assert "midnight of the second day" not in text
    assert len(text.strip().splitlines()) == len(ids_on(MAY_1))
    answer = json.loads(api_body(client, as_json))
    assert [m["text"] for m in answer["messages"]][-1] == "last second of the first day"
    raw = api_body(client, as_raw).decode()
    assert "PRIVMSG #forsen :last second of the first day" in raw


def test_an_empty_channel_has_the_control_but_no_links(client, two_days):
    add_channel("quietone")
    response = client.get("/channels/quietone")
    assert response.status_code == 200
    text = html(response)
    assert 'id="f-day" type="date"' in text
    assert " min=" not in text
    assert links(text) == set()


def test_no_links_to_a_channel_that_opted_out(client, two_days):
    OptOut.objects.create(subject=OptOut.Subject.CHANNEL, login="forsen")
    text = html(client.get("/channels/forsen"))
    assert links(text) == set()
    assert client.get("/api/channel/forsen/2024/5/2").status_code == 403  # what it would meet


# -- the profile's month links -------------------------------------------------


def test_the_profile_links_each_channels_newest_month(client, two_days):
    text = html(client.get("/users/alice"))
    assert links(text) == {
        "/api/channel/forsen/user/alice/2024/5",
        "/api/channel/forsen/user/alice/2024/5?json",
        "/api/channel/xqc/user/alice/2024/4",
        "/api/channel/xqc/user/alice/2024/4?json",
    }
    assert (
        '2024-05: <a href="/api/channel/forsen/user/alice/2024/5">this month in this channel'
        in text
    )
    assert "(#xqc, 2024-04, as text)" in text  # each link's name says which


def test_following_the_month_links_gets_the_users_lines(client, two_days):
    page = html(client.get("/users/alice"))
    text = api_body(client, link_to(page, "#forsen, 2024-05, as text")).decode()
    lines = text.strip().splitlines()
    assert len(lines) == 35  # 30 on the first day, 5 on the second
    assert all("alice:" in line for line in lines)
    assert "second day 4" in lines[-1]
    answer = json.loads(api_body(client, link_to(page, "#xqc, 2024-04)")))
    assert [m["text"] for m in answer["messages"]] == ["alice in april"]


def test_a_user_with_no_lines_has_no_links(client, two_days, store):
    """Banned before ever chatting: known as a user, with no chat lines."""
    store(chat("forsen", "carol", "", kind=Kind.CLEARCHAT, sent_at=MAY_1))
    response = client.get("/users/carol")
    assert response.status_code == 200
    assert "No messages in any archived channel." in html(response)
    assert links(html(response)) == set()


def test_a_user_who_opted_out_has_no_profile_and_no_links(client, two_days):
    """Even before the erasure has run: the profile says they opted out."""
    OptOut.objects.create(subject=OptOut.Subject.USER, login="alice")
    response = client.get("/users/alice")
    assert response.status_code == 410
    assert "alice opted out of this archive" in html(response)
    assert links(html(response)) == set()
    assert "second day" not in html(response)


def test_a_channel_that_opted_out_has_no_month_link(client, two_days):
    OptOut.objects.create(subject=OptOut.Subject.CHANNEL, login="xqc")
    assert links(html(client.get("/users/alice"))) == {
        "/api/channel/forsen/user/alice/2024/5",
        "/api/channel/forsen/user/alice/2024/5?json",
    }
