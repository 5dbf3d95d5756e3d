# bnpipe — `make help` lists the targets. `make run` and `make test` set up first when needed.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha256sum | cut -c1-12)

# Offline hygiene for everything make starts.
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GX_ANALYTICS_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 3

.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast coverage lint format bench bench-references lock clean browser postgres

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "} {printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the pinned dependencies and bnpipe (uv if available, else pip)

# Bytecode is compiled at install: with PYTHONDONTWRITEBYTECODE set (as on CI
# machines) an uncompiled venv compiles TensorFlow on every import (~27 s, not ~8 s).
$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || python3.11 -m venv $(VENV) 2>/dev/null || python3 -m venv $(VENV)
	@if command -v uv >/dev/null 2>&1; then UV=uv; \
	elif $(PY) -m pip install -q "uv==$(UV_VERSION)" 2>/dev/null; then UV=$(VENV)/bin/uv; fi; \
	if [ -n "$$UV" ]; then \
	  $$UV pip install -q --compile-bytecode --python $(PY) -r requirements.lock && $$UV pip install -q --python $(PY) --no-deps -e .; \
	else \
	  $(PY) -m pip install -q -r requirements.lock && $(PY) -m pip install -q --no-deps -e .; \
	fi
	@rm -f $(VENV)/.installed-* && touch $@
	@echo "setup: $(VENV) ready"

run: setup ## the main job: compare plain vs bn on boston and iris at the notebook's defaults
	$(VENV)/bin/bnpipe run boston iris

test: setup lint browser postgres ## every test: lint, architecture contracts, unit, flow, e2e, faults and browser
	$(VENV)/bin/pytest

test-fast: setup ## the quick layer only (no TensorFlow training, no servers)
	$(VENV)/bin/pytest -m "not slow and not e2e"

# Every process the tests start measures itself too (coverage's patch = subprocess);
# the data files land in .test-output/coverage and are combined at the end.
coverage: setup lint browser postgres ## every test under coverage.py: line coverage of src/, flows/ and tasks/
	rm -rf .test-output/coverage && mkdir -p .test-output/coverage
	@status=0; $(VENV)/bin/coverage run -m pytest $(PYTEST_ARGS) || status=$$?; \
	  $(VENV)/bin/coverage combine -q && $(VENV)/bin/coverage report --sort=cover | tail -25; \
	  exit $$status

lint: setup ## ruff lint and format check, import-linter contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache  # a cache can outlive a moved module

# Browser tests (tests/e2e/test_ui.py) drive Debian's chromium through Playwright's
# executable_path: Playwright's own browser download cannot work offline.
browser: ## install Debian's chromium for the browser tests when it is missing (apt)
	@if [ -x "$${BNPIPE_CHROMIUM:-/usr/bin/chromium}" ]; then echo "browser: $$("$${BNPIPE_CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null)"; \
	else SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  echo "browser: installing Debian's chromium (apt-get)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  /usr/bin/chromium --version; fi

# The team stack's tests (tests/e2e/test_stack_postgres.py) start PostgreSQL servers
# from the distribution's packages (initdb, postgres in /usr/lib/postgresql/*/bin).
postgres: ## install Debian's postgresql for the team-stack tests when it is missing (apt)
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then echo "postgres: $$(ls -d /usr/lib/postgresql/*/bin/initdb | tail -1)"; \
	else SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  echo "postgres: installing Debian's postgresql (apt-get)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	  ls -d /usr/lib/postgresql/*/bin/initdb; fi

format: setup ## apply ruff formatting and import sorting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup ## training benchmark: notebook fit vs tf.data fit vs the compiled engine
	$(PY) bench/bench_training.py

bench-references: setup ## what the baseline and the linear model cost a run, beside training
	$(PY) bench/bench_references.py

lock: ## re-pin requirements.lock from pyproject.toml (keeps the current pins where they still fit)
	@test -x $(VENV)/bin/uv || $(PY) -m pip install -q "uv==$(UV_VERSION)"
	@grep -v '^#' requirements.lock > $(VENV)/lock.tmp; \
	  $(VENV)/bin/uv pip compile pyproject.toml --extra dev --python $(PY) --no-header -q -o $(VENV)/lock.tmp && \
	  (echo "# Pinned, complete dependency set (runtime + dev) for Python 3.11."; \
	   echo "# Regenerate after editing pyproject.toml: make lock"; \
	   cat $(VENV)/lock.tmp) > requirements.lock; rm -f $(VENV)/lock.tmp

clean: ## remove local state: caches, MLflow store, Prefect home (not .venv)
	rm -rf .bnpipe mlflow.db mlartifacts
