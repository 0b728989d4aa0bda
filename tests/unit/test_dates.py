"""Business-day windows (andon.dates) and the landing run summary."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from andon.dates import landing_days
from spark_jobs.landing.job import summarize_results


def test_window_is_inclusive():
    assert landing_days("2026-03-30", "2026-04-01") == [date(2026, 3, 30), date(2026, 3, 31), date(2026, 4, 1)]


def test_one_day_and_default_previous_day():
    assert landing_days("2026-03-02", None) == [date(2026, 3, 2)]
    assert landing_days(None, None, datetime(2026, 3, 3, 2, 0)) == [date(2026, 3, 2)]


@pytest.mark.parametrize(("start", "end", "message"), [
    ("2026-03-05", "2026-03-01", "before start"),
    ("03/05/2026", None, "not an ISO date"),
    ("2024-01-01", "2026-01-01", "longer than"),
])
def test_bad_windows_are_refused_clearly(start, end, message):
    with pytest.raises(ValueError, match=message):
        landing_days(start, end)


def test_run_summary_lists_failed_days():
    results = [[{"feed": "spc_measurements", "files_new": 3, "files_skipped": 1,
                 "days": [{"landing_date": "2026-03-02", "status": "published"},
                          {"landing_date": "2026-03-03", "status": "failed_gate"}]}]]
    summary = summarize_results(results)
    assert summary["files_new"] == 3 and summary["files_skipped"] == 1
    assert summary["failed_days"] == ["spc_measurements 2026-03-03"]
    assert summary["feeds"]["spc_measurements"] == {"published": 1, "failed_gate": 1}
