# `make demo` and `make test` do all set-up themselves: a virtualenv in .venv and Azurite in node_modules.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test lint pytest bench clean

demo: $(VENV)/.installed
	$(BIN)/python demo/demo.py

test: lint pytest

lint: $(VENV)/.installed
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

pytest: $(VENV)/.installed node_modules/.installed
	$(BIN)/python -m pytest

$(VENV)/.installed: setup.cfg pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

bench: $(VENV)/.installed
	$(BIN)/python bench/track_prefix.py 10000
	$(BIN)/python bench/init_meta.py 100000

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache *.egg-info
