"""partials/message_row.html: the one row of every message list, on the pages and
in the polling partials (live rows are built by live.js rowHtml, its twin, held
equal to it by tests/browser/test_live_rows.py)."""

import pytest
from django.template.loader import render_to_string

from messages_app.colors import DARK_BACKGROUND, LIGHT_BACKGROUND, contrast, name_colors
from messages_app.models import Message
from tests.conftest import chat
from tests.pages.conftest import HOSTILE, html

pytestmark = pytest.mark.django_db


def rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def test_it_is_the_same_row_on_the_page_and_in_the_polling_partial(client, store):
    store(chat(text="same everywhere", tags={"color": "#8A2BE2"}, is_action=True))
    message = Message.objects.select_related("channel", "user").get()
    row = render_to_string("partials/message_row.html", {"message": message})
    assert row.strip() in html(client.get("/messages"))
    assert row.strip() in html(client.get("/messages/rows?after_id=0"))
    assert 'class="msg msg-action"' in row


def test_it_escapes_everything_from_chat(store):
    store(chat(username="x", display_name='"><svg onload=alert(1)>', text=HOSTILE))
    message = Message.objects.select_related("channel", "user").get()
    row = render_to_string("partials/message_row.html", {"message": message})
    assert "<script" not in row and "<svg" not in row and "<img" not in row
    assert "&lt;img src=x onerror=alert(1)&gt;" in row
    assert "&quot;&gt;&lt;svg onload=alert(1)&gt;" in row


def test_it_links_names_it_cannot_route_safely(store):
    store(chat(username="we?ird#name"))
    message = Message.objects.select_related("channel", "user").get()
    row = render_to_string("partials/message_row.html", {"message": message})
    assert 'href="/users/we%3Fird%23name"' in row


@pytest.mark.parametrize(
    "color", ["#0000FF", "#000000", "#FFFFFF", "#FFFF00", "#1E90FF", "#8A2BE2", "#00FF7F", "#f00"]
)
def test_name_colours_are_readable_in_both_themes(color):
    light, dark = name_colors(color)
    assert contrast(rgb(light), LIGHT_BACKGROUND) >= 4.5
    assert contrast(rgb(dark), DARK_BACKGROUND) >= 4.5


@pytest.mark.parametrize(
    "color", ["red", "#12345", "#1234567", "#0000FF;background:url(x)", "", "expression(x)"]
)
def test_anything_but_a_hex_colour_is_ignored(color):
    assert name_colors(color) is None
