"""Train, evaluate, log and register one early-warning model per scope (LightGBM + MLflow).

* :func:`time_ordered_split` -- validation = the latest score dates, never shuffled.
* :func:`choose_threshold` -- alert threshold with the highest recall under a false-alarm budget.
* :func:`train_scope` -- LightGBM on the training dates, threshold and metrics on the validation
  dates, everything logged to MLflow, a custom pyfunc (:class:`EarlyWarningModel`) registered as
  ``andon_<scope>`` with alias ``champion``.

The model that is registered is the one trained on the training part only, so that the threshold
and the validation metrics logged with it describe exactly that model (no refit on all rows).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:  # mlflow is imported lazily by the functions that need it; this is only for the base class
    import mlflow.pyfunc as _pyfunc

    _PythonModel = _pyfunc.PythonModel
except Exception:  # pragma: no cover
    _PythonModel = object

DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 10,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "reg_lambda": 1.0,
    "random_state": 42,
    "deterministic": True,
    "force_row_wise": True,
    "n_jobs": 1,
    "verbose": -1,
}

TOP_K = 5


# --------------------------------------------------------------------------- split & threshold


def time_ordered_split(df: pd.DataFrame, date_col: str, valid_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by date: the latest ``ceil(n_dates x valid_fraction)`` distinct dates are validation,
    the earlier dates are training. A date never lands on both sides. Needs at least two distinct
    dates; validation and training each get at least one date."""
    if not 0 < valid_fraction < 1:
        raise ValueError("valid_fraction must be in (0, 1)")
    dates = np.sort(pd.Series(df[date_col]).dropna().unique())
    if len(dates) < 2:
        raise ValueError(f"need at least two distinct {date_col} values, got {len(dates)}")
    n_valid = min(len(dates) - 1, max(1, math.ceil(len(dates) * valid_fraction)))
    first_valid = dates[len(dates) - n_valid]
    is_valid = df[date_col] >= first_valid
    return df[~is_valid].copy(), df[is_valid].copy()


def choose_threshold(y_true, scores, false_alarm_budget: float) -> dict[str, float]:
    """Alert threshold ``t`` (alert when ``score >= t``) with the highest recall subject to
    false-positive rate ``FP / negatives <= false_alarm_budget`` on the given (validation) rows.

    Candidates are the distinct scores plus one value just above the maximum (no alert at all,
    always feasible). Tie rules: among feasible candidates with the same highest recall, the
    *highest* threshold wins (fewest alerts, lowest false-alarm rate). With no negatives every
    candidate is feasible; with no positives recall is 0 everywhere, so the "no alert" threshold
    is returned. Returns threshold, recall, false_alarm_rate, precision (NaN without alerts),
    alerts, positives, negatives.
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape:
        raise ValueError("y_true and scores differ in length")
    pos, neg = int(y.sum()), int((1 - y).sum())
    candidates = np.unique(s)[::-1]  # descending
    best: dict[str, float] = {
        "threshold": float(np.nextafter(s.max(), np.inf)) if len(s) else 1.0,
        "recall": 0.0,
        "false_alarm_rate": 0.0,
        "precision": float("nan"),
        "alerts": 0,
    }
    for t in candidates:  # descending, so the first threshold reaching a recall is the highest one
        alert = s >= t
        tp = int((alert & (y == 1)).sum())
        fp = int((alert & (y == 0)).sum())
        fpr = fp / neg if neg else 0.0
        if fpr > false_alarm_budget:
            break  # FPR is non-decreasing as the threshold goes down
        recall = tp / pos if pos else 0.0
        if recall > best["recall"]:
            best = {
                "threshold": float(t),
                "recall": recall,
                "false_alarm_rate": fpr,
                "precision": tp / (tp + fp),
                "alerts": tp + fp,
            }
    best["positives"] = pos
    best["negatives"] = neg
    return best


# --------------------------------------------------------------------------- pyfunc


def explain(booster, X: pd.DataFrame, features: list[str], top_k: int = TOP_K) -> pd.DataFrame:
    """Probability and the ``top_k`` features by |SHAP contribution| (LightGBM ``pred_contrib``,
    log-odds units) per row: ``score`` (float) and ``top_factors`` (list of
    ``{feature, contribution, value}``, largest |contribution| first; ties by feature order),
    plus ``top_factors_json`` (the same list as JSON text, convenient for Spark)."""
    Xf = X.reindex(columns=features).astype("float64")
    raw = booster.predict(Xf, raw_score=True)
    score = 1.0 / (1.0 + np.exp(-raw))
    contrib = booster.predict(Xf, pred_contrib=True)[:, : len(features)]
    k = min(top_k, len(features))
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    values = Xf.to_numpy()
    factors = []
    for i in range(len(Xf)):
        row = []
        for j in order[i]:
            v = values[i, j]
            row.append(
                {
                    "feature": features[j],
                    "contribution": float(contrib[i, j]),
                    "value": None if np.isnan(v) else float(v),
                }
            )
        factors.append(row)
    return pd.DataFrame(
        {"score": score.astype(float), "top_factors": factors, "top_factors_json": [json.dumps(f) for f in factors]},
        index=X.index,
    )


class EarlyWarningModel(_PythonModel):
    """MLflow pyfunc: LightGBM booster (artifact ``booster``) + feature list (artifact ``features``).

    ``predict`` takes a DataFrame holding (at least) the feature columns -- missing ones are NaN --
    and returns ``score``, ``top_factors`` and ``top_factors_json`` (see :func:`explain`)."""

    def load_context(self, context):
        import lightgbm as lgb

        self.booster = lgb.Booster(model_file=context.artifacts["booster"])
        self.features = json.loads(Path(context.artifacts["features"]).read_text())

    def predict(self, context, model_input, params=None):
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input, columns=self.features)
        return explain(self.booster, model_input, self.features)


# --------------------------------------------------------------------------- training


def _metrics(y: np.ndarray, s: np.ndarray, prefix: str) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    out = {f"{prefix}_rows": float(len(y)), f"{prefix}_positives": float(y.sum())}
    if len(np.unique(y)) == 2:
        out[f"{prefix}_auc"] = float(roc_auc_score(y, s))
        out[f"{prefix}_pr_auc"] = float(average_precision_score(y, s))
    return out


def _pip_requirements() -> list[str]:
    import cloudpickle
    import lightgbm
    import mlflow
    import sklearn

    return [
        f"mlflow=={mlflow.__version__}",
        f"lightgbm=={lightgbm.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
    ]


def _report_markdown(scope: str, report: dict) -> str:
    lines = [f"# Early-warning model `andon_{scope}`", ""]
    lines += [f"- label: `{report['label_col']}`; features: {len(report['features'])}"]
    lines += [f"- train dates {report['train_dates'][0]} .. {report['train_dates'][1]}, rows {report['train_rows']}"]
    lines += [f"- valid dates {report['valid_dates'][0]} .. {report['valid_dates'][1]}, rows {report['valid_rows']}"]
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in report["metrics"].items()]
    lines += ["", "## Threshold (validation)", ""]
    lines += [f"- {k}: {v}" for k, v in report["threshold"].items()]
    lines += ["", "## Feature importance (gain)", "", "| feature | gain |", "|---|---|"]
    lines += [f"| {f} | {g:.4g} |" for f, g in report["importance_gain"]]
    return "\n".join(lines) + "\n"


def train_scope(
    features_pdf: pd.DataFrame,
    label_col: str,
    scope: str,
    tracking_uri: str,
    *,
    date_col: str = "score_date",
    feature_cols: list[str] | None = None,
    exclude_cols: list[str] | tuple[str, ...] = (),
    valid_fraction: float = 0.25,
    false_alarm_budget: float = 0.05,
    params: dict[str, Any] | None = None,
    registry_uri: str | None = None,
    experiment_name: str | None = None,
    artifact_location: str | None = None,
    alias: str = "champion",
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Train the scope's LightGBM classifier and register it.

    ``features_pdf`` holds one row per (entity, score date) with the label. Feature columns are
    ``feature_cols`` or every numeric/bool column except the label, ``date_col``,
    ``label_mature_date`` and ``exclude_cols`` (keys are strings, so they drop out).
    ``tags`` are set on the run (prefixed ``andon.``) and on the model version (e.g.
    ``training_cutoff``). ``artifact_location`` is used when the experiment is created (a SQLite tracking store would
    otherwise put artifacts under ``./mlruns`` of the working directory). Returns
    ``{"model_name", "version", "alias", "threshold", "run_id", "metrics", "features"}``.
    """
    import lightgbm as lgb
    import mlflow
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    df = features_pdf.dropna(subset=[label_col]).copy()
    if feature_cols is None:
        skip = {label_col, date_col, "label_mature_date", *exclude_cols}
        feature_cols = [
            c for c in df.columns if c not in skip and (pd.api.types.is_numeric_dtype(df[c]) or df[c].dtype == bool)
        ]
    features = list(feature_cols)
    if not features:
        raise ValueError("no feature columns")
    train, valid = time_ordered_split(df, date_col, valid_fraction)
    Xt, yt = train[features].astype("float64"), train[label_col].astype(int).to_numpy()
    Xv, yv = valid[features].astype("float64"), valid[label_col].astype(int).to_numpy()
    if len(np.unique(yt)) < 2:
        raise ValueError("training part holds a single class")

    p = {**DEFAULT_PARAMS, **(params or {})}
    clf = lgb.LGBMClassifier(**p)
    clf.fit(Xt, yt)
    booster = clf.booster_
    st = booster.predict(Xt)
    sv = booster.predict(Xv)
    thr = choose_threshold(yv, sv, false_alarm_budget)
    metrics = {**_metrics(yt, st, "train"), **_metrics(yv, sv, "valid")}
    metrics.update(
        {
            "valid_recall_at_threshold": thr["recall"],
            "valid_false_alarm_rate_at_threshold": thr["false_alarm_rate"],
            "threshold": thr["threshold"],
            "false_alarm_budget": false_alarm_budget,
        }
    )
    gain = booster.feature_importance(importance_type="gain")
    importance = sorted(zip(features, map(float, gain), strict=True), key=lambda t: -t[1])
    report = {
        "scope": scope,
        "label_col": label_col,
        "features": features,
        "train_rows": len(train),
        "valid_rows": len(valid),
        "train_dates": [str(train[date_col].min()), str(train[date_col].max())],
        "valid_dates": [str(valid[date_col].min()), str(valid[date_col].max())],
        "metrics": metrics,
        "threshold": thr,
        "importance_gain": importance,
        "params": p,
    }

    model_name = f"andon_{scope}"
    prev_tracking = mlflow.get_tracking_uri()
    prev_registry = mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri or tracking_uri)
    try:
        exp_name = experiment_name or f"andon_early_warning_{scope}"
        if mlflow.get_experiment_by_name(exp_name) is None:
            mlflow.create_experiment(exp_name, artifact_location=artifact_location)
        mlflow.set_experiment(exp_name)
        with mlflow.start_run(run_name=f"train_{scope}") as run, tempfile.TemporaryDirectory() as tmp:
            mlflow.log_params(
                {
                    **{k: str(v) for k, v in p.items()},
                    "scope": scope,
                    "label_col": label_col,
                    "valid_fraction": valid_fraction,
                    "n_features": len(features),
                }
            )
            mlflow.log_metrics({k: v for k, v in metrics.items() if v is not None and not math.isnan(v)})
            mlflow.set_tags({"andon.scope": scope, "andon.threshold": repr(thr["threshold"]),
                             **{f"andon.{k}": v for k, v in (tags or {}).items()}})
            mlflow.log_dict(report, "evaluation/report.json")
            mlflow.log_text(_report_markdown(scope, report), "evaluation/report.md")
            mlflow.log_dict({"features": features}, "features.json")

            booster_path = Path(tmp) / "booster.txt"
            booster.save_model(str(booster_path))
            features_path = Path(tmp) / "features.json"
            features_path.write_text(json.dumps(features))
            example = Xv.head(5) if len(Xv) else Xt.head(5)
            out_example = explain(booster, example, features)[["score", "top_factors_json"]]
            signature = infer_signature(example, out_example)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=EarlyWarningModel(),
                artifacts={"booster": str(booster_path), "features": str(features_path)},
                pip_requirements=_pip_requirements(),
                signature=signature,
                registered_model_name=model_name,
                metadata={"threshold": thr["threshold"], "scope": scope},
            )
            version = str(info.registered_model_version)
            client = MlflowClient()
            client.set_registered_model_alias(model_name, alias, version)
            client.set_model_version_tag(model_name, version, "threshold", repr(thr["threshold"]))
            client.set_model_version_tag(model_name, version, "false_alarm_budget", repr(false_alarm_budget))
            for key, value in (tags or {}).items():
                client.set_model_version_tag(model_name, version, key, value)
            run_id = run.info.run_id
    finally:
        mlflow.set_tracking_uri(prev_tracking)
        mlflow.set_registry_uri(prev_registry)

    return {
        "model_name": model_name,
        "version": version,
        "alias": alias,
        "threshold": thr["threshold"],
        "run_id": run_id,
        "metrics": metrics,
        "features": features,
    }
