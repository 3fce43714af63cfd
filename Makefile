# `make demo` and `make test` do all set-up themselves: a virtualenv in .venv and Azurite in node_modules.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test lint pytest bench clean git-lfs

demo: $(VENV)/.installed
	$(BIN)/python demo/demo.py

test: lint pytest

lint: $(VENV)/.installed
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

pytest: $(VENV)/.installed node_modules/.installed git-lfs
	$(BIN)/python -m pytest

$(VENV)/.installed: setup.cfg pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The tests run lfs-meta's hooks beside git-lfs's: git-lfs comes from the system's package manager.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
git-lfs:
	@command -v git-lfs >/dev/null || $(SUDO) apt-get install -y -q git-lfs \
		|| { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q git-lfs; }

bench: $(VENV)/.installed
	$(BIN)/python bench/track_prefix.py 10000
	$(BIN)/python bench/init_meta.py 100000

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache *.egg-info
