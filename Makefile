# relaygate: `make run` starts a demo gateway, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test fuzz lint services bench soak sigkill clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/relaygate serve --demo

lint: $(STAMP)
	$(BIN)/ruff check .

# Start the database services the suite uses when they are down (CI machines start them too).
services:
	@bash scripts/ensure-services.sh

test: $(STAMP) services
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The fuzzers of tests/fuzz with FUZZ_EXAMPLES examples per property and per API operation (make test
# runs them with a small fixed budget); they start their own gateway and need no database service.
FUZZ_EXAMPLES ?= 300
fuzz: $(STAMP)
	RELAYGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -o timeout=0 tests/fuzz tests/unit/test_fuzz_regressions.py

bench: $(STAMP)
	$(BIN)/python -m bench

# 42,000 mixed requests against one gateway: no gateway 5xx, nothing leaked, every request accounted for
soak: $(STAMP)
	$(BIN)/python -m bench.soak

# SIGKILL under load, journal off then on: usage records lost (bench/SOAK.md)
sigkill: $(STAMP)
	$(BIN)/python -m bench.sigkill

clean:
	rm -rf $(VENV) data .pytest_cache
