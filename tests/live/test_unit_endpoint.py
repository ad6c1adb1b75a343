"""Unit tests of GET /live request parsing (live.endpoint.parse_request), in process.

The contract is docs/architecture.md, `GET /live`: which views take which
names, how names are normalised, one value per parameter, and where the resume
cursor comes from (after_id, else lastEventId, else the Last-Event-ID header).
tests/live/test_errors.py checks a few of these through daphne.
"""

from __future__ import annotations

import pytest

from live import events
from live.endpoint import NAME_RE, BadRequest, parse_request
from live.events import Spec


def parse(query: str | bytes, **headers: str) -> tuple[Spec, int | None]:
    """parse_request of a query (str is encoded as UTF-8) and headers given as
    keyword arguments (last_event_id= -> b"last-event-id", as ASGI lowercases)."""
    raw = query.encode() if isinstance(query, str) else query
    header_bytes = {k.replace("_", "-").encode(): v.encode("latin-1") for k, v in headers.items()}
    return parse_request(raw, header_bytes)


def rejects(query: str | bytes, **headers: str) -> str:
    with pytest.raises(BadRequest) as caught:
        parse(query, **headers)
    message = str(caught.value)
    assert message  # a JSON error a client can act on
    return message


# The subject a view needs (docs: `channel` needs channel=, `user_profile` user=).
REQUIRED = {"user_profile": "&user=alice", "channel": "&channel=forsen"}
EXPECTED = {
    "home": Spec("home"),
    "messages": Spec("messages"),
    "channels": Spec("channels"),
    "users": Spec("users"),
    "user_profile": Spec("user_profile", user="alice"),
    "channel": Spec("channel", channel="forsen"),
}


def test_it_knows_exactly_the_six_documented_views():
    assert set(events.VIEWS) == set(EXPECTED)


@pytest.mark.parametrize("view", events.VIEWS)
def test_it_accepts_every_view(view):
    assert parse(f"view={view}{REQUIRED.get(view, '')}") == (EXPECTED[view], None)


@pytest.mark.parametrize(
    ("query", "spec"),
    [
        ("view=home&channel=forsen", Spec("home", channel="forsen")),
        ("view=home&user=alice", Spec("home", user="alice")),
        ("view=messages&channel=forsen&user=alice", Spec("messages", "forsen", "alice")),
        ("view=channel&channel=forsen&user=alice", Spec("channel", "forsen", "alice")),
        ("view=user_profile&user=alice&channel=forsen", Spec("user_profile", "forsen", "alice")),
    ],
)
def test_it_accepts_filters_on_the_views_that_carry_messages(query, spec):
    assert parse(query) == (spec, None)


def test_it_ignores_unknown_parameters():
    assert parse("view=home&utm_source=x&_=123") == (Spec("home"), None)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "view=",
        "channel=forsen",
        "view=everything",
        "view=Home",
        "view=home%20",
        "view=home,users",
    ],
)
def test_it_rejects_a_missing_or_unknown_view(query):
    assert "view must be one of" in rejects(query)


@pytest.mark.parametrize("view", ["channels", "users"])
@pytest.mark.parametrize("name", ["channel=forsen", "user=alice"])
def test_it_rejects_names_on_views_that_take_none(view, name):
    assert f"view={view} takes no" in rejects(f"view={view}&{name}")


@pytest.mark.parametrize(
    ("query", "needed"),
    [
        ("view=user_profile", "user"),
        ("view=user_profile&channel=forsen", "user"),
        ("view=user_profile&user=", "user"),
        ("view=channel", "channel"),
        ("view=channel&user=alice", "channel"),
        ("view=channel&channel=", "channel"),
    ],
)
def test_it_rejects_a_subject_view_without_its_subject(query, needed):
    assert f"needs {needed}=NAME" in rejects(query)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("%23ForSen", "forsen"),  # a leading # dropped, lowercased
        ("FORSEN", "forsen"),
        ("+forsen+", "forsen"),  # spaces (+ in a query) around it
        ("%20%23Forsen%09", "forsen"),
        ("xQc_123", "xqc_123"),
        ("a", "a"),
        ("a" * 64, "a" * 64),  # the longest NAME_RE takes
    ],
)
def test_it_normalises_names(raw, name):
    spec, _ = parse(f"view=messages&channel={raw}&user={raw}")
    assert (spec.channel, spec.user) == (name, name)


@pytest.mark.parametrize(
    "raw",
    [
        "a" * 65,  # too long
        "for-sen",  # `-` would break topic names (`messages-channel-<c>-user-<u>`)
        "for%20sen",
        "for.sen",
        "for%3Asen",  # `:` would break event ids (`<channel>:<cursor>`)
        "for%2Csen",  # `,` too (django-eventstream's multi-channel ids)
        "f%C3%B6rsen",  # not ASCII
        "%40forsen",  # `@` is not a login character
        "%23",  # nothing left once the # is dropped
        "%20%20",  # nothing but spaces
        "forsen%0Aevil",
        "forsen%00",
    ],
)
@pytest.mark.parametrize("kind", ["channel", "user"])
def test_it_rejects_names_that_are_not_twitch_logins(kind, raw):
    other = "user=alice" if kind == "channel" else "channel=forsen"
    assert f"{kind} must be a Twitch login name" in rejects(f"view=messages&{other}&{kind}={raw}")


def test_it_only_lets_names_through_that_are_safe_in_topics_and_ids():
    # Topics join names with `-`; ids are `<topic>:<cursor>` joined by `,`.
    for char in "-:,# \n%":
        assert not NAME_RE.match(f"a{char}b")


@pytest.mark.parametrize(
    "query",
    [
        "view=home&view=home",
        "view=home&view=messages",
        "view=messages&channel=forsen&channel=xqc",
        "view=messages&user=alice&user=alice",
        "view=home&after_id=1&after_id=2",
        "view=home&lastEventId=home:1&lastEventId=home:1",
    ],
)
def test_it_rejects_a_parameter_given_twice(query):
    assert "given more than once" in rejects(query)


def test_it_rejects_a_parameter_given_twice_once_blank():
    rejects("view=home&after_id=&after_id=5")


@pytest.mark.parametrize(
    "query",
    [b"view=home\xff", b"view=messages&channel=for\xe9sen", b"view=home&after_id=\xc3"],
)
def test_it_rejects_a_query_string_that_is_not_utf8(query):
    assert "not UTF-8" in rejects(query)


def test_it_rejects_a_percent_encoded_byte_that_is_not_utf8_in_a_name():
    assert "must be a Twitch login name" in rejects("view=messages&channel=for%E9sen")


def test_it_has_no_cursor_without_one():
    assert parse("view=home")[1] is None


@pytest.mark.parametrize(
    ("query", "header", "cursor"),
    [
        ("after_id=7", None, 7),
        ("after_id=0", None, 0),  # "0" is a cursor, not "no cursor"
        ("after_id=007", None, 7),
        ("after_id=+7+", None, 7),  # spaces around it
        ("lastEventId=home:8", None, 8),
        ("lastEventId=9", None, 9),
        (None, "home:10", 10),
        (None, "10", 10),
        ("after_id=7&lastEventId=home:8", None, 7),  # after_id first...
        ("after_id=7", "home:10", 7),
        ("lastEventId=home:8", "home:10", 8),  # ...then lastEventId, then the header
        ("after_id=", "home:10", 10),  # a blank parameter is no cursor
    ],
)
def test_it_reads_the_cursor_from_after_id_then_last_event_id_then_the_header(
    query, header, cursor
):
    headers = {"last_event_id": header} if header is not None else {}
    assert parse("view=home" + (f"&{query}" if query else ""), **headers) == (
        Spec("home"),
        cursor,
    )


def test_it_takes_the_id_of_an_event_it_sent_as_the_cursor():
    spec = Spec("user_profile", channel="forsen", user="alice")
    frame = events.status(spec.topic, 4242, "connected").decode()
    event_id = next(line[4:] for line in frame.split("\n") if line.startswith("id: "))
    assert parse("view=user_profile&user=alice&channel=forsen", last_event_id=event_id) == (
        spec,
        4242,
    )


@pytest.mark.parametrize(
    ("query", "header"),
    [
        ("after_id=abc", None),
        ("after_id=-5", None),
        ("after_id=1.5", None),
        ("after_id=0x10", None),
        ("after_id=1e3", None),
        ("after_id=%20", None),  # nothing but a space
        ("after_id=home:", None),
        ("lastEventId=garbage", None),
        ("lastEventId=home:abc", None),
        ("lastEventId=home:1:2", None),
        ("lastEventId=home:1,users:x", None),
        (None, "garbage"),
        (None, "home:-1"),
        (None, "home:1,"),
    ],
)
def test_it_rejects_a_cursor_that_is_not_a_message_id(query, header):
    headers = {"last_event_id": header} if header is not None else {}
    assert "must be a message id" in rejects(
        "view=home" + (f"&{query}" if query else ""), **headers
    )


def test_it_rejects_a_bad_after_id_even_with_a_good_last_event_id():
    # The first cursor given is the one used: a bad one is not silently skipped.
    rejects("view=home&after_id=abc&lastEventId=home:5", last_event_id="home:5")


@pytest.mark.parametrize("query", ["after_id=%C2%B2", "lastEventId=home:%C2%B2"])
def test_it_rejects_a_superscript_digit_cursor_with_400(query):
    rejects(f"view=home&{query}")


def test_it_answers_a_5000_digit_cursor_without_crashing():
    try:
        _spec, cursor = parse("view=home&after_id=" + "9" * 5000)
    except BadRequest:
        return  # a 400 is a fine answer
    assert cursor is not None  # "beyond the newest message" would mean "now": fine too
