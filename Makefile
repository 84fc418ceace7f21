# The README's two commands are `make run` and `make test`; both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-servers lint format config-table bench bench-tools migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The README's configuration table, rendered from app/config/schema.py (a unit test fails while they differ).
config-table: $(STAMP)
	$(BIN)/python -m app.config.reference --write

# Programs the tests start themselves, from Debian's packages: tinyproxy and dante (proxy tests),
# Chromium and its driver (dashboard test), promtool (the /metrics lint; Debian ships it with prometheus,
# whose server is never started).
test-servers:
	@command -v tinyproxy >/dev/null && { command -v danted >/dev/null || test -x /usr/sbin/danted; } \
	  && command -v chromium >/dev/null && command -v chromedriver >/dev/null && command -v promtool >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    tinyproxy-bin dante-server chromium chromium-driver prometheus; }

# Three pytest-xdist workers: most e2e time is spent waiting on servers, so three share two cores well.
test: lint test-servers
	$(BIN)/pytest -n 3 --dist worksteal --durations=20

# wrk, from Debian's packages, drives the HTTP figures of the window benchmark. The run with --cluster repeats itself
# on a throwaway Redis Cluster (redis-server and redis-cli, as the tests use).
bench-tools:
	@command -v wrk >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq wrk; }

bench: $(STAMP) bench-tools
	$(BIN)/python -m benchmarks.pipeline_throughput
	$(BIN)/python -m benchmarks.pipeline_throughput --rate 10000 --seconds 15
	$(BIN)/python -m benchmarks.pipeline_throughput --rate 10000 --seconds 15 --query-clients 16 --query-period 5m --cluster
	$(BIN)/python -m benchmarks.window_queries
	$(BIN)/python -m benchmarks.candle_queries
	$(BIN)/python -m benchmarks.history_storage
	$(BIN)/python -m benchmarks.crash_replay
	$(BIN)/python -m benchmarks.scale_out
	$(BIN)/python -m benchmarks.wide_market
	$(BIN)/python -m benchmarks.wide_market --rate 6000

migrate: $(STAMP)
	$(BIN)/flask --app wsgi marketflow migrate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
