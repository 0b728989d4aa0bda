"""Weekly early-warning digest v0: one self-contained HTML file per ISO week.

Reads the gold tables with delta-rs (no JVM): ``early_warning_scores``, ``fct_route_rolled_yield``,
``fct_station_daily_yield``, ``fct_spc_capability``, ``fct_field_return_cohorts`` and
``fct_capability_grade``. Sections:

1. **New warnings** by scope: entities warned this week that were not warned the week before,
   with the highest score, the threshold, the five top factors and the model version;
2. **Week-over-week KPIs**: rolled first-pass yield per product and site, characteristics with
   Cpk < 1.33, DOA and early-return rate of the latest ship cohorts;
3. **Capability grades** per site for the latest month;
4. **Charts** (PNG embedded as base64): warnings per day and scope over the last eight weeks, and
   the rolled first-pass yield trend.

Written to ``<paths.digests>/digest-<YYYY>-W<ww>.html``. Mailing it is a later step.
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

SCOPE_TITLES = {
    "incoming_material": "Incoming material (supplier lots)",
    "factory_output": "Factory output (lines)",
    "field_return": "Field returns (build lots)",
}
MAX_ROWS = 15


def iso_week(day: date) -> tuple[date, date, str]:
    """Monday, Sunday and the label ``YYYY-Www`` of the ISO week holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    y, w, _ = day.isocalendar()
    return monday, monday + timedelta(days=6), f"{y}-W{w:02d}"


def new_warnings(scores: pd.DataFrame, week_start: date) -> pd.DataFrame:
    """One row per (scope, entity) warned in the week starting ``week_start`` but not in the
    week before: first warning day, highest score that week (its factors and model version)."""
    s = scores.copy()
    s["score_date"] = pd.to_datetime(s["score_date"]).dt.date
    week_end = week_start + timedelta(days=6)
    prev_start = week_start - timedelta(days=7)
    warned = s[s["is_warning"].astype(bool)]
    this = warned[(warned["score_date"] >= week_start) & (warned["score_date"] <= week_end)]
    before = warned[(warned["score_date"] >= prev_start) & (warned["score_date"] < week_start)]
    seen = set(zip(before["scope"], before["entity_id"], strict=True))
    this = this[[(a, b) not in seen for a, b in zip(this["scope"], this["entity_id"], strict=True)]]
    if this.empty:
        return this.assign(first_warning=pd.Series(dtype=object), days_warned=pd.Series(dtype=int))
    first = this.groupby(["scope", "entity_id"])["score_date"].agg(["min", "count"])
    top = this.sort_values("score", ascending=False).drop_duplicates(["scope", "entity_id"])
    top = top.merge(first, left_on=["scope", "entity_id"], right_index=True)
    top = top.rename(columns={"min": "first_warning", "count": "days_warned"})
    return top.sort_values(["scope", "score"], ascending=[True, False]).reset_index(drop=True)


def _short(value: Any) -> str:
    """A factor's value for reading: numbers to 4 significant digits, missing as 'n/a'."""
    if value is None:
        return "n/a"
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def _factors_html(factors: Any, name_of=None) -> str:
    """A warning's factors in plain words: the business name of each feature (data dictionary,
    ``derived_measures``; the column name as a tooltip), its value and its contribution."""
    if factors is None:
        return ""
    name_of = name_of or (lambda n: n)
    items = []
    for f in list(factors):
        value = _short(f.get("value"))
        feature = str(f.get("feature"))
        c = f.get("contribution")
        sign = "+" if c is not None and c >= 0 else "&minus;"
        contribution = "" if c is None or c != c else f" <span class='c'>({sign}{abs(c):.2f})</span>"
        items.append(
            f"<li><span title='{html.escape(feature)}'>{html.escape(name_of(feature))}</span>: "
            f"{html.escape(str(value))}{contribution}</li>"
        )
    return "<ol class='f'>" + "".join(items) + "</ol>"


def _table(df: pd.DataFrame, formats: dict[str, str] | None = None) -> str:
    if df is None or df.empty:
        return "<p class='muted'>No data.</p>"
    formats = formats or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            if c in formats and pd.notna(v):
                text = format(v, formats[c])
            else:
                text = "" if (not isinstance(v, (list, tuple)) and pd.isna(v)) else str(v)
            cells.append(f"<td>{text if c.endswith('_html') else html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def charts(scores: pd.DataFrame, rolled: pd.DataFrame | None, week_end: date) -> list[tuple[str, str]]:
    """(title, data URI) pairs: warnings per day and scope; rolled FPY per product and week."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    start = week_end - timedelta(days=55)
    s = scores.copy()
    s["score_date"] = pd.to_datetime(s["score_date"]).dt.date
    last = min(week_end, max(s["score_date"])) if len(s) else week_end  # no zeros for days not scored yet
    s = s[(s["score_date"] >= start) & (s["score_date"] <= last) & s["is_warning"].astype(bool)]
    days = pd.date_range(start, last, freq="D").date
    counts = s.groupby(["score_date", "scope"]).size().unstack(fill_value=0).reindex(days, fill_value=0)
    fig, ax = plt.subplots(figsize=(8, 2.8))
    for scope in SCOPE_TITLES:
        ax.plot(list(days), counts[scope] if scope in counts else [0] * len(days), label=scope)
    ax.set_ylabel("entities warned")
    ax.set_title("Warnings per day, last 8 weeks")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    out.append(("Warnings per day", _png(fig)))
    plt.close(fig)
    if rolled is not None and not rolled.empty:
        r = rolled.copy()
        r["week_start_date"] = pd.to_datetime(r["week_start_date"]).dt.date
        r = r[(r["week_start_date"] >= start) & (r["week_start_date"] <= week_end)]
        if not r.empty:
            fig, ax = plt.subplots(figsize=(8, 2.8))
            for (product, site), g in r.groupby(["product_id", "site_id"]):
                g = g.sort_values("week_start_date")
                ax.plot(
                    g["week_start_date"], 100 * g["rolled_fpy"].astype(float), marker="o", label=f"{product} {site}"
                )
            ax.set_ylabel("rolled FPY %")
            ax.set_title("Rolled first-pass yield per week")
            ax.legend(fontsize=7, ncol=2)
            fig.autofmt_xdate()
            out.append(("Rolled first-pass yield", _png(fig)))
            plt.close(fig)
    return out


def kpi_changes(
    rolled: pd.DataFrame | None, spc: pd.DataFrame | None, cohorts: pd.DataFrame | None, week_start: date
) -> dict[str, pd.DataFrame]:
    """Week-over-week KPI tables for the week starting ``week_start``."""
    prev = week_start - timedelta(days=7)
    out: dict[str, pd.DataFrame] = {}
    if rolled is not None and not rolled.empty:
        r = rolled.copy()
        r["week_start_date"] = pd.to_datetime(r["week_start_date"]).dt.date
        a = r[r["week_start_date"] == week_start].set_index(["product_id", "site_id"])["rolled_fpy"].astype(float)
        b = r[r["week_start_date"] == prev].set_index(["product_id", "site_id"])["rolled_fpy"].astype(float)
        t = pd.DataFrame({"rolled FPY this week": a, "last week": b}).reset_index()
        t["change (pts)"] = 100 * (t["rolled FPY this week"] - t["last week"])
        for c in ("rolled FPY this week", "last week"):
            t[c] = 100 * t[c]
        out["Rolled first-pass yield (%)"] = t.rename(columns={"product_id": "product", "site_id": "site"})
    if spc is not None and not spc.empty:
        s = spc.copy()
        s["week_start_date"] = pd.to_datetime(s["week_start_date"]).dt.date
        s["cpk"] = pd.to_numeric(s["cpk"], errors="coerce")

        def low(week):
            w = s[s["week_start_date"] == week]
            return w.groupby("site_id").agg(
                measured=("cpk", "count"), below_1_33=("cpk", lambda x: int((x < 1.33).sum())), worst_cpk=("cpk", "min")
            )

        t = low(week_start).join(low(prev), rsuffix="_last_week", how="outer").reset_index()
        out["SPC capability: characteristics with Cpk < 1.33"] = t.rename(columns={"site_id": "site"})
    if cohorts is not None and not cohorts.empty:
        c = cohorts.copy()
        c["ship_week_start_date"] = pd.to_datetime(c["ship_week_start_date"]).dt.date
        c = c[c["ship_week_start_date"] <= week_start].sort_values("ship_week_start_date")
        latest = c.groupby("product_id").tail(4)
        t = latest[
            ["product_id", "ship_iso_week", "units_shipped", "doa_rate", "early_return_rate", "is_early_window_closed"]
        ]
        t = t.assign(
            doa_rate=100 * t["doa_rate"].astype(float), early_return_rate=100 * t["early_return_rate"].astype(float)
        )
        out["Field-return cohorts, latest 4 ship weeks (rates in %)"] = t.rename(
            columns={
                "product_id": "product",
                "ship_iso_week": "ship week",
                "doa_rate": "DOA %",
                "early_return_rate": "early return %",
                "is_early_window_closed": "window closed",
            }
        )
    return out


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{margin-bottom:0}h2{border-bottom:2px solid #c0392b;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}.muted{color:#777}.c{color:#777}
ol.f{margin:0;padding-left:18px}.warn{color:#c0392b;font-weight:bold}img{max-width:100%}
"""


def render(
    week_label: str,
    week_start: date,
    week_end: date,
    warnings: pd.DataFrame,
    scores: pd.DataFrame,
    kpis: dict[str, pd.DataFrame],
    grades: pd.DataFrame | None,
    chart_uris: list[tuple[str, str]],
    escalated: pd.DataFrame | None = None,
    name_of=None,
    headline: str | None = None,
) -> str:
    gen = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Andon early-warning digest {week_label}</title><style>{CSS}</style></head><body>",
        f"<h1>Andon early-warning digest &mdash; {week_label}</h1>",
        f"<p class='muted'>Week {week_start} to {week_end}. Generated {gen}.</p>",
    ]
    if headline:
        parts.append(f"<p class='headline'><strong>{html.escape(headline)}</strong></p>")
    if escalated is not None and len(escalated):
        e = escalated.sort_values("first_warning")
        parts.append(f"<h2>Needs a decision: <span class='warn'>{len(e)}</span> escalated warnings</h2>")
        parts.append(
            "<p class='muted'>Still not acknowledged days after their first warning day "
            "(andon warnings ack|confirm|dismiss ID --by NAME).</p>"
        )
        t = pd.DataFrame(
            {
                "warning": e["warning_id"],
                "scope": [SCOPE_TITLES.get(x, x) for x in e["scope"]],
                "entity": e["entity_id"],
                "first warning": e["first_warning"].astype(str),
                "days warned": e["days_warned"],
                "owner": e["owner"],
                "raised by": e["model"],
            }
        ).head(MAX_ROWS)
        parts.append(_table(t))
    parts.append("<h2>New warnings</h2>")
    week_scores = scores[
        (pd.to_datetime(scores["score_date"]).dt.date >= week_start)
        & (pd.to_datetime(scores["score_date"]).dt.date <= week_end)
    ]
    for scope, title in SCOPE_TITLES.items():
        w = warnings[warnings["scope"] == scope] if not warnings.empty else warnings
        ws = week_scores[week_scores["scope"] == scope]
        versions = ", ".join(sorted({f"{n} v{v}" for n, v in zip(ws["model_name"], ws["model_version"], strict=True)}))
        monitored = ws["entity_id"].nunique()
        parts.append(f"<h3>{html.escape(title)}: <span class='warn'>{len(w)}</span> new</h3>")
        parts.append(
            f"<p class='muted'>{monitored} entities scored this week; model {html.escape(versions or 'none')}.</p>"
        )
        if len(w):
            t = w.head(MAX_ROWS)
            t = pd.DataFrame(
                {
                    "entity": t["entity_id"],
                    "first warning": t["first_warning"].astype(str),
                    "days warned": t["days_warned"],
                    "score": t["score"].astype(float),
                    "threshold": t["threshold"].astype(float),
                    "why (top factors)_html": [_factors_html(f, name_of) for f in t["top_factors"]],
                    "model": [f"{n} v{v}" for n, v in zip(t["model_name"], t["model_version"], strict=True)],
                }
            )
            parts.append(_table(t, {"score": ".3f", "threshold": ".3f"}).replace("_html</th>", "</th>"))
            if len(w) > MAX_ROWS:
                parts.append(f"<p class='muted'>... and {len(w) - MAX_ROWS} more (gold.early_warning_scores).</p>")
    parts.append("<h2>Week-over-week KPIs</h2>")
    for title, t in kpis.items():
        parts.append(f"<h3>{html.escape(title)}</h3>")
        parts.append(_table(t, {c: ".2f" for c in t.columns if t[c].dtype.kind == "f"}))
    parts.append("<h2>Capability grades (latest month)</h2>")
    if grades is not None and not grades.empty:
        g = grades.copy()
        g["month_start_date"] = pd.to_datetime(g["month_start_date"]).dt.date
        g = g[g["month_start_date"] <= week_end]
        g = g[g["month_start_date"] == g["month_start_date"].max()]
        cols = [
            "site_id",
            "month_start_date",
            "capability_grade",
            "grade_name",
            "sigma_level_grade",
            "cpk_grade",
            "rolled_fpy_grade",
            "internal_loss_grade",
            "external_loss_grade",
        ]
        parts.append(_table(g[[c for c in cols if c in g.columns]].sort_values("site_id")))
    else:
        parts.append("<p class='muted'>No data.</p>")
    parts.append("<h2>Charts</h2>")
    for title, uri in chart_uris:
        parts.append(f"<h3>{html.escape(title)}</h3><img alt='{html.escape(title)}' src='{uri}'>")
    parts.append(
        "<p class='muted'>Every warning carries the model version that raised it and its top five factors "
        "(LightGBM feature contributions). Source tables: gold.early_warning_scores and the quality mart.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_digest(day: date | str | None = None, cfg=None) -> Path:
    """Write the digest of the ISO week holding ``day`` (default: the last scored day)."""
    from andon.config import settings
    from andon.tables import read_table

    cfg = cfg or settings()
    scores = read_table(cfg.table_path("gold", "early_warning_scores"))
    if scores is None or scores.empty:
        raise ValueError("gold.early_warning_scores is empty: run the scoring DAG first")
    day = date.fromisoformat(str(day)) if day else max(pd.to_datetime(scores["score_date"]).dt.date)
    week_start, week_end, label = iso_week(day)

    def gold(name):
        return read_table(cfg.table_path("gold", name))

    from andon.dictionary import load_dictionary
    from reporting.mail import subject_line
    from reporting.workflow import warnings_table

    last_scored = max(pd.to_datetime(scores["score_date"]).dt.date)
    open_warnings = warnings_table(cfg, as_of=min(week_end, last_scored))
    escalated = open_warnings[open_warnings["escalated"] & (open_warnings["first_warning"] <= week_end)]
    rolled = gold("fct_route_rolled_yield")
    kpis = kpi_changes(rolled, gold("fct_spc_capability"), gold("fct_field_return_cohorts"), week_start)
    warnings = new_warnings(scores, week_start)
    grades = gold("fct_capability_grade")
    meta = digest_meta(label, week_start, scores, warnings, grades)
    meta["escalated"] = len(escalated)
    page = render(
        label,
        week_start,
        week_end,
        warnings,
        scores,
        kpis,
        grades,
        charts(scores, rolled, week_end),
        escalated,
        load_dictionary(cfg.raw["landing"]["data_dictionary"]).business_name,
        headline=subject_line(meta).split(": ", 1)[1],
    )
    out = Path(cfg.raw["paths"]["digests"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"digest-{label}.html"
    path.write_text(page, encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return path


def digest_meta(
    label: str, week_start: date, scores: pd.DataFrame, warnings: pd.DataFrame, grades: pd.DataFrame | None
) -> dict[str, Any]:
    """The digest's sidecar (``digest-<week>.json``), read by the mailer for the subject line:
    new warnings per scope, how many days of the week hold scores (``partial_days`` when fewer
    than 7) and the sites whose capability grade changed from the month before."""
    week_end = week_start + timedelta(days=6)
    days = pd.to_datetime(scores["score_date"]).dt.date
    scored_days = int(days[(days >= week_start) & (days <= week_end)].nunique())
    new = {scope: int((warnings["scope"] == scope).sum()) if not warnings.empty else 0 for scope in SCOPE_TITLES}
    changes: list[dict[str, Any]] = []
    if grades is not None and not grades.empty and "capability_grade" in grades:
        g = grades.copy()
        g["month_start_date"] = pd.to_datetime(g["month_start_date"]).dt.date
        g = g[g["month_start_date"] <= week_end].sort_values("month_start_date")
        months = sorted(g["month_start_date"].unique())
        if len(months) >= 2:
            before = g[g["month_start_date"] == months[-2]].set_index("site_id")["capability_grade"]
            after = g[g["month_start_date"] == months[-1]].set_index("site_id")["capability_grade"]
            for site in sorted(set(before.index) & set(after.index)):
                if pd.notna(before[site]) and pd.notna(after[site]) and before[site] != after[site]:
                    changes.append({"site_id": str(site), "before": int(before[site]), "after": int(after[site])})
    return {
        "week": label,
        "week_start": week_start.isoformat(),
        "scored_days": scored_days,
        "partial_days": scored_days if scored_days < 7 else 0,
        "new_warnings": new,
        "grade_changes": changes,
    }
