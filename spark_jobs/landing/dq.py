"""Data-quality results of the landing (``ops.dq_results``): one row per feed and business day.

Counts (files, records, bronze, silver, quarantined by reason, collapsed replays), the KPIs
completeness, timeliness and consistency, the Great Expectations results and a status
(``published``, ``failed_gate``, ``no_data``). A requested day without any file is recorded
as ``no_data`` with completeness 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from andon.config import Settings
from andon.delta import is_delta_table, sql_list, write_table
from andon.dictionary import Feed
from spark_jobs.landing.conform import bronze_column

DQ_TABLE = "dq_results"


@dataclass
class DayQuality:
    """One row of ``ops.dq_results``: the data-quality KPIs of one feed on one business day."""

    source: str
    feed: str
    landing_date: date
    files_received: int
    records_received: int
    bronze_rows: int
    silver_rows: int
    quarantined_rows: int
    collapsed_replays: int
    quarantined_by_reason: dict[str, int]
    completeness: float | None
    timeliness: float | None
    consistency: float | None
    gx_evaluated: int
    gx_success_percent: float | None
    gx_critical_failures: list[str]
    gx_warnings: list[str]
    status: str                      # published | failed_gate | no_data
    run_id: str
    evaluated_at: datetime


def day_metrics(bronze: DataFrame, silver: DataFrame, quarantine: DataFrame,
                 replays: DataFrame, feed: Feed) -> dict[date, dict]:
    """Counts and KPIs per landing day, each computed by one Spark aggregation."""
    required_raw = [bronze_column(s.source) for s in feed.fields if s.required and s.source]
    missing = sum((F.when(F.col("_parse_error").isNotNull() | F.col(c).isNull() | (F.trim(F.col(c)) == ""), 1)
                   .otherwise(0) for c in required_raw), F.lit(0))
    per_day: dict[date, dict] = {}
    for r in bronze.groupBy("landing_date").agg(
            F.countDistinct("_source_file").alias("files"), F.count("*").alias("records"),
            F.sum(missing).alias("missing_required"),
            F.sum(F.when(F.col("_parse_error").isNull(), 1).otherwise(0)).alias("parsed")).collect():
        per_day[r["landing_date"]] = {"files": r["files"], "records": r["records"],
                                       "missing_required": r["missing_required"], "parsed": r["parsed"],
                                       "silver": 0, "quarantined": 0, "replays": 0, "by_reason": {},
                                       "contract_violations": 0, "timely": None}
    for r in quarantine.groupBy("landing_date", "reason").count().collect():
        day = per_day[r["landing_date"]]
        day["quarantined"] += r["count"]
        day["by_reason"][r["reason"]] = r["count"]
        if r["reason"] not in ("malformed_record", "truncated_record", "missing_required"):
            day["contract_violations"] += r["count"]
    for r in replays.groupBy("landing_date").count().collect():
        per_day[r["landing_date"]]["replays"] = r["count"]
    event = feed.event_time
    timely = (F.when(F.col(event) >= F.date_sub(F.col("landing_date"), 1).cast("timestamp"), 1).otherwise(0)
              if event else F.lit(None).cast("int"))
    for r in silver.groupBy("landing_date").agg(F.count("*").alias("n"), F.sum(timely).alias("timely")).collect():
        per_day[r["landing_date"]]["silver"] = r["n"]
        per_day[r["landing_date"]]["timely"] = r["timely"]
    return per_day


def kpis(m: dict, n_required: int) -> tuple[float | None, float | None, float | None]:
    """Completeness, timeliness and consistency of one day from its counts (see docs/architecture.md)."""
    records = m["records"]
    completeness = 1.0 - m["missing_required"] / (records * n_required) if records and n_required else None
    timeliness = m["timely"] / m["silver"] if m["silver"] and m["timely"] is not None else None
    consistency = 1.0 - m["contract_violations"] / m["parsed"] if m["parsed"] else None
    return completeness, timeliness, consistency


def record_missing_days(spark: SparkSession, cfg: Settings, feed: Feed, days: list[date], run_id: str,
                        now: datetime, known: set[date]) -> list[DayQuality]:
    """A requested day with no file at all is a completeness problem: say so in the DQ table."""
    dq_path = cfg.table_path("ops", DQ_TABLE)
    known = set(known)
    if set(days) <= known:
        return []
    if is_delta_table(spark, dq_path):
        known |= {r[0] for r in spark.read.format("delta").load(dq_path)
                 .where((F.col("feed") == feed.name) & F.col("landing_date").isin(days))
                 .select("landing_date").distinct().collect()}
    missing = [d for d in days if d not in known]
    rows = [DayQuality(source=feed.source, feed=feed.name, landing_date=d, files_received=0, records_received=0,
                       bronze_rows=0, silver_rows=0, quarantined_rows=0, collapsed_replays=0,
                       quarantined_by_reason={}, completeness=0.0, timeliness=None, consistency=None,
                       gx_evaluated=0, gx_success_percent=None, gx_critical_failures=[], gx_warnings=[],
                       status="no_data", run_id=run_id, evaluated_at=now) for d in missing]
    write_dq(spark, cfg, rows)
    return rows


DQ_SCHEMA = (
    "source string, feed string, landing_date date, files_received int, records_received long, "
    "bronze_rows long, silver_rows long, quarantined_rows long, collapsed_replays long, "
    "quarantined_by_reason map<string,long>, completeness double, timeliness double, consistency double, "
    "gx_evaluated int, gx_success_percent double, gx_critical_failures array<string>, "
    "gx_warnings array<string>, status string, run_id string, evaluated_at timestamp"
)


def write_dq(spark: SparkSession, cfg: Settings, rows: list[DayQuality]) -> None:
    """Replace the rows of these feeds and days in ``ops.dq_results``."""
    if not rows:
        return
    df = spark.createDataFrame([tuple(asdict(r).values()) for r in rows], DQ_SCHEMA)
    feeds = sorted({r.feed for r in rows})
    days = sorted({r.landing_date.isoformat() for r in rows})
    write_table(df, cfg, "ops", DQ_TABLE, f"feed IN ({sql_list(feeds)}) AND landing_date IN ({sql_list(days)})")
