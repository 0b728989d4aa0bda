"""``bronze.quarantine``: every record that cannot be parsed or breaks the contract, with the reason.

Reasons: ``malformed_record``, ``truncated_record``, ``missing_required``, ``wrong_type``,
``unknown_code``, ``unknown_unit``, ``duplicate_key`` (see docs/sources.md). Nothing is dropped:
per feed, bronze rows = silver rows + quarantined + collapsed replays.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from andon.dictionary import Feed
from spark_jobs.landing.conform import LINEAGE

QUARANTINE_TABLE = "quarantine"

QUARANTINE_SCHEMA = T.StructType([
    T.StructField("source", T.StringType()), T.StructField("feed", T.StringType()),
    T.StructField("landing_date", T.DateType()), T.StructField("_source_file", T.StringType()),
    T.StructField("_record_locator", T.StringType()), T.StructField("reason", T.StringType()),
    T.StructField("reason_detail", T.StringType()), T.StructField("raw_record", T.StringType()),
    T.StructField("_run_id", T.StringType()), T.StructField("quarantined_at", T.TimestampType()),
])


def quarantine_rows(quarantined: DataFrame, feed: Feed, run_id: str) -> DataFrame:
    """Rows of ``bronze.quarantine`` (:data:`QUARANTINE_SCHEMA`) from conformed records that broke the contract."""
    return quarantined.select(
        F.lit(feed.source).alias("source"), F.lit(feed.name).alias("feed"), *LINEAGE,
        F.col("_reason").alias("reason"), F.col("_reason_detail").alias("reason_detail"),
        F.col("_record").alias("raw_record"), F.lit(run_id).alias("_run_id"),
        F.current_timestamp().alias("quarantined_at"),
    )
