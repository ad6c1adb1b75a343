"""live.sockets: under daphne a /live stream is written straight to its TCP socket
(the fast path); anything else takes the ASGI path, counted and logged once.

The daphne tests fail when a daphne or Twisted upgrade changes what the fast
path reads (pyproject.toml pins both to the versions these passed on)."""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import socket
import subprocess
import sys
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import tcp
from twisted.web import http

from live import sockets
from tests.conftest import chat, stored_ids
from tests.live.conftest import ROOT, Server, free_port, stop

FAST_PATH = "goknut_sse_fast_path_connections_total"
WRITES = "goknut_sse_socket_writes_total"


def scrape(server) -> dict[tuple[str, frozenset], float]:
    """The live metrics of a daphne, by (sample name, labels)."""
    samples = {}
    for family in text_string_to_metric_families(server.get("/metrics").text):
        for sample in family.samples:
            if sample.name.startswith("goknut_sse_"):
                samples[sample.name, frozenset(sample.labels.items())] = sample.value
    return samples


def paths(samples) -> dict[tuple[str, str], float]:
    """goknut_sse_fast_path_connections_total by (path, reason)."""
    return {
        (dict(labels)["path"], dict(labels)["reason"]): value
        for (name, labels), value in samples.items()
        if name == FAST_PATH
    }


def test_a_plain_tcp_stream_is_written_straight_to_its_socket(server, sse, store):
    client = sse(server.url + "/live?view=messages")
    client.next()  # status connected
    # The first batch may still go through send() while the connection hands
    # its socket over; once it is in, the subscriber holds the writer.
    first = store(chat(text="first"))
    assert [e.data["id"] for e in client.messages(1)] == [first.first_id]
    then = store(*[chat(text=f"then {n}") for n in range(3)])
    assert [e.data["id"] for e in client.messages(3)] == stored_ids(then)

    samples = scrape(server)
    assert paths(samples) == {("socket", ""): 1.0}  # no path="asgi" at all
    assert samples[WRITES, frozenset()] >= 1  # "then" came through the writer
    assert "sse fast path unavailable" not in server.log()


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, valid for an hour."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def start_tls_daphne(db_url: str, tmp_path: Path, cert: Path, key: Path) -> Server:
    """daphne on a TLS endpoint of its own (conftest's start_daphne speaks plain TCP)."""
    port = free_port()
    log_path = tmp_path / f"daphne-tls-{port}.log"
    endpoint = f"ssl:port={port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    env = {**os.environ, "DATABASE_URL": db_url, "SSE_KEEPALIVE_SECONDS": "1",
           "DJANGO_SETTINGS_MODULE": "goknut.settings"}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-e", endpoint, "goknut.asgi:application"],
        cwd=ROOT, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    server = Server(f"https://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if server.get("/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.05)
    stop(process)
    raise RuntimeError("daphne did not start:\n" + server.log())


def test_a_tls_stream_takes_the_asgi_path_with_one_warning(
    db_url, tmp_path, sse, store, monkeypatch
):
    pytest.importorskip("OpenSSL")  # Twisted's TLS, there with daphne's twisted[tls]
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # httpx trusts it (trust_env)
    server = start_tls_daphne(db_url, tmp_path, cert, key)
    try:
        clients = [sse(server.url + "/live?view=messages") for _ in range(2)]
        for client in clients:
            client.next()
        stored = store(chat(text="over TLS"))
        for client in clients:  # delivered all the same, through send()
            assert [e.data["id"] for e in client.messages(1)] == [stored.first_id]
        assert paths(scrape(server)) == {("asgi", "not_plain_tcp"): 2.0}
        # One warning per process, not per stream.
        [warning] = [
            line for line in server.log().splitlines() if "sse fast path unavailable" in line
        ]
        assert "reason=not_plain_tcp (the transport is a " in warning
        assert "TLS" in warning  # Twisted's BufferingTLSTransport today
    finally:
        stop(server.process)


# In process: the decision itself, on real Twisted objects where it needs them.


@pytest.fixture
def fresh(monkeypatch):
    """sockets as in a new process: nothing checked or logged yet."""
    monkeypatch.setattr(sockets, "_missing", None)
    monkeypatch.setattr(sockets, "_warned", set())


def count(path: str, reason: str) -> float:
    labels = {"path": path, "reason": reason}
    return REGISTRY.get_sample_value(FAST_PATH, labels) or 0.0


def fast_path_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "sse fast path unavailable" in r.getMessage()]


class FakeDaphne:
    async def handle_reply(self, protocol, message) -> None:  # daphne.server.Server's
        raise AssertionError("the fast path does not call send()")


def daphne_stream(sock: socket.socket) -> tuple:
    """(send, transport) as daphne hands them to a /live response on `sock`,
    after the headers went out: a real Twisted TCP transport and Request."""
    transport = tcp.Connection(sock, None, reactor=object())  # not the global reactor
    transport.connected = 1
    channel = types.SimpleNamespace(transport=transport, getPeer=lambda: None, getHost=lambda: None)
    request = http.Request(channel)
    request.startedWriting = request.chunked = 1
    return functools.partial(FakeDaphne().handle_reply, request), transport


def test_another_server_takes_the_asgi_path_counted_and_logged_once(fresh, caplog):
    async def send(message) -> None:  # uvicorn's, say: a plain coroutine function
        pass

    before = count("asgi", "other_server")
    with caplog.at_level(logging.WARNING, logger="live"):
        assert sockets.SocketWriter.for_send(send) is None
        assert sockets.SocketWriter.for_send(send) is None
    assert count("asgi", "other_server") == before + 2
    [warning] = fast_path_warnings(caplog)
    assert "reason=other_server" in warning


def test_a_daphne_stream_gets_a_writer_that_frames_chunks(fresh):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        send, _transport = daphne_stream(ours)
        before = count("socket", "")
        writer = sockets.SocketWriter.for_send(send)
        assert writer is not None
        assert count("socket", "") == before + 1
        assert writer.write(b"data: hi\n\n") == 0  # all taken by the kernel
        assert theirs.recv(100) == b"a\r\ndata: hi\n\n\r\n"


def test_missing_twisted_internals_mean_the_asgi_path_for_good(fresh, caplog):
    ours, theirs = socket.socketpair()
    with ours, theirs, caplog.at_level(logging.WARNING, logger="live"):
        send, transport = daphne_stream(ours)
        del transport._tempDataLen  # as if Twisted renamed it
        before = count("asgi", "internals_changed")
        assert sockets.SocketWriter.for_send(send) is None
        # Checked once, on the first stream: later ones do not try again.
        intact, _ = daphne_stream(ours)
        assert sockets.SocketWriter.for_send(intact) is None
        assert count("asgi", "internals_changed") == before + 2
        [warning] = fast_path_warnings(caplog)
        assert "transport._tempDataLen" in warning
