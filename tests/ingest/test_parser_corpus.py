"""Real Twitch IRC lines, from the test suites of public Twitch IRC libraries
and Twitch's IRC reference (tests/ingest/data/corpus/*.txt, each line with
where it came from), through the parser: every line, and the record each one
must give, written out here.

Where those suites and the IRCv3 rules part, the rules win: a tag's "\\n" is a
line feed and a trailing "\\s" a space (gempir/go-twitch-irc trims both from
system-msg; robotty/twitch-irc-rs and the IRCv3 message-tags spec keep them).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from messages_app.ingest.parser import (
    RECORD_COMMANDS,
    SkipLine,
    decode_line_checked,
    parse_line,
    to_record,
)
from messages_app.models import Kind

CORPUS = Path(__file__).parent / "data" / "corpus"
FILES = ("privmsg", "usernotice", "clearmsg", "clearchat", "hostile")
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # the receipt time
_BYTE = re.compile(rb"\{0x([0-9a-f]{2})\}")


def load(name: str) -> dict[str, bytes]:
    """A corpus file as {line name: raw line}: "## ..." is a comment, "# name:
    source" names the line after it, {0xNN} is the byte NN."""
    lines: dict[str, bytes] = {}
    label = None
    for number, raw in enumerate((CORPUS / f"{name}.txt").read_bytes().split(b"\n"), 1):
        if not raw.strip() or raw.startswith(b"##"):
            continue
        if raw.startswith(b"# "):
            label = raw[2:].partition(b":")[0].decode()
            assert label not in lines, f"{name}.txt:{number}: {label} twice"
            continue
        assert label, f"{name}.txt:{number}: a line without a name and source"
        lines[label], label = _BYTE.sub(lambda m: bytes([int(m[1], 16)]), raw), None
    return lines


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def chat(channel, username, text, *, display="", twitch_id=None, sent=None, action=False, **tags):
    return {
        "kind": Kind.PRIVMSG,
        "channel": channel,
        "username": username,
        "text": text,
        "display_name": display,
        "twitch_id": twitch_id,
        "sent_at": ms(sent) if sent else NOW,
        "is_action": action,
        "system_text": "",
        "tags": tags,
    }


def notice(channel, login, msg_id, system, *, text="", display, twitch_id, sent=None, **tags):
    return {
        "kind": Kind.USERNOTICE,
        "channel": channel,
        "username": login,
        "text": text,
        "display_name": display,
        "twitch_id": twitch_id,
        "sent_at": ms(sent) if sent else NOW,
        "is_action": False,
        "system_text": system,
        "tags": {"msg-id": msg_id, "login": login, **tags},
    }


def deleted(channel, login, text, target, event, *, sent=None, action=False):
    return {
        "kind": Kind.CLEARMSG,
        "channel": channel,
        "username": login,
        "text": text,
        "display_name": "",
        "twitch_id": event,
        "sent_at": ms(sent) if sent else NOW,
        "is_action": action,
        "system_text": "",
        "tags": {"login": login, "target-msg-id": target},
    }


def cleared(channel, target, event, *, sent=None, **tags):
    """A CLEARCHAT: a timeout (ban-duration), a ban, or a clear (target "")."""
    return {
        "kind": Kind.CLEARCHAT,
        "channel": channel,
        "username": target,
        "text": "",
        "display_name": "",
        "twitch_id": event,
        "sent_at": ms(sent) if sent else NOW,
        "is_action": False,
        "system_text": "",
        "tags": tags,
    }


def skipped(reason):
    return {"skip": reason}


PRIVMSG = {
    "basic": chat(
        "pajlada", "jun1orrrr", "dank cam", display="JuN1oRRRR",
        twitch_id="e9d998c3-36f1-430f-89ec-6b887c28af36", sent=1594545155039,
        **{"room-id": "11148817", "user-id": "29803735", "color": "#0000FF", "user-type": ""},
    ),
    "action_and_badges": chat(
        "pajlada", "randers", "-tags", display="randers", action=True,
        twitch_id="d831d848-b7c7-4559-ae3a-2cb88f4dbfed", sent=1594555275886,
        badges="moderator/1,subscriber/12", **{"badge-info": "subscriber/22"},
    ),
    "display_name_trailing_space": chat(
        "forsen", "carvedtaleare", "NaM", display="CarvedTaleare ",
        twitch_id="c9b941d9-a0ab-4534-9903-971768fcdf10", sent=1594554085753,
        historical="1", color="", **{"rm-received-ts": "1594554085918"},
    ),
    "korean_display_name": chat(
        "pajlada", "testaccount_420", "@asd", display="테스트계정420",
        twitch_id="bdfa278e-11c4-484f-9491-0a61b16fab60", sent=1593953876927,
    ),
    "display_name_middle_space": chat(
        "riotgames", "riotgames", "test fake message", display="Riot Games",
        twitch_id="bdfa278e-11c4-484f-9491-0a61b16fab60", sent=1593953876927,
    ),
    "emote_after_emoji": chat(
        "pajlada", "randers", "👉 <3 👉 <3 👉 <3", display="randers",
        twitch_id="3695cb46-f70a-4d6f-a71b-159d434c45b5", sent=1594557379272,
        emotes="483:2-3,7-8,12-13",
    ),
    "bits": chat(
        "pajlada", "tetyys", "trihard1", display="TETYYS",
        twitch_id="d7f03a35-f339-41ca-b4d4-7c0721438570", sent=1594571566672, bits="1",
    ),
    "cyrillic_flags": chat(
        "mocbka34", "some_1_happy", "Я не такой красивый. Не урод, но до тебя далеко LUL",  # noqa: RUF001
        display="some_1_happy", twitch_id="9eb37414-0952-44cc-b177-ad8007088034",
        sent=1597921035256, flags="24-28:A.3", emotes="425618:49-51",
    ),
    "historical": chat(
        "pajlada", "randers", "Pajapains", display="randers",
        twitch_id="6e2ccb1f-01ed-44d0-85b6-edf762524475", sent=1577040814959,
        historical="1", **{"rm-received-ts": "1577040815136"},
    ),
    "go_privmsg": chat(
        "clippyassistant", "fletchercodes", "Chew your food slower... it's healthier",
        display="FletcherCodes", twitch_id="6efffc70-27a1-4637-9111-44e5104bb7da",
        sent=1551473087761, badges="premium/1", **{"room-id": "408892348"},
    ),
    "go_action": chat(
        "clippyassistant", "fletchercodes", "Thrashh5, FeelsWayTooAmazingMan kinda",
        display="FletcherCodes", twitch_id="6efffc70-27a1-4637-9111-44e5104bb7da",
        sent=1551473087761, action=True,
    ),
    "go_cyrillic": chat(
        "turntheslayer", "xspeedhack", "Чет скушные катки Жек когда Хачаги?! ResidentSleeper",
        display="xSpeedHack", twitch_id="ebf30552-c327-4602-a346-582ecc880ab5",
        sent=1556302007395, flags="28-35:A.6/I.6",
    ),
    "go_emotes": chat(
        "pajlada", "zugren", "TriHard Clap TriHard Clap TriHard Clap TriHard Clap TriHard Clap",
        display="Zugren", twitch_id="51c290e9-1b50-497c-bb03-1667e1afe6e4", sent=1490382456776,
        emotes="120232:0-6,13-19,26-32,39-45,52-58", **{"sent-ts": "1490382458685"},
    ),
    "go_bits": chat(
        "clippyassistant", "fletchercodes",
        "showlove5000 Chew your food slower... it's healthier", display="FletcherCodes",
        twitch_id="405c4ccb-7d69-4a57-ac16-292e72ba288b", sent=1551478518354, bits="5000",
    ),
    # tmi.js's lines have neither id nor tmi-sent-ts; the user part is "~schmoopiie".
    "tmi_chat": chat(
        "schmoopiie", "schmoopiie", "Hello :)", display="Schmoopiie",
        emotes="25:0-4,12-16/1902:6-10", **{"user-type": "global_mod"},
    ),
    "tmi_action": chat(
        "schmoopiie", "schmoopiie", "Hello :)", display="Schmoopiie", action=True
    ),
    "tmi_cheer": chat(
        "schmoopiie", "schmoopiie", "cheer100 Hello :)", display="Schmoopiie", bits="100"
    ),
    # Tag values are unescaped; the text (a trailing parameter) never is.
    "escapes": chat(
        "pajlada", "ircdocs", r"escapes: \s \: \\ stay as typed in the text",
        twitch_id="5f3c2a1b-0e9d-4c8b-a7f6-e5d4c3b2a190",
        a="b\\and\nk", c="72 45", d="gh;764", foo="\\\\;\\s \r\n",
        tag1="value\\ntest", tag2="value1", tag3="value1",
    ),
    "duplicate_and_bare_tags": chat(
        "pajlada", "ircdocs", "tags", twitch_id="6a4d3b2c-1f0e-4d9c-b8a7-f6e5d4c3b2a1",
        tag1="5", tag2="3", tag3="4", bare="", **{"vendor/tag2": "8"},
    ),
}  # fmt: skip

USERNOTICE = {
    "sub": notice(
        "xqcow", "fallenseraphhh", "sub", "fallenseraphhh subscribed with Twitch Prime.",
        display="fallenseraphhh", twitch_id="2a9bea11-a80a-49a0-a498-1642d457f775",
        sent=1582685713242, **{"msg-param-sub-plan": "Prime",
        "msg-param-sub-plan-name": "Channel Subscription (xqcow)", "room-id": "71092938"},
    ),
    "resub": notice(
        "xqcow", "gutrin", "resub",
        "Gutrin subscribed at Tier 1. They've subscribed for 2 months, "
        "currently on a 2 month streak!",
        text="xqcL", display="Gutrin", twitch_id="e0975c76-054c-4954-8cb0-91b8867ec1ca",
        sent=1581713640019, emotes="1035663:0-3", **{"msg-param-streak-months": "2",
        "msg-param-cumulative-months": "2", "msg-param-should-share-streak": "1"},
    ),
    "resub_without_text": notice(
        "xqcow", "rene_rs", "resub",
        "rene_rs subscribed with Twitch Prime. They've subscribed for 11 months!",
        display="rene_rs", twitch_id="ca1f02fb-77ec-487d-a9b3-bc4bfef2fe8b",
        sent=1590628650446, **{"msg-param-cumulative-months": "11"},
    ),
    # An ACTION in a notice's text is not a /me: kept as sent (the emote ranges
    # count the \x01, as twitch-irc-rs shows).
    "resub_sneaky_action": notice(
        "pajlada", "randers", "resub",
        "randers subscribed at Tier 1. They've subscribed for 23 months, "
        "currently on a 23 month streak!",
        text="\x01ACTION Kappa TEST TEST Kappa :)\x01", display="randers",
        twitch_id="8c2918c2-adf4-4208-a554-8a72d016de70", sent=1595497450553,
        **{"msg-param-sub-plan-name": "look at those shitty emotes, rip $5 LUL"},
    ),
    "raid": notice(
        "xqcow", "iamelisabete", "raid", "430 raiders from iamelisabete have joined!",
        display="iamelisabete", twitch_id="bb99dda7-3736-4583-9114-52aa11b23d17",
        sent=1594517796120, **{"msg-param-viewerCount": "430",
        "msg-param-login": "iamelisabete", "msg-param-profileImageURL":
        "https://static-cdn.jtvnw.net/jtv_user_pictures/"
        "cae3ca63-510d-4715-b4ce-059dcf938978-profile_image-70x70.png"},
    ),
    "subgift": notice(
        "xqcow", "adamatreflectstudios", "subgift",
        "AdamAtReflectStudios gifted a Tier 1 sub to qatarking24xd!",
        display="AdamAtReflectStudios", twitch_id="e21409b1-d25d-4a1a-b5cf-ef27d8b7030e",
        sent=1594583782376, **{"msg-param-recipient-user-name": "qatarking24xd",
        "msg-param-recipient-id": "236653628", "msg-param-gift-months": "1",
        "msg-param-origin-id": "da 39 a3 ee 5e 6b 4b 0d 32 55 bf ef 95 60 18 90 af d8 07 09"},
    ),
    # The trailing "\s" of system-msg is a space (go-twitch-irc trims it).
    "subgift_anonymous": notice(
        "xqcow", "ananonymousgifter", "subgift",
        "An anonymous user gifted a Tier 1 sub to Dot0422! ",
        display="AnAnonymousGifter", twitch_id="62c3fd39-84cc-452a-9096-628a5306633a",
        sent=1594495108936, **{"user-id": "274598607", "msg-param-fun-string": "FunStringThree",
        "msg-param-recipient-display-name": "Dot0422"},
    ),
    "submysterygift": notice(
        "xqcow", "adamatreflectstudios", "submysterygift",
        "AdamAtReflectStudios is gifting 20 Tier 1 Subs to xQcOW's community! "
        "They've gifted a total of 100 in the channel!",
        display="AdamAtReflectStudios", twitch_id="049e6371-7023-4fca-8605-7dec60e72e12",
        sent=1594583777669, **{"msg-param-mass-gift-count": "20",
        "msg-param-sender-count": "100"},
    ),
    "submysterygift_anonymous": notice(
        "xqcow", "ananonymousgifter", "submysterygift",
        "An anonymous user is gifting 10 Tier 1 Subs to xQcOW's community!",
        display="AnAnonymousGifter", twitch_id="8db97752-3dee-460b-9001-e925d0e2ba5b",
        sent=1585447099603, **{"msg-param-mass-gift-count": "10"},
    ),
    "giftpaidupgrade": notice(
        "xqcow", "crazycrackanimal", "giftpaidupgrade",
        "CrazyCrackAnimal is continuing the Gift Sub they got from Stridezgum!",
        display="CrazyCrackAnimal", twitch_id="7006f242-a45c-4e07-83b3-11f9c6d1ee28",
        sent=1594518849459, **{"msg-param-sender-login": "stridezgum",
        "msg-param-sender-name": "Stridezgum"},
    ),
    # "\b" is no escape: the backslash is dropped, "b" kept ("bla" + "bla").
    "giftpaidupgrade_promo": notice(
        "xqcow", "crazycrackanimal", "giftpaidupgrade",
        "CrazyCrackAnimal is continuing the Gift Sub they got from Stridezgum! "
        "bla blabla stuff about promo here",
        display="CrazyCrackAnimal", twitch_id="7006f242-a45c-4e07-83b3-11f9c6d1ee28",
        sent=1594518849459, **{"msg-param-promo-name": "TestSubtember2020",
        "msg-param-promo-gift-total": "4003"},
    ),
    "anongiftpaidupgrade": notice(
        "xqcow", "samura1jack_ttv", "anongiftpaidupgrade",
        "samura1jack_ttv is continuing the Gift Sub they got from an anonymous user!",
        display="samura1jack_ttv", twitch_id="144ee636-0c1d-404e-8b29-35449a045a7e",
        sent=1594327421732,
    ),
    "ritual": notice(
        "seventoes", "seventest1", "ritual", "Seventoes is new here!", text="HeyGuys",
        display="SevenTest1", twitch_id="37feed0f-b9c7-4c3a-b475-21c6c6d21c3d",
        sent=1508363903826, **{"msg-param-ritual-name": "new_chatter"},
    ),
    "bitsbadgetier": notice(
        "xqcow", "whoopiix", "bitsbadgetier", "bits badge tier notification",
        display="whoopiix", twitch_id="d2b32a02-3071-4c52-b2ce-bc3716acdc44",
        sent=1594520403813, **{"msg-param-threshold": "1000"},
    ),
    "rewardgift": notice(
        "xqcow", "adamatreflectstudios", "rewardgift",
        "AdamAtReflectStudios's Gift shared rewards to 100 others in Chat!",
        display="AdamAtReflectStudios", twitch_id="7f1336e4-f84a-4510-809d-e57bf50af0cc",
        sent=1594583778756, **{"msg-param-domain": "pride_megacommerce_2020",
        "msg-param-trigger-type": "SUBGIFT"},
    ),
    "go_sub": notice(
        "clippyassistant", "fletchercodes", "sub", "fletchercodes subscribed with Twitch Prime.",
        display="FletcherCodes", twitch_id="57cbe8d9-8d17-4760-b1e7-0d888e1fdc60",
        sent=1551486064328, **{"msg-param-sub-plan-name": "The Whatevas"},
    ),
    "go_anonsubgift": notice(
        "qa_subs_partner", "qa_subs_partner", "anonsubgift",
        "An anonymous user gifted a Tier 1 sub to TenureCalculator! ",
        display="qa_subs_partner", twitch_id="b1818e3c-0005-490f-ad0a-804957ddd760",
        sent=1542063432068, **{"msg-param-recipient-user-name": "tenurecalculator",
        "msg-param-sub-plan-name": "t111"},
    ),
    "go_unraid": notice(
        "fletchercodes", "fletchercodes", "unraid", "The raid has been cancelled.",
        display="FletcherCodes", twitch_id="06e33f48-c728-4332-b4bc-b7eae6f59f3c",
        sent=1551518456143,
    ),
    "go_ritual": notice(
        "clippyassistant", "fletchercodes", "ritual", "@FletcherCodes is new here. Say hello!",
        text="SeemsGood", display="FletcherCodes",
        twitch_id="e4090aa9-8079-41ff-904d-64c7a2193ee0", sent=1551487438943,
    ),
    "tmi_resub": notice(
        "schmoopiie", "schmoopiie", "resub", "Schmoopiie Subscribed with Twitch Prime.",
        text="Great stream -- keep it up!", display="Schmoopiie",
        twitch_id="00000000-0000-0000-0000-000000000000", sent=1500000000000,
        **{"msg-param-sub-plan-name": "Channel Subscription (Schmoopiie)"},
    ),
    "tmi_sub_without_id_or_time": notice(
        "schmoopiie", "schmoopiie", "sub", "Schmoopiie just subscribed!",
        text="Great stream -- keep it up!", display="Schmoopiie", twitch_id=None,
    ),
    "announcement": notice(
        "barrycarlyon", "barrycarlyon", "announcement", "", text="test",
        display="BarryCarlyon", twitch_id="d2c97aaa-b921-45ca-b1f5-df6bbcedb289",
        sent=1665265341857, **{"msg-param-color": "PRIMARY"},
    ),
    "docs_resub": notice(
        "dallas", "ronni", "resub", "ronni has subscribed for 6 months!",
        text="Great stream -- keep it up!", display="ronni",
        twitch_id="db25007f-7a18-43eb-9379-80131e44d633", sent=1507246572675,
    ),
    # "\n" is a line feed (go-twitch-irc drops it).
    "docs_raid": notice(
        "othertestchannel", "testchannel", "raid", "15 raiders from TestChannel have joined\n!",
        display="TestChannel", twitch_id="3d830f12-795c-447d-af3c-ea05e40fbddb",
        sent=1507246572675, **{"msg-param-viewerCount": "15"},
    ),
    "viewermilestone": notice(
        "twitchrivals", "twitchdev", "viewermilestone",
        "TwitchDev watched 3 consecutive streams this month and sparked a watch streak!",
        display="TwitchDev", twitch_id="97459ff9-8cd9-47d0-8a81-1fa5fe1d4367",
        sent=1681057151588, **{"msg-param-category": "watch-streak",
        "msg-param-id": "a872953b-606f-410a-9970-c95b744f116c", "msg-param-value": "3"},
    ),
    "modiversary": notice(
        "twitchdev", "bluelava", "modiversary", "has been a moderator for 24 months!",
        text="I'm celebrating my 9 year Mod Anniversary!", display="BlueLava",
        twitch_id="5d0a7492-b2c4-441b-be78-8606d16ec5e8", sent=1780142048673,
        **{"msg-param-months": "108", "vip": "0"},
    ),
    "future_msg_id": notice(
        "forsen", "someone", "goknut-future-thing", "Someone did a new thing!",
        text="and said this", display="Someone",
        twitch_id="0f1e2d3c-4b5a-4968-8778-695a4b3c2d1e", sent=1700000000000,
        **{"msg-param-what": "it does not matter"},
    ),
}  # fmt: skip

# twitch_id is event_id(): fixed here, so a change of its recipe (which would
# store every deletion and timeout again under a new id) fails this test.
CLEARMSG = {
    "deleted_action": deleted(
        "pajlada", "randers", "test", "15e5164d-f8e6-4aec-baf4-2d6a330760c4",
        "4a7444ca-ecf3-59ca-bf33-46ac5839cf2c", sent=1594562632383, action=True,
    ),
    "docs": deleted(
        "bar", "foo", "what a great day", "94e6c7ff-bf98-4faa-af5d-7ad633a158a9",
        "6ad86df9-92a9-57cf-9450-41310103da36", sent=1642720582342,
    ),
    "docs_old_without_time": deleted(
        "dallas", "ronni", "HeyGuys", "abc-123-def", "76f22d2c-dafc-5634-ab36-e24a85bcdf95"
    ),
}  # fmt: skip

CLEARCHAT = {
    "timeout": cleared(
        "pajlada", "fabzeef", "f35d3589-00e9-5cb9-946c-883c817678b5", sent=1594553828245,
        **{"ban-duration": "1", "target-user-id": "148973258", "room-id": "11148817"},
    ),
    "ban": cleared(
        "pajlada", "weeb123", "3a549efb-8529-5d12-a78a-ed599a8abbd1", sent=1594561360331,
        **{"target-user-id": "70948394"},
    ),
    "clear": cleared(
        "randers", "", "d36f8e25-afe6-5e58-8587-7bf8892e2f45", sent=1594561392337,
        **{"room-id": "40286300"},
    ),
    "go_clear": cleared(
        "clippyassistant", "", "e4c09a6e-eb59-5552-aaba-3c10ad7cd919", sent=1551538661807
    ),
    "go_ban": cleared(
        "clippyassistant", "fletchercodes", "eb86090a-8e0f-5fd9-8308-ce7adc4bc8b2",
        sent=1551538522968, **{"target-user-id": "269899575"},
    ),
    "go_timeout": cleared(
        "clippyassistant", "fletchercodes", "7a68fd4a-9ecb-5ead-ad34-916914684bca",
        sent=1551538496775, **{"ban-duration": "5"},
    ),
    # Without tmi-sent-ts a ban and a timeout of the same user in the same room
    # are the same event to event_id (documented there).
    "tmi_ban_without_time": cleared(
        "schmoopiie", "schmoopiie", "aed29519-539c-54ab-8aba-ba3142034a1d"
    ),
    "tmi_timeout_without_time": cleared(
        "schmoopiie", "schmoopiie", "aed29519-539c-54ab-8aba-ba3142034a1d",
        **{"ban-duration": "60"},
    ),
    "tmi_clear_without_tags": cleared("schmoopiie", "", "2d945e39-e189-5b01-b978-1ebbd133ca18"),
    "docs_ban": cleared(
        "dallas", "ronni", "87931a26-f5e7-5a32-984d-9cc4c87a5fc3", sent=1642715756806
    ),
    "docs_clear": cleared("dallas", "", "c5472f4a-39e4-54b6-b3be-9e6adab6162d", sent=1642715695392),
    "docs_timeout": cleared(
        "dallas", "ronni", "b73cb9f7-8c05-5138-adfd-e74211b255ce", sent=1642719320727,
        **{"ban-duration": "350"},
    ),
}  # fmt: skip

HOSTILE = {
    "nick_at_host_prefix": chat("pajlada", "leppunen", "LUL"),
    "jtv_sender": skipped("server_sender"),
    "server_sender": skipped("server_sender"),
    "empty_action": chat("crashandburn", "acidburn", "", action=True),
    "other_ctcp": chat("crashandburn", "acidburn", "\x01PING 12345\x01"),
    # Before: split() took the tab as a space and stored "fake" as the text of #forsen.
    "tab_is_not_a_space": chat("forsen\tfake", "coolguy", "hi"),
    "control_codes_in_host": skipped("malformed"),
    "html_in_text_and_tags": chat(
        "forsen", "xss_tester",
        "<script>alert(document.cookie)</script><b onmouseover=alert(1)>hi</b>",
        display="<img src=x onerror=alert(1)>", twitch_id="7f0c3b1e-6d2a-4c59-9a8e-2b1d0c4e5f60",
        sent=1700000000000, badges="<b>broadcaster</b>/1",
        color='#FF0000"><script>alert(1)</script>',
    ),
    "html_in_notice": notice(
        "forsen", "xss_tester", "<script>", "<script>alert(1)</script> has subscribed!",
        text="<i>hi</i>", display="<svg/onload=alert(1)>",
        twitch_id="8e1d4c2b-7a3f-4b6e-9d5c-3a2b1c0d9e8f", sent=1700000000000,
    ),
    "nul": chat(
        "forsen", "evil", "hithere", display="EvilName",
        twitch_id="0b5e1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d", **{"room-id": "22484632"},
    ),
    "huge_id": skipped("bad_id"),
    "huge_notice_id": skipped("bad_id"),
    "huge_target_msg_id": skipped("bad_id"),
    "invalid_utf8_in_a_tag": chat(
        "forsen", "broken_tag", "the message is fine", display="Bro\ufffd\ufffdken",
        twitch_id="2b7e4c1a-9f3d-4e8b-a6c5-0d1e2f3a4b5c", sent=1700000000000,
    ),
    "truncated_utf8_in_a_tag": chat(
        "forsen", "cafe", "café", display="caf\ufffd",
        twitch_id="3c8f5d2b-0a4e-4f9c-b7d6-1e2f3a4b5c6d", sent=1700000000000,
    ),
    "invalid_utf8_in_the_text": skipped("invalid_utf8"),
    "invalid_utf8_in_the_prefix": skipped("invalid_utf8"),
    "login_with_a_dash": skipped("bad_login"),
    "login_too_long": skipped("bad_login"),
    "login_not_ascii": skipped("bad_login"),
    "clearchat_bad_target": skipped("bad_login"),
    "usernotice_bad_login": skipped("bad_login"),
    "usernotice_without_login": skipped("malformed"),
    "clearmsg_without_target": skipped("malformed"),
    "clearchat_without_channel": skipped("malformed"),
}  # fmt: skip

EXPECTED = {
    "privmsg": PRIVMSG,
    "usernotice": USERNOTICE,
    "clearmsg": CLEARMSG,
    "clearchat": CLEARCHAT,
    "hostile": HOSTILE,
}
CASES = [(kind, name) for kind in FILES for name in load(kind)]
# Lines whose tags hold invalid UTF-8: kept, and the caller told so.
REPLACED = {("hostile", "invalid_utf8_in_a_tag"), ("hostile", "truncated_utf8_in_a_tag")}


@pytest.mark.parametrize("kind", FILES)
def test_every_corpus_line_has_its_expectations_and_no_more(kind):
    assert list(load(kind)) == list(EXPECTED[kind])


def test_the_corpus_covers_every_usernotice_msg_id():
    msg_ids = {case["tags"]["msg-id"] for case in USERNOTICE.values()}
    assert msg_ids >= {
        "sub", "resub", "subgift", "submysterygift", "giftpaidupgrade", "rewardgift",
        "anongiftpaidupgrade", "raid", "unraid", "ritual", "bitsbadgetier", "announcement",
        "viewermilestone", "modiversary", "goknut-future-thing",
    }  # fmt: skip


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_each_corpus_line_gives_its_record(kind, name):
    expected = EXPECTED[kind][name]
    raw = load(kind)[name]
    try:
        line, replaced = decode_line_checked(raw)
        message = parse_line(line)
        assert message.command in RECORD_COMMANDS
        record = to_record(message, NOW)
    except SkipLine as exc:
        assert exc.reason == expected.get("skip"), f"{name} was skipped: {exc}"
        return
    assert "skip" not in expected, f"{name} was not skipped"
    assert replaced == ((kind, name) in REPLACED)
    got = {field: getattr(record, field) for field in expected if field != "tags"}
    assert got == {field: value for field, value in expected.items() if field != "tags"}
    assert {key: record.tags.get(key) for key in expected["tags"]} == expected["tags"]
    assert "system-msg" not in record.tags  # it is system_text
    strings = (record.username, record.display_name, record.twitch_id or "", record.text)
    for value in (*strings, *record.tags, *record.tags.values()):
        assert "\x00" not in value


def test_emote_ranges_index_the_stored_text_by_code_point():
    """Twitch's emote positions count code points; the text must be stored so
    that they still point at the emote (emoji before it, the \\x01 of a notice)."""
    text = to_record(parse_line(load("privmsg")["emote_after_emoji"].decode()), NOW).text
    assert [text[2:4], text[7:9], text[12:14]] == ["<3", "<3", "<3"]
    notice_line = decode_line_checked(load("usernotice")["resub_sneaky_action"])[0]
    text = to_record(parse_line(notice_line), NOW).text
    # twitch-irc-rs: 25:7-11 is " Kapp", 499:29-30 is " :" (Twitch counted the \x01).
    assert [text[7:12], text[23:28], text[29:31]] == [" Kapp", " Kapp", " :"]


def test_clearchat_and_clearmsg_ids_are_uuid5_of_what_identifies_them():
    assert all(uuid.UUID(case["twitch_id"]).version == 5 for case in CLEARCHAT.values())
    assert all(uuid.UUID(case["twitch_id"]).version == 5 for case in CLEARMSG.values())
    distinct = {case["twitch_id"] for case in CLEARCHAT.values()}
    assert len(distinct) == len(CLEARCHAT) - 1  # only the two tmi.js lines without a time
