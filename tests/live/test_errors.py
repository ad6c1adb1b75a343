"""Refusals of /live: JSON errors a client can act on."""

from __future__ import annotations

from tests.conftest import chat

BAD_QUERIES = [
    "",
    "view=everything",
    "view=user_profile",
    "view=channel&channel=",
    "view=channel&channel=no%20spaces",
    "view=messages&after_id=abc",
    "view=messages&after_id=-5",
    "view=messages&view=home",
]


def test_it_answers_bad_parameters_with_400(server):
    for query in BAD_QUERIES:
        response = server.get(f"/live?{query}")
        assert response.status_code == 400, query
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]


def test_it_answers_a_bad_last_event_id_with_400(server):
    response = server.get("/live?view=home", headers={"Last-Event-ID": "garbage"})
    assert response.status_code == 400


def test_it_answers_unknown_users_and_channels_with_404(server, store):
    store(chat("forsen", "alice"))
    assert server.get("/live?view=user_profile&user=nobody").status_code == 404
    assert server.get("/live?view=channel&channel=nowhere").json() == {
        "error": "unknown channel: nowhere"
    }


def test_it_refuses_connections_over_the_limit_with_503(server_factory, sse):
    server = server_factory(SSE_MAX_CONNECTIONS="1")
    first = sse(server.url + "/live?view=home")
    first.next()
    response = server.get("/live?view=home")
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["error"]
    first.close()


def test_it_is_off_when_sse_is_disabled(server_factory):
    server = server_factory(ENABLE_SSE="false")
    response = server.get("/live?view=home")
    assert response.status_code == 503
    assert response.json()["error"]
