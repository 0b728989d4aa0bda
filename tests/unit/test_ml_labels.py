"""Labels of many training cutoffs in one pass (``ml.labels.*_labels_at``) equal the reference
single-cutoff builders, cutoff by cutoff, on a small random silver world."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import pytest
from pyspark.sql import functions as F

from ml import labels as lab
from tests.unit.test_ml_features import SCHEMAS

START = date(2026, 3, 2)
DAYS = 40
KW = {
    "incoming_material": {"min_units": 5, "idle_days": 2, "min_failed": 2},
    "factory_output": {"min_tests": 5},
    "field_return": {"window_days": 7, "ship_grace_days": 2, "min_shipped": 3, "min_returns": 1},
}
KEYS = {
    "incoming_material": ["supplier_id", "supplier_lot_id", "part_id"],
    "factory_output": ["line_id"],
    "field_return": ["build_lot_id", "product_id", "line_id"],
}


def _at(day: int, hour: float) -> datetime:
    return datetime.combine(START + timedelta(days=day), time(0)) + timedelta(hours=hour)


def _world(seed: int = 3) -> dict[str, list]:
    """Units built on two lines over DAYS days with components from supplier lots that are used
    in runs (a lot can come back after a pause), some bad lots and bad build days; first-attempt
    tests over the next days, shipments, and returns."""
    rng = np.random.default_rng(seed)
    rows = {t: [] for t in SCHEMAS}
    bad_lots = {"P1-L3", "P2-L5"}
    for u in range(700):
        day = int(rng.integers(0, DAYS))
        line = f"L{int(rng.integers(1, 3))}"
        product = "AX100" if rng.random() < 0.6 else "BX200"
        serial = f"U{u:04d}"
        build_lot = f"{line}-{product}-{day:02d}"
        built = _at(day, float(rng.uniform(6, 20)))
        lots = {}
        for part, sup in (("P1", "S1"), ("P2", "S2")):
            lot = f"{part}-L{(day // 6 + (1 if rng.random() < 0.1 else 0)) % 7}"
            lots[part] = lot
            rows["unit_genealogy"].append((serial, product, build_lot, line, built, part, sup, lot))
        p_fail = 0.05 + 0.35 * any(lot in bad_lots for lot in lots.values()) + 0.2 * (day in (11, 12, 25))
        for k, station in enumerate(("ICT", "FT")):
            at = built + timedelta(hours=float(rng.uniform(1, 60)) + 24 * k)
            ok = bool(rng.random() >= p_fail)
            rows["test_results"].append((f"T{u}-{k}", serial, line, station, product, None, 1, ok, at))
            if not ok:
                rows["test_results"].append((f"T{u}-{k}r", serial, line, station, product, None, 2, True,
                                             at + timedelta(hours=1)))
        if rng.random() < 0.85:
            shipped = built + timedelta(days=float(rng.uniform(1, 6)))
            rows["shipments"].append((f"S{u}", serial, product, shipped))
            if rng.random() < 0.08 + 0.3 * (day % 9 == 4):
                rows["field_returns"].append((f"R{u}", serial, product, bool(rng.random() < 0.3),
                                              shipped + timedelta(days=float(rng.uniform(0.5, 12)))))
    return rows


@pytest.fixture(scope="module")
def silver(spark):
    return {t: spark.createDataFrame(r, SCHEMAS[t]) for t, r in _world().items()}


def _keys(spark, silver, scope):
    days = [START + timedelta(days=d) for d in range(DAYS + 10)]
    dates = spark.createDataFrame([(d,) for d in days], "score_date date")
    gen = silver["unit_genealogy"]
    if scope == "incoming_material":
        ents = gen.select("supplier_id", "supplier_lot_id", "part_id").distinct()
    elif scope == "factory_output":
        ents = gen.select("line_id").distinct()
    else:
        ents = gen.select("build_lot_id", "product_id", "line_id").distinct()
    return ents.crossJoin(dates)


@pytest.mark.parametrize("scope", ["incoming_material", "factory_output", "field_return"])
def test_labels_of_all_cutoffs_at_once_equal_the_reference(spark, silver, scope):
    from pyspark.sql import functions as F

    keys = _keys(spark, silver, scope)
    cutoffs = [START + timedelta(days=d) for d in range(6, DAYS + 8, 5)]
    cuts = spark.createDataFrame([(c,) for c in cutoffs], "cutoff date")
    keyed = keys.join(cuts, F.col("score_date") <= F.col("cutoff"))
    cols = [*KEYS[scope], "score_date", "label", "label_mature_date"]
    at_once = lab.BUILDERS_AT[scope](silver, keyed, cutoffs, **KW[scope]).toPandas()
    classes = set()
    for c in cutoffs:
        ref = lab.BUILDERS[scope](silver, keys.where(F.col("score_date") <= F.lit(c)), c, **KW[scope])
        want = ref.select(*cols).toPandas().sort_values(cols).reset_index(drop=True)
        got = at_once[at_once["cutoff"] == c][cols].sort_values(cols).reset_index(drop=True)
        assert got.equals(want), f"{scope} cutoff {c}: {len(got)} rows vs {len(want)} from the reference"
        classes |= set(want["label"])
    assert classes == {0, 1}, "the random world must give both label classes, or the test proves little"


@pytest.mark.parametrize("scope", ["factory_output", "field_return"])
def test_features_of_a_window_equal_a_full_run_and_keep_the_other_days(spark, cfg, silver, scope):
    """A scoring run computes and writes only its window's features; those rows equal the rows of
    the same days in a full run, and the days outside the window stay in the table (a scoring run
    used to rewrite gold.features_factory_output with its window only)."""
    import os
    import shutil

    from ml import jobs

    path = cfg.table_path("gold", jobs.features_table(scope))
    first, last = START, START + timedelta(days=DAYS - 1)
    w0, w1 = START + timedelta(days=20), START + timedelta(days=22)
    # Another test of the session (the integration chain) may hold this table: set it aside.
    aside = f"{path}.aside-{os.getpid()}"
    if os.path.exists(path):
        shutil.move(path, aside)
    try:
        full = jobs.build_features(spark, cfg, silver, scope, first, last).toPandas()
        jobs.build_features(spark, cfg, silver, scope, w0, w1)
        table = spark.read.format("delta").load(path).toPandas()
        cols = list(full.columns)
        order = [*KEYS[scope], "score_date"]

        def norm(df):
            return df[cols].sort_values(order).reset_index(drop=True)

        assert norm(table).equals(norm(full))  # window rows identical, other days kept
        window = full[(full["score_date"] >= w0) & (full["score_date"] <= w1)]
        assert len(window) > 0
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if os.path.exists(aside):
            shutil.move(aside, path)


def test_dispositions_become_labels_only_when_known_at_the_cutoff():
    import pandas as pd

    from ml.labels import apply_dispositions

    d0 = date(2026, 4, 1)
    rows = pd.DataFrame(
        {
            "line_id": ["L1"] * 6 + ["L2"] * 6,
            "score_date": [d0 + timedelta(days=i) for i in range(6)] * 2,
            "label": [0] * 6 + [1] * 6,
        }
    )
    hist = pd.DataFrame(
        {
            "warning_id": ["FO-1", "FO-1", "FO-2", "FO-3", "IM-1"],
            "scope": ["factory_output", "factory_output", "factory_output", "factory_output", "incoming_material"],
            "entity_id": ["L1", "L1", "L2", "L2", "L1"],
            "first_warning": [d0 + timedelta(days=1)] * 2 + [d0 + timedelta(days=2), d0, d0],
            "to_status": ["acknowledged", "confirmed", "false_alarm", "confirmed", "false_alarm"],
            "changed_at": [pd.Timestamp(d0 + timedelta(days=2)), pd.Timestamp(d0 + timedelta(days=3)),
                           pd.Timestamp(d0 + timedelta(days=4)), pd.Timestamp(d0 + timedelta(days=30)),
                           pd.Timestamp(d0)],
        }
    )
    out, changed = apply_dispositions(rows, hist, "factory_output", "line_id", d0 + timedelta(days=10))
    # FO-1 confirmed on day 3: L1 days 1..3 positive; FO-2 false alarm on day 4: L2 days 2..4 negative;
    # FO-3's verdict comes after the cutoff, IM-1 is another scope: ignored
    assert list(out.loc[out["line_id"] == "L1", "label"]) == [0, 1, 1, 1, 0, 0]
    assert list(out.loc[out["line_id"] == "L2", "label"]) == [1, 1, 0, 0, 0, 1]
    assert changed == 6
    assert list(rows["label"]) == [0] * 6 + [1] * 6          # the input is not modified
    same, none = apply_dispositions(rows, hist, "factory_output", "line_id", d0 + timedelta(days=2))
    assert none == 0 and same["label"].tolist() == rows["label"].tolist()  # only an acknowledgement by then


def test_incoming_label_is_the_mart_lot_test_verdict_at_maturity(spark):
    """With the mart's lot test built, the incoming label is its verdict at the lot's maturity
    (last build + idle days): the decision signal by then, or the adjusted evidence at the label's
    1 % level; rows after maturity are never read; too few judged attempts: no label."""

    def d(k):
        return START + timedelta(days=k)

    builds = {"L1": 4, "L2": 2, "L3": 2, "L4": 2, "L5": 2}  # last build day; idle_days = 2 below
    gen = [
        (f"U-{lot}-{k}", "AX100", "B", "L1", _at(k, 8.0), "P1", "S1", lot)
        for lot, last in builds.items()
        for k in range(last + 1)
    ]
    lot_tests = [
        # (lot, day, judged attempts, decision signal, adjusted true fails, adjusted p)
        ("L1", d(3), 40, False, 2, 0.2),
        ("L1", d(5), 60, True, 5, 1e-4),  # signals before its maturity (day 6)
        ("L2", d(3), 40, False, 4, 0.005),  # no signal, but 4 adjusted fails at p < 1 %
        ("L2", d(6), 60, True, 6, 1e-5),
        ("L3", d(2), 30, False, 3, 0.05),  # not even at 1 %
        ("L4", d(2), 10, True, 5, 1e-5),  # too few judged attempts: undecidable
        ("L5", d(3), 40, False, 0, 1.0),
        ("L5", d(9), 80, True, 7, 1e-6),  # after its maturity (day 4): not read
    ]
    silver = {
        "unit_genealogy": spark.createDataFrame(gen, SCHEMAS["unit_genealogy"]),
        lab.LOT_TEST_TABLE: spark.createDataFrame(
            lot_tests,
            "supplier_lot_id string, tested_date date, judged_attempts bigint, is_signal boolean, "
            "adjusted_true_fails bigint, adjusted_p_value double",
        ),
    }
    cutoffs = [d(5), d(10)]
    keys = spark.createDataFrame(
        [(lot, d(1), c) for lot in builds for c in cutoffs], "supplier_lot_id string, score_date date, cutoff date"
    )
    got = {
        (r["cutoff"], r["supplier_lot_id"]): (r["label"], r["label_mature_date"])
        for r in lab.incoming_material_labels_at(silver, keys, cutoffs, min_units=20, idle_days=2).collect()
    }
    assert got == {
        (d(5), "L2"): (1, d(4)),
        (d(5), "L3"): (0, d(4)),
        (d(5), "L5"): (0, d(4)),
        (d(10), "L1"): (1, d(6)),
        (d(10), "L2"): (1, d(4)),
        (d(10), "L3"): (0, d(4)),
        (d(10), "L5"): (0, d(4)),
    }
    # the single-cutoff builder reads the same verdicts
    one = lab.incoming_material_labels(silver, keys.where(F.col("cutoff") == d(10)).drop("cutoff"), d(10),
                                       min_units=20, idle_days=2)
    assert {r["supplier_lot_id"]: r["label"] for r in one.collect()} == {"L1": 1, "L2": 1, "L3": 0, "L5": 0}
