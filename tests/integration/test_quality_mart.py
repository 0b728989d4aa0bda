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
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from andon.tables import read_table
from tests.conftest import REPO
from tests.integration.world import land_world

pytestmark = pytest.mark.integration

MARTS_YML = REPO / "dbt" / "models" / "marts" / "quality" / "_quality__models.yml"
DBT_VARS = yaml.safe_load((REPO / "dbt" / "dbt_project.yml").read_text())["vars"]


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


def _week_start(ts: pd.Series) -> pd.Series:
    days = pd.to_datetime(ts).dt.normalize()
    return (days - pd.to_timedelta(days.dt.weekday, unit="D")).dt.date


def _month_start(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts).dt.to_period("M").dt.start_time.dt.date


def test_control_flag_matches_a_recomputation_of_the_trial_limits(built, spark):
    """A week is in control when no subgroup mean lies beyond mean +/- 3 sigma_within / sqrt(n)."""
    columns = ["site_id", "line_id", "characteristic_id", "subgroup_id", "measured_value", "measured_at"]
    m = spark.table("staging.stg_spc__measurements").select(*columns).toPandas()
    m["week_start_date"] = _week_start(m["measured_at"])
    keys = ["site_id", "line_id", "characteristic_id", "week_start_date"]
    week_mean = m.groupby(keys)["measured_value"].mean().rename("centre")
    sub = m.groupby([*keys, "subgroup_id"])["measured_value"].agg(["mean", "size"]).reset_index()
    cap = spark.table("gold.fct_spc_capability").toPandas()
    cap["week_start_date"] = pd.to_datetime(cap["week_start_date"]).dt.date
    sub = sub.join(week_mean, on=keys).merge(cap[[*keys, "sigma_within"]], on=keys)
    sub = sub[sub["sigma_within"] > 0]
    sub["beyond"] = (sub["mean"] - sub["centre"]).abs() > 3 * sub["sigma_within"] / sub["size"] ** 0.5
    expected = sub.groupby(keys)["beyond"].sum().rename("expected").reset_index()
    got = cap.merge(expected, on=keys, how="left")
    judged = got[got["sigma_within"] > 0]
    assert len(judged) > 0
    assert (judged["points_beyond_control_limits"] == judged["expected"]).all()
    assert (judged["is_in_control"] == (judged["expected"] == 0)).all()
    assert got.loc[~(got["sigma_within"] > 0), "is_in_control"].isna().all()


def test_grade_takes_complete_routes_and_ppk_out_of_control(built, spark):
    """The grade's rolled FPY and capability index, recomputed from the gold inputs."""
    cap = spark.table("gold.fct_spc_capability").where("has_sufficient_data").toPandas()
    cap["month_start_date"] = _month_start(cap["week_start_date"])
    in_control = cap["is_in_control"].fillna(False).astype(bool)
    cap["index"] = cap["cpk"].where(in_control, cap["ppk"])
    cap["on_ppk"] = ~in_control
    per_char = cap.groupby(["site_id", "line_id", "characteristic_id", "month_start_date"]).agg(
        index=("index", "mean"), on_ppk=("on_ppk", "sum")
    )
    site_cap = per_char.groupby(["site_id", "month_start_date"]).agg(cpk=("index", "min"), on_ppk=("on_ppk", "sum"))

    y = spark.table("gold.fct_station_daily_yield").toPandas()
    y["month_start_date"] = _month_start(y["tested_date"])
    counts = ["units_first_tested", "units_first_passed"]
    st = y.groupby(["site_id", "product_id", "month_start_date", "station_type"])[counts].sum()
    st = st[st["units_first_tested"] > 0]
    st["fpy"] = st["units_first_passed"] / st["units_first_tested"]
    prod = st.groupby(["site_id", "product_id", "month_start_date"]).agg(
        rolled=("fpy", "prod"), stations=("fpy", "size")
    )
    prod["complete"] = prod["stations"] == len(DBT_VARS["route_station_types"])
    prod["complete_rolled"] = prod["rolled"].where(prod["complete"])
    site_yield = prod.groupby(["site_id", "month_start_date"]).agg(
        rolled=("complete_rolled", "min"), complete=("complete", "sum"), products=("complete", "size")
    )
    site_yield["incomplete"] = site_yield["products"] - site_yield["complete"]

    grades = spark.table("gold.fct_capability_grade").toPandas()
    grades["month_start_date"] = pd.to_datetime(grades["month_start_date"]).dt.date
    checked = 0
    for row in grades.itertuples():
        key = (row.site_id, row.month_start_date)
        if key in site_cap.index:
            assert row.cpk == pytest.approx(site_cap.loc[key, "cpk"], abs=2e-4), key
            assert row.weeks_graded_on_ppk == site_cap.loc[key, "on_ppk"], key
        if key in site_yield.index:
            expected = site_yield.loc[key]
            assert row.products_measured == expected["complete"], key
            assert row.products_route_incomplete == expected["incomplete"], key
            if expected["complete"]:
                assert row.rolled_fpy == pytest.approx(expected["rolled"], abs=2e-6), key
            else:
                assert row.rolled_fpy is None or math.isnan(row.rolled_fpy), key
                assert row.rolled_fpy_grade == 1, key
            checked += 1
    assert checked > 0


def test_cohort_maturity_flags_count_window_plus_claim_lag(built, spark):
    as_of = spark.sql("select max(cast(received_at as date)) from staging.stg_field_returns__returns").first()[0]
    c = spark.table("gold.fct_field_return_cohorts").toPandas()
    assert (pd.to_datetime(c["maturity_as_of_date"]).dt.date == as_of).all()
    last_ship = pd.to_datetime(c["ship_week_start_date"]) + timedelta(days=6)
    age = (pd.Timestamp(as_of) - last_ship).dt.days
    lag = DBT_VARS["claim_lag_days"]
    assert (c["is_doa_mature"] == (age >= DBT_VARS["doa_window_days"] + lag)).all()
    assert (c["is_early_return_mature"] == (age >= DBT_VARS["early_return_window_days"] + lag)).all()
    # the newest ship weeks of a 45-day world are still open
    assert (~c.loc[c["units_shipped"] > 0, "is_doa_mature"].astype(bool)).any()


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
