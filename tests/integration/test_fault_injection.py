"""Fault injection on tiny worlds: nothing lost, nothing silently successful (issue 14).

Each test writes a handful of hostile or broken source files next to good ones into a private
landing zone, lands them with the real job (Spark, Delta, the GX gate) into a private lakehouse
(``tests/integration/tiny.py``) and checks that every file is accounted for, every record is in
bronze, bronze = silver + quarantine + replays, the good files land, and the message names what
went wrong.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.integration.tiny import claim, claims_file, mes_file, mes_row, release_world, tiny_world

pytestmark = pytest.mark.integration

DAY, DAY2 = date(2026, 3, 2), date(2026, 3, 3)


@pytest.fixture()
def world(tmp_path, spark, monkeypatch):
    yield tiny_world(tmp_path, spark, monkeypatch)
    release_world(spark)


# ------------------------------------------------------------- class 2: any parser exception


def test_deeply_nested_json_document_is_quarantined_and_the_rest_lands(world):
    deep = b'{"export_date": "x", "claims": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    world.put("field_returns", DAY, "rma_export_20260302.json", claims_file([claim(1, DAY), claim(2, DAY)], DAY))
    world.put("field_returns", DAY, "rma_export_20260302_b.json", deep)
    world.put("field_returns", DAY2, "rma_export_20260303.json", claims_file([claim(3, DAY2)], DAY2))
    world.land("field_returns", [DAY, DAY2])
    bad = [q for q in world.quarantine("field_returns") if q["_source_file"].endswith("_b.json")]
    assert [(q["reason"], q["_record_locator"]) for q in bad] == [("malformed_record", "*")]
    assert "RecursionError" in bad[0]["reason_detail"]
    assert world.count("silver", "field_returns") == 3
    assert set(world.ledger("field_returns")) == {"field_returns/2026-03-02/rma_export_20260302.json",
                                                   "field_returns/2026-03-02/rma_export_20260302_b.json",
                                                   "field_returns/2026-03-03/rma_export_20260303.json"}
    world.assert_books_balance("field_returns", "field_returns")


def test_deeply_nested_jsonl_line_and_xml_are_quarantined_per_record(world):
    good = {"id": "m1", "plant": "SZX", "line": "SZX-L1", "char": "PASTE_HEIGHT", "sg": "g1", "n": "1",
            "val": "130.0 um", "lsl": "100 um", "usl": "160 um", "tgt": "130 um", "ts": "2026-03-02T08:00:00"}
    deep_line = '{"id": ' + "[" * 10_000 + "]" * 10_000 + "}"
    world.put("spc", DAY, "spc_szx_20260302.jsonl",
              (json.dumps(good) + "\n" + deep_line + "\n" + json.dumps({**good, "id": "m2"}) + "\n").encode())
    deep_xml = b"<LimsExport>" + b"<a>" * 5_000 + b"</a>" * 5_000 + b"</LimsExport>"
    world.put("lims", DAY, "LIMS_EXPORT_20260302.xml", deep_xml)
    world.land("spc", [DAY])
    world.land("lims", [DAY])
    spc = world.quarantine("spc_measurements")
    assert [(q["_record_locator"], q["reason"]) for q in spc] == [("line:2", "malformed_record")]
    assert world.count("silver", "spc_measurements") == 2
    world.assert_books_balance("spc_measurements", "spc_measurements")
    assert "lims/2026-03-02/LIMS_EXPORT_20260302.xml" in world.ledger("lims")


# ------------------------------------------------ class 8: every file accounted for, cross-day replays


def test_every_file_in_a_landing_folder_gets_an_outcome(world):
    good = mes_file([mes_row(1, DAY), mes_row(2, DAY)])
    world.put("mes", DAY, "MES_TESTLOG_BRQ_20260302.csv", good)
    world.put("mes", DAY, "MES_TESTLOG_GDL_20260302.csv", b"")                     # zero bytes
    world.put("mes", DAY, "mes_testlog_szx_20260302.CSV", mes_file([mes_row(3, DAY)]))   # misses the pattern
    world.put("mes", DAY, "_in_flight.csv", good)                                   # hidden: not a delivery
    world.put("mes", DAY2, "MES_TESTLOG_BRQ_20260302.csv", good)                  # yesterday's file, misfiled
    world.put("mes", DAY2, "MES_TESTLOG_GDL_20260303.csv", mes_file([mes_row(4, DAY2)]))
    results = world.land("mes", [DAY, DAY2])
    ledger = world.ledger("mes")
    outcomes = {f: (r["outcome"], r["feed"], r["records"]) for f, r in ledger.items()}
    assert outcomes == {
        "mes/2026-03-02/MES_TESTLOG_BRQ_20260302.csv": ("landed", "mes_testlog", 2),
        "mes/2026-03-02/MES_TESTLOG_GDL_20260302.csv": ("empty_file", "mes_testlog", 0),
        "mes/2026-03-02/mes_testlog_szx_20260302.CSV": ("unmatched_name", None, 0),
        "mes/2026-03-03/MES_TESTLOG_BRQ_20260302.csv": ("name_date_mismatch", "mes_testlog", 2),
        "mes/2026-03-03/MES_TESTLOG_GDL_20260303.csv": ("landed", "mes_testlog", 1),
    }
    assert "2026-03-02" in ledger["mes/2026-03-03/MES_TESTLOG_BRQ_20260302.csv"]["detail"]
    warnings = " | ".join(w for r in results for w in r.warnings)
    assert "MES_TESTLOG_GDL_20260302.csv: empty file" in warnings
    assert "mes_testlog_szx_20260302.CSV: matches no file pattern" in warnings
    # The misfiled copy of day 1's file: its records are cross-day replays, not a second silver copy.
    silver = world.rows("silver", "test_results")
    assert sorted((r["test_result_id"], r["landing_date"]) for r in silver) == \
        [("1", DAY), ("2", DAY), ("4", DAY2)]
    assert world.dq("mes_testlog")[DAY2]["collapsed_replays"] == 2
    world.assert_books_balance("mes_testlog", "test_results")
    # Landing again changes nothing and does not re-record anything.
    version = world.spark.sql(f"DESCRIBE HISTORY delta.`{world.cfg.table_path('ops', 'landed_files')}`").count()
    world.land("mes", [DAY, DAY2])
    assert world.spark.sql(
        f"DESCRIBE HISTORY delta.`{world.cfg.table_path('ops', 'landed_files')}`").count() == version


def test_a_folder_with_only_unreadable_files_fails_naming_them(world):
    from spark_jobs.landing.job import LandingError

    world.put("mes", DAY, "MES_TESTLOG_BRQ_20260302.csv", b"")
    world.put("mes", DAY, "testlog_brq.csv", mes_file([mes_row(1, DAY)]))
    with pytest.raises(LandingError, match=r"mes: 2 file\(s\).*MES_TESTLOG_BRQ_20260302.csv.*testlog_brq.csv"
                                           r".*MES_TESTLOG_\*\.csv"):
        world.land("mes", [DAY])
    assert {r["outcome"] for r in world.ledger("mes").values()} == {"empty_file", "unmatched_name"}


def test_an_empty_claims_export_is_work_done_not_a_failure(world):
    world.put("field_returns", DAY, "rma_export_20260302.json", claims_file([], DAY))
    world.land("field_returns", [DAY])
    assert world.ledger("field_returns")["field_returns/2026-03-02/rma_export_20260302.json"]["records"] == 0


# ------------------------------------------------------------------------------ class 6: encodings


def test_byte_order_marks_are_stripped(world):
    bom = b"\xef\xbb\xbf"
    world.put("mes", DAY, "MES_TESTLOG_BRQ_20260302.csv", bom + mes_file([mes_row(1, DAY), mes_row(2, DAY)]))
    world.put("field_returns", DAY, "rma_export_20260302.json", bom + claims_file([claim(1, DAY)], DAY))
    world.land("mes", [DAY])
    world.land("field_returns", [DAY])
    assert world.quarantine("mes_testlog") == [] and world.quarantine("field_returns") == []
    assert world.count("silver", "test_results") == 2 and world.count("silver", "field_returns") == 1


def test_undecodable_bytes_are_quarantined_never_replaced(world):
    latin1 = claims_file([claim(1, DAY, email="PLACEHOLDER@example.com"), claim(2, DAY, email="josé@example.com")],
                         DAY).replace(b"PLACEHOLDER", b"jos\xe9")          # Latin-1 bytes in a UTF-8 feed
    world.put("field_returns", DAY, "rma_export_20260302.json", latin1)
    world.put("mes", DAY, "MES_TESTLOG_BRQ_20260302.csv",
              mes_file([mes_row(1, DAY), mes_row(2, DAY, serial="s\xe9").replace("\xe9", "#")]).replace(
                  b"s#", b"s\xe9"))
    world.land("field_returns", [DAY])
    world.land("mes", [DAY])
    claims = world.quarantine("field_returns")
    assert [(q["_record_locator"], q["reason"]) for q in claims] == [("record:1", "undecodable_record")]
    assert claims[0]["raw_record"].startswith("<redacted: unparseable record")     # a feed with personal data
    mes = world.quarantine("mes_testlog")
    assert [(q["_record_locator"], q["reason"]) for q in mes] == [("line:3", "undecodable_record")]
    assert "s\\xe9" in mes[0]["raw_record"]                                    # the bytes, shown
    for feed in ("field_returns", "mes_testlog"):
        assert not any("\ufffd" in str(v) for row in world.rows("bronze", feed) for v in row.values())
        world.assert_books_balance(feed, {"field_returns": "field_returns", "mes_testlog": "test_results"}[feed])
    assert world.count("silver", "field_returns") == 1 and world.count("silver", "test_results") == 1


# --------------------------------------------------------------------- class 5: implausible values


def test_implausible_dates_and_infinite_numbers_are_quarantined(world):
    import pyarrow.parquet as pq

    rows = [mes_row(1, DAY), mes_row(2, DAY).replace("2026-03-02 09:00:00", "2999-03-02 09:00:00"),
            mes_row(3, DAY).replace("2026-03-02 09:00:00", "1900-03-02 09:00:00"),
            mes_row(4, DAY, result="FAIL", cost="1" + "0" * 400)]
    world.put("mes", DAY, "MES_TESTLOG_BRQ_20260302.csv", mes_file(rows))
    world.land("mes", [DAY])
    reasons = {q["_record_locator"]: (q["reason"], q["reason_detail"]) for q in world.quarantine("mes_testlog")}
    assert {k: v[0] for k, v in reasons.items()} == {"line:3": "implausible_value", "line:4": "implausible_value",
                                                     "line:5": "implausible_value"}
    assert "2999-03-02" in reasons["line:3"][1] and "not a finite number" in reasons["line:5"][1]
    assert [r["test_result_id"] for r in world.rows("silver", "test_results")] == ["1"]
    assert world.dq("mes_testlog")[DAY]["timeliness"] == 1.0
    world.assert_books_balance("mes_testlog", "test_results")
    # Timestamps are written as INT64 microseconds, never INT96 (which delta-rs misreads).
    silver = world.root / "lakehouse" / "silver" / "test_results"
    for part in silver.rglob("*.parquet"):
        schema = pq.ParquetFile(part).schema
        kinds = {schema.column(i).name: schema.column(i).physical_type for i in range(len(schema))}
        assert kinds["tested_at"] == "INT64", part
        assert "INT96" not in kinds.values()


# ------------------------------------------- class 3: schema drift, the gate keeps published silver


def test_redelivered_file_with_renamed_column_keeps_published_silver(world):
    name = "MES_TESTLOG_BRQ_20260302.csv"
    rows = [mes_row(i, DAY) for i in range(1, 6)]
    world.put("mes", DAY, name, mes_file(rows))
    world.land("mes", [DAY], run_id="first")
    assert world.count("silver", "test_results") == 5
    world.put("mes", DAY, name, mes_file(rows, header="LOGID" + mes_file([])[6:].decode().strip()))  # LOG_ID renamed
    results = world.land("mes", [DAY], run_id="redelivery")
    day = world.dq("mes_testlog")[DAY]
    assert day["status"] == "failed_gate"
    assert any("from 5 to 0 rows" in c and "LOG_ID missing" in c and "unknown field(s) LOGID" in c
               for c in day["gx_critical_failures"]), day["gx_critical_failures"]
    silver = world.rows("silver", "test_results")
    assert len(silver) == 5 and {r["_run_id"] for r in silver} == {"first"}     # the previous silver stays
    assert any("LOG_ID missing" in w for r in results for w in r.warnings)


def test_first_time_schema_drift_is_reported_loudly(world, caplog):
    world.put("mes", DAY, "MES_TESTLOG_BRQ_20260302.csv", mes_file([mes_row(1, DAY)]))
    world.put("mes", DAY, "MES_TESTLOG_GDL_20260302.csv",
              mes_file([mes_row(2, DAY)], header=mes_file([])[:-1].decode().replace("RESULT", "OUTCOME")))
    with caplog.at_level("ERROR"):
        world.land("mes", [DAY])
    day = world.dq("mes_testlog")[DAY]
    assert day["status"] == "schema_drift"
    assert any("MES_TESTLOG_GDL_20260302.csv: required field(s) RESULT missing" in w for w in day["gx_warnings"])
    assert "schema drift in mes/2026-03-02/MES_TESTLOG_GDL_20260302.csv" in caplog.text
    assert world.count("silver", "test_results") == 1
    world.assert_books_balance("mes_testlog", "test_results")


# ------------------------------------------------------------- class 7: concurrent landings


LOCK_SCRIPT = """
import sys, time
from andon.config import load_settings
from andon.spark import MetastoreBusy, metastore_lock
try:
    metastore_lock(load_settings(), wait_seconds=float(sys.argv[1]))
except MetastoreBusy as exc:
    print(exc, file=sys.stderr)
    sys.exit(3)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _lock_process(home, wait: float, hold: float):
    import os
    import subprocess
    import sys

    env = {**os.environ, "ANDON_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT, str(wait), str(hold)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_second_landing_waits_for_the_first_then_fails_clearly(tmp_path, andon_home, spark):
    import time

    # This test process holds its home's metastore (its Spark session): another process gives up clearly.
    busy = _lock_process(andon_home, wait=1, hold=0)
    _, err = busy.communicate(timeout=60)
    assert busy.returncode == 3
    assert "another landing is running" in err and "pid " in err
    # Two processes on one home: the second waits for the first, then runs.
    first = _lock_process(tmp_path, wait=0, hold=3)
    assert first.stdout.readline().strip() == "locked"
    started = time.monotonic()
    second = _lock_process(tmp_path, wait=60, hold=0)
    out, err = second.communicate(timeout=90)
    first.wait(timeout=30)
    assert second.returncode == 0 and out.strip() == "locked"
    assert time.monotonic() - started >= 1.5
    assert "another landing is running" in err


# ---------------------------------------------------- class 10: supplier-data retention (DOMAIN.md)


def _data_files(world, layer, table) -> bytes:
    folder = world.root / "lakehouse" / layer / table
    return b"".join(p.read_bytes() for p in folder.rglob("*.parquet") if "_delta_log" not in p.parts)


def test_supplier_data_is_deleted_180_days_after_the_order_closed_and_vacuumed(world):
    from spark_jobs.landing.retention import apply_supplier_retention
    from tests.integration.tiny import supplier_file, supplier_row

    rows = [supplier_row("LOT-OLD", DAY, po="4500000001", closed="2025-06-01"),
            supplier_row("LOT-OPEN", DAY, po="4500000002", closed=""),
            supplier_row("LOT-RECENT", DAY, po="4500000003", closed="2026-02-01"),
            supplier_row("LOT-OLD", DAY, po="4500000001", closed="2025-06-01", param="NO_SUCH")]   # quarantined
    world.put("supplier", DAY, "CSDX_SUP01_20260302.csv", supplier_file(rows))
    world.land("supplier", [DAY])
    assert world.count("silver", "supplier_lot_tests") == 3 and len(world.quarantine("supplier_lot_tests")) == 1
    assert b"LOT-OLD" in _data_files(world, "silver", "supplier_lot_tests")
    logged = apply_supplier_retention(world.spark, world.cfg, today=date(2026, 3, 2), run_id="ret-1")
    assert {(e["table"], e["rows_deleted"]) for e in logged} == {
        ("silver.supplier_lot_tests", 1), ("bronze.supplier_lot_tests", 2), ("bronze.quarantine", 1)}
    assert {r["supplier_lot_id"] for r in world.rows("silver", "supplier_lot_tests")} == {"LOT-OPEN", "LOT-RECENT"}
    assert world.quarantine("supplier_lot_tests") == []
    for layer, table in (("silver", "supplier_lot_tests"), ("bronze", "supplier_lot_tests"),
                         ("bronze", "quarantine")):
        assert b"LOT-OLD" not in _data_files(world, layer, table), f"{layer}.{table} still holds the data"
    log = world.rows("ops", "retention_log")
    assert {(r["table"], r["rows_deleted"], r["cutoff"]) for r in log} == {
        (e["table"], e["rows_deleted"], date(2025, 9, 3)) for e in logged}


# ------------------------------------------------------- class 9: VACUUM that respects time travel


def test_vacuum_removes_orphans_and_keeps_time_travel(world):
    import os
    import time

    from spark_jobs.landing.retention import vacuum_tables

    world.put("mes", DAY, "MES_TESTLOG_BRQ_20260302.csv", mes_file([mes_row(1, DAY)]))
    world.land("mes", [DAY], run_id="first")
    world.land("mes", [DAY], run_id="second", force=True)                   # replaces the day's files
    silver = world.root / "lakehouse" / "silver" / "test_results"
    orphan = next(silver.rglob("*.parquet")).with_name("part-00000-orphan-of-a-killed-write.snappy.parquet")
    orphan.write_bytes(b"not a committed file")
    week_ago = time.time() - 8 * 24 * 3600
    os.utime(orphan, (week_ago, week_ago))
    assert "silver.test_results" in vacuum_tables(world.spark, world.cfg, [("silver", "test_results")])
    assert not orphan.exists()
    first = world.spark.read.format("delta").option("versionAsOf", 0).load(str(silver)).collect()
    assert [r["_run_id"] for r in first] == ["first"]                         # time travel still reads v0


# --------------------------------------------------------------- class 4: the personal-data boundary


PERSONAL = ["Ann Example", "ann.example@example.com", "+44 20 7946 0958", "Bob Sample", "bob.sample@example.com",
            "+1 555 0199"]


def file_text(path) -> bytes:
    """A file's bytes, and for Parquet also its decoded values: a clear value in a compressed page
    (a snappy back-reference splits a repeated e-mail domain) would not show in the raw bytes."""
    content = path.read_bytes()
    if path.suffix == ".parquet" and content[:4] == b"PAR1":
        import pyarrow.parquet as pq

        content += repr(pq.read_table(path).to_pylist()).encode("utf-8", "backslashreplace")
    return content


def _sweep(world, values: list[str]) -> list[str]:
    """Every file of the lakehouse (data decoded, Delta logs, checksums) that holds one of ``values``."""
    hits = []
    needles = [v.encode() for v in values] + [v.lower().encode() for v in values]
    for path in (world.root / "lakehouse").rglob("*"):
        if path.is_file():
            content = file_text(path)
            hits += [f"{path.relative_to(world.root)}: {n.decode()}" for n in needles if n in content]
    return hits


def test_pii_sweep_no_clear_personal_value_in_any_table_or_delta_log(world):
    good = [claim(1, DAY, name=PERSONAL[0], email=PERSONAL[1], phone=PERSONAL[2])]
    bad_code = claim(2, DAY, name=PERSONAL[3], email=PERSONAL[4], phone=PERSONAL[5], failure__mode_code="FM-??")
    undecodable = claim(3, DAY, name="Carl PLACEHOLDER", email="carl@example.com")
    content = claims_file([*good, bad_code, undecodable], DAY).replace(b"PLACEHOLDER", b"M\xfcller")
    world.put("field_returns", DAY, "rma_export_20260302.json", content)
    world.put("field_returns", DAY2, "rma_export_20260303.json",
              b'{"claims": [{"customer": {"email": "' + PERSONAL[4].encode() + b'"}')        # truncated document
    world.land("field_returns", [DAY, DAY2])
    assert world.count("silver", "field_returns") == 1
    reasons = sorted(q["reason"] for q in world.quarantine("field_returns"))
    assert reasons == ["malformed_record", "undecodable_record", "unknown_code"]
    assert _sweep(world, [*PERSONAL, "Carl", "carl@example.com"]) == []
    from andon.secrets import pseudonym_key
    from spark_jobs.landing.conform import pseudonym

    expected = pseudonym(pseudonym_key(world.cfg), PERSONAL[1])
    assert [r["customer_pseudonym"] for r in world.rows("silver", "field_returns")] == [expected]


def test_erasure_removes_one_customer_everywhere_including_time_travel(world):
    from spark_jobs.landing.retention import erase_customer

    claims = [claim(1, DAY, email=PERSONAL[1]), claim(2, DAY, email=PERSONAL[4]),
              claim(3, DAY, email=PERSONAL[1], failure__mode_code="FM-??")]
    world.put("field_returns", DAY, "rma_export_20260302.json", claims_file(claims, DAY))
    world.land("field_returns", [DAY])
    from andon.secrets import pseudonym_key
    from spark_jobs.landing.conform import pseudonym

    gone = pseudonym(pseudonym_key(world.cfg), PERSONAL[1])
    kept = pseudonym(pseudonym_key(world.cfg), PERSONAL[4])
    assert _sweep(world, [gone])                                                # present before
    logged = erase_customer(world.spark, world.cfg, " ANN.example@example.com", run_id="erase-1")
    assert {(e["table"], e["rows_deleted"]) for e in logged} == {
        ("bronze.field_returns", 2), ("silver.field_returns", 1), ("bronze.quarantine", 1)}
    data = [h for h in _sweep(world, [gone]) if "_delta_log" not in h]
    assert data == [], data                                                     # no data file holds it
    assert [r["customer_pseudonym"] for r in world.rows("silver", "field_returns")] == [kept]
    silver = str(world.root / "lakehouse" / "silver" / "field_returns")
    with pytest.raises(Exception):                                             # noqa: B017 - files vacuumed
        world.spark.read.format("delta").option("versionAsOf", 0).load(silver).collect()
    assert not any(PERSONAL[1] in str(r) for r in world.rows("ops", "retention_log"))


# ------------------------------------------- class 7: a second landing *process* on a busy metastore


def _landing_process(world, home, *args: str, lock_wait: float = 3600):
    """``python -m spark_jobs.landing.main`` (what ``andon land`` and spark-submit run) on the world's landing
    zone and lakehouse, with its own ANDON_HOME (metastore, lock) and a short lock wait."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ANDON_HOME": str(home), "ANDON__PATHS__LANDING": str(world.landing),
           "ANDON__PATHS__LAKEHOUSE": str(world.root / "lakehouse"),
           "ANDON__METASTORE__LOCK_WAIT_SECONDS": str(lock_wait)}
    # Its own session (process group): a kill takes the Python process and its JVM, as a dying worker does.
    return subprocess.Popen([sys.executable, "-m", "spark_jobs.landing.main", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def test_a_second_landing_process_gives_up_clearly_after_the_configured_wait(world, tmp_path):
    import time

    world.put("mes", DAY, "MES_TESTLOG_BRQ_20260302.csv", mes_file([mes_row(1, DAY)]))
    home = tmp_path / "home"
    holder = _lock_process(home, wait=0, hold=60)               # a landing holds the embedded metastore
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        second = _landing_process(world, home, "--source", "mes", "--start", DAY.isoformat(), lock_wait=2)
        _, err = second.communicate(timeout=120)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert second.returncode != 0
    assert "another landing is running on this lakehouse (pid " in err and "waiting" in err
    assert "MetastoreBusy" in err and "gave up after 2 s" in err
    assert 2 <= waited < 60                                    # metastore.lock_wait_seconds, not the default hour
    assert world.table("bronze", "mes_testlog") is None        # it wrote nothing


# ----------------------------------------------- class 9: a landing killed mid-write, then re-run


RUN_COLUMNS = {"_ingested_at", "_run_id", "run_id", "evaluated_at", "landed_at", "quarantined_at"}


def _mixed_world(world, days) -> None:
    from tests.integration.tiny import supplier_file, supplier_row

    for i, day in enumerate(days):
        ymd = day.strftime("%Y%m%d")
        world.put("mes", day, f"MES_TESTLOG_BRQ_{ymd}.csv",
                  mes_file([mes_row(100 * i + n, day, result="FAIL" if n == 3 else "PASS") for n in range(1, 9)]))
        world.put("field_returns", day, f"rma_export_{ymd}.json",
                  claims_file([claim(100 * i + n, day) for n in range(1, 4)]
                              + [claim(100 * i + 9, day, failure__mode_code="FM-??")], day))
        world.put("supplier", day, f"CSDX_SUP01_{ymd}.csv",
                  supplier_file([supplier_row(f"LOT-{i}-{n}", day, po=f"45000000{i}{n}") for n in range(1, 4)]))


def _snapshot(world) -> dict[str, list]:
    """Every Delta table of the world's lakehouse: its rows without run metadata, sorted."""
    from andon.delta import table_exists

    tables = {}
    root = world.root / "lakehouse"
    for log_dir in sorted(root.glob("*/*/_delta_log")):
        path = str(log_dir.parent)
        assert table_exists(world.spark, path), path
        df = world.spark.read.format("delta").load(path)
        keep = [c for c in df.columns if c not in RUN_COLUMNS]
        tables[str(log_dir.parent.relative_to(root))] = sorted(
            tuple(str(r[c]) for c in keep) for r in df.select(*keep).collect())
    return tables


def test_a_landing_killed_mid_write_then_rerun_equals_a_clean_landing(world, tmp_path, monkeypatch):
    """A landing process that first waits for another one (class 7), then is killed with its JVM while
    it writes bronze (class 9): every table stays readable, and the re-run equals a clean landing."""
    import os
    import shutil
    import signal
    import time

    days = [DAY, DAY2]
    _mixed_world(world, days)
    home = tmp_path / "home"
    holder = _lock_process(home, wait=0, hold=4)               # class 7: another landing runs at first
    assert holder.stdout.readline().strip() == "locked"
    killed = _landing_process(world, home, "--source", "all", "--start", DAY.isoformat(),
                              "--end", DAY2.isoformat(), "--run-id", "killed", lock_wait=120)
    lakehouse = world.root / "lakehouse"
    deadline = time.monotonic() + 300
    while not any(lakehouse.glob("bronze/*/landing_date=*/*.parquet")):   # the first bronze files being written
        assert killed.poll() is None, killed.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the landing process wrote nothing in 5 minutes"
        time.sleep(0.02)
    os.killpg(killed.pid, signal.SIGKILL)                            # the landing and its JVM, mid-write
    _, err = killed.communicate(timeout=30)
    holder.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    # It waited for the first landing with the clear message, then ran once that one ended.
    assert "another landing is running on this lakehouse (pid " in err and "waiting" in err
    assert not (lakehouse / "ops" / "landed_files").exists()            # killed before it finished
    for source in ("mes", "spc", "lims", "field_returns", "supplier"):  # the re-run (as the next DAG run)
        world.land(source, days, run_id="rerun")
    rerun = _snapshot(world)
    clean = tiny_world(tmp_path / "clean", world.spark, monkeypatch)
    shutil.copytree(world.landing, clean.landing)
    for source in ("mes", "spc", "lims", "field_returns", "supplier"):
        clean.land(source, days, run_id="clean")
    expected = _snapshot(clean)
    assert set(rerun) == set(expected) and len(expected) >= 9
    for table, rows in expected.items():
        assert len(rerun[table]) == len(rows), (table, len(rerun[table]), len(rows))
        assert rerun[table] == rows, table
    assert world.count("silver", "test_results") == 16 and world.count("silver", "field_returns") == 6
    world.assert_books_balance("mes_testlog", "test_results")
    world.assert_books_balance("field_returns", "field_returns")


# ------------------------------------------------ class 1: a historical date lands real data


def test_a_historical_date_lands_the_simulated_plants_data(world):
    from andon.dictionary import load_dictionary
    from simulator import simulate

    old = date(2004, 6, 7)
    simulate(world.landing, days=2, seed=3, scale=0.05, start=old)
    days = [old, date(2004, 6, 8)]
    for source in ("mes", "spc", "lims", "field_returns", "supplier"):
        world.land(source, days, run_id="historical")
    dd = load_dictionary(world.cfg.raw["landing"]["data_dictionary"])
    for table in ("test_results", "unit_genealogy", "spc_measurements", "lab_results", "supplier_lot_tests"):
        rows = world.rows("silver", table)
        assert rows, f"silver.{table} is empty for {old}"
        assert {r["landing_date"] for r in rows} <= set(days)
    for feed in dd.feeds.values():
        statuses = {d: q["status"] for d, q in world.dq(feed.name).items()}
        assert set(statuses) == set(days), (feed.name, statuses)
        assert "failed_gate" not in statuses.values(), (feed.name, statuses)
        world.assert_books_balance(feed.name, feed.silver_table)
    assert world.dq("mes_testlog")[old]["silver_rows"] > 0 and world.dq("mes_testlog")[old]["timeliness"] > 0.5


# --------------------------------------------------- class 4: owner-only files in the lakehouse


def test_lakehouse_files_and_folders_are_owner_only_after_a_landing(world):
    import stat

    world.put("mes", DAY, "MES_TESTLOG_BRQ_20260302.csv", mes_file([mes_row(1, DAY), mes_row(2, DAY, result="X")]))
    world.put("field_returns", DAY, "rma_export_20260302.json", claims_file([claim(1, DAY)], DAY))
    world.land("mes", [DAY])
    world.land("field_returns", [DAY])
    root = world.root / "lakehouse"
    paths = [root, *root.rglob("*")]
    assert len([p for p in paths if p.name.endswith(".parquet")]) >= 4            # data, quarantine, ops
    assert any(p.name.endswith(".crc") for p in paths) and any(p.name.endswith(".json") for p in paths)
    loose = [f"{p.relative_to(world.root)} {stat.filemode(p.stat().st_mode)}" for p in paths
             if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert loose == [], loose[:10]


# ------------------------- class 10 and 11 through Airflow: the maintenance DAG, the PII sweep of logs


@pytest.fixture(scope="module")
def dagbag():
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import REPO

    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], check=True, env=os.environ, capture_output=True, timeout=300)
    subprocess.run([airflow, "pools", "set", "spark_embedded", "1", "test pool"], check=True, env=os.environ,
                   capture_output=True, timeout=300)
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


@pytest.fixture()
def world_settings(world, monkeypatch):
    """The process-wide settings (what DAG tasks read) point at the tiny world for this test only."""
    from andon.config import settings

    monkeypatch.setenv("ANDON__PATHS__LANDING", str(world.landing))
    monkeypatch.setenv("ANDON__PATHS__LAKEHOUSE", str(world.root / "lakehouse"))
    settings.cache_clear()
    assert settings().lakehouse_root == str(world.root / "lakehouse")
    yield world
    settings.cache_clear()


def test_maintenance_dag_deletes_expired_supplier_data_and_foreign_orders_are_quarantined(world_settings, dagbag):
    from datetime import UTC, datetime

    from airflow.utils.state import DagRunState

    from tests.integration.tiny import supplier_file, supplier_row

    world = world_settings
    rows = [supplier_row("LOT-OLD", DAY, po="4500000001", closed="2025-06-01"),
            supplier_row("LOT-OPEN", DAY, po="4500000002"),
            supplier_row("LOT-RECENT", DAY, po="4500000003", closed="2026-02-01"),
            supplier_row("LOT-FOREIGN", DAY, po="7100000001")]          # another customer's order
    world.put("supplier", DAY, "CSDX_SUP01_20260302.csv", supplier_file(rows))
    world.land("supplier", [DAY])
    assert [(q["reason"], q["reason_detail"]) for q in world.quarantine("supplier_lot_tests")] == [
        ("unknown_purchase_order", "purchase_order_id <- po_number=7100000001")]
    world.assert_books_balance("supplier_lot_tests", "supplier_lot_tests")
    assert b"LOT-OLD" in _data_files(world, "bronze", "supplier_lot_tests")
    run = dagbag.dags["andon_maintenance"].test(logical_date=datetime(2026, 3, 2, 4, tzinfo=UTC))
    assert run.state == DagRunState.SUCCESS
    from andon_cli.dag_runs import check_run

    assert check_run("andon_maintenance", run.run_id) == []
    assert {r["supplier_lot_id"] for r in world.rows("silver", "supplier_lot_tests")} == {"LOT-OPEN", "LOT-RECENT"}
    for layer, table in (("silver", "supplier_lot_tests"), ("bronze", "supplier_lot_tests")):
        assert b"LOT-OLD" not in _data_files(world, layer, table), f"{layer}.{table} still holds the data"
    log = world.rows("ops", "retention_log")
    assert {(r["table"], r["rows_deleted"], r["cutoff"], r["run_id"]) for r in log} == {
        ("silver.supplier_lot_tests", 1, date(2025, 9, 3), run.run_id),
        ("bronze.supplier_lot_tests", 1, date(2025, 9, 3), run.run_id),
        ("bronze.quarantine", 0, date(2025, 9, 3), run.run_id)}


def test_pii_sweep_of_a_landing_through_airflow_task_logs_and_metadata(world_settings, dagbag, caplog, capfd):
    """The field-return landing through the real DAG, its logs captured: no clear personal value in the
    log records, the task output, Airflow's home (log files, the metadata DB with XCom) or the lakehouse."""
    import os
    from datetime import UTC, datetime
    from pathlib import Path

    from airflow.utils.state import DagRunState

    world = world_settings
    claims = [claim(1, DAY, name=PERSONAL[0], email=PERSONAL[1], phone=PERSONAL[2]),
              claim(2, DAY, name=PERSONAL[3], email=PERSONAL[4], phone=PERSONAL[5], failure__mode_code="FM-??"),
              claim(3, DAY, name="Carl PLACEHOLDER", email="carl@example.com")]
    world.put("field_returns", DAY, "rma_export_20260302.json",
              claims_file(claims, DAY).replace(b"PLACEHOLDER", b"M\xfcller"))
    world.put("field_returns", DAY, "rma_export_20260302_b.json",
              b'{"claims": [{"customer": {"email": "' + PERSONAL[4].encode() + b'"}')        # truncated document
    with caplog.at_level("INFO"):
        run = dagbag.dags["andon_landing"].test(logical_date=datetime(2026, 3, 2, tzinfo=UTC),
                                                run_conf={"start": DAY.isoformat(), "end": DAY.isoformat()})
    assert run.state == DagRunState.SUCCESS
    assert world.count("silver", "field_returns") == 1 and len(world.quarantine("field_returns")) == 3
    out, err = capfd.readouterr()
    logs = caplog.text + out + err
    assert "landing field_returns/field_returns for 1 day(s)" in logs          # the landing's own log was captured
    needles = [*PERSONAL, "Carl", "carl@example.com", "M\xfcller"]
    assert [n for n in needles if n in logs or n.lower() in logs] == []
    airflow_home = Path(os.environ["AIRFLOW_HOME"])
    stores = [p for p in airflow_home.rglob("*") if p.is_file()]
    assert any(p.name == "airflow.db" for p in stores)
    hits = [f"{p.name}: {n}" for p in stores for n in needles if n.encode() in p.read_bytes()]
    assert hits == [], hits
    assert _sweep(world, needles) == []
