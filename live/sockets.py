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
keeps the ASGI path.
"""

from __future__ import annotations

import contextlib
import socket

try:  # daphne's dependency; absent under another server
    from twisted.internet.tcp import Connection as _TcpConnection
except ImportError:  # pragma: no cover
    _TcpConnection = None

CRLF = b"\r\n"


def _request(send):
    # daphne passes send=functools.partial(server.handle_reply, protocol), and
    # the protocol is the Twisted Request of this response.
    args = getattr(send, "args", ())
    return args[0] if args else None


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
        """A writer for a daphne response whose headers are out, else None."""
        request = _request(send)
        transport = twisted_transport(send)
        if (
            _TcpConnection is None
            or not isinstance(transport, _TcpConnection)
            or transport.TLS
            or not getattr(request, "startedWriting", False)
            or transport_backlog(transport) is None
        ):
            return None
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


def _unsent(pieces: list[bytes], sent: int) -> list[bytes]:
    left = []
    for piece in pieces:
        if sent >= len(piece):
            sent -= len(piece)
            continue
        left.append(piece[sent:] if sent else piece)
        sent = 0
    return left
