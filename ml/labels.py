"""Training labels from outcomes that mature after the score date.

Labels are derived from outcomes in silver (downstream tests, field returns) and, for incoming
material, from the mart's lot test through genealogy once it is built (one definition of the
fact, in dbt); **never** from the simulator's ground-truth ledger, which only the evaluation
(``ml/evaluate.py``) reads.

Every builder has the signature ``<scope>_labels(silver, keys, training_cutoff, ...)`` where
``keys`` is a DataFrame with the scope's entity key columns and ``score_date`` (typically the
output of the matching feature builder), and ``training_cutoff`` is the last day whose data is
known at training time. A builder:

1. only reads records with event time before ``training_cutoff + 1`` -- the label of a training
   row never uses data the trainer could not have had;
2. computes ``label`` (0/1) and ``label_mature_date`` (the first day on which the label is final);
3. drops the rows whose label is not mature (``label_mature_date > training_cutoff``) or not
   decidable (too little evidence, e.g. no unit built with the lot).

Returns the key columns, ``score_date``, ``label`` (int) and ``label_mature_date``.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml.features import _first_attempts, _silver, excess_z


def _until(df: DataFrame, ts_col: str, cutoff: date) -> DataFrame:
    """Records with event time before ``cutoff + 1`` (dates are UTC days)."""
    return df.where(F.to_date(F.col(ts_col)) <= F.lit(cutoff))


def _mature(df: DataFrame, cutoff: date) -> DataFrame:
    return df.where(F.col("label").isNotNull() & (F.col("label_mature_date") <= F.lit(cutoff)))


def _clear_excess(
    events: str, n: str, pool_events: str, pool_n: str, k: float, rate_floor: float, z_crit: float, min_events: int
) -> Column:
    """True when an entity's event rate (``events / n``) is clearly above the rest of its pool
    (``pool_*`` include the entity itself, which is taken out): at least ``min_events``, rate >
    ``k x p`` and one-sided binomial z > ``z_crit``, with ``p = max(rate of the others, rate_floor)``."""
    e, m, pe, pm = F.col(events), F.col(n), F.col(pool_events), F.col(pool_n)
    p = F.greatest(F.lit(rate_floor), F.coalesce((pe - e) / F.when(pm > m, pm - m), F.lit(0.0)))
    return (e >= min_events) & (e / m > k * p) & (F.coalesce(excess_z(e, m, p), F.lit(0.0)) > z_crit)


def incoming_material_labels(
    silver: dict[str, DataFrame],
    keys: DataFrame,
    training_cutoff: date,
    k: float = 1.5,
    rate_floor: float = 0.005,
    z_crit: float = 2.33,
    min_failed: int = 3,
    min_units: int = 20,
    idle_days: int = 7,
) -> DataFrame:
    """Label = 1 when the units built with the supplier lot fail their first attempts (a unit fails
    when any of its ICT/FT/REL/SYS first attempts fails) clearly more often than the part's other
    lots: ``failed >= min_failed``, unit fail rate > ``k x p`` and the one-sided binomial z-score
    against ``p`` above ``z_crit`` (2.33 ~ 1 % false positives per lot), where ``p = max(pooled
    unit fail rate of the part's other lots, rate_floor)``.

    Maturity: a lot's consumption is taken as finished ``idle_days`` after the last unit built with
    it; ``label_mature_date = last build date + idle_days`` (which also gives its last units time to
    go through the route). A lot still consumed within ``idle_days`` before the cutoff is immature.
    Lots with fewer than ``min_units`` tested units are not decidable (no label).
    The label is a property of the lot: every score date of the lot gets the same label.

    When the mart has built the lot test through genealogy (``silver["fct_lot_genealogy_tests"]``)
    the label is the lot test's verdict at maturity instead (:func:`lot_test_labels_at`): the same
    question answered once, in dbt, retest-aware and with co-built lots explained away.
    """
    if LOT_TEST_TABLE in silver:
        cuts = _cutoffs(silver, [training_cutoff])
        keyed = keys.crossJoin(F.broadcast(cuts))
        kw = {"min_failed": min_failed, "min_units": min_units, "idle_days": idle_days}
        return lot_test_labels_at(silver, keyed, [training_cutoff], **kw).drop("cutoff")
    gen = _until(_silver(silver, "unit_genealogy"), "built_at", training_cutoff)
    tests = _until(_silver(silver, "test_results"), "tested_at", training_cutoff)
    use = gen.select("serial_number", "supplier_lot_id", "part_id", "built_at").dropDuplicates(
        ["serial_number", "supplier_lot_id"]
    )
    unit_fail = _first_attempts(tests).groupBy("serial_number").agg(F.max("fail").alias("fail"))
    lot_stats = (
        use.groupBy("supplier_lot_id", "part_id")
        .agg(F.to_date(F.max("built_at")).alias("last_build"))
        .join(
            use.join(unit_fail, "serial_number")
            .groupBy("supplier_lot_id")
            .agg(F.count(F.lit(1)).alias("n"), F.sum("fail").alias("f")),
            "supplier_lot_id",
            "left",
        )
        .fillna(0, ["n", "f"])
    )
    part = lot_stats.groupBy("part_id").agg(F.sum("n").alias("part_n"), F.sum("f").alias("part_f"))
    positive = _clear_excess("f", "n", "part_f", "part_n", k, rate_floor, z_crit, min_failed)
    lab = lot_stats.join(part, "part_id").select(
        "supplier_lot_id",
        F.when(F.col("n") >= min_units, positive.cast("int")).alias("label"),
        F.date_add("last_build", idle_days).alias("label_mature_date"),
    )
    return _mature(keys.join(lab, "supplier_lot_id"), training_cutoff)


def factory_output_labels(
    silver: dict[str, DataFrame],
    keys: DataFrame,
    training_cutoff: date,
    horizon_days: int = 3,
    min_rate: float = 0.05,
    k: float = 1.5,
    baseline_days: int = 28,
    min_tests: int = 20,
    stations: tuple[str, ...] = ("ICT", "FT"),
) -> DataFrame:
    """Label = 1 when the line's ICT+FT first-attempt fail rate over the next ``horizon_days`` days
    (``d+1 .. d+horizon``) exceeds ``max(min_rate, k x baseline)``, the baseline being the same
    line's ICT+FT first-attempt fail rate over ``d-baseline_days+1 .. d`` (known at ``d``; a line
    without baseline tests uses ``min_rate``).

    Maturity: ``label_mature_date = d + horizon_days``. Rows with fewer than ``min_tests`` first
    attempts in the horizon are not decidable.
    """
    tests = _until(_silver(silver, "test_results"), "tested_at", training_cutoff)
    daily = (
        _first_attempts(tests)
        .where(F.col("station_type").isin(list(stations)) & F.col("line_id").isNotNull())
        .groupBy("line_id", "event_date")
        .agg(F.count(F.lit(1)).alias("n"), F.sum("fail").alias("f"))
    )
    k_ = keys.select("line_id", "score_date").distinct().alias("k")
    x = daily.alias("x")
    same = F.col("x.line_id") == F.col("k.line_id")
    after = (F.col("x.event_date") > F.col("k.score_date")) & (
        F.col("x.event_date") <= F.date_add(F.col("k.score_date"), horizon_days)
    )
    before = (F.col("x.event_date") <= F.col("k.score_date")) & (
        F.col("x.event_date") > F.date_sub(F.col("k.score_date"), baseline_days)
    )
    agg = (
        k_.join(x, same & (after | before), "left")
        .groupBy("k.line_id", "k.score_date")
        .agg(
            F.sum(F.when(after, F.col("x.n")).otherwise(0)).alias("n_next"),
            F.sum(F.when(after, F.col("x.f")).otherwise(0)).alias("f_next"),
            F.sum(F.when(before, F.col("x.n")).otherwise(0)).alias("n_base"),
            F.sum(F.when(before, F.col("x.f")).otherwise(0)).alias("f_base"),
        )
    )
    base = F.coalesce(F.col("f_base") / F.when(F.col("n_base") > 0, F.col("n_base")), F.lit(0.0))
    lab = agg.select(
        "line_id",
        "score_date",
        F.when(
            F.col("n_next") >= min_tests,
            (F.col("f_next") / F.col("n_next") > F.greatest(F.lit(min_rate), k * base)).cast("int"),
        ).alias("label"),
        F.date_add("score_date", horizon_days).alias("label_mature_date"),
    )
    return _mature(keys.join(lab, ["line_id", "score_date"]), training_cutoff)


def field_return_labels(
    silver: dict[str, DataFrame],
    keys: DataFrame,
    training_cutoff: date,
    window_days: int = 90,
    ship_grace_days: int = 14,
    k: float = 2.0,
    rate_floor: float = 0.002,
    z_crit: float = 2.33,
    min_returns: int = 2,
    min_shipped: int = 20,
) -> DataFrame:
    """Label = 1 when the build lot's early-return rate -- units returned within ``window_days``
    of their own ship date / units shipped -- is clearly above the product's: at least
    ``min_returns`` early returns, rate > ``k x p`` and the one-sided binomial z-score against ``p``
    above ``z_crit``, with ``p = max(pooled early-return rate of the product's *other* mature lots,
    rate_floor)``.

    Maturity: shipping of a lot is taken as complete ``ship_grace_days`` after its build date (or
    at its last shipment, if later); ``label_mature_date = max(last ship date, build date +
    ship_grace_days) + window_days``. Lots with fewer than ``min_shipped`` shipped units are not
    decidable. The label is a property of the lot: every score date gets the same label.
    """
    gen = _until(_silver(silver, "unit_genealogy"), "built_at", training_cutoff)
    ship = _until(_silver(silver, "shipments"), "shipped_at", training_cutoff)
    rma = _until(_silver(silver, "field_returns"), "received_at", training_cutoff)

    units = gen.groupBy("serial_number", "build_lot_id", "product_id").agg(F.min("built_at").alias("built_at"))
    shipped = units.join(
        ship.groupBy("serial_number").agg(F.min("shipped_at").alias("shipped_at")), "serial_number"
    ).join(rma.groupBy("serial_number").agg(F.min("received_at").alias("received_at")), "serial_number", "left")
    early = F.col("received_at").isNotNull() & (
        F.datediff(F.to_date("received_at"), F.to_date("shipped_at")) <= window_days
    )
    lots = shipped.groupBy("build_lot_id", "product_id").agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.when(early, 1).otherwise(0)).alias("r"),
        F.to_date(F.max("shipped_at")).alias("last_ship"),
        F.to_date(F.min("built_at")).alias("build_date"),
    )
    lots = lots.withColumn(
        "label_mature_date",
        F.date_add(F.greatest("last_ship", F.date_add("build_date", ship_grace_days)), window_days),
    )
    mature = lots.where(F.col("label_mature_date") <= F.lit(training_cutoff))
    prod = mature.groupBy("product_id").agg(F.sum("n").alias("pn"), F.sum("r").alias("pr"))
    positive = _clear_excess("r", "n", "pr", "pn", k, rate_floor, z_crit, min_returns)
    lab = lots.join(prod, "product_id", "left").select(
        "build_lot_id",
        F.when(F.col("n") >= min_shipped, positive.cast("int")).alias("label"),
        "label_mature_date",
    )
    return _mature(keys.join(lab, "build_lot_id"), training_cutoff)


BUILDERS = {
    "incoming_material": incoming_material_labels,
    "factory_output": factory_output_labels,
    "field_return": field_return_labels,
}


# --------------------------------------------------------------------------- many cutoffs in one pass
#
# ``<scope>_labels_at(silver, keys, cutoffs, ...)`` give, in one Spark plan, what the builders
# above give for each training cutoff in ``cutoffs``: ``keys`` holds a ``cutoff`` column (the
# rows to label for that cutoff) and the result has ``cutoff``, the key columns, ``score_date``,
# ``label`` and ``label_mature_date``. Records are reduced once (per unit or per day, with the
# dates on which they become visible); each cutoff then only counts what it could see. The
# single-cutoff builders stay the reference: tests/unit/test_ml_labels.py checks both agree.


def _cutoffs(silver: dict[str, DataFrame], cutoffs) -> DataFrame:
    from ml.features import _spark

    days = sorted(set(cutoffs))
    if not days:
        raise ValueError("cutoffs is empty")
    return _spark(silver).createDataFrame([(d,) for d in days], "cutoff date")


def _mature_at(df: DataFrame) -> DataFrame:
    return df.where(F.col("label").isNotNull() & (F.col("label_mature_date") <= F.col("cutoff")))


def incoming_material_labels_at(
    silver: dict[str, DataFrame],
    keys: DataFrame,
    cutoffs,
    k: float = 1.5,
    rate_floor: float = 0.005,
    z_crit: float = 2.33,
    min_failed: int = 3,
    min_units: int = 20,
    idle_days: int = 7,
) -> DataFrame:
    """:func:`incoming_material_labels` for every cutoff in ``cutoffs`` at once. A unit counts for
    a cutoff when it was built by then; it is tested when its first first-attempt test is dated
    on or before the cutoff, failed when its first failed first attempt is. With the mart's lot
    test built, :func:`lot_test_labels_at`."""
    if LOT_TEST_TABLE in silver:
        kw = {"min_failed": min_failed, "min_units": min_units, "idle_days": idle_days}
        return lot_test_labels_at(silver, keys, cutoffs, **kw)
    cuts = _cutoffs(silver, cutoffs)
    gen = _silver(silver, "unit_genealogy")
    tests = _silver(silver, "test_results")
    use = gen.select(
        "serial_number", "supplier_lot_id", "part_id", F.to_date("built_at").alias("build_date")
    ).dropDuplicates(["serial_number", "supplier_lot_id"])
    unit = _first_attempts(tests).groupBy("serial_number").agg(
        F.min("event_date").alias("tested_on"),
        F.min(F.when(F.col("fail") == 1, F.col("event_date"))).alias("failed_on"),
    )
    per_day = (
        use.join(unit, "serial_number", "left")
        .groupBy("supplier_lot_id", "part_id", "build_date", "tested_on", "failed_on")
        .agg(F.count(F.lit(1)).alias("units"))
    )
    seen = per_day.join(F.broadcast(cuts), F.col("build_date") <= F.col("cutoff"))
    last_build = seen.groupBy("cutoff", "supplier_lot_id", "part_id").agg(F.max("build_date").alias("last_build"))
    counts = seen.groupBy("cutoff", "supplier_lot_id").agg(
        F.sum(F.when(F.col("tested_on") <= F.col("cutoff"), F.col("units")).otherwise(0)).alias("n"),
        F.sum(F.when(F.col("failed_on") <= F.col("cutoff"), F.col("units")).otherwise(0)).alias("f"),
    )
    lot_stats = last_build.join(counts, ["cutoff", "supplier_lot_id"], "left").fillna(0, ["n", "f"])
    part = lot_stats.groupBy("cutoff", "part_id").agg(F.sum("n").alias("part_n"), F.sum("f").alias("part_f"))
    positive = _clear_excess("f", "n", "part_f", "part_n", k, rate_floor, z_crit, min_failed)
    lab = lot_stats.join(part, ["cutoff", "part_id"]).select(
        "cutoff",
        "supplier_lot_id",
        F.when(F.col("n") >= min_units, positive.cast("int")).alias("label"),
        F.date_add("last_build", idle_days).alias("label_mature_date"),
    )
    return _mature_at(keys.join(lab, ["cutoff", "supplier_lot_id"]))


def factory_output_labels_at(silver: dict[str, DataFrame], keys: DataFrame, cutoffs, **kw) -> DataFrame:
    """:func:`factory_output_labels` for every cutoff in ``cutoffs`` at once. A row mature at a
    cutoff (``d + horizon_days <= cutoff``) only uses tests dated up to ``d + horizon_days``, so
    its label is the same at every later cutoff: labels are computed once with the latest cutoff
    and kept for each cutoff where they are mature."""
    last = max(cutoffs)
    once = factory_output_labels(silver, keys.select("line_id", "score_date").distinct(), last, **kw)
    return _mature_at(keys.join(once.select("line_id", "score_date", "label", "label_mature_date"),
                                ["line_id", "score_date"]))


def field_return_labels_at(
    silver: dict[str, DataFrame],
    keys: DataFrame,
    cutoffs,
    window_days: int = 90,
    ship_grace_days: int = 14,
    k: float = 2.0,
    rate_floor: float = 0.002,
    z_crit: float = 2.33,
    min_returns: int = 2,
    min_shipped: int = 20,
) -> DataFrame:
    """:func:`field_return_labels` for every cutoff in ``cutoffs`` at once. A unit counts for a
    cutoff when it was built and first shipped by then; it is an early return when its first
    return is dated by then and within ``window_days`` of its first shipment."""
    cuts = _cutoffs(silver, cutoffs)
    gen = _silver(silver, "unit_genealogy")
    ship = _silver(silver, "shipments")
    rma = _silver(silver, "field_returns")
    units = gen.groupBy("serial_number", "build_lot_id", "product_id").agg(F.min("built_at").alias("built_at"))
    shipped = units.join(
        ship.groupBy("serial_number").agg(F.min("shipped_at").alias("shipped_at")), "serial_number"
    ).join(rma.groupBy("serial_number").agg(F.min("received_at").alias("received_at")), "serial_number", "left")
    within = F.col("received_at").isNotNull() & (
        F.datediff(F.to_date("received_at"), F.to_date("shipped_at")) <= window_days
    )
    per_day = shipped.groupBy(
        "build_lot_id",
        "product_id",
        F.to_date("built_at").alias("built_on"),
        F.to_date("shipped_at").alias("shipped_on"),
        F.when(within, F.to_date("received_at")).alias("early_return_on"),
    ).agg(F.count(F.lit(1)).alias("units"))
    seen = per_day.join(
        F.broadcast(cuts), (F.col("built_on") <= F.col("cutoff")) & (F.col("shipped_on") <= F.col("cutoff"))
    )
    lots = seen.groupBy("cutoff", "build_lot_id", "product_id").agg(
        F.sum("units").alias("n"),
        F.sum(F.when(F.col("early_return_on") <= F.col("cutoff"), F.col("units")).otherwise(0)).alias("r"),
        F.max("shipped_on").alias("last_ship"),
        F.min("built_on").alias("build_date"),
    )
    lots = lots.withColumn(
        "label_mature_date",
        F.date_add(F.greatest("last_ship", F.date_add("build_date", ship_grace_days)), window_days),
    )
    mature = lots.where(F.col("label_mature_date") <= F.col("cutoff"))
    prod = mature.groupBy("cutoff", "product_id").agg(F.sum("n").alias("pn"), F.sum("r").alias("pr"))
    positive = _clear_excess("r", "n", "pr", "pn", k, rate_floor, z_crit, min_returns)
    lab = lots.join(prod, ["cutoff", "product_id"], "left").select(
        "cutoff",
        "build_lot_id",
        F.when(F.col("n") >= min_shipped, positive.cast("int")).alias("label"),
        "label_mature_date",
    )
    return _mature_at(keys.join(lab, ["cutoff", "build_lot_id"]))


#: the mart's lot test through genealogy (docs/detectors.md), the incoming label once it is built
LOT_TEST_TABLE = "fct_lot_genealogy_tests"


def lot_test_labels_at(
    silver: dict[str, DataFrame],
    keys: DataFrame,
    cutoffs,
    label_alpha: float = 0.01,
    min_failed: int = 3,
    min_units: int = 20,
    idle_days: int = 7,
) -> DataFrame:
    """Incoming-material labels from the mart's lot test (``gold.fct_lot_genealogy_tests``), for
    every cutoff at once: label = 1 when, by the lot's maturity, the lot test's decision signalled
    (``is_signal``: p < 0.001), or its adjusted evidence (without the
    units shared with another flagged lot) reached ``min_failed`` true fails at the label's looser
    one-sided level ``label_alpha`` (1 %, the z > 2.33 of the silver label); 0 otherwise.

    Maturity as in :func:`incoming_material_labels`: ``idle_days`` after the last unit built with
    the lot by the cutoff; the evidence is the lot test's last row on or before that day (each row
    of the table only uses tests up to its own day, so nothing after maturity, hence after the
    cutoff, is read). Decidable with at least ``min_units`` judged first attempts. Returns the
    key columns with ``cutoff``, ``label`` and ``label_mature_date``, mature rows only."""
    cuts = _cutoffs(silver, cutoffs)
    gen = _silver(silver, "unit_genealogy").select("supplier_lot_id", F.to_date("built_at").alias("build_date"))
    builds = gen.groupBy("supplier_lot_id", "build_date").agg(F.count(F.lit(1)).alias("n"))
    last_build = (
        builds.join(F.broadcast(cuts), F.col("build_date") <= F.col("cutoff"))
        .groupBy("cutoff", "supplier_lot_id")
        .agg(F.max("build_date").alias("last_build"))
        .withColumn("label_mature_date", F.date_add("last_build", idle_days))
        .where(F.col("label_mature_date") <= F.col("cutoff"))
    )
    lt = silver[LOT_TEST_TABLE].select(
        "supplier_lot_id", "tested_date", "judged_attempts", "is_signal", "adjusted_true_fails", "adjusted_p_value"
    )
    m = last_build.alias("m")
    t = lt.alias("t")
    evidence = (
        m.join(
            t,
            (F.col("t.supplier_lot_id") == F.col("m.supplier_lot_id"))
            & (F.col("t.tested_date") <= F.col("m.label_mature_date")),
        )
        .groupBy(F.col("m.cutoff").alias("cutoff"), F.col("m.supplier_lot_id").alias("supplier_lot_id"))
        .agg(
            F.first(F.col("m.label_mature_date")).alias("label_mature_date"),
            F.max(F.col("t.is_signal").cast("int")).alias("signalled"),
            F.max_by(
                F.struct("judged_attempts", "adjusted_true_fails", "adjusted_p_value"), F.col("t.tested_date")
            ).alias("last"),
        )
    )
    adjusted = (F.col("last.adjusted_true_fails") >= min_failed) & (F.col("last.adjusted_p_value") < label_alpha)
    lab = evidence.select(
        "cutoff",
        "supplier_lot_id",
        F.when(
            F.col("last.judged_attempts") >= min_units,
            ((F.col("signalled") == 1) | F.coalesce(adjusted, F.lit(False))).cast("int"),
        ).alias("label"),
        "label_mature_date",
    )
    return _mature_at(keys.join(lab, ["cutoff", "supplier_lot_id"]))


BUILDERS_AT = {
    "incoming_material": incoming_material_labels_at,
    "factory_output": factory_output_labels_at,
    "field_return": field_return_labels_at,
}


# --------------------------------------------------------------------------- dispositions


#: The warning workflow's history (reporting/workflow.py, docs/warnings.md), in the ops schema.
DISPOSITIONS_TABLE = "warning_dispositions"


def apply_dispositions(rows, dispositions, scope: str, entity_col: str, cutoff: date):
    """Training rows (pandas, one per entity and ``score_date`` with ``label``) with the quality
    engineers' verdicts as labels, when ``ml.labels_from_dispositions`` is on (docs/models.md).

    A warning **confirmed** makes the entity's rows from its first warning day to the day of the
    verdict positive; a **false alarm** makes them negative. Only verdicts recorded by ``cutoff``
    count (a model trained at ``cutoff`` could not have known later ones); a warning's latest
    verdict by then wins (``closed`` keeps the verdict before it). Rows with no verdict keep the
    label derived from outcomes. Returns (rows, number of labels changed). Never called for
    scoring: dispositions change what a model learns, never a score."""
    import pandas as pd

    if dispositions is None or len(dispositions) == 0 or len(rows) == 0:
        return rows, 0
    d = dispositions[dispositions["scope"] == scope].copy()
    d["verdict_day"] = pd.to_datetime(d["changed_at"]).dt.date
    d = d[(d["verdict_day"] <= cutoff) & d["to_status"].isin(["confirmed", "false_alarm"])]
    if d.empty:
        return rows, 0
    d = d.sort_values("changed_at").drop_duplicates("warning_id", keep="last")
    out = rows.copy()
    days = pd.to_datetime(out["score_date"]).dt.date
    changed = 0
    for _, v in d.iterrows():
        first = pd.Timestamp(v["first_warning"]).date()
        hit = (out[entity_col] == v["entity_id"]) & (days >= first) & (days <= v["verdict_day"])
        label = 1 if v["to_status"] == "confirmed" else 0
        changed += int((out.loc[hit, "label"] != label).sum())
        out.loc[hit, "label"] = label
    return out, changed
