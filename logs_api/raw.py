"""An archived line as the IRC line Twitch sent: every tag it had, IRCv3
escaping, the prefix and command of its kind. Twitch sends its tags sorted;
so does this (PostgreSQL's jsonb keeps no order of its own)."""

from __future__ import annotations

from messages_app.ingest.parser import escape_tag_value
from messages_app.models import Kind

HOST = "tmi.twitch.tv"


def tags_of(line) -> dict[str, str]:
    """The line's tags as Twitch sent them: the stored ones plus `system-msg`
    (kept in its own column), every value a string."""
    tags = {
        key: value if isinstance(value, str) else str(value) for key, value in line.tags.items()
    }
    if line.kind == Kind.USERNOTICE and "system-msg" not in tags:
        tags["system-msg"] = line.system_text
    return tags


def text_of(line) -> str:
    r"""What the line's trailing parameter said (a /me as its CTCP ACTION)."""
    if line.is_action:
        return f"\x01ACTION {line.text}\x01" if line.text else "\x01ACTION\x01"
    return line.text


def render_tags(tags: dict[str, str]) -> str:
    # Twitch sorts "key=value" strings, so msg-param-sub-plan-name comes
    # before msg-param-sub-plan: sorting by key + "=" does the same.
    return ";".join(
        f"{key}={escape_tag_value(value)}" for key, value in sorted(tags.items(), key=_order)
    )


def _order(item: tuple[str, str]) -> str:
    return item[0] + "="


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
