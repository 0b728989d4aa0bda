"""Evaluation harness v1: early-warning methods against the ground-truth ledgers (docs/evaluation.md).

The incident ledger (``<landing>/_ground_truth/incidents.csv``) and the decoy ledger
(``<landing>/_ground_truth/decoys.csv``, benign changes a good method must not alarm on; optional)
are read here and nowhere else in the pipeline. Per scope, for every **method** -- the model
(``score`` / ``is_warning`` of ``gold.early_warning_scores``) and the baseline rule on the same
entity-days -- it reports:

* **recall** with a Wilson 95 % interval: incidents with at least one warning on the incident's
  entity between its start and ``end + grace days`` (:data:`GRACE_DAYS`), overall and per
  incident kind and magnitude bucket (:func:`magnitude_bucket`);
* **lead time** distribution (median, quartiles): the day the plain KPI of the **dbt mart** first
  shows the incident (:mod:`ml.visibility`, independent of any model) minus the first warning;
  positive = the method warned earlier;
* **false alarms per 100 monitored entities per week** with a Wilson 95 % interval: (entity, ISO
  week) pairs with a warning outside every incident window of the entity, per 100 scored
  (entity, week) pairs;
* **alarms on decoys**: decoys with a warning on a concerned entity during the decoy (+ grace);
* **precision** of warnings (entity-days: warnings inside an incident window / all warnings) and
  **PR-AUC** (average precision of the method's score, entity-day label = inside a window);
* **recall at a matched false-alarm budget**: for each budget of :data:`FALSE_ALARM_BUDGETS`
  false-alarm entity-weeks per 100, each method's threshold is set on its *own* scores to the
  lowest value whose false-alarm rate stays within the budget, so methods are compared at the
  same false-alarm rate and not only at their own thresholds.

A weekly FPR/FNR series of every method's warnings (:func:`warning_quality_weekly`) is written to
``gold.warning_quality_weekly`` with delta-rs, for drift monitoring (DOMAIN.md).

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

from andon.scopes import SCOPE_NAMES
from andon.scopes import SCOPES as SCOPE_REGISTRY
from ml.rules import (  # noqa: F401 (re-exported)
    BASELINE_RULES,
    BASELINE_THRESHOLD,
    DETECTOR_RULES,
    DETECTOR_THRESHOLD,
    baseline_score,
    baseline_warning,
    detector_score,
    has_detector,
)
from ml.visibility import RULES as KPI_RULES
from ml.visibility import visible_days

SCOPES = SCOPE_NAMES
ENTITY_COL = {s.name: s.entity_col for s in SCOPE_REGISTRY.values()}
# Columns of the feature tables that name what an entity belongs to (a decoy may name these).
ENTITY_ATTRS = {s.name: list(s.attributes) for s in SCOPE_REGISTRY.values()}
# Days after an incident's ledger end date during which a warning still counts as catching it
# (andon/scopes.py says why each is what it is).
GRACE_DAYS = {s.name: s.grace_days for s in SCOPE_REGISTRY.values()}
# Matched false-alarm budgets: false-alarm entity-weeks per 100 monitored entity-weeks.
FALSE_ALARM_BUDGETS = (1.0, 5.0)
# Magnitude buckets per incident kind: upper edges of the ledger's magnitude column. Fixed edges,
# never cut from one run's ledger, so that buckets mean the same on every seed and pool across a
# suite. Defective-lot magnitudes are defect fractions (the 2 % lots of the seed case get a bucket
# of their own); the other edges sit at the middle of the `standard` scenario's ranges
# (conf/scenarios/standard.yaml): defect fraction of a supplier change, false-fail rate, peak
# fixture-wear fail rate, drift in sigmas, latent-defect fraction, regional failure fraction.
# Kinds not listed split at their median magnitude in the ledger when it varies.
MAGNITUDE_EDGES = {
    "defective_lot": (0.025, 0.05),
    "supplier_process_change": (0.04,),
    "station_false_fail": (0.10,),
    "fixture_wear": (0.115,),
    "process_drift": (2.0,),
    "latent_defect": (0.14,),
    "regional_field_failure": (0.075,),
}
Z95 = 1.959963984540054
WEEKLY_TABLE = "warning_quality_weekly"

# --------------------------------------------------------------------------- statistics


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of the proportion k / n (DOMAIN.md); (nan, nan) when n = 0."""
    if n <= 0:
        return (float("nan"), float("nan"))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # The bounds are exactly 0 at k = 0 and 1 at k = n; computed, they carry rounding error
    # (5.6e-17 for 0 of 3) that would put the lower bound above the estimate itself.
    lo = 0.0 if k <= 0 else min(p, max(0.0, centre - half))
    hi = 1.0 if k >= n else max(p, min(1.0, centre + half))
    return (lo, hi)


def lead_stats(leads: list[float]) -> dict[str, Any]:
    """Median and quartiles (linear interpolation) of lead times in days."""
    if not leads:
        return {"n": 0, "median": float("nan"), "q1": float("nan"), "q3": float("nan")}
    q1, med, q3 = np.percentile(np.asarray(leads, dtype=float), [25, 50, 75])
    return {"n": len(leads), "median": float(med), "q1": float(q1), "q3": float(q3)}


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """PR-AUC as average precision, sum over distinct thresholds of (R_i - R_i-1) P_i (the
    definition of scikit-learn's ``average_precision_score``, without importing it); nan without
    both classes; missing scores rank last."""
    y = np.asarray(labels, dtype=bool)
    if y.all() or not y.any():
        return float("nan")
    s = np.asarray(scores, dtype=float)
    s = np.where(np.isnan(s), -np.inf, s)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # last row of each distinct score
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


# --------------------------------------------------------------------------- entities and rules


def incident_entity(scope: str, entity_type: str, entity_id: str) -> str:
    """The scored entity an incident belongs to (station -> its line)."""
    if scope == "factory_output" and entity_type == "station":
        return entity_id.rsplit("-", 1)[0]
    return entity_id


def entity_matches(entities: np.ndarray, entity_type: str, entity: str) -> np.ndarray:
    """Which scored entities an incident concerns (boolean per element of ``entities``).

    Most incidents name a scored entity (a supplier lot, a line, a build lot). Two kinds name a
    group (docs/scenarios.md): a ``supplier_part`` (``<supplier>-<part>``) concerns every lot whose
    id starts with it; a ``product_region`` (``<product>-<region>``) concerns every build lot of
    the product, because the region of a lot's units is not part of its id (an approximation:
    a warning on any of the product's lots inside the window counts)."""
    entities = np.asarray(entities, dtype=str)
    if entity_type == "supplier_part":
        return np.char.startswith(entities, f"{entity}-L")
    if entity_type == "product_region":
        product = entity.split("-")[0]
        return np.array([product in e.split("-") for e in entities], dtype=bool)
    return entities == entity


def _edge(v: float) -> str:
    """A bucket edge as people read it: fractions as percent, other magnitudes (sigmas) plain."""
    return f"{v:.1%}" if v < 1 else f"{v:g}"


def magnitude_bucket(incidents: pd.DataFrame) -> pd.Series:
    """A label per ledger row: the magnitude bucket of its kind (:data:`MAGNITUDE_EDGES`; other
    kinds: below / at-or-above the kind's median magnitude when it varies, else ``all``)."""
    mag = pd.to_numeric(incidents["magnitude"], errors="coerce") if "magnitude" in incidents else None
    out = pd.Series("all", index=incidents.index, dtype=object)
    if mag is None:
        return out
    for kind, idx in incidents.groupby("kind").groups.items():
        m = mag.loc[idx]
        if kind in MAGNITUDE_EDGES:
            edges = MAGNITUDE_EDGES[kind]
            bounds = [-math.inf, *edges, math.inf]
            for i in idx:
                v = mag.loc[i]
                if pd.isna(v):
                    continue
                j = next(j for j in range(len(edges) + 1) if v <= bounds[j + 1])
                lo, hi = bounds[j], bounds[j + 1]
                if lo == -math.inf:
                    out.loc[i] = f"<= {_edge(hi)}"
                else:
                    out.loc[i] = f"> {_edge(lo)}" if hi == math.inf else f"{_edge(lo)}-{_edge(hi)}"
        elif m.nunique() > 1:
            med = float(m.median())
            for i in idx:
                if pd.notna(mag.loc[i]):
                    out.loc[i] = f"< {med:g}" if mag.loc[i] < med else f">= {med:g}"
    return out


def entity_keys(entity: str, attrs: dict[str, Any] | None = None) -> set[str]:
    """Names an entity answers to: itself, every run of its dash-separated parts (``SZX-L1`` ->
    ``SZX``, ``L1``, ``SZX-L1``) and the values of its attributes (supplier, part, product, line)."""
    parts = str(entity).split("-")
    keys = {"-".join(parts[i:j]) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)}
    keys |= {str(v) for v in (attrs or {}).values() if v is not None and not (isinstance(v, float) and math.isnan(v))}
    return keys


def decoy_concerns(decoy_entity: str, entity: str, keys: set[str]) -> bool:
    """A decoy concerns a scored entity when it names the entity, something the entity belongs to
    (its site, line, product, supplier, part) or a part of it (a station or characteristic of a line)."""
    return decoy_entity in keys or decoy_entity.startswith(f"{entity}-")


# --------------------------------------------------------------------------- one method


def _windows(incidents: pd.DataFrame, scope: str, grace_days: int | None) -> pd.DataFrame:
    grace_days = GRACE_DAYS[scope] if grace_days is None else grace_days
    inc = incidents[incidents["scope"] == scope].copy()
    inc["entity"] = [incident_entity(scope, t, e) for t, e in zip(inc["entity_type"], inc["entity_id"], strict=True)]
    inc["start"] = pd.to_datetime(inc["start_date"]).dt.date
    inc["end"] = pd.to_datetime(inc["end_date"]).dt.date
    inc["deadline"] = [e + timedelta(days=grace_days) for e in inc["end"]]
    if "magnitude" not in inc:
        inc["magnitude"] = None
    inc["bucket"] = magnitude_bucket(inc) if len(inc) else pd.Series(dtype=object)
    return inc


def _label_rows(monitored: pd.DataFrame, inc: pd.DataFrame) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Rows with ISO week, week start and ``in_window``; plus each incident's row mask."""
    m = monitored[["entity", "score_date"]].copy().reset_index(drop=True)
    m["entity"] = m["entity"].astype(str)
    ts = pd.to_datetime(m["score_date"])
    m["score_date"] = ts.dt.date
    m["day"] = ts.to_numpy().astype("datetime64[D]")  # for fast comparisons
    iso = ts.dt.isocalendar()
    m["week"] = iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)
    m["week_start"] = (ts.dt.normalize() - pd.to_timedelta(ts.dt.weekday, unit="D")).dt.date
    masks = []
    in_window = np.zeros(len(m), dtype=bool)
    ent, day = m["entity"].to_numpy(), m["day"].to_numpy()
    for row in inc.itertuples(index=False):
        in_days = (day >= np.datetime64(row.start)) & (day <= np.datetime64(row.deadline))
        hit = in_days & entity_matches(ent, row.entity_type, row.entity)
        masks.append(hit)
        in_window |= hit
    m["in_window"] = in_window
    return m, masks


def _detect(m: pd.DataFrame, masks: list[np.ndarray], inc: pd.DataFrame, warn: np.ndarray, visible_day):
    out = []
    for hit, row in zip(masks, inc.itertuples(index=False), strict=True):
        warned = m.loc[hit & warn, "score_date"]
        first = min(warned) if len(warned) else None
        vis = visible_day.get(row.incident_id)
        lead = (vis - first).days if (first is not None and vis is not None) else None
        out.append((first, vis, lead, int(hit.sum())))
    return out


def matched_threshold(m: pd.DataFrame, scores: np.ndarray, budget: float) -> float:
    """The lowest threshold on ``scores`` whose false-alarm entity-weeks (a score at or above it on a
    row outside every incident window) stay within ``budget`` per 100 monitored entity-weeks."""
    s = np.where(np.isnan(scores), -np.inf, scores)
    n_ew = len(m[["entity", "week"]].drop_duplicates())
    out = m.loc[~m["in_window"].to_numpy(), ["entity", "week"]].assign(s=s[~m["in_window"].to_numpy()])
    worst = np.sort(out.groupby(["entity", "week"])["s"].max().to_numpy())[::-1]
    allowed = math.floor(budget / 100.0 * n_ew + 1e-9)
    if allowed >= len(worst):
        return -math.inf
    return float(np.nextafter(worst[allowed], np.inf))


def _false_alarms(m: pd.DataFrame, warn: np.ndarray) -> int:
    return len(m.loc[warn & ~m["in_window"].to_numpy(), ["entity", "week"]].drop_duplicates())


def _decoy_masks(
    m: pd.DataFrame, decoys: pd.DataFrame | None, keys: dict[str, set[str]], grace: int
) -> list[tuple[Any, np.ndarray, int]]:
    """Per decoy: its ledger row, the mask of rows it concerns (entity and days) and how many
    entities it concerns."""
    if decoys is None or decoys.empty:
        return []
    out = []
    entities = m["entity"].unique()
    keys = {e: keys.get(e) or entity_keys(e) for e in entities}
    day = m["day"].to_numpy()
    for row in decoys.itertuples(index=False):
        start = np.datetime64(pd.Timestamp(row.start_date).date())
        end = np.datetime64(pd.Timestamp(row.end_date).date() + timedelta(days=grace))
        concerned = [e for e in entities if decoy_concerns(str(row.entity_id), e, keys[e])]
        mask = m["entity"].isin(concerned).to_numpy() & (day >= start) & (day <= end)
        out.append((row, mask, len(concerned)))
    return out


def _decoy_alarms(m: pd.DataFrame, warn: np.ndarray, masks: list[tuple[Any, np.ndarray, int]]) -> list[dict[str, Any]]:
    out = []
    for row, mask, n in masks:
        warned = m.loc[mask & warn, "score_date"]
        out.append(
            {
                "id": row.id,
                "kind": row.kind,
                "entity": row.entity_id,
                "start": pd.Timestamp(row.start_date).date().isoformat(),
                "concerned_entities": n,
                "monitored_days": int(mask.sum()),
                "first_warning": min(warned).isoformat() if len(warned) else None,
                "alarmed": bool(len(warned)),
            }
        )
    return out


def evaluate_method(
    scope: str,
    monitored: pd.DataFrame,
    warnings: pd.Series,
    incidents: pd.DataFrame,
    visible_day: dict[str, date],
    grace_days: int | None = None,
    scores: pd.Series | None = None,
    decoys: pd.DataFrame | None = None,
    budgets: tuple[float, ...] = FALSE_ALARM_BUDGETS,
    keys: dict[str, set[str]] | None = None,
) -> dict[str, Any]:
    """Metrics of one method on one scope.

    ``monitored``: rows (``entity``, ``score_date``) that were scored; ``warnings``: boolean per
    row (the method at its own threshold); ``scores``: the method's continuous score per row
    (default: the warnings as 0/1), for PR-AUC and the matched budgets; ``visible_day``:
    incident_id -> first day the plain KPI shows it; ``decoys``: the decoy ledger (any scope);
    ``keys``: entity -> the names it answers to (:func:`entity_keys`).
    """
    grace = GRACE_DAYS[scope] if grace_days is None else grace_days
    inc = _windows(incidents, scope, grace)
    m, masks = _label_rows(monitored, inc)
    warn = np.asarray(warnings, dtype=bool)
    if scores is None:
        s = warn.astype(float)
    else:
        s = pd.to_numeric(pd.Series(np.asarray(scores)), errors="coerce").to_numpy(float)
    found = _detect(m, masks, inc, warn, visible_day)
    dmasks = _decoy_masks(m, _scope_decoys(decoys, scope), keys or {}, grace)
    n_inc, n_ew = len(inc), len(m[["entity", "week"]].drop_duplicates())
    detected = sum(f[0] is not None for f in found)
    leads = [f[2] for f in found if f[2] is not None]
    false = _false_alarms(m, warn)

    at_budget = {}
    budget_found = {}
    for b in budgets:
        t = matched_threshold(m, s, b)
        w = np.where(np.isnan(s), -np.inf, s) >= t
        fb = _detect(m, masks, inc, w, visible_day)
        budget_found[b] = fb
        det = sum(f[0] is not None for f in fb)
        fa = _false_alarms(m, w)
        dec = _decoy_alarms(m, w, dmasks)
        at_budget[_bkey(b)] = {
            "budget_per_100_entity_weeks": b,
            "threshold": t if math.isfinite(t) else None,  # None: every row warns
            "false_alarms_per_100_entity_weeks": 100.0 * fa / n_ew if n_ew else float("nan"),
            "detected": det,
            "recall": det / n_inc if n_inc else float("nan"),
            "recall_ci": list(wilson(det, n_inc)),
            "lead_days": lead_stats([f[2] for f in fb if f[2] is not None]),
            "decoys_alarmed": sum(d["alarmed"] for d in dec),
        }

    per_incident = []
    for i, (row, f) in enumerate(zip(inc.itertuples(index=False), found, strict=True)):
        first, vis, lead, days = f
        per_incident.append(
            {
                "incident_id": row.incident_id,
                "kind": row.kind,
                "magnitude": None if pd.isna(row.magnitude) else row.magnitude,
                "magnitude_bucket": row.bucket,
                "entity": row.entity,
                "start": row.start.isoformat(),
                "kpi_visible": vis.isoformat() if vis else None,
                "first_warning": first.isoformat() if first else None,
                "lead_days": lead,
                "monitored_days": days,
                "detected_at_budget": {_bkey(b): budget_found[b][i][0] is not None for b in budgets},
            }
        )
    dec = _decoy_alarms(m, warn, dmasks)
    warn_days = int(warn.sum())
    true_days = int((warn & m["in_window"].to_numpy()).sum())
    lstats = lead_stats(leads)
    return {
        "incidents": n_inc,
        "detected": detected,
        "recall": detected / n_inc if n_inc else float("nan"),
        "recall_ci": list(wilson(detected, n_inc)),
        "median_lead_days": lstats["median"],
        "lead_days": lstats,
        "false_alarm_entity_weeks": false,
        "monitored_entity_weeks": n_ew,
        "false_alarms_per_100_entity_weeks": 100.0 * false / n_ew if n_ew else float("nan"),
        "false_alarms_per_100_entity_weeks_ci": [100.0 * v for v in wilson(false, n_ew)],
        "warning_days": warn_days,
        "warning_days_in_window": true_days,
        "precision": true_days / warn_days if warn_days else float("nan"),
        "precision_ci": list(wilson(true_days, warn_days)),
        "pr_auc": average_precision(m["in_window"].to_numpy(), s),
        "positive_day_share": float(m["in_window"].mean()) if len(m) else float("nan"),
        "decoys": len(dec) if decoys is not None else None,
        "decoys_alarmed": sum(d["alarmed"] for d in dec) if decoys is not None else None,
        "per_decoy": dec,
        "at_budget": at_budget,
        "per_incident": per_incident,
    }


def _bkey(b: float) -> str:
    return f"{b:g}"


def _scope_decoys(decoys: pd.DataFrame | None, scope: str) -> pd.DataFrame | None:
    if decoys is None:
        return None
    sc = decoys["scope"].fillna("").astype(str)
    return decoys[(sc == scope) | (sc == "")]


def by_kind(scope: str, results: dict[str, dict[str, Any]], budgets=FALSE_ALARM_BUDGETS) -> list[dict[str, Any]]:
    """Recall (Wilson 95 %), lead times and recall at the matched budgets per incident kind and
    magnitude bucket, for every method."""
    rows = []
    for method, r in results.items():
        groups: dict[tuple[str, str], list[dict]] = {}
        for p in r["per_incident"]:
            groups.setdefault((p["kind"], str(p["magnitude_bucket"])), []).append(p)

        def order(item):
            (kind, _), ps = item
            mags = [float(p["magnitude"]) for p in ps if p["magnitude"] is not None]
            return (kind, min(mags) if mags else 0.0)

        for (kind, bucket), ps in sorted(groups.items(), key=order):
            det = sum(p["first_warning"] is not None for p in ps)
            row = {
                "scope": scope,
                "kind": kind,
                "magnitude_bucket": bucket,
                "method": method,
                "incidents": len(ps),
                "detected": det,
                "recall": det / len(ps),
                "recall_ci": list(wilson(det, len(ps))),
                "lead_days": lead_stats([p["lead_days"] for p in ps if p["lead_days"] is not None]),
            }
            for b in budgets:
                db = sum(p["detected_at_budget"][_bkey(b)] for p in ps)
                row[f"recall_at_budget_{_bkey(b)}"] = db / len(ps)
            rows.append(row)
    return rows


def warning_quality_weekly(
    scope: str,
    monitored: pd.DataFrame,
    warnings: dict[str, pd.Series],
    incidents: pd.DataFrame,
    grace_days: int | None = None,
) -> pd.DataFrame:
    """Per method and ISO week: false-positive rate = entity-weeks with a warning outside every
    incident window / entity-weeks with a monitored day outside them; false-negative rate = 1 -
    entity-weeks with a warning inside a window / entity-weeks with a monitored day inside one."""
    inc = _windows(incidents, scope, grace_days)
    m, _ = _label_rows(monitored, inc)
    frames = []
    for method, w in warnings.items():
        x = m.assign(
            warn=np.asarray(w, dtype=bool),
            neg=~m["in_window"],
        )
        x["fp"] = x["warn"] & x["neg"]
        x["tp"] = x["warn"] & x["in_window"]
        ew = x.groupby(["week", "week_start", "entity"], as_index=False)[["in_window", "neg", "fp", "tp"]].max()
        wk = ew.groupby(["week", "week_start"], as_index=False).agg(
            monitored_entity_weeks=("entity", "size"),
            negative_entity_weeks=("neg", "sum"),
            false_positive_entity_weeks=("fp", "sum"),
            positive_entity_weeks=("in_window", "sum"),
            true_positive_entity_weeks=("tp", "sum"),
        )
        neg = wk["negative_entity_weeks"]
        wk["fpr"] = wk["false_positive_entity_weeks"] / neg.where(neg > 0)
        wk["fnr"] = 1.0 - wk["true_positive_entity_weeks"] / wk["positive_entity_weeks"].where(
            wk["positive_entity_weeks"] > 0
        )
        wk.insert(0, "method", method)
        wk.insert(0, "scope", scope)
        frames.append(wk)
    cols = [
        "scope", "method", "week", "week_start", "monitored_entity_weeks", "negative_entity_weeks",
        "false_positive_entity_weeks", "fpr", "positive_entity_weeks", "true_positive_entity_weeks", "fnr",
    ]  # fmt: skip
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
    out = out.rename(columns={"week": "iso_week", "week_start": "week_start_date"})
    for c in ("monitored_entity_weeks", "negative_entity_weeks", "false_positive_entity_weeks",
              "positive_entity_weeks", "true_positive_entity_weeks"):  # fmt: skip
        out[c] = out[c].astype("int64")
    return out.sort_values(["scope", "method", "week_start_date"]).reset_index(drop=True)


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


# --------------------------------------------------------------------------- all scopes


def evaluate(
    scores: pd.DataFrame,
    features: dict[str, pd.DataFrame],
    incidents: pd.DataFrame,
    grace_days: int | None = None,
    marts: dict[str, pd.DataFrame] | None = None,
    decoys: pd.DataFrame | None = None,
    budgets: tuple[float, ...] = FALSE_ALARM_BUDGETS,
    as_of: date | None = None,
) -> dict[str, Any]:
    """Every method on every scope that has scores. ``scores`` has the columns of
    ``gold.early_warning_scores`` (``score`` optional); ``features[scope]`` the scope's feature
    table; ``marts`` the gold mart tables behind the "visible" day (:mod:`ml.visibility`);
    ``decoys`` the decoy ledger or None when the run has none."""
    windows = {s: (GRACE_DAYS[s] if grace_days is None else grace_days) for s in SCOPES}
    visible = visible_days(incidents, marts or {}, windows, as_of)
    report: dict[str, Any] = {
        "harness": "v1",
        "grace_days": grace_days or GRACE_DAYS,
        "false_alarm_budgets_per_100_entity_weeks": list(budgets),
        "decoy_ledger": decoys is not None,
        "scopes": {},
        "by_kind": [],
    }
    weekly = []
    for scope in SCOPES:
        cols = ["entity_id", "score_date", "is_warning", "model_version"] + (["score"] if "score" in scores else [])
        s = scores[scores["scope"] == scope][cols].copy()
        if s.empty or scope not in features:
            continue
        if "score" not in s:
            s["score"] = s["is_warning"].astype(float)
        f = features[scope].copy()
        f["entity_id"] = f[ENTITY_COL[scope]].astype(str)
        s["entity_id"] = s["entity_id"].astype(str)
        s["score_date"] = pd.to_datetime(s["score_date"]).dt.date
        f["score_date"] = pd.to_datetime(f["score_date"]).dt.date
        f["baseline_score"] = baseline_score(scope, f).to_numpy()
        rows = s.merge(f[["entity_id", "score_date", "baseline_score"]], on=["entity_id", "score_date"], how="left")
        rows["baseline_score"] = rows["baseline_score"].fillna(0.0)
        rows["baseline"] = rows["baseline_score"] >= BASELINE_THRESHOLD[scope]
        methods = {"model": ("is_warning", "score"), "baseline": ("baseline", "baseline_score")}
        if has_detector(scope, f):
            f["detector_score"] = detector_score(scope, f).to_numpy()
            rows = rows.merge(f[["entity_id", "score_date", "detector_score"]], on=["entity_id", "score_date"],
                              how="left")
            rows["detector_score"] = rows["detector_score"].fillna(0.0)
            rows["detector"] = rows["detector_score"] >= DETECTOR_THRESHOLD[scope]
            methods["detector"] = ("detector", "detector_score")
        rows["is_warning"] = rows["is_warning"].fillna(False).astype(bool)
        rows = rows.rename(columns={"entity_id": "entity"})
        attrs = [c for c in ENTITY_ATTRS[scope] if c in f]
        keys = {
            e: entity_keys(e, dict(zip(attrs, vals, strict=True)))
            for e, *vals in f[["entity_id", *attrs]].drop_duplicates("entity_id").itertuples(index=False)
        }
        results = {
            name: evaluate_method(scope, rows, rows[w], incidents, visible, grace_days, rows[sc], decoys, budgets, keys)
            for name, (w, sc) in methods.items()
        }
        model, base = results["model"], results["baseline"]
        weekly.append(
            warning_quality_weekly(scope, rows, {n: rows[w] for n, (w, _) in methods.items()}, incidents, grace_days)
        )
        report["by_kind"] += by_kind(scope, results, budgets)
        report["scopes"][scope] = {
            "score_dates": [min(s["score_date"]).isoformat(), max(s["score_date"]).isoformat()],
            "model_versions": sorted(s["model_version"].astype(str).unique(), key=_version_key),
            "kpi_rule": KPI_RULES[scope],
            "baseline_rule": BASELINE_RULES[scope],
            **({"detector_rule": DETECTOR_RULES[scope]} if "detector" in methods else {}),
            "methods": list(methods),
            **results,
            "model_beats_baseline": better(model, base),
            "model_beats_baseline_at_budget": {
                k: _beats_at_budget(model["at_budget"][k], base["at_budget"][k]) for k in model["at_budget"]
            },
        }
    report["scopes_model_beats_baseline"] = sum(v["model_beats_baseline"] for v in report["scopes"].values())
    report["weekly"] = (
        pd.concat(weekly, ignore_index=True)
        if weekly
        else warning_quality_weekly(SCOPES[0], pd.DataFrame(columns=["entity", "score_date"]), {}, incidents)
    )
    return report


def _version_key(v: str):
    return (0, int(v), "") if str(v).isdigit() else (1, 0, str(v))


def _beats_at_budget(m: dict[str, Any], b: dict[str, Any]) -> bool:
    """At the same false-alarm budget: higher recall; at equal recall a longer median lead."""
    lm, lb = m["lead_days"]["median"], b["lead_days"]["median"]
    km = (round(m["recall"], 9) if not math.isnan(m["recall"]) else -1.0, lm if not math.isnan(lm) else -1e9)
    kb = (round(b["recall"], 9) if not math.isnan(b["recall"]) else -1.0, lb if not math.isnan(lb) else -1e9)
    return km > kb


# --------------------------------------------------------------------------- Markdown


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if pct:
        return f"{v:.0%}"
    return f"{v:.1f}" if isinstance(v, float) else str(v)


def _ci(v: float, ci: list[float], pct: bool = True) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if pct:
        return f"{v:.0%} ({ci[0]:.0%}-{ci[1]:.0%})"
    return f"{v:.1f} ({ci[0]:.1f}-{ci[1]:.1f})"


def _lead(stats: dict[str, Any]) -> str:
    if not stats["n"]:
        return "n/a"
    return f"{stats['median']:g} [{stats['q1']:g}, {stats['q3']:g}]"


def report_table(report: dict[str, Any]) -> str:
    """The report's main Markdown table (also what ``andon evaluate`` prints): one row per scope
    and method."""
    budgets = report.get("false_alarm_budgets_per_100_entity_weeks", list(FALSE_ALARM_BUDGETS))
    head = (
        "| scope | method | incidents | detected | recall (95 % CI) | lead days: median [q1, q3] "
        "| false alarms / 100 entity-weeks (95 % CI) | precision | PR-AUC | decoys alarmed | "
        + " | ".join(f"recall @ {b:g} FA / 100 ew" for b in budgets)
        + " |"
    )
    lines = [head, "|" + "---|" * (10 + len(budgets))]
    for scope, r in report["scopes"].items():
        for method in r.get("methods", ("model", "baseline")):
            m = r[method]
            decoys = "n/a" if m.get("decoys") is None else f"{m['decoys_alarmed']} of {m['decoys']}"
            at = " | ".join(_fmt(m["at_budget"][_bkey(b)]["recall"], pct=True) for b in budgets)
            fa = m["false_alarms_per_100_entity_weeks"]
            lines.append(
                f"| {scope} | {method} | {m['incidents']} | {m['detected']} | {_ci(m['recall'], m['recall_ci'])} | "
                f"{_lead(m['lead_days'])} | {_ci(fa, m['false_alarms_per_100_entity_weeks_ci'], pct=False)} | "
                f"{_fmt(m['precision'], pct=True)} | {_num(m['pr_auc'])} | "
                f"{decoys} | {at} |"
            )
    return "\n".join(lines)


def _num(v: float) -> str:
    return "n/a" if v is None or math.isnan(v) else f"{v:.2f}"


def report_kind_table(report: dict[str, Any]) -> str:
    """Recall per scope, incident kind, magnitude bucket and method."""
    budgets = report.get("false_alarm_budgets_per_100_entity_weeks", list(FALSE_ALARM_BUDGETS))
    lines = [
        "| scope | kind | magnitude | method | incidents | detected | recall (95 % CI) | lead days: median [q1, q3] | "
        + " | ".join(f"recall @ {b:g} FA / 100 ew" for b in budgets)
        + " |",
        "|" + "---|" * (8 + len(budgets)),
    ]
    for r in report["by_kind"]:
        at = " | ".join(_fmt(r[f"recall_at_budget_{_bkey(b)}"], pct=True) for b in budgets)
        lines.append(
            f"| {r['scope']} | {r['kind']} | {r['magnitude_bucket']} | {r['method']} | {r['incidents']} | "
            f"{r['detected']} | {_ci(r['recall'], r['recall_ci'])} | {_lead(r['lead_days'])} | {at} |"
        )
    return "\n".join(lines)


def report_markdown(report: dict[str, Any]) -> str:
    out = ["# Early-warning evaluation", "", report_table(report), ""]
    out.append(f"Model beats baseline on {report['scopes_model_beats_baseline']} of {len(report['scopes'])} scopes.")
    if not report.get("decoy_ledger"):
        out.append("No decoy ledger in this run: alarms on decoys are not measured.")
    out += ["", "## Per incident kind and magnitude", "", report_kind_table(report)]
    for scope, r in report["scopes"].items():
        beats = ", ".join(f"{k} FA/100 ew: {v}" for k, v in r["model_beats_baseline_at_budget"].items())
        out += [
            "",
            f"## {scope}",
            "",
            f"- score dates {r['score_dates'][0]} .. {r['score_dates'][1]}; "
            f"model versions {', '.join(r['model_versions'])}",
            f"- plain KPI (visible): {r['kpi_rule']}",
            f"- baseline: {r['baseline_rule']}",
            f"- model beats baseline at its own threshold: {r['model_beats_baseline']}; at matched budgets: {beats}",
            "",
            "| incident | kind | magnitude | entity | start | KPI visible | model first warning | model lead "
            "| baseline first warning | baseline lead |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for mi, bi in zip(r["model"]["per_incident"], r["baseline"]["per_incident"], strict=True):
            out.append(
                f"| {mi['incident_id']} | {mi['kind']} | {_fmt(mi['magnitude'])} | {mi['entity']} | {mi['start']} | "
                f"{_fmt(mi['kpi_visible'])} | {_fmt(mi['first_warning'])} | {_fmt(mi['lead_days'])} | "
                f"{_fmt(bi['first_warning'])} | {_fmt(bi['lead_days'])} |"
            )
        if r["model"]["per_decoy"]:
            out += ["", "| decoy | kind | entity | start | model first warning | baseline first warning |",
                    "|---|---|---|---|---|---|"]  # fmt: skip
            for md, bd in zip(r["model"]["per_decoy"], r["baseline"]["per_decoy"], strict=True):
                out.append(
                    f"| {md['id']} | {md['kind']} | {md['entity']} | {md['start']} | {_fmt(md['first_warning'])} | "
                    f"{_fmt(bd['first_warning'])} |"
                )
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- lakehouse entry point

MARTS = ("fct_station_daily_yield", "fct_supplier_lot_quality", "fct_field_return_cohorts")


def write_weekly(weekly: pd.DataFrame, path: str, evaluated_at) -> int:
    """Overwrite ``gold.warning_quality_weekly`` with the series (delta-rs, no JVM)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    schema = pa.schema(
        [
            ("scope", pa.string()),
            ("method", pa.string()),
            ("iso_week", pa.string()),
            ("week_start_date", pa.date32()),
            ("monitored_entity_weeks", pa.int64()),
            ("negative_entity_weeks", pa.int64()),
            ("false_positive_entity_weeks", pa.int64()),
            ("fpr", pa.float64()),
            ("positive_entity_weeks", pa.int64()),
            ("true_positive_entity_weeks", pa.int64()),
            ("fnr", pa.float64()),
            ("evaluated_at", pa.timestamp("us", tz="UTC")),
        ]
    )
    df = weekly.assign(evaluated_at=pd.Timestamp(evaluated_at))
    table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    write_deltalake(path, table, mode="overwrite", schema_mode="overwrite")
    return table.num_rows


def evaluate_lakehouse(cfg=None, out_dir: str | Path | None = None, log_to_mlflow: bool = True) -> dict[str, Any]:
    """Read the scores, feature tables, mart tables and ledgers; evaluate; write
    ``evaluation-<ts>.{json,md}`` (and ``evaluation-latest.*``) to ``paths.reports`` and the weekly
    series to ``gold.warning_quality_weekly``; log the report to the MLflow experiment
    ``andon_evaluation``. Returns the report (with ``paths``)."""
    from datetime import datetime

    from andon.config import settings
    from andon.tables import read_table

    cfg = cfg or settings()
    scores = read_table(
        cfg.table_path("gold", "early_warning_scores"),
        ["scope", "entity_id", "score_date", "score", "is_warning", "model_version"],
    )
    if scores is None or scores.empty:
        raise ValueError("gold.early_warning_scores is empty: run the scoring DAG first")
    truth = Path(cfg.landing_root) / "_ground_truth"
    ledger = truth / "incidents.csv"
    if not ledger.exists():
        raise ValueError(f"no ground-truth ledger at {ledger} (only simulated data has one)")
    incidents = pd.read_csv(ledger, dtype=str)
    decoy_file = truth / "decoys.csv"
    decoys = pd.read_csv(decoy_file, dtype=str) if decoy_file.exists() else None
    features = {}
    for scope in SCOPES:
        f = read_table(cfg.table_path("gold", f"features_{scope}"))
        if f is not None:
            features[scope] = f
    marts = {}
    for name in MARTS:
        t = read_table(cfg.table_path("gold", name))
        if t is not None:
            marts[name] = t
    report = evaluate(scores, features, incidents, marts=marts, decoys=decoys)
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    report["generated_at"] = stamp
    weekly = report.pop("weekly")
    weekly_path = cfg.table_path("gold", WEEKLY_TABLE)
    report["warning_quality_weekly"] = {"table": f"gold.{WEEKLY_TABLE}", "rows": write_weekly(weekly, weekly_path, now)}
    out = Path(out_dir or cfg.raw["paths"]["reports"])
    out.mkdir(parents=True, exist_ok=True)
    md = report_markdown(report)
    for name in (f"evaluation-{stamp}", "evaluation-latest"):
        (out / f"{name}.json").write_text(json.dumps(report, indent=2, default=str))
        (out / f"{name}.md").write_text(md)
    report["paths"] = {"json": str(out / f"evaluation-{stamp}.json"), "markdown": str(out / f"evaluation-{stamp}.md")}
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
                for method in r.get("methods", ("model", "baseline")):
                    m = r[method]
                    values = {
                        "recall": m["recall"],
                        "median_lead_days": m["median_lead_days"],
                        "false_alarms_per_100_entity_weeks": m["false_alarms_per_100_entity_weeks"],
                        "precision": m["precision"],
                        "pr_auc": m["pr_auc"],
                    }
                    for b, v in m["at_budget"].items():
                        values[f"recall_at_{b}_fa_per_100_ew"] = v["recall"]
                    for k, v in values.items():
                        if v is not None and not math.isnan(v):
                            metrics[f"{scope}.{method}.{k}"] = float(v)
                mlflow.set_tag(f"{scope}.model_versions", ",".join(r["model_versions"]))
            mlflow.log_metrics(metrics)
            mlflow.log_dict(report, "evaluation/report.json")
            mlflow.log_text(md, "evaluation/report.md")
            return run.info.run_id
    finally:
        mlflow.set_tracking_uri(prev)
