# The two set-up commands of the README: `make install`, then `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test test-fast lint format bench clean

install:
	bash scripts/install-system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/va --version

test:
	$(BIN)/python -m pytest

test-fast:
	$(BIN)/python -m pytest -m "not slow"

lint:
	$(BIN)/ruff check voice_agent_cli tests
	$(BIN)/ruff format --check voice_agent_cli tests
	$(BIN)/mypy

format:
	$(BIN)/ruff format voice_agent_cli tests
	$(BIN)/ruff check --fix voice_agent_cli tests

# Latency benchmarks (docs/bench.md), e.g.
#   make bench BENCH_ARGS="chat gemini -n 50 --budget llm_ttft=1500 --compare bench.json"
BENCH_ARGS ?=
bench:
	$(BIN)/va bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
