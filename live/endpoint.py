"""GET /live: the Server-Sent Events endpoint, a plain ASGI app.

It sits in front of Django's handler (live/routing.py): a streaming Django
view keeps one OS thread and its middleware stack per open response, which
caps a process at a few thousand clients; this app costs a coroutine, a small
queue and one task per connection. No session, auth or database work happens
per connection beyond one cheap lookup in a thread at connect.

The contract is in docs/live-updates.md and docs/architecture.md (`GET /live`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from django.db import DatabaseError
from django.http.request import split_domain_port, validate_host

from live import events, metrics, sockets
from live.broadcast import Subscriber
from live.relay import DatabaseUnavailable, Relay

log = logging.getLogger("live")

NAME_RE = re.compile(r"^[a-z0-9_]{1,64}$")
CLIENT_BUFFER_BYTES = 1_000_000  # queued + socket-buffered bytes before a cut-off
RETRY_AFTER_SECONDS = 5
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # nginx and friends: do not buffer (or gzip) the stream.
    (b"x-accel-buffering", b"no"),
]


class BadRequest(Exception):
    pass


async def live_app(scope: dict[str, Any], receive, send) -> None:
    if scope["method"] != "GET":
        await _json(send, 405, {"error": "only GET is allowed on /live"})
        return
    if not settings.ENABLE_SSE:
        await _json(send, 503, {"error": "live updates are disabled; pages poll"})
        return
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        await _json(send, 400, {"error": "host not allowed"})
        return
    try:
        spec, cursor = parse_request(scope["query_string"], headers)
    except BadRequest as exc:
        await _json(send, 400, {"error": str(exc)})
        return
    relay = Relay.get()
    if relay.connections >= settings.SSE_MAX_CONNECTIONS:
        await _unavailable(send, "too many live connections, retry later")
        return
    # Counted before the first await, so a burst of connects cannot overshoot.
    relay.connections += 1
    try:
        await _serve(relay, scope, receive, send, spec, cursor)
    finally:
        relay.connections -= 1


def parse_request(
    query_string: bytes, headers: dict[bytes, bytes]
) -> tuple[events.Spec, int | None]:
    """(what to follow, resume cursor or None); BadRequest if invalid."""
    try:
        # Blank values kept for the "given more than once" rule, then dropped.
        params = parse_qs(query_string.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise BadRequest("query string is not UTF-8") from None
    single = {}
    for key, values in params.items():
        if len(values) > 1:
            raise BadRequest(f"{key} given more than once")
        if values[0]:
            single[key] = values[0]
    view = single.get("view", "")
    if view not in events.VIEWS:
        raise BadRequest(f"view must be one of {', '.join(events.VIEWS)}")
    names = {}
    for kind in ("channel", "user"):
        if kind not in single:
            continue
        if view not in events.VIEWS_WITH_MESSAGES:
            raise BadRequest(f"view={view} takes no {kind}")
        names[kind] = single[kind].strip().lower().lstrip("#")
        if not NAME_RE.match(names[kind]):
            raise BadRequest(f"{kind} must be a Twitch login name")
    required = {"user_profile": "user", "channel": "channel"}.get(view)
    if required and required not in names:
        raise BadRequest(f"view={view} needs {required}=NAME")
    cursor = None
    raw = (
        single.get("after_id")
        or single.get("lastEventId")
        or headers.get(b"last-event-id", b"").decode("latin-1")
    )
    if raw:
        cursor = events.parse_cursor(raw)
        if cursor is None:
            raise BadRequest("after_id / Last-Event-ID must be a message id")
    return events.Spec(view, names.get("channel", ""), names.get("user", "")), cursor


async def _serve(relay: Relay, scope, receive, send, spec: events.Spec, cursor: int | None) -> None:
    if relay.db_error:  # an outage: answer at once, the page retries or polls
        await _unavailable(send)
        return
    await relay.ready()
    view, topic = spec.view, spec.topic
    try:
        ids = await relay.lookup(spec)
    except Exception as exc:
        if not isinstance(exc, DatabaseError):
            log.exception("live lookup failed")
        await _unavailable(send)
        return
    unknown = [kind for kind, id_ in ids.items() if id_ is None]
    if unknown:
        metrics.REJECTED.labels("404").inc()
        kind = unknown[0]
        await _json(send, 404, {"error": f"unknown {kind}: {getattr(spec, kind)}"})
        return
    # One relay read that starts after this moment (shared with every connection
    # arriving meanwhile): its cursor is "now". A client cursor beyond it (a
    # reset database) means "now" too.
    try:
        synced = await relay.sync()
    except DatabaseUnavailable:
        await _unavailable(send)
        return
    after = synced if cursor is None else min(cursor, synced)
    limit = int(getattr(settings, "SSE_CLIENT_BUFFER_BYTES", CLIENT_BUFFER_BYTES))
    sub = Subscriber(spec, limit)
    upto = relay.subscribe(sub)  # live events from here on queue up behind the replay
    metrics.CONNECTIONS.labels(view).inc()
    metrics.ACTIVE.labels(view).inc()
    if cursor is not None:
        metrics.RECONNECTS.labels(view).inc()
    client = _client(scope)
    log.info(
        "sse connect client=%d peer=%s view=%s topic=%s cursor=%s upto=%d",
        sub.id, client, view, topic, cursor, upto,
    )  # fmt: skip
    watcher = asyncio.ensure_future(_watch_disconnect(receive, sub))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        # keepalive_ms: a client may call the stream dead after two silent periods.
        hello = b"retry: 1000\n\n" + events.encode(
            topic,
            {"type": "status", "cursor": after, "state": "connected",
             "keepalive_ms": int(relay.keepalive * 1000), **relay.ingest_fields()},
        )  # fmt: skip
        await send({"type": "http.response.body", "body": hello, "more_body": True})
        # Replay from the database, then totals, then the live queue: the replay
        # ends at `upto`, where the live events begin, so nothing is missed or repeated.
        catch_up = await relay.catch_up(spec, ids, after, upto, resumed=cursor is not None)
        if catch_up and not sub.closed:
            await send({"type": "http.response.body", "body": catch_up, "more_body": True})
        await _pump(sub, send)
    finally:
        relay.broadcaster.remove(sub)
        watcher.cancel()
        metrics.ACTIVE.labels(view).dec()
        if sub.reason == "backpressure":
            metrics.BACKPRESSURE_DROPS.labels(view).inc()
            log.warning(
                "sse backpressure cut-off client=%d view=%s topic=%s limit=%d",
                sub.id, view, topic, sub.limit,
            )  # fmt: skip
            sockets.abort(send)
        log.info(
            "sse disconnect client=%d view=%s cursor=%s reason=%s seconds=%.1f",
            sub.id, view, cursor, sub.reason or "server_closed",
            time.monotonic() - sub.connected_at,
        )  # fmt: skip


async def _pump(sub: Subscriber, send) -> None:
    """Write queued chunks until the client leaves or is cut off.

    Under daphne, once the queue (live events that arrived during the replay)
    is out, the subscriber writes to its socket itself (live/sockets.py) and
    this task only waits for the end."""
    writer = sockets.SocketWriter.for_send(send)
    while True:
        if writer is not None and not sub.pending:
            sub.writer, writer = writer, None
        await sub.wake.wait()
        sub.wake.clear()
        if sub.closed:
            return
        backlog = sockets.transport_backlog(sockets.twisted_transport(send))
        # daphne's send() never blocks: a client that stops reading piles up in
        # Twisted's buffer, so that is what counts; elsewhere send() blocks and
        # the subscriber's own queue is the bound.
        if backlog is not None and sub.too_far_behind(backlog):
            sub.close("backpressure")
            return
        data = sub.take()
        if data:
            await send({"type": "http.response.body", "body": data, "more_body": True})


async def _watch_disconnect(receive, sub: Subscriber) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            sub.close("client_gone")
            return


def _client(scope: dict[str, Any]) -> str:
    client = scope.get("client") or ("-", 0)
    return f"{client[0]}:{client[1]}"


async def _unavailable(
    send, error: str = "the archive's database is unavailable, retry later"
) -> None:
    """503 with Retry-After: live.js reconnects later or polls meanwhile."""
    metrics.REJECTED.labels("503").inc()
    retry_after = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
    await _json(send, 503, {"error": error}, retry_after)


async def _json(send, status: int, body: dict, extra_headers=None) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
