"""Shared DAG wiring: default arguments, the Spark pool and the assets each source publishes.

Imported by the DAG files as the top-level module ``andon_common``: Airflow puts the DAG
folder (the bundle root) on ``sys.path``, so this works the same in ``make demo``, in tests
(``pythonpath`` in pyproject.toml) and in a deployment that ships this folder next to the
installed ``andon-lakehouse`` wheel (docs/deployment.md). ``.airflowignore`` keeps the DAG
processor from looking for DAGs in it. Kept free of heavy imports: the DAG processor parses
these files often.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset

from andon.scopes import SCOPE_NAMES

SOURCES = ["mes", "spc", "lims", "field_returns", "supplier"]

# Silver tables published per source (must match conf/data_dictionary.yaml; a test checks it).
SILVER_TABLES = {
    "mes": ["test_results", "unit_genealogy", "shipments"],
    "spc": ["spc_measurements"],
    "lims": ["lab_results"],
    "field_returns": ["field_returns"],
    "supplier": ["supplier_lot_tests"],
}

SPARK_POOL = "spark_embedded"

# Every DAG may run for any day from this one on: a plant backfills years of history, and a
# logical date before a DAG's start_date would make a run without tasks that "succeeds".
# infra/run_dag.sh also checks that every expected task ran.
EARLIEST_DAY = pendulum.datetime(1990, 1, 1, tz="UTC")

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
}


def silver_asset(table: str) -> Asset:
    return Asset(f"lakehouse.silver.{table}")


def silver_assets(source: str) -> list[Asset]:
    return [silver_asset(table) for table in SILVER_TABLES[source]]


# The early-warning scopes, one task each in the training and scoring DAGs (andon/scopes.py).
ML_SCOPES = list(SCOPE_NAMES)
SCORES_ASSET = Asset("lakehouse.gold.early_warning_scores")
# Published by andon_quality_mart after every successful dbt build; andon_scoring runs on it.
QUALITY_MART_ASSET = Asset("lakehouse.gold.quality_mart")


def model_asset(scope: str) -> Asset:
    return Asset(f"mlflow.models.andon_{scope}")
