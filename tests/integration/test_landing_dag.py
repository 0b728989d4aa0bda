"""End to end on tiny data: simulate, land through the real Airflow DAG, check every record.

One module-scoped landing of the tiny world (``tests/integration/world.py``) through
``dag.test()`` in this process, so the DAG's tasks reuse the test session's Spark (one JVM for the whole test run).
"""

from __future__ import annotations

import csv
import fnmatch
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from andon.tables import read_table
from tests.conftest import REPO
from tests.integration.world import DAYS, START, simulate_world

pytestmark = pytest.mark.integration

QUARANTINED_DEFECTS = {"malformed_record", "truncated_record", "wrong_type", "unknown_code"}
# Columns that say *when/by which run* something was written: they may differ between runs.
RUN_METADATA = {"_ingested_at", "_run_id", "quarantined_at", "evaluated_at", "run_id", "landed_at"}


def _airflow(*args: str) -> None:
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, *args], check=True, env=os.environ, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def landing_dag():
    """Airflow's metadata DB for this test session, and the landing DAG object."""
    _airflow("db", "migrate")
    _airflow("pools", "set", "spark_embedded", "1", "test pool")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag.dags["andon_landing"]


def run_dag(dag, first: date, last: date, force: bool = False):
    """Run the DAG with the window's first day as logical date (a historical date: see world.py)
    and check, as the front door does, that every task ran and succeeded."""
    from airflow.utils.state import DagRunState

    from andon_cli.dag_runs import check_run

    logical = datetime(first.year, first.month, first.day, tzinfo=UTC)
    run = dag.test(logical_date=logical, run_conf={"start": first.isoformat(), "end": last.isoformat(),
                                                   "force": force})
    assert run.state == DagRunState.SUCCESS, f"DAG run ended {run.state}"
    assert check_run(dag.dag_id, run.run_id) == []
    return run


@pytest.fixture(scope="module")
def landed(cfg, spark, dictionary, landing_dag):
    landing = simulate_world(cfg)
    run_dag(landing_dag, START, START + timedelta(days=DAYS - 1))
    return landing


def _ground_truth(landing: Path, name: str) -> list[dict]:
    with (landing / "_ground_truth" / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def _feed_of(dictionary, source: str, file: str):
    matches = [f for f in dictionary.feeds_of(source) if fnmatch.fnmatch(Path(file).name, f.file_glob)]
    assert len(matches) == 1, f"{file} matches {len(matches)} feeds"
    return matches[0]


def _snapshot(cfg, dictionary) -> dict[str, list[tuple]]:
    """Content of every table (sorted rows, run metadata left out), read with delta-rs."""
    tables = [("bronze", f.bronze_table) for f in dictionary.feeds.values()]
    tables += [("silver", f.silver_table) for f in dictionary.feeds.values()]
    tables += [("bronze", "quarantine"), ("ops", "dq_results"), ("ops", "landed_files")]
    snapshot = {}
    for layer, table in tables:
        df = read_table(cfg.table_path(layer, table))
        assert df is not None, f"{layer}.{table} does not open with the deltalake reader"
        keep = sorted(c for c in df.columns if c not in RUN_METADATA)
        snapshot[f"{layer}.{table}"] = sorted(tuple(str(v) for v in row) for row in df[keep].itertuples(index=False))
    return snapshot


def _versions(cfg, dictionary) -> dict[str, int]:
    from deltalake import DeltaTable

    paths = {cfg.table_path("bronze", f.bronze_table) for f in dictionary.feeds.values()}
    paths |= {cfg.table_path("silver", f.silver_table) for f in dictionary.feeds.values()}
    paths |= {cfg.table_path("bronze", "quarantine"), cfg.table_path("ops", "dq_results")}
    return {p: DeltaTable(p).version() for p in paths}


def test_every_received_record_is_in_bronze(landed, cfg, dictionary):
    received: dict[str, int] = {}
    for row in _ground_truth(landed, "files.csv"):
        feed = _feed_of(dictionary, row["source"], row["file"])
        received[feed.name] = received.get(feed.name, 0) + int(row["records"])
    for feed in dictionary.feeds.values():
        bronze = read_table(cfg.table_path("bronze", feed.bronze_table))
        assert len(bronze) == received.get(feed.name, 0), feed.name
        assert bronze["_source_file"].notna().all() and bronze["_record_locator"].notna().all()


def test_bronze_is_silver_plus_quarantine_plus_replays(landed, cfg, dictionary):
    quarantine = read_table(cfg.table_path("bronze", "quarantine"))
    dq = read_table(cfg.table_path("ops", "dq_results"))
    for feed in dictionary.feeds.values():
        bronze = len(read_table(cfg.table_path("bronze", feed.bronze_table)))
        silver = len(read_table(cfg.table_path("silver", feed.silver_table)))
        quarantined = int((quarantine["feed"] == feed.name).sum())
        replays = int(dq.loc[dq["feed"] == feed.name, "collapsed_replays"].sum())
        assert bronze == silver + quarantined + replays, feed.name
        assert bronze > 0, f"{feed.name}: the simulator wrote nothing in {DAYS} days?"


def test_quarantine_is_exactly_the_injected_bad_records(landed, cfg):
    bad = _ground_truth(landed, "bad_records.csv")
    expected = {(r["source"], r["file"], r["record_locator"], r["defect"]) for r in bad
                if r["defect"] in QUARANTINED_DEFECTS}
    quarantine = read_table(cfg.table_path("bronze", "quarantine"))
    actual = set(zip(quarantine["source"], quarantine["_source_file"], quarantine["_record_locator"],
                     quarantine["reason"], strict=True))
    assert expected, "the simulator injected no quarantinable defect"
    assert actual == expected
    assert quarantine["raw_record"].notna().all() and quarantine["reason_detail"].notna().all()


def test_duplicate_files_collapse_and_added_columns_are_kept(landed, cfg, dictionary):
    bad = _ground_truth(landed, "bad_records.csv")
    files = {r["file"]: int(r["records"]) for r in _ground_truth(landed, "files.csv")}
    dq = read_table(cfg.table_path("ops", "dq_results"))
    resent = [r for r in bad if r["defect"] == "duplicate_file"]
    assert resent
    for row in resent:
        feed = _feed_of(dictionary, row["source"], row["file"])
        assert int(dq.loc[dq["feed"] == feed.name, "collapsed_replays"].sum()) == files[row["file"]]
    for row in (r for r in bad if r["defect"] == "added_column"):
        feed = _feed_of(dictionary, row["source"], row["file"])
        bronze = read_table(cfg.table_path("bronze", feed.bronze_table), where=f"_source_file = '{row['file']}'")
        assert len(bronze) == files[row["file"]]
        assert all("OPERATOR_ID" in dict(extra) for extra in bronze["_extra"])
        silver = read_table(cfg.table_path("silver", feed.silver_table), where=f"_source_file = '{row['file']}'")
        assert len(silver) == len(bronze)


def test_tables_are_registered_in_the_metastore(landed, spark, dictionary):
    for feed in dictionary.feeds.values():
        assert spark.catalog.tableExists(f"bronze.{feed.bronze_table}")
        assert spark.catalog.tableExists(f"silver.{feed.silver_table}")
    for name in ("bronze.quarantine", "ops.dq_results", "ops.landed_files"):
        assert spark.catalog.tableExists(name)
    assert spark.table("silver.spc_measurements").count() > 0


def test_silver_is_canonical_and_free_of_personal_data(landed, cfg, dictionary):
    spc = read_table(cfg.table_path("silver", "spc_measurements"))
    gdl = spc[(spc["site_id"] == "GDL") & (spc["characteristic_id"] == "PASTE_HEIGHT")]
    assert len(gdl) and gdl["measured_value"].between(60, 200).all()        # mil converted to um
    assert set(gdl["unit_of_measure"]) == {"um"}
    tests = read_table(cfg.table_path("silver", "test_results"))
    assert set(tests["station_type"]) <= {"IQC", "ICT", "FT", "REL", "SYS"}
    returns = read_table(cfg.table_path("silver", "field_returns"))
    assert not {"customer__email", "customer__name", "customer__phone"} & set(returns.columns)
    dq = read_table(cfg.table_path("ops", "dq_results"))
    published = dq[dq["status"] == "published"]
    assert len(published) and published["completeness"].between(0, 1).all()
    assert published["consistency"].between(0, 1).all()


def test_relanding_changes_nothing(landed, cfg, dictionary, landing_dag):
    before, versions = _snapshot(cfg, dictionary), _versions(cfg, dictionary)
    middle = START + timedelta(days=1)
    run_dag(landing_dag, middle, middle)                                # same day again: all files known
    assert _versions(cfg, dictionary) == versions, "a re-run of an already landed day wrote a commit"
    run_dag(landing_dag, START, START, force=True)                     # an older day, fully re-processed
    assert _snapshot(cfg, dictionary) == before


def test_quality_gate_failure_keeps_previous_silver(landed, cfg, spark, dictionary, monkeypatch):
    import great_expectations.expectations as gxe

    import expectations.suites as suites
    from spark_jobs.landing.job import land_source

    original = suites.build_expectations

    def with_impossible_rule(feed, dd):
        return [*original(feed, dd), gxe.ExpectColumnValuesToBeInSet(column="site_id", value_set=["NOWHERE"],
                                                                     severity="critical")]

    monkeypatch.setattr(suites, "build_expectations", with_impossible_rule)
    day = START + timedelta(days=2)
    silver_path = cfg.table_path("silver", "spc_measurements")
    before = read_table(silver_path, where=f"landing_date = '{day}'")
    results = land_source("spc", [day], "gate-test", force=True, cfg=cfg, spark=spark)
    statuses = {d.landing_date: d.status for d in results[0].days}
    assert statuses[day] == "failed_gate"
    assert results[0].days[0].gx_critical_failures
    after = read_table(silver_path, where=f"landing_date = '{day}'")
    assert len(after) == len(before) > 0
    assert set(after["_run_id"]) == set(before["_run_id"])            # the previous version is what remains


def test_a_run_without_tasks_is_caught(landing_dag, landed):
    """A logical date before the DAG's start_date gives a run with no task instances that Airflow
    marks successful; the front door's check (infra/run_dag.sh) names the tasks that did not run."""
    from airflow.utils.state import DagRunState

    from andon_cli.dag_runs import check_run

    run = landing_dag.test(logical_date=datetime(1980, 1, 2, tzinfo=UTC),
                           run_conf={"start": "1980-01-01", "end": "1980-01-01"})
    assert run.state == DagRunState.SUCCESS                          # what Airflow says
    problems = check_run("andon_landing", run.run_id)                # what the front door says
    assert "land_mes (did not run)" in problems and len(problems) == len(landing_dag.task_ids)
