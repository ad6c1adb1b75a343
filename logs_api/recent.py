"""`/api/v2/recent-messages/<login>`: recent-messages2's API (docs/api.md),
which chat clients such as Chatterino call to fill a channel's history when
they join it, answered from the archive.

What goes in the answer:
- the newest `?limit` lines of the channel (default 800, at most MAX_LIMIT:
  a larger number is capped, as recent-messages2 caps it at its buffer size),
  no time cap, `?before` / `?after` (Unix milliseconds, exclusive) bounding
  the line's sent time; lines of users who opted out are left out.
- They are the newest by storage order, read on the (channel, -id) index
  (ChannelDay bounds the ids when `before` / `after` are given), never a scan
  of the channel; then shown oldest first by sent time. For lines ingested
  live the two orders are the same; for imported ones the window is the
  newest stored, shown in the order they were sent.
- Each line is the archived line rebuilt (logs_api.raw) plus the tags
  `historical=1` and `rm-received-ts=<ms>`, and `rm-deleted=1` on moderated
  lines. goknut keeps no time of receipt of its own: `rm-received-ts` is the
  line's sent time (tmi-sent-ts) in milliseconds.
- Moderated (as recent-messages2 marks its buffer): a message a CLEARMSG
  deleted (Message.deleted_at, wherever the CLEARMSG is), a chat message or
  notice of a user timed out or banned later in the window, and every line
  before a clear of the whole chat in the window.

Errors are JSON in recent-messages2's shape (status, status_message, error,
error_code), not the text of the log endpoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Max, Min, Q
from django.http import HttpRequest, HttpResponse

from logs_api import raw, reads
from logs_api.views import api, json_answer
from messages_app.models import Channel, ChannelDay, ChatUser, Kind, Message, OptOut
from messages_app.validators import TWITCH_LOGIN_RE

DEFAULT_LIMIT = 800
MAX_LIMIT = 10_000
# Each flag under recent-messages2's name and its v1 camelCase alias.
FLAGS = {
    "hide_moderation_messages": "hideModerationMessages",
    "hide_moderated_messages": "hideModeratedMessages",
    "clearchat_to_notice": "clearchatToNotice",
}
# recent-messages2 takes true/false; 1/0, yes/no and a bare key are accepted too.
TRUE = frozenset({"", "true", "1", "yes"})
FALSE = frozenset({"false", "0", "no"})
MAX_MS_DIGITS = 15  # Unix ms up to year 33658; longer is not a time
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOT_ARCHIVED = "This goknut does not archive this channel (never added, disabled or removed)"
MODERATION = frozenset({Kind.CLEARCHAT, Kind.CLEARMSG})
AUTHORED = frozenset({Kind.PRIVMSG, Kind.USERNOTICE})  # what a timeout or ban moderates
STATUS_TEXT = {400: "Bad Request", 403: "Forbidden", 405: "Method Not Allowed"}


class Refusal(Exception):
    """An answer in recent-messages2's error shape."""

    def __init__(self, status: int, error: str, code: str) -> None:
        super().__init__(error)
        self.status, self.error, self.code = status, error, code


def invalid_query() -> Refusal:
    return Refusal(400, "Invalid or missing query parameters", "invalid_query")


@dataclass(frozen=True)
class Options:
    hide_moderation_messages: bool = False
    hide_moderated_messages: bool = False
    clearchat_to_notice: bool = False
    limit: int = DEFAULT_LIMIT
    before: datetime | None = None
    after: datetime | None = None


@api
def recent_messages(request: HttpRequest, login: str) -> HttpResponse:
    try:
        if request.method not in ("GET", "HEAD"):
            raise Refusal(405, "Method Not Allowed", "method_not_allowed")
        options = parse_options(request.GET)
        channel = find_channel(login)
    except Refusal as refusal:
        return json_answer(
            {"status": refusal.status, "status_message": STATUS_TEXT[refusal.status],
             "error": refusal.error, "error_code": refusal.code},
            status=refusal.status,
        )  # fmt: skip
    messages = [] if channel is None else export(channel, window(channel, options), options)
    joined = channel is not None and channel.enabled and channel.deleted_at is None
    answer = {
        "messages": messages,
        "error": None if joined else NOT_ARCHIVED,
        "error_code": None if joined else "channel_not_joined",
    }
    return json_answer(answer, cache="no-cache")


# -- the request ------------------------------------------------------------------


def parse_options(params) -> Options:
    flags = {name: flag(params, name, alias) for name, alias in FLAGS.items()}
    return Options(
        **flags,
        limit=limit_of(params.get("limit", "")),
        before=moment(params.get("before", "")),
        after=moment(params.get("after", "")),
    )


def flag(params, name: str, alias: str) -> bool:
    values = params.getlist(name) + params.getlist(alias)
    for value in values:
        if value.lower() not in TRUE | FALSE:
            raise invalid_query()
    return any(value.lower() in TRUE for value in values)


def limit_of(value: str) -> int:
    """A whole number, capped at MAX_LIMIT; empty is the default."""
    if value == "":
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdigit()):
        raise invalid_query()
    return MAX_LIMIT if len(value) > 6 else min(int(value), MAX_LIMIT)


def moment(value: str) -> datetime | None:
    """Unix milliseconds (an integer, maybe negative); empty is no bound."""
    if value == "":
        return None
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= MAX_MS_DIGITS):
        raise invalid_query()
    try:
        return EPOCH + timedelta(milliseconds=int(value))
    except OverflowError:
        raise invalid_query() from None


def find_channel(login: str) -> Channel | None:
    """The archived channel of a login (None if goknut has none), or a refusal:
    a login Twitch would not allow, a channel that opted out (by login, or by
    the room id of the channel of that login)."""
    name = login.lower()
    if not TWITCH_LOGIN_RE.fullmatch(name):
        raise Refusal(400, f"Invalid channel login: {login}", "invalid_channel_login")
    channel = Channel.objects.filter(name=name).first()
    opted = Q(login=name)
    if channel is not None and channel.twitch_id:
        opted |= Q(twitch_id=channel.twitch_id)
    if OptOut.objects.filter(opted, subject=OptOut.Subject.CHANNEL).exists():
        message = f"The channel login `{name}` is excluded from this service"
        raise Refusal(403, message, "channel_ignored")
    return channel


# -- the lines --------------------------------------------------------------------


def window(channel: Channel, options: Options) -> list[reads.Line]:
    """The newest `limit` lines in the bounds, oldest first by sent time."""
    if options.limit == 0:
        return []
    qs = Message.objects.filter(channel_id=channel.pk)
    days = ChannelDay.objects.filter(channel=channel)
    if options.before is not None:
        qs = qs.filter(sent_at__lt=options.before)
        hi = days.filter(day__lte=options.before.date()).aggregate(hi=Max("last_id"))["hi"]
        if hi is None:
            return []
        qs = qs.filter(id__lte=hi)
    if options.after is not None:
        qs = qs.filter(sent_at__gt=options.after)
        lo = days.filter(day__gte=options.after.date()).aggregate(lo=Min("first_id"))["lo"]
        if lo is None:
            return []
        qs = qs.filter(id__gte=lo)
    hidden = opted_out_users()
    if hidden:
        qs = qs.exclude(user_id__in=hidden)  # keeps the clears of the whole chat (no user)
    rows = list(qs.order_by("-id").values_list(*reads.FIELDS, *reads.TAG_FIELDS)[: options.limit])
    lines = reads.Logins().lines(rows, channel, True)
    lines.sort(key=lambda line: (line.sent_at, line.id))
    return lines


def opted_out_users() -> list[int]:
    """The ids of the users who opted out, by Twitch id or by a login they have
    or had."""
    ids, logins = set(), set()
    for twitch_id, login in OptOut.objects.filter(subject=OptOut.Subject.USER).values_list(
        "twitch_id", "login"
    ):
        if twitch_id:
            ids.add(twitch_id)
        if login:
            logins.add(login.lower())
    if not ids and not logins:
        return []
    who = Q(twitch_id__in=ids) | Q(username__in=logins) | Q(names__login__in=logins)
    return list(ChatUser.objects.filter(who).values_list("id", flat=True).distinct())


def moderated(lines: list[reads.Line]) -> list[bool]:
    """Per line, whether moderation removed it: one pass from the newest line
    back, remembering the timeouts, bans and clears met so far (all later)."""
    flags = [False] * len(lines)
    cleared = False
    punished: set[int] = set()
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        flags[index] = (
            cleared
            or line.deleted_at is not None
            or (line.kind in AUTHORED and line.user_id in punished)
        )
        if line.kind == Kind.CLEARCHAT:
            if line.user_id is None:
                cleared = True
            else:
                punished.add(line.user_id)
    return flags


def export(channel: Channel, lines: list[reads.Line], options: Options) -> list[str]:
    out = []
    for line, removed in zip(lines, moderated(lines), strict=True):
        if options.hide_moderation_messages and line.kind in MODERATION:
            continue
        if options.hide_moderated_messages and removed:
            continue
        added = {"historical": "1", "rm-received-ts": received_ms(line)}
        if removed:
            added["rm-deleted"] = "1"
        if options.clearchat_to_notice and line.kind == Kind.CLEARCHAT:
            out.append(clearchat_notice(line, added))
        else:
            out.append(raw.raw_line(line, {**raw.tags_of(line), **added}))
    return out


def received_ms(line: reads.Line) -> str:
    """The line's tmi-sent-ts (goknut's stand-in for a time of receipt)."""
    sent = line.tags.get("tmi-sent-ts")
    if isinstance(sent, str) and sent.isascii() and sent.isdigit():
        return sent
    return str((line.sent_at - EPOCH) // timedelta(milliseconds=1))


# -- clearchat_to_notice ------------------------------------------------------------


def clearchat_notice(line: reads.Line, added: dict[str, str]) -> str:
    """A CLEARCHAT as the NOTICE recent-messages2 makes of it: only its msg-id
    tag (plus the added ones) and a sentence."""
    duration = str(line.tags.get("ban-duration", ""))
    if not line.login:
        msg_id, text = "rm-clearchat", "Chat has been cleared by a moderator."
    elif duration.isascii() and duration.isdigit():
        msg_id = "rm-timeout"
        text = f"{line.login} has been timed out for {human_duration(int(duration))}."
    else:
        msg_id, text = "rm-permaban", f"{line.login} has been permanently banned."
    tags = raw.render_tags({"msg-id": msg_id, **added})
    return f"@{tags} :{raw.HOST} NOTICE #{line.channel} :{text}"


# humantime's units: a year is 365.25 days, a month 30.44 days.
YEAR, MONTH, DAY = 31_557_600, 2_630_016, 86_400


def human_duration(seconds: int) -> str:
    """A duration as humantime writes it: `10m 30s`, `1day`, `14days`."""
    if seconds <= 0:
        return "0s"
    years, rest = divmod(seconds, YEAR)
    months, rest = divmod(rest, MONTH)
    days, rest = divmod(rest, DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}{'s' if n > 1 else ''}" for n, unit in
             ((years, "year"), (months, "month"), (days, "day")) if n]  # fmt: skip
    parts += [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return " ".join(parts)
