"""Glue between Airflow tasks and the Spark jobs (kept out of the DAG files, unit-tested)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta

MAX_WINDOW_DAYS = 366


def _as_date(value) -> date:
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
        day = _as_date(logical_date) - timedelta(days=1)
        return [day]
    first = _as_date(start if start is not None else end)
    last = _as_date(end if end is not None else start)
    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    span = (last - first).days + 1
    if span > MAX_WINDOW_DAYS:
        raise ValueError(f"window of {span} days is longer than {MAX_WINDOW_DAYS}; land it in parts")
    return [first + timedelta(days=i) for i in range(span)]


def _jsonable(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def run_landing(source: str, days: list[str], run_id: str | None, force: bool = False) -> list[dict]:
    """Land ``source`` for ``days`` (ISO strings) and return JSON-able per-feed results for XCom."""
    from spark_jobs.landing.job import land_source

    results = land_source(source, [_as_date(d) for d in days], run_id or "manual", force=force)
    return [_jsonable(asdict(r)) for r in results]


def default_cutoff(logical_date) -> date:
    """The last complete day before a scheduled run: the day before ``logical_date``."""
    if logical_date is None:
        raise ValueError("give a date or a logical date")
    return _as_date(logical_date) - timedelta(days=1)
