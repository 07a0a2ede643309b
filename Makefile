# The two set-up commands: `make run` and `make test`. Everything else is optional.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export ROUTER_HOME ?= $(CURDIR)/var

.PHONY: run test install lint bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/router train --if-empty --activate
	@echo ""
	@echo "  API docs:   http://127.0.0.1:8080/docs   (OpenAPI: /openapi.json)"
	@echo "  A token:    $(BIN)/router tokens create --role admin"
	@echo "  A ticket:   curl -s -X POST http://127.0.0.1:8080/v1/tickets \\"
	@echo "                -H 'Authorization: Bearer <token>' -H 'Content-Type: application/json' \\"
	@echo "                -d '{\"id\": \"1\", \"subject\": \"Card stolen\", \"body\": \"Someone took my card, please block it\"}'"
	@echo ""
	$(BIN)/router serve --host 127.0.0.1 --port 8080

test: install
	$(BIN)/python -m pytest

# Schemathesis against a real `router serve` on SQLite and PostgreSQL, as in `make test` but with a random
# seed (printed; `make fuzz FUZZ_SEED=<seed>` repeats a run) and five times the cases per operation.
FUZZ_SEED ?= random
FUZZ_EXAMPLES ?= 100
fuzz: install
	FUZZ_SEED=$(FUZZ_SEED) FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_TIMEOUT_S=1800 $(BIN)/python -m pytest -s tests/test_schemathesis.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/bench_model.py
	$(BIN)/python bench/bench_thresholds.py
	$(BIN)/python bench/bench_decide.py
	$(BIN)/python bench/bench_http.py
	$(BIN)/python bench/bench_delivery.py
	$(BIN)/python bench/swap_under_load.py
	$(BIN)/python bench/drift_power.py
	$(BIN)/python bench/novelty.py

clean:
	rm -rf $(VENV) var .pytest_cache
