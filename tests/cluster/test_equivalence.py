"""Embedded and cluster give the same lakehouse (``make test-cluster``; needs ``make cluster-up``).

One tiny world is landed and built into the quality mart twice, by the same code
(tests/cluster/chain.py): with the embedded default (Spark local, Derby, local Delta tables) and
with the ``cluster`` profile (Spark standalone, Hive metastore on Postgres, Delta on S3 through
``s3a://``). Every silver and gold table is then read with delta-rs (``deltalake``, no JVM; from the
local folder and from the S3 endpoint) and compared row for row.

Not part of ``make test``: marked ``cluster`` and skipped unless ANDON_TEST_CLUSTER=1 (set by
``make test-cluster``) and the local cluster answers.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from andon.config import REPO_ROOT

pytestmark = pytest.mark.cluster

ENV_FILE = Path(os.environ.get("ANDON_CLUSTER_ENV", REPO_ROOT / ".andon" / "cluster" / "env.sh"))
DAYS = int(os.environ.get("ANDON_TEST_CLUSTER_DAYS", "14"))
# Lineage that differs by construction between two runs: when a row was written.
VOLATILE = {"_ingested_at", "quarantined_at", "_built_at", "built_at"}
SILVER = ["test_results", "unit_genealogy", "shipments", "spc_measurements", "lab_results", "field_returns",
          "supplier_lot_tests"]


def _cluster_env() -> dict[str, str]:
    out = subprocess.run(["bash", "-c", f"set -a; source {shlex.quote(str(ENV_FILE))}; env -0"],
                         capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def _base_env() -> dict[str, str]:
    """This process's environment without the test session's ANDON_/AIRFLOW settings (conftest)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ANDON", "AIRFLOW"))}


def _start_chain(env: dict[str, str], simulate_to: Path, log: Path, *extra: str):
    argv = [sys.executable, "-m", "tests.cluster.chain", "--days", str(DAYS), "--simulate-to", str(simulate_to),
            *extra]
    out = log.open("w")
    return subprocess.Popen(argv, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=out, text=True), log


def _finish_chain(started) -> dict:
    proc, log = started
    stdout, _ = proc.communicate()
    if proc.returncode != 0:
        pytest.fail(f"chain failed ({proc.returncode}); log: {log}\n{log.read_text()[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def _frame(uri: str, storage_options: dict[str, str] | None):
    from deltalake import DeltaTable

    df = DeltaTable(uri, storage_options=storage_options).to_pandas()
    df = df.drop(columns=[c for c in df.columns if c in VOLATILE])
    cols = sorted(df.columns)
    df = df[cols]
    return df.sort_values(cols, na_position="first", kind="mergesort").reset_index(drop=True)


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory):
    if os.environ.get("ANDON_TEST_CLUSTER") != "1":
        pytest.skip("cluster tests run with `make test-cluster` (after `make cluster-up`)")
    if not ENV_FILE.exists():
        pytest.skip("no local cluster: make cluster-up")
    tmp = tmp_path_factory.mktemp("equivalence")
    key = "equivalence-test-key"
    run = uuid.uuid4().hex[:8]

    embedded = {**_base_env(), "ANDON_PROFILE": "local", "ANDON_HOME": str(tmp / "embedded"),
                "ANDON_PSEUDONYM_KEY": key, "SPARK_LOCAL_IP": "127.0.0.1", "GX_ANALYTICS_ENABLED": "false",
                "ANDON__SPARK__CONF__spark.driver.memory": "2g"}
    cluster_env = _cluster_env()
    prefix = f"test-cluster/{run}"
    cluster = {**_base_env(), **cluster_env, "ANDON_PSEUDONYM_KEY": key,
               "ANDON__PATHS__LANDING": f"s3a://andon-landing/{prefix}",
               "ANDON__PATHS__LAKEHOUSE": f"s3a://andon-lakehouse/{prefix}",
               # local state of this run (dbt target, reports) beside the embedded one; the cluster's
               # code bundle stays where make cluster-up built it
               "ANDON__SPARK__CONF__spark.submit.pyFiles":
                   f"{cluster_env['ANDON_HOME']}/cluster/dist/andon_lakehouse.zip",
               "ANDON_HOME": str(tmp / "cluster"),
               # the only application on the cluster: both workers (the profile gives one per task)
               "ANDON__SPARK__CONF__spark.cores.max": "2"}
    # both at once: independent engines and state (the embedded run's Derby is its own)
    started = {
        "embedded": _start_chain(embedded, tmp / "embedded" / "landing", tmp / "embedded.log"),
        "cluster": _start_chain(cluster, tmp / "cluster-landing", tmp / "cluster.log", "--reset-metastore"),
    }
    results = {name: _finish_chain(s) for name, s in started.items()}
    storage = {key: cluster_env[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                                                  "AWS_ENDPOINT_URL", "AWS_ALLOW_HTTP")}
    roots = {"embedded": (str(tmp / "embedded" / "lakehouse"), None),
             "cluster": (f"s3://andon-lakehouse/{prefix}", storage)}
    print(json.dumps(results))
    results_file = os.environ.get("ANDON_TEST_CLUSTER_RESULTS")
    if results_file:
        Path(results_file).write_text(json.dumps(results, indent=2))
    return results, roots


def test_both_runs_used_their_engines(both_runs):
    results, _ = both_runs
    assert results["embedded"]["master"].startswith("local")
    assert results["cluster"]["master"].startswith("spark://")
    assert results["cluster"]["lakehouse"].startswith("s3a://")


def _gold_tables(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "gold").iterdir() if (p / "_delta_log").is_dir())


@pytest.mark.parametrize("layer", ["silver", "gold"])
def test_silver_and_gold_are_identical(both_runs, layer):
    _, roots = both_runs
    local_root, _ = roots["embedded"]
    s3_root, storage = roots["cluster"]
    tables = SILVER if layer == "silver" else _gold_tables(Path(local_root))
    assert tables, f"no {layer} tables in the embedded run"
    differing, counts = [], {}
    for table in tables:
        left = _frame(f"{local_root}/{layer}/{table}", None)
        right = _frame(f"{s3_root}/{layer}/{table}", storage)
        counts[table] = len(left)
        if list(left.columns) != list(right.columns) or len(left) != len(right) or not left.equals(right):
            differing.append(f"{table}: embedded {len(left)} rows {list(left.columns)[:5]}..., "
                             f"cluster {len(right)} rows {list(right.columns)[:5]}...")
    print(f"{layer}: {len(tables)} tables compared, rows {counts}")
    assert not differing, "\n".join(differing)
    if layer == "silver":
        assert all(counts[t] > 0 for t in ("test_results", "spc_measurements", "lab_results"))
