import pytest
from django.db import OperationalError, connection

from goknut import health


def test_it_says_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_it_says_ready_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    # "degraded" until an ingest reports in (tests/ingest/test_heartbeat.py).
    assert response.json()["status"] in ("ok", "degraded")


@pytest.mark.django_db
def test_it_serves_prometheus_metrics(client):
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_view_transport_method_total" in response.content


def test_it_refuses_to_change_anything(client):
    assert client.post("/healthz").status_code == 405


def test_it_asks_proxies_not_to_cache_probes(client):
    assert "no-cache" in client.get("/healthz")["Cache-Control"]


@pytest.mark.django_db
def test_it_names_the_database_it_reached(client):
    assert client.get("/readyz").json()["database"] == connection.vendor


@pytest.mark.django_db
def test_it_says_unavailable_when_the_database_does_not_answer(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(health.connection, "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "error": "connection refused"}
