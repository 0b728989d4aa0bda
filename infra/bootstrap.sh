#!/usr/bin/env bash
# Install what Andon Lakehouse needs on one machine. Idempotent: a second run only checks.
#   Java 17+ (Debian package when missing), uv, the project venv (from uv.lock),
#   the Delta Lake jars (Spark's own package resolution into $ANDON_CACHE/ivy),
#   Airflow's metadata DB and the `spark_embedded` pool under $ANDON_HOME/airflow.
set -euo pipefail
cd "$(dirname "$0")/.."
ANDON_HOME=${ANDON_HOME:-$PWD/.andon}
ANDON_CACHE=${ANDON_CACHE:-$HOME/.cache/andon}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$ANDON_HOME/airflow}
mkdir -p "$ANDON_HOME" "$ANDON_CACHE"
chmod 700 "$ANDON_HOME"   # owner-only state (docs/architecture.md, "The data boundary")
say() { printf '==> %s\n' "$*"; }

# 1. Java (Spark 4 needs 17+)
java_major() { java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]}'; }
if ! command -v java >/dev/null 2>&1 || [ "$(java_major)" -lt 17 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing OpenJDK 17 (Debian)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  else
    echo "Java 17+ is required: install openjdk-17-jre-headless (or set JAVA_HOME)" >&2; exit 1
  fi
fi

# 2. uv
UV=$(command -v uv || true)
if [ -z "$UV" ]; then
  UV="$ANDON_CACHE/uv-venv/bin/uv"
  # one installer at a time: a second `make` started meanwhile waits instead of running a half-installed uv
  (
    if command -v flock >/dev/null 2>&1; then flock 9; fi
    if [ ! -x "$UV" ]; then
      say "installing uv into $ANDON_CACHE/uv-venv"
      python3 -m venv "$ANDON_CACHE/uv-venv" && "$ANDON_CACHE/uv-venv/bin/pip" install -q uv
    fi
  ) 9>"$ANDON_CACHE/.uv-install.lock" || exit 1
fi

# 3. the venv, exactly as locked
if ! "$UV" sync --frozen --python 3.11 --quiet --check >/dev/null 2>&1; then
  say "syncing the virtualenv from uv.lock"
  "$UV" sync --frozen --python 3.11 --quiet
fi

# 4. Delta Lake jars via Spark's package resolution (first run downloads, later runs reuse the cache)
if ! ls "$ANDON_CACHE"/ivy/jars/io.delta_delta-spark_*.jar >/dev/null 2>&1; then
  say "resolving Delta Lake jars from Maven Central into $ANDON_CACHE/ivy"
  .venv/bin/python -m andon.spark --check
fi

# 5. Airflow metadata DB (SQLite under ANDON_HOME) and the Spark pool
if [ ! -f "$AIRFLOW_HOME/.initialized" ]; then
  say "initialising Airflow in $AIRFLOW_HOME"
  mkdir -p "$AIRFLOW_HOME"
  .venv/bin/airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/migrate.log"; exit 1; }
  .venv/bin/airflow pools set spark_embedded 1 "Spark work in the embedded profile (Derby admits one JVM)" \
    >/dev/null 2>&1
  touch "$AIRFLOW_HOME/.initialized"
fi
