import random
from datetime import UTC, datetime

import pytest

from messages_app.ingest.parser import (
    MAX_LINE_BYTES,
    SkipLine,
    decode_line,
    escape_tag_value,
    parse_json_record,
    parse_line,
    to_record,
    unescape_tag_value,
)
from messages_app.ingest.simulator import privmsg

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
    outcomes = set()
    for _ in range(5000):
        raw = b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        try:
            message = parse_line(decode_line(raw))
            if message.command == "PRIVMSG":
                to_record(message, NOW)
            outcomes.add("parsed")
        except SkipLine as exc:
            outcomes.add(exc.reason)
    assert {"parsed", "malformed", "invalid_utf8"} <= outcomes
