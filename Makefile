# The two commands a new user needs: `make demo` and `make test`.
# Both create the virtual environment and install the pinned packages first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast bench dbt-docs clean

$(STAMP): requirements.lock pyproject.toml
	@echo "setting up $(VENV) with the pinned packages (first time: a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m customer360.devtools.demo

test: $(STAMP)
	$(PY) -m pytest

# unit + db + dags: everything but the real DAG runs (tests/e2e)
test-fast: $(STAMP)
	$(PY) -m pytest -m "not e2e"

bench: $(STAMP)
	$(PY) -m bench
	$(PY) -m bench.ingest

clean:
	rm -rf .local data reports dbt_project/target dbt_project/logs
