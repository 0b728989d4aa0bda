"""The one place that builds a SparkSession.

Everything (landing jobs, tests, dbt in session mode later) gets its session here, so the
Delta extensions, the metastore and the jar cache are configured identically. The session is
reused within a process: Airflow's ``dags test`` runs every task in one process, so a DAG
run pays the JVM start once.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import time
from pathlib import Path

from andon.config import Settings, restrict_umask, settings

log = logging.getLogger(__name__)


class MetastoreBusy(RuntimeError):
    """Another process holds the embedded (Derby) metastore."""


_LOCK: dict[str, object] = {}


def embedded_metastore(cfg: Settings) -> bool:
    """The Derby default (one JVM at a time), not a shared metastore (``javax.jdo.option.ConnectionURL``)."""
    meta = cfg.raw["metastore"]
    return bool(meta.get("derby_home")) and not (meta.get("hive_conf") or {}).get("javax.jdo.option.ConnectionURL")


def metastore_lock(cfg: Settings, wait_seconds: float | None = None) -> Path | None:
    """Hold the embedded metastore for this process's lifetime: one Spark process per ``ANDON_HOME``.

    Derby admits one JVM; a second ``make land`` used to fail deep inside Spark and survive only
    through Airflow's retries. Now the second process waits for the first (``metastore.lock_wait_seconds``,
    default one hour), logging "another landing is running" with the holder's pid and command, then gives
    up with :class:`MetastoreBusy`. The lock is released when the process ends (even when killed).
    A shared metastore needs no lock (returns None).
    """
    if not embedded_metastore(cfg):
        return None
    path = Path(cfg.raw["metastore"]["derby_home"]) / "andon-spark.lock"
    if str(path) in _LOCK:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    wait = float(cfg.get("metastore.lock_wait_seconds", 3600) if wait_seconds is None else wait_seconds)
    handle = open(path, "a+")   # noqa: SIM115 - kept open for the process's lifetime
    deadline, told = time.monotonic() + wait, 0.0
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            message = (f"another landing is running on this lakehouse ({holder}); the embedded metastore "
                       f"admits one Spark process at a time")
            now = time.monotonic()
            if now >= deadline:
                handle.close()
                raise MetastoreBusy(f"{message}: gave up after {wait:.0f} s. Wait for it to finish, or use a "
                                    "shared metastore (docs/configuration.md).") from None
            if now - told >= 60 or not told:
                log.warning("%s: waiting (up to %.0f s more)", message, deadline - now)
                print(f"{message}: waiting", file=sys.stderr)
                told = now
            time.sleep(min(2.0, max(deadline - now, 0.05)))
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}: {' '.join(sys.argv)[:200]}\n")
    handle.flush()
    _LOCK[str(path)] = handle
    return path


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
    umask = cfg.get("security.umask", "077")
    if umask not in (None, ""):
        # Hadoop's local file system sets each file's mode itself (0644 by default), ignoring the
        # process umask: files 0600 and folders 0700 need Hadoop's own mask.
        conf["spark.hadoop.fs.permissions.umask-mode"] = str(umask)
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
    restrict_umask(cfg)   # the JVM inherits it (files it writes outside Hadoop's file system)
    if cfg.is_local_storage:
        metastore_lock(cfg)
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
