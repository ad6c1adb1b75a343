"""The chat simulator: what `ingest --demo` and the benchmarks talk to."""

import socket
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from messages_app.ingest.parser import parse_line, to_record
from messages_app.ingest.simulator import (
    CLEAR_CHAT_EVERY,
    MODERATION_SHARE,
    NOTICE_SHARE,
    NOTICE_WEIGHTS,
    ChatLines,
    TwitchServer,
    clearchat,
    clearmsg,
    numeric_id,
    privmsg,
    usernotice,
)
from messages_app.models import Channel, Message
from tests.factories import ChannelFactory
from tests.ingest.twitch_server import ThreadedTwitchServer, wait_until

NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
NOW_MS = "1767323045678"
CHANNELS = ["forsen", "xqc", "lirik"]


def test_it_writes_twitch_lines_with_fresh_ids_every_run():
    first = [to_record(parse_line(line), NOW) for line in ChatLines(seed=1).lines(["a"], 500, 0)]
    again = [to_record(parse_line(line), NOW) for line in ChatLines(seed=1).lines(["a"], 500, 0)]
    assert [r.text for r in first] == [r.text for r in again]  # the seed fixes the chat
    assert not {r.twitch_id for r in first} & {r.twitch_id for r in again}
    assert len({r.twitch_id for r in first}) == 500
    assert any(r.is_action for r in first)
    assert any(not r.text.isascii() for r in first)
    assert all(r.tags["color"].startswith("#") for r in first)
    assert {r.tags["room-id"] for r in first} == {numeric_id("a")}
    assert all(r.tags["user-id"] == numeric_id(r.username) for r in first)


@pytest.mark.django_db(transaction=True)
def test_it_chats_only_in_joined_channels_up_to_its_limit(ingest):
    ChannelFactory(name="forsen")
    ChannelFactory(name="xqc")
    server = ThreadedTwitchServer(rate=2000, limit=300)
    try:
        runner = ingest(server.url)
        wait_until(lambda: Message.objects.count() == 300, "300 lines of simulated chat")
        assert runner.stop().stored == 300
    finally:
        server.close()
    assert set(Channel.objects.filter(total_messages__gt=0).values_list("name", flat=True)) <= {
        "forsen",
        "xqc",
    }


# -- the line builders: Twitch's shapes, through our parser ------------------------


def tags_of(line: str) -> list[str]:
    return [item.partition("=")[0] for item in line[1:].partition(" ")[0].split(";")]


def test_a_resub_with_a_message_has_twitchs_tags_in_twitchs_order():
    line = usernotice(
        "forsen",
        "gutrin",
        "resub",
        text="xqcL 3 months",
        params={
            "cumulative-months": 3,
            "months": 0,
            "multimonth-duration": 0,
            "multimonth-tenure": 0,
            "should-share-streak": 1,
            "streak-months": 2,
            "sub-plan-name": "Channel Subscription (forsen)",
            "sub-plan": "1000",
            "was-gifted": "false",
        },
        twitch_id="e0975c76-054c-4954-8cb0-91b8867ec1ca",
        sent_at=NOW,
        tags={"display-name": "Gutrin", "badge-info": "subscriber/3", "badges": "subscriber/3"},
    )
    # As Twitch sends it: sorted as "key=value", so sub-plan-name before sub-plan.
    assert tags_of(line) == [
        "badge-info", "badges", "color", "display-name", "emotes", "flags", "id", "login", "mod",
        "msg-id", "msg-param-cumulative-months", "msg-param-months",
        "msg-param-multimonth-duration", "msg-param-multimonth-tenure",
        "msg-param-should-share-streak", "msg-param-streak-months", "msg-param-sub-plan-name",
        "msg-param-sub-plan", "msg-param-was-gifted", "room-id", "subscriber", "system-msg",
        "tmi-sent-ts", "user-id", "user-type", "vip",
    ]  # fmt: skip
    assert "system-msg=Gutrin\\ssubscribed\\sat\\sTier\\s1.\\sThey've\\ssubscribed" in line
    assert line.endswith(" :tmi.twitch.tv USERNOTICE #forsen :xqcL 3 months")
    message = parse_line(line)
    assert (message.command, message.params, message.prefix) == (
        "USERNOTICE",
        ["#forsen", "xqcL 3 months"],
        "tmi.twitch.tv",
    )
    tags = message.tags
    assert tags["login"] == "gutrin"
    assert tags["display-name"] == "Gutrin"
    assert tags["msg-id"] == "resub"
    assert tags["id"] == "e0975c76-054c-4954-8cb0-91b8867ec1ca"
    assert tags["msg-param-sub-plan-name"] == "Channel Subscription (forsen)"
    assert tags["system-msg"] == (
        "Gutrin subscribed at Tier 1. They've subscribed for 3 months, "
        "currently on a 2 month streak!"
    )
    assert tags["tmi-sent-ts"] == NOW_MS
    assert tags["room-id"] == numeric_id("forsen")
    assert tags["user-id"] == numeric_id("gutrin")


@pytest.mark.parametrize(
    ("msg_id", "params", "system_msg"),
    [
        ("sub", {"sub-plan": "Prime"}, "bob subscribed with Prime."),
        ("sub", {"sub-plan": "2000"}, "bob subscribed at Tier 2."),
        (
            "resub",
            {"cumulative-months": 11, "should-share-streak": 0, "sub-plan": "Prime"},
            "bob subscribed with Prime. They've subscribed for 11 months!",
        ),
        (
            "subgift",
            {"recipient-display-name": "Lucky", "sender-count": 0, "sub-plan": "1000"},
            "bob gifted a Tier 1 sub to Lucky!",
        ),
        (
            "subgift",
            {"recipient-display-name": "Lucky", "sender-count": 34, "sub-plan": "1000"},
            "bob gifted a Tier 1 sub to Lucky! They have given 34 Gift Subs in the channel!",
        ),
        (
            "submysterygift",
            {"mass-gift-count": 20, "sender-count": 100, "sub-plan": "1000"},
            "bob is gifting 20 Tier 1 Subs to forsen's community! "
            "They've gifted a total of 100 in the channel!",
        ),
        (
            "giftpaidupgrade",
            {"sender-login": "gifter", "sender-name": "Gifter"},
            "bob is continuing the Gift Sub they got from Gifter!",
        ),
        ("raid", {"displayName": "bob", "viewerCount": 430}, "430 raiders from bob have joined!"),
        ("unraid", {}, "The raid has been cancelled."),
        ("announcement", {"color": "PRIMARY"}, ""),
        ("ritual", {"ritual-name": "new_chatter"}, "@bob is new here. Say hello!"),
        ("bitsbadgetier", {"threshold": 1000}, "bits badge tier notification"),
        (
            "viewermilestone",
            {"category": "watch-streak", "copoReward": 450, "value": 5},
            "bob watched 5 consecutive streams and sparked a watch streak!",
        ),
    ],
)
def test_every_notice_kind_parses_with_twitchs_system_message(msg_id, params, system_msg):
    message = parse_line(usernotice("forsen", "bob", msg_id, params=params, sent_at=NOW))
    assert message.command == "USERNOTICE"
    assert message.params == ["#forsen"]  # no text: no trailing parameter
    assert message.tags["msg-id"] == msg_id
    assert message.tags["system-msg"] == system_msg
    assert message.tags["login"] == "bob"
    for name, value in params.items():
        assert message.tags[f"msg-param-{name}"] == str(value)
    assert message.tags["tmi-sent-ts"] == NOW_MS
    assert "vip" in message.tags and "flags" in message.tags


def test_an_announcement_keeps_its_color_and_text():
    line = usernotice(
        "forsen", "amod", "announcement", text="No spoilers please!", params={"color": "GREEN"}
    )
    assert ";msg-id=announcement;msg-param-color=GREEN;" in line
    assert ";system-msg=;" in line
    assert parse_line(line).params == ["#forsen", "No spoilers please!"]


def test_tag_values_are_escaped_and_round_trip():
    weird = "a b\\s;c\\ d;\r\nend"  # a space, a literal \s, ";", a backslash, CR LF
    line = usernotice(
        "forsen",
        "bob",
        "resub",
        system_msg=weird,
        params={"sub-plan-name": "Tier; one \\o/"},
        tags={"display-name": "Bob Two"},
    )
    raw_tags = line.partition(" ")[0]
    assert " " not in raw_tags and "\r" not in line and "\n" not in line
    assert "system-msg=a\\sb\\\\s\\:c\\\\\\sd\\:\\r\\nend;" in raw_tags
    tags = parse_line(line).tags
    assert tags["system-msg"] == weird
    assert tags["msg-param-sub-plan-name"] == "Tier; one \\o/"
    assert tags["display-name"] == "Bob Two"


def test_a_clearmsg_is_twitchs_deletion():
    line = clearmsg(
        "forsen", "alazymeme", "3c92014f-340a-4dc3-a9c9-e5cf182f4a84", "gg", sent_at=NOW
    )
    assert line == (
        "@login=alazymeme;room-id=;target-msg-id=3c92014f-340a-4dc3-a9c9-e5cf182f4a84;"
        f"tmi-sent-ts={NOW_MS} :tmi.twitch.tv CLEARMSG #forsen :gg"
    )
    message = parse_line(line)
    assert (message.command, message.params) == ("CLEARMSG", ["#forsen", "gg"])
    assert message.tags["target-msg-id"] == "3c92014f-340a-4dc3-a9c9-e5cf182f4a84"
    action = parse_line(clearmsg("forsen", "bob", "x", "waves", action=True))
    assert action.params == ["#forsen", "\x01ACTION waves\x01"]


def test_clearchat_is_a_timeout_a_ban_or_a_clear_of_the_chat():
    room = numeric_id("forsen")
    timeout = clearchat("forsen", "fabzeef", duration=600, sent_at=NOW)
    assert timeout == (
        f"@ban-duration=600;room-id={room};target-user-id={numeric_id('fabzeef')};"
        f"tmi-sent-ts={NOW_MS} :tmi.twitch.tv CLEARCHAT #forsen :fabzeef"
    )
    message = parse_line(timeout)
    assert (message.command, message.params) == ("CLEARCHAT", ["#forsen", "fabzeef"])
    assert message.tags["ban-duration"] == "600"

    ban = parse_line(clearchat("forsen", "weeb123", target_user_id="70948394", sent_at=NOW))
    assert ban.params == ["#forsen", "weeb123"]
    assert "ban-duration" not in ban.tags
    assert ban.tags["target-user-id"] == "70948394"

    clear = clearchat("forsen", sent_at=NOW)
    assert clear == f"@room-id={room};tmi-sent-ts={NOW_MS} :tmi.twitch.tv CLEARCHAT #forsen"
    assert parse_line(clear).params == ["#forsen"]
    with pytest.raises(ValueError):
        clearchat("forsen", duration=10)


def test_builders_agree_on_user_and_room_ids():
    chat = parse_line(privmsg("forsen", "bob", "hi")).tags
    ban = parse_line(clearchat("forsen", "bob")).tags
    notice = parse_line(usernotice("forsen", "bob", "sub")).tags
    assert chat["user-id"] == ban["target-user-id"] == notice["user-id"] == numeric_id("bob")
    assert chat["room-id"] == ban["room-id"] == notice["room-id"] == numeric_id("forsen")


# -- the mix ---------------------------------------------------------------------------


def generate(count=20_000, seed=7, batch=100):
    lines = ChatLines(seed=seed, mix=True)
    out = []
    for n in range(count // batch):
        out += lines.lines(CHANNELS, batch, 1_700_000_000_000 + n * 100)
    return [parse_line(line) for line in out]


@pytest.fixture(scope="module")
def mixed():
    return generate()


def kind(message) -> str:
    if message.command == "USERNOTICE":
        return message.tags["msg-id"]
    if message.command == "CLEARCHAT":
        if len(message.params) == 1:
            return "clear"
        return "timeout" if "ban-duration" in message.tags else "ban"
    return message.command


def test_the_mix_has_every_kind_at_about_its_rate(mixed):
    total = len(mixed)
    assert total == 20_000
    commands = Counter(m.command for m in mixed)
    kinds = Counter(kind(m) for m in mixed)
    notices = commands["USERNOTICE"] / total
    moderation = (commands["CLEARMSG"] + commands["CLEARCHAT"]) / total
    assert NOTICE_SHARE * 0.7 < notices < NOTICE_SHARE * 1.3, kinds
    assert MODERATION_SHARE * 0.6 < moderation < MODERATION_SHARE * 1.4, kinds
    assert commands["PRIVMSG"] / total > 0.96
    # Mostly subs and resubs, some gifts, a few of everything else.
    assert kinds["sub"] + kinds["resub"] > 0.45 * commands["USERNOTICE"], kinds
    assert kinds["resub"] > kinds["sub"] > kinds["raid"], kinds
    for msg_id in NOTICE_WEIGHTS:
        if msg_id != "unraid":  # 0.5% of notices: may not come up in 20,000 lines
            assert kinds[msg_id] >= 1, (msg_id, kinds)
    assert commands["CLEARMSG"] > kinds["timeout"] > kinds["ban"] >= 1
    assert kinds["clear"] <= 3 * total / CLEAR_CHAT_EVERY + 2  # rare: once every ~25,000
    assert {m.params[0] for m in mixed} == {f"#{c}" for c in CHANNELS}


def test_the_mix_includes_every_kind_over_a_long_run():
    kinds = Counter(kind(m) for m in generate(count=100_000, seed=3, batch=1000))
    missing = set(NOTICE_WEIGHTS) - set(kinds)
    assert not missing
    assert kinds["clear"] >= 1 and kinds["timeout"] and kinds["ban"] and kinds["CLEARMSG"]


def test_every_deletion_targets_a_message_sent_earlier_on_the_connection(mixed):
    sent: dict[str, tuple[int, str, str, str]] = {}
    deletions = 0
    for n, message in enumerate(mixed):
        if message.command == "PRIVMSG":
            sent[message.tags["id"]] = (n, message.params[0], message.nick, message.params[1])
        elif message.command == "CLEARMSG":
            deletions += 1
            target = message.tags["target-msg-id"]
            assert target in sent, "a CLEARMSG for a message never sent"
            at, channel, login, text = sent[target]
            assert at < n
            assert (message.params[0], message.tags["login"], message.params[1]) == (
                channel,
                login,
                text,
            )
    assert deletions > 10


def test_timeouts_and_bans_are_of_people_who_just_chatted(mixed):
    recent: dict[tuple[str, str], int] = {}
    durations = []
    for n, message in enumerate(mixed):
        if message.command == "PRIVMSG":
            recent[(message.params[0], message.nick)] = n
        elif message.command == "CLEARCHAT" and len(message.params) == 2:
            channel, login = message.params
            assert n - recent[(channel, login)] <= 1000, "timed out someone who never chatted"
            assert message.tags["target-user-id"] == numeric_id(login)
            if "ban-duration" in message.tags:
                durations.append(int(message.tags["ban-duration"]))
    assert durations and all(1 <= d <= 1_209_600 for d in durations)
    assert Counter(durations).most_common(1)[0][0] == 600  # Twitch's default timeout


def test_a_gift_bomb_is_followed_by_its_gifts(mixed):
    bombs = [m for m in mixed if m.tags.get("msg-id") == "submysterygift"]
    assert bombs
    for bomb in bombs:
        gift_id = bomb.tags["msg-param-community-gift-id"]
        gifts = [m for m in mixed if m.tags.get("msg-param-community-gift-id") == gift_id]
        gifts = [m for m in gifts if m.tags["msg-id"] == "subgift"]
        assert len(gifts) == int(bomb.tags["msg-param-mass-gift-count"])
        assert {g.tags["login"] for g in gifts} == {bomb.tags["login"]}
        assert {g.params[0] for g in gifts} == {bomb.params[0]}


def test_the_mix_is_fixed_by_the_seed_and_ids_never_repeat():
    first, again = generate(3000), generate(3000)
    assert [kind(m) for m in first] == [kind(m) for m in again]
    assert [m.params[-1] for m in first if m.command == "PRIVMSG"] == [
        m.params[-1] for m in again if m.command == "PRIVMSG"
    ]
    ids = [m.tags["id"] for m in first if "id" in m.tags]
    assert len(ids) == len(set(ids))
    assert not set(ids) & {m.tags["id"] for m in again if "id" in m.tags}
    assert [kind(m) for m in generate(3000, seed=8)] != [kind(m) for m in first]


def test_every_line_of_the_mix_is_a_record_with_its_own_id():
    lines = ChatLines(seed=5, mix=True)
    records = [
        to_record(parse_line(line), NOW)
        for n in range(50)
        # 1,000 lines in the same millisecond: CLEARCHAT ids depend on it
        for line in lines.lines(CHANNELS, 1000, 1_700_000_000_000 + n)
    ]
    assert len({r.twitch_id for r in records}) == len(records) == 50_000
    assert len({r.kind for r in records}) == 4


def test_no_mix_means_privmsg_only():
    lines = ChatLines(seed=7).lines(CHANNELS, 20_000, 0)
    assert {parse_line(line).command for line in lines} == {"PRIVMSG"}


def test_deletions_wait_while_the_client_is_out_of_the_channel():
    lines = ChatLines(seed=7, mix=True)
    out = [parse_line(line) for line in lines.lines(["forsen", "xqc"], 600, 0)]
    # A burst in forsen: xqc stays joined, so its moderation still comes.
    out += [parse_line(x) for x in lines.lines(["forsen"], 5000, 1, joined=["forsen", "xqc"])]
    # xqc parted: nothing more for it.
    later = [parse_line(x) for x in lines.lines(["forsen"], 5000, 2)]
    assert all(m.params[0] == "#forsen" for m in later)
    sent = {m.tags["id"] for m in out + later if m.command == "PRIVMSG"}
    for m in out + later:
        if m.command == "CLEARMSG":
            assert m.tags["target-msg-id"] in sent


@pytest.mark.parametrize("mix", [False, True])
def test_it_still_writes_more_than_20000_lines_a_second(mix):
    lines = ChatLines(seed=1, mix=mix)
    lines.lines(CHANNELS, 1000, 0)  # warm up
    started = time.perf_counter()
    for n in range(200):
        lines.lines(CHANNELS, 100, n)
    elapsed = time.perf_counter() - started
    # Several hundred thousand a second on a laptop; 20,000 leaves room for a busy CI.
    assert 20_000 / elapsed > 20_000


def test_the_mix_is_on_for_the_demo_and_off_elsewhere():
    assert TwitchServer().mix is False
    assert TwitchServer(rate=1000, limit=10).mix is False  # the benchmarks
    assert TwitchServer(bursts=True).mix is True  # `ingest --demo`
    assert TwitchServer(bursts=True, mix=False).mix is False
    assert TwitchServer(mix=True).mix is True


def test_the_server_sends_the_mix_over_tcp():
    server = ThreadedTwitchServer(rate=20_000, limit=8000, mix=True, channels=["forsen"])
    try:
        with socket.create_connection(("127.0.0.1", server.server.port), timeout=10) as sock:
            sock.sendall(b"CAP REQ :twitch.tv/tags twitch.tv/commands\r\nNICK justinfan1\r\n")
            sock.sendall(b"JOIN #xqc\r\n")
            data = b""
            deadline = time.monotonic() + 20
            while data.count(b"\r\n") < 8000 + 12 and time.monotonic() < deadline:
                data += sock.recv(1 << 16)
    finally:
        server.close()
    kinds = {"PRIVMSG", "USERNOTICE", "CLEARMSG", "CLEARCHAT"}
    chat = [parse_line(line) for line in data.decode().split("\r\n") if line]
    chat = [m for m in chat if m.command in kinds]
    commands = Counter(m.command for m in chat)
    assert commands["PRIVMSG"] > 7500
    assert commands["USERNOTICE"] > 50
    assert commands["CLEARMSG"] + commands["CLEARCHAT"] > 10
    assert {m.params[0] for m in chat} == {"#forsen", "#xqc"}
