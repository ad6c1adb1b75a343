"""Emotes, badges, links and names as a visitor sees them in chat rows, on a
page load and in a row that arrives live. The tests stay offline: by default
emotes are names (EMOTE_IMAGES=false, tests/conftest.py); with images on, every
request that leaves 127.0.0.1 is refused by Playwright routing and recorded."""

from __future__ import annotations

import re

import pytest

from messages_app.ingest.simulator import privmsg as chat_line
from messages_app.ingest.simulator import usernotice
from tests.browser import support
from tests.browser.live_dom import ROWS_JS, wait_for, wait_live

CDN = "https://static-cdn.jtvnw.net/emoticons/v2/"
CDN_URL = re.compile(
    r"https://static-cdn\.jtvnw\.net/emoticons/v2/[0-9a-z_]+/default/(dark|light)/1\.0"
)
EMOTE_IDS = {"Kappa": "25", "<3": "483", "Keepo": "1902", "PogChamp": "305954156"}


def emote_tag(text: str, ids: dict[str, str] = EMOTE_IDS) -> str:
    """The `emotes` tag Twitch would send for `text`: every word that is an
    emote, at its range in code points (what Python's str counts)."""
    ranges: dict[str, list[str]] = {}
    at = 0
    for word in text.split(" "):
        if word in ids:
            ranges.setdefault(ids[word], []).append(f"{at}-{at + len(word) - 1}")
        at += len(word) + 1
    return "/".join(f"{id_}:{','.join(spans)}" for id_, spans in ranges.items())


def rich_lines(marker: str) -> list[str]:
    """Chat with emotes after emoji, badges, links and hostile text."""
    text = (
        f"{marker} 👉 <3 Kappa 日本語 😀 Keepo see https://example.com/a?b=1&c=2. or "
        "example.org/path, javascript:alert(1) <script>window.__pwned=1</script> Kappa"
    )
    resub = f"{marker} 12 months PogChamp at www.twitch.tv/forsen!"
    quoted = f"{marker} https://x.com/'onmouseover='window.__pwned=2' \"https://y.com/\"><b>x</b>"
    return [
        chat_line(
            "forsen",
            "hana",
            text,
            tags={
                "emotes": emote_tag(text),
                "badges": "moderator/1,subscriber/12,bits/1000",
                "badge-info": "subscriber/14",
                "display-name": "Hana",
                "color": "#8A2BE2",
            },
        ),
        chat_line(
            "forsen",
            "impostor",
            f"{marker} waves Kappa",
            action=True,
            tags={
                "emotes": emote_tag(f"{marker} waves Kappa"),
                "badges": "vip/1",
                "display-name": "forsen",
            },
        ),
        chat_line("forsen", "quoted", quoted, tags={"badges": "broadcaster/1,premium/1"}),
        usernotice(
            "forsen",
            "ivan",
            "resub",
            text=resub,
            params={"cumulative-months": "12"},
            tags={
                "emotes": emote_tag(resub),
                "badges": "founder/0",
                "badge-info": "founder/3",
                "display-name": "이반",
            },
        ),
    ]


ROW_FACTS_JS = """
(marker) => [...document.querySelectorAll('[data-live-list] > [data-id]')]
  .filter((row) => row.textContent.includes(marker))
  .map((row) => ({
    user: row.dataset.user,
    name: row.querySelector('.msg-user').textContent,
    emoteNames: [...row.querySelectorAll('.msg-text .emote-name')].map((e) => e.textContent),
    emoteImages: [...row.querySelectorAll('.msg-text picture.emote img')].map((img) => ({
      alt: img.alt, title: img.title, src: img.getAttribute('src'),
      dark: img.parentNode.querySelector('source').getAttribute('srcset'),
      loaded: img.complete && img.naturalWidth > 0})),
    badges: [...row.querySelectorAll('.msg-badges img')].map((img) => ({
      alt: img.alt, title: img.title, loaded: img.complete && img.naturalWidth > 0})),
    links: [...row.querySelectorAll('.msg-text a')].map((a) => ({
      href: a.getAttribute('href'), rel: a.rel, text: a.textContent})),
    text: row.querySelector('.msg-text').textContent,
  }))
"""


def facts(page, marker: str) -> dict[str, dict]:
    return {row["user"]: row for row in page.evaluate(ROW_FACTS_JS, marker)}


def wait_rows(page, marker: str, count: int) -> None:
    wait_for(page, lambda _s: len(page.evaluate(ROWS_JS, marker)) == count, 10, f"{count} rows")


def wait_badges_loaded(page, marker: str) -> None:
    def loaded(_snap):
        rows = facts(page, marker).values()
        return all(badge["loaded"] for row in rows for badge in row["badges"])

    wait_for(page, loaded, 10, "every badge image loaded")


def offline(page) -> list[str]:
    """Refuse (and record) every request that leaves 127.0.0.1."""
    outside: list[str] = []

    def route(route):
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    return outside


def assert_rich_rows(rows: dict[str, dict], *, images: bool) -> None:
    hana, impostor, quoted, ivan = rows["hana"], rows["impostor"], rows["quoted"], rows["ivan"]
    emote_names = ["<3", "Kappa", "Keepo", "Kappa"]
    if images:
        assert [e["alt"] for e in hana["emoteImages"]] == emote_names
        assert [e["title"] for e in hana["emoteImages"]] == emote_names
        assert [e["src"] for e in hana["emoteImages"]][:2] == [
            f"{CDN}483/default/light/1.0",
            f"{CDN}25/default/light/1.0",
        ]
        assert hana["emoteImages"][0]["dark"] == f"{CDN}483/default/dark/1.0"
        assert not any(e["loaded"] for e in hana["emoteImages"])
        assert hana["emoteNames"] == []
    else:
        assert hana["emoteNames"] == emote_names
        assert hana["emoteImages"] == []
        assert ivan["emoteNames"] == ["PogChamp"] and impostor["emoteNames"] == ["Kappa"]
        # The text around the emotes is where it was: positions count code points.
        assert "👉 <3 Kappa 日本語 😀 Keepo see " in hana["text"]
    assert "<script>window.__pwned=1</script>" in hana["text"]
    assert [b["alt"] for b in hana["badges"]] == ["Moderator", "Subscriber (14 months)"]
    assert [b["title"] for b in ivan["badges"]] == ["Founder (3 months)"]
    assert [b["alt"] for b in quoted["badges"]] == ["Broadcaster", "Prime Gaming"]
    assert hana["links"] == [
        {"href": "https://example.com/a?b=1&c=2", "rel": "nofollow noopener ugc",
         "text": "https://example.com/a?b=1&c=2"},
        {"href": "https://example.org/path", "rel": "nofollow noopener ugc",
         "text": "example.org/path"},
    ]  # fmt: skip
    assert ivan["links"][0]["href"] == "https://www.twitch.tv/forsen"
    assert [link["href"] for link in quoted["links"]] == [
        "https://x.com/'onmouseover='window.__pwned=2",
        "https://y.com/",
    ]
    assert impostor["name"] == "forsen (impostor)"
    assert ivan["name"] == "이반 (ivan)" and hana["name"] == "Hana"


def test_it_shows_emote_names_badges_and_links_on_load_and_live(open_page, server):
    marker = f"rich{support.token()}"
    loaded = f"{marker}a"
    support.ingest(server.database_url, rich_lines(loaded))
    page = open_page(server.url)
    outside = offline(page)
    page.goto("/messages")
    wait_live(page)
    wait_badges_loaded(page, loaded)
    assert_rich_rows(facts(page, loaded), images=False)

    streamed = f"{marker}b"
    support.ingest(server.database_url, rich_lines(streamed))
    wait_rows(page, streamed, 4)
    wait_badges_loaded(page, streamed)
    assert_rich_rows(facts(page, streamed), images=False)
    assert page.evaluate("window.__pwned") is None
    assert outside == []


@pytest.fixture(scope="module")
def emote_server(module_db_url, tmp_path_factory):
    """A daphne with EMOTE_IMAGES=true (the production default)."""
    log = tmp_path_factory.mktemp("daphne-emotes") / "daphne.log"
    daphne = support.Daphne(module_db_url, log, env={"EMOTE_IMAGES": "true"}).start()
    yield daphne
    daphne.stop()


def test_it_points_emote_images_at_twitchs_cdn_without_loading_them(
    open_page, emote_server, console
):
    console.allow(r"static-cdn\.jtvnw\.net|ERR_FAILED")
    marker = f"img{support.token()}"
    loaded = f"{marker}a"
    support.ingest(emote_server.database_url, rich_lines(loaded))
    page = open_page(emote_server.url)
    outside = offline(page)
    page.goto("/messages")
    wait_live(page)
    assert_rich_rows(facts(page, loaded), images=True)

    streamed = f"{marker}b"
    support.ingest(emote_server.database_url, rich_lines(streamed))
    wait_rows(page, streamed, 4)
    assert_rich_rows(facts(page, streamed), images=True)
    # The live rows are the rows a fresh load renders (the twin of message_row).
    live = page.evaluate(ROWS_JS, streamed)
    fresh = open_page(emote_server.url)
    offline(fresh)
    fresh.goto("/messages")
    assert fresh.evaluate(ROWS_JS, streamed) == live
    assert all(CDN_URL.fullmatch(url) for url in outside), outside
