"""Evaluation harness v0: early-warning scores against the ground-truth incident ledger.

The ledger (``<landing>/_ground_truth/incidents.csv``) is read here and nowhere in training.
For each scope and each *method* -- the model (``is_warning`` of ``gold.early_warning_scores``)
and a simple **baseline** rule on the same entity-days -- it reports:

* **recall**: share of the scope's incidents with at least one warning on the incident's entity
  between the incident's start and ``end + grace days`` (:data:`GRACE_DAYS`, per scope);
* **false alarms per 100 monitored entities per week**: distinct (entity, ISO week) pairs with
  a warning outside every incident window of that entity, per 100 monitored (entity, week) pairs
  (an entity is monitored in a week when it has a score that week);
* **median lead time** (days): over detected incidents, the day the incident becomes visible in
  the plain KPI (see :func:`kpi_visible`) minus the day of the first warning; positive = the
  method warned before the KPI showed it. Incidents the KPI never shows have no lead time.

Entities: a ``station`` incident (e.g. ``SZX-L1-FT``) is matched to its line (``SZX-L1``),
since the factory-output model scores lines. Everything works on pandas frames so that it is
unit-testable without Spark; :func:`evaluate_lakehouse` reads the Delta tables with delta-rs.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SCOPES = ("incoming_material", "factory_output", "field_return")
ENTITY_COL = {"incoming_material": "supplier_lot_id", "factory_output": "line_id", "field_return": "build_lot_id"}
# Days after an incident's ledger end date during which a warning still counts as catching it: a
# supplier lot's defects show while it is consumed, a line's within days, a latent defect of a
# build lot only in the field, weeks after the build.
GRACE_DAYS = {"incoming_material": 21, "factory_output": 7, "field_return": 60}

KPI_RULES = {
    "incoming_material": "downstream first-pass yield of the units built with the lot: unit fail rate > 1.5 x "
    "the part's, binomial z-score >= 3 against the part's other lots, >= 30 units tested",
    "factory_output": "daily ICT+FT first-pass yield of the line: first-attempt fail rate > max(2 x its "
    "trailing 7-day rate, 6 %) with >= 20 first attempts that day",
    "field_return": "return rate of the build lot so far > 2 x max(product's pooled rate that day, 1 %) "
    "with >= 20 units shipped",
}
BASELINE_RULES = {
    "incoming_material": "static threshold on incoming data: any supplier parameter out of spec, or IQC fail "
    "rate >= 10 % with >= 5 samples",
    "factory_output": "SPC rule 1 on the line's daily SPC points: a characteristic's daily mean more than "
    "3 baseline sigmas from its 14-day mean, or any point out of spec",
    "field_return": "static threshold on the DOA KPI: >= 2 DOA returns and DOA rate >= 2 % of units shipped",
}


def incident_entity(scope: str, entity_type: str, entity_id: str) -> str:
    """The scored entity an incident belongs to (station -> its line)."""
    if scope == "factory_output" and entity_type == "station":
        return entity_id.rsplit("-", 1)[0]
    return entity_id


def _f(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce").fillna(0.0) if col in df else pd.Series(0.0, index=df.index)


def kpi_visible(scope: str, features: pd.DataFrame) -> pd.Series:
    """Boolean per feature row: the plain KPI shows a problem on this entity-day (see KPI_RULES)."""
    f = features
    if scope == "incoming_material":
        return (
            (_f(f, "units_tested") >= 30)
            & (_f(f, "unit_fail_rate") > 1.5 * _f(f, "part_unit_fail_rate"))
            & (_f(f, "unit_fail_z") >= 3)
        )
    if scope == "factory_output":
        n1 = _f(f, "ict_1d_first_attempts") + _f(f, "ft_1d_first_attempts")
        f1 = _f(f, "ict_1d_first_attempts") * _f(f, "ict_1d_fail_rate") + _f(f, "ft_1d_first_attempts") * _f(
            f, "ft_1d_fail_rate"
        )
        n7 = _f(f, "ict_7d_first_attempts") + _f(f, "ft_7d_first_attempts")
        f7 = _f(f, "ict_7d_first_attempts") * _f(f, "ict_7d_fail_rate") + _f(f, "ft_7d_first_attempts") * _f(
            f, "ft_7d_fail_rate"
        )
        prior = ((f7 - f1) / (n7 - n1).where(n7 - n1 > 0)).fillna(0.0)
        rate = (f1 / n1.where(n1 > 0)).fillna(0.0)
        return (n1 >= 20) & (rate > np.maximum(2 * prior, 0.06))
    if scope == "field_return":
        shipped = _f(f, "units_shipped")
        returns = _f(f, "returns_so_far")
        key = [f["product_id"], f["score_date"]]
        pooled = returns.groupby(key).transform("sum") / shipped.groupby(key).transform("sum").where(lambda s: s > 0)
        base = np.maximum(pooled.fillna(0.0), 0.01)
        return (shipped >= 20) & (returns / shipped.where(shipped > 0) > 2 * base).fillna(False)
    raise ValueError(f"unknown scope {scope!r}")


def baseline_warning(scope: str, features: pd.DataFrame) -> pd.Series:
    """Boolean per feature row: the simple baseline rule fires (see BASELINE_RULES)."""
    f = features
    if scope == "incoming_material":
        return (_f(f, "supplier_n_out_of_spec") >= 1) | ((_f(f, "iqc_samples") >= 5) & (_f(f, "iqc_fail_rate") >= 0.10))
    if scope == "factory_output":
        return (_f(f, "spc_max_shift_sigma") > 3) | (_f(f, "spc_oos_share_1d") > 0)
    if scope == "field_return":
        return (_f(f, "doa_so_far") >= 2) & (_f(f, "doa_rate_so_far") >= 0.02)
    raise ValueError(f"unknown scope {scope!r}")


def _windows(incidents: pd.DataFrame, scope: str, grace_days: int | None) -> pd.DataFrame:
    grace_days = GRACE_DAYS[scope] if grace_days is None else grace_days
    inc = incidents[incidents["scope"] == scope].copy()
    inc["entity"] = [incident_entity(scope, t, e) for t, e in zip(inc["entity_type"], inc["entity_id"], strict=True)]
    inc["start"] = pd.to_datetime(inc["start_date"]).dt.date
    inc["end"] = pd.to_datetime(inc["end_date"]).dt.date
    inc["deadline"] = [e + timedelta(days=grace_days) for e in inc["end"]]
    return inc


def evaluate_method(
    scope: str,
    monitored: pd.DataFrame,
    warnings: pd.Series,
    incidents: pd.DataFrame,
    visible_day: dict[str, date],
    grace_days: int | None = None,
) -> dict[str, Any]:
    """Metrics of one method on one scope.

    ``monitored``: rows (``entity``, ``score_date``) that were scored; ``warnings``: boolean per
    row of ``monitored``; ``visible_day``: incident_id -> first day the plain KPI shows it.
    """
    m = monitored[["entity", "score_date"]].copy()
    m["score_date"] = pd.to_datetime(m["score_date"]).dt.date
    m["warn"] = np.asarray(warnings, dtype=bool)
    iso = pd.to_datetime(m["score_date"]).dt.isocalendar()
    m["week"] = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    inc = _windows(incidents, scope, grace_days)

    in_window = np.zeros(len(m), dtype=bool)
    detected, leads, per_incident = 0, [], []
    for _, row in inc.iterrows():
        hit = (m["entity"] == row["entity"]) & (m["score_date"] >= row["start"]) & (m["score_date"] <= row["deadline"])
        in_window |= hit.to_numpy()
        warned = m.loc[hit & m["warn"], "score_date"]
        first = min(warned) if len(warned) else None
        vis = visible_day.get(row["incident_id"])
        lead = (vis - first).days if (first is not None and vis is not None) else None
        if first is not None:
            detected += 1
            if lead is not None:
                leads.append(lead)
        per_incident.append(
            {
                "incident_id": row["incident_id"],
                "kind": row["kind"],
                "entity": row["entity"],
                "start": row["start"].isoformat(),
                "kpi_visible": vis.isoformat() if vis else None,
                "first_warning": first.isoformat() if first else None,
                "lead_days": lead,
                "monitored_days": int(hit.sum()),
            }
        )
    entity_weeks = m[["entity", "week"]].drop_duplicates()
    false = m[m["warn"] & ~in_window][["entity", "week"]].drop_duplicates()
    n_inc = len(inc)
    return {
        "incidents": n_inc,
        "detected": detected,
        "recall": detected / n_inc if n_inc else float("nan"),
        "median_lead_days": float(np.median(leads)) if leads else float("nan"),
        "false_alarm_entity_weeks": len(false),
        "monitored_entity_weeks": len(entity_weeks),
        "false_alarms_per_100_entity_weeks": 100.0 * len(false) / len(entity_weeks)
        if len(entity_weeks)
        else float("nan"),
        "warning_days": int(m["warn"].sum()),
        "per_incident": per_incident,
    }


def first_visible(
    scope: str, features: pd.DataFrame, incidents: pd.DataFrame, grace_days: int | None = None
) -> dict[str, date]:
    """incident_id -> first day in the incident window on which the plain KPI shows it."""
    f = features.copy()
    f["entity"] = f[ENTITY_COL[scope]].astype(str)
    f["score_date"] = pd.to_datetime(f["score_date"]).dt.date
    f["visible"] = kpi_visible(scope, f).to_numpy()
    out = {}
    for _, row in _windows(incidents, scope, grace_days).iterrows():
        days = f.loc[
            (f["entity"] == row["entity"])
            & f["visible"]
            & (f["score_date"] >= row["start"])
            & (f["score_date"] <= row["deadline"]),
            "score_date",
        ]
        if len(days):
            out[row["incident_id"]] = min(days)
    return out


def better(model: dict[str, Any], baseline: dict[str, Any]) -> bool:
    """The model beats the baseline: higher recall; at equal recall, a longer median lead time;
    at equal lead (or none), fewer false alarms per 100 entity-weeks."""

    def key(r):
        lead = r["median_lead_days"]
        return (
            round(r["recall"], 9) if not math.isnan(r["recall"]) else -1.0,
            lead if not math.isnan(lead) else -1e9,
            -(
                r["false_alarms_per_100_entity_weeks"]
                if not math.isnan(r["false_alarms_per_100_entity_weeks"])
                else 1e9
            ),
        )

    return key(model) > key(baseline)


def evaluate(
    scores: pd.DataFrame, features: dict[str, pd.DataFrame], incidents: pd.DataFrame, grace_days: int | None = None
) -> dict[str, Any]:
    """Both methods on every scope that has scores. ``scores`` has the columns of
    ``gold.early_warning_scores``; ``features[scope]`` the scope's feature table."""
    report: dict[str, Any] = {"grace_days": grace_days or GRACE_DAYS, "scopes": {}}
    for scope in SCOPES:
        s = scores[scores["scope"] == scope][["entity_id", "score_date", "is_warning", "model_version"]].copy()
        if s.empty or scope not in features:
            continue
        f = features[scope].copy()
        f["entity_id"] = f[ENTITY_COL[scope]].astype(str)
        s["score_date"] = pd.to_datetime(s["score_date"]).dt.date
        f["score_date"] = pd.to_datetime(f["score_date"]).dt.date
        f["baseline"] = baseline_warning(scope, f).to_numpy()
        rows = s.merge(f[["entity_id", "score_date", "baseline"]], on=["entity_id", "score_date"], how="left")
        rows["baseline"] = rows["baseline"].fillna(False).astype(bool)
        rows = rows.rename(columns={"entity_id": "entity"})
        visible = first_visible(scope, features[scope], incidents, grace_days)
        model = evaluate_method(scope, rows, rows["is_warning"], incidents, visible, grace_days)
        base = evaluate_method(scope, rows, rows["baseline"], incidents, visible, grace_days)
        report["scopes"][scope] = {
            "score_dates": [min(s["score_date"]).isoformat(), max(s["score_date"]).isoformat()],
            "model_versions": sorted(s["model_version"].astype(str).unique(), key=int),
            "kpi_rule": KPI_RULES[scope],
            "baseline_rule": BASELINE_RULES[scope],
            "model": model,
            "baseline": base,
            "model_beats_baseline": better(model, base),
        }
    report["scopes_model_beats_baseline"] = sum(v["model_beats_baseline"] for v in report["scopes"].values())
    return report


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if pct:
        return f"{v:.0%}"
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def report_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table (also what ``andon evaluate`` prints)."""
    lines = [
        "| scope | method | incidents | detected | recall | median lead (days) "
        "| false alarms / 100 entity-weeks | entity-weeks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scope, r in report["scopes"].items():
        for method in ("model", "baseline"):
            m = r[method]
            lines.append(
                f"| {scope} | {method} | {m['incidents']} | {m['detected']} | {_fmt(m['recall'], pct=True)} | "
                f"{_fmt(m['median_lead_days'])} | {_fmt(m['false_alarms_per_100_entity_weeks'])} | "
                f"{m['monitored_entity_weeks']} |"
            )
    return "\n".join(lines)


def report_markdown(report: dict[str, Any]) -> str:
    out = ["# Early-warning evaluation", "", report_table(report), ""]
    out.append(f"Model beats baseline on {report['scopes_model_beats_baseline']} of {len(report['scopes'])} scopes.")
    for scope, r in report["scopes"].items():
        out += [
            "",
            f"## {scope}",
            "",
            f"- score dates {r['score_dates'][0]} .. {r['score_dates'][1]}; "
            f"model versions {', '.join(r['model_versions'])}",
            f"- plain KPI: {r['kpi_rule']}",
            f"- baseline: {r['baseline_rule']}",
            f"- model beats baseline: {r['model_beats_baseline']}",
            "",
            "| incident | kind | entity | start | KPI visible | model first warning | model lead "
            "| baseline first warning | baseline lead |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for mi, bi in zip(r["model"]["per_incident"], r["baseline"]["per_incident"], strict=True):
            out.append(
                f"| {mi['incident_id']} | {mi['kind']} | {mi['entity']} | {mi['start']} | {_fmt(mi['kpi_visible'])} | "
                f"{_fmt(mi['first_warning'])} | {_fmt(mi['lead_days'])} | "
                f"{_fmt(bi['first_warning'])} | {_fmt(bi['lead_days'])} |"
            )
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- lakehouse entry point


def evaluate_lakehouse(cfg=None, out_dir: str | Path | None = None, log_to_mlflow: bool = True) -> dict[str, Any]:
    """Read the scores, feature tables and ledger; evaluate; write ``evaluation-<ts>.{json,md}``
    (and ``evaluation-latest.*``) to ``paths.reports``; log the report to the MLflow experiment
    ``andon_evaluation``. Returns the report (with ``paths``)."""
    from datetime import datetime

    from andon.config import settings
    from andon.tables import read_table

    cfg = cfg or settings()
    scores = read_table(
        cfg.table_path("gold", "early_warning_scores"),
        ["scope", "entity_id", "score_date", "is_warning", "model_version"],
    )
    if scores is None or scores.empty:
        raise ValueError("gold.early_warning_scores is empty: run the scoring DAG first")
    ledger = Path(cfg.landing_root) / "_ground_truth" / "incidents.csv"
    if not ledger.exists():
        raise ValueError(f"no ground-truth ledger at {ledger} (only simulated data has one)")
    incidents = pd.read_csv(ledger, dtype=str)
    features = {}
    for scope in SCOPES:
        f = read_table(cfg.table_path("gold", f"features_{scope}"))
        if f is not None:
            features[scope] = f
    report = evaluate(scores, features, incidents)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report["generated_at"] = stamp
    out = Path(out_dir or cfg.raw["paths"]["reports"])
    out.mkdir(parents=True, exist_ok=True)
    md = report_markdown(report)
    paths = {}
    for name in (f"evaluation-{stamp}", "evaluation-latest"):
        (out / f"{name}.json").write_text(json.dumps(report, indent=2, default=str))
        (out / f"{name}.md").write_text(md)
    paths = {"json": str(out / f"evaluation-{stamp}.json"), "markdown": str(out / f"evaluation-{stamp}.md")}
    report["paths"] = paths
    if log_to_mlflow:
        report["mlflow_run_id"] = _log_mlflow(cfg, report, md)
    return report


def _log_mlflow(cfg, report: dict[str, Any], md: str) -> str:
    import mlflow

    from ml.jobs import mlflow_uris

    tracking, _, artifacts = mlflow_uris(cfg)
    prev = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking)
    try:
        if mlflow.get_experiment_by_name("andon_evaluation") is None:
            mlflow.create_experiment("andon_evaluation", artifact_location=artifacts and f"{artifacts}/evaluation")
        mlflow.set_experiment("andon_evaluation")
        with mlflow.start_run(run_name=f"evaluate_{report['generated_at']}") as run:
            metrics = {}
            for scope, r in report["scopes"].items():
                for method in ("model", "baseline"):
                    for k in ("recall", "median_lead_days", "false_alarms_per_100_entity_weeks"):
                        v = r[method][k]
                        if v is not None and not math.isnan(v):
                            metrics[f"{scope}.{method}.{k}"] = float(v)
                mlflow.set_tag(f"{scope}.model_versions", ",".join(r["model_versions"]))
            mlflow.log_metrics(metrics)
            mlflow.log_dict(report, "evaluation/report.json")
            mlflow.log_text(md, "evaluation/report.md")
            return run.info.run_id
    finally:
        mlflow.set_tracking_uri(prev)
