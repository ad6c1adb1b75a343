"""The request sequences of clients we did not write, with the fields each
one reads (gempir/justlog's web UI, a rustlog-style client, an aggregator
across instances), against daphne over HTTP."""

from __future__ import annotations

from datetime import datetime

from tests.api import corpus

UI_ORIGIN = {"Origin": "https://logs.example.org"}  # justlog's UI, served elsewhere


def justlog_ui_month(api, channel_key: str, channel: str, user_key: str, user: str) -> list:
    """What justlog's web UI does once a channel and a user are entered:
    /list, then the newest month as JSON, newest first (hooks/useLog.ts)."""
    listed = api.get(f"/api/list?{channel_key}={channel}&{user_key}={user}", headers=UI_ORIGIN)
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == "*"
    newest = listed.json()["availableLogs"][0]
    path = f"/api/{channel_key}/{channel}/{user_key}/{user}/{newest['year']}/{newest['month']}"
    answer = api.get(f"{path}?json=1&reverse=1", headers=UI_ORIGIN)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    return answer.json()["messages"]


def test_justlogs_web_ui_browses_a_users_newest_month(api):
    names = [c["name"] for c in api.get("/api/channels", headers=UI_ORIGIN).json()["channels"]]
    assert "forsen" in names
    messages = justlog_ui_month(api, "channel", "forsen", "user", "gempir")
    assert [m["text"] for m in messages] == ["april"]
    shown = messages[0]
    assert shown["displayName"] == "Gempir"
    assert datetime.fromisoformat(shown["timestamp"]).isoformat() == "2024-04-02T09:30:00+00:00"
    assert shown["id"] == "a6d2c1e0-0000-4000-8000-000000000010"
    assert (shown["tags"]["color"], shown["tags"]["emotes"]) == ("#FF4500", "")
    assert shown["tags"]["room-id"] == corpus.FORSEN_ID


def test_justlogs_web_ui_with_ids_for_channel_and_user(api):
    by_id = justlog_ui_month(api, "channelid", corpus.FORSEN_ID, "userid", corpus.GEMPIR_ID)
    assert by_id == justlog_ui_month(api, "channel", "forsen", "user", "gempir")


def test_justlogs_ui_renders_a_notice_from_text_and_system_msg(api):
    """Message.tsx shows tags["system-msg"] and then `text` with that prefix
    removed: the text must not repeat the system message."""
    messages = api.get("/api/channel/forsen/user/hana/2024/3?json=1&reverse=1").json()["messages"]
    resub = messages[0]
    shown = (
        resub["tags"]["system-msg"]
        + " "
        + resub["text"].replace(resub["tags"]["system-msg"] + " ", "")
    )
    assert shown == (
        "hana subscribed at Tier 1. They've subscribed for 12 months! 12 months <b>already</b>; wow"
    )


def test_justlogs_ui_text_link_and_opt_out_panel(api):
    text = api.get("/api/channel/forsen/user/gempir/2024/3?reverse")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text.splitlines()[0] == "[2024-03-05 23:59:59] #forsen gempir: see you"
    code = api.request("POST", "/api/optout", headers=UI_ORIGIN)
    assert code.headers["access-control-allow-origin"] == "*"
    assert isinstance(code.json(), str)


def test_justlogs_ui_shows_its_opt_out_message_on_a_403(api):
    listed = api.get("/api/list?channel=forsen&user=optedout", headers=UI_ORIGIN)
    assert listed.status_code == 403  # useAvailableLogs throws OptOutError on exactly this
    assert listed.headers["access-control-allow-origin"] == "*"


def test_a_rustlog_client_reads_capabilities_then_asks_a_range_as_json_basic(api):
    capabilities = api.get("/api/channels").headers["x-rustlog-capabilities"].split(",")
    assert "arbitrary-range-query" in capabilities
    answer = api.get("/api/channel/forsen/user/gempir"
                     "?from=2024-03-01T00:00:00Z&to=2024-03-02T00:00:00Z&jsonBasic")  # fmt: skip
    messages = answer.json()["messages"]
    assert [(m["text"], m["timestamp"]) for m in messages] == [
        ("hello forsen", "2024-03-01T10:00:00Z"),
        ("👉 Kappa 👈", "2024-03-01T10:00:05.250Z"),
    ]
    assert all(set(m) == {"text", "displayName", "timestamp", "id", "tags"} for m in messages)


def test_an_aggregator_across_instances_tells_opted_out_from_absent(api):
    """An aggregator asks every instance for /list: 403 means the user opted
    out (stop asking anyone), 404 that this instance has nothing, 200 logs."""
    status = {
        user: api.get(f"/api/list?channel=forsen&user={user}").status_code
        for user in ("optedout", "nobody_here", "gempir")
    }
    assert status == {"optedout": 403, "nobody_here": 404, "gempir": 200}
    assert api.get("/api/list?channel=hidden").status_code == 403
    assert api.get("/api/list?channel=not_archived").status_code == 404
