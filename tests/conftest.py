"""Test session set-up: one private ANDON_HOME, one Spark session shared by every test.

The environment is fixed *before* anything imports Airflow or the config, so tests never
touch the developer's `.andon/`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# ANDON_TEST_HOME reuses a home kept by ANDON_KEEP_TEST_HOME=1 (e.g. to rerun one slow file).
_HOME = Path(os.environ.get("ANDON_TEST_HOME") or tempfile.mkdtemp(prefix="andon-test-"))
os.environ["ANDON_HOME"] = str(_HOME)
os.environ["AIRFLOW_HOME"] = str(_HOME / "airflow")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["GX_ANALYTICS_ENABLED"] = "false"
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
os.environ["ANDON__SPARK__CONF__spark.sql.shuffle.partitions"] = "2"
# 4g: the dbt unit tests and the reports ran out of a 2g heap late in a full run (2026-12-07)
os.environ["ANDON__SPARK__CONF__spark.driver.memory"] = "4g"
os.environ["ANDON_PSEUDONYM_KEY"] = "test-key-not-secret"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The digest DAG mails to an SMTP sink the integration chain starts on this free port.
os.environ["ANDON__MAIL__SMTP__PORT"] = os.environ["ANDON__MAIL__SINK__PORT"] = str(_free_port())
# Label rules relaxed for the tiny integration world (45 days, scale 0.1; tests/integration/world.py):
# the defaults need weeks of maturity and dozens of units per entity.
for _key, _value in {
    "WARMUP_DAYS": "3",
    "VALID_FRACTION": "0.3",
    "LABELS__INCOMING_MATERIAL__MIN_UNITS": "5",
    "LABELS__INCOMING_MATERIAL__IDLE_DAYS": "2",
    "LABELS__INCOMING_MATERIAL__MIN_FAILED": "2",
    "LABELS__FACTORY_OUTPUT__MIN_TESTS": "5",
    "LABELS__FIELD_RETURN__WINDOW_DAYS": "14",
    "LABELS__FIELD_RETURN__SHIP_GRACE_DAYS": "2",
    "LABELS__FIELD_RETURN__MIN_SHIPPED": "3",
    "LABELS__FIELD_RETURN__MIN_RETURNS": "1",
}.items():
    os.environ[f"ANDON__ML__{_key}"] = _value
logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def andon_home() -> Path:
    return _HOME


@pytest.fixture(scope="session")
def cfg():
    from andon.config import settings

    return settings()


@pytest.fixture(scope="session")
def spark(cfg):
    from andon.spark import get_spark

    session = get_spark(cfg)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def dictionary(cfg):
    from andon.dictionary import load_dictionary

    return load_dictionary(cfg.raw["landing"]["data_dictionary"])


def pytest_collection_modifyitems(session, config, items):
    """The Superset tests (tests/integration/test_bi.py) read what the other integration tests
    build in the shared world: run them last."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/integration/test_bi.py"))


def pytest_sessionfinish(session, exitstatus):
    """Remove the private ANDON_HOME (keep it for inspection with ANDON_KEEP_TEST_HOME=1)."""
    import shutil

    if not os.environ.get("ANDON_KEEP_TEST_HOME"):
        shutil.rmtree(_HOME, ignore_errors=True)
