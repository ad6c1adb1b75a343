"""`manage.py import_logs` as an operator runs it: a justlog tree, raw and ndjson
exports of goknut itself, bad input, a kill half-way, opted-out users.

Every figure is checked twice: in the command's summary and in the database,
where the maintained totals are compared with recounts of the rows."""

from __future__ import annotations

import gzip
import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDate, TruncMinute

from messages_app import erasure, identity
from messages_app.ingest.simulator import (
    ChatLines,
    clearchat,
    clearmsg,
    numeric_id,
    privmsg,
    usernotice,
)
from messages_app.models import (
    COUNTED_KINDS,
    ActivityBucket,
    Channel,
    ChannelDay,
    ChatUser,
    ChatUserName,
    Kind,
    Message,
    OptOut,
    PendingDeletion,
    UserChannelStats,
)
from tests.ingest.twitch_server import REPO, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

USERS = ["alice", "bob", "carol", "dave"]
# channel -> justlog days (year, month, day, gzipped)
DAYS = {
    "forsen": [(2024, 3, 1, False), (2024, 3, 2, True), (2024, 3, 10, False)],
    "xqc": [(2024, 3, 1, True), (2024, 4, 1, False)],
}
HOSTILE = '<script>alert("x")</script> &amp; <b>bold</b>'


# -- building logs -------------------------------------------------------------------


def day_lines(channel: str, day: datetime) -> list[tuple[int, str, str]]:
    """One day of a channel as Twitch sent it: (kind, login or "", line) in time order.
    Chat from every user (a /me, hostile HTML), a resub with text, a sub, a deletion,
    a timeout and a ban; a clear of the whole chat on the 10th."""
    tag = f"{channel}-{day:%m%d}"
    out = []
    for n in range(12):
        login = USERS[n % len(USERS)]
        text = HOSTILE if n == 5 else f"{channel} {day:%m-%d} line {n}"
        line = privmsg(
            channel,
            login,
            text,
            twitch_id=f"{tag}-{n}",
            action=n == 3,
            sent_at=day + timedelta(minutes=n),
            tags={"badges": "subscriber/12"},
        )
        out.append((Kind.PRIVMSG, login, line))
    at = day + timedelta(minutes=20)
    out.append(
        (
            Kind.USERNOTICE,
            "carol",
            usernotice(
                channel,
                "carol",
                "resub",
                text="12 months!",
                twitch_id=f"{tag}-resub",
                sent_at=at,
                params={"cumulative-months": "12", "sub-plan": "1000", "should-share-streak": "0"},
            ),
        )
    )
    out.append(
        (
            Kind.USERNOTICE,
            "dave",
            usernotice(
                channel,
                "dave",
                "sub",
                params={"sub-plan": "Prime"},
                twitch_id=f"{tag}-sub",
                sent_at=at + timedelta(seconds=1),
            ),
        )
    )
    out.append(
        (
            Kind.CLEARMSG,
            "bob",
            clearmsg(
                channel,
                "bob",
                f"{tag}-1",
                f"{channel} {day:%m-%d} line 1",
                sent_at=at + timedelta(seconds=2),
            ),
        )
    )
    out.append(
        (
            Kind.CLEARCHAT,
            "bob",
            clearchat(channel, "bob", duration=600, sent_at=at + timedelta(seconds=3)),
        )
    )
    out.append(
        (Kind.CLEARCHAT, "dave", clearchat(channel, "dave", sent_at=at + timedelta(seconds=4)))
    )
    if day.day == 10:
        out.append((Kind.CLEARCHAT, "", clearchat(channel, sent_at=at + timedelta(seconds=5))))
    return sorted(out, key=lambda item: sent_ms(item[2]))


def sent_ms(line: str) -> int:
    return int(re.search(r"tmi-sent-ts=(\d+)", line).group(1))


def write(path: Path, lines: list[str], gzipped: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(f"{line}\n" for line in lines).encode()
    path.write_bytes(gzip.compress(data) if gzipped else data)
    return path


def justlog_tree(root: Path) -> Counter:
    """justlog's layout under `root`: each day's channel file and each user's month
    file (the same lines again; some of both gzipped), plus one line repeated on the
    next day, one malformed line and two damaged .gz days. Returns the lines stored
    by kind, and the repeated, malformed and user-file counts."""
    expected: Counter = Counter()
    repeated = None
    for channel, days in DAYS.items():
        room = numeric_id(channel)
        per_user: dict[tuple, list[str]] = {}
        for year, month, day, gzipped in days:
            lines = day_lines(channel, datetime(year, month, day, 12, tzinfo=UTC))
            texts = [line for _kind, _login, line in lines]
            if channel == "xqc" and repeated is None:
                repeated = texts[0]
            elif channel == "xqc":
                texts.insert(3, repeated)  # a line seen again: justlog logged it twice
                texts.insert(5, "@badge-info=;badges=;color= ")  # malformed: no command
            write(root / room / str(year) / str(month) / str(day) / "channel.txt", texts, gzipped)
            for kind, login, line in lines:
                expected[kind] += 1
                user_id = numeric_id(login) if login else ""
                per_user.setdefault((year, month, user_id), []).append(line)
        for (year, month, user_id), lines in per_user.items():
            gz = ".gz" if channel == "forsen" else ""
            write(root / room / str(year) / str(month) / f"{user_id}.txt{gz}", lines, bool(gz))
            expected["user_files"] += 1
    # A day the archiver was cut off while gzipping, and one whose bytes are not gzip.
    whole = gzip.compress(
        b"".join(
            f"{line}\n".encode()
            for _k, _l, line in day_lines("forsen", datetime(2024, 3, 11, 12, tzinfo=UTC))
        )
    )
    write(root / numeric_id("forsen") / "2024/3/11/channel.txt.gz", []).write_bytes(whole[:-40])
    write(root / numeric_id("xqc") / "2024/3/5/channel.txt.gz", ["not gzip at all"])
    expected["repeated"], expected["malformed"] = 1, 1
    return expected


def mixed_chat(path: Path, count: int, channels=("forsen", "xqc"), seed: int = 5) -> Path:
    """`count` lines of the simulator's mixed chat (notices, deletions, timeouts),
    100 lines per 40 ms from 2024-05-01, as a raw IRC log."""
    chat = ChatLines(seed=seed, users=500, mix=True)
    start = int(datetime(2024, 5, 1, tzinfo=UTC).timestamp() * 1000)
    lines = []
    for n in range(0, count, 100):
        lines += chat.lines(list(channels), min(100, count - n), start + n * 40)
    return write(path, lines)


# -- running it ----------------------------------------------------------------------


def run(*args: str) -> tuple[str, str]:
    """call_command("import_logs", ...) -> (summary on stdout, stderr)."""
    out, err = StringIO(), StringIO()
    call_command("import_logs", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def command(db_url: str, *args: str, **popen) -> subprocess.Popen:
    """`manage.py import_logs ARGS` in a subprocess against the test database."""
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONUNBUFFERED": "1"}
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "manage.py", "import_logs", *args], cwd=REPO, env=env, text=True, **popen
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"import_logs did not exit in {timeout}s:\n{err[-3000:]}") from None
    return proc.returncode, out, err


def empty_archive() -> None:
    """Back to a freshly migrated database (and the write path's memory with it)."""
    call_command("flush", interactive=False, verbosity=0)
    identity.KNOWN_USERS.clear()
    identity.KNOWN_CHANNELS.clear()


# -- checking the archive ---------------------------------------------------------


def assert_totals_match_rows() -> None:
    """Every maintained total equals a recount of the rows it counts."""
    counted = Message.objects.filter(kind__in=COUNTED_KINDS)
    per_channel = dict(counted.values_list("channel__name").annotate(n=Count("id")))
    assert {c.name: c.total_messages for c in Channel.objects.all()} == {
        name: per_channel.get(name, 0) for name in Channel.objects.values_list("name", flat=True)
    }
    per_user = dict(counted.values_list("user__username").annotate(n=Count("id")))
    for user in ChatUser.objects.all():
        assert user.total_messages == per_user.get(user.username, 0), user.username
    pairs = counted.values_list("user__username", "channel__name").annotate(n=Count("id"))
    stats = UserChannelStats.objects.values_list(
        "user__username", "channel__name", "total_messages"
    )
    assert {(u, c): n for u, c, n in stats} == {(u, c): n for u, c, n in pairs}
    minutes = counted.annotate(m=TruncMinute("sent_at")).values_list("m").annotate(n=Count("id"))
    assert dict(ActivityBucket.objects.values_list("minute", "count")) == dict(minutes)
    days = (
        Message.objects.annotate(day=TruncDate("sent_at"))
        .values_list("channel__name", "day")
        .annotate(n=Count("id"), lo=Min("id"), hi=Max("id"))
    )
    assert {(c, d): (n, lo, hi) for c, d, n, lo, hi in days} == {
        (c, d): (n, lo, hi)
        for c, d, n, lo, hi in ChannelDay.objects.values_list(
            "channel__name", "day", "lines", "first_id", "last_id"
        )
    }


def archive_state() -> dict:
    """Everything an import decides, row ids aside (they depend on the batches)."""
    rows = Message.objects.values_list(
        "channel__name",
        "user__username",
        "kind",
        "text",
        "system_text",
        "sent_at",
        "twitch_id",
        "is_action",
        "deleted_at",
        "tags",
    )
    return {
        "messages": ordered((*row[:-1], json.dumps(row[-1], sort_keys=True)) for row in rows),
        "channels": sorted(
            Channel.objects.values_list(
                "name", "twitch_id", "enabled", "total_messages", "last_message_at"
            )
        ),
        "users": sorted(
            ChatUser.objects.values_list(
                "username",
                "twitch_id",
                "display_name",
                "first_seen_at",
                "last_seen_at",
                "total_messages",
            )
        ),
        "names": sorted(
            # Not last_seen_at: the write path updates it only when a process first
            # meets a login (the current login's is the user's last_seen_at).
            ChatUserName.objects.values_list("user__username", "login", "first_seen_at")
        ),
        "stats": sorted(
            UserChannelStats.objects.values_list(
                "user__username", "channel__name", "total_messages", "first_seen_at", "last_seen_at"
            )
        ),
        "buckets": sorted(ActivityBucket.objects.values_list("minute", "count")),
        "days": sorted(ChannelDay.objects.values_list("channel__name", "day", "lines")),
        "pending": sorted(PendingDeletion.objects.values_list("target_twitch_id", "deleted_at")),
    }


def ordered(rows) -> list[tuple]:
    """Rows in a fixed order (None, for a clear of the whole chat's user, included)."""
    return sorted(rows, key=lambda row: [repr(value) for value in row])


def kinds_stored() -> dict[int, int]:
    return dict(Message.objects.values_list("kind").annotate(n=Count("id")))


# -- the tests --------------------------------------------------------------------------


def test_it_imports_a_justlog_tree_with_exact_totals_and_a_second_run_stores_nothing(tmp_path):
    expected = justlog_tree(tmp_path / "logs")
    stored = sum(expected[kind] for kind in Kind.values)

    out, err = run(str(tmp_path / "logs"))

    assert out.splitlines() == [
        f"files: read 5 (gzipped 2); justlog per-user files skipped {expected['user_files']} "
        "(they repeat the days); bad files skipped 2 (corrupt_gzip 2)",
        f"stored: {stored} (chat {expected[Kind.PRIVMSG]}, notices {expected[Kind.USERNOTICE]}, "
        f"deletions {expected[Kind.CLEARMSG]}, timeouts/bans/clears {expected[Kind.CLEARCHAT]})",
        "not stored: duplicates 1, opted out 0",
        "lines skipped: 1 (malformed 1); not chat (other commands) 0; "
        "kept with bad UTF-8 replaced 0",
        out.splitlines()[-1],
    ]
    assert re.fullmatch(
        rf"read: {stored + 2} lines in [\d.]+ s \([\d,]+ lines/s\)", out.splitlines()[-1]
    )
    assert "2024/3/11/channel.txt.gz (corrupt_gzip: " in err
    assert "2024/3/5/channel.txt.gz (corrupt_gzip: " in err
    assert kinds_stored() == {kind: expected[kind] for kind in Kind.values if expected[kind]}
    assert_totals_match_rows()
    # Each line keeps its own time, and its tags; the channels are created but not joined.
    line = Message.objects.get(twitch_id="forsen-0302-5")
    assert line.sent_at == datetime(2024, 3, 2, 12, 5, tzinfo=UTC)
    assert (line.text, line.user.username, line.all_tags["badges"]) == (
        HOSTILE,
        "bob",
        "subscriber/12",
    )
    assert Message.objects.get(twitch_id="xqc-0401-3").is_action
    assert Message.objects.get(twitch_id="forsen-0310-1").deleted_at is not None
    resub = Message.objects.get(twitch_id="forsen-0301-resub")
    assert (resub.kind, resub.text, resub.user.username) == (Kind.USERNOTICE, "12 months!", "carol")
    assert resub.system_text.startswith("carol subscribed at Tier 1")
    assert {(c.name, c.twitch_id, c.enabled) for c in Channel.objects.all()} == {
        ("forsen", numeric_id("forsen"), False),
        ("xqc", numeric_id("xqc"), False),
    }
    assert ChannelDay.objects.filter(channel__name="forsen").count() == 3
    before = archive_state()

    again, _ = run(str(tmp_path / "logs"))

    assert again.splitlines()[1] == (
        "stored: 0 (chat 0, notices 0, deletions 0, timeouts/bans/clears 0)"
    )
    assert again.splitlines()[2] == f"not stored: duplicates {stored + 1}, opted out 0"
    assert archive_state() == before


def test_a_killed_import_and_its_rerun_end_as_a_clean_import_does(db_url, tmp_path):
    log = mixed_chat(tmp_path / "chat.log", 40_000)
    proc = command(db_url, str(log))
    try:
        wait_until(lambda: Message.objects.count() >= 3_000, "some lines stored", 60)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    part = Message.objects.count()
    assert 3_000 <= part < 40_000  # killed half-way

    code, out, err = finish(command(db_url, str(log)))
    assert code == 0, err[-3000:]
    assert f"stored: {40_000 - part} (" in out
    assert f"\nnot stored: duplicates {part}, opted out 0\n" in out
    assert_totals_match_rows()
    resumed = archive_state()
    kinds = kinds_stored()
    assert kinds[Kind.USERNOTICE] > 100 and kinds[Kind.CLEARMSG] > 10 and kinds[Kind.CLEARCHAT] > 10

    empty_archive()
    code, out, err = finish(command(db_url, str(log)))
    assert code == 0, err[-3000:]
    assert "\nnot stored: duplicates 0, opted out 0\n" in out
    assert archive_state() == resumed


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous")
def test_goknuts_own_raw_and_ndjson_exports_import_back_into_an_empty_archive(tmp_path, client):
    lines = day_lines("forsen", datetime(2024, 3, 1, 12, tzinfo=UTC))
    localized = privmsg(
        "forsen",
        "yuki",
        "こんにちは",
        twitch_id="forsen-yuki",
        sent_at=datetime(2024, 3, 1, 13, tzinfo=UTC),
        tags={"display-name": "ゆき"},
    )
    write(tmp_path / "day.log", [line for _k, _l, line in lines] + [localized])
    run(str(tmp_path / "day.log"))
    original = archive_state()
    exports = {}
    for name in ("raw", "ndjson"):
        response = client.get(f"/api/channel/forsen/2024/3/1?{name}")
        assert response.status_code == 200
        exports[name] = write(tmp_path / f"forsen.{name}", [])
        exports[name].write_bytes(b"".join(response))
    assert exports["ndjson"].read_bytes().count(b"\n") == len(lines) + 1

    empty_archive()
    out, _ = run(str(exports["raw"]))
    assert f"\nstored: {len(lines) + 1} (" in out
    assert archive_state() == original  # every fact of every line came back

    empty_archive()
    out, err = run(str(exports["ndjson"]))  # which channel? the file does not say
    assert "forsen.ndjson (needs_channel: ndjson names no channel: pass --channel LOGIN)" in err
    assert Message.objects.count() == 0
    out, _ = run(str(exports["ndjson"]), "--channel", "forsen")
    assert f"\nstored: {len(lines)} (" in out
    assert "lines skipped: 1 (no_login 1)" in out  # ゆき: jsonBasic has no login
    # What jsonBasic does not carry: a /me, and the login behind a localized name.
    assert not Message.objects.filter(is_action=True).exists()
    restored = archive_state()
    assert [row[:3] for row in restored["channels"]] == [row[:3] for row in original["channels"]]
    assert restored["days"] == [("forsen", datetime(2024, 3, 1).date(), len(lines))]
    assert restored["messages"] == [
        (*row[:7], False, *row[8:]) for row in original["messages"] if row[1] != "yuki"
    ]
    again, _ = run(str(exports["ndjson"]), "--channel", "forsen")
    assert f"\nnot stored: duplicates {len(lines)}, opted out 0\n" in again
    # A line of another room is not stored under --channel (the write path would
    # take it for a rename of that room's channel).
    out, _ = run(str(exports["ndjson"]), "--channel", "xqc")
    roomless = sum(kind == Kind.CLEARMSG for kind, _l, _line in lines)  # Twitch sends room-id=
    foreign = len(lines) + 1 - roomless
    assert f"\nlines skipped: {foreign} (wrong_channel {foreign}); " in out
    assert not Message.objects.filter(channel__name="xqc", kind__in=COUNTED_KINDS).exists()
    assert_totals_match_rows()


def test_opted_out_users_and_channels_are_not_imported(tmp_path):
    erasure.opt_out(OptOut.Subject.USER, twitch_id=numeric_id("alice"), login="alice", by="test")
    erasure.opt_out(OptOut.Subject.CHANNEL, login="hidden", by="test")
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    lines = [
        privmsg("forsen", user, f"hi {n}", sent_at=at + timedelta(seconds=n))
        for n, user in enumerate(["alice", "bob"] * 5)
    ]
    lines += [privmsg("hidden", "bob", "in a hidden channel", sent_at=at)]
    lines += [clearchat("forsen", "alice", duration=60, sent_at=at + timedelta(minutes=1))]
    out, _ = run(str(write(tmp_path / "chat.txt", lines)))

    assert "\nstored: 5 (chat 5, " in out
    assert "\nnot stored: duplicates 0, opted out 7\n" in out
    assert set(Message.objects.values_list("user__username", flat=True)) == {"bob"}
    assert not ChatUser.objects.filter(username="alice").exists()
    assert not Channel.objects.filter(name="hidden").exists()
    assert_totals_match_rows()


def test_it_skips_what_it_cannot_import_counts_each_reason_and_stores_the_rest(tmp_path):
    at = datetime(2024, 3, 1, 12, tzinfo=UTC)
    good = [
        privmsg("forsen", "bob", f"good {n}", sent_at=at + timedelta(seconds=n)) for n in range(3)
    ]
    bad_tag = privmsg("forsen", "bob", "kept", sent_at=at).replace(
        "display-name=bob", "display-name=b\udcffb"
    )
    logs = tmp_path / "logs"
    write(
        logs / "a.log",
        [
            *good,
            ":tmi.twitch.tv ROOMSTATE #forsen",  # another command: not chat
            ":bob!bob@bob.tmi.twitch.tv PRIVMSG #forsen :no tags: no id, no time",
            "@tmi-sent-ts=1709294400000 :bob!bob@bob.tmi.twitch.tv PRIVMSG #forsen :a time, no id",
            "@badge-info=;badges= PRIVMSG",  # malformed: tags, no command
            json.dumps(
                {
                    "channel": "forsen",
                    "username": "bob",
                    "text": "json, no id",
                    "sent_at": "2024-03-01T12:00:00Z",
                }
            ),
        ],
    )
    raw = (logs / "a.log").read_bytes()
    raw += bad_tag.encode("utf-8", "surrogateescape") + b"\n"
    raw += privmsg("forsen", "bob", "x", sent_at=at).encode()[:-1] + b"\xff\n"  # bad text
    (logs / "a.log").write_bytes(raw)
    write(logs / "text.txt", ["[2024-03-01 12:00:00] #forsen bob: a text log has no ids"])
    write(logs / "answer.json", ['{"messages": [{"text": "a ?json answer"}]}'])
    write(logs / "notes.md", ["not a log name: ignored"])
    (logs / "gone.log").symlink_to(tmp_path / "nowhere")  # unreadable

    out, err = run(str(logs))

    assert out.splitlines()[:4] == [
        "files: read 1 (gzipped 0); bad files skipped 3 (json_document 1, text_log 1, "
        "unreadable 1); other files ignored 1",
        "stored: 4 (chat 4, notices 0, deletions 0, timeouts/bans/clears 0)",
        "not stored: duplicates 0, opted out 0",
        "lines skipped: 5 (invalid_utf8 1, malformed 1, no_id 2, no_time 1); "
        "not chat (other commands) 1; kept with bad UTF-8 replaced 1",
    ]
    assert "gone.log (unreadable: " in err
    assert Message.objects.get(text="kept").all_tags["display-name"] == "b\ufffdb"
    assert_totals_match_rows()

    with pytest.raises(CommandError, match=r"nowhere\.log: no such file or directory"):
        run(str(logs), str(tmp_path / "nowhere.log"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CommandError, match="empty: no log files in it"):
        run(str(tmp_path / "empty"))
    with pytest.raises(CommandError, match="is not a Twitch login"):
        run(str(logs), "--channel", "not a login")
    assert Message.objects.count() == 4  # nothing more, nothing lost


def test_it_shows_progress_as_plain_lines_when_stderr_is_not_a_terminal(tmp_path):
    log = mixed_chat(tmp_path / "chat.log", 20_000)
    _, err = run(str(log), "--progress-every", "0.05")
    shown = [line for line in err.splitlines() if line.startswith("import: ")]
    assert shown, err
    assert all(
        re.fullmatch(
            r"import: +\d+% [\d,]+ lines, [\d,]+ lines/s, ETA \d+:\d\d:\d\d, "
            r"file 1/1",
            line,
        )
        for line in shown
    ), shown


def test_it_draws_a_progress_bar_on_a_terminal(db_url, tmp_path):
    log = mixed_chat(tmp_path / "chat.log", 30_000)
    terminal, stderr = pty.openpty()
    proc = command(db_url, str(log), stderr=stderr)
    os.close(stderr)
    seen = bytearray()

    def read() -> None:
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the child closed the terminal
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code, out, _ = finish(proc)
    reader.join(5)
    os.close(terminal)
    text = seen.decode()
    assert code == 0, text[-3000:]
    assert re.search(r"\r\[[#.]{24}\] +\d+% [\d,]+ lines, [\d,]+ lines/s, ETA \d+:\d\d:\d\d", text)
    assert "stored: 30000 (" in out


def test_sigterm_stores_what_was_read_and_says_to_run_it_again(db_url, tmp_path):
    log = mixed_chat(tmp_path / "chat.log", 40_000)
    proc = command(db_url, str(log))
    wait_until(lambda: Message.objects.count() >= 2_000, "some lines stored", 60)
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == 1
    assert "interrupted: run the same command again to import the rest" in err
    stored = int(re.search(r"^stored: (\d+) ", out, re.M).group(1))
    assert stored == Message.objects.count() < 40_000  # what was read was stored
    assert_totals_match_rows()
