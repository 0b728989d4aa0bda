"""Quality incidents injected into the simulated world, and their ground-truth ledger.

Incidents are placed relative to the run length (start day = ``round(days * f)``) so
that a 90-day run holds all of them and each one matures inside the horizon. A short
run keeps only the incidents that fit:

=================  ===========  ======================================  ===================
scope              entity_type  what happens                            fits when
=================  ===========  ======================================  ===================
incoming_material  supplier_lot a lot with 7 %, 2 % or 4 % defective     it ships in the run
                                pieces: supplier data shifts, IQC and
                                ICT/FT fail more, a few units escape
factory_output     station      a test station gives false fails        4 days fit
                                (the retest passes)
factory_output     line         paste height drifts on one line (mean   10 days fit
                                shift + variance growth), FT fails rise
field_return       build_lot    a share of one build lot carries a      28 days after build
                                latent defect: passes all tests, fails
                                early in the field
=================  ===========  ======================================  ===================

This is the **legacy** timetable (what ``simulate`` does without a scenario). Scenario runs
draw any number of these and more kinds, plus decoys, in :mod:`simulator.timetable`
(see ``docs/scenarios.md``).

The plan object answers the questions the generators ask ("is this lot defective?",
"is this station faulty today?") and records what happened so that the ledger row
(for a supplier lot: the last day a line consumed it) is exact.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from .materials import Lot
from .world import LINES, PART_BY_CODE, child_rng, station_id

INCIDENT_COLUMNS = (
    "incident_id",
    "scope",
    "entity_type",
    "entity_id",
    "start_date",
    "end_date",
    "kind",
    "magnitude",
    "description",
)

# (run fraction, defect fraction, part categories the lot is drawn from)
LOT_INCIDENTS = (
    (0.15, 0.07, ("BGA_MODULE", "FLASH")),
    (0.35, 0.02, ("PSU", "CONNECTOR")),
    (0.55, 0.04, ("PCB", "BGA_MODULE", "CONNECTOR")),
)
STATION_FAULT_AT, STATION_FAULT_DAYS, STATION_FAULT_RATE = 0.25, 4, 0.10
DRIFT_AT, DRIFT_DAYS, DRIFT_SHIFT_SIGMA, DRIFT_SIGMA_GROWTH, DRIFT_FT_FAIL = 0.40, 10, 2.0, 0.5, 0.08
DRIFT_CHAR = "PASTE_HEIGHT"
LATENT_AT, LATENT_MATURITY_DAYS, LATENT_FRACTION = 0.30, 28, 0.15
LATENT_VOID_EXCESS = 8.0  # percentage points of void area the lab sees on top of the line's level


@dataclass
class Incident:
    scope: str
    entity_type: str
    entity_id: str
    start_day: int
    end_day: int
    kind: str
    magnitude: float
    description: str
    incident_id: str = ""
    params: dict = field(default_factory=dict)  # kind-specific effect parameters

    def active(self, day: int) -> bool:
        return self.start_day <= day <= self.end_day

    def progress(self, day: int) -> float:
        """0 outside the incident, rising linearly to 1 on its last day."""
        if not self.active(day):
            return 0.0
        return (day - self.start_day + 1) / (self.end_day - self.start_day + 1)


@dataclass
class Decoy:
    """A benign change (``_ground_truth/decoys.csv``): a good system must not alarm on it."""

    scope: str
    entity_type: str
    entity_id: str
    start_day: int
    end_day: int
    kind: str
    description: str
    decoy_id: str = ""


DECOY_COLUMNS = ("id", "scope", "entity_type", "entity_id", "start_date", "end_date", "kind", "description")


@dataclass
class IncidentPlan:
    """What is wrong (and what merely changed), where and when; queried by the generators.

    The legacy plan (:func:`plan_incidents`) fills one station fault, one drift and one
    latent lot; a scenario plan (:mod:`simulator.timetable`) fills any number of each and
    the benign changes (decoys). Every query answers "no effect" with the value the
    generators used before scenarios existed, so a legacy run draws the same numbers.
    """

    days: int
    defective_lots: dict[str, float] = field(default_factory=dict)  # lot id -> defect fraction
    lot_incidents: dict[str, Incident] = field(default_factory=dict)
    lot_last_use: dict[str, int] = field(default_factory=dict)
    lot_shift: dict[str, float] = field(default_factory=dict)  # lot id -> supplier-data shift (sigmas)
    lot_groups: list[tuple[Incident, list[str]]] = field(default_factory=list)  # incident over several lots
    station_incidents: list[Incident] = field(default_factory=list)
    drifts: list[Incident] = field(default_factory=list)
    latents: list[Incident] = field(default_factory=list)
    regionals: list[Incident] = field(default_factory=list)
    # benign changes
    decoys: list[Decoy] = field(default_factory=list)
    extra_lines: list = field(default_factory=list)  # world.Line of lines that start during the run
    line_start: dict[str, tuple[int, int]] = field(default_factory=dict)  # new line -> (first day, ramp days)
    line_fail_factor: dict[str, float] = field(default_factory=dict)  # line -> baseline fail-rate factor
    volume_changes: list[tuple[str, int, int, float]] = field(default_factory=list)  # line, d0, d1, factor
    gauge_shifts: list[tuple[str, str, int, float]] = field(default_factory=list)  # line, char, d0, sigmas
    supplier_levels: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)  # (sup, part)

    # -- queries -----------------------------------------------------------
    def lot_defect_fraction(self, lot_id: str) -> float:
        return self.defective_lots.get(lot_id, 0.0)

    def lot_param_shift(self, lot_id: str) -> float:
        """Shift (in sigmas) of the critical parameter in the supplier's data for this lot."""
        if lot_id in self.lot_shift:
            return self.lot_shift[lot_id]
        return 1.0 if lot_id in self.defective_lots else 0.0

    def false_fail_rate(self, station: str, day: int) -> float:
        for inc in self.station_incidents:
            if inc.entity_id == station and inc.active(day):
                if inc.kind == "fixture_wear":  # wear: the rate climbs from near 0 to its maximum
                    return inc.magnitude * inc.progress(day)
                return inc.magnitude
        return 0.0

    def drift_state(self, line: str, day: int) -> tuple[float, float, float, float]:
        """(progress 0..1, mean shift in sigmas, sigma growth, FT fail rate) of a drift on the line."""
        for inc in self.drifts:
            if inc.entity_id == line and inc.active(day):
                p = inc.params
                return inc.progress(day), p["shift_sigma"], p["sigma_growth"], p["ft_fail"]
        return 0.0, 0.0, 0.0, 0.0

    def drift_progress(self, line: str, day: int) -> float:
        """0 outside the drift, rising linearly to 1 on its last day."""
        return self.drift_state(line, day)[0]

    def _latent(self, build_lot: str) -> Incident | None:
        return next((i for i in self.latents if i.entity_id == build_lot), None)

    def latent_fraction(self, build_lot: str) -> float:
        inc = self._latent(build_lot)
        return inc.magnitude if inc else 0.0

    def latent_void_excess(self, build_lot: str) -> float:
        """Extra solder-void area (percentage points) the lab sees in a latent-defect lot."""
        inc = self._latent(build_lot)
        return inc.params.get("void_excess_pct", 8.0) if inc else 0.0

    def latent_burn_in_fail(self, build_lot: str) -> float:
        """Probability that a latent-defect unit fails its first burn-in (REL) attempt."""
        inc = self._latent(build_lot)
        return inc.params.get("burn_in_fail", 0.0) if inc else 0.0

    def regional_incident(self, product: str, region: str, ship_day: int) -> Incident | None:
        for inc in self.regionals:
            if inc.params["product"] == product and inc.params["region"] == region and inc.active(ship_day):
                return inc
        return None

    def line_under_incident(self, line: str, day: int) -> bool:
        """True while a factory incident acts on this line (bad input must not land there)."""
        for inc in (*self.station_incidents, *self.drifts):
            if inc.entity_id.startswith(line) and inc.active(day):
                return True
        return False

    def line_active(self, line: str, day: int) -> bool:
        """A line that starts during the run builds nothing before its first day."""
        first = self.line_start.get(line)
        return first is None or day >= first[0]

    def volume_factor(self, line: str, day: int) -> float:
        """Production volume of the line relative to its normal volume (1.0 = unchanged)."""
        f = 1.0
        first = self.line_start.get(line)
        if first is not None and first[1] > 0 and day < first[0] + first[1]:
            f *= 0.3 + 0.7 * max(0, day - first[0]) / first[1]  # ramp-up from 30 % to 100 %
        for ln, d0, d1, factor in self.volume_changes:
            if ln == line and d0 <= day <= d1:
                f *= factor
        return f

    def base_fail_factor(self, line: str) -> float:
        return self.line_fail_factor.get(line, 1.0)

    def gauge_offset(self, line: str, char: str, day: int) -> float:
        """Offset (in sigmas) of a recalibrated gauge's readings from this day on."""
        return sum(s for ln, ch, d0, s in self.gauge_shifts if ln == line and ch == char and day >= d0)

    def note_lot_use(self, lot_id: str, day: int) -> None:
        if lot_id in self.defective_lots:
            self.lot_last_use[lot_id] = max(day, self.lot_last_use.get(lot_id, day))

    # -- ledger ------------------------------------------------------------
    def incidents(self) -> list[Incident]:
        out: list[Incident] = []
        for lot_id, inc in self.lot_incidents.items():
            inc.end_day = min(self.days - 1, max(inc.end_day, self.lot_last_use.get(lot_id, inc.end_day)))
            out.append(inc)
        for inc, lot_ids in self.lot_groups:
            last = max([self.lot_last_use.get(lt, inc.end_day) for lt in lot_ids] + [inc.end_day])
            inc.end_day = min(self.days - 1, last)
            out.append(inc)
        out += self.station_incidents + self.drifts + self.latents + self.regionals
        out.sort(key=lambda i: (i.start_day, i.scope, i.entity_id))
        for n, inc in enumerate(out, 1):
            inc.incident_id = f"INC-{n:03d}"
        return out

    def ledger_rows(self, start: dt.date) -> list[list[str]]:
        rows = []
        for inc in self.incidents():
            rows.append(
                [
                    inc.incident_id,
                    inc.scope,
                    inc.entity_type,
                    inc.entity_id,
                    (start + dt.timedelta(days=inc.start_day)).isoformat(),
                    (start + dt.timedelta(days=inc.end_day)).isoformat(),
                    inc.kind,
                    f"{inc.magnitude:g}",
                    inc.description,
                ]
            )
        return rows

    def decoy_rows(self, start: dt.date) -> list[list[str]]:
        decoys = sorted(self.decoys, key=lambda x: (x.start_day, x.scope, x.entity_id, x.kind))
        rows = []
        for n, x in enumerate(decoys, 1):
            x.decoy_id = f"DEC-{n:03d}"
            rows.append(
                [
                    x.decoy_id,
                    x.scope,
                    x.entity_type,
                    x.entity_id,
                    (start + dt.timedelta(days=x.start_day)).isoformat(),
                    (start + dt.timedelta(days=min(x.end_day, self.days - 1))).isoformat(),
                    x.kind,
                    x.description,
                ]
            )
        return rows


def mark_defective_lot(plan: IncidentPlan, lot: Lot, defect: float) -> None:
    """Make ``defect`` of the pieces of ``lot`` defective, with its ledger row."""
    plan.defective_lots[lot.lot_id] = defect
    plan.lot_incidents[lot.lot_id] = Incident(
        "incoming_material",
        "supplier_lot",
        lot.lot_id,
        lot.ship_day,
        lot.arrival_day,
        "defective_lot",
        defect,
        f"{defect:.0%} of the pieces of {PART_BY_CODE[lot.part].category} lot {lot.lot_id} from "
        f"{lot.supplier} (received at {lot.site}) are defective; supplier data shifts, IQC and "
        f"ICT/FT fail more often on units built with it.",
    )


def plan_incidents(seed: int, days: int, lots: list[Lot], start: dt.date) -> IncidentPlan:
    """Choose the incident entities and dates for a run (deterministic in ``seed``)."""
    rng = child_rng(seed, "incidents")
    plan = IncidentPlan(days=days)

    # incoming material: pick distinct (part, supplier) pairs, then the lot nearest the target day
    used_pairs: set[tuple[str, str]] = set()
    for frac_at, defect, categories in LOT_INCIDENTS:
        target = round(days * frac_at)
        pairs = sorted(
            {
                (lt.part, lt.supplier)
                for lt in lots
                if PART_BY_CODE[lt.part].category in categories and 0 <= lt.ship_day < days
            }
            - used_pairs
        )
        if not pairs:
            continue
        pair = pairs[int(rng.integers(0, len(pairs)))]
        cands = [lt for lt in lots if (lt.part, lt.supplier) == pair and 0 <= lt.ship_day < days]
        lot = min(cands, key=lambda lt: (abs(lt.ship_day - target), lt.ship_day))
        used_pairs.add(pair)
        mark_defective_lot(plan, lot, defect)

    order = [LINES[int(i)].code for i in rng.permutation(len(LINES))]
    fault_line, drift_line, latent_line = order[0], order[1], order[2]

    d0 = round(days * STATION_FAULT_AT)
    if d0 + STATION_FAULT_DAYS <= days:
        st = station_id(fault_line, "FT")
        plan.station_incidents.append(Incident(
            "factory_output",
            "station",
            st,
            d0,
            d0 + STATION_FAULT_DAYS - 1,
            "station_false_fail",
            STATION_FAULT_RATE,
            f"Fixture fault on functional tester {st}: about {STATION_FAULT_RATE:.0%} of first attempts "
            f"fail falsely (FT-IO); the retest passes, no real defect.",
        ))

    d0 = round(days * DRIFT_AT)
    if d0 + DRIFT_DAYS <= days:
        plan.drifts.append(Incident(
            "factory_output",
            "line",
            drift_line,
            d0,
            d0 + DRIFT_DAYS - 1,
            "process_drift",
            DRIFT_SHIFT_SIGMA,
            f"Stencil wear on {drift_line}: {DRIFT_CHAR} mean drifts up by up to {DRIFT_SHIFT_SIGMA:g} sigma "
            f"and its spread grows {DRIFT_SIGMA_GROWTH:.0%} over {DRIFT_DAYS} days, raising FT fails; "
            f"corrected after the last day.",
            params={"shift_sigma": DRIFT_SHIFT_SIGMA, "sigma_growth": DRIFT_SIGMA_GROWTH, "ft_fail": DRIFT_FT_FAIL},
        ))

    d0 = round(days * LATENT_AT)
    if d0 + LATENT_MATURITY_DAYS <= days:
        product = next(ln.product for ln in LINES if ln.code == latent_line)
        lot = f"{latent_line}-{product}-{(start + dt.timedelta(days=d0)).strftime('%Y%m%d')}"
        plan.latents.append(Incident(
            "field_return",
            "build_lot",
            lot,
            d0,
            d0,
            "latent_defect",
            LATENT_FRACTION,
            f"About {LATENT_FRACTION:.0%} of build lot {lot} carry cracked BGA solder joints: they pass "
            f"every factory test and return early from the field (INTERMITTENT/FM-SJ mostly).",
            params={"void_excess_pct": LATENT_VOID_EXCESS, "burn_in_fail": 0.0},
        ))
    return plan
