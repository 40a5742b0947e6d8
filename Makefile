# The two commands: `make demo` and `make test`. Everything else is set up on the way.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

-include .env
export UNDERDOG_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/underdog
export UNDERDOG_REDIS_URL ?= redis://127.0.0.1:6379/0
export UNDERDOG_REDIS_PREFIX ?= underdog
export DAGSTER_PG_URL ?= postgresql+psycopg2://postgres@127.0.0.1:5432/underdog_dagster
export DAGSTER_HOME := $(CURDIR)

.PHONY: demo test test-timescale test-tools ui bench install services db lint clean workers

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch first and alone, pinned: the CPU build; a looser pin pulls a multi-GB CUDA build.
$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

services: install
	PYTHON=$(PY) scripts/services.sh

db: services
	$(VENV)/bin/underdog db create
	$(VENV)/bin/underdog db upgrade

demo: services
	$(VENV)/bin/underdog demo

# PGlite + TimescaleDB (npm) runs the TimescaleDB side of the migrations in the tests.
NODE_DEPS := tests/timescale/node_modules/.package-lock.json
$(NODE_DEPS): tests/timescale/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/timescale --no-audit --no-fund; \
	else echo "npm not found: the TimescaleDB (PGlite) tests will be skipped"; fi

# chromium, promtool, docker-compose: apt-get installs them when missing and run as root.
test-tools:
	@scripts/test_tools.sh

test: services $(NODE_DEPS) test-tools
	$(PY) -m pytest -q

# The whole suite again with its databases on a TimescaleDB server, UNDERDOG_TEST_SERVER
# (postgresql://USER[:PASSWORD]@HOST:PORT: the compose one on 127.0.0.1:5433, or
# ../shared/timescaledb/start.sh's on 5544). Refuses a server without TimescaleDB preloaded,
# where the TimescaleDB tests would only skip.
test-timescale: services $(NODE_DEPS) test-tools
	@test -n "$$UNDERDOG_TEST_SERVER" || { echo "set UNDERDOG_TEST_SERVER to a TimescaleDB server (postgresql://USER@HOST:PORT)" >&2; exit 2; }
	@$(PY) -c 'import sys, psycopg; c = psycopg.connect(sys.argv[1].rstrip("/") + "/postgres", connect_timeout=5); sys.exit(None if "timescaledb" in c.execute("SHOW shared_preload_libraries").fetchone()[0] else "UNDERDOG_TEST_SERVER has no TimescaleDB preloaded")' "$$UNDERDOG_TEST_SERVER"
	$(PY) -m pytest -q

ui: db
	@echo "Dagster UI on http://127.0.0.1:3000 (webserver + daemon; Ctrl-C stops both)"
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

# N Celery workers (underdog@w1 ... underdog@wN) for UNDERDOG_EXECUTOR=celery runs, in the
# foreground until Ctrl-C; on other machines: `underdog workers start` with the same settings.
N ?= 2
workers: db
	@trap 'kill 0' INT TERM; for i in $$(seq 1 $(N)); do \
	  UNDERDOG_EXECUTOR=celery $(VENV)/bin/underdog workers start --name underdog@w$$i & done; wait

bench: db  # each prints its figures, then one JSON line
	$(PY) bench/ingest.py --rows 1000000
	$(PY) bench/features.py
	$(PY) bench/agent.py

# import-linter: the layering contracts of pyproject.toml's [tool.importlinter].
lint: install
	$(VENV)/bin/ruff check underdog underdog_cli underdog_assets underdog_streaming tests bench
	PYTHONPATH=$(CURDIR) $(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) storage history logs schedules
