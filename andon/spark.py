"""The one place that builds a SparkSession.

Everything (landing jobs, tests, dbt in session mode later) gets its session here, so the
Delta extensions, the metastore and the jar cache are configured identically. The session is
reused within a process: Airflow's ``dags test`` runs every task in one process, so a DAG
run pays the JVM start once.
"""

from __future__ import annotations

import os
from pathlib import Path

from andon.config import Settings, settings


def spark_conf(cfg: Settings) -> dict[str, str]:
    """All Spark settings for a profile, as a flat mapping (pure; unit-tested)."""
    spark_cfg = cfg.raw["spark"]
    meta = cfg.raw["metastore"]
    conf: dict[str, str] = {
        "spark.master": spark_cfg["master"],
        "spark.app.name": spark_cfg.get("app_name", "andon-lakehouse"),
        "spark.sql.warehouse.dir": meta["warehouse_dir"],
    }
    packages = spark_cfg.get("packages") or []
    if packages:
        conf["spark.jars.packages"] = ",".join(packages)
        conf["spark.jars.ivy"] = spark_cfg["ivy_dir"]
    if meta.get("derby_home"):
        conf["spark.driver.extraJavaOptions"] = f"-Dderby.system.home={meta['derby_home']}"
    for key, value in (meta.get("hive_conf") or {}).items():
        conf[f"spark.hadoop.{key}"] = str(value)
    for key, value in (spark_cfg.get("conf") or {}).items():
        conf[key] = str(value)
    # An empty value leaves the setting to the launcher (e.g. `spark-submit --master ...`).
    return {key: value for key, value in conf.items() if value not in ("", "None")}


def get_spark(cfg: Settings | None = None):
    """Return the process's SparkSession, creating it (Delta + Hive metastore) on first use."""
    from pyspark.sql import SparkSession

    cfg = cfg or settings()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", _python()))
    conf = spark_conf(cfg)
    if cfg.is_local_storage:
        for key in ("spark.sql.warehouse.dir",):
            Path(conf[key]).mkdir(parents=True, exist_ok=True)
        if cfg.raw["metastore"].get("derby_home"):
            Path(cfg.raw["metastore"]["derby_home"]).mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _python() -> str:
    import sys

    return sys.executable


def main(argv: list[str] | None = None) -> int:
    """``python -m andon.spark --check``: start a session (fetching the jars once)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--check", action="store_true", help="start Spark with Delta, write and read a table")
    args = parser.parse_args(argv)
    spark = get_spark()
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            spark.range(3).write.format("delta").save(f"{tmp}/t")
            assert spark.read.format("delta").load(f"{tmp}/t").count() == 3
    print(f"Spark {spark.version} with Delta Lake: ok")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
