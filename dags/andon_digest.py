"""
### Weekly early-warning digest for quality leadership

Writes one self-contained HTML file per ISO week to `<paths.digests>/digest-<YYYY>-W<ww>.html`
(`reporting.digest.write_digest`, template `reporting/templates/digest.html.j2`): a headline,
escalated warnings, new / ongoing / decided warnings per scope with owners, what raised them and
their top factors in plain words, KPI trends like for like from the dbt report model
`gold.rpt_weekly_kpi_trends`, capability grades, the warnings' track record and embedded charts.
Reads the gold tables with delta-rs (no Spark). Then mails it to the recipients of `mail.recipients` over SMTP
(`reporting.mail.send_digest`: multipart HTML with inline charts and a plain-text part), once per
ISO week (`ops.digest_mail_log`); a failed send fails the task and keeps the digest file.

**Params**: `day` (ISO date; default: the day before the logical date): the digest covers the
ISO week holding it; `force_mail` (default false): mail even if the week was already mailed.

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
    params={
        "day": Param(None, type=["null", "string"], format="date", description="a day of the digest's week"),
        "force_mail": Param(False, type="boolean", description="mail even if this week's digest was already sent"),
    },
)
def andon_digest():
    @task
    def write_weekly_digest(params: dict | None = None, logical_date=None) -> str:
        from andon.dates import default_cutoff
        from reporting.digest import write_digest

        path = write_digest(params.get("day") or default_cutoff(logical_date))
        print(f"digest written: {path}")
        return str(path)

    @task
    def mail_weekly_digest(path: str, params: dict | None = None) -> dict:
        from andon.config import settings
        from reporting.mail import describe, send_digest

        if not settings().raw["mail"].get("enabled", True):
            print("mail.enabled is false: the digest is not mailed")
            return {"status": "disabled"}
        result = send_digest(path, force=bool(params.get("force_mail")))
        print(describe(result))
        return result

    mail_weekly_digest(write_weekly_digest())


andon_digest()

if __name__ == "__main__":
    andon_digest().test()
