"""Prometheus metrics of the live stream (exported by django-prometheus at /metrics).

Counted per tick and per connection, never per delivered event, so that the
counters cost nothing measurable at 1,000 clients x 1,000 messages/s.
"""

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import REGISTRY

CONNECTIONS = Counter("goknut_sse_connections", "SSE connections accepted on /live", ["view"])
ACTIVE = Gauge("goknut_sse_connections_active", "Open SSE connections on /live", ["view"])
RECONNECTS = Counter(
    "goknut_sse_reconnects", "SSE connections that resumed from a cursor", ["view"]
)
EVENTS_SENT = Counter(
    "goknut_sse_events_sent", "Events handed to SSE connections (events x subscribers)", ["view"]
)
BACKPRESSURE_DROPS = Counter(
    "goknut_sse_backpressure_drops",
    "SSE connections cut off because they fell too far behind (they resume by cursor)",
    ["view"],
)
REJECTED = Counter("goknut_sse_rejected", "Requests to /live refused, by HTTP status", ["status"])
LAG = Histogram(
    "goknut_sse_lag_seconds",
    "From commit (or from detection, for writes of other processes on the in-memory "
    "layer) to the tick's frames being handed to every subscriber",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TICKS = Counter("goknut_live_relay_ticks", "Relay ticks that published new messages")
RELAY_ERRORS = Counter("goknut_live_relay_errors", "Relay reads that failed (retried)")
WAKEUPS_LOST = Counter(
    "goknut_live_wakeups_lost",
    "Wake-ups this process could not send to Redis (relays poll instead)",
)
LAYER_OUTAGES = Counter("goknut_live_layer_outages", "Times this relay lost its Redis subscription")

# The delivery path of each /live stream (live/sockets.py): path="socket" is
# written straight to daphne's TCP socket; path="asgi" goes through send(), with
# why: not_plain_tcp (TLS), other_server, internals_changed (daphne or Twisted
# no longer have what the fast path reads), headers_not_sent.
FAST_PATH = Counter(
    "goknut_sse_fast_path_connections",
    "SSE connections by delivery path: socket (straight to daphne's TCP socket) or asgi "
    "(send(); reason says why)",
    ["path", "reason"],
)


class _SocketWrites:
    """Chunks written by subscribers straight to their sockets. Bumped with a bare
    `value += 1` on the event loop, since it runs per subscriber per tick (a
    prometheus Counter takes a lock per inc); exported as a counter at scrape."""

    def __init__(self) -> None:
        self.value = 0
        REGISTRY.register(self)

    def collect(self):
        yield CounterMetricFamily(
            "goknut_sse_socket_writes",
            "Chunks written by SSE subscribers straight to daphne's sockets (live/sockets.py)",
            value=self.value,
        )


SOCKET_WRITES = _SocketWrites()
