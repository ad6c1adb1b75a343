"""Small helpers that read settings from the environment.

Every helper names the variable in its error, so a bad value fails at start-up
with a message the operator can act on.
"""

import os
from ipaddress import IPv4Network, IPv6Network, ip_network
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_int(name: str, default: int | None, minimum: int | None = None) -> int | None:
    """A whole number; `default` when unset or empty (None: no value)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def http_url(name: str, raw: str) -> str:
    """An http:// or https:// URL with a host, without a trailing slash, or ""
    when unset; anything else raises ImproperlyConfigured naming `name`."""
    url = raw.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise ImproperlyConfigured(f"{name} has a bad port: {raw!r}") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ImproperlyConfigured(f"{name} must be an http:// or https:// URL, got {raw!r}")
    return url.rstrip("/")


def env_http_url(name: str, default: str = "") -> str:
    return http_url(name, os.environ.get(name, default))


def networks(name: str, raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Comma-separated CIDRs (`10.0.0.0/8,::1/128`; a bare address is one host);
    a bad one raises ImproperlyConfigured naming `name`."""
    found = []
    for item in raw.split(","):
        if not item.strip():
            continue
        try:
            found.append(ip_network(item.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(f"{name} must list CIDR networks, got {item!r}") from None
    return tuple(found)


def env_networks(name: str, default: str) -> tuple[IPv4Network | IPv6Network, ...]:
    return networks(name, os.environ.get(name, default))
