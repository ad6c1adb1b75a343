"""/optout: the flow in plain words, and a code for a visitor."""

import re

import pytest

from messages_app.models import OptOut, OptOutCode
from tests.conftest import chat

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_explains_the_flow_and_gives_a_visitor_a_code_that_works_in_chat(client, store):
    page = client.get("/optout")
    assert page.status_code == 200
    assert b"!goknut optout" in page.content
    assert page["Cache-Control"] == "no-store"
    given = client.post("/optout")
    code = re.search(rb'class="optout-code">([a-z0-9]{6})<', given.content).group(1).decode()
    assert OptOutCode.objects.filter(code=code).exists()
    store(chat("forsen", "alice", f"!goknut optout {code}", tags={"user-id": "7"}))
    assert OptOut.objects.get().twitch_id == "7"


def test_every_page_links_to_it(client):
    assert b'href="/optout"' in client.get("/").content


def test_staff_opt_a_user_out_from_their_profile(staff_client, store):
    from django.test import Client

    from messages_app import erasure
    from messages_app.models import ChatUser, Message, OptOutEvent

    store(chat("forsen", "alice", "forget me", tags={"user-id": "7"}), chat("forsen", "bob"))
    profile = staff_client.get("/users/alice")
    assert b"Opt out and erase" in profile.content
    visitor = Client()
    assert b"Opt out and erase" not in visitor.get("/users/alice").content  # staff only
    unconfirmed = staff_client.post("/users/alice/optout")
    assert unconfirmed.status_code == 400
    assert visitor.post("/users/alice/optout", {"confirm": "yes"}).status_code == 302  # to login
    assert not OptOut.objects.exists()
    done = staff_client.post("/users/alice/optout", {"confirm": "yes"})
    assert (done.status_code, done["Location"]) == (302, "/users/alice")
    assert staff_client.get("/users/alice").status_code == 410
    erasure.erase_pending()  # what the running ingest does next
    assert not ChatUser.objects.filter(username="alice").exists()
    assert list(Message.objects.values_list("user__username", flat=True)) == ["bob"]
    assert OptOutEvent.objects.filter(action="opt-out", by="staff").exists()
