"""Land one source system's files for a set of business days: landing -> bronze -> silver.

For each feed of the source (see ``conf/data_dictionary.yaml``):

1. **Find files** under ``<landing>/<source>/<yyyy-mm-dd>/`` for the requested days, with
   their SHA-256. Files already landed with the same checksum are skipped (``ops.landed_files``),
   so re-running any day any number of times, in any order, changes nothing.
2. **Bronze**: every record of every new or changed file, as received (source fields as text,
   the raw record, unknown columns in ``_extra``), plus file, locator, checksum, run id and
   ingestion time. Written with one atomic replace per set of files.
3. **Conform** the affected days from bronze with the data dictionary (``conform.py``):
   canonical elements, UTC times, canonical units; the first contract violation per record.
4. **Quarantine** (``bronze.quarantine``) every record that cannot be parsed or breaks the
   contract, with the reason. Identical replays of a record are collapsed and counted.
5. **Gate** the silver candidate with its Great Expectations suite: a critical failure on a day
   keeps that day's previous silver rows and marks the day failed.
6. **Publish** silver per day (atomic replace of the day) and the day's DQ results
   (completeness, timeliness, consistency) to ``ops.dq_results``.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from andon.config import Settings, settings
from spark_jobs.common.delta_io import is_delta_table, path_exists, register_table, replace_where, sql_list
from spark_jobs.landing.conform import LINEAGE, bronze_column, conform, split_valid
from spark_jobs.landing.dictionary import DataDictionary, Feed, load_dictionary
from spark_jobs.landing.parsers import parse_file

log = logging.getLogger(__name__)

QUARANTINE_TABLE = "quarantine"
LEDGER_TABLE = "landed_files"
DQ_TABLE = "dq_results"

QUARANTINE_SCHEMA = T.StructType([
    T.StructField("source", T.StringType()), T.StructField("feed", T.StringType()),
    T.StructField("landing_date", T.DateType()), T.StructField("_source_file", T.StringType()),
    T.StructField("_record_locator", T.StringType()), T.StructField("reason", T.StringType()),
    T.StructField("reason_detail", T.StringType()), T.StructField("raw_record", T.StringType()),
    T.StructField("_run_id", T.StringType()), T.StructField("quarantined_at", T.TimestampType()),
])


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


@dataclass
class FeedResult:
    feed: str
    files_new: int
    files_skipped: int
    days: list[DayQuality] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)   # wall time per step

    @contextmanager
    def step(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 2)


# ----------------------------------------------------------------------------------- helpers


def pseudonym_key(cfg: Settings) -> bytes:
    """Key for pseudonymising personal data: from the environment, or a local key file.

    The embedded default creates a random key once under ``paths.secrets``; deployments pass
    it through the variable named by ``landing.pseudonym_key_env`` (a secret store in prod).
    """
    env_name = cfg.get("landing.pseudonym_key_env", "ANDON_PSEUDONYM_KEY")
    if os.environ.get(env_name):
        return os.environ[env_name].encode("utf-8")
    key_file = Path(cfg.raw["paths"]["secrets"]) / "pseudonym.key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip().encode("utf-8")


def bronze_schema(feed: Feed) -> T.StructType:
    fields = [
        T.StructField("landing_date", T.DateType(), False),
        T.StructField("_source_file", T.StringType(), False),
        T.StructField("_file_sha256", T.StringType(), False),
        T.StructField("_record_locator", T.StringType(), False),
        T.StructField("_record", T.StringType()),
        T.StructField("_parse_error", T.StringType()),
        T.StructField("_parse_detail", T.StringType()),
    ]
    fields += [T.StructField(bronze_column(name), T.StringType()) for name in feed.source_fields]
    fields += [T.StructField("_extra", T.MapType(T.StringType(), T.StringType())),
               T.StructField("_run_id", T.StringType()), T.StructField("_ingested_at", T.TimestampType())]
    return T.StructType(fields)


def _parse_rows(feed: Feed, run_id: str, ingested_at: datetime):
    """The per-file function shipped to executors: file bytes -> bronze rows (as tuples)."""
    known = feed.source_fields
    known_set = set(known)
    personal = set(feed.personal_data)

    def parse(row) -> list[tuple]:
        out = []
        for record in parse_file(feed.format, bytes(row.content), delimiter=feed.delimiter,
                                 record_path=feed.record_path, record_element=feed.record_element,
                                 parent_element=feed.parent_element):
            extra = {k: v for k, v in record.fields.items() if k not in known_set and k not in personal}
            out.append((row.landing_date, row.rel_path, row.sha256, record.locator, record.raw,
                        record.parse_error, record.parse_detail,
                        *[record.fields.get(name) for name in known], extra or None, run_id, ingested_at))
        return out

    return parse


# ----------------------------------------------------------------------------------- steps


def list_files(spark: SparkSession, cfg: Settings, feed: Feed, days: list[date]) -> DataFrame | None:
    """Files of ``feed`` for ``days``: rel_path, landing_date, sha256, content (lazy); None if none."""
    root = f"{cfg.landing_root.rstrip('/')}/{feed.source}"
    paths = [f"{root}/{d.isoformat()}" for d in days if path_exists(spark, f"{root}/{d.isoformat()}")]
    if not paths:
        return None
    files = spark.read.format("binaryFile").option("pathGlobFilter", feed.file_glob).load(paths)
    rel = F.regexp_extract("path", rf"({feed.source}/\d{{4}}-\d{{2}}-\d{{2}}/[^/]+)$", 1)
    return files.select(
        rel.alias("rel_path"),
        F.to_date(F.regexp_extract("path", r"/(\d{4}-\d{2}-\d{2})/[^/]+$", 1)).alias("landing_date"),
        F.sha2("content", 256).alias("sha256"),
        "content",
    )


def _ledger(spark: SparkSession, cfg: Settings, feed: Feed) -> dict[str, str]:
    path = cfg.table_path("ops", LEDGER_TABLE)
    if not is_delta_table(spark, path):
        return {}
    rows = spark.read.format("delta").load(path).where(F.col("feed") == feed.name).select("file", "sha256")
    return {r.file: r.sha256 for r in rows.collect()}


def ingest_bronze(spark: SparkSession, cfg: Settings, feed: Feed, files: DataFrame | None, run_id: str,
                  force: bool = False) -> tuple[list, list[date], int]:
    """Write new or changed files to bronze. Returns (new file rows, their days, skipped count).

    The ledger is written only after the files' silver and DQ results are published
    (:func:`record_landed`), so a run that dies half-way is simply repeated by the next one.
    """
    if files is None:
        return [], [], 0
    listing = files.select("rel_path", "landing_date", "sha256").collect()
    landed = {} if force else _ledger(spark, cfg, feed)
    new = [r for r in listing if landed.get(r.rel_path) != r.sha256]
    if not new:
        return [], [], len(listing)
    new_paths = sorted(r.rel_path for r in new)
    ingested_at = datetime.now(UTC).replace(tzinfo=None)
    chosen = files.where(F.col("rel_path").isin(new_paths))
    rows = chosen.rdd.flatMap(_parse_rows(feed, run_id, ingested_at))
    bronze = spark.createDataFrame(rows, bronze_schema(feed))
    path = cfg.table_path("bronze", feed.bronze_table)
    # The landing_date conjunct lets Delta prune partitions before it looks at file names.
    days = sql_list(sorted({r.landing_date.isoformat() for r in new}))
    replace_where(bronze, path, f"landing_date IN ({days}) AND _source_file IN ({sql_list(new_paths)})",
                  ["landing_date"])
    register_table(spark, cfg, "bronze", feed.bronze_table)

    return new, sorted({r.landing_date for r in new}), len(listing) - len(new)


def record_landed(spark: SparkSession, cfg: Settings, feed: Feed, new: list, run_id: str) -> None:
    """Remember landed files with their checksum and record count (``ops.landed_files``)."""
    if not new:
        return
    paths = sorted(r.rel_path for r in new)
    counts = {r["_source_file"]: r["count"] for r in spark.read.format("delta")
              .load(cfg.table_path("bronze", feed.bronze_table))
              .where(F.col("landing_date").isin(sorted({r.landing_date for r in new}))
                     & F.col("_source_file").isin(paths))
              .groupBy("_source_file").count().collect()}
    landed_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [(feed.source, feed.name, r.rel_path, r.landing_date, r.sha256, int(counts.get(r.rel_path, 0)),
             run_id, landed_at) for r in new]
    ledger = spark.createDataFrame(rows, "source string, feed string, file string, landing_date date, "
                                         "sha256 string, records long, run_id string, landed_at timestamp")
    replace_where(ledger, cfg.table_path("ops", LEDGER_TABLE), f"feed = '{feed.name}' AND file IN ({sql_list(paths)})")
    register_table(spark, cfg, "ops", LEDGER_TABLE)


def _quarantine_rows(quarantined: DataFrame, feed: Feed, run_id: str) -> DataFrame:
    return quarantined.select(
        F.lit(feed.source).alias("source"), F.lit(feed.name).alias("feed"), *LINEAGE,
        F.col("_reason").alias("reason"), F.col("_reason_detail").alias("reason_detail"),
        F.col("_record").alias("raw_record"), F.lit(run_id).alias("_run_id"),
        F.current_timestamp().alias("quarantined_at"),
    )


def _day_metrics(bronze: DataFrame, silver: DataFrame, quarantine: DataFrame,
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


def _kpis(m: dict, n_required: int) -> tuple[float | None, float | None, float | None]:
    records = m["records"]
    completeness = 1.0 - m["missing_required"] / (records * n_required) if records and n_required else None
    timeliness = m["timely"] / m["silver"] if m["silver"] and m["timely"] is not None else None
    consistency = 1.0 - m["contract_violations"] / m["parsed"] if m["parsed"] else None
    return completeness, timeliness, consistency


def land_feed(spark: SparkSession, cfg: Settings, dd: DataDictionary, feed: Feed, days: list[date],
              run_id: str, force: bool = False) -> FeedResult:
    """Land one feed for ``days`` (see the module docstring for the steps)."""
    from expectations.gate import validate
    from expectations.suites import build_expectations, suite_name

    result = FeedResult(feed=feed.name, files_new=0, files_skipped=0)
    with result.step("bronze"):
        files = list_files(spark, cfg, feed, days)
        new_files, affected, skipped = ingest_bronze(spark, cfg, feed, files, run_id, force)
    result.files_new, result.files_skipped = len(new_files), skipped
    now = datetime.now(UTC).replace(tzinfo=None)
    bronze_path = cfg.table_path("bronze", feed.bronze_table)
    if force and is_delta_table(spark, bronze_path):
        affected = sorted({r[0] for r in spark.read.format("delta").load(bronze_path)
                           .where(F.col("landing_date").isin(days)).select("landing_date").distinct().collect()})
    if not affected:
        _record_missing_days(spark, cfg, feed, days, run_id, now, result)
        return result

    with result.step("conform_quarantine"):
        bronze = spark.read.format("delta").load(bronze_path).where(F.col("landing_date").isin(affected))
        key = pseudonym_key(cfg) if any(s.pseudonymise for s in feed.fields) else None
        conformed = conform(bronze, feed, dd, key).persist()
        silver, quarantined, replays = split_valid(conformed, feed)
        silver = silver.withColumn("_run_id", F.lit(run_id)).persist()
        quarantine_rows = _quarantine_rows(quarantined, feed, run_id).persist()
        day_list = sql_list(d.isoformat() for d in affected)
        replace_where(quarantine_rows, cfg.table_path("bronze", QUARANTINE_TABLE),
                      f"feed = '{feed.name}' AND landing_date IN ({day_list})", ["landing_date"])
        register_table(spark, cfg, "bronze", QUARANTINE_TABLE)

    # Gate: one validation over all affected days; only on failure, find the failing days.
    with result.step("quality_gate"):
        expectations = build_expectations(feed, dd)
        whole = validate(silver, suite_name(feed), expectations)
        gates = {d: whole for d in affected}
        if not whole.success:
            gates = {d: validate(silver.where(F.col("landing_date") == F.lit(d)), suite_name(feed), expectations)
                     for d in affected}
    passing = [d for d in affected if gates[d].success]
    with result.step("silver"):
        if passing:
            published = silver.where(F.col("landing_date").isin(passing))
            replace_where(published, cfg.table_path("silver", feed.silver_table),
                          f"landing_date IN ({sql_list(d.isoformat() for d in passing)})", ["landing_date"])
            register_table(spark, cfg, "silver", feed.silver_table)

    with result.step("dq_results"):
        metrics = _day_metrics(bronze, silver, quarantine_rows, replays, feed)
        n_required = len([s for s in feed.fields if s.required and s.source])
        for day in affected:
            m = metrics.get(day)
            if m is None:
                continue
            completeness, timeliness, consistency = _kpis(m, n_required)
            gate = gates[day]
            result.days.append(DayQuality(
                source=feed.source, feed=feed.name, landing_date=day, files_received=m["files"],
                records_received=m["records"], bronze_rows=m["records"],
                silver_rows=m["silver"] if gate.success else 0, quarantined_rows=m["quarantined"],
                collapsed_replays=m["replays"], quarantined_by_reason=m["by_reason"], completeness=completeness,
                timeliness=timeliness, consistency=consistency, gx_evaluated=gate.evaluated,
                gx_success_percent=gate.success_percent, gx_critical_failures=gate.critical_failures,
                gx_warnings=gate.warnings, status="published" if gate.success else "failed_gate",
                run_id=run_id, evaluated_at=now))
            if not gate.success:
                log.error("%s %s: quality gate failed, previous silver kept: %s", feed.name, day,
                          "; ".join(gate.critical_failures))
        write_dq(spark, cfg, result.days)
        record_landed(spark, cfg, feed, new_files, run_id)
        _record_missing_days(spark, cfg, feed, days, run_id, now, result)
    conformed.unpersist()
    silver.unpersist()
    quarantine_rows.unpersist()
    log.info("%s: %d new file(s), %d already landed; seconds per step %s", feed.name, result.files_new,
             result.files_skipped, result.seconds)
    return result


def _record_missing_days(spark, cfg, feed: Feed, days: list[date], run_id: str, now: datetime,
                         result: FeedResult) -> None:
    """A requested day with no file at all is a completeness problem: say so in the DQ table."""
    dq_path = cfg.table_path("ops", DQ_TABLE)
    known: set[date] = {d.landing_date for d in result.days}
    if set(days) <= known:
        return
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
    if rows:
        write_dq(spark, cfg, rows)
        result.days.extend(rows)


DQ_SCHEMA = (
    "source string, feed string, landing_date date, files_received int, records_received long, "
    "bronze_rows long, silver_rows long, quarantined_rows long, collapsed_replays long, "
    "quarantined_by_reason map<string,long>, completeness double, timeliness double, consistency double, "
    "gx_evaluated int, gx_success_percent double, gx_critical_failures array<string>, "
    "gx_warnings array<string>, status string, run_id string, evaluated_at timestamp"
)


def write_dq(spark: SparkSession, cfg: Settings, rows: list[DayQuality]) -> None:
    if not rows:
        return
    df = spark.createDataFrame([tuple(asdict(r).values()) for r in rows], DQ_SCHEMA)
    feeds = sorted({r.feed for r in rows})
    days = sorted({r.landing_date.isoformat() for r in rows})
    replace_where(df, cfg.table_path("ops", DQ_TABLE),
                  f"feed IN ({sql_list(feeds)}) AND landing_date IN ({sql_list(days)})")
    register_table(spark, cfg, "ops", DQ_TABLE)


def land_source(source: str, days: list[date], run_id: str, *, force: bool = False,
                cfg: Settings | None = None, spark: SparkSession | None = None) -> list[FeedResult]:
    """Land every feed of ``source`` for ``days``: the unit of work of one Airflow task."""
    from spark_jobs.common.session import get_spark

    cfg = cfg or settings()
    dd = load_dictionary(cfg.raw["landing"]["data_dictionary"])
    feeds = dd.feeds_of(source)
    if not feeds:
        raise ValueError(f"unknown source {source!r}; the data dictionary knows {dd.sources}")
    spark = spark or get_spark(cfg)
    results = []
    for feed in feeds:
        log.info("landing %s/%s for %d day(s)", source, feed.name, len(days))
        results.append(land_feed(spark, cfg, dd, feed, sorted(days), run_id, force))
    return results
