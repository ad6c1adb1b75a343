"""Staff views of the archive. The message changelist must stay fast on
millions of rows: no full-table COUNT, no joins it does not need."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property

from messages_app import erasure
from messages_app.models import Channel, ChatUser, Message, OptOut, OptOutEvent, UserChannelStats
from messages_app.writes import delete_channel, save_channel, set_channel_enabled


class EstimatedCountPaginator(Paginator):
    """Skip COUNT(*) over the messages table: the highest id is a close upper bound."""

    @cached_property
    def count(self) -> int:
        query = self.object_list.query
        if query.where:
            # Filtered lists (by channel, user, search) are smaller; cap the work.
            return self.object_list[:10_001].count()
        last = self.object_list.model.objects.order_by("-id").values_list("id", flat=True)
        return last.first() or 0


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ["name", "display_name", "enabled", "total_messages", "last_message_at",
                    "retention_days"]  # fmt: skip
    list_filter = ["enabled"]
    search_fields = ["name", "display_name"]
    readonly_fields = ["total_messages", "last_message_at", "created_at", "updated_at"]
    actions = ["enable", "disable", "delete_keep_history"]

    def get_readonly_fields(self, request: HttpRequest, obj: Channel | None = None) -> list:
        """A channel's Twitch id, once known, is fixed: its lines' room-id is
        rebuilt from it (messages_app/tag_sets.py)."""
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "twitch_id"] if obj is not None and obj.twitch_id else fields

    @admin.action(description="Enable selected channels (ingest joins them)")
    def enable(self, request: HttpRequest, queryset: QuerySet) -> None:
        # A deleted channel (history kept) stays deleted: adding it again undeletes it.
        updated = self._set_enabled(queryset.filter(deleted_at__isnull=True), True)
        self.message_user(request, f"Enabled {updated} channel(s).")

    @admin.action(description="Disable selected channels (ingest leaves them)")
    def disable(self, request: HttpRequest, queryset: QuerySet) -> None:
        updated = self._set_enabled(queryset, False)
        self.message_user(request, f"Disabled {updated} channel(s).")

    @admin.action(description="Delete selected channels, keep their history browsable")
    def delete_keep_history(self, request: HttpRequest, queryset: QuerySet) -> None:
        channels = list(queryset.filter(deleted_at__isnull=True))
        for channel in channels:
            delete_channel(channel, keep_history=True)
        self.message_user(request, f"Deleted {len(channels)} channel(s); history kept.")

    def _set_enabled(self, queryset: QuerySet, enabled: bool) -> int:
        return set_channel_enabled(queryset, enabled)

    def save_model(self, request: HttpRequest, obj: Channel, form, change: bool) -> None:
        save_channel(obj)

    def get_deleted_objects(self, objs, request: HttpRequest):
        # The channel's messages and stats go with it through delete_channel,
        # which keeps every counter true; their own admins refuse deletes, which
        # Django would otherwise take as "you may not delete this channel".
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request: HttpRequest, obj: Channel) -> None:
        # Through the write path, so the users' counters lose these messages too.
        delete_channel(obj, keep_history=False)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for channel in queryset:
            delete_channel(channel, keep_history=False)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the write path: staff can look, not add, edit or
    delete (a change here would skip the counters and the live pages)."""

    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ChatUser)
class ChatUserAdmin(ReadOnlyAdmin):
    list_display = ["username", "display_name", "total_messages", "first_seen_at", "last_seen_at"]
    search_fields = ["username", "display_name"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "sent_at", "channel", "user", "text", "is_action"]
    list_select_related = ["channel", "user"]
    raw_id_fields = ["channel", "user"]
    search_fields = ["twitch_id"]
    search_help_text = "A message's Twitch id"
    paginator = EstimatedCountPaginator
    ordering = ["-id"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        """The message with that Twitch id: an exact match, which the Twitch id
        index answers (SQLite stores most ids as bytes, which LIKE cannot see)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.with_twitch_ids(term), False


@admin.register(UserChannelStats)
class UserChannelStatsAdmin(ReadOnlyAdmin):
    list_display = ["user", "channel", "total_messages", "last_seen_at"]
    list_select_related = ["user", "channel"]
    raw_id_fields = ["user", "channel"]


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    """Users and channels opted out by staff or by their own code. Adding one
    drops their new lines at once and the running ingest (or `manage.py
    erase`) erases what is stored; deleting one opts them in again (what was
    erased stays erased). Both are recorded with who did it (OptOutEvent)."""

    list_display = ["subject", "login", "twitch_id", "by", "created_at", "erased_at"]
    list_filter = ["subject"]
    search_fields = ["login", "twitch_id"]
    fields = ["subject", "login", "twitch_id"]

    def save_model(self, request: HttpRequest, obj: OptOut, form, change: bool) -> None:
        if change:
            raise PermissionDenied("an opt-out is not edited: delete it (opt-in) and add another")
        saved = erasure.opt_out(obj.subject, twitch_id=obj.twitch_id, login=obj.login,
                                by=request.user.get_username())  # fmt: skip
        obj.pk = saved.pk

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: OptOut) -> None:
        erasure.opt_in(obj, by=request.user.get_username())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for optout in queryset:
            erasure.opt_in(optout, by=request.user.get_username())


@admin.register(OptOutEvent)
class OptOutEventAdmin(admin.ModelAdmin):
    """The audit list: every opt-out, opt-in and finished erasure, who and when."""

    list_display = ["at", "action", "subject", "login", "twitch_id", "by", "detail"]
    list_filter = ["action", "subject"]
    search_fields = ["login", "twitch_id", "by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
