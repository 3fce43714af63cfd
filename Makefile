# `make demo` and `make test` do all set-up themselves: a virtualenv in .venv and Azurite in node_modules.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test lint pytest bench clean git-lfs git-annex

demo: $(VENV)/.installed
	$(BIN)/python demo/demo.py

test: lint pytest

lint: $(VENV)/.installed
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

pytest: $(VENV)/.installed node_modules/.installed git-lfs .venv-gen3/.installed
	$(BIN)/python -m pytest

$(VENV)/.installed: setup.cfg pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -e '.[inventory]'
	touch $@

# gen3-tracker runs on Python 3.12 only: found on PATH or under pyenv. Without one, .venv-gen3 holds the
# gen3 SDK alone (on $(PYTHON)) and the g3t tests say they are skipped and why.
PYTHON312 := $(shell for p in python3.12 $(HOME)/.pyenv/versions/3.12*/bin/python3.12; do \
	"$$p" -c '' 2>/dev/null && { command -v "$$p"; break; }; done)
.venv-gen3/.installed: requirements-gen3.txt
	rm -rf .venv-gen3
	$(or $(PYTHON312),$(PYTHON)) -m venv .venv-gen3
	.venv-gen3/bin/python -m pip install --quiet --upgrade pip
	.venv-gen3/bin/python -m pip install --quiet $(if $(PYTHON312),-r requirements-gen3.txt,gen3==4.28.5)
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The tests run lfs-meta's hooks beside git-lfs's: git-lfs comes from the system's package manager.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
git-lfs:
	@command -v git-lfs >/dev/null || $(SUDO) apt-get install -y -q git-lfs \
		|| { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q git-lfs; }

# Benchmarks against peers (not part of the tests): the peers get a virtualenv of their own, so DVC's
# pins never touch lfs-meta's; git-annex comes from the system's package manager. Takes about an hour.
bench: $(VENV)/.installed .venv-bench/.installed git-annex
	$(BIN)/python bench/run_all.py

.venv-bench/.installed: requirements-bench.txt
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet --upgrade pip
	.venv-bench/bin/python -m pip install --quiet -r requirements-bench.txt
	touch $@

git-annex:
	@command -v git-annex >/dev/null || $(SUDO) apt-get install -y -q git-annex \
		|| { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q git-annex; }

clean:
	rm -rf $(VENV) .venv-bench .venv-gen3 node_modules .mypy_cache .ruff_cache .pytest_cache *.egg-info
