"""The data interval and the scoring cut-off, resolved from Airflow's dates or explicit params (no DagBag)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from customer360.orchestration.interval import DataInterval, IntervalError, resolve_interval


def test_the_interval_comes_from_airflow_or_explicit_params():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    end = datetime(2025, 1, 2, tzinfo=UTC)
    assert resolve_interval({}, start, end) == DataInterval(start, end)
    explicit = resolve_interval({"interval_start": "2024-01-01", "interval_end": "2026-01-01"}, start, end)
    assert explicit.run_key == "20240101-20260101"
    with pytest.raises(IntervalError, match="no data interval"):
        resolve_interval({}, None, None)
    with pytest.raises(IntervalError, match="both"):
        resolve_interval({"interval_start": "2024-01-01"}, start, end)
    with pytest.raises(IntervalError, match="not a date"):
        resolve_interval({"interval_start": "yesterday", "interval_end": "2024-01-02"}, start, end)
    with pytest.raises(IntervalError, match="end must be after"):
        resolve_interval({"interval_start": "2024-01-02", "interval_end": "2024-01-01"}, start, end)


def test_a_manual_run_without_a_logical_date_is_refused_with_a_clear_message():
    with pytest.raises(
        IntervalError, match="no data interval: trigger it with a logical date, or pass interval_start and interval_end"
    ):
        resolve_interval({"interval_start": None, "interval_end": None}, None, None)
