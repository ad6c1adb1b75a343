"""The pages: home, messages, channels, users, search, and their htmx partials.

Views turn a request into a call of messages_app/pages.py (the queries, paged
by id) or writes.py (staff actions) and render the result. One views.py for the
app's two dozen views of 10-40 lines, so the file is long. See docs/pages.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from messages_app import charts, erasure, optouts, pages, search
from messages_app.forms import (
    ChannelAddForm,
    ChannelDeleteForm,
    ChannelRetentionForm,
    MessageFilterForm,
    UserListForm,
)
from messages_app.models import (
    Channel,
    ChatUser,
    Message,
    OptOut,
    UserChannelStats,
)
from messages_app.retention import retention_days
from messages_app.writes import (
    add_channel,
    delete_channel,
    set_channel_enabled,
    set_channel_retention,
)

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
    request: HttpRequest,
    form: MessageFilterForm,
    qs,
    list_id: str,
    page_path: str,
    pager: dict | None = None,
) -> HttpResponse:
    """The rows partial of a message list: newer rows for polling (after_id),
    or an older page plus its pager swapped out of band (before; `pager` is
    the page's own pager_context when it differs from the list's)."""
    data = form.cleaned_data
    skipped = 0
    if data["after_id"] is not None:
        # The newest POLL_LIMIT rows above the cursor: a client further behind
        # than that would trim to its cap anyway; it is told how many it skips.
        rows, skipped = pages.poll_rows(qs, data)
        page = pages.MessagePage(rows, None, None)
    else:
        page = pages.message_page(form, qs)
    if data["q"]:
        pages.with_highlights(page.rows, data["q"])
    context = {
        "rows": page.rows,
        "page": page,
        **(pager or pager_context(list_id)),
        "page_path": page_path,  # the pager's plain links lead to the full page
        "rows_path": request.path,
        "oob_pager": data["after_id"] is None,
    }
    response = render(request, "partials/message_rows.html", context)
    if skipped:  # live.js says so on the page (docs/live-dom.md)
        response["X-Goknut-Skipped"] = str(skipped)
        response["X-Goknut-Skipped-After"] = str(data["after_id"])
    return response


def message_list_context(form: MessageFilterForm, page: pages.MessagePage, **extra) -> dict:
    return {"form": form, "page": page, "rows": page.rows, **extra}


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    latest = list(pages.row_fields(Message.objects.newest_first())[: pages.PAGE_SIZE + 1])
    pages.mark_moderated(latest)
    older = latest[pages.PAGE_SIZE - 1].id if len(latest) > pages.PAGE_SIZE else None
    latest = latest[: pages.PAGE_SIZE]
    page = pages.MessagePage(latest, older, None)
    context = {
        "metrics": pages.home_metrics_values(),
        "page": page,
        "rows": latest,
        "live_url": live_url("home", page.cursor),
        **pager_context("latest-messages"),
    }
    return render(request, "home/home.html", context)


@require_GET
def home_metrics(request: HttpRequest) -> HttpResponse:
    context = {"metrics": pages.home_metrics_values()}
    return render(request, "home/metrics.html", context)


@require_GET
@friendly_errors
def message_list(request: HttpRequest) -> HttpResponse:
    form = message_filters(request)
    data = form.cleaned_data
    page = pages.message_page(form, pages.filtered_messages(form))
    if data["q"]:
        pages.with_highlights(page.rows, data["q"])
    # Text, time and kind filters and older pages cannot follow the stream.
    filtered = data["q"] or data["since"] or data["until"] or data["kind"]
    live = not filtered and page.newer is None
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
    return render_rows(request, form, pages.filtered_messages(form), "message-list", page_path)


@require_GET
@friendly_errors
def search_page(request: HttpRequest) -> HttpResponse:
    form = message_filters(request)
    data = form.cleaned_data
    page = pages.MessagePage([], None, None)
    if data["q"]:
        page = pages.message_page(form, pages.filtered_messages(form))
        pages.with_highlights(page.rows, data["q"])
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
    return render_rows(request, form, pages.filtered_messages(form), "search-results", page_path)


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
        # Answered, not raised: Django logs a raised PermissionDenied with its
        # traceback; a returned 403 is one "Forbidden: /channels" line.
        return render(request, "403.html", status=403)
    cursor = pages.latest_message_id()
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


def channel_pager(day) -> dict:
    """The channel list's pager; a day's list ends at that day's first message."""
    context = pager_context("channel-messages")
    if day is not None:
        context["end_label"] = f"That is the first message of {day:%Y-%m-%d} (UTC)."
    return context


@require_GET
@friendly_errors
def channel_detail(request: HttpRequest, name: str) -> HttpResponse:
    channel = get_channel_or_404(name)
    form = message_filters(request)
    data = form.cleaned_data
    page = pages.message_page(form, pages.channel_messages(channel, form))
    # A day (or a since/until range) cannot follow the stream.
    timed = data["since"] or data["until"]
    live = channel.deleted_at is None and page.newer is None and not timed
    day_range = pages.channel_day_range(channel)
    log_day = pages.linked_day(channel, data["day"], day_range)
    context = {
        "channel": channel,
        "form": form,
        "page": page,
        "rows": page.rows,
        "live": live,
        "live_url": live_url("channel", page.cursor, channel=channel.name) if live else None,
        "rows_url": reverse("messages_app:channel_rows", args=[channel.name]),
        "moderation": pages.timeouts_and_bans(channel=channel),
        "chosen_day": data["day"],
        "day_range": day_range,
        "log_day": log_day,
        "log_links": pages.channel_day_links(channel, log_day) if log_day else None,
        "charts": charts.channel_charts(channel, follow=live),
        **channel_pager(data["day"]),
        **retention_context(channel),
    }
    return render(request, "channels/detail.html", context)


def retention_context(channel: Channel, form: ChannelRetentionForm | None = None) -> dict:
    """How long the channel's lines are kept, and the staff form that sets it."""
    own = channel.retention_days
    initial = {"keep": "default" if own is None else "forever" if own == 0 else "days"}
    return {
        "kept_days": retention_days(own, settings.RETENTION_DAYS),
        "default_days": settings.RETENTION_DAYS,
        "retention_form": form or ChannelRetentionForm(initial={**initial, "days": own or None}),
    }


@require_POST
@staff_member_required
@friendly_errors
def channel_retention(request: HttpRequest, name: str) -> HttpResponse:
    channel = get_channel_or_404(name)
    form = ChannelRetentionForm(request.POST)
    if not form.is_valid():
        raise BadQuery([e for errors in form.errors.values() for e in errors])
    set_channel_retention(channel, form.retention_days())
    kept = retention_days(channel.retention_days, settings.RETENTION_DAYS)
    said = "forever" if kept is None else f"{kept:,} days"
    flash.success(request, f"#{channel.name} keeps its lines {said}.")
    return redirect("messages_app:channel", channel.name)


@require_GET
@friendly_errors
def channel_detail_rows(request: HttpRequest, name: str) -> HttpResponse:
    channel = get_channel_or_404(name)
    form = message_filters(request)
    qs = pages.channel_messages(channel, form)
    page_path = reverse("messages_app:channel", args=[channel.name])
    pager = channel_pager(form.cleaned_data["day"])
    return render_rows(request, form, qs, "channel-messages", page_path, pager)


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
    users, next_cursor = pages.users_page(form.cleaned_data["cursor"], form.cleaned_data["q"])
    return form, users, next_cursor


@require_GET
@friendly_errors
def user_list(request: HttpRequest) -> HttpResponse:
    form, users, next_cursor = user_page(request)
    cursor = pages.latest_message_id()
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


STATS_FIELDS = ("total_messages", "first_seen_at", "last_seen_at", "channel__name",
                "channel__twitch_id")  # fmt: skip


@require_GET
@friendly_errors
def user_detail(request: HttpRequest, name: str) -> HttpResponse:
    login = name.lower()
    user = ChatUser.objects.filter(username=login).first()  # one query for the three checks
    renamed = None if user is not None else pages.current_login(name)
    if renamed is not None:  # an old login: the profile lives under the current one
        url = reverse("messages_app:user", args=[renamed])
        query = request.GET.urlencode()
        return redirect(f"{url}?{query}" if query else url, permanent=True)
    if pages.user_opted_out(login, user.twitch_id if user else None):
        context = {"login": login}
        return render(request, "users/opted_out.html", context, status=410)
    user = user or get_user_or_404(name)  # the 404 of a name never seen
    form = message_filters(request)
    form.cleaned_data["user"] = user  # the profile's user, whatever ?user= says
    page = pages.message_page(form, pages.filtered_messages(form))
    data = form.cleaned_data
    filtered = data["since"] or data["until"] or data["q"] or data["kind"]
    live = not filtered and page.newer is None
    channel_name = data["channel"].name if data["channel"] else ""
    stats = (
        UserChannelStats.objects.filter(user=user)
        .select_related("channel")
        .only(*STATS_FIELDS)
        .order_by("-total_messages", "channel__name")
    )
    stats = pages.with_month_links(user, list(stats))
    context = {
        "profile": user,
        "stats": stats,
        "moderation": pages.timeouts_and_bans(user=user),
        "form": form,
        "page": page,
        "rows": page.rows,
        "live": live,
        "live_url": live_url("user_profile", page.cursor, user=user.username, channel=channel_name)
        if live
        else None,
        "rows_url": rows_url("messages_app:user_messages", user.username, channel=channel_name),
        # A stream narrowed to one channel misses the user's chat elsewhere.
        "charts": charts.user_charts(user, follow=live and not channel_name),
        **pager_context("user-messages"),
    }
    return render(request, "users/detail.html", context)


@require_GET
@friendly_errors
def user_detail_rows(request: HttpRequest, name: str) -> HttpResponse:
    user = get_user_or_404(name)
    form = message_filters(request)
    form.cleaned_data["user"] = user
    qs = pages.filtered_messages(form)
    page_path = reverse("messages_app:user", args=[user.username])
    return render_rows(request, form, qs, "user-messages", page_path)


@require_GET
@friendly_errors
def user_summary(request: HttpRequest, name: str) -> HttpResponse:
    """The profile's counters, for polling (data-poll-mode="replace")."""
    return render(request, "users/summary.html", {"profile": get_user_or_404(name)})


@require_http_methods(["GET", "POST"])
def optout_page(request: HttpRequest) -> HttpResponse:
    """/optout: how to opt out, in plain words; POST gets a visitor a code."""
    context: dict = {"current": "optout"}
    if request.method == "POST":
        context["code"] = optouts.new_code()
        context["expires_at"] = timezone.now() + optouts.CODE_LIFETIME
    response = render(request, "optout/page.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@staff_member_required
@friendly_errors
def user_optout(request: HttpRequest, name: str) -> HttpResponse:
    """Staff opt a user out from their profile: their lines stop being stored
    at once and the running ingest (or `manage.py erase`) erases the rest."""
    user = get_user_or_404(name)
    if request.POST.get("confirm") != "yes":
        raise BadQuery(["Tick the box to confirm: the erasure cannot be undone."])
    erasure.opt_out(OptOut.Subject.USER, twitch_id=user.twitch_id or "", login=user.username,
                    by=request.user.get_username())  # fmt: skip
    flash.success(request, f"{user.username} is opted out; their history is being erased.")
    return redirect("messages_app:user", user.username)
