"""An asyncio client for Twitch chat (IRC over TCP or TLS), standard library only.
(A connection's whole life is one class here, login to drain, so the protocol
reads in one place; that makes the file long.)

One connection at a time. The client logs in (anonymously as justinfanNNNN, or
with a user name and OAuth token), asks for tags and commands, joins the
channels it is told to within Twitch's join rate limit, answers PING, follows
RECONNECT, notices a silent connection, and reconnects with exponential
backoff and jitter. Every chat event (PRIVMSG, USERNOTICE, CLEARMSG, CLEARCHAT)
becomes a ChatRecord handed to `on_records`
(a chunk at a time), which may wait (a full queue): the client then stops reading, and TCP carries
the backpressure to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from messages_app.ingest import metrics
from messages_app.ingest.parser import (
    KNOWN_COMMANDS,
    MAX_LINE_BYTES,
    RECORD_COMMANDS,
    UTF8_REPLACED,
    SkipLine,
    decode_line_checked,
    parse_line,
    to_record,
)
from messages_app.ingest.pipeline import IngestStats
from messages_app.writes import ChatRecord

log = logging.getLogger(__name__)

TWITCH_URL = "ircs://irc.chat.twitch.tv:6697"
READ_CHUNK = 256 * 1024
CONNECT_TIMEOUT_S = 15.0
# Twitch: 20 JOINs per 10 seconds for a normal account; every channel of a
# multi-channel JOIN line counts.
JOIN_LIMIT = 20
JOIN_WINDOW_S = 10.0
CHANNELS_PER_JOIN = 10  # keeps a JOIN line well under IRC's 512 bytes
# Twitch pings about every 5 minutes, so a healthy quiet connection can be
# silent that long; after SILENCE_S we ping ourselves and wait PONG_TIMEOUT_S.
SILENCE_S = 60.0
PONG_TIMEOUT_S = 10.0
RECONNECT_BASE_S = 1.0
RECONNECT_MAX_S = 60.0
STABLE_AFTER_S = 60.0  # a connection that lived this long resets the backoff
# On stop, how long to read on while waiting for the PONG that follows every
# line the server sent before it (see _drain): this long without a byte from
# the server, and at most DRAIN_MAX_S in all.
DRAIN_TIMEOUT_S = 5.0
DRAIN_MAX_S = 60.0
# Without that answer: what asyncio already holds is taken until reads go quiet.
TAKE_QUIET_S, TAKE_MAX_S = 0.05, 1.0
# Twitch's answers to a bad PASS, sent as NOTICE * before closing.
AUTH_FAILURES = ("Login authentication failed", "Improperly formatted auth", "Login unsuccessful")


class LoginFailed(Exception):
    """Twitch refused the credentials: retrying cannot help."""


class ConnectionLost(Exception):
    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


def parse_irc_url(url: str) -> tuple[str, int, bool]:
    """irc://host:port (plain TCP) or ircs://host:port (TLS) -> (host, port, tls)."""
    parts = urlsplit(url)
    if parts.scheme not in ("irc", "ircs") or not parts.hostname:
        raise ValueError(f"not an irc:// or ircs:// URL: {url!r}")
    tls = parts.scheme == "ircs"
    try:
        port = parts.port or (6697 if tls else 6667)
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    return parts.hostname, port, tls


class TwitchClient:
    def __init__(
        self,
        url: str,
        on_records: Callable[[list[ChatRecord]], Awaitable[None]],
        stats: IngestStats,
        *,
        username: str = "",
        token: str = "",
        reconnect_base: float = RECONNECT_BASE_S,
        reconnect_max: float = RECONNECT_MAX_S,
        stable_after: float = STABLE_AFTER_S,
        silence: float = SILENCE_S,
        pong_timeout: float = PONG_TIMEOUT_S,
        join_limit: int = JOIN_LIMIT,
        join_window: float = JOIN_WINDOW_S,
        tls_context: ssl.SSLContext | None = None,
        drain_timeout: float = DRAIN_TIMEOUT_S,
        on_joined: Callable[[str], None] | None = None,
    ) -> None:
        self.host, self.port, self.tls = parse_irc_url(url)
        self.tls_context = tls_context  # None: the system's CAs, hostname checked
        self.on_records = on_records
        self.stats = stats
        self.username = username.lower() if token else ""
        self.token = token
        self.reconnect_base = reconnect_base
        self.reconnect_max = reconnect_max
        self.stable_after = stable_after
        self.silence = silence
        self.pong_timeout = pong_timeout
        self.join_limit = join_limit
        self.join_window = join_window
        self.drain_timeout = drain_timeout
        # Called with a channel's name when the server confirms our JOIN (its echo),
        # on every connection: from then on its chat reaches us (backfill.py). It
        # must not block: the reader is waiting.
        self.on_joined = on_joined
        self.nick = ""  # of the current connection
        self._drain_token = ""  # the payload of the PING sent on stop (see _drain)
        self._drained = False
        self.channels: set[str] = set()  # wanted
        # Every channel the database has asked for in this run (channel_sync.py):
        # the pipeline stores their chat only while they are still to be joined.
        self.followed: frozenset[str] = frozenset()
        self.joined: set[str] = set()  # JOIN sent on the current connection
        self.logged_in = False
        self.connections = 0
        # For the heartbeat (heartbeat.py): when a line last arrived (time.time()),
        # and what went wrong last (no chat text, no token).
        self.last_line_at: float | None = None
        self.last_error = ""
        self._changed = asyncio.Event()
        self._join_times: deque[float] = deque()  # per account, so it outlives connections

    def set_channels(self, names: Iterable[str]) -> None:
        """The channels to be in; the client JOINs and PARTs to match."""
        names = set(names)
        if names != self.channels:
            self.channels = names
            self._changed.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected until `stop` is set. Raises LoginFailed on bad credentials."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while not stop.is_set():
            started = loop.time()
            try:
                await self._session(stop)
                cause = "stopped"
            except ConnectionLost as exc:
                cause = exc.cause
                self.last_error = f"IRC connection lost ({cause})"
            except (TimeoutError, OSError, EOFError, ssl.SSLError) as exc:
                cause = type(exc).__name__
                log.warning("IRC connection to %s:%d failed: %s", self.host, self.port, exc)
                self.last_error = f"IRC connection to {self.host}:{self.port} failed: {exc}"
            except LoginFailed as exc:
                self.last_error = str(exc)
                raise
            if stop.is_set():
                break
            if loop.time() - started >= self.stable_after:
                attempt = 0
            if cause == "reconnect":
                delay = 0.0  # Twitch asked us to move now; its server is going away
            else:
                # Full jitter keeps many clients from reconnecting in step.
                ceiling = min(self.reconnect_max, self.reconnect_base * 2**attempt)
                delay = random.uniform(ceiling / 2, ceiling)
                attempt += 1
            metrics.RECONNECTS.labels(cause).inc()
            log.warning("IRC connection lost (%s); reconnecting in %.2fs", cause, delay)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event) -> None:
        connecting = asyncio.ensure_future(
            asyncio.wait_for(
                asyncio.open_connection(
                    self.host,
                    self.port,
                    ssl=(self.tls_context or ssl.create_default_context()) if self.tls else None,
                    limit=MAX_LINE_BYTES * 2,
                ),
                CONNECT_TIMEOUT_S,
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        # A stop while connecting (DNS, TLS handshake) must not wait for the timeout.
        await asyncio.wait((connecting, stopping), return_when="FIRST_COMPLETED")
        stopping.cancel()
        if not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError, TimeoutError):
                await connecting
            return
        reader, writer = connecting.result()
        self.connections += 1
        self.logged_in = False
        self.joined = set()
        nick = self.nick = self.username or f"justinfan{random.randint(10_000, 99_999)}"
        login = "CAP REQ :twitch.tv/tags twitch.tv/commands\r\n"
        if self.token:
            token = self.token if self.token.startswith("oauth:") else f"oauth:{self.token}"
            login += f"PASS {token}\r\n"
        writer.write(f"{login}NICK {nick}\r\n".encode())
        membership = asyncio.create_task(self._follow_channels(writer))
        try:
            await self._read(reader, writer, stop)
        finally:
            membership.cancel()
            self.logged_in = False
            metrics.CONNECTED.set(0)
            metrics.JOINED_CHANNELS.set(0)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event
    ) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        pinged = False
        lines = LineBuffer(self.stats)
        read = None
        try:
            while not stop.is_set():
                if read is None:
                    read = asyncio.ensure_future(reader.read(READ_CHUNK))
                timeout = self.pong_timeout if pinged else self.silence
                await asyncio.wait((read, stopping), timeout=timeout, return_when="FIRST_COMPLETED")
                if not read.done():
                    if stop.is_set():
                        break
                    if pinged:
                        raise ConnectionLost("silent")
                    writer.write(b"PING :tmi.twitch.tv\r\n")
                    pinged = True
                    continue
                data = read.result()
                read = None
                if not data:
                    lines.close("cut_off")
                    raise ConnectionLost("closed")
                pinged = False
                if await self._handle_lines(lines.split(data), writer):
                    # Twitch is about to close this connection; what it sends
                    # until then is chat like any other.
                    await self._drain(reader, writer, lines, None)
                    raise ConnectionLost("reconnect")
            pending, read = read, None
            await self._drain(reader, writer, lines, pending)
        finally:
            stopping.cancel()
            await _cancel(read)

    async def _drain(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        lines: LineBuffer,
        read: asyncio.Future | None,
    ) -> None:
        """Stopping (or told to reconnect): handle every line that reached us,
        then stop reading.

        Chat keeps arriving until the server hears of the stop, and whatever is
        already in the socket or in asyncio's buffer was received. So ask for a
        PONG and read on until it comes: the server sends it after every line it
        had sent before. If the server sends nothing for drain_timeout (a dead
        or slow server), or DRAIN_MAX_S have passed, stop there and take what
        asyncio already holds. The wait restarts with every read: storing what
        was read can take long (a slow database holds the reader back), and
        the lines still in the socket were received all the same.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_timeout
        last = loop.time() + DRAIN_MAX_S
        self._drain_token, self._drained = f"drain-{random.getrandbits(32):08x}", False
        if not writer.is_closing():
            writer.write(f"PING :{self._drain_token}\r\n".encode())
        try:
            while not self._drained and (left := min(deadline, last) - loop.time()) > 0:
                read = read or asyncio.ensure_future(reader.read(READ_CHUNK))
                await asyncio.wait((read,), timeout=left)
                if not read.done():
                    break
                data, read = read.result(), None
                if not data:
                    break
                await self._handle_lines(lines.split(data), writer)
                deadline = loop.time() + self.drain_timeout
        finally:
            await _cancel(read)  # loses nothing: unread bytes stay in asyncio's buffer
        if not self._drained:
            log.warning("stopping: no answer to the drain PING (%.1fs without a line, or %.0fs)",
                        self.drain_timeout, DRAIN_MAX_S)  # fmt: skip
            await self._take_buffered(reader, writer, lines)
        if self._drained:
            # What follows the answer in its read was sent after the stop: its
            # complete lines were stored above, a partial last one is not ours.
            lines.rest, lines.discarding = b"", False
        else:
            lines.close("cut_off")

    async def _take_buffered(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lines: LineBuffer
    ) -> None:
        """Handle what asyncio has already read from the socket: the connection
        is about to close and those lines were received. A read of buffered
        bytes returns at once, so read until one waits TAKE_QUIET_S for more
        (or TAKE_MAX_S have passed, for a server that never stops sending).

        Not pause_reading() and feed_eof(): the StreamReader resumes the
        transport itself when its buffer drains, and data arriving after
        feed_eof() is an error."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TAKE_MAX_S
        while loop.time() < deadline:
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), TAKE_QUIET_S)
            except TimeoutError:
                return
            if not data:
                return
            await self._handle_lines(lines.split(data), writer)

    async def _handle_lines(self, lines: list[bytes], writer: asyncio.StreamWriter) -> bool:
        """Handle a chunk of lines; True if the server asked us to reconnect."""
        now = datetime.now(UTC)
        self.last_line_at = now.timestamp()
        reconnect = False
        stats = self.stats
        received_before = stats.received
        records: list[ChatRecord] = []  # handed over per chunk, not per line
        for raw in lines:
            if not raw or raw == b"\r":
                continue
            stats.received += 1
            try:
                line, replaced = decode_line_checked(raw.removesuffix(b"\r"))
                if replaced:  # kept: invalid UTF-8 only in its tags
                    UTF8_REPLACED.inc()
                message = parse_line(line)
                command = message.command
                # Chat, notices, deletions, timeouts and bans: all stored.
                if command in RECORD_COMMANDS:
                    records.append(to_record(message, now))
                    continue
            except SkipLine as exc:
                stats.skip(exc.reason, exc.detail, raw)
                continue
            except Exception as exc:  # a parser bug must cost one line, not the archive
                stats.skip("parse_error", repr(exc), raw)
                continue
            if records:
                # Keep order: chat before a PING is queued before it is answered.
                await self.on_records(records)
                records = []
            if command == "PONG" and message.params[-1:] == [self._drain_token]:
                self._drained = True  # the rest of this chunk was received too
            elif command == "PING":
                # PONG must echo the PING's parameter; Twitch closes after ~10 s without.
                payload = message.params[-1] if message.params else "tmi.twitch.tv"
                writer.write(f"PONG :{payload}\r\n".encode())
            elif command == "RECONNECT":
                reconnect = True  # after the rest of this chunk: it was received too
            elif command == "001":
                self.logged_in = True
                metrics.CONNECTED.set(1)
                log.info("logged in to %s:%d", self.host, self.port)
                self._changed.set()
            elif command == "JOIN" and self.on_joined is not None and message.params:
                if message.nick.lower() == self.nick:  # ours, not another user's
                    for name in message.params[0].lower().split(","):
                        if name.lstrip("#") in self.joined:
                            self.on_joined(name.lstrip("#"))
            elif command == "NOTICE" and not self.logged_in and message.params[:1] == ["*"]:
                text = message.params[-1]
                if any(failure in text for failure in AUTH_FAILURES):
                    raise LoginFailed(f"Twitch refused the login: {text}")
            elif command not in KNOWN_COMMANDS:
                stats.skip("unknown_command", command, raw)
                continue
            stats.not_chat += 1
        if records:
            await self.on_records(records)
        metrics.RECEIVED.inc(stats.received - received_before)
        return reconnect

    async def _follow_channels(self, writer: asyncio.StreamWriter) -> None:
        """JOIN and PART until the connection's channels match `self.channels`."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            if not self.logged_in:
                continue
            leaving = sorted(self.joined - self.channels)
            for chunk in _chunks(leaving, CHANNELS_PER_JOIN):
                writer.write(f"PART {','.join('#' + name for name in chunk)}\r\n".encode())
                self.joined.difference_update(chunk)
            per_line = min(CHANNELS_PER_JOIN, self.join_limit)
            for chunk in _chunks(sorted(self.channels - self.joined), per_line):
                await self._join_slots(len(chunk))
                # Channels may have been disabled while we waited for the limit.
                chunk = [n for n in chunk if n in self.channels and n not in self.joined]
                if chunk:
                    writer.write(f"JOIN {','.join('#' + name for name in chunk)}\r\n".encode())
                    self.joined.update(chunk)
            metrics.JOINED_CHANNELS.set(len(self.joined))
            if leaving or self.joined:
                log.info("in %d channels", len(self.joined))

    async def _join_slots(self, count: int) -> None:
        """Wait until `count` more JOINs fit in the sliding rate-limit window."""
        loop = asyncio.get_running_loop()
        times = self._join_times
        while True:
            now = loop.time()
            while times and now - times[0] >= self.join_window:
                times.popleft()
            if len(times) + count <= self.join_limit:
                times.extend([now] * count)
                return
            await asyncio.sleep(
                times[len(times) + count - self.join_limit - 1] + self.join_window - now
            )


class LineBuffer:
    """Splits the byte stream into lines, keeping a partial last line for the
    next chunk; a line longer than MAX_LINE_BYTES is skipped up to its newline."""

    def __init__(self, stats: IngestStats) -> None:
        self.stats = stats
        self.rest = b""
        self.discarding = False  # inside an oversized line, until its newline

    def split(self, data: bytes) -> list[bytes]:
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()
        if self.discarding and lines:
            lines[0] = b""  # the tail of the oversized line
            self.discarding = False
        if len(self.rest) > MAX_LINE_BYTES:
            if not self.discarding:
                self.stats.received += 1
                self.stats.skip("oversized", f"over {MAX_LINE_BYTES} bytes", self.rest)
            self.rest, self.discarding = b"", True
        return lines

    def close(self, reason: str) -> None:
        """The stream ends: a partial line left over was received but cannot be
        parsed (the connection closed in the middle of it)."""
        if self.rest.strip() and not self.discarding:
            self.stats.received += 1
            self.stats.drop(reason)
            log.warning("a line was cut off by the end of the stream (%d bytes)", len(self.rest))
        self.rest, self.discarding = b"", False


async def _cancel(read: asyncio.Future | None) -> None:
    if read is not None and not read.done():
        read.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
