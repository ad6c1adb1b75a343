"""Storage: bytes per stored line, with the per-table breakdown, on SQLite and
PostgreSQL (docs/architecture.md, "Performance bars": <= 200 bytes on SQLite).

LINES real-shaped Twitch lines (real_lines(): the full modern PRIVMSG tag set,
emotes, escapes, notices and moderation mixed in, about USERS chatters in
CHANNELS channels) are written to a file, then each database is filled by a
fresh worker process: the ingest parser turns each line into a ChatRecord and
store_batch stores them in batches of 1,000. The SQLite file is then
VACUUMed (and its WAL truncated), PostgreSQL VACUUM ANALYZEd, and
messages_app.archive_stats measures it, as `manage.py archive_stats` would.

Run as a module, it is the worker: `python -m tests.benchmarks.test_storage
LINES_FILE` with DATABASE_URL set; it prints one JSON line.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINES = 200_000
CHANNELS, USERS = 10, 5_000
BATCH = 1_000
TARGET = 200  # bytes per line on SQLite (docs/architecture.md, "Performance bars")
PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
PG_DATABASE = "goknut_bench_storage"
END = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 7  # the lines are spread over the week before END

# Twitch's own emotes carry ids in the `emotes` tag; the others in chatgen's
# list (KEKW, monkaS, catJAM...) are third-party emotes, plain text to Twitch.
EMOTE_IDS = {
    "Kappa": "25", "PogChamp": "305954156", "LUL": "425618", "BibleThump": "86",
    "ResidentSleeper": "245", "NotLikeThis": "58765", "Jebaited": "114836",
    "TriHard": "120232", "forsenE": "emotesv2_4c3b4ed516de493bbcd2df2f5df9b8a5",
    "xqcL": "emotesv2_a4d7b1e3c0f84d2e9b6a7c5d3e1f0a9b",
}  # fmt: skip
BADGES = [  # (badges, share of chatters); a subscriber badge gets its months
    ("", 40), ("subscriber/{tier}", 30), ("subscriber/{tier},premium/1", 8),
    ("premium/1", 8), ("vip/1,subscriber/{tier}", 2), ("moderator/1,subscriber/{tier}", 2),
    ("glhf-pledge/1", 3), ("subscriber/{tier},sub-gifter/5", 4), ("no_audio/1", 3),
]  # fmt: skip
COPYPASTA = (
    "I'm not saying this streamer is the best but when he pulled that play off I literally "
    "stood up from my chair and my whole family came running in asking what happened and "
    "I could not even explain it to them, they just do not understand what it means to "
    "watch someone grind this game for 3000 hours and finally get the world record "
)


def real_lines(count: int, seed: int = 1, end: datetime = END) -> Iterator[str]:
    """`count` raw IRC lines as Twitch sends them today: 97.5% PRIVMSG with the
    full tag set (badge-info, badges, client-nonce, color, display-name,
    emotes, first-msg, flags, id, mod, returning-chatter, room-id, subscriber,
    tmi-sent-ts, turbo, user-id, user-type), 2% USERNOTICE (subs, resubs,
    gifts, raids: escaped system-msg), 0.5% CLEARMSG and CLEARCHAT, sent over
    the DAYS days before `end` by Zipf-like chatters."""
    from messages_app.chatgen import ChatGenerator
    from messages_app.ingest import simulator as sim

    generator = ChatGenerator(CHANNELS, USERS, seed=seed)
    rng = generator.rng
    chatters = {login: _chatter(rng, login) for login in generator.users}
    start = end - timedelta(days=DAYS)
    recent: list[tuple[str, str, str, str]] = []  # (channel, login, id, text) to delete
    for record in generator.records(count, start, end):
        channel, login, sent_at = record.channel, record.username, record.sent_at
        roll = rng.random()
        if roll < 0.02:
            yield _notice(rng, sim, channel, login, chatters[login], sent_at)
        elif roll < 0.025 and recent:
            yield _moderation(rng, sim, recent[rng.randrange(len(recent))], sent_at)
        else:
            text = record.text
            if rng.random() < 0.03:
                text = COPYPASTA[: rng.randint(120, len(COPYPASTA))].strip()
            tags = _privmsg_tags(rng, chatters[login], text)
            tags.update(
                {
                    "id": record.twitch_id,
                    "room-id": sim.numeric_id(channel),
                    "tmi-sent-ts": str(int(sent_at.timestamp() * 1000)),
                }
            )
            recent = [*recent[-199:], (channel, login, record.twitch_id, text)]
            yield _privmsg(channel, login, text, record.is_action, tags)


def _privmsg(channel: str, login: str, text: str, action: bool, tags: dict[str, str]) -> str:
    """A PRIVMSG with its tags in Twitch's order (sorted by name), values escaped."""
    from messages_app.ingest.parser import escape_tag_value

    raw = ";".join(f"{key}={escape_tag_value(value)}" for key, value in sorted(tags.items()))
    text = f"\x01ACTION {text}\x01" if action else text
    return f"@{raw} :{login}!{login}@{login}.tmi.twitch.tv PRIVMSG #{channel} :{text}"


def _chatter(rng: random.Random, login: str) -> dict[str, str]:
    """What stays the same on every line of one chatter."""
    from messages_app.ingest.simulator import numeric_id

    months = rng.choice([0, 0, 1, 2, 3, 6, 9, 12, 14, 24, 36, 50])
    tier = next(t for t in (48, 36, 24, 12, 9, 6, 3, 0) if months >= t)
    badges = rng.choices([b for b, _w in BADGES], [w for _b, w in BADGES])[0]
    if "subscriber" in badges and not months:
        months, tier = 1, 0
    display = login if rng.random() < 0.6 else login.capitalize()
    if rng.random() < 0.02:
        display = rng.choice(["日本語ゲーマー", "ねこ", "한국인", "Ñandú"])
    return {
        "badge-info": f"subscriber/{months}" if "subscriber" in badges else "",
        "badges": badges.format(tier=tier),
        "color": "" if rng.random() < 0.15 else f"#{rng.getrandbits(24):06X}",
        "display-name": display,
        "mod": "1" if "moderator" in badges else "0",
        "subscriber": "1" if "subscriber" in badges else "0",
        "user-id": numeric_id(login),
        "user-type": "mod" if "moderator" in badges else "",
    }


def _privmsg_tags(rng: random.Random, chatter: dict[str, str], text: str) -> dict[str, str]:
    tags = {
        **chatter,
        "client-nonce": f"{rng.getrandbits(128):032x}" if rng.random() < 0.9 else "",
        "emotes": _emotes(text),
        "first-msg": "1" if rng.random() < 0.005 else "0",
        "flags": "" if rng.random() < 0.97 else f"0-{min(len(text), 5)}:P.5",
        "returning-chatter": "1" if rng.random() < 0.01 else "0",
        "turbo": "0",
    }
    if not tags["client-nonce"]:
        del tags["client-nonce"]  # some clients send none
    return tags


def _emotes(text: str) -> str:
    """The `emotes` tag of a text: id:start-end,start-end/id:... (code points)."""
    spans: dict[str, list[str]] = {}
    position = 0
    for word in text.split(" "):
        if word in EMOTE_IDS:
            spans.setdefault(EMOTE_IDS[word], []).append(f"{position}-{position + len(word) - 1}")
        position += len(word) + 1
    return "/".join(f"{id_}:{','.join(at)}" for id_, at in spans.items())


def _notice(rng, sim, channel: str, login: str, chatter: dict, sent_at: datetime) -> str:
    from messages_app.chatgen import sub_message

    tags = {
        k: chatter[k]
        for k in (
            "badge-info",
            "badges",
            "color",
            "display-name",
            "mod",
            "subscriber",
            "user-id",
            "user-type",
        )
    }
    msg_id = rng.choices(["sub", "resub", "subgift", "raid"], [30, 55, 12, 3])[0]
    plan = rng.choice(["Prime", "1000", "1000", "2000"])
    params = {"sub-plan": plan, "sub-plan-name": f"Channel Subscription ({channel})"}
    text = None
    if msg_id == "resub":
        months = str(rng.randint(2, 60))
        params.update(
            {
                "cumulative-months": months,
                "months": "0",
                "multimonth-duration": "1",
                "should-share-streak": "0",
                "was-gifted": "false",
            }
        )
        text = sub_message(rng, int(months)) if rng.random() < 0.7 else None
    elif msg_id == "subgift":
        params.update(
            {
                "recipient-display-name": "Someone",
                "recipient-id": "123456789",
                "recipient-user-name": "someone",
                "sender-count": "3",
            }
        )
    elif msg_id == "raid":
        params = {"displayName": login, "login": login, "viewerCount": str(rng.randint(5, 900))}
    return sim.usernotice(
        channel, login, msg_id, text=text, params=params, sent_at=sent_at, tags=tags
    )


def _moderation(rng, sim, target: tuple[str, str, str, str], sent_at: datetime) -> str:
    channel, login, twitch_id, text = target
    roll = rng.random()
    if roll < 0.6:
        return sim.clearmsg(channel, login, twitch_id, text, sent_at=sent_at)
    duration = None if roll < 0.67 else rng.choice([10, 60, 600, 600, 3600])
    return sim.clearchat(channel, login, duration=duration, sent_at=sent_at)


# -- the worker (runs in its own process) --------------------------------------


def worker(lines_file: str) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "goknut.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from messages_app import archive_stats

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    stored = store_file(Path(lines_file))
    store_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("VACUUM")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            cursor.execute("VACUUM ANALYZE")
    stats = archive_stats.measure()
    started = time.perf_counter()
    exact = archive_stats.measure(exact_kinds=True)
    exact_s = time.perf_counter() - started
    file_bytes = None
    if connection.vendor == "sqlite":
        file_bytes = os.path.getsize(connection.settings_dict["NAME"])
    return {
        "stored": stored,
        "store_s": store_s,
        "stats": stats.as_json(),
        "exact_kinds": exact.as_json()["kinds"],
        "exact_kinds_s": exact_s,
        "file_bytes": file_bytes,
        "version": _version(connection),
    }


def store_file(path: Path) -> int:
    """Parse the file's lines as ingest does and store them in batches."""
    from messages_app.ingest.parser import parse_line, to_record
    from messages_app.writes import store_batch

    received_at = datetime.now(UTC)
    stored, batch = 0, []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            batch.append(to_record(parse_line(line.rstrip("\n")), received_at))
            if len(batch) == BATCH:
                stored += store_batch(batch).stored
                batch = []
    if batch:
        stored += store_batch(batch).stored
    return stored


def _version(connection) -> str:
    import sqlite3

    if connection.vendor == "sqlite":
        return sqlite3.sqlite_version
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0].split()[0]


# -- the benchmark -------------------------------------------------------------


def _run(url: str, lines_file: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.test_storage", str(lines_file)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _postgres(lines_file: Path) -> dict | None:
    """The same lines into a throwaway PostgreSQL database, or None (said loudly)
    when no server answers on PG_URL."""
    import psycopg

    try:
        admin = psycopg.connect(f"{PG_URL}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(
            f"\n*** PostgreSQL not measured: nothing answered on {PG_URL} ({exc})", file=sys.stderr
        )
        return None
    try:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {PG_DATABASE}")
        return _run(f"{PG_URL}/{PG_DATABASE}", lines_file)
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        admin.close()


def _mib(n: float) -> str:
    return f"{n / 1024 / 1024:,.1f} MiB"


def _breakdown(result: dict) -> list[str]:
    """A markdown table of archive_stats' breakdown: each table, its indexes."""
    stats = result["stats"]
    rows = ["| table / index | bytes | bytes per line | share |", "|---|---:|---:|---:|"]
    for row in stats["breakdown"]:
        name = f"&nbsp;&nbsp;{row['name']} ({row['kind']})" if row["kind"] else row["name"]
        per = f"{row['per_line']:,.1f}" if row["kind"] else f"**{row['per_line']:,.1f}**"
        rows.append(f"| {name} | {row['bytes']:,} | {per} | {row['share']:.1f}% |")
    all_ = f"| **all** | {stats['used_bytes']:,} | **{stats['bytes_per_message']:,.1f}** | 100% |"
    return [*rows, all_]


def _kinds_line(result: dict) -> str:
    exact = {k["kind"]: k["rows"] for k in result["exact_kinds"]}
    shown = []
    for kind in result["stats"]["kinds"]:
        note = "" if kind["exact"] else f" (full COUNT: {exact[kind['kind']]:,})"
        shown.append(f"{kind['label']} {kind['rows']:,}{note}")
    return "; ".join(shown)


def _both(sqlite: dict, postgres: dict | None, label: str, figure) -> str:
    """One row of the summary table: the figure on each database."""
    return f"| {label} | {figure(sqlite)} | {figure(postgres) if postgres else '-'} |"


def _body(sqlite: dict, postgres: dict | None, raw: dict, load: tuple[float, float]) -> str:
    s = sqlite["stats"]
    per = s["bytes_per_message"]
    lines = [
        f"{LINES:,} real-shaped Twitch lines (tests/benchmarks/test_storage.py, `real_lines`: "
        "the full modern PRIVMSG tag set, a client-nonce on 90% of them, emotes, 2% notices "
        f"with escaped system-msg, 0.5% deletions, timeouts and bans; {USERS:,} chatters, "
        f"{CHANNELS} channels, over {DAYS} days), parsed by the ingest parser and stored by "
        f"store_batch in batches of {BATCH:,}; then SQLite VACUUM (WAL truncated), "
        "PostgreSQL VACUUM ANALYZE, and `messages_app.archive_stats.measure()`. "
        f"The raw IRC lines average {raw['bytes'] / LINES:,.1f} bytes "
        f"({raw['tags'] / LINES:,.1f} of them tags, {raw['text'] / LINES:,.1f} text). "
        "Bytes per line = every table and index, the search index included, over the "
        "stored lines. Bytes are exact; the times below are not figures: other agents' "
        f"work shared the 2 cores (load average {load[0]:.1f} before, {load[1]:.1f} after).",
        "",
        "| | SQLite | PostgreSQL |",
        "|---|---:|---:|",
        _both(sqlite, postgres, "lines stored", lambda r: f"{r['stored']:,}"),
        _both(
            sqlite,
            postgres,
            "bytes per line",
            lambda r: f"**{r['stats']['bytes_per_message']:,.1f}**",
        ),
        _both(sqlite, postgres, "tables and indexes", lambda r: _mib(r["stats"]["used_bytes"])),
        _both(
            sqlite,
            postgres,
            "database (file; pg_database_size)",
            lambda r: _mib(r["stats"]["database_bytes"]),
        ),
        _both(sqlite, postgres, "storing took", lambda r: f"{r['store_s']:.1f} s"),
        _both(sqlite, postgres, "archive_stats took", lambda r: f"{r['stats']['seconds']:.2f} s"),
        _both(sqlite, postgres, "with --exact-kinds", lambda r: f"{r['exact_kinds_s']:.2f} s"),
        "",
        f"Target: <= {TARGET} bytes per line on SQLite: {per:,.1f}. "
        + ("Met." if per <= TARGET else "**Missed.**"),
        "",
        f"### SQLite {sqlite['version']}",
        "",
        *_breakdown(sqlite),
        "",
        f"Lines per kind (archive_stats; chat and notices split by their share of the newest "
        f"10,000 lines): {_kinds_line(sqlite)}.",
    ]
    if postgres:
        lines += [
            "",
            f"### PostgreSQL {postgres['version']} (127.0.0.1)",
            "",
            *_breakdown(postgres),
        ]
    else:
        lines += ["", "PostgreSQL: nothing answered on 127.0.0.1:5432, not measured."]
    return "\n".join(lines)


def _raw_sizes(path: Path) -> dict:
    """Bytes of the raw lines, of their tags and of their text (UTF-8, no CRLF)."""
    sizes = {"bytes": 0, "tags": 0, "text": 0}
    with open(path, "rb") as lines:
        for line in lines:
            line = line.rstrip(b"\n")
            sizes["bytes"] += len(line)
            tags, _, rest = line.partition(b" ")
            sizes["tags"] += len(tags) - 1
            _, _, text = rest.partition(b" :")
            sizes["text"] += len(text)
    return sizes


@pytest.mark.bench
def test_it_measures_the_bytes_per_stored_line(tmp_path, perf_report):
    load_before = os.getloadavg()[0]
    lines_file = tmp_path / "lines.irc"
    with open(lines_file, "w", encoding="utf-8") as out:
        for line in real_lines(LINES):
            out.write(line + "\n")
    raw = _raw_sizes(lines_file)
    sqlite = _run(f"sqlite:///{tmp_path / 'storage.sqlite3'}", lines_file)
    postgres = _postgres(lines_file)
    body = _body(sqlite, postgres, raw, (load_before, os.getloadavg()[0]))
    perf_report(
        "storage",
        "Storage: bytes per stored line",
        body,
        command="pytest -m bench tests/benchmarks/test_storage.py",
    )
    s = sqlite["stats"]
    # What the breakdown adds up to is what the file holds (VACUUM left no free page).
    assert s["used_bytes"] + s["free_bytes"] + s["other_bytes"] == sqlite["file_bytes"]
    assert s["messages"] == sqlite["stored"] == sum(k["rows"] for k in sqlite["exact_kinds"])
    assert sum(k["rows"] for k in s["kinds"]) == s["messages"]
    if postgres:
        assert postgres["stored"] == sqlite["stored"]
        assert postgres["stats"]["messages"] == postgres["stored"]


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1]), default=str))
