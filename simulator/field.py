"""Shipped units in the field: life model, RMA claims and fake customer data.

Each shipped unit draws a failure time (days after shipment) from competing Weibull
modes: wear-out (shape 2.5, scale 3000 d) and infant mortality (shape 0.6, about
1.25 % within 90 days); a unit with a latent defect or an escaped defective component
also carries an early-failure mode. A failure within ``DOA_DAYS`` of shipment is dead on
arrival. The claim reaches the RMA system 2-10 days after the failure and is exported
on its (UTC) receipt day, if that day is inside the run.

An installed base of units shipped in the 180 days before the run (serials with no MES
history) produces returns from day 0.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

import numpy as np

from .world import (
    BASE_SYMPTOM_WEIGHTS,
    DOA_DAYS,
    EMAIL_DOMAINS,
    ESCAPE_SCALE,
    ESCAPE_SHAPE,
    FAILURE_MODES,
    FIRST_NAMES,
    INFANT_SCALE,
    INFANT_SHAPE,
    LAST_NAMES,
    LATENT_SCALE,
    LATENT_SHAPE,
    LATENT_SYMPTOM_WEIGHTS,
    LINES,
    PHONE_PREFIX,
    PRODUCT_BY_CODE,
    REGION_PROFILE,
    REGIONAL_HUMIDITY_EXCESS,
    REGIONAL_SYMPTOM_WEIGHTS,
    REGIONS,
    SITE_BY_CODE,
    WEAROUT_SCALE,
    WEAROUT_SHAPE,
    child_rng,
)

INSTALLED_BASE_DAYS = 180


@dataclass
class ClaimSeed:
    """A future claim, known when the unit ships (or at start for the installed base)."""

    serial: str
    model: str
    ship_day: int
    fail_day: int
    doa: bool
    cause: str  # "base", "latent", "escape" or "regional" (environmental failure mode)
    region: str
    protected: bool
    recv_day: int  # day the claim reaches the RMA system (and its export)


def life_days(rng: np.random.Generator, latent: bool = False, escaped: bool = False) -> float:
    """Days from shipment to failure under the competing-risk Weibull model."""
    t = min(INFANT_SCALE * rng.weibull(INFANT_SHAPE), WEAROUT_SCALE * rng.weibull(WEAROUT_SHAPE))
    if latent:
        t = min(t, LATENT_SCALE * rng.weibull(LATENT_SHAPE))
    if escaped:
        t = min(t, ESCAPE_SCALE * rng.weibull(ESCAPE_SHAPE))
    return float(t)


def pick_region(rng: np.random.Generator, site: str) -> str:
    w = SITE_BY_CODE[site].region_weights
    return REGIONS[int(rng.choice(len(REGIONS), p=w))]


def installed_base_claims(seed: int, days: int, per_line_day: int) -> list[ClaimSeed]:
    """Claims of the units shipped in the 180 days before the run (vectorised).

    Serials of site/product run from 1 to the installed-base size, shipped in serial
    order; the run's own units continue the sequence (see ``installed_base_size``).
    """
    out: list[ClaimSeed] = []
    n = installed_base_size(per_line_day)
    for line in LINES:
        rng = child_rng(seed, "installed", line.site, line.product)
        ship = np.sort(rng.integers(-INSTALLED_BASE_DAYS, 0, n))
        t = np.minimum(
            INFANT_SCALE * rng.weibull(INFANT_SHAPE, n), WEAROUT_SCALE * rng.weibull(WEAROUT_SHAPE, n)
        )
        fail = ship + np.floor(t).astype(np.int64)
        recv = fail + rng.integers(2, 11, n)
        w = np.asarray(SITE_BY_CODE[line.site].region_weights)
        region = rng.choice(len(REGIONS), size=n, p=w)
        for i in np.nonzero((recv >= 0) & (recv < days))[0]:
            out.append(
                ClaimSeed(
                    f"{line.site}-{line.product}-{i + 1:07d}",
                    line.product,
                    int(ship[i]),
                    int(fail[i]),
                    bool(t[i] < DOA_DAYS),
                    "base",
                    REGIONS[int(region[i])],
                    False,
                    int(recv[i]),
                )
            )
    return out


def installed_base_size(per_line_day: int) -> int:
    return INSTALLED_BASE_DAYS * per_line_day


def _ascii(s: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).lower()


def fake_customer(rng: np.random.Generator, region: str) -> dict:
    first = FIRST_NAMES[region][int(rng.integers(0, 10))]
    last = LAST_NAMES[region][int(rng.integers(0, 10))]
    domain = EMAIL_DOMAINS[int(rng.integers(0, len(EMAIL_DOMAINS)))]
    email = f"{_ascii(first)}.{_ascii(last)}{int(rng.integers(1, 100))}@{domain}".replace(" ", "").replace(
        "-", ""
    )
    d = rng.integers(0, 10, 8)
    digits = "".join(str(int(x)) for x in d)
    phone = {
        "NA": f"{PHONE_PREFIX['NA']}{digits[:2]}",  # 555-01xx: reserved for fiction
        "EMEA": f"{PHONE_PREFIX['EMEA']}{digits[:2]} {digits[2:5]} {digits[5:8]}",
        "APAC": f"{PHONE_PREFIX['APAC']} {digits[:4]} {digits[4:8]}",
        "LATAM": f"{PHONE_PREFIX['LATAM']} {digits[:4]} {digits[4:8]}",
    }[region]
    return {"name": f"{first} {last}", "email": email, "phone": phone, "region": region}


def _weighted(rng: np.random.Generator, weights: tuple[tuple[str, float], ...]) -> str:
    names = [w[0] for w in weights]
    p = np.asarray([w[1] for w in weights])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def build_claims(
    seed: int, day: int, start: dt.date, seeds: list[ClaimSeed]
) -> tuple[list[dict], list[bool]]:
    """The claims received on ``day``, ordered by receipt time (rma_no assigned later)."""
    rng = child_rng(seed, "claims", day)
    date = start + dt.timedelta(days=day)
    rows: list[tuple[int, str, dict, bool]] = []
    for s in sorted(seeds, key=lambda c: c.serial):
        secs = int(rng.integers(0, 86400))
        if s.doa:
            symptom = "DOA"
        elif s.cause in ("latent", "escape"):
            symptom = _weighted(rng, LATENT_SYMPTOM_WEIGHTS)
        elif s.cause == "regional":
            symptom = _weighted(rng, REGIONAL_SYMPTOM_WEIGHTS)
        else:
            symptom = _weighted(rng, BASE_SYMPTOM_WEIGHTS)
        usage_opts = PRODUCT_BY_CODE[s.model].usage
        usage = usage_opts[int(rng.integers(0, len(usage_opts)))]
        temp_mean, hum_mean = REGION_PROFILE[s.region]
        temp = rng.normal(temp_mean + (6.0 if usage in ("OUTDOOR", "FACTORY") else 0.0), 4.0)
        if s.cause == "regional":  # the failures cluster at the damp end of the region's climate
            hum_mean += REGIONAL_HUMIDITY_EXCESS
        hum = int(np.clip(round(rng.normal(hum_mean, 10.0)), 10, 95))
        claim = {
            "rma_no": "",
            "received_at": f"{date.isoformat()}T{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}Z",
            "customer": fake_customer(rng, s.region),
            "unit": {
                "serial": s.serial,
                "model": s.model,
                "ship_date": (start + dt.timedelta(days=s.ship_day)).isoformat(),
            },
            "failure": {
                "date": (start + dt.timedelta(days=s.fail_day)).isoformat(),
                "symptom": symptom,
                "mode_code": FAILURE_MODES[symptom],
                "doa": s.doa,
            },
            "environment": {"ambient_temp_c": round(float(temp), 1), "humidity_pct": hum, "usage": usage},
            "claim": {"type": "WARRANTY", "cost": f"{rng.uniform(80, 400):.2f} USD"},
        }
        rows.append((secs, s.serial, claim, s.protected or s.cause != "base" or s.doa))
    rows.sort(key=lambda r: (r[0], r[1]))
    return [r[2] for r in rows], [r[3] for r in rows]
