"""Day-by-day generation of the five sources, and the public ``simulate`` entry point.

Order of work for one run:

1. master data (``world``), supplier-lot schedule (``materials``), incident plan
   (``incidents``) and bad-input plan (``defects``) are fixed up front;
2. a warm-up before day 0 fills the lot inventories, and units built on the three days
   before the run are queued for shipment; the installed base queues its claims;
3. each day: lots arrive and pass IQC, every line builds and tests its units, units
   ship, SPC and lab data are taken, suppliers send their lot data, RMA claims arrive;
   the day's files are damaged as planned and written;
4. the ground-truth ledgers are written to ``_ground_truth/``.

Same arguments => byte-identical files: every random draw comes from a generator keyed
by (seed, purpose, day, site/line), and every output is written in a sorted order.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .defects import DayFiles, Injector
from .factory import (
    GENEALOGY_HEADER,
    TESTLOG_HEADER,
    TestRow,
    build_units,
    iqc_rows,
    lims_samples,
    line_process,
    run_route,
    spc_records,
)
from .field import ClaimSeed, build_claims, installed_base_claims, installed_base_size, life_days, pick_region
from .incidents import DECOY_COLUMNS, INCIDENT_COLUMNS, plan_incidents
from .materials import UNITS_PER_LINE_DAY, WARMUP_DAYS, Inventory, Lot, build_lot_schedule, daily_demand
from .scenario import Scenario, load_scenario
from .timetable import plan_scenario
from .world import (
    DOA_DAYS,
    LINES,
    PART_BY_CODE,
    PARTS,
    PRODUCT_BY_CODE,
    PSU_NOMINAL_V,
    SITES,
    SUPPLIER_PARAMS,
    VOID_GRADE_USL,
    child_rng,
    void_grade,
)
from .writers import ClaimsPayload, Ledger, LimsPayload, LinePayload

SUPPLIER_HEADER = [
    "supplier_code",
    "lot_number",
    "part_number",
    "po_number",
    "po_closed_date",
    "lot_qty",
    "ship_date",
    "parameter",
    "value",
    "unit",
    "lsl",
    "usl",
]
SHIPMENT_HEADER = ["SHIP_ID", "SERIAL_NO", "PART_NO", "PLANT", "SHIP_TIME", "REGION", "UNIT_VALUE"]
GHOST_DAYS = 3  # units built just before the run that ship during its first days


@dataclass
class ShipItem:
    site: str
    secs: int
    serial: str
    product: str
    latent: bool = False
    escaped: bool = False
    protected: bool = False


class Simulation:
    """State carried from day to day (inventories, queues, running numbers)."""

    def __init__(
        self, seed: int, days: int, scale: float, start: dt.date, scenario: Scenario | None = None
    ) -> None:
        self.seed, self.days, self.scale, self.start = seed, days, scale, start
        self.per_line_day = max(1, round(UNITS_PER_LINE_DAY * scale))
        if scenario is None or scenario.legacy:
            self.lots = build_lot_schedule(seed, days, scale)
            self.plan = plan_incidents(seed, days, self.lots, start)
        else:
            self.plan, self.lots = plan_scenario(scenario, seed, days, scale, start)
        self.lines = LINES + tuple(self.plan.extra_lines)
        self.process = line_process(seed, self.lines)
        self.injector = Injector(seed, days)
        self.inventory = Inventory()
        self.arrivals: dict[int, list[Lot]] = defaultdict(list)
        self.shipped_lots: dict[int, list[Lot]] = defaultdict(list)
        for lot in self.lots:
            self.arrivals[lot.arrival_day].append(lot)
            self.shipped_lots[lot.ship_day].append(lot)
        self.pending_ship: dict[int, list[ShipItem]] = defaultdict(list)
        self.pending_claims: dict[int, list[ClaimSeed]] = defaultdict(list)
        for c in installed_base_claims(seed, days, self.per_line_day):
            self.pending_claims[c.recv_day].append(c)
        first = installed_base_size(self.per_line_day) + 1
        self.serial_next = {(ln.site, ln.product): first for ln in LINES}
        self.sample_no = 0
        self.rma_no = 0
        self._lot_void: dict[str, float] = {}

    # ------------------------------------------------------------------
    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    def lot_void_pct(self, lot: Lot) -> float:
        """The lot's true solder-void area (%), shared by supplier grade and lab result."""
        if lot.lot_id not in self._lot_void:
            rng = child_rng(self.seed, "lot-void", lot.lot_id)
            v = float(np.clip(rng.normal(6.0, 2.2), 0.5, 30.0))
            if self.plan.lot_defect_fraction(lot.lot_id):
                v += 6.0
            self._lot_void[lot.lot_id] = v
        return self._lot_void[lot.lot_id]

    def warm_up(self) -> None:
        """Fill inventories before day 0 and queue the pre-run builds for shipment."""
        for d in range(-WARMUP_DAYS, 0):
            for lot in sorted(self.arrivals.get(d, []), key=lambda lt: lt.lot_id):
                self.inventory.receive(lot)
            for site in SITES:
                for part in PARTS:
                    self.inventory.consume(
                        site.code, part.code, int(daily_demand(part.code, site.code, self.scale))
                    )
            if d >= -GHOST_DAYS:
                for line in LINES:
                    rng = child_rng(self.seed, "ghost", d, line.code)
                    for _ in range(max(1, int(rng.poisson(self.per_line_day)))):
                        key = (line.site, line.product)
                        serial = f"{line.site}-{line.product}-{self.serial_next[key]:07d}"
                        self.serial_next[key] += 1
                        ship = d + int(rng.integers(1, 4))
                        if 0 <= ship < self.days:
                            self.pending_ship[ship].append(
                                ShipItem(
                                    line.site, int(rng.integers(8 * 3600, 18 * 3600)), serial, line.product
                                )
                            )

    # ------------------------------------------------------------------
    def day(self, d: int) -> DayFiles:
        date = self.date(d)
        date_s, ymd = date.isoformat(), date.strftime("%Y%m%d")
        arrivals = sorted(self.arrivals.get(d, []), key=lambda lt: (lt.site, lt.lot_id))
        for lot in arrivals:
            self.inventory.receive(lot)
        files = DayFiles()
        for site in SITES:
            self._mes(d, site.code, date_s, ymd, [lt for lt in arrivals if lt.site == site.code], files)
            recs, prot = spc_records(self.seed, d, site.code, date_s, ymd, self.process, self.plan, self.lines)
            files.spc[site.code] = LinePayload(
                "spc",
                f"spc/{date_s}/spc_{site.code.lower()}_{ymd}.jsonl",
                protected=prot,
                header=None,
                rows=recs,
            )
        files.lims = self._lims(d, date_s, ymd, arrivals)
        self._supplier(d, date_s, ymd, files)
        files.claims = self._claims(d, date_s)
        self.injector.apply(d, files, lambda rel: rel[: -len(".csv")] + "_resend.csv")
        return files

    def _mes(self, d: int, site: str, date_s: str, ymd: str, arrivals: list[Lot], files: DayFiles) -> None:
        n_per_line = {}
        for ln in self.lines:
            if ln.site != site or not self.plan.line_active(ln.code, d):
                continue
            factor = self.plan.volume_factor(ln.code, d)
            mean = self.per_line_day if factor == 1.0 else self.per_line_day * factor
            n_per_line[ln.code] = max(1, int(child_rng(self.seed, "volume", d, ln.code).poisson(mean)))
        units = build_units(
            self.seed, d, site, date_s, ymd, n_per_line, self.serial_next, self.inventory, self.plan, self.lines
        )
        rows: list[TestRow] = iqc_rows(self.seed, d, site, date_s, arrivals, self.plan)
        ship_rng = child_rng(self.seed, "ship-plan", d, site)
        for line in (ln for ln in self.lines if ln.code in n_per_line):
            rng = child_rng(self.seed, "route", d, line.code)
            wo = f"WO-{site}-{ymd}-{line.number}"
            for u in (u for u in units if u.line == line.code):
                unit_rows, passed = run_route(u, rng, self.plan, d, date_s, wo)
                rows += unit_rows
                if passed:
                    ship = d + int(ship_rng.integers(1, 4))
                    secs = int(ship_rng.integers(8 * 3600, 18 * 3600))
                    if ship < self.days:
                        self.pending_ship[ship].append(
                            ShipItem(site, secs, u.serial, u.product, u.latent, u.escaped, u.protected)
                        )
        rows.sort(key=lambda r: (r.secs, r.serial, r.order, r.attempt))
        files.testlog[site] = LinePayload(
            "mes",
            f"mes/{date_s}/MES_TESTLOG_{site}_{ymd}.csv",
            protected=[r.protected for r in rows],
            header=TESTLOG_HEADER,
            rows=[[f"TL-{site}-{ymd}-{i:06d}", *r.cells] for i, r in enumerate(rows, 1)],
        )

        # genealogy: one row per unit per component
        extra = self.injector.operator_column(site, d)
        op_rng = child_rng(self.seed, "operator", d, site)
        gen_rows = []
        for u in units:
            build_ts = f"{date_s} {u.start // 3600:02d}:{u.start % 3600 // 60:02d}:{u.start % 60:02d}"
            op = [f"OP{int(op_rng.integers(1000, 1040)):04d}"] if extra else []
            for lot in u.components:
                gen_rows.append(
                    [
                        u.serial,
                        u.product,
                        u.build_lot,
                        site,
                        u.line,
                        build_ts,
                        lot.part,
                        lot.supplier,
                        lot.lot_id,
                        *op,
                    ]
                )
        files.genealogy[site] = LinePayload(
            "mes",
            f"mes/{date_s}/MES_GENEALOGY_{site}_{ymd}.csv",
            protected=[True] * len(gen_rows),
            header=GENEALOGY_HEADER + (["OPERATOR_ID"] if extra else []),
            rows=gen_rows,
            file_defects=["added_column"] if extra else [],
        )

        # shipments of the day, and the field life of every shipped unit
        items = sorted(
            (it for it in self.pending_ship.get(d, []) if it.site == site),
            key=lambda it: (it.secs, it.serial),
        )
        rng = child_rng(self.seed, "ship", d, site)
        life_rng = child_rng(self.seed, "life", d, site)
        env_rng = child_rng(self.seed, "regional", d, site) if self.plan.regionals else None
        ship_rows = []
        for k, it in enumerate(items, 1):
            region = pick_region(rng, site)
            ship_rows.append(
                [
                    f"SH-{site}-{ymd}-{k:04d}",
                    it.serial,
                    it.product,
                    site,
                    f"{date_s} {it.secs // 3600:02d}:{it.secs % 3600 // 60:02d}:{it.secs % 60:02d}",
                    region,
                    f"{PRODUCT_BY_CODE[it.product].unit_value:.2f}",
                ]
            )
            t = life_days(life_rng, it.latent, it.escaped)
            cause = "latent" if it.latent else ("escape" if it.escaped else "base")
            env = self.plan.regional_incident(it.product, region, d) if env_rng is not None else None
            if env is not None and env_rng.random() < env.magnitude:
                t_env = float(env.params["life_scale_days"] * env_rng.weibull(1.5))
                if t_env < t:  # the environmental failure mode strikes first
                    t, cause = t_env, "regional"
            fail_day = d + int(t)
            recv = fail_day + int(life_rng.integers(2, 11))
            if recv < self.days:
                self.pending_claims[recv].append(
                    ClaimSeed(
                        it.serial, it.product, d, fail_day, t < DOA_DAYS, cause, region, it.protected, recv
                    )
                )
        files.shipment[site] = LinePayload(
            "mes",
            f"mes/{date_s}/MES_SHIPMENT_{site}_{ymd}.csv",
            protected=[True] * len(ship_rows),
            header=SHIPMENT_HEADER,
            rows=ship_rows,
        )

    def _lims(self, d: int, date_s: str, ymd: str, arrivals: list[Lot]) -> LimsPayload:
        samples = lims_samples(
            self.seed, d, date_s, ymd, self.process, arrivals, self.lot_void_pct, self.plan, self.lines
        )
        out, prot = [], []
        for s in samples:
            self.sample_no += 1
            out.append(
                (
                    [("id", f"LS-{self.sample_no:06d}"), ("site", s.site), ("kind", s.kind), ("ref", s.ref)],
                    s.tests,
                )
            )
            prot += [s.protected] * len(s.tests)
        return LimsPayload(
            "lims",
            f"lims/{date_s}/LIMS_EXPORT_{ymd}.xml",
            protected=prot,
            exported=f"{date_s}T23:59:00",
            samples=out,
        )

    def _supplier(self, d: int, date_s: str, ymd: str, files: DayFiles) -> None:
        by_sup: dict[str, list[Lot]] = defaultdict(list)
        for lot in self.shipped_lots.get(d, []):
            by_sup[lot.supplier].append(lot)
        for sup in sorted(by_sup):
            rows = []
            for lot in sorted(by_sup[sup], key=lambda lt: lt.lot_id):
                rows += self._supplier_lot_rows(lot, date_s)
            files.supplier[sup] = LinePayload(
                "supplier",
                f"supplier/{date_s}/CSDX_{sup}_{ymd}.csv",
                protected=[True] * len(rows),
                header=SUPPLIER_HEADER,
                rows=rows,
                delimiter=";",
            )

    def _supplier_lot_rows(self, lot: Lot, date_s: str) -> list[list[str]]:
        rng = child_rng(self.seed, "supplier-lot", lot.lot_id)
        part = PART_BY_CODE[lot.part]
        shift = self.plan.lot_param_shift(lot.lot_id)
        level = self.plan.supplier_levels.get((lot.supplier, lot.part), {})
        po = f"45{int(rng.integers(0, 10**8)):08d}"
        closed = date_s if rng.random() < 0.35 else ""
        head = [lot.supplier, lot.lot_id, lot.part, po, closed, str(lot.qty), date_s]
        rows = []
        for prm in SUPPLIER_PARAMS[part.category]:
            k = PSU_NOMINAL_V.get(lot.part, 1.0) if prm.name == "VOUT" else 1.0
            v = rng.normal(prm.mean, prm.sigma)
            if shift and prm.critical:
                v += shift * prm.sigma  # the supplier's own data shows a shift (inside spec)
            if level:
                v += level.get(prm.name, 0.0) * prm.sigma  # a new supplier's process sits elsewhere
            if prm.lsl is None:
                v = max(v, 0.0)
            lsl = "" if prm.lsl is None else f"{prm.lsl * k:.{prm.decimals}f}"
            usl = "" if prm.usl is None else f"{prm.usl * k:.{prm.decimals}f}"
            rows.append(head + [prm.name, f"{v * k:.{prm.decimals}f}", prm.unit, lsl, usl])
        if part.has_solder_joints:
            rows.append(
                head + ["VOID_GRADE", void_grade(self.lot_void_pct(lot)), "grade", "", VOID_GRADE_USL]
            )
        return rows

    def _claims(self, d: int, date_s: str) -> ClaimsPayload:
        claims, prot = build_claims(self.seed, d, self.start, self.pending_claims.pop(d, []))
        for c in claims:
            self.rma_no += 1
            c["rma_no"] = f"RMA-{self.rma_no:06d}"
        return ClaimsPayload(
            "field_returns",
            f"field_returns/{date_s}/rma_export_{date_s.replace('-', '')}.json",
            protected=prot,
            export_date=date_s,
            claims=claims,
        )


def _clear(landing_dir: Path) -> None:
    resolved = landing_dir.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise ValueError(f"refusing to clear {resolved}")
    landing_dir.mkdir(parents=True, exist_ok=True)
    for child in sorted(landing_dir.iterdir()):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def simulate(
    landing_dir: Path,
    days: int | None = None,
    seed: int | None = None,
    scale: float | None = None,
    start: dt.date | None = None,
    progress: Callable[[int, int, dt.date], None] | None = None,
    scenario: Scenario | str | Path | None = None,
) -> dict:
    """Write ``days`` days of the five sources into ``landing_dir`` (its old contents are removed).

    Args:
        landing_dir: landing root; receives ``<source>/<yyyy-mm-dd>/...`` and ``_ground_truth/``.
        days: number of business days to simulate, from ``start`` (default: the scenario's
            horizon; required without a scenario).
        seed: random seed (default: the scenario's, else 42); the same arguments always give
            byte-identical files.
        scale: production volume factor (units per line per day = max(1, round(40 * scale)));
            default: the scenario's, else 1.0.
        start: first business day (default: the scenario's, else 2026-03-02).
        progress: optional callback ``(days_done, days, date)``, called every 10 days and at the end.
        scenario: a :class:`Scenario`, or the name or path of a scenario file (see
            ``docs/scenarios.md``). Without one the fixed legacy timetable of six incidents is
            used and no decoys ledger is written.

    Returns:
        A summary: files written, records per source, incidents and bad records counts
        (and, with a Poisson scenario, its name and the decoys count).
    """
    if scenario is not None and not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if scenario is not None:
        days = scenario.horizon_days if days is None else days
        seed = scenario.seed if seed is None else seed
        scale = scenario.scale if scale is None else scale
        start = scenario.start if start is None else start
    if days is None:
        raise ValueError("days is required without a scenario")
    seed = 42 if seed is None else seed
    scale = 1.0 if scale is None else scale
    start = dt.date(2026, 3, 2) if start is None else start
    if days < 1:
        raise ValueError("days must be >= 1")
    if scale <= 0:
        raise ValueError("scale must be > 0")
    landing_dir = Path(landing_dir)
    _clear(landing_dir)
    sim = Simulation(int(seed), int(days), float(scale), start, scenario)
    sim.warm_up()
    ledger = Ledger(landing_dir)
    for d in range(days):
        files = sim.day(d)
        for payload in files.all():
            ledger.write(payload)
        if progress and ((d + 1) % 10 == 0 or d + 1 == days):
            progress(d + 1, days, sim.date(d))
    incident_rows = sim.plan.ledger_rows(start)
    ledger.write_ground_truth(INCIDENT_COLUMNS, incident_rows)
    extra = {}
    if scenario is not None and not scenario.legacy:
        decoy_rows = sim.plan.decoy_rows(start)
        ledger.write_decoys(DECOY_COLUMNS, decoy_rows)
        extra = {"scenario": scenario.name, "decoys": len(decoy_rows)}
    return {
        "landing_dir": str(landing_dir),
        "start": start.isoformat(),
        "days": days,
        "seed": seed,
        "scale": scale,
        "files": len(ledger.files),
        "records": {k: ledger.records_by_source[k] for k in sorted(ledger.records_by_source)},
        "incidents": len(incident_rows),
        "bad_records": len(ledger.bad),
        **extra,
    }
