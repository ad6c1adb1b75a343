"""Every live page shows new chat and counts within 2 s, in order, once each,
and stays responsive while a burst of 2,000 messages arrives."""

from __future__ import annotations

import json
import subprocess
import time

from tests.browser import support
from tests.browser.live_dom import snapshot, wait_for_all, wait_live
from tests.browser.pages import (
    DEFAULT_CAP,
    PAGES,
    Expectation,
    assert_same_as_fresh_fetch,
    chat_lines,
)

LIVE_DEADLINE_S = 2.0
LONG_TASK_LIMIT_MS = 200
BURST = 2000


def _open_live(open_page, server, seed, live_page):
    seed()
    page = open_page(server.url)
    page.goto(live_page.path)
    wait_live(page)
    return page


def test_it_shows_new_messages_and_counts_within_two_seconds(open_page, server, seed):
    """All six pages open at once, as six visitors; one ingest run writes to them all."""
    seed()
    pages = {}
    for live_page in PAGES:
        page = open_page(server.url)
        page.goto(live_page.path)
        pages[live_page] = page
    before = {live_page: wait_live(page) for live_page, page in pages.items()}
    marker = f"new-{support.token()}"

    support.ingest(server.database_url, chat_lines(marker, 24))

    expected = {p: Expectation.now(p, marker, before[p].cap) for p in PAGES}
    for live_page, expectation in expected.items():
        assert not expectation.reached(before[live_page]), f"{live_page} shows it already"
    watches = [(str(p), pages[p], expected[p].reached, expected[p].invariant) for p in PAGES]
    wait_for_all(watches, LIVE_DEADLINE_S, "24 new messages")
    fresh = open_page(server.url)
    for live_page, page in pages.items():
        shown = snapshot(page)
        expected[live_page].assert_exact(shown)
        if live_page.has_list:
            cap, new = shown.cap or DEFAULT_CAP, len(expected[live_page].required_ids)
            assert len(shown.ids) == min(cap, len(before[live_page].ids) + new), (
                f"{live_page}: {len(before[live_page].ids)} rows + {new} new "
                f"became {len(shown.ids)} (cap {cap})"
            )
        assert_same_as_fresh_fetch(page, fresh, live_page.path)


PROBE_JS = """() => {
  const probe = document.createElement('input');
  probe.id = 'responsiveness-probe';
  probe.setAttribute('aria-label', 'probe');
  window.__inputDelays = [];
  probe.addEventListener('keydown', (event) => {
    window.__inputDelays.push(performance.now() - event.timeStamp);
  });
  document.body.prepend(probe);
  probe.focus();
}"""


def main_thread_cpu_ms(trace: bytes, marks: dict[str, str]) -> dict[str, list[float]]:
    """CPU ms of every main-thread task per page, from a chromium trace. A page is
    found by the performance.mark it made (`marks`: mark name -> page label)."""
    events = json.loads(trace)
    events = events["traceEvents"] if isinstance(events, dict) else events
    pid_of = {e["pid"]: marks[e["name"]] for e in events if e.get("name") in marks}
    main_threads = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"
    }
    cpu: dict[str, list[float]] = {label: [] for label in marks.values()}
    for e in events:
        if (
            e.get("ph") == "X"
            and e.get("name") == "ThreadControllerImpl::RunTask"
            and (e["pid"], e["tid"]) in main_threads
            and e["pid"] in pid_of
        ):
            cpu[pid_of[e["pid"]]].append(e.get("tdur", 0) / 1000)
    return cpu


def test_it_stays_responsive_during_a_burst(open_page, server, seed, tmp_path):
    """A burst of 2,000 messages reaches all six pages, open at once, while a
    visitor types into each. Long tasks: the PerformanceObserver measures wall
    time, and this machine's two cores are shared, so a task may wait for a core
    longer than it runs; the bar (no task over 200 ms) is checked on each page's
    main-thread CPU time per task, from a chromium trace of the same burst, and
    the observer's figures are reported with it."""
    seed()
    pages = {}
    for live_page in PAGES:
        page = open_page(server.url)
        page.goto(live_page.path)
        pages[live_page] = page
    for page in pages.values():
        wait_live(page)
        assert page.evaluate("window.__longtaskSupported"), "chromium must report long tasks"
        page.evaluate(PROBE_JS)
    marker = f"burst-{support.token()}"
    burst = tmp_path / "burst.irc"
    burst.write_text("\n".join(chat_lines(marker, BURST)) + "\n")
    browser = next(iter(pages.values())).context.browser
    browser.start_tracing(categories=["toplevel", "blink.user_timing"])
    marks = {f"goknut-burst-{p.name}": str(p) for p in PAGES}
    started_ms = {}
    for live_page, page in pages.items():
        page.evaluate("(mark) => performance.mark(mark)", f"goknut-burst-{live_page.name}")
        started_ms[live_page] = page.evaluate("performance.now()")

    process = subprocess.Popen(
        [support.PYTHON, "manage.py", "ingest", "--replay", str(burst)],
        cwd=support.REPO,
        env=support.subprocess_env(server.database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    typed = {live_page: "" for live_page in PAGES}
    expected, reached, stored_at = None, set(), None
    while len(reached) < len(PAGES):
        if stored_at is None and process.poll() is not None:
            stored_at = time.monotonic()
            output = process.stdout.read()
            assert process.returncode == 0, f"ingest failed:\n{output[-3000:]}"
            expected = {p: Expectation.now(p, marker, snapshot(pages[p]).cap) for p in PAGES}
        for live_page, page in pages.items():
            # Keep typing into every page while the burst is stored and streamed.
            page.keyboard.type("k")
            typed[live_page] += "k"
            if expected is None or live_page in reached:
                continue
            snap = snapshot(page)
            expected[live_page].invariant(snap)
            if expected[live_page].reached(snap):
                reached.add(live_page)
        if stored_at and time.monotonic() - stored_at > LIVE_DEADLINE_S and len(reached) < 6:
            late = {str(p): snapshot(pages[p]).describe() for p in PAGES if p not in reached}
            raise AssertionError(
                f"burst not shown within {LIVE_DEADLINE_S}s of being stored: {late}"
            )
    cpu = main_thread_cpu_ms(browser.stop_tracing(), marks)

    failures = []
    for live_page, page in pages.items():
        expected[live_page].assert_exact(snapshot(page))
        if page.input_value("#responsiveness-probe") != typed[live_page]:
            failures.append(f"{live_page}: keystrokes were lost during the burst")
        if not cpu[str(live_page)]:
            failures.append(f"{live_page}: the trace shows no main-thread task of the page")
            continue
        worst = max(cpu[str(live_page)])
        if worst > LONG_TASK_LIMIT_MS:
            observed = page.evaluate(
                "(since) => window.__longtasks.filter((t) => t.start >= since)",
                started_ms[live_page],
            )
            delays = page.evaluate("window.__inputDelays")
            failures.append(
                f"{live_page}: a main-thread task ran {worst:.0f} ms of CPU; long tasks "
                f"observed (wall ms) {[round(t['duration']) for t in observed]}; "
                f"longest input delay {max(delays):.0f} ms"
            )
    assert not failures, "\n".join(failures)
