"""Scenario files: what a simulated world looks like over its horizon (see ``docs/scenarios.md``).

A scenario is a YAML file with the run's horizon, scale, seed and start date, and per
incident or decoy kind one or more *entries*: an arrival rate in events per 30 days
(Poisson arrivals, so different seeds give different timetables), an optional minimum
count, and the kind's magnitude parameters (a number, or ``[lo, hi]`` for a uniform draw).

Named scenarios live in ``conf/scenarios/<name>.yaml`` of the repository; any other
argument is read as a path. The special timetable ``legacy`` is the fixed plan of six
incidents placed at fractions of the run (``simulator.incidents.plan_incidents``), which
is also what ``simulate`` does without a scenario.

This module only parses and validates; :mod:`simulator.timetable` draws the timetable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "conf" / "scenarios"

# kind -> {parameter: default}; a parameter is a number or a [lo, hi] range.
INCIDENT_KINDS: dict[str, dict[str, Any]] = {
    "defective_lot": {"defect_fraction": 0.04},
    "supplier_process_change": {
        "shift_sigma": [1.2, 2.0],  # shift of the critical parameter, in the parameter's sigmas
        "early_lots": [2, 3],  # lots with the shift only (inside spec, no downstream defects)
        "bad_lots": [2, 3],  # later lots that also carry defective pieces
        "defect_fraction": [0.03, 0.05],
    },
    "station_false_fail": {"days": [3, 5], "fail_rate": [0.08, 0.12]},
    "fixture_wear": {"days": [10, 18], "max_fail_rate": [0.08, 0.15]},
    "process_drift": {
        "days": [8, 14],
        "shift_sigma": [1.5, 2.5],
        "sigma_growth": [0.3, 0.6],
        "ft_fail": [0.05, 0.10],
    },
    "latent_defect": {"fraction": [0.08, 0.20], "void_excess_pct": [6.0, 10.0], "burn_in_fail": [0.08, 0.15]},
    "regional_field_failure": {"days": [20, 40], "fraction": [0.05, 0.10]},
}
DECOY_KINDS: dict[str, dict[str, Any]] = {
    "product_mix_change": {"days": [30, 60], "shift": [0.25, 0.4]},
    "new_line_ramp": {"ramp_days": [14, 28], "fail_factor": [1.5, 2.0]},
    "planned_supplier_change": {"level_shift_sigma": [0.3, 0.8]},
    "shipping_peak": {"days": [10, 21], "volume_factor": [1.5, 2.0]},
    "gauge_recalibration": {"shift_sigma": [0.5, 1.0]},
}
TIMETABLES = ("poisson", "legacy")
_TOP_KEYS = {
    "name",
    "description",
    "timetable",
    "horizon_days",
    "scale",
    "seed",
    "start",
    "quiet_days",
    "incidents",
    "decoys",
}
_ENTRY_KEYS = {"kind", "rate_per_30d", "min_count"}


class ScenarioError(ValueError):
    """A scenario file that does not follow the documented format."""


@dataclass(frozen=True)
class Entry:
    """One arrival process: events of ``kind`` at ``rate_per_30d``, at least ``min_count``."""

    kind: str
    rate_per_30d: float
    min_count: int
    params: dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    timetable: str = "poisson"
    horizon_days: int = 90
    scale: float = 1.0
    seed: int = 42
    start: dt.date = dt.date(2026, 3, 2)
    quiet_days: int = 14
    incidents: tuple[Entry, ...] = field(default_factory=tuple)
    decoys: tuple[Entry, ...] = field(default_factory=tuple)

    @property
    def legacy(self) -> bool:
        return self.timetable == "legacy"


def scenario_names() -> list[str]:
    """Names of the scenarios shipped in ``conf/scenarios/``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def resolve(name_or_path: str | Path) -> Path:
    """A shipped scenario's file for a bare name, otherwise the path itself."""
    text = str(name_or_path)
    if "/" not in text and "\\" not in text and not text.endswith((".yaml", ".yml")):
        path = SCENARIO_DIR / f"{text}.yaml"
        if not path.is_file():
            raise ScenarioError(f"no scenario named {text!r} (shipped: {', '.join(scenario_names())})")
        return path
    path = Path(text)
    if not path.is_file():
        raise ScenarioError(f"scenario file not found: {text}")
    return path


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario by name (``conf/scenarios/<name>.yaml``) or path."""
    path = resolve(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path.name}: not valid YAML: {exc}") from exc
    return parse_scenario(data, default_name=path.stem)


def _whole(default: Any) -> bool:
    return isinstance(default, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in default)


def _range(where: str, key: str, value: Any, default: Any) -> Any:
    def num(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ScenarioError(f"{where}: {key} must be a number or [lo, hi], got {value!r}")
        if v < 0:
            raise ScenarioError(f"{where}: {key} must be >= 0, got {value!r}")
        return v

    if isinstance(value, list):
        if len(value) != 2:
            raise ScenarioError(f"{where}: {key} range must be [lo, hi], got {value!r}")
        lo, hi = num(value[0]), num(value[1])
        if _whole(default) and not (isinstance(lo, int) and isinstance(hi, int)):
            raise ScenarioError(f"{where}: {key} must be whole numbers, got {value!r}")
        if lo > hi:
            raise ScenarioError(f"{where}: {key} range has lo > hi: {value!r}")
        return [lo, hi]
    num(value)
    if _whole(default) and not isinstance(value, int):
        raise ScenarioError(f"{where}: {key} must be a whole number, got {value!r}")
    return value


def _entries(section: Any, kinds: dict[str, dict[str, Any]], label: str) -> tuple[Entry, ...]:
    if section is None:
        return ()
    if not isinstance(section, list):
        raise ScenarioError(f"{label} must be a list of entries")
    out = []
    for i, raw in enumerate(section, 1):
        where = f"{label}[{i}]"
        if not isinstance(raw, dict) or "kind" not in raw:
            raise ScenarioError(f"{where}: an entry is a mapping with a 'kind'")
        kind = raw["kind"]
        if kind not in kinds:
            raise ScenarioError(f"{where}: unknown kind {kind!r} (known: {', '.join(sorted(kinds))})")
        unknown = set(raw) - _ENTRY_KEYS - set(kinds[kind])
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {sorted(unknown)} for {kind}")
        rate = raw.get("rate_per_30d", 0.0)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate < 0:
            raise ScenarioError(f"{where}: rate_per_30d must be a number >= 0, got {rate!r}")
        min_count = raw.get("min_count", 0)
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 0:
            raise ScenarioError(f"{where}: min_count must be a whole number >= 0, got {min_count!r}")
        params = {key: _range(where, key, raw.get(key, default), default) for key, default in kinds[kind].items()}
        if kind in ("defective_lot", "supplier_process_change"):
            frac = params["defect_fraction"]
            if max(frac if isinstance(frac, list) else [frac]) > 1:
                raise ScenarioError(f"{where}: defect_fraction is a fraction (0.02 = 2 %)")
        out.append(Entry(kind, float(rate), min_count, params))
    return tuple(out)


def parse_scenario(data: Any, default_name: str = "scenario") -> Scenario:
    """Validate the parsed YAML of a scenario (see ``docs/scenarios.md``)."""
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a YAML mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ScenarioError(f"unknown top-level key(s): {sorted(unknown)}")
    timetable = data.get("timetable", "poisson")
    if timetable not in TIMETABLES:
        raise ScenarioError(f"timetable must be one of {TIMETABLES}, got {timetable!r}")
    days = data.get("horizon_days", 90)
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ScenarioError(f"horizon_days must be a whole number >= 1, got {days!r}")
    scale = data.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0:
        raise ScenarioError(f"scale must be a number > 0, got {scale!r}")
    seed = data.get("seed", 42)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError(f"seed must be a whole number, got {seed!r}")
    start = data.get("start", dt.date(2026, 3, 2))
    if isinstance(start, str):
        try:
            start = dt.date.fromisoformat(start)
        except ValueError as exc:
            raise ScenarioError(f"start must be a YYYY-MM-DD date, got {start!r}") from exc
    if not isinstance(start, dt.date) or isinstance(start, dt.datetime):
        raise ScenarioError(f"start must be a YYYY-MM-DD date, got {start!r}")
    quiet = data.get("quiet_days", 14)
    if isinstance(quiet, bool) or not isinstance(quiet, int) or quiet < 0:
        raise ScenarioError(f"quiet_days must be a whole number >= 0, got {quiet!r}")
    incidents = _entries(data.get("incidents"), INCIDENT_KINDS, "incidents")
    decoys = _entries(data.get("decoys"), DECOY_KINDS, "decoys")
    if timetable == "legacy" and (incidents or decoys):
        raise ScenarioError("a legacy timetable takes no incidents or decoys entries")
    return Scenario(
        name=str(data.get("name", default_name)),
        description=str(data.get("description", "")).strip(),
        timetable=timetable,
        horizon_days=days,
        scale=float(scale),
        seed=seed,
        start=start,
        quiet_days=quiet,
        incidents=incidents,
        decoys=decoys,
    )
