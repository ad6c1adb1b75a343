"""One setting daphne does not expose: how often it walks every connection.

daphne's `Server.application_checker` visits every open connection once a
second, to reap finished applications and to cancel those still running
`application_close_timeout` (10 s) after their client left. With 10,000 idle
/live streams that walk was 4% of a core, most of the idle process's CPU
(docs/perf.md, "Idle connections"). Every CHECK_EVERY-th second is plenty for
both jobs: a finished stream is reaped a few seconds later, and a stream that
does not stop gets cancelled after 10-15 s instead of 10-11 s (ours stop on
`http.disconnect` at once).

`apply()` wraps the method (once, idempotently) without changing what it does;
goknut.asgi calls it, so `daphne goknut.asgi:application` and `runserver` both
get it. Nothing here runs under another ASGI server.
"""

from __future__ import annotations

import sys

CHECK_EVERY = 5  # seconds between walks (daphne: 1)


def apply() -> None:
    # Only when daphne is the server: importing daphne.server would install
    # Twisted's reactor (and its event loop) under any other one.
    module = sys.modules.get("daphne.server")
    if module is None:
        return
    Server, reactor = module.Server, module.reactor
    original = Server.application_checker
    if getattr(original, "goknut_every", None):
        return

    def application_checker(self) -> None:
        # daphne reschedules the walk itself, 1 s after each one; in between,
        # the skipped calls only reschedule.
        self.goknut_checks = getattr(self, "goknut_checks", 0) + 1
        if self.goknut_checks % CHECK_EVERY:
            reactor.callLater(1, self.application_checker)
            return
        original(self)

    application_checker.goknut_every = CHECK_EVERY
    Server.application_checker = application_checker
