"""
### Land the five quality sources: landing files -> bronze -> silver (Delta Lake, Spark)

For each business day in the window, every source system's files (MES, SPC, LIMS, field
returns, supplier test data) are landed by `spark_jobs.landing.job.land_source`:
bronze keeps every record as received, bad records go to `bronze.quarantine` with a reason,
silver applies the data dictionary (`conf/data_dictionary.yaml`) and is published only when
its Great Expectations suite passes; KPIs go to `ops.dq_results`.

**Window**: the params `start` / `end` (ISO dates, inclusive). Without them, a scheduled
run lands the previous day. `make land DATE=YYYY-MM-DD` lands exactly one day; `make demo`
lands the whole simulated period in one run (one JVM start instead of one per day).

**Idempotent**: files already landed with the same checksum are skipped, so re-running any
window, in any order, leaves every table unchanged.

Spark tasks share the `spark_embedded` pool (one slot by default): the embedded Derby
metastore admits one JVM at a time.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from andon_common import DEFAULT_ARGS, EARLIEST_DAY, SOURCES, SPARK_POOL, silver_assets

DAG_ID = "andon_landing"


@dag(
    dag_id=DAG_ID,
    schedule="0 2 * * *",
    start_date=EARLIEST_DAY,
    catchup=False,
    max_active_runs=1,
    tags=["andon", "landing", "bronze", "silver"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={
        "start": Param(None, type=["null", "string"], format="date", description="first day to land"),
        "end": Param(None, type=["null", "string"], format="date", description="last day to land"),
        "force": Param(False, type="boolean", description="re-land files even if already landed"),
    },
)
def andon_landing():
    @task
    def landing_window(params: dict | None = None, logical_date=None) -> list[str]:
        from andon.dates import landing_days

        return [d.isoformat() for d in landing_days(params.get("start"), params.get("end"), logical_date)]

    @task
    def summarize(results: list[dict]) -> dict:
        from spark_jobs.landing.job import summarize_results

        return summarize_results(results)

    days = landing_window()
    results = []
    for source in SOURCES:

        @task(task_id=f"land_{source}", pool=SPARK_POOL, outlets=silver_assets(source))
        def land(days: list[str], source: str = source, params: dict | None = None, run_id=None) -> list[dict]:
            from spark_jobs.landing.job import run_landing

            return run_landing(source, days, run_id, force=bool(params.get("force")))

        results.append(land(days))
    summarize(results)


andon_landing()

if __name__ == "__main__":
    andon_landing().test()
