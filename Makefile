# Two commands matter: `make run` and `make test`. Both create or reuse .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_RUN  := $(VENV)/.stamp-run
STAMP_DEV  := $(VENV)/.stamp-dev

.PHONY: run test lint typecheck pytest bench bench-smoke demo clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[cli,server]'
	@touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[cli,server,dev,bench]'
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/rebellion serve

demo: $(STAMP_RUN)
	$(BIN)/rebellion demo --serve

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: $(STAMP_DEV)
	$(BIN)/mypy

pytest: $(STAMP_DEV)
	@$(BIN)/python scripts/ensure_redis.py
	@$(BIN)/python scripts/ensure_chromium.py
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: $(STAMP_DEV)
	$(BIN)/python benchmarks/run.py --write benchmarks/RESULTS.md

bench-smoke: $(STAMP_DEV)
	$(BIN)/python benchmarks/run.py --smoke

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build src/*.egg-info
