"""Time split, threshold choice and end-to-end train + register + load with a throw-away MLflow store."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from ml.train import choose_threshold, time_ordered_split, train_scope


def test_time_ordered_split_keeps_dates_whole_and_latest_last():
    df = pd.DataFrame({"d": [date(2026, 3, i) for i in (1, 1, 2, 3, 3, 4)], "x": range(6)})
    train, valid = time_ordered_split(df, "d", 0.25)
    assert set(valid["d"]) == {date(2026, 3, 4)}
    assert max(train["d"]) < min(valid["d"]) and len(train) + len(valid) == 6
    train, valid = time_ordered_split(df, "d", 0.5)  # 2 of 4 dates
    assert set(valid["d"]) == {date(2026, 3, 3), date(2026, 3, 4)}
    with pytest.raises(ValueError):
        time_ordered_split(df.iloc[:2], "d", 0.5)


Y = [1, 1, 0, 1, 0, 0, 0, 0, 0, 0]
S = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]


def test_choose_threshold_hand_computed():
    # 3 positives, 7 negatives. Budget 1/7: t=0.6 alerts on 4 rows (3 TP, 1 FP) -> recall 1, FPR 1/7
    r = choose_threshold(Y, S, 1 / 7)
    assert r["threshold"] == 0.6 and r["recall"] == 1.0
    assert r["false_alarm_rate"] == pytest.approx(1 / 7) and r["precision"] == 0.75 and r["alerts"] == 4
    # budget 0: no false alarm allowed -> t=0.8 (2 TP); t=0.9 has lower recall
    r = choose_threshold(Y, S, 0.0)
    assert r["threshold"] == 0.8 and r["recall"] == pytest.approx(2 / 3) and r["false_alarm_rate"] == 0.0


def test_choose_threshold_ties_prefer_higher_threshold():
    # t=0.8 and t=0.7 give the same recall (2/3) within budget 1/7: the higher one wins
    r = choose_threshold([1, 1, 0, 0, 0, 0, 0, 0, 0, 1], S, 1 / 7)
    assert r["threshold"] == 0.8 and r["recall"] == pytest.approx(2 / 3) and r["false_alarm_rate"] == 0.0
    # equal scores are one candidate: a negative tied with a positive is alerted with it
    r = choose_threshold([1, 0, 0, 0], [0.5, 0.5, 0.1, 0.1], 0.2)
    assert r["recall"] == 0.0 and r["threshold"] > 0.5 and r["alerts"] == 0
    r = choose_threshold([1, 0, 0, 0], [0.5, 0.5, 0.1, 0.1], 1 / 3)
    assert r["threshold"] == 0.5 and r["recall"] == 1.0


def test_choose_threshold_counts_false_alarms_per_group_when_given():
    # The 7 negatives of Y/S belong to 3 entity-weeks: a = {0.7, 0.5}, b = {0.4, 0.3, 0.2}, c = {0.1, 0.05}.
    groups = ["p", "p", "a", "p", "a", "b", "b", "b", "c", "c"]
    # budget 1/3 (one of three groups may alarm): t = 0.6 alarms in group a only -> recall 1
    r = choose_threshold(Y, S, 1 / 3, groups)
    assert r["threshold"] == 0.6 and r["recall"] == 1.0 and r["negatives"] == 3
    assert r["false_alarm_rate"] == pytest.approx(1 / 3)
    # row-level, the same budget admits t = 0.3 (FPR 2/7 on rows) but it alarms in a and b, 2/3 of groups
    assert choose_threshold(Y, S, 1 / 3)["false_alarm_rate"] == pytest.approx(1 / 7)
    # budget 0.2: no group may alarm -> t = 0.8 (recall 2/3), as the row rule with budget 0
    r = choose_threshold(Y, S, 0.2, groups)
    assert r["threshold"] == 0.8 and r["recall"] == pytest.approx(2 / 3) and r["false_alarm_rate"] == 0.0


def test_week_groups_are_entity_and_iso_week():
    from ml.train import week_groups

    got = week_groups(["L1", "L1", "L2"], [date(2026, 3, 8), date(2026, 3, 9), date(2026, 3, 9)])
    assert list(got) == ["L1|2026-W10", "L1|2026-W11", "L2|2026-W11"]


def test_choose_threshold_without_positives_alerts_nothing():
    r = choose_threshold([0, 0, 0], [0.2, 0.4, 0.9], 0.5)
    assert r["threshold"] > 0.9 and r["alerts"] == 0 and r["recall"] == 0.0


def _synthetic(n_days: int = 40, n_entities: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_days):
        for e in range(n_entities):
            x = rng.normal(size=7)
            p = 1 / (1 + np.exp(-(2.5 * x[0] - 1.5 * x[1] - 1.0)))
            rows.append(
                {
                    "line_id": f"L{e}",
                    "score_date": date(2026, 1, 1) + timedelta(days=d),
                    **{f"f{i}": float(x[i]) for i in range(7)},
                    "label": int(rng.random() < p),
                }
            )
    df = pd.DataFrame(rows)
    df.loc[df.sample(frac=0.05, random_state=1).index, "f3"] = np.nan  # models must cope with missing values
    return df


def test_train_register_and_load(tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    df = _synthetic()
    out = train_scope(
        df,
        "label",
        "factory_output",
        uri,
        false_alarm_budget=0.1,
        artifact_location=(tmp_path / "artifacts").as_uri(),
        params={"n_estimators": 60},
    )
    assert out["model_name"] == "andon_factory_output" and out["version"] == "1"
    assert out["features"] == [f"f{i}" for i in range(7)]  # keys, date and label excluded
    assert out["metrics"]["valid_auc"] > 0.75  # the signal is learnable
    assert out["metrics"]["valid_false_alarm_rate_at_threshold"] <= 0.1

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mv = client.get_model_version_by_alias("andon_factory_output", "champion")
    assert str(mv.version) == out["version"]
    run = client.get_run(out["run_id"])
    assert run.data.metrics["threshold"] == pytest.approx(out["threshold"])
    arts = {a.path for a in client.list_artifacts(out["run_id"], "evaluation")}
    assert arts == {"evaluation/report.json", "evaluation/report.md"}

    prev = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        model = mlflow.pyfunc.load_model("models:/andon_factory_output@champion")
    finally:
        mlflow.set_tracking_uri(prev[0])
        mlflow.set_registry_uri(prev[1])
    pred = model.predict(df[out["features"]].head(25))
    assert len(pred) == 25
    assert pred["score"].between(0, 1).all()
    assert all(len(f) == 5 for f in pred["top_factors"])
    first = pred["top_factors"].iloc[0]
    assert set(first[0]) == {"feature", "contribution", "value"}
    assert [abs(f["contribution"]) for f in first] == sorted((abs(f["contribution"]) for f in first), reverse=True)
    # the two informative features dominate the explanations
    top = pd.Series([f[0]["feature"] for f in pred["top_factors"]]).value_counts()
    assert top.index[0] in {"f0", "f1"}


def test_train_refuses_single_class(tmp_path):
    df = _synthetic(n_days=6, n_entities=3)
    df["label"] = 0
    with pytest.raises(ValueError):
        train_scope(df, "label", "x", f"sqlite:///{tmp_path / 'm.db'}")


def test_fit_model_holds_its_budget_in_entity_weeks():
    from ml.train import fit_model, week_groups

    df = _synthetic()
    feats = [f"f{i}" for i in range(7)]
    by_week = fit_model(df, "label", "factory_output", feature_cols=feats, false_alarm_budget=0.1, group_col="line_id")
    by_row = fit_model(df, "label", "factory_output", feature_cols=feats, false_alarm_budget=0.1)
    assert by_week["report"]["false_alarm_unit"] == "entity_week" and by_row["report"]["false_alarm_unit"] == "row"
    # recompute the entity-week false-alarm rate of the chosen threshold on the validation rows
    valid = df[df["score_date"] >= sorted(df["score_date"].unique())[30]].dropna(subset=["label"])
    s = by_week["booster"].predict(valid[feats].astype("float64"))
    neg = valid["label"].to_numpy() == 0
    weeks = week_groups(valid["line_id"], valid["score_date"])
    alarmed = set(weeks[neg & (s >= by_week["threshold"]["threshold"])])
    assert len(alarmed) / len(set(weeks[neg])) <= 0.1
    assert by_week["threshold"]["threshold"] >= by_row["threshold"]["threshold"]  # weeks are the stricter unit
    with pytest.raises(KeyError, match="entity id must stay"):
        fit_model(df.drop(columns="line_id"), "label", "factory_output", feature_cols=feats, group_col="line_id")


def test_promotion_gate_compares_both_at_the_budget_on_the_same_window(tmp_path):
    from mlflow.tracking import MlflowClient

    from ml.train import fit_model, promotion_decision, register_model

    df = _synthetic(n_days=60)
    feats = [f"f{i}" for i in range(7)]
    good = fit_model(df, "label", "factory_output", feature_cols=feats, false_alarm_budget=0.1, group_col="line_id",
                     params={"n_estimators": 60})
    # a model that only reads noise: on the same validation rows its recall at the budget is lower
    noise = fit_model(df, "label", "factory_output", feature_cols=["f5", "f6"], false_alarm_budget=0.1,
                      group_col="line_id", params={"n_estimators": 60})
    first = promotion_decision(good, None)
    assert first["promote"] and first["reason"] == "no champion yet" and first["champion_recall"] is None
    worse = promotion_decision(noise, (good["booster"], good["features"]))
    assert not worse["promote"] and worse["challenger_recall"] < worse["champion_recall"]
    assert "worse than the champion's" in worse["reason"]
    # the champion's figure is exactly choose_threshold of its own scores on the challenger's window
    v = noise["validation"]
    ref = choose_threshold(v["y"], good["booster"].predict(v["X"][good["features"]]), 0.1, v["groups"])
    assert worse["champion_recall"] == ref["recall"]
    better = promotion_decision(good, (noise["booster"], noise["features"]))
    assert better["promote"] and better["challenger_recall"] >= better["champion_recall"]
    # a champion reading a feature the rows lack cannot be compared: promote, and say why
    lacking = promotion_decision(noise, (good["booster"], ["f0", "gone"]))
    assert lacking["promote"] and "gone" in lacking["reason"]

    # registered as challenger; the champion alias moves only when the gate says so; both figures logged
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    art = (tmp_path / "artifacts").as_uri()
    good["gate"] = first
    one = register_model(good, "factory_output", uri, artifact_location=art, alias="challenger")
    noise["gate"] = worse
    two = register_model(noise, "factory_output", uri, artifact_location=art, alias="challenger")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert str(client.get_model_version_by_alias("andon_factory_output", "champion").version) == one["version"]
    assert str(client.get_model_version_by_alias("andon_factory_output", "challenger").version) == two["version"]
    assert (one["alias"], two["alias"]) == ("champion", "challenger")
    run = client.get_run(two["run_id"])
    assert run.data.tags["andon.gate_promote"] == "false"
    assert run.data.metrics["gate_champion_recall"] == pytest.approx(worse["champion_recall"])
    assert run.data.metrics["gate_challenger_recall"] == pytest.approx(worse["challenger_recall"])
    assert client.get_model_version("andon_factory_output", two["version"]).tags["promoted"] == "false"


def test_more_evidence_never_lowers_the_score():
    """With the evidence feature monotone, a label that is high only in the middle of its range
    cannot make the model score the top of the range lower than the middle."""
    from ml.features import EVIDENCE_FEATURES, FEATURES
    from ml.train import fit_model

    rng = np.random.default_rng(7)
    n = 4000
    x = rng.uniform(0, 10, n)
    noise = rng.normal(size=n)
    label = ((x > 3) & (x < 5)).astype(int)  # positives only in the middle of the evidence
    df = pd.DataFrame({
        "score_date": [date(2026, 1, 1) + timedelta(days=int(i)) for i in rng.integers(0, 60, n)],
        "evidence": x, "noise": noise, "label": label,
    })
    grid = pd.DataFrame({"evidence": np.linspace(0, 10, 101), "noise": 0.0})

    free = fit_model(df, "label", "incoming_material", feature_cols=["evidence", "noise"])
    s = free["booster"].predict(grid[free["features"]].astype("float64"))
    assert s[-1] < s[40] - 0.2  # unconstrained: the top of the range scores far below its middle

    held = fit_model(df, "label", "incoming_material", feature_cols=["evidence", "noise"], monotone=("evidence",))
    assert held["params"]["monotone_constraints"] == [1, 0]
    s = held["booster"].predict(grid[held["features"]].astype("float64"))
    assert (np.diff(s) >= -1e-12).all()
    # every evidence feature is one of its scope's features
    for scope, names in EVIDENCE_FEATURES.items():
        assert set(names) <= set(FEATURES[scope]), scope
