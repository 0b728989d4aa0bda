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


@dataclass
class IncidentPlan:
    """What is wrong, where and when; queried by the generators during the run."""

    days: int
    defective_lots: dict[str, float] = field(default_factory=dict)  # lot id -> defect fraction
    lot_incidents: dict[str, Incident] = field(default_factory=dict)
    lot_last_use: dict[str, int] = field(default_factory=dict)
    station_fault: Incident | None = None
    drift: Incident | None = None
    latent: Incident | None = None

    # -- queries -----------------------------------------------------------
    def lot_defect_fraction(self, lot_id: str) -> float:
        return self.defective_lots.get(lot_id, 0.0)

    def false_fail_rate(self, station: str, day: int) -> float:
        inc = self.station_fault
        if inc and inc.entity_id == station and inc.start_day <= day <= inc.end_day:
            return inc.magnitude
        return 0.0

    def drift_progress(self, line: str, day: int) -> float:
        """0 outside the drift, rising linearly to 1 on its last day."""
        inc = self.drift
        if inc and inc.entity_id == line and inc.start_day <= day <= inc.end_day:
            return (day - inc.start_day + 1) / (inc.end_day - inc.start_day + 1)
        return 0.0

    def latent_fraction(self, build_lot: str) -> float:
        inc = self.latent
        return inc.magnitude if inc and inc.entity_id == build_lot else 0.0

    def line_under_incident(self, line: str, day: int) -> bool:
        """True while a factory incident acts on this line (bad input must not land there)."""
        for inc in (self.station_fault, self.drift):
            if inc and inc.entity_id.startswith(line) and inc.start_day <= day <= inc.end_day:
                return True
        return False

    def note_lot_use(self, lot_id: str, day: int) -> None:
        if lot_id in self.defective_lots:
            self.lot_last_use[lot_id] = max(day, self.lot_last_use.get(lot_id, day))

    # -- ledger ------------------------------------------------------------
    def incidents(self) -> list[Incident]:
        out: list[Incident] = []
        for lot_id, inc in self.lot_incidents.items():
            inc.end_day = min(self.days - 1, max(inc.end_day, self.lot_last_use.get(lot_id, inc.end_day)))
            out.append(inc)
        out += [i for i in (self.station_fault, self.drift, self.latent) if i]
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

    order = [LINES[int(i)].code for i in rng.permutation(len(LINES))]
    fault_line, drift_line, latent_line = order[0], order[1], order[2]

    d0 = round(days * STATION_FAULT_AT)
    if d0 + STATION_FAULT_DAYS <= days:
        st = station_id(fault_line, "FT")
        plan.station_fault = Incident(
            "factory_output",
            "station",
            st,
            d0,
            d0 + STATION_FAULT_DAYS - 1,
            "station_false_fail",
            STATION_FAULT_RATE,
            f"Fixture fault on functional tester {st}: about {STATION_FAULT_RATE:.0%} of first attempts "
            f"fail falsely (FT-IO); the retest passes, no real defect.",
        )

    d0 = round(days * DRIFT_AT)
    if d0 + DRIFT_DAYS <= days:
        plan.drift = Incident(
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
        )

    d0 = round(days * LATENT_AT)
    if d0 + LATENT_MATURITY_DAYS <= days:
        product = next(ln.product for ln in LINES if ln.code == latent_line)
        lot = f"{latent_line}-{product}-{(start + dt.timedelta(days=d0)).strftime('%Y%m%d')}"
        plan.latent = Incident(
            "field_return",
            "build_lot",
            lot,
            d0,
            d0,
            "latent_defect",
            LATENT_FRACTION,
            f"About {LATENT_FRACTION:.0%} of build lot {lot} carry cracked BGA solder joints: they pass "
            f"every factory test and return early from the field (INTERMITTENT/FM-SJ mostly).",
        )
    return plan
