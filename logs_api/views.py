"""The `/api` views: justlog's and rustlog's log API (docs/api.md).

Every answer carries CORS for any site, `X-Content-Type-Options: nosniff`
(chat text is never served as something a browser renders) and rustlog's
`x-rustlog-capabilities`; errors are text/plain with a reason."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import wraps

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from logs_api import addressing, formats, periods, reads, streaming
from logs_api.errors import ApiError, bad_request, error_response, not_found
from logs_api.periods import Period
from logs_api.reads import Scope
from messages_app import optouts
from messages_app.models import (
    Channel,
    ChannelDay,
    ChatUserName,
    OptOut,
    UserChannelStats,
)

CAPABILITIES = ["arbitrary-range-query", "search", "stats", "namehistory"]
LIST_CACHE = "public, max-age=600"
MAX_LIMIT = 1_000_000
MAX_OFFSET = 100_000_000
MAX_SEGMENT = 64


def api(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The headers every /api answer carries, errors as text, CORS preflight."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method == "OPTIONS":
            response = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response["Access-Control-Allow-Headers"] = "Accept, Content-Type, Authorization"
            response["Access-Control-Max-Age"] = "86400"
        else:
            try:
                response = view(request, *args, **kwargs)
            except ApiError as error:
                response = error_response(error)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = "*"
        response["X-Content-Type-Options"] = "nosniff"
        response["x-rustlog-capabilities"] = ",".join(CAPABILITIES)
        return response

    return csrf_exempt(wrapper)


def json_answer(value, *, cache: str | None = None, status: int = 200) -> HttpResponse:
    response = JsonResponse(value, safe=False, status=status, json_dumps_params={
        "ensure_ascii": False, "separators": (",", ":")})  # fmt: skip
    response["Content-Type"] = "application/json; charset=utf-8"
    if cache:
        response["Cache-Control"] = cache
    return response


# -- lists ---------------------------------------------------------------------


@api
def channels(request: HttpRequest) -> HttpResponse:
    opted = set(
        OptOut.objects.filter(subject=OptOut.Subject.CHANNEL).values_list("twitch_id", "login")
    )
    opted_ids = {twitch_id for twitch_id, _ in opted if twitch_id}
    opted_logins = {login for _, login in opted if login}
    rows = (
        Channel.objects.active()
        .filter(days__isnull=False)
        .distinct()
        .values_list("twitch_id", "name")
    )
    listed = [
        {"userID": twitch_id or "", "name": name}
        for twitch_id, name in rows
        if twitch_id not in opted_ids and name not in opted_logins
    ]
    return json_answer({"channels": listed}, cache=LIST_CACHE)


@api
def available(request: HttpRequest) -> HttpResponse:
    """`/api/list`: a channel's days, or a user's months in a channel, newest first."""
    named = addressing.from_query(request.GET, addressing.CHANNEL_KEYS, "channel")
    if named is None:
        raise bad_request("missing channel or channelid")
    channel = addressing.find_channel(*named)
    user_named = addressing.from_query(request.GET, addressing.USER_KEYS, "user")
    if user_named is None:
        days = (
            ChannelDay.objects.filter(channel=channel)
            .order_by("-day")
            .values_list("day", flat=True)
        )
        logs = [{"year": str(d.year), "month": str(d.month), "day": str(d.day)} for d in days]
    else:
        user = addressing.find_user(*user_named)
        logs = [{"year": str(y), "month": str(m)} for y, m in reads.user_months(channel, user)]
    if not logs:
        raise not_found("Not found")
    return json_answer({"availableLogs": logs}, cache=LIST_CACHE)


# -- logs ----------------------------------------------------------------------


@api
def logs(request: HttpRequest, path: str) -> HttpResponse:
    """Every `/api/channel[id]/...` path (docs/api.md, "Log endpoints")."""
    parts = path.strip("/").split("/")
    if len(parts) > 8 or any(len(part) > MAX_SEGMENT for part in parts):
        raise bad_request("path too long")
    if len(parts) < 2 or parts[0] not in addressing.CHANNEL_KEYS:
        raise not_found("Not found")
    channel = addressing.find_channel(parts[1], addressing.CHANNEL_KEYS[parts[0]])
    rest, user = parts[2:], None
    base = f"/api/{parts[0]}/{parts[1]}"
    if rest and rest[0] in addressing.USER_KEYS:
        if len(rest) < 2:
            raise not_found("Not found")
        user = addressing.find_user(rest[1], addressing.USER_KEYS[rest[0]])
        base = f"{base}/{rest[0]}/{rest[1]}"
        rest = rest[2:]
    scope = Scope(channel, user)
    if not rest:
        period = periods.arbitrary(request.GET)
        if period is None:
            return newest(request, scope, base)
        return log_answer(request, scope, period, empty_is_404=False)
    if rest == ["range"]:
        period = periods.arbitrary(request.GET) or last_month()
        return log_answer(request, scope, period, empty_is_404=False)
    if rest == ["random"]:
        return random_answer(request, scope)
    if rest == ["stats"]:
        return stats(scope)
    if rest == ["search"] and user is not None:
        return search_answer(request, scope)
    if len(rest) == 3 and user is None:
        return log_answer(request, scope, periods.day(*rest))
    if len(rest) == 2 and user is not None:
        return log_answer(request, scope, periods.month(*rest))
    raise not_found("Not found")


def last_month() -> Period:
    now = timezone.now()
    return Period(now - timedelta(days=31), now + timedelta(seconds=1))


def newest(request: HttpRequest, scope: Scope, base: str) -> HttpResponse:
    """302 to the newest day (channel) or month (user) with logs, query kept."""
    if scope.user is None:
        day = ChannelDay.objects.filter(channel=scope.channel).order_by("-day").values_list(
            "day", flat=True).first()  # fmt: skip
        target = None if day is None else f"{day.year}/{day.month}/{day.day}"
    else:
        months = reads.user_months(scope.channel, scope.user)
        target = None if not months else f"{months[0][0]}/{months[0][1]}"
    if target is None:
        raise not_found("Not found")
    query = request.META.get("QUERY_STRING", "")
    response = HttpResponse(status=302)
    response["Location"] = f"{base}/{target}" + (f"?{query}" if query else "")
    return response


def paging(params) -> tuple[int | None, int]:
    def number(key: str, most: int) -> int | None:
        value = params.get(key)
        if value is None or value == "":
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > 12 or int(value) > most:
            raise bad_request(f"invalid {key}: a whole number up to {most:,}")
        return int(value)

    return number("limit", MAX_LIMIT), number("offset", MAX_OFFSET) or 0


def log_answer(request, scope: Scope, period: Period, *, empty_is_404: bool = True) -> HttpResponse:
    fmt = formats.chosen(request)
    limit, offset = paging(request.GET)
    chunks = paged(
        reads.lines(
            scope, period, reverse="reverse" in request.GET, with_tags=formats.needs_tags(fmt)
        ),
        limit,
        offset,
    )
    first = next(chunks, None)
    if first is None and empty_is_404:
        raise not_found("Not found")
    second = next(chunks, None) if first is not None else None
    if second is None:
        # All of it is in hand (at most one chunk): a plain answer, without
        # the async iterator's thread hop per part (a day of 500 lines: 17.7
        # -> ms p50 under daphne, docs/perf.md).
        content = b"".join(body(fmt, first, iter(())))
        response = HttpResponse(content, content_type=formats.CONTENT_TYPES[fmt])
    else:
        rest = itertools.chain([second], chunks)
        response = StreamingHttpResponse(
            streaming.stream(lambda: body(fmt, first, rest)),
            content_type=formats.CONTENT_TYPES[fmt],
        )
    response["Cache-Control"] = period.cache_control()
    return response


def paged(chunks: Iterator[list], limit: int | None, offset: int) -> Iterator[list]:
    """`?offset` lines skipped and at most `?limit` given, chunk by chunk."""
    for chunk in chunks:
        if offset:
            skipped = min(offset, len(chunk))
            chunk, offset = chunk[skipped:], offset - skipped
        if limit is not None:
            chunk, limit = chunk[:limit], limit - min(limit, len(chunk))
        if chunk:
            yield chunk
        if limit == 0:
            return


def body(fmt: str, first: list | None, chunks: Iterator[list]) -> Iterator[bytes]:
    is_array = fmt in ("json", "jsonBasic")
    if is_array:
        yield b'{"messages":['
    if first is not None:
        yield formats.render(fmt, first)
        for chunk in chunks:
            part = formats.render(fmt, chunk)
            yield (b"," if is_array else b"") + part
    if is_array:
        yield b"]}"


def random_answer(request: HttpRequest, scope: Scope) -> HttpResponse:
    fmt = formats.chosen(request)
    line = reads.random_line(scope)
    if line is None:
        raise not_found("Not found")
    response = HttpResponse(b"".join(body(fmt, [line], iter(()))),
                            content_type=formats.CONTENT_TYPES[fmt])  # fmt: skip
    response["Cache-Control"] = "no-cache"
    return response


def search_answer(request: HttpRequest, scope: Scope) -> HttpResponse:
    q = request.GET.get("q", "")
    if not q.strip():
        raise bad_request("missing q: the text to find")
    if len(q) > 500:
        raise bad_request("q too long: at most 500 characters")
    scope.search = q
    everything = Period(periods.EARLIEST, timezone.now() + timedelta(days=1))
    response = log_answer(request, scope, everything, empty_is_404=False)
    response["Cache-Control"] = "no-cache"
    return response


def stats(scope: Scope) -> HttpResponse:
    if scope.user is not None:
        row = UserChannelStats.objects.filter(channel=scope.channel, user=scope.user).first()
        return json_answer({
            "userId": scope.user.twitch_id or "",
            "userLogin": scope.user.username,
            "messageCount": row.total_messages if row else 0,
        })  # fmt: skip
    top = (
        UserChannelStats.objects.filter(channel=scope.channel)
        .order_by("-total_messages")
        .values_list("user__twitch_id", "user__username", "total_messages")[:5]
    )
    return json_answer({
        "messageCount": scope.channel.total_messages,
        "topChatters": [{"userId": tid or "", "userLogin": login, "messageCount": n}
                        for tid, login, n in top],
    })  # fmt: skip


# -- users, capabilities, opt-out ------------------------------------------------


@api
def name_history(request: HttpRequest, user_id: str) -> HttpResponse:
    user = addressing.find_user(user_id, by_id=True)
    names = ChatUserName.objects.filter(user=user).order_by("first_seen_at")
    return json_answer([
        {"user_login": n.login, "first_timestamp": formats.timestamp(n.first_seen_at),
         "last_timestamp": formats.timestamp(n.last_seen_at)}
        for n in names
    ])  # fmt: skip


@api
def capabilities(request: HttpRequest) -> HttpResponse:
    return json_answer(CAPABILITIES)


@api
def optout(request: HttpRequest) -> HttpResponse:
    """A one-time code, valid a minute, for `!goknut optout <code>` in chat."""
    if request.method != "POST":
        response = HttpResponse("use POST", status=405, content_type="text/plain; charset=utf-8")
        response["Allow"] = "POST, OPTIONS"
        return response
    return json_answer(optouts.new_code())
