"""Prometheus metrics of the web process that belong to no app."""

from prometheus_client import Counter

DATABASE_UNAVAILABLE = Counter(
    "goknut_database_unavailable_responses",
    "Requests answered 503 because the database could not be reached",
)
