"""Delta Lake writes in one place: :func:`write_table` (an atomic replace, registered in the metastore).

Every table of the lakehouse lives at ``<lakehouse>/<layer>/<table>`` (``Settings.table_path``)
and is registered as the external table ``<layer>.<table>``, so Spark SQL, dbt and the
metastore see the same thing whichever engine wrote it.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from andon.config import Settings


def path_exists(spark: SparkSession, path: str) -> bool:
    """Existence check through Hadoop's FileSystem, so it works for file://, s3a://, abfss://..."""
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(hpath)


def table_exists(spark: SparkSession, path: str) -> bool:
    """A Delta table is at ``path`` (its ``_delta_log`` exists): one FileSystem call, no snapshot load."""
    return path_exists(spark, f"{path.rstrip('/')}/_delta_log")


def is_delta_table(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return path_exists(spark, path) and DeltaTable.isDeltaTable(spark, path)


def sql_list(values) -> str:
    """A SQL IN-list of string literals (values are escaped)."""
    return ", ".join("'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


def write_table(df: DataFrame, cfg: Settings, layer: str, table: str, replace: str,
                partition_by: list[str] | None = None, overwrite_schema: bool = False,
                merge_schema: bool = False) -> str:
    """Atomically replace the rows of ``<layer>.<table>`` matching ``replace`` with ``df``.

    One Delta commit; every row of ``df`` must satisfy the predicate ``replace`` (Delta checks
    it). Re-running with the same input leaves the table's content unchanged, which is what
    makes landing, features and scores idempotent. The first write creates the table,
    partitioned by ``partition_by``; ``overwrite_schema=True`` rewrites the whole table with
    ``df``'s schema (derived tables whose columns changed); ``merge_schema=True`` adds ``df``'s new
    columns to an existing table (rows written before read them as null). Returns ``"<layer>.<table>"``.
    """
    spark = df.sparkSession
    path = cfg.table_path(layer, table)
    writer = df.write.format("delta").mode("overwrite")
    if overwrite_schema or not is_delta_table(spark, path):
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if overwrite_schema:
            writer = writer.option("overwriteSchema", "true")
        writer.save(path)
    else:
        if merge_schema:
            writer = writer.option("mergeSchema", "true")
        writer.option("replaceWhere", replace).save(path)
    return register_table(spark, cfg, layer, table)


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
