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

Every file of a landing folder is accounted for with an ``outcome`` (issue 14, "files that
vanish from the record"):

* ``landed``: parsed into bronze (its bad records are in ``bronze.quarantine``);
* ``name_date_mismatch``: landed under its folder's day, but the date in its name is another
  day (a re-delivery or a misfiled file); its records that silver already holds from an earlier
  day are collapsed as cross-day replays, never published twice (``detail`` names both days);
* ``empty_file``: zero bytes, nothing to parse;
* ``unmatched_name``: in a source's folder, but no feed of the source has a ``file_glob`` for it
  (``feed`` is null); never read.

Hidden and in-flight files (``_x``, ``.x``, ``x._COPYING_``) are not landing files (Spark's rules)
and are left alone.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from andon.config import Settings
from andon.delta import path_exists, sql_list, table_exists, write_table
from andon.dictionary import Feed

LEDGER_TABLE = "landed_files"
LANDED, NAME_DATE_MISMATCH, EMPTY_FILE, UNMATCHED_NAME = "landed", "name_date_mismatch", "empty_file", "unmatched_name"
LEDGER_SCHEMA = ("source string, feed string, file string, landing_date date, sha256 string, records long, "
                 "run_id string, landed_at timestamp, outcome string, detail string")
# A date in a file name: 20260302, 2026-03-02 or 2026_03_02 (not inside a longer number).
_NAME_DATE = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})[-_]?([01][0-9])[-_]?([0-3][0-9])(?![0-9])")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandingFile:
    """One landing file: ``<source>/<yyyy-mm-dd>/<name>`` (``rel_path``), its day, checksum and location."""

    rel_path: str
    landing_date: date
    sha256: str
    uri: str           # where to read it: a local path, or a Hadoop URI for other schemes
    size: int = -1     # bytes (-1: unknown)

    @property
    def name(self) -> str:
        return self.rel_path.rsplit("/", 1)[-1]


def name_date(name: str) -> date | None:
    """The business day a file name claims (``MES_TESTLOG_BRQ_20260302.csv`` -> 2026-03-02), or None."""
    for match in _NAME_DATE.finditer(name):
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
    return None


def date_mismatch(file: LandingFile) -> str | None:
    """Why ``file``'s name disagrees with its day folder, or None when it agrees (or names no date)."""
    claimed = name_date(file.name)
    if claimed is None or claimed == file.landing_date:
        return None
    return f"name date {claimed.isoformat()} differs from folder day {file.landing_date.isoformat()}"


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
                                             file_sha256(entry.path), entry.path, entry.stat().st_size))
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
        F.sha2("content", 256).alias("sha256"), "length",
    ).collect()
    return sorted((LandingFile(r.rel_path, r.landing_date, r.sha256, r.path, r.length) for r in rows),
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


def outcome_of(file: LandingFile) -> tuple[str, str | None]:
    """The ledger outcome of a feed's file (see the module docstring) and its detail."""
    if file.size == 0:
        return EMPTY_FILE, "zero bytes: nothing to parse"
    mismatch = date_mismatch(file)
    if mismatch:
        return NAME_DATE_MISMATCH, mismatch + "; landed under the folder day, earlier records collapsed as replays"
    return LANDED, None


def record_landed(spark: SparkSession, cfg: Settings, feed: Feed, new: list[LandingFile],
                  records: dict[str, int], run_id: str) -> None:
    """Remember ``new`` files with their checksum, record count in bronze (``records`` per file) and outcome."""
    if not new:
        return
    paths = sorted(f.rel_path for f in new)
    landed_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [(feed.source, feed.name, f.rel_path, f.landing_date, f.sha256, int(records.get(f.rel_path, 0)),
             run_id, landed_at, *outcome_of(f)) for f in new]
    ledger = spark.createDataFrame(rows, LEDGER_SCHEMA)
    write_table(ledger, cfg, "ops", LEDGER_TABLE, f"feed = '{feed.name}' AND file IN ({sql_list(paths)})",
                merge_schema=True)


def unmatched_files(cfg: Settings, source: str, feeds: list[Feed], days: list[date]) -> list[LandingFile]:
    """Visible files in ``source``'s day folders that no feed's ``file_glob`` matches (local storage only;
    on other schemes the listing goes through Spark with the feeds' globs and cannot see them)."""
    root = local_dir(f"{cfg.landing_root.rstrip('/')}/{source}")
    if root is None:
        return []
    found = []
    for day in days:
        folder = os.path.join(root, day.isoformat())
        if not os.path.isdir(folder):
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.is_file() or not _visible(entry.name, "*"):
                    continue
                if not any(fnmatch.fnmatchcase(entry.name, feed.file_glob) for feed in feeds):
                    found.append(LandingFile(f"{source}/{day.isoformat()}/{entry.name}", day,
                                             file_sha256(entry.path), entry.path, entry.stat().st_size))
    return sorted(found, key=lambda f: f.rel_path)


def record_unmatched(spark: SparkSession, cfg: Settings, source: str, feeds: list[Feed],
                     files: list[LandingFile], run_id: str) -> None:
    """Account for files no feed claims (outcome ``unmatched_name``, ``feed`` null) and say so loudly."""
    if not files:
        return
    path = cfg.table_path("ops", LEDGER_TABLE)
    if table_exists(spark, path):
        known = {(r.file, r.sha256) for r in spark.read.format("delta").load(path)
                 .where((F.col("source") == source) & F.col("feed").isNull()
                        & F.col("file").isin([f.rel_path for f in files])).select("file", "sha256").collect()}
        files = [f for f in files if (f.rel_path, f.sha256) not in known]
        if not files:
            return
    globs = ", ".join(feed.file_glob for feed in feeds)
    for f in files:
        log.error("file not landed: %s matches no file pattern of source %s (%s)", f.rel_path, source, globs)
    landed_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [(source, None, f.rel_path, f.landing_date, f.sha256, 0, run_id, landed_at, UNMATCHED_NAME,
             f"matches no file pattern of source {source} ({globs})") for f in files]
    write_table(spark.createDataFrame(rows, LEDGER_SCHEMA), cfg, "ops", LEDGER_TABLE,
                f"source = '{source}' AND feed IS NULL AND file IN ({sql_list(f.rel_path for f in files)})",
                merge_schema=True)
