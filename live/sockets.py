"""Live events straight onto daphne's sockets.

Under daphne, a chunk handed to a connection through ASGI takes this road: the
subscriber's asyncio.Event wakes the connection's task, which calls `send()`,
which goes through daphne and Twisted's `Request.write` into the transport's
buffer, which registers the socket with epoll, whose next turn calls `send(2)`
and unregisters it. That cost about 100 us per subscriber per tick: with 1,000
subscribers one tick's fan-out took 100 ms of the event loop, so ticks spread
out and latency grew past the budget (docs/live-updates.md, "Measurements").

A socket whose Twisted buffer is empty can take the chunk at once, as asyncio's
own transports do: `SocketWriter.write` makes one `send(2)` (or `sendmsg(2)`
with the chunked-encoding frame around the shared bytes) and hands only what
the kernel did not take to Twisted, which then owns the order: while anything
waits in its buffer, later chunks queue behind it through `Request.write`.

Everything here reads Twisted's plain TCP transport; for anything else (TLS,
another ASGI server) `SocketWriter.for_send` returns None and the connection
keeps the ASGI path. It also reads internals no API promises (the names in
REQUEST_ATTRS and TRANSPORT_ATTRS, and the shape of daphne's `send`): the first
stream checks them on the real objects, and if they changed every stream takes
the ASGI path. Either way, the ASGI path is counted in
goknut_sse_fast_path_connections_total{path="asgi",reason=...} and logged once
per reason; pyproject.toml pins daphne and Twisted to the versions checked, and
tests/live/test_sockets.py fails on a version that changed them
(docs/live-updates.md, "Couplings to daphne and Twisted").
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import sys

from live import metrics

try:  # daphne's dependency; absent under another server
    from twisted.internet.tcp import Connection as _TcpConnection
except ImportError:  # pragma: no cover
    _TcpConnection = None

CRLF = b"\r\n"
# What the fast path reads of daphne's Twisted Request and its TCP transport.
# Some are set per instance at run time (`_tempDataLen`, `socket`), so they are
# checked on the first real stream rather than on the classes at import.
REQUEST_ATTRS = ("startedWriting", "chunked", "finished", "channel", "write")
TRANSPORT_ATTRS = (
    "socket", "dataBuffer", "offset", "_tempDataLen", "TLS",
    "connected", "disconnecting", "writeSequence", "abortConnection",
)  # fmt: skip

log = logging.getLogger("live")
_missing: str | None = None  # None until the first stream; then what it lacked ("" none)
_warned: set[str] = set()  # fallback reasons logged so far: once each per process


def _request(send):
    # daphne passes send=functools.partial(server.handle_reply, protocol), and
    # the protocol is the Twisted Request of this response.
    if (
        isinstance(send, functools.partial)
        and len(send.args) == 1
        and getattr(send.func, "__name__", "") == "handle_reply"
    ):
        return send.args[0]
    return None


def twisted_transport(send):
    """The Twisted transport behind an ASGI `send`, or None (another server)."""
    return getattr(getattr(_request(send), "channel", None), "transport", None)


def transport_backlog(transport) -> int | None:
    """Bytes queued in the transport's user-space buffer, None if unknown."""
    try:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    except AttributeError:
        return None


def abort(send) -> None:
    """Drop a connection now: a graceful close would wait for the very client
    that stopped reading."""
    transport = twisted_transport(send)
    with contextlib.suppress(AttributeError):
        transport.abortConnection()


class SocketWriter:
    """Writes a streaming response's body chunks to its TCP socket (see module)."""

    __slots__ = ("chunked", "request", "socket", "transport")

    def __init__(self, request, transport) -> None:
        self.request = request
        self.transport = transport
        self.socket: socket.socket = transport.socket
        self.chunked = bool(request.chunked)

    @classmethod
    def for_send(cls, send) -> SocketWriter | None:
        """A writer for a daphne response whose headers are out, else None (the
        connection keeps the ASGI path). Called once per connection: counts the
        path taken, and logs the first fallback of each reason."""
        request = _request(send)
        transport = getattr(getattr(request, "channel", None), "transport", None)
        reason, detail = _unavailable(request, transport)
        if reason:
            metrics.FAST_PATH.labels("asgi", reason).inc()
            if reason not in _warned:
                _warned.add(reason)
                log.warning(
                    "sse fast path unavailable reason=%s (%s): /live streams take the ASGI "
                    "path, about twice the CPU per subscriber (docs/live-updates.md, "
                    '"Couplings to daphne and Twisted")',
                    reason, detail,
                )  # fmt: skip
            return None
        metrics.FAST_PATH.labels("socket", "").inc()
        return cls(request, transport)

    @property
    def gone(self) -> bool:
        t = self.transport
        return not t.connected or t.disconnecting or self.request.finished

    def backlog(self) -> int:
        t = self.transport
        return len(t.dataBuffer) - t.offset + t._tempDataLen

    def write(self, chunk: bytes) -> int:
        """Send `chunk` now, or queue it behind what waits; returns the bytes
        left waiting in user space afterwards (the backpressure measure).
        Raises ConnectionError when the client is gone."""
        if self.gone:
            raise ConnectionError("client gone")
        metrics.SOCKET_WRITES.value += 1  # a bare add: this runs per subscriber per tick
        backlog = self.backlog()
        if backlog:
            self.request.write(chunk)  # Twisted frames it (chunked) and queues it
            return backlog + len(chunk)
        pieces = [b"%x\r\n" % len(chunk), chunk, CRLF] if self.chunked else [chunk]
        try:
            sent = self.socket.sendmsg(pieces) if len(pieces) > 1 else self.socket.send(chunk)
        except BlockingIOError:
            sent = 0
        except OSError as exc:  # reset, broken pipe: Twisted notices on its next read
            raise ConnectionError(str(exc)) from exc
        left = _unsent(pieces, sent)
        if left:
            # Bytes, not views (Twisted checks); only a partial send copies.
            self.transport.writeSequence(left)
        return sum(len(piece) for piece in left)


def _unavailable(request, transport) -> tuple[str, str]:
    """("", "") when the fast path can serve this stream, else (reason, detail)."""
    global _missing
    if request is None or _TcpConnection is None:
        if _daphne_running():
            return "internals_changed", "daphne's send is not partial(handle_reply, protocol)"
        return "other_server", "the server is not daphne"
    if transport is None:
        return "internals_changed", "daphne's protocol has no channel.transport"
    if not isinstance(transport, _TcpConnection) or getattr(transport, "TLS", False):
        return "not_plain_tcp", f"the transport is a {type(transport).__name__}"  # TLS
    if _missing is None:  # the first stream: do the real objects have it all?
        lacks = [f"Request.{name}" for name in REQUEST_ATTRS if not hasattr(request, name)]
        lacks += [f"transport.{name}" for name in TRANSPORT_ATTRS if not hasattr(transport, name)]
        if not lacks and not isinstance(transport.socket, socket.socket):
            lacks.append("transport.socket as a socket.socket")
        _missing = ", ".join(lacks)
    if _missing:
        return "internals_changed", f"Twisted no longer has {_missing}"
    if not request.startedWriting:
        return "headers_not_sent", "for_send() came before the response headers"
    return "", ""


def _daphne_running() -> bool:
    # daphne runs Twisted's reactor. Not "daphne.server in sys.modules": its
    # Django app imports that wherever "daphne" is in INSTALLED_APPS.
    reactor = sys.modules.get("twisted.internet.reactor")
    return bool(getattr(reactor, "running", False))


def _unsent(pieces: list[bytes], sent: int) -> list[bytes]:
    left = []
    for piece in pieces:
        if sent >= len(piece):
            sent -= len(piece)
            continue
        left.append(piece[sent:] if sent else piece)
        sent = 0
    return left
