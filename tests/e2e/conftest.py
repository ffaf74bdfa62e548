"""The simulated company tests/e2e share, built once per session (tests/support/company.py).

A DAG run costs about a minute whatever the company's size, so the end-to-end checks, the
erasure test and the fault test's undisturbed reference share these two runs rather than
each simulating and building a company of their own (docs/decisions.md, "One company for
the end-to-end tests").

The built warehouse is read, never changed: a test that changes a warehouse (a late broken
delivery, a failed gate, an erasure) works on a copy (tests/support/warehouses.py), and the
fault test builds its own from a copy of the landing files.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from customer360.devtools.server import drop_database
from tests.support.company import Company, build_company
from tests.support.warehouses import new_warehouse


@pytest.fixture(scope="session")
def company(server_url, tmp_path_factory, airflow_home) -> Iterator[Company]:
    warehouse = new_warehouse(server_url, tmp_path_factory.mktemp("company"), "company", airflow_home)
    try:
        yield build_company(warehouse)
    finally:
        drop_database(warehouse.url)
