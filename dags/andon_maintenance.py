"""
### Lakehouse maintenance: supplier-data retention, then VACUUM

DOMAIN.md: supplier test data is kept no longer than 180 days after its purchase order closed
(`retention.supplier_days_after_po_closed`). Every day this DAG

1. **supplier_retention**: deletes the supplier rows (`silver.supplier_lot_tests`,
   `bronze.supplier_lot_tests`, the feed's quarantine rows) whose order closed more than 180 days
   before the run's day, purges and VACUUMs them away (no time travel to them) and logs each
   deletion in `ops.retention_log` (table, rule, cutoff, rows, time, run);
2. **vacuum**: VACUUMs every landing table with its own retention (a week of time travel kept),
   removing replaced day partitions and the orphan files of killed writes.

**Day**: the param `day` (ISO date), else the run's logical date. Logic in
`spark_jobs.landing.retention` (`run_supplier_retention`, `run_vacuum`); this file is wiring.
`make demo` does not run it (the demo's year of history would lose most of its supplier data);
run it for a day with `make maintenance DATE=YYYY-MM-DD`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from andon_common import DEFAULT_ARGS, EARLIEST_DAY, SPARK_POOL

DAG_ID = "andon_maintenance"


@dag(
    dag_id=DAG_ID,
    schedule="0 4 * * *",
    start_date=EARLIEST_DAY,
    catchup=False,
    max_active_runs=1,
    tags=["andon", "maintenance", "retention"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={"day": Param(None, type=["null", "string"], format="date",
                         description="the day whose retention cutoff applies (default: the logical date)")},
)
def andon_maintenance():
    @task(pool=SPARK_POOL)
    def supplier_retention(params: dict | None = None, logical_date=None, run_id=None) -> list[dict]:
        from spark_jobs.landing.retention import run_supplier_retention

        day = (params or {}).get("day") or logical_date.date().isoformat()
        return run_supplier_retention(day, run_id)

    @task(pool=SPARK_POOL)
    def vacuum() -> list[str]:
        from spark_jobs.landing.retention import run_vacuum

        return run_vacuum()

    supplier_retention() >> vacuum()


andon_maintenance()

if __name__ == "__main__":
    andon_maintenance().test()
