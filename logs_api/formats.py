"""The answer formats of the log endpoints, one archived line at a time:
text (the default), json, jsonBasic, ndjson and raw, as justlog and rustlog
write them (docs/api.md has each shape)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC

import orjson

from logs_api.errors import bad_request
from logs_api.raw import raw_line, tags_of
from messages_app.models import Kind

# ?type=<name> (justlog) or a flag ?<name> (key present, any value).
FORMATS = ("raw", "jsonBasic", "json", "ndjson", "text")
CONTENT_TYPES = {
    "text": "text/plain; charset=utf-8",
    "raw": "text/plain; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "jsonBasic": "application/json; charset=utf-8",
    "ndjson": "application/x-ndjson; charset=utf-8",
}


def chosen(request) -> str:
    """The format a request asks for. Flags are set by their key whatever the
    value (`?json`, `?json=1`, even `?json=0`, as the peers read them); with
    several, rustlog's order decides (raw, jsonBasic, json, ndjson)."""
    params = request.GET
    kind = params.get("type")
    if kind is not None:
        names = {name.lower(): name for name in FORMATS}
        if kind.lower() not in names:
            raise bad_request(f"unknown type {kind[:20]!r}: use one of {', '.join(FORMATS)}")
        return names[kind.lower()]
    for name in FORMATS[:-1]:
        if name in params:
            return name
    if request.content_type == "application/json":  # justlog's clients may say so
        return "json"
    return "text"


def system_text(line) -> str:
    """What Twitch (or goknut, for moderation) says about the line."""
    if line.kind == Kind.USERNOTICE:
        return line.system_text
    if line.kind == Kind.CLEARCHAT:
        if not line.login:
            return "Chat has been cleared"
        duration = line.tags.get("ban-duration") if line.tags else None
        if duration:
            return f"{line.login} has been timed out for {duration} seconds"
        return f"{line.login} has been banned"
    if line.kind == Kind.CLEARMSG:
        return f"A message of {line.login} was deleted"
    return ""


def clock(line) -> str:
    """`YYYY-MM-DD HH:MM:SS` in UTC (isoformat: a tenth of strftime's time)."""
    return line.sent_at.replace(tzinfo=None).isoformat(" ", "seconds")


def timestamp(at) -> str:
    """RFC 3339 in UTC with `Z`, milliseconds when there are any (tmi-sent-ts)."""
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    text = at.replace(tzinfo=None).isoformat(timespec="milliseconds")
    return (text[:-4] if text.endswith(".000") else text) + "Z"


def text_line(line) -> str:
    head = f"[{clock(line)}] #{line.channel} "
    if line.kind == Kind.PRIVMSG:
        return f"{head}{line.login}: {line.text}\n"
    said = system_text(line)
    if line.kind == Kind.USERNOTICE and line.text:
        if not said:  # an announcement: Twitch sends no system-msg, so say who
            return f"{head}{line.login}: {line.text}\n"
        said = f"{said} {line.text}"
    return f"{head}{said}\n"


def basic(line, tags: dict[str, str]) -> dict:
    return {
        "text": message_text(line),
        "displayName": tags.get("display-name") or line.login,
        "timestamp": timestamp(line.sent_at),
        "id": tags.get("id", ""),
        "tags": tags,
    }


def full(line, tags: dict[str, str]) -> dict:
    return {
        "text": message_text(line),
        "systemText": system_text(line),
        "username": line.login,
        "displayName": tags.get("display-name") or line.login,
        "channel": line.channel,
        "timestamp": timestamp(line.sent_at),
        "id": tags.get("id", ""),
        "type": line.kind,
        "raw": raw_line(line, tags),
        "tags": tags,
    }


def message_text(line) -> str:
    """The user's own words; for moderation, what happened (justlog's UI shows `text`)."""
    if line.kind == Kind.CLEARCHAT:
        return system_text(line)
    return line.text


def dumps(value) -> bytes:
    """Compact UTF-8 JSON. orjson: a fifth of the stdlib's time per message,
    which is most of what a JSON download costs (docs/perf.md, "Logs API")."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # e.g. a lone surrogate: the stdlib escapes it
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )


def render(name: str, lines: Iterable) -> bytes:
    """A chunk of lines in format `name`, encoded (JSON objects joined by commas,
    without the brackets: views.body writes those)."""
    if name == "text":
        return "".join(map(text_line, lines)).encode()
    if name == "raw":
        return "".join(raw_line(line) + "\n" for line in lines).encode()
    if name == "ndjson":
        return b"".join(dumps(basic(line, tags_of(line))) + b"\n" for line in lines)
    make = basic if name == "jsonBasic" else full
    return b",".join(dumps(make(line, tags_of(line))) for line in lines)


def needs_tags(name: str) -> bool:
    return name != "text"
