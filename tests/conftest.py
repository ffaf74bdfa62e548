"""Shared by every tier: the session fixtures (pseudonym key, test server, dbt manifest, Airflow home)
and the tier markers.

Tests live in tiers, one folder each, and each test is marked with its folder's name:
tests/unit (no database), tests/db (a real PostgreSQL, no Airflow run), tests/dags (DAG
integrity: the DagBag) and tests/e2e (real DAG runs). `pytest -m "not e2e"` runs the
first three. Helpers that tests share live in tests/support, never in a test module.

The server comes from WAREHOUSE_URL (or the same discovery `make demo` uses); tests
create databases named c360_test_* on it and drop them afterwards, so they never touch
the demo's data.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from customer360.config import PROJECT_ROOT
from customer360.devtools.airflow_env import airflow_env
from customer360.devtools.server import resolve_warehouse_url
from customer360.privacy.keys import ensure_local_key

# Airflow reads its configuration once, at first import: point it at a test home first,
# one per pytest-xdist worker (each migrates its own SQLite metadata database).
TEST_AIRFLOW_HOME = PROJECT_ROOT / ".local" / "test-airflow" / os.environ.get("PYTEST_XDIST_WORKER", "main")
os.environ.update(airflow_env(TEST_AIRFLOW_HOME))

TESTS_DIR = Path(__file__).resolve().parent
TIERS = ("unit", "db", "dags", "e2e")  # folders under tests/, and the markers pyproject.toml registers


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier, the folder it lives in; a test outside the tier folders is an error."""
    outside = []
    for item in items:
        path = Path(item.path).resolve()
        tier = path.relative_to(TESTS_DIR).parts[0] if path.is_relative_to(TESTS_DIR) else None
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
            item.add_marker(pytest.mark.xdist_group(_worker_group(item)))
        else:
            outside.append(item.nodeid)
    if outside:
        raise pytest.UsageError(f"tests outside the tier folders tests/{{{','.join(TIERS)}}}/: {sorted(set(outside))}")


def _worker_group(item: pytest.Item) -> str:
    """The unit pytest-xdist hands to one worker (`--dist loadgroup`): a test module, so its module
    fixtures (a built warehouse, a DAG run) are made once; and every test of the shared simulated
    company (tests/e2e/conftest.py) in one group, so the company is built once per session."""
    if "company" in getattr(item, "fixturenames", ()):
        return "company"
    return Path(item.path).resolve().relative_to(TESTS_DIR).as_posix()


@pytest.fixture(scope="session", autouse=True)
def pseudonym_key() -> Path | None:
    """Pseudonymised keys need a secret: without C360_PSEUDONYM_KEY the tests use a generated local one.

    Set up before the first test (not when this file is imported), for the session and the
    processes its tests start.
    """
    return ensure_local_key(say=lambda _: None)


@pytest.fixture(scope="session")
def server_url() -> str:
    return resolve_warehouse_url(say=lambda _: None)


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    from customer360.devtools.airflow_env import ensure_metadata_db

    ensure_metadata_db(TEST_AIRFLOW_HOME)
    return TEST_AIRFLOW_HOME
