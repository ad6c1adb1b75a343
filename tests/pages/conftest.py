"""Helpers for page tests: read what a visitor sees (row ids, metrics) from HTML."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from messages_app.models import Message

ROW_ID_RE = re.compile(r'<li class="msg[^"]*" id="message-(\d+)" data-id="\1"')
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def row_ids(response) -> list[int]:
    """Message ids of the rows on a page or partial, in the order shown."""
    return [int(i) for i in ROW_ID_RE.findall(response.content.decode())]


def html(response) -> str:
    return response.content.decode()


def newest_ids(n: int, **filters) -> list[int]:
    return list(Message.objects.filter(**filters).order_by("-id").values_list("id", flat=True)[:n])


@pytest.fixture
def csrf_client(staff_user) -> Client:
    """A staff browser that, like a real one, must send the CSRF token."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    return client


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Staff personas hash a password; the default hasher costs most of a test's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
