"""/metrics: METRICS_ALLOWED_NETWORKS and METRICS_TOKEN.

Addresses other than loopback are set as REMOTE_ADDR on Django's test client
(a socket from 203.0.113.5 cannot be opened here); the defaults and the token
are also checked over HTTP against a real daphne.
"""

from __future__ import annotations

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from goknut.env import env_networks, networks
from tests.browser import support
from tests.conftest import database_url

# /metrics can read the database (collectors of the archive's state), like any page.
pytestmark = pytest.mark.django_db

DEFAULT = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
METRIC = b"django_http_requests_total_by_view_transport_method_total"
TOKEN = "s3cret-scrape-token"


@pytest.fixture(autouse=True)
def default_access(settings):
    settings.METRICS_ALLOWED_NETWORKS = networks("METRICS_ALLOWED_NETWORKS", DEFAULT)
    settings.METRICS_TOKEN = ""


def scrape(client, remote: str, **headers):
    return client.get("/metrics", REMOTE_ADDR=remote, headers=headers)


@pytest.mark.parametrize(
    "remote", ["127.0.0.1", "::1", "10.1.2.3", "172.20.0.9", "192.168.1.50", "fd00::5"]
)
def test_it_lets_loopback_and_private_addresses_scrape(client, remote):
    response = scrape(client, remote)
    assert response.status_code == 200
    assert METRIC in response.content


@pytest.mark.parametrize("remote", ["203.0.113.5", "8.8.8.8", "2001:db8::1", "172.32.0.1"])
def test_it_refuses_other_addresses(client, remote):
    response = scrape(client, remote)
    assert response.status_code == 403
    assert METRIC not in response.content
    assert b"METRICS_ALLOWED_NETWORKS" in response.content


def test_it_counts_an_ipv4_mapped_address_as_ipv4(client):
    assert scrape(client, "::ffff:10.0.0.1").status_code == 200
    assert scrape(client, "::ffff:8.8.8.8").status_code == 403


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Forwarded-For": "203.0.113.5"},  # nginx in front: the real client
        {"X-Forwarded-For": "127.0.0.1, 203.0.113.5"},  # a forged first entry
        {"X-Real-IP": "203.0.113.5"},
        {"Forwarded": 'for="[2001:db8::1]:4711";proto=https'},
        {"Forwarded": "for=unknown"},
        {"X-Forwarded-For": "not-an-address"},
    ],
)
def test_it_refuses_a_scrape_that_a_proxy_says_came_from_outside(client, headers):
    assert scrape(client, "127.0.0.1", **headers).status_code == 403


def test_it_lets_a_private_scraper_in_through_a_proxy(client):
    headers = {"X-Forwarded-For": "10.0.0.7", "Forwarded": "for=10.0.0.7:9090"}
    assert scrape(client, "127.0.0.1", **headers).status_code == 200


def test_it_never_lets_a_forged_header_in_from_outside(client):
    # daphne --proxy-headers would make REMOTE_ADDR the first entry; without
    # it the peer stays the real one. Either way, outside is outside.
    assert scrape(client, "203.0.113.5", **{"X-Forwarded-For": "127.0.0.1"}).status_code == 403


def test_it_lets_a_bearer_token_in_from_anywhere(client, settings):
    settings.METRICS_TOKEN = TOKEN
    response = scrape(client, "203.0.113.5", Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert METRIC in response.content


@pytest.mark.parametrize(
    "authorization", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer ", ""]
)
def test_it_refuses_a_wrong_token(client, settings, authorization):
    settings.METRICS_TOKEN = TOKEN
    assert scrape(client, "203.0.113.5", Authorization=authorization).status_code == 403


def test_it_takes_no_token_when_none_is_set(client):
    assert scrape(client, "203.0.113.5", Authorization="Bearer ").status_code == 403


def test_it_lets_nobody_in_by_address_when_the_list_is_empty(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = networks("METRICS_ALLOWED_NETWORKS", "")
    assert scrape(client, "127.0.0.1").status_code == 403


def test_it_reads_the_networks_from_the_environment(monkeypatch):
    monkeypatch.setenv("METRICS_ALLOWED_NETWORKS", " 10.0.0.0/8, 2001:db8::/32 ,192.0.2.7")
    found = [str(n) for n in env_networks("METRICS_ALLOWED_NETWORKS", DEFAULT)]
    assert found == ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]


def test_it_names_the_variable_of_a_bad_network(monkeypatch):
    monkeypatch.setenv("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8,office")
    with pytest.raises(ImproperlyConfigured, match=r"METRICS_ALLOWED_NETWORKS.*'office'"):
        env_networks("METRICS_ALLOWED_NETWORKS", DEFAULT)


# -- over HTTP -----------------------------------------------------------------


@pytest.fixture(scope="module")
def db_url(django_db_setup, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        return database_url()


def start_daphne(db_url, tmp_path, **env) -> support.Daphne:
    return support.Daphne(db_url, tmp_path / "daphne.log", env=env).start()


def test_it_serves_loopback_scrapes_by_default_over_http(db_url, tmp_path):
    daphne = start_daphne(db_url, tmp_path)
    try:
        response = httpx.get(f"{daphne.url}/metrics", timeout=10)
        assert response.status_code == 200
        assert METRIC in response.content
        behind_proxy = httpx.get(
            f"{daphne.url}/metrics", headers={"X-Forwarded-For": "203.0.113.5"}, timeout=10
        )
        assert behind_proxy.status_code == 403
    finally:
        daphne.stop()


def test_it_refuses_an_address_outside_the_networks_over_http(db_url, tmp_path):
    daphne = start_daphne(db_url, tmp_path, METRICS_ALLOWED_NETWORKS="10.0.0.0/8",
                          METRICS_TOKEN=TOKEN)  # fmt: skip
    try:
        assert httpx.get(f"{daphne.url}/metrics", timeout=10).status_code == 403
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.get(f"{daphne.url}/metrics", headers=wrong, timeout=10).status_code == 403
        right = {"Authorization": f"Bearer {TOKEN}"}
        response = httpx.get(f"{daphne.url}/metrics", headers=right, timeout=10)
        assert response.status_code == 200
        assert METRIC in response.content
    finally:
        daphne.stop()
