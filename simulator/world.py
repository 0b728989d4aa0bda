"""Static master data of the simulated manufacturer.

Everything in this module is fixed: sites, lines, products, bills of materials,
suppliers, supplier test parameters, SPC characteristics, code domains and the
name lists used to fake customer data. Nothing here is random; randomness lives in
the generators, which read this master data.

The file-format contract these values must agree with is ``docs/sources.md``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------
# Random streams
# ---------------------------------------------------------------------------


def _key(k: int | str) -> int:
    """Map a stream key to a non-negative integer, stably across processes."""
    if isinstance(k, str):
        return zlib.crc32(k.encode("utf-8"))
    return 2 * k if k >= 0 else -2 * k - 1


def child_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """Independent, reproducible generator for one stream of the simulation.

    ``child_rng(42, "spc", 3, "SZX-L1")`` always yields the same numbers, whatever
    else the simulation draws, so adding a stream never perturbs another one.
    """
    return np.random.default_rng([_key(seed), *(_key(k) for k in keys)])


# ---------------------------------------------------------------------------
# Sites, lines, products
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    code: str
    city: str
    tz: str  # IANA time zone; all plant timestamps are written in this local time
    stn_dialect: dict[str, str]  # canonical stage -> STN_TYPE spoken by this plant's MES
    result_pass: str
    result_fail: str
    region_weights: tuple[float, float, float, float]  # shipments to NA, EMEA, APAC, LATAM


@dataclass(frozen=True)
class Line:
    code: str  # e.g. "SZX-L1"
    site: str
    number: int
    product: str  # fixed assignment: L1 builds AX100, L2 builds BX200


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    unit_value: float  # output value in USD (MES_SHIPMENT.UNIT_VALUE)
    parts: tuple[str, ...]  # bill of materials, one of each part per unit
    usage: tuple[str, ...]  # typical field usage profiles


STAGES = ("ICT", "FT", "REL", "SYS")  # canonical route of every unit
REGIONS = ("NA", "EMEA", "APAC", "LATAM")

_DIALECT_SZX = {"IQC": "IQC", "ICT": "ICT", "FT": "FCT", "REL": "BURNIN", "SYS": "SYSTEST"}
_DIALECT_STD = {"IQC": "IQC", "ICT": "ICT", "FT": "FT", "REL": "RUNIN", "SYS": "FINAL"}

SITES: tuple[Site, ...] = (
    Site("SZX", "Shenzhen", "Asia/Shanghai", _DIALECT_SZX, "P", "F", (0.15, 0.15, 0.65, 0.05)),
    Site("GDL", "Guadalajara", "America/Mexico_City", _DIALECT_STD, "PASS", "FAIL", (0.55, 0.05, 0.05, 0.35)),
    Site("BRQ", "Brno", "Europe/Prague", _DIALECT_STD, "PASS", "FAIL", (0.10, 0.75, 0.10, 0.05)),
)
SITE_BY_CODE = {s.code: s for s in SITES}

PRODUCTS: tuple[Product, ...] = (
    Product(
        "AX100",
        "edge router",
        420.0,
        ("PCB-AX", "SOC-A1", "PSU-12", "CON-RJ", "FLS-8G", "ENC-AX"),
        ("INDOOR", "OFFICE", "CABINET"),
    ),
    Product(
        "BX200",
        "industrial gateway",
        690.0,
        ("PCB-BX", "SOC-B2", "PSU-24", "CON-M12", "FLS-8G", "ENC-BX"),
        ("OUTDOOR", "FACTORY", "CABINET"),
    ),
)
PRODUCT_BY_CODE = {p.code: p for p in PRODUCTS}

LINES: tuple[Line, ...] = tuple(
    Line(f"{s.code}-L{n}", s.code, n, PRODUCTS[n - 1].code) for s in SITES for n in (1, 2)
)
LINE_BY_CODE = {ln.code: ln for ln in LINES}


def station_id(line: str, stage: str) -> str:
    """Corporate asset id of a test station (the MES ``STATION`` column), e.g. ``SZX-L1-FT``."""
    return f"{line}-{stage}"


# ---------------------------------------------------------------------------
# Parts, suppliers, supplier outgoing-inspection parameters
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SupplierParam:
    """One parameter a supplier reports per lot (a row of the CSDX file)."""

    name: str
    unit: str
    mean: float
    sigma: float
    lsl: float | None
    usl: float | None
    decimals: int
    critical: bool = False  # the parameter that shifts when the lot is defective


@dataclass(frozen=True)
class Part:
    code: str
    category: str  # PCB, BGA_MODULE, PSU, CONNECTOR, FLASH, ENCLOSURE
    cost: float  # USD, used for IQC scrap cost and unit material cost
    suppliers: tuple[str, ...]  # qualified suppliers (1-2)

    @property
    def has_solder_joints(self) -> bool:
        """BGA parts: the supplier grades their solder voids (VOID_GRADE)."""
        return self.category in ("BGA_MODULE", "FLASH")


PARTS: tuple[Part, ...] = (
    Part("PCB-AX", "PCB", 16.40, ("SUP01", "SUP02")),
    Part("SOC-A1", "BGA_MODULE", 71.00, ("SUP03",)),
    Part("PSU-12", "PSU", 21.50, ("SUP04", "SUP05")),
    Part("CON-RJ", "CONNECTOR", 6.80, ("SUP06",)),
    Part("FLS-8G", "FLASH", 11.90, ("SUP07", "SUP08")),
    Part("ENC-AX", "ENCLOSURE", 14.30, ("SUP09",)),
    Part("PCB-BX", "PCB", 27.60, ("SUP02", "SUP10")),
    Part("SOC-B2", "BGA_MODULE", 118.00, ("SUP03", "SUP11")),
    Part("PSU-24", "PSU", 39.40, ("SUP05",)),
    Part("CON-M12", "CONNECTOR", 18.20, ("SUP06", "SUP12")),
    Part("ENC-BX", "ENCLOSURE", 46.50, ("SUP09",)),
)
PART_BY_CODE = {p.code: p for p in PARTS}
SUPPLIERS: tuple[str, ...] = tuple(f"SUP{i:02d}" for i in range(1, 13))


def material_cost(product: str) -> float:
    """Material cost of one unit (USD): the scrap cost written to MES LOSS_COST."""
    return round(sum(PART_BY_CODE[p].cost for p in PRODUCT_BY_CODE[product].parts), 2)


SUPPLIER_PARAMS: dict[str, tuple[SupplierParam, ...]] = {
    "PCB": (
        SupplierParam("THICKNESS", "mm", 1.600, 0.030, 1.480, 1.720, 3),
        SupplierParam("WARPAGE", "%", 0.35, 0.08, None, 0.75, 2, critical=True),
        SupplierParam("IMPEDANCE", "ohm", 50.0, 1.2, 45.0, 55.0, 1),
        SupplierParam("CU_THICKNESS", "um", 35.0, 1.2, 30.0, None, 1),
    ),
    "BGA_MODULE": (
        SupplierParam("BALL_HEIGHT", "um", 250.0, 7.0, 220.0, 280.0, 1),
        SupplierParam("COPLANARITY", "um", 45.0, 10.0, None, 100.0, 1, critical=True),
        SupplierParam("BALL_SHEAR", "gf", 620.0, 25.0, 500.0, None, 0),
        SupplierParam("XRAY_BRIDGING", "ppm", 8.0, 4.0, None, 50.0, 0),
    ),
    "FLASH": (
        SupplierParam("BALL_HEIGHT", "um", 300.0, 8.0, 260.0, 340.0, 1),
        SupplierParam("COPLANARITY", "um", 35.0, 8.0, None, 80.0, 1, critical=True),
        SupplierParam("BAD_BLOCKS", "count", 12.0, 5.0, None, 40.0, 0),
        SupplierParam("READ_SPEED", "MB/s", 96.0, 3.0, 80.0, None, 1),
    ),
    "PSU": (
        SupplierParam("VOUT", "V", 1.000, 0.005, 0.970, 1.030, 3),  # scaled by the nominal voltage
        SupplierParam("RIPPLE", "mV", 60.0, 12.0, None, 120.0, 1, critical=True),
        SupplierParam("EFFICIENCY", "%", 90.0, 1.0, 85.0, None, 1),
        SupplierParam("HIPOT_LEAK", "mA", 1.8, 0.5, None, 5.0, 2),
    ),
    "CONNECTOR": (
        SupplierParam("INSERTION_FORCE", "N", 32.0, 3.0, 20.0, 45.0, 1),
        SupplierParam("CONTACT_RES", "mOhm", 9.0, 1.8, None, 20.0, 2, critical=True),
        SupplierParam("PLATING_AU", "um", 1.00, 0.05, 0.76, None, 3),
        SupplierParam("DURABILITY", "cycles", 1100.0, 60.0, 750.0, None, 0),
    ),
    "ENCLOSURE": (
        SupplierParam("WALL_THK", "mm", 2.50, 0.04, 2.30, 2.70, 3),
        SupplierParam("FLATNESS", "mm", 0.12, 0.04, None, 0.30, 3, critical=True),
        SupplierParam("LEAK_RATE", "Pa/s", 0.30, 0.10, None, 1.00, 3),
        SupplierParam("COLOR_DE", "dE", 0.60, 0.20, None, 1.50, 2),
    ),
}
PSU_NOMINAL_V = {"PSU-12": 12.0, "PSU-24": 24.0}

# VOID_GRADE: the supplier's grade code for the solder-void area of a BGA part.
# Bands of void area in percent: V1 < 5, 5 <= V2 < 10, 10 <= V3 < 15, V4 >= 15.
VOID_GRADE_BANDS = ((5.0, "V1"), (10.0, "V2"), (15.0, "V3"), (float("inf"), "V4"))
VOID_GRADE_USL = "V3"


def void_grade(void_pct: float) -> str:
    for upper, code in VOID_GRADE_BANDS:
        if void_pct < upper:
            return code
    return "V4"  # pragma: no cover


# ---------------------------------------------------------------------------
# SPC characteristics (values in canonical units; GDL converts at write time)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Characteristic:
    name: str
    unit: str  # canonical unit
    target: float | None
    lsl: float | None
    usl: float | None
    sigma: float  # baseline within-subgroup sigma
    n: int  # subgroup size
    decimals: int


CHARACTERISTICS: tuple[Characteristic, ...] = (
    Characteristic("PASTE_HEIGHT", "um", 130.0, 100.0, 160.0, 6.3, 5, 1),
    Characteristic("SOLDER_VOID", "frac", None, None, 0.25, 0.038, 1, 4),
    Characteristic("REFLOW_PEAK_TEMP", "C", 245.0, 235.0, 255.0, 2.0, 5, 1),
    Characteristic("SCREW_TORQUE", "N.m", 0.600, 0.450, 0.750, 0.030, 5, 3),
)
CHAR_BY_NAME = {c.name: c for c in CHARACTERISTICS}
SOLDER_VOID_MEAN = 0.070  # baseline mean void fraction (one-sided characteristic)
SPC_SUBGROUPS_PER_DAY = 8


def spc_unit(site: str, char: Characteristic) -> tuple[str, float, float, int]:
    """(unit text, factor, offset, decimals) a plant uses for a characteristic.

    A canonical value v is written as ``v * factor + offset`` in the plant's unit.
    GDL writes paste height in mil, temperatures in Fahrenheit and torque in lbf.in.
    """
    if site == "GDL":
        if char.name == "PASTE_HEIGHT":
            return "mil", 1 / 25.4, 0.0, 3
        if char.name == "REFLOW_PEAK_TEMP":
            return "F", 9 / 5, 32.0, 1
        if char.name == "SCREW_TORQUE":
            return "lbf.in", 8.850746, 0.0, 2
    return char.unit, 1.0, 0.0, char.decimals


# ---------------------------------------------------------------------------
# MES codes
# ---------------------------------------------------------------------------

BASE_FAIL_P = {"ICT": 0.015, "FT": 0.020, "REL": 0.008, "SYS": 0.005}
HARD_DEFECT_DETECT_P = {"ICT": 0.55, "FT": 0.70, "REL": 0.35, "SYS": 0.30}

FAIL_CODES = {
    "IQC": ("IQC-DIM", "IQC-ELEC", "IQC-VIS"),
    "ICT": ("ICT-OPEN", "ICT-SHORT", "ICT-MISSING", "ICT-VALUE"),
    "FT": ("FT-PWR", "FT-BOOT", "FT-IO", "FT-MEM"),
    "REL": ("REL-THERM", "REL-HANG", "REL-PWR"),
    "SYS": ("SYS-CFG", "SYS-LED", "SYS-MECH", "SYS-IO"),
}
# Fail code shown when a defective component of a category is caught at a stage.
DEFECT_FAIL_CODE = {
    "PCB": {"ICT": "ICT-SHORT", "FT": "FT-PWR", "REL": "REL-PWR", "SYS": "SYS-IO"},
    "BGA_MODULE": {"ICT": "ICT-OPEN", "FT": "FT-BOOT", "REL": "REL-HANG", "SYS": "SYS-IO"},
    "FLASH": {"ICT": "ICT-OPEN", "FT": "FT-MEM", "REL": "REL-HANG", "SYS": "SYS-CFG"},
    "PSU": {"ICT": "ICT-VALUE", "FT": "FT-PWR", "REL": "REL-PWR", "SYS": "SYS-LED"},
    "CONNECTOR": {"ICT": "ICT-OPEN", "FT": "FT-IO", "REL": "REL-HANG", "SYS": "SYS-IO"},
    "ENCLOSURE": {"ICT": "ICT-MISSING", "FT": "FT-IO", "REL": "REL-THERM", "SYS": "SYS-MECH"},
}
UNKNOWN_STN_TYPE = "XRAYX"  # injected bad input: a station type no dialect knows

# ---------------------------------------------------------------------------
# Field returns
# ---------------------------------------------------------------------------

# symptom -> failure mode code (the whole domain; anything else is an unknown code)
FAILURE_MODES = {
    "NO_POWER": "FM-PWR",
    "NO_BOOT": "FM-FW",
    "OVERHEAT": "FM-THM",
    "PORT_FAIL": "FM-IO",
    "INTERMITTENT": "FM-SJ",
    "DOA": "FM-DOA",
}
UNKNOWN_MODE_CODE = "FM-ZZ9"  # injected bad input
BASE_SYMPTOM_WEIGHTS = (
    ("NO_POWER", 0.30),
    ("NO_BOOT", 0.25),
    ("OVERHEAT", 0.15),
    ("PORT_FAIL", 0.20),
    ("INTERMITTENT", 0.10),
)
LATENT_SYMPTOM_WEIGHTS = (("INTERMITTENT", 0.70), ("NO_BOOT", 0.15), ("OVERHEAT", 0.15))
# environmental (regional) failure mode: connector corrosion in a damp climate
REGIONAL_SYMPTOM_WEIGHTS = (("PORT_FAIL", 0.65), ("INTERMITTENT", 0.25), ("NO_POWER", 0.10))
REGIONAL_HUMIDITY_EXCESS = 15.0  # percentage points above the region's mean humidity

# Life model (days since shipment): competing Weibull failure modes.
WEAROUT_SHAPE, WEAROUT_SCALE = 2.5, 3000.0
INFANT_SHAPE = 0.6
INFANT_SCALE = 132_000.0  # about 1.25 % of units fail within 90 days
LATENT_SHAPE, LATENT_SCALE = 1.5, 45.0  # units carrying a latent defect
ESCAPE_SHAPE, ESCAPE_SCALE = 1.5, 90.0  # defective component that escaped factory test
DOA_DAYS = 2.0

REGION_PROFILE = {  # region -> (ambient temp mean C, humidity mean %)
    "NA": (22.0, 45.0),
    "EMEA": (19.0, 55.0),
    "APAC": (29.0, 72.0),
    "LATAM": (27.0, 65.0),
}

FIRST_NAMES = {
    "NA": ("James", "Mary", "Robert", "Linda", "Michael", "Sarah", "David", "Emily", "Daniel", "Karen"),
    "EMEA": ("Jan", "Petra", "Lukáš", "Tereza", "Jürgen", "Anna", "Pierre", "Sofia", "Marco", "Eva"),
    "APAC": ("Wei", "Li", "Hiroshi", "Yuki", "Min-jun", "Ji-woo", "Arjun", "Priya", "Jun", "Mei"),
    "LATAM": ("José", "María", "Carlos", "Ana", "Luis", "Lucía", "Jorge", "Camila", "Diego", "Valentina"),
}
LAST_NAMES = {
    "NA": ("Smith", "Johnson", "Brown", "Miller", "Davis", "Wilson", "Taylor", "Clark", "Lewis", "Walker"),
    "EMEA": (
        "Novák",
        "Dvořák",
        "Svoboda",
        "Müller",
        "Schmidt",
        "Dubois",
        "Rossi",
        "Kowalski",
        "Horák",
        "Berg",
    ),
    "APAC": ("Wang", "Zhang", "Chen", "Tanaka", "Sato", "Kim", "Park", "Sharma", "Liu", "Nguyen"),
    "LATAM": (
        "García",
        "Hernández",
        "López",
        "Martínez",
        "González",
        "Pérez",
        "Rodríguez",
        "Silva",
        "Torres",
        "Ramírez",
    ),
}
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example")
PHONE_PREFIX = {"NA": "+1 555 01", "EMEA": "+420 6", "APAC": "+86 138", "LATAM": "+52 33"}
