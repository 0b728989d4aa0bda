"""Land one source system's files for a set of business days: landing -> bronze -> silver.

For each feed of the source (see ``conf/data_dictionary.yaml``), in one pass with few Spark jobs
and one Delta commit per table:

1. **Find files** under ``<landing>/<source>/<yyyy-mm-dd>/`` for the requested days, with
   their SHA-256 (:mod:`~spark_jobs.landing.ledger`: plain Python for local storage, Spark's
   ``binaryFile`` for other schemes). Files already landed with the same checksum are skipped
   (one small read of ``ops.landed_files``), so re-running any day any number of times, in
   any order, changes nothing.
2. **Bronze**: every record of every new or changed file, as received (source fields as text,
   the raw record, unknown columns in ``_extra``), plus file, locator, checksum, run id and
   ingestion time, parsed once (:mod:`~spark_jobs.landing.bronze`). Written with one atomic
   replace per set of files; the same parsed rows are conformed, bronze is not read back.
3. **Conform** the affected days (the new files plus the days' other files already in bronze)
   with the data dictionary (:mod:`~spark_jobs.landing.conform`): canonical elements, UTC
   times, canonical units; the first contract violation per record. One window pass
   classifies every record as silver, quarantine or collapsed replay; the result is cached.
4. **Quarantine** (``bronze.quarantine``) every record that cannot be parsed or breaks the
   contract, with the reason. Identical replays of a record are collapsed and counted.
5. **Gate** the silver candidate with its Great Expectations suite: a critical failure on a day
   keeps that day's previous silver rows and marks the day failed.
6. **Publish** silver per day (atomic replace of the day), the day's DQ results (completeness,
   timeliness, consistency; counted in one aggregation over the cached records) to
   ``ops.dq_results``, then the files to the ledger.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from andon.config import Settings, settings
from andon.dates import as_date
from andon.delta import sql_list, table_exists, write_table
from andon.dictionary import DataDictionary, Feed, load_dictionary
from andon.secrets import pseudonym_key
from spark_jobs.landing.bronze import parse_bronze, write_bronze
from spark_jobs.landing.conform import QUARANTINE, SILVER, classify, collapse_cross_day_replays, conform, silver_columns
from spark_jobs.landing.dq import DayQuality, carried_counts, day_metrics, kpis, missing_days, write_dq
from spark_jobs.landing.ledger import (
    date_mismatch,
    landed_checksums,
    list_files,
    record_landed,
    record_unmatched,
    unmatched_files,
)
from spark_jobs.landing.quarantine import QUARANTINE_TABLE, quarantine_rows

log = logging.getLogger(__name__)


class LandingError(RuntimeError):
    """A landing run that could not do its work: the message names what is missing."""


@dataclass
class FeedResult:
    feed: str
    files_new: int
    files_skipped: int
    files_empty: int = 0
    records_new: int = 0
    warnings: list[str] = field(default_factory=list)
    days: list[DayQuality] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)   # wall time per step

    @contextmanager
    def step(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 2)


def land_feed(spark: SparkSession, cfg: Settings, dd: DataDictionary, feed: Feed, days: list[date],
              run_id: str, force: bool = False) -> FeedResult:
    """Land one feed for ``days`` (see the module docstring for the steps)."""
    from expectations.gate import validate
    from expectations.suites import build_expectations, suite_name

    result = FeedResult(feed=feed.name, files_new=0, files_skipped=0)
    now = datetime.now(UTC).replace(tzinfo=None)
    with result.step("list"):
        files = list_files(spark, cfg, feed, days)
        landed = {} if force else landed_checksums(spark, cfg, feed, files)
        unseen = [f for f in files if landed.get(f.rel_path) != f.sha256]
    # Zero-byte files have nothing to parse: accounted for in the ledger (empty_file), never landed.
    empty = [f for f in unseen if f.size == 0]
    new_files = [f for f in unseen if f.size != 0]
    for f in empty:
        result.warnings.append(f"{f.rel_path}: empty file (zero bytes), nothing landed")
    for f in new_files:
        if date_mismatch(f):
            result.warnings.append(f"{f.rel_path}: {date_mismatch(f)}")
    for warning in result.warnings:
        log.warning("%s: %s", feed.name, warning)
    result.files_new, result.files_skipped = len(new_files), len(files) - len(unseen)
    result.files_empty = len(empty)
    # Days whose files were all landed before already have their DQ rows.
    skipped_days = {f.landing_date for f in files} - {f.landing_date for f in new_files}
    bronze_path = cfg.table_path("bronze", feed.bronze_table)
    bronze_exists = table_exists(spark, bronze_path)
    affected = sorted({f.landing_date for f in new_files})
    if force and bronze_exists:
        affected = sorted(set(affected) | {r[0] for r in spark.read.format("delta").load(bronze_path)
                                           .where(F.col("landing_date").isin(days))
                                           .select("landing_date").distinct().collect()})
    if not affected:
        write_dq(spark, cfg, missing_days(spark, cfg, feed, days, run_id, now, skipped_days))
        record_landed(spark, cfg, feed, empty, {}, run_id)
        return result

    key = pseudonym_key(cfg) if feed.personal_data or any(s.pseudonymise for s in feed.fields) else None
    with result.step("bronze"):
        bronze = parse_bronze(spark, feed, new_files, run_id, key=key)
        if new_files:
            write_bronze(bronze, cfg, feed, new_files)
    with result.step("conform"):
        # The affected days' records: the files parsed now, plus the days' other files from bronze.
        if bronze_exists:
            others = (spark.read.format("delta").load(bronze_path)
                      .where(F.col("landing_date").isin(affected)
                             & ~F.col("_source_file").isin([f.rel_path for f in new_files])))
            bronze = bronze.unionByName(others)
        classified = classify(conform(bronze, feed, dd, key, carry=carried_counts(feed)), feed)
        classified = collapse_cross_day_replays(classified, _earlier_silver(spark, cfg, feed, affected), feed)
        classified = classified.persist()
        metrics, records_per_file = day_metrics(classified, feed)
        result.records_new = sum(records_per_file.get(f.rel_path, 0) for f in new_files)
    with result.step("quarantine"):
        quarantined = quarantine_rows(classified.where(F.col("_kind") == QUARANTINE), feed, run_id)
        write_table(quarantined, cfg, "bronze", QUARANTINE_TABLE,
                    f"feed = '{feed.name}' AND landing_date IN ({sql_list(d.isoformat() for d in affected)})")

    silver = (classified.where(F.col("_kind") == SILVER).select(*silver_columns(feed))
              .withColumn("_run_id", F.lit(run_id)))
    # Gate: one validation over all affected days; only on failure, find the failing days.
    with result.step("quality_gate"):
        expectations = build_expectations(feed, dd)
        whole = validate(silver, suite_name(feed), expectations)
        gates = {d: whole for d in affected}
        if not whole.success:
            gates = {d: validate(silver.where(F.col("landing_date") == F.lit(d)), suite_name(feed), expectations)
                     for d in affected}
    with result.step("quality_gate"):
        gates = protect_published(spark, cfg, feed, affected, metrics, gates)
    passing = [d for d in affected if gates[d].success]
    with result.step("silver"):
        if passing:
            published = silver.where(F.col("landing_date").isin(passing))
            write_table(published, cfg, "silver", feed.silver_table,
                        f"landing_date IN ({sql_list(d.isoformat() for d in passing)})", ["landing_date"])

    with result.step("dq_ledger"):
        n_required = len([s for s in feed.fields if s.required and s.source])
        for day in affected:
            m = metrics.get(day)
            if m is None:
                continue
            completeness, timeliness, consistency = kpis(m, n_required)
            gate = gates[day]
            drift = [d["message"] for d in m["drift"]]
            broken = any(d["missing"] for d in m["drift"])
            status = "failed_gate" if not gate.success else ("schema_drift" if broken else "published")
            for message in drift:
                (log.error if broken else log.warning)("%s %s: %s", feed.name, day, message)
                result.warnings.append(message)
            result.days.append(DayQuality(
                source=feed.source, feed=feed.name, landing_date=day, files_received=m["files"],
                records_received=m["records"], bronze_rows=m["records"],
                silver_rows=m["silver"] if gate.success else 0, quarantined_rows=m["quarantined"],
                collapsed_replays=m["replays"], quarantined_by_reason=m["by_reason"], completeness=completeness,
                timeliness=timeliness, consistency=consistency, gx_evaluated=gate.evaluated,
                gx_success_percent=gate.success_percent, gx_critical_failures=gate.critical_failures,
                gx_warnings=[*drift, *gate.warnings], status=status,
                run_id=run_id, evaluated_at=now))
            if not gate.success:
                log.error("%s %s: quality gate failed, previous silver kept: %s", feed.name, day,
                          "; ".join(gate.critical_failures))
        no_data = missing_days(spark, cfg, feed, days, run_id, now,
                               skipped_days | {d.landing_date for d in result.days})
        write_dq(spark, cfg, result.days + no_data)
        result.days += no_data
        record_landed(spark, cfg, feed, new_files + empty, records_per_file, run_id)
    classified.unpersist()
    log.info("%s: %d new file(s), %d already landed; seconds per step %s", feed.name, result.files_new,
             result.files_skipped, result.seconds)
    return result


def protect_published(spark: SparkSession, cfg: Settings, feed: Feed, affected: list[date], metrics: dict,
                      gates: dict) -> dict:
    """A critical gate failure for a re-landed day that would lose much of its published silver.

    A re-delivered file with a renamed column quarantines every record (``missing_required``):
    publishing that would replace a day's silver with nothing. When a day already published
    ``n`` rows and the candidate holds fewer than ``n * (1 - landing.gate.max_silver_shrink)``,
    the day fails the gate (previous silver kept, status ``failed_gate``), naming the schema drift
    that caused it when there is one. One small aggregation over the affected days' silver.
    """
    path = cfg.table_path("silver", feed.silver_table)
    if not affected or not table_exists(spark, path):
        return gates
    published = {r[0]: r[1] for r in spark.read.format("delta").load(path)
                 .where(F.col("landing_date").isin(affected)).groupBy("landing_date").count().collect()}
    max_shrink = float(cfg.get("landing.gate.max_silver_shrink", 0.5))
    checked = dict(gates)
    for day in affected:
        before = published.get(day, 0)
        m = metrics.get(day) or {"silver": 0, "drift": []}
        after = m["silver"]
        if before and after < before * (1 - max_shrink):
            gate = gates[day]
            reason = (f"re-landing would shrink published silver of {day} from {before} to {after} rows "
                      f"(more than {max_shrink:.0%})")
            causes = [d["message"] for d in m["drift"] if d["missing"]]
            if causes:
                reason += ": " + "; ".join(causes)
            checked[day] = replace(gate, success=False, critical_failures=[*gate.critical_failures, reason])
    return checked


def _earlier_silver(spark: SparkSession, cfg: Settings, feed: Feed, affected: list[date]):
    """Silver rows of the look-back window before the affected days (for cross-day replays), or None."""
    path = cfg.table_path("silver", feed.silver_table)
    lookback = int(cfg.get("landing.cross_day_lookback_days", 31))
    if not affected or lookback <= 0 or not table_exists(spark, path):
        return None
    first = min(affected) - timedelta(days=lookback)
    return (spark.read.format("delta").load(path)
            .where((F.col("landing_date") >= F.lit(first)) & (F.col("landing_date") < F.lit(max(affected)))
                   & ~F.col("landing_date").isin(affected)))


def land_source(source: str, days: list[date], run_id: str, *, force: bool = False,
                cfg: Settings | None = None, spark: SparkSession | None = None) -> list[FeedResult]:
    """Land every feed of ``source`` for ``days``: the unit of work of one Airflow task."""
    from andon.spark import get_spark

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
    unmatched = unmatched_files(cfg, source, feeds, sorted(days))
    record_unmatched(spark, cfg, source, feeds, unmatched, run_id)
    if results:
        results[0].warnings += [f"{f.rel_path}: matches no file pattern of {source}, not landed" for f in unmatched]
    check_work_done(source, feeds, results, unmatched)
    return results


def check_work_done(source: str, feeds: list[Feed], results: list[FeedResult], unmatched: list) -> None:
    """A run that does nothing never reports success: files were waiting in the landing folders, yet
    none could be read (all empty or misnamed) and none was landed before. Raises :class:`LandingError`
    naming the files and the patterns they should match. (A readable file without records, such as a
    day's claims export with an empty list, is work done: its day gets its DQ row.)"""
    unreadable = sum(r.files_empty for r in results) + len(unmatched)
    readable = sum(r.files_new + r.files_skipped for r in results)
    if unreadable and not readable:
        names = [w.split(":")[0] for r in results for w in r.warnings][:10]
        raise LandingError(
            f"{source}: {unreadable} file(s) in the landing folders, but none could be landed "
            f"(files: {', '.join(names)}; expected file patterns: {', '.join(f.file_glob for f in feeds)}). "
            "Empty and misnamed deliveries are recorded in ops.landed_files with their outcome.")


def run_landing(source: str, days: list[str], run_id: str | None, force: bool = False) -> list[dict]:
    """Land ``source`` for ``days`` (ISO strings) and return JSON-able per-feed results (Airflow XCom)."""
    results = land_source(source, [as_date(d) for d in days], run_id or "manual", force=force)
    return [_jsonable(asdict(r)) for r in results]


def summarize_results(results: list[list[dict]]) -> dict:
    """Condense the per-source task results of one landing DAG run (logged, returned to XCom)."""
    summary: dict = {"files_new": 0, "files_skipped": 0, "failed_days": [], "feeds": {}, "warnings": []}
    for per_source in results:
        for feed in per_source:
            summary["files_new"] += feed["files_new"]
            summary["files_skipped"] += feed["files_skipped"]
            summary["warnings"] += [f"{feed['feed']}: {w}" for w in feed.get("warnings", [])]
            statuses = defaultdict(int)
            for day in feed["days"]:
                statuses[day["status"]] += 1
                if day["status"] == "failed_gate":
                    reasons = "; ".join(day.get("gx_critical_failures") or [])
                    summary["failed_days"].append(f"{feed['feed']} {day['landing_date']}"
                                                  + (f": {reasons}" if reasons else ""))
            summary["feeds"][feed["feed"]] = dict(statuses)
    log.info("landing run: %s new files, %s already landed; per feed: %s", summary["files_new"],
             summary["files_skipped"], summary["feeds"])
    for failed in summary["failed_days"]:
        log.error("quality gate failed (previous silver kept): %s", failed)
    for warning in summary["warnings"]:
        log.error("landing problem: %s", warning)
    return summary


def _jsonable(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value
