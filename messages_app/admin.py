"""Staff views of the archive. The message changelist must stay fast on
millions of rows: no full-table COUNT, no joins it does not need."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property

from messages_app.models import Channel, ChatUser, Message, UserChannelStats
from messages_app.signals import channel_changed
from messages_app.writes import delete_channel


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
    list_display = ["name", "display_name", "enabled", "total_messages", "last_message_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "display_name"]
    readonly_fields = ["total_messages", "last_message_at", "created_at", "updated_at"]
    actions = ["enable", "disable"]

    @admin.action(description="Enable selected channels (ingest joins them)")
    def enable(self, request: HttpRequest, queryset: QuerySet) -> None:
        # A deleted channel (history kept) stays deleted: adding it again undeletes it.
        updated = self._set_enabled(queryset.filter(deleted_at__isnull=True), True)
        self.message_user(request, f"Enabled {updated} channel(s).")

    @admin.action(description="Disable selected channels (ingest leaves them)")
    def disable(self, request: HttpRequest, queryset: QuerySet) -> None:
        updated = self._set_enabled(queryset, False)
        self.message_user(request, f"Disabled {updated} channel(s).")

    def _set_enabled(self, queryset: QuerySet, enabled: bool) -> int:
        # update() skips auto_now and signals; ingest and live pages follow
        # channel_changed, so announce each channel as the pages do.
        ids = list(queryset.values_list("pk", flat=True))
        updated = Channel.objects.filter(pk__in=ids).update(
            enabled=enabled, updated_at=timezone.now()
        )
        for pk in ids:
            transaction.on_commit(lambda pk=pk: _announce(pk))
        return updated

    def save_model(self, request: HttpRequest, obj: Channel, form, change: bool) -> None:
        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: _announce(obj.pk))

    def delete_model(self, request: HttpRequest, obj: Channel) -> None:
        # Through the write path, so the users' counters lose these messages too.
        delete_channel(obj, keep_history=False)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for channel in queryset:
            delete_channel(channel, keep_history=False)


def _announce(channel_id: int) -> None:
    channel_changed.send(sender=Channel, channel_id=channel_id)


@admin.register(ChatUser)
class ChatUserAdmin(admin.ModelAdmin):
    list_display = ["username", "display_name", "total_messages", "first_seen_at", "last_seen_at"]
    search_fields = ["username", "display_name"]
    readonly_fields = ["total_messages", "first_seen_at", "last_seen_at"]
    show_full_result_count = False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "sent_at", "channel", "user", "text", "is_action"]
    list_select_related = ["channel", "user"]
    raw_id_fields = ["channel", "user"]
    search_fields = ["=twitch_id"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ["-id"]
    readonly_fields = [
        "channel", "user", "text", "sent_at", "twitch_id", "tags", "is_action",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(UserChannelStats)
class UserChannelStatsAdmin(admin.ModelAdmin):
    list_display = ["user", "channel", "total_messages", "last_seen_at"]
    list_select_related = ["user", "channel"]
    raw_id_fields = ["user", "channel"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
