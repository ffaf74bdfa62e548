"""Shared fixtures: every test that needs the warehouse gets its own database.

The server comes from WAREHOUSE_URL (or the same discovery `make demo` uses);
tests create databases named c360_test_* on it and drop them afterwards, so
they never touch the demo's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from customer360.config import PROJECT_ROOT, Settings, with_database
from customer360.db.bootstrap import prepare_warehouse
from customer360.devtools.airflow_env import airflow_env
from customer360.devtools.server import drop_database, ensure_database, resolve_warehouse_url
from customer360.privacy.keys import ensure_local_key

# Airflow reads its configuration once, at first import: point it at a test home first.
TEST_AIRFLOW_HOME = PROJECT_ROOT / ".local" / "test-airflow"
os.environ.update(airflow_env(TEST_AIRFLOW_HOME))


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


def make_test_database(server_url: str, label: str) -> str:
    url = with_database(server_url, f"c360_test_{label}_{uuid.uuid4().hex[:8]}")
    ensure_database(url)
    return url


@pytest.fixture
def warehouse_url(server_url: str, request) -> Iterator[str]:
    label = "".join(ch for ch in request.node.name.lower() if ch.isalnum())[:20]
    url = make_test_database(server_url, label)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def warehouse_settings(warehouse_url: str, tmp_path) -> Settings:
    settings = Settings.from_env(
        {**os.environ, "WAREHOUSE_URL": warehouse_url, "C360_DATA_DIR": str(tmp_path / "data"),
         "C360_REPORTS_DIR": str(tmp_path / "reports")}
    )
    prepare_warehouse(settings)
    return settings


@pytest.fixture(scope="session")
def dbt_manifest() -> Path:
    """The manifest Cosmos renders dbt tasks from, compiled once per test session."""
    from customer360.orchestration.dbt import compile_manifest

    return compile_manifest()


@pytest.fixture(scope="session")
def airflow_home(dbt_manifest) -> Path:
    from customer360.devtools.airflow_env import ensure_metadata_db

    ensure_metadata_db(TEST_AIRFLOW_HOME)
    return TEST_AIRFLOW_HOME
