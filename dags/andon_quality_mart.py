"""
### Build the gold quality mart with dbt (silver -> staging views -> gold Delta tables)

Runs `dbt build` on the project in `dbt/` (dbt-spark, `method: session`) inside the task's
process, on the same SparkSession the landing jobs use (`spark_jobs.mart.runner.build_mart` creates it
with Delta and the metastore first). Builds station first-pass yield, rolled throughput yield,
SPC capability (Cp/Cpk/Pp/Ppk, sigma level), supplier-lot quality, field-return cohorts,
quality loss and the capability grade, then runs the dbt data tests (and the unit tests when
the build is a full refresh); any failure fails the task. See `docs/mart.md`.

**Incremental**: the large marts recompute only the days / weeks / lots that changed in silver
since the last successful build; the param `full_refresh` (default false) rebuilds everything.

**Schedule**: data-aware, when every silver table has been updated since the last run
(`lakehouse.silver.<table>` assets published by `andon_landing`). Publishes the asset
`lakehouse.gold.quality_mart`.

Runs in the `spark_embedded` pool (one slot): the embedded Derby metastore admits one JVM.
"""

from __future__ import annotations

from airflow.sdk import AssetAll, Param, dag, task
from andon_common import DEFAULT_ARGS, EARLIEST_DAY, QUALITY_MART_ASSET, SILVER_TABLES, SPARK_POOL, silver_asset

DAG_ID = "andon_quality_mart"
QUALITY_MART = QUALITY_MART_ASSET
SILVER_ASSETS = AssetAll(*(silver_asset(table) for tables in SILVER_TABLES.values() for table in tables))


@dag(
    dag_id=DAG_ID,
    schedule=SILVER_ASSETS,
    start_date=EARLIEST_DAY,
    catchup=False,
    max_active_runs=1,
    tags=["andon", "gold", "dbt", "quality-mart"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={"full_refresh": Param(False, type="boolean", description="rebuild every gold mart in full")},
)
def andon_quality_mart():
    @task(pool=SPARK_POOL, outlets=[QUALITY_MART])
    def build_quality_mart(params: dict | None = None) -> dict:
        from spark_jobs.mart.runner import build_mart

        summary = build_mart(full=None, full_refresh=bool((params or {}).get("full_refresh")))
        return {key: summary[key] for key in ("models", "tests", "unit_tests", "nodes", "mode", "scope")}

    build_quality_mart()


andon_quality_mart()

if __name__ == "__main__":
    andon_quality_mart().test()
