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
