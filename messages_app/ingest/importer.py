"""`manage.py import_logs`: chat logs from files into the archive, through the
live parser, the Pipeline and the write path (docs/ingest.md, "Importing logs").

What it reads:
- justlog's tree: `<room id>/<year>/<month>/<day>/channel.txt`, gzipped to
  `channel.txt.gz` once the day is over. justlog writes each PRIVMSG,
  USERNOTICE and CLEARCHAT it logs as the raw IRC line Twitch sent, to the
  day's channel file and again to `<room id>/<year>/<month>/<user id>.txt`:
  those per-user files only repeat the channel files and are skipped (counted).
- Any file of raw IRC lines (`.txt`, `.log`, ..., gzipped or not), e.g. the
  `?raw` answer of goknut's /api.
- JSON lines: goknut's `?ndjson` answer (jsonBasic objects, which name neither
  the channel nor, reliably, the login: `--channel` gives the channel) and the
  JSON records `ingest --replay` reads.
The format of a file is told from its first lines, never from its name.

Idempotent and resumable by Twitch message id: the write path drops ids it
already holds (counted as duplicates), CLEARMSG and CLEARCHAT get stable ids
from parser.event_id, and a line that has no id (it could not be told from
itself on the next run) or no time of its own (it would be filed under the
day of the import) is skipped, by reason.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

from messages_app.ingest.parser import (
    KNOWN_COMMANDS,
    RECORD_COMMANDS,
    IrcMessage,
    SkipLine,
    decode_line_checked,
    is_login,
    parse_json_record,
    parse_line,
    to_record,
)
from messages_app.ingest.pipeline import IngestStats, Pipeline
from messages_app.models import Kind
from messages_app.writes import BatchResult, ChatRecord, store_batch

# -- finding the files ----------------------------------------------------------

# Names a directory walk imports (content decides the format), gzipped or not.
LOG_SUFFIXES = (".txt", ".log", ".irc", ".raw", ".ndjson", ".jsonl", ".json")
# justlog's per-user file, `<room id>/<year>/<month>/<user id>.txt[.gz]`. A clear
# of the whole chat has no target, so justlog writes it to `<month>/.txt`.
USER_FILE_RE = re.compile(r"\d*\.txt(?:\.gz)?")
GZIP_MAGIC = b"\x1f\x8b"


class NoLogs(Exception):
    """A PATH that is missing or holds no log file; nothing was imported."""


@dataclass
class Found:
    files: list[Path] = field(default_factory=list)
    user_files: int = 0  # justlog per-user files, skipped
    ignored: int = 0  # other files in the directories walked
    unreadable: list[OSError] = field(default_factory=list)  # directories that could not be listed


def find_logs(paths: list[str]) -> Found:
    """Every file to import, in order, or NoLogs naming each bad PATH.

    A file named on the command line is imported whatever its name; a directory
    is walked (hidden entries and symlinked directories left out) and its files
    sorted naturally, so justlog's unpadded days come in time order (2, 10) and
    a day's `channel.txt` before a `channel.txt.gz` left beside it by an
    interrupted archiver. A subdirectory that cannot be listed is reported in
    `unreadable` (the import goes on without it).
    """
    found, problems = Found(), []
    for name in paths:
        path = Path(name)
        if path.is_file():
            found.files.append(path)
        elif path.is_dir():
            before, users = len(found.files), found.user_files
            _walk(path, found)
            if len(found.files) > before:
                continue
            if found.user_files > users:
                problems.append(f"{name}: only justlog per-user files in it (no day files)")
            else:
                problems.append(f"{name}: no log files in it")
        elif path.exists():
            problems.append(f"{name}: not a file or a directory")
        else:
            problems.append(f"{name}: no such file or directory")
    if problems:
        raise NoLogs("; ".join(problems))
    return found


def _walk(root: Path, found: Found) -> None:
    files = []
    for top, dirs, names in os.walk(root, onerror=found.unreadable.append):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            path = Path(top, name)
            if is_user_file(path):
                found.user_files += 1
            elif not name.startswith(".") and name.removesuffix(".gz").endswith(LOG_SUFFIXES):
                files.append(path)
            elif not name.startswith("."):
                found.ignored += 1
    found.files += sorted(files, key=natural_key)


def is_user_file(path: Path) -> bool:
    """justlog's `<year>/<month>/<user id>.txt[.gz]` (a day's file is one level deeper)."""
    month, year = path.parent.name, path.parent.parent.name
    return (
        USER_FILE_RE.fullmatch(path.name) is not None
        and month.isdigit()
        and 1 <= int(month) <= 12
        and len(year) == 4
        and year.isdigit()
    )


def natural_key(path: Path) -> list:
    """Path parts with runs of digits compared as numbers: 2024/2/9 before 2024/10/1."""
    return [
        int(part) if part.isdigit() else part
        for piece in path.parts
        for part in re.split(r"(\d+)", piece)
        if part
    ]


# -- reading a file ---------------------------------------------------------------


class BadFile(Exception):
    """A file that is skipped whole; `reason` is what the summary counts it under."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def check_gzip(path: Path) -> None:
    """Read a gzip file to its end (CRC and length checked), or BadFile.

    Done before any line is imported: a damaged deflate stream decompresses to
    garbled lines that would be stored before the CRC at the end says so. A
    truncated file is refused too (its last line would be cut)."""
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error) as exc:
        raise BadFile("corrupt_gzip", str(exc) or type(exc).__name__) from None


def is_gzip(path: Path) -> bool:
    """By content (gzip's magic bytes): a renamed file is still read right."""
    try:
        with open(path, "rb") as stream:
            return stream.read(2) == GZIP_MAGIC
    except OSError as exc:
        raise BadFile("unreadable", exc.strerror or str(exc)) from None


@dataclass
class OpenLog:
    lines: Iterator[bytes]
    position: Callable[[], int]  # bytes of the file (compressed, if so) read so far
    close: Callable[[], None]


def open_log(path: Path, gzipped: bool) -> OpenLog:
    try:
        raw = open(path, "rb")  # noqa: SIM115 (closed by OpenLog.close)
    except OSError as exc:
        raise BadFile("unreadable", exc.strerror or str(exc)) from None
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw

    def close() -> None:
        stream.close()
        raw.close()

    return OpenLog(iter(stream), raw.tell, close)


# -- what a file holds ------------------------------------------------------------

TEXT_LOG_RE = re.compile(r"\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d")  # justlog's and our ?text
PEEK_LINES = 5


def check_format(first: list[bytes], has_channel: bool) -> None:
    """BadFile unless a file's first non-empty lines are IRC or JSON lines
    (ndjson only with --channel)."""
    texts = [raw.decode(errors="replace").strip() for raw in first]
    if not texts:
        raise BadFile("empty", "no lines")
    head = texts[0]
    if head.startswith("{"):
        if re.match(r'\{\s*"messages"\s*:', head):
            raise BadFile("json_document", "a ?json answer: export with ?raw or ?ndjson")
        if not has_channel and _is_basic(head):
            raise BadFile("needs_channel", "ndjson names no channel: pass --channel LOGIN")
        return
    if TEXT_LOG_RE.match(head):
        raise BadFile("text_log", "plain-text log lines carry no ids: export with ?raw")
    for text in texts:
        try:
            if parse_line(text).command in KNOWN_COMMANDS:
                return
        except SkipLine:
            continue
    raise BadFile("unknown_format", f"not IRC or JSON lines: {head[:60]!r}")


def _is_basic(line: str) -> bool:
    try:
        data = json.loads(line)
    except ValueError:
        return False
    return isinstance(data, dict) and "channel" not in data and "channel_name" not in data


# -- lines to records -----------------------------------------------------------

# The parser's fallback time, recognised afterwards: a line without its own
# time is skipped, not filed under the day of the import.
NO_TIME = datetime(1, 1, 1, tzinfo=UTC)
_NEEDS_ID = (int(Kind.PRIVMSG), int(Kind.USERNOTICE))
CLEARCHAT_TEXT = re.compile(
    r"(?:\w+ has been (?:banned|timed out for \d+ seconds)|Chat has been cleared)"
)


class Lines:
    """One raw line (bytes, no newline) at a time to a ChatRecord or None,
    counting what became of it in `stats`.

    `channel` is --channel (ndjson lines name none); `rooms` maps the room
    ids the archive knows to their channels, so an ndjson line of another
    room than --channel is skipped (`wrong_channel`) rather than stored under
    it, which the write path would take for a rename of that room's channel.
    """

    def __init__(self, stats: ImportStats, channel: str = "", rooms: dict | None = None) -> None:
        self.stats = stats
        self.channel = channel.lower().lstrip("#")
        self.rooms = rooms or {}
        self.own_room = next((r for r, n in self.rooms.items() if n == self.channel), "")

    def record(self, raw: bytes) -> ChatRecord | None:
        stats = self.stats
        stats.received += 1
        try:
            line, replaced = decode_line_checked(raw)
            if replaced:
                stats.replaced += 1
            if line.startswith("{"):
                record = self.json_record(line)
            else:
                message = parse_line(line)
                if message.command not in RECORD_COMMANDS:
                    self._other(message.command, raw)
                    return None
                record = to_record(message, NO_TIME)
            if record.sent_at is NO_TIME:
                raise SkipLine("no_time", "no tmi-sent-ts")
            if record.twitch_id is None and record.kind in _NEEDS_ID:
                raise SkipLine("no_id", "no id tag")
            return record
        except SkipLine as exc:
            stats.skip(exc.reason, exc.detail, raw)
        except Exception as exc:  # a parser bug must cost one line, not the import
            stats.skip("parse_error", repr(exc), raw)
        return None

    def _other(self, command: str, raw: bytes) -> None:
        if command in KNOWN_COMMANDS:
            self.stats.not_chat += 1
        else:
            self.stats.skip("unknown_command", command, raw)

    def json_record(self, line: str) -> ChatRecord:
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise SkipLine("malformed_json", str(exc)) from None
        if isinstance(data, dict) and ("channel" in data or "channel_name" in data):
            return parse_json_record(line, NO_TIME)  # ingest --replay's JSON records
        return self.basic_record(data)

    def basic_record(self, data: object) -> ChatRecord:
        """A jsonBasic object ({text, displayName, timestamp, id, tags}) as the
        IRC message it was, through the parser's own rules (ids, logins, kinds)."""
        if not isinstance(data, dict):
            raise SkipLine("malformed_json", "not an object")
        tags, text = data.get("tags") or {}, data.get("text")
        if not isinstance(tags, dict) or not isinstance(text, str):
            raise SkipLine("malformed_json", "needs text and tags")
        tags = {str(key): value if isinstance(value, str) else str(value)
                for key, value in tags.items()}  # fmt: skip
        if data.get("id") and "id" not in tags:
            tags["id"] = str(data["id"])
        if not self.channel:
            raise SkipLine("no_channel", "ndjson names no channel: pass --channel LOGIN")
        room = tags.get("room-id")
        if room and (self.rooms.get(room, self.channel) != self.channel or
                     self.own_room not in ("", room)):  # fmt: skip
            raise SkipLine("wrong_channel", f"room-id {room[:20]} is not #{self.channel}")
        name = str(data.get("displayName") or "")
        record = to_record(_as_irc(f"#{self.channel}", text, name, tags), NO_TIME)
        if record.sent_at is NO_TIME:
            record.sent_at = _moment(data.get("timestamp"))
        return record


def _as_irc(channel: str, text: str, name: str, tags: dict) -> IrcMessage:
    """The IRC message a jsonBasic object was (its kind told by its tags)."""
    server = "tmi.twitch.tv"
    if "system-msg" in tags:
        return IrcMessage("USERNOTICE", [channel, text] if text else [channel], server, tags)
    if "target-msg-id" in tags:
        return IrcMessage("CLEARMSG", [channel, text], server, tags)
    if "user-id" not in tags and (
        "target-user-id" in tags or CLEARCHAT_TEXT.fullmatch(text) is not None
    ):
        # displayName is the target's login (moderation lines have no display-name).
        return IrcMessage("CLEARCHAT", [channel, name] if name else [channel], server, tags)
    login = tags.get("login") or name
    if not is_login(login):  # a localized display name: the login is not in the line
        raise SkipLine("no_login", f"displayName {name[:30]!r} is not a login")
    return IrcMessage("PRIVMSG", [channel, text], f"{login}!{login}@{login}.{server}", tags)


def _moment(value: object) -> datetime:
    if not isinstance(value, str) or not value:
        raise SkipLine("no_time", "no tmi-sent-ts and no timestamp")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SkipLine("no_time", f"bad timestamp {value[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- counting ---------------------------------------------------------------------

KIND_NAMES = {
    int(Kind.PRIVMSG): "chat",
    int(Kind.USERNOTICE): "notices",
    int(Kind.CLEARMSG): "deletions",
    int(Kind.CLEARCHAT): "timeouts/bans/clears",
}


class ImportStats(IngestStats):
    """IngestStats plus what an import reports: stored lines by kind, files."""

    def __init__(self) -> None:
        super().__init__()
        self.kinds: Counter[int] = Counter()  # stored, by Kind (filled by the writer thread)
        self.replaced = 0  # kept with U+FFFD for invalid UTF-8 in their tags
        self.files = 0  # files read
        self.gzipped = 0
        self.user_files = 0
        self.ignored = 0
        self.bad_files: Counter[str] = Counter()
        self.interrupted = False

    def summary(self, seconds: float | None = None) -> str:
        """Five lines: files, stored by kind, not stored, skipped, speed. The lines
        read are the sum of stored, not stored, skipped and not chat."""
        files = f"files: read {self.files} (gzipped {self.gzipped})"
        if self.user_files:
            files += f"; justlog per-user files skipped {self.user_files} (they repeat the days)"
        if self.bad_files:
            files += "; " + _counts("bad files skipped", self.bad_files)
        if self.ignored:
            files += f"; other files ignored {self.ignored}"
        kinds = ", ".join(f"{name} {self.kinds[kind]}" for kind, name in KIND_NAMES.items())
        dropped = Counter(self.dropped)
        not_stored = f"not stored: duplicates {self.duplicates}"
        not_stored += f", opted out {dropped.pop('opted_out', 0)}"
        if dropped:
            not_stored += ", " + _counts("lost", dropped)
        skipped = _counts("lines skipped:", self.skipped)
        skipped += f"; not chat (other commands) {self.not_chat}"
        skipped += f"; kept with bad UTF-8 replaced {self.replaced}"
        read = f"read: {self.received} lines"
        if seconds:
            read += f" in {seconds:.1f} s ({self.received / seconds:,.0f} lines/s)"
        return "\n".join([files, f"stored: {self.stored} ({kinds})", not_stored, skipped, read])


def _counts(label: str, counts: Counter) -> str:
    total = sum(counts.values())
    text = f"{label} {total}"
    if total:
        text += " (" + ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items())) + ")"
    return text


def counting_store(kinds: Counter) -> Callable[[list[ChatRecord]], BatchResult]:
    """store_batch that also counts the lines it stored by kind (in the writer thread)."""

    def store(batch: list[ChatRecord]) -> BatchResult:
        result = store_batch(batch)
        kinds.update(result.kinds)
        return result

    return store


# -- progress ---------------------------------------------------------------------


class Progress:
    """A bar redrawn in place on a terminal, else a plain line every `every`
    seconds.

    Progress is the bytes of the files read (compressed bytes for .gz) over
    their total size, scaled by the share of the lines read that have left the
    queue: the reader runs up to a queue (10,000 lines) ahead of the database,
    and the bar, lines/s and ETA follow the database."""

    BAR = 24

    def __init__(self, write: Callable[[str], None], total: int, *, tty: bool,
                 every: float = 10.0) -> None:  # fmt: skip
        self.write, self.total, self.tty = write, max(total, 1), tty
        self.every = 0.2 if tty else every
        self.started = time.monotonic()
        self.shown = self.started
        self.drawn = False

    def update(self, read_bytes: int, lines: int, queued: int, number: int, files: int) -> None:
        """`lines` read so far, `queued` of them still waiting for the database;
        file `number` of `files` is being read."""
        now = time.monotonic()
        if now - self.shown < self.every:
            return
        self.shown = now
        done = max(lines - queued, 0)
        share = min(read_bytes / self.total, 1.0) * (done / lines if lines else 0.0)
        text = self.line(share, done, now - self.started) + f", file {number}/{files}"
        if self.tty:
            self.write(f"\r{text}\x1b[K")
            self.drawn = True
        else:
            self.write(f"import: {text}\n")

    def line(self, share: float, lines: int, elapsed: float) -> str:
        rate = lines / elapsed if elapsed > 0 else 0.0
        eta = elapsed * (1 - share) / share if share > 0 else None
        text = f"{share:4.0%} {lines:,} lines, {rate:,.0f} lines/s, ETA {_duration(eta)}"
        if self.tty:
            full = int(share * self.BAR)
            text = f"[{'#' * full}{'.' * (self.BAR - full)}] {text}"
        return text

    def say(self, text: str) -> None:
        """A line of its own (a skipped file), clearing the bar first."""
        if self.drawn:
            self.write("\r\x1b[K")
            self.drawn = False
        self.write(f"{text}\n")

    def finish(self) -> None:
        if self.drawn:
            self.write("\n")
            self.drawn = False


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# -- running ----------------------------------------------------------------------

CHUNK = 500  # records handed to the queue at once


@dataclass
class Importer:
    """Reads the files in order into the pipeline (see run)."""

    found: Found
    lines: Lines
    pipeline: Pipeline
    stop: asyncio.Event
    progress: Progress
    done_bytes: int = 0  # of the files already finished

    @property
    def stats(self) -> ImportStats:
        return self.lines.stats

    async def run(self) -> None:
        """Every file, then everything queued is stored; a stop (signal) ends
        the reading early, and what was read is still stored."""
        writer = asyncio.create_task(self.pipeline.run())
        writer.add_done_callback(lambda _task: self.stop.set())  # the writer failed
        for error in self.found.unreadable:
            self.bad_file(Path(error.filename), BadFile("unreadable", error.strerror or ""))
        try:
            for number, path in enumerate(self.found.files, 1):
                if self.stop.is_set():
                    self.stats.interrupted = True
                    break
                await self.read_file(path, number)
                self.done_bytes += _size(path)
        finally:
            self.progress.finish()
            if not writer.done():
                await self.pipeline.close()
            await writer

    async def read_file(self, path: Path, number: int) -> None:
        try:
            gzipped = is_gzip(path)
            if gzipped:  # in a thread: zlib lets the writer run meanwhile
                await asyncio.get_running_loop().run_in_executor(None, check_gzip, path)
            elif path.name.endswith(".gz"):
                raise BadFile("corrupt_gzip", "not a gzip file")
            log = open_log(path, gzipped)
        except BadFile as exc:
            self.bad_file(path, exc)
            return
        try:
            first = _peek(log.lines)
            check_format(first, bool(self.lines.channel))
            self.stats.files += 1
            self.stats.gzipped += gzipped
            await self.feed(chain(first, log.lines), log, number)
        except BadFile as exc:
            self.bad_file(path, exc)
        except OSError as exc:  # a read error part-way: what was read is stored
            self.bad_file(path, BadFile("read_error", exc.strerror or str(exc)))
        finally:
            log.close()

    async def feed(self, lines: Iterator[bytes], log: OpenLog, number: int) -> None:
        record_of, put = self.lines.record, self.pipeline.put_many
        records: list[ChatRecord] = []
        count = len(self.found.files)
        read = 0
        for raw in lines:
            if self.stop.is_set():
                self.stats.interrupted = True
                break
            raw = raw.rstrip(b"\r\n")
            if not raw.strip():
                continue
            record = record_of(raw)
            if record is not None:
                records.append(record)
            read += 1
            if read % CHUNK == 0:
                await put(records)
                records = []
                await asyncio.sleep(0)  # let the writer start a batch while we read on
                done = self.done_bytes + log.position()
                queued = self.pipeline.depth()
                self.progress.update(done, self.stats.received, queued, number, count)
        await put(records)

    def bad_file(self, path: Path, exc: BadFile) -> None:
        self.stats.bad_files[exc.reason] += 1
        self.progress.say(f"skipped {path} ({exc.reason}: {exc.detail})")


def _peek(lines: Iterator[bytes]) -> list[bytes]:
    """The first PEEK_LINES non-empty lines (consumed from `lines`, blank ones dropped)."""
    first = []
    for raw in lines:
        if raw.strip():
            first.append(raw)
            if len(first) == PEEK_LINES:
                break
    return first


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def total_size(paths: list[Path]) -> int:
    return sum(map(_size, paths))


def known_rooms() -> dict[str, str]:
    """Room id -> channel login of every channel the archive knows by its room id."""
    from messages_app.models import Channel

    return dict(Channel.objects.exclude(twitch_id=None).values_list("twitch_id", "name"))
