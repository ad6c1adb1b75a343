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
get it. The wrapper relies on the walk taking only `self` and rescheduling
itself 1 s later; `apply()` checks that in daphne's source first, and on a
daphne where it changed leaves it alone and logs a warning (pyproject.toml pins
daphne; tests/live/test_daphne_tuning.py fails on such a version).
"""

from __future__ import annotations

import inspect
import logging
import sys

CHECK_EVERY = 5  # seconds between walks (daphne: 1)
RESCHEDULE = "reactor.callLater(1, self.application_checker)"  # daphne's last line

log = logging.getLogger("live")


def shape_problem(method) -> str:
    """What differs in `method` from daphne's walk as the wrapper expects it
    (takes only self, reschedules itself a second later); empty if nothing."""
    if method is None:
        return "there is no Server.application_checker"
    try:
        params = list(inspect.signature(method).parameters)
        source = inspect.getsource(method)
    except (TypeError, ValueError, OSError) as exc:
        return f"its source cannot be read ({exc})"
    if params != ["self"]:
        return f"it takes ({', '.join(params)}) instead of (self)"
    if RESCHEDULE not in source:
        return f"it does not call {RESCHEDULE}"
    return ""


def apply() -> None:
    # Only when daphne is the server: importing daphne.server would install
    # Twisted's reactor (and its event loop) under any other one.
    module = sys.modules.get("daphne.server")
    if module is None:
        return
    Server, reactor = getattr(module, "Server", None), getattr(module, "reactor", None)
    original = getattr(Server, "application_checker", None)
    if getattr(original, "goknut_every", None):
        return
    problem = shape_problem(original) or ("" if reactor else "daphne.server has no reactor")
    if problem:
        # A wrapper around a walk that no longer reschedules itself would stop
        # the reaping for good, or multiply it: better no tuning.
        log.warning(
            "daphne tuning skipped, daphne.server.Server.application_checker changed: %s; "
            "daphne walks its connections every second (docs/perf.md)",
            problem,
        )
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
