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

from django.template import Context, TemplateDoesNotExist
from django.template.loader import select_template
from django.utils.html import format_html
from django_eventstream.utils import make_id, parse_last_event_id, sse_encode_event

ROW_TEMPLATE = "partials/message_row.html"

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
    topic: str, cursor: int, state: str, reason: str = "", retry_after_ms: int | None = None
) -> bytes:
    payload: dict[str, Any] = {"type": "status", "cursor": cursor, "state": state}
    if reason:
        payload["reason"] = reason
    if retry_after_ms is not None:
        payload["retry_after_ms"] = retry_after_ms
    return encode(topic, payload)


def parse_cursor(raw: str) -> int | None:
    """A cursor from `after_id` (`123`) or a Last-Event-ID (`messages:123`, or
    django-eventstream's multi-channel `a:1,b:2`). None when it is not one."""
    raw = raw.strip()
    if raw.isdigit():
        return int(raw)
    try:
        ids = parse_last_event_id(raw)
    except ValueError:
        return None
    values = [v for v in ids.values() if v.isdigit()]
    if not values or len(values) != len(ids):
        return None
    return min(int(v) for v in values)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# The columns the row and the payload use: no other datetime column is fetched,
# and converting datetimes was a third of the relay's read time.
ROW_FIELDS = (
    "id", "text", "sent_at", "is_action", "tags", "channel_id", "user_id",
    "channel__name", "channel__display_name",
    "user__username", "user__display_name",
)  # fmt: skip


def row_renderer():
    """A function rendering the shared message row; the pages' template when it
    exists, else a minimal escaped row (same hooks) so live works without it.

    Renders through the engine's Template with one reused Context (the same
    output as `render_to_string(..., {"message": m})`, without building a new
    context per row)."""
    try:
        template = select_template([ROW_TEMPLATE]).template
    except TemplateDoesNotExist:
        return _fallback_row
    context = Context({"message": None}, autoescape=template.engine.autoescape)

    def render(message) -> str:
        context["message"] = message
        return template.render(context)

    return render


def _fallback_row(message) -> str:
    return format_html(
        '<li id="message-{}" data-id="{}"><time datetime="{}">{}</time> '
        '<span class="channel">#{}</span> <span class="user">{}</span>: '
        '<span class="text">{}</span></li>',
        message.id,
        message.id,
        iso(message.sent_at),
        message.sent_at.strftime("%H:%M:%S"),
        message.channel.name,
        message.user.display_name or message.user.username,
        message.text,
    )


def message_payload(message, html: str) -> dict[str, Any]:
    return {
        "type": "message",
        "cursor": message.id,
        "id": message.id,
        "channel_id": message.channel_id,
        "channel_name": message.channel.name,
        "user_id": message.user_id,
        "username": message.user.username,
        "display_name": message.user.display_name or message.user.username,
        "text": message.text,
        "sent_at": iso(message.sent_at),
        "is_action": message.is_action,
        "html": html,
    }
