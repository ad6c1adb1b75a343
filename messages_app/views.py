"""The pages: home, messages, channels, users, search, and their htmx partials.

Every message list is newest first and paged by id (keyset): `?before=<id>` is
the next older page, `?after=<id>` the next newer one, and the rows partials
take `after_id=<id>` for polling (docs/live-dom.md). A page of rows is always
`id < cursor ORDER BY id DESC LIMIT n`, so messages arriving meanwhile never
shift a page: nothing is skipped or repeated. Counts come from the maintained
counters, never COUNT(*) over messages. See docs/pages.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from messages_app import search
from messages_app.forms import ChannelAddForm, ChannelDeleteForm, MessageFilterForm, UserListForm
from messages_app.models import (
    ActivityBucket,
    Channel,
    ChatUser,
    Message,
    MessageQuerySet,
    UserChannelStats,
)
from messages_app.templatetags.goknut import highlight
from messages_app.writes import add_channel, delete_channel, set_channel_enabled

PAGE_SIZE = 50
# The "older" button and the end-of-history note of each message list, shared
# by its page and its rows partial (which swaps the pager out of band).
PAGER_LABELS = {
    "latest-messages": ("Browse older messages", "That is the beginning of the archive."),
    "message-list": ("Older messages", "That is the beginning of the archive."),
    "search-results": ("Older matches", "No older matches."),
    "channel-messages": (
        "Load earlier messages",
        "That is the beginning of this channel's history.",
    ),
    "user-messages": ("Older messages", "That is this user's first message."),
}
POLL_LIMIT = 500  # docs/live-dom.md: a poll returns at most 500 rows
USERS_PAGE_SIZE = 50
USERS_SCAN = 2_000  # see most_active_matching


# -- errors --------------------------------------------------------------------


class BadQuery(Exception):
    """A query parameter the page cannot use; shown on a 400 page."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class NotFound(Http404):
    """An unknown channel or user; shown on the 404 page with this message."""


def friendly_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Turn BadQuery into a readable 400 and NotFound into a helpful 404."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadQuery as exc:
            context = {"errors": exc.errors, "back": request.path}
            return render(request, "400.html", context, status=400)
        except NotFound as exc:
            return render(request, "404.html", {"message": str(exc)}, status=404)

    return wrapper


def get_channel_or_404(name: str) -> Channel:
    """Fetch or 404. Deleted-with-history channels are found: their pages stay."""
    channel = Channel.objects.filter(name=name.lower()).first()
    if channel is None:
        raise NotFound(f"No channel named “{name}” is archived here.")
    return channel


def get_user_or_404(name: str) -> ChatUser:
    user = ChatUser.objects.filter(username=name.lower()).first()
    if user is None:
        raise NotFound(f"No chat user named “{name}” has been seen in any archived channel.")
    return user


def message_filters(request: HttpRequest) -> MessageFilterForm:
    """The validated filters and cursors of a message list, or BadQuery."""
    form = MessageFilterForm(request.GET)
    if not form.is_valid():
        errors = []
        for field, field_errors in form.errors.items():
            label = form.fields[field].label or field if field != "__all__" else ""
            errors += [f"{label}: {e}" if label else e for e in field_errors]
        raise BadQuery(errors)
    return form


# -- message pages -------------------------------------------------------------


@dataclass
class MessagePage:
    rows: list[Message]
    older: int | None  # ?before= for the next older page, None at the end of history
    newer: int | None  # ?after= for the next newer page, None on the newest page

    @property
    def cursor(self) -> int:
        """The highest id the page was built from (data-live-cursor)."""
        return self.rows[0].id if self.rows else 0


def filtered_messages(form: MessageFilterForm) -> MessageQuerySet:
    """Messages narrowed by the form's channel, user and time filters (not text:
    search has its own query plan, see _fetch)."""
    data = form.cleaned_data
    qs = Message.objects.all()
    if data["channel"]:
        qs = qs.for_channel(data["channel"])
    if data["user"]:
        qs = qs.for_user(data["user"])
    return row_fields(qs.sent_between(data["since"], data["until"]))


# What message_row.html shows. The full channel and user rows would cost a
# dozen more columns per message, five of them datetimes to parse.
ROW_FIELDS = (
    "id", "text", "sent_at", "tags", "is_action", "channel_id", "user_id",
    "channel__name", "user__username", "user__display_name",
)  # fmt: skip


def row_fields(qs: MessageQuerySet) -> MessageQuerySet:
    return qs.with_related().only(*ROW_FIELDS)


def message_page(form: MessageFilterForm, qs: MessageQuerySet, size: int = PAGE_SIZE):
    """One page of `qs` (already filtered, not yet searched) at the form's cursor."""
    data = form.cleaned_data
    before, after = data["before"], data["after"]
    if after is not None:
        # The next newer page: the `size` ids just above the cursor, shown newest first.
        rows = _fetch(qs, data, size + 1, after=after, newest_first=False)
        has_more = len(rows) > size
        rows = rows[:size][::-1]
        return MessagePage(
            rows, rows[-1].id if rows else after + 1, rows[0].id if has_more else None
        )
    rows = _fetch(qs, data, size + 1, before=before)
    older = rows[size - 1].id if len(rows) > size else None
    rows = rows[:size]
    newer = rows[0].id if rows and before is not None else None
    if before is not None and not rows:
        newer = max(before - 1, 0)
    return MessagePage(rows, older, newer)


def _fetch(qs, data: dict, limit: int, *, before=None, after=None, newest_first=True):
    """`limit` rows of qs beyond the cursor, in id order; text goes through the
    index walk of search.newest_matches (see its docstring for the query plan)."""
    if data["q"]:
        id_range = None
        if data["since"] or data["until"]:
            id_range = ActivityBucket.objects.id_range(data["since"], data["until"])
            if id_range is None:
                return []
        return search.newest_matches(
            qs,
            data["q"],
            limit,
            before=before,
            after=after,
            newest_first=newest_first,
            id_range=id_range,
            expected_share=expected_share(data),
        )
    if before is not None:
        qs = qs.before(before)
    if after is not None:
        qs = qs.after(after)
    return list(qs.order_by("-id" if newest_first else "id")[:limit])


def expected_share(data: dict) -> float | None:
    """The fraction of all messages the channel and user filters keep, from the
    counters; search uses it to pick its query plan (search.newest_matches)."""
    counts = [f.total_messages for f in (data["channel"], data["user"]) if f is not None]
    if not counts:
        return None
    total = Channel.objects.aggregate(total=Sum("total_messages"))["total"] or 0
    return min(counts) / total if total else None


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


def live_url(view: str, cursor: int, **subjects: str) -> str | None:
    """The stream URL of docs/live-dom.md, or None when streaming is off."""
    if not settings.ENABLE_SSE:
        return None
    params = {"view": view, "after_id": cursor, **{k: v for k, v in subjects.items() if v}}
    return "/live?" + urlencode(params)


def rows_url(name: str, *args, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return reverse(name, args=args) + (f"?{query}" if query else "")


def pager_context(list_id: str) -> dict:
    older_label, end_label = PAGER_LABELS[list_id]
    return {"list_id": list_id, "older_label": older_label, "end_label": end_label}


def render_rows(
    request: HttpRequest, form: MessageFilterForm, qs, list_id: str, page_path: str
) -> HttpResponse:
    """The rows partial of a message list: newer rows for polling (after_id),
    or an older page plus its pager swapped out of band (before)."""
    data = form.cleaned_data
    if data["after_id"] is not None:
        # The newest POLL_LIMIT rows above the cursor: a client further behind
        # than that would trim to its cap anyway.
        rows = _fetch(qs, data, POLL_LIMIT, after=data["after_id"])
        page = MessagePage(rows, None, None)
    else:
        page = message_page(form, qs)
    if data["q"]:
        with_highlights(page.rows, data["q"])
    context = {
        "rows": page.rows,
        "page": page,
        **pager_context(list_id),
        "page_path": page_path,  # the pager's plain links lead to the full page
        "rows_path": request.path,
        "oob_pager": data["after_id"] is None,
    }
    return render(request, "partials/message_rows.html", context)


def message_list_context(form: MessageFilterForm, page: MessagePage, **extra) -> dict:
    return {"form": form, "page": page, "rows": page.rows, **extra}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    latest = list(row_fields(Message.objects.newest_first())[: PAGE_SIZE + 1])
    older = latest[PAGE_SIZE - 1].id if len(latest) > PAGE_SIZE else None
    latest = latest[:PAGE_SIZE]
    page = MessagePage(latest, older, None)
    context = {
        "metrics": home_metrics_values(),
        "page": page,
        "rows": latest,
        "live_url": live_url("home", page.cursor),
        **pager_context("latest-messages"),
    }
    return render(request, "home/home.html", context)


def home_metrics_values() -> dict:
    now = timezone.now()
    totals = Channel.objects.aggregate(total=Sum("total_messages"))
    return {
        # Every channel row, deleted-with-history ones included: their messages
        # are still stored. Never COUNT(*) over messages.
        "total_messages": totals["total"] or 0,
        "total_channels": Channel.objects.active().count(),
        "total_users": ChatUser.objects.count(),
        "last_minute": ActivityBucket.objects.since(now - timedelta(minutes=1)),
        "last_hour": ActivityBucket.objects.since(now - timedelta(hours=1)),
    }


@require_GET
def home_metrics(request: HttpRequest) -> HttpResponse:
    context = {"metrics": home_metrics_values()}
    return render(request, "home/metrics.html", context)


@require_GET
@friendly_errors
def message_list(request: HttpRequest) -> HttpResponse:
    form = message_filters(request)
    data = form.cleaned_data
    page = message_page(form, filtered_messages(form))
    if data["q"]:
        with_highlights(page.rows, data["q"])
    # Text and time filters and older pages cannot follow the stream (live-dom.md).
    live = not (data["q"] or data["since"] or data["until"] or page.newer is not None)
    channel, user = data["channel"], data["user"]
    channel_name = channel.name if channel else ""
    user_name = user.username if user else ""
    context = message_list_context(
        form,
        page,
        live=live,
        live_url=live_url("messages", page.cursor, channel=channel_name, user=user_name)
        if live
        else None,
        rows_url=rows_url("messages_app:message_rows", channel=channel_name, user=user_name),
        channels=Channel.objects.order_by("name").only("name", "deleted_at"),
        **pager_context("message-list"),
    )
    return render(request, "messages/list.html", context)


@require_GET
@friendly_errors
def message_rows(request: HttpRequest) -> HttpResponse:
    form = message_filters(request)
    page_path = reverse("messages_app:messages")
    return render_rows(request, form, filtered_messages(form), "message-list", page_path)


@require_GET
@friendly_errors
def search_page(request: HttpRequest) -> HttpResponse:
    form = message_filters(request)
    data = form.cleaned_data
    page = MessagePage([], None, None)
    if data["q"]:
        page = message_page(form, filtered_messages(form))
        with_highlights(page.rows, data["q"])
    context = message_list_context(
        form,
        page,
        query=data["q"],
        has_terms=bool(search.highlight_terms(data["q"])),
        channels=Channel.objects.order_by("name").only("name", "deleted_at"),
        **pager_context("search-results"),
    )
    return render(request, "search/search.html", context)


@require_GET
@friendly_errors
def search_rows(request: HttpRequest) -> HttpResponse:
    form = message_filters(request)
    if not form.cleaned_data["q"]:
        raise BadQuery(["Text: enter something to search for."])
    page_path = reverse("messages_app:search")
    return render_rows(request, form, filtered_messages(form), "search-results", page_path)


# -- channels ------------------------------------------------------------------


def channel_list_context() -> dict:
    return {"channels": Channel.objects.active().order_by("name")}


@require_http_methods(["GET", "POST"])
def channel_list(request: HttpRequest) -> HttpResponse:
    form = None
    if request.user.is_staff:
        # Not `request.POST or None`: an empty POST must be bound and show its errors.
        form = ChannelAddForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            channel = add_channel(form.cleaned_data["name"])
            flash.success(request, f"Archiving #{channel.name}: ingest joins it within seconds.")
            return redirect("messages_app:channels")
    elif request.method == "POST":
        raise PermissionDenied("Only staff can add channels.")
    cursor = latest_message_id()
    context = {
        **channel_list_context(),
        "form": form,
        "cursor": cursor,
        "live_url": live_url("channels", cursor),
    }
    status = 400 if form is not None and form.errors else 200
    return render(request, "channels/list.html", context, status=status)


@require_GET
def channel_rows(request: HttpRequest) -> HttpResponse:
    return render(request, "partials/channel_rows.html", channel_list_context())


@require_GET
@friendly_errors
def channel_detail(request: HttpRequest, name: str) -> HttpResponse:
    channel = get_channel_or_404(name)
    form = message_filters(request)
    page = message_page(form, row_fields(Message.objects.for_channel(channel)))
    live = channel.deleted_at is None and page.newer is None
    context = {
        "channel": channel,
        "page": page,
        "rows": page.rows,
        "live": live,
        "live_url": live_url("channel", page.cursor, channel=channel.name) if live else None,
        "rows_url": reverse("messages_app:channel_rows", args=[channel.name]),
        **pager_context("channel-messages"),
    }
    return render(request, "channels/detail.html", context)


@require_GET
@friendly_errors
def channel_detail_rows(request: HttpRequest, name: str) -> HttpResponse:
    channel = get_channel_or_404(name)
    form = message_filters(request)
    qs = row_fields(Message.objects.for_channel(channel))
    page_path = reverse("messages_app:channel", args=[channel.name])
    return render_rows(request, form, qs, "channel-messages", page_path)


@require_POST
@staff_member_required
@friendly_errors
def channel_enabled(request: HttpRequest, name: str) -> HttpResponse:
    channel = get_channel_or_404(name)
    value = request.POST.get("enabled")
    if value not in ("true", "false"):
        raise BadQuery(["enabled must be true or false."])
    enable = value == "true"
    if channel.deleted_at is not None:
        raise BadQuery([f"#{channel.name} was deleted; add it again to archive it."])
    set_channel_enabled([channel], enable)
    verb = "Enabled" if enable else "Disabled"
    flash.success(request, f"{verb} #{channel.name}.")
    return redirect("messages_app:channels")


@require_http_methods(["GET", "POST"])
@staff_member_required
@friendly_errors
def channel_delete(request: HttpRequest, name: str) -> HttpResponse:
    channel = get_channel_or_404(name)
    if channel.deleted_at is not None:
        raise NotFound(f"#{channel.name} is already deleted (its history is kept).")
    form = ChannelDeleteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        keep = form.cleaned_data["history"] == "keep"
        delete_channel(channel, keep_history=keep)
        kept = "its messages are kept" if keep else "its messages were deleted"
        flash.success(request, f"Deleted #{channel.name}; {kept}.")
        return redirect("messages_app:channels")
    status = 400 if form.errors else 200
    return render(
        request, "channels/delete.html", {"channel": channel, "form": form}, status=status
    )


# -- users ---------------------------------------------------------------------


def user_page(request: HttpRequest) -> tuple[UserListForm, list[ChatUser], str | None]:
    """A page of users, most active first, keyset-paged by (total_messages, id)."""
    form = UserListForm(request.GET)
    if not form.is_valid():
        raise BadQuery([f"{field}: {e}" for field, errs in form.errors.items() for e in errs])
    qs = ChatUser.objects.by_activity()
    if form.cleaned_data["cursor"]:
        total, id_ = form.cleaned_data["cursor"]
        qs = qs.filter(Q(total_messages__lt=total) | Q(total_messages=total, id__gt=id_))
    if form.cleaned_data["q"]:
        users = most_active_matching(qs, form.cleaned_data["q"], USERS_PAGE_SIZE + 1)
    else:
        users = list(qs[: USERS_PAGE_SIZE + 1])
    next_cursor = None
    if len(users) > USERS_PAGE_SIZE:
        users = users[:USERS_PAGE_SIZE]
        next_cursor = f"{users[-1].total_messages}-{users[-1].id}"
    return form, users, next_cursor


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


@require_GET
@friendly_errors
def user_list(request: HttpRequest) -> HttpResponse:
    form, users, next_cursor = user_page(request)
    cursor = latest_message_id()
    context = {
        "form": form,
        "users": users,
        "next_cursor": next_cursor,
        "cursor": cursor,
        "live_url": live_url("users", cursor),
        "rows_url": rows_url(
            "messages_app:user_rows",
            q=form.cleaned_data["q"],
            cursor=request.GET.get("cursor", ""),
        ),
    }
    return render(request, "users/list.html", context)


@require_GET
@friendly_errors
def user_rows(request: HttpRequest) -> HttpResponse:
    form, users, next_cursor = user_page(request)
    context = {"users": users, "next_cursor": next_cursor, "form": form}
    return render(request, "partials/user_rows.html", context)


@require_GET
@friendly_errors
def user_detail(request: HttpRequest, name: str) -> HttpResponse:
    user = get_user_or_404(name)
    form = message_filters(request)
    form.cleaned_data["user"] = user  # the profile's user, whatever ?user= says
    page = message_page(form, filtered_messages(form))
    data = form.cleaned_data
    live = not (data["since"] or data["until"] or data["q"] or page.newer is not None)
    channel_name = data["channel"].name if data["channel"] else ""
    stats = (
        UserChannelStats.objects.filter(user=user)
        .select_related("channel")
        .only("total_messages", "first_seen_at", "last_seen_at", "channel__name")
        .order_by("-total_messages", "channel__name")
    )
    context = {
        "profile": user,
        "stats": stats,
        "form": form,
        "page": page,
        "rows": page.rows,
        "live": live,
        "live_url": live_url("user_profile", page.cursor, user=user.username, channel=channel_name)
        if live
        else None,
        "rows_url": rows_url("messages_app:user_messages", user.username, channel=channel_name),
        **pager_context("user-messages"),
    }
    return render(request, "users/detail.html", context)


@require_GET
@friendly_errors
def user_detail_rows(request: HttpRequest, name: str) -> HttpResponse:
    user = get_user_or_404(name)
    form = message_filters(request)
    form.cleaned_data["user"] = user
    qs = filtered_messages(form)
    page_path = reverse("messages_app:user", args=[user.username])
    return render_rows(request, form, qs, "user-messages", page_path)


@require_GET
@friendly_errors
def user_summary(request: HttpRequest, name: str) -> HttpResponse:
    """The profile's counters, for polling (data-poll-mode="replace")."""
    return render(request, "users/summary.html", {"profile": get_user_or_404(name)})
