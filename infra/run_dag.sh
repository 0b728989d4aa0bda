#!/usr/bin/env bash
# Run one DAG through Airflow (`airflow dags test`: the real DAG, tasks in this process) and
# report only progress lines; the full log goes to a file. Fails (exit 1, log tail printed)
# unless the DAG run finished with state=success AND every task of the DAG ran and succeeded
# (a run without task instances also ends "success": python -m andon_cli.dag_runs checks).
# Prints the wall time.
# Forensics: an earlier log of the same name is kept (renamed <name>.<its time>.log), and a logical
# date given as a day gets the current UTC time of day, so a re-run of a day is a new Airflow run
# next to the earlier one instead of replacing its record (the landing window comes from the conf).
#   infra/run_dag.sh <dag_id> <log file> [conf JSON] [logical date]
set -uo pipefail
umask 077   # owner-only: Airflow's task logs and everything the run writes (docs/architecture.md)
dag=$1; logfile=$2; conf=${3:-"{}"}; when=${4:-}
if [ -f "$logfile" ]; then
  mv "$logfile" "${logfile%.log}.$(date -u -r "$logfile" +%Y%m%dT%H%M%SZ).log"
fi
if [[ "$when" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]; then
  when="${when}T$(date -u +%H:%M:%S)+00:00"
fi
airflow=${AIRFLOW:-$(dirname "$0")/../.venv/bin/airflow}
python=$(dirname "$airflow")/python
start=$(date +%s)
echo "    full log: $logfile"
$airflow dags test "$dag" $when -c "$conf" 2>&1 | tee "$logfile" \
  | grep --line-buffered -oE "(starting task_id=[a-z_]+|landing [a-z_]+/[a-z_]+ for [0-9]+ day\(s\)|[a-z_]+: [0-9]+ new file\(s\), [0-9]+ already landed|quality gate failed.*|landing problem: .*|file not landed: .*|another landing is running.*|landing run: [0-9]+ new files, [0-9]+ already landed|[a-z_]+ cutoff [0-9-]+: (registered andon_[a-z_]+ v[0-9]+|not trained \([^)]*\))|scored [a-z_]+ [0-9-]+\.\.[0-9-]+: [0-9]+ rows, [0-9]+ warnings|digest written: [^ ]+|supplier retention for [0-9-]+: .*|vacuumed [0-9]+ table\(s\)|DagRun Finished: dag_id=[a-z_]+)" \
  | sed -u 's/^/    /'
if ! grep -q "DagRun Finished.*state=success" "$logfile"; then
  echo "$dag failed; last lines of $logfile:"; tail -40 "$logfile"; exit 1
fi
run_id=$(grep -m1 -oE "creating dag run.* run_id=[^ ]+" "$logfile" | sed -E 's/.* run_id=//')
if [ -z "$run_id" ]; then
  echo "$dag: no run id in $logfile; cannot check that its tasks ran"; exit 1
fi
if ! "$python" -m andon_cli.dag_runs "$dag" "$run_id" >/dev/null; then
  exit 1
fi
echo "    $dag: done in $(( $(date +%s) - start )) s"
