"""The pipeline's stages as plain functions: what each Airflow task calls.

Each takes the settings and the run's data interval and returns a small dict
of counts (safe for XCom and logs: no personal data). The same functions run
from the command line and in tests without Airflow.

Least privilege: only `prepare` uses the warehouse URL's own user (to create
schemas and roles); ingestion acts as the loader role and every later stage as
the transformer role, so no stage can write where its role may not.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from customer360.config import Settings
from customer360.db.bootstrap import LOADER, TRANSFORMER
from customer360.db.connection import MARTS_BUILD_SCHEMA
from customer360.orchestration.interval import DataInterval

log = logging.getLogger(__name__)


def prepare(settings: Settings, interval: DataInterval | None = None) -> dict[str, Any]:
    """Schemas, roles and tables; and the run's interval registered (it moves the warehouse's as-of)."""
    from customer360.db.bootstrap import prepare_warehouse
    from customer360.db.connection import transaction
    from customer360.ingestion.tables import ensure_tables
    from customer360.orchestration.lease import ensure_run_tables, register_interval

    prepare_warehouse(settings)
    # Each role creates the tables it maintains; parallel runs create them once.
    with transaction(settings.as_role(LOADER)) as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('c360.prepare'))")
        ensure_tables(conn)
    transformer = settings.as_role(TRANSFORMER)
    with transaction(transformer) as conn:
        conn.execute("select pg_advisory_xact_lock(hashtext('c360.prepare'))")
        ensure_run_tables(conn)
    if interval is not None:
        register_interval(transformer, interval.run_key, interval.start, interval.end)
    return {"warehouse": "ready"}


def claim_build(settings: Settings, interval: DataInterval) -> dict[str, str]:
    """Take the warehouse build lease (waiting for a run that holds it) and fix the build's as-of.

    Returns the interval for the build tasks (as XCom carries it): with the lease token and the as-of.
    """
    from customer360.orchestration.lease import claim, warehouse_as_of

    settings = settings.as_role(TRANSFORMER)
    token = claim(settings, interval.run_key)
    build = interval.with_as_of(warehouse_as_of(settings, interval.end)).with_lease(token)
    log.info("run %s builds the warehouse as of %s", interval.run_key, build.as_of.isoformat())
    return build.as_dict()


def renew_build(settings: Settings, build: DataInterval) -> None:
    """Every build stage first checks that its run still holds the lease (a loading stage holds none)."""
    from customer360.orchestration.lease import renew

    if build.lease:
        renew(settings.as_role(TRANSFORMER), build.lease)


def release_build(settings: Settings, build: DataInterval | None) -> dict[str, Any]:
    """Give the lease back; a no-op when the run never took it."""
    from customer360.orchestration.lease import release

    released = release(settings.as_role(TRANSFORMER), build.lease if build else None)
    return {"released": released}


def ingest(settings: Settings, interval: DataInterval, source: str) -> dict[str, Any]:
    """Load one source's landing files for the interval; fail if any file was rejected."""
    from customer360.ingestion.loader import load_interval

    report = load_interval(
        settings.as_role(LOADER), interval.start_date, interval.end_date, sources=[source], batch_id=interval.run_key
    )
    log.info(report.summary())
    report.raise_if_rejected()
    return report.sources[source].to_dict()


def check_raw(settings: Settings, interval: DataInterval) -> dict[str, Any]:
    """Check raw as of the warehouse's as-of (raw holds whatever every run loaded) and the run's days.

    Each day of the interval must have a file from every source that delivers daily.
    """
    from customer360.orchestration.lease import warehouse_as_of

    checked = interval.with_as_of(warehouse_as_of(settings.as_role(TRANSFORMER), interval.end))
    return _gate(settings, checked, "raw", delivery_days=(interval.start_date, interval.end_date))


def check_marts(settings: Settings, interval: DataInterval) -> dict[str, Any]:
    """Check the marts this run built, before they are published."""
    return _gate(settings, interval, "marts")


def _gate(settings: Settings, interval: DataInterval, suite: str, **kwargs: Any) -> dict[str, Any]:
    from customer360.quality.gate import enforce, run_checks

    results = run_checks(
        settings.as_role(TRANSFORMER),
        suite,
        as_of=interval.as_of,
        run_id=interval.run_key,
        marts=MARTS_BUILD_SCHEMA,
        **kwargs,
    )
    failed = [r for r in results if not r.passed]
    log.info("%s checks: %d run, %d failed", suite, len(results), len(failed))
    enforce(results)
    return {"checks": len(results), "failed_warn": len(failed)}


def resolve(settings: Settings, interval: DataInterval) -> dict[str, Any]:
    from customer360.identity.resolve import resolve_identities

    transformer = settings.as_role(TRANSFORMER)
    summary = resolve_identities(transformer, interval.run_key, interval.as_of)
    pseudonymised = pseudonymise(transformer)
    return {
        "pseudonymised_records": pseudonymised,
        "mode": summary.mode,
        "records": summary.records,
        "records_matched": summary.records_matched,
        "customers": summary.customers,
        "new_customers": summary.new_customers,
        "merged_ids": summary.merged_ids,
        "split_ids": summary.split_ids,
        "scored_pairs": summary.scored_pairs,
        "review_pairs": summary.review_pairs,
    }


def pseudonymise(settings: Settings) -> int:
    """Pseudonymised keys of every source record (identity.record_pseudonyms), for the BI marts."""
    from customer360.db.connection import transaction
    from customer360.privacy.pseudonyms import refresh

    with transaction(settings) as conn:
        return refresh(conn)


def score(settings: Settings, interval: DataInterval, cutoff: str | None = None) -> dict[str, Any]:
    """Score as of ``cutoff`` (YYYY-MM-DD), by default the end of the data interval."""
    from customer360.ml.scoring import score_customers
    from customer360.orchestration.interval import resolve_cutoff

    summary = score_customers(
        settings.as_role(TRANSFORMER),
        resolve_cutoff(cutoff, interval),
        settings.data_dir / "models",
        marts=MARTS_BUILD_SCHEMA,
    )
    churn = summary.metrics["churn"]
    return {
        "cutoff": summary.cutoff.isoformat(),
        "customers_scored": summary.customers_scored,
        "model_version": summary.model_version,
        "churn_scored_with": churn["scored_with"],
        "champion_decision": churn["champion"]["reason"],
        "purchases_scored_with": summary.metrics["purchases"]["scored_with"],
    }


def build_models(settings: Settings, interval: DataInterval, selector: str) -> dict[str, Any]:
    """One dbt layer (dbt_project/selectors.yml) built in one dbt invocation; counts per node status."""
    from customer360.orchestration.dbt import build_layer, summarise

    return summarise(selector, build_layer(settings.as_role(TRANSFORMER), selector, dbt_target(settings)))


def dbt_target(settings: Settings) -> Path:
    """dbt's target folder for every build of this warehouse's runs: one folder keeps dbt's
    partial parse between invocations (builds never overlap: they hold the build lease)."""
    return settings.data_dir / "dbt" / "target"


def publish(settings: Settings, interval: DataInterval) -> dict[str, Any]:
    """Record the checked build's history, swap it in as the marts BI users read, write the dbt docs."""
    from customer360.orchestration.dbt import record_history, write_docs
    from customer360.orchestration.publish import publish_marts

    settings = settings.as_role(TRANSFORMER)
    target_path = dbt_target(settings)
    record_history(settings, target_path)
    published = publish_marts(settings, interval.run_key)
    docs, docs_written = write_docs(settings, target_path, settings.reports_dir)
    return {**published, "dbt_docs": str(docs), "dbt_docs_regenerated": docs_written}


def report(settings: Settings, interval: DataInterval) -> dict[str, Any]:
    from customer360.reporting.run_report import write_run_report

    path = write_run_report(settings.as_role(TRANSFORMER), interval.run_key, settings.reports_dir)
    return {"report": str(path)}
