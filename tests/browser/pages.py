"""The live pages and what each must show, read from the database (the truth)."""

from __future__ import annotations

from dataclasses import dataclass

from messages_app.models import Channel, ChatUser, Message
from tests.browser.live_dom import Snapshot, assert_list_well_formed, snapshot
from tests.browser.support import privmsg
from tests.conftest import chat

CHANNELS = ("forsen", "xqc")
USERS = ("alice", "bob", "carol")
DEFAULT_CAP = 500


@dataclass(frozen=True)
class LivePage:
    name: str
    path: str
    channel: str | None = None  # the list shows this channel's messages only
    user: str | None = None  # ... or this user's
    has_list: bool = False
    counts: str | None = None  # "channels", "users" or "profile"
    metrics: bool = False

    def __str__(self) -> str:
        return self.name

    def messages(self):
        qs = Message.objects.all()
        if self.channel:
            qs = qs.filter(channel__name=self.channel)
        if self.user:
            qs = qs.filter(user__username=self.user)
        return qs

    def expected_counts(self) -> dict[str, int]:
        if self.counts == "channels":
            return {
                f"channel-{c.id}": c.total_messages
                for c in Channel.objects.filter(name__in=CHANNELS)
            }
        if self.counts == "users":
            return {
                f"user-{u.id}": u.total_messages
                for u in ChatUser.objects.filter(username__in=USERS)
            }
        if self.counts == "profile":
            user = ChatUser.objects.get(username=self.user)
            return {f"user-{user.id}": user.total_messages}
        return {}

    def expected_metrics(self) -> dict[str, int]:
        if not self.metrics:
            return {}
        return {
            "total_messages": Message.objects.count(),
            "total_channels": Channel.objects.active().count(),
            "total_users": ChatUser.objects.count(),
        }


PAGES = [
    LivePage("home", "/", has_list=True, metrics=True),
    LivePage("messages", "/messages", has_list=True),
    LivePage("channels", "/channels", counts="channels"),
    LivePage("channel", "/channels/forsen", channel="forsen", has_list=True),
    LivePage("users", "/users", counts="users"),
    LivePage("user", "/users/alice", user="alice", has_list=True, counts="profile"),
]


def _speakers(count: int):
    """Both channels and three users; alice writes half, half go to #forsen,
    so every page above has something new to show."""
    for i in range(count):
        yield i, CHANNELS[i % 2], ("alice", "alice", "bob", "carol")[i % 4]


def chat_lines(marker: str, count: int) -> list[str]:
    """Raw IRC lines for `manage.py ingest --replay -`: what the tests watch arrive."""
    return [
        privmsg(channel, user, f"{marker} line {i:05d} from {user} in {channel}")
        for i, channel, user in _speakers(count)
    ]


def chat_records(marker: str, count: int) -> list:
    """The same chat as records for the in-process write path: quick set-up data
    stored before a page is opened (what a test watches arrive comes from ingest)."""
    return [
        chat(
            channel,
            user,
            f"{marker} line {i:05d} from {user} in {channel}",
            display_name=user.capitalize(),  # as privmsg() sends it
        )
        for i, channel, user in _speakers(count)
    ]


@dataclass
class Expectation:
    """What the page must show once every message written so far has arrived."""

    page: LivePage
    db_ids: list[int]  # matching messages, newest first
    required_ids: set[int]  # rows that must be on the page
    counts: dict[str, int]
    metrics: dict[str, int]

    @classmethod
    def now(cls, page: LivePage, new_marker: str | None, cap: int | None) -> Expectation:
        cap = cap or DEFAULT_CAP
        db_ids, required = [], set()
        if page.has_list:
            messages = page.messages().order_by("-id")
            db_ids = list(messages.values_list("id", flat=True)[: cap + 100])
            if new_marker:
                new = messages.filter(text__startswith=new_marker)
                required = set(new.values_list("id", flat=True)[:cap])
        return cls(page, db_ids, required, page.expected_counts(), page.expected_metrics())

    def reached(self, snap: Snapshot) -> bool:
        if self.page.has_list and not self.required_ids <= set(snap.ids):
            return False
        if any(snap.counts.get(k) != v for k, v in self.counts.items()):
            return False
        return all(snap.metrics.get(k) == v for k, v in self.metrics.items())

    def invariant(self, snap: Snapshot) -> None:
        if self.page.has_list:
            assert_list_well_formed(snap)

    def assert_exact(self, snap: Snapshot) -> None:
        """Nothing missing, nothing extra, nothing out of order."""
        if self.page.has_list:
            assert_list_well_formed(snap)
            shown = snap.ids_newest_first
            assert shown == self.db_ids[: len(shown)], (
                f"{self.page}: rows are not the newest stored messages in order: "
                f"shown {shown[:10]}..., stored {self.db_ids[:10]}..."
            )
        for key, value in self.counts.items():
            assert snap.counts.get(key) == value, (
                f"{self.page}: {key} shows {snap.counts.get(key)}, stored {value}"
            )
        for key, value in self.metrics.items():
            assert snap.metrics.get(key) == value, (
                f"{self.page}: {key} shows {snap.metrics.get(key)}, stored {value}"
            )


def assert_same_as_fresh_fetch(page, fresh_page, path: str) -> None:
    """State now (page load + live events applied) == a fresh load of the page."""
    live = snapshot(page, with_text=True)
    fresh_page.goto(path)
    fresh = snapshot(fresh_page, with_text=True)
    for key in fresh.counts.keys() & live.counts.keys():
        assert live.counts[key] == fresh.counts[key], (
            f"{path} {key}: live {live.counts[key]}, fresh {fresh.counts[key]}"
        )
    # The totals live events carry (docs/live-dom.md); other figures may age.
    totals = ("total_messages", "total_channels", "total_users")
    live_totals = {k: v for k, v in live.metrics.items() if k in totals}
    fresh_totals = {k: v for k, v in fresh.metrics.items() if k in totals}
    assert live_totals == fresh_totals, f"{path}: live {live_totals}, fresh {fresh_totals}"
    if fresh.rows is not None:
        k = min(len(live.ids), len(fresh.ids))
        live_ids, fresh_ids = live.ids_newest_first[:k], fresh.ids_newest_first[:k]
        assert live_ids == fresh_ids, (
            f"{path}: live rows {live_ids[:10]} != fresh rows {fresh_ids[:10]}"
        )
        live_texts, fresh_texts = live.texts(), fresh.texts()
        for message_id in live_ids:
            assert live_texts[message_id] == fresh_texts[message_id], (
                f"{path}: row {message_id} differs:\nlive:  {live_texts[message_id]}\n"
                f"fresh: {fresh_texts[message_id]}"
            )
