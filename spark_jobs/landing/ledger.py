"""The file ledger (``ops.landed_files``): which landing files were landed, with their checksum.

A file already in the ledger with the same SHA-256 is skipped, so re-running any day any
number of times, in any order, changes nothing. The ledger is written only after the files'
silver and DQ results are published, so a run that dies half-way is repeated by the next one.

Listing and checksums need no Spark job on local storage: a landing zone on the local file
system (a plain path or ``file:``) is listed and hashed by the driver with plain Python
(``os.scandir`` + ``hashlib``). Any other scheme (``s3a://``, ``abfss://``, ...) goes through
Spark's ``binaryFile`` source, i.e. Hadoop's FileSystem for that scheme, as one Spark job.
Both follow Spark's listing rules for a day folder: direct files matching the feed's
``file_glob``, names starting with ``_`` or ``.`` ignored.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from andon.config import Settings
from andon.delta import path_exists, sql_list, table_exists, write_table
from andon.dictionary import Feed

LEDGER_TABLE = "landed_files"


@dataclass(frozen=True)
class LandingFile:
    """One landing file: ``<source>/<yyyy-mm-dd>/<name>`` (``rel_path``), its day, checksum and location."""

    rel_path: str
    landing_date: date
    sha256: str
    uri: str           # where to read it: a local path, or a Hadoop URI for other schemes


def local_dir(root: str) -> str | None:
    """The local directory of a landing root (``/x``, ``file:/x``, ``file:///x``), or None for other schemes."""
    if root.startswith("file:"):
        rest = root[len("file:"):]
        return "/" + rest.lstrip("/") if rest.startswith("/") else rest
    return None if "://" in root else root


def _visible(name: str, glob: str) -> bool:
    """Spark's listing rules: hidden (``_``, ``.``) and in-flight (``._COPYING_``) files are ignored."""
    hidden = (name.startswith("_") and "=" not in name) or name.startswith(".") or name.endswith("._COPYING_")
    return not hidden and fnmatch.fnmatchcase(name, glob)


def list_files(spark: SparkSession, cfg: Settings, feed: Feed, days: list[date]) -> list[LandingFile]:
    """Files of ``feed`` for ``days`` with their SHA-256, sorted by path (empty if none)."""
    root = f"{cfg.landing_root.rstrip('/')}/{feed.source}"
    local = local_dir(root)
    if local is not None:
        return _list_local(local, feed, days)
    return _list_hadoop(spark, root, feed, days)


def _list_local(root: str, feed: Feed, days: list[date]) -> list[LandingFile]:
    files = []
    for day in days:
        folder = os.path.join(root, day.isoformat())
        if not os.path.isdir(folder):
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file() and _visible(entry.name, feed.file_glob):
                    files.append(LandingFile(f"{feed.source}/{day.isoformat()}/{entry.name}", day,
                                             file_sha256(entry.path), entry.path))
    return sorted(files, key=lambda f: f.rel_path)


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _list_hadoop(spark: SparkSession, root: str, feed: Feed, days: list[date]) -> list[LandingFile]:
    """Through Spark/Hadoop (``binaryFile``): one Spark job computes every checksum."""
    paths = [f"{root}/{d.isoformat()}" for d in days if path_exists(spark, f"{root}/{d.isoformat()}")]
    if not paths:
        return []
    files = spark.read.format("binaryFile").option("pathGlobFilter", feed.file_glob).load(paths)
    rel = F.regexp_extract("path", rf"({feed.source}/\d{{4}}-\d{{2}}-\d{{2}}/[^/]+)$", 1)
    rows = files.select(
        "path", rel.alias("rel_path"),
        F.to_date(F.regexp_extract("path", r"/(\d{4}-\d{2}-\d{2})/[^/]+$", 1)).alias("landing_date"),
        F.sha2("content", 256).alias("sha256"),
    ).collect()
    return sorted((LandingFile(r.rel_path, r.landing_date, r.sha256, r.path) for r in rows),
                  key=lambda f: f.rel_path)


def landed_checksums(spark: SparkSession, cfg: Settings, feed: Feed, files: list[LandingFile]) -> dict[str, str]:
    """``{file: sha256}`` of those of ``files`` already landed (one small read of the ledger)."""
    path = cfg.table_path("ops", LEDGER_TABLE)
    if not files or not table_exists(spark, path):
        return {}
    rows = (spark.read.format("delta").load(path)
            .where((F.col("feed") == feed.name) & F.col("file").isin([f.rel_path for f in files]))
            .select("file", "sha256"))
    return {r.file: r.sha256 for r in rows.collect()}


def record_landed(spark: SparkSession, cfg: Settings, feed: Feed, new: list[LandingFile],
                  records: dict[str, int], run_id: str) -> None:
    """Remember landed files with their checksum and record count in bronze (``records`` per file)."""
    if not new:
        return
    paths = sorted(f.rel_path for f in new)
    landed_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [(feed.source, feed.name, f.rel_path, f.landing_date, f.sha256, int(records.get(f.rel_path, 0)),
             run_id, landed_at) for f in new]
    ledger = spark.createDataFrame(rows, "source string, feed string, file string, landing_date date, "
                                         "sha256 string, records long, run_id string, landed_at timestamp")
    write_table(ledger, cfg, "ops", LEDGER_TABLE, f"feed = '{feed.name}' AND file IN ({sql_list(paths)})")
