import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static

from messages_app.models import Channel
from tests.conftest import chat
from tests.pages.conftest import HOSTILE, html, newest_ids, row_ids

pytestmark = pytest.mark.django_db


def metric(response, name: str) -> str:
    text = html(response)
    start = text.index(f'data-metric="{name}">') + len(f'data-metric="{name}">')
    return text[start : text.index("<", start)]


def test_it_shows_totals_from_the_counters(client, store):
    store(chat("forsen", "a"), chat("forsen", "b"), chat("xqc", "a"))
    response = client.get("/")
    assert response.status_code == 200
    assert metric(response, "total_messages") == "3"
    assert metric(response, "total_channels") == "2"
    assert metric(response, "total_users") == "2"


def test_it_counts_messages_of_channels_deleted_with_history_but_not_the_channels(client, store):
    from messages_app.writes import delete_channel

    store(chat("forsen"), chat("xqc"))
    delete_channel(Channel.objects.get(name="xqc"), keep_history=True)
    response = client.get("/")
    assert metric(response, "total_messages") == "2"
    assert metric(response, "total_channels") == "1"


def test_it_shows_messages_in_the_last_minute_and_hour(client, store):
    now = datetime.now(UTC)
    store(chat(sent_at=now), chat(sent_at=now - timedelta(minutes=30)))
    store(chat(sent_at=now - timedelta(hours=3)))
    response = client.get("/")
    assert metric(response, "last_minute") == "1"
    assert metric(response, "last_hour") == "2"


def test_it_lists_the_latest_50_messages_newest_first(client, store):
    store(*[chat(text=f"line {n}") for n in range(55)])
    response = client.get("/")
    assert row_ids(response) == newest_ids(50)
    assert "line 54" in html(response)
    assert "line 4<" not in html(response)


def test_it_renders_the_live_hooks(client, store):
    store(chat(channel="forsen"))
    response = client.get("/")
    text = html(response)
    cursor = newest_ids(1)[0]
    assert 'data-live-root data-live-view="home"' in text
    assert f'data-live-url="/live?view=home&amp;after_id={cursor}"' in text
    assert f'data-live-cursor="{cursor}"' in text
    assert "data-live-status" in text
    assert 'data-live-list="messages" data-order="newest-first" data-cap="500"' in text
    assert 'data-poll-url="/messages/rows"' in text
    assert 'data-poll-url="/home/metrics" data-poll-mode="replace"' in text


def test_it_leaves_out_the_stream_url_when_sse_is_off(client, store, settings):
    settings.ENABLE_SSE = False
    store(chat())
    text = html(client.get("/"))
    assert "data-live-root" in text
    assert "data-live-url" not in text
    assert 'data-state="polling"' in text


def test_it_starts_with_cursor_zero_and_a_helpful_empty_state(client):
    text = html(client.get("/"))
    assert 'data-live-cursor="0"' in text
    assert "No chat archived yet" in text


def test_it_escapes_hostile_chat(client, store):
    store(chat(text=HOSTILE, display_name="<b>bold</b>"))
    text = html(client.get("/"))
    assert "<script>alert" not in text
    assert "<img src=x" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text


def test_it_serves_the_metrics_partial(client, store):
    store(chat(), chat())
    response = client.get("/home/metrics")
    assert response.status_code == 200
    assert metric(response, "total_messages") == "2"
    assert "<html" not in html(response)


def test_it_loads_the_assets_from_our_own_server(client):
    text = html(client.get("/"))
    assert '<script src="/static/live/live.js" defer></script>' in text
    assert '<script src="/static/js/localtime.js" defer></script>' in text
    assert 'href="/static/css/goknut.css"' in text
    assert "htmx-2.min.js" in text
    assert "https://" not in text.split("<body")[0]


def test_it_has_landmarks_and_a_skip_link(client):
    text = html(client.get("/"))
    assert '<a class="skip-link" href="#main">' in text
    for landmark in ("<header", "<nav", '<main id="main"', "<footer"):
        assert landmark in text
    assert 'aria-current="page">Overview' in text


def test_it_renders_times_in_utc_for_the_local_time_script(client, store):
    store(chat(sent_at=datetime(2024, 5, 1, 18, 30, 5, tzinfo=UTC)))
    text = html(client.get("/"))
    expected = '<time datetime="2024-05-01T18:30:05Z" title="2024-05-01 18:30:05 UTC">'
    assert expected + "2024-05-01 18:30</time>" in text


def test_unknown_urls_get_the_friendly_404_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "There is no page here" in html(response)
    assert 'href="/channels"' in html(response)


def test_it_names_an_icon_that_is_served(client):
    html = client.get("/").content.decode()
    href = re.search(r'<link rel="icon" href="([^"]+)"', html).group(1)
    # daphne serves static files (the browser suite loads it); here, find it.
    assert href == static("favicon.svg") and finders.find("favicon.svg")
    # What browsers ask for when a page names no icon, e.g. a JSON response.
    assert client.get("/favicon.ico").url == href
