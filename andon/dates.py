"""Business days and windows: which days a run covers (pure functions, no engine)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

MAX_WINDOW_DAYS = 366


def as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {value!r}") from exc


def landing_days(start=None, end=None, logical_date=None) -> list[date]:
    """Business days to land: ``start..end`` inclusive; without them, the day before ``logical_date``."""
    if start is None and end is None:
        if logical_date is None:
            raise ValueError("give start/end or a logical date")
        day = as_date(logical_date) - timedelta(days=1)
        return [day]
    first = as_date(start if start is not None else end)
    last = as_date(end if end is not None else start)
    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    span = (last - first).days + 1
    if span > MAX_WINDOW_DAYS:
        raise ValueError(f"window of {span} days is longer than {MAX_WINDOW_DAYS}; land it in parts")
    return [first + timedelta(days=i) for i in range(span)]


def default_cutoff(logical_date) -> date:
    """The last complete day before a scheduled run: the day before ``logical_date``."""
    if logical_date is None:
        raise ValueError("give a date or a logical date")
    return as_date(logical_date) - timedelta(days=1)
