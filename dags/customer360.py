"""customer360: landing files -> raw -> staging -> identity -> marts -> scores -> gates -> publish -> report.

The marts are built into a build schema and published (swapped in) only when
the marts gate passed: a failed gate leaves BI users with the last good marts.

The report is written even when a gate fails; `run_outcome` then fails the run.

Runs may overlap (a backfill run in parallel, a rerun by hand): loading is safe
in parallel, building is not. `claim_warehouse` takes the warehouse build lease
before the first build task (waiting for a run that holds it) and
`release_warehouse` gives it back whatever happened (src/customer360/orchestration/lease.py). Every
build task, the dbt layers included, first checks that the run still holds it.
Scheduled runs are also kept apart by max_active_runs=1.

Thin on purpose: every task calls a function in customer360.orchestration.stages. Each dbt
layer is one task running one `dbt build` (customer360.orchestration.dbt); its log has a line per model and test.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.interval import CronDataIntervalTimetable

from customer360.config import Settings, task_retries, task_retry_delay
from customer360.ingestion.contracts import SOURCES
from customer360.orchestration import stages
from customer360.orchestration.dbt import CORE_MARTS_SELECTOR, SCORED_MARTS_SELECTOR, STAGING_SELECTOR
from customer360.orchestration.interval import DataInterval, resolve_interval


def run_stage(stage, interval: dict, *args) -> dict:
    """Call a stage with the settings from the environment and the run's interval.

    A build stage (its interval carries the build lease) first checks the lease is still held.
    A lock wait that timed out fails the task with a message naming the lock and who holds it.
    """
    from customer360.db.connection import lock_wait_explained

    settings = Settings.from_env()
    with lock_wait_explained(settings, stage.__name__):
        build = DataInterval.from_dict(interval)
        stages.renew_build(settings, build)
        return stage(settings, build, *args)


@dag(
    dag_id="customer360",
    description="Build the single customer view, marts, scores and quality report for one data interval",
    schedule=CronDataIntervalTimetable("0 1 * * *", timezone="UTC"),
    # Early on purpose: an explicit interval of any date runs (a history from 1997 loads like last
    # week's); with catchup off, the scheduler still starts from the latest interval.
    start_date=pendulum.datetime(1900, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    # Retries ride out a restarted warehouse or a killed connection; tests set C360_TASK_RETRIES=0.
    default_args={
        "retries": task_retries(),
        "retry_delay": timedelta(seconds=task_retry_delay(30)),
        "owner": "data-engineering",
    },
    tags=["customer360", "warehouse"],
    params={
        "interval_start": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Explicit interval start (YYYY-MM-DD), e.g. for a backfill or the demo",
        ),
        "interval_end": Param(
            None, type=["null", "string"], format="date", description="Explicit interval end (YYYY-MM-DD, exclusive)"
        ),
        "cutoff": Param(
            None,
            type=["null", "string"],
            format="date",
            description="Score as of this date (YYYY-MM-DD); default the end of the data interval",
        ),
    },
)
def customer360():
    @task
    def data_interval(**context) -> dict[str, str]:
        params = context["params"]
        return resolve_interval(params, context.get("data_interval_start"), context.get("data_interval_end")).as_dict()

    @task
    def prepare_warehouse(interval: dict) -> dict:
        return run_stage(stages.prepare, interval)

    @task
    def claim_warehouse(interval: dict) -> dict:
        return stages.claim_build(Settings.from_env(), DataInterval.from_dict(interval))

    # all_done: the lease goes back whatever happened; no-op when it was never taken
    @task(trigger_rule="all_done")
    def release_warehouse(**context) -> dict:
        claimed = context["ti"].xcom_pull(task_ids="claim_warehouse")
        return stages.release_build(Settings.from_env(), DataInterval.from_dict(claimed) if claimed else None)

    @task
    def ingest(source: str, interval: dict) -> dict:
        return run_stage(stages.ingest, interval, source)

    @task
    def check_raw(interval: dict) -> dict:
        return run_stage(stages.check_raw, interval)

    # One `dbt build --selector <layer>`: a failed error-level test fails the task (naming it),
    # and a retry builds the layer again (every model is a replace or a merge: idempotent).
    @task
    def build_models(selector: str, interval: dict) -> dict:
        return run_stage(stages.build_models, interval, selector)

    @task
    def resolve_identities(interval: dict) -> dict:
        return run_stage(stages.resolve, interval)

    @task
    def score_customers(interval: dict, **context) -> dict:
        return run_stage(stages.score, interval, context["params"].get("cutoff"))

    @task
    def check_marts(interval: dict) -> dict:
        return run_stage(stages.check_marts, interval)

    @task
    def publish_marts(interval: dict) -> dict:
        return run_stage(stages.publish, interval)

    # all_done: the steward's report is written whatever happened, a failed gate included
    @task(trigger_rule="all_done")
    def write_report(interval: dict) -> dict:
        return run_stage(stages.report, interval)

    # Watches every other task: the run fails when any of them did, even though the
    # report (the last task) succeeded. Skipped when everything passed.
    @task(trigger_rule="one_failed")  # AirflowFailException: no retries
    def run_outcome() -> None:
        raise AirflowFailException("a task of this run failed: see its log and the run report")

    interval = data_interval()
    ready = prepare_warehouse(interval)
    loads = [ingest.override(task_id=f"ingest_{name}")(name, interval) for name in SOURCES]
    raw_gate = check_raw(interval)
    build = claim_warehouse(interval)  # the interval, with the build's as-of and lease
    staging = build_models.override(task_id="dbt_staging")(STAGING_SELECTOR, build)
    identities = resolve_identities(build)
    core_marts = build_models.override(task_id="dbt_marts")(CORE_MARTS_SELECTOR, build)
    scores = score_customers(build)
    scored_marts = build_models.override(task_id="dbt_scored_marts")(SCORED_MARTS_SELECTOR, build)
    marts_gate = check_marts(build)
    published = publish_marts(build)
    released = release_warehouse()
    report = write_report(interval)

    ready >> loads
    loads >> raw_gate >> build >> staging >> identities >> core_marts >> scores >> scored_marts >> marts_gate
    marts_gate >> published >> released >> report
    build >> released
    watcher = run_outcome()
    for other in watcher.operator.dag.tasks:
        if other is not watcher.operator:
            other >> watcher


customer360()
