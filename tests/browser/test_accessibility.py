"""axe-core finds no serious or critical violations on any page, for visitors
and for staff, in the light and the dark theme, with live data on screen (and
the pages log no console errors)."""

from __future__ import annotations

import pytest

from tests.browser import support
from tests.browser.live_dom import wait_live

STAFF_PASSWORD = "staff-password"
VISITOR_PAGES = {
    "home": "/",
    "messages": "/messages",
    "messages-filtered": "/messages?channel=forsen&user=alice",
    "channels": "/channels",
    "channel": "/channels/forsen",
    "users": "/users",
    "user": "/users/alice",
    "search": "/search?q=line",
    "search-empty": "/search",
    "not-found": "/users/nobody-here",
    "optout": "/optout",
}
STAFF_PAGES = {
    "staff-channels": "/channels",
    "staff-channel": "/channels/forsen",
    "staff-channel-delete": "/channels/forsen/delete",
    "staff-user": "/users/alice",
}


def axe_violations(page) -> list[str]:
    page.add_script_tag(path=str(support.AXE_JS))
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in results["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def _violations_on(page, path: str, status: int = 200) -> list[str]:
    response = page.goto(path)
    assert response.status == status, f"{path} answered {response.status}"
    if page.locator("[data-live-status]").count():
        wait_live(page)  # audit the page as it looks with live updates running
    return [f"{path}: {v}" for v in axe_violations(page)]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_it_has_no_serious_accessibility_violations(open_page, server, seed, console, scheme):
    seed(40)
    console.allow(r"status of 404.*/users/nobody-here")  # the not-found page itself
    page = open_page(server.url, color_scheme=scheme)
    violations = []
    for name, path in VISITOR_PAGES.items():
        violations += _violations_on(page, path, status=404 if name == "not-found" else 200)
    assert not violations, "\n".join(violations)


def test_it_has_no_serious_accessibility_violations_for_staff(
    open_page, server, seed, django_user_model
):
    seed(40)
    django_user_model.objects.create_user(
        "staff", password=STAFF_PASSWORD, is_staff=True, is_superuser=True
    )
    page = open_page(server.url)
    page.goto("/admin/login/?next=/channels")
    page.fill("input[name=username]", "staff")
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url("**/channels")
    assert page.get_by_role("button", name="Add channel").count() == 1, "not signed in as staff"
    violations = []
    for path in STAFF_PAGES.values():
        violations += _violations_on(page, path)
    assert not violations, "\n".join(violations)
