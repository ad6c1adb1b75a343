"""An archived line as the IRC line Twitch sent: every tag it had, IRCv3
escaping, the prefix and command of its kind. Twitch sends its tags sorted;
so does this (PostgreSQL's jsonb keeps no order of its own)."""

from __future__ import annotations

from messages_app.ingest.parser import escape_tag_value
from messages_app.models import Kind

HOST = "tmi.twitch.tv"


def tags_of(line) -> dict[str, str]:
    """The line's tags as Twitch sent them: the stored ones plus `system-msg`
    (kept in its own column), every value a string (the parser stores strings;
    a replayed JSON record may have had numbers)."""
    tags = line.tags
    if not set(map(type, tags.values())) <= {str}:
        tags = {key: value if isinstance(value, str) else str(value) for key, value in tags.items()}
    if line.kind == Kind.USERNOTICE and "system-msg" not in tags:
        tags = {**tags, "system-msg": line.system_text}
    return tags


def text_of(line) -> str:
    r"""What the line's trailing parameter said (a /me as its CTCP ACTION)."""
    if line.is_action:
        return f"\x01ACTION {line.text}\x01" if line.text else "\x01ACTION\x01"
    return line.text


def render_tags(tags: dict[str, str]) -> str:
    """`key=value;...` with IRCv3 escaping, sorted as Twitch sorts its tags:
    as "key=value" strings, so msg-param-sub-plan-name comes before
    msg-param-sub-plan (hence the sort on key + "=").

    Written for speed (a JSON download rebuilds every line): one sort of
    plain strings and one escape over the whole text, NUL standing for the
    separators meanwhile (the parser removes NUL from every line); values that
    hold a NUL anyway take the slow road."""
    keys = sorted([key + "=" for key in tags])
    if "\x00" in "".join(tags.values()):
        return ";".join(f"{key}{escape_tag_value(tags[key[:-1]])}" for key in keys)
    text = "\x00".join([key + tags[key[:-1]] for key in keys])
    return escape_tag_value(text).replace("\x00", ";")  # keys hold nothing it escapes


def raw_line(line, tags: dict[str, str] | None = None) -> str:
    tags = tags_of(line) if tags is None else tags
    prefix = f"@{render_tags(tags)} " if tags else ""
    channel = f"#{line.channel}"
    if line.kind == Kind.PRIVMSG:
        login = line.login
        return f"{prefix}:{login}!{login}@{login}.{HOST} PRIVMSG {channel} :{text_of(line)}"
    if line.kind == Kind.USERNOTICE:
        trailing = f" :{line.text}" if line.text else ""
        return f"{prefix}:{HOST} USERNOTICE {channel}{trailing}"
    if line.kind == Kind.CLEARMSG:
        return f"{prefix}:{HOST} CLEARMSG {channel} :{text_of(line)}"
    trailing = f" :{line.login}" if line.login else ""  # CLEARCHAT
    return f"{prefix}:{HOST} CLEARCHAT {channel}{trailing}"
