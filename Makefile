# VIR Exchange — every developer and operator task starts here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
AGENCIES ?= TG,ML
# Type-checked besides shared/: the services' domains, composition roots and event handlers.
TYPED := services/registry/domain services/matching/domain services/notifications/domain \
	services/registry/bootstrap.py services/matching/bootstrap.py services/notifications/bootstrap.py \
	services/registry/dependencies.py services/matching/dependencies.py \
	services/notifications/dependencies.py \
	services/registry/handlers/peer_events.py services/matching/handlers.py \
	services/notifications/handlers.py

.PHONY: run test prepare lint format bench venv unit integration clean compose-test chaos

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

## Start the demo network (embedded SQLite + in-process broker unless DATABASE_URL/AMQP_URL are set).
run: venv
	$(BIN)/vir network --agencies $(AGENCIES)

## The whole suite: lint, unit, integration (real RabbitMQ and PostgreSQL), end-to-end, browser.
test: venv prepare lint
	$(BIN)/pytest -q tests

## Start PostgreSQL/RabbitMQ, enable the RabbitMQ plugins, install Chromium: what the tests need.
prepare:
	bash tests/support/prepare-machine.sh

## The docker compose network end to end (tests/compose/run.sh: engine, images, pilot, restart).
compose-test: venv
	bash tests/compose/run.sh

## Whole-network fault injection (tests/chaos): every service in its own process on a private
## RabbitMQ node and PostgreSQL cluster, every fault kind, >= 10,000 events; var/chaos/<run>/.
SEED ?= 1
chaos: venv prepare
	$(BIN)/python -m tests.chaos --seed $(SEED) --events 10000

unit: venv
	$(BIN)/pytest -q tests/unit

integration: venv prepare
	$(BIN)/pytest -q tests/integration

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared
	$(BIN)/mypy --follow-imports=silent $(TYPED)

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Benchmarks: one JSON per benchmark under bench/results/, and a table.
bench: venv prepare
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
