"""DAG integrity: every DAG imports, has an interval schedule, tags, retries and the stage order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from customer360.orchestration.interval import DataInterval, IntervalError, resolve_cutoff

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag(airflow_home):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "customer360" in dagbag.dags
    assert "erase_person" in dagbag.dags


def test_dags_have_tags_retries_and_an_interval_timetable(dagbag):
    from airflow.timetables.interval import CronDataIntervalTimetable, DeltaDataIntervalTimetable

    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        if "manual" in dag.tags:  # run on request only (erase_person): no schedule at all
            assert type(dag.timetable).__name__ == "NullTimetable", dag_id
        else:
            assert isinstance(dag.timetable, (CronDataIntervalTimetable, DeltaDataIntervalTimetable)), dag_id
        for t in dag.tasks:
            assert t.retries >= 1, f"{dag_id}.{t.task_id} has no retries"


def test_stages_run_in_pipeline_order(dagbag):
    dag = dagbag.dags["customer360"]
    ids = {t.task_id for t in dag.tasks}
    assert {f"ingest_{s}" for s in ("crm_accounts", "pos_transactions", "web_events")} <= ids
    assert {"dbt_staging", "dbt_marts", "dbt_scored_marts"} <= ids

    def upstream_closure(task_id: str) -> set[str]:
        return {t.task_id for t in dag.get_task(task_id).get_flat_relatives(upstream=True)}

    before_report = upstream_closure("write_report")
    for stage in ("ingest_crm_accounts", "check_raw", "resolve_identities", "score_customers", "check_marts"):
        assert stage in before_report
    assert "check_raw" in upstream_closure("resolve_identities")
    assert "resolve_identities" in upstream_closure("score_customers")
    assert "score_customers" not in upstream_closure("resolve_identities")
    # the marts are published only after the marts gate passed on the build (all_success)
    publish = dag.get_task("publish_marts")
    assert "check_marts" in publish.upstream_task_ids and publish.trigger_rule == "all_success"
    assert {"dbt_marts", "dbt_scored_marts"} <= upstream_closure("check_marts")
    assert "publish_marts" in before_report
    assert "check_raw" in upstream_closure("dbt_staging")


def test_each_dbt_layer_is_one_build_task_of_a_selector_that_exists(dagbag):
    """Three dbt tasks, one per layer, in pipeline order; each builds a selector of selectors.yml."""
    import yaml

    from customer360.orchestration.dbt import DBT_PROJECT_DIR, LAYERS

    dag = dagbag.dags["customer360"]
    layer_tasks = ("dbt_staging", "dbt_marts", "dbt_scored_marts")
    selectors = [dag.get_task(t).op_args[0] for t in layer_tasks]
    assert tuple(selectors) == LAYERS
    defined = {s["name"] for s in yaml.safe_load((DBT_PROJECT_DIR / "selectors.yml").read_text())["selectors"]}
    assert set(LAYERS) <= defined
    assert not [t.task_id for t in dag.tasks if t.task_id.startswith("dbt_") and t.task_id not in layer_tasks]
    # each layer builds on the one before, with a Python stage between them
    assert "dbt_staging" in dag.get_task("resolve_identities").upstream_task_ids
    assert "resolve_identities" in dag.get_task("dbt_marts").get_flat_relative_ids(upstream=True)
    assert "score_customers" in dag.get_task("dbt_scored_marts").get_flat_relative_ids(upstream=True)


def test_the_scoring_cutoff_is_a_param_defaulting_to_the_interval_end(dagbag):
    from datetime import date

    assert "cutoff" in dagbag.dags["customer360"].params
    interval = DataInterval(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))
    assert resolve_cutoff(None, interval) == date(2025, 4, 1)
    assert resolve_cutoff("2025-02-15", interval) == date(2025, 2, 15)
    with pytest.raises(IntervalError, match="after the end of the data interval"):
        resolve_cutoff("2025-04-02", interval)
    with pytest.raises(IntervalError, match="not a date"):
        resolve_cutoff("soon", interval)


def test_the_benchmark_names_a_stage_for_every_task(dagbag):
    from bench.run import stage_of

    unmapped = [t.task_id for t in dagbag.dags["customer360"].tasks if stage_of(t.task_id) == "other"]
    assert unmapped == []


def test_the_report_is_written_whatever_happened_and_a_watcher_fails_the_run(dagbag):
    dag = dagbag.dags["customer360"]
    report, watcher = dag.get_task("write_report"), dag.get_task("run_outcome")
    assert report.trigger_rule == "all_done"
    assert watcher.trigger_rule == "one_failed"
    assert watcher.upstream_task_ids == {t.task_id for t in dag.tasks} - {"run_outcome"}


# A daily DAG works on whole days: every scheduled DAG's expected data interval length, from its
# timetable. Manual DAGs (erase_person) have no schedule and no data interval.
DATA_INTERVAL = {"customer360": timedelta(hours=24)}
MANUAL_DAGS = {"erase_person"}


def test_each_dag_works_on_data_intervals_of_its_declared_length(dagbag):
    import pendulum
    from airflow.timetables.base import TimeRestriction

    assert set(dagbag.dags) - MANUAL_DAGS <= set(DATA_INTERVAL), "declare the data interval length of every DAG here"
    for dag_id in MANUAL_DAGS:
        assert type(dagbag.dags[dag_id].timetable).__name__ == "NullTimetable", f"{dag_id} is manual: no schedule"
    for dag_id, dag in dagbag.dags.items():
        if dag_id in MANUAL_DAGS:
            continue
        first = dag.timetable.next_dagrun_info(
            last_automated_data_interval=None,
            restriction=TimeRestriction(earliest=pendulum.datetime(2024, 1, 1, tz="UTC"), latest=None, catchup=True),
        )
        assert first.data_interval.end - first.data_interval.start == DATA_INTERVAL[dag_id], dag_id
        following = dag.timetable.next_dagrun_info(
            last_automated_data_interval=first.data_interval,
            restriction=TimeRestriction(earliest=None, latest=None, catchup=True),
        )
        assert following.data_interval.start == first.data_interval.end  # back to back: no gap, no overlap
        # a manual run gets the last whole interval before it, also on a daylight-saving day
        manual = dag.timetable.infer_manual_data_interval(run_after=pendulum.datetime(2024, 3, 31, 12, tz="UTC"))
        assert manual.end - manual.start == DATA_INTERVAL[dag_id], dag_id


def test_one_run_builds_at_a_time_and_the_lease_is_released_whatever_happened(dagbag):
    dag = dagbag.dags["customer360"]

    def upstream_closure(task_id: str) -> set[str]:
        return {t.task_id for t in dag.get_task(task_id).get_flat_relatives(upstream=True)}

    builders = [
        t.task_id for t in dag.tasks if t.task_id.startswith(("dbt_", "resolve_", "score_", "check_marts", "publish_"))
    ]
    assert builders and all("claim_warehouse" in upstream_closure(t) for t in builders)
    assert "check_raw" in upstream_closure("claim_warehouse")  # loading runs in parallel; building does not
    release = dag.get_task("release_warehouse")
    assert release.trigger_rule == "all_done" and {"publish_marts", "claim_warehouse"} <= release.upstream_task_ids
    assert "release_warehouse" in upstream_closure("write_report")


def test_an_explicit_interval_of_any_date_runs_and_a_run_in_which_nothing_ran_fails(dagbag):
    """A 1997 backfill ran no task (the start date was 2024-01-01) and reported success."""
    import pendulum

    from customer360.devtools.run_dag import run_outcome

    for dag_id in ("customer360", "erase_person"):
        dag = dagbag.get_dag(dag_id)
        assert dag.start_date <= pendulum.datetime(1900, 1, 1, tz="UTC") and not dag.catchup, dag_id
    assert run_outcome("DagRunState.SUCCESS", {})[0] == 1
    code, message = run_outcome("success", {"prepare": "None", "ingest": "None"})
    assert code == 1 and "no task ran" in message
    assert run_outcome("success", {"prepare": "TaskInstanceState.SUCCESS", "report": "success"})[0] == 0
    assert run_outcome("failed", {"prepare": "success", "ingest": "failed"}) == (
        1,
        "RUN-RESULT state=failed failed=ingest not run (upstream failed): 0",
    )


def test_a_bad_retry_setting_is_an_import_error_that_names_it(airflow_home, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("C360_TASK_RETRIES", "two")
    errors = DagBag(dag_folder=str(ROOT / "dags" / "erase_person.py")).import_errors
    assert len(errors) == 1
    assert "C360_TASK_RETRIES must be a whole number of retries (0 or more), got 'two'" in next(iter(errors.values()))


def test_the_build_travels_between_tasks_as_plain_strings_and_comes_back_whole():
    start = datetime(2024, 1, 1, tzinfo=UTC)
    plain = DataInterval(start, start + timedelta(days=1))
    build = plain.with_as_of(start + timedelta(days=3)).with_lease("token-1")
    carried = build.as_dict()
    assert all(isinstance(v, str) for v in carried.values())  # what XCom stores: no objects, no personal data
    assert DataInterval.from_dict(carried) == build
    assert DataInterval.from_dict(plain.as_dict()) == plain and plain.lease is None
    assert build.cutoff_date.isoformat() == "2024-01-04" and build.run_key == plain.run_key
