# cyber-bordereaux — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

INPUT ?= sample_data
OUTPUT ?= output
MONTH ?=  # empty: the command line picks the latest real YYYY-MM month folder (2026-13 is not one)
LANG_OUT ?= en
ENGINE ?= pandas
SCHEDULER ?=
WORKER_MEMORY ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint format typecheck bench bench-scale sample clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with its dev tools

run: $(STAMP) ## Run a month: make run [INPUT=sample_data] [MONTH=latest] [OUTPUT=output] [LANG_OUT=en|ja] [ENGINE=pandas|dask] [SCHEDULER=tcp://host:8786] [WORKER_MEMORY=6GiB]
	$(BIN)/python -m pipeline run --input $(INPUT) $(if $(MONTH),--month $(MONTH)) --output $(OUTPUT) --lang $(LANG_OUT) --engine $(ENGINE) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(WORKER_MEMORY),--worker-memory $(WORKER_MEMORY))

TEST_WORKERS ?= auto
test: $(STAMP) ## Run the whole test suite over the cores: make test [TEST_WORKERS=auto|0|4]
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --maxprocesses 4

lint: $(STAMP) ## ruff (lint and format check) and mypy
	$(BIN)/ruff check pipeline schemas tests
	$(BIN)/ruff format --check pipeline schemas tests
	$(BIN)/mypy

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format pipeline schemas tests
	$(BIN)/ruff check --fix pipeline schemas tests

bench: $(STAMP) ## Benchmark a 100,000-policy book against the Excel I/O floor
	$(BIN)/python -m pipeline.bench

SCALE_LINES ?= 2000000
WHOLE_RUNS ?=
WHOLE_RUN_ENGINES ?= pandas dask
bench-scale: $(STAMP) ## The claims engine on a LocalCluster over a Parquet market book: make bench-scale [SCALE_LINES="2000000 5000000"] [WHOLE_RUNS="340000 680000"] [WHOLE_RUN_ENGINES=pandas]
	$(BIN)/python -m pipeline.bench.scale --lines $(SCALE_LINES) --whole-runs $(WHOLE_RUNS) --engines $(WHOLE_RUN_ENGINES)

sample: $(STAMP) ## Regenerate sample_data/ with the deterministic generator
	$(BIN)/python -m pipeline sample --output sample_data --coverholders

clean: ## Remove the virtualenv, outputs and caches
	rm -rf $(VENV) output .pytest_cache .mypy_cache .ruff_cache
