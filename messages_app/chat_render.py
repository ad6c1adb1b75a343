"""Chat text as HTML: Twitch emotes, badges, links and names.

Everything here takes raw chat (hostile until escaped) and returns escaped HTML
or plain data. The pages use it through the `message_row` tag; the live client
has a twin of the HTML part (`rowHtml` in live/static/live/live.js) that builds
the same markup from what live/events.py puts in a `message` event: the
emotes and badges parsed here, so the parsing lives in one place.

- Emotes: Twitch's `emotes` tag, "25:0-4,12-16/1902:6-10", gives inclusive
  ranges in Unicode code points of the text (a /me's text without its CTCP
  wrapper). Python str indexes are code points; the client uses Array.from().
  A range out of the text, reversed or overlapping an earlier one is dropped,
  as is an id that could not be part of a CDN path (Twitch itself sends off-by-one
  ranges now and then: tests/pages/test_chat_render.py has real ones).
- Links: http(s) URLs, and bare ones that start with `www.` or have a path
  ("example.com/x" -> https://example.com/x). Only ASCII URL characters, so the
  Python and JavaScript regular expressions match the same text; no other
  scheme can come out of it (the href always starts with http:// or https://).
- Badges: the `badges` tag's known names as local SVGs (static/badges/), with
  `badge-info`'s exact subscriber months in the title.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

_esc = html.escape

EMOTE_CDN = "https://static-cdn.jtvnw.net/emoticons/v2/"
_EMOTE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_MAX_INDEX_DIGITS = 6  # chat lines are at most 500 characters

Emote = tuple[str, int, int]  # (id, first code point, last code point), inclusive


def parse_emotes(tag: str | None, text: str) -> list[Emote]:
    """The usable emotes of `text`, sorted by position, none overlapping."""
    if not tag or not text or not isinstance(tag, str):
        return []
    found = []
    for part in tag.split("/"):
        emote_id, _, ranges = part.partition(":")
        if not _EMOTE_ID.fullmatch(emote_id):
            continue
        for span in ranges.split(","):
            first, _, last = span.partition("-")
            if _is_index(first) and _is_index(last):
                start, end = int(first), int(last)
                if start <= end < len(text):
                    found.append((emote_id, start, end))
    found.sort(key=lambda emote: (emote[1], emote[2]))
    emotes, free_from = [], 0
    for emote in found:
        if emote[1] >= free_from:
            emotes.append(emote)
            free_from = emote[2] + 1
    return emotes


def _is_index(value: str) -> bool:
    return 0 < len(value) <= _MAX_INDEX_DIGITS and value.isascii() and value.isdigit()


# -- badges -----------------------------------------------------------------

# Badge name -> (SVG file in static/badges/, title). "mod" is not a Twitch badge
# name but some bots and logs write it; it shows as the moderator badge.
BADGES = {
    "broadcaster": ("broadcaster", "Broadcaster"),
    "moderator": ("moderator", "Moderator"),
    "mod": ("moderator", "Moderator"),
    "vip": ("vip", "VIP"),
    "subscriber": ("subscriber", "Subscriber"),
    "founder": ("founder", "Founder"),
    "partner": ("partner", "Verified partner"),
    "staff": ("staff", "Twitch staff"),
    "premium": ("premium", "Prime Gaming"),
    "turbo": ("turbo", "Turbo"),
}
# Badges whose badge-info value is a number of months.
_MONTHS = {"subscriber", "founder"}

Badge = tuple[str, str]  # (SVG file name without .svg, title)


def parse_badges(badges: str | None, badge_info: str | None = None) -> list[Badge]:
    """The known badges of a `badges` tag ("moderator/1,subscriber/12"), in its
    order, each once; unknown ones are left out."""
    if not badges or not isinstance(badges, str):
        return []
    if not isinstance(badge_info, str):
        badge_info = ""
    info = dict(item.partition("/")[::2] for item in badge_info.split(","))
    shown, seen = [], set()
    for item in badges.split(","):
        name = item.partition("/")[0]
        if name not in BADGES:
            continue
        file, title = BADGES[name]
        if file in seen:
            continue
        seen.add(file)
        months = info.get(name, "")
        if name in _MONTHS and _is_index(months) and int(months) > 0:
            count = int(months)
            title = f"{title} ({count} month{'s' if count != 1 else ''})"
        shown.append((file, title))
    return shown


@lru_cache(maxsize=4096)
def badges_tag_html(badges: str | None, badge_info: str | None, url_pattern: str) -> str:
    """badges_html of a row's tags; cached, since a channel's chat repeats a few
    badge sets over and over."""
    return badges_html(parse_badges(badges, badge_info), url_pattern)


def badges_html(badges: Sequence[Badge], url_pattern: str) -> str:
    """The badges before a name; `url_pattern` is the static URL with `{}` for the file."""
    if not badges:
        return ""
    icons = "".join(
        f'<img class="msg-badge" src="{_esc(url_pattern.format(file))}" alt="{_esc(title)}" '
        f'title="{_esc(title)}" width="18" height="18">'
        for file, title in badges
    )
    return f'<span class="msg-badges">{icons}</span> '


# -- names ------------------------------------------------------------------


def shows_login(display_name: str | None, login: str) -> bool:
    """Whether a name must show its login too: a display name that is more than
    the login in another case (a different name, or letters from other scripts,
    which can be made to look like someone else's). ASCII only: "K" (the Kelvin
    sign) lower-cases to "k", and the client must decide the same."""
    if not display_name:
        return False
    return not (display_name.isascii() and display_name.lower() == login)


def name_html(display_name: str | None, login: str) -> str:
    """A user's name as Twitch shows it: "DisplayName (login)" where they differ."""
    label = _esc(display_name or login)
    if shows_login(display_name, login):
        return f'{label} <span class="msg-login">({_esc(login)})</span>'
    return label


# -- text: emotes, links, search marks ----------------------------------------

_URL_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]"
_HOST = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
# The twin of URL_PATTERN in live.js: keep the two identical. A URL starts
# where no word, dot, slash, colon, @ or dash is just before it (no link in the
# middle of an address, e.g. javascript://host or me@host).
URL_PATTERN = re.compile(
    r"(?<![A-Za-z0-9@._/:-])(?:"
    rf"https?://{_HOST}(?::[0-9]{{1,5}})?(?:[/?#]{_URL_CHARS}*)?"
    rf"|www\.[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?:[/?#]{_URL_CHARS}*)?"
    rf"|{_HOST}\.[A-Za-z]{{2,24}}/{_URL_CHARS}*"
    r")",
    re.ASCII | re.IGNORECASE,
)
_TRAILING = ".,!?;:'*"  # sentence punctuation after a URL is not part of it
LINK_REL = "nofollow noopener ugc"


def trim_url(url: str) -> str:
    """The URL without trailing punctuation, and without a ")" it did not open."""
    while url:
        last = url[-1]
        if last in _TRAILING or (last == ")" and url.count("(") < url.count(")")):
            url = url[:-1]
        else:
            break
    return url


def link_href(url: str) -> str:
    """A bare "www.x.org" or "x.org/y" gets https://; every href is http(s)."""
    scheme = url[:8].lower()
    return url if scheme.startswith(("http://", "https://")) else "https://" + url


Mark = tuple[int, int]  # a search match: [start, end) in code points of the whole text


def _marked(text: str, start: int, end: int, marks: Sequence[Mark]) -> str:
    """text[start:end], escaped, with the parts inside `marks` in <mark>."""
    if not marks:
        return _esc(text[start:end])
    pieces, at = [], start
    for first, last in marks:
        first, last = max(first, at), min(last, end)
        if first >= last:
            continue
        pieces.append(_esc(text[at:first]))
        pieces.append(f"<mark>{_esc(text[first:last])}</mark>")
        at = last
    pieces.append(_esc(text[at:end]))
    return "".join(pieces)


def _plain_html(text: str, start: int, end: int, marks: Sequence[Mark]) -> str:
    """text[start:end] (no emote in it) with its URLs as links."""
    piece = text[start:end]
    if "." not in piece and "://" not in piece:  # the usual line: no URL can match
        return _marked(text, start, end, marks)
    out, at = [], 0
    for match in URL_PATTERN.finditer(piece):
        url = trim_url(match.group())
        first, last = match.start(), match.start() + len(url)
        out.append(_marked(text, start + at, start + first, marks))
        out.append(
            f'<a href="{_esc(link_href(url))}" rel="{LINK_REL}">'
            f"{_marked(text, start + first, start + last, marks)}</a>"
        )
        at = last
    out.append(_marked(text, start + at, end, marks))
    return "".join(out)


@lru_cache(maxsize=8192)
def emote_html(emote_id: str, name: str, images: bool) -> str:
    """One emote: Twitch's image (dark or light by the visitor's colour scheme),
    its name as alt text and title; or, without images, the name styled."""
    name = _esc(name)
    if not images:
        return f'<span class="emote emote-name">{name}</span>'
    base = f"{EMOTE_CDN}{emote_id}/default/"
    return (
        f'<picture class="emote"><source media="(prefers-color-scheme: dark)" '
        f'srcset="{base}dark/1.0"><img src="{base}light/1.0" alt="{name}" title="{name}" '
        f'loading="lazy" referrerpolicy="no-referrer"></picture>'
    )


def text_html(text: str, emotes: Iterable[Emote], images: bool, marks: Sequence[Mark] = ()) -> str:
    """Chat text as HTML: escaped, emotes (validated by parse_emotes) and links
    in place, search matches in <mark> (an emote inside a match is marked whole)."""
    out, at = [], 0
    for emote_id, start, end in emotes:
        if start > at:
            out.append(_plain_html(text, at, start, marks))
        emote = emote_html(emote_id, text[start : end + 1], images)
        if any(first <= end and last > start for first, last in marks):
            emote = f"<mark>{emote}</mark>"
        out.append(emote)
        at = end + 1
    if at < len(text) or not out:
        out.append(_plain_html(text, at, len(text), marks))
    return "".join(out)
