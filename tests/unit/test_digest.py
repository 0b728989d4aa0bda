"""The weekly digest: warnings classified per week, KPI sections from the report model, the
track record, and the page rendered by the Jinja template (reporting/templates/digest.html.j2)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from reporting.digest import (
    affects,
    charts,
    dashboard_links,
    decided_this_week,
    digest_context,
    iso_week,
    kpi_sections,
    new_warnings,
    raised_by,
    render,
    track_record,
    version_switches,
    week_warnings,
)
from reporting.workflow import episodes

MON = date(2026, 3, 9)
SUN = MON + timedelta(days=6)


def factors(name):
    return [{"feature": f"{name}_{i}", "contribution": 0.5 - i * 0.2, "value": str(i)} for i in range(5)]


def scores():
    rows = []
    for i in range(14):
        day = MON - timedelta(days=7) + timedelta(days=i)
        this_week = i >= 7
        rows += [
            ("factory_output", "L1", day, 0.9 if this_week else 0.1, this_week),  # new this week
            ("factory_output", "L2", day, 0.8, True),  # warned both weeks: ongoing
            ("incoming_material", "LOT-1", day, 0.95 if i == 9 else 0.2, i == 9),
        ]
    df = pd.DataFrame(rows, columns=["scope", "entity_id", "score_date", "score", "is_warning"])
    df["threshold"] = 0.5
    df["top_factors"] = [factors(e) for e in df["entity_id"]]
    df["model_name"] = "andon_" + df["scope"]
    df["model_version"] = "4"
    return df


def trends(partial_days=3):
    base = {"week_start_date": MON, "covered_days": partial_days, "is_partial_week": partial_days < 7}
    return pd.DataFrame(
        [
            base | {"kpi": "rolled_fpy", "kpi_name": "Rolled first-pass yield", "value_unit": "share",
                    "is_higher_better": True, "site_id": "SZX", "product_id": "AX100", "value": 0.90,
                    "value_last_week": 0.95, "value_last_4_weeks": 0.94, "change_vs_last_week": -0.05,
                    "change_vs_last_4_weeks": -0.04, "is_like_for_like": True, "basis": "route first attempts: 300"},
            base | {"kpi": "cpk_below_1_33", "kpi_name": "Characteristics with Cpk below 1.33", "value_unit": "count",
                    "is_higher_better": False, "site_id": "SZX", "product_id": None, "value": 2.0,
                    "value_last_week": 1.0, "value_last_4_weeks": 1.5, "change_vs_last_week": 1.0,
                    "change_vs_last_4_weeks": 0.5, "is_like_for_like": False, "basis": "characteristics graded: 9"},
        ]
    )


def table_of(s):
    t = episodes(s)
    t["owner"] = "szx-quality"
    t["status"] = "new"
    t["escalated"] = False
    return t


def test_iso_week():
    assert iso_week(date(2026, 3, 11)) == (MON, SUN, "2026-W11")
    assert iso_week(date(2026, 3, 15))[2] == "2026-W11"


def test_week_warnings_are_new_or_ongoing_with_the_week_top_day():
    s = scores()
    w = week_warnings(episodes(s), s, MON, SUN)
    state = dict(zip(w["entity_id"], w["state"], strict=True))
    assert state == {"L1": "new", "L2": "ongoing", "LOT-1": "new"}
    assert w.set_index("entity_id").loc["L1", "score"] == 0.9
    n = new_warnings(s, MON)
    assert sorted(n["entity_id"]) == ["L1", "LOT-1"]
    assert n[n["entity_id"] == "LOT-1"].iloc[0]["first_warning"] == MON + timedelta(days=2)
    # the week before: L2 was new then, L1 not warned at all
    before = week_warnings(episodes(s), s, MON - timedelta(days=7), MON - timedelta(days=1))
    assert list(before["entity_id"]) == ["L2"] and list(before["state"]) == ["new"]


def test_raised_by_names_rule_or_model():
    assert raised_by("rule:doa_rate", "rules-1") == {"kind": "rule", "text": "label-free rule doa_rate (rules-1)"}
    assert raised_by("andon_field_return", 7)["kind"] == "model"


def test_kpi_sections_format_changes_and_flag_what_got_worse():
    (fpy, cpk) = kpi_sections(trends(), MON)
    assert fpy["title"] == "Rolled first-pass yield" and fpy["partial"] and fpy["like_for_like"]
    r = fpy["rows"][0]
    assert (r["who"], r["value"], r["last_week"], r["change"]) == ("AX100 SZX", "90.00 %", "95.00 %", "-5.00 pts")
    assert r["worse"] is True                      # yield fell: worse
    c = cpk["rows"][0]
    assert (c["value"], c["change"], c["worse"]) == ("2.00", "+1.00", True)  # more low-Cpk characteristics: worse
    assert cpk["like_for_like"] is False
    assert kpi_sections(trends(), MON + timedelta(days=7)) == []


def test_track_record_counts_outcomes_and_pools_fpr_fnr():
    t = pd.DataFrame(
        {
            "scope": ["factory_output"] * 4 + ["incoming_material"],
            "first_warning": [MON - timedelta(days=d) for d in (0, 7, 14, 70)] + [MON],
            "status": ["confirmed", "false_alarm", "new", "confirmed", "acknowledged"],
        }
    )
    q = pd.DataFrame(
        {
            "scope": ["factory_output"] * 3,
            "method": ["model", "model", "baseline"],
            "week_start_date": [MON, MON - timedelta(days=7), MON],
            "negative_entity_weeks": [40, 60, 40],
            "false_positive_entity_weeks": [1, 3, 9],
            "positive_entity_weeks": [2, 2, 2],
            "true_positive_entity_weeks": [1, 2, 0],
        }
    )
    rec = {r["scope"]: r for r in track_record(t, q, SUN, weeks=8)}
    f = rec["factory_output"]
    # the warning of 70 days ago is outside the 8 weeks
    assert (f["raised"], f["confirmed"], f["false_alarms"], f["undecided"]) == (3, 1, 1, 1)
    assert f["confirmed_share"] == 0.5
    assert f["fpr"] == pytest.approx(4 / 100) and f["fnr"] == pytest.approx(1 - 3 / 4)  # model rows only
    assert rec["incoming_material"]["undecided"] == 1 and rec["incoming_material"]["fpr"] is None
    assert rec["field_return"]["raised"] == 0 and rec["field_return"]["confirmed_share"] is None


def test_decided_this_week_keeps_the_last_outcome():
    h = pd.DataFrame(
        {
            "warning_id": ["A", "A", "B", "C"],
            "scope": ["factory_output"] * 4,
            "entity_id": ["L1", "L1", "L2", "L3"],
            "to_status": ["acknowledged", "confirmed", "false_alarm", "confirmed"],
            "actor": ["ann"] * 4,
            "note": [None] * 4,
            "changed_at": [datetime(2026, 3, 10), datetime(2026, 3, 11), datetime(2026, 3, 16), datetime(2026, 3, 2)],
        }
    )
    d = decided_this_week(h, MON, SUN)
    assert list(d["warning_id"]) == ["A"] and d.iloc[0]["to_status"] == "confirmed"


def test_version_switches_mark_the_day_a_new_model_took_over():
    s = scores()
    s.loc[(s["scope"] == "factory_output") & (pd.to_datetime(s["score_date"]).dt.date >= MON), "model_version"] = "5"
    assert version_switches(s) == [(MON, "factory_output")]


def test_affects_in_words():
    lots = pd.DataFrame({"supplier_lot_id": ["LOT-1"], "part_id": ["CAP-10U"], "supplier_id": ["SUP-A"],
                         "units_built": [1200], "units_returned": [3]})
    y = pd.DataFrame({"line_id": ["L1", "L1", "L1"], "station_type": ["ICT", "FT", "ICT"],
                      "tested_date": [MON, MON, MON - timedelta(days=3)], "units_first_tested": [100, 99, 50]})
    gold = {"fct_supplier_lot_quality": lots, "fct_station_daily_yield": y}
    lot = affects("incoming_material", "LOT-1", MON, SUN, gold)
    assert lot == "CAP-10U from SUP-A: 1,200 units built with it, 3 returned"
    assert affects("factory_output", "L1", MON, SUN, gold) == f"100 units entered the line's route since {MON}"
    build_lot = affects("field_return", "SZX-L1-AX100-20260302", MON, SUN, gold)
    assert build_lot == "AX100 built on line SZX-L1 on 2026-03-02"


def test_likely_cause_names_the_strongest_suspect():
    from reporting.digest import likely_cause

    suspects = pd.DataFrame({
        "build_lot_id": ["B1", "B1"], "suspect_rank": [2, 1], "suspect_type": ["station", "supplier_lot"],
        "suspect_id": ["L1-FT", "LOT-9"], "owner_hint": ["L1-FT", "SUP-A"],
        "evidence": ["station evidence", "2 units carry CAP-10U lot LOT-9 from SUP-A. p = 1e-6."],
    })
    cusum = pd.DataFrame({
        "line_id": ["L1", "L1", "L1", "L1"], "monitor_level": ["station", "station", "line", "station"],
        "station_id": ["L1-ICT", "L1-FT", None, "L1-FT"],
        "tested_date": [MON, MON + timedelta(days=1), MON, MON - timedelta(days=1)],
        "is_true_fail_signal": [True, False, True, True], "is_false_fail_signal": [False, True, False, False],
        "cusum_true": [7.0, 1.0, 20.0, 30.0], "cusum_false": [0.0, 9.0, 0.0, 0.0],
        "description": ["ICT true fails", "FT false fails", "line", "before the warning"],
    })
    gold = {"fct_build_lot_suspects": suspects, "fct_yield_cusum": cusum}
    assert likely_cause("field_return", "B1", MON, SUN, gold) == (
        "LOT-9 (supplier SUP-A) (+1 more): 2 units carry CAP-10U lot LOT-9 from SUP-A. p = 1e-6.")
    assert likely_cause("field_return", "B2", MON, SUN, gold) == ""
    # the line's warning week: FT's false-fail CUSUM (9) beats ICT's true fails (7); the line row
    # and the day before the warning do not count
    assert likely_cause("factory_output", "L1", MON, SUN, gold) == "L1-FT (station): FT false fails"
    assert likely_cause("incoming_material", "LOT-9", MON, SUN, gold) == ""
    assert likely_cause("field_return", "B1", MON, SUN, {}) == ""


def test_dashboard_links_only_when_configured():
    assert dashboard_links({}) == []
    raw = {"digest": {"superset_url": "http://bi.example:8088/", "dashboards": {"early-warnings": "Early warnings"}}}
    assert dashboard_links(raw) == [{"title": "Early warnings", "url": "http://bi.example:8088/superset/dashboard/early-warnings/"}]


def test_rendered_page_holds_warnings_kpis_track_record_and_escapes_text():
    s = scores()
    s = s[pd.to_datetime(s["score_date"]).dt.date <= MON + timedelta(days=2)].copy()  # Monday-Wednesday scored
    s.loc[s["entity_id"] == "LOT-1", "entity_id"] = "LOT-<b>1</b>"
    t = table_of(s)
    t.loc[t["entity_id"] == "L2", "escalated"] = True
    rolled = pd.DataFrame({"product_id": ["P1", "P1"], "site_id": ["S1", "S1"],
                           "week_start_date": [MON - timedelta(days=7), MON], "rolled_fpy": [0.95, 0.90],
                           "is_route_complete": [True, True]})
    gold = {"rpt_weekly_kpi_trends": trends(), "fct_route_rolled_yield": rolled}
    context, meta = digest_context(
        SUN, s, gold, t, None, name_of=lambda n: {"L1_0": "ICT first-pass fail rate (day)"}.get(n, n),
        links=[{"title": "Early warnings", "url": "http://bi/superset/dashboard/early-warnings/"}],
    )
    assert meta["new_warnings"] == {"incoming_material": 1, "factory_output": 1, "field_return": 0}
    assert meta["escalated"] == 1 and meta["ongoing_warnings"]["factory_output"] == 1
    page = render(context)
    assert page.count("<img") == 2 and "data:image/png;base64," in page
    assert context["headline"] in page and "1 escalated" in context["headline"]
    assert "factory 1" in context["headline"]
    factory = page.split("Factory output (lines):")[1].split("<h3>")[0]
    assert "1</span> new, 1 ongoing" in page.split("Factory output (lines):")[1][:60]
    assert "L1" in factory and "L2" in factory and "Ongoing (first warned before this week" in factory
    assert "<span title=\"L1_0\">ICT first-pass fail rate (day)</span>: 0 <span class=\"c\">(+0.50)</span>" in page
    assert "model andon_factory_output v4" in page
    assert "LOT-&lt;b&gt;1&lt;/b&gt;" in page and "LOT-<b>1</b>" not in page  # autoescaped
    assert meta["partial_days"] == 3 and "(partial, 3 days)" not in context["headline"]
    assert "partial week: 3 days" in page and "-5.00 pts" in page
    assert "not like for like" in page  # the weekly Cpk count of a partial week
    assert "track record" in page and 'href="http://bi/superset/dashboard/early-warnings/"' in page
    assert "Needs a decision" in page


def test_charts_skip_incomplete_routes():
    s = scores()
    rolled = pd.DataFrame({"product_id": ["P1"], "site_id": ["S1"], "week_start_date": [MON], "rolled_fpy": [0.5],
                           "is_route_complete": [False]})
    assert [t for t, _ in charts(s, rolled, SUN)] == ["Warnings per day"]


def dq_rows():
    def row(feed, day, status, records=100, quarantined=0, warnings=(), critical=()):
        return {"feed": feed, "landing_date": day, "status": status, "records_received": records,
                "quarantined_rows": quarantined, "gx_warnings": list(warnings), "gx_critical_failures": list(critical)}

    drift = "schema drift in mes/2026-03-10/MES_TESTLOG_GDL_20260310.csv: required field(s) RESULT missing; " \
            "unknown field(s) OUTCOME"
    return pd.DataFrame([
        row("mes_testlog", MON, "published", quarantined=2),
        row("mes_testlog", MON + timedelta(days=1), "schema_drift", quarantined=40, warnings=[drift]),
        row("spc_measurements", MON + timedelta(days=1), "failed_gate", critical=["re-landing would shrink ..."]),
        row("lims_results", MON + timedelta(days=2), "no_data", records=0),
        row("mes_testlog", MON - timedelta(days=1), "schema_drift", warnings=["schema drift in last week"]),
    ])


def test_data_health_names_schema_drift_failed_gates_and_missing_days():
    from reporting.digest import data_health

    health = data_health(dq_rows(), MON, SUN)
    assert not health["ok"]
    assert health["text"] == ("2 of 4 feed-days published; schema drift in 1, quality gate failed in 1, no data in 1; "
                              "42 of 300 records quarantined (14.0%).")
    kinds = [(i["kind"], i["feed"], i["day"]) for i in health["items"]]
    assert kinds == [("schema drift", "mes_testlog", "2026-03-10"),
                     ("quality gate failed, previous silver kept", "spc_measurements", "2026-03-10"),
                     ("no data", "lims_results", "2026-03-11")]
    assert "required field(s) RESULT missing" in health["items"][0]["detail"]
    # Added columns alone keep the day published, and are still named as drift.
    added = dq_rows().iloc[[0]].copy()
    added["gx_warnings"] = [["schema drift in mes/x.csv: unknown field(s) EXTRA"]]
    assert data_health(added, MON, SUN)["items"][0]["detail"].endswith("unknown field(s) EXTRA")
    clean = data_health(dq_rows().iloc[[0]], MON, SUN)
    assert clean["ok"] and clean["items"] == [] and clean["text"].startswith("1 of 1 feed-days published")
    assert not data_health(None, MON, SUN)["ok"]


def test_rendered_page_shows_the_data_health_line_with_the_drift():
    s = scores()
    context, _ = digest_context(SUN, s, {"rpt_weekly_kpi_trends": trends()}, table_of(s), None, with_charts=False,
                                dq=dq_rows())
    page = render(context)
    line = page.split("Data health:")[1].split("</ul>")[0]
    assert "schema drift in 1" in line and "MES_TESTLOG_GDL_20260310.csv: required field(s) RESULT missing" in line
    assert "quality gate failed, previous silver kept</span>: spc_measurements 2026-03-10" in line
    no_dq, _ = digest_context(SUN, s, {"rpt_weekly_kpi_trends": trends()}, table_of(s), None, with_charts=False)
    assert "No landing results for this week" in render(no_dq)
