"""A live row is the server's row: live.js builds the <li> of each `message`
event itself (`rowHtml`), the pages render `message_row()`; a visitor must not
be able to tell them apart, so the two DOMs must be identical."""

from __future__ import annotations

import uuid

from messages_app.ingest.simulator import clearchat, clearmsg, usernotice
from messages_app.ingest.simulator import privmsg as chat_line
from tests.browser import support
from tests.browser.live_dom import ROWS_JS, wait_for, wait_live
from tests.browser.test_emotes_badges import emote_tag, rich_lines


def _lines(marker: str) -> list[str]:
    privmsg = support.privmsg
    deleted_id = str(uuid.uuid4())
    target = f"m{marker}"[:25]  # a login that carries the marker into moderation rows
    return [
        usernotice(
            "forsen",
            "hana",
            "resub",
            text=f"{marker} 12 months <b>already</b>",
            params={"cumulative-months": "12"},
        ),
        usernotice("forsen", "ivan", "sub", system_msg=f"ivan subscribed {marker} <i>!</i>"),
        chat_line("forsen", target, f"{marker} this goes away", twitch_id=deleted_id),
        clearmsg("forsen", target, deleted_id, f"{marker} this goes away"),
        clearchat("forsen", target, duration=600),
        clearchat("xqc", target),
        privmsg("forsen", "alice", f"{marker} plain words"),
        privmsg("forsen", "bob_99", f"\x01ACTION {marker} waves\x01", color="#FF0000"),
        privmsg("xqc", "carol", f"{marker} no colour at all", color=""),
        privmsg("xqc", "dave", f"{marker} bad colour", color="red;background:url(x)"),
        privmsg("xqc", "erin", f"{marker} <b>tags</b> & \"quotes\" 'single' </li>"),
        privmsg("forsen", "frank", f"{marker} ünïcödé 日本語 😀 KEKW", display_name="Fränk"),
        privmsg("forsen", "gina", f"{marker} named", display_name="<i>Gina</i>"),
        *_rich_lines(marker),
    ]


def _rich_lines(marker: str) -> list[str]:
    """Emotes (after emoji, in a /me, in a notice), badges, links, names that
    differ from the login, hostile text and URLs: chat_render and its twin."""
    text = f"{marker} 😀😀 Kappa<3 <3 x.org/<3 Kappa"
    tags = {"emotes": emote_tag(text) + "/1902:0-3,9999-99999,7-5", "badges": "staff/1,turbo/1"}
    return [
        *rich_lines(marker),
        chat_line("xqc", "kay", text, tags={**tags, "display-name": "\u212aay"}),
        chat_line("xqc", "lee", f"{marker} Kappa", tags={"emotes": "25:0-4,2-6/../x:1-2"}),
        chat_line(
            "xqc",
            "max",
            f"{marker} javascript:alert(1) data:text/html,<b>x</b> "
            'https://<script>/ http://a.b/"onclick="x" (see https://a.b/c_(d)).',
            tags={"badges": "partner/1,glitchcon2020/1,moderator/1,mod/1"},
        ),
    ]


def test_it_builds_live_rows_identical_to_the_rows_the_server_renders(open_page, server):
    marker = f"twin{support.token()}"
    lines = _lines(marker)
    page = open_page(server.url)
    page.goto("/messages")
    wait_live(page)
    # The deletion comes after its target has been shown live: the open page
    # must mark that row as a fresh load shows it.
    deletion = next(line for line in lines if " CLEARMSG " in line)
    support.ingest(server.database_url, [line for line in lines if line != deletion])
    wait_for(
        page,
        lambda _snap: len(page.evaluate(ROWS_JS, marker)) == len(lines) - 1,
        10,
        f"{len(lines) - 1} live rows",
    )
    support.ingest(server.database_url, [deletion])
    wait_for(
        page,
        lambda _snap: (
            len(page.evaluate(ROWS_JS, marker)) == len(lines)
            and page.locator(".msg-deleted").count() == 1
        ),
        10,
        f"{len(lines)} live rows, one of them deleted",
    )
    live = page.evaluate(ROWS_JS, marker)

    fresh = open_page(server.url)
    fresh.goto("/messages")
    served = fresh.evaluate(ROWS_JS, marker)

    assert served.keys() == live.keys()
    for id_, html in served.items():
        assert live[id_] == html, f"row {id_} differs:\nlive:   {live[id_]}\nserver: {html}"


def test_it_hides_a_deleted_text_on_an_open_page_when_the_archive_hides_it(
    open_page, module_db_url, tmp_path
):
    """SHOW_DELETED_TEXT=false: a deletion that arrives while the page is open
    removes the text from the row, exactly as a fresh load leaves it out."""
    hidden = support.Daphne(module_db_url, tmp_path / "daphne.log",
                            env={"SHOW_DELETED_TEXT": "false"}).start()  # fmt: skip
    try:
        marker = f"hide{support.token()}"
        target_id, author = str(uuid.uuid4()), f"m{marker}"[:25]
        line = chat_line("forsen", author, f"{marker} regrettable words", twitch_id=target_id)
        page = open_page(hidden.url)
        page.goto("/messages")
        wait_live(page)
        support.ingest(hidden.database_url, [line, support.privmsg("forsen", "alice", marker)])
        wait_for(page, lambda _snap: len(page.evaluate(ROWS_JS, marker)) == 2, 10, "2 live rows")
        support.ingest(hidden.database_url, [clearmsg("forsen", author, target_id, "x")])
        deleted = page.locator("[data-live-list] > .msg-deleted", has_text=author)
        wait_for(page, lambda _snap: deleted.count() == 1, 10, "the row marked deleted")
        assert "regrettable" not in page.inner_text("[data-live-list]")
        fresh = open_page(hidden.url)
        fresh.goto("/messages")
        assert "regrettable" not in fresh.content()
        live = page.evaluate(ROWS_JS, author)
        served = fresh.evaluate(ROWS_JS, author)
        assert len(served) == 2  # the row deleted and the moderation notice
        assert live == served
        page.close()
        fresh.close()
    finally:
        hidden.stop()


def test_an_open_page_removes_the_rows_of_a_user_erased_meanwhile(open_page, server):
    marker = f"gone{support.token()}"
    author = f"e{marker}"[:25]
    page = open_page(server.url)
    page.goto("/messages")
    wait_live(page)
    support.ingest(server.database_url, [
        chat_line("forsen", author, f"{marker} forget this"),
        clearchat("forsen", author, duration=60),
        support.privmsg("forsen", "alice", f"{marker} stays"),
    ])  # fmt: skip
    wait_for(page, lambda _snap: len(page.evaluate(ROWS_JS, marker)) == 3, 10, "3 live rows")
    support.manage(server.database_url, "shell", "-c",
                   "from messages_app import erasure; "
                   f"erasure.opt_out('user', login='{author}', by='staff')")  # fmt: skip
    support.manage(server.database_url, "erase")
    wait_for(page, lambda _snap: page.locator(f'[data-user="{author}"]').count() == 0
             and page.locator(f'[data-target-user="{author}"]').count() == 0,
             10, "the erased user's rows gone")  # fmt: skip
    assert [r for r in page.evaluate(ROWS_JS, marker).values() if "stays" in r]
    fresh = open_page(server.url)
    fresh.goto("/messages")
    assert page.evaluate(ROWS_JS, marker).keys() == fresh.evaluate(ROWS_JS, marker).keys()
