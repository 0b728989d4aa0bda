"""Build the dbt quality mart (``dbt/``) in-process, on the project's one SparkSession.

dbt-spark's ``method: session`` calls ``SparkSession.builder.enableHiveSupport().getOrCreate()``,
which returns the session already running in the process. So :func:`build_mart` first creates
THE session with :func:`andon.spark.get_spark` (Delta extensions, Hive metastore,
jar cache from ``conf/*.yaml``), then invokes dbt through its Python API (``dbtRunner``).

dbt's ``target/`` and ``logs/`` go under ``$ANDON_HOME/dbt/`` so the repository stays clean;
the gold tables are external Delta tables under ``<lakehouse>/gold/<model>``.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from andon.config import REPO_ROOT, Settings, andon_home, settings

DBT_PROJECT_DIR = REPO_ROOT / "dbt"
DBT_TARGET = "local"
GOLD_MARTS = (
    "fct_station_daily_yield",
    "fct_route_rolled_yield",
    "fct_spc_capability",
    "fct_supplier_lot_quality",
    "fct_field_return_cohorts",
    "fct_quality_loss",
    "fct_capability_grade",
    "fct_spc_rule_violations", "fct_yield_cusum",  # label-free detectors (docs/detectors.md)
)


class MartBuildError(RuntimeError):
    """``dbt build`` (or ``docs generate``) failed; the message lists the failing nodes."""


def dbt_paths(home: Path | None = None) -> dict[str, Path]:
    """Where dbt writes its artifacts and logs (pure)."""
    base = (home or andon_home()) / "dbt"
    return {"target": base / "target", "logs": base / "logs"}


def dbt_args(command: str, select: str | None = None, exclude: str | None = None,
             home: Path | None = None, extra: list[str] | None = None) -> list[str]:
    """The dbt CLI arguments for one command on this project (pure; unit-tested)."""
    paths = dbt_paths(home)
    args = [
        *command.split(),
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target", DBT_TARGET,
        "--target-path", str(paths["target"]),
        "--log-path", str(paths["logs"]),
    ]
    if select:
        args += ["--select", select]
    if exclude:
        args += ["--exclude", exclude]
    return args + list(extra or [])


def dbt_env(cfg: Settings) -> dict[str, str]:
    """Environment the dbt project reads (``env_var``): the gold tables' storage root (pure)."""
    return {"ANDON_GOLD_ROOT": cfg.table_path("gold", "x").rsplit("/", 1)[0]}


def _invoke(args: list[str], cfg: Settings) -> Any:
    from dbt.cli.main import dbtRunner

    from andon.spark import get_spark

    get_spark(cfg)  # FIRST: dbt-spark's session method reuses this session (Delta + metastore)
    os.environ.update(dbt_env(cfg))
    for path in dbt_paths().values():
        path.mkdir(parents=True, exist_ok=True)
    return dbtRunner().invoke(args)


def summarize(result: Any) -> dict[str, Any]:
    """Counts of node results by resource type and status, plus the failures (pure-ish)."""
    counts: Counter[tuple[str, str]] = Counter()
    failures: list[str] = []
    for node_result in getattr(result.result, "results", None) or []:
        node = node_result.node
        status = str(getattr(node_result.status, "value", node_result.status))
        counts[(node.resource_type, status)] += 1
        if status in ("error", "fail", "runtime error"):
            message = (node_result.message or "").strip().splitlines()
            failures.append(f"{node.resource_type} {node.name}: {status}: {message[0] if message else ''}")
    by_type: dict[str, dict[str, int]] = {}
    for (resource_type, status), n in sorted(counts.items()):
        by_type.setdefault(str(resource_type), {})[status] = n
    return {
        "success": bool(result.success),
        "models": by_type.get("model", {}),
        "tests": by_type.get("test", {}),
        "unit_tests": by_type.get("unit_test", {}),
        "failures": failures,
        "nodes": sum(counts.values()),
    }


def build_mart(select: str | None = None, cfg: Settings | None = None, exclude: str | None = None,
               full: bool = True) -> dict[str, Any]:
    """``dbt build`` the quality mart (models, unit tests, data tests) in this process.

    ``select`` / ``exclude`` are dbt selection syntax (e.g. ``"marts"``, ``"+fct_spc_capability"``).
    ``full=False`` skips the dbt unit tests (``--exclude-resource-type unit_test``), as in production.
    Raises :class:`MartBuildError` when any node errors or any test fails; returns a summary.
    """
    cfg = cfg or settings()
    extra = [] if full else ["--exclude-resource-type", "unit_test"]
    result = _invoke(dbt_args("build", select=select, exclude=exclude, extra=extra), cfg)
    summary = summarize(result) if result.result is not None else {"success": False, "failures": []}
    if not result.success:
        detail = "; ".join(summary.get("failures") or []) or repr(result.exception)
        raise MartBuildError(f"dbt build failed: {detail} (logs: {dbt_paths()['logs']})")
    summary["target_path"] = str(dbt_paths()["target"])
    return summary


def generate_docs(cfg: Settings | None = None) -> dict[str, str]:
    """``dbt docs generate``: writes manifest.json, catalog.json and index.html under target/."""
    cfg = cfg or settings()
    result = _invoke(dbt_args("docs generate"), cfg)
    if not result.success:
        raise MartBuildError(f"dbt docs generate failed: {result.exception!r}")
    target = dbt_paths()["target"]
    return {name: str(target / name) for name in ("manifest.json", "catalog.json", "index.html")}


def main(argv: list[str] | None = None) -> int:
    """``python -m spark_jobs.mart.runner [--select ...] [--docs]``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=build_mart.__doc__)
    parser.add_argument("--select")
    parser.add_argument("--exclude")
    parser.add_argument("--no-unit-tests", action="store_true")
    parser.add_argument("--docs", action="store_true", help="also run dbt docs generate")
    args = parser.parse_args(argv)
    summary = build_mart(args.select, exclude=args.exclude, full=not args.no_unit_tests)
    if args.docs:
        summary["docs"] = generate_docs()
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
