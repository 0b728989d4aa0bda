"""The dbt quality mart without Spark: runner arguments and paths, the project parses, the
marts carry contracts and unit tests, and the DAG is wired on the silver assets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from andon.config import load_settings
from spark_jobs.mart import runner as mart
from spark_jobs.mart import scope as mart_scope
from tests.conftest import REPO

DBT = REPO / "dbt"


def test_dbt_args_keep_artifacts_out_of_the_repo(tmp_path):
    args = mart.dbt_args("build", select="marts", home=tmp_path)
    assert args[0] == "build"
    assert args[args.index("--project-dir") + 1] == str(DBT)
    assert args[args.index("--profiles-dir") + 1] == str(DBT)
    assert args[args.index("--target") + 1] == "local"
    assert args[args.index("--target-path") + 1] == str(tmp_path / "dbt" / "target")
    assert args[args.index("--log-path") + 1] == str(tmp_path / "dbt" / "logs")
    assert args[args.index("--select") + 1] == "marts"
    assert mart.dbt_args("docs generate", home=tmp_path)[:2] == ["docs", "generate"]
    prod = mart.dbt_args("build", home=tmp_path, extra=["--exclude-resource-type", "unit_test"])
    assert prod[-2:] == ["--exclude-resource-type", "unit_test"]


def test_gold_tables_live_under_the_lakehouse(tmp_path):
    cfg = load_settings(environ={"ANDON_HOME": str(tmp_path)})
    assert mart.dbt_env(cfg) == {"ANDON_GOLD_ROOT": f"{tmp_path}/lakehouse/gold"}


def test_profile_is_spark_session_on_gold():
    profile = yaml.safe_load((DBT / "profiles.yml").read_text())["andon_quality"]
    local = profile["outputs"]["local"]
    assert local["type"] == "spark" and local["method"] == "session" and local["host"] == "NA"
    assert "gold" in local["schema"]
    project = yaml.safe_load((DBT / "dbt_project.yml").read_text())
    assert project["profile"] == "andon_quality" and project["name"] == "andon_quality"
    models = project["models"]["andon_quality"]
    assert models["+file_format"] == "delta"
    assert models["staging"] == {"+materialized": "view", "+schema": "staging"}
    assert models["intermediate"]["+materialized"] == "ephemeral"
    assert models["marts"]["+materialized"] == "table" and models["marts"]["+schema"] == "gold"


def test_summarize_counts_results_by_type():
    class Node:
        def __init__(self, resource_type, name):
            self.resource_type, self.name = resource_type, name

    class NodeResult:
        def __init__(self, resource_type, name, status, message=None):
            self.node, self.status, self.message = Node(resource_type, name), status, message

    class Result:
        success = False
        result = type("R", (), {"results": [NodeResult("model", "a", "success"),
                                            NodeResult("test", "t1", "pass"),
                                            NodeResult("test", "t2", "fail", "Got 3 results\nmore"),
                                            NodeResult("unit_test", "u", "pass")]})()

    summary = mart.summarize(Result())
    assert summary["models"] == {"success": 1}
    assert summary["tests"] == {"fail": 1, "pass": 1}
    assert summary["unit_tests"] == {"pass": 1}
    assert summary["failures"] == ["test t2: fail: Got 3 results"] and summary["nodes"] == 4


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    """``dbt parse`` (no warehouse connection) and the manifest it writes."""
    from dbt.cli.main import dbtRunner

    home = tmp_path_factory.mktemp("dbt-parse")
    result = dbtRunner().invoke(mart.dbt_args("parse", home=home))
    assert result.success, result.exception
    return json.loads(Path(home / "dbt" / "target" / "manifest.json").read_text())


def test_project_parses_with_contracted_marts(manifest):
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert set(mart.GOLD_MARTS) <= set(models)
    for name in mart.GOLD_MARTS:
        node = models[name]
        assert node["schema"] == "gold", name                        # verbatim, not gold_gold
        expected = "incremental" if name in mart.INCREMENTAL_MARTS else "table"
        assert node["config"]["materialized"] == expected, name
        assert node["config"]["contract"]["enforced"], name
        assert node["columns"] and all(c["data_type"] for c in node["columns"].values()), name
    staging = [n for n in models if n.startswith("stg_")]
    assert len(staging) == 7 and all(models[n]["schema"] == "staging" for n in staging)
    assert all(models[n]["config"]["materialized"] == "view" for n in staging)
    sources = {(s["source_name"], s["name"]): s for s in manifest["sources"].values()}
    assert len(sources) == 7 and all(s["schema"] == "silver" for s in sources.values())


def test_incremental_marts_merge_and_delete_within_their_scope(manifest):
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    scopes = set()
    for name in mart.INCREMENTAL_MARTS:
        config = models[name]["config"]
        assert config["incremental_strategy"] == "merge" and config["unique_key"], name
        assert config["on_schema_change"] == "fail", name
        scope = config["incremental_scope"]
        assert scope["column"] in models[name]["columns"], name
        scopes.add(scope["scope"])
        assert "is_incremental()" in models[name]["raw_code"], name
    assert scopes == set(mart_scope.SCOPES)
    # cohort maturity depends on the as-of date: every cohort changes when a newer claim arrives
    assert models["fct_field_return_cohorts"]["config"]["materialized"] == "table"


def test_scope_helpers():
    from datetime import date

    assert mart_scope.week_start(date(2026, 3, 8)) == date(2026, 3, 2)       # Sunday -> Monday
    assert mart_scope.week_start(date(2026, 3, 2)) == date(2026, 3, 2)
    old = {"2026-03-01": frozenset({"a"}), "2026-03-02": frozenset({"b"}), "2026-03-03": frozenset({"c"})}
    new = {"2026-03-01": frozenset({"a"}), "2026-03-02": frozenset({"b2"}), "2026-03-04": frozenset({"d"})}
    assert mart_scope.changed_partitions(old, new) == ["2026-03-02", "2026-03-03", "2026-03-04"]
    assert mart_scope.changed_partitions(old, old) == []


def test_full_refresh_when_asked_first_time_or_code_changed():
    state = {"project": "abc", "silver": {"test_results": 3}}
    assert mart.full_refresh_reason(state, "abc", requested=False) is None
    assert mart.full_refresh_reason(state, "abc", requested=True) == "full refresh requested"
    assert "no previous" in mart.full_refresh_reason(None, "abc", requested=False)
    assert "changed" in mart.full_refresh_reason(state, "xyz", requested=False)


def test_project_fingerprint_follows_the_sql(tmp_path):
    import shutil

    copy = tmp_path / "dbt"
    shutil.copytree(DBT, copy, ignore=shutil.ignore_patterns("target", "logs"))
    before = mart_scope.project_fingerprint(copy)
    assert mart_scope.project_fingerprint(copy) == before
    model = copy / "models" / "marts" / "quality" / "fct_station_daily_yield.sql"
    model.write_text(model.read_text() + "\n-- changed\n")
    assert mart_scope.project_fingerprint(copy) != before


def test_marts_have_key_tests_and_hand_computed_unit_tests(manifest):
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test"]
    tested = {(n.get("attached_node") or "", n["test_metadata"]["name"])
              for n in tests if n.get("test_metadata")}
    for name in mart.GOLD_MARTS:
        node_id = f"model.andon_quality.{name}"
        assert (node_id, "unique") in tested and (node_id, "not_null") in tested, name
    assert any(n["name"].startswith("assert_statistics_macros") for n in tests)
    unit_tests = {u["model"] for u in manifest["unit_tests"].values()}
    tested_marts = {"fct_spc_capability", "fct_route_rolled_yield", "fct_capability_grade", "fct_field_return_cohorts",
                    "rpt_weekly_kpi_trends"}
    assert tested_marts <= unit_tests


def test_quality_mart_dag_runs_on_every_silver_table():
    from andon_common import SILVER_TABLES

    from dags.andon_quality_mart import andon_quality_mart

    dag = andon_quality_mart()
    assert dag.dag_id == "andon_quality_mart" and dag.tags and dag.doc_md
    task = dag.task_dict["build_quality_mart"]
    assert task.pool == "spark_embedded" and task.retries >= 2
    assert [a.uri for a in task.outlets] == ["lakehouse.gold.quality_mart"]
    assert dag.params["full_refresh"] is False
    scheduled = {a.uri for a in dag.timetable.asset_condition.objects}
    assert scheduled == {f"lakehouse.silver.{t}" for tables in SILVER_TABLES.values() for t in tables}
