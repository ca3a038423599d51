# quantq: `make run` starts everything on the embedded default; `make test` runs the whole suite.
# Both set up .venv/ from the pinned requirements.lock first, needing only Python 3.11+.

PYTHON ?= $(shell for p in python3.11 python3.12 python3.13 python3.14 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test test-fast bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "quantq needs Python 3.11 or newer on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@rm -rf quantq.egg-info
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: setup
	$(BIN)/quantq data load-samples || echo "sample data not loaded (see above); quantq runs without it"
	$(BIN)/quantq up

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not acceptance"

bench: setup
	$(BIN)/python bench/run_all.py

lint: setup
	$(BIN)/ruff check quantq tests bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
