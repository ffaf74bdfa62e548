"""Data-quality suites built from the source contracts (no database; the gate runs in tests/db/test_quality.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from customer360.ingestion.contracts import SOURCES
from customer360.quality.suites import RAW_SUITE_NAMES, raw_suite, resolve_suite_names

AS_OF = datetime(2025, 6, 2, tzinfo=UTC)  # the day after the rows valid_row makes


# --- suites --------------------------------------------------------------------------


def test_suites_are_built_from_contracts_with_severity_and_owner():
    for contract in SOURCES.values():
        spec = raw_suite(contract, AS_OF, latest_batch_id="b1")
        checks = {e.meta["check"]: e.meta for e in spec.suite.expectations}
        for col in contract.required_columns:
            assert checks[f"not_null:{col}"]["severity"] == "error"
        assert f"not_in_future:{contract.event_time}" in checks
        assert any(c.startswith("unique_in_latest_batch:") for c in checks)
        assert all(
            m["severity"] in ("error", "warn") and m["owner"] in ("source", "identity", "marts", "ml")
            for m in checks.values()
        )
    assert resolve_suite_names("raw") == list(RAW_SUITE_NAMES)
    with pytest.raises(ValueError):
        resolve_suite_names(["nope"])
