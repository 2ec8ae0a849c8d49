# retailsim — `make demo` runs the flash-sale scenario; `make test` runs every check CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo dev test lint typecheck pytest services bench bench-api clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

# The development tools (pytest, ruff, mypy, locust, schemathesis); then `. .venv/bin/activate`.
dev: $(STAMP)

demo: $(VENV)/.installed
	$(BIN)/retailsim run flash-sale --seed 7 --out retailsim-out/flash-sale-7
	@echo "Report: $(CURDIR)/retailsim-out/flash-sale-7/report.html"
	@echo "For retailsim on your PATH: . .venv/bin/activate"

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy retailsim

pytest: $(STAMP) services
	$(BIN)/python -m pytest -q

# Start the local PostgreSQL cluster on $(PG_PORT) when it is installed but stopped (the contract suite
# uses it); where PostgreSQL is not installed this does nothing and its tests skip. Then Debian's Chromium
# for the browser test of /ops (Playwright drives /usr/bin/chromium and never downloads a browser of its
# own): installed as root where apt-get exists and it is missing; elsewhere that test skips.
PG_PORT ?= 5432
services:
	@if ! command -v pg_ctlcluster >/dev/null 2>&1; then \
		echo "services: PostgreSQL not installed; its tests will skip"; \
	elif command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p $(PG_PORT); then \
		:; \
	else \
		pg_lsclusters -h | awk '$$3 == "$(PG_PORT)" && $$4 != "online" {print $$1, $$2}' | \
		while read version cluster; do \
			echo "services: starting PostgreSQL $$version/$$cluster"; \
			pg_ctlcluster --skip-systemctl-redirect $$version $$cluster start \
				|| echo "services: could not start PostgreSQL $$version/$$cluster"; \
		done; \
		if command -v pg_isready >/dev/null 2>&1; then pg_isready -q -t 15 -h 127.0.0.1 -p $(PG_PORT) \
			|| echo "services: PostgreSQL is not accepting connections on $(PG_PORT)"; fi; \
	fi
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "services: installing Debian's chromium for the browser test"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get install -y -q chromium >/dev/null 2>&1 \
			|| { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; } \
			|| echo "services: could not install chromium; the browser test will skip"; \
	fi

test: lint typecheck pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_simulation.py

# POST /v1/orders beside GET /healthz: SQLite 1 worker, PostgreSQL 1 and 2 workers (BENCH_SECONDS per phase).
BENCH_SECONDS ?= 10
bench-api: $(STAMP) services
	$(BIN)/python benchmarks/bench_api.py --seconds $(BENCH_SECONDS)

clean:
	rm -rf retailsim-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
