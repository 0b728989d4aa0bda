"""Evaluation harness on hand-made scores, features and ledger (no Spark)."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.evaluate import (
    average_precision,
    baseline_score,
    baseline_warning,
    better,
    decoy_concerns,
    entity_keys,
    evaluate,
    evaluate_method,
    incident_entity,
    lead_stats,
    magnitude_bucket,
    matched_threshold,
    report_kind_table,
    report_markdown,
    report_table,
    warning_quality_weekly,
    wilson,
)

D0 = date(2026, 3, 2)  # a Monday


def d(i: int) -> date:
    return D0 + timedelta(days=i)


def ledger(rows):
    cols = ["incident_id", "scope", "entity_type", "entity_id", "start_date", "end_date", "kind"]
    return pd.DataFrame([dict(zip(cols, r, strict=True)) for r in rows], columns=cols)


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


# --------------------------------------------------------------------------- harness v1


def test_wilson_interval_known_values():
    lo, hi = wilson(3, 3)
    assert round(lo, 2) == 0.44 and hi == 1.0  # DOMAIN.md: three of three proves little
    assert [round(v, 4) for v in wilson(5, 10)] == [0.2366, 0.7634]
    assert [round(v, 4) for v in wilson(0, 10)] == [0.0, 0.2775]
    assert all(math.isnan(v) for v in wilson(0, 0))


@pytest.mark.parametrize("n", range(1, 60))
def test_wilson_interval_holds_the_estimate_exactly_at_the_edges(n):
    # 0 of 3 computed a lower bound of 5.6e-17 > 0.0 from rounding (a CI failure)
    for k in (0, 1, n - 1, n):
        lo, hi = wilson(k, n)
        assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0


def test_lead_stats_quartiles():
    s = lead_stats([5, -2, 3, 0])
    assert (s["n"], s["median"], s["q1"], s["q3"]) == (4, 1.5, -0.5, 3.5)
    assert lead_stats([])["n"] == 0 and math.isnan(lead_stats([])["median"])


def test_lead_time_sign_early_is_positive_late_is_negative():
    mon = pd.DataFrame([(e, d(i)) for e in ("A", "B") for i in range(14)], columns=["entity", "score_date"])
    inc = ledger(
        [
            ("INC-1", "factory_output", "line", "A", d(2).isoformat(), d(8).isoformat(), "x"),
            ("INC-2", "factory_output", "line", "B", d(2).isoformat(), d(8).isoformat(), "x"),
        ]
    )
    warn = pd.Series([(e == "A" and i == 3) or (e == "B" and i == 7) for e in ("A", "B") for i in range(14)])
    r = evaluate_method("factory_output", mon, warn, inc, {"INC-1": d(6), "INC-2": d(4)}, grace_days=0)
    leads = {p["incident_id"]: p["lead_days"] for p in r["per_incident"]}
    assert leads == {"INC-1": 3, "INC-2": -3}
    assert r["lead_days"] == {"n": 2, "median": 0.0, "q1": -1.5, "q3": 1.5}


def _ten_lines():
    """10 lines x 14 days (20 entity-weeks); an incident on A days 3..5 (grace 0)."""
    ents = [chr(ord("A") + k) for k in range(10)]
    mon = pd.DataFrame([(e, d(i)) for e in ents for i in range(14)], columns=["entity", "score_date"])
    inc = ledger([("INC-1", "factory_output", "line", "A", d(3).isoformat(), d(5).isoformat(), "drift")])
    return mon, inc


def test_matched_budget_threshold_and_recall():
    mon, inc = _ten_lines()
    # noise outside the window: B 0.9 (week 1), C 0.8 (week 2), D 0.5; A scores 0.6 inside its window
    val = {("A", 4): 0.6, ("B", 1): 0.9, ("C", 9): 0.8, ("D", 2): 0.5}
    scores = pd.Series([val.get((e, (x - D0).days), 0.0) for e, x in mon.itertuples(index=False)])
    own = scores >= 0.95  # the method's own threshold catches nothing
    r = evaluate_method("factory_output", mon, own, inc, {}, 0, scores, budgets=(5.0, 10.0, 20.0))
    assert r["detected"] == 0
    b5, b10, b20 = (r["at_budget"][k] for k in ("5", "10", "20"))
    # 5 per 100 of 20 entity-weeks: one false entity-week allowed -> only B's 0.9 may alarm
    assert b5["threshold"] > 0.8 and b5["false_alarms_per_100_entity_weeks"] == 5.0 and b5["detected"] == 0
    # two allowed -> threshold just above D's 0.5: A's 0.6 is caught
    assert 0.5 < b10["threshold"] <= 0.6 and b10["detected"] == 1 and b10["recall"] == 1.0
    assert b10["false_alarms_per_100_entity_weeks"] == 10.0
    # four allowed: the fourth-worst entity-week scores 0.0 (like 16 others), so the threshold stays above 0
    assert b20["threshold"] > 0.0 and b20["false_alarms_per_100_entity_weeks"] == 15.0
    assert r["per_incident"][0]["detected_at_budget"] == {"5": False, "10": True, "20": True}


def test_matched_threshold_never_exceeds_the_budget_on_ties():
    mon, inc = _ten_lines()
    m = mon.assign(
        week=[f"W{(x - D0).days // 7}" for x in mon["score_date"]], in_window=False
    )  # no incident: every row is outside
    s = np.array([0.9 if (e in ("B", "C") and (x - D0).days == 1) else 0.0 for e, x in mon.itertuples(index=False)])
    t = matched_threshold(m, s, 5.0)  # one allowed, two tied at 0.9: neither may alarm
    assert t > 0.9
    assert matched_threshold(m, s, 100.0) == -math.inf


def test_two_methods_compared_at_the_same_budget():
    """A method with many alarms at its own threshold beats a quiet one once both spend the same budget."""
    mon, inc = _ten_lines()
    noisy = pd.Series([0.9 if ((x - D0).days == 4) else 0.1 for e, x in mon.itertuples(index=False)])  # all lines
    ranked = pd.Series(
        [0.7 if (e == "A" and (x - D0).days == 4) else 0.2 for e, x in mon.itertuples(index=False)]
    )  # only A
    a = evaluate_method("factory_output", mon, noisy >= 0.5, inc, {}, 0, noisy, budgets=(5.0,))
    b = evaluate_method("factory_output", mon, ranked >= 0.8, inc, {}, 0, ranked, budgets=(5.0,))
    assert a["recall"] == 1.0 and b["recall"] == 0.0  # at their own thresholds
    assert a["false_alarms_per_100_entity_weeks"] == 45.0
    assert a["at_budget"]["5"]["recall"] == 0.0 and b["at_budget"]["5"]["recall"] == 1.0


def test_precision_and_pr_auc_at_entity_day_level():
    mon, inc = _ten_lines()
    # A days 3, 4, 5 in the window; warnings: A 4, A 5 (true), B 1 (false)
    hits = {("A", 4), ("A", 5), ("B", 1)}
    warn = pd.Series([(e, (x - D0).days) in hits for e, x in mon.itertuples(index=False)])
    r = evaluate_method("factory_output", mon, warn, inc, {}, 0, warn.astype(float), budgets=())
    assert r["warning_days"] == 3 and r["warning_days_in_window"] == 2
    assert r["precision"] == 2 / 3
    # perfect ranking of the 3 window days among 140: PR-AUC 1
    perfect = pd.Series(
        [1.0 if (e == "A" and 3 <= (x - D0).days <= 5) else 0.0 for e, x in mon.itertuples(index=False)]
    )
    assert evaluate_method("factory_output", mon, warn, inc, {}, 0, perfect, budgets=())["pr_auc"] == 1.0
    assert r["pr_auc"] < 1.0
    assert r["positive_day_share"] == 3 / 140


def test_average_precision_agrees_with_scikit_learn():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(7)
    y = rng.random(500) < 0.1
    s = np.round(rng.random(500) + y * 0.3, 1)  # ties on purpose
    assert abs(average_precision(y, s) - average_precision_score(y, s)) < 1e-12
    assert math.isnan(average_precision(np.zeros(3, bool), np.ones(3)))


def test_false_alarm_interval_per_100_entity_weeks():
    mon, inc = _ten_lines()
    warn = pd.Series([(e == "B" and (x - D0).days == 1) for e, x in mon.itertuples(index=False)])
    r = evaluate_method("factory_output", mon, warn, inc, {}, 0, budgets=())
    lo, hi = r["false_alarms_per_100_entity_weeks_ci"]
    assert r["false_alarms_per_100_entity_weeks"] == 5.0
    assert (round(lo, 2), round(hi, 2)) == tuple(round(100 * v, 2) for v in wilson(1, 20))
    assert lo < 5.0 < hi


def test_decoy_alarms_match_the_entities_a_decoy_concerns():
    assert decoy_concerns("SZX", "SZX-L1", entity_keys("SZX-L1"))  # the line's site
    assert decoy_concerns("SZX-L1-FT", "SZX-L1", entity_keys("SZX-L1"))  # a station of the line
    assert not decoy_concerns("SZX-L2", "SZX-L1", entity_keys("SZX-L1"))
    assert decoy_concerns("SUP01", "LOT-7", entity_keys("LOT-7", {"supplier_id": "SUP01", "part_id": "PCB"}))
    mon = pd.DataFrame([(e, d(i)) for e in ("LOT-1", "LOT-2") for i in range(14)], columns=["entity", "score_date"])
    keys = {
        "LOT-1": entity_keys("LOT-1", {"supplier_id": "SUP01"}),
        "LOT-2": entity_keys("LOT-2", {"supplier_id": "SUP02"}),
    }
    decoys = pd.DataFrame(
        [
            (
                "DEC-1",
                "incoming_material",
                "supplier",
                "SUP01",
                d(2).isoformat(),
                d(4).isoformat(),
                "supplier_change",
                "",
            ),
            (
                "DEC-2",
                "incoming_material",
                "supplier",
                "SUP02",
                d(2).isoformat(),
                d(4).isoformat(),
                "supplier_change",
                "",
            ),
            ("DEC-3", "field_return", "product", "AX100", d(2).isoformat(), d(4).isoformat(), "shipping_peak", ""),
        ],
        columns=["id", "scope", "entity_type", "entity_id", "start_date", "end_date", "kind", "description"],
    )
    # LOT-1 (SUP01) warns on day 3, LOT-2 (SUP02) only on day 12, after DEC-2's end + grace 2
    warn = pd.Series(
        [(e == "LOT-1" and i == 3) or (e == "LOT-2" and i == 12) for e in ("LOT-1", "LOT-2") for i in range(14)]
    )
    r = evaluate_method("incoming_material", mon, warn, ledger([]), {}, 2, decoys=decoys, budgets=(), keys=keys)
    assert r["decoys"] == 2 and r["decoys_alarmed"] == 1  # the field-return decoy is another scope's
    assert [x["alarmed"] for x in r["per_decoy"]] == [True, False]
    assert r["per_decoy"][0]["first_warning"] == d(3).isoformat()
    none = evaluate_method("incoming_material", mon, warn, ledger([]), {}, 2, budgets=())
    assert none["decoys"] is None and none["decoys_alarmed"] is None


def test_weekly_fpr_fnr_series():
    mon = pd.DataFrame([(e, d(i)) for e in ("A", "B") for i in range(14)], columns=["entity", "score_date"])
    inc = ledger([("INC-1", "factory_output", "line", "A", d(3).isoformat(), d(5).isoformat(), "drift")])
    warn = pd.Series([(e == "A" and i == 4) or (e == "B" and i in (1, 9)) for e in ("A", "B") for i in range(14)])
    silent = pd.Series([False] * 28)
    w = warning_quality_weekly("factory_output", mon, {"model": warn, "baseline": silent}, inc, grace_days=0)
    m = w[w["method"] == "model"].reset_index(drop=True)
    assert m["iso_week"].tolist() == ["2026-W10", "2026-W11"]
    assert m["week_start_date"].tolist() == [d(0), d(7)]
    assert m["monitored_entity_weeks"].tolist() == [2, 2]
    assert m["negative_entity_weeks"].tolist() == [2, 2]  # A has days outside its window in week 1 too
    assert m["false_positive_entity_weeks"].tolist() == [1, 1]
    assert m["fpr"].tolist() == [0.5, 0.5]
    assert m["positive_entity_weeks"].tolist() == [1, 0] and m["true_positive_entity_weeks"].tolist() == [1, 0]
    assert m["fnr"].iloc[0] == 0.0 and math.isnan(m["fnr"].iloc[1])
    b = w[w["method"] == "baseline"]
    assert b["fnr"].iloc[0] == 1.0 and b["fpr"].tolist() == [0.0, 0.0]
    # the series adds up to the report's false alarms
    r = evaluate_method("factory_output", mon, warn, inc, {}, 0, budgets=())
    assert m["false_positive_entity_weeks"].sum() == r["false_alarm_entity_weeks"]


def test_magnitude_buckets_put_two_percent_lots_on_their_own():
    inc = pd.DataFrame(
        {
            "kind": ["defective_lot"] * 4 + ["station_false_fail"] * 2 + ["process_drift"] * 2 + ["new_kind"] * 3,
            "magnitude": ["0.02", "0.025", "0.04", "0.07", "0.1", "0.12", "2", "2.4", "1", "3", "3"],
        }
    )
    assert magnitude_bucket(inc).tolist() == [
        "<= 2.5%", "<= 2.5%", "2.5%-5.0%", "> 5.0%", "<= 10.0%", "> 10.0%", "<= 2", "> 2",
        "< 3", ">= 3", ">= 3",
    ]  # fmt: skip


def test_magnitude_buckets_do_not_depend_on_the_other_incidents_of_a_run():
    """Buckets pool across seeds only if a drift of 1.8 sigma lands in the same bucket whatever
    else the run's ledger holds (a median split would move with the seed)."""
    one = pd.DataFrame({"kind": ["process_drift"] * 2, "magnitude": ["1.8", "1.6"]})
    two = pd.DataFrame({"kind": ["process_drift"] * 2, "magnitude": ["1.8", "2.4"]})
    assert magnitude_bucket(one).iloc[0] == magnitude_bucket(two).iloc[0] == "<= 2"


def test_baseline_score_moves_with_its_rule():
    f = pd.DataFrame({"supplier_n_out_of_spec": [0, 0, 2], "iqc_samples": [5, 4, 0], "iqc_fail_rate": [0.2, 0.9, 0]})
    assert baseline_score("incoming_material", f).tolist() == [0.2, 0.0, 2.0]
    fo = pd.DataFrame({"spc_max_shift_sigma": [3.0, 2.0, 3.01], "spc_oos_share_1d": [0, 0.01, 0]})
    assert baseline_warning("factory_output", fo).tolist() == [False, True, True]


def _cohort_mart():
    weeks = [d(7 * k) for k in range(6)]
    return pd.DataFrame(
        {
            "product_id": "AX100",
            "ship_week_start_date": weeks,
            "units_shipped": 500,
            "doa_units": [30, 2, 2, 2, 2, 2],
            "early_return_units": [35, 5, 5, 5, 5, 5],
        }
    )


def test_evaluate_end_to_end_on_hand_made_frames():
    scores = pd.DataFrame(
        {
            "scope": "field_return",
            "entity_id": ["AX-L1-AX100-20260302"] * 5 + ["AX-L1-AX100-20260303"] * 5,
            "score_date": [d(i) for i in range(5)] * 2,
            "score": [0.1, 0.9, 0.8, 0.2, 0.1] + [0.3] * 5,
            "is_warning": [False, True, True, False, False] + [False] * 5,
            "model_version": "3",
        }
    )
    feats = pd.DataFrame(
        {
            "build_lot_id": ["AX-L1-AX100-20260302"] * 5 + ["AX-L1-AX100-20260303"] * 5,
            "product_id": "AX100",
            "line_id": "AX-L1",
            "score_date": [d(i) for i in range(5)] * 2,
            "doa_so_far": [0, 0, 0, 0, 3] + [0] * 5,
            "doa_rate_so_far": [0, 0, 0, 0, 0.03] + [0] * 5,
        }
    )
    inc = ledger(
        [
            (
                "INC-9",
                "field_return",
                "build_lot",
                "AX-L1-AX100-20260302",
                d(0).isoformat(),
                d(0).isoformat(),
                "latent_defect",
            )
        ]
    )
    inc["magnitude"] = "0.15"
    rep = evaluate(
        scores, {"field_return": feats}, inc, marts={"fct_field_return_cohorts": _cohort_mart()}, as_of=d(120)
    )
    r = rep["scopes"]["field_return"]
    # the DOA rate of the ship week of 2026-03-02 is mature 6 + 30 + 14 days (window + claim lag) after the week starts
    assert r["model"]["per_incident"][0]["kpi_visible"] == d(50).isoformat()
    assert r["model"]["recall"] == 1.0 and r["model"]["median_lead_days"] == 49.0  # warned day 1
    assert r["baseline"]["recall"] == 1.0 and r["baseline"]["median_lead_days"] == 46.0  # DOA rule fires day 4
    assert r["model_beats_baseline"] is True
    assert r["model"]["at_budget"]["1"]["recall"] == 1.0
    assert rep["decoy_ledger"] is False and r["model"]["decoys"] is None
    table = report_table(rep)
    assert "| field_return | model | 1 | 1 | 100% (21%-100%) | 49 [49, 49] |" in table
    assert "| field_return | latent_defect | > 14.0% | model | 1 | 1 |" in report_kind_table(rep)
    assert "INC-9" in report_markdown(rep) and "No decoy ledger" in report_markdown(rep)
    assert set(rep["weekly"]["method"]) == {"model", "baseline"}


def test_detector_is_a_method_where_the_mart_built_its_evidence():
    from ml.rules import DETECTOR_THRESHOLD, detector_score, has_detector

    line = "SZX-L1"
    scores = pd.DataFrame(
        {
            "scope": "factory_output",
            "entity_id": line,
            "score_date": [d(i) for i in range(6)],
            "score": 0.1,
            "is_warning": False,
            "model_version": "2",
        }
    )
    feats = pd.DataFrame(
        {
            "line_id": line,
            "score_date": [d(i) for i in range(6)],
            # the false-fail CUSUM rises by more than h = 6 within a week on day 3 (day 4: it is still
            # at 8, its rise is 2); a true-fail rise (day 1) is not the line's fault; SPC rule 1 fires
            # on day 4 (a mean beyond 3 sigmas) and day 5 (a point out of spec)
            "yield_cusum_false_max_1d": [0.0, 1.0, 3.0, 6.5, 8.0, 0.0],
            "yield_cusum_false_rise_7d": [0.0, 1.0, 3.0, 6.5, 2.0, 0.0],
            "yield_cusum_true_max_1d": [0.0, 9.0, 0.0, 0.0, 0.0, None],
            "spc_max_shift_sigma": [0.0, 0.5, 2.9, 1.0, 3.2, 1.0],
            "spc_oos_share_1d": [0.0, 0.0, 0.0, 0.0, 0.0, 0.1],
        }
    )
    assert has_detector("factory_output", feats) and not has_detector("field_return", feats)
    # the mart has not built the CUSUM: no detector, even though the SPC points are there
    assert not has_detector("factory_output", feats.assign(yield_cusum_false_rise_7d=None))
    fired = detector_score("factory_output", feats) >= DETECTOR_THRESHOLD["factory_output"]
    assert fired.tolist() == [False, False, False, True, True, True]
    # exactly h = 6, exactly 3 sigmas: no signal (C+ > h, beyond 3 sigmas)
    edge = feats.assign(yield_cusum_false_rise_7d=6.0, spc_max_shift_sigma=3.0, spc_oos_share_1d=0.0)
    # a CUSUM far above h that did not rise this week (a station fixed, C+ falling back): no signal
    fixed = feats.assign(yield_cusum_false_max_1d=20.0, yield_cusum_false_rise_7d=0.5, spc_max_shift_sigma=0.0,
                         spc_oos_share_1d=0.0)
    assert not (detector_score("factory_output", fixed) >= DETECTOR_THRESHOLD["factory_output"]).any()
    assert not (detector_score("factory_output", edge) >= DETECTOR_THRESHOLD["factory_output"]).any()
    inc = ledger([("INC-3", "factory_output", "station", "SZX-L1-ICT", d(2).isoformat(), d(5).isoformat(),
                   "fixture_wear")])
    rep = evaluate(scores, {"factory_output": feats}, inc, as_of=d(30))
    r = rep["scopes"]["factory_output"]
    assert r["methods"] == ["model", "baseline", "detector"] and "CUSUM" in r["detector_rule"]
    assert r["detector"]["detected"] == 1 and r["model"]["detected"] == 0
    assert r["detector"]["per_incident"][0]["first_warning"] == d(3).isoformat()
    assert set(rep["weekly"]["method"]) == {"model", "baseline", "detector"}
    assert "| factory_output | detector | 1 | 1 |" in report_table(rep)
    # a feature table without the detector columns (mart not built): no detector method
    rep = evaluate(scores, {"factory_output": feats.drop(columns=["yield_cusum_false_rise_7d"])}, inc, as_of=d(30))
    assert rep["scopes"]["factory_output"]["methods"] == ["model", "baseline"]


def test_field_return_detector_needs_three_returns_and_p_below_one_in_a_thousand():
    from ml.rules import DETECTOR_THRESHOLD, detector_score, has_detector

    f = pd.DataFrame({"returns_so_far": [3, 2, 5, 4], "exposure_surprise": [3.2, 9.0, 2.9, None]})
    assert has_detector("field_return", f)
    fired = detector_score("field_return", f) >= DETECTOR_THRESHOLD["field_return"]
    assert fired.tolist() == [True, False, False, False]


def test_incoming_detector_is_the_lot_test_or_the_supplier_cusum():
    from ml.rules import DETECTOR_THRESHOLD, detector_score, has_detector

    f = pd.DataFrame(
        {
            # p < 0.001 with 3 fails; p < 0.001 with 2 fails (too few); p = 0.001 exactly (not below);
            # supplier CUSUM above h = 4; at h; nothing known yet
            "lot_test_surprise": [3.5, 6.0, 3.0, 0.2, 0.0, None],
            "lot_test_true_fails": [3, 2, 7, 1, 0, None],
            "supplier_cusum_max": [0.0, 1.0, 2.0, 4.3, 4.0, None],
        }
    )
    assert has_detector("incoming_material", f)
    fired = detector_score("incoming_material", f) >= DETECTOR_THRESHOLD["incoming_material"]
    assert fired.tolist() == [True, False, False, True, False, False]


@pytest.mark.parametrize("scope", ["nope"])
def test_unknown_scope_is_an_error(scope):
    with pytest.raises(ValueError):
        baseline_score(scope, pd.DataFrame())


def test_group_incidents_concern_their_members():
    """A supplier_part incident concerns every lot of that supplier and part; a product_region
    incident every build lot of the product; other incidents only the entity they name."""
    from ml.evaluate import entity_matches

    lots = np.array(["SUP1-PCB-AX-L0001", "SUP1-PCB-AX-L0002", "SUP2-PCB-AX-L0001", "SUP1-PSU-12-L0001"])
    assert entity_matches(lots, "supplier_part", "SUP1-PCB-AX").tolist() == [True, True, False, False]
    assert entity_matches(lots, "supplier_lot", "SUP2-PCB-AX-L0001").tolist() == [False, False, True, False]
    builds = np.array(["SZX-L1-AX100-20260302", "SZX-L1-BX200-20260302", "GDL-L2-AX100-20260310"])
    assert entity_matches(builds, "product_region", "AX100-APAC").tolist() == [True, False, True]
