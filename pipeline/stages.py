"""The pipeline's stages as plain functions: what each Airflow task calls.

Each takes the settings and the run's data interval and returns a small dict
of counts (safe for XCom and logs: no personal data). The same functions run
from the command line and in tests without Airflow.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.interval import DataInterval
from warehouse.db import MARTS_BUILD_SCHEMA
from warehouse.settings import Settings

log = logging.getLogger(__name__)


def prepare(settings: Settings) -> dict[str, Any]:
    from ingestion.tables import ensure_tables
    from warehouse.bootstrap import prepare_warehouse
    from warehouse.db import connect

    prepare_warehouse(settings)
    with connect(settings) as conn:
        ensure_tables(conn)
        conn.commit()
    return {"warehouse": "ready"}


def ingest(settings: Settings, interval: DataInterval, source: str) -> dict[str, Any]:
    """Load one source's landing files for the interval; fail if any file was rejected."""
    from ingestion.loader import load_interval

    report = load_interval(
        settings, interval.start_date, interval.end_date, sources=[source], batch_id=interval.run_key
    )
    log.info(report.summary())
    report.raise_if_rejected()
    return report.sources[source].to_dict()


def check_raw(settings: Settings, interval: DataInterval) -> dict[str, Any]:
    return _gate(settings, interval, "raw")


def check_marts(settings: Settings, interval: DataInterval) -> dict[str, Any]:
    """Check the marts this run built, before they are published."""
    return _gate(settings, interval, "marts")


def _gate(settings: Settings, interval: DataInterval, suite: str) -> dict[str, Any]:
    from expectations.gate import enforce, run_checks

    results = run_checks(settings, suite, as_of=interval.end, run_id=interval.run_key, marts=MARTS_BUILD_SCHEMA)
    failed = [r for r in results if not r.passed]
    log.info("%s checks: %d run, %d failed", suite, len(results), len(failed))
    enforce(results)
    return {"checks": len(results), "failed_warn": len(failed)}


def resolve(settings: Settings, interval: DataInterval) -> dict[str, Any]:
    from identity.resolve import resolve_identities

    summary = resolve_identities(settings, interval.run_key, interval.end)
    pseudonymised = pseudonymise(settings)
    return {"pseudonymised_records": pseudonymised,"mode": summary.mode, "records": summary.records, "records_matched": summary.records_matched,
            "customers": summary.customers, "new_customers": summary.new_customers,
            "merged_ids": summary.merged_ids, "split_ids": summary.split_ids,
            "scored_pairs": summary.scored_pairs, "review_pairs": summary.review_pairs}


def pseudonymise(settings: Settings) -> int:
    """Pseudonymised keys of every source record (identity.record_pseudonyms), for the BI marts."""
    from privacy.pseudonyms import refresh
    from warehouse.db import transaction

    with transaction(settings) as conn:
        return refresh(conn)


def score(settings: Settings, interval: DataInterval, cutoff: str | None = None) -> dict[str, Any]:
    """Score as of ``cutoff`` (YYYY-MM-DD), by default the end of the data interval."""
    from ml.scoring import score_customers
    from pipeline.interval import resolve_cutoff

    summary = score_customers(settings, resolve_cutoff(cutoff, interval), settings.data_dir / "models",
                              marts=MARTS_BUILD_SCHEMA)
    churn = summary.metrics["churn"]
    return {
        "cutoff": summary.cutoff.isoformat(),
        "customers_scored": summary.customers_scored,
        "model_version": summary.model_version,
        "churn_scored_with": churn["scored_with"],
        "champion_decision": churn["champion"]["reason"],
        "purchases_scored_with": summary.metrics["purchases"]["scored_with"],
    }


def publish(settings: Settings, interval: DataInterval) -> dict[str, Any]:
    """Record the checked build's history, swap it in as the marts BI users read, write the dbt docs."""
    from pipeline.dbt import record_history, write_docs
    from warehouse.publish import publish_marts

    target_path = settings.data_dir / "dbt" / interval.run_key
    record_history(settings, target_path)
    published = publish_marts(settings, interval.run_key)
    docs = write_docs(settings, target_path, settings.reports_dir)
    return {**published, "dbt_docs": str(docs)}


def report(settings: Settings, interval: DataInterval) -> dict[str, Any]:
    from reporting.run_report import write_run_report

    path = write_run_report(settings, interval.run_key, settings.reports_dir)
    return {"report": str(path)}
