"""Bronze -> silver: apply the data dictionary with Spark column expressions.

``conform(bronze_df, feed, dictionary, key)`` returns one row per bronze record with
every canonical data element of the feed (typed, in canonical units, UTC times) plus
``_reason``/``_reason_detail``: null when the record honours the contract, otherwise the
first violation in dictionary order (``malformed_record``, ``truncated_record``,
``missing_required``, ``wrong_type``, ``unknown_code``, ``unknown_unit``, ``implausible_value``, and
a value outside its element's ``value_domain.pattern``, with the domain's ``reason``, e.g.
``unknown_purchase_order``).
Everything is a Spark expression, so the same code runs on a laptop and on a cluster.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from andon.dictionary import DataDictionary, Feed, FieldSpec

# Numbers must be read completely: an optional sign, digits with at most one decimal separator
# (the feed's ``decimal_separator``, "." or ","), an optional exponent. No thousands separators,
# no NaN/Infinity, nothing after the number (except a unit token where the unit is in the text).
INTEGER = r"^\s*[-+]?[0-9]+\s*$"
# A unit token in the text must not start with a digit, sign or separator, so "12,5O um" (a
# decimal comma in a "." feed) is a wrong_type and never "12 <unit ',5O'>". A unit that starts
# with a digit (the canonical unit "1") is accepted after white space.
UNIT_TOKEN = r"(?:\s+([^\s.,+\-]\S*)|([^\s0-9.,+\-]\S*))"


def number_pattern(decimal_separator: str = ".") -> str:
    """Regex (no anchors, no groups) of one number written with ``decimal_separator``."""
    sep = "\\" + decimal_separator
    return rf"[-+]?(?:[0-9]+(?:{sep}[0-9]*)?|{sep}[0-9]+)(?:[eE][-+]?[0-9]+)?"


def number_only(decimal_separator: str = ".") -> str:
    """The whole text is one number (surrounding spaces allowed)."""
    return rf"^\s*({number_pattern(decimal_separator)})\s*$"


def quantity_text(decimal_separator: str = ".") -> str:
    """The whole text is ``<number>[ ]<unit>`` (groups: number, unit after space, attached unit)."""
    return rf"^\s*({number_pattern(decimal_separator)}){UNIT_TOKEN}?\s*$"


SPARK_TYPE = {"string": "string", "integer": "int", "double": "double", "boolean": "boolean",
              "date": "date", "timestamp": "timestamp"}

#: Prefix of a tokenised personal value in bronze (see spark_jobs.landing.bronze.tokenise).
TOKEN_PREFIX = "tok:"

# Lineage columns carried from bronze into silver and quarantine.
LINEAGE = ["landing_date", "_source_file", "_record_locator"]


def bronze_column(source_field: str) -> str:
    """Bronze column name of a source field (dots of nested JSON/XML parents become ``__``)."""
    return source_field.replace(".", "__")


def _map_literal(mapping: dict[str, str]) -> Column:
    items: list[Column] = []
    for key, value in sorted(mapping.items()):
        items += [F.lit(key), F.lit(value)]
    return F.create_map(*items) if items else F.create_map().cast("map<string,string>")


def _raw(spec_source: str | None) -> Column:
    if spec_source is None:
        return F.lit(None).cast("string")
    return F.nullif(F.trim(F.col(bronze_column(spec_source))), F.lit(""))


def hmac_sha256_hex(key: bytes, column: Column) -> Column:
    """HMAC-SHA256 (RFC 2104) as a native Spark expression; equals ``hmac.new(key, m, sha256)``."""
    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    inner = F.unhex(F.sha2(F.concat(F.lit(ipad), F.encode(column, "UTF-8")), 256))
    return F.sha2(F.concat(F.lit(opad), inner), 256)


def pseudonym(key: bytes, value: str) -> str:
    """Python twin of the Spark pseudonym, for tests and for look-ups by a data steward.

    Normalisation as in Spark: leading/trailing spaces (U+0020 only, like Spark ``trim``) are
    removed, then the text is lower-cased (Unicode, no locale); HMAC-SHA256 over its UTF-8 bytes.
    """
    return hmac.new(key, value.strip(" ").lower().encode("utf-8"), hashlib.sha256).hexdigest()


class _Builder:
    """Builds value and violation expressions for every field of one feed."""

    def __init__(self, feed: Feed, dictionary: DataDictionary, key: bytes | None):
        self.feed = feed
        self.dd = dictionary
        self.key = key
        self.values: dict[str, Column] = {}
        self.violations: list[Column] = []
        self.separator = feed.decimal_separator
        self.units = _map_literal({c: s["unit"] for c, s in dictionary.characteristics.items()})
        self.factors = _map_literal({f"{c['from']}|{c['to']}": str(c["factor"])
                                     for c in dictionary.unit_conversions})
        self.offsets = _map_literal({f"{c['from']}|{c['to']}": str(c.get("offset", 0.0))
                                     for c in dictionary.unit_conversions})

    def violation(self, condition: Column, reason: str, spec: FieldSpec, raw: Column) -> None:
        detail = F.concat(F.lit(f"{spec.element} <- {spec.source}="), F.coalesce(raw, F.lit("<empty>")))
        self.violations.append(F.when(condition, F.struct(F.lit(reason).alias("reason"),
                                                          detail.alias("detail"))))

    def to_double(self, number_text: Column) -> Column:
        """A matched number in the feed's convention -> double."""
        if self.separator != ".":
            number_text = F.regexp_replace(number_text, "\\" + self.separator, ".")
        return F.trim(number_text).try_cast("double")

    def quantity(self, spec: FieldSpec, raw: Column, target_unit: Column) -> Column:
        if spec.unit_field:
            # The unit has its own field: the text is a number and nothing else.
            pattern = number_only(self.separator)
            unit = F.nullif(F.trim(F.col(bronze_column(spec.unit_field))), F.lit(""))
        else:
            pattern = quantity_text(self.separator)
            unit = F.nullif(F.concat(F.regexp_extract(raw, pattern, 2), F.regexp_extract(raw, pattern, 3)),
                            F.lit(""))
        matches = raw.rlike(pattern)
        number = self.to_double(F.regexp_extract(raw, pattern, 1))
        conv_key = F.concat_ws("|", unit, target_unit)
        same = unit == target_unit                   # identity conversions are implicit
        factor = F.when(same, F.lit(1.0)).otherwise(F.element_at(self.factors, conv_key).cast("double"))
        offset = F.when(same, F.lit(0.0)).otherwise(F.element_at(self.offsets, conv_key).cast("double"))
        grade_cond = F.lit(False)
        if spec.graded:
            # null-safe: a record without the grade field is not graded (and must parse as a number)
            grade_cond = F.coalesce(F.col(bronze_column(spec.graded["when_field"])).isin(spec.graded["values"]),
                                    F.lit(False))
            grade_value = F.element_at(_map_literal(self.dd.code_maps[spec.graded["code_map"]]), raw)
            self.violation(raw.isNotNull() & grade_cond & grade_value.isNull(), "unknown_code", spec, raw)
        self.violation(raw.isNotNull() & ~grade_cond & ~matches, "wrong_type", spec, raw)
        self.violation(raw.isNotNull() & ~grade_cond & matches & factor.isNull(), "unknown_unit", spec,
                       F.concat_ws(" ", raw, unit))
        value = number * factor + offset
        if spec.graded:
            value = F.when(grade_cond, grade_value.cast("double")).otherwise(value)
        return F.when(raw.isNotNull(), value)

    def field(self, spec: FieldSpec) -> Column:
        raw = _raw(spec.source)
        if spec.required:
            self.violation(raw.isNull(), "missing_required", spec, raw)
        if spec.constant is not None:
            return F.lit(spec.constant)
        if spec.unit_of:
            return F.element_at(self.units, self.values[spec.unit_of])
        if spec.only_when:
            cond = F.col(bronze_column(spec.only_when["field"])).isin(spec.only_when["values"])
            return F.when(cond, raw)
        if spec.pseudonymise:
            if self.key is None:
                raise ValueError(f"feed {self.feed.name}: a pseudonymisation key is required")
            # Bronze holds the token ("tok:" + pseudonym, spark_jobs.landing.bronze.tokenise); rows landed
            # before tokenisation hold the clear value and are pseudonymised here, to the same digest.
            token = F.substring(raw, len(TOKEN_PREFIX) + 1, 64)
            return F.when(raw.startswith(TOKEN_PREFIX), token).when(raw.isNotNull(),
                                                                    hmac_sha256_hex(self.key, F.lower(raw)))
        value = raw
        if spec.code_map:
            value = F.element_at(_map_literal(self.dd.code_maps[spec.code_map]), raw)
            self.violation(raw.isNotNull() & value.isNull(), "unknown_code", spec, raw)
        if spec.domain:
            known = F.element_at(_map_literal(self.dd.code_maps[spec.domain]), raw)
            self.violation(raw.isNotNull() & known.isNull(), "unknown_code", spec, raw)
        element_domain = self.dd.elements[spec.element].get("value_domain") or {}
        if element_domain.get("pattern"):
            # e.g. purchase orders: only the manufacturer's own order numbers (DOMAIN.md), others
            # quarantined with the domain's reason (unknown_purchase_order).
            self.violation(raw.isNotNull() & ~raw.rlike(element_domain["pattern"]),
                           element_domain.get("reason", "unknown_code"), spec, raw)
        if spec.quantity_of:
            return self.quantity(spec, raw, F.element_at(self.units, self.values[spec.quantity_of]))
        if spec.money:
            return self.quantity(spec, raw, F.lit(spec.money))
        if spec.time_format:
            parsed = F.try_to_timestamp(raw, F.lit(spec.time_format))
            self.violation(raw.isNotNull() & parsed.isNull(), "wrong_type", spec, raw)
            if spec.local_time_zone_of:
                tz_map = _map_literal(self.dd.code_maps[self.feed.spec(spec.local_time_zone_of).domain
                                                        or "site_time_zone"])
                zone = F.element_at(tz_map, self.values[spec.local_time_zone_of])
                return F.to_utc_timestamp(parsed, zone)
            return parsed
        cast = spec.cast or spec.data_type
        if cast == "integer":
            self.violation(value.isNotNull() & ~value.rlike(INTEGER), "wrong_type", spec, raw)
            return F.when(value.rlike(INTEGER), F.trim(value).try_cast("int"))
        if cast == "double":
            double = number_only(self.separator)
            self.violation(value.isNotNull() & ~value.rlike(double), "wrong_type", spec, raw)
            return F.when(value.rlike(double), self.to_double(value))
        if cast == "boolean":
            lowered = F.lower(value)
            self.violation(value.isNotNull() & ~lowered.isin("true", "false"), "wrong_type", spec, raw)
            return F.when(lowered == "true", True).when(lowered == "false", False)
        if cast == "date":
            parsed = F.try_to_timestamp(value, F.lit(spec.date_format or "yyyy-MM-dd"))
            self.violation(value.isNotNull() & parsed.isNull(), "wrong_type", spec, raw)
            return F.to_date(parsed)
        return value

    def plausible(self, spec: FieldSpec, value: Column) -> None:
        """``implausible_value`` for a number that is not finite or outside the element's value domain
        (``min``/``max``), and for a date or time outside ``plausible_time`` (the dictionary's earliest
        day, at most ``latest_days_after_landing`` after the landing day) or the element's own bounds."""
        if spec.source is None or spec.constant is not None:
            return
        raw = _raw(spec.source)
        domain = self.dd.elements[spec.element].get("value_domain") or {}
        if spec.data_type == "double":
            self.violation(value.isNotNull() & (F.isnan(value) | (F.abs(value) == F.lit(float("inf")))),
                           "implausible_value", spec, F.concat(F.lit("not a finite number: "), raw))
        if spec.data_type in ("double", "integer"):
            if domain.get("min") is not None:
                self.violation(value < F.lit(domain["min"]), "implausible_value", spec,
                               F.concat(raw, F.lit(f" < {domain['min']}")))
            if domain.get("max") is not None:
                self.violation(value > F.lit(domain["max"]), "implausible_value", spec,
                               F.concat(raw, F.lit(f" > {domain['max']}")))
        if spec.data_type in ("date", "timestamp"):
            bounds = {**self.dd.plausible_time, **{k: v for k, v in domain.items() if k in ("earliest",)}}
            day = F.col("landing_date")
            as_day = F.to_date(value)
            earliest = F.lit(str(bounds.get("earliest", "1990-01-01"))).cast("date")
            latest = F.date_add(day, int(bounds.get("latest_days_after_landing", 2)))
            self.violation(value.isNotNull() & ((as_day < earliest) | (as_day > latest)), "implausible_value",
                           spec, F.concat(raw, F.lit(" outside "), earliest.cast("string"), F.lit(" .. landing day + "),
                                          F.lit(str(bounds.get("latest_days_after_landing", 2))), F.lit(" days")))

    def build(self) -> None:
        # Fields that others depend on (time zone / characteristic) first, then the rest.
        referenced = {s.local_time_zone_of for s in self.feed.fields} | {s.quantity_of for s in self.feed.fields} \
            | {s.unit_of for s in self.feed.fields}
        ordered = [s for s in self.feed.fields if s.element in referenced] + \
                  [s for s in self.feed.fields if s.element not in referenced]
        for spec in ordered:
            self.values[spec.element] = self.field(spec).cast(SPARK_TYPE[spec.data_type])
        for spec in self.feed.fields:
            self.plausible(spec, self.values[spec.element])


def conform(bronze: DataFrame, feed: Feed, dictionary: DataDictionary, key: bytes | None = None,
            carry: Sequence[Column] = ()) -> DataFrame:
    """Canonical columns + the first contract violation of every bronze record.

    ``carry``: further columns computed from the bronze row, appended at the end (the landing
    job carries the counts its DQ KPIs need, so bronze is not aggregated separately).
    """
    builder = _Builder(feed, dictionary, key)
    builder.build()
    parse_violation = F.when(F.col("_parse_error").isNotNull(),
                             F.struct(F.col("_parse_error").alias("reason"),
                                      F.coalesce(F.col("_parse_detail"), F.lit("")).alias("detail")))
    first = F.coalesce(parse_violation, *builder.violations) if builder.violations else parse_violation
    columns = [builder.values[spec.element].alias(spec.element) for spec in feed.fields]
    return bronze.select(
        *LINEAGE, "_record", *columns,
        first.getField("reason").alias("_reason"), first.getField("detail").alias("_reason_detail"), *carry,
    )


def locator_ordinal(locator: Column) -> Column:
    """The record number of a locator (``line:N`` / ``record:N`` -> N) as a long; null for ``*``."""
    return F.nullif(F.regexp_extract(locator, r":([0-9]+)$", 1), F.lit("")).try_cast("long")


SILVER, QUARANTINE, REPLAY = "silver", "quarantine", "replay"


def classify(conformed: DataFrame, feed: Feed) -> DataFrame:
    """Every conformed record once, with ``_kind``: ``silver``, ``quarantine`` or ``replay``.

    Duplicates are resolved within one landing day, so the result of a day never depends on
    which other days were landed in the same run. Within the day, valid records of one primary
    key are ordered by file path, then by record number (``line:8`` before ``line:133``): the
    first is kept (``silver``). Later records with identical canonical content are *replays* (a
    file delivered twice), collapsed and counted, never silently lost. Later records with
    *different* content are conflicting and quarantined as ``duplicate_key`` (``_reason`` and
    ``_reason_detail`` say so). Records that broke the contract are ``quarantine`` with their
    reason. Across landing days nothing is resolved here: silver holds one row per key and day,
    and dbt staging keeps the latest day (``dbt/macros/latest_per_key.sql``).

    One window over the whole frame (valid and invalid records in separate window partitions),
    so the three outcomes come from one pass.
    """
    elements = [spec.element for spec in feed.fields]
    valid = F.col("_reason").isNull()
    order = Window.partitionBy(F.col("landing_date"), valid, *[F.col(k) for k in feed.primary_key]).orderBy(
        "_source_file", F.asc_nulls_last(locator_ordinal(F.col("_record_locator"))), "_record_locator")
    content = F.sha2(F.to_json(F.struct(*elements)), 256)
    ranked = (conformed
              .withColumn("_content", content)
              .withColumn("_rank", F.row_number().over(order))
              .withColumn("_first_content", F.first("_content").over(order))
              .withColumn("_kept", F.concat_ws(" ", F.first("_source_file").over(order),
                                               F.first("_record_locator").over(order))))
    kind = (F.when(~valid, F.lit(QUARANTINE)).when(F.col("_rank") == 1, F.lit(SILVER))
            .when(F.col("_content") == F.col("_first_content"), F.lit(REPLAY)).otherwise(F.lit(QUARANTINE)))
    conflict = valid & (F.col("_kind") == QUARANTINE)
    detail = F.concat(F.lit("key "), F.concat_ws("|", *feed.primary_key),
                      F.lit(" already landed with other content (kept: "), F.col("_kept"), F.lit(")"))
    return (ranked.withColumn("_kind", kind)
            .withColumn("_reason_detail", F.when(conflict, detail).otherwise(F.col("_reason_detail")))
            .withColumn("_reason", F.when(conflict, F.lit("duplicate_key")).otherwise(F.col("_reason")))
            .drop("_content", "_rank", "_first_content", "_kept"))


def content_hash(feed: Feed) -> Column:
    """SHA-256 of a record's canonical content (every element of the feed): what "identical" means."""
    return F.sha2(F.to_json(F.struct(*[spec.element for spec in feed.fields])), 256)


def collapse_cross_day_replays(classified: DataFrame, earlier_silver: DataFrame | None, feed: Feed) -> DataFrame:
    """Records published on an *earlier* day with the same key and the same content: ``replay``.

    :func:`classify` resolves duplicates within a day; a file delivered again in a later day's
    folder (or filed under the wrong day) would otherwise put the same records in silver twice,
    once per day. Earlier means: an earlier day of this run (one window over key and content), or
    ``earlier_silver``, the published silver of the look-back window before the run's days (the
    landing job reads it; None when there is none). A record with the same key but *different*
    content on a later day is a correction and is published (dbt keeps the latest day per key).
    """
    keys = list(feed.primary_key)
    candidate = F.col("_kind") == SILVER
    first = F.struct("landing_date", "_source_file")
    same = Window.partitionBy(*[F.col(k) for k in keys], F.col("_content"))
    ranked = (classified.withColumn("_content", content_hash(feed))
              .withColumn("_prior", F.min(F.when(candidate, first)).over(same)))
    if earlier_silver is not None:
        published = (earlier_silver.select(*keys, content_hash(feed).alias("_content"), "landing_date",
                                           "_source_file")
                     .groupBy(*keys, "_content").agg(F.min(first).alias("_published")))
        ranked = (ranked.join(published, [*keys, "_content"], "left")
                  .withColumn("_prior", F.least(F.col("_published"), F.col("_prior"))).drop("_published"))
    earlier = candidate & F.col("_prior").isNotNull() & (F.col("_prior.landing_date") < F.col("landing_date"))
    detail = F.concat(F.lit("cross-day replay: same record published on "),
                      F.col("_prior.landing_date").cast("string"), F.lit(" ("), F.col("_prior._source_file"),
                      F.lit(")"))
    return (ranked.withColumn("_reason_detail", F.when(earlier, detail).otherwise(F.col("_reason_detail")))
            .withColumn("_kind", F.when(earlier, F.lit(REPLAY)).otherwise(F.col("_kind")))
            .drop("_content", "_prior"))


def silver_columns(feed: Feed) -> list[str]:
    """Columns of a silver row (before the run id): lineage, then the feed's canonical elements."""
    return [*LINEAGE, *(spec.element for spec in feed.fields)]


def split_valid(conformed: DataFrame, feed: Feed) -> tuple[DataFrame, DataFrame, DataFrame]:
    """Split conformed records into (silver rows, quarantined rows, collapsed replays): see :func:`classify`."""
    classified = classify(conformed, feed)
    silver = classified.where(F.col("_kind") == SILVER).select(*silver_columns(feed))
    quarantined = classified.where(F.col("_kind") == QUARANTINE).select(*conformed.columns)
    replays = classified.where(F.col("_kind") == REPLAY).select(*LINEAGE)
    return silver, quarantined, replays
