"""The one tiny simulated world every integration test lands (and shares in one ANDON_HOME).

Long enough for the early-warning chain: every incident kind fits in 45 days, and at scale 0.1 a
handful of units shipped in the period come back, so all three scopes have both label classes
(with the label rules relaxed in ``tests/conftest.py``); small enough to land in a few minutes.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

# A historical period (before the DAGs' first scheduled year): any period must land (issue:
# a logical date before a DAG's start_date used to make a run without tasks that "succeeded").
START = date(2025, 6, 2)
DAYS = 45
SEED = 7
SCALE = 0.1
END = START + timedelta(days=DAYS - 1)


def simulate_world(cfg) -> Path:
    from simulator import simulate

    landing = Path(cfg.landing_root)
    simulate(landing, days=DAYS, seed=SEED, scale=SCALE, start=START)
    return landing


def land_world(cfg, spark) -> Path:
    """Simulate and land the world without Airflow (for test files run on their own)."""
    from andon_common import SOURCES

    from spark_jobs.landing.job import land_source

    landing = simulate_world(cfg)
    days = [START + timedelta(days=i) for i in range(DAYS)]
    for source in SOURCES:
        land_source(source, days, "test-world", cfg=cfg, spark=spark)
    return landing
