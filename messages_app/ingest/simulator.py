"""A Twitch-protocol IRC server on loopback that chats by itself.
(Long: the line builders, the event mix and the server are one piece because
the mix must know what the server sent on each connection; a split is noted.)

It speaks enough of Twitch's dialect for the real client: CAP, PASS/NICK login
(anonymous justinfanNNNN or a token), the welcome numerics, JOIN/PART with
their echoes, PING/PONG, RECONNECT, and PRIVMSG lines with Twitch's tags. Chat
comes from messages_app.chatgen (realistic names, emotes, /me, unicode) at a
given rate, with bursts if asked, and with notices (subs, gifts, raids,
announcements...) and moderation (deleted messages, timeouts, bans) mixed in if
asked (`mix`, on for the demo); usernotice(), clearmsg() and clearchat() build
those lines as privmsg() builds chat. Used by `ingest --demo`, by the tests
(which also script it line by line) and by the benchmarks:

    python -m messages_app.ingest.simulator --port 6667 --rate 20000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import ssl
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

if __name__ == "__main__":  # standalone: the parser's ChatRecord needs Django set up
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "goknut.settings")
    django.setup()

from messages_app.ingest.parser import SkipLine, escape_tag_value, parse_line

log = logging.getLogger(__name__)

HOST = "tmi.twitch.tv"
POOL_SIZE = 4096  # pre-rendered lines; only id and timestamp change per line
AUTH_FAILED = f":{HOST} NOTICE * :Login authentication failed"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def numeric_id(name: str) -> str:
    """A Twitch-like numeric user or room id for a login, the same in every process."""
    return str(zlib.crc32(name.encode()) % 900_000_000 + 100_000_000)


def _ms(sent_at: datetime | int | None) -> str:
    """tmi-sent-ts: epoch milliseconds, from a datetime (exact, no float) or as given."""
    if isinstance(sent_at, int):
        return str(sent_at)
    sent_at = sent_at or datetime.now(UTC)
    if sent_at.tzinfo is None:  # local time, as datetime.timestamp() reads it
        sent_at = sent_at.astimezone()
    return str((sent_at - EPOCH) // timedelta(milliseconds=1))


def _render_tags(tags: dict[str, str]) -> str:
    # Twitch sorts its tags as "key=value" strings, which puts e.g.
    # msg-param-sub-plan-name before msg-param-sub-plan.
    return ";".join(
        f"{key}={escape_tag_value(value)}" for key, value in sorted(tags.items(), key=_tag_order)
    )


def _tag_order(item: tuple[str, str]) -> str:
    return item[0] + "="


def _tier(plan: str) -> str:
    return {"2000": "2", "3000": "3"}.get(plan, "1")


def system_message(msg_id: str, display_name: str, channel: str, params: dict[str, str]) -> str:
    """Twitch's `system-msg` for a USERNOTICE, in its English wording (from real lines)."""
    p, name = params, display_name
    plan = p.get("sub-plan", "1000")
    paid = "with Prime" if plan == "Prime" else f"at Tier {_tier(plan)}"
    if msg_id == "sub":
        return f"{name} subscribed {paid}."
    if msg_id == "resub":
        months = p.get("cumulative-months", "2")
        text = f"{name} subscribed {paid}. They've subscribed for {months} months"
        if p.get("should-share-streak") == "1":
            return f"{text}, currently on a {p.get('streak-months', months)} month streak!"
        return f"{text}!"
    if msg_id == "subgift":
        recipient = p.get("recipient-display-name", "")
        text = f"{name} gifted a Tier {_tier(plan)} sub to {recipient}!"
        count = p.get("sender-count", "0")
        return f"{text} They have given {count} Gift Subs in the channel!" if count != "0" else text
    if msg_id == "submysterygift":
        gifts = p.get("mass-gift-count", "1")
        text = f"{name} is gifting {gifts} Tier {_tier(plan)} Subs to {channel}'s community!"
        count = p.get("sender-count", "0")
        return f"{text} They've gifted a total of {count} in the channel!" if count != "0" else text
    if msg_id == "giftpaidupgrade":
        return f"{name} is continuing the Gift Sub they got from {p.get('sender-name', '')}!"
    if msg_id == "raid":
        return f"{p.get('viewerCount', '1')} raiders from {name} have joined!"
    if msg_id == "unraid":
        return "The raid has been cancelled."
    if msg_id == "ritual":
        return f"@{name} is new here. Say hello!"
    if msg_id == "bitsbadgetier":
        return "bits badge tier notification"
    if msg_id == "viewermilestone":
        value = p.get("value", "3")
        return f"{name} watched {value} consecutive streams and sparked a watch streak!"
    return ""  # announcement, and anything else: Twitch sends system-msg= empty


def privmsg(
    channel: str,
    login: str,
    text: str,
    *,
    twitch_id: str | None = None,
    sent_at: datetime | None = None,
    action: bool = False,
    tags: dict[str, str] | None = None,
) -> str:
    """A PRIVMSG line as Twitch sends it (without CRLF), tags escaped."""
    sent_at = sent_at or datetime.now(UTC)
    all_tags = {
        "badge-info": "",
        "badges": "",
        "color": "",
        "display-name": login,
        "emotes": "",
        "first-msg": "0",
        "flags": "",
        "id": twitch_id or str(uuid.uuid4()),
        "mod": "0",
        "room-id": numeric_id(channel),
        "subscriber": "0",
        "tmi-sent-ts": str(int(sent_at.timestamp() * 1000)),
        "turbo": "0",
        "user-id": numeric_id(login),
        "user-type": "",
    }
    all_tags.update(tags or {})
    raw_tags = ";".join(f"{key}={escape_tag_value(value)}" for key, value in all_tags.items())
    if action:
        text = f"\x01ACTION {text}\x01"
    return f"@{raw_tags} :{login}!{login}@{login}.{HOST} PRIVMSG #{channel} :{text}"


def usernotice(
    channel: str,
    login: str,
    msg_id: str,
    *,
    text: str | None = None,
    system_msg: str | None = None,
    params: dict[str, str] | None = None,
    twitch_id: str | None = None,
    sent_at: datetime | int | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """A USERNOTICE line as Twitch sends it (sub, resub, subgift, submysterygift,
    giftpaidupgrade, raid, unraid, announcement, ritual, bitsbadgetier,
    viewermilestone, ...), tags sorted and escaped as Twitch does.

    `params` are the msg-param-* tags, named with or without that prefix;
    `system_msg` defaults to Twitch's wording for msg_id (system_message());
    `text` is what the user wrote with it (no trailing parameter when None);
    `sent_at` is a datetime or epoch milliseconds; `tags` override any tag."""
    params = {
        (key if key.startswith("msg-param-") else f"msg-param-{key}"): str(value)
        for key, value in (params or {}).items()
    }
    display = (tags or {}).get("display-name", login)
    if system_msg is None:
        bare = {key.removeprefix("msg-param-"): value for key, value in params.items()}
        system_msg = system_message(msg_id, display, channel, bare)
    all_tags = {
        "badge-info": "",
        "badges": "",
        "color": "",
        "display-name": display,
        "emotes": "",
        "flags": "",
        "id": twitch_id or str(uuid.uuid4()),
        "login": login,
        "mod": "0",
        "msg-id": msg_id,
        **params,
        "room-id": numeric_id(channel),
        "subscriber": "0",
        "system-msg": system_msg,
        "tmi-sent-ts": _ms(sent_at),
        "user-id": numeric_id(login),
        "user-type": "",
        "vip": "0",
    }
    all_tags.update(tags or {})
    trailing = "" if text is None else f" :{text}"
    return f"@{_render_tags(all_tags)} :{HOST} USERNOTICE #{channel}{trailing}"


def clearmsg(
    channel: str,
    login: str,
    target_msg_id: str,
    text: str,
    *,
    sent_at: datetime | int | None = None,
    action: bool = False,
) -> str:
    """A CLEARMSG line: a moderator deleted `login`'s message `target_msg_id`,
    whose text was `text` (a /me keeps its CTCP wrapping; or pass action=True).
    Twitch sends room-id empty on these."""
    if action:
        text = f"\x01ACTION {text}\x01"
    tags = f"login={escape_tag_value(login)};room-id=;target-msg-id={target_msg_id}"
    return f"@{tags};tmi-sent-ts={_ms(sent_at)} :{HOST} CLEARMSG #{channel} :{text}"


def clearchat(
    channel: str,
    login: str | None = None,
    *,
    duration: int | None = None,
    target_user_id: str | None = None,
    sent_at: datetime | int | None = None,
) -> str:
    """A CLEARCHAT line: `login` timed out for `duration` seconds (ban-duration),
    banned (no duration), or, without a login, the whole chat cleared."""
    room = f"room-id={numeric_id(channel)}"
    ts = f"tmi-sent-ts={_ms(sent_at)}"
    if login is None:
        if duration is not None or target_user_id is not None:
            raise ValueError("a timeout or ban needs the login of its target")
        return f"@{room};{ts} :{HOST} CLEARCHAT #{channel}"
    target = f"target-user-id={target_user_id or numeric_id(login)}"
    ban = "" if duration is None else f"ban-duration={int(duration)};"
    return f"@{ban}{room};{target};{ts} :{HOST} CLEARCHAT #{channel} :{login}"


# Shares of all generated lines when the mix is on (ChatLines(mix=True), the demo).
NOTICE_SHARE = 0.02  # USERNOTICE: mostly subs and resubs, some gifts, a rare raid
MODERATION_SHARE = 0.005  # CLEARMSG, and CLEARCHAT timeouts and bans of one user
CLEAR_CHAT_EVERY = 25_000  # lines between clears of a whole chat, on average
# msg-id: weight among notices. A submysterygift is followed by its wave of
# subgift lines (GIFT_WAVES), which count as notices too.
NOTICE_WEIGHTS = {
    "sub": 24, "resub": 40, "subgift": 6, "submysterygift": 2, "giftpaidupgrade": 3,
    "raid": 2, "unraid": 0.5, "announcement": 4, "ritual": 4, "bitsbadgetier": 3,
    "viewermilestone": 8,
}  # fmt: skip
GIFT_WAVES = {1: 35, 5: 40, 10: 17, 20: 6, 50: 2}  # mass-gift-count: weight
MODERATION_WEIGHTS = {"clearmsg": 60, "timeout": 33, "ban": 7}
# Timeouts, in seconds: mostly Twitch's default 10 minutes, some short, a few long.
TIMEOUTS = {1: 4, 10: 6, 30: 8, 60: 10, 120: 6, 300: 12, 600: 40, 1800: 6, 3600: 5, 86400: 3}
SUB_PLANS = {"Prime": 30, "1000": 60, "2000": 6, "3000": 4}
ANNOUNCEMENT_COLORS = ["PRIMARY", "PRIMARY", "BLUE", "GREEN", "ORANGE", "PURPLE"]


def _event_weights() -> tuple[list[str], list[float], float]:
    """Every event kind with its probability per line, and their sum."""
    total = sum(NOTICE_WEIGHTS.values())
    wave = sum(size * w for size, w in GIFT_WAVES.items()) / sum(GIFT_WAVES.values())
    lines_per_notice = 1 + NOTICE_WEIGHTS["submysterygift"] / total * wave
    notice_rate = NOTICE_SHARE / lines_per_notice
    moderation_total = sum(MODERATION_WEIGHTS.values())
    rates = {kind: w / total * notice_rate for kind, w in NOTICE_WEIGHTS.items()}
    for kind, w in MODERATION_WEIGHTS.items():
        rates[kind] = w / moderation_total * MODERATION_SHARE
    rates["clearchat"] = 1 / CLEAR_CHAT_EVERY
    return list(rates), list(rates.values()), sum(rates.values())


EVENT_KINDS, EVENT_RATES, EVENT_RATE = _event_weights()


_FLAGS = [(0, 0), (0, 1), (1, 0), (1, 1)]  # (mod, subscriber) of a pool line


@dataclass(slots=True)
class _Chatter:
    login: str
    display_name: str
    color: str
    badges: str
    user_id: str


class ChatLines:
    """Fast realistic chat lines for one connection: PRIVMSG from a pool rendered
    once (fresh id and time per line). With mix=True, USERNOTICE, CLEARMSG and
    CLEARCHAT lines are mixed in at the rates above, deterministically from the
    seed: a deletion or timeout always targets a message sent earlier on this
    connection, a few to a hundred lines later."""

    def __init__(self, seed: int = 1, users: int = 2000, *, mix: bool = False) -> None:
        from messages_app.chatgen import COLORS, ChatGenerator

        generator = ChatGenerator(channels=1, users=users, seed=seed)
        rng = generator.rng
        self.rng = rng
        self.mix = mix
        # (tags up to the id, which of _FLAGS, the rest after tmi-sent-ts, " :text")
        self._pool: list[tuple[str, int, str, str]] = []
        self._chatters: list[_Chatter] = []  # who wrote each pool line
        self._texts: list[str] = []  # and what, as sent (a /me with its CTCP wrapping)
        weights = generator.user_weights
        for login in rng.choices(generator.users, weights, k=POOL_SIZE):
            record = generator.record("x", login, datetime.now(UTC))
            badges = rng.choice(["", "", "subscriber/12", "vip/1", "moderator/1,subscriber/3"])
            color = rng.choice(COLORS)
            head = (
                f"@badge-info=;badges={badges};color={color};"
                f"display-name={escape_tag_value(record.display_name)};emotes=;first-msg=0;"
                f"flags=;id="
            )
            text = f"\x01ACTION {record.text}\x01" if record.is_action else record.text
            mod, sub = int("moderator" in badges), int("subscriber" in badges)
            user_id = numeric_id(login)
            prefix = f"{login}!{login}@{login}.{HOST}"
            tail = f";turbo=0;user-id={user_id};user-type= :{prefix} PRIVMSG #"
            self._pool.append((head, _FLAGS.index((mod, sub)), tail, f" :{text}"))
            self._chatters.append(_Chatter(login, record.display_name, color, badges, user_id))
            self._texts.append(text)
        self._rooms: dict[str, str] = {}
        # ids look like Twitch's UUIDs and never repeat: the seed fixes the chat,
        # not the ids, or a second demo run would only produce duplicates.
        self._id_prefix = uuid.uuid4().hex[:20]
        self._counter = 0
        # Events to come, by the number of the line they take: the next random
        # pick, a deletion or timeout of a line already sent, the gifts of a wave.
        self._due: dict[int, tuple] = {}
        self._next = -1  # the first key of _due; -1 is never a line number
        self._emitted: tuple[int, set[tuple[str, str]]] = (-1, set())  # CLEARCHATs this ms
        if mix:
            self._at(self._gap(), ("pick",))

    def lines(
        self, channels: list[str], count: int, now_ms: int, *, joined: Iterable[str] = ()
    ) -> list[str]:
        """`count` lines in `channels` sent at `now_ms`. A deletion, timeout or
        gift already under way may also go to a channel in `joined` (by default,
        `channels`): the channels the client is in, when a burst in one channel
        narrowed `channels` for a while."""
        pool, rng = self._pool, self.rng
        prefix = self._id_prefix
        # mod, room-id, subscriber and tmi-sent-ts, by channel and _FLAGS
        targets = [(channel, self._middles(channel, now_ms)) for channel in channels]
        several = len(targets)
        only = targets[0] if targets else None
        if several == 1:
            several = 0
        n, due = self._counter, self._next
        out = []
        for _ in range(count):
            n += 1
            if n == due:
                self._counter = n
                out.append(self._event(channels, set(joined) | set(channels), now_ms))
                due = self._next
                continue
            head, flags, tail, text = pool[rng.randrange(POOL_SIZE)]
            hexid = f"{prefix}{n:012x}"
            twitch_id = f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}"
            channel, middle = targets[rng.randrange(several)] if several else only
            out.append(f"{head}{twitch_id}{middle[flags]}{tail}{channel}{text}")
        self._counter = n
        return out

    # -- the mix (rare lines: speed matters less than looking like Twitch) ---------

    def _middles(self, channel: str, now_ms: int) -> list[str]:
        room = self._rooms.get(channel)
        if room is None:
            room = self._rooms[channel] = numeric_id(channel)
        return [
            f";mod={mod};room-id={room};subscriber={sub};tmi-sent-ts={now_ms}"
            for mod, sub in _FLAGS
        ]

    def _gap(self) -> int:
        return 1 + int(self.rng.expovariate(EVENT_RATE))

    def _at(self, line: int, event: tuple) -> None:
        while line in self._due:
            line += 1
        self._due[line] = event
        self._next = min(self._due)

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _id(self) -> str:
        hexid = f"{self._id_prefix}{self._counter:012x}"
        return f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}"

    def _privmsg(self, channels: list[str], ts: int) -> tuple[str, str, int]:
        """One pool line, as the loop in lines() writes it, with its channel and pool index."""
        index = self.rng.randrange(POOL_SIZE)
        head, flags, tail, text = self._pool[index]
        channel = channels[self.rng.randrange(len(channels))] if len(channels) > 1 else channels[0]
        line = f"{head}{self._id()}{self._middles(channel, ts)[flags]}{tail}{channel}{text}"
        return line, channel, index

    def _event(self, channels: list[str], joined: set[str], ts: int) -> str:
        n, rng = self._counter, self.rng
        event = self._due.pop(n)
        self._next = min(self._due) if self._due else -1
        kind = event[0]
        if kind == "pick":
            self._at(n + self._gap(), ("pick",))
            kind = rng.choices(EVENT_KINDS, EVENT_RATES)[0]
            if kind in MODERATION_WEIGHTS:
                # A moderator acts on this line a few lines (or a few seconds) later.
                line, channel, index = self._privmsg(channels, ts)
                self._at(n + rng.randint(3, 120), (kind, channel, index, self._id(), 0))
                return line
            channel = channels[rng.randrange(len(channels))]
            if kind == "clearchat":
                return self._clearchat(ts, channel) or self._privmsg(channels, ts)[0]
            return self._notice(kind, channel, ts)
        if kind == "gift":
            if event[1] not in joined:  # the client left: the rest of the wave is not for it
                return self._privmsg(channels, ts)[0]
            return self._notice("subgift", event[1], ts, wave=event[2:])
        _, channel, index, target_id, tries = event
        if channel not in joined:
            # The client left that channel (and may come back): the moderator
            # gets to it later, or never.
            if tries < 20:
                self._at(n + rng.randint(20, 200), (*event[:4], tries + 1))
            return self._privmsg(channels, ts)[0]
        who = self._chatters[index]
        if kind == "clearmsg":
            return clearmsg(channel, who.login, target_id, self._texts[index], sent_at=ts)
        return self._clearchat(ts, channel, who, kind) or self._privmsg(channels, ts)[0]

    def _clearchat(
        self, ts: int, channel: str, who: _Chatter | None = None, kind: str = ""
    ) -> str | None:
        if who is None:
            line = clearchat(channel, sent_at=ts)
        else:
            duration = None
            if kind == "timeout":
                duration = self.rng.choices(list(TIMEOUTS), list(TIMEOUTS.values()))[0]
            line = clearchat(
                channel, who.login, duration=duration, target_user_id=who.user_id, sent_at=ts
            )
        # CLEARCHAT has no id: the archive knows one by its room, target and
        # tmi-sent-ts (parser.event_id), so a second one for the same user (or
        # chat) in the same millisecond would be taken for a repeat of the first.
        at, emitted = self._emitted
        if at != ts:
            emitted = set()
            self._emitted = (ts, emitted)
        key = (channel, who.user_id if who else "")
        if key in emitted:
            return None
        emitted.add(key)
        return line

    def _chatter(self) -> _Chatter:
        return self._chatters[self.rng.randrange(POOL_SIZE)]

    def _notice(self, msg_id: str, channel: str, ts: int, wave: tuple = ()) -> str:
        from messages_app.chatgen import announcement, chat_text, sub_message

        rng = self.rng
        who = self._chatter()
        text: str | None = None
        params: dict[str, object] = {}
        badges, badge_info, extra = who.badges, "", {}
        plan = rng.choices(list(SUB_PLANS), list(SUB_PLANS.values()))[0]
        plan_name = f"Channel Subscription ({channel})"
        if msg_id in ("sub", "resub"):
            months = 1 if msg_id == "sub" else min(2 + int(rng.expovariate(1 / 12)), 120)
            share = msg_id == "resub" and rng.random() < 0.6
            params = {
                "cumulative-months": months,
                "months": 0,
                "multimonth-duration": 1 if msg_id == "sub" else rng.choice([0, 1]),
                "multimonth-tenure": 0,
                "should-share-streak": int(share),
                "sub-plan-name": plan_name,
                "sub-plan": plan,
                "was-gifted": "false",
            }
            if share:
                params["streak-months"] = rng.randint(1, months)
            badge_info = f"subscriber/{months}"
            badges = f"subscriber/{_sub_badge(months)}" + (",premium/1" if plan == "Prime" else "")
            if msg_id == "resub" and rng.random() < 0.65:
                text = sub_message(rng, months)
        elif msg_id == "subgift":
            recipient = self._chatter()
            plan = "1000" if not wave else wave[1]
            params = {
                "gift-months": 1,
                "months": rng.randint(1, 24),
                "origin-id": wave[2] if wave else self._origin_id(),
                "recipient-display-name": recipient.display_name,
                "recipient-id": recipient.user_id,
                "recipient-user-name": recipient.login,
                "sender-count": 0 if wave else rng.choice([0, 1, 3, 12, 40]),
                "sub-plan-name": plan_name,
                "sub-plan": plan,
            }
            if wave:
                who = wave[0]
                params["community-gift-id"] = wave[2]
            badges = "sub-gifter/5" if not who.badges else who.badges
        elif msg_id == "submysterygift":
            plan = rng.choices(["1000", "2000", "3000"], [90, 6, 4])[0]
            count = rng.choices(list(GIFT_WAVES), list(GIFT_WAVES.values()))[0]
            gift_id = str(rng.getrandbits(63))
            params = {
                "community-gift-id": gift_id,
                "mass-gift-count": count,
                "origin-id": gift_id,
                "sender-count": count + rng.choice([0, 0, 5, 20, 100, 570]),
                "sub-plan": plan,
            }
            badges = "sub-gifter/50"
            line = self._counter
            for _ in range(count):  # the wave: one subgift per recipient, right after
                line += rng.randint(1, 3)
                self._at(line, ("gift", channel, who, plan, gift_id))
        elif msg_id == "giftpaidupgrade":
            gifter = self._chatter()
            params = {"sender-login": gifter.login, "sender-name": gifter.display_name}
            badge_info, badges = "subscriber/1", "subscriber/0"
        elif msg_id == "raid":
            viewers = min(int(rng.paretovariate(1.1) * 5), 20_000)
            params = {
                "displayName": who.display_name,
                "login": who.login,
                "profileImageURL": "https://static-cdn.jtvnw.net/jtv_user_pictures/"
                f"{self._uuid()}-profile_image-70x70.png",
                "viewerCount": viewers,
            }
        elif msg_id == "unraid":  # the broadcaster called off a raid from this channel
            who = _Chatter(channel, channel, "#9146FF", "broadcaster/1", numeric_id(channel))
            badges = who.badges
        elif msg_id == "announcement":
            params = {"color": rng.choice(ANNOUNCEMENT_COLORS)}
            text = announcement(rng, channel)
            badges = "moderator/1" if "moderator" not in who.badges else who.badges
            extra = {"mod": "1", "user-type": "mod"}
        elif msg_id == "ritual":
            params = {"ritual-name": "new_chatter"}
            text, badges = "HeyGuys", ""
            extra = {"emotes": "30259:0-6"}
        elif msg_id == "bitsbadgetier":
            threshold = rng.choice([100, 1000, 1000, 5000, 10000, 25000, 100000])
            params = {"threshold": threshold}
            badges = ",".join(filter(None, [who.badges, f"bits/{threshold}"]))
            if rng.random() < 0.5:
                text = chat_text(rng)[0]
        elif msg_id == "viewermilestone":
            value = rng.choice([3, 3, 5, 5, 7, 10, 15, 20, 35])
            params = {
                "category": "watch-streak",
                "copoReward": 450,
                "id": self._uuid(),
                "value": value,
            }
            if rng.random() < 0.4:
                text = chat_text(rng)[0]
        tags = {
            "badge-info": badge_info,
            "badges": badges,
            "color": who.color,
            "display-name": who.display_name,
            "mod": str(int("moderator" in badges)),
            "subscriber": str(int("subscriber" in badges)),
            "user-id": who.user_id,
            "user-type": "mod" if "moderator" in badges else "",
            **extra,
        }
        return usernotice(
            channel,
            who.login,
            msg_id,
            text=text,
            params={key: str(value) for key, value in params.items()},
            twitch_id=self._id(),
            sent_at=ts,
            tags=tags,
        )

    def _origin_id(self) -> str:
        return " ".join(f"{self.rng.getrandbits(8):02x}" for _ in range(20))


def _sub_badge(months: int) -> int:
    """The subscriber badge version for a tenure: 0, 3, 6, 9, 12, 24, ... months."""
    for version in (120, 108, 96, 84, 72, 60, 48, 36, 24, 12, 9, 6, 3):
        if months >= version:
            return version
    return 0


@dataclass(eq=False)
class Connection:
    """One client connection as the server sees it."""

    writer: asyncio.StreamWriter
    nick: str = ""
    token: str = ""
    caps: list[str] = field(default_factory=list)
    joined: set[str] = field(default_factory=set)
    received: list[str] = field(default_factory=list)
    sent: int = 0  # chat lines generated for it
    # (PING payload, `sent` when the PONG was written): every chat line written
    # before a PONG reaches the client before that PONG.
    pongs: list[tuple[str, int]] = field(default_factory=list)
    closed: bool = False
    opened_at: float = field(default_factory=time.monotonic)

    def write(self, lines: Iterable[str]) -> None:
        if not self.closed:
            self.writer.write(("\r\n".join(lines) + "\r\n").encode())


class TwitchServer:
    """The server. `rate` lines per second of generated chat go to each logged-in
    connection, spread over the channels it joined plus `channels`; `limit` stops
    a connection's chat after that many lines; `bursts` adds chat spikes.

    `mix` mixes notices and moderation into the chat (ChatLines(mix=True): about
    2% USERNOTICE, 0.5% CLEARMSG and CLEARCHAT). By default it follows `bursts`,
    so the demo (`ingest --demo`, bursts on) shows every kind while the tests and
    benchmarks, which count the PRIVMSG lines they stored, get PRIVMSG only."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate: float = 0,
        channels: Iterable[str] = (),
        limit: int | None = None,
        bursts: bool = False,
        mix: bool | None = None,
        seed: int = 1,
        check_token: Callable[[str], bool] | None = None,
        answer_pings: bool = True,
        tls: ssl.SSLContext | None = None,
        hang_up: bool = False,
    ) -> None:
        self.host = host
        self.hang_up = hang_up  # close every connection as soon as it is accepted
        self.tls = tls
        self.port = port
        self.rate = rate
        self.channels = list(channels)
        self.limit = limit
        self.bursts = bursts
        self.mix = bursts if mix is None else mix
        self.seed = seed
        self.check_token = check_token
        self.answer_pings = answer_pings
        self.connections: list[Connection] = []
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"{'ircs' if self.tls else 'irc'}://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def send(self, *lines: str) -> None:
        """Send raw lines (no CRLF) to every logged-in connection."""
        for conn in self.connections:
            if conn.nick and not conn.closed:
                conn.write(lines)
                with contextlib.suppress(ConnectionError):
                    await conn.writer.drain()

    async def send_bytes(self, data: bytes) -> None:
        """Send raw bytes (invalid UTF-8, lines without an end) to every connection."""
        for conn in self.connections:
            if not conn.closed:
                conn.writer.write(data)
                with contextlib.suppress(ConnectionError):
                    await conn.writer.drain()

    async def drop(self) -> None:
        """Close every connection, as a Twitch server restart would."""
        for conn in self.connections:
            if not conn.closed:
                conn.closed = True
                conn.writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(writer)
        self.connections.append(conn)
        task = asyncio.current_task()
        self._tasks.add(task)
        chat: asyncio.Task | None = None
        conn.closed = self.hang_up
        try:
            while not conn.closed:
                raw = await reader.readline()
                if not raw:
                    break
                line = raw.decode(errors="replace").rstrip("\r\n")
                conn.received.append(line)
                if self._answer(conn, line) and chat is None and self.rate > 0:
                    chat = asyncio.create_task(self._chat(conn))
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if chat is not None:
                chat.cancel()
            conn.closed = True
            writer.close()
            self._tasks.discard(task)

    def _answer(self, conn: Connection, line: str) -> bool:
        """Answer one client line as Twitch does; True once the client is logged in."""
        try:
            message = parse_line(line)
        except SkipLine:
            conn.write([f":{HOST} 421 {conn.nick or '*'} ? :Unknown command"])
            return False
        command, params = message.command, message.params
        if command == "CAP" and params[:1] == ["REQ"]:
            conn.caps = params[-1].split()
            conn.write([f":{HOST} CAP * ACK :{params[-1]}"])
        elif command == "PASS":
            conn.token = params[0] if params else ""
        elif command == "NICK" and params:
            if self.check_token is not None and conn.token and not self.check_token(conn.token):
                conn.write([AUTH_FAILED])
                conn.closed = True
                conn.writer.close()
                return False
            conn.nick = params[0].lower()
            n = conn.nick
            conn.write(
                [
                    f":{HOST} 001 {n} :Welcome, GLHF!",
                    f":{HOST} 002 {n} :Your host is {HOST}",
                    f":{HOST} 003 {n} :This server is rather new",
                    f":{HOST} 004 {n} :-",
                    f":{HOST} 375 {n} :-",
                    f":{HOST} 372 {n} :You are in a maze of twisty passages, all alike.",
                    f":{HOST} 376 {n} :>",
                ]
            )
            return True
        elif command == "JOIN" and params:
            for name in params[0].split(","):
                channel = name.lstrip("#").lower()
                conn.joined.add(channel)
                n = conn.nick
                conn.write(
                    [
                        f":{n}!{n}@{n}.{HOST} JOIN #{channel}",
                        f":{n}.{HOST} 353 {n} = #{channel} :{n}",
                        f":{n}.{HOST} 366 {n} #{channel} :End of /NAMES list",
                        f"@emote-only=0;followers-only=-1;r9k=0;room-id=1;slow=0;subs-only=0 "
                        f":{HOST} ROOMSTATE #{channel}",
                    ]
                )
        elif command == "PART" and params:
            for name in params[0].split(","):
                channel = name.lstrip("#").lower()
                conn.joined.discard(channel)
                n = conn.nick
                conn.write([f":{n}!{n}@{n}.{HOST} PART #{channel}"])
        elif command == "PING" and self.answer_pings:
            payload = params[-1] if params else HOST
            conn.pongs.append((payload, conn.sent))
            conn.write([f":{HOST} PONG {HOST} :{payload}"])
        return False

    async def _chat(self, conn: Connection) -> None:
        """Send generated chat at `rate` lines/s, in ticks; drain() carries the
        client's backpressure, and a client that fell behind is not flooded with
        the backlog (the schedule restarts after a second of lag)."""
        lines = ChatLines(seed=self.seed + len(self.connections), mix=self.mix)
        rng = random.Random(self.seed)
        tick = min(0.1, max(0.005, 1 / self.rate))
        loop = asyncio.get_running_loop()
        start = loop.time()
        due = 0.0
        burst_until, next_burst = 0.0, start + rng.uniform(5, 15)
        while not conn.closed:
            channels = joined = sorted(conn.joined | set(self.channels))
            now = loop.time()
            rate = self.rate
            if self.bursts:
                if now >= next_burst:
                    burst_until, next_burst = now + rng.uniform(1, 3), now + rng.uniform(10, 30)
                if now < burst_until:
                    rate *= 5
                    channels = channels[:1]  # a hype moment in one channel
            # No channel yet (JOIN still coming): nothing is owed, so the first
            # JOIN is not answered by a burst of backlog.
            due = min(due + (now - start) * rate, rate) if channels else 0.0
            start = now
            count = int(due)
            if self.limit is not None:
                count = min(count, self.limit - conn.sent)
            if count and channels:
                due -= count
                conn.sent += count
                now_ms = int(time.time() * 1000)
                conn.write(lines.lines(channels, count, now_ms, joined=joined))
                with contextlib.suppress(ConnectionError):
                    await conn.writer.drain()
                if self.limit is not None and conn.sent >= self.limit:
                    return
            await asyncio.sleep(tick)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Twitch-protocol chat simulator on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6667)
    parser.add_argument("--rate", type=float, default=50, help="chat lines per second")
    parser.add_argument("--channels", type=int, default=6, help="channels that always chat")
    parser.add_argument("--limit", type=int, default=None, help="stop after N lines")
    parser.add_argument("--bursts", action="store_true")
    parser.add_argument(
        "--mix",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mix subs, raids, deletions and timeouts into the chat (default: with --bursts)",
    )
    args = parser.parse_args(argv)
    from messages_app.chatgen import channel_names

    async def serve() -> None:
        server = TwitchServer(
            args.host,
            args.port,
            rate=args.rate,
            channels=channel_names(args.channels),
            limit=args.limit,
            bursts=args.bursts,
            mix=args.mix,
        )
        await server.start()
        print(f"simulator on {server.url}, {args.rate:g} lines/s", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
