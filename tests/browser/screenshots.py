"""Regenerate docs/images/*.png: every page at 1280x800 with live data.

`make screenshots` runs this. It seeds a throw-away SQLite database with
`manage.py seed_chat`, starts daphne and `manage.py ingest --demo` on loopback,
and photographs each page once it has received a live update, as a visitor
and (channel management) as staff.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.browser import support

IMAGES = support.REPO / "docs" / "images"
CHANNEL = "forsen"  # the busiest channel of the seed and the demo (messages_app.chatgen)
STAFF = ("staff", "staff-password-for-screenshots")
LIVE_UPDATE_TIMEOUT_MS = 20_000


def wait_for_live_update(page) -> None:
    """Until the live client has applied something newer than the page was built from."""
    built_from = int(page.get_attribute("[data-live-root]", "data-live-cursor") or 0)
    page.wait_for_function(
        "(cursor) => Number(document.querySelector('[data-live-root]').dataset.liveCursor)"
        " > cursor",
        arg=built_from,
        timeout=LIVE_UPDATE_TIMEOUT_MS,
    )


def shoot(page, name: str, path: str, *, live: bool = True) -> None:
    """`live`: wait for a live update (the subject may be quiet, e.g. one user)."""
    page.goto(path)
    if page.locator("[data-live-status]").count():
        page.wait_for_selector("[data-live-status][data-state=connected]")
    if live:
        wait_for_live_update(page)
    page.evaluate("document.fonts.ready")
    target = IMAGES / f"{name}.png"
    page.screenshot(path=str(target))
    print(f"wrote {target.relative_to(support.REPO)} ({path})")


def photograph(base_url: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = support.launch_browser(playwright)
        context = browser.new_context(
            base_url=base_url, viewport=support.VIEWPORT, color_scheme="light"
        )
        context.set_default_timeout(15_000)
        page = context.new_page()

        page.goto("/users")
        top_user = page.locator("[data-live-key^='user-'] a").first.inner_text().strip().lower()
        shoot(page, "home", "/")
        shoot(page, "messages", "/messages")
        shoot(page, "channels", "/channels")
        shoot(page, "channel", f"/channels/{CHANNEL}")
        shoot(page, "users", "/users")
        shoot(page, "user", f"/users/{top_user}", live=False)
        shoot(page, "search", "/search?q=speedrun+world+record", live=False)

        page.goto("/admin/login/?next=/channels")
        page.fill("input[name=username]", STAFF[0])
        page.fill("input[name=password]", STAFF[1])
        page.click("[type=submit]")
        page.wait_for_url("**/channels")
        shoot(page, "staff-channels", "/channels")
        shoot(page, "staff-channel-delete", f"/channels/{CHANNEL}/delete", live=False)
        browser.close()


def main() -> int:
    missing = support.missing_dependencies(axe=False)
    if missing:
        print("cannot take screenshots, missing: " + "; ".join(missing), file=sys.stderr)
        return 1
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="goknut-screenshots-") as tmp:
        database_url = f"sqlite:///{tmp}/screenshots.sqlite3"
        support.manage(database_url, "migrate", "--noinput")
        print(
            support.manage(database_url, "seed_chat", "--messages", "30000", "--days", "3").strip()
        )
        support.manage(
            database_url,
            "createsuperuser",
            "--noinput",
            f"--username={STAFF[0]}",
            "--email=staff@example.com",
            env={"DJANGO_SUPERUSER_PASSWORD": STAFF[1]},
        )
        daphne = support.Daphne(database_url, Path(tmp) / "daphne.log").start()
        demo = subprocess.Popen(
            [support.PYTHON, "manage.py", "ingest", "--demo", "--rate", "15"],
            cwd=support.REPO,
            env=support.subprocess_env(database_url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            photograph(daphne.url)
        finally:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(10)
            except subprocess.TimeoutExpired:
                demo.kill()
            daphne.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
