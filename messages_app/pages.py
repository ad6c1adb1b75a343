"""The queries behind the pages: message lists paged by id (keyset), the
users list, the home totals. views.py turns requests into these calls and
their results into templates; nothing here knows about requests.

Every message list is newest first and paged by id: `before=<id>` is the next
older page, `after=<id>` the next newer one, and polling asks `after_id=<id>`
(docs/live-dom.md). A page of rows is always `id < cursor ORDER BY id DESC
LIMIT n`, so messages arriving meanwhile never shift a page: nothing is
skipped or repeated. Counts come from the maintained counters, never COUNT(*)
over messages. See docs/pages.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db.models import BooleanField, Max, Min, Q, Sum
from django.db.models.expressions import RawSQL
from django.urls import get_script_prefix, reverse
from django.utils import timezone

from messages_app import search
from messages_app.forms import MessageFilterForm
from messages_app.models import (
    ActivityBucket,
    Channel,
    ChannelDay,
    ChatUser,
    ChatUserName,
    Kind,
    Message,
    MessageQuerySet,
    OptOut,
    UserChannelStats,
)
from messages_app.templatetags.goknut import highlight

PAGE_SIZE = 50
POLL_LIMIT = 500  # docs/live-dom.md: a poll returns at most 500 rows
USERS_PAGE_SIZE = 50
USERS_SCAN = 2_000  # see most_active_matching


@dataclass
class MessagePage:
    rows: list[Message]
    older: int | None  # ?before= for the next older page, None at the end of history
    newer: int | None  # ?after= for the next newer page, None on the newest page

    @property
    def cursor(self) -> int:
        """The highest id the page was built from (data-live-cursor)."""
        return self.rows[0].id if self.rows else 0


def channel_messages(channel: Channel, form: MessageFilterForm) -> MessageQuerySet:
    """A channel page's messages, narrowed by the form's time filter (a `day`
    arrives here as since/until, see MessageFilterForm.day_as_time_range)."""
    data = form.cleaned_data
    qs = Message.objects.for_channel(channel)
    if data["since"] is not None or data["until"] is not None:
        qs = sent_in_channel_days(qs, channel, data["since"], data["until"])
    return row_fields(qs)


def sent_in_channel_days(qs: MessageQuerySet, channel: Channel, since, until) -> MessageQuerySet:
    """sent_between for one channel, with the id range taken from its days
    (ChannelDay) rather than the minute buckets: the buckets count chat and
    notices only, so a ban or a clear at the edge of a range, or a day of
    nothing but moderation lines, fell outside their ids. A channel page shows
    every kind, as the logs API's day does."""
    days = ChannelDay.objects.filter(channel=channel)
    if since is not None:
        qs = qs.filter(sent_at__gte=since)
        days = days.filter(day__gte=utc_day(since))
    if until is not None:
        qs = qs.filter(sent_at__lt=until)
        # The day of the last instant before `until`, so that a range ending
        # at midnight reads no ids of the next day.
        try:
            last = until - timedelta(microseconds=1)
        except OverflowError:  # `until` is the first instant there is
            return qs.none()
        days = days.filter(day__lte=utc_day(last))
    row = days.aggregate(lo=Min("first_id"), hi=Max("last_id"))
    if row["lo"] is None:
        return qs.none()
    return qs.filter(id__gte=row["lo"], id__lte=row["hi"])


def utc_day(moment: datetime) -> date:
    """The UTC date of a moment; beyond either end of the calendar, that end."""
    try:
        return moment.astimezone(UTC).date()
    except OverflowError:
        return date.min if moment.year == 1 else date.max


def filtered_messages(form: MessageFilterForm) -> MessageQuerySet:
    """Messages narrowed by the form's channel, user and time filters (not text:
    search has its own query plan, see fetch_rows)."""
    data = form.cleaned_data
    qs = Message.objects.all()
    if data["channel"]:
        qs = qs.for_channel(data["channel"])
    if data["user"]:
        qs = qs.for_user(data["user"])
    if data.get("kind"):
        qs = qs.filter(kind__in=KIND_FILTERS[data["kind"]])
    return row_fields(qs.sent_between(data["since"], data["until"]))


# The "Show" filter of message lists: which kinds each choice keeps.
KIND_FILTERS = {
    "chat": [Kind.PRIVMSG],
    "notices": [Kind.USERNOTICE],
    "moderation": [Kind.CLEARCHAT, Kind.CLEARMSG],
}
MODERATION_LIST_SIZE = 20
MODERATION_ROWS = RawSQL(
    '"messages_app_message"."kind" IN (2, 13)', [], output_field=BooleanField()
)  # the condition of message_mod_channel_idx and message_mod_user_idx


def mark_moderated(rows: list[Message]) -> list[Message]:
    """Set `moderated` on the chat and notice rows whose author was timed out
    or banned in that channel after them, or that a clear of the whole chat
    covered (Twitch clients clear those lines; live.js greys them the same way
    when the moderation event arrives). One query per page, on the partial
    index of moderation rows."""
    chat = [m for m in rows if m.kind in (Kind.PRIVMSG, Kind.USERNOTICE)]
    if not chat:
        return rows
    channels = {m.channel_id for m in chat}
    users = {m.user_id for m in chat}
    events = (
        Message.objects.filter(MODERATION_ROWS)
        .filter(kind=Kind.CLEARCHAT, channel_id__in=channels, id__gt=min(m.id for m in chat))
        .filter(Q(user_id__in=users) | Q(user_id=None))
        .values("channel_id", "user_id")
        .annotate(last=Max("id"))
    )
    last = {(e["channel_id"], e["user_id"]): e["last"] for e in events}
    for m in chat:
        cut = max(last.get((m.channel_id, m.user_id), 0), last.get((m.channel_id, None), 0))
        m.moderated = m.id < cut
    return rows


def current_login(name: str) -> str | None:
    """The login a user has now, when `name` is only one they had (None when
    `name` is current, or unknown)."""
    login = name.lower()
    if ChatUser.objects.filter(username=login).exists():
        return None
    old = (
        ChatUserName.objects.filter(login=login)
        .order_by("-last_seen_at")
        .values_list("user__username", flat=True)
        .first()
    )
    return old if old and old != login else None


def timeouts_and_bans(*, channel: Channel | None = None, user: ChatUser | None = None) -> list:
    """The newest timeouts, bans and clears of a channel or of a user (the
    partial indexes message_mod_channel_idx / message_mod_user_idx)."""
    # The partial indexes' condition, written out as literals: SQLite's planner
    # uses a partial index only when the query repeats its WHERE, and a bound
    # parameter does not count (kind = 2 alone scanned every row of the
    # channel: 130 ms on the 1M-message archive, 0.1 ms this way).
    qs = Message.objects.filter(MODERATION_ROWS).filter(kind=Kind.CLEARCHAT)
    if channel is not None:
        qs = qs.for_channel(channel)
    if user is not None:
        qs = qs.for_user(user)
    return list(row_fields(qs).order_by("-id")[:MODERATION_LIST_SIZE])


# What message_row.html shows. The full channel and user rows would cost a
# dozen more columns per message, five of them datetimes to parse.
ROW_FIELDS = (
    "id", "text", "sent_at", "tags", "tag_set__tags", "client_nonce", "is_action", "channel_id",
    "user_id", "channel__name", "channel__twitch_id", "user__username", "user__display_name",
    "kind", "system_text", "deleted_at", "twitch_id",
)  # fmt: skip


def row_fields(qs: MessageQuerySet) -> MessageQuerySet:
    return qs.with_related().only(*ROW_FIELDS)


def message_page(form: MessageFilterForm, qs: MessageQuerySet, size: int = PAGE_SIZE):
    """One page of `qs` (already filtered, not yet searched) at the form's cursor."""
    data = form.cleaned_data
    before, after = data["before"], data["after"]
    if after is not None:
        # The next newer page: the `size` ids just above the cursor, shown newest first.
        rows = fetch_rows(qs, data, size + 1, after=after, newest_first=False)
        has_more = len(rows) > size
        rows = mark_moderated(rows[:size][::-1])
        return MessagePage(
            rows, rows[-1].id if rows else after + 1, rows[0].id if has_more else None
        )
    rows = fetch_rows(qs, data, size + 1, before=before)
    older = rows[size - 1].id if len(rows) > size else None
    rows = mark_moderated(rows[:size])
    newer = rows[0].id if rows and before is not None else None
    if before is not None and not rows:
        newer = max(before - 1, 0)
    return MessagePage(rows, older, newer)


def fetch_rows(qs, data: dict, limit: int, *, before=None, after=None, newest_first=True):
    """`limit` rows of qs beyond the cursor, in id order; text goes through the
    index walk of search.newest_matches (see its docstring for the query plan)."""
    if data["q"]:
        if not settings.SHOW_DELETED_TEXT:  # hidden text must not be found either
            qs = qs.filter(deleted_at__isnull=True)
        id_range = window_lines = None
        if data["since"] or data["until"]:
            window = ActivityBucket.objects.window(data["since"], data["until"])
            if window is None:
                return []
            id_range, window_lines = window[:2], window[2]
        return search.newest_matches(
            qs,
            data["q"],
            limit,
            before=before,
            after=after,
            newest_first=newest_first,
            id_range=id_range,
            window_lines=window_lines,
            expected_share=expected_share(data),
            scope_rows=scope_rows(data),
        )
    if before is not None:
        qs = qs.before(before)
    if after is not None:
        qs = qs.after(after)
    return list(qs.order_by("-id" if newest_first else "id")[:limit])


SKIPPED_COUNT_LIMIT = 100_000  # as live/reads.py: skipped rows are counted up to this


def poll_rows(qs, data: dict) -> tuple[list[Message], int]:
    """The rows a poll (after_id) gets: the newest POLL_LIMIT above the cursor.
    When that is not all of them, also how many arrived after the cursor
    (counted up to SKIPPED_COUNT_LIMIT; 0 otherwise), so the page can say it
    skipped some, as it does after a stream's fallback."""
    after = data["after_id"]
    rows = fetch_rows(qs, data, POLL_LIMIT + 1, after=after)
    shown = mark_moderated(rows[:POLL_LIMIT])
    if len(rows) <= POLL_LIMIT or data["q"]:
        return shown, 0
    arrived = qs.filter(id__gt=after).order_by("id")[:SKIPPED_COUNT_LIMIT].count()
    return shown, arrived


def expected_share(data: dict) -> float | None:
    """The fraction of all messages the channel and user filters keep, from the
    counters; search uses it to pick its query plan (search.newest_matches)."""
    counts = [f.total_messages for f in (data["channel"], data["user"]) if f is not None]
    if not counts:
        return None
    total = Channel.objects.aggregate(total=Sum("total_messages"))["total"] or 0
    return min(counts) / total if total else None


def scope_rows(data: dict) -> int | None:
    """At most how many messages the channel and user filters keep (counters)."""
    counts = [f.total_messages for f in (data["channel"], data["user"]) if f is not None]
    return min(counts) if counts else None


def with_highlights(rows: list[Message], query: str) -> list[Message]:
    """Attach escaped-then-marked text; message_row.html shows it instead of text."""
    terms = [t + ("*" if prefix else "") for t, negated, prefix in search.parse_terms(query)
             if not negated]  # fmt: skip
    for message in rows:
        message.highlighted = highlight(message.text, terms)
    return rows


def latest_message_id() -> int:
    """The newest stored id: the live cursor of pages that show counts, not rows."""
    return Message.objects.order_by("-id").values_list("id", flat=True).first() or 0


def home_metrics_values() -> dict:
    now = timezone.now()
    totals = Channel.objects.aggregate(total=Sum("total_messages"))
    return {
        # Every channel row, deleted-with-history ones included: their messages
        # are still stored. Never COUNT(*) over messages.
        "total_messages": totals["total"] or 0,
        "total_channels": Channel.objects.active().count(),
        "total_users": ChatUser.objects.total(),
        "last_minute": ActivityBucket.objects.since(now - timedelta(minutes=1)),
        "last_hour": ActivityBucket.objects.since(now - timedelta(hours=1)),
    }


def users_page(cursor: tuple[int, int] | None, fragment: str) -> tuple[list[ChatUser], str | None]:
    """A page of users, most active first, keyset-paged by (total_messages, id);
    returns the users and the next page's cursor ("<total>-<id>") or None."""
    users: list[ChatUser] = []
    for part in _after_cursor(ChatUser.objects.by_activity(), cursor):
        wanted = USERS_PAGE_SIZE + 1 - len(users)
        if fragment:
            users += most_active_matching(part, fragment, wanted)
        else:
            users += list(part[:wanted])
        if len(users) > USERS_PAGE_SIZE:
            break
    next_cursor = None
    if len(users) > USERS_PAGE_SIZE:
        users = users[:USERS_PAGE_SIZE]
        next_cursor = f"{users[-1].total_messages}-{users[-1].id}"
    return users, next_cursor


def _after_cursor(qs, cursor: tuple[int, int] | None) -> list:
    """The users after `cursor` in activity order, as two querysets read in turn:
    the rest of the cursor's total, then every lower total. One query with
    `total < t OR (total = t AND id > i)` gives PostgreSQL no range of the
    (total DESC, id) index to start from: it walks the index from the top and
    filters (200 ms deep into 200,000 users); each part here is one index range."""
    if not cursor:
        return [qs]
    total, id_ = cursor
    return [qs.filter(total_messages=total, id__gt=id_), qs.filter(total_messages__lt=total)]


def most_active_matching(qs, fragment: str, limit: int) -> list[ChatUser]:
    """The most active users of qs whose name contains fragment.

    Walking the activity index and testing each name is fast for a common
    fragment but reads every user for a rare one; finding the matches in the
    trigram name index (ChatUserQuerySet.name_contains_indexed) and sorting them is
    the reverse. So test the most active USERS_SCAN first: if they hold a full
    page, that page is exact (every user beyond them ranks lower); otherwise
    the matches are few and the index finds them.
    """
    edge = qs.values_list("total_messages", flat=True)[USERS_SCAN - 1 : USERS_SCAN]
    if not edge:  # fewer users than that: the walk reads them all anyway
        return list(qs.name_contains(fragment)[:limit])
    # Everyone at least as active as the USERS_SCAN-th: a prefix of qs's order.
    head = qs.filter(total_messages__gte=edge[0])
    users = list(head.name_contains(fragment)[:limit])
    if len(users) == limit:
        return users
    return list(qs.name_contains_indexed(fragment)[:limit])


# -- links to the logs API (/api, docs/api.md) ---------------------------------


@dataclass(frozen=True)
class LogLinks:
    """Where the logs API serves one period: as text, JSON and raw IRC lines."""

    text: str
    json: str
    raw: str


def api_logs_links(*parts: str | int) -> LogLinks:
    """The /api URLs of a log path such as ("channel", "forsen", 2024, 5, 1):
    numbers unpadded, as the API writes them; the format is a bare flag."""
    url = _logs_prefix(get_script_prefix()) + "/".join(str(p) for p in parts)
    return LogLinks(text=url, json=f"{url}?json", raw=f"{url}?raw")


@lru_cache(maxsize=8)
def _logs_prefix(script_prefix: str) -> str:
    """The logs URLs up to their path, reversed once (a profile links one
    month per channel: reverse() each time was a twentieth of the page)."""
    return reverse("logs_api:logs", kwargs={"path": "channel/x"})[: -len("channel/x")]


def channel_day_range(channel: Channel) -> tuple[date, date] | None:
    """The first and last UTC day with lines in a channel, or None."""
    row = ChannelDay.objects.filter(channel=channel).aggregate(first=Min("day"), last=Max("day"))
    return None if row["first"] is None else (row["first"], row["last"])


def linked_day(channel: Channel, chosen: date | None, day_range) -> date | None:
    """The day whose logs a channel page links to: the chosen one when it has
    lines, else (none chosen) the newest day with lines."""
    if day_range is None:
        return None
    if chosen is None:
        return day_range[1]
    return chosen if ChannelDay.objects.filter(channel=channel, day=chosen).exists() else None


def channel_day_links(channel: Channel, day: date) -> LogLinks | None:
    """A channel's day in the logs API, or None when the API refuses the channel."""
    if refused_channels([channel]):
        return None
    return api_logs_links("channel", channel.name, day.year, day.month, day.day)


def with_month_links(user: ChatUser, stats: list[UserChannelStats]) -> list[UserChannelStats]:
    """Set `log_month` (the month of the user's newest line in the channel, from
    last_seen_at) and `log_links` (that month in the logs API, None when the API
    refuses the channel) on each row of a profile's channel table. (A user who
    opted out has no profile: views.user_detail.)"""
    refused = refused_channels([s.channel for s in stats]) if stats else set()
    for s in stats:
        newest = s.last_seen_at.astimezone(UTC)
        s.log_month = newest.date().replace(day=1)
        s.log_links = None
        if s.channel.name not in refused:
            s.log_links = api_logs_links(
                "channel", s.channel.name, "user", user.username, newest.year, newest.month
            )
    return stats


def user_opted_out(login: str, twitch_id: str | None) -> bool:
    """Whether the login, or the account that has it now (`twitch_id`, from its
    ChatUser row), opted out."""
    q = Q(login=login) | (Q(twitch_id=twitch_id) if twitch_id else Q(pk__in=[]))
    return OptOut.objects.filter(q, subject=OptOut.Subject.USER).exists()


def refused_channels(channels: list[Channel]) -> set[str]:
    """The names of the channels that opted out (the API answers them 403)."""
    return _opted_out(OptOut.Subject.CHANNEL, [(c.twitch_id, c.name) for c in channels])


def _opted_out(subject: str, who: list[tuple[str | None, str]]) -> set[str]:
    ids = {twitch_id: login for twitch_id, login in who if twitch_id}
    logins = {login for _, login in who}
    rows = OptOut.objects.filter(subject=subject).filter(
        Q(twitch_id__in=list(ids)) | Q(login__in=list(logins))
    )
    refused = set()
    for twitch_id, login in rows.values_list("twitch_id", "login"):
        if twitch_id in ids:
            refused.add(ids[twitch_id])
        if login in logins:
            refused.add(login)
    return refused
