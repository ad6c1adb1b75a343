import asyncio
import json
import random
import string
import uuid
from datetime import UTC, datetime

import pytest

from messages_app.ingest.irc import TwitchClient
from messages_app.ingest.parser import (
    EVENT_NAMESPACE,
    MAX_LINE_BYTES,
    RECORD_COMMANDS,
    UTF8_REPLACED,
    SkipLine,
    decode_line,
    decode_line_checked,
    escape_tag_value,
    event_id,
    is_login,
    parse_json_record,
    parse_line,
    to_record,
    unescape_tag_value,
)
from messages_app.ingest.pipeline import IngestStats
from messages_app.ingest.runner import _replay_record
from messages_app.ingest.simulator import privmsg
from messages_app.models import Kind
from messages_app.validators import TWITCH_LOGIN_RE

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
LINE = (
    "@badge-info=subscriber/14;badges=subscriber/12,glhf-pledge/1;color=#1E90FF;"
    "display-name=DarkWolf;emotes=;id=b34ccfc7-4977-403a-8a94-33c6bac34fb8;mod=0;"
    "room-id=22484632;tmi-sent-ts=1700000000123;user-type= "
    ":darkwolf!darkwolf@darkwolf.tmi.twitch.tv PRIVMSG #forsen :forsenE what: was that"
)


def test_it_turns_a_privmsg_into_a_chat_record():
    record = to_record(parse_line(LINE), NOW)
    assert (record.channel, record.username, record.display_name) == (
        "forsen",
        "darkwolf",
        "DarkWolf",
    )
    assert record.text == "forsenE what: was that"
    assert record.twitch_id == "b34ccfc7-4977-403a-8a94-33c6bac34fb8"
    assert record.sent_at == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert record.tags["badges"] == "subscriber/12,glhf-pledge/1"
    assert record.tags["color"] == "#1E90FF"
    assert record.tags["user-type"] == ""
    assert not record.is_action


def test_it_unescapes_tag_values():
    line = r"@display-name=Sleepy\sOtter;msg=a\:b\\c\rd\ne\x;end=\ :tmi.twitch.tv NOTICE #a :x"
    tags = parse_line(line).tags
    assert tags["display-name"] == "Sleepy Otter"
    assert tags["msg"] == "a;b\\c\rd\nex"
    assert tags["end"] == ""


@pytest.mark.parametrize("value", ["plain", "a b;c\\d\r\n", "\\s", "; ;", "日本語 😂"])
def test_it_unescapes_what_it_escapes(value):
    assert unescape_tag_value(escape_tag_value(value)) == value


def test_it_reads_a_me_action_and_unicode():
    line = privmsg("xqc", "pixel_ninja", "waves 👋 ñandú 日本語", action=True, twitch_id="x1")
    record = to_record(parse_line(decode_line(line.encode())), NOW)
    assert record.is_action
    assert record.text == "waves 👋 ñandú 日本語"


def test_it_uses_receipt_time_without_a_usable_tmi_sent_ts():
    for tags in ("", "tmi-sent-ts=;", "tmi-sent-ts=soon;", "tmi-sent-ts=99999999999999999999;"):
        line = f"@{tags}id=1 :a!a@a.tmi.twitch.tv PRIVMSG #forsen :hi"
        assert to_record(parse_line(line), NOW).sent_at == NOW


def test_it_reads_params_without_tags_or_prefix():
    message = parse_line("PING :tmi.twitch.tv")
    assert (message.command, message.params, message.prefix) == ("PING", ["tmi.twitch.tv"], "")
    message = parse_line(":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands")
    assert message.params == ["*", "ACK", "twitch.tv/tags twitch.tv/commands"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"@id=1;color=#FFF", "malformed"),
        (b":tmi.twitch.tv", "malformed"),
        (b"@a=b :x!x@x", "malformed"),
        (b":x!x@x PRIV$MSG #a :hi", "malformed"),
        (b"\xff\xfe PRIVMSG #a :hi", "invalid_utf8"),
        (b"PRIVMSG #a :" + b"x" * MAX_LINE_BYTES, "oversized"),
    ],
)
def test_it_names_the_reason_for_a_bad_line(raw, reason):
    with pytest.raises(SkipLine) as caught:
        parse_line(decode_line(raw))
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    "line",
    [":a!a@a.tmi.twitch.tv PRIVMSG #forsen", ":a!a@a PRIVMSG forsen :hi", "PRIVMSG #forsen :hi"],
)
def test_it_skips_a_privmsg_without_channel_sender_or_text(line):
    with pytest.raises(SkipLine):
        to_record(parse_line(line), NOW)


def test_it_reads_json_lines_of_common_shapes():
    record = parse_json_record(
        '{"channel": "#Forsen", "login": "alice", "text": "hi", "id": "j1", '
        '"sent_at": "2024-05-01T12:00:00Z", "tags": {"color": "#FF0000", "badges": "vip/1"}}',
        NOW,
    )
    assert (record.channel, record.username, record.twitch_id) == ("Forsen", "alice", "j1")
    assert record.sent_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert record.tags["color"] == "#FF0000"
    record = parse_json_record(
        '{"channel": "xqc", "username": "bob", "text": "\\u0001ACTION dances\\u0001", '
        '"tmi-sent-ts": 1700000000000}',
        NOW,
    )
    assert record.is_action and record.text == "dances"
    assert record.sent_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    "line", ["{not json", "[1, 2]", '{"channel": "a", "text": "no user"}', '{"tags": 3}']
)
def test_it_skips_bad_json_lines(line):
    with pytest.raises(SkipLine) as caught:
        parse_json_record(line, NOW)
    assert caught.value.reason == "malformed_json"


def test_it_only_ever_skips_on_random_input():
    rng = random.Random(7)
    alphabet = [b"@", b";", b"=", b"\\", b" ", b":", b"!", b"#", b"PRIVMSG", b"\x01ACTION", b"a"]
    alphabet += [b"tmi-sent-ts=", b"id=", b"\xff", b"\xc3\xa9", b"PING", b"\r", b"001"]
    alphabet += [
        b"USERNOTICE",
        b"CLEARMSG",
        b"CLEARCHAT",
        b"login=",
        b"target-msg-id=",
        b"\x00",
        b"@",
        b"\t",
    ]
    outcomes = set()
    for _ in range(5000):
        raw = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        try:
            message = parse_line(decode_line(raw))
            if message.command in RECORD_COMMANDS:
                to_record(message, NOW)
            outcomes.add("parsed")
        except SkipLine as exc:
            outcomes.add(exc.reason)
    assert {"parsed", "malformed", "invalid_utf8"} <= outcomes


# Every chat event, not only PRIVMSG (USERNOTICE, CLEARMSG, CLEARCHAT); the
# corpus of real lines is in test_parser_corpus.py.

NOTICE_LINE = (
    r"@badge-info=subscriber/3;badges=subscriber/3;display-name=TurboFox;emotes=;"
    r"id=d1e2f3a4-4444-4b5c-9d6e-7f8091a2b3c4;login=turbofox;msg-id=resub;"
    r"msg-param-cumulative-months=3;room-id=71092938;system-msg=TurboFox\ssubscribed\sat\sTier\s1.;"
    r"tmi-sent-ts=1700000004000 :tmi.twitch.tv USERNOTICE #xqc :3 months LETSGO"
)


def test_it_turns_a_usernotice_into_a_notice_record():
    record = to_record(parse_line(NOTICE_LINE), NOW)
    assert (record.kind, record.channel, record.username, record.display_name) == (
        Kind.USERNOTICE,
        "xqc",
        "turbofox",
        "TurboFox",
    )
    assert (record.text, record.system_text) == (
        "3 months LETSGO",
        "TurboFox subscribed at Tier 1.",
    )
    assert record.twitch_id == "d1e2f3a4-4444-4b5c-9d6e-7f8091a2b3c4"
    assert record.sent_at == datetime(2023, 11, 14, 22, 13, 24, tzinfo=UTC)
    assert "system-msg" not in record.tags  # it is system_text, not kept twice
    assert record.tags["msg-param-cumulative-months"] == "3"
    without_text = to_record(parse_line(NOTICE_LINE.rpartition(" :")[0]), NOW)
    assert without_text.text == "" and without_text.system_text


def test_it_stores_a_notice_of_any_msg_id_and_leaves_an_action_in_it_alone():
    line = NOTICE_LINE.replace("msg-id=resub", "msg-id=brandnewthing").replace(
        ":3 months LETSGO", ":\x01ACTION dances\x01"
    )
    record = to_record(parse_line(line), NOW)
    assert (record.tags["msg-id"], record.text, record.is_action) == (
        "brandnewthing",
        "\x01ACTION dances\x01",
        False,
    )


def test_it_turns_clearmsg_and_clearchat_into_moderation_records():
    deleted = to_record(
        parse_line(
            "@login=ronni;room-id=;target-msg-id=abc-123;tmi-sent-ts=1642720582342 "
            ":tmi.twitch.tv CLEARMSG #dallas :HeyGuys"
        ),
        NOW,
    )
    assert (deleted.kind, deleted.channel, deleted.username, deleted.text) == (
        Kind.CLEARMSG,
        "dallas",
        "ronni",
        "HeyGuys",
    )
    assert deleted.tags["target-msg-id"] == "abc-123"
    timeout, ban, clear = (
        to_record(parse_line(line), NOW)
        for line in (
            "@ban-duration=350;room-id=1;target-user-id=2;tmi-sent-ts=3 "
            ":tmi.twitch.tv CLEARCHAT #dallas :ronni",
            "@room-id=1;target-user-id=2;tmi-sent-ts=4 :tmi.twitch.tv CLEARCHAT #dallas :ronni",
            "@room-id=1;tmi-sent-ts=5 :tmi.twitch.tv CLEARCHAT #dallas",
        )
    )
    assert {timeout.kind, ban.kind, clear.kind} == {Kind.CLEARCHAT}
    assert (timeout.username, timeout.tags["ban-duration"]) == ("ronni", "350")
    assert (ban.username, "ban-duration" in ban.tags) == ("ronni", False)
    assert (clear.username, clear.text) == ("", "")
    assert len({timeout.twitch_id, ban.twitch_id, clear.twitch_id, deleted.twitch_id}) == 4


def test_event_ids_are_uuid5_of_the_facts_that_identify_the_event():
    ns = EVENT_NAMESPACE
    assert event_id(Kind.CLEARMSG, {"target-msg-id": "m1"}, "any", "who") == str(
        uuid.uuid5(ns, "13\x00m1")
    )
    tags = {"room-id": "11", "target-user-id": "22", "tmi-sent-ts": "33"}
    assert event_id(Kind.CLEARCHAT, tags, "dallas", "ronni") == str(
        uuid.uuid5(ns, "2\x0011\x0022\x0033")
    )
    # No ids: the channel and the login stand in, lowercased and marked.
    assert event_id(Kind.CLEARCHAT, {"tmi-sent-ts": "33"}, "Dallas", "Ronni") == str(
        uuid.uuid5(ns, "2\x00#dallas\x00@ronni\x0033")
    )
    assert event_id(Kind.CLEARCHAT, {"room-id": "11"}, "dallas", "") == str(
        uuid.uuid5(ns, "2\x0011\x00\x00")
    )
    # A line seen twice gets one id; another time, target or room another.
    line = "@room-id=1;target-user-id=2;tmi-sent-ts=3 :tmi.twitch.tv CLEARCHAT #dallas :ronni"
    ids = {to_record(parse_line(line), NOW).twitch_id for _ in range(2)}
    ids |= {to_record(parse_line(line.replace("=3 ", "=4 ")), NOW).twitch_id}
    ids |= {to_record(parse_line(line.replace("=2;", "=5;")), NOW).twitch_id}
    ids |= {to_record(parse_line(line.replace("id=1;", "id=6;")), NOW).twitch_id}
    assert len(ids) == 4
    with pytest.raises(ValueError):
        event_id(Kind.PRIVMSG, {}, "dallas", "ronni")


def test_only_chat_events_become_records():
    assert {"PRIVMSG", "USERNOTICE", "CLEARMSG", "CLEARCHAT"} == RECORD_COMMANDS
    with pytest.raises(ValueError):
        to_record(parse_line("@msg-id=subs_on :tmi.twitch.tv NOTICE #a :subs only"), NOW)


# What the public Twitch IRC libraries' test suites show (one test each).


def test_a_nick_at_host_prefix_is_the_nick():
    """twitch-irc-rs prefix.rs: nick, nick@host and nick!user@host are all valid."""
    record = to_record(parse_line(":leppunen@tmi.twitch.tv PRIVMSG #pajlada :LUL"), NOW)
    assert record.username == "leppunen"
    assert parse_line(":a!b@c JOIN #x").nick == "a"
    assert parse_line(":tmi.twitch.tv CAP * ACK :x").nick == "tmi.twitch.tv"


@pytest.mark.parametrize(
    "line",
    [
        ":tmi.twitch.tv PRIVMSG #pajlada :test",
        ":jtv!~jtv@jtv.tmi.twitch.tv PRIVMSG #schmoopiie :Username is now hosting you.",
        ":jtv PRIVMSG #schmoopiie :old system message",
    ],
)
def test_a_privmsg_from_the_server_is_not_chat(line):
    with pytest.raises(SkipLine) as caught:
        to_record(parse_line(line), NOW)
    assert caught.value.reason == "server_sender"


@pytest.mark.parametrize(
    "line",
    [
        ":bad-login!x@x PRIVMSG #forsen :hi",
        ":" + "a" * 26 + "!x@x PRIVMSG #forsen :hi",
        ":irc.example.com PRIVMSG #forsen :hi",
        ":ünï!x@x PRIVMSG #forsen :hi",
        "@login=<b> PRIVMSG #forsen :hi",
        "@login=a\\sb;msg-id=sub :tmi.twitch.tv USERNOTICE #forsen",
        "@login=a.b;target-msg-id=m1 :tmi.twitch.tv CLEARMSG #forsen :hi",
        "@room-id=1 :tmi.twitch.tv CLEARCHAT #forsen :<script>",
    ],
)
def test_a_login_that_breaks_twitchs_rule_is_skipped(line):
    with pytest.raises(SkipLine) as caught:
        to_record(parse_line(line), NOW)
    assert caught.value.reason == "bad_login"


def test_is_login_is_validators_rule_without_a_regex():
    rng = random.Random(3)
    alphabet = string.ascii_letters + string.digits + "_-.!@ #\t\n:"
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 28)))
        assert is_login(value) == bool(TWITCH_LOGIN_RE.fullmatch(value.lower())), value
    assert is_login("ronni") and is_login("a") and is_login("x" * 25) and is_login("Ronni_42")
    # str.lower() makes the Kelvin sign a "k"; fullwidth "ronni" looks like one: neither is a login.
    assert not is_login("\u212a") and not is_login("\uff52\uff4f\uff4e\uff4e\uff49")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x01ACTION\x01", ("", True)),
        ("\x01ACTION \x01", ("", True)),
        ("\x01ACTION waves\x01", ("waves", True)),
        ("\x01ACTION waves", ("waves", True)),
        ("\x01ACTIONS\x01", ("\x01ACTIONS\x01", False)),
        ("\x01PING 123\x01", ("\x01PING 123\x01", False)),
    ],
)
def test_an_empty_action_is_an_action_without_text(text, expected):
    """DMDirc/ktirc: "\\x01ACTION\\x01" is an action with empty content."""
    record = to_record(parse_line(f":a!a@a PRIVMSG #forsen :{text}"), NOW)
    assert (record.text, record.is_action) == expected
    json_line = json.dumps({"channel": "a", "login": "b", "text": text})
    assert parse_json_record(json_line, NOW).is_action == expected[1]


def test_nul_is_stripped_from_logins_display_names_ids_and_tags():
    line = (
        "@display-name=Ev\x00il;id=ab\x00c;color=#F\x00FF :ev\x00il!evil@evil PRIVMSG #forsen :hi"
    )
    record = to_record(parse_line(line), NOW)
    assert (record.username, record.display_name, record.twitch_id) == ("evil", "Evil", "abc")
    assert record.tags["color"] == "#FFF"
    notice = to_record(
        parse_line("@login=e\x00ve;msg-id=sub;id=i\x00d :tmi.twitch.tv USERNOTICE #forsen"), NOW
    )
    assert (notice.username, notice.twitch_id) == ("eve", "id")


def test_a_twitch_id_longer_than_64_characters_is_rejected():
    longest = to_record(parse_line(f"@id={'a' * 64} :a!a@a PRIVMSG #forsen :hi"), NOW)
    assert longest.twitch_id == "a" * 64
    for line in (
        f"@id={'a' * 65} :a!a@a PRIVMSG #forsen :hi",
        f"@id={'a' * 65};login=a :tmi.twitch.tv USERNOTICE #forsen",
        f"@login=a;target-msg-id={'a' * 65} :tmi.twitch.tv CLEARMSG #forsen :hi",
    ):
        with pytest.raises(SkipLine) as caught:
            to_record(parse_line(line), NOW)
        assert caught.value.reason == "bad_id"


def test_invalid_utf8_in_a_tag_keeps_the_line_with_replacements():
    raw = b"@display-name=Bad\xffName;id=x1 :bad!bad@bad PRIVMSG #forsen :still here \xc3\xa9"
    line, replaced = decode_line_checked(raw)
    assert replaced
    record = to_record(parse_line(line), NOW)
    assert (record.display_name, record.text) == ("Bad\ufffdName", "still here é")
    assert decode_line(raw) == line
    assert decode_line_checked(b"@id=1 :a!a@a PRIVMSG #forsen :\xc3\xa9") == (
        "@id=1 :a!a@a PRIVMSG #forsen :é",
        False,
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"@id=1 :a!a@a PRIVMSG #forsen :bad \xff",  # the text
        b"@id=1 :b\xffd!b@b PRIVMSG #forsen :hi",  # the prefix
        b"@id=1 :a!a@a PRIVMSG #for\xffsen :hi",  # the channel
        b"@id=1\xff",  # tags and nothing else
        b":a!a@a PRIVMSG #forsen :\xed\xa0\x80",  # a surrogate, no tags
    ],
)
def test_invalid_utf8_outside_the_tags_still_skips_the_line(raw):
    with pytest.raises(SkipLine) as caught:
        decode_line_checked(raw)
    assert caught.value.reason == "invalid_utf8"


def test_only_a_space_separates_parameters():
    """ircdocs parser-tests: "tab is not considered <SPACE>" (split() took a tab,
    or a Unicode space, for one: "#forsen\\tfake :hi" was the text "fake")."""
    assert parse_line(":a!a@a PRIVMSG #forsen\tfake :hi").params == ["#forsen\tfake", "hi"]
    assert parse_line(":a PRIVMSG #x\u3000y :hi").params == ["#x\u3000y", "hi"]
    assert parse_line(":s MODE #foo-bar +o foobar  ").params == ["#foo-bar", "+o", "foobar"]
    assert parse_line("foo bar baz ::asdf").params == ["bar", "baz", ":asdf"]
    assert parse_line(":gravel.mozilla.org 432  #momo :Erroneous").params == ["#momo", "Erroneous"]


# The callers: every received line counted once, chat events handed on.

KINDS_OF_LINES = [
    privmsg("forsen", "alice", "hi", twitch_id="p1").encode(),
    NOTICE_LINE.encode(),
    b"@login=ronni;target-msg-id=m1;tmi-sent-ts=1 :tmi.twitch.tv CLEARMSG #forsen :HeyGuys",
    b"@ban-duration=5;room-id=1;target-user-id=2 :tmi.twitch.tv CLEARCHAT #forsen :bo",
    b"@room-id=1;tmi-sent-ts=2 :tmi.twitch.tv CLEARCHAT #forsen",
    b"@display-name=Br\xffoken;id=p2 :bob!bob@bob PRIVMSG #forsen :kept",
    b"@msg-id=subs_on :tmi.twitch.tv NOTICE #forsen :This room is now in subscribers-only mode.",
    b"@emote-only=0;room-id=1 :tmi.twitch.tv ROOMSTATE #forsen",
    b"@badges=;color= :tmi.twitch.tv USERSTATE #forsen",
    b":jtv!jtv@jtv.tmi.twitch.tv PRIVMSG #forsen :Someone is now hosting you.",
    b":bad-login!x@x PRIVMSG #forsen :hi",
    b"FROBNICATE #forsen",
]
RECORD_KINDS = [Kind.PRIVMSG, Kind.USERNOTICE, Kind.CLEARMSG, Kind.CLEARCHAT, Kind.CLEARCHAT]
RECORD_KINDS.append(Kind.PRIVMSG)  # the one with invalid UTF-8 in a tag


def _assert_counted_once(stats, records):
    assert [record.kind for record in records] == RECORD_KINDS
    assert stats.not_chat == 3
    assert stats.skipped == {"server_sender": 1, "bad_login": 1, "unknown_command": 1}
    assert stats.received == len(KINDS_OF_LINES)
    assert stats.received == len(records) + stats.not_chat + sum(stats.skipped.values())


def test_replay_hands_on_every_chat_event_and_counts_the_rest():
    stats = IngestStats()
    replaced_before = UTF8_REPLACED._value.get()
    records = [_replay_record(raw, stats) for raw in KINDS_OF_LINES]
    _assert_counted_once(stats, [record for record in records if record is not None])
    assert UTF8_REPLACED._value.get() == replaced_before + 1


class _Writer:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


def test_the_irc_client_hands_on_every_chat_event_and_counts_the_rest():
    stats = IngestStats()
    chunks: list[list] = []

    async def on_records(records):
        chunks.append(list(records))

    client = TwitchClient("irc://127.0.0.1:1", on_records, stats)
    replaced_before = UTF8_REPLACED._value.get()
    lines = [raw + b"\r" for raw in KINDS_OF_LINES]
    reconnect = asyncio.run(client._handle_lines(lines, _Writer()))
    assert not reconnect
    _assert_counted_once(stats, [record for chunk in chunks for record in chunk])
    assert UTF8_REPLACED._value.get() == replaced_before + 1
