"""Evaluation harness on hand-made scores, features and ledger (no Spark)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest

from ml.evaluate import (
    baseline_warning,
    better,
    evaluate,
    evaluate_method,
    first_visible,
    incident_entity,
    kpi_visible,
    report_markdown,
    report_table,
)

D0 = date(2026, 3, 2)  # a Monday


def d(i: int) -> date:
    return D0 + timedelta(days=i)


def ledger(rows):
    cols = ["incident_id", "scope", "entity_type", "entity_id", "start_date", "end_date", "kind"]
    return pd.DataFrame([dict(zip(cols, r, strict=True)) for r in rows])


def test_station_incident_maps_to_its_line():
    assert incident_entity("factory_output", "station", "SZX-L1-FT") == "SZX-L1"
    assert incident_entity("factory_output", "line", "SZX-L1") == "SZX-L1"
    assert incident_entity("incoming_material", "supplier_lot", "L-1-2") == "L-1-2"


def test_recall_lead_time_and_false_alarms_by_hand():
    # two lines scored 14 days (2 ISO weeks); incident on A from day 3 to 5, KPI visible day 6
    rows = [(e, d(i)) for e in ("A", "B") for i in range(14)]
    mon = pd.DataFrame(rows, columns=["entity", "score_date"])
    warn = [(e == "A" and i == 4) or (e == "B" and i in (1, 2, 9)) for e, i in [(e, (x - D0).days) for e, x in rows]]
    inc = ledger([("INC-1", "factory_output", "line", "A", d(3).isoformat(), d(5).isoformat(), "process_drift")])
    r = evaluate_method("factory_output", mon, pd.Series(warn), inc, {"INC-1": d(6)}, grace_days=2)
    assert r["incidents"] == 1 and r["detected"] == 1 and r["recall"] == 1.0
    assert r["median_lead_days"] == 2.0  # visible day 6 - first warning day 4
    # B warned on days 1, 2 (week 1) and 9 (week 2): 2 false entity-weeks of 4 monitored
    assert r["monitored_entity_weeks"] == 4
    assert r["false_alarm_entity_weeks"] == 2
    assert r["false_alarms_per_100_entity_weeks"] == 50.0


def test_warning_outside_the_window_is_a_false_alarm_and_not_a_detection():
    mon = pd.DataFrame([("A", d(i)) for i in range(14)], columns=["entity", "score_date"])
    warn = pd.Series([i == 12 for i in range(14)])  # after end (5) + grace (2)
    inc = ledger([("INC-1", "factory_output", "line", "A", d(3).isoformat(), d(5).isoformat(), "process_drift")])
    r = evaluate_method("factory_output", mon, warn, inc, {}, grace_days=2)
    assert r["detected"] == 0 and r["recall"] == 0.0 and math.isnan(r["median_lead_days"])
    assert r["false_alarm_entity_weeks"] == 1


def test_kpi_visible_rules():
    inc_feats = pd.DataFrame(
        {
            "units_tested": [29, 30, 40, 40],
            "unit_fail_rate": [0.5, 0.10, 0.10, 0.10],
            "part_unit_fail_rate": [0.05, 0.05, 0.08, 0.05],
            "unit_fail_z": [5.0, 3.0, 3.0, 2.9],
        }
    )
    # 29 units: too little evidence; visible; 0.10 < 1.5 x 0.08; z below 3
    assert kpi_visible("incoming_material", inc_feats).tolist() == [False, True, False, False]
    fo = pd.DataFrame(
        {
            "ict_1d_first_attempts": [10.0, 10.0],
            "ict_1d_fail_rate": [0.0, 0.0],
            "ft_1d_first_attempts": [10.0, 10.0],
            "ft_1d_fail_rate": [0.2, 0.1],
            "ict_7d_first_attempts": [70.0, 70.0],
            "ict_7d_fail_rate": [0.0, 0.0],
            "ft_7d_first_attempts": [70.0, 70.0],
            "ft_7d_fail_rate": [2.0 / 70, 7.0 / 70],
        }
    )
    # row 0: today 2/20 = 10 %, prior 0/120 -> > 6 %: visible; row 1: today 1/20 = 5 % < 6 %
    assert kpi_visible("factory_output", fo).tolist() == [True, False]
    fr = pd.DataFrame(
        {
            "product_id": ["P", "P", "P"],
            "score_date": [d(0)] * 3,
            "units_shipped": [100.0, 100.0, 10.0],
            "returns_so_far": [5.0, 0.0, 5.0],
        }
    )
    # pooled 10/210 = 4.8 % -> base 4.8 %; lot 0: 5 % < 9.5 %; lot 2: only 10 shipped
    assert kpi_visible("field_return", fr).tolist() == [False, False, False]
    fr.loc[0, "returns_so_far"] = 20.0  # pooled 25/210 = 11.9 %; lot 0: 20 % < 23.8 %
    assert kpi_visible("field_return", fr).tolist() == [False, False, False]
    fr.loc[1, "units_shipped"] = 1000.0  # pooled 25/1110 = 2.25 %; lot 0: 20 % > 4.5 %
    assert kpi_visible("field_return", fr).tolist() == [True, False, False]


def test_baseline_rules():
    assert baseline_warning(
        "incoming_material",
        pd.DataFrame(
            {"supplier_n_out_of_spec": [0, 1, 0], "iqc_samples": [5, 0, 4], "iqc_fail_rate": [0.2, None, 0.5]}
        ),
    ).tolist() == [True, True, False]
    assert baseline_warning(
        "factory_output", pd.DataFrame({"spc_max_shift_sigma": [3.5, 1.0, None], "spc_oos_share_1d": [0, 0.01, 0]})
    ).tolist() == [True, True, False]
    assert baseline_warning(
        "field_return", pd.DataFrame({"doa_so_far": [2, 1, 3], "doa_rate_so_far": [0.02, 0.5, 0.01]})
    ).tolist() == [True, False, False]


def test_first_visible_is_the_first_kpi_day_in_the_window():
    f = pd.DataFrame(
        {
            "line_id": ["A"] * 10,
            "score_date": [d(i) for i in range(10)],
            "ict_1d_first_attempts": [20.0] * 10,
            "ict_1d_fail_rate": [0.0, 0.5, 0, 0, 0, 0.5, 0.5, 0, 0, 0],
            "ft_1d_first_attempts": [0.0] * 10,
            "ft_1d_fail_rate": [None] * 10,
            "ict_7d_first_attempts": [20.0] * 10,
            "ict_7d_fail_rate": [0.0] * 10,
            "ft_7d_first_attempts": [0.0] * 10,
            "ft_7d_fail_rate": [None] * 10,
        }
    )
    inc = ledger([("INC-1", "factory_output", "station", "A-FT", d(3).isoformat(), d(4).isoformat(), "x")])
    assert first_visible("factory_output", f, inc, grace_days=14) == {"INC-1": d(5)}  # day 1 is before the start


def test_better_orders_recall_then_lead_then_false_alarms():
    nan = float("nan")
    a = {"recall": 1.0, "median_lead_days": 0.0, "false_alarms_per_100_entity_weeks": 9.0}
    b = {"recall": 0.5, "median_lead_days": 5.0, "false_alarms_per_100_entity_weeks": 0.0}
    assert better(a, b) and not better(b, a)
    c = {"recall": 1.0, "median_lead_days": 2.0, "false_alarms_per_100_entity_weeks": 20.0}
    assert better(c, a)
    e = {"recall": 1.0, "median_lead_days": nan, "false_alarms_per_100_entity_weeks": 1.0}
    assert better(a, e)
    same = dict(a)
    assert not better(a, same)


def test_evaluate_end_to_end_on_hand_made_frames():
    scores = pd.DataFrame(
        {
            "scope": "field_return",
            "entity_id": ["BL1"] * 5 + ["BL2"] * 5,
            "score_date": [d(i) for i in range(5)] * 2,
            "is_warning": [False, True, True, False, False] + [False] * 5,
            "model_version": "3",
        }
    )
    feats = pd.DataFrame(
        {
            "build_lot_id": ["BL1"] * 5 + ["BL2"] * 5,
            "product_id": "P",
            "score_date": [d(i) for i in range(5)] * 2,
            "units_shipped": [100.0] * 5 + [1000.0] * 5,
            "returns_so_far": [0, 0, 0, 10, 12] + [5] * 5,
            "doa_so_far": [0, 0, 0, 0, 3] + [0] * 5,
            "doa_rate_so_far": [0, 0, 0, 0, 0.03] + [0] * 5,
        }
    )
    inc = ledger([("INC-9", "field_return", "build_lot", "BL1", d(0).isoformat(), d(0).isoformat(), "latent_defect")])
    rep = evaluate(scores, {"field_return": feats}, inc)
    r = rep["scopes"]["field_return"]
    assert r["model"]["recall"] == 1.0 and r["model"]["median_lead_days"] == 2.0  # visible day 3, warned day 1
    assert r["baseline"]["recall"] == 1.0 and r["baseline"]["median_lead_days"] == -1.0  # DOA fires day 4
    assert r["model_beats_baseline"] is True
    assert rep["scopes_model_beats_baseline"] == 1
    assert "| field_return | model | 1 | 1 | 100% | 2.0 |" in report_table(rep)
    assert "INC-9" in report_markdown(rep)


@pytest.mark.parametrize("scope", ["nope"])
def test_unknown_scope_is_an_error(scope):
    with pytest.raises(ValueError):
        kpi_visible(scope, pd.DataFrame())
