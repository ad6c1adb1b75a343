"""Who a request names: `channel/<login>` or `channelid/<room id>`, `user/<login>`
or `userid/<user id>`; logins case-insensitively. A user or channel that opted
out is a 403 wherever it is named."""

from __future__ import annotations

from django.db.models import Q

from logs_api.errors import bad_request, not_found, opted_out
from messages_app.models import Channel, ChatUser, ChatUserName, OptOut
from messages_app.validators import TWITCH_LOGIN_RE

CHANNEL_KEYS = {"channel": False, "channelid": True}  # key -> by Twitch id
USER_KEYS = {"user": False, "userid": True}
MAX_ID_LENGTH = 32


def clean_name(value: str, by_id: bool, what: str) -> str:
    if by_id:
        if not (value.isascii() and value.isdigit() and len(value) <= MAX_ID_LENGTH):
            raise bad_request(f"invalid {what} id: use the Twitch id (digits)")
        return value
    login = value.strip().lstrip("#@").lower()
    if not TWITCH_LOGIN_RE.fullmatch(login):
        raise bad_request(f"invalid {what} login: 1-25 letters, digits or underscores")
    return login


def check_opt_out(subject: str, twitch_id: str | None, login: str | None) -> None:
    q = Q()
    if twitch_id:
        q |= Q(twitch_id=twitch_id)
    if login:
        q |= Q(login=login)
    if q and OptOut.objects.filter(q, subject=subject).exists():
        raise opted_out()


def find_channel(value: str, by_id: bool) -> Channel:
    name = clean_name(value, by_id, "channel")
    check_opt_out(OptOut.Subject.CHANNEL, name if by_id else None, None if by_id else name)
    lookup = {"twitch_id": name} if by_id else {"name": name}
    channel = Channel.objects.filter(**lookup).first()
    if channel is None:
        raise not_found("channel not found")
    if not by_id and channel.twitch_id:
        check_opt_out(OptOut.Subject.CHANNEL, channel.twitch_id, None)
    return channel


def find_user(value: str, by_id: bool) -> ChatUser:
    name = clean_name(value, by_id, "user")
    check_opt_out(OptOut.Subject.USER, name if by_id else None, None if by_id else name)
    if by_id:
        user = ChatUser.objects.filter(twitch_id=name).first()
    else:
        user = ChatUser.objects.filter(username=name).first()
        if user is None:  # a login the user had before a rename
            former = ChatUserName.objects.filter(login=name).order_by("-last_seen_at").first()
            user = former.user if former else None
    if user is None:
        raise not_found("user not found")
    check_opt_out(OptOut.Subject.USER, user.twitch_id, user.username)
    return user


def from_query(params, keys: dict[str, bool], what: str) -> tuple[str, bool] | None:
    """(value, by_id) of `?channel=` / `?channelid=` (or user/userid), if given."""
    for key, by_id in keys.items():
        value = params.get(key)
        if value:
            return value, by_id
    return None
