"""Landing files -> bronze: every record of every new or changed file, as received.

Source fields as text, the raw record, unknown columns in ``_extra``, plus file, record
locator, checksum, run id and ingestion time. Files already landed with the same checksum
(:mod:`spark_jobs.landing.ledger`) are skipped.

The files are parsed once (:mod:`spark_jobs.landing.parsers`) into one DataFrame that the job
writes to bronze *and* conforms, so bronze is never read back. Local files are parsed by the
driver into Arrow record batches (no Python workers, no pickling: Spark takes the batches as
they are); files on any other scheme are read with Spark's ``binaryFile`` source and parsed
on the executors, so a cluster reading ``s3a://`` scales with its executors.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from andon.config import Settings
from andon.delta import sql_list, write_table
from andon.dictionary import Feed
from spark_jobs.landing.conform import TOKEN_PREFIX as CONFORM_TOKEN_PREFIX
from spark_jobs.landing.conform import bronze_column, pseudonym
from spark_jobs.landing.ledger import LandingFile, local_dir
from spark_jobs.landing.parsers import RawRecord, parse_file

#: Rows per Arrow record batch (and per Spark partition) of driver-parsed files.
BATCH_ROWS = 100_000


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


def _records(feed: Feed, content: bytes, key: bytes | None = None):
    """(record, known field values..., extra entries) per record; personal data tokenised with ``key``."""
    known = feed.source_fields
    known_set = set(known)
    personal = set(feed.personal_data)
    for record in parse_file(feed.format, content, delimiter=feed.delimiter, record_path=feed.record_path,
                             record_element=feed.record_element, parent_element=feed.parent_element,
                             encoding=feed.encoding):
        if personal:
            record = tokenise(record, feed, key)
        extra = sorted((k, v) for k, v in record.fields.items() if k not in known_set and k not in personal)
        yield record, [record.fields.get(name) for name in known], extra or None


#: Marker of a tokenised personal value in bronze: ``tok:`` + the keyed pseudonym (64 hex digits).
TOKEN_PREFIX = CONFORM_TOKEN_PREFIX
REDACTED = "<redacted: unparseable record of a feed with personal data; {n} characters, sha256 {digest}>"


def tokenise(record: RawRecord, feed: Feed, key: bytes | None) -> RawRecord:
    """Replace the personal values of a record by tokens, in its fields and in its raw record.

    The token of a value is ``tok:`` + its keyed pseudonym (:func:`~spark_jobs.landing.conform.pseudonym`,
    the key lives outside the lakehouse), so bronze, ``bronze.quarantine`` and the Delta log's file
    statistics never hold a clear name, e-mail or phone, and silver's pseudonym is the token's digest.
    A record that could not be parsed may hold personal data anywhere: its raw text is replaced by a
    redaction note (length and SHA-256; the landing file is the evidence).
    """
    if key is None:
        raise ValueError(f"feed {feed.name} carries personal data: a pseudonymisation key is required")
    if record.parse_error is not None:
        raw = REDACTED.format(n=len(record.raw), digest=hashlib.sha256(record.raw.encode("utf-8",
                              errors="surrogateescape")).hexdigest())
        return RawRecord(record.locator, raw, {}, record.parse_error, record.parse_detail)
    fields = dict(record.fields)
    for name in feed.personal_data:
        if fields.get(name) is not None:
            fields[name] = TOKEN_PREFIX + pseudonym(key, fields[name])
    raw = record.raw
    if feed.format in ("json", "jsonl"):
        obj = json.loads(raw)
        for name in feed.personal_data:
            *parents, last = name.split(".")
            node = obj
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict) and node.get(last) is not None:
                node[last] = TOKEN_PREFIX + pseudonym(key, str(node[last]))
        raw = json.dumps(obj, ensure_ascii=False, sort_keys=True)
    else:
        for name in feed.personal_data:
            if record.fields.get(name):
                raw = raw.replace(record.fields[name], fields[name])
    return RawRecord(record.locator, raw, fields, None, None)


def _parse_rows(feed: Feed, run_id: str, ingested_at: datetime, key: bytes | None = None):
    """The per-file function shipped to executors: file bytes -> bronze rows (as tuples)."""

    def parse(row) -> list[tuple]:
        return [(row.landing_date, row.rel_path, row.sha256, record.locator, record.raw, record.parse_error,
                 record.parse_detail, *values, dict(extra) if extra else None, run_id, ingested_at)
                for record, values, extra in _records(feed, bytes(row.content), key)]

    return parse


def _arrow_batches(feed: Feed, files: list[LandingFile], run_id: str, ingested_at: datetime,
                   key: bytes | None = None):
    """Parse local files in the driver, ``BATCH_ROWS`` rows per Arrow record batch."""
    names = [f.name for f in bronze_schema(feed).fields]
    types = _arrow_types(feed)
    ingested = ingested_at.replace(tzinfo=UTC) if ingested_at.tzinfo is None else ingested_at

    def empty():
        return [[] for _ in names[:-2]]

    columns = empty()
    for file in files:
        with open(local_dir(file.uri) or file.uri, "rb") as handle:
            content = handle.read()
        for record, values, extra in _records(feed, content, key):
            row = (file.landing_date, file.rel_path, file.sha256, record.locator, record.raw,
                   record.parse_error, record.parse_detail, *values, extra)
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        if len(columns[0]) >= BATCH_ROWS:
            yield _batch(columns, names, types, run_id, ingested)
            columns = empty()
    if columns[0]:
        yield _batch(columns, names, types, run_id, ingested)


def _batch(columns, names, types, run_id, ingested) -> pa.RecordBatch:
    n = len(columns[0])
    arrays = [pa.array(values, type=t) for values, t in zip(columns, types[:-2], strict=True)]
    arrays += [pa.array([run_id] * n, type=types[-2]), pa.array([ingested] * n, type=types[-1])]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def bronze_arrow(feed: Feed, files: list[LandingFile], run_id: str,
                 ingested_at: datetime | None = None, key: bytes | None = None) -> pa.Table:
    """Bronze rows of local ``files`` as one Arrow table (parsed in this process)."""
    ingested_at = ingested_at or datetime.now(UTC).replace(tzinfo=None)
    batches = list(_arrow_batches(feed, files, run_id, ingested_at, key))
    return pa.Table.from_batches(batches) if batches else bronze_schema_arrow(feed).empty_table()


def bronze_schema_arrow(feed: Feed) -> pa.Schema:
    names = [f.name for f in bronze_schema(feed).fields]
    return pa.schema(list(zip(names, _arrow_types(feed), strict=True)))


def _arrow_types(feed: Feed) -> list[pa.DataType]:
    string = pa.string()
    return ([pa.date32()] + [string] * (6 + len(feed.source_fields))
            + [pa.map_(string, string), string, pa.timestamp("us", tz="UTC")])


def parse_bronze(spark: SparkSession, feed: Feed, files: list[LandingFile], run_id: str,
                 ingested_at: datetime | None = None, *, local: bool | None = None,
                 key: bytes | None = None) -> DataFrame:
    """Bronze rows of ``files`` (:func:`bronze_schema`), parsed once.

    ``local`` (default: every file has a local path) parses in the driver into Arrow;
    otherwise the files are read with ``binaryFile`` and parsed on the executors.
    """
    ingested_at = ingested_at or datetime.now(UTC).replace(tzinfo=None)
    schema = bronze_schema(feed)
    if local is None:
        local = all(local_dir(f.uri) is not None for f in files)
    if local:
        if not files:
            return spark.createDataFrame([], schema)
        return spark.createDataFrame(bronze_arrow(feed, files, run_id, ingested_at, key), schema)
    # Read the files through Hadoop; lineage comes from the path, as in the listing.
    content = spark.read.format("binaryFile").load(sorted({f.uri for f in files}))
    chosen = content.select(
        F.regexp_extract("path", rf"({feed.source}/\d{{4}}-\d{{2}}-\d{{2}}/[^/]+)$", 1).alias("rel_path"),
        F.to_date(F.regexp_extract("path", r"/(\d{4}-\d{2}-\d{2})/[^/]+$", 1)).alias("landing_date"),
        F.sha2("content", 256).alias("sha256"), "content",
    ).where(F.col("rel_path").isin([f.rel_path for f in files]))
    return spark.createDataFrame(chosen.rdd.flatMap(_parse_rows(feed, run_id, ingested_at, key)), schema)


def write_bronze(bronze: DataFrame, cfg: Settings, feed: Feed, files: list[LandingFile]) -> None:
    """Replace the bronze rows of ``files`` with ``bronze`` (one Delta commit)."""
    paths = sorted(f.rel_path for f in files)
    # The landing_date conjunct lets Delta prune partitions before it looks at file names.
    days = sql_list(sorted({f.landing_date.isoformat() for f in files}))
    write_table(bronze, cfg, "bronze", feed.bronze_table,
                f"landing_date IN ({days}) AND _source_file IN ({sql_list(paths)})", ["landing_date"])
