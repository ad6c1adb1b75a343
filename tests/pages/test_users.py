"""/users: chat users by message count, name search, keyset pagination."""

import re

import pytest

from messages_app.models import ChatUser
from tests.conftest import chat
from tests.pages.conftest import html

pytestmark = pytest.mark.django_db

NEXT_RE = re.compile(r'href="(/users\?cursor=[0-9-]+)" rel="next"')


def user_keys(response) -> list[int]:
    text = html(response)
    return [int(part.split('"')[0]) for part in text.split('data-live-key="user-')[1:]]


@pytest.fixture
def crowd(store):
    """120 users; user n wrote n % 7 + 1 messages, so many tie on their count."""
    store(*[chat(username=f"viewer{n}") for n in range(120) for _ in range(n % 7 + 1)])


def expected_order(**filters) -> list[int]:
    return list(ChatUser.objects.filter(**filters).by_activity().values_list("id", flat=True))


def test_it_lists_users_most_active_first(client, crowd):
    response = client.get("/users")
    assert response.status_code == 200
    assert user_keys(response) == expected_order()[:50]
    assert '<td class="num" data-field="total_messages">7</td>' in html(response)


def test_it_pages_through_every_user_once_across_ties(client, crowd):
    seen: list[int] = []
    url = "/users"
    for _ in range(10):
        response = client.get(url)
        seen += user_keys(response)
        next_link = NEXT_RE.search(html(response))
        if next_link is None:
            break
        url = next_link.group(1)
    assert seen == expected_order()
    assert "End of the list." in html(response)


def test_it_finds_users_by_name_fragment(client, crowd):
    response = client.get("/users?q=Viewer11")
    ids = expected_order(username__contains="viewer11")
    assert user_keys(response) == ids
    assert len(ids) == 11  # viewer11, viewer110..viewer119
    assert "Users whose name contains “Viewer11”" in html(response)


def test_name_search_falls_back_past_the_most_active_users(client, crowd, monkeypatch):
    from messages_app import pages

    monkeypatch.setattr(pages, "USERS_SCAN", 5)  # force the second plan
    response = client.get("/users?q=viewer1")
    assert user_keys(response) == expected_order(username__contains="viewer1")[:50]


def test_name_search_pages_through_every_match_once(client, crowd, monkeypatch):
    from messages_app import pages

    monkeypatch.setattr(pages, "USERS_PAGE_SIZE", 4)  # 31 matches: eight pages, ties cut
    seen: list[int] = []
    url = "/users?q=viewer1"
    for _ in range(20):
        response = client.get(url)
        text = html(response)
        seen += user_keys(response)
        next_link = re.search(r'href="(/users\?[^"]*cursor=[0-9-]+[^"]*)" rel="next"', text)
        if next_link is None:
            break
        url = next_link.group(1).replace("&amp;", "&")
    assert seen == expected_order(username__contains="viewer1")


def test_it_says_when_no_name_matches(client, crowd):
    text = html(client.get("/users?q=<b>zzz</b>"))
    assert "No chat user has a name containing “&lt;b&gt;zzz&lt;/b&gt;”." in text


def test_it_renders_the_live_hooks(client, crowd):
    text = html(client.get("/users?q=viewer1"))
    assert 'data-live-view="users"' in text
    assert 'data-poll-url="/users/rows?q=viewer1" data-poll-mode="replace"' in text


def test_the_rows_partial_returns_the_same_rows(client, crowd):
    response = client.get("/users/rows?q=viewer1")
    assert response.status_code == 200
    assert user_keys(response) == expected_order(username__contains="viewer1")[:50]
    assert "<html" not in html(response)


@pytest.mark.parametrize("cursor", ["abc", "5", "5-", "-5-1", "1-2-3"])
def test_it_rejects_bad_cursors(client, cursor):
    response = client.get(f"/users?cursor={cursor}")
    assert response.status_code == 400
    assert "cursor" in html(response)


def test_it_escapes_display_names(client, store):
    store(chat(username="evil", display_name="<script>x()</script>"))
    text = html(client.get("/users"))
    assert "<script>x()" not in text
    assert "&lt;script&gt;x()&lt;/script&gt;" in text
