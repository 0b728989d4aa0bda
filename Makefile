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

PACKAGES := andon spark_jobs expectations ml reporting andon_cli simulator bench bi
VENV    := $(CURDIR)/.venv
PY      := $(VENV)/bin/python
ANDON   := $(VENV)/bin/andon
AIRFLOW := $(VENV)/bin/airflow

# A scenario (conf/scenarios/<name>.yaml or a file; docs/scenarios.md) sets the defaults of
# DAYS, SEED, SCALE and START; values given on the command line still win. The default,
# `standard`, is a year of a three-site plant; `SCENARIO=legacy` is the former 90-day world.
SCENARIO ?= standard
ifneq ($(SCENARIO),)
scenario_value = $(shell $(PY) -c "from simulator.scenario import load_scenario; print(load_scenario('$(SCENARIO)').$(1))")
DAYS  = $(call scenario_value,horizon_days)
SEED  = $(call scenario_value,seed)
SCALE = $(call scenario_value,scale)
START = $(call scenario_value,start)
SIMULATE_ARGS = --scenario $(SCENARIO)
endif
DAYS  ?= 90
SEED  ?= 42
SCALE ?= 1.0
START ?= 2026-03-02
RUN_DAG = AIRFLOW=$(AIRFLOW) bash infra/run_dag.sh
END   = $(shell $(PY) -c "import datetime as d; print(d.date.fromisoformat('$(START)') + d.timedelta(days=$(DAYS) - 1))")

.PHONY: help setup demo simulate land mart train score digest evaluate summary bi bi-stop chromedriver test test-unit lint bench eval-suite clean maintenance cluster-up cluster-down cluster-status test-cluster

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "}; /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo ""
	@echo "  Variables: SCENARIO=$(SCENARIO) DAYS=$(DAYS) SEED=$(SEED) SCALE=$(SCALE) START=$(START) DATE=YYYY-MM-DD CUTOFF=YYYY-MM-DD ANDON_HOME=$(ANDON_HOME)"

setup: ## install everything needed (Java, uv, venv, Delta jars, Airflow DB); idempotent
	@bash infra/bootstrap.sh

demo: setup ## the whole chain over DAYS simulated days: land -> mart -> train -> score -> digest, then evaluate
	@t0=$$(date +%s); \
	echo "==> [1/7] simulating $(DAYS) days (seed $(SEED), scale $(SCALE)$(if $(SCENARIO), - scenario $(SCENARIO))) into $(ANDON_HOME)/landing"; \
	$(ANDON) simulate $(SIMULATE_ARGS) --days $(DAYS) --seed $(SEED) --scale $(SCALE) --start $(START) > /dev/null || exit 1; \
	echo "==> [2/7] landing $(START)..$(END) through Airflow (dag andon_landing)"; \
	$(RUN_DAG) andon_landing $(ANDON_HOME)/demo-landing.log '{"start": "$(START)", "end": "$(END)"}' $(START) || exit 1; \
	echo "==> [3/7] quality mart (dag andon_quality_mart: dbt build on silver)"; \
	$(RUN_DAG) andon_quality_mart $(ANDON_HOME)/demo-mart.log || exit 1; \
	echo "==> [4/7] training (dag andon_training: weekly model versions replayed up to $(END))"; \
	$(RUN_DAG) andon_training $(ANDON_HOME)/demo-training.log '{"cutoff": "$(END)", "replay_from": "$(START)"}' || exit 1; \
	echo "==> [5/7] scoring $(START)..$(END) (dag andon_scoring: each day by the latest model trained before it)"; \
	$(RUN_DAG) andon_scoring $(ANDON_HOME)/demo-scoring.log '{"start": "$(START)", "end": "$(END)", "models": "replay"}' || exit 1; \
	echo "==> [6/7] weekly digest (dag andon_digest), mailed to the local SMTP sink"; \
	$(ANDON) mail-sink start || exit 1; \
	$(RUN_DAG) andon_digest $(ANDON_HOME)/demo-digest.log '{"day": "$(END)"}' || { $(ANDON) mail-sink stop; exit 1; }; \
	$(ANDON) mail-sink stop > /dev/null; \
	echo "==> [7/7] evaluation against the ground-truth ledger"; \
	$(ANDON) evaluate || exit 1; \
	echo ""; $(ANDON) summary | tail -n +1 > $(ANDON_HOME)/demo-summary.txt; \
	echo "lakehouse summary: $(ANDON_HOME)/demo-summary.txt"; \
	echo "latest digest:     $$(ls -t $(ANDON_HOME)/digests/*.html | head -1)"; \
	echo "digest as mailed:  $$(ls -t $(ANDON_HOME)/outbox/*.eml | head -1)"; \
	echo "whole chain:       $$(( $$(date +%s) - t0 )) s"; \
	echo "dashboards:        make bi   (Superset over the gold tables; docs/bi.md)"

simulate: setup ## only write the simulated source files (SCENARIO, DAYS, SEED, SCALE, START)
	@$(ANDON) simulate $(SIMULATE_ARGS) --days $(DAYS) --seed $(SEED) --scale $(SCALE) --start $(START)

land: setup ## land exactly one day through Airflow: make land DATE=YYYY-MM-DD
	@test -n "$(DATE)" || (echo "usage: make land DATE=YYYY-MM-DD"; exit 2)
	@$(RUN_DAG) andon_landing $(ANDON_HOME)/land-$(DATE).log '{"start": "$(DATE)", "end": "$(DATE)"}' $(DATE)
	@echo "landed $(DATE) (log: $(ANDON_HOME)/land-$(DATE).log)"

mart: setup ## build the dbt quality mart on the landed silver tables, through Airflow (dag andon_quality_mart)
	@$(RUN_DAG) andon_quality_mart $(ANDON_HOME)/mart.log
	@echo "quality mart built: gold.* tables (docs: docs/mart.md)"

train: setup ## train + register the three early-warning models through Airflow (CUTOFF=YYYY-MM-DD, default: last day)
	@$(RUN_DAG) andon_training $(ANDON_HOME)/train.log '{"cutoff": $(if $(CUTOFF),"$(CUTOFF)",null)}'

score: setup ## score DATE (or START..END with FROM=/TO=) with the champions through Airflow (dag andon_scoring)
	@test -n "$(DATE)$(FROM)" || (echo "usage: make score DATE=YYYY-MM-DD  or  make score FROM=... TO=..."; exit 2)
	@$(RUN_DAG) andon_scoring $(ANDON_HOME)/score.log '{"start": "$(or $(FROM),$(DATE))", "end": "$(or $(TO),$(FROM),$(DATE))"}'

digest: setup ## write the weekly digest of DATE's ISO week and mail it to the local SMTP sink (dag andon_digest)
	@test -n "$(DATE)" || (echo "usage: make digest DATE=YYYY-MM-DD [FORCE_MAIL=true]"; exit 2)
	@$(ANDON) mail-sink start
	@$(RUN_DAG) andon_digest $(ANDON_HOME)/digest.log '{"day": "$(DATE)", "force_mail": $(or $(FORCE_MAIL),false)}'; rc=$$?; \
	$(ANDON) mail-sink stop > /dev/null; \
	echo "mailed digests: $(ANDON_HOME)/outbox"; exit $$rc

evaluate: setup ## evaluate the scores against the ground-truth ledger (model vs baseline); report in .andon/reports
	@$(ANDON) evaluate

summary: ## print rows per layer, quarantine by reason and DQ KPIs
	@$(ANDON) summary

bi: setup chromedriver ## the analysts' Superset over the gold tables: install (once), import the dashboards, print URL + login
	@$(PY) -m bi up $(if $(BI_PORT),--port $(BI_PORT))

bi-stop: ## stop the Superset that `make bi` started (by its PID)
	@$(PY) -m bi stop

chromedriver: # headless Chromium + chromedriver for the browser checks (Debian packages, when missing)
	@command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "==> installing chromium + chromium-driver (Debian)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "chromium-driver is missing: install chromium and chromium-driver" >&2; exit 1; fi; }

test: setup chromedriver ## run the whole test suite (unit, DAG integrity, integration on tiny data)
	@$(VENV)/bin/pytest

test-unit: setup ## run only the fast tests
	@$(VENV)/bin/pytest -m "not integration"

lint: setup ## ruff, and the import contracts of pyproject.toml (import-linter)
	@$(VENV)/bin/ruff check $(PACKAGES) dags tests
	@$(VENV)/bin/lint-imports

bench: setup ## the performance record: landing (scale 1, 10), training + scoring, quality mart; bench/results/
	@$(PY) -m bench

eval-suite: setup ## the whole chain on several seeds (SEEDS="1 2 3", SCENARIO, SUITE_SCALE), pooled; bench/results/
	@$(PY) -m bench.eval_suite --scenario $(or $(SCENARIO),standard) --seeds "$(or $(SEEDS),1 2 3)" $(if $(SUITE_SCALE),--scale $(SUITE_SCALE))

clean: ## remove all local state (.andon/) except the pseudonym key (DELETE_KEY=yes deletes it too); caches are kept
	@key="$(ANDON_HOME)/secrets/pseudonym.key"; \
	if [ -f "$$key" ] && [ "$(DELETE_KEY)" != "yes" ]; then \
	  find "$(ANDON_HOME)" -mindepth 1 -maxdepth 1 ! -name secrets -exec rm -rf {} +; \
	  echo "removed $(ANDON_HOME) except the pseudonym key $$key:"; \
	  echo "  pseudonyms made with it cannot be recomputed without it, so make clean refuses to delete it."; \
	  echo "  Keep a copy (or use ANDON_PSEUDONYM_KEY), then delete it too with: make clean DELETE_KEY=yes"; \
	else \
	  rm -rf "$(ANDON_HOME)"; \
	  if [ -f "$$key" ] || [ "$(DELETE_KEY)" = "yes" ]; then echo "removed $(ANDON_HOME), pseudonym key included (DELETE_KEY=yes)"; fi; \
	fi

maintenance: setup ## supplier-data retention (180 days after po_closed_date) and VACUUM for DATE (dag andon_maintenance)
	@test -n "$(DATE)" || (echo "usage: make maintenance DATE=YYYY-MM-DD"; exit 2)
	@$(RUN_DAG) andon_maintenance $(ANDON_HOME)/maintenance-$(DATE).log '{"day": "$(DATE)"}' $(DATE)

cluster-up: setup ## the local cluster (Postgres, S3 on SeaweedFS, Spark standalone, MLflow, Airflow) on loopback ports
	@$(PY) -m andon_cli.cluster up

cluster-down: ## stop what `make cluster-up` started (by its recorded PIDs)
	@$(PY) -m andon_cli.cluster down

cluster-status: ## which local cluster processes run
	@$(PY) -m andon_cli.cluster status

test-cluster: setup ## embedded vs cluster on one tiny world: identical silver and gold (needs make cluster-up)
	@$(PY) -m andon_cli.cluster status > /dev/null || { echo "the local cluster is not (fully) up: make cluster-up"; exit 1; }
	@$(PY) -m andon_cli.cluster wheel
	@ANDON_TEST_CLUSTER=1 $(VENV)/bin/pytest -m cluster tests/cluster -v -s -p no:cacheprovider --basetemp=$(ANDON_HOME)/test-cluster
