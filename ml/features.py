"""Point-in-time feature builders for the three early-warning scopes.

Every builder has the signature ``<scope>_features(silver, as_of_days) -> DataFrame`` where

* ``silver`` maps silver table names (``test_results``, ``unit_genealogy``, ``shipments``,
  ``spc_measurements``, ``lab_results``, ``field_returns``, ``supplier_lot_tests``) to Spark
  DataFrames with the columns of ``conf/data_dictionary.yaml``;
* ``as_of_days`` is a list of ``datetime.date`` or a DataFrame with a ``score_date`` (date) column.

**Point-in-time rule.** The feature row of (entity, score date ``d``) only uses records whose
event time is before ``d + 1`` (00:00 UTC; silver timestamps are UTC and the session time zone
is UTC): ``tested_at``, ``built_at``, ``shipped_at``, ``measured_at``, ``received_at``, and for
supplier outgoing inspection (which has no event time) ``lot_shipped_date <= d``. Entity
membership (which build lot a serial belongs to, which supplier lot a component came from) is
taken from genealogy rows that are themselves filtered by ``built_at``.

Implementation: records are first reduced to *daily* aggregates per entity (counts, sums), which
are then joined to the score dates with ``event_date <= score_date`` (cumulative) or a trailing
window and summed. This keeps the join small (entities x days x days) whatever the row volume.

Silver keeps one row per primary key *and landing day*; :func:`latest_rows` keeps the row of the
latest landing day per key (a correction landed after ``d`` may therefore show up in the features
of ``d``; the landing date is not treated as a knowledge time yet).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from andon.scopes import SCOPES

PRIMARY_KEYS = {
    "test_results": ["test_result_id"],
    "unit_genealogy": ["serial_number", "part_id"],
    "shipments": ["shipment_id"],
    "spc_measurements": ["measurement_id"],
    "lab_results": ["lab_sample_id", "lab_test_seq"],
    "field_returns": ["rma_id"],
    "supplier_lot_tests": ["supplier_lot_id", "characteristic_id"],
}

UNIT_STATIONS = ["ICT", "FT", "REL", "SYS"]
UNIT_FAIL_RATE_FLOOR = 0.005  # floor of the part's unit fail rate in unit_fail_z

#: feature columns produced by each builder (keys and score_date excluded)
FEATURES = {
    "incoming_material": [
        "lot_age_days",
        "supplier_n_params",
        "supplier_n_out_of_spec",
        "supplier_worst_margin",
        "supplier_void_fraction",
        "iqc_samples",
        "iqc_fail_rate",
        "supplier_prior_iqc_samples",
        "supplier_prior_iqc_fail_rate",
        "units_built",
        "downstream_first_attempts",
        "downstream_fail_rate",
        "part_downstream_fail_rate",
        "downstream_fail_rate_excess",
        "units_tested",
        "unit_fail_rate",
        "part_unit_fail_rate",
        "unit_fail_z",
        # the mart's label-free detectors (incoming_detector_features; null until the mart built them)
        "lot_test_true_fails",
        "lot_test_expected_fails",
        "lot_test_surprise",
        "lot_test_adjusted_true_fails",
        "lot_test_adjusted_surprise",
        "lot_test_explained",
        "supplier_cusum_max",
        "supplier_z_max",
    ],
    "factory_output": [
        *[f"{s.lower()}_{w}_{m}" for s in UNIT_STATIONS for w in ("1d", "7d") for m in ("first_attempts", "fail_rate")],
        "retest_rate_1d",
        "retest_rate_7d",
        "spc_max_shift_sigma",
        "spc_max_sigma_ratio",
        "spc_oos_share_1d",
        "spc_points_1d",
        # the mart's label-free detectors (detector_features; null until the mart has built them)
        "yield_cusum_false_max_1d",
        "yield_cusum_true_max_1d",
        "yield_cusum_signals_7d",
        "spc_violations_7d",
        "spc_beyond_limits_7d",
        "yield_cusum_false_rise_7d",
    ],
    "field_return": [
        "days_since_build",
        "units_built",
        "units_shipped",
        "days_since_first_ship",
        "returns_so_far",
        "return_rate_so_far",
        "doa_so_far",
        "doa_rate_so_far",
        "lab_void_mean",
        "lab_void_max",
        "lab_fails",
        "first_attempts",
        "first_attempt_fails",
        "first_attempt_fail_rate",
        "iqc_failed_component_share",
        # cross-scope: placements from supplier lots the incoming detectors flagged (null before the mart built them)
        "flagged_component_share",
        # returns against the product's Weibull life model given the lot's exposure (ml/exposure.py)
        "exposure_expected_returns",
        "exposure_return_ratio",
        "exposure_surprise",
    ],
}

#: evidence features: a detector's or a KPI's measure of surprise, where a larger value never means a
#: smaller risk. The models are constrained to be monotone (non-decreasing) in them
#: (ml.train.fit_model), so that with few incidents to learn from a tree cannot learn that more
#: evidence lowers the score somewhere in the range; counts and volumes (which grow with exposure)
#: are not in it
EVIDENCE_FEATURES = {
    "incoming_material": (
        "supplier_n_out_of_spec",
        "iqc_fail_rate",
        "downstream_fail_rate_excess",
        "unit_fail_z",
        "lot_test_surprise",
        "lot_test_adjusted_surprise",
        "supplier_cusum_max",
    ),
    "factory_output": (
        "spc_max_shift_sigma",
        "spc_oos_share_1d",
        "yield_cusum_false_max_1d",
        "yield_cusum_true_max_1d",
        "yield_cusum_false_rise_7d",
    ),
    "field_return": (
        "iqc_failed_component_share",
        "flagged_component_share",
        "exposure_return_ratio",
        "exposure_surprise",
    ),
}

#: key columns of each scope's feature rows (andon/scopes.py)
KEYS = {s.name: list(s.keys) for s in SCOPES.values()}


# --------------------------------------------------------------------------- helpers


def score_dates(spark: SparkSession, as_of_days: Iterable[date] | DataFrame) -> DataFrame:
    """Distinct ``score_date`` (date) rows from a list of dates or a DataFrame with that column."""
    if isinstance(as_of_days, DataFrame):
        return as_of_days.select(F.col("score_date").cast("date").alias("score_date")).distinct()
    days = sorted(set(as_of_days))
    if not days:
        raise ValueError("as_of_days is empty")
    return spark.createDataFrame([(d,) for d in days], "score_date date")


def latest_rows(df: DataFrame, table: str) -> DataFrame:
    """One row per primary key: the one of the latest landing day (if the column exists)."""
    keys = PRIMARY_KEYS[table]
    if "landing_date" not in df.columns:
        return df.dropDuplicates(keys)
    w = Window.partitionBy(*keys).orderBy(F.col("landing_date").desc())
    return df.withColumn("_rn", F.row_number().over(w)).where("_rn = 1").drop("_rn")


def _silver(silver: dict[str, DataFrame], table: str) -> DataFrame:
    if table not in silver:
        raise KeyError(f"silver table {table!r} missing from the input")
    return latest_rows(silver[table], table)


def _spark(silver: dict[str, DataFrame]) -> SparkSession:
    return next(iter(silver.values())).sparkSession


def _ratio(num: Column | str, den: Column | str) -> Column:
    num = F.col(num) if isinstance(num, str) else num
    den = F.col(den) if isinstance(den, str) else den
    return F.when(den > 0, num / den)


def _accumulate(
    daily: DataFrame,
    keys: list[str],
    dates: DataFrame,
    sums: list[str],
    window_days: int | None = None,
    lag_days: int = 0,
    suffix: str = "",
) -> DataFrame:
    """Sum daily aggregates (``keys``, ``event_date``, ``sums``) over
    ``score_date - lag - window < event_date <= score_date - lag`` (cumulative when window is None).

    Returns (keys, score_date, sum columns + suffix); days without data give no row.
    """
    d = dates.alias("d")
    x = daily.alias("x")
    upper = F.date_sub(F.col("d.score_date"), lag_days)
    cond = F.col("x.event_date") <= upper
    if window_days is not None:
        cond = cond & (F.col("x.event_date") > F.date_sub(upper, window_days))
    joined = x.join(F.broadcast(d), cond)
    return joined.groupBy(*[F.col(f"x.{k}").alias(k) for k in keys], F.col("d.score_date").alias("score_date")).agg(
        *[F.sum(F.col(f"x.{c}")).alias(c + suffix) for c in sums]
    )


def excess_z(failed: Column, n: Column, p: Column) -> Column:
    """One-sided binomial z-score of ``failed`` out of ``n`` against the rate ``p`` (normal
    approximation): ``(failed - n p) / sqrt(n p (1 - p))``; null when ``n p (1 - p)`` is 0."""
    var = n * p * (F.lit(1.0) - p)
    return F.when(var > 0, (failed - n * p) / F.sqrt(var))


def _first_attempts(tests: DataFrame) -> DataFrame:
    """Unit tests (not IQC) at attempt 1 with event_date and a 0/1 fail flag."""
    return tests.where(F.col("station_type").isin(UNIT_STATIONS) & (F.col("attempt_number") == 1)).select(
        "serial_number",
        "station_type",
        "line_id",
        F.to_date("tested_at").alias("event_date"),
        F.when(F.col("is_pass"), 0).otherwise(1).alias("fail"),
    )


def _iqc_lot_daily(tests: DataFrame) -> DataFrame:
    """IQC samples per supplier lot and day: samples (first attempt) and failed samples."""
    return (
        tests.where((F.col("station_type") == "IQC") & (F.col("attempt_number") == 1))
        .groupBy("supplier_lot_id", F.to_date("tested_at").alias("event_date"))
        .agg(F.count(F.lit(1)).alias("iqc_samples"), F.sum(F.when(F.col("is_pass"), 0).otherwise(1)).alias("iqc_fails"))
    )


# --------------------------------------------------------------------------- incoming material


def incoming_material_features(
    silver: dict[str, DataFrame],
    as_of_days: Iterable[date] | DataFrame,
    max_lot_age_days: int = 60,
) -> DataFrame:
    """One row per (supplier lot, score date) for lots shipped on or before the score date and at
    most ``max_lot_age_days`` old.

    Features: supplier outgoing inspection of the lot (parameters, out-of-spec count, worst
    normalised margin to the nearest spec limit = min over parameters of
    ``min(value - LSL, USL - value) / (USL - LSL)`` -- one-sided specs divide by ``|limit|`` -- and
    the reported solder-void fraction), IQC samples and fail rate of the lot so far, the supplier's
    IQC fail rate on its *other* lots so far, units built with the lot so far, the downstream
    first-attempt fail rate of those units so far, the same rate for the part over all lots, and
    the excess of the lot over the part.
    """
    spark = _spark(silver)
    dates = score_dates(spark, as_of_days)
    slt = _silver(silver, "supplier_lot_tests")
    tests = _silver(silver, "test_results")
    gen = _silver(silver, "unit_genealogy")

    lots = slt.groupBy("supplier_id", "supplier_lot_id", "part_id").agg(
        F.min("lot_shipped_date").alias("lot_shipped_date")
    )
    grid = (
        lots.crossJoin(F.broadcast(dates))
        .where(
            (F.col("lot_shipped_date") <= F.col("score_date"))
            & (F.datediff("score_date", "lot_shipped_date") <= max_lot_age_days)
        )
        .withColumn("lot_age_days", F.datediff("score_date", "lot_shipped_date").cast("double"))
    )

    # supplier outgoing inspection: static per lot, visible from its ship date on (grid filter)
    width = F.when(
        F.col("lower_spec_limit").isNotNull() & F.col("upper_spec_limit").isNotNull(),
        F.col("upper_spec_limit") - F.col("lower_spec_limit"),
    ).otherwise(F.abs(F.coalesce("upper_spec_limit", "lower_spec_limit")))
    margin = F.least(
        F.col("measured_value") - F.col("lower_spec_limit"), F.col("upper_spec_limit") - F.col("measured_value")
    )
    oos = (F.col("measured_value") < F.col("lower_spec_limit")) | (F.col("measured_value") > F.col("upper_spec_limit"))
    outgoing = slt.groupBy("supplier_lot_id").agg(
        F.count(F.lit(1)).cast("double").alias("supplier_n_params"),
        F.sum(F.when(oos, 1).otherwise(0)).cast("double").alias("supplier_n_out_of_spec"),
        F.min(F.when(width > 0, margin / width)).alias("supplier_worst_margin"),
        F.max(F.when(F.col("characteristic_id") == "SOLDER_VOID", F.col("measured_value"))).alias(
            "supplier_void_fraction"
        ),
    )

    # IQC of this lot so far
    iqc_daily = _iqc_lot_daily(tests)
    iqc_lot = _accumulate(iqc_daily, ["supplier_lot_id"], dates, ["iqc_samples", "iqc_fails"])

    # supplier's IQC on all its lots so far (minus this lot, below)
    lot_supplier = lots.select("supplier_lot_id", "supplier_id").distinct()
    iqc_sup_daily = (
        iqc_daily.join(lot_supplier, "supplier_lot_id")
        .groupBy("supplier_id", "event_date")
        .agg(F.sum("iqc_samples").alias("sup_samples"), F.sum("iqc_fails").alias("sup_fails"))
    )
    iqc_sup = _accumulate(iqc_sup_daily, ["supplier_id"], dates, ["sup_samples", "sup_fails"])

    # downstream: units built with the lot, and their first attempts
    use = gen.select("serial_number", "supplier_lot_id", "part_id", "built_at").dropDuplicates(
        ["serial_number", "supplier_lot_id"]
    )
    built_daily = use.groupBy("supplier_lot_id", F.to_date("built_at").alias("event_date")).agg(
        F.countDistinct("serial_number").alias("units_built")
    )
    built = _accumulate(built_daily, ["supplier_lot_id"], dates, ["units_built"])
    fa = _first_attempts(tests)
    # a test counts for a lot only if the unit was built with it (built_at <= tested_at always holds)
    fa_lot_daily = (
        fa.join(use.select("serial_number", "supplier_lot_id", "part_id"), "serial_number")
        .groupBy("supplier_lot_id", "part_id", "event_date")
        .agg(F.count(F.lit(1)).alias("fa_n"), F.sum("fail").alias("fa_fails"))
    )
    fa_lot = _accumulate(fa_lot_daily, ["supplier_lot_id"], dates, ["fa_n", "fa_fails"])
    fa_part_daily = fa_lot_daily.groupBy("part_id", "event_date").agg(
        F.sum("fa_n").alias("part_n"), F.sum("fa_fails").alias("part_fails")
    )
    fa_part = _accumulate(fa_part_daily, ["part_id"], dates, ["part_n", "part_fails"])
    # unit level: a unit counts as tested on the day of its first first-attempt test and as failed
    # on the day of its first failed first attempt (at any station)
    unit_days = fa.groupBy("serial_number").agg(
        F.min("event_date").alias("first_test_date"),
        F.min(F.when(F.col("fail") == 1, F.col("event_date"))).alias("first_fail_date"),
    )
    unit_lot = unit_days.join(use.select("serial_number", "supplier_lot_id", "part_id"), "serial_number")
    ukeys = ["supplier_lot_id", "part_id", "event_date"]
    u_daily = (
        unit_lot.groupBy("supplier_lot_id", "part_id", F.col("first_test_date").alias("event_date"))
        .agg(F.count(F.lit(1)).alias("ut_n"))
        .join(
            unit_lot.where(F.col("first_fail_date").isNotNull())
            .groupBy("supplier_lot_id", "part_id", F.col("first_fail_date").alias("event_date"))
            .agg(F.count(F.lit(1)).alias("uf_n")),
            ukeys,
            "full",
        )
        .fillna(0, ["ut_n", "uf_n"])
    )
    u_lot = _accumulate(u_daily, ["supplier_lot_id"], dates, ["ut_n", "uf_n"])
    u_part = _accumulate(
        u_daily.groupBy("part_id", "event_date").agg(F.sum("ut_n").alias("pu_n"), F.sum("uf_n").alias("pu_f")),
        ["part_id"],
        dates,
        ["pu_n", "pu_f"],
    )

    out = (
        grid.join(outgoing, "supplier_lot_id", "left")
        .join(iqc_lot, ["supplier_lot_id", "score_date"], "left")
        .join(iqc_sup, ["supplier_id", "score_date"], "left")
        .join(built, ["supplier_lot_id", "score_date"], "left")
        .join(fa_lot, ["supplier_lot_id", "score_date"], "left")
        .join(fa_part, ["part_id", "score_date"], "left")
        .join(u_lot, ["supplier_lot_id", "score_date"], "left")
        .join(u_part, ["part_id", "score_date"], "left")
        .fillna(0, ["iqc_samples", "iqc_fails", "sup_samples", "sup_fails", "units_built", "fa_n", "fa_fails"])
        .fillna(0, ["part_n", "part_fails", "ut_n", "uf_n", "pu_n", "pu_f"])
    )
    p_other = F.greatest(
        F.lit(UNIT_FAIL_RATE_FLOOR),
        F.coalesce(
            (F.col("pu_f") - F.col("uf_n")) / F.when(F.col("pu_n") > F.col("ut_n"), F.col("pu_n") - F.col("ut_n")),
            F.lit(0.0),
        ),
    )
    out = out.select(
        *KEYS["incoming_material"],
        "score_date",
        "lot_age_days",
        "supplier_n_params",
        "supplier_n_out_of_spec",
        "supplier_worst_margin",
        "supplier_void_fraction",
        F.col("iqc_samples").cast("double").alias("iqc_samples"),
        _ratio("iqc_fails", "iqc_samples").alias("iqc_fail_rate"),
        (F.col("sup_samples") - F.col("iqc_samples")).cast("double").alias("supplier_prior_iqc_samples"),
        _ratio(F.col("sup_fails") - F.col("iqc_fails"), F.col("sup_samples") - F.col("iqc_samples")).alias(
            "supplier_prior_iqc_fail_rate"
        ),
        F.col("units_built").cast("double").alias("units_built"),
        F.col("fa_n").cast("double").alias("downstream_first_attempts"),
        _ratio("fa_fails", "fa_n").alias("downstream_fail_rate"),
        _ratio("part_fails", "part_n").alias("part_downstream_fail_rate"),
        F.col("ut_n").cast("double").alias("units_tested"),
        _ratio("uf_n", "ut_n").alias("unit_fail_rate"),
        _ratio("pu_f", "pu_n").alias("part_unit_fail_rate"),
        excess_z(F.col("uf_n").cast("double"), F.col("ut_n").cast("double"), p_other).alias("unit_fail_z"),
    ).withColumn("downstream_fail_rate_excess", F.col("downstream_fail_rate") - F.col("part_downstream_fail_rate"))
    out = incoming_detector_features(silver, out)
    return out.select(*KEYS["incoming_material"], "score_date", *FEATURES["incoming_material"])


# --------------------------------------------------------------------------- factory output


def factory_output_features(
    silver: dict[str, DataFrame],
    as_of_days: Iterable[date] | DataFrame,
    baseline_days: int = 14,
) -> DataFrame:
    """One row per (line, score date) for every line seen in unit tests or SPC before ``d + 1``.

    Features: first-attempt count and fail rate per station type (ICT, FT, REL, SYS) on the
    score day and over the trailing 7 days (``d-6 .. d``); retest rate (attempts >= 2 per first
    attempt) on the day and over 7 days; SPC on the score day against a ``baseline_days`` baseline
    (``d-14 .. d-1``), per characteristic: |mean shift| in baseline sigmas and the ratio of
    today's to the baseline standard deviation (max over characteristics), plus the share of
    today's SPC points out of spec.
    """
    spark = _spark(silver)
    dates = score_dates(spark, as_of_days)
    tests = _silver(silver, "test_results")
    spc = _silver(silver, "spc_measurements")

    unit_tests = tests.where(F.col("station_type").isin(UNIT_STATIONS) & F.col("line_id").isNotNull())
    daily = unit_tests.groupBy("line_id", F.to_date("tested_at").alias("event_date")).agg(
        *[
            F.sum(F.when((F.col("station_type") == s) & (F.col("attempt_number") == 1), 1).otherwise(0)).alias(f"{s}_n")
            for s in UNIT_STATIONS
        ],
        *[
            F.sum(
                F.when((F.col("station_type") == s) & (F.col("attempt_number") == 1) & ~F.col("is_pass"), 1).otherwise(
                    0
                )
            ).alias(f"{s}_f")
            for s in UNIT_STATIONS
        ],
        F.sum(F.when(F.col("attempt_number") == 1, 1).otherwise(0)).alias("first_n"),
        F.sum(F.when(F.col("attempt_number") > 1, 1).otherwise(0)).alias("retest_n"),
    )
    sums = [f"{s}_{m}" for s in UNIT_STATIONS for m in ("n", "f")] + ["first_n", "retest_n"]
    d1 = _accumulate(daily, ["line_id"], dates, sums, window_days=1, suffix="_1d")
    d7 = _accumulate(daily, ["line_id"], dates, sums, window_days=7, suffix="_7d")

    # SPC: per line, characteristic and day: n, sum, sum of squares, out-of-spec count
    oos = (F.col("measured_value") < F.col("lower_spec_limit")) | (F.col("measured_value") > F.col("upper_spec_limit"))
    spc_daily = spc.groupBy("line_id", "characteristic_id", F.to_date("measured_at").alias("event_date")).agg(
        F.count(F.lit(1)).alias("n"),
        F.sum("measured_value").alias("s"),
        F.sum(F.col("measured_value") * F.col("measured_value")).alias("ss"),
        F.sum(F.when(oos, 1).otherwise(0)).alias("oos"),
    )
    keys = ["line_id", "characteristic_id"]
    today = _accumulate(spc_daily, keys, dates, ["n", "s", "ss", "oos"], window_days=1)
    base = _accumulate(spc_daily, keys, dates, ["n", "s", "ss"], window_days=baseline_days, lag_days=1, suffix="_b")

    def _mean_sd(n: str, s: str, ss: str) -> tuple[Column, Column]:
        mean = F.col(s) / F.col(n)
        var = F.when(F.col(n) > 1, (F.col(ss) - F.col(n) * mean * mean) / (F.col(n) - 1))
        return mean, F.sqrt(F.greatest(var, F.lit(0.0)))

    m_t, sd_t = _mean_sd("n", "s", "ss")
    m_b, sd_b = _mean_sd("n_b", "s_b", "ss_b")
    per_char = today.join(base, [*keys, "score_date"], "left").select(
        *keys,
        "score_date",
        "n",
        "oos",
        F.when(sd_b > 0, F.abs(m_t - m_b) / sd_b).alias("shift_sigma"),
        F.when(sd_b > 0, sd_t / sd_b).alias("sigma_ratio"),
    )
    spc_line = per_char.groupBy("line_id", "score_date").agg(
        F.max("shift_sigma").alias("spc_max_shift_sigma"),
        F.max("sigma_ratio").alias("spc_max_sigma_ratio"),
        (F.sum("oos") / F.sum("n")).alias("spc_oos_share_1d"),
        F.sum("n").cast("double").alias("spc_points_1d"),
    )

    detectors = detector_features(silver, dates)

    lines = (
        unit_tests.select("line_id", F.to_date("tested_at").alias("first_seen"))
        .unionByName(spc.select("line_id", F.to_date("measured_at").alias("first_seen")))
        .groupBy("line_id")
        .agg(F.min("first_seen").alias("first_seen"))
    )
    grid = lines.crossJoin(F.broadcast(dates)).where(F.col("first_seen") <= F.col("score_date")).drop("first_seen")
    out = (
        grid.join(d1, ["line_id", "score_date"], "left")
        .join(d7, ["line_id", "score_date"], "left")
        .join(spc_line, ["line_id", "score_date"], "left")
        .join(detectors, ["line_id", "score_date"], "left")
    )
    cols = []
    for s in UNIT_STATIONS:
        for w in ("1d", "7d"):
            n = F.coalesce(F.col(f"{s}_n_{w}"), F.lit(0))
            cols.append(n.cast("double").alias(f"{s.lower()}_{w}_first_attempts"))
            cols.append(_ratio(F.col(f"{s}_f_{w}"), n).alias(f"{s.lower()}_{w}_fail_rate"))
    return out.select(
        "line_id",
        "score_date",
        *cols,
        _ratio("retest_n_1d", "first_n_1d").alias("retest_rate_1d"),
        _ratio("retest_n_7d", "first_n_7d").alias("retest_rate_7d"),
        "spc_max_shift_sigma",
        "spc_max_sigma_ratio",
        "spc_oos_share_1d",
        F.coalesce("spc_points_1d", F.lit(0.0)).alias("spc_points_1d"),
        *[F.col(c).cast("double").alias(c) for c in DETECTOR_FEATURES],
    )


#: gold detector tables (dbt, docs/detectors.md) the factory features read when they are given
#: in the input dict (ml.jobs.load_silver adds them once the mart has built them)
DETECTOR_TABLES = ("fct_yield_cusum", "fct_spc_rule_violations")
DETECTOR_FEATURES = tuple(FEATURES["factory_output"][-6:])
#: the days back ``yield_cusum_false_rise_7d`` looks for the CUSUM's lowest value: one week, the grain
#: the false alarms are counted in and the digest reports
RISE_DAYS = 7


def detector_features(silver: dict[str, DataFrame], dates: DataFrame) -> DataFrame:
    """Per (line, score date) the label-free detectors' evidence, known by the end of the day:

    * ``yield_cusum_false_max_1d`` / ``yield_cusum_true_max_1d``: the largest upper CUSUM of false
      fails (retest passed: the station) and of true fails (the product or process) over the
      line's stations and the line itself that day (``gold.fct_yield_cusum``, in binomial sigmas;
      a signal is C+ > h);
    * ``yield_cusum_false_rise_7d``: the largest rise of a false-fail CUSUM over the line's stations
      and the line within the 7 days ``d-7 .. d`` (C+ of ``d`` minus its lowest value in those
      days): the station evidence gained this week. A CUSUM falls back slowly once the rate is
      back at its reference, so C+ stays above h for days or weeks after a station was fixed,
      and a chance fail on such a day lifts it again; the textbook answer is to reset the CUSUM
      after acting on a signal. The rise over a week is that reset without a recursion: a fault
      that persists keeps adding evidence and keeps rising, a fixed station does not;
    * ``yield_cusum_signals_7d``: station- and line-days signalling in the 7 days ``d-6 .. d``;
    * ``spc_violations_7d``: Nelson-rule violations on the line's charts completed in ``d-6 .. d``
      (``gold.fct_spc_rule_violations``; a violation counts on its last point's day, when it is
      complete, so nothing is known before it could be), ``spc_beyond_limits_7d`` those of rules
      1 and 5 (points beyond 3 or 2 sigma).

    Without the detector tables in ``silver`` (the mart has not run yet) the columns are null."""
    spark = dates.sparkSession
    schema = "line_id string, score_date date, " + ", ".join(f"{c} double" for c in DETECTOR_FEATURES)
    if not all(t in silver for t in DETECTOR_TABLES):
        return spark.createDataFrame([], schema)
    day = F.datediff(F.col("tested_date"), F.lit("1970-01-01"))
    week = Window.partitionBy("monitor_level", "monitor_id").orderBy(day).rangeBetween(-RISE_DAYS, 0)
    cusum = (
        silver["fct_yield_cusum"]
        .where(F.col("is_judged"))
        .withColumn("false_rise", F.col("cusum_false") - F.least(F.min("cusum_false").over(week), F.col("cusum_false")))
    )
    daily = cusum.groupBy("line_id", F.col("tested_date").alias("event_date")).agg(
        F.max("cusum_false").alias("false_max"),
        F.max("false_rise").alias("false_rising"),
        F.max("cusum_true").alias("true_max"),
        F.sum(
            F.when(F.col("is_true_fail_signal") | F.col("is_false_fail_signal"), 1).otherwise(0)
        ).alias("signals"),
    )
    today = dates.join(daily, F.col("event_date") == F.col("score_date")).select(
        "line_id", "score_date", "false_max", "true_max", "false_rising"
    )
    signals = _accumulate(daily, ["line_id"], dates, ["signals"], window_days=7, suffix="_7d")
    v = silver["fct_spc_rule_violations"]
    violations = v.groupBy("line_id", F.col("last_point_date").alias("event_date")).agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.when(F.col("rule_number").isin(1, 5), 1).otherwise(0)).alias("beyond"),
    )
    spc7 = _accumulate(violations, ["line_id"], dates, ["n", "beyond"], window_days=7, suffix="_7d")
    keys = ["line_id", "score_date"]
    grid = today.select(*keys).unionByName(signals.select(*keys)).unionByName(spc7.select(*keys)).distinct()
    out = grid.join(today, keys, "left").join(signals, keys, "left").join(spc7, keys, "left")
    return out.select(
        *keys,
        F.col("false_max").cast("double").alias("yield_cusum_false_max_1d"),
        F.col("true_max").cast("double").alias("yield_cusum_true_max_1d"),
        F.coalesce("signals_7d", F.lit(0)).cast("double").alias("yield_cusum_signals_7d"),
        F.coalesce("n_7d", F.lit(0)).cast("double").alias("spc_violations_7d"),
        F.coalesce("beyond_7d", F.lit(0)).cast("double").alias("spc_beyond_limits_7d"),
        F.col("false_rising").cast("double").alias("yield_cusum_false_rise_7d"),
    )


INCOMING_DETECTOR_TABLES = ("fct_lot_genealogy_tests", "fct_supplier_outgoing_cusum")
INCOMING_DETECTOR_FEATURES = tuple(FEATURES["incoming_material"][-8:])
#: every gold detector table a feature builder reads (ml.jobs.load_silver loads those built)
GOLD_DETECTOR_TABLES = DETECTOR_TABLES + INCOMING_DETECTOR_TABLES
#: smallest p-value kept before -log10 (a surprise of 300 is as good as certain)
MIN_P_VALUE = 1e-300


def incoming_detector_features(silver: dict[str, DataFrame], grid: DataFrame, max_lot_age_days: int = 60) -> DataFrame:
    """``grid`` (one row per supplier lot and ``score_date``, any other columns) with the label-free
    detectors' evidence known by the end of the score date added:

    * ``lot_test_true_fails`` / ``lot_test_expected_fails`` / ``lot_test_surprise``: the lot test
      through genealogy (``gold.fct_lot_genealogy_tests``) as of its latest test day on or before
      the score date: true fails of units built with the lot on judged days, what the part's other
      lots lead one to expect, and ``-log10`` of the one-sided Poisson p-value (3 = p of 0.001);
      null while no unit built with the lot has been tested;
    * ``lot_test_adjusted_true_fails`` / ``lot_test_adjusted_surprise``: the same test without the
      units that hold another lot the lot test flagged (the second pass of the lot test: a
      defective lot makes every lot built together with it fail more); ``lot_test_explained``:
      1 when the lot's raw signal is explained away by such a co-built lot (its decision signal is
      off), else 0;
    * ``supplier_cusum_max`` / ``supplier_z_max``: the supplier's outgoing data of the lot against
      the same supplier, part and parameter's earlier lots (``gold.fct_supplier_outgoing_cusum``):
      the largest upper or lower CUSUM and the largest ``|z|`` over the lot's parameters (known
      from the lot's ship date: the grid holds lots shipped by the score date).

    Without the detector tables in ``silver`` (the mart has not built them) the columns are null."""
    if not all(t in silver for t in INCOMING_DETECTOR_TABLES):
        return grid.select("*", *[F.lit(None).cast("double").alias(c) for c in INCOMING_DETECTOR_FEATURES])
    dates = grid.select("score_date").distinct()
    lt = silver["fct_lot_genealogy_tests"].select(
        "supplier_lot_id", "tested_date", "judged_true_fails", "expected_true_fails", "p_value",
        "adjusted_true_fails", "adjusted_p_value", "explained_by_lot_id",
    )
    d = dates.alias("d")
    x = lt.alias("x")
    asof = (
        x.join(
            F.broadcast(d),
            (F.col("x.tested_date") <= F.col("d.score_date"))
            & (F.col("x.tested_date") > F.date_sub(F.col("d.score_date"), max_lot_age_days)),
        )
        .groupBy(F.col("x.supplier_lot_id").alias("supplier_lot_id"), F.col("d.score_date").alias("score_date"))
        .agg(
            F.max_by(
                F.struct(
                    "judged_true_fails", "expected_true_fails", "p_value", "adjusted_true_fails", "adjusted_p_value",
                    "explained_by_lot_id",
                ),
                F.col("tested_date"),
            ).alias("t")
        )
        .select(
            "supplier_lot_id",
            "score_date",
            F.col("t.judged_true_fails").cast("double").alias("lot_test_true_fails"),
            F.col("t.expected_true_fails").cast("double").alias("lot_test_expected_fails"),
            (-F.log10(F.greatest(F.coalesce(F.col("t.p_value"), F.lit(1.0)), F.lit(MIN_P_VALUE)))).alias(
                "lot_test_surprise"
            ),
            F.col("t.adjusted_true_fails").cast("double").alias("lot_test_adjusted_true_fails"),
            (-F.log10(F.greatest(F.coalesce(F.col("t.adjusted_p_value"), F.lit(1.0)), F.lit(MIN_P_VALUE)))).alias(
                "lot_test_adjusted_surprise"
            ),
            F.col("t.explained_by_lot_id").isNotNull().cast("double").alias("lot_test_explained"),
        )
    )
    cusum = silver["fct_supplier_outgoing_cusum"].groupBy("supplier_lot_id").agg(
        F.max(F.greatest(F.coalesce("cusum_up", F.lit(0.0)), F.coalesce("cusum_down", F.lit(0.0)))).alias(
            "supplier_cusum_max"
        ),
        F.max(F.abs("z")).alias("supplier_z_max"),
    )
    return grid.join(asof, ["supplier_lot_id", "score_date"], "left").join(cusum, "supplier_lot_id", "left")


# --------------------------------------------------------------------------- field return


def field_return_features(
    silver: dict[str, DataFrame],
    as_of_days: Iterable[date] | DataFrame,
    max_lot_age_days: int = 180,
) -> DataFrame:
    """One row per (build lot, score date) for lots built on or before the score date and at most
    ``max_lot_age_days`` old.

    Features: days since build, units built and shipped so far, days since the first shipment,
    returns and DOA returns so far (count and per shipped unit), LIMS solder-void results of the
    lot's BUILD_LOT samples so far (mean, max, FAIL count), first-attempt tests and fails of the
    lot's units so far, and the share of the lot's component placements that came from supplier
    lots with at least one IQC fail known before ``d + 1``.
    """
    spark = _spark(silver)
    dates = score_dates(spark, as_of_days)
    gen = _silver(silver, "unit_genealogy")
    tests = _silver(silver, "test_results")
    ship = _silver(silver, "shipments")
    rma = _silver(silver, "field_returns")
    lab = _silver(silver, "lab_results")

    units = gen.groupBy("serial_number", "build_lot_id", "product_id", "line_id").agg(
        F.min("built_at").alias("built_at")
    )
    lots = units.groupBy("build_lot_id", "product_id", "line_id").agg(F.to_date(F.min("built_at")).alias("build_date"))
    grid = lots.crossJoin(F.broadcast(dates)).where(
        (F.col("build_date") <= F.col("score_date")) & (F.datediff("score_date", "build_date") <= max_lot_age_days)
    )
    unit_lot = units.select("serial_number", "build_lot_id")
    lk = ["build_lot_id"]

    built = _accumulate(
        units.groupBy("build_lot_id", F.to_date("built_at").alias("event_date")).agg(F.count(F.lit(1)).alias("built")),
        lk,
        dates,
        ["built"],
    )
    ship_daily = (
        ship.join(unit_lot, "serial_number")
        .groupBy("build_lot_id", F.to_date("shipped_at").alias("event_date"))
        .agg(F.countDistinct("serial_number").alias("shipped"))
    )
    shipped = _accumulate(ship_daily, lk, dates, ["shipped"])
    first_ship = (
        ship_daily.alias("x")
        .join(F.broadcast(dates.alias("d")), F.col("x.event_date") <= F.col("d.score_date"))
        .groupBy("x.build_lot_id", "d.score_date")
        .agg(F.min("x.event_date").alias("first_ship_date"))
    )
    rma_daily = (
        rma.join(unit_lot, "serial_number")
        .groupBy("build_lot_id", F.to_date("received_at").alias("event_date"))
        .agg(F.count(F.lit(1)).alias("returns"), F.sum(F.when(F.col("is_doa"), 1).otherwise(0)).alias("doa"))
    )
    returns = _accumulate(rma_daily, lk, dates, ["returns", "doa"])
    void = F.col("characteristic_id") == "SOLDER_VOID"
    lab_daily = (
        lab.where(F.col("sample_kind") == "BUILD_LOT")
        .groupBy(F.col("material_ref").alias("build_lot_id"), F.to_date("tested_at").alias("event_date"))
        .agg(
            F.sum(F.when(void, 1).otherwise(0)).alias("void_n"),
            F.sum(F.when(void, F.col("measured_value")).otherwise(0.0)).alias("void_s"),
            F.max(F.when(void, F.col("measured_value"))).alias("void_max_day"),
            F.sum(F.when(F.col("lab_status") == "FAIL", 1).otherwise(0)).alias("lab_fails"),
        )
    )
    lab_acc = (
        lab_daily.alias("x")
        .join(F.broadcast(dates.alias("d")), F.col("x.event_date") <= F.col("d.score_date"))
        .groupBy("x.build_lot_id", "d.score_date")
        .agg(
            F.sum("void_n").alias("void_n"),
            F.sum("void_s").alias("void_s"),
            F.max("void_max_day").alias("lab_void_max"),
            F.sum("lab_fails").alias("lab_fails"),
        )
    )
    fa_daily = (
        _first_attempts(tests)
        .drop("line_id")
        .join(unit_lot, "serial_number")
        .groupBy("build_lot_id", "event_date")
        .agg(F.count(F.lit(1)).alias("fa_n"), F.sum("fail").alias("fa_fails"))
    )
    fa = _accumulate(fa_daily, lk, dates, ["fa_n", "fa_fails"])

    # component placements from supplier lots whose first IQC fail is known before d + 1
    first_iqc_fail = (
        tests.where((F.col("station_type") == "IQC") & ~F.col("is_pass"))
        .groupBy("supplier_lot_id")
        .agg(F.to_date(F.min("tested_at")).alias("fail_date"))
    )
    place = (
        gen.select("build_lot_id", "supplier_lot_id", F.to_date("built_at").alias("event_date"))
        .join(first_iqc_fail, "supplier_lot_id", "left")
        .join(component_flag_dates(silver), "supplier_lot_id", "left")
    )
    place_acc = (
        place.alias("x")
        .join(F.broadcast(dates.alias("d")), F.col("x.event_date") <= F.col("d.score_date"))
        .groupBy("x.build_lot_id", "d.score_date")
        .agg(
            F.count(F.lit(1)).alias("placements"),
            F.sum(F.when(F.col("x.fail_date") <= F.col("d.score_date"), 1).otherwise(0)).alias("placements_bad"),
            F.sum(F.when(F.col("x.flag_date") <= F.col("d.score_date"), 1).otherwise(0)).alias("placements_flagged"),
        )
    )

    expected = expected_returns(ship, rma, unit_lot, dates, max_lot_age_days)

    j = ["build_lot_id", "score_date"]
    out = (
        grid.join(built, j, "left")
        .join(expected, j, "left")
        .join(shipped, j, "left")
        .join(first_ship, j, "left")
        .join(returns, j, "left")
        .join(lab_acc, j, "left")
        .join(fa, j, "left")
        .join(place_acc, j, "left")
        .fillna(0, ["built", "shipped", "returns", "doa", "void_n", "lab_fails", "fa_n", "fa_fails", "placements"])
        .fillna(0, ["placements_bad"])
    )
    return out.select(
        *KEYS["field_return"],
        "score_date",
        F.datediff("score_date", "build_date").cast("double").alias("days_since_build"),
        F.col("built").cast("double").alias("units_built"),
        F.col("shipped").cast("double").alias("units_shipped"),
        F.datediff("score_date", "first_ship_date").cast("double").alias("days_since_first_ship"),
        F.col("returns").cast("double").alias("returns_so_far"),
        _ratio("returns", "shipped").alias("return_rate_so_far"),
        F.col("doa").cast("double").alias("doa_so_far"),
        _ratio("doa", "shipped").alias("doa_rate_so_far"),
        _ratio("void_s", "void_n").alias("lab_void_mean"),
        "lab_void_max",
        F.col("lab_fails").cast("double").alias("lab_fails"),
        F.col("fa_n").cast("double").alias("first_attempts"),
        F.col("fa_fails").cast("double").alias("first_attempt_fails"),
        _ratio("fa_fails", "fa_n").alias("first_attempt_fail_rate"),
        _ratio("placements_bad", "placements").alias("iqc_failed_component_share"),
        (
            _ratio("placements_flagged", "placements")
            if all(t in silver for t in INCOMING_DETECTOR_TABLES)
            else F.lit(None).cast("double")
        ).alias("flagged_component_share"),
        F.col("expected").alias("exposure_expected_returns"),
        _ratio("returns", "expected").alias("exposure_return_ratio"),
        _poisson_surprise(F.col("returns").cast("double"), F.col("expected")).alias("exposure_surprise"),
    )


def component_flag_dates(silver: dict[str, DataFrame]) -> DataFrame:
    """Per supplier lot the first day the incoming detectors flagged it: its first lot-test signal
    (``gold.fct_lot_genealogy_tests``) or, when the supplier's outgoing data of the lot signalled
    a drift (``gold.fct_supplier_outgoing_cusum``), its ship date. Empty without those tables."""
    spark = _spark(silver)
    if not all(t in silver for t in INCOMING_DETECTOR_TABLES):
        return spark.createDataFrame([], "supplier_lot_id string, flag_date date")
    lot_test = silver["fct_lot_genealogy_tests"].where(F.col("is_signal")).select(
        "supplier_lot_id", F.col("tested_date").alias("flag_date")
    )
    drift = (
        silver["fct_supplier_outgoing_cusum"]
        .where(F.col("is_upward_signal") | F.col("is_downward_signal"))
        .select("supplier_lot_id", F.col("lot_shipped_date").alias("flag_date"))
    )
    return lot_test.unionByName(drift).groupBy("supplier_lot_id").agg(F.min("flag_date").alias("flag_date"))


@F.pandas_udf(T.DoubleType())
def _poisson_surprise(observed: pd.Series, expected: pd.Series) -> pd.Series:
    from ml.exposure import poisson_surprise

    return pd.Series(poisson_surprise(observed.to_numpy(), expected.to_numpy()))


def expected_returns(
    ship: DataFrame, rma: DataFrame, unit_lot: DataFrame, dates: DataFrame, max_age_days: int
) -> DataFrame:
    """Per (build lot, score date) the returns expected so far from the lot's exposure: the sum
    over its shipped units of the product's Weibull F(age) (ml/exposure.py; the fit of the score
    date's week, from data received before its Monday). Null when the product has no fit yet."""
    from ml.exposure import weekly_fits

    spark = dates.sparkSession
    units = ship.groupBy("serial_number", "product_id").agg(F.to_date(F.min("shipped_at")).alias("ship_date"))
    shipped = units.groupBy("product_id", "ship_date").agg(F.count(F.lit(1)).alias("units")).toPandas()
    returned = (
        rma.select("serial_number", "received_at")
        .join(units, "serial_number")
        .groupBy("product_id", "ship_date", F.to_date("received_at").alias("received_date"))
        .agg(F.count(F.lit(1)).alias("returns"))
        .toPandas()
    )
    weeks = sorted({r["w"] for r in dates.select(F.date_trunc("week", "score_date").cast("date").alias("w")).collect()})
    fits = weekly_fits(shipped, returned, weeks)
    schema = "product_id string, fit_date date, weibull_lambda double, weibull_rho double"
    fit_df = spark.createDataFrame(fits[["product_id", "fit_date", "weibull_lambda", "weibull_rho"]]
                                   if len(fits) else [], schema)
    lot_ship = units.join(unit_lot, "serial_number").groupBy("build_lot_id", "product_id", "ship_date").agg(
        F.count(F.lit(1)).alias("units")
    )
    age = F.datediff(F.col("d.score_date"), F.col("x.ship_date"))
    exposed = (
        lot_ship.alias("x")
        .join(F.broadcast(dates.alias("d")), (age >= 0) & (age <= max_age_days))
        .withColumn("fit_date", F.date_trunc("week", F.col("d.score_date")).cast("date"))
        .join(F.broadcast(fit_df.alias("f")), ["product_id", "fit_date"])
        .select(
            F.col("x.build_lot_id").alias("build_lot_id"),
            F.col("d.score_date").alias("score_date"),
            (
                F.col("x.units")
                * (1.0 - F.exp(-F.pow((age + 1).cast("double") / F.col("f.weibull_lambda"), F.col("f.weibull_rho"))))
            ).alias("e"),
        )
    )
    return exposed.groupBy("build_lot_id", "score_date").agg(F.sum("e").alias("expected"))


BUILDERS = {
    "incoming_material": incoming_material_features,
    "factory_output": factory_output_features,
    "field_return": field_return_features,
}
