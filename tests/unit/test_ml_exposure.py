"""Field-return monitoring with exposure: the Weibull life model (lifelines), expected returns
and the Poisson test, on hand-made data with known answers."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.exposure import exposure_signal, poisson_surprise, weekly_fits, weibull_cdf, weibull_fit


def test_weibull_fit_recovers_known_parameters_with_censoring_and_weights():
    # 20,000 lifetimes from Weibull(lambda=400, rho=1.5), observed for 300 days (right-censored)
    rng = np.random.default_rng(7)
    t = 400 * rng.weibull(1.5, 20_000)
    observed = t <= 300
    d = np.where(observed, t, 300.0)
    lam, rho = weibull_fit(d, observed, np.ones_like(d))
    assert lam == pytest.approx(400, rel=0.05) and rho == pytest.approx(1.5, rel=0.05)
    # whole-day durations with weights give the same fit as the rows they stand for
    days = np.floor(d) + 0.5
    frame = pd.DataFrame({"t": days, "e": observed}).value_counts().reset_index(name="w")
    lam_w, rho_w = weibull_fit(frame["t"], frame["e"], frame["w"])
    lam_r, rho_r = weibull_fit(days, observed, np.ones_like(d))
    assert lam_w == pytest.approx(lam_r, rel=1e-3) and rho_w == pytest.approx(rho_r, rel=1e-3)
    assert weibull_fit([1.0, 2.0], [False, False], [1, 1]) is None  # no event: no model


def test_weibull_cdf_textbook_values():
    assert weibull_cdf(100.0, 100.0, 2.0) == pytest.approx(1 - math.exp(-1))
    assert weibull_cdf(0.0, 50.0, 1.3) == 0.0
    # rho = 1 is the exponential distribution
    assert weibull_cdf(30.0, 60.0, 1.0) == pytest.approx(1 - math.exp(-0.5))


def test_poisson_surprise_known_tail_probabilities():
    # P(X >= 3 | 0.5) = 1 - e^-0.5 (1 + 0.5 + 0.125) = 0.0143877
    s = poisson_surprise([3, 0, 1, 5], [0.5, 2.0, 1.0, np.nan])
    assert s[0] == pytest.approx(-math.log10(1 - math.exp(-0.5) * 1.625))
    assert s[1] == 0.0                                    # nothing observed: no surprise
    assert s[2] == pytest.approx(-math.log10(1 - math.exp(-1.0)))  # P(X >= 1 | 1)
    assert math.isnan(s[3])                               # no life model: unknown
    assert poisson_surprise([200], [1.0])[0] == 30.0      # capped
    assert exposure_signal([3, 2, 3], [3.5, 9.0, 2.9]).tolist() == [True, False, False]


def test_weekly_fits_use_only_what_was_known_before_the_fit_day():
    s0 = date(2026, 1, 5)
    ship_days = [s0 + timedelta(days=i) for i in range(60)]
    shipped = pd.DataFrame({"product_id": "AX100", "ship_date": ship_days, "units": 100})
    rng = np.random.default_rng(3)
    rows = []
    for sd in ship_days:
        for t in 200 * rng.weibull(1.2, 100):
            if t < 150:
                rows.append(("AX100", sd, sd + timedelta(days=int(t))))
    returns = pd.DataFrame(rows, columns=["product_id", "ship_date", "received_date"]).value_counts().reset_index(
        name="returns"
    )
    early, late = date(2026, 1, 12), date(2026, 6, 1)
    fits = weekly_fits(shipped, returns, [early, late, date(2026, 1, 5)])
    # nothing was shipped before 2026-01-05: no fit; a week later only if >= 5 returns had arrived
    known_early = returns[returns["received_date"] < early]["returns"].sum()
    assert (early in set(fits["fit_date"])) == (known_early >= 5)
    row = fits[fits["fit_date"] == late].iloc[0]
    assert row["events"] == returns[returns["received_date"] < late]["returns"].sum()
    assert row["weibull_lambda"] == pytest.approx(200, rel=0.15) and row["weibull_rho"] == pytest.approx(1.2, rel=0.15)
    # adding returns received on or after the fit day changes nothing
    more = pd.concat([returns, pd.DataFrame([("AX100", s0, late, 500)], columns=returns.columns)])
    again = weekly_fits(shipped, more, [late]).iloc[0]
    assert again["weibull_lambda"] == row["weibull_lambda"] and again["events"] == row["events"]
