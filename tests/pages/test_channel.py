"""/channels/<name>: a channel's messages, "load earlier", archived notice, 404."""

import pytest

from messages_app.models import Channel, Message
from messages_app.writes import delete_channel
from tests.conftest import chat
from tests.pages.conftest import HOSTILE, html, newest_ids, row_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(store):
    store(*[chat("forsen" if n % 3 else "xqc", text=f"line {n}") for n in range(130)])


def test_it_shows_the_channels_recent_messages(client, history):
    response = client.get("/channels/forsen")
    assert response.status_code == 200
    assert row_ids(response) == newest_ids(50, channel__name="forsen")
    text = html(response)
    assert "<h1>#forsen</h1>" in text
    assert 'class="msg-list hide-channel"' in text


def test_it_renders_the_live_hooks(client, history):
    text = html(client.get("/channels/forsen"))
    cursor = newest_ids(1, channel__name="forsen")[0]
    assert 'data-live-view="channel"' in text
    assert f'data-live-url="/live?view=channel&amp;after_id={cursor}&amp;channel=forsen"' in text
    assert 'data-poll-url="/channels/forsen/rows"' in text


def test_it_loads_earlier_messages_until_history_runs_out(client, history):
    expected = newest_ids(200, channel__name="forsen")
    seen = row_ids(client.get("/channels/forsen"))
    response = None
    for _ in range(10):
        response = client.get(f"/channels/forsen/rows?before={seen[-1]}", HTTP_HX_REQUEST="true")
        ids = row_ids(response)
        if not ids:
            break
        seen += ids
    assert seen == expected
    assert "beginning of this channel" in html(response)
    assert 'rel="next"' not in html(response)


def test_the_load_earlier_control_works_without_javascript(client, history):
    first = row_ids(client.get("/channels/forsen"))
    text = html(client.get("/channels/forsen"))
    assert f'href="/channels/forsen?before={first[-1]}"' in text
    assert f'hx-get="/channels/forsen/rows?before={first[-1]}"' in text
    older = client.get(f"/channels/forsen?before={first[-1]}")
    assert row_ids(older) == newest_ids(200, channel__name="forsen")[50:100]
    assert "data-live-list" not in html(older)


def test_the_rows_partial_returns_newer_rows_for_polling(client, history, store):
    cursor = newest_ids(1)[0]
    store(chat("forsen", text="new here"), chat("xqc", text="not here"))
    response = client.get(f"/channels/forsen/rows?after_id={cursor}")
    assert row_ids(response) == newest_ids(1, channel__name="forsen")
    assert "new here" in html(response)


def test_it_shows_an_archived_notice_for_channels_deleted_with_history(client, history):
    delete_channel(Channel.objects.get(name="xqc"), keep_history=True)
    response = client.get("/channels/xqc")
    assert response.status_code == 200
    text = html(response)
    assert "Archived channel." in text
    assert "data-live-root" not in text
    assert row_ids(response) == newest_ids(50, channel__name="xqc")


def test_it_gives_a_helpful_404_for_unknown_channels(client):
    response = client.get("/channels/nobody")
    assert response.status_code == 404
    text = html(response)
    assert "No channel named “nobody” is archived here." in text
    assert 'href="/channels"' in text


def test_it_escapes_hostile_chat_and_display_names(client, store):
    store(chat("forsen", text=HOSTILE))
    Channel.objects.filter(name="forsen").update(display_name="<img src=x onerror=alert(1)>")
    text = html(client.get("/channels/forsen"))
    assert "<img src=x" not in text
    assert "&lt;script&gt;" in text


def test_it_says_when_a_channel_has_no_messages(client):
    Channel.objects.create(name="quiet")
    text = html(client.get("/channels/quiet"))
    assert "No messages archived in #quiet yet" in text
    assert 'data-live-cursor="0"' in text


def test_it_rejects_bad_cursors(client, history):
    assert client.get("/channels/forsen?before=x").status_code == 400
    assert client.get("/channels/forsen/rows?after_id=1.5").status_code == 400
    assert Message.objects.exists()


def test_it_lists_the_channels_timeouts_and_bans(client, store):
    from messages_app.models import Kind

    store(
        chat(channel="forsen", username="spammer", text="buy followers"),
        chat(channel="forsen", username="spammer", text="", kind=Kind.CLEARCHAT,
             tags={"ban-duration": "600"}),
        chat(channel="forsen", username="troll", text="", kind=Kind.CLEARCHAT),
        chat(channel="xqc", username="other", text="", kind=Kind.CLEARCHAT),
    )  # fmt: skip
    page = html(client.get("/channels/forsen"))
    section = page[page.index("Timeouts and bans") :]
    assert "spammer</a> was timed out for 10 minutes" in section
    assert "troll</a> was banned" in section
    assert "other</a>" not in section
