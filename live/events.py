"""The /live event vocabulary: payloads and their SSE encoding.

Frames use django-eventstream's encoding (`sse_encode_event`) and its event id
format (`make_id`: `<channel>:<cursor>`), so any django-eventstream client and
`parse_last_event_id` understand them. The cursor in the id is a `messages.id`:
everything the channel had up to it was sent before the event carrying it, so
resuming from any event id loses nothing and repeats nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.fields.json import KT, KeyTextTransform
from django.db.models.functions import Coalesce
from django_eventstream.utils import make_id, parse_last_event_id, sse_encode_event

from messages_app import chat_render
from messages_app.colors import name_colors
from messages_app.models import Kind

# View -> the django-eventstream channel prefix it reads (subject views add a name).
VIEWS = ("home", "messages", "channels", "users", "user_profile", "channel")
VIEWS_WITH_MESSAGES = {"home", "messages", "user_profile", "channel"}


@dataclass(frozen=True, slots=True)
class Spec:
    """What one stream follows: a view, and the channel and/or user it is
    narrowed to (required by `channel` / `user_profile`, optional filters of
    message lists). Equal specs share one django-eventstream channel."""

    view: str
    channel: str = ""
    user: str = ""

    @property
    def topic(self) -> str:
        """The django-eventstream channel: `home`, `messages`, `channels`, `users`,
        `user-<name>`, `channel-<name>`, plus `-channel-<c>` / `-user-<u>` for a
        filtered message list (names never contain `-`)."""
        if self.view == "user_profile":
            return f"user-{self.user}" + (f"-channel-{self.channel}" if self.channel else "")
        if self.view == "channel":
            return f"channel-{self.channel}" + (f"-user-{self.user}" if self.user else "")
        topic = self.view
        if self.channel:
            topic += f"-channel-{self.channel}"
        if self.user:
            topic += f"-user-{self.user}"
        return topic

    def wants(self, channel_name: str, username: str) -> bool:
        return (not self.channel or self.channel == channel_name) and (
            not self.user or self.user == username
        )


# Line breaks json leaves raw. SSE itself splits only on CR/LF, but line readers
# that use str.splitlines() (many Python clients) also break on these.
_LINE_BREAKS = (("\u2028", "\\u2028"), ("\u2029", "\\u2029"), ("\x85", "\\u0085"))


def dumps(payload: dict[str, Any]) -> str:
    # Compact and on one line (json escapes CR/LF in strings): one `data:` line.
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in _LINE_BREAKS:
        if raw in text:  # rare: test first, the scan is far cheaper than a translate
            text = text.replace(raw, escaped)
    return text


def frame(topic: str, event_type: str, cursor: int, data: str) -> bytes:
    """One SSE event for `topic`; `data` is the JSON text of its payload."""
    return sse_encode_event(event_type, data, event_id=make_id({topic: cursor})).encode()


def encode(topic: str, payload: dict[str, Any]) -> bytes:
    return frame(topic, payload["type"], payload["cursor"], dumps(payload))


def status(
    topic: str,
    cursor: int,
    state: str,
    reason: str = "",
    retry_after_ms: int | None = None,
    **extra: Any,
) -> bytes:
    """A `status` event. The relay's add `ingest` (messages_app/ingest/heartbeat.py,
    IngestState.public()): what pages show beside the live dot."""
    payload: dict[str, Any] = {"type": "status", "cursor": cursor, "state": state}
    if reason:
        payload["reason"] = reason
    if retry_after_ms is not None:
        payload["retry_after_ms"] = retry_after_ms
    payload.update(extra)
    return encode(topic, payload)


# A message id has at most 19 digits; a longer cursor still means "beyond the
# newest message", hence "now", but int() refuses more than 4,300 digits.
MAX_CURSOR_DIGITS = 100


def _is_id(value: str) -> bool:
    # ASCII digits only: str.isdigit() also takes superscripts and other
    # scripts' digits, which int() refuses or reads as another number.
    return 0 < len(value) <= MAX_CURSOR_DIGITS and value.isascii() and value.isdigit()


def parse_cursor(raw: str) -> int | None:
    """A cursor from `after_id` (`123`) or a Last-Event-ID (`messages:123`, or
    django-eventstream's multi-channel `a:1,b:2`). None when it is not one."""
    raw = raw.strip()
    if _is_id(raw):
        return int(raw)
    try:
        ids = parse_last_event_id(raw)
    except ValueError:
        return None
    values = [v for v in ids.values() if _is_id(v)]
    if not values or len(values) != len(ids):
        return None
    return min(int(v) for v in values)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# What a `message` event carries, read as plain values: building model
# instances (and rendering each row) was most of the relay's read time, and the
# rows are rendered by the page from these fields (live.js `rowHtml`, the twin
# of the `message_row` template tag).
MESSAGE_COLUMNS = (
    "id", "channel_id", "channel__name", "user_id", "user__username",
    "user__display_name", "text", "sent_at", "is_action", "color",
    "kind", "system_text", "deleted_at", "notice", "duration", "target", "twitch_id",
    "emotes", "badges", "badge_info",
)  # fmt: skip
# Kind -> the `kind` of a message event; the others are moderation events.
MESSAGE_KINDS = {Kind.PRIVMSG: "privmsg", Kind.USERNOTICE: "usernotice"}


def message_values(qs: QuerySet) -> QuerySet:
    """`qs` (messages) as MESSAGE_COLUMNS tuples; the few tags an event needs
    are read by the database, so the tags JSON is never parsed in Python."""
    return qs.annotate(
        color=_tag("color"),
        notice=_tag("msg-id"),
        duration=KT("tags__ban-duration"),  # always the line's own (tag_sets.py)
        target=KT("tags__target-msg-id"),
        emotes=_tag("emotes"),
        badges=_tag("badges"),
        badge_info=_tag("badge-info"),
    ).values_list(*MESSAGE_COLUMNS)


def _tag(key: str) -> Coalesce:
    """A tag of the line's own or, failing that, of its tag set."""
    return Coalesce(KeyTextTransform(key, "tags"), KeyTextTransform(key, "tag_set__tags"))


def message_payload(row: tuple) -> dict[str, Any]:
    """The event of one MESSAGE_COLUMNS row (docs/architecture.md, GET /live):
    a `message` for chat and notices, a `moderation` for the rest."""
    (id_, channel_id, channel, user_id, username, display_name, text, sent_at, action, color,
     kind, system_text, deleted_at, notice, _duration, _target, twitch_id,
     emotes, badges, badge_info) = row  # fmt: skip
    if kind not in MESSAGE_KINDS:
        return moderation_payload(row)
    payload = {
        "type": "message",
        "cursor": id_,
        "id": id_,
        "channel_id": channel_id,
        "channel_name": channel,
        "user_id": user_id,
        "username": username,
        "display_name": display_name or username,
        "text": text,
        "sent_at": iso(sent_at),
        "is_action": action,
        "kind": MESSAGE_KINDS[kind],
        "twitch_id": twitch_id,  # rows carry it, so a later deletion can find them
    }
    if kind == Kind.USERNOTICE:
        payload["system_text"] = system_text
        payload["notice"] = notice or ""
    if deleted_at is not None:
        payload["deleted_at"] = iso(deleted_at)
        if not settings.SHOW_DELETED_TEXT:
            payload["text"] = ""
    colors = name_colors(color) if isinstance(color, str) else None
    if colors is not None:
        payload["name_colors"] = colors  # (light theme, dark theme), readable on each
    # Parsed here, once per event, so live.js only places them (chat_render):
    # [[id, first, last], ...] in code points of `text`; [[file, title], ...].
    emote_list = chat_render.parse_emotes(emotes, payload["text"])
    if emote_list:
        payload["emotes"] = emote_list
    badge_list = chat_render.parse_badges(badges, badge_info)
    if badge_list:
        payload["badges"] = badge_list
    return payload


def moderation_payload(row: tuple) -> dict[str, Any]:
    """A CLEARMSG (`deleted`) or CLEARCHAT (`timeout`, `ban`, `clear`) row as a
    `moderation` event. target_message_id is the Twitch id of the deleted
    message (rows carry it as data-twitch-id)."""
    id_, channel_id, channel, _uid, username, display_name, _text, sent_at = row[:8]
    kind, duration, target = row[10], row[14], row[15]
    if kind == Kind.CLEARMSG:
        action = "deleted"
    elif not username:
        action = "clear"
    else:
        action = "timeout" if duration else "ban"
    return {
        "type": "moderation",
        "cursor": id_,
        "id": id_,
        "action": action,
        "channel_id": channel_id,
        "channel_name": channel,
        "target_user": username or None,
        "target_display_name": (display_name or username) or None,
        "target_message_id": target if kind == Kind.CLEARMSG else None,
        "duration_s": int(duration) if duration and str(duration).isdigit() else None,
        "sent_at": iso(sent_at),
    }
