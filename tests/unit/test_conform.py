"""Bronze -> silver conversions on a real Spark session (tiny inline data)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from spark_jobs.landing.bronze import bronze_schema
from spark_jobs.landing.conform import bronze_column, conform, pseudonym, split_valid

KEY = b"unit-test-key"


def bronze(spark, feed, rows):
    schema = bronze_schema(feed)
    base = {"landing_date": date(2026, 3, 2), "_source_file": "f", "_file_sha256": "0", "_record": "raw",
            "_run_id": "t", "_ingested_at": datetime(2026, 3, 3)}
    data = []
    for i, row in enumerate(rows):
        values = {**base, "_record_locator": f"line:{i + 2}", **{bronze_column(k): v for k, v in row.items()}}
        data.append(tuple(values.get(f.name) for f in schema.fields))
    return spark.createDataFrame(data, schema)


def rows_of(df, *columns):
    return [tuple(r[c] for c in columns) for r in df.orderBy("_record_locator").collect()]


SPC = {"id": "m1", "plant": "SZX", "line": "SZX-L1", "char": "PASTE_HEIGHT", "sg": "g1", "n": "1",
       "val": "130.0 um", "lsl": "100 um", "usl": "160 um", "tgt": "130 um", "ts": "2026-03-02T08:00:00"}


def test_spc_units_and_local_time(spark, dictionary):
    feed = dictionary.feeds["spc_measurements"]
    rows = [
        SPC,
        {**SPC, "id": "m2", "plant": "GDL", "line": "GDL-L1", "val": "5.2 mil", "lsl": "4 mil", "usl": None,
         "tgt": None, "ts": "2026-04-15T12:00:00"},
        {**SPC, "id": "m3", "char": "REFLOW_PEAK_TEMP", "plant": "GDL", "val": "482 F", "lsl": None,
         "usl": "500 F", "tgt": None},
        {**SPC, "id": "m4", "char": "SOLDER_VOID", "val": "0.043 frac", "lsl": None, "usl": "0.25 frac", "tgt": None},
    ]
    out = conform(bronze(spark, feed, rows), feed, dictionary)
    got = rows_of(out, "measurement_id", "measured_value", "lower_spec_limit", "upper_spec_limit",
                  "unit_of_measure", "measured_at", "_reason")
    assert got[0] == ("m1", 130.0, 100.0, 160.0, "um", datetime(2026, 3, 2, 0, 0), None)   # Shanghai = UTC+8
    assert got[1][1] == pytest.approx(132.08) and got[1][2] == pytest.approx(101.6) and got[1][3] is None
    assert got[1][5] == datetime(2026, 4, 15, 18, 0)                                       # Mexico City, no DST
    assert got[2][1] == pytest.approx(250.0) and got[2][3] == pytest.approx(260.0) and got[2][4] == "degC"
    assert got[3][1] == pytest.approx(0.043) and got[3][4] == "1"


def test_dst_in_brno(spark, dictionary):
    feed = dictionary.feeds["spc_measurements"]
    rows = [{**SPC, "id": "w", "plant": "BRQ", "ts": "2026-03-28T12:00:00"},
            {**SPC, "id": "s", "plant": "BRQ", "ts": "2026-03-30T12:00:00"}]
    got = rows_of(conform(bronze(spark, feed, rows), feed, dictionary), "measurement_id", "measured_at")
    assert got == [("w", datetime(2026, 3, 28, 11, 0)), ("s", datetime(2026, 3, 30, 10, 0))]


def test_contract_violations_name_the_first_problem(spark, dictionary):
    feed = dictionary.feeds["spc_measurements"]
    rows = [
        {**SPC, "val": "12,5O um"},
        {**SPC, "char": "GLUE_DOTS"},
        {**SPC, "plant": "XXX"},
        {**SPC, "val": "130 furlong"},
        {**SPC, "sg": None},
        {**SPC, "n": "two"},
        {**SPC, "_parse_error": "malformed_record"},
    ]
    got = [r[0] for r in rows_of(conform(bronze(spark, feed, rows), feed, dictionary), "_reason")]
    assert got == ["wrong_type", "unknown_code", "unknown_code", "unknown_unit", "missing_required",
                   "wrong_type", "malformed_record"]


def test_void_rate_percent_fraction_and_grade_agree(spark, dictionary):
    lims = dictionary.feeds["lims_results"]
    lrow = {"Sample.id": "S1", "_seq": "1", "Sample.site": "BRQ", "Sample.kind": "BUILD_LOT", "Sample.ref": "r",
            "item": "VOID_RATE", "method": "XRAY", "result": "7.5", "unit": "%", "lsl": None, "usl": "25",
            "status": "PASS", "tested": "2026-03-02 10:00:00"}
    lab = conform(bronze(spark, lims, [lrow]), lims, dictionary).first()
    assert lab["characteristic_id"] == "SOLDER_VOID" and lab["measured_value"] == pytest.approx(0.075)
    assert lab["upper_spec_limit"] == pytest.approx(0.25) and lab["_reason"] is None

    sup = dictionary.feeds["supplier_lot_tests"]
    srow = {"supplier_code": "SUP01", "lot_number": "L1", "part_number": "P", "po_number": "4500000001",
            "po_closed_date": None, "lot_qty": "1000", "ship_date": "2026-03-01", "parameter": "VOID_GRADE",
            "value": "V2", "unit": None, "lsl": None, "usl": None}
    out = conform(bronze(spark, sup, [srow, {**srow, "lot_number": "L2", "value": "V9"}]), sup, dictionary)
    got = rows_of(out, "characteristic_id", "measured_value", "value_code", "_reason")
    assert got[0] == ("SOLDER_VOID", pytest.approx(0.075), "V2", None)
    assert got[1][3] == "unknown_code"


def test_codes_booleans_and_personal_data(spark, dictionary):
    mes = dictionary.feeds["mes_testlog"]
    row = {"LOG_ID": "1", "SERIAL_NO": "s", "WO_NO": "w", "PLANT": "SZX", "LINE": "SZX-L1", "STATION": "SZX-L1-FT",
           "STN_TYPE": "FCT", "PART_NO": "AX100", "LOT_NO": None, "ATTEMPT": "1", "RESULT": "F",
           "FAIL_CODE": "E1", "TEST_TIME": "2026-03-02 09:00:00", "DISPOSITION": "SCRAP", "LOSS_COST": "212.5"}
    out = conform(bronze(spark, mes, [row, {**row, "LOG_ID": "2", "RESULT": "PASS", "STN_TYPE": "RUNIN",
                                            "DISPOSITION": None, "LOSS_COST": None}]), mes, dictionary)
    got = rows_of(out, "station_type", "is_pass", "loss_cost_usd", "_reason")
    assert got == [("FT", False, 212.5, None), ("REL", True, None, None)]

    fr = dictionary.feeds["field_returns"]
    claim = {"rma_no": "R1", "received_at": "2026-03-02T10:00:00Z", "customer.name": "Ann",
             "customer.email": " Ann@Example.com", "customer.phone": "1", "customer.region": "EMEA",
             "unit.serial": "s", "unit.model": "AX100", "unit.ship_date": "2026-01-10", "failure.date": "2026-02-27",
             "failure.symptom": "NO_POWER", "failure.mode_code": "FM-PWR", "failure.doa": "false",
             "environment.ambient_temp_c": "31.5", "environment.humidity_pct": "70", "environment.usage": "CABINET",
             "claim.type": "WARRANTY", "claim.cost": "215.00 USD"}
    row = conform(bronze(spark, fr, [claim]), fr, dictionary, KEY).first()
    assert row["customer_pseudonym"] == pseudonym(KEY, "ann@example.com")
    assert row["claim_cost_usd"] == 215.0 and row["is_doa"] is False and row["_reason"] is None
    assert "Ann" not in str(row.asDict())


def test_replays_collapse_and_conflicts_are_quarantined(spark, dictionary):
    feed = dictionary.feeds["spc_measurements"]
    df = bronze(spark, feed, [SPC, SPC, {**SPC, "val": "131 um"}, {**SPC, "id": "m9"}])
    silver, quarantined, replays = split_valid(conform(df, feed, dictionary), feed)
    assert sorted(r.measurement_id for r in silver.collect()) == ["m1", "m9"]
    assert replays.count() == 1
    assert [r._reason for r in quarantined.collect()] == ["duplicate_key"]
