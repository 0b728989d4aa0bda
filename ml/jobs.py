"""The Spark jobs of the early-warning loop: feature tables, training, scoring.

* :func:`train_models` -- weekly (``andon_training`` DAG): point-in-time features for every
  score date up to the training cutoff (written to ``gold.features_<scope>``), labels that have
  matured by the cutoff, one LightGBM model per scope registered as ``andon_<scope>`` with
  alias ``champion``. With ``replay_from`` it trains one version per ``replay_every_days``
  from that day on, as if the weekly DAG had run all along (``make demo`` uses this so that the
  simulated period is scored out of sample).
* :func:`score_window` -- daily (``andon_scoring`` DAG): features of the window's score dates,
  every model version of the window applied in one ``mapInArrow`` job (:func:`apply_models`), rows written to
  ``gold.early_warning_scores`` (contract: :data:`SCORES_SCHEMA`). ``models="champion"`` scores
  with the champion (production); ``models="replay"`` scores each date with the latest version
  trained strictly before it (no model may see the future of what it scores).

Both are plain functions on the process's SparkSession; the DAGs only wire them.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from andon.config import Settings, settings
from andon.scopes import SCOPE_NAMES
from andon.scopes import SCOPES as SCOPE_REGISTRY
from ml import features as feat
from ml import labels as lab
from ml import rules

log = logging.getLogger(__name__)

SCOPES = SCOPE_NAMES
ENTITY = {s.name: (s.entity_type, s.entity_col) for s in SCOPE_REGISTRY.values()}  # scope -> (type, id column)
SILVER_TABLES = (
    "test_results",
    "unit_genealogy",
    "shipments",
    "spc_measurements",
    "lab_results",
    "field_returns",
    "supplier_lot_tests",
)
SCORES_TABLE = "early_warning_scores"
FACTOR = T.StructType(
    [
        T.StructField("feature", T.StringType()),
        T.StructField("contribution", T.DoubleType()),
        T.StructField("value", T.StringType()),
    ]
)
#: the contract of gold.early_warning_scores (column order included)
SCORES_SCHEMA = T.StructType(
    [
        T.StructField("scope", T.StringType(), False),
        T.StructField("entity_type", T.StringType(), False),
        T.StructField("entity_id", T.StringType(), False),
        T.StructField("score_date", T.DateType(), False),
        T.StructField("score", T.DoubleType(), False),
        T.StructField("is_warning", T.BooleanType(), False),
        T.StructField("threshold", T.DoubleType(), False),
        T.StructField("top_factors", T.ArrayType(FACTOR), False),
        T.StructField("model_name", T.StringType(), False),
        T.StructField("model_version", T.StringType(), False),
        T.StructField("scored_at", T.TimestampType(), False),
    ]
)


# --------------------------------------------------------------------------- helpers


def features_table(scope: str) -> str:
    return f"features_{scope}"


def _num(value: Any) -> Any:
    """Config values from environment variables arrive as text: '0.05' -> 0.05, '20' -> 20."""
    if isinstance(value, str):
        for cast in (int, float):
            try:
                return cast(value)
            except ValueError:
                pass
    return value


def _finite(value: Any) -> float | None:
    import math

    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def ml_settings(cfg: Settings, scope: str) -> dict[str, Any]:
    ml = cfg.raw.get("ml", {})
    return {
        "false_alarm_budget": float(_num(ml.get("false_alarm_budget", {}).get(scope, 0.05))),
        "valid_fraction": float(_num(ml.get("valid_fraction", 0.25))),
        "warmup_days": int(_num(ml.get("warmup_days", 7))),
        "replay_every_days": int(_num(ml.get("replay_every_days", 7))),
        "training_rows_per_job": int(_num(ml.get("training_rows_per_job", 1_500_000))),
        "labels": {k: _num(v) for k, v in (ml.get("labels", {}).get(scope) or {}).items()},
        "labels_from_dispositions": str(ml.get("labels_from_dispositions", False)).lower() == "true",
    }


def mlflow_uris(cfg: Settings) -> tuple[str, str, str | None]:
    m = cfg.raw["mlflow"]
    tracking = m["tracking_uri"]
    return tracking, (m.get("registry_uri") or tracking), (m.get("artifact_location") or None)


def load_silver(spark: SparkSession, cfg: Settings, cache: bool = True) -> dict[str, DataFrame]:
    """The silver tables as DataFrames (cached: every scope and cutoff reads them again)."""
    out = {}
    for table in SILVER_TABLES:
        df = spark.read.format("delta").load(cfg.table_path("silver", table))
        out[table] = df.cache() if cache else df
    # the label-free detectors of the mart, read by the feature builders (ml.features.detector_features,
    # incoming_detector_features); those not built yet give null features
    from delta.tables import DeltaTable

    missing = []
    for table in feat.GOLD_DETECTOR_TABLES:
        path = cfg.table_path("gold", table)
        if DeltaTable.isDeltaTable(spark, path):
            out[table] = spark.read.format("delta").load(path)
        else:
            missing.append(table)
    if missing:
        log.warning("gold detector tables not built yet (run the quality mart): %s; their features are null",
                    ", ".join(missing))
    return out


def data_span(silver: dict[str, DataFrame]) -> tuple[date, date]:
    """First and last UTC day with a unit test record in silver."""
    row = silver["test_results"].agg(F.to_date(F.min("tested_at")), F.to_date(F.max("tested_at"))).first()
    if row is None or row[0] is None:
        raise ValueError("silver.test_results is empty: land some data first (make demo / make land)")
    return row[0], row[1]


def days_between(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def replay_cutoffs(first: date, last: date, every_days: int) -> list[date]:
    """Cutoffs ``first, first + every, ...`` up to ``last``; ``last`` itself is always included."""
    if every_days < 1:
        raise ValueError("every_days must be >= 1")
    out, d = [], first
    while d < last:
        out.append(d)
        d += timedelta(days=every_days)
    return [*out, last]


def _columns(df: DataFrame) -> list[tuple[str, str]]:
    """Names and types, not nullability: a Delta read reports every column nullable, so comparing
    whole schemas took every feature table with a non-nullable column (``factory_output``) for
    changed and rewrote it with only the window's rows on each scoring run."""
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]


def write_features(spark: SparkSession, cfg: Settings, scope: str, df: DataFrame, start: date, end: date) -> str:
    """Replace the score dates ``start..end`` of ``gold.features_<scope>`` with ``df``.

    Feature tables are derived data: when the feature list changed (a new model version adds a
    column), the table is rewritten with the new schema, keeping only ``df``'s rows."""
    from andon.delta import is_delta_table, write_table

    path = cfg.table_path("gold", features_table(scope))
    bad = df.where((F.col("score_date") < F.lit(start)) | (F.col("score_date") > F.lit(end))).limit(1).count()
    if bad:
        raise ValueError(f"feature rows outside {start}..{end}")
    changed = is_delta_table(spark, path) and _columns(spark.read.format("delta").load(path)) != _columns(df)
    if changed:
        log.warning("gold.%s: feature columns changed, rewriting the table", features_table(scope))
    write_table(
        df,
        cfg,
        "gold",
        features_table(scope),
        f"score_date >= '{start}' AND score_date <= '{end}'",
        overwrite_schema=changed,
    )
    return path


def build_features(
    spark: SparkSession, cfg: Settings, silver: dict[str, DataFrame], scope: str, start: date, end: date
) -> DataFrame:
    """Compute, store and return (re-read from Delta) the scope's features for ``start..end``."""
    df = feat.BUILDERS[scope](silver, days_between(start, end))
    path = write_features(spark, cfg, scope, df, start, end)
    return (
        spark.read.format("delta")
        .load(path)
        .where((F.col("score_date") >= F.lit(start)) & (F.col("score_date") <= F.lit(end)))
    )


# --------------------------------------------------------------------------- training


def training_frame(
    silver: dict[str, DataFrame], features_df: DataFrame, scope: str, cutoff: date, warmup_start: date, **label_kw
):
    """Features of score dates ``warmup_start..cutoff`` joined to the labels matured by ``cutoff``
    (pandas). Rows without a mature label are dropped by the label builder. (One cutoff, with the
    reference label builders; :func:`training_frames` does every cutoff of a replay at once.)"""
    keys = feat.KEYS[scope]
    rows = features_df.where((F.col("score_date") >= F.lit(warmup_start)) & (F.col("score_date") <= F.lit(cutoff)))
    labels = lab.BUILDERS[scope](silver, rows.select(*keys, "score_date"), cutoff, **label_kw)
    return rows.join(labels.select(*keys, "score_date", "label"), [*keys, "score_date"]).toPandas()


def training_frames(
    silver: dict[str, DataFrame],
    features_df: DataFrame,
    scope: str,
    cutoffs: list[date],
    warmup_start: date,
    **label_kw,
):
    """The training rows of every cutoff in one Spark job and one ``toPandas``: for each cutoff
    ``c``, the features of score dates ``warmup_start..c`` joined to the labels matured by ``c``
    (the same rows as :func:`training_frame` gives for ``c``), with a ``cutoff`` column; sorted by
    cutoff, score date and keys so that the rows of a cutoff always come in the same order."""
    keys = feat.KEYS[scope]
    spark = features_df.sparkSession
    cuts = spark.createDataFrame([(c,) for c in sorted(set(cutoffs))], "cutoff date")
    rows = features_df.where(
        (F.col("score_date") >= F.lit(warmup_start)) & (F.col("score_date") <= F.lit(max(cutoffs)))
    )
    keyed = rows.select(*keys, "score_date").join(F.broadcast(cuts), F.col("score_date") <= F.col("cutoff"))
    labels = lab.BUILDERS_AT[scope](silver, keyed, cutoffs, **label_kw)
    pdf = rows.join(labels.select("cutoff", *keys, "score_date", "label"), [*keys, "score_date"]).toPandas()
    return pdf.sort_values(["cutoff", "score_date", *keys], kind="stable").reset_index(drop=True)


def chunk_cutoffs(cutoffs: list[date], rows_per_day: dict[date, int], max_rows: int) -> list[list[date]]:
    """Split sorted ``cutoffs`` into consecutive groups whose training rows fit one ``toPandas``.

    The rows of a cutoff ``c`` are at most the feature rows of score dates up to ``c``
    (``rows_per_day``), so a replay's rows grow with the square of its length: 52 weekly cutoffs
    over a year of field-return features are about 8 million rows, more than a 4 GiB driver
    holds. Each group's estimated rows stay within ``max_rows``; a cutoff that alone exceeds it
    gets a group of its own. Pure; the groups' frames are exactly the per-cutoff frames."""
    chunks: list[list[date]] = []
    current: list[date] = []
    total = 0
    days = sorted(rows_per_day)
    for c in sorted(cutoffs):
        rows = sum(rows_per_day[d] for d in days if d <= c)
        if current and total + rows > max_rows:
            chunks.append(current)
            current, total = [], 0
        current.append(c)
        total += rows
    if current:
        chunks.append(current)
    return chunks


def rows_by_cutoff(
    silver, features_df: DataFrame, scope: str, chunks: list[list[date]], warmup_start: date, label_kw: dict[str, Any]
):
    """Yield (cutoff, its training rows) in cutoff order, one Spark job per chunk. Of the keys only
    the scored entity's id stays (the threshold counts false alarms per entity-week); the model's
    features are named explicitly, so the id never becomes a feature."""
    drop = [k for k in feat.KEYS[scope] if k != ENTITY[scope][1]] + ["cutoff"]
    for chunk in chunks:
        frames = training_frames(silver, features_df, scope, chunk, warmup_start, **label_kw)
        by_cutoff = dict(iter(frames.groupby("cutoff", sort=True))) if len(frames) else {}
        for c in chunk:
            yield c, (by_cutoff[c] if c in by_cutoff else frames.iloc[0:0]).drop(columns=drop)


def train_models(
    cutoff: date | str | None = None,
    scopes: tuple[str, ...] | list[str] = SCOPES,
    replay_from: date | str | None = None,
    cfg: Settings | None = None,
    cap_cutoff: bool = False,
) -> list[dict[str, Any]]:
    """Train (and register) one model per scope with data up to ``cutoff`` (default: the last day
    in silver); with ``replay_from``, one version per ``ml.replay_every_days`` from that day on.

    Per scope: the features of every day up to the cutoff once, the training rows of the
    cutoffs in as few Spark jobs as the driver's memory allows (:func:`training_frames` per group
    of :func:`chunk_cutoffs`, ``ml.training_rows_per_job`` rows), then LightGBM and a lean MLflow
    registration per cutoff in this process.

    A cutoff whose mature labels hold a single class registers nothing for that scope (reported
    with ``status: skipped`` and the reason); the previous champion stays. A cutoff after the
    last day in silver is an error, or with ``cap_cutoff`` (scheduled runs) moved to that day.
    Returns one dict per (scope, cutoff).
    """
    from andon.spark import get_spark
    from ml.train import fit_model, promotion_decision, register_model

    cfg = cfg or settings()
    spark = get_spark(cfg)
    silver = load_silver(spark, cfg)
    first, last = data_span(silver)
    cutoff = date.fromisoformat(str(cutoff)) if cutoff else last
    if cutoff > last:
        if not cap_cutoff:
            raise ValueError(f"cutoff {cutoff} is after the last day in silver ({last})")
        log.info("cutoff %s is after the last day in silver; training up to %s", cutoff, last)
        cutoff = last
    tracking, registry, artifacts = mlflow_uris(cfg)
    dispositions = None
    if any(ml_settings(cfg, s)["labels_from_dispositions"] for s in scopes):
        from andon.tables import read_table

        dispositions = read_table(cfg.table_path("ops", lab.DISPOSITIONS_TABLE))
    results = []
    for scope in scopes:
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; expected one of {SCOPES}")
        ms = ml_settings(cfg, scope)
        warmup_start = first + timedelta(days=ms["warmup_days"])
        if cutoff < warmup_start:
            raise ValueError(f"cutoff {cutoff} is inside the warm-up ({first} + {ms['warmup_days']} days)")
        features_df = build_features(spark, cfg, silver, scope, first, cutoff)
        champion = current_champion(scope, cfg)
        cutoffs = (
            replay_cutoffs(max(date.fromisoformat(str(replay_from)), warmup_start), cutoff, ms["replay_every_days"])
            if replay_from
            else [cutoff]
        )
        rows_per_day = {
            r["score_date"]: r["count"]
            for r in features_df.where(F.col("score_date") >= F.lit(warmup_start))
            .groupBy("score_date")
            .count()
            .collect()
        }
        chunks = chunk_cutoffs(cutoffs, rows_per_day, ms["training_rows_per_job"])
        for c, pdf in rows_by_cutoff(silver, features_df, scope, chunks, warmup_start, ms["labels"]):
            relabelled = 0
            if ms["labels_from_dispositions"]:
                pdf, relabelled = lab.apply_dispositions(pdf, dispositions, scope, ENTITY[scope][1], c)
            base = {
                "scope": scope,
                "cutoff": c.isoformat(),
                "rows": len(pdf),
                "positives": int(pdf["label"].sum()) if len(pdf) else 0,
                "labels_from_dispositions": relabelled,
            }
            if len(pdf) == 0 or pdf["label"].nunique() < 2 or pdf["score_date"].nunique() < 2:
                reason = "no mature labels" if len(pdf) == 0 else "mature labels hold a single class or a single day"
                log.warning("%s cutoff %s: not trained (%s)", scope, c, reason)
                results.append({**base, "status": "skipped", "reason": reason})
                continue
            try:
                fitted = fit_model(
                    pdf,
                    "label",
                    scope,
                    feature_cols=feat.FEATURES[scope],
                    valid_fraction=ms["valid_fraction"],
                    false_alarm_budget=ms["false_alarm_budget"],
                    group_col=ENTITY[scope][1],
                    monotone=feat.EVIDENCE_FEATURES[scope],
                )
            except ValueError as exc:  # e.g. the training dates hold one class only
                log.warning("%s cutoff %s: not trained (%s)", scope, c, exc)
                results.append({**base, "status": "skipped", "reason": str(exc)})
                continue
            fitted["gate"] = promotion_decision(fitted, champion)
            out = register_model(
                fitted,
                scope,
                tracking,
                registry_uri=registry,
                artifact_location=artifacts,
                alias="challenger",
                tags={"training_cutoff": c.isoformat()},
            )
            if fitted["gate"]["promote"]:
                champion = (fitted["booster"], fitted["features"])
            log.info(
                "%s cutoff %s: registered %s v%s, %s (%s)",
                scope, c, out["model_name"], out["version"],
                "champion" if fitted["gate"]["promote"] else "challenger not promoted", fitted["gate"]["reason"],
            )
            results.append(
                {
                    **base,
                    "status": "registered",
                    **{k: out[k] for k in ("model_name", "version", "threshold", "run_id")},
                    "promoted": fitted["gate"]["promote"],
                    "gate": fitted["gate"]["reason"],
                    "valid_auc": _finite(out["metrics"].get("valid_auc")),
                }
            )
    return results


# --------------------------------------------------------------------------- scoring


def model_versions(scope: str, cfg: Settings) -> list[dict[str, Any]]:
    """Registered versions of ``andon_<scope>``: version, training_cutoff (date), threshold,
    is_champion; oldest first. Empty when the model is not registered."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    tracking, registry, _ = mlflow_uris(cfg)
    client = MlflowClient(tracking_uri=tracking, registry_uri=registry)
    name = f"andon_{scope}"
    try:
        champion = client.get_model_version_by_alias(name, "champion").version
    except MlflowException:
        return []
    out = []
    for mv in client.search_model_versions(f"name = '{name}'"):
        tags = mv.tags or {}
        if "threshold" not in tags or "training_cutoff" not in tags:
            continue
        out.append(
            {
                "model_name": name,
                "version": str(mv.version),
                "training_cutoff": date.fromisoformat(tags["training_cutoff"]),
                "threshold": float(tags["threshold"]),
                "is_champion": str(mv.version) == str(champion),
                # versions registered before the promotion gate carry no tag: they were champions
                "promoted": tags.get("promoted", "true") == "true",
            }
        )
    return sorted(out, key=lambda v: int(v["version"]))


def current_champion(scope: str, cfg: Settings) -> tuple[Any, list[str]] | None:
    """The scope's champion as (LightGBM booster, feature list), None when there is none."""
    import lightgbm as lgb

    champion = [v for v in model_versions(scope, cfg) if v["is_champion"]]
    if not champion:
        return None
    text, features = load_booster_text(champion[0], cfg)
    return lgb.Booster(model_str=text), features


def assign_versions(dates: list[date], versions: list[dict[str, Any]], mode: str) -> dict[str, list[date]]:
    """Which model version scores which date (pure).

    ``champion``: every date with the champion. ``replay``: each date with the most recent
    version whose training cutoff is strictly before it (ties: the highest version) among the
    versions the promotion gate promoted (what production would have scored with); dates before
    the first cutoff get no model.
    """
    if mode not in ("champion", "replay"):
        raise ValueError("models must be 'champion' or 'replay'")
    plan: dict[str, list[date]] = {}
    if mode == "champion":
        champ = [v for v in versions if v["is_champion"]]
        if champ:
            plan[champ[0]["version"]] = sorted(dates)
        return plan
    for d in sorted(dates):
        usable = [v for v in versions if v["training_cutoff"] < d and v.get("promoted", True)]
        if usable:
            best = max(usable, key=lambda v: (v["training_cutoff"], int(v["version"])))
            plan.setdefault(best["version"], []).append(d)
    return plan


def load_booster_text(version: dict[str, Any], cfg: Settings) -> tuple[str, list[str]]:
    """A registered version's LightGBM model (text, as saved at training) and feature list, read
    from its pyfunc model directory on the driver."""
    import mlflow.artifacts
    from mlflow.models import Model

    tracking, registry, _ = mlflow_uris(cfg)
    import mlflow

    prev = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(registry)
    try:
        local = mlflow.artifacts.download_artifacts(f"models:/{version['model_name']}/{version['version']}")
    finally:
        mlflow.set_tracking_uri(prev[0])
        mlflow.set_registry_uri(prev[1])
    from pathlib import Path

    arts = Model.load(local).flavors["python_function"]["artifacts"]
    text = (Path(local) / arts["booster"]["path"]).read_text()
    features = json.loads((Path(local) / arts["features"]["path"]).read_text())
    return text, features


#: what the scoring function returns per row (the factors' value is a double here, as in the
#: JSON the pyfunc returns; it is turned into text by :func:`apply_models`)
_SCORED = T.StructType(
    [
        T.StructField("entity_id", T.StringType()),
        T.StructField("score_date", T.DateType()),
        T.StructField("model_version", T.StringType()),
        T.StructField("threshold", T.DoubleType()),
        T.StructField("score", T.DoubleType()),
        T.StructField(
            "factors",
            T.ArrayType(
                T.StructType(
                    [
                        T.StructField("feature", T.StringType()),
                        T.StructField("contribution", T.DoubleType()),
                        T.StructField("value", T.DoubleType()),
                    ]
                )
            ),
        ),
    ]
)


def score_batches(models: dict[str, tuple[str, list[str]]], feature_cols: list[str]):
    """The function given to ``mapInArrow``: for each Arrow batch (``entity_id``, ``score_date``,
    ``model_version``, ``threshold`` -- passed through -- and the feature columns as doubles),
    every version present scores its rows with
    :func:`ml.train.explain_arrays` -- the same score and top factors as the registered pyfunc.
    ``models`` maps version -> (LightGBM model text, feature list); boosters are built once per
    Python worker."""
    boosters: dict[str, Any] = {}

    def run(batches):
        import lightgbm as lgb
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from ml.train import explain_arrays

        struct = pa.struct([("feature", pa.string()), ("contribution", pa.float64()), ("value", pa.float64())])
        for batch in batches:
            if batch.num_rows == 0:
                continue
            versions = batch.column("model_version")
            for v in pc.unique(versions).to_pylist():
                part = batch.filter(pc.equal(versions, v)) if len(models) > 1 else batch
                text, features = models[v]
                if v not in boosters:
                    boosters[v] = lgb.Booster(model_str=text)
                cols = {c: part.column(c) for c in feature_cols}
                X = np.column_stack(
                    [
                        (
                            cols[f].cast(pa.float64()).to_numpy(zero_copy_only=False)
                            if f in cols
                            else np.full(part.num_rows, np.nan)
                        )
                        for f in features
                    ]
                ).astype("float64")
                raw = boosters[v].predict(X, raw_score=True)
                score = 1.0 / (1.0 + np.exp(-raw))
                # Explanations only for warnings: SHAP contributions cost ~70x the score itself,
                # and only a warning is shown with its factors (digest, dashboards).
                warn = score >= part.column("threshold").to_numpy(zero_copy_only=False)
                idx = np.flatnonzero(warn)
                _, order, contrib, values = explain_arrays(boosters[v], X[idx])
                k = order.shape[1]
                names = np.asarray(features, dtype=object)[order].ravel()
                flat = pa.StructArray.from_arrays(
                    [
                        pa.array(names, pa.string()),
                        pa.array(contrib.ravel(), pa.float64()),
                        pa.array(values.ravel(), pa.float64(), from_pandas=True),  # NaN -> null
                    ],
                    fields=list(struct),
                )
                offsets = np.concatenate([[0], np.cumsum(np.where(warn, k, 0))]).astype(np.int32)
                factors = pa.ListArray.from_arrays(pa.array(offsets), flat)
                yield pa.RecordBatch.from_arrays(
                    [
                        *(part.column(c) for c in ("entity_id", "score_date", "model_version", "threshold")),
                        pa.array(score, pa.float64()),
                        factors,
                    ],
                    names=["entity_id", "score_date", "model_version", "threshold", "score", "factors"],
                )

    return run


def apply_models(
    spark: SparkSession,
    rows: DataFrame,
    scope: str,
    versions: list[dict[str, Any]],
    plan: dict[str, list[date]],
    cfg: Settings,
) -> DataFrame:
    """Score feature rows with every model version of ``plan`` (version -> its score dates) in
    one Spark job, shaped to the scores contract.

    Each version's LightGBM model is read once on the driver and broadcast (a few hundred kB of
    text); a ``model_version`` column from the plan routes every row to its version inside one
    ``mapInArrow``; explanations are those of the registered pyfunc
    (:class:`ml.train.EarlyWarningModel`)."""
    feature_cols = feat.FEATURES[scope]
    entity_type, id_col = ENTITY[scope]
    meta = {v["version"]: v for v in versions if v["version"] in plan}
    models = {ver: load_booster_text(v, cfg) for ver, v in meta.items()}
    bc = spark.sparkContext.broadcast(models)
    routes = spark.createDataFrame(
        [(d, ver, float(meta[ver]["threshold"])) for ver, ds in plan.items() for d in ds],
        "score_date date, model_version string, threshold double",
    )
    inputs = rows.join(F.broadcast(routes), "score_date").select(
        F.col(id_col).cast("string").alias("entity_id"),
        F.col("score_date").cast("date").alias("score_date"),
        "model_version",
        "threshold",
        *[F.col(c).cast("double").alias(c) for c in feature_cols],
    )

    def _run(batches):
        return score_batches(bc.value, feature_cols)(batches)

    return inputs.mapInArrow(_run, _SCORED).select(
        F.lit(scope).alias("scope"),
        F.lit(entity_type).alias("entity_type"),
        "entity_id",
        "score_date",
        F.col("score"),
        (F.col("score") >= F.col("threshold")).alias("is_warning"),
        F.col("threshold"),
        F.transform(
            "factors",
            lambda x: F.struct(
                x["feature"].alias("feature"),
                x["contribution"].alias("contribution"),
                x["value"].cast("string").alias("value"),
            ),
        ).alias("top_factors"),
        F.lit(f"andon_{scope}").alias("model_name"),
        F.col("model_version"),
        F.current_timestamp().alias("scored_at"),
    )


def rule_scores(spark: SparkSession, rows: DataFrame, scope: str, dates: list[date]) -> DataFrame:
    """Cold start: score the feature rows of ``dates`` with the scope's label-free rule
    (:func:`ml.rules.cold_start`: the baseline rule, or the scope's detector where the harness
    showed it better), shaped to the scores contract.

    The score is the rule's continuous score and the threshold its own, so ``is_warning`` is
    exactly the rule; ``model_name`` is ``rule:<name>`` and ``model_version``
    :data:`ml.rules.RULES_VERSION`. A warning lists the rule in words and the values it read."""
    entity_type, id_col = ENTITY[scope]
    rule = rules.cold_start(scope)
    inputs = [c for c in rule["inputs"] if c in rows.columns]
    picked = rows.where(F.col("score_date").isin(list(dates))).select(
        F.col(id_col).cast("string").alias("entity_id"),
        F.col("score_date").cast("date").alias("score_date"),
        *[F.col(c).cast("double").alias(c) for c in inputs],
    )
    schema = T.StructType([*picked.schema.fields, T.StructField("score", T.DoubleType())])

    def _run(frames):
        for pdf in frames:
            pdf["score"] = rule["score"](pdf).astype("float64").to_numpy()
            yield pdf

    threshold = float(rule["threshold"])
    scored = picked.mapInPandas(_run, schema)
    warning = F.col("score") >= F.lit(threshold)
    factors = F.array(
        F.struct(
            F.lit("rule").alias("feature"),
            F.lit(None).cast("double").alias("contribution"),
            F.lit(rule["description"]).alias("value"),
        ),
        *[
            F.struct(
                F.lit(c).alias("feature"),
                F.lit(None).cast("double").alias("contribution"),
                F.col(c).cast("string").alias("value"),
            )
            for c in inputs
        ],
    )
    return scored.select(
        F.lit(scope).alias("scope"),
        F.lit(entity_type).alias("entity_type"),
        "entity_id",
        "score_date",
        "score",
        warning.alias("is_warning"),
        F.lit(threshold).alias("threshold"),
        F.when(warning, factors).otherwise(F.array().cast(T.ArrayType(FACTOR))).alias("top_factors"),
        F.lit(rules.rule_model_name(scope)).alias("model_name"),
        F.lit(rules.RULES_VERSION).alias("model_version"),
        F.current_timestamp().alias("scored_at"),
    )


def detector_stands(model_rows: DataFrame, rule_rows: DataFrame) -> DataFrame:
    """Model scores of a scope whose detector stands next to its model (:data:`ml.rules.DETECTOR_STANDS`):
    one row per entity and score date, the model's row unless the model is silent and the
    detector warns, then the detector's row (its score, threshold, words and ``model_name``
    ``rule:<name>``). A warning is thus raised when the model **or** the label-free detector
    fires, and says which one raised it. ``rule_rows`` are :func:`rule_scores` of the same
    entity-days; a key only one side holds keeps that side's row."""
    ranked = model_rows.withColumn("_rank", F.when(F.col("is_warning"), 0).otherwise(2)).unionByName(
        rule_rows.withColumn("_rank", F.when(F.col("is_warning"), 1).otherwise(3))
    )
    key = Window.partitionBy("scope", "entity_id", "score_date").orderBy("_rank")
    return ranked.withColumn("_pick", F.row_number().over(key)).where(F.col("_pick") == 1).drop("_rank", "_pick")


def conform_scores(spark: SparkSession, df: DataFrame) -> DataFrame:
    """Enforce the contract: column order and types, and no null in a non-nullable column (one
    aggregate pass; raises naming the column). Returns the conformed DataFrame, cached: the
    check and the write then evaluate the model once."""
    df = df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in SCORES_SCHEMA.fields]).cache()
    required = [f.name for f in SCORES_SCHEMA.fields if not f.nullable]
    nulls = df.select(*[F.sum(F.col(c).isNull().cast("int")).alias(c) for c in required]).first()
    bad = [c for c in required if nulls[c]]
    if bad:
        df.unpersist()
        raise ValueError(f"early_warning_scores: nulls in {bad}; the contract forbids them")
    return df


def pending_window(last_scored: date | None, last_day: date, max_days: int) -> list[date]:
    """The score dates a run triggered by a mart update covers (pure): the days after
    ``last_scored`` up to ``last_day`` (the newest day in silver), at most the latest
    ``max_days`` of them; ``last_day`` alone when nothing was scored yet or everything was (the
    mart changed under it: re-score the newest day)."""
    if last_scored is None or last_scored >= last_day:
        return [last_day]
    first = max(last_scored + timedelta(days=1), last_day - timedelta(days=max_days - 1))
    return days_between(first, last_day)


def pending_score_days(scope: str, cfg: Settings | None = None) -> list[date]:
    """:func:`pending_window` for ``scope`` on the lakehouse: its last score date in
    ``gold.early_warning_scores`` and the last day in silver."""
    from andon.dates import MAX_WINDOW_DAYS
    from andon.delta import is_delta_table
    from andon.spark import get_spark

    cfg = cfg or settings()
    spark = get_spark(cfg)
    _, last_day = data_span(load_silver(spark, cfg, cache=False))
    path = cfg.table_path("gold", SCORES_TABLE)
    last_scored = None
    if is_delta_table(spark, path):
        last_scored = (
            spark.read.format("delta").load(path).where(F.col("scope") == scope).agg(F.max("score_date")).first()[0]
        )
    return pending_window(last_scored, last_day, MAX_WINDOW_DAYS)


def score_window(
    start: date | str,
    end: date | str | None = None,
    models: str = "champion",
    scopes: tuple[str, ...] | list[str] = SCOPES,
    cfg: Settings | None = None,
) -> list[dict[str, Any]]:
    """Score every entity of every scope for the score dates ``start..end`` and replace those
    dates in ``gold.early_warning_scores``. Dates no model version may score -- every date of a
    scope with no registered model yet (cold start), and in replay mode the dates before the
    scope's first version -- are scored by the scope's label-free rule (:func:`rule_scores`,
    ``model_name`` ``rule:<name>``); the result says how many (``rule_days``)."""
    from andon.delta import sql_list, write_table
    from andon.spark import get_spark

    cfg = cfg or settings()
    start = date.fromisoformat(str(start))
    end = date.fromisoformat(str(end)) if end else start
    spark = get_spark(cfg)
    silver = load_silver(spark, cfg)
    path = cfg.table_path("gold", SCORES_TABLE)
    results = []
    for scope in scopes:
        versions = model_versions(scope, cfg)
        dates = days_between(start, end)
        plan = assign_versions(dates, versions, models) if versions else {}
        # Cold start: dates no model version may score are scored by the scope's label-free rule.
        cold = sorted(set(dates) - {d for ds in plan.values() for d in ds})
        if not versions:
            log.warning(
                "%s: no registered model andon_%s (if the training DAG ran, its log says why it registered "
                "none, e.g. 'not trained (no mature labels)'); cold start: all %d day(s) scored by the rule %s",
                scope,
                scope,
                len(cold),
                rules.rule_model_name(scope),
            )
        features_df = build_features(spark, cfg, silver, scope, start, end)
        parts = [apply_models(spark, features_df, scope, versions, plan, cfg)] if plan else []
        if parts and scope in rules.DETECTOR_STANDS:
            model_days = sorted({d for ds in plan.values() for d in ds})
            parts = [detector_stands(parts[0], rule_scores(spark, features_df, scope, model_days))]
        if cold:
            parts.append(rule_scores(spark, features_df, scope, cold))
        if parts:
            scores = parts[0]
            for p in parts[1:]:
                scores = scores.unionByName(p)
            scores = conform_scores(spark, scores)
            write_table(
                scores,
                cfg,
                "gold",
                SCORES_TABLE,
                f"scope = '{scope}' AND score_date >= '{start}' AND score_date <= '{end}'",
                partition_by=["scope"],
            )
            stats = (
                spark.read.format("delta")
                .load(path)
                .where(f"scope = '{scope}' AND score_date >= '{start}' AND score_date <= '{end}'")
                .agg(
                    F.count(F.lit(1)).alias("rows"),
                    F.sum(F.col("is_warning").cast("int")).alias("warnings"),
                    F.sum((F.col("is_warning") & F.col("model_name").startswith("rule:")).cast("int")).alias("by_rule"),
                )
                .first()
            )
            rows_n, warnings, by_rule = int(stats["rows"]), int(stats["warnings"] or 0), int(stats["by_rule"] or 0)
            scores.unpersist()
        else:
            rows_n = warnings = by_rule = 0
        results.append(
            {
                "scope": scope,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "versions": sorted(plan, key=int),
                "rows": rows_n,
                "warnings": warnings,
                "rule_days": len(cold),
                "rule_warnings": by_rule,
            }
        )
        log.info(
            "scored %s %s..%s: %s rows, %s warnings, versions %s",
            scope,
            start,
            end,
            rows_n,
            warnings,
            sql_list(sorted(plan, key=int)),
        )
    return results
