"""Rows load without Model.__init__ (models.FastLoad): what a page gets must be
what Django's own loading gives, deferred fields and related rows included."""

from __future__ import annotations

import pytest
from django.db import models

from messages_app import pages
from messages_app.models import Channel, ChatUser, Message, TagSet, UserChannelStats
from tests.conftest import chat

pytestmark = pytest.mark.django_db

FAST_MODELS = (Channel, ChatUser, TagSet, Message, UserChannelStats)
TAGS = {"badges": "subscriber/12", "badge-info": "subscriber/14", "color": "#FF4500",
        "client-nonce": "0123456789abcdef0123456789abcdef", "emotes": "25:6-10"}  # fmt: skip


@pytest.fixture
def stock_loading(monkeypatch):
    """Switch the models back to Django's own from_db."""

    def use_stock():
        for model in FAST_MODELS:
            monkeypatch.setattr(model, "from_db", classmethod(models.Model.from_db.__func__))

    return use_stock


def snapshot(message: Message) -> dict:
    """What a page reads of a row: its own fields and those of the rows joined."""
    related = {name: vars_of(getattr(message, name)) for name in ("channel", "user", "tag_set")}
    return {**vars_of(message), **related, "all_tags": message.all_tags, "str": str(message)}


def vars_of(instance) -> dict | None:
    if instance is None:
        return None
    values = {k: v for k, v in vars(instance).items() if k != "_state"}
    return {**values, "deferred": instance.get_deferred_fields(), "pk": instance.pk}


def test_a_page_of_rows_loads_as_django_would(store, stock_loading):
    store(
        chat(text="hello Kappa", tags=TAGS, display_name="Viewer"),
        chat("xqc", "other", "no tags at all"),
        chat(username="viewer", text="again", tags={**TAGS, "color": "#00FF00"}),
    )
    rows = pages.row_fields(Message.objects.all()).order_by("-id")
    fast = [snapshot(m) for m in rows]
    stock_loading()
    assert [snapshot(m) for m in rows.all()] == fast
    assert fast[-1]["all_tags"]["client-nonce"] == TAGS["client-nonce"]


def test_a_deferred_field_still_loads_on_first_use(store):
    store(chat(text="deferred"))
    message = Message.objects.only("id").get()
    assert message.get_deferred_fields() >= {"text", "tags"}
    assert message.text == "deferred"  # one more query, as Django does
    assert "text" not in message.get_deferred_fields()


def test_a_loaded_row_saves_as_an_update(store):
    store(chat(text="before"))
    message = Message.objects.get()
    assert not message._state.adding
    message.text = "after"
    message.save(update_fields=["text"])
    assert Message.objects.get().text == "after"
    assert Message.objects.count() == 1
