"""A client of the recent-messages API (robotty/recent-messages2's shape):

    GET <base>/recent-messages/<login>?limit=800&after=<ms>
    {"messages": ["<raw IRC line>", ...], "error": null, "error_code": null}

Standard library only, with a timeout, a cap on the body and http(s)-only
redirects: the source is someone else's server and may be down, slow or
wrong. Used by backfill.py.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

DEFAULT_LIMIT = 800  # lines asked for per channel and (re)join: the API's default
TIMEOUT_S = 10.0  # a fetch that takes longer is given up
# 800 lines of at most 8,703 bytes, JSON-escaped, fit; anything bigger is not an answer.
MAX_BODY_BYTES = 10 * 1024 * 1024
READ_CHUNK = 64 * 1024
USER_AGENT = "goknut-ingest (chat archive backfill)"
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


class BackfillError(Exception):
    """A fetch that brought nothing usable; `reason` is its metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Answer:
    """What the source answered: its raw lines, oldest first, and its error if any."""

    lines: list = field(default_factory=list)
    error: str | None = None
    error_code: str | None = None


def recent_messages_url(
    base: str,
    channel: str,
    *,
    limit: int = DEFAULT_LIMIT,
    after_ms: int | None = None,
    before_ms: int | None = None,
) -> str:
    """<base>/recent-messages/<channel>?limit=..[&after=..][&before=..] (Unix ms)."""
    parts = urlsplit(base)
    path = f"{parts.path.rstrip('/')}/recent-messages/{quote(channel, safe='')}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.append(("limit", str(limit)))
    if after_ms is not None:
        query.append(("after", str(after_ms)))
    if before_ms is not None:
        query.append(("before", str(before_ms)))
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(query), ""))


def redact(url: str) -> str:
    """The URL without credentials or query, for logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    with contextlib.suppress(ValueError):
        if parts.port:
            host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_answer(body: bytes) -> Answer:
    """The JSON of a recent-messages answer, or BackfillError("bad_response")."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise BackfillError("bad_response", f"not JSON ({len(body)} bytes)") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise BackfillError("bad_response", "no list of messages in the answer")
    error, code = data.get("error"), data.get("error_code")
    if code is not None:
        code = code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else "unknown"
    error = error[:200] if isinstance(error, str) else (None if error is None else "?")
    return Answer(data["messages"], error, code)


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, "redirect to a non-HTTP URL", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_HttpRedirectsOnly)


def fetch(url: str, timeout: float = TIMEOUT_S, max_bytes: int = MAX_BODY_BYTES) -> Answer:
    """GET one recent-messages URL (blocking: run it in a thread). Raises BackfillError."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(
        url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            body = _read_capped(response, max_bytes, deadline)
    except urllib.error.HTTPError as exc:
        with exc:
            raise BackfillError("http_error", f"HTTP {exc.code}{_error_code_of(exc)}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise BackfillError("timeout", f"no answer in {timeout:g}s") from None
        raise BackfillError("unreachable", str(exc.reason)) from None
    except TimeoutError:
        raise BackfillError("timeout", f"no answer in {timeout:g}s") from None
    except (http.client.HTTPException, ValueError) as exc:
        raise BackfillError("bad_response", f"{type(exc).__name__}: {exc}"[:200]) from None
    except OSError as exc:  # reset, broken pipe, TLS
        raise BackfillError("unreachable", str(exc)) from None
    return parse_answer(body)


def _read_capped(response, max_bytes: int, deadline: float) -> bytes:
    length = response.headers.get("Content-Length", "")
    if length.strip().isdigit() and int(length) > max_bytes:
        raise BackfillError("too_large", f"{int(length)} bytes, over {max_bytes}")
    chunks, size = [], 0
    while chunk := response.read1(READ_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise BackfillError("too_large", f"over {max_bytes} bytes")
        if time.monotonic() > deadline:  # a source that trickles
            raise TimeoutError
        chunks.append(chunk)
    return b"".join(chunks)


def _error_code_of(exc: urllib.error.HTTPError) -> str:
    """The error_code of a recent-messages error body as ", <code>", when it has a sane one."""
    with contextlib.suppress(Exception):
        code = json.loads(exc.read(4096)).get("error_code")
        if isinstance(code, str) and _ERROR_CODE.fullmatch(code):
            return f", {code}"
    return ""
