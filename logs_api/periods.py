"""The time a request covers: a UTC day, a UTC month, or `?from=&to=` (Unix
seconds as justlog takes them, or RFC 3339 as rustlog does), and whether it is
over (a past period never changes: clients and proxies may cache it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from logs_api.errors import bad_request

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # Twitch (and its chat) started in 2011
# A period that is over is cached for 10 hours (rustlog's figure), not for a
# year as justlog does: an erasure or a late import must reach proxies too.
PAST_MAX_AGE = 36_000


@dataclass(frozen=True)
class Period:
    since: datetime
    until: datetime  # exclusive

    @property
    def is_over(self) -> bool:
        return self.until <= timezone.now()

    def cache_control(self) -> str:
        return f"public, max-age={PAST_MAX_AGE}" if self.is_over else "no-cache"


def _number(value: str, what: str, low: int, high: int) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= 4):
        raise bad_request(f"invalid {what}: {value[:20]!r}")
    number = int(value)
    if not low <= number <= high:
        raise bad_request(f"invalid {what}: {number} is not between {low} and {high}")
    return number


def day(year: str, month: str, day_: str) -> Period:
    y, m = _number(year, "year", 2000, 9998), _number(month, "month", 1, 12)
    d = _number(day_, "day", 1, 31)
    try:
        start = datetime(y, m, d, tzinfo=UTC)
    except ValueError:
        raise bad_request(f"invalid date: {y}-{m:02d}-{d:02d} does not exist") from None
    return Period(start, start + timedelta(days=1))


def month(year: str, month_: str) -> Period:
    y, m = _number(year, "year", 2000, 9998), _number(month_, "month", 1, 12)
    start = datetime(y, m, 1, tzinfo=UTC)
    following = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return Period(start, following)


def moment(value: str, what: str) -> datetime:
    """Unix seconds (an integer, or with a fraction) or an RFC 3339 time."""
    value = value.strip()
    if len(value) > 40:
        raise bad_request(f"invalid {what}: too long")
    try:
        if value.replace(".", "", 1).isdigit() and value.isascii():
            return datetime.fromtimestamp(float(value), UTC)
        parsed = parse_datetime(value.replace(" ", "T", 1) if "T" not in value else value)
    except (ValueError, OverflowError, OSError):
        parsed = None
    if parsed is None:
        raise bad_request(f"invalid {what}: use Unix seconds or RFC 3339 (2024-01-31T12:00:00Z)")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def arbitrary(params) -> Period | None:
    """`?from=&to=`, either one alone too (the other end open); None without both."""
    since, until = params.get("from"), params.get("to")
    if since is None and until is None:
        return None
    start = moment(since, "from") if since else EARLIEST
    end = moment(until, "to") if until else timezone.now() + timedelta(seconds=1)
    if start > end:
        raise bad_request("invalid range: from is after to")
    return Period(start, end)


def days_of(period: Period) -> tuple[date, date]:
    """The UTC days a period touches (inclusive)."""
    last = period.until - timedelta(microseconds=1)
    return period.since.date(), max(period.since, last).date()
