"""
### Weekly early-warning digest for quality leadership

Writes one self-contained HTML file per ISO week to `<paths.digests>/digest-<YYYY>-W<ww>.html`
(`reporting.digest.write_digest`): new warnings by scope with their top five factors and model
version, week-over-week KPIs (rolled first-pass yield, Cpk < 1.33 counts, DOA and early-return
rates of the latest ship cohorts), capability grades and embedded charts. Reads the gold tables
with delta-rs (no Spark). Mailing it comes later.

**Params**: `day` (ISO date; default: the day before the logical date): the digest covers the
ISO week holding it.

**Schedule**: weekly, Monday 07:00 UTC (covers the week that just ended).
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from andon_common import DEFAULT_ARGS, EARLIEST_DAY

DAG_ID = "andon_digest"


@dag(
    dag_id=DAG_ID,
    schedule="0 7 * * 1",
    start_date=EARLIEST_DAY,
    catchup=False,
    max_active_runs=1,
    tags=["andon", "digest", "leadership"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={"day": Param(None, type=["null", "string"], format="date", description="a day of the digest's week")},
)
def andon_digest():
    @task
    def write_weekly_digest(params: dict | None = None, logical_date=None) -> str:
        from andon.dates import default_cutoff
        from reporting.digest import write_digest

        path = write_digest(params.get("day") or default_cutoff(logical_date))
        print(f"digest written: {path}")
        return str(path)

    write_weekly_digest()


andon_digest()

if __name__ == "__main__":
    andon_digest().test()
