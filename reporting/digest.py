"""Weekly early-warning digest: one self-contained HTML file per ISO week (docs/digest-mail.md).

The digest is **data plus a template**. :func:`digest_context` gathers everything it shows into
plain Python values; ``reporting/templates/digest.html.j2`` (Jinja) lays it out; nothing here
writes HTML. Where the values come from:

* KPI trends: the dbt report model ``gold.rpt_weekly_kpi_trends`` (rolled FPY, Cpk < 1.33
  counts, internal / external loss rates, DOA and early-return rates of mature cohorts), each
  against last week and the four weeks before, like for like when the week is partial;
* warnings: ``gold.early_warning_scores`` grouped into episodes with their owners and statuses
  (:mod:`reporting.workflow`): per scope the warnings that are new this week, ongoing (started
  earlier, still warning) and decided this week (confirmed, false alarm or closed), each with
  what it affects, its top factors in plain words (business names from the data dictionary)
  and whether a label-free rule or a model raised it;
* the warnings' own track record over recent weeks: dispositions (confirmed vs false alarms)
  and, where the evaluation has run, the weekly FPR / FNR of ``gold.warning_quality_weekly``;
* the data-health line: the week's landing results from ``ops.dq_results`` (feed-days published,
  schema drift, failed gates, missing days, records quarantined; :func:`data_health`);
* capability grades per site (``gold.fct_capability_grade``) with changes from the month before;
* charts (PNG, embedded as data URIs; the mailer turns them into inline CID images).

Written to ``<paths.digests>/digest-<YYYY>-W<ww>.html`` with a sidecar ``digest-<week>.json``
(:func:`digest_meta`) that the mailer reads for the subject line.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from andon.scopes import SCOPES

SCOPE_TITLES = {s.name: s.title for s in SCOPES.values()}
MAX_ROWS = 15
TRACK_RECORD_WEEKS = 8
TEMPLATE_DIR = Path(__file__).parent / "templates"
#: the order of the KPI sections (rpt_weekly_kpi_trends.kpi)
KPI_ORDER = (
    "rolled_fpy", "cpk_below_1_33", "internal_loss_rate", "external_loss_rate", "doa_rate", "early_return_rate"
)


def iso_week(day: date) -> tuple[date, date, str]:
    """Monday, Sunday and the label ``YYYY-Www`` of the ISO week holding ``day``."""
    monday = day - timedelta(days=day.weekday())
    y, w, _ = day.isocalendar()
    return monday, monday + timedelta(days=6), f"{y}-W{w:02d}"


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.date


# --------------------------------------------------------------------------- warnings


def raised_by(model_name: str, model_version: Any) -> dict[str, str]:
    """Who raised a warning: a label-free rule (``rule:<name>``, cold start) or a trained model."""
    name = str(model_name)
    if name.startswith("rule:"):
        return {"kind": "rule", "text": f"label-free rule {name.removeprefix('rule:')} ({model_version})"}
    return {"kind": "model", "text": f"model {name} v{model_version}"}


def week_warnings(
    episodes: pd.DataFrame, scores: pd.DataFrame, week_start: date, week_end: date
) -> pd.DataFrame:
    """The warning episodes active in the week (a warning day inside it), classified ``new``
    (first warning this week) or ``ongoing``, each with its highest-scoring day of the week:
    score, threshold, top factors, model name and version."""
    cols = list(episodes.columns) + ["state", "score", "threshold", "top_factors", "model_name", "model_version"]
    if episodes.empty or scores is None or scores.empty:
        return pd.DataFrame(columns=cols)
    ep = episodes[(episodes["first_warning"] <= week_end) & (episodes["last_warning"] >= week_start)].copy()
    if ep.empty:
        return pd.DataFrame(columns=cols)
    s = scores[scores["is_warning"].astype(bool)].copy()
    s["score_date"] = _dates(s["score_date"])
    s = s[(s["score_date"] >= week_start) & (s["score_date"] <= week_end)]
    top = s.sort_values("score", ascending=False).drop_duplicates(["scope", "entity_id"])
    keep = ["scope", "entity_id", "score", "threshold", "top_factors", "model_name", "model_version"]
    ep = ep.merge(top[keep], on=["scope", "entity_id"], how="left")
    ep["state"] = ["new" if f >= week_start else "ongoing" for f in ep["first_warning"]]
    return ep.sort_values(["scope", "state", "score"], ascending=[True, True, False]).reset_index(drop=True)


def new_warnings(scores: pd.DataFrame, week_start: date) -> pd.DataFrame:
    """The new warnings of the week starting ``week_start`` (episodes first warned in it)."""
    from reporting.workflow import episodes

    w = week_warnings(episodes(scores), scores, week_start, week_start + timedelta(days=6))
    return w[w["state"] == "new"].reset_index(drop=True)


def decided_this_week(history: pd.DataFrame, week_start: date, week_end: date) -> pd.DataFrame:
    """Warnings whose outcome was recorded this week (confirmed, false alarm or closed), last
    change per warning."""
    if history is None or history.empty:
        return pd.DataFrame(columns=["warning_id", "scope", "entity_id", "to_status", "actor", "note", "changed_at"])
    h = history.copy()
    h["changed_on"] = _dates(h["changed_at"])
    h = h[(h["changed_on"] >= week_start) & (h["changed_on"] <= week_end)]
    h = h[h["to_status"].isin(["confirmed", "false_alarm", "closed"])]
    return h.sort_values("changed_at").drop_duplicates("warning_id", keep="last").reset_index(drop=True)


def track_record(
    table: pd.DataFrame, quality: pd.DataFrame | None, week_end: date, weeks: int = TRACK_RECORD_WEEKS
) -> list[dict[str, Any]]:
    """Per scope over the ``weeks`` weeks ending with ``week_end``: warnings raised, their
    outcomes so far (confirmed, false alarm, still undecided), the share confirmed of those
    decided, and -- where ``gold.warning_quality_weekly`` holds the weeks (the evaluation against
    a known incident ledger) -- the pooled false-positive and false-negative rates of the live
    model's warnings (entity-weeks)."""
    start = week_end - timedelta(days=7 * weeks - 1)
    rows = []
    for scope, title in SCOPE_TITLES.items():
        t = table[(table["scope"] == scope) & (table["first_warning"] >= start) & (table["first_warning"] <= week_end)]
        status = t["status"] if len(t) else pd.Series(dtype=str)
        confirmed = int(status.eq("confirmed").sum())
        false_alarms = int(status.eq("false_alarm").sum())
        closed = int(status.eq("closed").sum())
        decided = confirmed + false_alarms
        row = {
            "scope": scope,
            "title": title,
            "raised": len(t),
            "confirmed": confirmed,
            "false_alarms": false_alarms,
            "closed": closed,
            "undecided": int(status.isin(["new", "acknowledged"]).sum()),
            "confirmed_share": confirmed / decided if decided else None,
            "fpr": None,
            "fnr": None,
        }
        if quality is not None and not quality.empty:
            q = quality[(quality["scope"] == scope) & (quality["method"] == "model")].copy()
            q["week_start_date"] = _dates(q["week_start_date"])
            q = q[(q["week_start_date"] >= start) & (q["week_start_date"] <= week_end)]
            neg, pos = q["negative_entity_weeks"].sum(), q["positive_entity_weeks"].sum()
            if neg > 0:
                row["fpr"] = float(q["false_positive_entity_weeks"].sum() / neg)
            if pos > 0:
                row["fnr"] = float(1 - q["true_positive_entity_weeks"].sum() / pos)
        rows.append(row)
    return rows


def affects(scope: str, entity_id: str, since: date, until: date, gold: dict[str, pd.DataFrame | None]) -> str:
    """What a warning's entity touches, in words: a supplier lot's units built and returned, a
    line's units first tested since the warning began, a build lot's product, line and day."""
    if scope == "incoming_material":
        lots = gold.get("fct_supplier_lot_quality")
        if lots is not None and not lots.empty:
            lot = lots[lots["supplier_lot_id"] == entity_id]
            if len(lot):
                r = lot.iloc[0]
                built = int(r["units_built"] or 0) if pd.notna(r["units_built"]) else 0
                returned = int(r["units_returned"] or 0) if pd.notna(r["units_returned"]) else 0
                return f"{r['part_id']} from {r['supplier_id']}: {built:,} units built with it, {returned} returned"
        return "supplier lot (no use recorded yet)"
    if scope == "factory_output":
        y = gold.get("fct_station_daily_yield")
        if y is not None and not y.empty:
            d = _dates(y["tested_date"])
            first_station = y["station_type"] == "ICT"
            n = y.loc[(y["line_id"] == entity_id) & first_station & (d >= since) & (d <= until), "units_first_tested"]
            return f"{int(n.sum()):,} units entered the line's route since {since}"
        return "line"
    if scope == "field_return":
        parts = str(entity_id).rsplit("-", 2)
        if len(parts) == 3 and parts[2].isdigit() and len(parts[2]) == 8:
            line, product, day = parts
            return f"{product} built on line {line} on {day[:4]}-{day[4:6]}-{day[6:]}"
    return ""


def likely_cause(scope: str, entity_id: str, since: date, until: date, gold: dict[str, pd.DataFrame | None]) -> str:
    """What the label-free detectors point at as the warning's cause, so the right owner acts
    (:func:`reporting.workflow.top_suspect`, which also routes the warning's owner): for a build lot
    its strongest suspect, for a line the station whose yield CUSUM was highest while the warning
    ran. Empty when nothing is flagged (then the warning's own factors are all there is) and for
    supplier lots (the lot is the cause)."""
    from reporting.workflow import top_suspect

    top = top_suspect(scope, entity_id, since, until, gold)
    if top is None:
        return ""
    if top["suspect_type"] == "supplier_lot":
        more = f" (+{top['others']} more)" if top["others"] else ""
        return f"{top['suspect_id']} (supplier {top['owner_hint']}){more}: {top['evidence']}"
    more = f" (+{top['others']} more)" if top["others"] and scope == "field_return" else ""
    return f"{top['suspect_id']} (station){more}: {top['evidence']}"


def _factors(factors: Any, name_of) -> list[dict[str, Any]]:
    out = []
    for f in list(factors) if factors is not None else []:
        feature = str(f.get("feature"))
        c = f.get("contribution")
        out.append(
            {
                "feature": feature,
                "name": name_of(feature),
                "value": _short(f.get("value")),
                "contribution": None if c is None or c != c else float(c),
            }
        )
    return out


def _short(value: Any) -> str:
    """A factor's value for reading: numbers to 4 significant digits, missing as 'n/a'."""
    if value is None:
        return "n/a"
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def _raised_by_label(model: str) -> str:
    """``raised_by`` text from an episode's ``model`` (``<name> v<version>``)."""
    return raised_by(*model.rsplit(" v", 1))["text"] if " v" in model else model


def _warning_row(r: pd.Series, name_of, gold, week_end: date) -> dict[str, Any]:
    by = raised_by(r.get("model_name"), r.get("model_version"))
    return {
        "warning_id": r["warning_id"],
        "entity": r["entity_id"],
        "first_warning": str(r["first_warning"]),
        "days_warned": int(r["days_warned"]),
        "score": None if pd.isna(r.get("score")) else float(r["score"]),
        "threshold": None if pd.isna(r.get("threshold")) else float(r["threshold"]),
        "factors": _factors(r.get("top_factors"), name_of),
        "raised_by": by["text"],
        "raised_by_kind": by["kind"],
        "owner": r.get("owner", ""),
        "status": r.get("status", "new"),
        "affects": affects(r["scope"], r["entity_id"], r["first_warning"], week_end, gold),
        "likely_cause": likely_cause(r["scope"], r["entity_id"], r["first_warning"], week_end, gold),
    }


# --------------------------------------------------------------------------- KPIs and grades


def kpi_sections(trends: pd.DataFrame | None, week_start: date) -> list[dict[str, Any]]:
    """The report model's rows of the week, one section per KPI: each row a site (or product)
    with this week, last week, the four weeks before and the changes."""
    if trends is None or trends.empty:
        return []
    t = trends[_dates(trends["week_start_date"]) == week_start]
    sections = []
    for kpi in KPI_ORDER:
        k = t[t["kpi"] == kpi]
        if k.empty:
            continue
        share = k["value_unit"].iloc[0] == "share"
        higher_better = bool(k["is_higher_better"].iloc[0])
        rows = []
        for _, r in k.sort_values(["site_id", "product_id"], na_position="first").iterrows():
            who = " ".join(str(x) for x in (r["product_id"], r["site_id"]) if isinstance(x, str) and x)
            change = r["change_vs_last_week"]
            worse = None
            if pd.notna(change) and change != 0:
                worse = (change < 0) if higher_better else (change > 0)
            rows.append(
                {
                    "who": who,
                    "value": _fmt(r["value"], share),
                    "last_week": _fmt(r["value_last_week"], share),
                    "last_4_weeks": _fmt(r["value_last_4_weeks"], share),
                    "change": _fmt(change, share, signed=True),
                    "change_4": _fmt(r["change_vs_last_4_weeks"], share, signed=True),
                    "worse": worse,
                    "like_for_like": bool(r["is_like_for_like"]),
                    "basis": r["basis"],
                }
            )
        sections.append(
            {
                "kpi": kpi,
                "title": k["kpi_name"].iloc[0],
                "unit": "%" if share else "count",
                "covered_days": int(k["covered_days"].iloc[0]),
                "partial": bool(k["is_partial_week"].iloc[0]),
                "like_for_like": bool(k["is_like_for_like"].all()),
                "rows": rows,
            }
        )
    return sections


def _fmt(value: Any, share: bool, signed: bool = False) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    v = 100 * float(value) if share else float(value)
    text = f"{v:+.2f}" if signed else f"{v:.2f}"
    if share:
        text += " pts" if signed else " %"
    return text


def grade_summary(grades: pd.DataFrame | None, week_end: date) -> dict[str, Any]:
    """The latest month's capability grade per site up to ``week_end``, with the month before."""
    if grades is None or grades.empty:
        return {"month": None, "rows": []}
    g = grades.copy()
    g["month_start_date"] = _dates(g["month_start_date"])
    g = g[g["month_start_date"] <= week_end]
    months = sorted(g["month_start_date"].unique())
    if not months:
        return {"month": None, "rows": []}
    latest = g[g["month_start_date"] == months[-1]]
    before = (
        g[g["month_start_date"] == months[-2]].set_index("site_id")["capability_grade"] if len(months) > 1 else {}
    )
    rows = []
    for _, r in latest.sort_values("site_id").iterrows():
        prev = before.get(r["site_id"]) if len(before) else None
        rows.append(
            {
                "site": r["site_id"],
                "grade": None if pd.isna(r["capability_grade"]) else int(r["capability_grade"]),
                "grade_name": r.get("grade_name"),
                "before": None if prev is None or pd.isna(prev) else int(prev),
                "limiting": ", ".join(
                    c.removesuffix("_grade").replace("_", " ")
                    for c in ("sigma_level_grade", "cpk_grade", "rolled_fpy_grade", "internal_loss_grade",
                              "external_loss_grade")
                    if c in r and pd.notna(r[c]) and pd.notna(r["capability_grade"]) and r[c] == r["capability_grade"]
                ),
            }
        )
    return {"month": str(months[-1]), "rows": rows}


# --------------------------------------------------------------------------- charts


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def version_switches(scores: pd.DataFrame) -> list[tuple[date, str]]:
    """(day, scope) where a scope's warnings start to come from another model version or rule:
    a jump in the warnings chart on such a day may be the switch, not the plant."""
    s = scores[["scope", "score_date", "model_name", "model_version"]].copy()
    s["score_date"] = _dates(s["score_date"])
    s["v"] = s["model_name"].astype(str) + " v" + s["model_version"].astype(str)
    daily = s.sort_values("score_date").drop_duplicates(["scope", "score_date"], keep="last")
    out = []
    for scope, g in daily.groupby("scope"):
        changed = g["v"].ne(g["v"].shift()) & g["v"].shift().notna()
        out += [(d, scope) for d in g.loc[changed, "score_date"]]
    return sorted(out)


def charts(scores: pd.DataFrame, rolled: pd.DataFrame | None, week_end: date) -> list[tuple[str, str]]:
    """(title, data URI) pairs: warnings per day and scope over eight weeks (model switches
    marked); rolled FPY per product and week (complete routes only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    start = week_end - timedelta(days=55)
    s = scores.copy()
    s["score_date"] = _dates(s["score_date"])
    last = min(week_end, max(s["score_date"])) if len(s) else week_end  # no zeros for days not scored yet
    window = s[(s["score_date"] >= start) & (s["score_date"] <= last)]
    warned = window[window["is_warning"].astype(bool)]
    days = pd.date_range(start, last, freq="D").date
    counts = warned.groupby(["score_date", "scope"]).size().unstack(fill_value=0).reindex(days, fill_value=0)
    fig, ax = plt.subplots(figsize=(8, 2.8))
    for scope in SCOPE_TITLES:
        ax.plot(list(days), counts[scope] if scope in counts else [0] * len(days), label=scope)
    switches = [d for d, _ in version_switches(window) if start < d <= last]
    for d in sorted(set(switches)):
        ax.axvline(d, color="#999", linestyle=":", linewidth=1)
    ax.set_ylabel("entities warned")
    ax.set_title("Warnings per day, last 8 weeks" + (" (dotted: a new model version)" if switches else ""))
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    out.append(("Warnings per day", _png(fig)))
    plt.close(fig)
    if rolled is not None and not rolled.empty:
        r = rolled.copy()
        r["week_start_date"] = _dates(r["week_start_date"])
        r = r[(r["week_start_date"] >= start) & (r["week_start_date"] <= week_end)]
        if "is_route_complete" in r:
            r = r[r["is_route_complete"].astype(bool)]
        if not r.empty:
            fig, ax = plt.subplots(figsize=(8, 2.8))
            for (product, site), g in r.groupby(["product_id", "site_id"]):
                g = g.sort_values("week_start_date")
                ax.plot(
                    g["week_start_date"], 100 * g["rolled_fpy"].astype(float), marker="o", label=f"{product} {site}"
                )
            ax.set_ylabel("rolled FPY %")
            ax.set_title("Rolled first-pass yield per week (complete routes)")
            ax.legend(fontsize=7, ncol=2)
            fig.autofmt_xdate()
            out.append(("Rolled first-pass yield", _png(fig)))
            plt.close(fig)
    return out


# --------------------------------------------------------------------------- assembling


def dashboard_links(raw: dict[str, Any]) -> list[dict[str, str]]:
    """Links to the Superset dashboards when ``digest.superset_url`` is configured."""
    d = raw.get("digest") or {}
    base = str(d.get("superset_url") or "").rstrip("/")
    if not base:
        return []
    return [
        {"title": title, "url": f"{base}/superset/dashboard/{slug}/"}
        for slug, title in (d.get("dashboards") or {}).items()
    ]


MAX_HEALTH_ITEMS = 8


def _strings(value: Any) -> list[str]:
    """An array column of ``ops.dq_results`` (list, numpy array or null) as a list of strings."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    return [str(v) for v in value]


def data_health(dq: pd.DataFrame | None, week_start: date, week_end: date) -> dict[str, Any]:
    """The digest's data-health line for the week, from ``ops.dq_results`` (one row per feed and day).

    Counts the feed-days published, with schema drift (status ``schema_drift``, or a published day
    whose files brought added columns: a ``schema drift in <file>`` warning), failed at the quality
    gate (previous silver kept) and without data, and the records quarantined. ``items`` names each
    problem (feed, day, what) so that drift is never only a count; ``ok`` is False when any exists.
    """
    empty = {"ok": False, "text": "No landing results for this week (ops.dq_results holds no day of it).",
             "items": [], "more": 0}
    if dq is None or dq.empty:
        return empty
    week = dq[(_dates(dq["landing_date"]) >= week_start) & (_dates(dq["landing_date"]) <= week_end)]
    if week.empty:
        return empty
    items: list[dict[str, str]] = []
    drift_days = failed = no_data = 0
    for _, r in week.sort_values(["landing_date", "feed"]).iterrows():
        day, feed, status = str(_dates(pd.Series([r["landing_date"]])).iloc[0]), str(r["feed"]), str(r["status"])
        drift = [w for w in _strings(r.get("gx_warnings")) if w.startswith("schema drift")]
        if status == "schema_drift" or drift:
            drift_days += 1
            items += [{"feed": feed, "day": day, "kind": "schema drift", "detail": w} for w in drift] or [
                {"feed": feed, "day": day, "kind": "schema drift", "detail": "see ops.dq_results"}]
        if status == "failed_gate":
            failed += 1
            items.append({"feed": feed, "day": day, "kind": "quality gate failed, previous silver kept",
                          "detail": "; ".join(_strings(r.get("gx_critical_failures"))) or "see ops.dq_results"})
        elif status == "no_data":
            no_data += 1
            items.append({"feed": feed, "day": day, "kind": "no data", "detail": "no file arrived"})
    total = len(week)
    published = int((week["status"].isin(["published", "schema_drift"])).sum())
    records = int(pd.to_numeric(week["records_received"], errors="coerce").fillna(0).sum())
    quarantined = int(pd.to_numeric(week["quarantined_rows"], errors="coerce").fillna(0).sum())
    share = f" ({quarantined / records:.1%})" if records else ""
    text = (f"{published} of {total} feed-days published; schema drift in {drift_days}, quality gate failed in "
            f"{failed}, no data in {no_data}; {quarantined:,} of {records:,} records quarantined{share}.")
    return {"ok": not items, "text": text, "items": items[:MAX_HEALTH_ITEMS],
            "more": max(len(items) - MAX_HEALTH_ITEMS, 0)}


def headline_text(meta: dict[str, Any]) -> str:
    from reporting.mail import subject_line

    return subject_line(meta).split(": ", 1)[1]


def digest_context(
    day: date,
    scores: pd.DataFrame,
    gold: dict[str, pd.DataFrame | None],
    table: pd.DataFrame,
    history: pd.DataFrame | None,
    name_of=None,
    links: list[dict[str, str]] | None = None,
    with_charts: bool = True,
    dq: pd.DataFrame | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Everything the template shows for the ISO week holding ``day``, and the sidecar meta.

    ``gold`` maps gold table names to frames (``rpt_weekly_kpi_trends``,
    ``fct_capability_grade``, ``fct_route_rolled_yield``, ``fct_supplier_lot_quality``,
    ``fct_station_daily_yield``, ``warning_quality_weekly``; any may be None); ``table`` is
    :func:`reporting.workflow.warnings_table` as of the week's last scored day; ``dq`` is
    ``ops.dq_results`` (the data-health line, :func:`data_health`)."""
    name_of = name_of or (lambda n: n)
    week_start, week_end, label = iso_week(day)
    active = week_warnings(table, scores, week_start, week_end)
    decided = decided_this_week(history, week_start, week_end)
    escalated = table[table["escalated"] & (table["first_warning"] <= week_end)] if len(table) else table
    week_scores = scores[(_dates(scores["score_date"]) >= week_start) & (_dates(scores["score_date"]) <= week_end)]
    scopes = []
    for scope, title in SCOPE_TITLES.items():
        a = active[active["scope"] == scope] if len(active) else active
        ws = week_scores[week_scores["scope"] == scope]
        new = a[a["state"] == "new"] if len(a) else a
        ongoing = a[a["state"] == "ongoing"] if len(a) else a
        d = decided[decided["scope"] == scope] if len(decided) else decided
        scopes.append(
            {
                "scope": scope,
                "title": title,
                "monitored": int(ws["entity_id"].nunique()),
                "raised_by": sorted({raised_by(n, v)["text"] for n, v in zip(ws["model_name"], ws["model_version"],
                                                                               strict=True)}),
                "new_count": len(new),
                "ongoing_count": len(ongoing),
                "new": [_warning_row(r, name_of, gold, week_end) for _, r in new.head(MAX_ROWS).iterrows()],
                "ongoing": [_warning_row(r, name_of, gold, week_end) for _, r in ongoing.head(MAX_ROWS).iterrows()],
                "decided": [
                    {
                        "warning_id": r["warning_id"],
                        "entity": r["entity_id"],
                        "outcome": str(r["to_status"]).replace("_", " "),
                        "by": r["actor"],
                        "note": r.get("note") or "",
                    }
                    for _, r in d.iterrows()
                ],
            }
        )
    meta = digest_meta(label, week_start, scores, new_warnings_of(active), gold.get("fct_capability_grade"))
    meta["escalated"] = len(escalated)
    meta["ongoing_warnings"] = {s["scope"]: s["ongoing_count"] for s in scopes}
    context = {
        "week": label,
        "week_start": str(week_start),
        "week_end": str(week_end),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "partial_days": meta["partial_days"],
        "headline": headline_text(meta),
        "data_health": data_health(dq, week_start, week_end),
        "escalated": [
            {
                "warning_id": r["warning_id"],
                "scope": SCOPE_TITLES.get(r["scope"], r["scope"]),
                "entity": r["entity_id"],
                "first_warning": str(r["first_warning"]),
                "days_warned": int(r["days_warned"]),
                "owner": r["owner"],
                "raised_by": _raised_by_label(str(r["model"])),
            }
            for _, r in escalated.sort_values("first_warning").head(MAX_ROWS).iterrows()
        ],
        "escalated_count": len(escalated),
        "scopes": scopes,
        "kpis": kpi_sections(gold.get("rpt_weekly_kpi_trends"), week_start),
        "grades": grade_summary(gold.get("fct_capability_grade"), week_end),
        "grade_changes": meta["grade_changes"],
        "track_record": track_record(table, gold.get("warning_quality_weekly"), week_end),
        "track_record_weeks": TRACK_RECORD_WEEKS,
        "charts": charts(scores, gold.get("fct_route_rolled_yield"), week_end) if with_charts else [],
        "links": links or [],
        "max_rows": MAX_ROWS,
    }
    return context, meta


def new_warnings_of(active: pd.DataFrame) -> pd.DataFrame:
    return active[active["state"] == "new"] if len(active) else active


def render(context: dict[str, Any]) -> str:
    """The digest page from :func:`digest_context` through ``templates/digest.html.j2``."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("digest.html.j2").render(**context)


GOLD_INPUTS = (
    "rpt_weekly_kpi_trends",
    "fct_capability_grade",
    "fct_route_rolled_yield",
    "fct_supplier_lot_quality",
    "fct_station_daily_yield",
    "warning_quality_weekly",
    "fct_build_lot_suspects",  # likely causes (attribution through genealogy)
    "fct_yield_cusum",
)


def write_digest(day: date | str | None = None, cfg=None) -> Path:
    """Write the digest of the ISO week holding ``day`` (default: the last scored day)."""
    from andon.config import settings
    from andon.dictionary import load_dictionary
    from andon.tables import read_table
    from reporting.workflow import history, warnings_table

    cfg = cfg or settings()
    scores = read_table(cfg.table_path("gold", "early_warning_scores"))
    if scores is None or scores.empty:
        raise ValueError("gold.early_warning_scores is empty: run the scoring DAG first")
    last_scored = max(_dates(scores["score_date"]))
    day = date.fromisoformat(str(day)) if day else last_scored
    _, week_end, label = iso_week(day)
    gold = {name: read_table(cfg.table_path("gold", name)) for name in GOLD_INPUTS}
    if gold["rpt_weekly_kpi_trends"] is None:
        raise ValueError("gold.rpt_weekly_kpi_trends is missing: build the quality mart (dag andon_quality_mart)")
    context, meta = digest_context(
        day,
        scores,
        gold,
        warnings_table(cfg, as_of=min(week_end, last_scored)),
        history(cfg),
        load_dictionary(cfg.raw["landing"]["data_dictionary"]).business_name,
        dashboard_links(cfg.raw),
        dq=read_table(cfg.table_path("ops", "dq_results")),
    )
    out = Path(cfg.raw["paths"]["digests"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"digest-{label}.html"
    path.write_text(render(context), encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return path


def digest_meta(
    label: str, week_start: date, scores: pd.DataFrame, warnings: pd.DataFrame, grades: pd.DataFrame | None
) -> dict[str, Any]:
    """The digest's sidecar (``digest-<week>.json``), read by the mailer for the subject line:
    new warnings per scope, how many days of the week hold scores (``partial_days`` when fewer
    than 7) and the sites whose capability grade changed from the month before."""
    week_end = week_start + timedelta(days=6)
    days = _dates(scores["score_date"])
    scored_days = int(days[(days >= week_start) & (days <= week_end)].nunique())
    new = {scope: int((warnings["scope"] == scope).sum()) if not warnings.empty else 0 for scope in SCOPE_TITLES}
    changes: list[dict[str, Any]] = []
    if grades is not None and not grades.empty and "capability_grade" in grades:
        g = grades.copy()
        g["month_start_date"] = _dates(g["month_start_date"])
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
