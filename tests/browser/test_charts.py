"""The activity charts in a real browser: they render, chat that arrives live
raises its hour's and day's bars, heatmap cell and table cells (rescaling
the others when the highest changes) until the page equals a fresh load, and
axe finds nothing on them in the light and the dark theme."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from messages_app.models import Message
from tests.browser import support
from tests.browser.live_dom import wait_live
from tests.conftest import chat

# Every chart on the page as the visitor's browser has it: each bar's (or
# cell's) count, height (a cell: its shade) and table number, in page order.
CHARTS_JS = """() => {
  const number = (el) => Number(el.textContent.replace(/[^0-9]/g, ''));
  const out = {};
  for (const fig of document.querySelectorAll('figure[data-chart]')) {
    const marks = [...fig.querySelectorAll('[data-chart-bar], [data-chart-heat]')];
    const box = fig.querySelector('svg').getBoundingClientRect();
    out[fig.id] = {
      keys: marks.map((el) => el.dataset.chartBar || el.dataset.chartHeat),
      counts: marks.map((el) => Number(el.dataset.count)),
      shapes: marks.map((el) => el.dataset.chartBar
        ? Math.round(Number(el.getAttribute('height')) * 10) / 10 : el.getAttribute('class')),
      cells: [...fig.querySelectorAll('[data-chart-value]')].map(
        (td) => [td.dataset.chartValue, number(td)]),
      total: number(fig.querySelector('[data-chart-total]')),
      peak: fig.querySelector('[data-chart-peak-label]')
        ? number(fig.querySelector('[data-chart-peak-label]')) : null,
      drawn: box.width > 100 && box.height > 50,
    };
  }
  return out;
}"""


def axe_on_charts(page) -> list[str]:
    """Every axe violation (any impact) inside the pages' chart sections, as
    tests/browser/test_accessibility.py runs axe on whole pages."""
    page.add_script_tag(path=str(support.AXE_JS))
    results = page.evaluate(
        "() => axe.run({include: [['.charts']]}, {resultTypes: ['violations']})"
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in results["violations"]
    ]


def charts_on(page) -> dict:
    charts = page.evaluate(CHARTS_JS)
    for chart_id, chart in charts.items():
        assert chart["drawn"], f"{chart_id} is not drawn"
        # The table says what the bars say, key by key, in the same order.
        assert [tuple(cell) for cell in chart["cells"]] == list(
            zip(chart["keys"], chart["counts"], strict=True)
        )
    return charts


def counts(chart: dict) -> dict[str, int]:
    return dict(zip(chart["keys"], chart["counts"], strict=True))


def wait_for_total(page, chart_id: str, total: int, timeout: float = 5) -> dict:
    return support.wait_until(
        lambda: (charts := charts_on(page))[chart_id]["total"] == total and charts,
        timeout,
        message=f"{chart_id} did not reach {total}: {charts_on(page)[chart_id]['total']}",
    )


def key_of(marker: str) -> tuple[str, str]:
    """The hour and day keys of the lines carrying `marker` (all sent within a second)."""
    sent = Message.objects.filter(text__contains=marker).latest("id").sent_at.astimezone(UTC)
    return sent.strftime("%Y-%m-%dT%H"), sent.date().isoformat()


@pytest.fixture
def busy_earlier(store):
    """#forsen's busiest hour three hours ago (5 lines), one line now: new chat
    this hour will overtake it, and every bar is drawn again to the new peak."""
    earlier = datetime.now(UTC) - timedelta(hours=3)
    store(
        *[chat("forsen", "alice", f"earlier {i}", sent_at=earlier) for i in range(5)],
        chat("forsen", "bob", "now", display_name="Bob"),
    )


def test_live_chat_raises_the_channel_charts_to_what_a_fresh_load_shows(
    open_page, server, busy_earlier
):
    page = open_page(server.url)
    page.goto("/channels/forsen")
    wait_live(page)
    before = charts_on(page)
    assert set(before) == {"chart-hours", "chart-days", "chart-heat"}
    assert before["chart-hours"]["peak"] == 5
    marker = f"chart-{support.token()}"

    support.ingest(server.database_url, [support.privmsg("forsen", "carol", f"{marker} {i}")
                                         for i in range(6)])  # fmt: skip

    after = wait_for_total(page, "chart-hours", before["chart-hours"]["total"] + 6)
    hour, day = key_of(marker)
    assert counts(after["chart-hours"])[hour] == counts(before["chart-hours"]).get(hour, 0) + 6
    assert counts(after["chart-days"])[day] == counts(before["chart-days"]).get(day, 0) + 6
    assert after["chart-hours"]["peak"] == counts(after["chart-hours"])[hour] >= 7
    assert after["chart-heat"]["total"] == before["chart-heat"]["total"] + 6
    fresh = open_page(server.url)
    fresh.goto("/channels/forsen")
    assert after == charts_on(fresh)


def test_live_chat_raises_todays_bar_on_the_profile(open_page, server, busy_earlier):
    page = open_page(server.url)
    page.goto("/users/alice")
    wait_live(page)
    before = charts_on(page)["chart-user-days"]
    marker = f"chart-{support.token()}"

    support.ingest(server.database_url, [
        support.privmsg("forsen", "alice", f"{marker} a"),
        support.privmsg("xqc", "alice", f"{marker} b"),  # every channel counts
        support.privmsg("forsen", "bob", f"{marker} not alice"),
    ])  # fmt: skip

    after = wait_for_total(page, "chart-user-days", before["total"] + 2)["chart-user-days"]
    _hour, day = key_of(marker)
    assert counts(after)[day] == counts(before).get(day, 0) + 2
    assert dict(after["cells"])[day] == counts(after)[day]
    fresh = open_page(server.url)
    fresh.goto("/users/alice")
    assert after == charts_on(fresh)["chart-user-days"]


def test_chat_of_a_new_hour_moves_the_hourly_bars_along(open_page, server, busy_earlier):
    """The page stays open into the next hour: its bars move left by one, the
    oldest leaves (with its table row), and the new hour starts at 1."""
    page = open_page(server.url)
    page.goto("/channels/forsen")
    wait_live(page)
    before = charts_on(page)["chart-hours"]
    next_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    sent = next_hour + timedelta(seconds=1)
    line = support.privmsg("forsen", "carol", f"chart-{support.token()} from the next hour")
    line = re.sub(r"tmi-sent-ts=\d+", f"tmi-sent-ts={int(sent.timestamp() * 1000)}", line)

    support.ingest(server.database_url, [line])

    dropped = before["counts"][0]
    after = wait_for_total(page, "chart-hours", before["total"] - dropped + 1)["chart-hours"]
    new_key = next_hour.strftime("%Y-%m-%dT%H")
    assert after["keys"] == [*before["keys"][1:], new_key]
    assert after["counts"] == [*before["counts"][1:], 1]
    assert len(after["cells"]) == 48  # charts_on: in the bars' order


@pytest.fixture(scope="module")
def sse_off_server(module_db_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("daphne-sse-off") / "daphne.log"
    daphne = support.Daphne(module_db_url, log, env={"ENABLE_SSE": "false"}).start()
    yield daphne
    daphne.stop()


def test_polled_chat_raises_the_charts_too(open_page, sse_off_server, busy_earlier):
    """Without the stream the page polls its rows; the charts count those."""
    page = open_page(sse_off_server.url)
    page.goto("/channels/forsen")
    support.wait_until(lambda: page.locator("[data-live-status][data-state='polling']").count(), 10)
    before = charts_on(page)
    marker = f"chart-{support.token()}"

    support.ingest(sse_off_server.database_url, [
        support.privmsg("forsen", "carol", f"{marker} {i}") for i in range(4)])  # fmt: skip

    after = wait_for_total(page, "chart-hours", before["chart-hours"]["total"] + 4, timeout=15)
    hour, _day = key_of(marker)
    assert counts(after["chart-hours"])[hour] == counts(before["chart-hours"]).get(hour, 0) + 4
    fresh = open_page(sse_off_server.url)
    fresh.goto("/channels/forsen")
    assert after == charts_on(fresh)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_nothing_on_the_charts(open_page, server, busy_earlier, theme):
    page = open_page(server.url)
    violations = []
    for path in ("/channels/forsen", "/users/alice"):
        page.goto(path)
        page.get_by_label("Theme").select_option(theme)
        assert page.evaluate("document.documentElement.dataset.theme") == theme
        page.evaluate("document.querySelectorAll('.charts details').forEach((d) => d.open = true)")
        violations += [f"{path} ({theme}): {v}" for v in axe_on_charts(page)]
    assert not violations, "\n".join(violations)
