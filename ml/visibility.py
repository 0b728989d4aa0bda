"""When does the plain KPI show an incident? The "visible" date from the dbt mart, independent of any model.

A quality engineer without early warnings reads the gold mart: the daily first-pass yield of each
station, the downstream fail rate of each supplier lot, the DOA and early-return rates of each
ship cohort. The evaluation measures a warning's lead time against the first day that plain view
makes the problem evident. The rules below use only the mart tables and fixed, documented
constants (``docs/evaluation.md``); they are never fitted to a run or a seed, and they know
nothing of the models' features.

One statistical test throughout: an entity's failures ``x`` out of ``n`` against a reference rate
``p0`` of comparable entities is **evident** when ``x >= MIN_FAILS`` and the exact one-sided
binomial tail ``P(X >= x | n, p0) <= ALPHA`` (DOMAIN.md, "lot test through genealogy"). The
reference rate is smoothed, ``p0 = (x0 + 0.5) / (n0 + 1)``, so a spotless reference does not
make a single fail evident.

* **Station** (``gold.fct_station_daily_yield``, summed over products per station and day): a day
  is visible when the day's first-attempt fails are evident against the station's own pooled
  first attempts of the :data:`STATION_BASELINE_DAYS` calendar days before it (at least
  :data:`STATION_MIN_BASELINE` first attempts). An incident on a line is visible on the first day
  any station of the line is; only days inside the incident's window count (start .. end + grace).
* **Supplier lot** (``gold.fct_supplier_lot_quality``): evident when the lot's units failing a
  first attempt on the route (``units_failed_first_attempt`` of ``units_route_tested``, at least
  :data:`LOT_MIN_UNITS`) are evident against the same part's other lots pooled. The mart holds one
  row per lot (its state at the last build), not a daily history, so the day is *estimated*
  assuming steady consumption between ``first_built_date`` and ``last_built_date``: day *k* of the
  lot's use sees the share ``(k + 1) / (span + 1)`` of its tested units and fails; the first day
  the test holds on those counts is the visible day.
* **Build lot** (``gold.fct_field_return_cohorts``, product x ship week): return rates are only
  read once mature (DOMAIN.md and issue 8: an open window understates the rate). A cohort's DOA
  rate is mature :data:`DOA_WINDOW_DAYS` + :data:`CLAIM_LAG_DAYS` days after the cohort's last ship
  day, its early-return rate :data:`EARLY_WINDOW_DAYS` + :data:`CLAIM_LAG_DAYS` days after it. A
  cohort is visible on the first maturity day whose rate (DOA first, then early returns) is
  evident against the product's other cohorts mature for the same rate on the data's last day,
  with at least :data:`COHORT_MIN_UNITS` units shipped. A build lot
  ``<line>-<product>-<YYYYMMDD>`` is visible on the first visible day of its product's cohorts
  shipped within :data:`SHIP_WITHIN_DAYS` days of the build; an incident naming a product is
  visible through the product's cohorts shipped between its start and end.

Every entry point takes pandas frames with the mart's column names, so the rules are tested on
hand-made marts; :func:`visible_days` maps each incident of a ledger frame to its visible day.
"""

from __future__ import annotations

import math
import re
from datetime import date, timedelta

import numpy as np
import pandas as pd

ALPHA = 1e-3  # one-sided binomial tail, about 3.1 sigma
MIN_FAILS = 3
STATION_BASELINE_DAYS = 14
STATION_MIN_BASELINE = 50
LOT_MIN_UNITS = 20
COHORT_MIN_UNITS = 20
# dbt vars doa_window_days / early_return_window_days (dbt/dbt_project.yml)
DOA_WINDOW_DAYS = 30
EARLY_WINDOW_DAYS = 90
# the mart's maturity rule (dbt/dbt_project.yml vars doa_window_days, early_return_window_days,
# claim_lag_days; tests/unit/test_ml_visibility.py checks they agree)
CLAIM_LAG_DAYS = 14
# units of a build lot ship within days of the build
SHIP_WITHIN_DAYS = 7

RULES = {
    "incoming_material": f"gold.fct_supplier_lot_quality: the lot's units failing a first route attempt are "
    f"evident against the part's other lots (>= {MIN_FAILS} fails, binomial tail <= {ALPHA:g}, >= {LOT_MIN_UNITS} "
    f"units); day estimated from steady consumption between first and last build",
    "factory_output": f"gold.fct_station_daily_yield: a station's first-attempt fails of the day are evident "
    f"against its own previous {STATION_BASELINE_DAYS} days (>= {MIN_FAILS} fails, binomial tail <= {ALPHA:g}, "
    f">= {STATION_MIN_BASELINE} baseline attempts); a line when any of its stations is",
    "field_return": f"gold.fct_field_return_cohorts: a ship cohort's mature DOA (then early-return) rate is "
    f"evident against the product's other mature cohorts (>= {MIN_FAILS} returns, binomial tail <= {ALPHA:g}, "
    f">= {COHORT_MIN_UNITS} shipped); visible on the maturity day (window + {CLAIM_LAG_DAYS} days claim lag "
    f"after the cohort's last ship day)",
}


_LOG_FACT = np.zeros(1)


def _log_factorials(n: int) -> np.ndarray:
    global _LOG_FACT
    if len(_LOG_FACT) <= n:
        _LOG_FACT = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, 2 * n + 2, dtype=float)))])
    return _LOG_FACT


def binom_tail(x: int, n: int, p: float) -> float:
    """Exact ``P(X >= x)`` for ``X ~ Binomial(n, p)``."""
    x, n = int(x), int(n)
    if x <= 0:
        return 1.0
    if x > n or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lf = _log_factorials(n)
    k = np.arange(x, n + 1)
    logp = lf[n] - lf[k] - lf[n - k] + k * math.log(p) + (n - k) * math.log1p(-p)
    top = logp.max()
    return float(min(1.0, math.exp(top) * np.exp(logp - top).sum()))


def smoothed_rate(fails: float, n: float) -> float:
    return (float(fails) + 0.5) / (float(n) + 1.0)


def evident(x: float, n: float, p0: float) -> bool:
    """The shared test: enough fails, and a one-sided binomial tail at most ALPHA."""
    # at or below the expected count the tail is above one half: no need to sum it
    return bool(n > 0 and x >= MIN_FAILS and x > n * p0 and binom_tail(int(x), int(n), p0) <= ALPHA)


def _day(v) -> date:
    return pd.Timestamp(v).date()


# --------------------------------------------------------------------------- stations


def station_visible(yield_daily: pd.DataFrame) -> pd.DataFrame:
    """Per station and test day (``station_id``, ``line_id``, ``tested_date``, ``n``, ``fails``,
    ``baseline_n``, ``baseline_rate``, ``visible``) from rows of ``gold.fct_station_daily_yield``."""
    cols = ["station_id", "line_id", "tested_date", "n", "fails", "baseline_n", "baseline_rate", "visible"]
    if yield_daily is None or yield_daily.empty:
        return pd.DataFrame(columns=cols)
    y = yield_daily.copy()
    y["tested_date"] = pd.to_datetime(y["tested_date"])
    daily = (
        y.groupby(["station_id", "line_id", "tested_date"], as_index=False)
        .agg(n=("units_first_tested", "sum"), fails=("units_first_failed", "sum"))
        .sort_values(["station_id", "tested_date"])
    )
    out = []
    for (station, line), g in daily.groupby(["station_id", "line_id"], sort=True):
        g = g.set_index("tested_date")[["n", "fails"]].astype(float)
        g = g.reindex(pd.date_range(g.index.min(), g.index.max(), freq="D"), fill_value=0.0)
        prior = g.rolling(STATION_BASELINE_DAYS, min_periods=1).sum().shift(1).fillna(0.0)
        g["baseline_n"] = prior["n"]
        g["baseline_rate"] = [smoothed_rate(f, n) for f, n in zip(prior["fails"], prior["n"], strict=True)]
        g["visible"] = [
            bool(bn >= STATION_MIN_BASELINE and evident(x, n, p0))
            for x, n, bn, p0 in zip(g["fails"], g["n"], g["baseline_n"], g["baseline_rate"], strict=True)
        ]
        g = g[g["n"] > 0].rename_axis("tested_date").reset_index()
        g["station_id"], g["line_id"] = station, line
        out.append(g)
    res = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)
    res["tested_date"] = pd.to_datetime(res["tested_date"]).dt.date
    return res[cols]


# --------------------------------------------------------------------------- supplier lots


def lot_visible(lots: pd.DataFrame) -> pd.DataFrame:
    """Per supplier lot: ``supplier_lot_id``, ``part_rate`` (the part's other lots, smoothed),
    ``visible`` (final counts evident) and ``visible_date`` (estimated first day, or None)."""
    cols = ["supplier_lot_id", "part_id", "part_rate", "visible", "visible_date"]
    if lots is None or lots.empty:
        return pd.DataFrame(columns=cols)
    lt = lots.copy()
    lt["n"] = pd.to_numeric(lt["units_route_tested"], errors="coerce").fillna(0.0)
    lt["x"] = pd.to_numeric(lt["units_failed_first_attempt"], errors="coerce").fillna(0.0)
    part = lt.groupby("part_id")[["n", "x"]].transform("sum")
    lt["part_rate"] = [
        smoothed_rate(px - x, pn - n) for px, x, pn, n in zip(part["x"], lt["x"], part["n"], lt["n"], strict=True)
    ]
    vis, days = [], []
    for row in lt.itertuples(index=False):
        ok = row.n >= LOT_MIN_UNITS and evident(row.x, row.n, row.part_rate)
        vis.append(ok)
        day = None
        if ok and pd.notna(row.first_built_date):
            first = _day(row.first_built_date)
            last = _day(row.last_built_date) if pd.notna(row.last_built_date) else first
            span = max(0, (last - first).days)
            for k in range(span + 1):
                share = (k + 1) / (span + 1)
                n_k, x_k = round(row.n * share), math.floor(row.x * share + 0.5)
                if n_k >= LOT_MIN_UNITS and evident(x_k, n_k, row.part_rate):
                    day = first + timedelta(days=k)
                    break
        days.append(day)
    lt["visible"], lt["visible_date"] = vis, days
    return lt[cols].reset_index(drop=True)


# --------------------------------------------------------------------------- ship cohorts


def cohort_visible(cohorts: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Per product and ship week: ``doa_mature_date``, ``early_mature_date``, ``doa_visible``,
    ``early_visible`` and ``visible_date`` (the first maturity day on which a rate is evident and
    mature by ``as_of``, the data's last day; None otherwise)."""
    cols = [
        "product_id",
        "ship_week_start_date",
        "doa_mature_date",
        "early_mature_date",
        "doa_visible",
        "early_visible",
        "visible_date",
    ]
    if cohorts is None or cohorts.empty:
        return pd.DataFrame(columns=cols)
    c = cohorts.copy()
    c["ship_week_start_date"] = pd.to_datetime(c["ship_week_start_date"]).dt.date
    c["n"] = pd.to_numeric(c["units_shipped"], errors="coerce").fillna(0.0)
    c = c[c["n"] > 0].copy()
    last_ship = [w + timedelta(days=6) for w in c["ship_week_start_date"]]
    c["doa_mature_date"] = [d + timedelta(days=DOA_WINDOW_DAYS + CLAIM_LAG_DAYS) for d in last_ship]
    c["early_mature_date"] = [d + timedelta(days=EARLY_WINDOW_DAYS + CLAIM_LAG_DAYS) for d in last_ship]
    for kpi, units in (("doa", "doa_units"), ("early", "early_return_units")):
        x = pd.to_numeric(c[units], errors="coerce").fillna(0.0)
        mature = np.array([d <= as_of for d in c[f"{kpi}_mature_date"]])
        flags = []
        for i, (prod, xi, ni) in enumerate(zip(c["product_id"], x, c["n"], strict=True)):
            others = (c["product_id"].to_numpy() == prod) & mature
            others[i] = False
            if not mature[i] or not others.any() or ni < COHORT_MIN_UNITS:
                flags.append(False)
                continue
            p0 = smoothed_rate(x[others].sum(), c["n"][others].sum())
            flags.append(evident(xi, ni, p0))
        c[f"{kpi}_visible"] = flags
    c["visible_date"] = [
        dm if dv else (em if ev else None)
        for dm, dv, em, ev in zip(
            c["doa_mature_date"], c["doa_visible"], c["early_mature_date"], c["early_visible"], strict=True
        )
    ]
    return c[cols].reset_index(drop=True)


# --------------------------------------------------------------------------- incidents


_BUILD_LOT = re.compile(r"^(?P<line>.+)-(?P<product>[^-]+)-(?P<day>\d{8})$")


def _cohorts_visible_between(cv: pd.DataFrame, product: str, first: date, last: date) -> date | None:
    weeks = cv[
        (cv["product_id"] == product)
        & (cv["ship_week_start_date"] <= last)
        & np.array([w + timedelta(days=6) >= first for w in cv["ship_week_start_date"]], dtype=bool)
        & cv["visible_date"].notna()
    ]
    return min(weeks["visible_date"]) if len(weeks) else None


def visible_days(
    incidents: pd.DataFrame,
    marts: dict[str, pd.DataFrame],
    windows: dict[str, int],
    as_of: date | None = None,
) -> dict[str, date]:
    """incident_id -> the day the plain KPI first shows it (incidents it never shows are absent).

    ``marts``: ``fct_station_daily_yield``, ``fct_supplier_lot_quality``,
    ``fct_field_return_cohorts`` (any may be missing); ``windows``: grace days per scope (a station
    day counts from the incident's start to its end + grace); ``as_of``: the data's last day
    (default: the last test day of the yield mart, else today)."""
    ydf = marts.get("fct_station_daily_yield")
    if as_of is None:
        as_of = _day(pd.to_datetime(ydf["tested_date"]).max()) if ydf is not None and len(ydf) else date.today()
    stations = station_visible(ydf) if ydf is not None else None
    lots = lot_visible(marts.get("fct_supplier_lot_quality"))
    cohorts = cohort_visible(marts.get("fct_field_return_cohorts"), as_of)
    lot_day = dict(zip(lots["supplier_lot_id"], lots["visible_date"], strict=True))
    out: dict[str, date] = {}
    for row in incidents.itertuples(index=False):
        start, end = _day(row.start_date), _day(row.end_date)
        entity = str(row.entity_id)
        day = None
        if row.scope == "incoming_material":
            day = lot_day.get(entity)
        elif row.scope == "factory_output" and stations is not None and len(stations):
            deadline = end + timedelta(days=windows.get(row.scope, 0))
            on = stations["station_id"] == entity if row.entity_type == "station" else stations["line_id"] == entity
            hits = stations.loc[
                on & stations["visible"] & (stations["tested_date"] >= start) & (stations["tested_date"] <= deadline),
                "tested_date",
            ]
            day = min(hits) if len(hits) else None
        elif row.scope == "field_return" and len(cohorts):
            m = _BUILD_LOT.match(entity)
            if row.entity_type == "build_lot" and m:
                built = date(int(m["day"][:4]), int(m["day"][4:6]), int(m["day"][6:]))
                day = _cohorts_visible_between(cohorts, m["product"], built, built + timedelta(days=SHIP_WITHIN_DAYS))
            elif entity in set(cohorts["product_id"]):
                day = _cohorts_visible_between(cohorts, entity, start, end)
        if day is not None and day <= as_of:
            out[row.incident_id] = day
    return out
