"""
### Train the three early-warning models (LightGBM, tracked and registered in MLflow)

One task per scope -- `incoming_material` (supplier lots), `factory_output` (lines),
`field_return` (build lots) -- runs `ml.jobs.train_models`: point-in-time features for every
score date up to the **cutoff** (stored in `gold.features_<scope>`), labels from outcomes that
have matured by the cutoff (never the ground-truth ledger), a time-ordered split, the alert
threshold chosen on the validation dates for the scope's false-alarm budget
(`conf/base.yaml: ml.false_alarm_budget`), everything logged to MLflow and the model registered
as `andon_<scope>` with alias `champion`. A cutoff whose mature labels hold one class only
registers nothing and keeps the previous champion (the task reports `skipped`).

**Params**: `cutoff` (ISO date; default: the day before the logical date, capped at the last day
in silver); `replay_from` (ISO date, optional): train one version per `ml.replay_every_days`
from that day up to the cutoff, as if this DAG had run weekly all along (`make demo`).

**Schedule**: weekly, Monday 03:00 UTC. Publishes `mlflow.models.andon_<scope>`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from andon_common import DEFAULT_ARGS, EARLIEST_DAY, ML_SCOPES, SPARK_POOL, model_asset

DAG_ID = "andon_training"


@dag(
    dag_id=DAG_ID,
    schedule="0 3 * * 1",
    start_date=EARLIEST_DAY,
    catchup=False,
    max_active_runs=1,
    tags=["andon", "ml", "training", "mlflow"],
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={
        "cutoff": Param(None, type=["null", "string"], format="date", description="last day of training data"),
        "replay_from": Param(
            None,
            type=["null", "string"],
            format="date",
            description="train one version per week from this day (replay)",
        ),
    },
)
def andon_training():
    for scope in ML_SCOPES:

        @task(task_id=f"train_{scope}", pool=SPARK_POOL, outlets=[model_asset(scope)])
        def train(scope: str = scope, params: dict | None = None, logical_date=None) -> list[dict]:
            from andon.dates import default_cutoff
            from ml.jobs import train_models

            cutoff = params.get("cutoff") or default_cutoff(logical_date)
            return train_models(cutoff, scopes=[scope], replay_from=params.get("replay_from"), cap_cutoff=True)

        train()


andon_training()

if __name__ == "__main__":
    andon_training().test()
