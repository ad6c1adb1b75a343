"""/staff/archive: what the archive costs, for staff only, measured at most
once a minute (messages_app/staff_views.py)."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache

from messages_app import archive_stats, staff_views
from messages_app.models import Message
from tests.conftest import chat
from tests.pages.conftest import html

PAGE = "/staff/archive"


@pytest.fixture(autouse=True)
def _no_cached_figures():
    cache.delete(staff_views.CACHE_KEY)
    yield
    cache.delete(staff_views.CACHE_KEY)


def field(page: str, name: str) -> str:
    match = re.search(rf'<dd data-field="{name}">([^<]*)</dd>', page)
    assert match, f"no {name} on the page"
    return match.group(1)


def test_it_sends_anonymous_visitors_to_the_staff_sign_in(client, db):
    response = client.get(PAGE)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/staff/archive")


def test_it_refuses_signed_in_users_who_are_not_staff(client, django_user_model):
    client.force_login(django_user_model.objects.create_user(username="viewer"))

    response = client.get(PAGE)

    assert response.status_code == 302
    assert "Archive costs" not in html(client.get("/channels"))


def test_it_shows_staff_the_bytes_per_line_and_where_they_go(staff_client, store):
    store(*[chat("forsen", f"viewer{n}", f"line {n} Kappa") for n in range(30)])
    store(chat("xqc", "viewer1", "hi"))

    page = html(staff_client.get(PAGE))
    stats = archive_stats.measure()

    assert field(page, "messages") == "31"
    assert field(page, "bytes_per_message") == f"{stats.used_bytes / 31:.1f}"
    assert f"({stats.used_bytes:,} bytes)" in field(page, "used_bytes")
    tables = page.split('id="archive-tables"')[1].split("</table>")[0]
    assert "messages_app_message" in tables and "search index" in tables
    channels = page.split('id="archive-channels"')[1].split("</table>")[0]
    assert channels.index("#forsen") < channels.index("#xqc")  # most lines first
    assert "Measured <time" in page and "kept for 60 seconds" in page


def test_it_keeps_the_figures_for_a_minute(staff_client, store):
    store(chat(text="first"))
    assert field(html(staff_client.get(PAGE)), "messages") == "1"
    store(chat(text="second"))

    cached = html(staff_client.get(PAGE))
    cache.delete(staff_views.CACHE_KEY)  # the minute is over
    fresh = html(staff_client.get(PAGE))

    assert field(cached, "messages") == "1"
    assert field(fresh, "messages") == "2" == str(Message.objects.count())


def test_it_links_the_page_from_the_footer_for_staff(staff_client, db):
    assert f'<a href="{PAGE}">Archive costs</a>' in html(staff_client.get("/channels"))


def test_it_answers_only_get(staff_client, db):
    assert staff_client.post(PAGE).status_code == 405
