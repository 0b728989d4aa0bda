"""Edge cases of the landing contract that docs/sources.md and docs/data_dictionary.md promise.

Strict numbers (every numeric field parses completely, with the feed's decimal separator, or
is quarantined), the duplicate-key winner (first by file, then by *numeric* record position),
dead dictionary settings, the pseudonym normalisation, DST gaps and folds, ``received_at``
offsets and the CSV dialect.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from datetime import date, datetime

import pytest
import yaml
from pyspark.sql import types as T

from andon.config import CONF_DIR
from andon.dictionary import DictionaryError, parse_dictionary
from spark_jobs.landing.conform import bronze_column, conform, pseudonym, split_valid
from spark_jobs.landing.parsers import MALFORMED, UNDECODABLE, parse_csv

KEY = b"unit-test-key"
DAY = date(2026, 3, 2)


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load((CONF_DIR / "data_dictionary.yaml").read_text())


def bronze_schema(feed):
    """The bronze columns conform reads: lineage, raw record, parse error, source fields as text."""
    lineage = [T.StructField("landing_date", T.DateType()), T.StructField("_source_file", T.StringType()),
               T.StructField("_record_locator", T.StringType())]
    text = ["_record", "_parse_error", "_parse_detail", *(bronze_column(n) for n in feed.source_fields)]
    return T.StructType(lineage + [T.StructField(name, T.StringType()) for name in text])


def bronze(spark, feed, records):
    """Bronze rows from ``(landing_date, file, locator, fields)`` tuples (or bare field dicts)."""
    schema = bronze_schema(feed)
    data = []
    for i, record in enumerate(records):
        day, file, locator, fields = record if isinstance(record, tuple) else (DAY, "f", f"line:{i + 2}", record)
        values = {"landing_date": day, "_source_file": file, "_record_locator": locator, "_record": "raw",
                  **{bronze_column(k): v for k, v in fields.items()}}
        data.append(tuple(values.get(f.name) for f in schema.fields))
    return spark.createDataFrame(data, schema)


def conformed(spark, dictionary, feed_name, rows, key=None):
    feed = dictionary.feeds[feed_name]
    return [r.asDict() for r in conform(bronze(spark, feed, rows), feed, dictionary, key)
            .orderBy("_record_locator").collect()]


LIMS = {"Sample.id": "S1", "_seq": "1", "Sample.site": "BRQ", "Sample.kind": "BUILD_LOT", "Sample.ref": "r",
        "item": "VOID_RATE", "method": "XRAY", "result": "4.30", "unit": "%", "lsl": None, "usl": "25.0",
        "status": "PASS", "tested": "2026-03-02 10:00:00"}
SUPPLIER = {"supplier_code": "SUP01", "lot_number": "L1", "part_number": "P", "po_number": "4500000001",
            "po_closed_date": None, "lot_qty": "1000", "ship_date": "2026-03-01", "parameter": "THICKNESS",
            "value": "1.60", "unit": "mm", "lsl": "1.40", "usl": "1.80"}
SPC = {"id": "m1", "plant": "SZX", "line": "SZX-L1", "char": "PASTE_HEIGHT", "sg": "g1", "n": "1",
       "val": "130.0 um", "lsl": "100 um", "usl": "160 um", "tgt": "130 um", "ts": "2026-03-02T08:00:00"}
MES = {"LOG_ID": "1", "SERIAL_NO": "s", "WO_NO": "w", "PLANT": "BRQ", "LINE": "BRQ-L1", "STATION": "BRQ-L1-FT",
       "STN_TYPE": "FT", "PART_NO": "AX100", "LOT_NO": None, "ATTEMPT": "1", "RESULT": "FAIL",
       "FAIL_CODE": "E1", "TEST_TIME": "2026-03-02 09:00:00", "DISPOSITION": "SCRAP", "LOSS_COST": "212.5"}
CLAIM = {"rma_no": "R1", "received_at": "2026-03-02T10:00:00Z", "customer.email": "ann@example.com",
         "customer.region": "EMEA", "unit.serial": "s", "unit.model": "AX100", "unit.ship_date": "2026-01-10",
         "failure.date": "2026-02-27", "failure.symptom": "NO_POWER", "failure.mode_code": "FM-PWR",
         "failure.doa": "false", "claim.cost": "215.00 USD"}

LIMS_ELEMENT = {"result": "measured_value", "lsl": "lower_spec_limit", "usl": "upper_spec_limit"}

# Text that starts like a number but is not one: never a silently truncated value.
NOT_NUMBERS = ["4,3O", "4.3O", "4,3", "4.3.1", "4 3", "4.3 %", "1.5d", "0x10", "4.3e", "NaN", "--4", "4,"]


# ------------------------------------------------------------------ defect 1: strict numbers


def test_lims_numbers_with_separate_unit_must_parse_completely(spark, dictionary):
    cases = [(field, text) for field in LIMS_ELEMENT for text in NOT_NUMBERS]
    rows = conformed(spark, dictionary, "lims_results",
                     [(DAY, "f", f"record:{i:03d}", {**LIMS, field: text}) for i, (field, text) in enumerate(cases)])
    got = [(r["_reason"], r["_reason_detail"]) for r in rows]
    assert got == [("wrong_type", f"{LIMS_ELEMENT[field]} <- {field}={text}") for field, text in cases]


def test_supplier_numbers_with_separate_unit_must_parse_completely(spark, dictionary):
    cases = [(field, text) for field in ("value", "lsl", "usl") for text in NOT_NUMBERS]
    rows = conformed(spark, dictionary, "supplier_lot_tests",
                     [(DAY, "f", f"line:{i:03d}", {**SUPPLIER, field: text}) for i, (field, text) in enumerate(cases)])
    assert [(r["_reason"], r["_reason_detail"].split(" <- ")[1]) for r in rows] == \
        [("wrong_type", f"{field}={text}") for field, text in cases]


def test_issue_example_lims_4_3O_percent_is_quarantined_not_0_04(spark, dictionary):
    feed = dictionary.feeds["lims_results"]
    silver, quarantined, _ = split_valid(conform(bronze(spark, feed, [{**LIMS, "result": "4,3O"}]), feed,
                                                 dictionary), feed)
    assert silver.count() == 0
    assert [(r._reason, r._reason_detail) for r in quarantined.collect()] == \
        [("wrong_type", "measured_value <- result=4,3O")]


def test_well_formed_numbers_with_separate_unit_still_land(spark, dictionary):
    texts = ["4.30", " 4.3 ", "+4.3", "-0.5", ".5", "5.", "4.3e0", "43E-1", "0"]
    lims = conformed(spark, dictionary, "lims_results",
                     [(DAY, "f", f"record:{i}", {**LIMS, "result": t}) for i, t in enumerate(texts)])
    assert [r["_reason"] for r in lims] == [None] * len(texts)
    assert [r["measured_value"] for r in lims] == pytest.approx([float(t) / 100 for t in texts])
    sup = conformed(spark, dictionary, "supplier_lot_tests",
                    [(DAY, "f", f"line:{i}", {**SUPPLIER, "value": t, "lsl": t, "usl": t})
                     for i, t in enumerate(texts)])
    assert [r["_reason"] for r in sup] == [None] * len(texts)
    assert [r["upper_spec_limit"] for r in sup] == pytest.approx([float(t) for t in texts])


def test_number_and_unit_in_one_text(spark, dictionary):
    cases = [("12,5um", "wrong_type"), ("12,5 um", "wrong_type"), ("12.5.1 um", "wrong_type"),
             ("12 5 um", "wrong_type"), ("12.5 um x", "wrong_type"), ("12.5", "unknown_unit"),
             ("12.5 furlong", "unknown_unit"), ("132.4um", None), (" 132.4  um ", None)]
    rows = conformed(spark, dictionary, "spc_measurements",
                     [(DAY, "f", f"line:{i}", {**SPC, "val": val}) for i, (val, _) in enumerate(cases)])
    assert [r["_reason"] for r in rows] == [reason for _, reason in cases]


def test_canonical_unit_one_may_follow_the_number_after_a_space(spark, dictionary):
    row = conformed(spark, dictionary, "spc_measurements",
                    [{**SPC, "char": "SOLDER_VOID", "val": "0.043 1", "lsl": None, "usl": "0.25 frac", "tgt": None}])[0]
    assert row["_reason"] is None and row["measured_value"] == pytest.approx(0.043)


def test_money_parses_completely(spark, dictionary):
    cases = [("215.00 USD", None), ("215,00 USD", "wrong_type"), ("215.00x USD", "wrong_type"),
             ("1,215.00 USD", "wrong_type")]
    rows = conformed(spark, dictionary, "field_returns",
                     [(DAY, "f", f"record:{i}", {**CLAIM, "claim.cost": c}) for i, (c, _) in enumerate(cases)], KEY)
    assert [r["_reason"] for r in rows] == [reason for _, reason in cases]


def test_every_feed_declares_its_decimal_separator(raw, dictionary):
    for name, feed in dictionary.feeds.items():
        assert raw["feeds"][name]["decimal_separator"] == "."      # documented in docs/sources.md
        assert feed.decimal_separator == "."


def _with_separator(raw, feed, separator):
    data = copy.deepcopy(raw)
    data["feeds"][feed]["decimal_separator"] = separator
    return parse_dictionary(data)


def test_decimal_comma_feed_reads_commas_and_refuses_points(spark, raw):
    dd = _with_separator(raw, "supplier_lot_tests", ",")
    rows = conformed(spark, dd, "supplier_lot_tests", [
        {**SUPPLIER, "value": "1,60", "lsl": "1,4", "usl": "1,8"},
        {**SUPPLIER, "lot_number": "L2", "value": "1.60"},
        {**SUPPLIER, "lot_number": "L3", "value": "1,6O"},
        {**SUPPLIER, "lot_number": "L4", "value": "1.600,5"},
    ])
    assert rows[0]["_reason"] is None
    assert (rows[0]["measured_value"], rows[0]["lower_spec_limit"], rows[0]["upper_spec_limit"]) == \
        (pytest.approx(1.6), pytest.approx(1.4), pytest.approx(1.8))
    assert [r["_reason"] for r in rows[1:]] == ["wrong_type"] * 3


def test_decimal_comma_applies_to_plain_doubles_and_text_quantities(spark, raw):
    mes = conformed(spark, _with_separator(raw, "mes_testlog", ","), "mes_testlog",
                    [{**MES, "LOSS_COST": "212,5"}, {**MES, "LOG_ID": "2", "LOSS_COST": "212.5"}])
    assert (mes[0]["loss_cost_usd"], mes[0]["_reason"]) == (212.5, None)
    assert mes[1]["_reason"] == "wrong_type"
    spc = conformed(spark, _with_separator(raw, "spc_measurements", ","), "spc_measurements",
                    [{**SPC, "val": "132,4 um", "lsl": "100 um", "usl": "160,5um", "tgt": None}])[0]
    assert spc["_reason"] is None
    assert (spc["measured_value"], spc["upper_spec_limit"]) == (pytest.approx(132.4), pytest.approx(160.5))


@pytest.mark.parametrize("separator", [";", "", "'", " "])
def test_unknown_decimal_separator_is_refused(raw, separator):
    with pytest.raises(DictionaryError, match="decimal_separator"):
        _with_separator(raw, "mes_testlog", separator)


def test_integers_stay_strict(spark, dictionary):
    rows = conformed(spark, dictionary, "mes_testlog",
                     [{**MES, "ATTEMPT": "2"}, {**MES, "LOG_ID": "2", "ATTEMPT": "2.0"},
                      {**MES, "LOG_ID": "3", "ATTEMPT": "2x"}])
    assert [(r["attempt_number"], r["_reason"]) for r in rows] == [(2, None), (None, "wrong_type"),
                                                                   (None, "wrong_type")]


# ------------------------------------------------------------------ defect 2: duplicate winner


def test_duplicate_winner_is_the_first_line_numerically(spark, dictionary):
    """line:8 comes before line:133 (as strings, "line:133" < "line:8")."""
    feed = dictionary.feeds["spc_measurements"]
    df = bronze(spark, feed, [(DAY, "f.jsonl", "line:133", {**SPC, "val": "131 um"}),
                              (DAY, "f.jsonl", "line:8", SPC)])
    silver, quarantined, replays = split_valid(conform(df, feed, dictionary), feed)
    assert [(r._record_locator, r.measured_value) for r in silver.collect()] == [("line:8", 130.0)]
    assert [(r._record_locator, r._reason) for r in quarantined.collect()] == [("line:133", "duplicate_key")]
    assert replays.count() == 0


def test_replay_kept_is_the_first_record_numerically(spark, dictionary):
    feed = dictionary.feeds["lims_results"]
    df = bronze(spark, feed, [(DAY, "x.xml", "record:10", LIMS), (DAY, "x.xml", "record:9", LIMS)])
    silver, quarantined, replays = split_valid(conform(df, feed, dictionary), feed)
    assert [r._record_locator for r in silver.collect()] == ["record:9"]
    assert [r._record_locator for r in replays.collect()] == ["record:10"]
    assert quarantined.count() == 0


def test_duplicate_winner_across_files_and_days(spark, dictionary):
    """Within a landing day the first file (path order) wins whatever the record numbers; each day
    is resolved on its own (dbt staging then keeps the latest landing day)."""
    feed = dictionary.feeds["spc_measurements"]
    later = date(2026, 3, 3)
    df = bronze(spark, feed, [
        (DAY, "spc/2026-03-02/b.jsonl", "line:1", {**SPC, "val": "131 um"}),
        (DAY, "spc/2026-03-02/a.jsonl", "line:20", SPC),
        (later, "spc/2026-03-03/a.jsonl", "line:1", {**SPC, "val": "132 um"}),
    ])
    silver, quarantined, _ = split_valid(conform(df, feed, dictionary), feed)
    assert sorted((r.landing_date, r._source_file, r.measured_value) for r in silver.collect()) == [
        (DAY, "spc/2026-03-02/a.jsonl", 130.0), (later, "spc/2026-03-03/a.jsonl", 132.0)]
    assert [(r._source_file, r._reason) for r in quarantined.collect()] == \
        [("spc/2026-03-02/b.jsonl", "duplicate_key")]


# ------------------------------------------------------------------ dead settings


def test_lims_carries_no_grade_settings(dictionary):
    lims = dictionary.feeds["lims_results"]
    assert all(spec.graded is None for spec in lims.fields)
    assert "parameter" not in lims.source_fields


@pytest.mark.parametrize("setting", ["graded", "only_when"])
def test_condition_on_a_field_the_feed_does_not_map_is_refused(raw, setting):
    bad = copy.deepcopy(raw)
    spec = bad["feeds"]["lims_results"]["fields"]["lower_spec_limit"]
    spec[setting] = ({"when_field": "parameter", "values": ["VOID_GRADE"], "code_map": "void_grade_upper_fraction"}
                     if setting == "graded" else {"field": "parameter", "values": ["VOID_GRADE"]})
    with pytest.raises(DictionaryError, match="parameter"):
        parse_dictionary(bad)


def test_identity_conversions_are_implicit_not_listed(raw):
    assert all(c["from"] != c["to"] for c in raw["unit_conversions"])
    bad = copy.deepcopy(raw)
    bad["unit_conversions"].append({"from": "um", "to": "um", "factor": 1.0})
    with pytest.raises(DictionaryError, match="identity"):
        parse_dictionary(bad)


# ------------------------------------------------------------------ documented behaviour


def test_python_pseudonym_equals_the_spark_pseudonym(spark, dictionary):
    emails = ["ann@example.com", "  Ann@Example.COM ", "\tAnn@Example.com", "Ann@Example.com\u00a0",
              "STRASSE@X.DE", "Straße@x.de", "İpek@x.tr"]
    rows = conformed(spark, dictionary, "field_returns",
                     [(DAY, "f", f"record:{i}", {**CLAIM, "customer.email": e}) for i, e in enumerate(emails)], KEY)
    assert [r["customer_pseudonym"] for r in rows] == [pseudonym(KEY, e) for e in emails]


def test_pseudonym_normalisation_is_space_trim_and_lower_case():
    expected = hmac.new(KEY, b"ann@example.com", hashlib.sha256).hexdigest()
    assert pseudonym(KEY, "  Ann@Example.COM ") == expected
    assert pseudonym(KEY, "\tann@example.com") != expected      # only spaces (U+0020) are trimmed


def test_local_times_in_dst_gap_and_fold_land_without_quarantine(spark, dictionary):
    cases = [
        ("2026-03-29 01:59:59", datetime(2026, 3, 29, 0, 59, 59)),   # CET, before the gap
        ("2026-03-29 02:30:00", datetime(2026, 3, 29, 1, 30)),       # gap: read with the offset before it (+01:00)
        ("2026-03-29 03:00:00", datetime(2026, 3, 29, 1, 0)),        # CEST
        ("2026-10-25 02:30:00", datetime(2026, 10, 25, 0, 30)),      # fold: the earlier occurrence (+02:00)
        ("2026-10-25 03:00:00", datetime(2026, 10, 25, 2, 0)),       # CET again
    ]
    # Each record lands on its own day (a time months after its landing day would be implausible_value).
    rows = conformed(spark, dictionary, "mes_testlog",
                     [(date.fromisoformat(t[:10]), "f", f"line:{i}", {**MES, "TEST_TIME": t})
                      for i, (t, _) in enumerate(cases)])
    assert [(r["tested_at"], r["_reason"]) for r in rows] == [(utc, None) for _, utc in cases]


def test_received_at_offsets(spark, dictionary):
    cases = [
        ("2026-03-02T10:00:00Z", datetime(2026, 3, 2, 10, 0)),
        ("2026-03-02T10:00:00z", datetime(2026, 3, 2, 10, 0)),
        ("2026-03-02T10:00:00+01:00", datetime(2026, 3, 2, 9, 0)),
        ("2026-03-02T10:00:00-05:30", datetime(2026, 3, 2, 15, 30)),
        ("2026-03-02T10:00:00+0100", None), ("2026-03-02T10:00:00+01", None), ("2026-03-02T10:00:00.5Z", None),
        ("2026-03-02T10:00:00", None), ("2026-03-02 10:00:00Z", None),
    ]
    rows = conformed(spark, dictionary, "field_returns",
                     [(DAY, "f", f"record:{i}", {**CLAIM, "received_at": t}) for i, (t, _) in enumerate(cases)], KEY)
    assert [(r["received_at"], r["_reason"]) for r in rows] == \
        [(utc, None if utc else "wrong_type") for _, utc in cases]


def test_csv_dialect_as_documented():
    crlf = list(parse_csv(b'A,B\r\n"x, ""y""",2\r\n'))
    assert [(r.locator, r.fields) for r in crlf] == [("line:2", {"A": 'x, "y"', "B": "2"})]
    assert list(parse_csv(b"A,B\n")) == [] and list(parse_csv(b"A,B")) == [] and list(parse_csv(b"")) == []
    blank = list(parse_csv(b"A,B\n1,2\n\n3,4\n"))
    assert [(r.locator, r.parse_error) for r in blank] == [("line:2", None), ("line:3", MALFORMED), ("line:4", None)]
    bom = list(parse_csv("\ufeffA,B\n1,2\n".encode()))
    assert bom[0].fields == {"A": "1", "B": "2"}                      # a BOM is stripped (issue 14)
    latin1 = list(parse_csv("A,B\nM\u00fcller,2\n3,4\n".encode("latin-1")))
    assert [(r.locator, r.parse_error, r.raw) for r in latin1[:1]] == [("line:2", UNDECODABLE, "M\\xfcller,2")]
    assert latin1[1].fields == {"A": "3", "B": "4"}                   # the next record lands
    declared = list(parse_csv("A,B\nM\u00fcller,2\n".encode("latin-1"), encoding="latin-1"))
    assert declared[0].fields["A"] == "M\u00fcller" and declared[0].parse_error is None
