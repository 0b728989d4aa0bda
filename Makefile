# Andon Lakehouse - run `make` for the list of targets.
# Quick start on a fresh machine:  make demo   then   make test
SHELL := /bin/bash
.DEFAULT_GOAL := help

export ANDON_HOME ?= $(CURDIR)/.andon
export ANDON_CACHE ?= $(HOME)/.cache/andon
export AIRFLOW_HOME := $(ANDON_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__LOGGING__LOGGING_LEVEL ?= INFO
export SPARK_LOCAL_IP := 127.0.0.1
export GX_ANALYTICS_ENABLED := false
export PYTHONUNBUFFERED := 1

VENV    := $(CURDIR)/.venv
PY      := $(VENV)/bin/python
ANDON   := $(VENV)/bin/andon
AIRFLOW := $(VENV)/bin/airflow

DAYS  ?= 90
SEED  ?= 42
SCALE ?= 1.0
START ?= 2026-03-02
# Progress lines picked out of Airflow's log while a landing runs.
PROGRESS = grep --line-buffered -oE "(starting task_id=[a-z_]+|landing [a-z_]+/[a-z_]+ for [0-9]+ day\(s\)|[a-z_]+: [0-9]+ new file\(s\), [0-9]+ already landed|quality gate failed.*|landing run: [0-9]+ new files, [0-9]+ already landed|DagRun Finished: dag_id=[a-z_]+)" | sed -u 's/^/    /'
END   = $(shell $(PY) -c "import datetime as d; print(d.date.fromisoformat('$(START)') + d.timedelta(days=$(DAYS) - 1))")

.PHONY: help setup demo simulate land mart summary test test-unit lint bench clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "}; /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo ""
	@echo "  Variables: DAYS=$(DAYS) SEED=$(SEED) SCALE=$(SCALE) START=$(START) DATE=YYYY-MM-DD ANDON_HOME=$(ANDON_HOME)"

setup: ## install everything needed (Java, uv, venv, Delta jars, Airflow DB); idempotent
	@bash infra/bootstrap.sh

demo: setup ## simulate DAYS days and land them through the Airflow DAG, then print a summary
	@echo "==> [1/3] simulating $(DAYS) days (seed $(SEED), scale $(SCALE)) into $(ANDON_HOME)/landing"
	@$(ANDON) simulate --days $(DAYS) --seed $(SEED) --scale $(SCALE) --start $(START) > /dev/null
	@echo "==> [2/3] landing $(START)..$(END) through Airflow (dag andon_landing: one run, one Spark session)"
	@echo "    full log: $(ANDON_HOME)/demo-landing.log"
	@set -o pipefail; $(AIRFLOW) dags test andon_landing $(START) -c '{"start": "$(START)", "end": "$(END)"}' 2>&1 \
		| tee $(ANDON_HOME)/demo-landing.log | $(PROGRESS) \
		&& grep -q "DagRun Finished.*state=success" $(ANDON_HOME)/demo-landing.log \
		|| (echo "landing failed; last lines of the log:"; tail -40 $(ANDON_HOME)/demo-landing.log; exit 1)
	@echo "==> [3/3] summary"
	@$(ANDON) summary

simulate: setup ## only write the simulated source files (DAYS, SEED, SCALE, START)
	@$(ANDON) simulate --days $(DAYS) --seed $(SEED) --scale $(SCALE) --start $(START)

land: setup ## land exactly one day through Airflow: make land DATE=YYYY-MM-DD
	@test -n "$(DATE)" || (echo "usage: make land DATE=YYYY-MM-DD"; exit 2)
	@set -o pipefail; $(AIRFLOW) dags test andon_landing $(DATE) -c '{"start": "$(DATE)", "end": "$(DATE)"}' 2>&1 \
		| tee $(ANDON_HOME)/land-$(DATE).log | $(PROGRESS) \
		&& grep -q "DagRun Finished.*state=success" $(ANDON_HOME)/land-$(DATE).log \
		|| (echo "landing failed; last lines of the log:"; tail -40 $(ANDON_HOME)/land-$(DATE).log; exit 1)
	@echo "landed $(DATE) (log: $(ANDON_HOME)/land-$(DATE).log)"

mart: setup ## build the dbt quality mart on the landed silver tables, through Airflow (dag andon_quality_mart)
	@set -o pipefail; $(AIRFLOW) dags test andon_quality_mart 2>&1 | tee $(ANDON_HOME)/mart.log \
		| grep --line-buffered -oE "(starting task_id=[a-z_]+|DagRun Finished: dag_id=[a-z_]+)" | sed -u 's/^/    /' \
		&& grep -q "DagRun Finished.*state=success" $(ANDON_HOME)/mart.log \
		|| (echo "mart build failed; last lines of the log:"; tail -40 $(ANDON_HOME)/mart.log; exit 1)
	@echo "quality mart built: gold.* tables (log: $(ANDON_HOME)/mart.log, docs: docs/mart.md)"

summary: ## print rows per layer, quarantine by reason and DQ KPIs
	@$(ANDON) summary

test: setup ## run the whole test suite (unit, DAG integrity, integration on tiny data)
	@$(VENV)/bin/pytest

test-unit: setup ## run only the fast tests
	@$(VENV)/bin/pytest -m "not integration"

lint: setup ## ruff
	@$(VENV)/bin/ruff check andon spark_jobs expectations dags tests ml

bench: setup ## landing throughput vs plain Parquet; results in bench/results/
	@$(ANDON) bench

clean: ## remove all local state (.andon/); caches in ANDON_CACHE are kept
	rm -rf $(ANDON_HOME)
