"""Data-quality results of the landing (``ops.dq_results``): one row per feed and business day.

Counts (files, records, bronze, silver, quarantined by reason, collapsed replays), the KPIs
completeness, timeliness and consistency, the Great Expectations results and a status
(``published``, ``schema_drift``, ``failed_gate``, ``no_data``). A requested day without any file
is recorded as ``no_data`` with completeness 0. ``schema_drift``: published, but a file of the day
lacks a required source field altogether (a renamed or dropped column; its records are quarantined);
the drift is named in ``gx_warnings`` (added columns alone are named there too, status stays
``published``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from andon.config import Settings
from andon.delta import sql_list, table_exists, write_table
from andon.dictionary import Feed
from spark_jobs.landing.conform import REPLAY, SILVER, bronze_column

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
    status: str                      # published | schema_drift | failed_gate | no_data
    run_id: str
    evaluated_at: datetime


def carried_counts(feed: Feed) -> list[Column]:
    """Per bronze record, what the KPIs need from bronze: missing required values, parsed or not.

    Carried through :func:`~spark_jobs.landing.conform.conform` so that the day's counts come
    from one aggregation over the classified records (:func:`day_metrics`).
    """
    required_raw = [bronze_column(s.source) for s in feed.fields if s.required and s.source]
    missing = sum((F.when(F.col("_parse_error").isNotNull() | F.col(c).isNull() | (F.trim(F.col(c)) == ""), 1)
                   .otherwise(0) for c in required_raw), F.lit(0))
    parsed = F.col("_parse_error").isNull()
    # Schema drift: which required source fields each parsed record has at all, and its unknown fields.
    present = [F.when(parsed & F.col(c).isNotNull(), 1).otherwise(0).alias(f"_has_{i}")
               for i, c in enumerate(required_raw)]
    return [missing.alias("_missing_required"), F.when(parsed, 1).otherwise(0).alias("_parsed"), *present,
            F.map_keys("_extra").alias("_extra_keys")]


def required_source_fields(feed: Feed) -> list[str]:
    """The required source fields in :func:`carried_counts` order (``_has_<i>``)."""
    return [s.source for s in feed.fields if s.required and s.source]


def day_metrics(classified: DataFrame, feed: Feed) -> tuple[dict[date, dict], dict[str, int]]:
    """Counts per landing day, and records per file, from one aggregation over the classified records.

    ``classified`` has one row per bronze record of the affected days
    (:func:`~spark_jobs.landing.conform.classify` over :func:`conform` with :func:`carried_counts`).
    """
    event = feed.event_time
    timely = (F.when(F.col(event) >= F.date_sub(F.col("landing_date"), 1).cast("timestamp"), 1).otherwise(0)
              if event else F.lit(None).cast("int"))
    required = required_source_fields(feed)
    groups = classified.groupBy("landing_date", "_source_file", "_kind", "_reason").agg(
        F.count("*").alias("n"), F.sum("_missing_required").alias("missing_required"),
        F.sum("_parsed").alias("parsed"), F.sum(timely).alias("timely"),
        *[F.sum(f"_has_{i}").alias(f"has_{i}") for i in range(len(required))],
        F.array_distinct(F.flatten(F.collect_list("_extra_keys"))).alias("extra_keys")).collect()
    per_day: dict[date, dict] = {}
    per_file: dict[str, int] = {}
    files: dict[date, set[str]] = {}
    shape: dict[str, dict] = {}
    for r in groups:
        day = per_day.setdefault(r["landing_date"], {
            "files": 0, "records": 0, "missing_required": 0, "parsed": 0, "silver": 0, "quarantined": 0,
            "replays": 0, "by_reason": {}, "contract_violations": 0, "timely": None, "drift": []})
        files.setdefault(r["landing_date"], set()).add(r["_source_file"])
        per_file[r["_source_file"]] = per_file.get(r["_source_file"], 0) + r["n"]
        f = shape.setdefault(r["_source_file"], {"day": r["landing_date"], "parsed": 0,
                                                 "has": [0] * len(required), "extra": set()})
        f["parsed"] += r["parsed"]
        f["has"] = [a + (r[f"has_{i}"] or 0) for i, a in enumerate(f["has"])]
        f["extra"] |= set(r["extra_keys"] or [])
        day["records"] += r["n"]
        day["missing_required"] += r["missing_required"]
        day["parsed"] += r["parsed"]
        if r["_kind"] == SILVER:
            day["silver"] += r["n"]
            if r["timely"] is not None:
                day["timely"] = (day["timely"] or 0) + r["timely"]
        elif r["_kind"] == REPLAY:
            day["replays"] += r["n"]
        else:
            day["quarantined"] += r["n"]
            day["by_reason"][r["_reason"]] = day["by_reason"].get(r["_reason"], 0) + r["n"]
            if r["_reason"] not in ("malformed_record", "truncated_record", "undecodable_record", "missing_required"):
                day["contract_violations"] += r["n"]
    for day, names in files.items():
        per_day[day]["files"] = len(names)
    for name, f in sorted(shape.items()):
        drift = schema_drift(name, required, f["parsed"], f["has"], f["extra"])
        if drift:
            per_day[f["day"]]["drift"].append(drift)
    return per_day, per_file


def schema_drift(file: str, required: list[str], parsed: int, has: list[int], extra: set[str]) -> dict | None:
    """Schema drift of one file: required source fields that none of its parsed records has (a renamed
    or dropped column: every record is quarantined as missing_required) and fields the contract does not
    know (kept in bronze ``_extra``). None when the file has the contract's shape."""
    missing = [name for name, n in zip(required, has, strict=True) if n == 0] if parsed else []
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append(f"required field(s) {', '.join(missing)} missing")
    if extra:
        parts.append(f"unknown field(s) {', '.join(sorted(extra))}")
    return {"file": file, "missing": missing, "extra": sorted(extra),
            "message": f"schema drift in {file}: {'; '.join(parts)}"}


def kpis(m: dict, n_required: int) -> tuple[float | None, float | None, float | None]:
    """Completeness, timeliness and consistency of one day from its counts (see docs/architecture.md)."""
    records = m["records"]
    completeness = 1.0 - m["missing_required"] / (records * n_required) if records and n_required else None
    timeliness = m["timely"] / m["silver"] if m["silver"] and m["timely"] is not None else None
    consistency = 1.0 - m["contract_violations"] / m["parsed"] if m["parsed"] else None
    return completeness, timeliness, consistency


def missing_days(spark: SparkSession, cfg: Settings, feed: Feed, days: list[date], run_id: str,
                 now: datetime, known: set[date]) -> list[DayQuality]:
    """A requested day with no file at all is a completeness problem: its ``no_data`` row.

    ``known``: days that have a DQ row already or get one in this run. Only the other days are
    looked up in ``ops.dq_results`` (one small read, none when every day is known); the rows
    are returned for the run's one DQ write (:func:`write_dq`).
    """
    dq_path = cfg.table_path("ops", DQ_TABLE)
    unknown = [d for d in days if d not in known]
    if not unknown:
        return []
    found: set[date] = set()
    if table_exists(spark, dq_path):
        found = {r[0] for r in spark.read.format("delta").load(dq_path)
                 .where((F.col("feed") == feed.name) & F.col("landing_date").isin(unknown))
                 .select("landing_date").distinct().collect()}
    return [DayQuality(source=feed.source, feed=feed.name, landing_date=d, files_received=0, records_received=0,
                       bronze_rows=0, silver_rows=0, quarantined_rows=0, collapsed_replays=0,
                       quarantined_by_reason={}, completeness=0.0, timeliness=None, consistency=None,
                       gx_evaluated=0, gx_success_percent=None, gx_critical_failures=[], gx_warnings=[],
                       status="no_data", run_id=run_id, evaluated_at=now) for d in unknown if d not in found]


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
