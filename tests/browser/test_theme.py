"""The header's theme picker: light, dark or the system's, remembered per
browser and in place before the first paint."""

from __future__ import annotations

import pytest

DARK_BG = "rgb(13, 17, 23)"  # --bg of the dark theme
LIGHT_BG = "rgb(246, 248, 250)"  # --bg of the light theme

# Records whether <html data-theme> was set before <body> existed: before anything
# could be painted.
FIRST_PAINT_PROBE = """
window.__themeBeforeBody = null;
new MutationObserver(() => {
  if (window.__themeBeforeBody === null && document.documentElement.hasAttribute('data-theme')) {
    window.__themeBeforeBody = document.body === null;
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-theme']});
"""


@pytest.fixture
def open_with_scheme(open_page):
    """open_with_scheme(base_url, scheme) -> a page whose system prefers `scheme`."""
    return lambda base_url, scheme: open_page(
        base_url, init_scripts=[FIRST_PAINT_PROBE], color_scheme=scheme
    )


def background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_it_keeps_dark_after_a_reload_on_a_light_system(open_with_scheme, server):
    page = open_with_scheme(server.url, "light")
    page.goto("/")
    assert background(page) == LIGHT_BG
    page.get_by_label("Theme").select_option("dark")
    assert background(page) == DARK_BG

    page.reload()

    assert background(page) == DARK_BG
    assert page.get_by_label("Theme").input_value() == "dark"
    assert page.evaluate("window.__themeBeforeBody") is True  # no light flash first
    page.goto("/messages")
    assert background(page) == DARK_BG


def test_it_keeps_light_on_a_dark_system(open_with_scheme, server):
    page = open_with_scheme(server.url, "dark")
    page.goto("/")
    assert background(page) == DARK_BG
    page.get_by_label("Theme").select_option("light")
    page.reload()
    assert background(page) == LIGHT_BG
    assert page.evaluate("getComputedStyle(document.documentElement).colorScheme") == "light"


def test_it_follows_the_system_when_system_is_picked(open_with_scheme, server):
    page = open_with_scheme(server.url, "light")
    page.goto("/")
    page.get_by_label("Theme").select_option("dark")
    page.get_by_label("Theme").select_option("system")
    page.reload()
    assert page.get_by_label("Theme").input_value() == "system"
    assert page.evaluate("localStorage.getItem('goknut-theme')") is None
    assert background(page) == LIGHT_BG

    page.emulate_media(color_scheme="dark")
    assert background(page) == DARK_BG
    page.emulate_media(color_scheme="light")
    assert background(page) == LIGHT_BG
