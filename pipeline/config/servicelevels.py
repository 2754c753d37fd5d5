"""Service-level targets: when a first response (and a resolution) is due for a priority.

The ack promises a date and time, so the promise must be computed the way the desk works:
when business hours are configured only time inside them counts, and a day ("1d") means one
working day, not 24 hours.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pipeline.config.reader import Table

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_RESERVED = ("business_hours", "business_days", "holidays", "timezone", "default_priority")
MAX_SEARCH_DAYS = 5 * 366  # a target further away than this is a configuration mistake


@dataclass(frozen=True)
class Duration:
    """Days are kept apart from seconds: with business hours a day is one working day."""

    days: int = 0
    weeks: int = 0
    seconds: int = 0
    text: str = ""


@dataclass(frozen=True)
class Target:
    first_response: Duration
    resolution: Duration


def _defaults() -> dict[str, Target]:
    return {
        "critical": Target(parse_duration("30m"), parse_duration("4h")),
        "high": Target(parse_duration("2h"), parse_duration("1d")),
        "medium": Target(parse_duration("8h"), parse_duration("3d")),
        "low": Target(parse_duration("1d"), parse_duration("5d")),
    }


@dataclass(frozen=True)
class ServiceLevels:
    targets: dict[str, Target] = field(default_factory=_defaults)
    default_priority: str = "medium"
    timezone: str = "Europe/Madrid"
    business_hours: tuple[time, time] | None = None
    business_days: tuple[int, ...] = (1, 2, 3, 4, 5)
    holidays: tuple[date, ...] = ()

    def target(self, priority: str | None) -> tuple[str, Target]:
        """The target for a priority label; an unknown or missing label gets the default."""
        key = (priority or "").lower()
        if key not in self.targets:
            key = self.default_priority
        return key, self.targets[key]


def parse_duration(text: str) -> Duration:
    """'30m', '4h', '1h30m', '2d', '1w' (a week is one week of business days when configured)."""
    compact = text.replace(" ", "").lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration")
    days = sum(int(n) for n, u in parts if u == "d")
    weeks = sum(int(n) for n, u in parts if u == "w")
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in parts if u in _UNIT_SECONDS)
    if days == 0 and weeks == 0 and seconds == 0:
        raise ValueError(f"{text!r} is zero")
    return Duration(days, weeks, seconds, text)


def due(levels: ServiceLevels, received: datetime, span: Duration) -> datetime:
    """When `span` after `received` ends, in the desk's time zone (aware)."""
    tz = ZoneInfo(levels.timezone)
    start = received.astimezone(tz)
    if levels.business_hours is None:
        delta = timedelta(days=span.days + 7 * span.weeks, seconds=span.seconds)
        return (start.astimezone(UTC) + delta).astimezone(tz)
    opens, closes = levels.business_hours
    days = span.days + len(levels.business_days) * span.weeks
    return _walk_business_time(levels, start, days * (_seconds(closes) - _seconds(opens))
                               + span.seconds)


def first_response_due(levels: ServiceLevels, priority: str | None, received: datetime) -> datetime:
    return due(levels, received, levels.target(priority)[1].first_response)


def resolution_due(levels: ServiceLevels, priority: str | None, received: datetime) -> datetime:
    return due(levels, received, levels.target(priority)[1].resolution)


def _walk_business_time(levels: ServiceLevels, start: datetime, remaining: int) -> datetime:
    """Spend `remaining` seconds of business time, window by window, from `start`."""
    tz, cursor = start.tzinfo, start
    opens, closes = levels.business_hours  # type: ignore[misc]
    for _ in range(MAX_SEARCH_DAYS):
        day = cursor.date()
        if _is_business_day(levels, day):
            window_open = datetime.combine(day, opens, tz)
            window_close = datetime.combine(day, closes, tz)
            cursor = max(cursor, window_open)
            available = int((window_close - cursor).total_seconds())
            if available >= remaining:
                return cursor + timedelta(seconds=remaining)
            remaining -= max(available, 0)
        cursor = datetime.combine(day + timedelta(days=1), time(0), tz)
    raise ValueError("no business time found within five years: check business_days and holidays")


def _is_business_day(levels: ServiceLevels, day: date) -> bool:
    return day.isoweekday() in levels.business_days and day not in levels.holidays


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def from_table(t: Table) -> ServiceLevels:
    """Build from [service_levels]; priorities not named there keep their defaults."""
    d = ServiceLevels()
    targets = dict(d.targets)
    for key, value in t.data.items():
        if key not in _RESERVED and isinstance(value, dict):
            targets[key.lower()] = _target(t.table(key), targets.get(key.lower()))
    default_priority = t.str("default_priority", d.default_priority).lower()
    if default_priority not in targets:
        raise t.error("default_priority", f"names no priority: {default_priority!r}",
                      "use one of: " + ", ".join(sorted(targets)))
    return ServiceLevels(
        targets=targets, default_priority=default_priority, timezone=t.timezone("timezone", d.timezone),
        business_hours=_business_hours(t), business_days=_business_days(t, d.business_days),
        holidays=_holidays(t),
    )


def _target(t: Table, fallback: Target | None) -> Target:
    first = _duration(t, "first_response", fallback.first_response if fallback else None)
    resolution = _duration(t, "resolution", fallback.resolution if fallback else None)
    t.finish()
    return Target(first, resolution)


def _duration(t: Table, key: str, fallback: Duration | None) -> Duration:
    text = t.str(key, None)
    if text is None:
        if fallback is None:
            raise t.error(key, "is required for a priority the defaults do not know",
                          f'add {key} = "4h"')
        return fallback
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise t.error(key, f"is not a duration: {text!r}",
                      'write it as "30m", "4h", "1h30m", "2d" or "1w"') from exc


def _business_hours(t: Table) -> tuple[time, time] | None:
    text = t.str("business_hours", None)
    if text is None:
        return None
    match = _HOURS.match(text.strip())
    fix = 'write it as "08:00-18:00"'
    if not match:
        raise t.error("business_hours", f"is not a time range: {text!r}", fix)
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
        raise t.error("business_hours", f"holds an impossible time: {text!r}", fix)
    opens, closes = time(h1, m1), time(23, 59, 59) if h2 == 24 else time(h2, m2)
    if closes <= opens:
        raise t.error("business_hours", "must end after it starts", fix)
    return opens, closes


def _business_days(t: Table, default: tuple[int, ...]) -> tuple[int, ...]:
    days = t.raw("business_days", list(default))
    if (not isinstance(days, list) or not days
            or not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7
                       for d in days)):
        raise t.error("business_days", f"must be a non-empty list of 1..7, got {days!r}",
                      "write business_days = [1, 2, 3, 4, 5] (Monday = 1)")
    return tuple(sorted(set(days)))


def _holidays(t: Table) -> tuple[date, ...]:
    """Quoted ("2026-12-25") and bare TOML dates (2026-12-25) are both accepted."""
    items = t.raw("holidays", [])
    if not isinstance(items, list):
        items = [items]
    return tuple(_holiday(t, item) for item in items)


def _holiday(t: Table, item: object) -> date:
    if isinstance(item, date) and not isinstance(item, datetime):
        return item
    if isinstance(item, str):
        with suppress(ValueError):
            return date.fromisoformat(item)
    raise t.error("holidays", f"holds something that is not a date: {item!r}",
                  'write holidays = ["2026-12-25", "2027-01-01"]')
