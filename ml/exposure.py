"""Field-return monitoring with exposure (Wu & Meeker 2002 style warranty monitoring).

A build lot's returns only mean something against its **exposure**: how many of its units have
been in the field for how long. Per product a Weibull life model of time to return is fitted
(``lifelines.WeibullFitter``, right-censored: a shipped unit not returned yet has survived its
days in the field so far), from the data known before each week's Monday. For a build lot on a
score day ``d`` the model gives the **expected** returns so far,

    E(d) = sum over the lot's shipped units of F(age),  F(t) = 1 - exp(-(t / lambda) ^ rho),

with a unit's age ``d - ship day + 1`` days (a unit shipped on ``d`` has been exposed one day). The
lot's **observed** returns so far ``O(d)`` are compared with a one-sided Poisson test,
``p = P(X >= O | mean E)``; the features are E, O / E and the surprise ``-log10 p``. A lot whose
units fail earlier than the product's life model says (a latent defect, a regional failure mode)
stands out while its plain return rate still looks small, because the rate divides by all units
shipped, most of them too young to have failed yet.

Point in time: the fit used on day ``d`` was made from shipments and returns received before the
Monday of ``d``'s week (weekly refits keep the cost down); E and O count only what is known by the
end of ``d``. Durations are whole days: a return received on day ``r`` of a unit shipped on ``s``
counts ``r - s + 0.5`` days (within the day), a unit still out on the fit's day ``f`` has survived
``f - s`` days (censored). A product with fewer than :data:`MIN_EVENTS` returns before ``f`` gets
no fit for that week (features null).
"""

from __future__ import annotations

import math
import warnings
from datetime import date, timedelta

import numpy as np
import pandas as pd

MIN_EVENTS = 5
#: surprise (-log10 p) is capped here: beyond it every lot is equally certain
MAX_SURPRISE = 30.0
#: the detector's signal: at least this many returns and p below 0.001
DETECTOR_MIN_RETURNS = 3
DETECTOR_SURPRISE = 3.0


def monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def weibull_fit(durations, events, weights) -> tuple[float, float] | None:
    """(lambda, rho) of a right-censored Weibull fit with case weights; None when it fails."""
    from lifelines import WeibullFitter

    d = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=bool)
    w = np.asarray(weights, dtype=float)
    keep = w > 0
    if e[keep].sum() == 0:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f = WeibullFitter().fit(d[keep], e[keep], weights=w[keep])
    except Exception:  # noqa: BLE001 - a fit that does not converge gives no model for that week
        return None
    lam, rho = float(f.lambda_), float(f.rho_)
    if not (math.isfinite(lam) and math.isfinite(rho)) or lam <= 0 or rho <= 0:
        return None
    return lam, rho


def weekly_fits(shipped: pd.DataFrame, returns: pd.DataFrame, fit_days: list[date]) -> pd.DataFrame:
    """The product life models per fit day.

    ``shipped``: product_id, ship_date, units (units shipped that day); ``returns``: product_id,
    ship_date, received_date, returns (returns of units shipped on ship_date received that day).
    Returns one row per (product_id, fit_date) with ``weibull_lambda``, ``weibull_rho`` (days)
    and ``events`` (returns before the fit day), for fits with at least :data:`MIN_EVENTS`."""
    rows = []
    for product, s in shipped.groupby("product_id"):
        r = returns[returns["product_id"] == product]
        for f in sorted(set(fit_days)):
            sp = s[s["ship_date"] < f]
            if sp.empty:
                continue
            rp = r[(r["received_date"] < f) & (r["ship_date"] < f)]
            if len(rp) == 0 or rp["returns"].sum() < MIN_EVENTS:
                continue
            ev_t = np.array([(a - b).days + 0.5 for a, b in zip(rp["received_date"], rp["ship_date"], strict=True)])
            back = rp.groupby("ship_date")["returns"].sum()
            out = sp.set_index("ship_date")["units"].sub(back, fill_value=0).clip(lower=0)
            out = out[out.index < f]
            cen_t = np.array([(f - s_).days for s_ in out.index], dtype=float)
            fit = weibull_fit(
                np.concatenate([ev_t, cen_t]),
                np.concatenate([np.ones(len(ev_t), bool), np.zeros(len(cen_t), bool)]),
                np.concatenate([rp["returns"].to_numpy(float), out.to_numpy(float)]),
            )
            if fit:
                rows.append(
                    {
                        "product_id": product,
                        "fit_date": f,
                        "weibull_lambda": fit[0],
                        "weibull_rho": fit[1],
                        "events": int(rp["returns"].sum()),
                    }
                )
    return pd.DataFrame(rows, columns=["product_id", "fit_date", "weibull_lambda", "weibull_rho", "events"])


def weibull_cdf(t, lam, rho):
    """F(t) = 1 - exp(-(t / lambda) ^ rho)."""
    t = np.asarray(t, dtype=float)
    return 1.0 - np.exp(-np.power(np.maximum(t, 0.0) / lam, rho))


def poisson_surprise(observed, expected) -> np.ndarray:
    """-log10 P(X >= observed) for X ~ Poisson(expected), capped at :data:`MAX_SURPRISE`; 0 when
    nothing was observed, null when the expectation is unknown."""
    from scipy.stats import poisson

    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    out = np.full(o.shape, np.nan)
    known = np.isfinite(e)
    with np.errstate(divide="ignore"):
        p = poisson.sf(o - 1, np.maximum(e, 1e-12))
        s = -np.log10(np.maximum(p, 10.0**-MAX_SURPRISE))
    out[known] = np.where(o[known] > 0, np.minimum(s[known], MAX_SURPRISE), 0.0)
    return out


def exposure_signal(returns_so_far, surprise) -> np.ndarray:
    """The detector: at least :data:`DETECTOR_MIN_RETURNS` returns and p < 0.001."""
    o = np.asarray(returns_so_far, dtype=float)
    s = np.nan_to_num(np.asarray(surprise, dtype=float), nan=0.0)
    return (o >= DETECTOR_MIN_RETURNS) & (s > DETECTOR_SURPRISE)
