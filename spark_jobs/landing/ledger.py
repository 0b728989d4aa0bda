"""The file ledger (``ops.landed_files``): which landing files were landed, with their checksum.

A file already in the ledger with the same SHA-256 is skipped, so re-running any day any
number of times, in any order, changes nothing. The ledger is written only after the files'
silver and DQ results are published, so a run that dies half-way is repeated by the next one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from andon.config import Settings
from andon.delta import is_delta_table, path_exists, sql_list, write_table
from andon.dictionary import Feed

LEDGER_TABLE = "landed_files"


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


def landed_checksums(spark: SparkSession, cfg: Settings, feed: Feed) -> dict[str, str]:
    """``{file: sha256}`` of every file of ``feed`` already landed."""
    path = cfg.table_path("ops", LEDGER_TABLE)
    if not is_delta_table(spark, path):
        return {}
    rows = spark.read.format("delta").load(path).where(F.col("feed") == feed.name).select("file", "sha256")
    return {r.file: r.sha256 for r in rows.collect()}


def record_landed(spark: SparkSession, cfg: Settings, feed: Feed, new: list, run_id: str) -> None:
    """Remember landed files with their checksum and record count in bronze."""
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
    write_table(ledger, cfg, "ops", LEDGER_TABLE, f"feed = '{feed.name}' AND file IN ({sql_list(paths)})")
