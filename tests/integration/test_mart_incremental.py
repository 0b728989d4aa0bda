"""Incremental mart builds give exactly what a full refresh of the same silver gives.

On the integration world (landed by test_landing_dag.py, or here when run alone): bring the mart
up to date, then change silver the way landing does -- a new landing day carrying late-arriving
records for old business days and corrections of records landed earlier, and re-delivered
landing days that drop records -- build incrementally, and compare every gold table with a
``--full-refresh`` build of the same silver: same rows, every column.

Silver is written directly (a new ``landing_date`` partition, or ``replaceWhere`` on one landing
day: what ``spark_jobs.landing`` does) to keep the test fast. Afterwards every silver and gold
table is restored to its version before the test (Delta RESTORE), with the runner's incremental
state, so the tests after this one see the world they expect.
"""

from __future__ import annotations

import math
import shutil
from datetime import timedelta

import pytest

from andon.tables import read_table
from tests.integration.world import land_world

pytestmark = pytest.mark.integration

SILVER = ("test_results", "unit_genealogy", "spc_measurements", "supplier_lot_tests", "field_returns")
SOURCE_FILE = "_mart_incremental_test/late.json"


def _version(spark, path: str) -> int:
    return spark.sql(f"describe history delta.`{path}` limit 1").first()["version"]


def save_versions(cfg, spark) -> dict[str, tuple[str, int]]:
    """Bring the mart up to date; the path and version of every silver and gold table, and the state."""
    from spark_jobs.mart.runner import GOLD_MARTS, build_mart, dbt_paths

    build_mart(cfg=cfg, command="run")  # up to date with silver (full on the first build)
    paths = {f"silver.{t}": cfg.table_path("silver", t) for t in SILVER}
    paths |= {f"gold.{m}": cfg.table_path("gold", m) for m in GOLD_MARTS}
    state = dbt_paths()["state"]
    shutil.copy(state, state.with_suffix(".before-test"))
    return {name: (path, _version(spark, path)) for name, path in paths.items()}


def restore_versions(spark, versions: dict[str, tuple[str, int]]) -> None:
    from spark_jobs.mart.runner import dbt_paths

    for path, version in versions.values():
        if _version(spark, path) != version:
            spark.sql(f"restore table delta.`{path}` to version as of {version}")
    state = dbt_paths()["state"]
    shutil.move(state.with_suffix(".before-test"), state)


@pytest.fixture(scope="module")
def restored_afterwards(cfg, spark):
    """Versions of silver and gold before the test; RESTOREd (with the runner's state) after it."""
    if read_table(cfg.table_path("silver", "test_results")) is None:
        land_world(cfg, spark)
    versions = save_versions(cfg, spark)
    yield versions
    restore_versions(spark, versions)


def _append_day(frame, cfg, table: str) -> None:
    frame.write.format("delta").mode("append").save(cfg.table_path("silver", table))


def _redeliver(spark, cfg, table: str, day, drop_where: str) -> int:
    """Replace one landing day's partition with its rows minus ``drop_where`` (a re-delivery)."""
    from pyspark.sql import functions as F

    path = cfg.table_path("silver", table)
    kept = spark.read.format("delta").load(path).where(F.col("landing_date") == F.lit(day)) \
        .where(f"not ({drop_where})").localCheckpoint()
    kept.write.format("delta").mode("overwrite").option("replaceWhere", f"landing_date = '{day}'").save(path)
    return kept.count()


def _change_silver(spark, cfg) -> tuple:
    """Change silver; returns the key of a station-day whose every first attempt is withdrawn."""
    from pyspark.sql import functions as F

    def silver(table):
        return spark.read.format("delta").load(cfg.table_path("silver", table))

    days = sorted(r[0] for r in silver("test_results").select("landing_date").distinct().collect())
    new_day, early, middle = days[-1] + timedelta(days=1), days[3], days[len(days) // 2]

    def new_delivery(frame):
        return (frame.withColumn("landing_date", F.lit(new_day))
                .withColumn("_source_file", F.lit(SOURCE_FILE)).withColumn("_run_id", F.lit("test-incremental")))

    tests = silver("test_results").where(F.col("landing_date") == F.lit(early))
    first_attempts = tests.where("station_type <> 'IQC' and attempt_number = 1").orderBy("test_result_id")
    # corrections of two early first attempts: result flipped, moved two days earlier (another business day)
    corrected = first_attempts.limit(2).withColumn("is_pass", ~F.col("is_pass")) \
        .withColumn("tested_at", F.col("tested_at") - F.expr("interval 2 days"))
    # a late-arriving first attempt, a day before the unit's known one: it becomes the first attempt
    late = first_attempts.orderBy(F.desc("test_result_id")).limit(1) \
        .withColumn("test_result_id", F.concat(F.col("test_result_id"), F.lit("-LATE"))) \
        .withColumn("is_pass", F.lit(False)).withColumn("tested_at", F.col("tested_at") - F.expr("interval 1 day"))
    # an IQC sample of a lot, landed late
    iqc = silver("test_results").where("station_type = 'IQC'").orderBy("test_result_id").limit(1) \
        .withColumn("test_result_id", F.concat(F.col("test_result_id"), F.lit("-LATE"))) \
        .withColumn("is_pass", F.lit(False))
    _append_day(new_delivery(corrected.unionByName(late).unionByName(iqc)), cfg, "test_results")
    # a re-delivered day without a tenth of its records
    _redeliver(spark, cfg, "test_results", middle, "pmod(hash(test_result_id), 10) = 0")
    # re-deliveries that withdraw every record of one station on one test day: its gold row must go
    gone = silver("test_results").where("station_type <> 'IQC' and attempt_number = 1") \
        .where(F.col("landing_date") == F.lit(days[-3])) \
        .select("station_id", F.to_date("tested_at").alias("day")).orderBy("station_id", "day").first()
    withdrawn = f"station_id = '{gone['station_id']}' and to_date(tested_at) = date'{gone['day']}'"
    for (landing_day,) in silver("test_results").where(withdrawn).select("landing_date").distinct().collect():
        _redeliver(spark, cfg, "test_results", landing_day, withdrawn)

    spc = silver("spc_measurements").where(F.col("landing_date") == F.lit(early)).orderBy("measurement_id")
    late_spc = spc.limit(3).withColumn("measurement_id", F.concat(F.col("measurement_id"), F.lit("-LATE"))) \
        .withColumn("measured_value", F.col("measured_value") * 1.5)
    _append_day(new_delivery(late_spc), cfg, "spc_measurements")
    _redeliver(spark, cfg, "spc_measurements", middle, "pmod(hash(measurement_id), 7) = 0")

    lot_tests = silver("supplier_lot_tests").orderBy("supplier_lot_id", "characteristic_id").limit(1) \
        .withColumn("measured_value", F.col("measured_value") + 1000.0)
    _append_day(new_delivery(lot_tests), cfg, "supplier_lot_tests")

    _redeliver(spark, cfg, "unit_genealogy", middle, "pmod(hash(serial_number), 5) = 0")

    built = silver("unit_genealogy").where(F.col("landing_date") == F.lit(early)).select("serial_number")
    returns = silver("field_returns").orderBy("rma_id").limit(1)
    late_return = returns.withColumn("rma_id", F.concat(F.col("rma_id"), F.lit("-LATE"))) \
        .withColumn("serial_number", F.lit(built.orderBy("serial_number").first()[0]))
    _append_day(new_delivery(late_return), cfg, "field_returns")
    return gone["station_id"], gone["day"]


def _rows(spark, table: str) -> list[tuple]:
    frame = spark.table(table)
    rows = [tuple(row) for row in frame.collect()]
    return sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))


def _same(a: list[tuple], b: list[tuple]) -> bool:
    """Equal rows; doubles equal up to 1e-9 relative (Spark's sums may add in another order)."""
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b, strict=True):
        for x, y in zip(row_a, row_b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not (math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(x) and math.isnan(y))):
                    return False
            elif x != y:
                return False
    return True


def test_incremental_build_equals_full_refresh(restored_afterwards, cfg, spark):
    check_incremental_equals_full_refresh(cfg, spark)


def check_incremental_equals_full_refresh(cfg, spark) -> None:
    from spark_jobs.mart.runner import GOLD_MARTS, INCREMENTAL_MARTS, SIGNAL_ONLY_MARTS, build_mart

    before = {m: _rows(spark, f"gold.{m}") for m in INCREMENTAL_MARTS}
    station, day = _change_silver(spark, cfg)
    station_day = f"station_id = '{station}' and tested_date = date'{day}'"
    assert spark.table("gold.fct_station_daily_yield").where(station_day).count() > 0

    incremental = build_mart(cfg=cfg, command="run")
    assert incremental["mode"] == "incremental", incremental["full_refresh_reason"]
    assert all(incremental["scope"][name] > 0 for name in incremental["scope"]), incremental["scope"]
    after_incremental = {m: _rows(spark, f"gold.{m}") for m in GOLD_MARTS}

    full = build_mart(cfg=cfg, command="run", full_refresh=True)
    assert full["mode"] == "full_refresh"
    after_full = {m: _rows(spark, f"gold.{m}") for m in GOLD_MARTS}

    assert spark.table("gold.fct_station_daily_yield").where(station_day).count() == 0  # deleted, not kept
    for model in GOLD_MARTS:
        assert after_full[model] or model in SIGNAL_ONLY_MARTS, model
        assert _same(after_incremental[model], after_full[model]), f"{model}: incremental != full refresh"
    # the changes reached every incremental mart (an incremental build that did nothing fails above)
    for model in INCREMENTAL_MARTS:
        assert not _same(before[model], after_full[model]), f"{model}: the silver changes did not change it"

    # nothing changed since: the next incremental build recomputes nothing and changes nothing
    again = build_mart(cfg=cfg, command="run")
    assert again["mode"] == "incremental" and sum(again["scope"].values()) == 0
    assert all(_same(_rows(spark, f"gold.{m}"), after_full[m]) for m in INCREMENTAL_MARTS)
