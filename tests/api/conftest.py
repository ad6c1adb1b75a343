"""A daphne serving /api over the archive of tests/api/corpus.py.

The archive is its own database (a SQLite file, or a PostgreSQL database on
the test server), migrated and filled once per session by the commands an
operator runs (`manage.py migrate`, `manage.py ingest --replay`), so that
pytest-django's per-test flushes and transactions never touch it and the
tests only talk HTTP to daphne."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest
from django.conf import settings

from tests.api import corpus
from tests.browser import support

# Lines a test may add to the archive (a user who opted out).
SETUP = """
from messages_app.models import OptOut
OptOut.objects.create(subject="user", twitch_id="{user_id}", login="optedout")
OptOut.objects.create(subject="channel", twitch_id="{room_id}", login="hidden")
"""


class Api:
    def __init__(self, daphne: support.Daphne) -> None:
        self.daphne = daphne
        self.client = httpx.Client(base_url=daphne.url, timeout=30)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        return self.client.request(method, path, **kwargs)


def _postgres(name: str, sql: str) -> None:
    import psycopg

    server = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.format(name=name))


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> str:
    """DATABASE_URL of the archive, migrated and stored by real commands."""
    engine = settings.DATABASES["default"]["ENGINE"]
    postgres = "postgresql" in engine
    if postgres:
        name = f"goknut_api_{uuid.uuid4().hex[:10]}"
        _postgres(name, 'CREATE DATABASE "{name}"')
        url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'archive.sqlite3'}"
    try:
        support.manage(url, "migrate", "-v0")
        support.ingest(url, corpus.lines())
        support.manage(url, "shell", "-c", SETUP.format(user_id=corpus.OPTED_OUT_ID,
                                                         room_id=corpus.HIDDEN_ID))  # fmt: skip
        yield url
    finally:
        if postgres:
            _postgres(name, 'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def api(archive, tmp_path_factory):
    daphne = support.Daphne(archive, tmp_path_factory.mktemp("daphne") / "daphne.log").start()
    client = Api(daphne)
    yield client
    client.client.close()
    daphne.stop()
