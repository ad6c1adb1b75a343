"""The activity charts of the channel page and the profile, as server-rendered SVG.

Read from the maintained buckets, never from messages: a channel's hours
(ChannelHour, one read of at most 720 rows for its three charts) and a user's
days (UserDay, at most 30 rows). The rest are pure functions from counts to
the markup the pages include: bar and cell geometry in the SVG's own units,
and the table every chart carries for screen readers and for reading exact
numbers. Times are UTC, as the buckets are.

The markup is built here with f-strings and html.escape, as the message row
is (templatetags/goknut.py): the channel page draws 48 + 30 bars and 168
cells, each also a table cell, and Django's template engine spends tens of
microseconds on every loop turn, more than the page's whole budget for them.

Keys name a bar or a cell the same way on both sides: the live client
(static/js/charts.js) raises the bar of a new message's hour ("2026-12-02T13")
or day ("2026-12-02") and the heatmap cell of its weekday and hour ("2-13",
Monday is 0), and it lays bars out again with the same arithmetic as here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape

from django.db import connection
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from messages_app import batch_sql as sql
from messages_app.models import Channel, ChannelHour, ChatUser, UserDay

HOURS = 48  # the channel's bars per hour
DAYS = 30  # the bars per day (channel and profile)
WEEKS = 4  # the busiest-hours heatmap's window
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LEVELS = 4  # heatmap shades above "none"

# Bar charts: a viewBox of WIDTH x HEIGHT; bars stand on BASE and the highest
# reaches TOP; LEFT leaves room for the axis numbers.
WIDTH, HEIGHT = 600, 172
LEFT, RIGHT, TOP, BASE = 44, 596, 14, 146
BAR_SHARE = 0.75  # of each bar's slot; the rest is the gap
# The heatmap: 24 columns by 7 rows of cells.
HEAT_LEFT, HEAT_TOP, CELL_W, CELL_H, CELL_GAP = 44, 24, 23, 20, 2
HEAT_WIDTH, HEAT_HEIGHT = HEAT_LEFT + 24 * CELL_W + 4, HEAT_TOP + 7 * CELL_H + 4


@dataclass(frozen=True, slots=True)
class Bar:
    key: str
    label: str  # the table's row header and the bar's tooltip
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class BarChart:
    id: str  # the element ids' prefix
    title: str
    unit: str  # "hour" or "day": what one bar is
    column: str  # the table's first header
    start_label: str
    end_label: str
    bars: list[Bar]
    peak: int
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = RIGHT
    top: int = TOP
    base: int = BASE


@dataclass(frozen=True, slots=True)
class Cell:
    key: str
    weekday: int
    hour: int
    count: int
    level: int  # 0 (none) to LEVELS (the busiest)
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Heatmap:
    id: str
    title: str
    rows: list[tuple[str, list[Cell]]]  # (weekday name, its 24 cells)
    peak: int
    total: int
    hour_labels: list[tuple[int, str]]  # (x, "06")
    width: int = HEAT_WIDTH
    height: int = HEAT_HEIGHT
    cell_width: int = CELL_W - CELL_GAP
    cell_height: int = CELL_H - CELL_GAP


# -- reads ---------------------------------------------------------------------


def channel_charts(channel: Channel, *, follow: bool, now: datetime | None = None) -> dict:
    """The channel page's three charts (markup), from one read of its hours;
    `follow`: the live client keeps them current."""
    now = (now or timezone.now()).astimezone(UTC)
    today = now.date()
    start = datetime.combine(today - timedelta(days=DAYS - 1), datetime.min.time(), UTC)
    hours = channel_hours(channel.pk, start)
    where = f"in #{channel.name}"
    hourly = hourly_chart(hours, now, "chart-hours", f"Messages per hour {where}")
    daily = daily_chart(day_totals(hours), today, "chart-days", f"Messages per day {where}")
    heat = heatmap(hours, now, "chart-heat", f"Busiest hours {where}")
    return {
        "hourly": bars_html(hourly, follow=follow),
        "daily": bars_html(daily, follow=follow),
        "heatmap": heatmap_html(heat, follow=follow),
    }


def user_charts(user: ChatUser, *, follow: bool, now: datetime | None = None) -> dict:
    """The profile's chart (markup): the user's messages per day, every channel."""
    today = (now or timezone.now()).astimezone(UTC).date()
    rows = UserDay.objects.filter(user=user, day__gt=today - timedelta(days=DAYS))
    days = {day.isoformat(): count for day, count in rows.values_list("day", "count")}
    daily = daily_chart(days, today, "chart-user-days", f"Messages per day by {user.label}")
    return {"daily": bars_html(daily, follow=follow)}


def channel_hours(channel_id: int, since: datetime) -> dict[str, int]:
    """hour key ("YYYY-MM-DDTHH") -> count of the channel's hours since `since`.

    The database writes the keys: Django converting each of 720 hours to a
    datetime took 4 ms of the page (SQLite), the text 1 ms."""
    table = sql.table(ChannelHour)
    if connection.vendor == "sqlite":
        key = "strftime('%%Y-%%m-%%dT%%H', hour)"
        since_param = sql.sqlite_datetime(since)
    else:
        key = "to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')"
        since_param = since
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {key}, count FROM {table} WHERE channel_id = %s AND hour >= %s",
            [channel_id, since_param],
        )
        return dict(cursor.fetchall())


def day_totals(hours: dict[str, int]) -> dict[str, int]:
    days: dict[str, int] = {}
    for key, count in hours.items():
        days[key[:10]] = days.get(key[:10], 0) + count
    return days


# -- charts --------------------------------------------------------------------


def hour_key(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H")


def hourly_chart(hours: dict[str, int], now: datetime, id_: str, title: str) -> BarChart:
    """The last HOURS hours, the current one last."""
    current = now.replace(minute=0, second=0, microsecond=0)
    moments = [current - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]
    points = [(hour_key(m), f"{m:%Y-%m-%d %H}:00", hours.get(hour_key(m), 0)) for m in moments]
    return bar_chart(id_, title, "hour", "Hour (UTC)", points, f"{HOURS} hours ago", "this hour")


def daily_chart(days: dict[str, int], today: date, id_: str, title: str) -> BarChart:
    """The last DAYS days, today last."""
    keys = [(today - timedelta(days=DAYS - 1 - i)).isoformat() for i in range(DAYS)]
    points = [(key, key, days.get(key, 0)) for key in keys]
    return bar_chart(id_, title, "day", "Day (UTC)", points, f"{DAYS} days ago", "today")


def bar_chart(
    id_: str, title: str, unit: str, column: str, points: list, start: str, end: str
) -> BarChart:
    """Bars for (key, label, count) points, scaled so the highest reaches TOP."""
    peak = max((count for _key, _label, count in points), default=0)
    slot = (RIGHT - LEFT) / len(points)
    width = round(slot * BAR_SHARE, 2)
    bars = []
    for i, (key, label, count) in enumerate(points):
        height = bar_height(count, peak)
        x = round(LEFT + i * slot + (slot - width) / 2, 2)
        bars.append(Bar(key, label, count, x, round(BASE - height, 2), width, height))
    total = sum(count for _key, _label, count in points)
    return BarChart(id_, title, unit, column, start, end, bars, peak, total)


def bar_height(count: int, peak: int) -> float:
    """Proportional to the peak; a bar of one message stays visible (1 unit)."""
    if count <= 0 or peak <= 0:
        return 0.0
    return max(1.0, round(count / peak * (BASE - TOP), 2))


def heatmap(hours: dict[str, int], now: datetime, id_: str, title: str) -> Heatmap:
    """Messages by weekday and hour of day over the last WEEKS weeks (UTC), the
    current hour included."""
    first = hour_key(now.replace(minute=0, second=0, microsecond=0)
                     - timedelta(hours=WEEKS * 7 * 24 - 1))  # fmt: skip
    counts = [[0] * 24 for _ in range(7)]
    for key, count in hours.items():
        if key >= first:  # the keys sort as the hours they name
            counts[date.fromisoformat(key[:10]).weekday()][int(key[11:13])] += count
    peak = max(max(row) for row in counts)
    rows = []
    for weekday, row in enumerate(counts):
        cells = [Cell(f"{weekday}-{hour}", weekday, hour, count, heat_level(count, peak),
                      HEAT_LEFT + hour * CELL_W, HEAT_TOP + weekday * CELL_H)
                 for hour, count in enumerate(row)]  # fmt: skip
        rows.append((WEEKDAYS[weekday], cells))
    labels = [(HEAT_LEFT + hour * CELL_W + (CELL_W - CELL_GAP) // 2, f"{hour:02d}")
              for hour in range(0, 24, 3)]  # fmt: skip
    return Heatmap(id_, title, rows, peak, sum(map(sum, counts)), labels)


def heat_level(count: int, peak: int) -> int:
    if count <= 0 or peak <= 0:
        return 0
    return min(LEVELS, math.ceil(count / peak * LEVELS))


# -- markup --------------------------------------------------------------------
# Every chart: <figure> with a caption, an SVG (role="img", named by its
# <title> and <desc>) and a <details> table with the same numbers. `follow`
# marks it for the live client (data-chart-live). Classes, not colours: the
# stylesheet's custom properties colour them in either theme.


def _num(value: int) -> str:
    return f"{value:,}"


def _table(id_: str, caption: str, head: str) -> tuple[str, str]:
    start = (
        f'<details class="chart-table"><summary>Table<span class="visually-hidden">: '
        f"{caption}</span></summary>"
        f'<div class="table-wrap"><table class="data-table" id="{id_}-table">'
        f'<caption class="visually-hidden">{caption}</caption><thead>{head}</thead><tbody>'
    )
    return start, "</tbody></table></div></details>"


def bars_html(chart: BarChart, *, follow: bool = False) -> SafeString:
    id_, title, unit = chart.id, escape(chart.title), chart.unit
    count = len(chart.bars)
    live = " data-chart-live" if follow else ""
    caption = f"{title}, {unit} by {unit}"
    rects, rows = [], []
    for bar in chart.bars:
        tip = f"{bar.label} UTC: {_num(bar.count)}"
        rects.append(
            f'<rect class="chart-bar" x="{bar.x}" y="{bar.y}" width="{bar.width}" '
            f'height="{bar.height}" data-chart-bar="{bar.key}" data-count="{bar.count}">'
            f"<title>{tip}</title></rect>"
        )
        rows.append(
            f'<tr data-chart-row="{bar.key}"><th scope="row">{bar.label}</th>'
            f'<td class="num" data-chart-value="{bar.key}">{_num(bar.count)}</td></tr>'
        )
    left, right, top, base, height = chart.left, chart.right, chart.top, chart.base, chart.height
    head = f'<tr><th scope="col">{chart.column}</th><th scope="col" class="num">Messages</th></tr>'
    table_start, table_end = _table(id_, caption, head)
    # Every text from outside (the title's names) is escaped above.
    return mark_safe(
        f'<figure class="chart chart-bars" id="{id_}" data-chart="bars" '
        f'data-chart-unit="{unit}"{live} aria-labelledby="{id_}-caption">'
        f'<figcaption id="{id_}-caption"><span class="chart-title">{title}</span> '
        f'<span class="chart-sub">last {count} {unit}s, <abbr title="Coordinated Universal '
        f'Time">UTC</abbr>: <span data-chart-total>{_num(chart.total)}</span> in all</span>'
        f"</figcaption>"
        f'<svg class="chart-svg" viewBox="0 0 {chart.width} {height}" role="img" '
        f'aria-labelledby="{id_}-title {id_}-desc" focusable="false" '
        f'data-chart-top="{top}" data-chart-base="{base}" data-chart-peak="{chart.peak}">'
        f'<title id="{id_}-title">{title} (UTC)</title>'
        f'<desc id="{id_}-desc">Bars of the last {count} {unit}s, the oldest on the left, '
        f"each as high as its number of messages. The table after the chart lists them.</desc>"
        f'<line class="chart-gridline" x1="{left}" x2="{right}" y1="{top}" y2="{top}"/>'
        f'<line class="chart-axis" x1="{left}" x2="{right}" y1="{base}" y2="{base}"/>'
        f'<text class="chart-label" x="{left - 6}" y="{top + 4}" text-anchor="end" '
        f"data-chart-peak-label>{_num(chart.peak)}</text>"
        f'<text class="chart-label" x="{left - 6}" y="{base + 4}" text-anchor="end">0</text>'
        f'<text class="chart-label" x="{left}" y="{height - 6}">{chart.start_label}</text>'
        f'<text class="chart-label" x="{right}" y="{height - 6}" text-anchor="end">'
        f"{chart.end_label}</text>"
        f"{''.join(rects)}</svg>"
        f"{table_start}{''.join(rows)}{table_end}</figure>"
    )


def heatmap_html(heat: Heatmap, *, follow: bool = False) -> SafeString:
    id_, title = heat.id, escape(heat.title)
    live = " data-chart-live" if follow else ""
    cells, rows = [], []
    for weekday, (name, row) in enumerate(heat.rows):
        y = HEAT_TOP + weekday * CELL_H + heat.cell_height - 5
        cells.append(f'<text class="chart-label" x="{HEAT_LEFT - 6}" y="{y}" '
                     f'text-anchor="end">{name[:3]}</text>')  # fmt: skip
        tds = []
        for cell in row:
            cells.append(
                f'<rect class="chart-heat heat-{cell.level}" x="{cell.x}" y="{cell.y}" '
                f'width="{heat.cell_width}" height="{heat.cell_height}" rx="3" '
                f'data-chart-heat="{cell.key}" data-count="{cell.count}">'
                f"<title>{name} {cell.hour:02d}:00 UTC: {_num(cell.count)}</title></rect>"
            )
            tds.append(f'<td class="num" data-chart-value="{cell.key}">{_num(cell.count)}</td>')
        rows.append(f'<tr><th scope="row">{name}</th>{"".join(tds)}</tr>')
    labels = "".join(
        f'<text class="chart-label" x="{x}" y="{HEAT_TOP - 8}" text-anchor="middle">{text}</text>'
        for x, text in heat.hour_labels
    )
    hours = "".join(f'<th scope="col" class="num">{hour:02d}</th>' for hour in range(24))
    head = f'<tr><th scope="col">Weekday (UTC)</th>{hours}</tr>'
    caption = f"{title}: messages by weekday and hour of day, last {WEEKS} weeks"
    table_start, table_end = _table(id_, caption, head)
    legend = "".join(
        f'<span class="heat-swatch heat-{level}"></span>' for level in range(LEVELS + 1)
    )
    # Every text from outside (the title's names) is escaped above.
    return mark_safe(
        f'<figure class="chart chart-heatmap" id="{id_}" data-chart="heatmap"{live} '
        f'data-chart-peak="{heat.peak}" aria-labelledby="{id_}-caption">'
        f'<figcaption id="{id_}-caption"><span class="chart-title">{title}</span> '
        f'<span class="chart-sub">by weekday and hour of day, last {WEEKS} weeks, '
        f'<abbr title="Coordinated Universal Time">UTC</abbr>: '
        f"<span data-chart-total>{_num(heat.total)}</span> in all</span></figcaption>"
        f'<svg class="chart-svg" viewBox="0 0 {heat.width} {heat.height}" role="img" '
        f'aria-labelledby="{id_}-title {id_}-desc" focusable="false">'
        f'<title id="{id_}-title">{title}, by weekday and hour (UTC)</title>'
        f'<desc id="{id_}-desc">A grid of seven weekdays, Monday first, by 24 hours of the '
        f"day; the darker a cell, the more messages were sent in that hour over the last "
        f"{WEEKS} weeks. The table after the chart gives every cell's number.</desc>"
        f"{labels}{''.join(cells)}</svg>"
        f'<p class="heat-legend" aria-hidden="true">Fewer {legend} more</p>'
        f"{table_start}{''.join(rows)}{table_end}</figure>"
    )
