"""Twitch message ids as 16 bytes on SQLite (messages_app/packed_ids.py): the
canonical UUIDs Twitch sends are packed, any other id stays text, and nothing
that finds a message by its id notices."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from messages_app.models import Message, PendingDeletion
from messages_app.packed_ids import pack, unpack
from tests.conftest import chat
from tests.foundation.test_tag_sets import migrate, stored_raw_lines

T0 = datetime(2026, 11, 30, 12, tzinfo=UTC)
TWITCH_ID = "885196de-cb67-427a-baa8-82f9b0fcd05f"


def test_only_a_canonical_uuid_is_packed_and_it_comes_back_as_it_was():
    assert pack(TWITCH_ID) == uuid.UUID(TWITCH_ID).bytes
    assert unpack(pack(TWITCH_ID)) == TWITCH_ID
    assert unpack(memoryview(pack(TWITCH_ID))) == TWITCH_ID
    others = [TWITCH_ID.upper(), TWITCH_ID.replace("-", ""), f"{{{TWITCH_ID}}}",
              TWITCH_ID[:35] + " ", TWITCH_ID[:9] + "zzzz" + TWITCH_ID[13:], "-" * 36,
              "clearmsg-of-t-2", "", None, 42]  # fmt: skip
    for other in others:
        assert pack(other) == other and unpack(other) == other, other


def stored_forms() -> dict[str, str]:
    """Twitch id (as the ORM gives it) -> SQLite's type of the stored value."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, typeof(twitch_id), length(twitch_id) FROM messages_app_message")
        kinds = {id_: (kind, size) for id_, kind, size in cursor.fetchall()}
    return {m.twitch_id: kinds[m.id] for m in Message.objects.all()}


@pytest.mark.django_db
def test_sqlite_stores_twitch_ids_in_16_bytes_and_others_as_text(store):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL keeps its ids as text")
    store(chat(twitch_id=TWITCH_ID), chat(twitch_id="imported-17"), chat(twitch_id=None))
    assert stored_forms() == {
        TWITCH_ID: ("blob", 16),
        "imported-17": ("text", 11),
        None: ("null", None),
    }


@pytest.mark.django_db
def test_a_line_seen_twice_is_stored_once_and_found_by_its_id(store, staff_client):
    first = store(chat(text="once", twitch_id=TWITCH_ID, sent_at=T0))
    again = store(chat(text="once", twitch_id=TWITCH_ID, sent_at=T0), chat(twitch_id="x-1"))
    assert (first.stored, again.stored, again.duplicates) == (1, 1, 1)
    assert Message.objects.get(twitch_id=TWITCH_ID).text == "once"
    assert Message.objects.filter(twitch_id__in=[TWITCH_ID, "x-1"]).count() == 2
    page = staff_client.get(reverse("admin:messages_app_message_changelist"), {"q": TWITCH_ID})
    assert "once" in page.content.decode() and "1 result" in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("order", ["target first", "deletion first"])
def test_a_deletion_finds_its_target_by_a_packed_id(store, order):
    target = chat(text="oops", twitch_id=TWITCH_ID, sent_at=T0)
    clear = chat(kind=13, text="oops", twitch_id=f"clearmsg-{TWITCH_ID}",
                 sent_at=T0 + timedelta(seconds=5), tags={"target-msg-id": TWITCH_ID})  # fmt: skip
    first, then = (target, clear) if order == "target first" else (clear, target)
    store(first)
    if order == "deletion first":
        assert PendingDeletion.objects.get().target_twitch_id == TWITCH_ID
    store(then)
    assert Message.objects.get(twitch_id=TWITCH_ID).deleted_at == T0 + timedelta(seconds=5)
    assert not PendingDeletion.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_migration_0020_packs_the_stored_ids_and_unpacks_them_going_back(store):
    ids = [str(uuid.uuid4()) for _ in range(50)]
    store(*[chat(text=f"line {n}", twitch_id=ids[n], sent_at=T0 + timedelta(seconds=n))
            for n in range(50)], chat(twitch_id="imported-1"))  # fmt: skip
    before = stored_raw_lines()
    try:
        apps = migrate("0019_client_nonce_bytes")
        Old = apps.get_model("messages_app", "Message")
        assert set(Old.objects.values_list("twitch_id", flat=True)) == {*ids, "imported-1"}
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM messages_app_message WHERE typeof(twitch_id) = 'text'"
                )
                assert cursor.fetchone()[0] == 51
    finally:
        migrate()
    assert stored_raw_lines() == before
    if connection.vendor == "sqlite":
        assert sorted(stored_forms().values()) == [("blob", 16)] * 50 + [("text", 10)]
    store(chat(text="line 0", twitch_id=ids[0], sent_at=T0))  # still a duplicate
    assert Message.objects.count() == 51
