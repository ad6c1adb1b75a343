"""Twitch name colours made readable on goknut's row backgrounds, in both
themes. A plain module: the pages (templatetags/goknut.py) and the live
events (live/events.py) both colour names with it.
"""

from __future__ import annotations

import colorsys
import re
from functools import lru_cache

HEX_COLOR_RE = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
# The least favourable row background of each theme in goknut.css (the striped
# rows: --row-alt). Name colours are adjusted until they reach 4.5:1 against
# these, the WCAG AA bar for body text, so they pass on every row.
LIGHT_BACKGROUND = (0xF6, 0xF8, 0xFA)
DARK_BACKGROUND = (0x1B, 0x21, 0x29)
MIN_CONTRAST = 4.6  # a hair above 4.5 so rounding to 8-bit channels never drops below


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _readable(rgb: tuple[int, int, int], background: tuple[int, int, int]) -> str:
    """The colour with its hue kept and its lightness moved until it reads on background."""
    h, lightness, s = colorsys.rgb_to_hls(*(c / 255 for c in rgb))
    darker = _luminance(background) > 0.5
    for _ in range(40):
        candidate = tuple(round(c * 255) for c in colorsys.hls_to_rgb(h, lightness, s))
        if contrast(candidate, background) >= MIN_CONTRAST:
            return "#{:02x}{:02x}{:02x}".format(*candidate)
        lightness = max(0.0, lightness - 0.025) if darker else min(1.0, lightness + 0.025)
    return "#000000" if darker else "#ffffff"


@lru_cache(maxsize=4096)
def name_colors(color: str) -> tuple[str, str] | None:
    """(light theme, dark theme) versions of a Twitch name colour, or None.

    The tag comes from chat and is untrusted: only plain hex colours pass, so
    nothing else can reach a style attribute.
    """
    match = HEX_COLOR_RE.match(color or "")
    if not match:
        return None
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    rgb = (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    return _readable(rgb, LIGHT_BACKGROUND), _readable(rgb, DARK_BACKGROUND)
