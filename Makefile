# Leadboard: `make run` starts the app with demo data; `make test` runs every test group it can.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP_STAMP := $(VENV)/.app-installed
TEST_STAMP := $(VENV)/.test-installed
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_LEADS ?= 500
export LEADBOARD_INSTANCE ?= $(CURDIR)/instance

.PHONY: run test services screenshots bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(APP_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@ $(APP_STAMP)

run: export BASE_URL ?= http://$(HOST):$(PORT)
run: $(APP_STAMP)
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app seed-demo --if-empty --leads $(DEMO_LEADS)
	@echo "Leadboard is starting on http://$(HOST):$(PORT) with a worker beside it (Ctrl+C stops both)."
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m app.devserver

# Starts PostgreSQL and Redis and installs Chromium where it can. Outside CI a failure only
# means those test groups are skipped (pytest says which and why); with
# LEADBOARD_REQUIRE_SERVICES=1 (as .ci/run sets) a missing service fails the run.
services:
	@scripts/services up || [ "$$LEADBOARD_REQUIRE_SERVICES" != "1" ] || { echo "Required services are missing." >&2; exit 1; }

# Two processes by default (tests/conftest.py per_worker gives each its own databases); 0: one.
PYTEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist worksteal)

test: $(TEST_STAMP) services
	$(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

# Regenerates the README screenshots from demo data through the browser tests.
screenshots: $(TEST_STAMP) services
	LEADBOARD_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/browser -k screenshot $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python bench/bench_pages.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache
