"""Browser suite: Debian's chromium through Playwright against a real daphne.

Each test module shares one daphne (started on a free 127.0.0.1 port against
the file test database) and the session shares one chromium. Chat is written by
separate `manage.py ingest --replay -` processes, as in production.

Without chromium, playwright or axe-core the suite is skipped loudly on a
laptop (run `make browser-deps`); with CI=true it fails instead.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser import support
from tests.conftest import database_url

HERE = Path(__file__).parent
MISSING = support.missing_dependencies(axe=False)
MISSING_AXE = [] if MISSING else support.missing_dependencies()
AXE_TESTS = HERE / "test_accessibility.py"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Collects entries of the 'longtask' performance timeline from the first moment
# of every page, so a test can ask what blocked the main thread and when.
LONGTASK_OBSERVER = """
window.__longtasks = [];
window.__longtaskSupported = PerformanceObserver.supportedEntryTypes.includes('longtask');
if (window.__longtaskSupported) {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      window.__longtasks.push({start: entry.startTime, duration: entry.duration});
    }
  }).observe({type: 'longtask', buffered: true});
}
"""


def _in_this_suite(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).parents


def pytest_collection_modifyitems(config, items):
    ours = [item for item in items if _in_this_suite(item)]
    for item in ours:
        item.add_marker(pytest.mark.browser)
        # Subprocesses (daphne, ingest) must see committed data; flushed after each test.
        item.add_marker(pytest.mark.django_db(transaction=True))
    if MISSING_AXE:  # everything but the accessibility tests can run
        ours = [item for item in ours if Path(str(item.path)) == AXE_TESTS]
    missing = MISSING or MISSING_AXE
    if not ours or not missing:
        return
    what = "; ".join(missing)
    if IN_CI:
        raise pytest.UsageError(f"CI=true and the browser suite cannot run, missing: {what}")
    skip = pytest.mark.skip(reason=f"browser suite SKIPPED, missing: {what} (make browser-deps)")
    for item in ours:
        item.add_marker(skip)
    config._goknut_browser_skipped = (len(ours), what)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = getattr(config, "_goknut_browser_skipped", None)
    if skipped:
        count, what = skipped
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"{count} browser tests did not run; missing: {what}")
        terminalreporter.write_line("Run `make browser-deps` (root installs chromium).")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _in_this_suite(item):
        for daphne in support.STARTED[-3:]:
            if daphne.process is not None:
                report.sections.append((f"daphne :{daphne.port} log (tail)", daphne.log(3000)))


@pytest.fixture(scope="module")
def module_db_url(django_db_setup, django_db_blocker) -> str:
    with django_db_blocker.unblock():
        return database_url()


@pytest.fixture
def seed(store):
    """seed(count): store set-up chat in-process before a page is opened."""
    from tests.browser.pages import chat_records

    def _seed(count: int = 8) -> None:
        store(*chat_records(f"seed-{support.token()}", count))

    return _seed


@pytest.fixture(scope="module")
def server(module_db_url, tmp_path_factory):
    """One daphne with live updates on, shared by the tests of a module."""
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    daphne = support.Daphne(module_db_url, log).start()
    yield daphne
    daphne.stop()


@pytest.fixture(scope="module")
def browser():
    """One chromium per module. Playwright's sync API keeps an event loop running
    in this thread, which Django's async-safety check takes for async code calling
    the ORM; the tests' own ORM reads are synchronous, so allow them, but only
    while a browser module runs."""
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        chromium = support.launch_browser(playwright)
        yield chromium
        chromium.close()


class Console:
    """Console errors and uncaught exceptions of every page a test opens."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []

    def allow(self, pattern: str) -> None:
        """Expected errors, e.g. failed connections while the test stopped the server."""
        self.allowed.append(re.compile(pattern))

    def watch(self, page) -> None:
        def on_console(message):
            if message.type == "error":
                source = message.location.get("url", "")
                self.errors.append(f"{page.url}: console error: {message.text} [{source}]")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: pageerror: {exc}"))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def open_page(browser, console):
    """open_page(base_url, init_scripts=(), **context_options) -> a new Playwright
    page at 1280x800, console watched; context_options go to new_context
    (timezone_id, color_scheme, java_script_enabled, ...), init_scripts run
    before any of the page's own.

    After the test, any console error or page error not explicitly allowed fails it.
    """
    contexts = []

    def _open(base_url: str, init_scripts=(), **context_options):
        context = browser.new_context(
            base_url=base_url, viewport=support.VIEWPORT, **context_options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        for script in (LONGTASK_OBSERVER, *init_scripts):
            context.add_init_script(script)
        page = context.new_page()
        console.watch(page)
        return page

    yield _open
    for context in contexts:
        context.close()
    unexpected = console.unexpected()
    assert not unexpected, "console errors:\n" + "\n".join(unexpected)
