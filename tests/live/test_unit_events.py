"""Unit tests of the /live event vocabulary (live.events): cursors, SSE frames,
message payloads, topics. No server: the bytes are parsed here the way the SSE
specification (WHATWG HTML, "Server-sent events") says a client parses them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from live import events
from live.events import Spec


def sse_blocks(raw: bytes) -> list[dict]:
    """The events of an SSE stream, each {"event": ..., "id": ..., "data": [lines]}.

    Lines end at CRLF, CR or LF (the spec), an empty line ends an event, one
    space after the colon is dropped; the stream must end with an empty line."""
    text = raw.decode("utf-8")
    assert text.endswith("\n\n")
    blocks, fields = [], {"data": []}
    for line in re.split(r"\r\n|\r|\n", text[:-1]):
        if not line:
            blocks.append(fields)
            fields = {"data": []}
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            fields["data"].append(value)
        else:
            assert name not in fields, f"{name} twice in one event"
            fields[name] = value
    assert fields == {"data": []}
    return blocks


def one_event(raw: bytes) -> tuple[str, str, dict]:
    """(event type, id, decoded JSON) of a chunk that must hold one event with
    one data line."""
    [block] = sse_blocks(raw)
    assert len(block["data"]) == 1, block["data"]
    return block["event"], block["id"], json.loads(block["data"][0])


def row(text: str = "hi", color: object = None, **overrides) -> tuple:
    """A MESSAGE_COLUMNS row as message_values returns it."""
    values = {
        "id": 41,
        "channel_id": 3,
        "channel__name": "forsen",
        "user_id": 9,
        "user__username": "alice",
        "user__display_name": "Alice",
        "text": text,
        "sent_at": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        "is_action": False,
        "color": color,
        "kind": 1,
        "system_text": "",
        "deleted_at": None,
        "notice": None,
        "duration": None,
        "target": None,
        "twitch_id": None,
        "emotes": None,
        "badges": None,
        "badge_info": None,
        **overrides,
    }
    return tuple(values[column] for column in events.MESSAGE_COLUMNS)


def message_frame(text: str, topic: str = "messages") -> bytes:
    r = row(text)
    return events.frame(topic, "message", r[0], events.dumps(events.message_payload(r)))


# --- cursors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "cursor"),
    [
        ("123", 123),
        ("0", 0),
        ("000123", 123),
        (" 123 ", 123),
        ("\t123\r\n", 123),
        ("messages:123", 123),
        ("user-alice-channel-forsen:5", 5),
        ("  home:7  ", 7),
        ("9" * 40, int("9" * 40)),  # beyond any id: the endpoint treats it as "now"
        ("home:" + "9" * 40, int("9" * 40)),
    ],
)
def test_it_parses_a_message_id_or_an_event_id_as_a_cursor(raw, cursor):
    assert events.parse_cursor(raw) == cursor


@pytest.mark.parametrize(("raw", "cursor"), [("a:1,b:2", 1), ("b:9,a:3", 3), ("a:5,b:5", 5)])
def test_it_takes_the_lowest_cursor_of_a_multi_channel_event_id(raw, cursor):
    # django-eventstream's `a:1,b:2`: resuming from the lowest loses nothing.
    assert events.parse_cursor(raw) == cursor


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "garbage",
        "-5",
        "+5",
        "1.5",
        "1e3",
        "0x1f",
        "1 2",
        "messages:",
        "messages:abc",
        "messages:-1",
        "messages: 12",  # no space inside an id
        "messages:1:2",
        "a:1,b:x",  # every part must be a cursor
        "a:1,",
        ",a:1",
        "a:1;b:2",
    ],
)
def test_it_refuses_anything_else_as_a_cursor(raw):
    assert events.parse_cursor(raw) is None


@pytest.mark.parametrize("raw", ["²", "home:²", "①"])
def test_it_refuses_superscript_digits_as_a_cursor(raw):
    assert events.parse_cursor(raw) is None


def test_it_survives_a_5000_digit_cursor():
    events.parse_cursor("9" * 5000)


# --- frames ------------------------------------------------------------------


def test_it_encodes_an_event_with_its_type_an_id_and_one_json_data_line():
    raw = events.encode("messages", {"type": "metrics", "cursor": 17, "total_users": 3})
    assert raw.startswith(b"event: metrics\nid: messages:17\ndata: ")
    event_type, event_id, data = one_event(raw)
    assert (event_type, event_id) == ("metrics", "messages:17")
    assert data == {"type": "metrics", "cursor": 17, "total_users": 3}


@pytest.mark.parametrize(
    "spec",
    [Spec("home"), Spec("channel", channel="forsen"), Spec("messages", "forsen", "alice")],
)
def test_it_gives_every_event_an_id_that_resumes_at_its_cursor(spec):
    _, event_id, data = one_event(events.status(spec.topic, 99, "connected"))
    assert event_id == f"{spec.topic}:99"
    assert events.parse_cursor(event_id) == data["cursor"] == 99


def test_it_frames_prepared_json_as_is():
    raw = events.frame("users", "user_count", 5, '{"type":"user_count","cursor":5}')
    assert raw == b'event: user_count\nid: users:5\ndata: {"type":"user_count","cursor":5}\n\n'


def test_it_writes_a_status_with_only_the_fields_given():
    _, _, data = one_event(events.status("home", 3, "connected"))
    assert data == {"type": "status", "cursor": 3, "state": "connected"}


def test_it_writes_a_status_with_reason_retry_and_extra_fields():
    raw = events.status("home", 3, "fallback", "too-far-behind", 0, skipped=501, after_id=2)
    event_type, _, data = one_event(raw)
    assert event_type == "status"
    assert data == {
        "type": "status",
        "cursor": 3,
        "state": "fallback",
        "reason": "too-far-behind",
        "retry_after_ms": 0,  # 0 is a value, not "absent"
        "skipped": 501,
        "after_id": 2,
    }


def test_it_writes_json_on_one_compact_line():
    text = events.dumps({"type": "x", "cursor": 1, "nested": {"a": [1, 2]}})
    assert text == '{"type":"x","cursor":1,"nested":{"a":[1,2]}}'


HOSTILE = [
    "<script>alert(1)</script>",
    "line one\nline two",
    "carriage\rreturn",
    "crlf\r\nend",
    "\n\ndata: {}\n\nevent: status\nid: home:999999\n\n",  # an injected event
    "line\u2028separator",
    "paragraph\u2029separator",
    "next\x85line",
    "vertical\x0btab\x0cform feed\x1c\x1d\x1e",
    "nul\x00byte",
    '\ufeffbom and emoji \U0001f600 and "quotes" and \\backslash',
    "",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_it_keeps_hostile_chat_text_inside_one_data_line(text):
    raw = message_frame(text)
    event_type, event_id, data = one_event(raw)  # one event, one data line
    assert (event_type, event_id) == ("message", "messages:41")
    assert data["text"] == text


@pytest.mark.parametrize("text", HOSTILE)
def test_it_keeps_hostile_chat_text_on_one_line_for_splitlines_readers_too(text):
    # Many Python clients split with str.splitlines(), which also breaks on
    # U+2028, U+2029, U+0085, VT, FF and the separators U+001C-U+001E.
    lines = message_frame(text).decode().splitlines()
    assert len(lines) == 4 and lines[3] == ""  # event:, id:, data:, the blank end
    assert lines[0] == "event: message"
    assert json.loads(lines[2].removeprefix("data: "))["text"] == text


# --- message payloads --------------------------------------------------------


def test_it_puts_the_contract_fields_in_a_message_event():
    assert events.message_payload(row("hello")) == {
        "type": "message",
        "cursor": 41,
        "id": 41,
        "channel_id": 3,
        "channel_name": "forsen",
        "user_id": 9,
        "username": "alice",
        "display_name": "Alice",
        "text": "hello",
        "sent_at": "2024-05-06T07:08:09.123456Z",
        "is_action": False,
        "kind": "privmsg",
        "twitch_id": None,
    }


def test_it_sends_a_notice_as_a_message_with_its_kind_and_system_text():
    notice = row("hi", kind=4, system_text="alice subscribed!", notice="resub")
    payload = events.message_payload(notice)
    assert (payload["type"], payload["kind"], payload["notice"]) == (
        "message",
        "usernotice",
        "resub",
    )
    assert (payload["text"], payload["system_text"]) == ("hi", "alice subscribed!")


def test_it_says_when_a_message_was_deleted():
    deleted = datetime(2024, 5, 6, 7, 9, 0, tzinfo=UTC)
    assert events.message_payload(row(deleted_at=deleted))["deleted_at"] == "2024-05-06T07:09:00Z"


@pytest.mark.parametrize(
    ("overrides", "action", "duration", "target"),
    [
        ({"kind": 13, "target": "abc-123"}, "deleted", None, "abc-123"),
        ({"kind": 2, "duration": "600"}, "timeout", 600, None),
        ({"kind": 2}, "ban", None, None),
        ({"kind": 2, "user_id": None, "user__username": None}, "clear", None, None),
    ],
)
def test_it_sends_moderation_events_for_deletions_timeouts_bans_and_clears(
    overrides, action, duration, target
):
    payload = events.message_payload(row(**overrides))
    assert payload["type"] == "moderation"
    assert (payload["action"], payload["duration_s"], payload["target_message_id"]) == (
        action,
        duration,
        target,
    )
    assert payload["target_user"] == (None if action == "clear" else "alice")
    assert (payload["cursor"], payload["channel_name"]) == (41, "forsen")


def test_it_shows_the_username_when_there_is_no_display_name():
    assert events.message_payload(row(user__display_name=""))["display_name"] == "alice"


def test_it_writes_sent_at_in_utc_ending_in_z():
    tz = timezone(timedelta(hours=-5))
    payload = events.message_payload(row(sent_at=datetime(2024, 1, 1, 19, 30, tzinfo=tz)))
    assert payload["sent_at"] == "2024-01-02T00:30:00Z"


def test_it_adds_name_colors_for_a_hex_colour_tag():
    colors = events.message_payload(row(color="#FF0000"))["name_colors"]
    assert len(colors) == 2
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in colors)


@pytest.mark.parametrize("color", [None, "", "red", "#ff0000;background:url(x)", 12, ["#fff"]])
def test_it_leaves_name_colors_out_for_anything_but_a_hex_colour(color):
    assert "name_colors" not in events.message_payload(row(color=color))


def test_it_marks_a_me_action():
    assert events.message_payload(row(is_action=True))["is_action"] is True


# --- topics ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "topic"),
    [
        (Spec("home"), "home"),
        (Spec("messages"), "messages"),
        (Spec("channels"), "channels"),
        (Spec("users"), "users"),
        (Spec("user_profile", user="alice"), "user-alice"),
        (Spec("channel", channel="forsen"), "channel-forsen"),
        (Spec("messages", channel="forsen", user="alice"), "messages-channel-forsen-user-alice"),
        (Spec("home", user="alice"), "home-user-alice"),
        (Spec("user_profile", "forsen", "alice"), "user-alice-channel-forsen"),
        (Spec("channel", "forsen", "alice"), "channel-forsen-user-alice"),
    ],
)
def test_it_names_the_django_eventstream_channel_of_each_stream(spec, topic):
    assert spec.topic == topic


def test_it_gives_equal_streams_one_topic_and_different_ones_their_own():
    specs = [Spec(v) for v in events.VIEWS] + [
        Spec("messages", channel="forsen"),
        Spec("messages", user="forsen"),
        Spec("user_profile", user="forsen"),
        Spec("channel", channel="forsen"),
        Spec("messages", "forsen", "alice"),
        Spec("messages", "alice", "forsen"),
    ]
    assert len({s.topic for s in specs}) == len(specs)
    assert Spec("messages", "forsen").topic == Spec("messages", channel="forsen").topic


@pytest.mark.parametrize(
    ("spec", "channel", "user", "wanted"),
    [
        (Spec("messages"), "any", "one", True),
        (Spec("messages", channel="forsen"), "forsen", "x", True),
        (Spec("messages", channel="forsen"), "xqc", "x", False),
        (Spec("user_profile", user="alice"), "xqc", "alice", True),
        (Spec("user_profile", user="alice"), "xqc", "bob", False),
        (Spec("channel", "forsen", "alice"), "forsen", "alice", True),
        (Spec("channel", "forsen", "alice"), "forsen", "bob", False),
        (Spec("channel", "forsen", "alice"), "xqc", "alice", False),
    ],
)
def test_it_wants_only_the_messages_its_filters_match(spec, channel, user, wanted):
    assert spec.wants(channel, user) is wanted


def test_it_leaves_out_the_text_of_a_deleted_message_when_deleted_text_is_hidden(settings):
    deleted = row("regrettable", deleted_at=datetime(2024, 5, 6, 7, 9, tzinfo=UTC))
    assert events.message_payload(deleted)["text"] == "regrettable"
    settings.SHOW_DELETED_TEXT = False
    assert events.message_payload(deleted)["text"] == ""
    assert events.message_payload(row("still here"))["text"] == "still here"
