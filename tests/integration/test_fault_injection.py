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

from tests.integration.tiny import claim, claims_file, mes_file, mes_row, tiny_world

pytestmark = pytest.mark.integration

DAY, DAY2 = date(2026, 3, 2), date(2026, 3, 3)


@pytest.fixture()
def world(tmp_path, spark, monkeypatch):
    return tiny_world(tmp_path, spark, monkeypatch)


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
