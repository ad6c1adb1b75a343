"""The activity charts of /channels/<name> and /users/<name>: the SVG's bars
and cells and the table under each say the numbers stored, names are
escaped, and the charts read only their small tables."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from html import escape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messages_app import charts
from messages_app.models import Channel, ChatUser, Kind
from tests.conftest import chat
from tests.pages.conftest import HOSTILE, html

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)
# Minutes before NOW of #forsen's chat: this hour (or the one before, at :00),
# 3 hours ago, 5 days ago (only on the daily chart and the heatmap) and 40
# days ago (on none).
FORSEN = [1, 1, 1, 180, 180, 5 * 1440, 5 * 1440, 5 * 1440, 5 * 1440, 40 * 1440]


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def hour_key(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H")


def heat_key(moment: datetime) -> str:
    return f"{moment.weekday()}-{moment.hour}"


def figure(text: str, chart_id: str) -> str:
    start = text.index(f'id="{chart_id}" data-chart=')
    return text[start : text.index("</figure>", start)]


def drawn(part: str) -> dict[str, int]:
    """Bar or cell key -> the count the SVG draws."""
    found = re.findall(r'data-chart-(?:bar|heat)="([^"]+)" data-count="(\d+)"', part)
    return {key: int(n) for key, n in found if int(n)}


def tabled(part: str) -> dict[str, int]:
    """Key -> the number the chart's table shows."""
    found = re.findall(r'data-chart-value="([^"]+)">([\d,]+)<', part)
    return {key: int(n.replace(",", "")) for key, n in found if n != "0"}


@pytest.fixture
def forsen(store):
    store(
        *[chat("forsen", "alice", f"line {m}", sent_at=ago(m)) for m in FORSEN],
        chat("forsen", "bob", "", kind=Kind.USERNOTICE, system_text="subbed", sent_at=ago(2)),
        chat("forsen", "bob", "", kind=Kind.CLEARCHAT, sent_at=ago(2)),  # a timeout: not chat
        *[chat("xqc", "alice", "elsewhere", sent_at=ago(1)) for _ in range(7)],
    )
    return Channel.objects.get(name="forsen")


def test_it_draws_the_channels_messages_per_hour(client, forsen):
    part = figure(html(client.get("/channels/forsen")), "chart-hours")
    expected = Counter(hour_key(ago(m)) for m in [*FORSEN, 2] if m < 48 * 60)
    assert drawn(part) == tabled(part) == dict(expected)
    assert "data-chart-total>6</span> in all" in part
    # The busiest hour reaches the top line; the others are as high as their share.
    peak = max(expected.values())
    assert f'data-chart-peak="{peak}"' in part
    assert f'data-chart-bar="{max(expected, key=expected.get)}" data-count="{peak}"' in part
    assert re.search(
        rf'y="{charts.TOP}(\.0)?" width="[\d.]+" height="{charts.BASE - charts.TOP}', part
    )


def test_it_draws_the_channels_messages_per_day_for_thirty_days(client, forsen):
    part = figure(html(client.get("/channels/forsen")), "chart-days")
    expected = Counter(ago(m).date().isoformat() for m in [*FORSEN, 2] if m < 29 * 1440)
    assert drawn(part) == tabled(part) == dict(expected)
    assert "data-chart-total>10</span> in all" in part
    assert part.count("data-chart-row=") == charts.DAYS


def test_it_draws_the_busiest_hours_of_the_last_four_weeks(client, forsen):
    part = figure(html(client.get("/channels/forsen")), "chart-heat")
    expected = Counter(heat_key(ago(m)) for m in [*FORSEN, 2] if m < 28 * 1440)
    assert drawn(part) == tabled(part) == dict(expected)
    busiest = max(expected, key=expected.get)
    assert f'class="chart-heat heat-{charts.LEVELS}" ' in part
    assert re.search(rf'heat-{charts.LEVELS}" [^>]* data-chart-heat="{busiest}"', part)
    assert part.count("<td ") == 7 * 24


def test_the_profile_draws_the_users_days_in_every_channel(client, forsen):
    part = figure(html(client.get("/users/alice")), "chart-user-days")
    moments = [m for m in FORSEN if m < 29 * 1440] + [1] * 7  # the seven in #xqc too
    expected = Counter(ago(m).date().isoformat() for m in moments)
    assert drawn(part) == tabled(part) == dict(expected)
    assert "Messages per day by Alice" in part or "Messages per day by alice" in part


def test_each_chart_is_an_image_with_a_name_and_a_table(client, forsen):
    text = html(client.get("/channels/forsen"))
    for chart_id in ("chart-hours", "chart-days", "chart-heat"):
        part = figure(text, chart_id)
        assert f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc"' in part
        assert f'<title id="{chart_id}-title">' in part
        assert f'<desc id="{chart_id}-desc">' in part
        assert '<caption class="visually-hidden">' in part
        assert "<summary>Table" in part
    assert "/static/js/charts.js" in text


def test_hostile_names_are_escaped_in_the_charts(client, store):
    store(chat("forsen", "mallory", HOSTILE, display_name=HOSTILE))
    text = html(client.get("/users/mallory"))
    part = figure(text, "chart-user-days")
    assert f"Messages per day by {escape(HOSTILE)}" in part
    assert HOSTILE not in text
    assert "<script>alert" not in text


def test_the_charts_follow_the_stream_only_when_the_page_does(client, forsen):
    assert html(client.get("/channels/forsen")).count("data-chart-live") == 3
    day = ago(1).date().isoformat()
    assert "data-chart-live" not in html(client.get(f"/channels/forsen?day={day}"))
    assert html(client.get("/users/alice")).count("data-chart-live") == 1
    # A profile narrowed to a channel streams that channel only: its chart would miss the rest.
    assert "data-chart-live" not in html(client.get("/users/alice?channel=forsen"))


def test_the_charts_read_one_small_table_each_never_the_messages(forsen):
    alice = ChatUser.objects.get(username="alice")
    for build, tables in (
        (lambda: charts.channel_charts(forsen, follow=True), "messages_app_channelhour"),
        (lambda: charts.user_charts(alice, follow=True), "messages_app_userday"),
    ):
        with CaptureQueriesContext(connection) as queries:
            build()
        assert len(queries) == 1
        assert tables in queries[0]["sql"]
        assert "messages_app_message" not in queries[0]["sql"]


def test_a_channel_without_chat_draws_empty_charts(client):
    Channel.objects.create(name="quiet")
    text = html(client.get("/channels/quiet"))
    for chart_id in ("chart-hours", "chart-days", "chart-heat"):
        part = figure(text, chart_id)
        assert drawn(part) == tabled(part) == {}
        assert "data-chart-total>0</span> in all" in part
