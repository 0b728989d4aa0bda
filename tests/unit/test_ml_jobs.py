"""Pure parts of the training/scoring jobs: replay cutoffs, which version scores which date."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ml.jobs import SCOPES, _num, assign_versions, days_between, replay_cutoffs


def v(version, cutoff, champion=False):
    return {"model_name": "andon_x", "version": str(version), "training_cutoff": cutoff, "threshold": 0.5,
            "is_champion": champion}


def test_replay_cutoffs_weekly_and_always_the_last_day():
    first, last = date(2026, 3, 9), date(2026, 3, 30)
    assert replay_cutoffs(first, last, 7) == [date(2026, 3, 9), date(2026, 3, 16), date(2026, 3, 23), last]
    assert replay_cutoffs(first, date(2026, 3, 27), 7)[-1] == date(2026, 3, 27)
    assert replay_cutoffs(last, last, 7) == [last]
    with pytest.raises(ValueError):
        replay_cutoffs(first, last, 0)


def test_replay_scores_each_date_with_the_latest_version_trained_strictly_before():
    c1, c2 = date(2026, 3, 10), date(2026, 3, 17)
    versions = [v(1, c1), v(2, c2), v(3, c2, champion=True)]
    dates = [c1 - timedelta(days=1), c1, c1 + timedelta(days=1), c2, c2 + timedelta(days=1)]
    plan = assign_versions(dates, versions, "replay")
    # before/at the first cutoff: no model; after c1 up to c2: v1; after c2: the highest version of c2
    assert plan == {"1": [c1 + timedelta(days=1), c2], "3": [c2 + timedelta(days=1)]}


def test_replay_skips_versions_the_gate_did_not_promote():
    c1, c2 = date(2026, 3, 10), date(2026, 3, 17)
    versions = [v(1, c1), {**v(2, c2), "promoted": False}]
    dates = [c1 + timedelta(days=1), c2 + timedelta(days=1)]
    # production kept v1 as champion after c2: the replay scores with v1 too
    assert assign_versions(dates, versions, "replay") == {"1": dates}


def test_champion_scores_every_date():
    versions = [v(1, date(2026, 3, 10)), v(2, date(2026, 3, 17), champion=True)]
    dates = days_between(date(2026, 3, 1), date(2026, 3, 3))
    assert assign_versions(dates, versions, "champion") == {"2": dates}
    assert assign_versions(dates, [], "champion") == {}
    with pytest.raises(ValueError):
        assign_versions(dates, versions, "latest")


def test_days_between_and_env_numbers():
    assert days_between(date(2026, 3, 1), date(2026, 3, 1)) == [date(2026, 3, 1)]
    with pytest.raises(ValueError):
        days_between(date(2026, 3, 2), date(2026, 3, 1))
    assert _num("20") == 20 and _num("0.05") == 0.05 and _num("x") == "x" and _num(3) == 3


def test_dag_scopes_match_the_jobs():
    from andon_common import ML_SCOPES

    assert tuple(ML_SCOPES) == SCOPES


def test_chunk_cutoffs_bounds_the_rows_of_each_group_and_keeps_every_cutoff_in_order():
    from datetime import date, timedelta

    from ml.jobs import chunk_cutoffs

    start = date(2026, 3, 2)
    rows_per_day = {start + timedelta(days=d): 100 for d in range(70)}
    cutoffs = [start + timedelta(days=d) for d in range(6, 70, 7)]       # 10 weekly cutoffs
    chunks = chunk_cutoffs(cutoffs, rows_per_day, max_rows=2_000)
    assert [c for ch in chunks for c in ch] == cutoffs
    for ch in chunks:
        rows = sum(100 * ((c - start).days + 1) for c in ch)
        assert rows <= 2_000 or len(ch) == 1                              # a too-big cutoff stands alone
    assert len(chunks) > 1
    assert chunk_cutoffs(cutoffs, rows_per_day, max_rows=10**9) == [cutoffs]
    assert chunk_cutoffs([], rows_per_day, 10) == []


def test_a_mart_update_scores_the_days_no_score_covers_yet():
    from ml.jobs import pending_window

    last = date(2026, 3, 30)
    # nothing scored yet, or everything: the newest day (re-scored when the mart changed under it)
    assert pending_window(None, last, 366) == [last]
    assert pending_window(last, last, 366) == [last]
    assert pending_window(last + timedelta(days=2), last, 366) == [last]
    # a gap of three landed days: all three, in order
    assert pending_window(date(2026, 3, 27), last, 366) == [date(2026, 3, 28), date(2026, 3, 29), last]
    # a gap longer than the window limit: its latest days only
    assert pending_window(date(2025, 1, 1), last, 5) == days_between(date(2026, 3, 26), last)
