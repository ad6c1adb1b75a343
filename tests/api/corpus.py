"""The archive the /api tests read: real-shaped Twitch lines (the full modern
tag set, escapes, emotes after emoji, a /me, a renamed user, every event kind)
over several UTC days and months of two channels, stored by
`manage.py ingest --replay` as a user's goknut would store them."""

from __future__ import annotations

from datetime import UTC, datetime

from messages_app.ingest.simulator import clearchat, clearmsg, numeric_id, privmsg, usernotice

FORSEN, XQC = "forsen", "xqc"
FORSEN_ID = numeric_id(FORSEN)
GEMPIR_ID = "77624902"
RENAMED_ID = "555123"
DELETED_ID = "a6d2c1e0-1b3e-4bd4-9a1d-7d0c5e5f0001"
EMOJI_ID = "a6d2c1e0-1b3e-4bd4-9a1d-7d0c5e5f0002"
OPTED_OUT_ID = "31337"  # a user who opted out (tests/api/conftest.py)
HIDDEN = "hidden"  # a channel that opted out
HIDDEN_ID = numeric_id(HIDDEN)
TODAY = "today_chan"  # a channel whose only line is from the current UTC day


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def full_tags(login: str, user_id: str, **extra: str) -> dict[str, str]:
    """The tags Twitch sends on a PRIVMSG today, beyond the simulator's set."""
    tags = {
        "badge-info": "subscriber/14",
        "badges": "subscriber/12,premium/1",
        "client-nonce": "4b1e8c3d2a5f6e7d8c9b0a1f2e3d4c5b",
        "color": "#FF4500",
        "display-name": login.capitalize(),
        "returning-chatter": "0",
        "subscriber": "1",
        "user-id": user_id,
    }
    tags.update(extra)
    return tags


def lines() -> list[str]:
    out = [
        # 2024-03-01: plain chat, an emote after an emoji, a /me, escapes.
        privmsg(
            FORSEN,
            "gempir",
            "hello forsen",
            twitch_id="a6d2c1e0-0000-4000-8000-000000000001",
            sent_at=at(2024, 3, 1, 10, 0, 0),
            tags=full_tags("gempir", GEMPIR_ID),
        ),
        privmsg(
            FORSEN,
            "gempir",
            "👉 Kappa 👈",
            twitch_id=EMOJI_ID,
            sent_at=at(2024, 3, 1, 10, 0, 5, 250_000),
            tags=full_tags("gempir", GEMPIR_ID, emotes="25:2-6"),
        ),
        privmsg(
            FORSEN,
            "oldname",
            "waves at chat",
            action=True,
            twitch_id="a6d2c1e0-0000-4000-8000-000000000003",
            sent_at=at(2024, 3, 1, 11, 0, 0),
            tags=full_tags("oldname", RENAMED_ID),
        ),
        usernotice(
            FORSEN,
            "hana",
            "resub",
            text="12 months <b>already</b>; wow",
            params={
                "cumulative-months": "12",
                "sub-plan": "1000",
                "sub-plan-name": "Channel Subscription (forsen)",
            },
            twitch_id="a6d2c1e0-0000-4000-8000-000000000004",
            sent_at=at(2024, 3, 1, 12, 0, 0),
        ),
        usernotice(
            FORSEN,
            "ivan",
            "sub",
            twitch_id="a6d2c1e0-0000-4000-8000-000000000005",
            params={"sub-plan": "Prime"},
            sent_at=at(2024, 3, 1, 12, 30, 0),
        ),
        privmsg(
            FORSEN,
            "spammer",
            "buy followers",
            twitch_id=DELETED_ID,
            sent_at=at(2024, 3, 1, 13, 0, 0),
        ),
        clearmsg(FORSEN, "spammer", DELETED_ID, "buy followers", sent_at=at(2024, 3, 1, 13, 0, 1)),
        clearchat(FORSEN, "spammer", duration=600, sent_at=at(2024, 3, 1, 13, 0, 2)),
        # 2024-03-05: a raid, an announcement, a ban, a clear of the chat.
        usernotice(
            FORSEN,
            "xqc",
            "raid",
            params={"displayName": "xQc", "login": "xqc", "viewerCount": "9001"},
            twitch_id="a6d2c1e0-0000-4000-8000-000000000006",
            sent_at=at(2024, 3, 5, 20, 0, 0),
        ),
        usernotice(
            FORSEN,
            "forsen",
            "announcement",
            text="stream starts soon",
            params={"color": "PRIMARY"},
            twitch_id="a6d2c1e0-0000-4000-8000-000000000007",
            sent_at=at(2024, 3, 5, 20, 1, 0),
        ),
        privmsg(
            FORSEN,
            "gempir",
            "see you",
            twitch_id="a6d2c1e0-0000-4000-8000-000000000008",
            sent_at=at(2024, 3, 5, 23, 59, 59),
            tags=full_tags("gempir", GEMPIR_ID),
        ),
        clearchat(FORSEN, "spammer", sent_at=at(2024, 3, 5, 21, 0, 0)),
        clearchat(FORSEN, sent_at=at(2024, 3, 5, 21, 30, 0)),
        # 2024-04-02: the renamed user under the new login (same user-id).
        privmsg(
            FORSEN,
            "newname",
            "new name, same me",
            twitch_id="a6d2c1e0-0000-4000-8000-000000000009",
            sent_at=at(2024, 4, 2, 9, 0, 0),
            tags=full_tags("newname", RENAMED_ID),
        ),
        privmsg(
            FORSEN,
            "gempir",
            "april",
            twitch_id="a6d2c1e0-0000-4000-8000-000000000010",
            sent_at=at(2024, 4, 2, 9, 30, 0),
            tags=full_tags("gempir", GEMPIR_ID),
        ),
        # A user who opted out, and a channel that did.
        privmsg(
            FORSEN,
            "optedout",
            "forget me",
            twitch_id="a6d2c1e0-0000-4000-8000-000000000012",
            sent_at=at(2024, 3, 5, 12, 0, 0),
            tags=full_tags("optedout", OPTED_OUT_ID),
        ),
        privmsg(
            HIDDEN,
            "gempir",
            "secret",
            twitch_id="a6d2c1e0-0000-4000-8000-000000000013",
            sent_at=at(2024, 3, 1, 10, 0, 0),
            tags=full_tags("gempir", GEMPIR_ID),
        ),
        privmsg(TODAY, "gempir", "right now", tags=full_tags("gempir", GEMPIR_ID)),
        # Another channel.
        privmsg(
            XQC,
            "gempir",
            "hi xqc",
            twitch_id="a6d2c1e0-0000-4000-8000-000000000011",
            sent_at=at(2024, 3, 1, 10, 0, 0),
            tags=full_tags("gempir", GEMPIR_ID),
        ),
    ]
    return out
