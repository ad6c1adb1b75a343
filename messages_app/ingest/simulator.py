"""A Twitch-protocol IRC server on loopback that chats by itself.

It speaks enough of Twitch's dialect for the real client: CAP, PASS/NICK login
(anonymous justinfanNNNN or a token), the welcome numerics, JOIN/PART with
their echoes, PING/PONG, RECONNECT, and PRIVMSG lines with Twitch's tags. Chat
comes from messages_app.chatgen (realistic names, emotes, /me, unicode) at a
given rate, with bursts if asked. Used by `ingest --demo`, by the tests (which
also script it line by line) and by the benchmarks:

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
        "room-id": str(abs(hash(channel)) % 10**9),
        "subscriber": "0",
        "tmi-sent-ts": str(int(sent_at.timestamp() * 1000)),
        "turbo": "0",
        "user-id": str(abs(hash(login)) % 10**9),
        "user-type": "",
    }
    all_tags.update(tags or {})
    raw_tags = ";".join(f"{key}={escape_tag_value(value)}" for key, value in all_tags.items())
    if action:
        text = f"\x01ACTION {text}\x01"
    return f"@{raw_tags} :{login}!{login}@{login}.{HOST} PRIVMSG #{channel} :{text}"


class ChatLines:
    """Fast realistic PRIVMSG lines: a pool rendered once, fresh id and time per line."""

    def __init__(self, seed: int = 1, users: int = 2000) -> None:
        from messages_app.chatgen import COLORS, ChatGenerator

        generator = ChatGenerator(channels=1, users=users, seed=seed)
        rng = generator.rng
        self.rng = rng
        self._pool: list[tuple[str, str, str, str]] = []
        weights = generator.user_weights
        for login in rng.choices(generator.users, weights, k=POOL_SIZE):
            record = generator.record("x", login, datetime.now(UTC))
            badges = rng.choice(["", "", "subscriber/12", "vip/1", "moderator/1,subscriber/3"])
            head = (
                f"@badge-info=;badges={badges};color={rng.choice(COLORS)};"
                f"display-name={escape_tag_value(record.display_name)};emotes=;first-msg=0;"
                f"flags=;id="
            )
            text = f"\x01ACTION {record.text}\x01" if record.is_action else record.text
            mod, sub = int("moderator" in badges), int("subscriber" in badges)
            mid = f";mod={mod};room-id=1;subscriber={sub};tmi-sent-ts="
            tail = f";turbo=0;user-id=1;user-type= :{login}!{login}@{login}.{HOST} PRIVMSG #"
            self._pool.append((head, mid, tail, f" :{text}"))
        # ids look like Twitch's UUIDs and never repeat: the seed fixes the chat,
        # not the ids, or a second demo run would only produce duplicates.
        self._id_prefix = uuid.uuid4().hex[:20]
        self._counter = 0

    def lines(self, channels: list[str], count: int, now_ms: int) -> list[str]:
        pool, rng = self._pool, self.rng
        prefix = self._id_prefix
        ts = str(now_ms)
        out = []
        for _ in range(count):
            self._counter += 1
            head, mid, tail, text = pool[rng.randrange(POOL_SIZE)]
            hexid = f"{prefix}{self._counter:012x}"
            twitch_id = f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}"
            channel = channels[rng.randrange(len(channels))] if len(channels) > 1 else channels[0]
            out.append(f"{head}{twitch_id}{mid}{ts}{tail}{channel}{text}")
        return out


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
    a connection's chat after that many lines; `bursts` adds chat spikes."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        rate: float = 0,
        channels: Iterable[str] = (),
        limit: int | None = None,
        bursts: bool = False,
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
        lines = ChatLines(seed=self.seed + len(self.connections))
        rng = random.Random(self.seed)
        tick = min(0.1, max(0.005, 1 / self.rate))
        loop = asyncio.get_running_loop()
        start = loop.time()
        due = 0.0
        burst_until, next_burst = 0.0, start + rng.uniform(5, 15)
        while not conn.closed:
            channels = sorted(conn.joined | set(self.channels))
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
                conn.write(lines.lines(channels, count, int(time.time() * 1000)))
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
        )
        await server.start()
        print(f"simulator on {server.url}, {args.rate:g} lines/s", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
