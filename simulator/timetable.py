"""Poisson timetable of a scenario: which incidents and decoys happen, where and when.

For every scenario entry (see :mod:`simulator.scenario`) the number of events is drawn
from a Poisson law with mean ``rate_per_30d * window / 30`` (raised to ``min_count``),
and the start days uniformly over the entry's window: from ``quiet_days`` to the last day
on which an event of the kind still matures inside the horizon (:data:`TAIL_DAYS`). Each
entry draws from its own random stream keyed by (seed, kind, entry number), so a seed
fixes the timetable and a different seed gives a different one.

Entities are chosen at random among those free at the time: two events (incident or
decoy) never act on the same line, station, supplier part or build lot within
:data:`GAP_DAYS` of each other; an event with no free entity is dropped.

Decoys are planned first because they shape the plant (a new line, volume changes, a
supplier switch) and hence the lot schedule; the incidents then pick their lots from it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np

from .incidents import DRIFT_CHAR, Decoy, Incident, IncidentPlan, mark_defective_lot
from .materials import UNITS_PER_LINE_DAY, Lot, build_lot_schedule, daily_demand
from .scenario import Entry, Scenario
from .world import (
    CHARACTERISTICS,
    LINES,
    PART_BY_CODE,
    PARTS,
    PRODUCT_BY_CODE,
    PRODUCTS,
    REGIONS,
    SITES,
    SUPPLIER_PARAMS,
    SUPPLIERS,
    Line,
    child_rng,
    station_id,
)

GAP_DAYS = 7
LOT_SUPPLY_DAYS = 9  # a lot feeds its site for about this many days (see materials)
# days an event needs after its start to show its signal inside the horizon
TAIL_DAYS = {
    "defective_lot": 21,
    "supplier_process_change": 35,
    "station_false_fail": 5,
    "fixture_wear": 18,
    "process_drift": 14,
    "latent_defect": 35,
    "regional_field_failure": 50,
    "product_mix_change": 30,
    "new_line_ramp": 35,
    "planned_supplier_change": 21,
    "shipping_peak": 40,
    "gauge_recalibration": 10,
}
DECOY_WINDOW_DAYS = 45  # a persistent change counts as "new" (decoy window) this long


def _draw(rng: np.random.Generator, value) -> float:
    """A magnitude: fixed, or uniform in [lo, hi] (whole numbers when both ends are)."""
    if isinstance(value, list):
        lo, hi = value
        if isinstance(lo, int) and isinstance(hi, int):
            return int(rng.integers(lo, hi + 1))
        return float(rng.uniform(lo, hi))
    return value


def arrival_days(entry: Entry, index: int, seed: int, days: int, quiet: int) -> tuple[np.random.Generator, list[int]]:
    """Start days of one entry's events (sorted) and the entry's stream for the rest of its draws."""
    rng = child_rng(seed, "timetable", entry.kind, index)
    lo, hi = min(quiet, days - 1), days - 1 - TAIL_DAYS[entry.kind]
    if hi < lo:
        return rng, []
    n = max(int(rng.poisson(entry.rate_per_30d * (hi - lo + 1) / 30.0)), entry.min_count)
    return rng, sorted(int(x) for x in rng.integers(lo, hi + 1, n))


class _Occupancy:
    """Which entity is busy when: keeps events on one entity apart."""

    def __init__(self) -> None:
        self._busy: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def free(self, key: str, d0: int, d1: int) -> bool:
        return all(d1 + GAP_DAYS < a or d0 > b + GAP_DAYS for a, b in self._busy[key])

    def take(self, key: str, d0: int, d1: int) -> None:
        self._busy[key].append((d0, d1))


def _pick(rng: np.random.Generator, options: list):
    return options[int(rng.integers(0, len(options)))] if options else None


def plan_scenario(scn: Scenario, seed: int, days: int, scale: float, start: dt.date) -> tuple[IncidentPlan, list[Lot]]:
    """The incident plan (with decoys) and the lot schedule of a Poisson scenario."""
    plan = IncidentPlan(days=days)
    busy = _Occupancy()
    per_line_day = max(1, round(UNITS_PER_LINE_DAY * scale))
    switches: list[tuple[str, str, str, int]] = []

    def date(d: int) -> str:
        return (start + dt.timedelta(days=d)).isoformat()

    # ---- decoys: benign changes ---------------------------------------------------------
    for idx, entry in enumerate(scn.decoys):
        rng, starts = arrival_days(entry, idx, seed, days, scn.quiet_days)
        p = entry.params
        for d0 in starts:
            if entry.kind == "product_mix_change":
                n, shift = _draw(rng, p["days"]), _draw(rng, p["shift"])
                site = _pick(rng, [s.code for s in SITES if busy.free(f"mix:{s.code}", d0, d0 + n - 1)])
                if site is None:
                    continue
                busy.take(f"mix:{site}", d0, d0 + n - 1)
                up = _pick(rng, [p_.code for p_ in PRODUCTS])
                for ln in (x for x in LINES if x.site == site):
                    factor = 1 + shift if ln.product == up else 1 - shift
                    plan.volume_changes.append((ln.code, d0, d0 + n - 1, factor))
                plan.decoys.append(
                    Decoy(
                        "factory_output",
                        "site",
                        site,
                        d0,
                        d0 + n - 1,
                        "product_mix_change",
                        f"Product mix at {site} shifts towards {up}: its line builds {shift:.0%} more and the other "
                        f"line {shift:.0%} less from {date(d0)} to {date(d0 + n - 1)}; yields unchanged.",
                    )
                )
            elif entry.kind == "new_line_ramp":
                ramp, factor = _draw(rng, p["ramp_days"]), _draw(rng, p["fail_factor"])
                sites = [s.code for s in SITES if not any(x.site == s.code for x in plan.extra_lines)]
                site = _pick(rng, sites)
                if site is None:
                    continue
                product = _pick(rng, [p_.code for p_ in PRODUCTS])
                line = Line(f"{site}-L3", site, 3, product)
                plan.extra_lines.append(line)
                plan.line_start[line.code] = (d0, ramp)
                plan.line_fail_factor[line.code] = factor
                end = d0 + ramp + DECOY_WINDOW_DAYS
                busy.take(line.code, d0, end)
                plan.decoys.append(
                    Decoy(
                        "factory_output",
                        "line",
                        line.code,
                        d0,
                        end,
                        "new_line_ramp",
                        f"New line {line.code} starts building {product} on {date(d0)} and ramps its volume from 30 % "
                        f"to 100 % over {ramp} days; its baseline fail rates are {factor:.1f} x the other lines' "
                        f"and stay stable (a lower but steady yield, no incident).",
                    )
                )
            elif entry.kind == "planned_supplier_change":
                taken = {sw[0] for sw in switches}
                cands = []
                for part in PARTS:
                    if part.code in taken or not busy.free(f"part:{part.code}", d0, d0 + DECOY_WINDOW_DAYS):
                        continue
                    same_cat = {s for q in PARTS if q.category == part.category for s in q.suppliers}
                    new = sorted((same_cat or set(SUPPLIERS)) - set(part.suppliers)) or sorted(
                        set(SUPPLIERS) - set(part.suppliers)
                    )
                    cands += [(part.code, old, n_) for old in part.suppliers for n_ in new]
                choice = _pick(rng, cands)
                if choice is None:
                    continue
                part, old, new = choice
                switches.append((part, old, new, d0))
                cat = PART_BY_CODE[part].category
                plan.supplier_levels[(new, part)] = {
                    prm.name: float(rng.choice([-1.0, 1.0])) * _draw(rng, p["level_shift_sigma"])
                    for prm in SUPPLIER_PARAMS[cat]
                }
                end = d0 + DECOY_WINDOW_DAYS
                busy.take(f"part:{part}", d0, end)
                plan.decoys.append(
                    Decoy(
                        "incoming_material",
                        "supplier_part",
                        f"{new}-{part}",
                        d0,
                        end,
                        "planned_supplier_change",
                        f"Planned change: {part} ({cat}) lots ship from {new} instead of {old} "
                        f"from about {date(d0)} on "
                        f"(qualified, good quality). {new}'s parameters sit at slightly different levels inside "
                        f"spec; downstream yield is unchanged.",
                    )
                )
            elif entry.kind == "shipping_peak":
                n, factor = _draw(rng, p["days"]), _draw(rng, p["volume_factor"])
                prods = [p_.code for p_ in PRODUCTS if busy.free(f"peak:{p_.code}", d0, d0 + n - 1)]
                product = _pick(rng, prods)
                if product is None:
                    continue
                busy.take(f"peak:{product}", d0, d0 + n - 1)
                for ln in (x for x in LINES if x.product == product):
                    plan.volume_changes.append((ln.code, d0, d0 + n - 1, factor))
                end = d0 + n - 1 + DECOY_WINDOW_DAYS
                plan.decoys.append(
                    Decoy(
                        "field_return",
                        "product",
                        product,
                        d0,
                        end,
                        "shipping_peak",
                        f"Shipping peak of {product}: every line builds and ships {factor:.1f} x its usual volume from "
                        f"{date(d0)} to {date(d0 + n - 1)}; more returns follow in absolute numbers, at the same rate.",
                    )
                )
            elif entry.kind == "gauge_recalibration":
                shift = float(rng.choice([-1.0, 1.0])) * _draw(rng, p["shift_sigma"])
                line = _pick(rng, [x.code for x in LINES if busy.free(x.code, d0, d0 + 14)])
                if line is None:
                    continue
                char = _pick(rng, [c.name for c in CHARACTERISTICS])
                busy.take(line, d0, d0 + 14)
                plan.gauge_shifts.append((line, char, d0, shift))
                plan.decoys.append(
                    Decoy(
                        "factory_output",
                        "line",
                        line,
                        d0,
                        d0 + 14,
                        "gauge_recalibration",
                        f"The {char} gauge of {line} is recalibrated on {date(d0)}: its readings move by {shift:+.2f} "
                        f"sigma and stay there, inside spec; the process itself and the yield are unchanged.",
                    )
                )

    # ---- the lot schedule, with supplier switches and demand changes -----------------------
    def demand(part: str, site: str, day: int) -> float:
        return sum(
            per_line_day * plan.volume_factor(ln.code, day)
            for ln in (*LINES, *plan.extra_lines)
            if ln.site == site and part in PRODUCT_BY_CODE[ln.product].parts and plan.line_active(ln.code, day)
        )

    def qty_factor(part: str, site: str, arrival: int) -> float:
        base = daily_demand(part, site, scale)
        if not base:
            return 1.0
        return sum(demand(part, site, arrival + k) for k in range(LOT_SUPPLY_DAYS)) / (LOT_SUPPLY_DAYS * base)

    changed = bool(plan.volume_changes or plan.extra_lines)
    lots = build_lot_schedule(seed, days, scale, switches=switches, qty_factor=qty_factor if changed else None)
    in_run = [lt for lt in lots if 0 <= lt.ship_day < days]
    for decoy in plan.decoys:  # a switch starts with the new supplier's first shipment
        if decoy.kind == "planned_supplier_change":
            first = [lt.ship_day for lt in in_run if f"{lt.supplier}-{lt.part}" == decoy.entity_id]
            if first:
                decoy.start_day = min(first)
                decoy.end_day = decoy.start_day + DECOY_WINDOW_DAYS

    # ---- incidents ------------------------------------------------------------------------
    lots_of: dict[tuple[str, str], list[Lot]] = defaultdict(list)
    for lt in in_run:
        lots_of[(lt.part, lt.supplier)].append(lt)
    switched = {(part, sup) for part, old, new, _ in switches for sup in (old, new)}

    for idx, entry in enumerate(scn.incidents):
        rng, starts = arrival_days(entry, idx, seed, days, scn.quiet_days)
        p = entry.params
        for d0 in starts:
            if entry.kind == "defective_lot":
                frac = round(_draw(rng, p["defect_fraction"]), 4)
                pairs = sorted(
                    k for k in lots_of if busy.free(f"pair:{k[0]}:{k[1]}", d0, d0 + 14) and k not in switched
                )
                pair = _pick(rng, pairs)
                if pair is None:
                    continue
                cands = [lt for lt in lots_of[pair] if lt.lot_id not in plan.defective_lots]
                lot = min(cands, key=lambda lt: (abs(lt.ship_day - d0), lt.ship_day), default=None)
                if lot is None:
                    continue
                busy.take(f"pair:{pair[0]}:{pair[1]}", lot.ship_day, lot.arrival_day + LOT_SUPPLY_DAYS)
                mark_defective_lot(plan, lot, frac)
            elif entry.kind == "supplier_process_change":
                shift = round(_draw(rng, p["shift_sigma"]), 3)
                n_early, n_bad = _draw(rng, p["early_lots"]), _draw(rng, p["bad_lots"])
                frac = round(_draw(rng, p["defect_fraction"]), 4)
                opts = []
                for pair in sorted(lots_of):
                    seq = [lt for lt in lots_of[pair] if lt.ship_day >= d0][: n_early + n_bad]
                    if (
                        pair in switched
                        or len(seq) < n_early + n_bad
                        or any(lt.lot_id in plan.defective_lots for lt in seq)
                    ):
                        continue
                    if busy.free(f"pair:{pair[0]}:{pair[1]}", seq[0].ship_day, seq[-1].arrival_day + 14):
                        opts.append((pair, seq))
                choice = _pick(rng, opts)
                if choice is None:
                    continue
                (part, sup), seq = choice
                busy.take(f"pair:{part}:{sup}", seq[0].ship_day, seq[-1].arrival_day + 14)
                bad = seq[n_early:]
                for lt in seq:
                    plan.lot_shift[lt.lot_id] = shift
                for lt in bad:
                    plan.defective_lots[lt.lot_id] = frac
                inc = Incident(
                    "incoming_material",
                    "supplier_part",
                    f"{sup}-{part}",
                    seq[0].ship_day,
                    bad[-1].arrival_day,
                    "supplier_process_change",
                    frac,
                    f"{sup} changes its {PART_BY_CODE[part].category} process for {part}: from lot {seq[0].lot_id} "
                    f"(shipped {date(seq[0].ship_day)}) the critical parameter shifts {shift:g} sigma inside spec; "
                    f"from lot {bad[0].lot_id} on ({len(bad)} lots) {frac:.0%} of the pieces are defective "
                    f"downstream.",
                    params={"shift_sigma": shift, "lots": [lt.lot_id for lt in seq]},
                )
                plan.lot_groups.append((inc, [lt.lot_id for lt in bad]))
            elif entry.kind in ("station_false_fail", "fixture_wear"):
                n = _draw(rng, p["days"])
                rate = round(_draw(rng, p["fail_rate" if entry.kind == "station_false_fail" else "max_fail_rate"]), 4)
                stage = "FT" if entry.kind == "station_false_fail" else _pick(rng, ["ICT", "FT"])
                line = _pick(rng, [x.code for x in LINES if busy.free(x.code, d0, d0 + n - 1)])
                if line is None:
                    continue
                busy.take(line, d0, d0 + n - 1)
                st = station_id(line, stage)
                code = "FT-IO" if stage == "FT" else "ICT-OPEN"
                if entry.kind == "station_false_fail":
                    text = (
                        f"Fixture fault on tester {st}: about {rate:.0%} of first attempts fail falsely "
                        f"({code}) for {n} days; the retest passes, no real defect."
                    )
                else:
                    text = (
                        f"Probe/fixture wear on tester {st}: false fails ({code}) climb gradually to about "
                        f"{rate:.0%} of first attempts over {n} days until the fixture is replaced; retests "
                        f"pass, no real defect."
                    )
                plan.station_incidents.append(
                    Incident("factory_output", "station", st, d0, d0 + n - 1, entry.kind, rate, text)
                )
            elif entry.kind == "process_drift":
                n = _draw(rng, p["days"])
                params = {
                    "shift_sigma": round(_draw(rng, p["shift_sigma"]), 3),
                    "sigma_growth": round(_draw(rng, p["sigma_growth"]), 3),
                    "ft_fail": round(_draw(rng, p["ft_fail"]), 4),
                }
                line = _pick(rng, [x.code for x in LINES if busy.free(x.code, d0, d0 + n - 1)])
                if line is None:
                    continue
                busy.take(line, d0, d0 + n - 1)
                plan.drifts.append(
                    Incident(
                        "factory_output",
                        "line",
                        line,
                        d0,
                        d0 + n - 1,
                        "process_drift",
                        params["shift_sigma"],
                        f"Stencil wear on {line}: {DRIFT_CHAR} mean drifts up by up to {params['shift_sigma']:g} sigma "
                        f"and its spread grows {params['sigma_growth']:.0%} over {n} days, raising FT fails (up to "
                        f"{params['ft_fail']:.0%}); corrected after the last day.",
                        params=params,
                    )
                )
            elif entry.kind == "latent_defect":
                frac = round(_draw(rng, p["fraction"]), 4)
                params = {
                    "void_excess_pct": round(_draw(rng, p["void_excess_pct"]), 2),
                    "burn_in_fail": round(_draw(rng, p["burn_in_fail"]), 4),
                }
                line = _pick(rng, [x for x in LINES if busy.free(f"latent:{x.code}", d0, d0)])
                if line is None:
                    continue
                busy.take(f"latent:{line.code}", d0, d0)
                lot = f"{line.code}-{line.product}-{(start + dt.timedelta(days=d0)).strftime('%Y%m%d')}"
                plan.latents.append(
                    Incident(
                        "field_return",
                        "build_lot",
                        lot,
                        d0,
                        d0,
                        "latent_defect",
                        frac,
                        f"About {frac:.0%} of build lot {lot} carry cracked BGA solder joints: the lab sees "
                        f"{params['void_excess_pct']:g} points more voiding, burn-in catches about "
                        f"{params['burn_in_fail']:.0%} of them (REL-HANG), the rest ship and return early from the "
                        f"field (INTERMITTENT/FM-SJ mostly).",
                        params=params,
                    )
                )
            elif entry.kind == "regional_field_failure":
                n, frac = _draw(rng, p["days"]), round(_draw(rng, p["fraction"]), 4)
                combos = [
                    (pr.code, rg) for pr in PRODUCTS for rg in REGIONS if busy.free(f"env:{pr.code}", d0, d0 + n - 1)
                ]
                combo = _pick(rng, combos)
                if combo is None:
                    continue
                product, region = combo
                busy.take(f"env:{product}", d0, d0 + n - 1)
                plan.regionals.append(
                    Incident(
                        "field_return",
                        "product_region",
                        f"{product}-{region}",
                        d0,
                        d0 + n - 1,
                        "regional_field_failure",
                        frac,
                        f"Environmental failure mode: about {frac:.0%} of the {product} units shipped to {region} from "
                        f"{date(d0)} to {date(d0 + n - 1)} corrode at the ports in damp sites and return within weeks "
                        f"(PORT_FAIL/FM-IO mostly, high humidity); no factory test sees it.",
                        params={"product": product, "region": region, "life_scale_days": 40.0},
                    )
                )
    return plan, lots
