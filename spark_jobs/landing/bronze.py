"""Landing files -> bronze: every record of every new or changed file, as received.

Source fields as text, the raw record, unknown columns in ``_extra``, plus file, record
locator, checksum, run id and ingestion time. Files already landed with the same checksum
(:mod:`spark_jobs.landing.ledger`) are skipped.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from andon.config import Settings
from andon.delta import sql_list, write_table
from andon.dictionary import Feed
from spark_jobs.landing.conform import bronze_column
from spark_jobs.landing.ledger import landed_checksums
from spark_jobs.landing.parsers import parse_file


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


def ingest_bronze(spark: SparkSession, cfg: Settings, feed: Feed, files: DataFrame | None, run_id: str,
                  force: bool = False) -> tuple[list, list[date], int]:
    """Write new or changed files to bronze. Returns (new file rows, their days, skipped count).

    The ledger is written only after the files' silver and DQ results are published
    (:func:`record_landed`), so a run that dies half-way is simply repeated by the next one.
    """
    if files is None:
        return [], [], 0
    listing = files.select("rel_path", "landing_date", "sha256").collect()
    landed = {} if force else landed_checksums(spark, cfg, feed)
    new = [r for r in listing if landed.get(r.rel_path) != r.sha256]
    if not new:
        return [], [], len(listing)
    new_paths = sorted(r.rel_path for r in new)
    ingested_at = datetime.now(UTC).replace(tzinfo=None)
    chosen = files.where(F.col("rel_path").isin(new_paths))
    rows = chosen.rdd.flatMap(_parse_rows(feed, run_id, ingested_at))
    bronze = spark.createDataFrame(rows, bronze_schema(feed))
    # The landing_date conjunct lets Delta prune partitions before it looks at file names.
    days = sql_list(sorted({r.landing_date.isoformat() for r in new}))
    write_table(bronze, cfg, "bronze", feed.bronze_table,
                f"landing_date IN ({days}) AND _source_file IN ({sql_list(new_paths)})", ["landing_date"])

    return new, sorted({r.landing_date for r in new}), len(listing) - len(new)
