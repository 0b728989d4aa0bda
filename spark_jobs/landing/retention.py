"""Retention and clean-up of landed data: the supplier-data rule of DOMAIN.md, and VACUUM.

**Supplier data** (:func:`apply_supplier_retention`): supplier test data is kept no longer than
``retention.supplier_days_after_po_closed`` (180) days after its purchase order closed
(``po_closed_date``). The rows are deleted from ``silver.supplier_lot_tests``,
``bronze.supplier_lot_tests`` and the feed's ``bronze.quarantine`` rows, then those tables are
VACUUMed with a retention of zero hours, so the Parquet files that held them are physically
gone (those three tables lose time travel to earlier versions; the Delta log still holds the
removed files' column statistics until its own log retention ends). Every deletion is logged in
``ops.retention_log`` (table, rule, cutoff, rows deleted, when, run).

**VACUUM** (:func:`vacuum_tables`): removes files no version needs any more (replaced day
partitions, the orphan Parquet files a killed write leaves behind), keeping every file that time
travel within the table's ``delta.deletedFileRetentionDuration`` (7 days by default) still reads:
the retention is never set below it, so a run can still be investigated a week later.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from andon.config import Settings
from andon.delta import table_exists, write_table

log = logging.getLogger(__name__)

RETENTION_LOG = "retention_log"
SUPPLIER_FEED = "supplier_lot_tests"
DEFAULT_RETAIN_HOURS = 168


def _po_closed_in_raw(raw: Column) -> Column:
    """``po_closed_date`` from a quarantined supplier record's raw line (5th ``;``-separated field)."""
    return F.try_to_timestamp(F.get(F.split(raw, ";"), 4), F.lit("yyyy-MM-dd")).cast("date")


def apply_supplier_retention(spark: SparkSession, cfg: Settings, today: date, run_id: str = "retention") -> list[dict]:
    """Delete supplier test data whose purchase order closed more than the retention period before
    ``today``, VACUUM it away and log the deletion. Returns the log rows written."""
    from delta.tables import DeltaTable

    days = int(cfg.get("retention.supplier_days_after_po_closed", 180))
    cutoff = today - timedelta(days=days)
    expired = F.lit(cutoff)
    targets = [
        ("silver", SUPPLIER_FEED, F.col("order_closed_date") < expired),
        ("bronze", SUPPLIER_FEED,
         F.try_to_timestamp(F.col("po_closed_date"), F.lit("yyyy-MM-dd")).cast("date") < expired),
        ("bronze", "quarantine", (F.col("feed") == SUPPLIER_FEED) & (_po_closed_in_raw(F.col("raw_record")) < expired)),
    ]
    deleted_at = datetime.now(UTC).replace(tzinfo=None)
    entries = []
    for layer, table, condition in targets:
        path = cfg.table_path(layer, table)
        if not table_exists(spark, path):
            continue
        rows = spark.read.format("delta").load(path).where(condition).count()
        if rows:
            DeltaTable.forPath(spark, path).delete(condition)
            # Rows soft-deleted through deletion vectors stay in their files until those are rewritten.
            spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
            vacuum_path(spark, path, retain_hours=0)
        log.info("retention: %s.%s: %d row(s) of purchase orders closed before %s deleted", layer, table, rows,
                 cutoff)
        entries.append((f"{layer}.{table}", f"supplier data {days} days after po_closed_date", cutoff, rows,
                        deleted_at, run_id))
    if entries:
        frame = spark.createDataFrame(entries, "table string, rule string, cutoff date, rows_deleted long, "
                                               "deleted_at timestamp, run_id string")
        write_table(frame, cfg, "ops", RETENTION_LOG, f"run_id = '{run_id}' AND cutoff = '{cutoff.isoformat()}'")
    return [dict(zip(("table", "rule", "cutoff", "rows_deleted", "deleted_at", "run_id"), e, strict=True))
            for e in entries]


def erase_customer(spark: SparkSession, cfg: Settings, email: str, run_id: str = "erasure") -> list[dict]:
    """Right to erasure: remove one customer (by e-mail) from every table that holds their records.

    Bronze holds only the customer's token and silver their pseudonym (both the keyed HMAC of the
    e-mail), so the rows are found without any clear value: ``bronze.field_returns``,
    ``silver.field_returns`` and the feed's quarantine rows whose raw record holds the token. The
    tables are then purged and VACUUMed with zero retention (no time travel to the removed rows).
    The log row names the tables and counts, never the customer.
    """
    from delta.tables import DeltaTable

    from andon.secrets import pseudonym_key
    from spark_jobs.landing.conform import TOKEN_PREFIX, pseudonym

    digest = pseudonym(pseudonym_key(cfg), email)
    targets = [
        ("bronze", "field_returns", F.col("customer__email") == F.lit(TOKEN_PREFIX + digest)),
        ("silver", "field_returns", F.col("customer_pseudonym") == F.lit(digest)),
        ("bronze", "quarantine", (F.col("feed") == "field_returns") & F.col("raw_record").contains(digest)),
    ]
    erased_at = datetime.now(UTC).replace(tzinfo=None)
    entries = []
    for layer, table, condition in targets:
        path = cfg.table_path(layer, table)
        if not table_exists(spark, path):
            continue
        rows = spark.read.format("delta").load(path).where(condition).count()
        if rows:
            DeltaTable.forPath(spark, path).delete(condition)
            spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
            vacuum_path(spark, path, retain_hours=0)
        entries.append((f"{layer}.{table}", "erasure request", erased_at.date(), rows, erased_at, run_id))
    frame = spark.createDataFrame(entries, "table string, rule string, cutoff date, rows_deleted long, "
                                           "deleted_at timestamp, run_id string")
    write_table(frame, cfg, "ops", RETENTION_LOG, f"run_id = '{run_id}' AND rule = 'erasure request'")
    log.info("erasure %s: %s", run_id, [(e[0], e[3]) for e in entries])
    return [dict(zip(("table", "rule", "cutoff", "rows_deleted", "deleted_at", "run_id"), e, strict=True))
            for e in entries]


def vacuum_path(spark: SparkSession, path: str, retain_hours: float | None = None) -> None:
    """VACUUM one Delta table. ``retain_hours=None``: the table's own retention (time travel kept);
    0 only for legal deletion (the check that guards short retentions is lifted for this call)."""
    check = "spark.databricks.delta.retentionDurationCheck.enabled"
    if retain_hours is None:
        spark.sql(f"VACUUM delta.`{path}`")
        return
    previous = spark.conf.get(check, "true")
    spark.conf.set(check, "false")
    try:
        spark.sql(f"VACUUM delta.`{path}` RETAIN {retain_hours} HOURS")
    finally:
        spark.conf.set(check, previous)


def vacuum_tables(spark: SparkSession, cfg: Settings, tables: list[tuple[str, str]]) -> list[str]:
    """VACUUM ``tables`` ((layer, name) pairs) with each table's own retention, so time travel within
    ``delta.deletedFileRetentionDuration`` keeps working; removes replaced and orphaned files older
    than that. Returns the tables vacuumed."""
    done = []
    for layer, table in tables:
        path = cfg.table_path(layer, table)
        if table_exists(spark, path):
            vacuum_path(spark, path)
            done.append(f"{layer}.{table}")
    return done


def landing_tables(cfg: Settings) -> list[tuple[str, str]]:
    """Every table the landing writes: bronze per feed, the quarantine, silver, the ops tables."""
    from andon.dictionary import load_dictionary

    dd = load_dictionary(cfg.raw["landing"]["data_dictionary"])
    tables = [("bronze", f.bronze_table) for f in dd.feeds.values()]
    tables += [("bronze", "quarantine")]
    tables += sorted({("silver", f.silver_table) for f in dd.feeds.values()})
    tables += [("ops", "dq_results"), ("ops", "landed_files"), ("ops", RETENTION_LOG)]
    return tables


def run_supplier_retention(day: str, run_id: str | None, cfg: Settings | None = None,
                           spark: SparkSession | None = None) -> list[dict]:
    """The maintenance DAG's retention task: :func:`apply_supplier_retention` for ``day`` (ISO),
    JSON-able log rows for XCom. Deletes data, so it runs only from ``andon_maintenance``, never
    from ``make demo``."""
    from andon.config import settings
    from andon.dates import as_date
    from andon.spark import get_spark

    cfg = cfg or settings()
    spark = spark or get_spark(cfg)
    rows = apply_supplier_retention(spark, cfg, as_date(day), run_id=run_id or "retention")
    log.info("supplier retention for %s: %s", day, [(r["table"], r["rows_deleted"]) for r in rows])
    return [{k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in r.items()} for r in rows]


def run_vacuum(cfg: Settings | None = None, spark: SparkSession | None = None) -> list[str]:
    """The maintenance DAG's VACUUM task: every landing table with its own retention (time travel of
    ``delta.deletedFileRetentionDuration`` kept), removing replaced files and killed writes' orphans."""
    from andon.config import settings
    from andon.spark import get_spark

    cfg = cfg or settings()
    spark = spark or get_spark(cfg)
    done = vacuum_tables(spark, cfg, landing_tables(cfg))
    log.info("vacuumed %d table(s): %s", len(done), ", ".join(done))
    return done
