"""Delta Lake writes in one place: idempotent replaces and metastore registration."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from andon.config import Settings


def path_exists(spark: SparkSession, path: str) -> bool:
    """Existence check through Hadoop's FileSystem, so it works for file://, s3a://, abfss://..."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(hpath)


def is_delta_table(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return path_exists(spark, path) and DeltaTable.isDeltaTable(spark, path)


def sql_list(values) -> str:
    """A SQL IN-list of string literals (values are escaped)."""
    return ", ".join("'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


def replace_where(df: DataFrame, path: str, predicate: str, partition_by: list[str] | None = None) -> None:
    """Atomically replace the rows matching ``predicate`` with ``df`` (one Delta commit).

    Every row of ``df`` must satisfy ``predicate``. Re-running with the same input leaves the
    table's content unchanged, which is what makes landing idempotent.
    """
    spark = df.sparkSession
    writer = df.write.format("delta")
    if not is_delta_table(spark, path):
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.mode("overwrite").save(path)
        return
    writer.mode("overwrite").option("replaceWhere", predicate).save(path)


_REGISTERED: set[tuple[str, str]] = set()


def register_table(spark: SparkSession, cfg: Settings, layer: str, table: str) -> str:
    """Register ``<layer>.<table>`` in the metastore as an external Delta table at its path.

    Done once per table and process (the DDL round trips to the metastore are not free).
    """
    path = cfg.table_path(layer, table)
    if (path, spark.sparkContext.applicationId) not in _REGISTERED:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {layer}.{table} USING DELTA LOCATION '{path}'")
        _REGISTERED.add((path, spark.sparkContext.applicationId))
    return f"{layer}.{table}"
