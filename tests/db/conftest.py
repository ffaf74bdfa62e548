"""The database tier: every test that needs the warehouse gets its own database on the test server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from customer360.config import Settings
from customer360.db.bootstrap import prepare_warehouse
from customer360.devtools.server import drop_database
from tests.support.databases import make_test_database


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
        {
            **os.environ,
            "WAREHOUSE_URL": warehouse_url,
            "C360_DATA_DIR": str(tmp_path / "data"),
            "C360_REPORTS_DIR": str(tmp_path / "reports"),
        }
    )
    prepare_warehouse(settings)
    return settings
