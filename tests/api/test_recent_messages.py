"""`/api/v2/recent-messages/<login>` (recent-messages2's API) over HTTP against
daphne: on the shared archive of tests/api/corpus.py, and on an archive of
this file's own (`lab`) for what the corpus does not hold: timeouts and bans
of users whose lines were not deleted, an enabled channel, a disabled and a
deleted one, channels that opted out by room id only and by login only.

The corpus's channels were stored by `ingest --replay`, which creates
channels disabled (a replay must not make ingest join them): so forsen
answers its lines with error_code channel_not_joined."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings

from messages_app.ingest.parser import parse_line
from messages_app.ingest.simulator import clearchat, numeric_id, privmsg, usernotice
from tests.api import corpus
from tests.browser import support

NOT_ARCHIVED = "This goknut does not archive this channel (never added, disabled or removed)"
INVALID_QUERY = {
    "status": 400,
    "status_message": "Bad Request",
    "error": "Invalid or missing query parameters",
    "error_code": "invalid_query",
}
SEE_YOU, WAVES = "a6d2c1e0-0000-4000-8000-000000000008", "a6d2c1e0-0000-4000-8000-000000000003"

# The forsen lines of the corpus, as served by default: oldest first by sent
# time (the corpus stores "see you" before the ban and the clear that were
# sent earlier), the opted-out user's line left out. (command, nick, text)
FORSEN = [
    ("PRIVMSG", "gempir", "hello forsen"),
    ("PRIVMSG", "gempir", "👉 Kappa 👈"),
    ("PRIVMSG", "oldname", "\x01ACTION waves at chat\x01"),
    ("USERNOTICE", "", "12 months <b>already</b>; wow"),
    ("USERNOTICE", "", ""),  # ivan's sub
    ("PRIVMSG", "spammer", "buy followers"),
    ("CLEARMSG", "", "buy followers"),
    ("CLEARCHAT", "", "spammer"),  # timeout
    ("USERNOTICE", "", ""),  # raid
    ("USERNOTICE", "", "stream starts soon"),
    ("CLEARCHAT", "", "spammer"),  # ban
    ("CLEARCHAT", "", ""),  # the clear of the whole chat, 21:30
    ("PRIVMSG", "gempir", "see you"),
    ("PRIVMSG", "newname", "new name, same me"),
    ("PRIVMSG", "gempir", "april"),
]
CLEARED = 11  # the lines before the clear of the whole chat: all moderated
MODERATION = {"CLEARCHAT", "CLEARMSG"}


def recent(client, channel: str = "forsen", query: str = ""):
    return client.get(f"/api/v2/recent-messages/{channel}{query}")


def parsed(answer) -> list:
    assert answer.status_code == 200, answer.text
    return [parse_line(line) for line in answer.json()["messages"]]


def said(message) -> tuple[str, str, str]:
    nick = "" if message.prefix == "tmi.twitch.tv" else message.nick
    return message.command, nick, message.params[1] if len(message.params) > 1 else ""


def ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)


# -- the answer ---------------------------------------------------------------------


def test_it_answers_recent_messages2s_shape_oldest_first(api):
    answer = recent(api)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["access-control-allow-origin"] == "*"
    body = answer.json()
    assert list(body) == ["messages", "error", "error_code"]
    assert (body["error"], body["error_code"]) == (NOT_ARCHIVED, "channel_not_joined")
    assert all(isinstance(line, str) and "\n" not in line and "\r" not in line
               for line in body["messages"])  # fmt: skip
    messages = parsed(answer)
    assert [said(m) for m in messages] == FORSEN
    times = [int(m.tags["rm-received-ts"]) for m in messages]
    assert times == sorted(times)
    assert times[0] == ms(2024, 3, 1, 10) and times[-1] == ms(2024, 4, 2, 9, 30)


def test_every_line_carries_historical_and_its_sent_time(api):
    for message in parsed(recent(api)):
        assert message.tags["historical"] == "1"
        assert message.tags["rm-received-ts"] == message.tags["tmi-sent-ts"]


def test_a_line_keeps_every_tag_of_the_line_twitch_sent_plus_the_added_ones(api):
    sent = {line.split(";id=")[1].split(";")[0]: line for line in corpus.lines() if ";id=" in line}
    served = {m.tags.get("id"): m for m in parsed(recent(api))}
    deleted = {"rm-deleted": "1"}
    for twitch_id, extra in ((SEE_YOU, {}), (corpus.DELETED_ID, deleted), (WAVES, deleted)):
        original = parse_line(sent[twitch_id])
        line = served[twitch_id]
        received = {"historical": "1", "rm-received-ts": original.tags["tmi-sent-ts"]}
        assert line.tags == {**original.tags, **received, **extra}
        assert (line.command, line.params, line.prefix) == (
            original.command, original.params, original.prefix)  # fmt: skip


def test_tags_are_sorted_as_twitch_sorts_them(api):
    for line in recent(api).json()["messages"]:
        keys = [item.split("=", 1)[0] for item in line[1:].split(" ", 1)[0].split(";")]
        assert keys == sorted(keys, key=lambda key: key + "="), line


def test_a_renamed_user_speaks_under_the_login_of_the_time(api):
    nicks = {said(m)[2]: m.nick for m in parsed(recent(api)) if m.command == "PRIVMSG"}
    assert nicks["\x01ACTION waves at chat\x01"] == "oldname"
    assert nicks["new name, same me"] == "newname"


def test_an_opted_out_users_lines_are_left_out(api):
    lines = recent(api).json()["messages"]
    assert not [line for line in lines if "forget me" in line or corpus.OPTED_OUT_ID in line]


# -- limit, before, after ---------------------------------------------------------------


def test_limit_takes_the_newest_lines_and_caps_big_numbers(api):
    assert [said(m)[2] for m in parsed(recent(api, query="?limit=2"))] == [
        "new name, same me", "april"]  # fmt: skip
    assert parsed(recent(api, query="?limit=0")) == []
    for huge in ("100000", "99999999999999999999999"):
        assert [said(m) for m in parsed(recent(api, query=f"?limit={huge}"))] == FORSEN


def test_before_and_after_are_exclusive_unix_milliseconds(api):
    after = parsed(recent(api, query=f"?after={ms(2024, 4, 2, 9)}"))
    assert [said(m)[2] for m in after] == ["april"]
    before = parsed(recent(api, query=f"?before={ms(2024, 3, 1, 10, 0, 5) + 250}"))
    assert [said(m)[2] for m in before] == ["hello forsen"]
    evening = f"?after={ms(2024, 3, 5, 20)}&before={ms(2024, 3, 5, 21, 30)}"
    between = parsed(recent(api, query=evening))
    assert [said(m) for m in between] == [("USERNOTICE", "", "stream starts soon"),
                                          ("CLEARCHAT", "", "spammer")]  # fmt: skip
    # The clear of 21:30 is outside this window: nothing in it is moderated.
    assert not [m for m in between if "rm-deleted" in m.tags]
    assert parsed(recent(api, query=f"?before={ms(2024, 3, 1)}")) == []
    assert parsed(recent(api, query=f"?after={ms(2024, 5, 1)}")) == []


def test_non_numbers_are_invalid_query(api):
    for query in ("?limit=many", "?limit=-1", "?limit=1.5", "?before=yesterday", "?after=1.5",
                  "?before=2024-03-01T10:00:00Z", "?after=" + "9" * 30):  # fmt: skip
        answer = recent(api, query=query)
        assert (answer.status_code, answer.json()) == (400, INVALID_QUERY), query
        assert answer.headers["content-type"].startswith("application/json")


# -- moderation ---------------------------------------------------------------------


def test_rm_deleted_is_on_exactly_the_moderated_lines(api):
    messages = parsed(recent(api))
    deleted = [i for i, m in enumerate(messages) if m.tags.get("rm-deleted") == "1"]
    assert deleted == list(range(CLEARED))  # everything before the clear of the whole chat
    before_clear = parsed(recent(api, query=f"?before={ms(2024, 3, 5, 21, 15)}"))
    marked = [said(m) for m in before_clear if "rm-deleted" in m.tags]
    assert marked == [("PRIVMSG", "spammer", "buy followers")]  # the deleted one only


@pytest.mark.parametrize("key", ["hide_moderation_messages", "hideModerationMessages"])
@pytest.mark.parametrize("value", ["=true", "=1", "=yes", ""])
def test_hide_moderation_messages_drops_clearchat_and_clearmsg(api, key, value):
    messages = parsed(recent(api, query=f"?{key}{value}"))
    assert [said(m) for m in messages] == [s for s in FORSEN if s[0] not in MODERATION]


@pytest.mark.parametrize("key", ["hide_moderated_messages", "hideModeratedMessages"])
@pytest.mark.parametrize("value", ["=true", "=1", "=yes", ""])
def test_hide_moderated_messages_drops_the_moderated_lines(api, key, value):
    messages = parsed(recent(api, query=f"?{key}{value}"))
    assert [said(m) for m in messages] == FORSEN[CLEARED:]
    assert not [m for m in messages if "rm-deleted" in m.tags]


@pytest.mark.parametrize("value", ["false", "0", "no", "FALSE"])
def test_false_flags_change_nothing(api, value):
    query = "&".join(f"{key}={value}" for key in ("hide_moderation_messages",
                     "hideModeratedMessages", "clearchat_to_notice"))  # fmt: skip
    assert recent(api, query=f"?{query}").json() == recent(api).json()


def test_both_hide_flags_leave_what_was_said_after_the_clear(api):
    query = "?hide_moderation_messages=true&hideModeratedMessages=true"
    assert [said(m) for m in parsed(recent(api, query=query))] == FORSEN[CLEARED + 1 :]


@pytest.mark.parametrize("key", ["clearchat_to_notice", "clearchatToNotice"])
@pytest.mark.parametrize("value", ["=true", "=1", "=yes", ""])
def test_clearchat_to_notice_turns_each_clearchat_into_a_notice(api, key, value):
    lines = recent(api, query=f"?{key}{value}").json()["messages"]
    notices = [line for line in lines if " NOTICE " in line]
    assert notices == [
        f"@historical=1;msg-id=rm-timeout;rm-deleted=1;rm-received-ts={ms(2024, 3, 1, 13, 0, 2)}"
        " :tmi.twitch.tv NOTICE #forsen :spammer has been timed out for 10m.",
        f"@historical=1;msg-id=rm-permaban;rm-deleted=1;rm-received-ts={ms(2024, 3, 5, 21)}"
        " :tmi.twitch.tv NOTICE #forsen :spammer has been permanently banned.",
        f"@historical=1;msg-id=rm-clearchat;rm-received-ts={ms(2024, 3, 5, 21, 30)}"
        " :tmi.twitch.tv NOTICE #forsen :Chat has been cleared by a moderator.",
    ]
    assert not [line for line in lines if " CLEARCHAT " in line]
    assert [said(parse_line(line))[0] for line in lines] == [
        "NOTICE" if s[0] == "CLEARCHAT" else s[0] for s in FORSEN]  # fmt: skip


BAD_BOOLEANS = ["?hide_moderation_messages=maybe", "?hideModeratedMessages=2",
                "?clearchat_to_notice=on", "?clearchatToNotice=truee"]  # fmt: skip


@pytest.mark.parametrize("query", BAD_BOOLEANS)
def test_a_bad_boolean_is_invalid_query(api, query):
    answer = recent(api, query=query)
    assert (answer.status_code, answer.json()) == (400, INVALID_QUERY)
    assert list(answer.json()) == ["status", "status_message", "error", "error_code"]


# -- channels -----------------------------------------------------------------------


def test_a_channel_goknut_does_not_archive_answers_no_messages(api):
    answer = recent(api, "nobody")
    assert answer.status_code == 200
    assert answer.json() == {"messages": [], "error": NOT_ARCHIVED,
                             "error_code": "channel_not_joined"}  # fmt: skip


def test_an_opted_out_channel_is_403_channel_ignored(api):
    for login in ("hidden", "HIDDEN"):
        answer = recent(api, login, "?limit=800")
        assert answer.status_code == 403
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.json() == {
            "status": 403,
            "status_message": "Forbidden",
            "error": "The channel login `hidden` is excluded from this service",
            "error_code": "channel_ignored",
        }


def test_a_login_twitch_would_not_allow_is_400(api):
    for login in ("bad-name", "a" * 26, "%23forsen", "f%C3%B6rsen"):
        answer = recent(api, login)
        assert answer.status_code == 400, login
        body = answer.json()
        assert body["error_code"] == "invalid_channel_login"
        assert body["error"].startswith("Invalid channel login: ")
        assert (body["status"], body["status_message"]) == (400, "Bad Request")
    assert recent(api, "bad-name").json()["error"] == "Invalid channel login: bad-name"


def test_a_mixed_case_login_is_the_channel(api):
    assert recent(api, "Forsen").json() == recent(api).json()


def test_other_methods_are_405(api):
    answer = api.request("POST", "/api/v2/recent-messages/forsen")
    assert answer.status_code == 405
    assert answer.json()["error_code"] == "method_not_allowed"


# -- a chat client ------------------------------------------------------------------


def test_it_serves_what_a_chat_client_like_chatterino_reads(api):
    """Chatterino asks `?limit=800` (its history setting), reads `messages`,
    parses each line as IRC and builds the chat from the tags, the prefix's
    nick, the channel and the text; rm-received-ts dates the lines, and
    rm-deleted greys out what moderators removed."""
    answer = api.get("/api/v2/recent-messages/forsen", params={"limit": "800"},
                     headers={"Accept": "application/json"})  # fmt: skip
    assert answer.status_code == 200
    assert answer.headers["x-content-type-options"] == "nosniff"
    messages = [parse_line(line) for line in answer.json()["messages"]]
    chat = [m for m in messages if m.command == "PRIVMSG"]
    assert [(m.nick, m.params[0], m.params[1]) for m in chat] == [
        ("gempir", "#forsen", "hello forsen"),
        ("gempir", "#forsen", "👉 Kappa 👈"),
        ("oldname", "#forsen", "\x01ACTION waves at chat\x01"),
        ("spammer", "#forsen", "buy followers"),
        ("gempir", "#forsen", "see you"),
        ("newname", "#forsen", "new name, same me"),
        ("gempir", "#forsen", "april"),
    ]
    emoji = chat[1]
    assert (emoji.tags["emotes"], emoji.tags["display-name"], emoji.tags["color"]) == (
        "25:2-6", "Gempir", "#FF4500")  # fmt: skip
    assert emoji.tags["room-id"] == corpus.FORSEN_ID and emoji.tags["user-id"] == corpus.GEMPIR_ID
    assert datetime.fromtimestamp(int(emoji.tags["rm-received-ts"]) / 1000, UTC) == datetime(
        2024, 3, 1, 10, 0, 5, 250_000, tzinfo=UTC)  # fmt: skip
    assert [m.tags.get("rm-deleted") for m in chat] == ["1", "1", "1", "1", None, None, None]
    resub = next(m for m in messages if m.tags.get("msg-id") == "resub")
    assert resub.tags["system-msg"].startswith("hana subscribed at Tier 1.")
    assert resub.params == ["#forsen", "12 months <b>already</b>; wow"]
    assert {m.params[0] for m in messages} == {"#forsen"}


# -- an archive of this file's own ----------------------------------------------------

LAB, PAUSED, GONE, RENAMED_CH = "modlab", "paused", "gone", "renamedch"
LAB_SETUP = """
from django.utils import timezone
from messages_app.models import Channel, OptOut
Channel.objects.filter(name="modlab").update(enabled=True)
Channel.objects.filter(name="gone").update(deleted_at=timezone.now())
OptOut.objects.create(subject="channel", twitch_id="{renamed_id}", login="")
OptOut.objects.create(subject="channel", login="ghost")
"""


def lab_lines() -> list[str]:
    """modlab on 2024-06-01: timeouts and bans of users whose lines nobody
    deleted, no clear of the chat; one line in each of the other channels."""

    def at(minute: int) -> datetime:
        return datetime(2024, 6, 1, 10, minute, tzinfo=UTC)

    def say(login: str, text: str, minute: int, channel: str = LAB) -> str:
        return privmsg(channel, login, text, sent_at=at(minute))

    return [
        say("alice", "hi all", 0),
        say("bob", "first bob", 1),
        clearchat(LAB, "bob", duration=630, sent_at=at(2)),
        say("bob", "back again", 3),
        say("carol", "carol speaks", 4),
        usernotice(LAB, "dave", "sub", params={"sub-plan": "1000"}, sent_at=at(5)),
        clearchat(LAB, "carol", sent_at=at(6)),
        clearchat(LAB, "dave", duration=86400, sent_at=at(7)),
        say("erin", "erin here", 8),
        clearchat(LAB, "erin", duration=1209600, sent_at=at(9)),
        say("frank", "frank here", 10),
        clearchat(LAB, "frank", duration=90061, sent_at=at(11)),
        clearchat(LAB, "gina", duration=172800, sent_at=at(11)),
        say("alice", "last words <script>alert(1)</script>", 12),
        say("alice", "still here", 13, PAUSED),
        say("alice", "long gone", 14, GONE),
        say("alice", "under the old name", 15, RENAMED_CH),
    ]


def _postgres(sql: str) -> None:
    import psycopg

    server = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A daphne on an archive of lab_lines(), stored by the real commands."""
    postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]
    name = f"goknut_rm_{uuid.uuid4().hex[:10]}"
    if postgres:
        _postgres(f'CREATE DATABASE "{name}"')
        url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('rm') / 'lab.sqlite3'}"
    daphne = None
    try:
        support.manage(url, "migrate", "-v0")
        support.ingest(url, lab_lines())
        support.manage(url, "shell", "-c", LAB_SETUP.format(renamed_id=numeric_id(RENAMED_CH)))
        daphne = support.Daphne(url, tmp_path_factory.mktemp("rm-daphne") / "daphne.log").start()
        client = httpx_client(daphne.url)
        yield client
        client.close()
    finally:
        if daphne is not None:
            daphne.stop()
        if postgres:
            _postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def httpx_client(url: str):
    import httpx

    return httpx.Client(base_url=url, timeout=30)


def test_an_archived_enabled_channel_answers_without_error(lab):
    body = recent(lab, LAB).json()
    assert (body["error"], body["error_code"]) == (None, None)
    assert len(body["messages"]) == 14


def test_a_timeout_or_ban_moderates_the_users_earlier_lines_only(lab):
    messages = parsed(recent(lab, LAB))
    marked = [said(m) for m in messages if m.tags.get("rm-deleted") == "1"]
    assert marked == [
        ("PRIVMSG", "bob", "first bob"),
        ("PRIVMSG", "carol", "carol speaks"),
        ("USERNOTICE", "", ""),  # dave's sub, before his timeout
        ("PRIVMSG", "erin", "erin here"),
        ("PRIVMSG", "frank", "frank here"),
    ]
    assert next(m for m in messages if m.command == "USERNOTICE").tags["login"] == "dave"
    kept = [said(m)[2] for m in parsed(recent(lab, LAB, "?hide_moderated_messages=true"))]
    assert "back again" in kept and "hi all" in kept and "first bob" not in kept
    assert kept[-1] == "last words <script>alert(1)</script>"  # the text as sent, in JSON


def test_timeout_lengths_are_written_as_humantime_writes_them(lab):
    lines = recent(lab, LAB, "?clearchatToNotice=true&hideModeratedMessages=true").json()
    texts = [line.split(" :", 1)[1].split(" :", 1)[1] for line in lines["messages"]
             if " NOTICE " in line]  # fmt: skip
    assert texts == [
        "bob has been timed out for 10m 30s.",
        "carol has been permanently banned.",
        "dave has been timed out for 1day.",
        "erin has been timed out for 14days.",
        "frank has been timed out for 1day 1h 1m 1s.",
        "gina has been timed out for 2days.",
    ]


def test_a_disabled_or_deleted_channel_answers_its_lines_and_not_joined(lab):
    for channel, text in ((PAUSED, "still here"), (GONE, "long gone")):
        body = recent(lab, channel).json()
        assert [said(parse_line(line))[2] for line in body["messages"]] == [text]
        assert (body["error"], body["error_code"]) == (NOT_ARCHIVED, "channel_not_joined")


def test_a_channel_opted_out_by_room_id_or_by_login_alone_is_403(lab):
    for login in (RENAMED_CH, "ghost"):
        answer = recent(lab, login)
        assert answer.status_code == 403, login
        assert (
            answer.json()["error"] == f"The channel login `{login}` is excluded from this service"
        )
        assert answer.json()["error_code"] == "channel_ignored"
