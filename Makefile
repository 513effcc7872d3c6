# `make run` runs the service; `make test` passes the tests. Both set up .venv first when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# `make test` runs pytest in this many processes (pytest-xdist), a file per process at a time: most slow
# tests wait on processes and sockets, not the CPU. Each process flushes a Redis database of its own
# (tests/conftest.py: REDIS_URL's database, minus the process's number). `make test PYTEST_WORKERS=0`
# runs in one process.
PYTEST_WORKERS ?= 4

.PHONY: run test unit lint bench chaos demo clean

# `make bench` runs the receiver and the workers on RabbitMQ too where one answers at 127.0.0.1:5672 (a vhost
# of its own, bench/rabbitmq_vhost.py); empty (a fresh machine): those runs are skipped. Evaluated only there.
BENCH_AMQP_URL ?= $(shell $(PY) bench/rabbitmq_vhost.py)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m worker run

demo: $(STAMP)
	$(PY) -m worker demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The 15 slowest tests are listed after each run: the suite must stay well under 15 minutes.
test: lint
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=15

unit: $(STAMP)
	$(PY) -m pytest tests/unit

bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { echo "make bench: installing wrk (Debian's package)"; \
		apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }; }
	$(PY) bench/webhooks.py --rounds 3 --duration 10 --sentinel $(if $(BENCH_AMQP_URL),--broker $(BENCH_AMQP_URL))
	$(PY) bench/store.py --cluster
	$(PY) bench/pipeline.py
	$(PY) bench/scaling.py --repeat 3 --broker store $(if $(BENCH_AMQP_URL),--broker $(BENCH_AMQP_URL))
	$(PY) bench/bootstrap.py
	$(PY) bench/dry_run.py
	$(PY) bench/analytics.py
	$(PY) bench/points.py
	@test -x /usr/bin/chromium || { echo "make bench: installing chromium (Debian's package)"; \
		apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; } || true; }
	$(PY) bench/widget.py
	$(PY) bench/round_trips.py

# 10,000 webhooks while pool children, the worker and Redis are killed and Wix fails 30% of calls;
# prints what was counted once (python -m worker.dev.chaos --help for the knobs).
chaos: $(STAMP)
	$(PY) -m worker.dev.chaos

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
