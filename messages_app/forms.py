"""Forms: the query-string filters of the message lists, and channel management.

Filters are forms so that every bad parameter (a cursor that is not a number, a
date that is not a date, a channel nobody archived) becomes a readable message
on a 400 page instead of an exception.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError

from messages_app.models import Channel, ChatUser
from messages_app.validators import normalize_login, validate_twitch_login

MAX_CURSOR = 2**63 - 1  # a BigAutoField id; larger numbers would overflow the database


class CursorField(forms.IntegerField):
    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, min_value=0, max_value=MAX_CURSOR, **kwargs)


class UTCDateTimeField(forms.DateTimeField):
    """ISO-8601 or the browser's datetime-local value; naive values are UTC (the
    site's time zone), which the labels say."""

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, **kwargs)
        self.widget = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1})

    def to_python(self, value) -> datetime | None:
        """The moment in UTC; one that UTC puts outside years 1-9999 (an offset
        at either end of the calendar) is invalid, not an overflow later on."""
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise ValidationError("Enter a time within years 1 to 9999 in UTC.") from None


class MessageFilterForm(forms.Form):
    """The filters and cursors shared by every message list."""

    channel = forms.CharField(required=False, max_length=64)
    user = forms.CharField(required=False, max_length=64)
    since = UTCDateTimeField(label="Since (UTC)")
    until = UTCDateTimeField(label="Until (UTC)")
    # One UTC day, the browser's date input value: a shorthand for since/until.
    day = forms.DateField(required=False, label="Day (UTC)", input_formats=["%Y-%m-%d"])
    q = forms.CharField(required=False, max_length=200, label="Text")
    kind = forms.ChoiceField(
        required=False,
        label="Show",
        choices=[
            ("", "Everything"),
            ("chat", "Chat"),
            ("notices", "Notices (subs, raids, ...)"),
            ("moderation", "Moderation (timeouts, bans, deletions)"),
        ],
    )
    before = CursorField()
    after = CursorField()
    after_id = CursorField()

    def clean_channel(self) -> Channel | None:
        name = normalize_login(self.cleaned_data["channel"])
        if not name:
            return None
        channel = Channel.objects.filter(name=name).first()
        if channel is None:
            raise ValidationError(f"No channel named “{name}” is archived.")
        return channel

    def clean_user(self) -> ChatUser | None:
        name = normalize_login(self.cleaned_data["user"])
        if not name:
            return None
        user = ChatUser.objects.filter(username=name).first()
        if user is None:
            raise ValidationError(f"No chat user named “{name}” has been seen.")
        return user

    def clean(self) -> dict:
        data = super().clean()
        if data.get("day"):
            self.day_as_time_range(data)
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            raise ValidationError("“Since” must be earlier than “until”.")
        cursors = [name for name in ("before", "after", "after_id") if data.get(name) is not None]
        if len(cursors) > 1:
            raise ValidationError("Use only one of before, after and after_id.")
        return data

    @staticmethod
    def day_as_time_range(data: dict) -> None:
        """Turn `day` into since/until (midnight to midnight UTC), so a day
        goes through the lists' one time filter."""
        if data.get("since") or data.get("until"):
            raise ValidationError("Use either a day or since/until, not both.")
        since = datetime.combine(data["day"], datetime.min.time(), tzinfo=UTC)
        data["since"] = since
        try:
            data["until"] = since + timedelta(days=1)
        except OverflowError:  # 9999-12-31: the day runs to the end of time
            data["until"] = None

    @property
    def since_input(self) -> str:
        return self.utc_input_value("since")

    @property
    def until_input(self) -> str:
        return self.utc_input_value("until")

    def utc_input_value(self, name: str) -> str:
        """since/until for the filters' datetime-local input, in UTC whatever
        the URL said (`...+05:30` too), which static/js/localtime.js shows in
        the visitor's time; empty when the URL has none (a `day` sets both)."""
        moment = self.cleaned_data.get(name) if self.data.get(name) else None
        if moment is None:
            return ""
        return f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"

    @property
    def has_filters(self) -> bool:
        data = self.cleaned_data
        names = ("channel", "user", "since", "until", "day", "q", "kind")
        return any(data.get(name) for name in names)


class UserListForm(forms.Form):
    """/users: a name fragment and a (total_messages, id) cursor like `1523-884`."""

    q = forms.CharField(required=False, max_length=64, label="Name contains")
    cursor = forms.RegexField(regex=r"^\d{1,18}-\d{1,18}$", required=False)

    def clean_cursor(self) -> tuple[int, int] | None:
        value = self.cleaned_data["cursor"]
        if not value:
            return None
        total, id_ = value.split("-")
        return int(total), int(id_)


class ChannelAddForm(forms.Form):
    name = forms.CharField(
        max_length=64,
        label="Channel name",
        help_text="The Twitch login, as in twitch.tv/<name>.",
    )

    def clean_name(self) -> str:
        name = normalize_login(self.cleaned_data["name"])
        validate_twitch_login(name)
        existing = Channel.objects.filter(name=name).first()
        if existing is not None and existing.deleted_at is None:
            state = "enabled" if existing.enabled else "disabled"
            raise ValidationError(f"“{name}” is already archived ({state}).")
        return name


class ChannelDeleteForm(forms.Form):
    history = forms.ChoiceField(
        choices=[
            ("keep", "Keep its messages: the channel leaves the list, its history stays"),
            ("delete", "Delete its messages too: this cannot be undone"),
        ],
        widget=forms.RadioSelect,
        label="What happens to the messages?",
    )


class ChannelRetentionForm(forms.Form):
    """How long a channel's lines are kept (Channel.retention_days)."""

    KEEP = [
        ("default", "The archive's default"),
        ("forever", "Forever"),
        ("days", "A number of days"),
    ]
    keep = forms.ChoiceField(
        choices=KEEP, widget=forms.RadioSelect, label="Keep this channel's lines"
    )
    days = forms.IntegerField(
        required=False, min_value=1, max_value=36_500, label="Days", help_text="1 to 36,500."
    )

    def clean(self):
        data = super().clean()
        if data.get("keep") == "days" and data.get("days") is None:
            self.add_error("days", "Say how many days to keep, or pick another choice.")
        return data

    def retention_days(self) -> int | None:
        """The value for Channel.retention_days: None default, 0 forever."""
        keep = self.cleaned_data["keep"]
        return None if keep == "default" else 0 if keep == "forever" else self.cleaned_data["days"]
