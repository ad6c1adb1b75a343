"""A recent-messages service on 127.0.0.1 for tests (the API of robotty/recent-messages2).

Like the real service it "stays in the channels": a test records every line
that Twitch sent (`record(*lines)`, also while ingest is stopped) and the
server answers

    GET /api/v2/recent-messages/<login>?limit=800&after=<ms>&before=<ms>
    {"messages": ["@historical=1;rm-received-ts=<ms>;... PRIVMSG #...", ...],
     "error": null, "error_code": null}

with the newest `limit` lines received after `after` and before `before`,
oldest first. A channel it does not know answers 200 with no messages and
`error_code` "channel_not_joined", after which it knows it (the real service
joins a channel when asked for it). Faults for tests: `delay` (seconds before
answering; close() ends the wait), `status` and `body` (answer exactly that),
`send_length=False` (no Content-Length: the body ends when the connection
closes), `stamp=False` (lines without historical/rm-received-ts).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from messages_app.ingest.parser import parse_line

__all__ = ["RecentMessagesServer", "Request"]

PREFIX = "/api/v2/recent-messages/"
NOT_JOINED = "The bot is currently not joined to this channel (in progress or failed previously)"


@dataclass
class Request:
    channel: str
    params: dict[str, str]
    at: float  # time.monotonic() when it arrived
    served: list[str] | None = None  # the lines answered, when it was answered


class RecentMessagesServer:
    def __init__(
        self,
        *,
        known: set[str] | frozenset[str] = frozenset(),
        delay: float = 0.0,
        status: int = 200,
        body: bytes | None = None,
        send_length: bool = True,
        stamp: bool = True,
    ) -> None:
        self.known = set(known)
        self.delay = delay
        self.status = status
        self.body = body
        self.send_length = send_length
        self.stamp = stamp
        self.lines: dict[str, list[tuple[int, str]]] = {}  # channel -> (received ms, line)
        self.received_ts: dict[str, int] = {}  # Twitch id -> rm-received-ts
        self.requests: list[Request] = []
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()  # per channel, ever
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        """The API base, as INGEST_BACKFILL_URL takes it."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v2"

    def record(self, *lines: str, received_ms: int | None = None) -> None:
        """Lines the service received from Twitch (now, unless `received_ms`)."""
        with self._lock:
            for line in lines:
                message = parse_line(line)
                channel = message.params[0].lstrip("#")
                at = received_ms if received_ms is not None else int(time.time() * 1000)
                self.known.add(channel)
                self.lines.setdefault(channel, []).append((at, line))
                if "id" in message.tags:
                    self.received_ts[message.tags["id"]] = at

    def answered(self, channel: str | None = None) -> list[Request]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.served is not None and (channel is None or r.channel == channel)
            ]

    def asked(self, channel: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if channel is None or r.channel == channel]

    def close(self) -> None:
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def _answer(self, channel: str, params: dict[str, str]) -> tuple[int, dict]:
        try:
            limit = int(params.get("limit", 800))
            after = int(params["after"]) if "after" in params else None
            before = int(params["before"]) if "before" in params else None
        except ValueError:
            return 400, {"status": 400, "error": "bad query", "error_code": "invalid_query"}
        with self._lock:
            if channel not in self.known:
                self.known.add(channel)
                return 200, {
                    "messages": [],
                    "error": NOT_JOINED,
                    "error_code": "channel_not_joined",
                }
            chosen = [
                (at, line)
                for at, line in self.lines.get(channel, [])
                if (after is None or at > after) and (before is None or at < before)
            ]
        chosen = chosen[-limit:] if limit > 0 else []
        return 200, {"messages": [self._stamped(at, line) for at, line in chosen], "error": None,
                     "error_code": None}  # fmt: skip

    def _stamped(self, at: int, line: str) -> str:
        if not self.stamp:
            return line
        extra = f"historical=1;rm-received-ts={at}"
        return f"@{extra};{line[1:]}" if line.startswith("@") else f"@{extra} {line}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if not parts.path.startswith(PREFIX):
                    self._send(404, b'{"error": "not found"}')
                    return
                channel = parts.path[len(PREFIX) :]
                params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                request = Request(channel, params, time.monotonic())
                with server._lock:
                    server.requests.append(request)
                    server.in_flight[channel] += 1
                    server.most_in_flight[channel] = max(
                        server.most_in_flight[channel], server.in_flight[channel]
                    )
                try:
                    if server.delay and server._closing.wait(server.delay):
                        return  # closing: hang up without an answer
                    if server.body is not None:
                        self._send(server.status, server.body)
                        request.served = []
                        return
                    status, answer = server._answer(channel, params)
                    self._send(status, json.dumps(answer).encode())
                    request.served = answer.get("messages", [])
                finally:
                    with server._lock:
                        server.in_flight[channel] -= 1

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if server.send_length:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
