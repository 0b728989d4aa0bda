"""Unit tests of the source simulator (``simulator``) against docs/sources.md.

Small runs only (a few days, scale 0.1-0.5). Expected values (dialects, code domains,
file names) are written out here from the contract rather than imported from the
simulator, so a drift between the two makes a test fail.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import io
import json
import re
import statistics
import xml.etree.ElementTree as ET
import zoneinfo
from pathlib import Path

import pytest

from simulator import simulate
from simulator.cli import add_cli, run
from simulator.world import SITES

START = dt.date(2026, 3, 2)
SOURCES = ("mes", "spc", "lims", "field_returns", "supplier")
DEFECTS = {
    "malformed_record",
    "truncated_record",
    "wrong_type",
    "unknown_code",
    "duplicate_file",
    "added_column",
}
DIALECTS = {
    "SZX": {"IQC", "ICT", "FCT", "BURNIN", "SYSTEST"},
    "GDL": {"IQC", "ICT", "FT", "RUNIN", "FINAL"},
    "BRQ": {"IQC", "ICT", "FT", "RUNIN", "FINAL"},
}
RESULTS = {"SZX": {"P", "F"}, "GDL": {"PASS", "FAIL"}, "BRQ": {"PASS", "FAIL"}}
MODE_CODES = {"FM-PWR", "FM-FW", "FM-THM", "FM-IO", "FM-SJ", "FM-DOA"}
CANON = {
    "ICT": "ICT",
    "FCT": "FT",
    "FT": "FT",
    "BURNIN": "REL",
    "RUNIN": "REL",
    "SYSTEST": "SYS",
    "FINAL": "SYS",
}
SCOPE_ENTITY = {
    "incoming_material": {"supplier_lot"},
    "factory_output": {"line", "station"},
    "field_return": {"build_lot"},
}
LOCAL_TS = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
LOCAL_ISO_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


# ---------------------------------------------------------------------------
# helpers: read the landing zone independently of the simulator's writers
# ---------------------------------------------------------------------------


def landing_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and "_ground_truth" not in p.parts)


def digest_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def physical_lines(data: bytes) -> list[str]:
    text = data.decode("utf-8")
    lines = text.split("\n")
    if text.endswith("\n"):
        lines = lines[:-1]
    return lines


def count_records(path: Path) -> int:
    data = path.read_bytes()
    if path.suffix == ".csv":
        return len(physical_lines(data)) - 1
    if path.suffix == ".jsonl":
        return len(physical_lines(data))
    if path.suffix == ".xml":
        return sum(1 for _ in ET.fromstring(data).iter("Test"))
    if path.suffix == ".json":
        return len(json.loads(data)["claims"])
    raise AssertionError(f"unexpected file type {path}")


def read_gt(root: Path, name: str) -> list[dict[str, str]]:
    with open(root / "_ground_truth" / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def bad_index(root: Path) -> dict[tuple[str, str], str]:
    return {(r["file"], r["record_locator"]): r["defect"] for r in read_gt(root, "bad_records.csv")}


def day_dirs(root: Path, source: str) -> list[str]:
    return sorted(p.name for p in (root / source).iterdir() if p.is_dir())


def run_days(days: int) -> list[str]:
    return [(START + dt.timedelta(days=i)).isoformat() for i in range(days)]


def csv_rows(path: Path, delimiter: str = ",") -> tuple[list[str], list[list[str]]]:
    lines = physical_lines(path.read_bytes())
    header = lines[0].split(delimiter)
    return header, [ln.split(delimiter) for ln in lines[1:]]


def num(text: str) -> float:
    return float(text.split(" ")[0])


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("landing_small")
    summary = simulate(root, days=4, seed=42, scale=0.1)
    return root, summary


@pytest.fixture(scope="module")
def long_run(tmp_path_factory) -> Path:
    """Long enough for every incident kind (station fault, drift, latent lot)."""
    root = tmp_path_factory.mktemp("landing_long")
    simulate(root, days=45, seed=42, scale=0.5)
    return root


# ---------------------------------------------------------------------------
# determinism and housekeeping
# ---------------------------------------------------------------------------


def test_same_arguments_give_identical_bytes(small, tmp_path):
    root, _ = small
    again = tmp_path / "again"
    simulate(again, days=4, seed=42, scale=0.1)
    first, second = digest_tree(root), digest_tree(again)
    assert len(first) > 50
    assert first == second


def test_other_seed_gives_other_data(small, tmp_path):
    root, _ = small
    other = tmp_path / "other"
    simulate(other, days=4, seed=7, scale=0.1)
    a, b = digest_tree(root), digest_tree(other)
    shared = [k for k in a if k in b and k.startswith("spc/")]
    assert shared and all(a[k] != b[k] for k in shared)


def test_rerun_replaces_previous_contents(tmp_path):
    stray = tmp_path / "mes" / "2020-01-01" / "old.csv"
    stray.parent.mkdir(parents=True)
    stray.write_text("x\n")
    simulate(tmp_path, days=1, seed=1, scale=0.1)
    assert not stray.exists()
    assert (tmp_path / "_ground_truth" / "files.csv").exists()


def test_summary_matches_ledgers(small):
    root, summary = small
    files = read_gt(root, "files.csv")
    assert summary["files"] == len(files)
    assert summary["bad_records"] == len(read_gt(root, "bad_records.csv"))
    assert summary["incidents"] == len(read_gt(root, "incidents.csv"))
    for source in SOURCES:
        assert summary["records"][source] == sum(int(f["records"]) for f in files if f["source"] == source)


# ---------------------------------------------------------------------------
# layout and ledgers
# ---------------------------------------------------------------------------


def test_all_five_sources_every_day(small):
    root, _ = small
    days = run_days(4)
    for source in SOURCES:
        assert day_dirs(root, source) == days, source
    for day in days:
        ymd = day.replace("-", "")
        for site in ("SZX", "GDL", "BRQ"):
            for entity in ("TESTLOG", "GENEALOGY", "SHIPMENT"):
                assert (root / "mes" / day / f"MES_{entity}_{site}_{ymd}.csv").is_file()
            assert (root / "spc" / day / f"spc_{site.lower()}_{ymd}.jsonl").is_file()
        assert (root / "lims" / day / f"LIMS_EXPORT_{ymd}.xml").is_file()
        assert (root / "field_returns" / day / f"rma_export_{ymd}.json").is_file()
        sup = list((root / "supplier" / day).glob(f"CSDX_SUP[0-9][0-9]_{ymd}.csv"))
        assert sup, f"no supplier file on {day}"


def test_files_csv_lists_every_file_with_counts_and_hashes(small):
    root, _ = small
    listed = {r["file"]: r for r in read_gt(root, "files.csv")}
    on_disk = {p.relative_to(root).as_posix(): p for p in landing_files(root)}
    assert set(listed) == set(on_disk)
    total = 0
    for rel, path in on_disk.items():
        row = listed[rel]
        assert row["source"] == rel.split("/")[0]
        assert int(row["records"]) == count_records(path), rel
        assert row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        total += int(row["records"])
    assert total > 1000


def test_bad_record_locators_point_at_damaged_records(small):
    root, _ = small
    rows = read_gt(root, "bad_records.csv")
    assert rows
    for r in rows:
        assert r["defect"] in DEFECTS
        path = root / r["file"]
        assert path.is_file(), r
        assert r["source"] == r["file"].split("/")[0]
        loc, kind = r["record_locator"], r["defect"]
        if kind in ("duplicate_file", "added_column"):
            assert loc == "*"
        if loc == "*":
            if kind == "duplicate_file":
                assert path.name.endswith("_resend.csv")
                original = path.with_name(path.name.replace("_resend.csv", ".csv"))
                assert original.read_bytes() == path.read_bytes()
            else:
                assert kind == "added_column"
                header, rows_ = csv_rows(path)
                assert header[-1] == "OPERATOR_ID" and "MES_GENEALOGY_" in path.name
                assert all(len(x) == len(header) for x in rows_)
            continue
        unit, n = loc.split(":")
        n = int(n)
        data = path.read_bytes()
        if unit == "line":
            lines = physical_lines(data)
            assert 1 <= n <= len(lines)
            line = lines[n - 1]
            if path.suffix == ".csv":
                assert n >= 2  # never the header
                header = lines[0].split(",")
                fields = line.split(",")
                if kind in ("malformed_record", "truncated_record"):
                    assert len(fields) != len(header)
                elif kind == "unknown_code":
                    assert fields[header.index("STN_TYPE")] not in DIALECTS[fields[header.index("PLANT")]]
                else:
                    raise AssertionError(r)
            else:  # JSON lines
                if kind in ("malformed_record", "truncated_record"):
                    with pytest.raises(json.JSONDecodeError):
                        json.loads(line)
                elif kind == "wrong_type":
                    with pytest.raises(ValueError):
                        num(json.loads(line)["val"])
                else:
                    raise AssertionError(r)
            if kind == "truncated_record":
                assert n == len(lines) and not data.endswith(b"\n")
        else:
            assert unit == "record"
            if path.suffix == ".xml":
                tests = list(ET.fromstring(data).iter("Test"))
                assert 1 <= n <= len(tests) and kind == "wrong_type"
                with pytest.raises(ValueError):
                    float(tests[n - 1].get("result"))
            else:
                claims = json.loads(data)["claims"]
                assert 1 <= n <= len(claims) and kind == "unknown_code"
                assert claims[n - 1]["failure"]["mode_code"] not in MODE_CODES


def test_unlisted_records_are_clean(small):
    """The converse: whatever the ledger does not list parses and uses known codes."""
    root, _ = small
    bad = bad_index(root)
    checked = 0
    for path in landing_files(root):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".csv":
            delim = ";" if rel.startswith("supplier/") else ","
            lines = physical_lines(path.read_bytes())
            header = lines[0].split(delim)
            assert (rel, "*") in bad or "OPERATOR_ID" not in header
            for i, line in enumerate(lines[1:], 2):
                if (rel, f"line:{i}") in bad:
                    continue
                fields = line.split(delim)
                assert len(fields) == len(header), (rel, i)
                if "MES_TESTLOG_" in rel:
                    plant = fields[header.index("PLANT")]
                    assert fields[header.index("STN_TYPE")] in DIALECTS[plant], (rel, i)
                    assert fields[header.index("RESULT")] in RESULTS[plant], (rel, i)
                checked += 1
        elif path.suffix == ".jsonl":
            for i, line in enumerate(physical_lines(path.read_bytes()), 1):
                if (rel, f"line:{i}") in bad:
                    continue
                rec = json.loads(line)
                num(rec["val"])
                checked += 1
        elif path.suffix == ".xml":
            for i, t in enumerate(ET.fromstring(path.read_bytes()).iter("Test"), 1):
                if (rel, f"record:{i}") not in bad:
                    float(t.get("result"))
                    checked += 1
        else:
            for i, c in enumerate(json.loads(path.read_bytes())["claims"], 1):
                if (rel, f"record:{i}") not in bad:
                    assert c["failure"]["mode_code"] in MODE_CODES
                    checked += 1
    assert checked > 1000


@pytest.mark.parametrize("seed", [42, 7, 2024])
def test_every_defect_kind_within_first_three_days(tmp_path, seed):
    simulate(tmp_path, days=3, seed=seed, scale=0.1)
    rows = read_gt(tmp_path, "bad_records.csv")
    first3 = set(run_days(3))
    kinds = {r["defect"] for r in rows if r["file"].split("/")[1] in first3}
    assert kinds == DEFECTS
    # the added column, once there, stays for the rest of the run at that site
    added = sorted(r["file"] for r in rows if r["defect"] == "added_column")
    site = added[0].split("_")[2]
    first_day = added[0].split("/")[1]
    expected = [
        f"mes/{d}/MES_GENEALOGY_{site}_{d.replace('-', '')}.csv" for d in run_days(3) if d >= first_day
    ]
    assert added == expected


def test_incidents_ledger_is_valid(small, long_run):
    for root, days in ((small[0], 4), (long_run, 45)):
        with open(root / "_ground_truth" / "incidents.csv", encoding="utf-8") as fh:
            header = fh.readline().strip().split(",")
        assert header == [
            "incident_id",
            "scope",
            "entity_type",
            "entity_id",
            "start_date",
            "end_date",
            "kind",
            "magnitude",
            "description",
        ]
        rows = read_gt(root, "incidents.csv")
        assert rows
        first, last = START.isoformat(), run_days(days)[-1]
        ids = [r["incident_id"] for r in rows]
        assert len(set(ids)) == len(ids)
        for r in rows:
            assert r["entity_type"] in SCOPE_ENTITY[r["scope"]], r
            assert first <= r["start_date"] <= r["end_date"] <= last, r
            float(r["magnitude"])
            assert len(r["description"]) > 20
    scopes = {r["scope"] for r in read_gt(long_run, "incidents.csv")}
    assert scopes == set(SCOPE_ENTITY)


def test_incident_entities_exist_in_the_data(long_run):
    mes_text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((long_run / "mes").rglob("*.csv")))
    sup_text = "\n".join(
        p.read_text(encoding="utf-8") for p in sorted((long_run / "supplier").rglob("*.csv"))
    )
    for r in read_gt(long_run, "incidents.csv"):
        if r["entity_type"] == "supplier_lot":
            assert f";{r['entity_id']};" in sup_text
            assert f",{r['entity_id']}" in mes_text  # consumed by units (genealogy) or sampled at IQC
        else:
            assert f",{r['entity_id']}," in mes_text, r


# ---------------------------------------------------------------------------
# incident signals (long run, deterministic)
# ---------------------------------------------------------------------------


def _testlog(root: Path) -> list[dict[str, str]]:
    out = []
    for path in sorted((root / "mes").rglob("MES_TESTLOG_*.csv")):
        header, rows = csv_rows(path)
        out += [dict(zip(header, r, strict=True)) for r in rows if len(r) == len(header)]
    return out


def test_station_fault_and_drift_raise_ft_fails(long_run):
    log = [r for r in _testlog(long_run) if r["ATTEMPT"] == "1" and CANON.get(r["STN_TYPE"]) == "FT"]
    incidents = {r["kind"]: r for r in read_gt(long_run, "incidents.csv")}

    def rate(rows):
        return sum(r["RESULT"] in ("F", "FAIL") for r in rows) / max(1, len(rows))

    fault = incidents["station_false_fail"]
    st = [r for r in log if r["STATION"] == fault["entity_id"]]
    inside = [r for r in st if fault["start_date"] <= r["TEST_TIME"][:10] <= fault["end_date"]]
    outside = [r for r in st if r not in inside]
    assert len(inside) > 40
    assert rate(inside) > 2 * rate(outside) + 0.03
    drift = incidents["process_drift"]
    ln = [r for r in log if r["LINE"] == drift["entity_id"]]
    inside = [r for r in ln if drift["start_date"] <= r["TEST_TIME"][:10] <= drift["end_date"]]
    outside = [r for r in ln if r not in inside]
    assert rate(inside) > 2 * rate(outside)


def test_drift_shifts_spc_mean(long_run):
    drift = next(r for r in read_gt(long_run, "incidents.csv") if r["kind"] == "process_drift")
    line, site = drift["entity_id"], drift["entity_id"][:3].lower()
    end = dt.date.fromisoformat(drift["end_date"])
    late = {(end - dt.timedelta(days=i)).isoformat() for i in range(3)}
    before, during = [], []
    for path in sorted((long_run / "spc").rglob(f"spc_{site}_*.jsonl")):
        for line_ in physical_lines(path.read_bytes()):
            try:
                rec = json.loads(line_)
                v = num(rec["val"])
            except ValueError:
                continue
            if rec["line"] != line or rec["char"] != "PASTE_HEIGHT":
                continue
            day = rec["ts"][:10]
            if day < drift["start_date"]:
                before.append(v)
            elif day in late:
                during.append(v)
    sd = statistics.stdev(before)
    assert statistics.mean(during) > statistics.mean(before) + 1.0 * sd


def test_latent_build_lot_shows_more_voids_in_the_lab(long_run):
    latent = next(r for r in read_gt(long_run, "incidents.csv") if r["kind"] == "latent_defect")
    day = latent["start_date"]
    root = ET.fromstring((long_run / "lims" / day / f"LIMS_EXPORT_{day.replace('-', '')}.xml").read_bytes())
    void = {}
    for s in root.iter("Sample"):
        for t in s.iter("Test"):
            if s.get("kind") == "BUILD_LOT" and t.get("item") == "VOID_RATE":
                try:
                    void.setdefault(s.get("ref"), []).append(float(t.get("result")))
                except ValueError:
                    pass
    lot = latent["entity_id"]
    others = [max(v) for ref, v in void.items() if ref != lot]
    assert len(others) >= 4
    assert min(void[lot]) > max(others)


# ---------------------------------------------------------------------------
# sites, time zones, timestamps
# ---------------------------------------------------------------------------


def test_three_sites_in_three_time_zones(small):
    root, _ = small
    assert sorted(s.code for s in SITES) == ["BRQ", "GDL", "SZX"]
    offsets = {dt.datetime(2026, 3, 2, 12, tzinfo=zoneinfo.ZoneInfo(s.tz)).utcoffset() for s in SITES}
    assert len(offsets) == 3
    plants = {r["PLANT"] for r in _testlog(root)}
    assert plants == {"SZX", "GDL", "BRQ"}


def test_timestamps_are_local_without_offset(small):
    root, _ = small
    bad = bad_index(root)
    for path in sorted((root / "mes").rglob("*.csv")):
        rel = path.relative_to(root).as_posix()
        day = path.parent.name
        header, rows = csv_rows(path)
        col = next(c for c in ("TEST_TIME", "BUILD_TIME", "SHIP_TIME") if c in header)
        for i, r in enumerate(rows, 2):
            if (rel, f"line:{i}") in bad:
                continue
            ts = r[header.index(col)]
            assert LOCAL_TS.match(ts), (rel, ts)
            assert ts[:10] == day  # the plant's local production day
            assert "06:00:00" <= ts[11:] <= "22:00:00", (rel, ts)
    for path in sorted((root / "spc").rglob("*.jsonl")):
        rel = path.relative_to(root).as_posix()
        for i, line in enumerate(physical_lines(path.read_bytes()), 1):
            if (rel, f"line:{i}") not in bad:
                ts = json.loads(line)["ts"]
                assert LOCAL_ISO_TS.match(ts) and ts[:10] == path.parent.name
    for path in sorted((root / "lims").rglob("*.xml")):
        for t in ET.fromstring(path.read_bytes()).iter("Test"):
            assert LOCAL_TS.match(t.get("tested")) and t.get("tested")[:10] == path.parent.name
    for path in sorted((root / "field_returns").rglob("*.json")):
        for c in json.loads(path.read_bytes())["claims"]:
            assert c["received_at"].endswith("Z")  # the contract's one UTC timestamp
            assert c["received_at"][:10] == path.parent.name


def test_genealogy_references_bom_and_lot_ids(small):
    root, _ = small
    per_unit: dict[str, int] = {}
    for path in sorted((root / "mes").rglob("MES_GENEALOGY_*.csv")):
        header, rows = csv_rows(path)
        for r in rows:
            d = dict(zip(header, r, strict=True))
            assert re.fullmatch(rf"{d['PLANT']}-{d['PART_NO']}-\d{{7}}", d["SERIAL_NO"])
            assert d["BUILD_LOT"] == f"{d['LINE']}-{d['PART_NO']}-{path.parent.name.replace('-', '')}"
            assert re.fullmatch(rf"{d['SUPPLIER']}-{re.escape(d['COMP_PART'])}-L\d{{5}}", d["SUPPLIER_LOT"])
            per_unit[d["SERIAL_NO"]] = per_unit.get(d["SERIAL_NO"], 0) + 1
    assert per_unit and set(per_unit.values()) <= {5, 6}
    tested = {r["SERIAL_NO"] for r in _testlog(root) if not r["SERIAL_NO"].startswith("IQC-")}
    assert tested == set(per_unit)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="andon")
    sub = p.add_subparsers(dest="command", required=True)
    add_cli(sub)
    return p


def test_cli_defaults_and_help():
    args = _parser().parse_args(["simulate"])
    assert (args.days, args.seed, args.scale, args.start, args.out) == (90, 42, 1.0, START, None)
    buf = io.StringIO()
    with pytest.raises(SystemExit):
        import contextlib

        with contextlib.redirect_stdout(buf):
            _parser().parse_args(["simulate", "--help"])
    for opt in ("--days", "--seed", "--scale", "--start", "--out"):
        assert opt in buf.getvalue()
    with pytest.raises(SystemExit):
        _parser().parse_args(["simulate", "--start", "2026-13-01"])


def test_cli_run_writes_landing(tmp_path, capsys):
    args = _parser().parse_args(["simulate", "--days", "2", "--scale", "0.1", "--seed", "3"])
    assert run(args, tmp_path / "landing") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["days"] == 2 and out["files"] == len(read_gt(tmp_path / "landing", "files.csv"))
    args = _parser().parse_args(["simulate", "--days", "1", "--scale", "0.1", "--out", str(tmp_path / "o")])
    assert run(args, tmp_path / "ignored") == 0
    assert (tmp_path / "o" / "_ground_truth" / "files.csv").is_file()
    assert not (tmp_path / "ignored").exists()
