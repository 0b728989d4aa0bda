"""The plain KPI's "visible" day from tiny hand-made gold mart frames (ml/visibility.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from ml.visibility import (
    binom_tail,
    cohort_visible,
    evident,
    lot_visible,
    station_visible,
    visible_days,
)

D0 = date(2026, 3, 2)  # a Monday


def d(i: int) -> date:
    return D0 + timedelta(days=i)


def test_binomial_tail_against_closed_form():
    assert abs(binom_tail(3, 10, 0.1) - (1 - (0.9**10 + 10 * 0.1 * 0.9**9 + 45 * 0.01 * 0.9**8))) < 1e-12
    assert binom_tail(0, 5, 0.3) == 1.0 and binom_tail(6, 5, 0.3) == 0.0 and binom_tail(1, 5, 0.5) == 1 - 0.5**5
    assert not evident(2, 10, 0.0001)  # fewer than three fails is never evident
    assert evident(3, 10, 0.0001) and not evident(3, 1000, 0.01)


def _yield(fails_by_day: dict[int, int], days: int = 20, tested: int = 100, station="S-L1-FT", line="S-L1"):
    """Two products per station and day (the rule sums them): 1 fail a day unless told."""
    rows = []
    for i in range(days):
        f = fails_by_day.get(i, 1)
        for product, share in (("AX100", 0.6), ("BX200", 0.4)):
            n = round(tested * share)
            x = round(f * share) if product == "AX100" else f - round(f * 0.6)
            rows.append((station, line, "FT", product, d(i), n, n - x, x))
    return pd.DataFrame(
        rows,
        columns=[
            "station_id", "line_id", "station_type", "product_id", "tested_date",
            "units_first_tested", "units_first_passed", "units_first_failed",
        ],
    )  # fmt: skip


def test_station_day_visible_against_its_own_trailing_baseline():
    # day 0: 10 fails but no baseline yet; day 15: 8 fails of 100 against ~1 %; day 16: 3 fails
    s = station_visible(_yield({0: 10, 15: 8, 16: 3})).set_index("tested_date")
    assert s.loc[d(15), "n"] == 100 and s.loc[d(15), "fails"] == 8
    assert s.loc[d(15), "baseline_n"] == 1400
    assert s.loc[d(15), "visible"]
    assert not s.loc[d(0), "visible"]  # no baseline to judge against
    assert not s.loc[d(16), "visible"]  # 3 of 100 against ~1.4 % is not evident
    assert s["visible"].sum() == 1


def test_station_needs_enough_baseline_attempts():
    s = station_visible(_yield({15: 8}, tested=3)).set_index("tested_date")
    assert not s["visible"].any()


def _lots():
    return pd.DataFrame(
        {
            "supplier_lot_id": ["A", "B", "C", "Q"],
            "part_id": ["P", "P", "P", "Q"],
            "units_route_tested": [200, 1000, 1000, 10],
            "units_failed_first_attempt": [10, 1, 1, 9],
            "first_built_date": [d(0), d(0), d(0), d(0)],
            "last_built_date": [d(9), d(9), d(9), d(9)],
        }
    )


def test_supplier_lot_visible_against_the_parts_other_lots():
    v = lot_visible(_lots()).set_index("supplier_lot_id")
    assert v.loc["A", "visible"] and not v.loc["B", "visible"] and not v.loc["C", "visible"]
    assert not v.loc["Q", "visible"]  # 9 of 10 fails, but fewer than 20 units tested
    assert v.loc["A", "part_rate"] == (2 + 0.5) / (2000 + 1)  # B and C pooled, smoothed
    # steady consumption over 10 days: day 2 sees 60 units and 3 fails, the first evident count
    assert v.loc["A", "visible_date"] == d(2)
    assert v.loc["B", "visible_date"] is None


def test_supplier_lot_visible_is_judged_against_its_own_part_only():
    lots = _lots()
    lots.loc[len(lots)] = ["R", "OTHER", 1000, 300, d(0), d(0)]  # a terrible lot of another part
    assert lot_visible(lots).set_index("supplier_lot_id").loc["A", "visible_date"] == d(2)


def _cohorts():
    return pd.DataFrame(
        {
            "product_id": ["AX100"] * 6 + ["BX200"],
            "ship_week_start_date": [d(7 * k) for k in range(6)] + [d(0)],
            "units_shipped": [500] * 6 + [500],
            "doa_units": [30, 2, 2, 2, 2, 2, 0],
            "early_return_units": [35, 40, 5, 5, 5, 5, 0],
        }
    )


def test_cohort_visible_on_the_day_its_rate_matures():
    c = cohort_visible(_cohorts(), as_of=d(200)).set_index(["product_id", "ship_week_start_date"])
    w0, w1 = c.loc[("AX100", d(0))], c.loc[("AX100", d(7))]
    # DOA: last ship day (6) + 30-day window + 14 days claim lag
    assert w0["doa_mature_date"] == d(50) and w0["doa_visible"] and w0["visible_date"] == d(50)
    # week 1: DOA normal, early returns (90-day window) high: visible when those mature
    assert not w1["doa_visible"] and w1["early_visible"] and w1["visible_date"] == d(7 + 6 + 104)
    assert c.loc[("AX100", d(14)), "visible_date"] is None
    assert c.loc[("BX200", d(0)), "visible_date"] is None  # judged only against its own product


def test_cohort_rate_is_not_read_before_it_matures():
    c = cohort_visible(_cohorts(), as_of=d(49)).set_index(["product_id", "ship_week_start_date"])
    assert not c["doa_visible"].any() and c["visible_date"].isna().all()
    c = cohort_visible(_cohorts(), as_of=d(100)).set_index(["product_id", "ship_week_start_date"])
    assert c.loc[("AX100", d(0)), "visible_date"] == d(50)
    assert not c.loc[("AX100", d(7)), "early_visible"]  # its early-return rate is not mature yet


def test_visible_days_per_incident():
    ydf = pd.concat([_yield({5: 12, 15: 8}), _yield({12: 9}, station="S-L1-ICT")], ignore_index=True)
    marts = {
        "fct_station_daily_yield": ydf,
        "fct_supplier_lot_quality": _lots(),
        "fct_field_return_cohorts": _cohorts(),
    }
    inc = pd.DataFrame(
        [
            ("I1", "factory_output", "station", "S-L1-FT", d(10), d(12)),  # FT day 15 (end + 7 grace covers it)
            ("I2", "factory_output", "line", "S-L1", d(10), d(12)),  # ICT day 12 is the line's first
            ("I3", "factory_output", "station", "S-L1-FT", d(16), d(17)),  # nothing in its window
            ("I4", "incoming_material", "supplier_lot", "A", d(0), d(9)),
            ("I5", "incoming_material", "supplier_lot", "B", d(0), d(9)),
            ("I6", "field_return", "build_lot", "S-L1-AX100-20260302", d(0), d(0)),
            ("I7", "field_return", "product", "AX100", d(7), d(13)),
        ],
        columns=["incident_id", "scope", "entity_type", "entity_id", "start_date", "end_date"],
    )
    inc["start_date"] = inc["start_date"].astype(str)
    inc["end_date"] = inc["end_date"].astype(str)
    grace = {"factory_output": 7, "incoming_material": 21, "field_return": 60}
    v = visible_days(inc, marts, grace, as_of=d(200))
    assert v == {"I1": d(15), "I2": d(12), "I4": d(2), "I6": d(50), "I7": d(117)}
    # day 5's burst is before I1's start; an as-of before the DOA maturity hides I6
    assert "I6" not in visible_days(inc, marts, grace, as_of=d(40))


def test_maturity_windows_agree_with_the_mart():
    """One definition of cohort maturity: the evaluation's constants are the dbt project's vars."""
    import yaml

    from ml import visibility
    from tests.conftest import REPO

    dbt_vars = yaml.safe_load((REPO / "dbt" / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
    assert visibility.DOA_WINDOW_DAYS == dbt_vars["doa_window_days"]
    assert visibility.EARLY_WINDOW_DAYS == dbt_vars["early_return_window_days"]
    assert visibility.CLAIM_LAG_DAYS == dbt_vars["claim_lag_days"]
