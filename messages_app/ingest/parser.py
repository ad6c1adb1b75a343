"""Parse Twitch's IRC dialect: IRCv3 tags, prefix, command, params.
(Long because each of the four stored commands has its own rules below.)

This is on the hot path of ingest (10,000+ lines a second), so it uses
str.partition and split rather than a regular expression, only unescapes
tag values that contain a backslash, and does no per-line work a PRIVMSG
does not need (event_id's UUID is only made for CLEARMSG and CLEARCHAT).

Every chat event becomes a ChatRecord (`to_record`): PRIVMSG (chat),
USERNOTICE (subs, raids, announcements, ... whatever its msg-id), CLEARMSG (a
deleted message) and CLEARCHAT (a timeout, a ban, a clear of the whole chat).
What each field holds per kind is fixed by writes.ChatRecord.

Bad input never raises anything but `SkipLine`, which names the reason it is
counted under (metrics, the command's summary).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import Counter

from messages_app.models import Kind
from messages_app.writes import ChatRecord

# Twitch allows 8,191 bytes of tags plus 512 for the rest of the line (IRCv3
# message-tags). Anything longer is not a line Twitch sent.
MAX_LINE_BYTES = 8191 + 512

# Commands Twitch sends (https://dev.twitch.tv/docs/chat/irc/). RECORD_COMMANDS
# are chat events, stored; the rest are handled by the client or ignored on purpose.
KNOWN_COMMANDS = frozenset(
    {
        "PRIVMSG", "PING", "PONG", "RECONNECT", "NOTICE", "JOIN", "PART", "CAP", "USERNOTICE",
        "USERSTATE", "ROOMSTATE", "CLEARCHAT", "CLEARMSG", "GLOBALUSERSTATE", "HOSTTARGET",
        "WHISPER", "001", "002", "003", "004", "353", "366", "372", "375", "376", "421",
    }
)  # fmt: skip
RECORD_COMMANDS = frozenset({"PRIVMSG", "USERNOTICE", "CLEARMSG", "CLEARCHAT"})

# Twitch's own senders: the server, and `jtv`, which old Twitch used for system
# messages sent as PRIVMSG ("X is now hosting you."). Neither is a chat user.
SERVER_SENDERS = frozenset({"tmi.twitch.tv", "jtv"})

# messages.twitch_id is varchar(64); Twitch's ids are 36-character UUIDs.
MAX_ID_LENGTH = 64

# IRCv3 tag value escapes: "\:" is ";", "\s" is a space, "\\" a backslash,
# "\r" and "\n" CR and LF; a backslash before anything else is dropped.
_ESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}

ACTION_PREFIX = "\x01ACTION "

# Never change it: every stored CLEARMSG and CLEARCHAT id was made with it.
EVENT_NAMESPACE = uuid.UUID("c4f0cb22-6f51-467d-b07f-7ddbbc778f9d")

_USERNOTICE, _CLEARMSG, _CLEARCHAT = int(Kind.USERNOTICE), int(Kind.CLEARMSG), int(Kind.CLEARCHAT)

# Lines kept although their tags held invalid UTF-8 (replaced by U+FFFD, see
# decode_line_checked). Not a skip: the line is stored (or counted) as usual.
UTF8_REPLACED = Counter(
    "goknut_ingest_utf8_replaced_lines",
    "Lines kept with U+FFFD for invalid UTF-8 in their tags.",
)


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
        """The nick of a "nick!user@host" or "nick@host" prefix; a bare
        "nick" or server name ("tmi.twitch.tv") as it is."""
        nick = self.prefix.partition("!")[0]
        return nick.partition("@")[0] if "@" in nick else nick


def is_login(value: str) -> bool:
    """Twitch's login rule (validators.TWITCH_LOGIN_RE: 1-25 letters, digits
    and underscores), case aside (the write path lowercases), without a regex."""
    return 0 < len(value) <= 25 and value.isascii() and value.replace("_", "a").isalnum()


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


def decode_line_checked(raw: bytes) -> tuple[str, bool]:
    """Bytes of one line (without its newline) to (text, replaced), or SkipLine.

    The rule for invalid UTF-8: inside the tags section (from "@" to the first
    space) each bad byte becomes U+FFFD and the line is kept, `replaced` True so
    the caller can count it (UTF8_REPLACED). Tags are metadata: one bad byte in a
    badge or a display name must not cost the message. Anywhere else (prefix,
    command, channel, text) the line is skipped as "invalid_utf8": those name
    the user and the channel, which must be exact, and the text is what the
    archive keeps, which must not be stored misquoted.
    """
    if len(raw) > MAX_LINE_BYTES:
        raise SkipLine("oversized", f"{len(raw)} bytes")
    try:
        return raw.decode(), False
    except UnicodeDecodeError as exc:
        error = exc
    if raw.startswith(b"@"):
        # A space (0x20) is never part of a UTF-8 sequence, valid or not, so the
        # first one ends the tags in the bytes exactly as in the decoded text.
        raw_tags, sep, rest = raw.partition(b" ")
        if sep:
            try:
                rest_text = rest.decode()
            except UnicodeDecodeError as exc:
                error = exc
            else:
                return f"{raw_tags.decode(errors='replace')} {rest_text}", True
    raise SkipLine("invalid_utf8", str(error))


def decode_line(raw: bytes) -> str:
    """decode_line_checked without the flag (for callers that do not count it)."""
    return decode_line_checked(raw)[0]


def parse_line(line: str) -> IrcMessage:
    """Parse one IRC line (no CR/LF). Raises SkipLine for anything malformed.

    NUL is removed from the whole line first: IRC forbids it, nobody can see it
    in chat, and neither PostgreSQL text nor jsonb can hold it (logins,
    display names, ids and every tag would carry it otherwise).
    """
    if "\x00" in line:
        line = line.replace("\x00", "")
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
        # Only the space separates parameters (a tab or another Unicode space
        # is part of one, as the IRC parser tests have it).
        params = middle.split(" ") if middle else []
        if "" in params:
            params = [param for param in params if param]
        if sep:
            params.append(trailing)
    return IrcMessage(command, params, prefix, tags)


def to_record(message: IrcMessage, received_at: datetime) -> ChatRecord:
    """A chat event (a command in RECORD_COMMANDS) as a ChatRecord; SkipLine
    for a malformed one (no #channel, no or a bad login, a bad id, ...)."""
    if message.command != "PRIVMSG":
        try:
            build = _BUILDERS[message.command]
        except KeyError:
            raise ValueError(f"{message.command} is not a chat event") from None
        return build(message, received_at)
    # PRIVMSG, the hot path: its checks are inlined (is_login, _twitch_id).
    params = message.params
    if len(params) < 2 or not params[0].startswith("#"):
        raise SkipLine("malformed", "PRIVMSG without #channel and text")
    tags = message.tags
    nick = message.nick
    if nick in SERVER_SENDERS:
        raise SkipLine("server_sender", f"a PRIVMSG from {nick}")
    login = nick or tags.get("login", "")
    if not login:
        raise SkipLine("malformed", "PRIVMSG without a sender")
    if not (len(login) <= 25 and login.isascii() and login.replace("_", "a").isalnum()):
        raise SkipLine("bad_login", repr(login[:40]))
    twitch_id = tags.get("id") or None
    if twitch_id is not None and len(twitch_id) > MAX_ID_LENGTH:
        raise SkipLine("bad_id", f"an id of {len(twitch_id)} characters")
    text = params[1]
    is_action = False
    if text.startswith("\x01"):
        text, is_action = split_action(text)
    return ChatRecord(
        channel=params[0][1:],
        username=login,
        text=text,
        sent_at=_sent_at(tags.get("tmi-sent-ts"), received_at),
        display_name=tags.get("display-name", ""),
        twitch_id=twitch_id,
        tags=tags,
        is_action=is_action,
    )


def _usernotice(message: IrcMessage, received_at: datetime) -> ChatRecord:
    """Any msg-id (sub, raid, announcement, one Twitch adds tomorrow): stored
    alike, its kind of notice in the tags. The user is the `login` tag (the
    prefix is the server); an ACTION in a notice's text is just text."""
    params = message.params
    channel = _channel(params, "USERNOTICE")
    tags = message.tags
    login = tags.get("login", "")
    if not login and message.nick not in SERVER_SENDERS:
        login = message.nick
    if not login:
        raise SkipLine("malformed", "USERNOTICE without a login tag")
    if not is_login(login):
        raise SkipLine("bad_login", repr(login[:40]))
    system_text = tags.pop("system-msg", "")
    return ChatRecord(
        channel=channel,
        username=login,
        text=params[1] if len(params) > 1 else "",
        sent_at=_sent_at(tags.get("tmi-sent-ts"), received_at),
        display_name=tags.get("display-name", ""),
        twitch_id=_twitch_id(tags.get("id")),
        tags=tags,
        kind=_USERNOTICE,
        system_text=system_text,
    )


def _clearmsg(message: IrcMessage, received_at: datetime) -> ChatRecord:
    """A deleted message: its author (`login`), its text, `target-msg-id`."""
    params = message.params
    channel = _channel(params, "CLEARMSG")
    tags = message.tags
    login = tags.get("login", "")
    if not login:
        raise SkipLine("malformed", "CLEARMSG without a login tag")
    if not is_login(login):
        raise SkipLine("bad_login", repr(login[:40]))
    if not tags.get("target-msg-id"):
        raise SkipLine("malformed", "CLEARMSG without target-msg-id")
    _twitch_id(tags["target-msg-id"])
    text = params[1] if len(params) > 1 else ""
    is_action = False
    if text.startswith("\x01"):  # the deleted message was a /me
        text, is_action = split_action(text)
    return ChatRecord(
        channel=channel,
        username=login,
        text=text,
        sent_at=_sent_at(tags.get("tmi-sent-ts"), received_at),
        display_name=tags.get("display-name", ""),
        twitch_id=event_id(_CLEARMSG, tags, channel, login),
        tags=tags,
        is_action=is_action,
        kind=_CLEARMSG,
    )


def _clearchat(message: IrcMessage, received_at: datetime) -> ChatRecord:
    """With a trailing login: that user timed out (`ban-duration`) or banned;
    without one: the whole chat cleared (username "")."""
    params = message.params
    channel = _channel(params, "CLEARCHAT")
    target = params[1] if len(params) > 1 else ""
    if target and not is_login(target):
        raise SkipLine("bad_login", repr(target[:40]))
    tags = message.tags
    return ChatRecord(
        channel=channel,
        username=target,
        text="",
        sent_at=_sent_at(tags.get("tmi-sent-ts"), received_at),
        twitch_id=event_id(_CLEARCHAT, tags, channel, target),
        tags=tags,
        kind=_CLEARCHAT,
    )


_BUILDERS = {"USERNOTICE": _usernotice, "CLEARMSG": _clearmsg, "CLEARCHAT": _clearchat}


def event_id(kind: int, tags: dict, channel: str, username: str) -> str:
    """A stable twitch_id for a CLEARMSG or CLEARCHAT line.

    These lines carry no `id` tag, and the archive de-duplicates by twitch_id
    (unique): a line seen twice (Twitch repeating it around a reconnect, live
    and again from the backfill source, a log replayed twice) must get the same
    id each time, so it is a UUID 5 (EVENT_NAMESPACE) of the facts that identify
    the event, never of when it was received:
    - CLEARMSG: `target-msg-id`. A message is deleted once.
    - CLEARCHAT: the room (`room-id`, else the channel), the target
      (`target-user-id`, else the login, else nothing: a clear of the whole
      chat) and `tmi-sent-ts`, so the same user timed out twice is two events.
      Two clears of a chat without `tmi-sent-ts` (old logs) are one event.
    Parts are joined with NUL, which parse_line removes from every line, and a
    login is marked ("#channel", "@user") so it never equals an id of digits.
    """
    kind = int(kind)
    if kind == _CLEARMSG:
        name = f"{kind}\x00{tags.get('target-msg-id', '')}"
    elif kind == _CLEARCHAT:
        room = tags.get("room-id") or f"#{channel.lower()}"
        target = tags.get("target-user-id") or (f"@{username.lower()}" if username else "")
        name = f"{kind}\x00{room}\x00{target}\x00{tags.get('tmi-sent-ts', '')}"
    else:
        raise ValueError(f"kind {kind} lines have their own id tag")
    return str(uuid.uuid5(EVENT_NAMESPACE, name))


def split_action(text: str) -> tuple[str, bool]:
    r"""/me arrives as a CTCP ACTION: "\x01ACTION waves\x01" -> ("waves", True).
    An empty one ("\x01ACTION\x01") is an action with no text; any other
    CTCP is left as text."""
    if text.startswith(ACTION_PREFIX):
        return text[len(ACTION_PREFIX) :].removesuffix("\x01"), True
    if text in ("\x01ACTION\x01", "\x01ACTION"):
        return "", True
    return text, False


def _channel(params: list[str], command: str) -> str:
    if not params or not params[0].startswith("#"):
        raise SkipLine("malformed", f"{command} without #channel")
    return params[0][1:]


def _twitch_id(value: str | None) -> str | None:
    """A Twitch id as stored, or SkipLine: a longer one is not Twitch's."""
    if not value:
        return None
    if len(value) > MAX_ID_LENGTH:
        raise SkipLine("bad_id", f"an id of {len(value)} characters")
    return value


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
    if text.startswith("\x01"):
        text, was_action = split_action(text)
        is_action = is_action or was_action
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
