"""The single-pass landing: driver-side listing and parsing, one classification pass, one DQ aggregation.

Each piece is checked against an independent way of getting the same answer: the driver path
against Spark's ``binaryFile`` path (the one non-local schemes use), the one-pass DQ counts
against counts made by hand, writes to an existing partitioned table as well as a new one.
"""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from pyspark.sql import functions as F

from andon.delta import write_table
from spark_jobs.landing.bronze import parse_bronze
from spark_jobs.landing.conform import classify, conform, split_valid
from spark_jobs.landing.dq import carried_counts, day_metrics
from spark_jobs.landing.ledger import _list_hadoop, _list_local, list_files, local_dir

DAY, DAY2 = date(2026, 3, 2), date(2026, 3, 3)
HEADER = "LOG_ID,SERIAL_NO,WO_NO,PLANT,LINE,STATION,STN_TYPE,PART_NO,LOT_NO,ATTEMPT,RESULT,FAIL_CODE,TEST_TIME," \
         "DISPOSITION,LOSS_COST"
GOOD = "{id},s{id},w,BRQ,BRQ-L1,BRQ-L1-FT,FT,AX100,,1,PASS,,2026-03-0{d} 09:00:00,,"


def _testlog(lines: list[str], extra_column: bool = False) -> bytes:
    header = HEADER + (",OPERATOR_ID" if extra_column else "")
    return ("\n".join([header, *lines]) + "\n").encode()


@pytest.fixture()
def landing(tmp_path):
    """A landing zone for mes with good, bad, duplicate and hidden files on two days."""
    root = tmp_path / "landing"
    day1, day2 = root / "mes" / DAY.isoformat(), root / "mes" / DAY2.isoformat()
    day1.mkdir(parents=True)
    day2.mkdir(parents=True)
    (day1 / "MES_TESTLOG_BRQ_20260302.csv").write_bytes(_testlog([
        GOOD.format(id=1, d=2), GOOD.format(id=2, d=2), "3,broken", GOOD.format(id=4, d=2).replace("PASS", "MAYBE"),
        GOOD.format(id=1, d=2).replace("s1", "other")]))
    (day1 / "MES_TESTLOG_GDL_20260302.csv").write_bytes(_testlog([GOOD.format(id=2, d=2)]))    # a replay
    (day1 / "MES_TESTLOG_SZX_20260302.csv").write_bytes(
        _testlog([GOOD.format(id=9, d=2) + ",op7"], extra_column=True))                         # _extra
    (day1 / "_MES_TESTLOG_hidden.csv").write_bytes(_testlog([GOOD.format(id=5, d=2)]))
    (day1 / "MES_GENEALOGY_BRQ_20260302.csv").write_bytes(b"A\n1\n")                            # other feed
    (day2 / "MES_TESTLOG_BRQ_20260303.csv").write_bytes(_testlog([GOOD.format(id=7, d=3)])[:-1])  # no newline
    return root


def _cfg(cfg, root):
    class Cfg:
        landing_root = str(root)

    return Cfg()


def test_local_dir_of_landing_roots():
    assert local_dir("/data/landing") == "/data/landing"
    assert local_dir("file:///data/landing") == "/data/landing"
    assert local_dir("file:/data/landing") == "/data/landing"
    assert local_dir("s3a://bucket/landing") is None


def test_driver_listing_equals_the_hadoop_listing(spark, dictionary, landing):
    feed = dictionary.feeds["mes_testlog"]
    days = [DAY, DAY2, date(2026, 3, 4)]                                  # the last day has no folder
    local = _list_local(str(landing / "mes"), feed, days)
    hadoop = _list_hadoop(spark, f"file://{landing}/mes", feed, days)
    assert [(f.rel_path, f.landing_date, f.sha256) for f in local] == \
        [(f.rel_path, f.landing_date, f.sha256) for f in hadoop]
    assert [f.rel_path for f in local] == ["mes/2026-03-02/MES_TESTLOG_BRQ_20260302.csv",
                                           "mes/2026-03-02/MES_TESTLOG_GDL_20260302.csv",
                                           "mes/2026-03-02/MES_TESTLOG_SZX_20260302.csv",
                                           "mes/2026-03-03/MES_TESTLOG_BRQ_20260303.csv"]
    first = landing / "mes" / DAY.isoformat() / "MES_TESTLOG_BRQ_20260302.csv"
    assert local[0].sha256 == hashlib.sha256(first.read_bytes()).hexdigest()
    assert list_files(spark, _cfg(None, landing), feed, days) == local


def _rows(df):
    return sorted(tuple(str(v) if not isinstance(v, dict) else str(sorted(v.items())) for v in row)
                  for row in df.drop("_ingested_at").collect())


def test_driver_parse_equals_the_executor_parse(spark, dictionary, landing):
    feed = dictionary.feeds["mes_testlog"]
    files = _list_local(str(landing / "mes"), feed, [DAY, DAY2])
    driver = parse_bronze(spark, feed, files, "r", local=True)
    executors = parse_bronze(spark, feed, [type(f)(f.rel_path, f.landing_date, f.sha256, f"file://{f.uri}")
                                           for f in files], "r", local=False)
    assert driver.schema == executors.schema
    assert _rows(driver) == _rows(executors)
    assert driver.count() == 8
    extra = driver.where(F.col("_extra").isNotNull()).select("_extra").collect()
    assert [r._extra for r in extra] == [{"OPERATOR_ID": "op7"}]
    assert {r._parse_error for r in driver.collect()} == {None, "malformed_record"}


def test_one_pass_counts_equal_counts_by_hand(spark, dictionary, landing):
    feed = dictionary.feeds["mes_testlog"]
    files = _list_local(str(landing / "mes"), feed, [DAY, DAY2])
    bronze = parse_bronze(spark, feed, files, "r", local=True)
    classified = classify(conform(bronze, feed, dictionary, carry=carried_counts(feed)), feed)
    per_day, per_file = day_metrics(classified, feed)
    silver, quarantined, replays = split_valid(conform(bronze, feed, dictionary), feed)

    assert per_file == {r["_source_file"]: r["count"] for r in bronze.groupBy("_source_file").count().collect()}
    day = per_day[DAY]
    # by hand: BRQ has ids 1 and 2 (silver), a broken line, id 4 with an unknown result code and id 1
    # again with other content (duplicate_key); GDL replays id 2; SZX has id 9 (silver)
    assert (day["files"], day["records"], day["silver"], day["replays"], day["quarantined"]) == (3, 7, 3, 1, 3)
    assert day["silver"] == silver.where(F.col("landing_date") == DAY).count()
    assert day["replays"] == replays.count()
    assert day["by_reason"]["malformed_record"] == 1 and day["by_reason"]["duplicate_key"] == 1
    assert sum(day["by_reason"].values()) == 3
    assert day["by_reason"] == {r["_reason"]: r["count"] for r in quarantined.where(F.col("landing_date") == DAY)
                                .groupBy("_reason").count().collect()}
    assert day["contract_violations"] == 2                                          # all but the broken line
    assert day["parsed"] == 6                                                       # one malformed line
    # the malformed line misses every required element; every other line has them all
    n_required = len([s for s in feed.fields if s.required and s.source])
    assert day["missing_required"] == n_required
    assert day["timely"] == day["silver"]                                           # tested the same day
    assert per_day[DAY2]["records"] == 1 and per_day[DAY2]["silver"] == 1


@pytest.mark.parametrize("partitioned", [True, False])
def test_small_tables_replace_rows_partitioned_or_not(spark, cfg, partitioned):
    """A new small table is unpartitioned; an existing partitioned one (older lakehouses) keeps working."""
    table = f"replace_test_{'p' if partitioned else 'u'}"
    rows = [("a", DAY, 1), ("a", DAY2, 2), ("b", DAY, 3)]
    df = spark.createDataFrame(rows, "feed string, landing_date date, n int")
    write_table(df, cfg, "ops", table, "true", ["landing_date"] if partitioned else None)
    new = spark.createDataFrame([("a", DAY, 10)], "feed string, landing_date date, n int")
    write_table(new, cfg, "ops", table, f"feed = 'a' AND landing_date IN ('{DAY.isoformat()}')")
    got = sorted(tuple(r) for r in spark.read.format("delta").load(cfg.table_path("ops", table)).collect())
    assert got == [("a", DAY, 10), ("a", DAY2, 2), ("b", DAY, 3)]
