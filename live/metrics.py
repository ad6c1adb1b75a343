"""Prometheus metrics of the live stream (exported by django-prometheus at /metrics).

Counted per tick and per connection, never per delivered event, so that the
counters cost nothing measurable at 1,000 clients x 1,000 messages/s.
"""

from prometheus_client import Counter, Gauge, Histogram

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
