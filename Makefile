# The two commands a new user needs: `make demo` and `make test`.
# Both create the virtual environment and install the pinned packages first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINTED := src dags bench tests

.PHONY: demo test test-fast lint bench docs docs-serve dbt-docs clean

$(STAMP): requirements.lock pyproject.toml
	@echo "setting up $(VENV) with the pinned packages (first time: a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m customer360.devtools.demo

# Two pytest workers (pytest-xdist): the whole-DAG test groups run side by side, each group
# on one worker (tests/conftest.py); TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup

test: $(STAMP)
	$(PYTEST)

# unit + db + dags: everything but the real DAG runs (tests/e2e)
test-fast: $(STAMP)
	$(PYTEST) -m "not e2e"

# ruff (lint and format) and mypy, as tests/unit/test_lint.py runs them in `make test`.
lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench
	$(PY) -m bench.ingest

# The documentation site (mkdocs, docs/ and mkdocs.yml) into site/, with strict link checks;
# docs-serve rebuilds it on every edit at http://127.0.0.1:8000.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

clean:
	rm -rf .local data reports site dbt_project/target dbt_project/logs
