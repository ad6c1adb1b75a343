"""/channels: the list, and staff management (add, enable/disable, delete)."""

import pytest

from messages_app.models import Channel, ChatUser, Message
from messages_app.signals import channel_changed
from tests.conftest import chat
from tests.pages.conftest import html

pytestmark = pytest.mark.django_db


def test_it_lists_active_channels_with_counts_and_state(client, store):
    store(chat("forsen"), chat("forsen"), chat("xqc"))
    Channel.objects.filter(name="xqc").update(enabled=False)
    response = client.get("/channels")
    assert response.status_code == 200
    text = html(response)
    forsen = Channel.objects.get(name="forsen")
    assert f'data-live-key="channel-{forsen.id}"' in text
    assert '<td class="num" data-field="total_messages">2</td>' in text
    assert 'data-field="last_message_at"><time datetime=' in text
    assert "Paused" in text


def test_it_hides_channels_deleted_with_their_history_kept(client, store):
    from messages_app.writes import delete_channel

    store(chat("forsen"), chat("xqc"))
    delete_channel(Channel.objects.get(name="xqc"), keep_history=True)
    text = html(client.get("/channels"))
    assert "#forsen" in text
    assert "#xqc" not in text


def test_it_renders_the_live_hooks_and_polling_partial(client, store):
    store(chat("forsen"))
    text = html(client.get("/channels"))
    assert 'data-live-view="channels"' in text
    assert 'data-live-url="/live?view=channels&amp;after_id=' in text
    assert 'data-poll-url="/channels/rows" data-poll-mode="replace"' in text
    rows = client.get("/channels/rows")
    assert rows.status_code == 200
    assert "#forsen" in html(rows)
    assert "<html" not in html(rows)


def test_anonymous_visitors_see_no_management_controls(client, store):
    store(chat("forsen"))
    text = html(client.get("/channels"))
    assert "Add a channel" not in text
    assert "/channels/forsen/delete" not in text
    assert "/channels/forsen/enabled" not in text


def test_staff_see_management_controls(staff_client, store):
    store(chat("forsen"))
    text = html(staff_client.get("/channels"))
    assert "Add a channel" in text
    assert 'href="/channels/forsen/delete"' in text
    assert 'action="/channels/forsen/enabled"' in text


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/channels"),
        ("post", "/channels/forsen/enabled"),
        ("get", "/channels/forsen/delete"),
        ("post", "/channels/forsen/delete"),
    ],
)
def test_anonymous_visitors_cannot_manage_channels(client, store, method, url):
    store(chat("forsen"))
    response = getattr(client, method)(url, {"name": "newchan", "enabled": "false"})
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert response["Location"].startswith("/admin/login/")
    assert not Channel.objects.filter(name="newchan").exists()
    assert Channel.objects.get(name="forsen").deleted_at is None


def test_anonymous_posts_change_nothing(client, store):
    store(chat("forsen"))
    Channel.objects.filter(name="forsen").update(enabled=True)
    client.post("/channels/forsen/enabled", {"enabled": "false"})
    assert Channel.objects.get(name="forsen").enabled is True


def test_staff_add_a_channel(staff_client, django_capture_on_commit_callbacks):
    changed = []

    def receiver(channel_id, **kwargs):
        changed.append(channel_id)

    channel_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post("/channels", {"name": "  #NewChan "})
    finally:
        channel_changed.disconnect(receiver)
    assert response.status_code == 302
    channel = Channel.objects.get(name="newchan")
    assert channel.enabled is True
    assert changed == [channel.id]
    assert "Archiving #newchan" in html(staff_client.get("/channels"))


@pytest.mark.parametrize("name", ["bad name", "way_too_long_for_a_twitch_login", "<script>", ""])
def test_staff_get_a_clear_error_for_bad_names(staff_client, name):
    response = staff_client.post("/channels", {"name": name})
    assert response.status_code == 400
    text = html(response)
    assert 'class="field-error"' in text
    assert 'aria-invalid="true"' in text
    assert "<script>" not in text.split("</header>")[1]
    assert Channel.objects.count() == 0


def test_staff_get_a_clear_error_for_a_duplicate(staff_client, store):
    store(chat("forsen"))
    response = staff_client.post("/channels", {"name": "Forsen"})
    assert response.status_code == 400
    assert "is already archived" in html(response)
    assert Channel.objects.filter(name="forsen").count() == 1


def test_re_adding_a_channel_deleted_with_history_restores_it(staff_client, store):
    from messages_app.writes import delete_channel

    store(chat("forsen"), chat("forsen"))
    delete_channel(Channel.objects.get(name="forsen"), keep_history=True)
    response = staff_client.post("/channels", {"name": "forsen"})
    assert response.status_code == 302
    channel = Channel.objects.get(name="forsen")
    assert channel.deleted_at is None
    assert channel.enabled is True
    assert channel.total_messages == 2
    assert "#forsen" in html(staff_client.get("/channels"))


def test_staff_disable_and_enable_a_channel(staff_client, store):
    store(chat("forsen"))
    Channel.objects.filter(name="forsen").update(enabled=True)
    staff_client.post("/channels/forsen/enabled", {"enabled": "false"})
    assert Channel.objects.get(name="forsen").enabled is False
    staff_client.post("/channels/forsen/enabled", {"enabled": "true"})
    assert Channel.objects.get(name="forsen").enabled is True


def test_enabling_needs_post(staff_client, store):
    store(chat("forsen"))
    assert staff_client.get("/channels/forsen/enabled").status_code == 405


def test_delete_asks_for_confirmation_with_an_explicit_choice(staff_client, store):
    store(chat("forsen"))
    response = staff_client.get("/channels/forsen/delete")
    assert response.status_code == 200
    text = html(response)
    assert "Delete #forsen?" in text
    assert 'value="keep"' in text and 'value="delete"' in text
    assert Channel.objects.filter(name="forsen").exists()


def test_delete_without_a_choice_deletes_nothing(staff_client, store):
    store(chat("forsen"))
    response = staff_client.post("/channels/forsen/delete", {})
    assert response.status_code == 400
    assert "Choose whether to keep or delete" in html(response)
    assert Channel.objects.get(name="forsen").deleted_at is None


def test_delete_keeping_history_archives_the_channel(staff_client, store):
    store(chat("forsen", text="kept line"))
    response = staff_client.post("/channels/forsen/delete", {"history": "keep"})
    assert response.status_code == 302
    assert Channel.objects.get(name="forsen").deleted_at is not None
    page = html(staff_client.get("/channels/forsen"))
    assert "Archived channel." in page
    assert "kept line" in page


def test_delete_with_history_removes_messages_and_counts(staff_client, store):
    store(chat("forsen", "alice"), chat("xqc", "alice"))
    response = staff_client.post("/channels/forsen/delete", {"history": "delete"})
    assert response.status_code == 302
    assert not Channel.objects.filter(name="forsen").exists()
    assert Message.objects.count() == 1
    assert ChatUser.objects.get(username="alice").total_messages == 1
    assert staff_client.get("/channels/forsen").status_code == 404


def test_mutations_require_the_csrf_token(csrf_client, store):
    store(chat("forsen"))
    Channel.objects.filter(name="forsen").update(enabled=True)
    assert csrf_client.post("/channels/forsen/enabled", {"enabled": "false"}).status_code == 403
    assert csrf_client.post("/channels", {"name": "newchan"}).status_code == 403
    assert Channel.objects.get(name="forsen").enabled is True
    page = csrf_client.get("/channels")
    token = page.cookies["csrftoken"].value
    response = csrf_client.post(
        "/channels/forsen/enabled", {"enabled": "false", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert Channel.objects.get(name="forsen").enabled is False


def test_anonymous_adds_get_a_403_page_that_offers_sign_in(client):
    response = client.post("/channels", {"name": "newchan"})
    assert response.status_code == 403
    assert "Only staff can do that" in html(response)
    assert "/admin/login/?next=" in html(response)


def test_staff_get_a_400_for_an_enabled_value_that_is_not_true_or_false(staff_client, store):
    store(chat(channel="forsen"))
    Channel.objects.filter(name="forsen").update(enabled=True)
    response = staff_client.post("/channels/forsen/enabled", {"enabled": "banana"})
    assert response.status_code == 400
    assert Channel.objects.get(name="forsen").enabled is True
