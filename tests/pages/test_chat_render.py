"""Emotes, badges, links and names in chat rows (messages_app/chat_render.py and
the message_row tag). Emote tags are real ones from twitch-irc-rs's test suite."""

import json

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from live import events
from messages_app import chat_render
from messages_app.models import Message
from messages_app.templatetags.goknut import highlight
from tests.conftest import chat
from tests.pages.conftest import html

pytestmark = pytest.mark.django_db

KAPPA_LINE = "Kappa Keepo Kappa Kappa test Keepo Keepo 123 :) :) :P"
KAPPA_TAG = "1902:6-10,29-33,35-39/499:45-46,48-49/490:51-52/25:0-4,12-16,18-22"


def names(tag, text):
    return [(id_, text[start : end + 1]) for id_, start, end in chat_render.parse_emotes(tag, text)]


def row_of(store, **fields) -> str:
    store(chat(**fields))
    message = Message.objects.select_related("channel", "user").get()
    return render_to_string("partials/message_row.html", {"message": message})


# -- emotes -------------------------------------------------------------------


def test_it_reads_every_emote_of_a_tag_in_text_order():
    assert names(KAPPA_TAG, KAPPA_LINE) == [
        ("25", "Kappa"), ("1902", "Keepo"), ("25", "Kappa"), ("25", "Kappa"), ("1902", "Keepo"),
        ("1902", "Keepo"), ("499", ":)"), ("499", ":)"), ("490", ":P"),
    ]  # fmt: skip


def test_it_counts_emote_positions_in_code_points_after_emoji():
    assert names("483:2-3,7-8,12-13", "👉 <3 👉 <3 👉 <3") == [("483", "<3")] * 3


def test_it_takes_emote_ids_that_are_not_numbers():
    assert names("300196486_TK:0-7", "pajaM_TK") == [("300196486_TK", "pajaM_TK")]
    assert names("emotesv2_dc24652ada1e4c84a5e3ceebae4de709:0-3", "wave") == [
        ("emotesv2_dc24652ada1e4c84a5e3ceebae4de709", "wave")
    ]


RUSSIAN = "Я не такой красивый. Не урод, но до тебя далеко LUL"  # noqa: RUF001 (51 code points)
SWEDISH = "Då kan du begära skadestånd och förtal Kappa"  # 44


@pytest.mark.parametrize(
    "tag, text",
    [
        ("425618:49-51", RUSSIAN),  # Twitch's own off-by-one, one past the end
        ("25:41-45", SWEDISH),  # off by two
        ("25:44-48", SWEDISH),  # entirely outside the text
        ("25:4-0", RUSSIAN),  # reversed
        ("25:-1-3", RUSSIAN),
        ("25:a-b", RUSSIAN),
        ("25:0-99999999999", RUSSIAN),
        ("25:1-", RUSSIAN),
        (":0-4", RUSSIAN),
        ("a.b:0-4", RUSSIAN),  # an id that could not be part of a CDN path
        ("%2e%2e:0-4", RUSSIAN),
        ("25", RUSSIAN),
        ("///,,,::--", RUSSIAN),
        ("25:0-4", ""),
    ],
)
def test_it_ignores_bad_emote_ranges(tag, text):
    assert chat_render.parse_emotes(tag, text) == []


def test_it_drops_an_emote_overlapping_an_earlier_one():
    assert names("25:0-4/1902:2-6,6-10", "Kappa Keepo") == [("25", "Kappa"), ("1902", "Keepo")]


def test_a_row_shows_emote_names_when_images_are_off(store, settings):
    settings.EMOTE_IMAGES = False
    row = row_of(store, text=KAPPA_LINE, tags={"emotes": KAPPA_TAG})
    assert row.count('<span class="emote emote-name">Kappa</span>') == 3
    assert '<span class="emote emote-name">:)</span>' in row
    assert "static-cdn" not in row


def test_a_row_shows_emotes_as_twitch_images_with_their_names(store, settings):
    settings.EMOTE_IMAGES = True
    row = row_of(store, text="👉 <3 KEKW", tags={"emotes": "483:2-3"})
    cdn = "https://static-cdn.jtvnw.net/emoticons/v2/483/default/"
    assert f'srcset="{cdn}dark/1.0"' in row and f'src="{cdn}light/1.0"' in row
    assert 'alt="&lt;3" title="&lt;3"' in row
    assert "👉 <picture" in row and "</picture> KEKW" in row


# -- links --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, link",
    [
        ("see https://example.com/a?b=1&c=2.", ("https://example.com/a?b=1&amp;c=2",) * 2),
        ("go to example.com/path, now", ("https://example.com/path", "example.com/path")),
        ("www.twitch.tv/forsen!", ("https://www.twitch.tv/forsen", "www.twitch.tv/forsen")),
        ("(https://x.org/wiki/A_(b))", ("https://x.org/wiki/A_(b)",) * 2),
        ('http://x.com/"onmouseover="alert(1)', ("http://x.com/",) * 2),
        ("https://x.com/'onmouseover='a(1)'", ("https://x.com/&#x27;onmouseover=&#x27;a(1)",) * 2),
    ],
)
def test_it_links_http_urls(text, link):
    href, shown = link
    assert f'<a href="{href}" rel="nofollow noopener ugc">{shown}</a>' in chat_render.text_html(
        text, [], False
    )


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)",
        "javascript://example.com/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1) ftp://example.com/x",
        "me@example.com/x",
        "file.txt node.js e.g. 3.14",
        "https://<script>",
    ],
)
def test_it_links_nothing_else(text):
    assert "<a " not in chat_render.text_html(text, [], False)
    assert "<script" not in chat_render.text_html(text, [], False)


def test_a_row_escapes_text_around_links_and_emotes(store):
    row = row_of(
        store,
        text="<script>x</script> Kappa https://e.com/<b>",
        tags={"emotes": "25:19-23"},
    )
    assert "&lt;script&gt;x&lt;/script&gt; <span" in row
    assert '<a href="https://e.com/" rel="nofollow noopener ugc">https://e.com/</a>&lt;b&gt;' in row


def test_search_marks_words_inside_links_and_emotes(store, client):
    store(chat(text="look at example.com/kappa Kappa", tags={"emotes": "25:26-30"}))
    page = html(client.get("/search?q=kappa"))
    assert (
        '<a href="https://example.com/kappa" rel="nofollow noopener ugc">'
        "example.com/<mark>kappa</mark></a> "
        '<mark><span class="emote emote-name">Kappa</span></mark>'
    ) in page


def test_highlight_alone_still_escapes_and_marks():
    assert str(highlight("<b>kappa</b> x.org/kappa", ["kappa"])) == (
        '&lt;b&gt;<mark>kappa</mark>&lt;/b&gt; <a href="https://x.org/kappa" '
        'rel="nofollow noopener ugc">x.org/<mark>kappa</mark></a>'
    )


# -- badges -------------------------------------------------------------------


def test_it_reads_known_badges_with_the_exact_subscriber_months():
    badges = chat_render.parse_badges("moderator/1,subscriber/3012,glhf-pledge/1", "subscriber/14")
    assert badges == [("moderator", "Moderator"), ("subscriber", "Subscriber (14 months)")]
    assert chat_render.parse_badges("founder/0,subscriber/0", "founder/1") == [
        ("founder", "Founder (1 month)"),
        ("subscriber", "Subscriber"),
    ]


@pytest.mark.parametrize("badges", ["", None, "bits/100,sub-gifter/5", ",,//", "<img>/1"])
def test_it_ignores_unknown_badges(badges):
    assert chat_render.parse_badges(badges, "subscriber/x,") == []


def test_a_row_shows_badges_before_the_name(store):
    row = row_of(
        store,
        text="hi",
        tags={"badges": "broadcaster/1,vip/1,bits/1000", "badge-info": ""},
    )
    assert (
        '<span class="msg-badges"><img class="msg-badge" src="/static/badges/broadcaster.svg" '
        'alt="Broadcaster" title="Broadcaster" width="18" height="18">'
        '<img class="msg-badge" src="/static/badges/vip.svg" alt="VIP" title="VIP" '
        'width="18" height="18"></span> <a class="msg-user"'
    ) in row


def test_every_badge_has_its_svg(settings):
    for file, title in set(chat_render.BADGES.values()):
        svg = (settings.BASE_DIR / "static" / "badges" / f"{file}.svg").read_text()
        assert svg.startswith("<svg") and f"<title>{title}</title>" in svg


# -- names --------------------------------------------------------------------


@pytest.mark.parametrize(
    "display, shown",
    [
        ("Alice", "Alice"),
        ("ALICE", "ALICE"),
        ("", "alice"),
        ("Bob", 'Bob <span class="msg-login">(alice)</span>'),
        ("앨리스", '앨리스 <span class="msg-login">(alice)</span>'),
        ("\u212alice", '\u212alice <span class="msg-login">(alice)</span>'),  # Kelvin sign
        ("<i>A</i>", '&lt;i&gt;A&lt;/i&gt; <span class="msg-login">(alice)</span>'),
    ],
)
def test_a_name_shows_the_login_when_it_differs_other_than_by_case(display, shown):
    assert chat_render.name_html(display, "alice") == shown


def test_a_row_and_the_profile_heading_show_the_login_behind_a_display_name(store, client):
    row = row_of(store, username="xqc", display_name="forsen", text="hi")
    assert '>forsen <span class="msg-login">(xqc)</span></a>' in row
    page = html(client.get("/users/xqc"))
    assert '<h1>forsen <span class="muted">(xqc)</span></h1>' in page


# -- the live event (live.js places what the server parsed) ---------------------


def event_of(store, **fields) -> dict:
    store(chat(**fields))
    [row] = events.message_values(Message.objects.all())
    return events.message_payload(row)


def test_a_live_event_carries_the_parsed_emotes_and_badges(store):
    payload = event_of(
        store,
        text="👉 <3 Kappa",
        tags={"emotes": "483:2-3/25:5-9,40-44", "badges": "vip/1,bits/1", "badge-info": ""},
    )
    assert payload["emotes"] == [("483", 2, 3), ("25", 5, 9)]
    assert payload["badges"] == [("vip", "VIP")]
    assert json.loads(events.dumps(payload))["emotes"] == [["483", 2, 3], ["25", 5, 9]]


def test_a_live_event_without_emotes_or_badges_carries_neither(store):
    payload = event_of(store, text="plain", tags={"emotes": "", "badges": "glhf-pledge/1"})
    assert "emotes" not in payload and "badges" not in payload


def test_a_hidden_deleted_text_takes_its_emotes_along(store, settings):
    settings.SHOW_DELETED_TEXT = False
    store(chat(text="Kappa", twitch_id="gone", tags={"emotes": "25:0-4"}))
    Message.objects.update(deleted_at=timezone.now())
    [row] = events.message_values(Message.objects.all())
    payload = events.message_payload(row)
    assert payload["text"] == "" and "emotes" not in payload
