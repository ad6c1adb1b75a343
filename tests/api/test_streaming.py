"""Answers of more than one chunk stream (chunked, no Content-Length) and say
exactly what the one-piece answers say: a daphne whose chunks are 3 lines."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import Api
from tests.browser import support

PATHS = [
    "/api/channel/forsen/2024/3/1",
    "/api/channel/forsen/2024/3/1?json",
    "/api/channel/forsen/2024/3/1?jsonBasic",
    "/api/channel/forsen/2024/3/1?ndjson",
    "/api/channel/forsen/2024/3/1?raw",
    "/api/channel/forsen/2024/3/1?json&reverse",
    "/api/channel/forsen/user/gempir?from=2024-01-01T00:00:00Z&to=2024-12-31T00:00:00Z&json",
    "/api/channel/forsen/user/gempir?from=1704067200&to=1735603200&limit=3&offset=1&json",
]


@pytest.fixture(scope="module")
def chunked(archive, tmp_path_factory):
    daphne = support.Daphne(archive, tmp_path_factory.mktemp("chunked") / "daphne.log",
                            env={"GOKNUT_API_CHUNK": "3"}).start()  # fmt: skip
    client = Api(daphne)
    yield client
    client.client.close()
    daphne.stop()


@pytest.mark.parametrize("path", PATHS)
def test_a_streamed_answer_equals_the_one_piece_answer(api, chunked, path):
    whole, streamed = api.get(path), chunked.get(path)
    assert streamed.status_code == whole.status_code == 200
    assert "content-length" in whole.headers
    assert "content-length" not in streamed.headers  # sent as it was read
    assert streamed.headers["content-type"] == whole.headers["content-type"]
    assert streamed.content == whole.content
    if "json" in path and "ndjson" not in path:
        assert json.loads(streamed.content)["messages"]
