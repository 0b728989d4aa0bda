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
END   = $(shell $(PY) -c "import datetime as d; print(d.date.fromisoformat('$(START)') + d.timedelta(days=$(DAYS) - 1))")

.PHONY: help setup demo simulate land-all land summary test test-unit lint bench clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "}; /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo ""
	@echo "  Variables: DAYS=$(DAYS) SEED=$(SEED) SCALE=$(SCALE) START=$(START) DATE=YYYY-MM-DD ANDON_HOME=$(ANDON_HOME)"

setup: ## install everything needed (Java, uv, venv, Delta jars, Airflow DB); idempotent
	@bash infra/bootstrap.sh

demo: setup ## simulate DAYS days and land them through the Airflow DAG, then print a summary
	@echo "==> [1/3] simulating $(DAYS) days (seed $(SEED), scale $(SCALE)) into $(ANDON_HOME)/landing"
	@$(ANDON) simulate --days $(DAYS) --seed $(SEED) --scale $(SCALE) --start $(START)
	@echo "==> [2/3] landing $(START)..$(END) through Airflow (dag andon_landing, one run, one Spark session)"
	@$(AIRFLOW) dags test andon_landing $(START) -c '{"start": "$(START)", "end": "$(END)"}' \
		> $(ANDON_HOME)/demo-landing.log 2>&1 || (tail -50 $(ANDON_HOME)/demo-landing.log; exit 1)
	@grep -E "landing [a-z_]+/|quality gate|Marking run|state=" $(ANDON_HOME)/demo-landing.log | sed 's/^/    /' | tail -20 || true
	@echo "==> [3/3] summary (full Airflow log: $(ANDON_HOME)/demo-landing.log)"
	@$(ANDON) summary

simulate: setup ## only write the simulated source files (DAYS, SEED, SCALE, START)
	@$(ANDON) simulate --days $(DAYS) --seed $(SEED) --scale $(SCALE) --start $(START)

land: setup ## land exactly one day through Airflow: make land DATE=YYYY-MM-DD
	@test -n "$(DATE)" || (echo "usage: make land DATE=YYYY-MM-DD"; exit 2)
	@$(AIRFLOW) dags test andon_landing $(DATE) -c '{"start": "$(DATE)", "end": "$(DATE)"}' \
		> $(ANDON_HOME)/land-$(DATE).log 2>&1 || (tail -50 $(ANDON_HOME)/land-$(DATE).log; exit 1)
	@grep -E "landing run|quality gate" $(ANDON_HOME)/land-$(DATE).log | sed 's/^/    /' || true
	@echo "landed $(DATE) (log: $(ANDON_HOME)/land-$(DATE).log)"

summary: ## print rows per layer, quarantine by reason and DQ KPIs
	@$(ANDON) summary

test: setup ## run the whole test suite (unit, DAG integrity, integration on tiny data)
	@$(VENV)/bin/pytest

test-unit: setup ## run only the fast tests
	@$(VENV)/bin/pytest -m "not integration"

lint: setup ## ruff
	@$(VENV)/bin/ruff check andon spark_jobs expectations dags tests

bench: setup ## landing throughput vs plain Parquet; results in bench/results/
	@$(ANDON) bench

clean: ## remove all local state (.andon/); caches in ANDON_CACHE are kept
	rm -rf $(ANDON_HOME)
