"""The scoring kernel given to ``mapInArrow`` (``ml.jobs.score_batches``), on hand-made Arrow batches."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import functions as F

from ml.jobs import score_batches
from ml.train import explain_arrays

FEATURES = ["a", "b", "c", "d"]


def _booster(seed: int):
    rng = np.random.default_rng(seed)
    X = rng.random((300, 4))
    y = (X[:, seed % 4] > 0.5).astype(int)
    return lgb.train({"objective": "binary", "verbose": -1, "seed": seed}, lgb.Dataset(X, y), 5)


def test_every_version_scores_its_rows_and_only_warnings_are_explained():
    boosters = {"1": _booster(1), "2": _booster(2)}
    rng = np.random.default_rng(0)
    X = rng.random((200, 4))
    X[rng.random(X.shape) < 0.05] = np.nan
    version = np.where(np.arange(200) % 3 == 0, "2", "1")
    threshold = np.where(version == "2", 0.5, 0.7)
    batch = pa.RecordBatch.from_pydict(
        {
            "entity_id": [f"e{i}" for i in range(200)],
            "score_date": list(range(200)),
            "model_version": list(version),
            "threshold": threshold,
            **{f: X[:, i] for i, f in enumerate(FEATURES)},
        }
    )
    models = {v: (b.model_to_string(), FEATURES) for v, b in boosters.items()}

    out = pa.Table.from_batches(list(score_batches(models, FEATURES)(iter([batch]))))

    assert out.num_rows == 200
    by_entity = {e: i for i, e in enumerate(out.column("entity_id").to_pylist())}
    scores, factors = out.column("score").to_numpy(), out.column("factors").to_pylist()
    warned = 0
    for i in range(200):
        j = by_entity[f"e{i}"]
        score, order, contrib, _ = explain_arrays(boosters[version[i]], X[i : i + 1])
        assert scores[j] == score[0]  # the row's own version scored it
        if score[0] >= threshold[i]:
            warned += 1
            assert [f["feature"] for f in factors[j]] == [FEATURES[k] for k in order[0]]
            assert [f["contribution"] for f in factors[j]] == list(contrib[0])
        else:
            assert factors[j] == []  # a quiet row is not explained
    assert 0 < warned < 200, "the thresholds must split the rows, or the test proves nothing"


def test_explain_arrays_accepts_zero_rows():
    score, order, contrib, values = explain_arrays(_booster(1), np.zeros((0, 4)))
    assert score.shape == (0,) and order.shape == contrib.shape == values.shape == (0, 4)


def test_cold_start_dates_are_scored_by_the_scopes_rule(spark):
    """Dates no model may score get the label-free rule's verdict (ml.rules), named as a rule."""
    import datetime as dt

    from ml import rules
    from ml.jobs import SCORES_SCHEMA, conform_scores, rule_scores

    d1, d2 = dt.date(2026, 3, 2), dt.date(2026, 3, 3)
    rows = spark.createDataFrame(
        [("B1", d1, 3.0, 3.5), ("B2", d1, 2.0, 9.0), ("B3", d1, 5.0, 2.0), ("B1", d2, 3.0, 3.5)],
        "build_lot_id string, score_date date, returns_so_far double, exposure_surprise double",
    )
    out = conform_scores(spark, rule_scores(spark, rows, "field_return", [d1]))
    got = {r["entity_id"]: r for r in out.collect()}

    assert [(f.name, f.dataType.simpleString()) for f in out.schema] == [
        (f.name, f.dataType.simpleString()) for f in SCORES_SCHEMA
    ]
    assert sorted(got) == ["B1", "B2", "B3"]  # only the cold-start date
    # field returns start cold with the exposure detector: >= 3 returns and p < 0.001 (surprise > 3):
    # only B1; B2 has two returns, B3 is not surprising enough
    assert [e for e, r in sorted(got.items()) if r["is_warning"]] == ["B1"]
    b1 = got["B1"]
    assert b1["model_name"] == "rule:exposure_poisson_test" and b1["model_version"] == rules.RULES_VERSION
    assert b1["threshold"] == rules.DETECTOR_THRESHOLD["field_return"] and b1["score"] == pytest.approx(3.5 / 3)
    factors = {f["feature"]: f["value"] for f in b1["top_factors"]}
    assert factors["rule"] == rules.DETECTOR_RULES["field_return"] and factors["returns_so_far"] == "3.0"
    assert got["B2"]["top_factors"] == [] and got["B2"]["score"] == 0.0
    # factory output starts cold with the retest-aware line evidence: SPC rule 1 (L1) or the false-fail
    # CUSUM's rise within a week above h = 6 (L2); a true-fail rise is not the line's fault (L3)
    lines = spark.createDataFrame(
        [("L1", d1, 3.5, 0.0, 0.0, 0.0), ("L2", d1, 2.0, 0.0, 6.5, 0.0), ("L3", d1, 1.0, 0.0, 0.0, 12.0)],
        "line_id string, score_date date, spc_max_shift_sigma double, spc_oos_share_1d double, "
        "yield_cusum_false_rise_7d double, yield_cusum_true_max_1d double",
    )
    f = {r["entity_id"]: r for r in rule_scores(spark, lines, "factory_output", [d1]).collect()}
    assert [e for e, r in sorted(f.items()) if r["is_warning"]] == ["L1", "L2"]
    assert f["L2"]["model_name"] == "rule:retest_aware_line_evidence"
    assert f["L2"]["score"] == pytest.approx(6.5 / 6)
    # a scope without a better detector starts with its baseline rule (incoming: static limits)
    lots = spark.createDataFrame(
        [("S1", d1, 1.0, 0.0, 0.0), ("S2", d1, 0.0, 0.05, 20.0)],
        "supplier_lot_id string, score_date date, supplier_n_out_of_spec double, iqc_fail_rate double, "
        "iqc_samples double",
    )
    i = {r["entity_id"]: r for r in rule_scores(spark, lots, "incoming_material", [d1]).collect()}
    assert i["S1"]["is_warning"] and not i["S2"]["is_warning"]
    assert i["S1"]["model_name"] == "rule:incoming_static_limits"
    out.unpersist()


def test_where_the_detector_stands_a_warning_is_the_models_or_the_detectors(spark):
    """ml.jobs.detector_stands: the model's row unless the model is silent and the detector warns."""
    import datetime as dt

    from ml import rules
    from ml.jobs import conform_scores, detector_stands, rule_scores

    d1 = dt.date(2026, 3, 2)
    assert "field_return" in rules.DETECTOR_STANDS and "incoming_material" not in rules.DETECTOR_STANDS
    # B1: both warn; B2: only the detector (3 returns, p < 0.001); B3: only the model; B4: neither
    feats = spark.createDataFrame(
        [("B1", d1, 4.0, 5.0), ("B2", d1, 3.0, 3.5), ("B3", d1, 0.0, 0.0), ("B4", d1, 1.0, 1.0)],
        "build_lot_id string, score_date date, returns_so_far double, exposure_surprise double",
    )
    rule_rows = rule_scores(spark, feats, "field_return", [d1])
    model_rows = rule_rows.select(
        "scope", "entity_type", "entity_id", "score_date",
        F.when(F.col("entity_id").isin("B1", "B3"), 0.9).otherwise(0.1).alias("score"),
        F.col("entity_id").isin("B1", "B3").alias("is_warning"),
        F.lit(0.5).alias("threshold"),
        F.when(F.col("entity_id").isin("B1", "B3"), F.array(F.struct(
            F.lit("doa_rate_so_far").alias("feature"), F.lit(0.4).alias("contribution"), F.lit("0.03").alias("value")
        ))).otherwise(F.array().cast("array<struct<feature:string,contribution:double,value:string>>")).alias(
            "top_factors"),
        F.lit("andon_field_return").alias("model_name"),
        F.lit("7").alias("model_version"),
        F.current_timestamp().alias("scored_at"),
    )
    got = {r["entity_id"]: r for r in conform_scores(spark, detector_stands(model_rows, rule_rows)).collect()}
    assert sorted(got) == ["B1", "B2", "B3", "B4"]  # one row per entity-day
    assert {e: r["is_warning"] for e, r in got.items()} == {"B1": True, "B2": True, "B3": True, "B4": False}
    # the model's warning keeps the model's name and factors; the detector's says it is the rule's
    assert got["B1"]["model_name"] == "andon_field_return" and got["B3"]["model_version"] == "7"
    assert got["B2"]["model_name"] == "rule:exposure_poisson_test" and got["B2"]["model_version"] == rules.RULES_VERSION
    assert got["B2"]["threshold"] == rules.DETECTOR_THRESHOLD["field_return"]
    assert {f["feature"] for f in got["B2"]["top_factors"]} >= {"rule", "returns_so_far", "exposure_surprise"}
    # a silent day stays the model's (its score, its threshold)
    assert got["B4"]["model_name"] == "andon_field_return" and got["B4"]["score"] == pytest.approx(0.1)
