"""The live benchmark's SSE client (sse_client.c) counts what it is told to.

Not a benchmark: these run with the suite, against a scripted SSE server on
127.0.0.1, so a client that stops seeing gaps, duplicates or cut-offs fails
here instead of quietly reporting "0 lost" in docs/perf.md.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time

from tests.benchmarks import test_live

HEAD = b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"


def event(id_: int, kind: str = "message") -> bytes:
    return f'event: {kind}\nid: messages:{id_}\ndata: {{"id": {id_}}}\n\n'.encode()


class ScriptedServer:
    """Answers every connection with `head`, then, once `go` is set, sends
    `pieces` one by one (an event may be split across reads) and closes."""

    def __init__(self, head: bytes, pieces: list[bytes]) -> None:
        self.head, self.pieces = head, pieces
        self.go = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(4096)
            conn.sendall(self.head)
            if not self.go.wait(10):
                return
            for piece in self.pieces:
                conn.sendall(piece)
                time.sleep(0.02)

    def close(self) -> None:
        self.listener.close()


def test_counts_gaps_duplicates_and_cut_offs(tmp_path):
    split = event(6)
    pieces = [
        event(1) + event(2)[:10],  # an event cut in two reads
        event(2)[10:] + event(3) + event(3, "status"),
        event(5),  # 4 skipped: a gap
        event(5) + event(4),  # both already passed: duplicates
        split[:-1],
        split[-1:],  # the blank line that completes it comes alone
    ]
    server = ScriptedServer(HEAD + event(0, "status"), pieces)
    try:
        procs = test_live._clients(server.port, 2)
        sent = time.time()
        server.go.set()
        test_live._drain(procs, 7, 10)  # never sent: returns once both streams are closed
        times = {i: sent for i in range(1, 7)}
        path = tmp_path / "times.json"
        path.write_text(json.dumps(times))
        result = test_live._finish(procs, 1, 6, str(path))
    finally:
        server.close()
    # Two streams, each: 1 2 3 5 6 arrive (4 lost), 5 and 4 again (duplicates),
    # then the server hangs up (cut off).
    assert (result["lost"], result["dups"], result["cut"], result["late"]) == (2, 4, 2, 0)
    # Stream 0 samples ids % 10 == 0 (none of 1-6), stream 1 samples id 1.
    assert len(result["latencies"]) == 1
    assert 0 <= result["latencies"][0] < 10


def test_reports_streams_that_do_not_open():
    server = ScriptedServer(b'HTTP/1.0 503 Service Unavailable\r\n\r\n{"error": "full"}', [])
    server.go.set()  # answer, then hang up
    try:
        proc = subprocess.Popen(
            [str(test_live._client_binary()), str(server.port), "3", "messages"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().split() == ["ready", "0", "3"]
        out, _ = proc.communicate("stop\n", timeout=10)
    finally:
        server.close()
    streams = json.loads(out)["streams"]
    assert [s["error"][:12] for s in streams] == ["HTTP/1.0 503"] * 3
