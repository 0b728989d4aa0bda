"""Scenario-driven simulator runs (docs/scenarios.md): parsing, Poisson timetables, and the
signal every incident and decoy kind leaves in the generated files.

Small worlds only: the shipped ``quick`` scenario (120 days at 40 % volume, every kind at
least once) and a few hand-written scenarios; the ``standard`` timetable is checked by
planning it, without writing its files.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import statistics
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

from simulator import simulate
from simulator.scenario import ScenarioError, load_scenario, parse_scenario
from simulator.timetable import arrival_days, plan_scenario

FAIL = {"F", "FAIL"}
FIRST_STAGE = {"ICT": "ICT", "FT": "FT", "FCT": "FT"}
INCIDENT_KINDS = {
    "defective_lot",
    "supplier_process_change",
    "station_false_fail",
    "fixture_wear",
    "process_drift",
    "latent_defect",
    "regional_field_failure",
}
DECOY_KINDS = {
    "product_mix_change",
    "new_line_ramp",
    "planned_supplier_change",
    "shipping_peak",
    "gauge_recalibration",
}


def digest_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_gt(root: Path, name: str) -> list[dict[str, str]]:
    with open(root / "_ground_truth" / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_csvs(root: Path, pattern: str, delimiter: str = ",") -> list[dict[str, str]]:
    out = []
    for path in sorted(root.glob(pattern)):
        lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
        header = lines[0].split(delimiter)
        for ln in lines[1:]:
            cells = ln.split(delimiter)
            if len(cells) == len(header):  # injected bad records are skipped
                out.append(dict(zip(header, cells, strict=True)))
    return out


def claims(root: Path) -> list[dict]:
    out = []
    for path in sorted((root / "field_returns").rglob("*.json")):
        out += json.loads(path.read_bytes())["claims"]
    return out


def spc(root: Path, line: str, char: str) -> list[tuple[str, float, dict]]:
    out = []
    for path in sorted((root / "spc").rglob(f"spc_{line[:3].lower()}_*.jsonl")):
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(text)
                v = float(rec["val"].split(" ")[0])
            except (ValueError, KeyError):
                continue
            if rec["line"] == line and rec["char"] == char:
                out.append((rec["ts"][:10], v, rec))
    return out


def rate(rows: list[dict]) -> float:
    return sum(r["RESULT"] in FAIL for r in rows) / max(1, len(rows))


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("landing_quick")
    simulate(root, scenario="quick")
    return root


@pytest.fixture(scope="module")
def testlog(quick) -> list[dict[str, str]]:
    return read_csvs(quick, "mes/*/MES_TESTLOG_*.csv")


@pytest.fixture(scope="module")
def genealogy(quick) -> list[dict[str, str]]:
    return read_csvs(quick, "mes/*/MES_GENEALOGY_*.csv")


# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------


def test_shipped_scenarios_parse():
    std, quick_, legacy = (load_scenario(n) for n in ("standard", "quick", "legacy"))
    assert (std.horizon_days, std.scale, std.timetable) == (365, 1.0, "poisson")
    assert quick_.horizon_days < 200 and quick_.scale < 1
    assert legacy.legacy and not legacy.incidents
    assert {e.kind for e in std.incidents} == INCIDENT_KINDS
    assert {e.kind for e in std.decoys} == DECOY_KINDS
    assert {e.kind for e in quick_.incidents} == INCIDENT_KINDS
    assert load_scenario(Path("conf/scenarios/quick.yaml")) == quick_


@pytest.mark.parametrize(
    "data, message",
    [
        ({"incidents": [{"kind": "alien_invasion"}]}, "unknown kind"),
        ({"incidents": [{"kind": "defective_lot", "rate_per_30d": -1}]}, "rate_per_30d"),
        ({"incidents": [{"kind": "process_drift", "days": [9, 3]}]}, "lo > hi"),
        ({"incidents": [{"kind": "process_drift", "days": [2.5, 3]}]}, "whole numbers"),
        ({"incidents": [{"kind": "defective_lot", "defect_fraction": 2}]}, "fraction"),
        ({"incidents": [{"kind": "defective_lot", "colour": "red"}]}, "unknown key"),
        ({"horizon_days": 0}, "horizon_days"),
        ({"start": "2026-13-01"}, "start"),
        ({"timetable": "legacy", "decoys": [{"kind": "shipping_peak"}]}, "legacy"),
        ({"horizon": 30}, "unknown top-level"),
    ],
)
def test_invalid_scenarios_are_refused(data, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


def test_unknown_scenario_name():
    with pytest.raises(ScenarioError, match="no scenario named"):
        load_scenario("no-such-scenario")


# ---------------------------------------------------------------------------
# Poisson timetables
# ---------------------------------------------------------------------------


def test_arrival_counts_follow_the_rate():
    entry = parse_scenario({"incidents": [{"kind": "station_false_fail", "rate_per_30d": 1.5}]}).incidents[0]
    days, quiet = 365, 20
    window = days - 1 - 5 - quiet + 1  # station_false_fail needs 5 days after its start
    counts = [len(arrival_days(entry, 0, seed, days, quiet)[1]) for seed in range(300)]
    expected = 1.5 * window / 30
    assert abs(statistics.mean(counts) - expected) < 0.05 * expected
    assert abs(statistics.variance(counts) - expected) < 0.25 * expected  # Poisson: variance = mean
    starts = [d for seed in range(50) for d in arrival_days(entry, 0, seed, days, quiet)[1]]
    assert min(starts) >= quiet and max(starts) <= days - 1 - 5


def _timetable(seed: int) -> list[tuple]:
    plan, _ = plan_scenario(load_scenario("standard"), seed, 365, 1.0, dt.date(2026, 3, 2))
    incs = [(i.kind, i.entity_id, i.start_day, i.magnitude) for i in plan.incidents()]
    return incs + [(x.kind, x.entity_id, x.start_day) for x in plan.decoys]


def test_timetable_is_seeded():
    assert _timetable(5) == _timetable(5)
    assert _timetable(5) != _timetable(6)


@pytest.mark.parametrize("seed", [1, 2, 3, 42])
def test_standard_holds_enough_incidents_and_decoys(seed):
    plan, _ = plan_scenario(load_scenario("standard"), seed, 365, 1.0, dt.date(2026, 3, 2))
    per_scope = defaultdict(int)
    for inc in plan.incidents():
        per_scope[inc.scope] += 1
    assert min(per_scope[s] for s in ("incoming_material", "factory_output", "field_return")) >= 10
    two_pct = [i for i in plan.incidents() if i.kind == "defective_lot" and i.magnitude == 0.02]
    assert len(two_pct) >= 3
    assert len(plan.decoys) >= 5
    assert {i.kind for i in plan.incidents()} == INCIDENT_KINDS


def test_scenario_run_is_byte_identical_and_legacy_is_unchanged(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    simulate(a, scenario="quick", days=30)
    simulate(b, scenario="quick", days=30)
    assert digest_tree(a) == digest_tree(b)
    assert (a / "_ground_truth" / "decoys.csv").is_file()
    # without a scenario (or with the legacy one) nothing changes and no decoys ledger appears
    c, d = tmp_path / "c", tmp_path / "d"
    simulate(c, days=5, seed=42, scale=0.1)
    simulate(d, scenario="legacy", days=5, scale=0.1)
    assert digest_tree(c) == digest_tree(d)
    assert not (c / "_ground_truth" / "decoys.csv").exists()


def test_cli_flags_override_the_scenario(tmp_path, capsys):
    import argparse

    from simulator.cli import add_cli, run

    p = argparse.ArgumentParser(prog="andon")
    add_cli(p.add_subparsers(dest="command"))
    args = p.parse_args(["simulate", "--scenario", "quick", "--days", "3", "--scale", "0.1"])
    assert run(args, tmp_path / "l") == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["days"], out["scale"], out["seed"], out["scenario"]) == (3, 0.1, 42, "quick")
    args = p.parse_args(["simulate", "--scenario", "nope", "--days", "3"])
    assert run(args, tmp_path / "x") == 2


# ---------------------------------------------------------------------------
# every kind leaves its signal in the files (quick world)
# ---------------------------------------------------------------------------


def test_quick_ledgers_hold_every_kind(quick):
    incidents, decoys = read_gt(quick, "incidents.csv"), read_gt(quick, "decoys.csv")
    assert {r["kind"] for r in incidents} == INCIDENT_KINDS
    assert {r["kind"] for r in decoys} == DECOY_KINDS
    assert list(decoys[0]) == [
        "id",
        "scope",
        "entity_type",
        "entity_id",
        "start_date",
        "end_date",
        "kind",
        "description",
    ]
    for r in incidents + decoys:
        assert "2026-03-02" <= r["start_date"] <= r["end_date"] <= "2026-06-29", r


def test_two_percent_lots_raise_downstream_fails(tmp_path):
    """Units built with a 2 % lot fail ICT/FT (first attempt) more often than units built
    with the part's other lots."""
    scn = parse_scenario(
        {
            "horizon_days": 75,
            "scale": 1.0,
            "quiet_days": 5,
            "incidents": [{"kind": "defective_lot", "rate_per_30d": 3.0, "min_count": 5, "defect_fraction": 0.02}],
        }
    )
    simulate(tmp_path, scenario=scn)
    bad = {r["entity_id"] for r in read_gt(tmp_path, "incidents.csv") if r["magnitude"] == "0.02"}
    assert len(bad) >= 5
    gen = read_csvs(tmp_path, "mes/*/MES_GENEALOGY_*.csv")
    parts = {g["COMP_PART"] for g in gen if g["SUPPLIER_LOT"] in bad}
    with_bad = {g["SERIAL_NO"] for g in gen if g["SUPPLIER_LOT"] in bad}
    others = {g["SERIAL_NO"] for g in gen if g["COMP_PART"] in parts} - with_bad
    failed = {
        r["SERIAL_NO"]
        for r in read_csvs(tmp_path, "mes/*/MES_TESTLOG_*.csv")
        if r["ATTEMPT"] == "1" and r["STN_TYPE"] in FIRST_STAGE and r["RESULT"] in FAIL
    }
    assert len(with_bad) >= 300
    r_bad = len(with_bad & failed) / len(with_bad)
    r_other = len(others & failed) / len(others)
    assert r_bad > 1.25 * r_other


def test_supplier_process_change_shows_first_in_supplier_data(quick, genealogy, testlog):
    inc = next(r for r in read_gt(quick, "incidents.csv") if r["kind"] == "supplier_process_change")
    rows = [
        r for r in read_csvs(quick, "supplier/*/CSDX_*.csv", ";") if r["lot_number"].startswith(inc["entity_id"] + "-L")
    ]
    before = defaultdict(list)
    for r in rows:
        if r["ship_date"] < inc["start_date"]:
            before[r["parameter"]].append(float(r["value"]) if r["parameter"] != "VOID_GRADE" else 0.0)
    lots = sorted({(r["ship_date"], r["lot_number"]) for r in rows if r["ship_date"] >= inc["start_date"]})
    early = {lot for _, lot in lots[:2]}  # the first lots: shifted, not yet defective
    shifts = []
    for prm, vals in before.items():
        if prm == "VOID_GRADE" or len(vals) < 3:
            continue
        sd = statistics.stdev(vals) or 1.0
        after = [float(r["value"]) for r in rows if r["lot_number"] in early and r["parameter"] == prm]
        shifts.append(abs(statistics.mean(after) - statistics.mean(vals)) / sd)
        for r in rows:  # inside spec
            if r["lot_number"] in early and r["parameter"] == prm:
                assert (not r["lsl"] or float(r["value"]) >= float(r["lsl"])) and (
                    not r["usl"] or float(r["value"]) <= float(r["usl"])
                )
    assert max(shifts) > 1.0


def test_fixture_wear_rises_gradually_and_retests_pass(quick, testlog):
    inc = next(r for r in read_gt(quick, "incidents.csv") if r["kind"] == "fixture_wear")
    st = [r for r in testlog if r["STATION"] == inc["entity_id"]]
    first = [r for r in st if r["ATTEMPT"] == "1"]
    inside = [r for r in first if inc["start_date"] <= r["TEST_TIME"][:10] <= inc["end_date"]]
    days = sorted({r["TEST_TIME"][:10] for r in inside})
    early = [r for r in inside if r["TEST_TIME"][:10] in days[: len(days) // 2]]
    late = [r for r in inside if r["TEST_TIME"][:10] in days[len(days) // 2 :]]
    outside = [r for r in first if r not in inside]
    assert rate(late) > rate(early) and rate(late) > 2 * rate(outside)
    failed = {r["SERIAL_NO"] for r in inside if r["RESULT"] in FAIL}
    retests = [r for r in st if r["ATTEMPT"] == "2" and r["SERIAL_NO"] in failed]
    assert retests and rate(retests) < 0.2


def test_drift_shifts_the_mean_and_grows_the_spread(quick):
    inc = next(r for r in read_gt(quick, "incidents.csv") if r["kind"] == "process_drift")
    vals = spc(quick, inc["entity_id"], "PASTE_HEIGHT")
    end = dt.date.fromisoformat(inc["end_date"])
    late = {(end - dt.timedelta(days=i)).isoformat() for i in range(3)}
    before = [v for d, v, _ in vals if d < inc["start_date"]]
    during = [v for d, v, _ in vals if d in late]
    assert statistics.mean(during) > statistics.mean(before) + statistics.stdev(before)
    assert statistics.stdev(during) > statistics.stdev(before)


def test_latent_lot_shows_in_the_lab(quick):
    for inc in (r for r in read_gt(quick, "incidents.csv") if r["kind"] == "latent_defect"):
        day = inc["start_date"]
        xml = quick / "lims" / day / f"LIMS_EXPORT_{day.replace('-', '')}.xml"
        void = defaultdict(list)
        for s in ET.fromstring(xml.read_bytes()).iter("Sample"):
            for t in s.iter("Test"):
                if s.get("kind") == "BUILD_LOT" and t.get("item") == "VOID_RATE":
                    try:
                        void[s.get("ref")].append(float(t.get("result")))
                    except ValueError:
                        pass
        others = [max(v) for ref, v in void.items() if ref != inc["entity_id"]]
        assert min(void[inc["entity_id"]]) > max(others)


def test_regional_failure_mode_returns_more_from_its_region(quick):
    inc = next(r for r in read_gt(quick, "incidents.csv") if r["kind"] == "regional_field_failure")
    product, region = inc["entity_id"].split("-")
    shipped = defaultdict(int)
    for r in read_csvs(quick, "mes/*/MES_SHIPMENT_*.csv"):
        if r["PART_NO"] == product and inc["start_date"] <= r["SHIP_TIME"][:10] <= inc["end_date"]:
            shipped[r["REGION"]] += 1
    returns, port = defaultdict(int), defaultdict(int)
    for c in claims(quick):
        if c["unit"]["model"] == product and inc["start_date"] <= c["unit"]["ship_date"] <= inc["end_date"]:
            returns[c["customer"]["region"]] += 1
            port[c["customer"]["region"]] += c["failure"]["symptom"] == "PORT_FAIL"
    rest_ret = sum(v for k, v in returns.items() if k != region)
    rest_ship = sum(v for k, v in shipped.items() if k != region)
    assert shipped[region] >= 20
    assert returns[region] / shipped[region] > 2 * rest_ret / rest_ship
    assert port[region] > returns[region] / 2


# ---------------------------------------------------------------------------
# decoys: visible changes, no quality loss
# ---------------------------------------------------------------------------


def _first_fpy_fail(testlog, line, d0, d1):
    return rate(
        [
            r
            for r in testlog
            if r["LINE"] == line
            and r["ATTEMPT"] == "1"
            and r["STN_TYPE"] in FIRST_STAGE
            and d0 <= r["TEST_TIME"][:10] <= d1
        ]
    )


def test_new_line_ramps_at_a_lower_but_stable_yield(quick, testlog, genealogy):
    dec = next(r for r in read_gt(quick, "decoys.csv") if r["kind"] == "new_line_ramp")
    line = dec["entity_id"]
    units = [g for g in genealogy if g["LINE"] == line]
    assert units and min(g["BUILD_TIME"][:10] for g in units) == dec["start_date"]
    mid = (dt.date.fromisoformat(dec["start_date"]) + dt.timedelta(days=45)).isoformat()
    a = _first_fpy_fail(testlog, line, dec["start_date"], mid)
    b = _first_fpy_fail(testlog, line, mid, "9999")
    others = [
        ln for ln in {r["LINE"] for r in testlog if r["LINE"]} if ln[:3] != line[:3] and ln.endswith(("L1", "L2"))
    ]
    ref = statistics.mean(_first_fpy_fail(testlog, ln, dec["start_date"], "9999") for ln in others)
    assert a > 1.2 * ref and b > 1.2 * ref  # lower yield ...
    assert 0.6 < a / b < 1.6  # ... and stable


def _peak_window(dec: dict[str, str]) -> tuple[str, str]:
    """First and last build day of a shipping peak (written in its description)."""
    days = [w.rstrip(";") for w in dec["description"].split() if w[:4] == "2026"]
    return days[0], days[1]


def test_product_mix_change_moves_volume_not_yield(quick, testlog, genealogy):
    dec = next(r for r in read_gt(quick, "decoys.csv") if r["kind"] == "product_mix_change")
    site = dec["entity_id"]
    peaks = [(x["entity_id"], *_peak_window(x)) for x in read_gt(quick, "decoys.csv") if x["kind"] == "shipping_peak"]
    units = defaultdict(set)  # (line, day) -> serials, outside any shipping peak of the line's product
    for g in genealogy:
        day = g["BUILD_TIME"][:10]
        if g["PLANT"] == site and g["LINE"].endswith(("L1", "L2")):
            if not any(g["PART_NO"] == p and a <= day <= b for p, a, b in peaks):
                units[(g["LINE"], day)].add(g["SERIAL_NO"])
    ratios = {}
    for line in (f"{site}-L1", f"{site}-L2"):
        inside = [len(v) for (ln, d), v in units.items() if ln == line and dec["start_date"] <= d <= dec["end_date"]]
        outside = [
            len(v) for (ln, d), v in units.items() if ln == line and not dec["start_date"] <= d <= dec["end_date"]
        ]
        ratios[line] = statistics.mean(inside) / statistics.mean(outside)
        f_in = _first_fpy_fail(testlog, line, dec["start_date"], dec["end_date"])
        f_out = _first_fpy_fail(testlog, line, "0000", dec["start_date"])
        assert abs(f_in - f_out) < 0.03
    assert max(ratios.values()) > 1.15 and min(ratios.values()) < 0.85


def test_planned_supplier_change_keeps_quality(quick, genealogy, testlog):
    dec = next(r for r in read_gt(quick, "decoys.csv") if r["kind"] == "planned_supplier_change")
    new_sup, part = dec["entity_id"].split("-", 1)
    sup = [r for r in read_csvs(quick, "supplier/*/CSDX_*.csv", ";") if r["part_number"] == part]
    new = [r for r in sup if r["supplier_code"] == new_sup]
    assert new and min(r["ship_date"] for r in new) == dec["start_date"]
    for r in new:
        if r["parameter"] != "VOID_GRADE":
            v = float(r["value"])
            assert (not r["lsl"] or v >= float(r["lsl"])) and (not r["usl"] or v <= float(r["usl"]))
    new_lots = {r["lot_number"] for r in new}
    with_new = {g["SERIAL_NO"] for g in genealogy if g["SUPPLIER_LOT"] in new_lots}
    others = {g["SERIAL_NO"] for g in genealogy if g["COMP_PART"] == part} - with_new
    failed = {
        r["SERIAL_NO"] for r in testlog if r["ATTEMPT"] == "1" and r["STN_TYPE"] in FIRST_STAGE and r["RESULT"] in FAIL
    }
    assert len(with_new) > 100
    assert len(with_new & failed) / len(with_new) < 1.3 * len(others & failed) / len(others) + 0.01


def test_shipping_peak_ships_more(quick):
    dec = next(r for r in read_gt(quick, "decoys.csv") if r["kind"] == "shipping_peak")
    p0, p1 = _peak_window(dec)
    per_day = defaultdict(int)
    for r in read_csvs(quick, "mes/*/MES_SHIPMENT_*.csv"):
        if r["PART_NO"] == dec["entity_id"]:
            per_day[r["SHIP_TIME"][:10]] += 1
    inside = [n for d, n in per_day.items() if p0 < d <= p1]  # shipments trail builds by 1-3 days
    before = [n for d, n in per_day.items() if d < p0]
    assert statistics.mean(inside) > 1.3 * statistics.mean(before)


def test_gauge_recalibration_moves_readings_inside_spec(quick, testlog):
    dec = next(r for r in read_gt(quick, "decoys.csv") if r["kind"] == "gauge_recalibration")
    char = dec["description"].split()[1]
    sign = 1 if "by +" in dec["description"] else -1
    vals = spc(quick, dec["entity_id"], char)
    before = [v for d, v, _ in vals if d < dec["start_date"]]
    after = [v for d, v, _ in vals if d >= dec["start_date"]]
    sd = statistics.stdev(before)
    assert sign * (statistics.mean(after) - statistics.mean(before)) > 0.3 * sd
    rec = vals[-1][2]
    usl = float(rec["usl"].split(" ")[0]) if rec["usl"] else float("inf")
    lsl = float(rec["lsl"].split(" ")[0]) if rec["lsl"] else float("-inf")
    assert lsl < statistics.mean(after) < usl
    f_in = _first_fpy_fail(testlog, dec["entity_id"], dec["start_date"], "9999")
    f_out = _first_fpy_fail(testlog, dec["entity_id"], "0000", dec["start_date"])
    assert abs(f_in - f_out) < 0.03
