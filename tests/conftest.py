"""Shared fixtures: personas, the test database's URL for subprocesses, chat helpers."""

from __future__ import annotations

import itertools
import os
import uuid
from datetime import UTC, datetime

import pytest
from django.db import connection

from goknut.env import env_bool
from messages_app.writes import ChatRecord, store_batch


def pytest_configure(config):
    """The tests stay offline: rows show emote names, not images from Twitch's
    CDN (EMOTE_IMAGES), unless the run sets it; os.environ carries it to the
    daphne and ingest processes the tests start, the setting to this one."""
    from django.conf import settings

    os.environ.setdefault("EMOTE_IMAGES", "false")
    settings.EMOTE_IMAGES = env_bool("EMOTE_IMAGES", False)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings, tmp_path_factory):
    """Put the SQLite test database in a file, so that processes the tests start
    (daphne, manage.py ingest) can open the same database."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture
def db_url(transactional_db) -> str:
    """DATABASE_URL of the test database, for subprocesses (needs committed data)."""
    return database_url()


def database_url() -> str:
    """DATABASE_URL of the test database Django is connected to (also for
    fixtures wider than one test, which cannot use db_url)."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture
def staff_user(django_user_model):
    # Logged in with force_login: no password, so no deliberately slow hashing.
    return django_user_model.objects.create_user(
        username="staff", password=None, is_staff=True, is_superuser=True
    )


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


_ids = itertools.count(1)


def chat(channel: str = "forsen", username: str = "viewer", text: str = "hello", **extra):
    """A ChatRecord with a unique Twitch id (a UUID, as Twitch's) unless one is given."""
    extra.setdefault("twitch_id", str(uuid.UUID(int=next(_ids) + (0x7E57 << 112), version=4)))
    extra.setdefault("sent_at", datetime.now(UTC))
    return ChatRecord(channel=channel, username=username, text=text, **extra)


@pytest.fixture
def store():
    """Store chat records through the write path: store(chat(...), chat(...))."""

    def _store(*records: ChatRecord):
        return store_batch(list(records))

    return _store


@pytest.fixture(autouse=True)
def _forget_settled_identities():
    """The write path remembers which Twitch ids it settled in this process;
    every test starts from an empty database, so from an empty memory too."""
    from messages_app import identity, partitions

    identity.KNOWN_USERS.clear()
    identity.KNOWN_CHANNELS.clear()
    partitions.KNOWN.clear()


def stored_ids(result) -> list[int]:
    """The ids of the rows one store_batch call stored (a BatchResult), in order.
    Ids are times (message_ids.py), not a dense range."""
    from messages_app.models import Message

    rows = Message.objects.filter(id__gte=result.first_id, id__lte=result.last_id)
    return list(rows.order_by("id").values_list("id", flat=True))
