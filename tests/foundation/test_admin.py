import pytest
from django.urls import reverse

from messages_app.models import Channel, ChatUser, Message, UserChannelStats
from messages_app.signals import channel_changed
from tests.conftest import chat

pytestmark = pytest.mark.django_db

CHANGELISTS = [
    "admin:messages_app_channel_changelist",
    "admin:messages_app_chatuser_changelist",
    "admin:messages_app_message_changelist",
    "admin:messages_app_userchannelstats_changelist",
]


@pytest.fixture
def archive(store):
    store(chat("forsen", "alice", text="first <b>line</b>"), chat("xqc", "bob"))
    return Channel.objects.get(name="forsen")


@pytest.mark.parametrize("name", CHANGELISTS)
def test_it_shows_changelists_to_staff(staff_client, archive, name):
    response = staff_client.get(reverse(name))
    assert response.status_code == 200
    assert b"forsen" in response.content or b"alice" in response.content


def test_it_lists_messages_newest_first_with_escaped_text(staff_client, archive):
    response = staff_client.get(reverse("admin:messages_app_message_changelist"))
    content = response.content.decode()
    assert "first &lt;b&gt;line&lt;/b&gt;" in content
    assert "<b>line</b>" not in content
    assert content.index("xqc") < content.index("forsen")


def test_it_finds_a_message_by_twitch_id(staff_client, store):
    store(chat(text="needle", twitch_id="abc-123"), chat(text="haystack"))
    url = reverse("admin:messages_app_message_changelist")
    content = staff_client.get(url, {"q": "abc-123"}).content.decode()
    assert "needle" in content and "haystack" not in content


def test_it_shows_a_message_read_only(staff_client, archive):
    message = Message.objects.first()
    response = staff_client.get(reverse("admin:messages_app_message_change", args=[message.pk]))
    assert response.status_code == 200
    assert b'name="text"' not in response.content
    assert staff_client.get(reverse("admin:messages_app_message_add")).status_code == 403


def test_it_shows_a_channel_to_staff(staff_client, archive):
    response = staff_client.get(reverse("admin:messages_app_channel_change", args=[archive.pk]))
    assert response.status_code == 200
    assert b'value="forsen"' in response.content


def test_a_channels_twitch_id_once_known_cannot_be_edited(staff_client, store):
    store(chat("forsen", "alice", tags={"room-id": "22484632"}), chat("xqc", "bob"))
    known, unknown = Channel.objects.get(name="forsen"), Channel.objects.get(name="xqc")
    url = reverse("admin:messages_app_channel_change", args=[known.pk])
    page = staff_client.get(url).content.decode()
    assert 'name="twitch_id"' not in page and "22484632" in page  # shown, not a field
    form = {"name": "forsen", "twitch_id": "1", "retention_days": "", "enabled": "on"}
    staff_client.post(url, form)
    assert Channel.objects.get(pk=known.pk).twitch_id == "22484632"
    page = staff_client.get(reverse("admin:messages_app_channel_change", args=[unknown.pk]))
    assert 'name="twitch_id"' in page.content.decode()  # staff may still fill it in


def _act(client, action, channels):
    return client.post(
        reverse("admin:messages_app_channel_changelist"),
        {"action": action, "_selected_action": [c.pk for c in channels]},
        follow=True,
    )


def test_it_enables_channels(staff_client, archive):
    Channel.objects.update(enabled=False)
    response = _act(staff_client, "enable", [archive])
    assert b"Enabled 1 channel(s)." in response.content
    assert Channel.objects.get(name="forsen").enabled is True
    assert Channel.objects.get(name="xqc").enabled is False


def test_it_disables_channels_and_announces_them(
    staff_client, archive, django_capture_on_commit_callbacks
):
    Channel.objects.update(enabled=True)
    seen = []
    channel_changed.connect(receiver := lambda **kwargs: seen.append(kwargs["channel_id"]))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = _act(staff_client, "disable", Channel.objects.all())
    finally:
        channel_changed.disconnect(receiver)
    assert b"Disabled 2 channel(s)." in response.content
    assert not Channel.objects.filter(enabled=True).exists()
    assert sorted(seen) == sorted(Channel.objects.values_list("pk", flat=True))


def test_it_does_not_enable_a_deleted_channel(staff_client, archive):
    Channel.objects.filter(pk=archive.pk).update(enabled=False, deleted_at="2026-01-01T00:00Z")
    _act(staff_client, "enable", [archive])
    assert Channel.objects.get(pk=archive.pk).enabled is False


def test_it_takes_deleted_messages_off_the_users(staff_client, archive):
    response = staff_client.post(
        reverse("admin:messages_app_channel_delete", args=[archive.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Channel.objects.filter(name="forsen").exists()
    assert ChatUser.objects.get(username="alice").total_messages == 0
    assert ChatUser.objects.get(username="bob").total_messages == 1
    assert not UserChannelStats.objects.filter(channel_id=archive.pk).exists()


@pytest.mark.parametrize("name", CHANGELISTS)
def test_it_sends_anonymous_visitors_to_the_login_page(client, name):
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_it_refuses_actions_to_anonymous_visitors(client, archive):
    Channel.objects.update(enabled=True)
    response = _act(client, "disable", [archive])
    assert response.redirect_chain[-1][0].startswith(reverse("admin:login"))
    assert Channel.objects.get(pk=archive.pk).enabled is True


def test_it_refuses_the_admin_to_non_staff_users(client, django_user_model):
    user = django_user_model.objects.create_user(username="viewer", password="x")
    client.force_login(user)
    response = client.get(reverse("admin:messages_app_channel_changelist"))
    assert response.status_code == 302


def test_it_deletes_a_channel_keeping_its_history(staff_client, archive):
    response = _act(staff_client, "delete_keep_history", [archive])
    assert b"Deleted 1 channel(s); history kept." in response.content
    channel = Channel.objects.get(pk=archive.pk)
    assert (channel.enabled, channel.deleted_at is not None) == (False, True)
    assert Message.objects.filter(channel=channel).exists()


@pytest.mark.parametrize("model", ["message", "chatuser", "userchannelstats"])
def test_it_offers_no_way_around_the_write_path(staff_client, archive, model):
    obj = {"message": Message, "chatuser": ChatUser, "userchannelstats": UserChannelStats}[
        model
    ].objects.first()
    for view in ("change", "delete"):
        url = reverse(f"admin:messages_app_{model}_{view}", args=[obj.pk])
        if view == "delete":
            assert staff_client.post(url, {"post": "yes"}).status_code == 403
    assert staff_client.get(reverse(f"admin:messages_app_{model}_add")).status_code == 403
    assert obj.__class__.objects.filter(pk=obj.pk).exists()


def test_staff_opt_a_user_out_of_the_logs_api_in_the_admin(staff_client, client, store):
    from messages_app.models import OptOut

    store(chat("forsen", "alice", tags={"user-id": "42", "room-id": "9"}))
    added = staff_client.post(
        reverse("admin:messages_app_optout_add"),
        {"subject": "user", "login": "alice", "twitch_id": "42"},
    )
    assert added.status_code == 302
    optout = OptOut.objects.get()
    assert (optout.login, optout.by) == ("alice", "staff")
    answer = client.get("/api/list?channel=forsen&user=alice")
    assert (answer.status_code, answer.content) == (403, b"User or channel has opted out")
    assert store(chat("forsen", "alice", tags={"user-id": "42"})).opted_out == 1
    removed = staff_client.post(reverse("admin:messages_app_optout_delete", args=[optout.pk]),
                                {"post": "yes"})  # fmt: skip
    assert removed.status_code == 302
    events = staff_client.get(reverse("admin:messages_app_optoutevent_changelist"))
    assert events.status_code == 200
    from messages_app.models import OptOutEvent

    assert [(e.action, e.by) for e in OptOutEvent.objects.order_by("at")] == [
        ("opt-out", "staff"), ("opt-in", "staff")]  # fmt: skip
