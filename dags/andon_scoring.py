"""
### Score the three early-warning scopes into `gold.early_warning_scores`

One task per scope runs `ml.jobs.score_window`: the point-in-time features of each score date
(`gold.features_<scope>`) go through every registered model version of the window in one Spark
job (`mapInArrow`, LightGBM model text broadcast); each row carries the score (a probability),
`is_warning` (score >= the threshold recorded with the model version) and the model name and
version; a warning also carries its five largest LightGBM feature contributions (`top_factors`).
Re-scoring a window replaces its rows (idempotent).

**Params**: `start` / `end` (ISO dates). Without them: the day before the logical date of a
dated run; in a run the mart's update triggered (no logical date), the days the mart holds that
no score covers yet, from the day after the last scored day to the last day in silver, or that
last day again when everything is scored (`ml.jobs.pending_score_days`);
`models`: `champion` (production: the current champion scores every date) or `replay` (each date
is scored by the latest version trained strictly before it; used by `make demo` after a replayed
training, so that no score uses a model trained on its own future).

**Schedule**: on the quality mart's asset `lakehouse.gold.quality_mart` (published by
`andon_quality_mart` after each successful dbt build, which itself runs when landing updates the
silver assets): scores follow new data, not a clock guess. Publishes
`lakehouse.gold.early_warning_scores`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from andon_common import DEFAULT_ARGS, EARLIEST_DAY, ML_SCOPES, QUALITY_MART_ASSET, SCORES_ASSET, SPARK_POOL

DAG_ID = "andon_scoring"


@dag(
    dag_id=DAG_ID,
    schedule=[QUALITY_MART_ASSET],
    start_date=EARLIEST_DAY,
    catchup=False,
    max_active_runs=1,
    tags=["andon", "ml", "scoring", "gold"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={
        "start": Param(None, type=["null", "string"], format="date", description="first score date"),
        "end": Param(None, type=["null", "string"], format="date", description="last score date"),
        "models": Param("champion", enum=["champion", "replay"], description="which model versions score"),
    },
)
def andon_scoring():
    for scope in ML_SCOPES:

        @task(task_id=f"score_{scope}", pool=SPARK_POOL, outlets=[SCORES_ASSET])
        def score(scope: str = scope, params: dict | None = None, logical_date=None) -> list[dict]:
            from andon.dates import landing_days
            from ml.jobs import pending_score_days, score_window

            if params.get("start") or params.get("end") or logical_date is not None:
                days = landing_days(params.get("start"), params.get("end"), logical_date)
            else:  # triggered by the mart's update
                days = pending_score_days(scope)
            return score_window(days[0], days[-1], models=params.get("models") or "champion", scopes=[scope])

        score()


andon_scoring()

if __name__ == "__main__":
    andon_scoring().test()
