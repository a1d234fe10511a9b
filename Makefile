# Two commands matter: `make run` and `make test`. Both create or update .venv from uv.lock,
# so every machine installs exactly the versions the suite was last run against.
PYTHON     ?= python3
PORT       ?= 8765
SEEDS      ?= 200
VENV       := .venv
BIN        := $(VENV)/bin
UV_VERSION := 0.13.9
UV_HOME    := .uv
UV         := $(UV_HOME)/bin/uv

# uv uses the interpreter it is given and never downloads one.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

RUN_EXTRAS := --extra cli --extra server
DEV_EXTRAS := $(RUN_EXTRAS) --extra dev --extra bench

.PHONY: run test lint typecheck pytest bench bench-smoke demo upgrade lock sync-run sync-dev simulate clean vendor

# uv itself is pinned and lives in its own small venv beside the project's.
$(UV):
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# `run` adds what the monitor needs and leaves anything else in place; `dev` makes the
# venv exactly the locked development set. --locked fails when pyproject.toml and uv.lock
# disagree, instead of silently resolving something untested.
sync-run: | $(UV)
	@$(UV) sync --quiet --locked --inexact --python $(PYTHON) $(RUN_EXTRAS)

sync-dev: | $(UV)
	@$(UV) sync --quiet --locked --python $(PYTHON) $(DEV_EXTRAS)

run: sync-run
	$(BIN)/rebellion serve --port $(PORT)

demo: sync-run
	$(BIN)/rebellion demo --serve --port $(PORT)

lint: sync-dev
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: sync-dev
	$(BIN)/mypy

pytest: sync-dev
	@$(BIN)/python scripts/ensure_redis.py
	@$(BIN)/python scripts/ensure_system.py
	$(BIN)/python -m pytest

test: lint typecheck pytest

bench: sync-dev
	$(BIN)/python benchmarks/run.py --write benchmarks/RESULTS.md

bench-smoke: sync-dev
	$(BIN)/python benchmarks/run.py --smoke

# Refresh the lock to today's newest releases, then prove them with the whole suite.
upgrade: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(MAKE) test

lock: | $(UV)
	$(UV) lock --python $(PYTHON)

# Download the pinned dashboard JavaScript again with npm, verify it and rewrite the checksums.
vendor: sync-dev
	$(BIN)/python scripts/vendor_js.py

clean:
	rm -rf $(VENV) $(UV_HOME) .mypy_cache .pytest_cache .ruff_cache build src/*.egg-info

# Deterministic simulation: N seeded fault schedules against the policies, queue and cache.
simulate: sync-dev
	$(BIN)/python -m rebellion.simulation --seeds $(SEEDS)
