"""Prometheus metrics of the ingest process (served by `ingest --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

MESSAGES_STORED = Counter("goknut_ingest_messages_stored", "Chat messages stored.")
DUPLICATES = Counter(
    "goknut_ingest_duplicates", "Chat messages whose Twitch id was already stored."
)
SKIPPED = Counter("goknut_ingest_skipped_lines", "Lines or records skipped, by reason.", ["reason"])
RECEIVED = Counter(
    "goknut_ingest_lines_received", "Lines read from IRC, a replayed file or a backfill source."
)
DROPPED = Counter(
    "goknut_ingest_dropped_lines",
    "Chat lines received but never stored (database down at shutdown, rejected by the "
    "write path, cut off by a closed connection), by reason.",
    ["reason"],
)
ERASED = Counter(
    "goknut_ingest_erased_messages",
    "Stored lines of opted-out users and channels erased (their new lines count in "
    'goknut_ingest_dropped_lines{reason="opted_out"}).',
)
PRUNED = Counter(
    "goknut_ingest_pruned_messages",
    "Stored lines removed because they were older than their channel's retention "
    "(RETENTION_DAYS, Channel.retention_days).",
)
BATCH_SIZE = Histogram(
    "goknut_ingest_batch_size",
    "Records per write-path batch.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000),
)
FLUSH_SECONDS = Histogram(
    "goknut_ingest_flush_seconds",
    "Time to store one batch (one transaction), retries included.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_RETRIES = Counter("goknut_ingest_db_retries", "Batches retried after a database error.")
QUEUE_DEPTH = Gauge("goknut_ingest_queue_depth", "Records received and not yet stored.")
CONNECTED = Gauge("goknut_ingest_irc_connected", "1 while logged in to the IRC server.")
RECONNECTS = Counter(
    "goknut_ingest_irc_reconnects", "IRC connections replaced, by cause.", ["cause"]
)
JOINED_CHANNELS = Gauge("goknut_ingest_joined_channels", "Channels joined on the connection.")
BACKFILL_LINES = Counter(
    "goknut_ingest_backfill_lines",
    "Lines fetched from the backfill source (INGEST_BACKFILL_URL) after a (re)join; "
    "also counted in lines_received.",
)
BACKFILL_ERRORS = Counter(
    "goknut_ingest_backfill_errors",
    "Backfill fetches that failed or that the source answered with an error, by reason.",
    ["reason"],
)


def serve(port: int) -> None:
    """Expose the metrics as Prometheus text on 127.0.0.1:port (a daemon thread)."""
    start_http_server(port, addr="127.0.0.1")
