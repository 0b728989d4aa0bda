"""The dbt quality mart end to end on the session's landed silver tables.

Runs after ``test_landing_dag.py`` (alphabetical order) and builds the mart on the world that
test landed (``tests/integration/world.py``) in the same ANDON_HOME and the same Spark
session. Run alone, it lands exactly that world itself first, so either order leaves the
landing test's expectations intact. One ``dbt build`` (models + unit tests + data tests) and
one ``dbt docs generate``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import yaml

from andon.tables import read_table
from tests.conftest import REPO
from tests.integration.world import land_world

pytestmark = pytest.mark.integration

MARTS_YML = REPO / "dbt" / "models" / "marts" / "quality" / "_quality__models.yml"


@pytest.fixture(scope="module")
def silver_landed(cfg, spark):
    """Silver as test_landing_dag.py leaves it; landed here only when this file runs alone."""
    if read_table(cfg.table_path("silver", "test_results")) is None:
        land_world(cfg, spark)
    return True


@pytest.fixture(scope="module")
def built(silver_landed, cfg, spark):
    from spark_jobs.mart.runner import build_mart

    started = time.monotonic()
    summary = build_mart(cfg=cfg)
    summary["seconds"] = time.monotonic() - started
    return summary


def _contracts() -> dict[str, dict[str, str]]:
    models = yaml.safe_load(MARTS_YML.read_text())["models"]
    return {m["name"]: {c["name"]: c["data_type"] for c in m["columns"]} for m in models}


def test_build_succeeds_with_every_test(built):
    from spark_jobs.mart.runner import GOLD_MARTS

    assert built["success"] and not built["failures"]
    assert built["models"].get("success", 0) >= len(GOLD_MARTS) + 7          # marts + staging views
    assert built["unit_tests"].get("pass", 0) >= 4 and set(built["unit_tests"]) == {"pass"}
    assert built["tests"].get("pass", 0) >= 40 and set(built["tests"]) <= {"pass", "warn"}


def test_every_mart_is_populated_and_keeps_its_contract(built, cfg, spark):
    for model, columns in _contracts().items():
        table = spark.table(f"gold.{model}")
        assert table.count() > 0, f"gold.{model} is empty"
        actual = {f.name: f.dataType.simpleString() for f in table.schema.fields}
        assert actual == columns, model
        # external Delta table at <lakehouse>/gold/<model>, readable without Spark
        assert read_table(cfg.table_path("gold", model)) is not None, model


def test_first_pass_yield_counts_every_first_attempt(built, spark):
    yields = spark.table("gold.fct_station_daily_yield")
    bad = yields.where("first_pass_yield < 0 or first_pass_yield > 1").count()
    assert bad == 0
    first_attempts = spark.sql("""
        select count(distinct serial_number, station_type) as n from silver.test_results
        where station_type <> 'IQC' and attempt_number = 1""").first()["n"]
    assert yields.agg({"units_first_tested": "sum"}).first()[0] == first_attempts


def test_rolled_yield_never_exceeds_the_worst_station(built, spark):
    violations = spark.sql("""
        with station as (
            select site_id, product_id, cast(date_trunc('WEEK', tested_date) as date) as week_start_date,
                   station_type, sum(units_first_passed) / sum(units_first_tested) as fpy
            from gold.fct_station_daily_yield
            group by 1, 2, 3, 4),
        worst as (select site_id, product_id, week_start_date, min(fpy) as min_fpy from station group by 1, 2, 3)
        select r.*, w.min_fpy from gold.fct_route_rolled_yield r
        join worst w using (site_id, product_id, week_start_date)
        where r.rolled_fpy > w.min_fpy + 1e-6 or r.rolled_fpy < 0""").collect()
    assert violations == []
    assert spark.table("gold.fct_route_rolled_yield").where("is_route_complete").count() > 0


def test_capability_is_finite_and_grades_are_in_range(built, spark):
    cpks = [r["cpk"] for r in spark.table("gold.fct_spc_capability").select("cpk").collect()]
    assert any(c is not None and math.isfinite(c) for c in cpks)
    assert spark.table("gold.fct_spc_capability").where("sigma_within_method = 'mr_bar_over_1_128'").count() > 0
    grades = spark.table("gold.fct_capability_grade").collect()
    assert grades
    for row in grades:
        per_column = [row[c] for c in ("sigma_level_grade", "cpk_grade", "rolled_fpy_grade",
                                       "internal_loss_grade", "external_loss_grade")]
        assert all(1 <= g <= 5 for g in per_column)
        assert row["capability_grade"] == min(per_column)


def test_supplier_lots_and_losses_join_up(built, spark):
    lots = spark.table("gold.fct_supplier_lot_quality")
    assert lots.where("has_supplier_data and units_built > 0").count() > 0
    assert lots.where("has_iqc_data").count() > 0
    loss = spark.table("gold.fct_quality_loss").where("site_id <> 'UNATTRIBUTED'")
    assert loss.where("output_value_usd > 0 and internal_loss_rate is not null").count() > 0
    cohorts = spark.table("gold.fct_field_return_cohorts")
    assert cohorts.where("units_shipped > 0").count() > 0


def test_docs_generate_writes_catalog_and_manifest(built, cfg):
    from spark_jobs.mart.runner import generate_docs

    files = generate_docs(cfg=cfg)
    for name in ("manifest.json", "catalog.json"):
        path = Path(files[name])
        assert path.exists() and path.stat().st_size > 0, name
        assert str(path).startswith(str(Path(cfg.raw["paths"]["lakehouse"]).parent)), "artifacts outside ANDON_HOME"
