"""Realistic fake Twitch chat, for `seed_chat`, the demo simulator and benchmarks."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

from messages_app.writes import ChatRecord

EMOTES = [
    "Kappa", "PogChamp", "LUL", "OMEGALUL", "KEKW", "monkaS", "PepeHands", "Pog", "5Head",
    "BibleThump", "ResidentSleeper", "FeelsGoodMan", "FeelsBadMan", "Jebaited", "TriHard",
    "EZ", "Clap", "catJAM", "pepeD", "Sadge", "COPIUM", "forsenE", "xqcL", "NotLikeThis",
]  # fmt: skip
WORDS = [
    "lol", "gg", "wp", "nice", "what", "was", "that", "no", "way", "clip", "it", "chat", "is",
    "this", "real", "bro", "the", "game", "boss", "fight", "run", "again", "first", "time",
    "streamer", "play", "insane", "how", "did", "he", "miss", "right", "left", "hello", "hi",
    "everyone", "good", "morning", "night", "music", "song", "name", "please", "mods", "ban",
    "this", "guy", "actually", "crazy", "speedrun", "world", "record", "pb", "reset", "skip",
    "cutscene", "lag", "stream", "sub", "hype", "train", "raid", "welcome", "raiders", "love",
]  # fmt: skip
UNICODE_BITS = ["❤️", "😂", "🔥", "👀", "ñandú", "straße", "日本語", "привет", "😳👉👈", "ü"]
CHANNEL_NAMES = [
    "forsen", "xqc", "sodapoppin", "lirik", "summit1g", "shroud", "pokimane", "asmongold",
    "nmplol", "moonmoon", "cohhcarnage", "northernlion", "vinesauce", "esl_csgo", "gamesdonequick",
]  # fmt: skip
NAME_PARTS = [
    "dark", "pixel", "shadow", "crazy", "silent", "lucky", "night", "storm", "fire", "ice",
    "cool", "mega", "turbo", "sleepy", "happy", "angry", "tiny", "big", "fast", "old",
]  # fmt: skip
NAME_NOUNS = [
    "wolf", "gamer", "ninja", "cat", "dragon", "panda", "fox", "owl", "potato", "knight",
    "wizard", "pilot", "viking", "toast", "goblin", "frog", "bear", "sloth", "otter", "crab",
]  # fmt: skip
COLORS = ["#FF0000", "#1E90FF", "#008000", "#B22222", "#FF7F50", "#9ACD32", "#FF4500", "#8A2BE2"]
# What people write with a resub, a watch streak or a bits badge ({months} is filled in).
SUB_MESSAGES = [
    "{months} months already PogChamp", "love the streams <3", "hype hype hype", "lets gooo",
    "been here since day one", "{months} months of pain KEKW", "PogChamp PogChamp PogChamp",
    "keep it up!", "best streamer on the platform", "finally resubbed lol", "Kappa", "catJAM",
    "{months} months and still no pb", "hi chat", "ty for the content", "ResidentSleeper",
    "see you next month", "ñandú gang 🔥", "привет из России", "日本語 chat where you at",
]  # fmt: skip
# What mods and broadcasters announce (/announce), {channel} filled in.
ANNOUNCEMENTS = [
    "Follow on socials, links in the panels below!", "Giveaway at 100 subs, type !enter",
    "Be nice in chat, the mods are watching", "New video is up, go watch it",
    "Stream schedule: Monday to Friday, 6pm CET", "Use code {channel} for 10% off (ad)",
    "No spoilers please!", "Drops are enabled for this stream", "We are raising money for charity",
]  # fmt: skip


def channel_names(count: int) -> list[str]:
    names = CHANNEL_NAMES[:count]
    names += [f"channel_{n}" for n in range(len(names), count)]
    return names


def usernames(count: int, rng: random.Random) -> list[str]:
    names = []
    for n in range(count):
        base = f"{rng.choice(NAME_PARTS)}{rng.choice(NAME_NOUNS)}"
        names.append(f"{base}{n}" if n >= len(NAME_PARTS) else base)
    return names


def chat_text(rng: random.Random) -> tuple[str, bool]:
    """A line of chat and whether it is a /me action."""
    roll = rng.random()
    if roll < 0.2:
        text = " ".join(rng.choice(EMOTES) for _ in range(rng.randint(1, 4)))
    elif roll < 0.25:
        text = f"{rng.choice(WORDS)} {rng.choice(UNICODE_BITS)} {rng.choice(EMOTES)}"
    else:
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 14))]
        if rng.random() < 0.3:
            words.append(rng.choice(EMOTES))
        text = " ".join(words)
    return text, rng.random() < 0.03


def sub_message(rng: random.Random, months: int) -> str:
    """What someone writes along with a resub (or a watch streak, a new bits badge)."""
    return rng.choice(SUB_MESSAGES).format(months=months)


def announcement(rng: random.Random, channel: str) -> str:
    return rng.choice(ANNOUNCEMENTS).format(channel=channel)


class ChatGenerator:
    """Yields ChatRecords: a few loud users, a long tail, bursts of emote spam."""

    def __init__(self, channels: int, users: int, seed: int = 1) -> None:
        self.rng = random.Random(seed)
        self.channels = channel_names(channels)
        self.users = usernames(users, self.rng)
        # Zipf-like weights: user n speaks about 1/(n+1) as often as user 0.
        self.user_weights = [1 / (n + 1) for n in range(users)]
        self.channel_weights = [1 / (n + 1) ** 0.7 for n in range(channels)]

    def records(self, count: int, start: datetime, end: datetime) -> Iterator[ChatRecord]:
        span = (end - start).total_seconds()
        step = span / max(count, 1)
        users = self.rng.choices(self.users, self.user_weights, k=count)
        channels = self.rng.choices(self.channels, self.channel_weights, k=count)
        for n in range(count):
            yield self.record(channels[n], users[n], start + timedelta(seconds=n * step))

    def record(self, channel: str, username: str, sent_at: datetime) -> ChatRecord:
        text, is_action = chat_text(self.rng)
        twitch_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        display = username.capitalize() if self.rng.random() < 0.3 else username
        tags = {
            "id": twitch_id,
            "display-name": display,
            "color": COLORS[hash(username) % len(COLORS)],
            "tmi-sent-ts": str(int(sent_at.timestamp() * 1000)),
        }
        return ChatRecord(
            channel=channel,
            username=username,
            text=text,
            sent_at=sent_at,
            display_name=display,
            twitch_id=twitch_id,
            tags=tags,
            is_action=is_action,
        )
