"""Digest pieces on hand-made frames: ISO weeks, 'new' warnings, the rendered page."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from reporting.digest import charts, iso_week, kpi_changes, new_warnings, render

MON = date(2026, 3, 9)


def factors(name):
    return [{"feature": f"{name}_{i}", "contribution": 0.5 - i * 0.2, "value": str(i)} for i in range(5)]


def scores():
    rows = []
    for i in range(14):
        day = MON - timedelta(days=7) + timedelta(days=i)
        this_week = i >= 7
        rows += [
            ("factory_output", "L1", day, 0.9 if this_week else 0.1, this_week),  # new this week
            ("factory_output", "L2", day, 0.8, True),  # warned both weeks: not new
            ("incoming_material", "LOT-1", day, 0.95 if i == 9 else 0.2, i == 9),
        ]
    df = pd.DataFrame(rows, columns=["scope", "entity_id", "score_date", "score", "is_warning"])
    df["threshold"] = 0.5
    df["top_factors"] = [factors(e) for e in df["entity_id"]]
    df["model_name"] = "andon_" + df["scope"]
    df["model_version"] = "4"
    return df


def test_iso_week():
    assert iso_week(date(2026, 3, 11)) == (MON, MON + timedelta(days=6), "2026-W11")
    assert iso_week(date(2026, 3, 15))[2] == "2026-W11"


def test_new_warnings_exclude_entities_warned_the_week_before():
    w = new_warnings(scores(), MON)
    assert sorted(w["entity_id"]) == ["L1", "LOT-1"]
    l1 = w[w["entity_id"] == "L1"].iloc[0]
    assert l1["first_warning"] == MON and l1["days_warned"] == 7
    assert w[w["entity_id"] == "LOT-1"].iloc[0]["first_warning"] == MON + timedelta(days=2)


def test_render_holds_warnings_factors_versions_kpis_and_an_embedded_chart():
    s = scores()
    rolled = pd.DataFrame(
        {
            "product_id": ["P1", "P1"],
            "site_id": ["S1", "S1"],
            "week_start_date": [MON - timedelta(days=7), MON],
            "rolled_fpy": [0.95, 0.90],
        }
    )
    kpis = kpi_changes(rolled, None, None, MON)
    t = kpis["Rolled first-pass yield (%)"].iloc[0]
    assert round(t["change (pts)"], 6) == -5.0
    page = render("2026-W11", MON, MON + timedelta(days=6), new_warnings(s, MON), s, kpis, None,
                  charts(s, rolled, MON + timedelta(days=6)))
    assert page.count("<img") == 2 and "data:image/png;base64," in page
    assert "L1" in page and "LOT-1" in page and "andon_factory_output v4" in page
    assert "<span title='L1_0'>L1_0</span>: 0" in page  # top factors rendered (no names given: the column)
    named = render("2026-W11", MON, MON + timedelta(days=6), new_warnings(s, MON), s, kpis, None, [],
                   name_of=lambda n: {"L1_0": "ICT first-pass fail rate (day)"}.get(n, n))
    assert "<span title='L1_0'>ICT first-pass fail rate (day)</span>: 0 <span class='c'>(+0.50)</span>" in named
    assert "L2" not in page.split("<h2>Week-over-week KPIs</h2>")[0].split("New warnings")[1]
