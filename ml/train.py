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


def choose_threshold(y_true, scores, false_alarm_budget: float, groups=None) -> dict[str, float]:
    """Alert threshold ``t`` (alert when ``score >= t``) with the highest recall subject to a
    false-alarm rate ``<= false_alarm_budget`` on the given (validation) rows.

    The false-alarm rate is counted in the unit the evaluation and the users count it in: with
    ``groups`` (one label per row, e.g. entity and ISO week), the share of groups holding rows
    without the outcome in which at least one such row alerts (false-alarm entity-weeks per
    monitored entity-week); without ``groups``, the share of rows without the outcome that alert.
    A row-level budget let a weekly model alarm on 2 % of lot-*days*, i.e. on up to seven times as
    many lot-*weeks*.

    Candidates are the distinct scores plus one value just above the maximum (no alert at all,
    always feasible). Tie rules: among feasible candidates with the same highest recall, the
    *highest* threshold wins (fewest alerts, lowest false-alarm rate). With no negatives every
    candidate is feasible; with no positives recall is 0 everywhere, so the "no alert" threshold
    is returned. Returns threshold, recall, false_alarm_rate, precision (NaN without alerts),
    alerts, positives, negatives (rows, or groups with ``groups``).
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    if y.shape != s.shape:
        raise ValueError("y_true and scores differ in length")
    pos_s, neg_s = np.sort(s[y == 1]), np.sort(s[y == 0])
    pos = len(pos_s)
    if groups is not None:
        g = pd.Series(np.asarray(groups, dtype=object))
        if len(g) != len(s):
            raise ValueError("groups and scores differ in length")
        # a group raises a false alarm at t when its highest-scoring negative row reaches t
        fa_scores = np.sort(pd.Series(s[y == 0]).groupby(g[y == 0].to_numpy()).max().to_numpy())
    else:
        fa_scores = neg_s
    neg = len(fa_scores)
    best: dict[str, float] = {
        "threshold": float(np.nextafter(s.max(), np.inf)) if len(s) else 1.0,
        "recall": 0.0,
        "false_alarm_rate": 0.0,
        "precision": float("nan"),
        "alerts": 0,
    }
    if len(s):
        candidates = np.unique(s)[::-1]  # descending
        tp = pos - np.searchsorted(pos_s, candidates, side="left")
        fp = len(neg_s) - np.searchsorted(neg_s, candidates, side="left")
        fa = neg - np.searchsorted(fa_scores, candidates, side="left")
        fpr = fa / neg if neg else np.zeros(len(candidates))
        feasible = fpr <= false_alarm_budget  # a prefix: the rate is non-decreasing as t goes down
        n_ok = int(np.argmin(feasible)) if not feasible.all() else len(candidates)
        if n_ok and pos:
            recall = tp[:n_ok] / pos
            i = int(np.argmax(recall))  # the first (highest) threshold reaching the best recall
            if recall[i] > 0:
                best = {
                    "threshold": float(candidates[i]),
                    "recall": float(recall[i]),
                    "false_alarm_rate": float(fpr[i]),
                    "precision": float(tp[i] / (tp[i] + fp[i])),
                    "alerts": int(tp[i] + fp[i]),
                }
    best["positives"] = pos
    best["negatives"] = neg
    return best


def week_groups(entities, dates) -> np.ndarray:
    """``<entity>|<ISO year>-W<week>`` per row: the unit of false alarms (entity-weeks)."""
    d = pd.to_datetime(pd.Series(dates)).dt.isocalendar()
    return (
        pd.Series(entities).astype(str).to_numpy()
        + "|"
        + d["year"].astype(str).to_numpy()
        + "-W"
        + d["week"].astype(str).str.zfill(2).to_numpy()
    )


# --------------------------------------------------------------------------- pyfunc


def explain_arrays(booster, X: np.ndarray, top_k: int = TOP_K) -> tuple[np.ndarray, ...]:
    """The numbers behind :func:`explain` for a float64 matrix ``X`` (columns = the booster's
    features, NaN = missing): ``score`` (n,), ``order`` (n, k) feature indices by descending
    |contribution| (ties by feature order), ``contribution`` (n, k) and ``value`` (n, k) in that
    order. Vectorised, so that scoring a million rows does not loop in Python."""
    n_features = X.shape[1]
    k = min(top_k, n_features)
    if len(X) == 0:  # LightGBM cannot predict zero rows
        return np.zeros(0), np.zeros((0, k), dtype=np.int64), np.zeros((0, k)), np.zeros((0, k))
    raw = booster.predict(X, raw_score=True)
    score = 1.0 / (1.0 + np.exp(-raw))
    contrib = booster.predict(X, pred_contrib=True)[:, :n_features]
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    return (
        score.astype(float),
        order,
        np.take_along_axis(contrib, order, axis=1),
        np.take_along_axis(X, order, axis=1),
    )


def explain(booster, X: pd.DataFrame, features: list[str], top_k: int = TOP_K) -> pd.DataFrame:
    """Probability and the ``top_k`` features by |SHAP contribution| (LightGBM ``pred_contrib``,
    log-odds units) per row: ``score`` (float) and ``top_factors`` (list of
    ``{feature, contribution, value}``, largest |contribution| first; ties by feature order),
    plus ``top_factors_json`` (the same list as JSON text, convenient for Spark)."""
    Xf = X.reindex(columns=features).astype("float64")
    score, order, contrib, values = explain_arrays(booster, Xf.to_numpy(), top_k)
    factors = []
    for i in range(len(Xf)):
        row = []
        for j in range(order.shape[1]):
            v = values[i, j]
            row.append(
                {
                    "feature": features[order[i, j]],
                    "contribution": float(contrib[i, j]),
                    "value": None if np.isnan(v) else float(v),
                }
            )
        factors.append(row)
    return pd.DataFrame(
        {"score": score, "top_factors": factors, "top_factors_json": [json.dumps(f) for f in factors]},
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


def fit_model(
    features_pdf: pd.DataFrame,
    label_col: str,
    scope: str,
    *,
    date_col: str = "score_date",
    feature_cols: list[str] | None = None,
    exclude_cols: list[str] | tuple[str, ...] = (),
    valid_fraction: float = 0.25,
    false_alarm_budget: float = 0.05,
    params: dict[str, Any] | None = None,
    group_col: str | None = None,
    monotone: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """Fit the scope's LightGBM classifier on the training dates and choose its threshold on the
    validation dates (no MLflow); with ``group_col`` (the entity id column) the false-alarm budget
    counts entity-weeks (:func:`choose_threshold`). The score is constrained to be non-decreasing
    in the ``monotone`` features (LightGBM ``monotone_constraints``; the scope's evidence
    features, ``ml.features.EVIDENCE_FEATURES``). Returns ``booster``, ``features``, ``threshold`` (the dict of
    :func:`choose_threshold`), ``metrics``, ``report`` and ``params``; :func:`register_model`
    logs and registers it. Raises ``ValueError`` when the training part holds a single class."""
    import lightgbm as lgb

    df = features_pdf.dropna(subset=[label_col])
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
    if any(f in monotone for f in features):
        p["monotone_constraints"] = [1 if f in monotone else 0 for f in features]
        p.setdefault("monotone_constraints_method", "advanced")
    clf = lgb.LGBMClassifier(**p)
    clf.fit(Xt, yt)
    booster = clf.booster_
    st = booster.predict(Xt)
    sv = booster.predict(Xv)
    if group_col and group_col not in valid:
        raise KeyError(f"group column {group_col!r} is not in the training rows (the entity id must stay)")
    groups = week_groups(valid[group_col], valid[date_col]) if group_col else None
    thr = choose_threshold(yv, sv, false_alarm_budget, groups)
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
        "false_alarm_unit": "entity_week" if groups is not None else "row",
        "importance_gain": importance,
        "params": p,
    }
    return {
        "booster": booster,
        "features": features,
        "threshold": thr,
        "metrics": metrics,
        "report": report,
        "params": p,
        "label_col": label_col,
        "valid_fraction": valid_fraction,
        "false_alarm_budget": false_alarm_budget,
        # the backtest window the promotion gate compares challenger and champion on
        # (every column of the validation rows: a champion may read other features)
        "validation": {"X": valid, "y": yv, "scores": sv, "groups": groups},
    }


def promotion_decision(fitted: dict[str, Any], champion: tuple[Any, list[str]] | None) -> dict[str, Any]:
    """The promotion gate (docs/models.md): a new version becomes ``champion`` only if it is at
    least as good as the current champion on the new version's validation window (the latest
    backtest window) at the scope's false-alarm budget.

    Both are judged the same way: on the same rows, each gets the threshold with the highest
    recall whose false-alarm rate (entity-weeks when the fit had groups) stays within the budget
    (:func:`choose_threshold`); the challenger wins ties. ``champion`` is the champion's booster
    and feature list, None when the scope has none (the challenger is promoted). A champion
    reading a feature the rows lack cannot be compared: the challenger is promoted and the
    reason says so. Returns promote, reason, challenger_recall, champion_recall,
    challenger_false_alarm_rate, champion_false_alarm_rate."""
    v = fitted["validation"]
    budget = fitted["false_alarm_budget"]
    new = choose_threshold(v["y"], v["scores"], budget, v["groups"])
    out = {
        "challenger_recall": new["recall"],
        "challenger_false_alarm_rate": new["false_alarm_rate"],
        "champion_recall": None,
        "champion_false_alarm_rate": None,
    }
    if champion is None:
        return {**out, "promote": True, "reason": "no champion yet"}
    booster, features = champion
    missing = [f for f in features if f not in v["X"].columns]
    if missing:
        return {**out, "promote": True, "reason": f"the champion reads features the rows lack: {', '.join(missing)}"}
    old = choose_threshold(v["y"], booster.predict(v["X"][features].astype("float64")), budget, v["groups"])
    out.update(champion_recall=old["recall"], champion_false_alarm_rate=old["false_alarm_rate"])
    promote = new["recall"] >= old["recall"]
    verdict = "at least as good as" if promote else "worse than"
    reason = (
        f"challenger recall {new['recall']:.3f} {verdict} the champion's {old['recall']:.3f} at a false-alarm "
        f"budget of {budget:g} on {v['y'].sum()} positive and {len(v['y']) - v['y'].sum()} negative validation rows"
    )
    return {**out, "promote": promote, "reason": reason}


# --------------------------------------------------------------------------- MLflow (lean)

_TEMPLATES: dict[str, str] = {}
_KNOWN: set[tuple[str, str]] = set()  # (registry uri, registered model name) known to exist


def _model_template() -> str:
    """A pyfunc model directory for :class:`EarlyWarningModel` with placeholder artifacts, saved
    once per process with ``mlflow.pyfunc.save_model`` (explicit pip requirements, no signature
    inference). Every registered version is a copy of it with its own booster, feature list and
    ``MLmodel`` (metadata, signature, run id): what ``save_model`` would write, without paying its
    environment inference and the copy of the project's lock file for every version."""
    if "pyfunc" not in _TEMPLATES or not Path(_TEMPLATES["pyfunc"]).is_dir():
        import mlflow.pyfunc

        root = Path(tempfile.mkdtemp(prefix="andon-model-template-"))
        (root / "booster.txt").write_text("")
        (root / "features.json").write_text("[]")
        path = root / "model"
        mlflow.pyfunc.save_model(
            str(path),
            python_model=EarlyWarningModel(),
            artifacts={"booster": str(root / "booster.txt"), "features": str(root / "features.json")},
            pip_requirements=_pip_requirements(),
        )
        for extra in ("uv.lock", "pyproject.toml", ".python-version"):  # project files, not the model's
            (path / extra).unlink(missing_ok=True)
        _TEMPLATES["pyfunc"] = str(path)
    return _TEMPLATES["pyfunc"]


def _write_model_dir(dest: Path, booster, features: list[str], metadata: dict[str, Any], run_id: str) -> None:
    """Copy the template to ``dest`` and fill in this version's booster, features and MLmodel."""
    import shutil
    import uuid
    from datetime import datetime

    from mlflow.models import Model, ModelSignature
    from mlflow.types import ColSpec, Schema

    shutil.copytree(_model_template(), dest)
    model = Model.load(str(dest))
    arts = model.flavors["python_function"]["artifacts"]
    booster.save_model(str(dest / arts["booster"]["path"]))
    (dest / arts["features"]["path"]).write_text(json.dumps(features))
    for a in arts.values():
        a.pop("uri", None)  # the template's placeholder files
    model.signature = ModelSignature(
        inputs=Schema([ColSpec("double", f) for f in features]),
        outputs=Schema([ColSpec("double", "score"), ColSpec("string", "top_factors_json")]),
    )
    model.metadata = metadata
    model.run_id = run_id
    model.artifact_path = "model"
    model.model_uuid = uuid.uuid4().hex
    model.utc_time_created = str(datetime.utcnow())
    model.save(str(dest / "MLmodel"))


def register_model(
    fitted: dict[str, Any],
    scope: str,
    tracking_uri: str,
    *,
    registry_uri: str | None = None,
    experiment_name: str | None = None,
    artifact_location: str | None = None,
    alias: str = "champion",
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Log a :func:`fit_model` result as one MLflow run and register it as a new version of
    ``andon_<scope>`` with ``alias``; lean: one ``log_batch`` (params, metrics, tags), one
    ``log_artifacts`` (``evaluation/report.{json,md}``, ``features.json``, the pyfunc ``model/``),
    one model version (tags ``threshold``, ``false_alarm_budget`` and ``tags``)."""
    import time

    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    registry_uri = registry_uri or tracking_uri
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri)
    thr, p, metrics, features = fitted["threshold"], fitted["params"], fitted["metrics"], fitted["features"]
    gate = fitted.get("gate")
    if gate:  # the promotion gate's decision and both figures (promotion_decision)
        metrics = {
            **metrics,
            **{
                f"gate_{k}": float(v)
                for k, v in gate.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            },
        }
    model_name = f"andon_{scope}"
    exp_name = experiment_name or f"andon_early_warning_{scope}"
    exp = client.get_experiment_by_name(exp_name)
    exp_id = exp.experiment_id if exp else client.create_experiment(exp_name, artifact_location=artifact_location)
    run_tags = {
        "andon.scope": scope,
        "andon.threshold": repr(thr["threshold"]),
        **({"andon.gate_promote": str(gate["promote"]).lower(), "andon.gate_reason": gate["reason"]} if gate else {}),
        **{f"andon.{k}": v for k, v in (tags or {}).items()},
    }
    run = client.create_run(exp_id, run_name=f"train_{scope}")
    run_id = run.info.run_id
    ts = int(time.time() * 1000)
    params = {
        **{k: str(v) for k, v in p.items()},
        "scope": scope,
        "label_col": fitted["label_col"],
        "valid_fraction": fitted["valid_fraction"],
        "n_features": len(features),
    }
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, ts, 0) for k, v in metrics.items() if v is not None and not math.isnan(v)],
        params=[Param(k, str(v)) for k, v in params.items()],
        tags=[RunTag(k, str(v)) for k, v in run_tags.items()],
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "evaluation").mkdir()
        (root / "evaluation" / "report.json").write_text(json.dumps(fitted["report"], indent=2))
        (root / "evaluation" / "report.md").write_text(_report_markdown(scope, fitted["report"]))
        (root / "features.json").write_text(json.dumps({"features": features}, indent=2))
        _write_model_dir(
            root / "model", fitted["booster"], features, {"threshold": thr["threshold"], "scope": scope}, run_id
        )
        client.log_artifacts(run_id, tmp)
    if (registry_uri, model_name) not in _KNOWN:
        try:
            client.create_registered_model(model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        _KNOWN.add((registry_uri, model_name))
    mv = client.create_model_version(
        model_name,
        f"{run.info.artifact_uri}/model",
        run_id=run_id,
        tags={
            "threshold": repr(thr["threshold"]),
            "false_alarm_budget": repr(fitted["false_alarm_budget"]),
            **({"promoted": str(gate["promote"]).lower()} if gate else {}),
            **(tags or {}),
        },
    )
    version = str(mv.version)
    client.set_registered_model_alias(model_name, alias, version)
    if gate and gate["promote"] and alias != "champion":
        client.set_registered_model_alias(model_name, "champion", version)
    client.set_terminated(run_id)
    return {
        "model_name": model_name,
        "version": version,
        "alias": "champion" if gate and gate["promote"] else alias,
        "threshold": thr["threshold"],
        "run_id": run_id,
        "metrics": metrics,
        "features": features,
    }


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
    """Train the scope's LightGBM classifier and register it (:func:`fit_model` then
    :func:`register_model`).

    ``features_pdf`` holds one row per (entity, score date) with the label. Feature columns are
    ``feature_cols`` or every numeric/bool column except the label, ``date_col``,
    ``label_mature_date`` and ``exclude_cols`` (keys are strings, so they drop out).
    ``tags`` are set on the run (prefixed ``andon.``) and on the model version (e.g.
    ``training_cutoff``). ``artifact_location`` is used when the experiment is created (a SQLite tracking store would
    otherwise put artifacts under ``./mlruns`` of the working directory). Returns
    ``{"model_name", "version", "alias", "threshold", "run_id", "metrics", "features"}``.
    """
    fitted = fit_model(
        features_pdf,
        label_col,
        scope,
        date_col=date_col,
        feature_cols=feature_cols,
        exclude_cols=exclude_cols,
        valid_fraction=valid_fraction,
        false_alarm_budget=false_alarm_budget,
        params=params,
    )
    return register_model(
        fitted,
        scope,
        tracking_uri,
        registry_uri=registry_uri,
        experiment_name=experiment_name,
        artifact_location=artifact_location,
        alias=alias,
        tags=tags,
    )
