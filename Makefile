# The two set-up commands of the README: `make run` and `make test`.
.PHONY: run test deps lint typecheck unit bench

deps:
	scripts/install-deps.sh

run: deps
	scripts/quickstart.sh

lint:
	ruff check .

typecheck:
	mypy regproxy

test: deps
	ruff check .
	mypy regproxy
	python3 -m pytest

unit:
	python3 -m pytest tests/unit

bench: deps
	python3 bench/run_all.py
