"""Build the dbt quality mart (``dbt/``) in-process, on the project's one SparkSession.

dbt-spark's ``method: session`` calls ``SparkSession.builder.enableHiveSupport().getOrCreate()``,
which returns the session already running in the process. So :func:`build_mart` first creates
THE session with :func:`andon.spark.get_spark` (Delta extensions, Hive metastore,
jar cache from ``conf/*.yaml``), then invokes dbt through its Python API (``dbtRunner``).

dbt's ``target/`` and ``logs/`` go under ``$ANDON_HOME/dbt/`` so the repository stays clean;
the gold tables are external Delta tables under ``<lakehouse>/gold/<model>``.

Builds are incremental by default (docs/mart.md, "Incremental builds"): the runner remembers the
Delta version of every silver table a successful build read (``$ANDON_HOME/dbt/incremental_state.json``),
derives from the changes since then which days / weeks / lots the incremental marts must
recompute (:mod:`spark_jobs.mart.scope`) and passes them as the dbt var ``mart_scope``. It
rebuilds in full (``dbt build --full-refresh``) when asked to, on the first build, when the dbt
project changed, or when the change cannot be traced (e.g. silver's old version is gone).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from datetime import UTC, datetime
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
    "fct_field_returns_by_failure_mode",  # customer-free returns for the analysts' Superset (docs/bi.md)
    "fct_quality_loss_daily",
    "fct_quality_loss",
    "fct_capability_grade",
    "fct_spc_rule_violations", "fct_yield_cusum",  # label-free detectors (docs/detectors.md)
    "fct_spc_control_limits",  # the SPC detector's limits per chart and day (SPC charts in Superset)
    "fct_lot_unit_outcomes", "fct_lot_genealogy_tests", "fct_supplier_outgoing_cusum", "fct_build_lot_suspects",
    "rpt_weekly_kpi_trends",  # the weekly digest's KPI trends (docs/digest-mail.md)
)

# Gold marts that hold rows only where a detector signals: legitimately empty on a small world
# (the tests' 45-day world at a tenth of the volume signals nothing there).
SIGNAL_ONLY_MARTS = ("fct_build_lot_suspects",)


# Gold marts built incrementally (the others are small, or depend on the as-of date: tables).
INCREMENTAL_MARTS = (
    "fct_station_daily_yield",
    "fct_route_rolled_yield",
    "fct_spc_capability",
    "fct_supplier_lot_quality",
)
log = logging.getLogger(__name__)


class MartBuildError(RuntimeError):
    """``dbt build`` (or ``docs generate``) failed; the message lists the failing nodes."""


def dbt_paths(home: Path | None = None) -> dict[str, Path]:
    """Where dbt writes its artifacts and logs (pure)."""
    base = (home or andon_home()) / "dbt"
    return {"target": base / "target", "logs": base / "logs", "state": base / "incremental_state.json"}


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
    for name, path in dbt_paths().items():
        if name != "state":
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


def silver_keys(cfg: Settings) -> dict[str, list[str]]:
    """Primary key of every silver table, from the data dictionary."""
    from andon.dictionary import load_dictionary

    dictionary = load_dictionary(cfg.raw["landing"]["data_dictionary"])
    return {feed.silver_table: list(feed.primary_key) for feed in dictionary.feeds.values()}


def load_state(path: Path) -> dict[str, Any] | None:
    """The incremental state of the last successful build (``None`` when there is none)."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def full_refresh_reason(state: dict[str, Any] | None, fingerprint: str, requested: bool) -> str | None:
    """Why this build must rebuild every incremental mart, or ``None`` (pure; unit-tested)."""
    if requested:
        return "full refresh requested"
    if not state or "silver" not in state:
        return "no previous incremental build"
    if state.get("project") != fingerprint:
        return "the dbt project changed since the last build"
    return None


def plan_build(cfg: Settings, full_refresh: bool = False) -> dict[str, Any]:
    """Full refresh or incremental scope for a build on silver as it is now.

    Returns ``{"full_refresh": bool, "reason": str | None, "scope": dict | None,
    "state": <the state to save after success>}``.
    """
    from andon.spark import get_spark
    from spark_jobs.mart import scope as mart_scope

    keys = silver_keys(cfg)
    fingerprint = mart_scope.project_fingerprint(DBT_PROJECT_DIR)
    current = {table: mart_scope.table_version(cfg.table_path("silver", table)) for table in sorted(keys)}
    new_state = {"project": fingerprint, "silver": current}
    previous = load_state(dbt_paths()["state"])
    reason = full_refresh_reason(previous, fingerprint, full_refresh)
    scope = None
    if reason is None:
        scope = mart_scope.incremental_scope(get_spark(cfg), cfg, previous["silver"], current, keys)
        if scope is None:
            reason = "a silver change could not be traced (time travel impossible)"
    return {"full_refresh": reason is not None, "reason": reason, "scope": scope, "state": new_state}


def build_mart(select: str | None = None, cfg: Settings | None = None, exclude: str | None = None,
               full: bool | None = True, full_refresh: bool = False, command: str = "build") -> dict[str, Any]:
    """``dbt build`` the quality mart (models, unit tests, data tests) in this process.

    ``select`` / ``exclude`` are dbt selection syntax (e.g. ``"marts"``, ``"+fct_spc_capability"``).
    ``full`` runs the dbt unit tests: ``True`` always, ``False`` never
    (``--exclude-resource-type unit_test``), ``None`` only on a full refresh (unit tests depend on
    the code alone, and a code change forces a full refresh). ``full_refresh`` rebuilds every
    incremental mart; otherwise they recompute only what changed in silver since the last
    successful build (module docstring). ``command="run"`` builds the models without any test.
    Raises :class:`MartBuildError` when any node errors or any test fails; returns a summary.
    """
    cfg = cfg or settings()
    plan = plan_build(cfg, full_refresh)
    extra: list[str] = []
    if plan["full_refresh"]:
        extra.append("--full-refresh")
    else:
        extra += ["--vars", json.dumps({"mart_scope": plan["scope"]})]
    unit_tests = plan["full_refresh"] if full is None else full
    if command == "build" and not unit_tests:
        extra += ["--exclude-resource-type", "unit_test"]
    log.info("quality mart: %s", plan["reason"] or "incremental (" + ", ".join(
        f"{name}: {len(values)}" for name, values in plan["scope"].items()) + ")")
    result = _invoke(dbt_args(command, select=select, exclude=exclude, extra=extra), cfg)
    summary = summarize(result) if result.result is not None else {"success": False, "failures": []}
    if not result.success:
        detail = "; ".join(summary.get("failures") or []) or repr(result.exception)
        raise MartBuildError(f"dbt {command} failed: {detail} (logs: {dbt_paths()['logs']})")
    if select is None and exclude is None:  # every incremental mart is now up to date with silver
        state = dict(plan["state"], built_at=datetime.now(UTC).isoformat(timespec="seconds"))
        dbt_paths()["state"].write_text(json.dumps(state, indent=2, sort_keys=True))
    summary["target_path"] = str(dbt_paths()["target"])
    summary["mode"] = "full_refresh" if plan["full_refresh"] else "incremental"
    summary["full_refresh_reason"] = plan["reason"]
    summary["scope"] = {name: len(values) for name, values in (plan["scope"] or {}).items()}
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
    """``python -m spark_jobs.mart.runner [--select ...] [--full-refresh] [--docs]``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=build_mart.__doc__)
    parser.add_argument("--select")
    parser.add_argument("--exclude")
    parser.add_argument("--no-unit-tests", action="store_true")
    parser.add_argument("--full-refresh", action="store_true",
                        help="rebuild every incremental mart from all of silver (default: only what changed)")
    parser.add_argument("--docs", action="store_true", help="also run dbt docs generate")
    args = parser.parse_args(argv)
    summary = build_mart(args.select, exclude=args.exclude, full=not args.no_unit_tests,
                         full_refresh=args.full_refresh)
    if args.docs:
        summary["docs"] = generate_docs()
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
