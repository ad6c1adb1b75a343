"""The log endpoints of docs/api.md, row by row, over HTTP against daphne."""

from __future__ import annotations

import json

from tests.api import corpus


def test_it_lists_the_archived_channels_with_their_room_ids(api):
    answer = api.get("/api/channels")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    channels = answer.json()["channels"]
    assert {"userID": corpus.FORSEN_ID, "name": "forsen"} in channels
    assert {c["name"] for c in channels} == {"forsen", "xqc", corpus.TODAY}


def test_it_serves_a_channels_day_as_text_oldest_first(api):
    answer = api.get("/api/channel/forsen/2024/3/1")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.text.splitlines() == [
        "[2024-03-01 10:00:00] #forsen gempir: hello forsen",
        "[2024-03-01 10:00:05] #forsen gempir: 👉 Kappa 👈",
        "[2024-03-01 11:00:00] #forsen oldname: waves at chat",
        "[2024-03-01 12:00:00] #forsen hana subscribed at Tier 1. They've subscribed for 12 months!"
        " 12 months <b>already</b>; wow",
        "[2024-03-01 12:30:00] #forsen ivan subscribed with Prime.",
        "[2024-03-01 13:00:00] #forsen spammer: buy followers",
        "[2024-03-01 13:00:01] #forsen A message of spammer was deleted",
        "[2024-03-01 13:00:02] #forsen spammer has been timed out for 600 seconds",
    ]


def test_an_announcement_says_who_made_it(api):
    day = api.get("/api/channel/forsen/2024/3/5").text.splitlines()
    assert "[2024-03-05 20:01:00] #forsen forsen: stream starts soon" in day
    assert "[2024-03-05 20:00:00] #forsen 9001 raiders from xqc have joined!" in day
    assert "[2024-03-05 21:00:00] #forsen spammer has been banned" in day
    assert "[2024-03-05 21:30:00] #forsen Chat has been cleared" in day


def test_it_serves_a_day_as_json_with_every_field_clients_read(api):
    answer = api.get("/api/channel/forsen/2024/3/1?json")
    assert answer.headers["content-type"].startswith("application/json")
    messages = answer.json()["messages"]
    assert len(messages) == 8
    emoji = messages[1]
    assert list(emoji) == ["text", "systemText", "username", "displayName", "channel",
                           "timestamp", "id", "type", "raw", "tags"]  # fmt: skip
    assert emoji["text"] == "👉 Kappa 👈"
    assert emoji["timestamp"] == "2024-03-01T10:00:05.250Z"
    assert (emoji["id"], emoji["type"], emoji["username"]) == (corpus.EMOJI_ID, 1, "gempir")
    assert emoji["tags"]["emotes"] == "25:2-6"
    assert emoji["tags"]["room-id"] == corpus.FORSEN_ID
    assert emoji["tags"]["client-nonce"] == "4b1e8c3d2a5f6e7d8c9b0a1f2e3d4c5b"
    resub = messages[3]
    assert resub["type"] == 4
    assert resub["text"] == "12 months <b>already</b>; wow"
    assert resub["systemText"].startswith("hana subscribed at Tier 1.")
    assert resub["tags"]["system-msg"] == resub["systemText"]  # escapes undone
    assert resub["tags"]["msg-param-sub-plan-name"] == "Channel Subscription (forsen)"
    timeout = messages[7]
    assert (timeout["type"], timeout["username"]) == (2, "spammer")
    assert timeout["tags"]["ban-duration"] == "600"
    assert messages[6]["type"] == 13
    assert messages[6]["tags"]["target-msg-id"] == corpus.DELETED_ID


def test_it_rebuilds_every_raw_line_tag_for_tag(api):
    sent = [line for line in corpus.lines() if "#forsen" in line and "2024-03-01" in _day(line)]
    answer = api.get("/api/channel/forsen/2024/3/1?raw")
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    served = answer.text.splitlines()
    assert len(served) == len(sent)
    for original, rebuilt in zip(sent, served, strict=True):
        assert _parse(rebuilt) == _parse(original), rebuilt


def _day(line: str) -> str:
    from datetime import UTC, datetime

    ts = line.split("tmi-sent-ts=")[1].split(";")[0].split(" ")[0]
    return datetime.fromtimestamp(int(ts) / 1000, UTC).date().isoformat()


def _parse(line: str):
    from messages_app.ingest.parser import parse_line

    message = parse_line(line)
    return message.command, message.params, message.prefix, message.tags


def test_it_serves_a_users_month_newest_first_as_justlogs_ui_asks(api):
    answer = api.get("/api/channel/forsen/user/gempir/2024/3?json=1&reverse=1")
    texts = [m["text"] for m in answer.json()["messages"]]
    assert texts == ["see you", "👉 Kappa 👈", "hello forsen"]


def test_it_lists_days_and_months_newest_first_as_unpadded_strings(api):
    days = api.get("/api/list?channel=forsen").json()["availableLogs"]
    assert days == [{"year": "2024", "month": "4", "day": "2"},
                    {"year": "2024", "month": "3", "day": "5"},
                    {"year": "2024", "month": "3", "day": "1"}]  # fmt: skip
    months = api.get("/api/list?channel=forsen&user=gempir").json()["availableLogs"]
    assert months == [{"year": "2024", "month": "4"}, {"year": "2024", "month": "3"}]
    by_id = api.get(f"/api/list?channelid={corpus.FORSEN_ID}&userid={corpus.GEMPIR_ID}")
    assert by_id.json()["availableLogs"] == months


def test_it_redirects_to_the_newest_day_and_month_keeping_the_query(api):
    day = api.get("/api/channel/forsen?json")
    assert (day.status_code, day.headers["location"]) == (302, "/api/channel/forsen/2024/4/2?json")
    month = api.get("/api/channel/forsen/user/gempir")
    assert (month.status_code, month.headers["location"]) == (
        302,
        "/api/channel/forsen/user/gempir/2024/4",
    )


def test_a_renamed_user_is_one_user_under_either_login_or_the_id(api):
    by_new = api.get("/api/channel/forsen/user/newname/2024/3?json").json()["messages"]
    by_old = api.get("/api/channel/forsen/user/oldname/2024/3?json").json()["messages"]
    by_id = api.get(f"/api/channel/forsen/userid/{corpus.RENAMED_ID}/2024/3?json").json()
    assert by_new == by_old == by_id["messages"]
    assert by_new[0]["username"] == "oldname"  # the login of that time
    assert by_new[0]["raw"].startswith("@") and ":oldname!oldname@" in by_new[0]["raw"]
    history = api.get(f"/api/namehistory/{corpus.RENAMED_ID}").json()
    assert [(h["user_login"], h["first_timestamp"]) for h in history] == [
        ("oldname", "2024-03-01T11:00:00Z"), ("newname", "2024-04-02T09:00:00Z")]  # fmt: skip


def test_it_serves_json_basic_and_ndjson(api):
    basic = api.get("/api/channel/forsen/2024/4/2?jsonBasic").json()["messages"]
    assert [list(m) for m in basic] == [["text", "displayName", "timestamp", "id", "tags"]] * 2
    nd = api.get("/api/channel/forsen/2024/4/2?ndjson")
    assert nd.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in nd.text.splitlines()] == basic


def test_it_answers_arbitrary_ranges_in_both_time_formats(api):
    unix = api.get("/api/channel/forsen?from=1709287200&to=1709290800&json")  # 10:00-11:00 UTC
    rfc = api.get("/api/channel/forsen?from=2024-03-01T10:00:00Z&to=2024-03-01T11:00:00Z&json")
    assert unix.status_code == rfc.status_code == 200
    assert [m["text"] for m in unix.json()["messages"]] == ["hello forsen", "👉 Kappa 👈"]
    assert unix.json() == rfc.json()
    year = "from=2024-01-01T00:00:00Z&to=2024-12-31T00:00:00Z"
    paged = api.get(f"/api/channel/forsen/user/gempir?{year}&json&reverse&limit=2&offset=1")
    paged = paged.json()["messages"]
    assert [m["text"] for m in paged] == ["see you", "👉 Kappa 👈"]


def test_it_finds_a_users_lines_case_insensitively(api):
    found = api.get("/api/channel/forsen/user/gempir/search?q=HELLO&json").json()["messages"]
    assert [m["text"] for m in found] == ["hello forsen"]


def test_it_counts_a_channel_and_its_top_chatters(api):
    stats = api.get("/api/channel/forsen/stats").json()
    assert stats["messageCount"] == 12  # PRIVMSG and USERNOTICE, never moderation
    assert stats["topChatters"][0] == {"userId": corpus.GEMPIR_ID, "userLogin": "gempir",
                                       "messageCount": 4}  # fmt: skip
    user = api.get("/api/channel/forsen/user/gempir/stats").json()
    assert user["messageCount"] == 4


def test_it_serves_a_random_line_of_the_channel_and_of_a_user(api):
    line = api.get("/api/channel/forsen/user/gempir/random?json").json()["messages"]
    assert len(line) == 1 and line[0]["username"] == "gempir"
    assert api.get("/api/channel/xqc/random").text == "[2024-03-01 10:00:00] #xqc gempir: hi xqc\n"


def test_every_answer_carries_cors_capabilities_and_nosniff(api):
    for path in ("/api/channels", "/api/channel/forsen/2024/3/1", "/api/capabilities",
                 "/api/channel/nobody/2024/3/1"):  # fmt: skip
        headers = api.get(path).headers
        assert headers["access-control-allow-origin"] == "*"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-rustlog-capabilities"] == "arbitrary-range-query,search,stats,namehistory"
    assert api.get("/api/capabilities").json() == ["arbitrary-range-query", "search", "stats",
                                                   "namehistory"]  # fmt: skip
    preflight = api.request("OPTIONS", "/api/channel/forsen/2024/3/1",
                            headers={"Origin": "https://example.org",
                                     "Access-Control-Request-Method": "GET"})  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"


def test_past_periods_are_cached_and_unknown_ones_are_404(api):
    past = api.get("/api/channel/forsen/2024/3/1").headers["cache-control"]
    assert past == "public, max-age=36000"
    today = api.get(f"/api/channel/{corpus.TODAY}")
    assert today.status_code == 302
    current = api.get(today.headers["location"])
    assert current.text.endswith("#today_chan gempir: right now\n")
    assert current.headers["cache-control"] == "no-cache"
    assert api.get("/api/list?channel=forsen").headers["cache-control"] == "public, max-age=600"
    assert api.get("/api/channel/forsen/2024/3/2").status_code == 404
    assert api.get("/api/channel/nobody/2024/3/1").status_code == 404
    assert api.get("/api/channel/forsen/user/nobody/2024/3").status_code == 404


def test_bad_input_gets_a_clear_400(api):
    for path in ("/api/channel/forsen/2024/13/1", "/api/channel/forsen/2024/2/30",
                 "/api/channel/forsen/2024/3/1?type=xml", "/api/channel/forsen?from=yesterday",
                 "/api/channel/forsen?from=2024-03-02T00:00:00Z&to=2024-03-01T00:00:00Z",
                 "/api/channel/forsen/user/gempir/2024/3?limit=99999999999999999999",
                 "/api/channel/" + "a" * 300 + "/2024/3/1", "/api/channel/bad%20name/2024/3/1",
                 "/api/channel/forsen/user/gempir/search"):  # fmt: skip
        answer = api.get(path)
        assert answer.status_code == 400, path
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.text, path


def test_a_code_to_opt_out_is_six_letters_or_digits(api):
    answer = api.request("POST", "/api/optout")
    assert answer.status_code == 200
    code = answer.json()
    assert isinstance(code, str) and len(code) == 6 and code.isalnum() and code == code.lower()
    assert api.get("/api/optout").status_code == 405


def test_an_opted_out_user_or_channel_is_403_wherever_it_is_named(api):
    user = "/api/channel/forsen/user/optedout"
    for path in (
        "/api/list?channel=forsen&user=optedout",
        f"/api/list?channel=forsen&userid={corpus.OPTED_OUT_ID}",
        f"{user}/2024/3",
        user,
        f"{user}/random",
        f"{user}/stats",
        f"/api/namehistory/{corpus.OPTED_OUT_ID}",
        "/api/list?channel=hidden",
        "/api/channel/hidden/2024/3/1",
        f"/api/channelid/{corpus.HIDDEN_ID}/2024/3/1",
        "/api/channel/HIDDEN/random",
    ):
        answer = api.get(path)
        assert (answer.status_code, answer.text) == (403, "User or channel has opted out"), path
    assert "hidden" not in {c["name"] for c in api.get("/api/channels").json()["channels"]}
