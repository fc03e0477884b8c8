# The two set-up commands of the README: `make run` and `make test`.
#
# Both build the project's virtual environment .venv/ from the lock (requirements/*.txt, see
# scripts/install-deps.sh) and run everything from it; nothing goes into the system interpreter.
# The venv is made with `python3` from PATH (or `make PYTHON=/path/to/python3.11 ...`).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

# Resolved before PATH below puts the venv first.
PYTHON ?= $(shell command -v python3)
export PYTHON
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
# The venv's commands first; sbin last, for tools such as nginx under a minimal PATH.
export PATH := $(BIN):$(PATH):/usr/local/sbin:/usr/sbin:/sbin

.PHONY: run test deps deps-runtime deps-test deps-dev lint format typecheck pytest unit coverage bench shell lock clean

run: deps-runtime
	scripts/quickstart.sh

# Everything, as CI runs it (.ci/run).
test: deps-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

deps: deps-test
deps-runtime deps-test deps-dev:
	scripts/install-deps.sh $(@:deps-%=%)

lint: deps-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: deps-test
	$(BIN)/ruff format .

# mypy --strict over regproxy/, tests/ and bench/ (pyproject.toml [tool.mypy]).
typecheck: deps-test
	$(BIN)/mypy

pytest: deps-test
	$(BIN)/python -m pytest

unit: deps-test
	$(BIN)/python -m pytest tests/unit

# pytest with branch coverage of regproxy/ ([tool.coverage] in pyproject.toml); about twice the
# CPU of a plain run, so not part of `make test`. Fails under the floor ([tool.coverage.report]
# fail_under), which only rises (tests/unit/test_coverage_floor.py).
coverage: deps-test
	$(BIN)/python -m pytest --cov --cov-report=term

bench: deps-test
	$(BIN)/python bench/run_all.py

# A shell with the venv active: `regproxy`, `pytest`, `ruff` and `mypy` on PATH. `exit` leaves it.
shell: deps-dev
	@echo "regproxy's venv ($(VENV)) is active; exit leaves it"
	@bash --rcfile $(BIN)/activate -i

# Regenerate the lock from pyproject.toml, keeping the pins that still fit;
# `make lock UPGRADE=1` moves every pin to the newest release the ranges admit.
lock: deps-dev
	scripts/lock.sh $(if $(UPGRADE),--upgrade)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
