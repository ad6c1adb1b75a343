"""Parse Twitch's IRC dialect: IRCv3 tags, prefix, command, params.

This is on the hot path of ingest (10,000+ lines a second), so it uses
str.partition and split rather than a regular expression, and only unescapes
tag values that contain a backslash.

Bad input never raises anything but `SkipLine`, which names the reason it is
counted under (metrics, the command's summary).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from messages_app.writes import ChatRecord

# Twitch allows 8,191 bytes of tags plus 512 for the rest of the line (IRCv3
# message-tags). Anything longer is not a line Twitch sent.
MAX_LINE_BYTES = 8191 + 512

# Commands Twitch sends (https://dev.twitch.tv/docs/chat/irc/). Only PRIVMSG is
# chat; the rest are handled by the client or ignored on purpose.
KNOWN_COMMANDS = frozenset(
    {
        "PRIVMSG", "PING", "PONG", "RECONNECT", "NOTICE", "JOIN", "PART", "CAP", "USERNOTICE",
        "USERSTATE", "ROOMSTATE", "CLEARCHAT", "CLEARMSG", "GLOBALUSERSTATE", "HOSTTARGET",
        "WHISPER", "001", "002", "003", "004", "353", "366", "372", "375", "376", "421",
    }
)  # fmt: skip

# IRCv3 tag value escapes: "\:" is ";", "\s" is a space, "\\" a backslash,
# "\r" and "\n" CR and LF; a backslash before anything else is dropped.
_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}

ACTION_PREFIX = "\x01ACTION "


class SkipLine(Exception):
    """A line that is not stored; `reason` is the label it is counted under."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class IrcMessage:
    command: str
    params: list[str]
    prefix: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def nick(self) -> str:
        """The nick of a "nick!user@host" prefix."""
        return self.prefix.partition("!")[0]


def unescape_tag_value(value: str) -> str:
    out = []
    chars = iter(value)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append(_ESCAPES.get(following, following))
        else:
            out.append(char)
    return "".join(out)


def escape_tag_value(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\:")
        .replace(" ", "\\s")
        .replace("\r", "\\r")
        .replace("\n", "\\n")
    )


def decode_line(raw: bytes) -> str:
    """Bytes of one line (without its newline) to text, or SkipLine."""
    if len(raw) > MAX_LINE_BYTES:
        raise SkipLine("oversized", f"{len(raw)} bytes")
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise SkipLine("invalid_utf8", str(exc)) from None


def parse_line(line: str) -> IrcMessage:
    """Parse one IRC line (no CR/LF). Raises SkipLine for anything malformed."""
    tags: dict[str, str] = {}
    if line.startswith("@"):
        raw_tags, sep, line = line.partition(" ")
        if not sep:
            raise SkipLine("malformed", "tags without a command")
        raw_tags = raw_tags[1:]
        try:
            # Fast path: every tag has "=" (Twitch always sends one).
            tags = dict([item.split("=", 1) for item in raw_tags.split(";")])
        except ValueError:
            for item in raw_tags.split(";"):
                key, _, value = item.partition("=")
                tags[key] = value
        tags.pop("", None)
        if "\\" in raw_tags:
            for key, value in tags.items():
                if "\\" in value:
                    tags[key] = unescape_tag_value(value)
        line = line.lstrip(" ")
    prefix = ""
    if line.startswith(":"):
        prefix, sep, line = line.partition(" ")
        if not sep:
            raise SkipLine("malformed", "prefix without a command")
        prefix = prefix[1:]
        line = line.lstrip(" ")
    command, _, rest = line.partition(" ")
    if not command:
        raise SkipLine("malformed", "no command")
    if command not in KNOWN_COMMANDS:
        if not (command.isalpha() or (len(command) == 3 and command.isdigit())):
            raise SkipLine("malformed", f"bad command {command[:20]!r}")
        command = command.upper()
    if rest.startswith(":"):
        params = [rest[1:]]
    else:
        middle, sep, trailing = rest.partition(" :")
        params = middle.split()
        if sep:
            params.append(trailing)
    return IrcMessage(command, params, prefix, tags)


def to_record(message: IrcMessage, received_at: datetime) -> ChatRecord:
    """A PRIVMSG as a ChatRecord. Raises SkipLine if it lacks a channel, nick or text."""
    params = message.params
    if len(params) < 2 or not params[0].startswith("#"):
        raise SkipLine("malformed", "PRIVMSG without #channel and text")
    login = message.nick or message.tags.get("login", "")
    if not login:
        raise SkipLine("malformed", "PRIVMSG without a sender")
    text = params[1]
    # /me arrives as a CTCP ACTION: "\x01ACTION waves\x01".
    is_action = text.startswith(ACTION_PREFIX)
    if is_action:
        text = text[len(ACTION_PREFIX) :].removesuffix("\x01")
    tags = message.tags
    return ChatRecord(
        channel=params[0][1:],
        username=login,
        text=text,
        sent_at=_sent_at(tags.get("tmi-sent-ts"), received_at),
        display_name=tags.get("display-name", ""),
        twitch_id=tags.get("id") or None,
        tags=tags,
        is_action=is_action,
    )


def _sent_at(value: object, received_at: datetime) -> datetime:
    """tmi-sent-ts is milliseconds since the epoch; fall back to receipt time."""
    if value is None or value == "":
        return received_at
    try:
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return received_at


def parse_json_record(line: str, received_at: datetime) -> ChatRecord:
    """One JSON line of a replay file: {"channel", "username"|"login", "text", ...}.

    Accepts the shape of our own exports and of common chat-log dumps:
    sent_at as ISO-8601 or epoch milliseconds, or a tmi-sent-ts tag.
    """
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise SkipLine("malformed_json", str(exc)) from None
    if not isinstance(data, dict):
        raise SkipLine("malformed_json", "not an object")
    tags = data.get("tags") or {}
    if not isinstance(tags, dict):
        raise SkipLine("malformed_json", "tags is not an object")
    tags = {str(key): value for key, value in tags.items()}
    channel = data.get("channel") or data.get("channel_name")
    login = data.get("username") or data.get("login") or tags.get("login")
    text = data.get("text", data.get("message"))
    if not (isinstance(channel, str) and isinstance(login, str) and isinstance(text, str)):
        raise SkipLine("malformed_json", "needs channel, username and text strings")
    is_action = bool(data.get("is_action") or data.get("action"))
    if text.startswith(ACTION_PREFIX):
        text, is_action = text[len(ACTION_PREFIX) :].removesuffix("\x01"), True
    twitch_id = data.get("id") or data.get("twitch_id") or tags.get("id")
    display_name = data.get("display_name") or tags.get("display-name") or ""
    return ChatRecord(
        channel=channel.lstrip("#"),
        username=login,
        text=text,
        sent_at=_json_sent_at(data, tags, received_at),
        display_name=str(display_name),
        twitch_id=str(twitch_id) if twitch_id else None,
        tags=tags,
        is_action=is_action,
    )


def _json_sent_at(data: dict, tags: dict, received_at: datetime) -> datetime:
    value = data.get("sent_at", data.get("timestamp"))
    if isinstance(value, str) and value and not value.isdigit():
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SkipLine("malformed_json", f"bad sent_at {value[:40]!r}") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if value is None:
        value = data.get("tmi-sent-ts", tags.get("tmi-sent-ts"))
    return _sent_at(value, received_at)
