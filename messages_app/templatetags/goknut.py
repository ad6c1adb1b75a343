"""Template helpers for the pages: UTC timestamps, readable name colours, highlights.

Everything here runs inside the row templates of the pages and of their rows
partials (polling), so each helper depends on its arguments and the settings
only (no request). Chat's emotes, badges, links and names are drawn by
messages_app/chat_render.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from messages_app import chat_render
from messages_app.colors import name_colors

register = template.Library()

# The standard library's escape: the same five characters as Django's escape(),
# without its lazy-string wrapper, which costs more than the escaping.
_esc = html.escape


def _utc_parts(value: datetime) -> tuple[str, str, str]:
    """(ISO with Z, "YYYY-MM-DD HH:MM:SS UTC", "YYYY-MM-DD HH:MM"); one isoformat
    call instead of three strftime calls, since every row shows a time."""
    iso = value.astimezone(UTC).isoformat(timespec="seconds")[:19]
    return iso + "Z", f"{iso[:10]} {iso[11:]} UTC", f"{iso[:10]} {iso[11:16]}"


@register.simple_tag
def utc_time(value: datetime | None) -> SafeString:
    """<time> in UTC; static/js/localtime.js rewrites the text in the visitor's
    locale and time zone, and the title keeps the UTC value."""
    if value is None:
        return mark_safe('<span class="muted">never</span>')
    iso, full, text = _utc_parts(value)
    # Only digits, dashes, colons and letters: nothing here needs escaping.
    return mark_safe(f'<time datetime="{iso}" title="{full}">{text}</time>')


@register.filter
def thousands(value: int | None) -> str:
    """1234567 -> "1,234,567". humanize's intcomma does the same through the locale
    machinery at about 40 µs a number; tables of counters show hundreds."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""


@register.filter
def shows_login(person) -> bool:
    """Whether a user's display name must be followed by their login
    (chat_render.shows_login): the profile heading, as chat rows do."""
    return chat_render.shows_login(person.display_name, person.username)


@register.filter
def name_style(color: str) -> str:
    """A style attribute value with both theme colours, or "" for no colour."""
    colors = name_colors(color)
    if colors is None:
        return ""
    return f"--name-light:{colors[0]};--name-dark:{colors[1]}"


class Highlighted(SafeString):
    """Search text, escaped and marked; `marks` are the matches' [start, end)
    in the raw text, so message_row can mark the same words among emotes and links."""

    marks: Sequence[tuple[int, int]] = ()


def search_marks(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Where the search terms match `text`, as [start, end) pairs in order."""
    words = sorted({t.strip() for t in terms if t.strip(" *")}, key=len, reverse=True)
    if not words:
        return []
    # FTS matches whole tokens from their start; a trailing * (prefix term)
    # extends the mark to the end of the word.
    alternatives = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in words]
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + ")", re.IGNORECASE)
    return [match.span() for match in pattern.finditer(text) if match.end() > match.start()]


def highlight(text: str, terms: list[str]) -> Highlighted:
    """Chat text, escaped, with each search term wrapped in <mark> (and its
    links as links).

    Escape first, then mark: the terms are matched against the raw text and
    every piece, matched or not, is escaped on its own (chat_render.text_html),
    so no chat text is ever marked safe unescaped.
    """
    marks = search_marks(text, terms)
    result = Highlighted(chat_render.text_html(text, (), False, marks))
    result.marks = marks
    return result


@lru_cache(maxsize=16)
def _url_prefix(view_name: str) -> str:
    # Reverse once with a placeholder: rows are rendered by the thousand (pages,
    # polling, the live relay) and reverse() costs more than the rest of a row.
    return reverse(view_name, args=["__name__"]).replace("__name__", "{}")


@register.simple_tag
def url_pattern(view_name: str) -> str:
    """The URL of a name-taking view with `{}` for the (percent-quoted) name: the
    live client builds the row links of live messages from it."""
    return _url_prefix(view_name)


@register.filter
@lru_cache(maxsize=8192)
def channel_url(name: str) -> str:
    return _url_prefix("messages_app:channel").format(quote(name, safe=""))


@register.filter
@lru_cache(maxsize=65536)
def user_url(name: str) -> str:
    # Usernames come from chat; quoting keeps any character a link can carry.
    return _url_prefix("messages_app:user").format(quote(name, safe=""))


# -- the message row ---------------------------------------------------------
#
# partials/message_row.html is the one row of every message list: pages and the
# polling partials render it (docs/live-dom.md). Its markup is built here in one
# f-string because Django's template engine spends about 300 µs per row on a
# dozen variable lookups, filters and an include: 15 ms of a 50-row page, more
# than every query on it. This function takes about 25 µs.
#
# Live rows are built in the browser from the `message` event's fields by
# `rowHtml` in live/static/live/live.js: sending this markup in every event more
# than doubled the bytes a live stream carries, and bytes were the fan-out's
# cost (docs/live-updates.md). The two must stay twins: change both, and
# tests/browser/test_live_rows.py checks that they build the same DOM.


# Kinds (models.Kind) as the rows' classes: a notice is chat styled apart, a
# timeout, ban, clear or deletion is a line of the channel's log.
USERNOTICE, CLEARCHAT, CLEARMSG = 4, 2, 13


@register.simple_tag
def message_row(message) -> SafeString:
    """One chat event as an <li>. Every string from chat (channel, name, text,
    colour, system text, tags) is escaped here or in chat_render; search's
    `message.highlighted` brings the places of its matches (highlight())."""
    kind = message.kind
    if kind in (CLEARCHAT, CLEARMSG):
        return _moderation_row(message)
    channel_href = _esc(channel_url(message.channel.name))
    tags = message.all_tags
    deleted = message.deleted_at is not None
    text = "" if deleted and not settings.SHOW_DELETED_TEXT else _text_html(message, tags)
    action = message.is_action
    classes = (
        "msg" + (" msg-action" if action else "") + (" msg-notice" if kind == USERNOTICE else "")
    )
    body = ""
    if kind == USERNOTICE:
        body = f'<span class="msg-system">{_esc(message.system_text)}</span>'
    if kind != USERNOTICE or message.text:
        style = name_style(tags.get("color", ""))  # all_tags once a row
        style_attr = f' style="{_esc(style)}"' if style else ""
        user = message.user
        badges = _badges_html(tags)
        body += (
            f"{' ' if body else ''}{badges}"
            f'<a class="msg-user" href="{_esc(user_url(user.username))}"{style_attr}>'
            f"{chat_render.name_html(user.display_name, user.username)}</a>"
            f'<span class="msg-sep" aria-hidden="true">{" " if action else ":"}</span> '
            f'<span class="msg-text">{text}</span>'
        )
    if deleted:
        classes += " msg-deleted"
        body += deleted_note(message.deleted_at)
    if getattr(message, "moderated", False):  # pages.mark_moderated
        classes += " msg-moderated"
    twitch = f' data-twitch-id="{_esc(message.twitch_id)}"' if message.twitch_id else ""
    return mark_safe(
        f'<li class="{classes}" id="message-{message.id:d}" data-id="{message.id:d}"{twitch} '
        f'data-user="{_esc(message.user.username)}">'
        f'<a class="msg-time" href="{channel_href}?before={message.id + 1:d}" '
        f'title="Show in context">{utc_time(message.sent_at)}</a> '
        f'<a class="msg-channel" href="{channel_href}">#{_esc(message.channel.name)}</a> '
        f"{body}</li>\n"
    )


def _text_html(message, tags: dict) -> str:
    """The text with its emotes, links and (search) marks, escaped."""
    text = message.text or ""
    emotes = chat_render.parse_emotes(tags.get("emotes"), text)
    highlighted = getattr(message, "highlighted", None)
    marks = highlighted.marks if isinstance(highlighted, Highlighted) else ()
    return chat_render.text_html(text, emotes, settings.EMOTE_IMAGES, marks)


def _badges_html(tags: dict) -> str:
    badges, info = tags.get("badges"), tags.get("badge-info")
    if not badges or not isinstance(badges, str):
        return ""
    info = info if isinstance(info, str) else ""
    return chat_render.badges_tag_html(badges, info, badge_url_pattern())


@lru_cache(maxsize=1)
def badge_url_pattern() -> str:
    """The URL of a badge's SVG with `{}` for its name (static() once, not per row)."""
    return static("badges/__badge__.svg").replace("__badge__", "{}")


@register.simple_tag
def live_row_attrs() -> SafeString:
    """What a live list tells live.js to build rows as message_row does: where
    the badges are, and whether emotes are images (EMOTE_IMAGES)."""
    images = " data-emote-images" if settings.EMOTE_IMAGES else ""
    return mark_safe(f' data-badge-url="{_esc(badge_url_pattern())}"{images}')


def deleted_note(when: datetime) -> str:
    return f' <span class="msg-deleted-note">deleted by a moderator {utc_time(when)}</span>'


def _moderation_row(message) -> SafeString:
    """A timeout, ban, whole-chat clear or deletion, as a line of the log."""
    channel_href = _esc(channel_url(message.channel.name))
    user = message.user
    tags = message.all_tags
    # What the action did, for the client to apply to rows already on a page
    # when this row arrives by polling (the live event carries the same).
    if user is None:
        what, action = "The chat was cleared by a moderator", ' data-action="clear"'
    else:
        name = chat_render.name_html(user.display_name, user.username)
        who = f'<a class="msg-user" href="{_esc(user_url(user.username))}">{name}</a>'
        target = f' data-target-user="{_esc(user.username)}"'
        if message.kind == CLEARMSG:
            what = f"A message by {who} was deleted by a moderator"
            deleted = _esc(tags.get("target-msg-id", ""))
            action = f' data-action="deleted"{target} data-target-message="{deleted}"'
        else:
            seconds = tags.get("ban-duration", "")
            if str(seconds).isdigit():
                what = f"{who} was timed out for {duration_text(int(seconds))}"
                action = f' data-action="timeout"{target}'
            else:
                what, action = f"{who} was banned", f' data-action="ban"{target}'
    return mark_safe(
        f'<li class="msg msg-mod" id="message-{message.id:d}" data-id="{message.id:d}"{action}>'
        f'<a class="msg-time" href="{channel_href}?before={message.id + 1:d}" '
        f'title="Show in context">{utc_time(message.sent_at)}</a> '
        f'<a class="msg-channel" href="{channel_href}">#{_esc(message.channel.name)}</a> '
        f'<span class="msg-system">{what}</span></li>\n'
    )


def duration_text(seconds: int) -> str:
    """600 -> "10 minutes": the largest unit that divides the duration."""
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


@register.simple_tag
def message_rows(rows) -> SafeString:
    """Every row of a list, rendered exactly as message_row.html renders one."""
    return mark_safe("".join(message_row(message) for message in rows))


# -- the user row ----------------------------------------------------------
#
# The one row of /users: a tag for the same reason as
# message_row (50 included templates cost /users about 8 ms).


@register.simple_tag
def user_row(person) -> SafeString:
    """One chat user as a <tr>; live `user_count` events update its data-field cells."""
    login = ""
    if chat_render.shows_login(person.display_name, person.username):
        login = f' <span class="muted">({_esc(person.username)})</span>'
    return mark_safe(
        f'<tr data-live-key="user-{person.id:d}">\n'
        f'  <th scope="row"><a href="{_esc(user_url(person.username))}">'
        f"{_esc(person.label)}</a>{login}</th>\n"
        f'  <td class="num" data-field="total_messages">{thousands(person.total_messages)}</td>\n'
        f'  <td data-field="last_seen_at">{utc_time(person.last_seen_at)}</td>\n'
        "</tr>\n"
    )


@register.simple_tag
def user_rows(users) -> SafeString:
    """Every row of /users, each rendered by user_row."""
    return mark_safe("".join(user_row(person) for person in users))


# -- the profile's channel table -----------------------------------------------
#
# One row per channel the user wrote in: a tag for the same reason as
# message_row (a user in ten channels cost the profile about 3 ms of template).


@register.simple_tag
def channel_stats_rows(stats, page_path: str) -> SafeString:
    """The rows of a profile's channel table (pages.with_month_links set
    `log_month` and `log_links` on each)."""
    return mark_safe("".join(_channel_stats_row(s, page_path) for s in stats))


def _channel_stats_row(s, page_path: str) -> str:
    name = _esc(s.channel.name)
    logs = '<span class="muted">Not served</span>'
    if s.log_links:
        month = s.log_month.strftime("%Y-%m")
        where = f"#{name}, {month}"
        logs = (
            f'{month}: <a href="{_esc(s.log_links.text)}">this month in this channel'
            f'<span class="visually-hidden"> ({where}, as text)</span></a> · '
            f'<a href="{_esc(s.log_links.json)}">JSON'
            f'<span class="visually-hidden"> ({where})</span></a>'
        )
    href = f"{page_path}?channel={_esc(quote(s.channel.name, safe='/'))}"
    return (
        "        <tr>\n"
        f'          <th scope="row"><a href="{_esc(href)}">#{name}</a></th>\n'
        f'          <td class="num">{thousands(s.total_messages)}</td>\n'
        f"          <td>{utc_time(s.first_seen_at)}</td>\n"
        f"          <td>{utc_time(s.last_seen_at)}</td>\n"
        f"          <td>{logs}</td>\n"
        "        </tr>\n"
    )
