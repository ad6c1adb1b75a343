"""The write path's side of opt-out: lines of opted-out users and channels are
never stored, and `!goknut optout <code>` (or `!justlog optout <code>`) typed
in chat with a code from `POST /api/optout` opts its sender out.

Both run inside store_batch's transaction: an opt-out and the lines that
follow it are decided in the same order they were written."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from django.utils import timezone

from messages_app import erasure
from messages_app.identity import twitch_user_id
from messages_app.models import Kind, OptOut, OptOutCode

CODE_LIFETIME = timedelta(seconds=60)
CODE_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"  # justlog's: 6 of these
COMMAND_RE = re.compile(r"^!(?:goknut|justlog)\s+optout\s+(\S+)", re.IGNORECASE)


def new_code() -> str:
    """A one-time code for `!goknut optout <code>`, valid CODE_LIFETIME."""
    now = timezone.now()
    OptOutCode.objects.filter(created_at__lt=now - CODE_LIFETIME).delete()
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
        if not OptOutCode.objects.filter(code=code).exists():
            OptOutCode.objects.create(code=code, created_at=now)
            return code


def apply(records: list) -> tuple[list, int]:
    """(records to store, how many were dropped as opted out)."""
    _take_commands(records)
    users, channels = _opted_out()
    if not (users or channels):
        return records, 0
    kept = [r for r in records if not _is_opted_out(r, users, channels)]
    return kept, len(records) - len(kept)


def _take_commands(records: list) -> None:
    for r in records:
        if r.kind != Kind.PRIVMSG or not r.text.startswith("!"):
            continue
        match = COMMAND_RE.match(r.text)
        if match is None:
            continue
        code = match.group(1).lower()
        fresh = timezone.now() - CODE_LIFETIME
        used = OptOutCode.objects.filter(code=code, created_at__gte=fresh).delete()[0]
        if used:  # one use; a wrong, expired or reused code does nothing
            erasure.opt_out(OptOut.Subject.USER, twitch_id=twitch_user_id(r) or "",
                            login=r.username, by="chat")  # fmt: skip


def _opted_out() -> tuple[set[str], set[str]]:
    """Twitch ids and logins of opted-out users, and of channels (one small table)."""
    users: set[str] = set()
    channels: set[str] = set()
    for subject, twitch_id, login in OptOut.objects.values_list("subject", "twitch_id", "login"):
        names = users if subject == OptOut.Subject.USER else channels
        names.update(value for value in (twitch_id, login) if value)
    return users, channels


def _is_opted_out(record, users: set[str], channels: set[str]) -> bool:
    if channels and (record.channel in channels or record.tags.get("room-id") in channels):
        return True
    if not users:
        return False
    return record.username in users or twitch_user_id(record) in users
