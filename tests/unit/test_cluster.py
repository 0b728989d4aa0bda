"""The local cluster launcher's pure parts: the plan rendered from conf/cluster.yaml, PID records."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from andon.config import load_settings
from andon_cli import cluster


@pytest.fixture()
def cfg(tmp_path):
    return load_settings("cluster", environ={"ANDON_HOME": str(tmp_path / "home")})


@pytest.fixture()
def lay(tmp_path):
    return cluster.Layout(tmp_path / "home" / "cluster")


CREDS = {"access_key": "ak", "secret_key": "sk", "jwt_secret": "jwt", "pseudonym_key": "pk"}
VENV = Path("/venv/bin")


def test_profile_endpoints_match_the_local_cluster(cfg):
    """conf/cluster.yaml names each endpoint twice (profile URL, launcher port): they agree."""
    c = cfg.raw["cluster"]
    assert urlparse(cfg.raw["spark"]["master"]).port == c["spark"]["master_port"]
    assert urlparse(cfg.raw["spark"]["conf"]["spark.hadoop.fs.s3a.endpoint"]).port == c["s3"]["port"]
    assert urlparse(cfg.raw["mlflow"]["tracking_uri"]).port == c["mlflow"]["port"]
    jdbc = cfg.raw["metastore"]["hive_conf"]["javax.jdo.option.ConnectionURL"]
    assert urlparse(jdbc.removeprefix("jdbc:")).port == c["postgres"]["port"]
    assert urlparse(jdbc.removeprefix("jdbc:")).path.strip("/") in c["postgres"]["databases"]
    for url in (cfg.landing_root, cfg.lakehouse_root):
        assert urlparse(url).netloc in c["s3"]["buckets"]
    assert cluster.PYFILES in cfg.raw["spark"]["conf"]["spark.submit.pyFiles"]


def test_hadoop_aws_matches_the_bundled_hadoop_client(cfg):
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    bundled = {p.name.removeprefix("hadoop-client-api-").removesuffix(".jar")
               for p in jars.glob("hadoop-client-api-*.jar")}
    aws = [j for j in cfg.raw["cluster"]["node_jars"] if j.startswith("org.apache.hadoop:hadoop-aws:")]
    assert aws and aws[0].rsplit(":", 1)[1] in bundled


def test_cluster_spark_conf_has_no_derby_and_the_metastore_on_postgres(cfg):
    from andon.spark import spark_conf

    conf = spark_conf(cfg)
    assert conf["spark.master"].startswith("spark://127.0.0.1:")
    assert "derby" not in conf.get("spark.driver.extraJavaOptions", "")
    assert conf["spark.hadoop.javax.jdo.option.ConnectionURL"].startswith("jdbc:postgresql://")
    assert conf["spark.sql.warehouse.dir"].startswith("s3a://")
    assert "cluster-jars" in conf["spark.executor.extraClassPath"]
    # DataNucleus' lazily added foreign keys deadlock the first CREATE TABLE on Postgres
    assert conf["spark.hadoop.datanucleus.schema.autoCreateConstraints"] == "false"
    assert conf["spark.hadoop.datanucleus.schema.autoCreateAll"] == "false"


def test_service_plan_binds_loopback_and_bounds_workers(cfg, lay):
    env = cluster.service_env(cfg, lay, CREDS, VENV)
    plan = cluster.services(cfg, lay, env, VENV)
    names = [svc.name for svc in plan]
    assert names[:2] == ["s3", "spark-master"]
    assert names.count("spark-worker-1") == 1 and "spark-worker-2" in names
    assert names[-3:] == ["airflow-api-server", "airflow-scheduler", "airflow-dag-processor"]
    worker = next(svc for svc in plan if svc.name == "spark-worker-1")
    assert worker.argv[worker.argv.index("--cores") + 1] == "1"
    assert worker.argv[worker.argv.index("--memory") + 1] == "2g"
    assert worker.argv[worker.argv.index("--host") + 1] == "127.0.0.1"
    weed = plan[0]
    assert "-ip.bind=127.0.0.1" in weed.argv and f"-s3.port={cfg.raw['cluster']['s3']['port']}" in weed.argv
    assert all(svc.marker for svc in plan)
    assert len({svc.marker for svc in plan}) == len(plan)
    # every piece of state under ANDON_HOME/cluster
    assert all(str(lay.root) in arg for svc in plan for arg in svc.argv if arg.startswith(("-dir=", "-s3.config")))


def test_service_env_points_airflow_at_postgres_and_the_local_executor(cfg, lay):
    env = cluster.service_env(cfg, lay, CREDS, VENV)
    assert env["ANDON_PROFILE"] == "cluster"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://andon@127.0.0.1:")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("/airflow")
    assert env["AWS_ACCESS_KEY_ID"] == "ak" and env["AWS_SECRET_ACCESS_KEY"] == "sk"
    assert env["AIRFLOW_HOME"] == str(lay.airflow_home)
    assert env["AWS_ENDPOINT_URL"] == env["MLFLOW_S3_ENDPOINT_URL"] == cluster.s3_endpoint(cfg)


def test_env_script_round_trips_through_a_shell(cfg, lay):
    env = cluster.service_env(cfg, lay, {**CREDS, "secret_key": "a b'c$d"}, VENV)
    script = lay.root / "env.sh"
    script.parent.mkdir(parents=True)
    script.write_text(cluster.env_script(env))
    out = subprocess.run(["bash", "-c", f"source {shlex.quote(str(script))}; printf %s \"$AWS_SECRET_ACCESS_KEY\""],
                         capture_output=True, text=True, check=True).stdout
    assert out == "a b'c$d"


def test_s3_identities_and_postgres_options(cfg, lay):
    ident = cluster.s3_identities(CREDS)["identities"][0]
    assert ident["credentials"] == [{"accessKey": "ak", "secretKey": "sk"}]
    opts = cluster.postgres_options(cfg, lay)
    assert "listen_addresses=127.0.0.1" in opts and f"-p {cfg.raw['cluster']['postgres']['port']}" in opts
    assert str(lay.pg_socket) in opts


def test_new_credentials_are_random():
    a, b = cluster.new_credentials(), cluster.new_credentials()
    assert set(a) == set(CREDS) and all(a[k] != b[k] for k in a)


def test_pid_record_round_trip_and_reuse_guard(tmp_path):
    pidfile = tmp_path / "pids" / "x.pid"
    assert cluster.read_pid(pidfile) is None
    assert cluster.running(pidfile) is None
    cluster.write_pid(pidfile, os.getpid(), "pytest|python")
    assert cluster.read_pid(pidfile) == (os.getpid(), "pytest|python")
    assert cluster.running(pidfile) == os.getpid()
    # the same PID running something else (PID reuse) is not ours
    cluster.write_pid(pidfile, os.getpid(), "weed server -s3.port=1")
    assert cluster.running(pidfile) is None
    pidfile.write_text("garbage")
    assert cluster.read_pid(pidfile) is None


def test_is_ours_reads_a_fake_proc(tmp_path):
    (tmp_path / "42").mkdir()
    (tmp_path / "42" / "cmdline").write_bytes(b"airflow api_server -- host:127.0.0.1 port:1\0")
    assert cluster.cmdline(42, tmp_path) == "airflow api_server -- host:127.0.0.1 port:1"
    assert cluster.is_ours(42, "api-server --port 1|api_server -- host:127.0.0.1 port:1", tmp_path)
    assert not cluster.is_ours(42, "scheduler", tmp_path)
    assert not cluster.is_ours(43, "anything", tmp_path)
    assert not cluster.is_ours(42, "", tmp_path)


def test_stop_group_ends_a_process_group_we_started():
    proc = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                             "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"],
                            start_new_session=True)
    try:
        assert cluster.stop_group(proc.pid, timeout=10)
    finally:
        proc.poll()
    assert proc.wait(timeout=5) is not None
