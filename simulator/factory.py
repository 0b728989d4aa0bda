"""What happens inside the plants on one day: building and testing units, IQC,
SPC measurements and the lab (LIMS) samples.

The functions here produce *rows* (lists of strings or dicts); ``generate.py`` wraps
them into file payloads. All randomness comes from generators handed in by the caller,
one stream per (purpose, day, site or line), so results do not depend on call order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .incidents import DRIFT_CHAR, IncidentPlan
from .materials import Inventory, Lot
from .world import (
    BASE_FAIL_P,
    CHARACTERISTICS,
    DEFECT_FAIL_CODE,
    FAIL_CODES,
    HARD_DEFECT_DETECT_P,
    LINES,
    PART_BY_CODE,
    PRODUCT_BY_CODE,
    SITE_BY_CODE,
    SOLDER_VOID_MEAN,
    SPC_SUBGROUPS_PER_DAY,
    STAGES,
    child_rng,
    material_cost,
    spc_unit,
    station_id,
)

SHIFT_START = 6 * 3600
SHIFT_END = 22 * 3600 - 1  # last second of the production day written to MES/SPC
MAX_ATTEMPTS = 3
FALSE_FAIL_CODE = {"ICT": "ICT-OPEN", "FT": "FT-IO"}  # a worn probe or faulty fixture loses contact
IQC_SAMPLES = 5

TESTLOG_HEADER = [
    "LOG_ID",
    "SERIAL_NO",
    "WO_NO",
    "PLANT",
    "LINE",
    "STATION",
    "STN_TYPE",
    "PART_NO",
    "LOT_NO",
    "ATTEMPT",
    "RESULT",
    "FAIL_CODE",
    "TEST_TIME",
    "DISPOSITION",
    "LOSS_COST",
]
GENEALOGY_HEADER = [
    "SERIAL_NO",
    "PART_NO",
    "BUILD_LOT",
    "PLANT",
    "LINE",
    "BUILD_TIME",
    "COMP_PART",
    "SUPPLIER",
    "SUPPLIER_LOT",
]


# ---------------------------------------------------------------------------
# small formatting helpers
# ---------------------------------------------------------------------------


def hms(secs: int) -> str:
    return f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"


def fmt_trim(x: float, decimals: int) -> str:
    """Fixed decimals, then trailing zeros removed: 100.0 -> '100', 0.250 -> '0.25'."""
    s = f"{x:.{decimals}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


# ---------------------------------------------------------------------------
# units and their route through the test stations
# ---------------------------------------------------------------------------


@dataclass
class Unit:
    serial: str
    product: str
    line: str
    site: str
    build_day: int
    build_lot: str
    start: int  # build start, seconds after local midnight
    latent: bool = False  # latent reliability defect (field_return incident)
    defect_part: str | None = None  # category of a defective component, until reworked
    escaped: bool = False  # shipped while still carrying a defective component
    protected: bool = False  # part of an incident signal: bad input must not touch it
    components: list[Lot] = field(default_factory=list)


@dataclass
class TestRow:
    """One test attempt, before LOG_ID assignment (rows are sorted by time first)."""

    secs: int
    serial: str
    order: int  # stage index (-1 for IQC)
    attempt: int
    cells: list[str]  # TESTLOG_HEADER without LOG_ID
    protected: bool


def _pick_disposition(rng: np.random.Generator, cause: str, attempt: int) -> str:
    if attempt >= MAX_ATTEMPTS:
        return "SCRAP"
    u = rng.random()
    if cause == "false":
        return "RETEST"
    if cause == "base":
        return "RETEST" if u < 0.65 else ("REWORK" if u < 0.92 else "SCRAP")
    if attempt == 1:  # real defect found ("hard" component or "process")
        return "RETEST" if u < 0.25 else ("REWORK" if u < 0.88 else "SCRAP")
    return "REWORK" if u < 0.75 else "SCRAP"


def run_route(
    unit: Unit, rng: np.random.Generator, plan: IncidentPlan, day: int, date_s: str, wo: str
) -> tuple[list[TestRow], bool]:
    """Test one unit at ICT, FT, REL and SYS on its build day.

    Returns the test rows and whether the unit passed SYS (False: scrapped).
    Fail causes on a first attempt, checked in order: a defective component ("hard",
    found with a stage-specific probability), the line's process drift (FT only), a
    faulty station's false fail, and the station's baseline fail rate. After a fail
    the unit is retested, reworked (a real defect is repaired) or scrapped.
    """
    site = SITE_BY_CODE[unit.site]
    rows: list[TestRow] = []
    t = unit.start
    drift, _, _, drift_ft = plan.drift_state(unit.line, day)
    base_factor = plan.base_fail_factor(unit.line)
    burn_in = plan.latent_burn_in_fail(unit.build_lot) if unit.latent else 0.0
    for order, stage in enumerate(STAGES):
        t += int(
            rng.integers(
                *{"ICT": (300, 900), "FT": (900, 2700), "REL": (14400, 18000), "SYS": (900, 2700)}[stage]
            )
        )
        station = station_id(unit.line, stage)
        false_rate = plan.false_fail_rate(station, day) if stage in ("ICT", "FT") else 0.0

        def attempt_row(tt, attempt, result, code, disposition, cost, order=order, station=station, stage=stage):
            """One MES_TESTLOG row of this unit at this station (LOT_NO empty: not an IQC sample)."""
            values = [unit.serial, wo, unit.site, unit.line, station, site.stn_dialect[stage], unit.product, "",
                      str(attempt), result, code, f"{date_s} {hms(tt)}", disposition, cost]
            return TestRow(tt, unit.serial, order, attempt, values, unit.protected)

        attempt, cause, disp = 1, None, ""
        while True:
            # --- does this attempt fail, and why?
            new_cause = None
            if attempt == 1:
                if unit.defect_part and rng.random() < HARD_DEFECT_DETECT_P[stage]:
                    new_cause = "hard"
                elif stage == "REL" and burn_in and unit.latent and rng.random() < burn_in:
                    new_cause = "latent"
                elif stage == "FT" and drift > 0 and rng.random() < drift_ft * drift:
                    new_cause = "process"
                elif false_rate and rng.random() < false_rate:
                    new_cause = "false"
                elif rng.random() < BASE_FAIL_P[stage] * base_factor:
                    new_cause = "base"
            elif cause in ("hard", "process", "latent"):
                if disp == "RETEST" and rng.random() < 0.85:
                    new_cause = cause
                elif rng.random() < 0.05:
                    new_cause = "base"
            elif rng.random() < (0.03 if cause == "false" else 0.12):
                new_cause = "base"
            tt = min(t, SHIFT_END)
            if new_cause is None:
                rows.append(attempt_row(tt, attempt, site.result_pass, "", "", ""))
                break
            cause = new_cause
            disp = _pick_disposition(rng, cause, attempt)
            if cause == "hard":
                code = DEFECT_FAIL_CODE[unit.defect_part][stage]
            elif cause == "latent":
                code = DEFECT_FAIL_CODE["BGA_MODULE"][stage]
            elif cause == "process":
                code = ("FT-IO", "FT-BOOT")[int(rng.integers(0, 2))]
            elif cause == "false":
                code = FALSE_FAIL_CODE[stage]
            else:
                codes = FAIL_CODES[stage]
                code = codes[int(rng.integers(0, len(codes)))]
            cost = ""
            if disp == "REWORK":
                cost = f"{rng.uniform(15, 60):.2f}"
                if cause == "hard":
                    unit.defect_part = None  # the defective component is replaced
                elif cause == "latent":
                    unit.latent = False  # the cracked joints are reworked
            elif disp == "SCRAP":
                cost = f"{material_cost(unit.product):.2f}"
            rows.append(attempt_row(tt, attempt, site.result_fail, code, disp, cost))
            if disp == "SCRAP":
                return rows, False
            t += int(rng.integers(1800, 5400) if disp == "REWORK" else rng.integers(300, 1200))
            attempt += 1
    if unit.defect_part:
        unit.escaped = True
    return rows, True


def build_units(
    seed: int,
    day: int,
    site: str,
    date_s: str,
    ymd: str,
    n_per_line: dict[str, int],
    serial_next: dict[tuple[str, str], int],
    inventory: Inventory,
    plan: IncidentPlan,
    lines=LINES,
) -> list[Unit]:
    """Create the day's units of one site, in build order, with their component lots.

    Lines missing from ``n_per_line`` (not yet running) build nothing."""
    units: list[Unit] = []
    for line in (ln for ln in lines if ln.site == site and ln.code in n_per_line):
        rng = child_rng(seed, "build", day, line.code)
        n = n_per_line[line.code]
        starts = np.sort(rng.integers(SHIFT_START, SHIFT_START + int(7.5 * 3600), n))
        build_lot = f"{line.code}-{line.product}-{ymd}"
        latent_frac = plan.latent_fraction(build_lot)
        flags = rng.random(n) < latent_frac if latent_frac else np.zeros(n, dtype=bool)
        if latent_frac and not flags.any():
            flags[int(rng.integers(0, n))] = True
        for i in range(n):
            units.append(
                Unit("", line.product, line.code, site, day, build_lot, int(starts[i]), latent=bool(flags[i]))
            )
    units.sort(key=lambda u: (u.start, u.line))
    rng = child_rng(seed, "consume", day, site)
    for u in units:
        key = (site, u.product)
        u.serial = f"{site}-{u.product}-{serial_next[key]:07d}"
        serial_next[key] += 1
        for part in PRODUCT_BY_CODE[u.product].parts:
            lot = inventory.take(site, part)
            assert lot is not None, f"no stock of {part} at {site}"
            u.components.append(lot)
            frac = plan.lot_defect_fraction(lot.lot_id)
            if frac:
                plan.note_lot_use(lot.lot_id, day)
                u.protected = True
                if rng.random() < frac and u.defect_part is None:
                    u.defect_part = PART_BY_CODE[part].category
        if u.latent or plan.line_under_incident(u.line, day):
            u.protected = True
    return units


def iqc_rows(
    seed: int, day: int, site: str, date_s: str, lots: list[Lot], plan: IncidentPlan
) -> list[TestRow]:
    """Incoming inspection of the lots arriving at ``site`` today: 5 samples per lot."""
    rng = child_rng(seed, "iqc", day, site)
    s = SITE_BY_CODE[site]
    rows = []
    for lot in lots:
        frac = plan.lot_defect_fraction(lot.lot_id)
        p_fail = 0.01 + 3.0 * frac
        t = int(rng.integers(7 * 3600, 11 * 3600))
        for k in range(1, IQC_SAMPLES + 1):
            t += int(rng.integers(60, 600))
            serial = f"IQC-{lot.lot_id}-{k}"
            fail = rng.random() < p_fail
            code = FAIL_CODES["IQC"][int(rng.integers(0, 3))] if fail else ""
            rows.append(
                TestRow(
                    t,
                    serial,
                    -1,
                    1,
                    [
                        serial,
                        "",
                        site,
                        "",
                        f"{site}-IQC",
                        s.stn_dialect["IQC"],
                        lot.part,
                        lot.lot_id,
                        "1",
                        s.result_fail if fail else s.result_pass,
                        code,
                        f"{date_s} {hms(t)}",
                        "SCRAP" if fail else "",
                        f"{PART_BY_CODE[lot.part].cost:.2f}" if fail else "",
                    ],
                    bool(frac),
                )
            )
    return rows


# ---------------------------------------------------------------------------
# SPC
# ---------------------------------------------------------------------------


def line_process(seed: int, lines=LINES) -> dict[str, dict[str, tuple[float, float]]]:
    """Per line and characteristic: (baseline mean, within sigma), canonical units.

    Each line sits a little off target (|offset| <= 0.3 sigma) with a sigma 0.9-1.1 times
    the nominal one, which puts the baseline Cpk between about 1.3 and 1.8.
    """
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for line in lines:
        rng = child_rng(seed, "process", line.code)
        out[line.code] = {}
        for ch in CHARACTERISTICS:
            centre = ch.target if ch.target is not None else SOLDER_VOID_MEAN
            out[line.code][ch.name] = (
                centre + rng.uniform(-0.3, 0.3) * ch.sigma,
                ch.sigma * rng.uniform(0.9, 1.1),
            )
    return out


def _spec(v: float | None, factor: float, offset: float, decimals: int, unit: str) -> str | None:
    return None if v is None else f"{fmt_trim(v * factor + offset, decimals)} {unit}"


def spc_records(
    seed: int, day: int, site: str, date_s: str, ymd: str, process: dict, plan: IncidentPlan, lines=LINES
) -> tuple[list[dict], list[bool]]:
    """The day's SPC measurements of a site's running lines: 8 subgroups per characteristic."""
    recs: list[tuple[tuple, dict, bool]] = []
    for line in (ln for ln in lines if ln.site == site and plan.line_active(ln.code, day)):
        rng = child_rng(seed, "spc", day, line.code)
        drift, shift_sigma, sigma_growth, _ = plan.drift_state(line.code, day)
        protected = plan.line_under_incident(line.code, day)
        for ci, ch in enumerate(CHARACTERISTICS):
            mean, sigma = process[line.code][ch.name]
            if drift and ch.name == DRIFT_CHAR:
                mean += shift_sigma * sigma * drift
                sigma *= 1 + sigma_growth * drift
            gauge = plan.gauge_offset(line.code, ch.name, day)
            unit, factor, offset, dec = spc_unit(site, ch)
            lsl, usl, tgt = (_spec(v, factor, offset, dec, unit) for v in (ch.lsl, ch.usl, ch.target))
            for k in range(1, SPC_SUBGROUPS_PER_DAY + 1):
                secs = SHIFT_START + (k - 1) * 7200 + int(rng.integers(300, 6000))
                sg_mean = mean + rng.normal(0, 0.25 * ch.sigma)
                vals = rng.normal(sg_mean, sigma, ch.n)
                if gauge:  # a recalibrated gauge reads systematically higher or lower
                    vals = vals + gauge * ch.sigma
                if ch.name == "SOLDER_VOID":
                    vals = np.clip(vals, 0.001, None)
                sg = f"{line.code}-{ch.name}-{ymd}-{k:02d}"
                ts = f"{date_s}T{hms(secs)}"
                for n, v in enumerate(vals, 1):
                    rec = {
                        "id": f"{sg}-{n}",
                        "plant": site,
                        "line": line.code,
                        "char": ch.name,
                        "sg": sg,
                        "n": n,
                        "val": f"{v * factor + offset:.{dec}f} {unit}",
                        "lsl": lsl,
                        "usl": usl,
                        "tgt": tgt,
                        "ts": ts,
                    }
                    recs.append(((secs, line.code, ci, n), rec, protected))
    recs.sort(key=lambda r: r[0])
    return [r[1] for r in recs], [r[2] for r in recs]


# ---------------------------------------------------------------------------
# LIMS
# ---------------------------------------------------------------------------

# item -> (method, unit, lsl, usl); limits as written in the export ("" when one-sided)
LIMS_ITEMS = {
    "VOID_RATE": ("XRAY", "%", "", "25.0"),
    "IONIC_CONTAM": ("ROSE", "ug/cm2", "", "1.56"),
    "SHEAR_STRENGTH": ("SHEAR", "N", "30.0", ""),
}


def _lims_test(item: str, value: float, tested: str) -> list[tuple[str, str]]:
    method, unit, lsl, usl = LIMS_ITEMS[item]
    value = float(f"{value:.2f}")  # judge the value as written
    ok = (not lsl or value >= float(lsl)) and (not usl or value <= float(usl))
    return [
        ("item", item),
        ("method", method),
        ("result", f"{value:.2f}"),
        ("unit", unit),
        ("lsl", lsl),
        ("usl", usl),
        ("status", "PASS" if ok else "FAIL"),
        ("tested", tested),
    ]


@dataclass
class LimsSample:
    site: str
    kind: str  # BUILD_LOT or SUPPLIER_LOT
    ref: str
    first: int  # seconds of the first test, for ordering
    tests: list[list[tuple[str, str]]]
    protected: bool


def lims_samples(
    seed: int,
    day: int,
    date_s: str,
    ymd: str,
    process: dict,
    arrivals: list[Lot],
    lot_void_pct,
    plan: IncidentPlan,
    lines=LINES,
) -> list[LimsSample]:
    """Lab samples of the day: every build lot (void rate, ionic contamination, shear),
    a second sample of some lots, and solder-void/cleanliness checks of arriving lots."""
    rng = child_rng(seed, "lims", day)
    samples: list[LimsSample] = []
    for line in (ln for ln in lines if plan.line_active(ln.code, day)):
        build_lot = f"{line.code}-{line.product}-{ymd}"
        void_mean = process[line.code]["SOLDER_VOID"][0] * 100
        latent = plan.latent_fraction(build_lot) > 0
        if latent:
            void_mean += plan.latent_void_excess(build_lot)  # more voiding in the lot with cracked joints
        protected = latent or plan.line_under_incident(line.code, day)
        n_samples = 2 if rng.random() < 0.3 else 1
        for s in range(n_samples):
            t = int(rng.integers(14 * 3600, 19 * 3600))
            first = t
            tests = []
            items = (
                ("VOID_RATE", "IONIC_CONTAM", "SHEAR_STRENGTH") if s == 0 else ("VOID_RATE", "SHEAR_STRENGTH")
            )
            for item in items:
                t += int(rng.integers(120, 1200))
                if item == "VOID_RATE":
                    v = max(0.2, rng.normal(void_mean, 1.2))
                elif item == "IONIC_CONTAM":
                    v = max(0.05, rng.normal(0.55, 0.15))
                else:
                    v = rng.normal(48.0, 4.0)
                tests.append(_lims_test(item, v, f"{date_s} {hms(t)}"))
            samples.append(LimsSample(line.site, "BUILD_LOT", build_lot, first, tests, protected))
    for lot in arrivals:
        cat = PART_BY_CODE[lot.part].category
        if cat not in ("BGA_MODULE", "FLASH", "PCB"):
            continue
        t = int(rng.integers(9 * 3600, 16 * 3600))
        first = t
        tests = []
        items = ("VOID_RATE", "SHEAR_STRENGTH") if cat != "PCB" else ("IONIC_CONTAM",)
        for item in items:
            t += int(rng.integers(120, 1200))
            if item == "VOID_RATE":
                v = max(0.2, lot_void_pct(lot) + rng.normal(0, 0.8))
            elif item == "IONIC_CONTAM":
                v = max(0.05, rng.normal(0.45, 0.12))
            else:
                v = rng.normal(52.0, 4.0)
            tests.append(_lims_test(item, v, f"{date_s} {hms(t)}"))
        samples.append(
            LimsSample(
                lot.site, "SUPPLIER_LOT", lot.lot_id, first, tests, plan.lot_defect_fraction(lot.lot_id) > 0
            )
        )
    site_order = {s: i for i, s in enumerate(SITE_BY_CODE)}
    samples.sort(key=lambda s: (site_order[s.site], s.first, s.ref))
    return samples
