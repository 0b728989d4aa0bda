"""``python -m bench.ml``: early-warning training per cutoff and scoring rows/s.

What one run does, in one process and one Spark session, in a temporary ``ANDON_HOME`` (its own
SQLite MLflow store; the user's ``.andon/`` is never touched):

1. **Training** (``--cutoffs`` weekly cutoffs): a synthetic ``factory_output``-shaped frame
   (``--entities`` lines x ``7 x cutoffs`` days, the scope's 22 features, a learnable label) is
   cut at each cutoff and goes through what :func:`ml.jobs.train_models` does per cutoff after
   its one Spark job: :func:`ml.train.fit_model` (LightGBM) and :func:`ml.train.register_model`
   (MLflow run + registered version). Fit and registration are timed separately. The Spark part
   of training (features, labels of every cutoff, one ``toPandas``) needs a landed world and is
   not in this benchmark; ``docs/performance.md`` reports it on simulated worlds.
2. **Scoring**: a synthetic feature table of ``--rows`` rows (cached and counted first, untimed)
   is scored by ``--versions`` of the registered versions at once with
   :func:`ml.jobs.apply_models` (the scoring job's ``mapInArrow``), the result forced with
   Spark's ``noop`` writer; rows/s = rows / wall seconds.
3. **Peak RSS**: the largest resident size of this process plus its descendants (the JVM and
   the Python workers), sampled every 0.2 s.

Figures are recorded, never asserted. ``run(out_dir, **params)`` returns them and writes
``<out>/ml-<UTC timestamp>.json`` and ``<out>/ml-latest.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

SCOPE = "factory_output"
START = date(2026, 3, 2)


# ----------------------------------------------------------------------------- pure helpers


def rate(rows: int, seconds: float) -> float | None:
    """Rows per second, ``None`` when nothing was timed."""
    return None if seconds <= 0 else rows / seconds


def weekly_cutoffs(start: date, n: int) -> list[date]:
    """``n`` weekly cutoffs, the first one 4 weeks after ``start`` (enough rows to train)."""
    return [start + timedelta(days=28 + 7 * i) for i in range(n)]


def plan_versions(dates: list[date], versions: list[str]) -> dict[str, list[date]]:
    """Split sorted ``dates`` into ``len(versions)`` consecutive runs, one per version (the shape
    of a replay plan)."""
    dates = sorted(dates)
    n = len(versions)
    plan: dict[str, list[date]] = {}
    for i, d in enumerate(dates):
        plan.setdefault(versions[min(n - 1, i * n // len(dates))], []).append(d)
    return plan


def format_markdown(results: dict[str, Any]) -> str:
    t, s = results["training"], results["scoring"]
    lines = [
        f"# ML benchmark ({results['timestamp']})",
        "",
        f"- machine: {results['machine']['nproc']} CPUs, load average {results['machine']['loadavg_start']} "
        f"-> {results['machine']['loadavg_end']}",
        f"- training: {t['cutoffs']} cutoffs, {t['rows_last_cutoff']:,} rows at the last one: "
        f"fit {t['fit_seconds']:.1f} s, MLflow log + register {t['register_seconds']:.1f} s "
        f"({t['register_seconds_per_version']:.2f} s per version), total {t['total_seconds']:.1f} s",
        f"- scoring: {s['rows']:,} rows x {s['versions']} versions in {s['seconds']:.1f} s = "
        f"**{s['rows_per_second']:,.0f} rows/s** (one thread on the driver: score alone "
        f"{s['driver_score_only_rows_per_second']:,.0f} rows/s, SHAP contributions for the top factors "
        f"{s['driver_contrib_rows_per_second']:,.0f} rows/s); {100 * s.get('warning_share', float('nan')):.1f} % "
        "of the rows warned and were explained",
        f"- peak RSS (process + JVM + Python workers): {results['peak_rss_gib']:.2f} GiB",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- measurement


class PeakRss:
    """Sample the resident size of this process and all its descendants in a thread."""

    def __init__(self, every: float = 0.2):
        import psutil

        self._proc = psutil.Process()
        self._every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self) -> int:
        total = 0
        for p in [self._proc, *self._proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # a worker that just ended
                pass
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self._every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def synthetic_frame(entities: int, days: int, seed: int = 0):
    """``entities`` x ``days`` rows with the scope's features and a label that depends on two of
    them (pandas)."""
    import numpy as np
    import pandas as pd

    from ml.features import FEATURES

    rng = np.random.default_rng(seed)
    n = entities * days
    X = rng.normal(size=(n, len(FEATURES[SCOPE])))
    X[rng.random(X.shape) < 0.05] = np.nan
    logit = 2.0 * np.nan_to_num(X[:, 0]) - 1.5 * np.nan_to_num(X[:, 1]) - 3.0
    pdf = pd.DataFrame(X, columns=FEATURES[SCOPE])
    pdf.insert(0, "score_date", np.repeat([START + timedelta(days=d) for d in range(days)], entities))
    pdf.insert(0, "line_id", np.tile([f"L{e:03d}" for e in range(entities)], days))
    pdf["label"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pdf


def _train(cfg, cutoffs: list[date], entities: int) -> tuple[dict[str, Any], list[str]]:
    from ml.jobs import mlflow_uris
    from ml.train import fit_model, register_model

    tracking, registry, artifacts = mlflow_uris(cfg)
    frame = synthetic_frame(entities, (max(cutoffs) - START).days + 1)
    fit_s = reg_s = 0.0
    versions, rows = [], 0
    t_all = time.perf_counter()
    for c in cutoffs:
        pdf = frame[frame["score_date"] <= c].drop(columns=["line_id"])
        rows = len(pdf)
        t0 = time.perf_counter()
        fitted = fit_model(pdf, "label", SCOPE)
        t1 = time.perf_counter()
        out = register_model(fitted, SCOPE, tracking, registry_uri=registry, artifact_location=artifacts,
                             tags={"training_cutoff": c.isoformat()})
        t2 = time.perf_counter()
        fit_s += t1 - t0
        reg_s += t2 - t1
        versions.append(out["version"])
    total = time.perf_counter() - t_all
    return {
        "cutoffs": len(cutoffs),
        "entities": entities,
        "rows_last_cutoff": rows,
        "fit_seconds": round(fit_s, 2),
        "register_seconds": round(reg_s, 2),
        "register_seconds_per_version": round(reg_s / len(cutoffs), 3),
        "total_seconds": round(total, 2),
    }, versions


def _score(spark, cfg, rows: int, versions: list[str]) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from ml.features import FEATURES
    from ml.jobs import apply_models, model_versions

    days = 365
    table = spark.range(rows).select(
        F.concat(F.lit("L"), (F.col("id") % F.lit(max(1, rows // days))).cast("string")).alias("line_id"),
        F.date_add(F.lit(START), (F.col("id") % days).cast("int")).alias("score_date"),
        *[
            F.when(F.rand(i) < 0.05, F.lit(None)).otherwise(F.randn(100 + i)).alias(c)
            for i, c in enumerate(FEATURES[SCOPE])
        ],
    ).cache()
    n = table.count()
    registered = model_versions(SCOPE, cfg)
    plan = plan_versions([START + timedelta(days=d) for d in range(days)], versions)
    t0 = time.perf_counter()
    # one job: every row is scored (the aggregate reads every score), warnings are explained
    scored = apply_models(spark, table, SCOPE, registered, plan, cfg)
    warned, factors = scored.agg(F.sum(F.col("is_warning").cast("long")),
                                 F.sum(F.size("top_factors"))).first()
    seconds = time.perf_counter() - t0
    table.unpersist()
    return {"rows": n, "versions": len(plan), "seconds": round(seconds, 2),
            "rows_per_second": round(rate(n, seconds) or 0.0), "warning_share": round((warned or 0) / n, 4),
            "explained_factors": int(factors or 0), **_explain_split(cfg, registered[0])}


def _explain_split(cfg, version: dict[str, Any], n: int = 20_000) -> dict[str, Any]:
    """Where scoring time goes, on the driver, one thread: LightGBM's score alone vs the SHAP
    contributions (``pred_contrib``) that the top factors need, on ``n`` random rows."""
    import lightgbm as lgb
    import numpy as np

    from ml.jobs import load_booster_text

    text, features = load_booster_text(version, cfg)
    booster = lgb.Booster(model_str=text)
    X = np.random.default_rng(0).normal(size=(n, len(features)))
    t0 = time.perf_counter()
    booster.predict(X, raw_score=True)
    t1 = time.perf_counter()
    booster.predict(X, pred_contrib=True)
    t2 = time.perf_counter()
    return {"driver_score_only_rows_per_second": round(rate(n, t1 - t0) or 0.0),
            "driver_contrib_rows_per_second": round(rate(n, t2 - t1) or 0.0)}


def run(out_dir: str = "bench/results", rows: int = 1_000_000, versions: int = 4, cutoffs: int = 52,
        entities: int = 60) -> dict[str, Any]:
    """Measure training for ``cutoffs`` cutoffs and scoring ``rows`` rows with ``versions``
    versions; write ``ml-<timestamp>.json`` and ``ml-latest.md`` under ``out_dir``; return the
    figures."""
    if rows < 1 or versions < 1 or cutoffs < versions or entities < 1:
        raise ValueError("need rows >= 1, entities >= 1 and cutoffs >= versions >= 1")
    from pyspark.sql import SparkSession

    if SparkSession.getActiveSession() is not None:
        raise ValueError("a Spark session is already active in this process; run the benchmark on its own")

    from andon.config import load_settings
    from andon.spark import get_spark
    from bench.landing import _loadavg, machine_info

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    load_start = _loadavg()
    home = Path(tempfile.mkdtemp(prefix="andon-bench-ml-"))
    spark = None
    try:
        with PeakRss() as rss:
            cfg = load_settings(environ={**os.environ, "ANDON_HOME": str(home)})
            spark = get_spark(cfg)
            training, registered = _train(cfg, weekly_cutoffs(START, cutoffs), entities)
            print(f"bench.ml: training {training}", file=sys.stderr, flush=True)
            step = max(1, len(registered) // versions)
            scoring = _score(spark, cfg, rows, registered[::step][:versions])
            print(f"bench.ml: scoring {scoring}", file=sys.stderr, flush=True)
            machine = machine_info(spark)
        machine["loadavg_start"] = load_start
        machine["loadavg_end"] = _loadavg()
    finally:
        if spark is not None:
            spark.stop()
        shutil.rmtree(home, ignore_errors=True)
    results = {
        "timestamp": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine,
        "params": {"rows": rows, "versions": versions, "cutoffs": cutoffs, "entities": entities, "scope": SCOPE},
        "training": training,
        "scoring": scoring,
        "peak_rss_gib": round(rss.peak / 2**30, 2),
    }
    (out / f"ml-{started.strftime('%Y%m%dT%H%M%SZ')}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "ml-latest.md").write_text(format_markdown(results))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ml",
                                     description="early-warning training per cutoff and scoring rows/s")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the synthetic feature table")
    parser.add_argument("--versions", type=int, default=4, help="model versions applied in one scoring job")
    parser.add_argument("--cutoffs", type=int, default=52, help="weekly training cutoffs (versions registered)")
    parser.add_argument("--entities", type=int, default=60, help="entities per day of the training frame")
    parser.add_argument("--out", default="bench/results", help="folder for the results files")
    args = parser.parse_args(argv)
    try:
        results = run(args.out, rows=args.rows, versions=args.versions, cutoffs=args.cutoffs, entities=args.entities)
    except ValueError as exc:
        print(f"bench.ml: error: {exc}", file=sys.stderr)
        return 2
    print(format_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
