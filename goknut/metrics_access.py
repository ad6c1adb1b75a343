"""/metrics for Prometheus, not for everyone: METRICS_ALLOWED_NETWORKS and METRICS_TOKEN.

A scrape is let in when every address it may come from is in an allowed
network, or when it carries `Authorization: Bearer <METRICS_TOKEN>` (any
address). Others get a 403.

Proxy headers are never trusted to let anyone in, only to keep them out. The
peer (REMOTE_ADDR: daphne's client, or the first X-Forwarded-For entry when
daphne runs with --proxy-headers, which a client can write) and every address
in X-Forwarded-For, X-Real-IP and Forwarded must all be allowed. Behind a
proxy the peer is the proxy, often 127.0.0.1; the address the proxy adds (nginx:
`$proxy_add_x_forwarded_for`) is the real client's, and a client cannot remove
it by sending headers of its own. An address that does not parse ("unknown",
an obfuscated Forwarded node) is not allowed.
"""

from __future__ import annotations

import hashlib
import hmac
from ipaddress import IPv4Address, IPv6Address, ip_address

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django_prometheus.exports import ExportToDjangoView

Address = IPv4Address | IPv6Address
# No peer address: a Unix socket, so a process on this machine (or its proxy).
LOCAL_PEER = "127.0.0.1"
REFUSED = (
    "/metrics is open to METRICS_ALLOWED_NETWORKS, or to a request with "
    "'Authorization: Bearer <METRICS_TOKEN>' (docs/deployment.md, Prometheus).\n"
)


def metrics(request: HttpRequest) -> HttpResponse:
    """django-prometheus's /metrics, for those allowed to read it."""
    if not (has_token(request) or from_allowed_networks(request)):
        return HttpResponseForbidden(REFUSED, content_type="text/plain; charset=utf-8")
    return ExportToDjangoView(request)


def has_token(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    # Digests of equal length: the comparison time says nothing about the token.
    expected = hashlib.sha256(token.encode()).digest()
    return hmac.compare_digest(hashlib.sha256(given.strip().encode()).digest(), expected)


def from_allowed_networks(request: HttpRequest) -> bool:
    networks = settings.METRICS_ALLOWED_NETWORKS
    addresses = [parse_address(text) for text in claimed_addresses(request)]
    return all(a is not None and any(a in net for net in networks) for a in addresses)


def claimed_addresses(request: HttpRequest) -> list[str]:
    """The peer and every address a proxy header names."""
    meta = request.META
    found = [meta.get("REMOTE_ADDR") or LOCAL_PEER]
    for name in ("HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP"):
        if name in meta:
            found += meta[name].split(",")
    if "HTTP_FORWARDED" in meta:
        found += forwarded_for(meta["HTTP_FORWARDED"])
    return found


def forwarded_for(header: str) -> list[str]:
    """The `for=` nodes of an RFC 7239 Forwarded header."""
    nodes = []
    for element in header.split(","):
        for pair in element.split(";"):
            key, _, value = pair.partition("=")
            if key.strip().lower() == "for":
                nodes.append(value)
    return nodes


def parse_address(text: str) -> Address | None:
    """An address from `1.2.3.4`, `1.2.3.4:80`, `[::1]:80` or `"[::1]"`; None if
    it is none. IPv4-mapped IPv6 (`::ffff:10.0.0.1`) counts as its IPv4 address."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address
