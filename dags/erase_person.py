"""erase_person: remove one person from the warehouse and its files (right to erasure).

Manual only. Trigger with one of `email`, `email_key` (from `python -m customer360.privacy
email-key --email ...`, so the address never enters Airflow) or `customer_id`, and
optionally `dry_run` and your ticket id as `request_id`. The task logs and returns
counts and the request id only; the parameters themselves stay in the run's conf in
Airflow's metadata database, so prefer `email_key` or `customer_id` there.

Thin on purpose: the work is customer360.privacy.erase.erase, the same as `python -m customer360.privacy erase`.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from customer360.config import task_retries, task_retry_delay

log = logging.getLogger(__name__)


@dag(
    dag_id="erase_person",
    description="Right to erasure: remove a person from every schema and file, and suppress them",
    schedule=None,
    # Early on purpose: an explicit interval of any date runs (a history from 1997 loads like last
    # week's); with catchup off, the scheduler still starts from the latest interval.
    start_date=pendulum.datetime(1900, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": task_retries(),
        "retry_delay": timedelta(seconds=task_retry_delay(60)),
        "owner": "data-engineering",
    },
    tags=["customer360", "privacy", "manual"],
    params={
        "email": Param(None, type=["null", "string"], description="The person's e-mail (stored in the run conf)"),
        "email_key": Param(
            None,
            type=["null", "string"],
            description="The e-mail's pseudonymised key (python -m customer360.privacy email-key)",
        ),
        "customer_id": Param(None, type=["null", "string"], description="The person's customer_id"),
        "dry_run": Param(False, type="boolean", description="Count what would be erased; change nothing"),
        "request_id": Param(None, type=["null", "string"], description="Your ticket id (default: generated)"),
    },
)
def erase_person():
    @task
    def erase() -> dict:
        from customer360.config import Settings
        from customer360.privacy.erase import PersonNotFound
        from customer360.privacy.erase import erase as erase_person_data

        params = get_current_context()["params"]
        given = {k: params.get(k) for k in ("email", "email_key", "customer_id") if params.get(k)}
        if len(given) != 1:
            raise AirflowFailException("give exactly one of the params email, email_key or customer_id")
        try:
            result = erase_person_data(
                Settings.from_env(), dry_run=bool(params.get("dry_run")), request_id=params.get("request_id"), **given
            )
        except PersonNotFound:
            raise AirflowFailException(f"nobody found by the given {next(iter(given))}") from None
        summary = result.summary()  # counts and ids only
        log.info(
            "erasure %s: %d customer(s), %d row(s) deleted, %d file(s) rewritten, %d suppression(s)",
            summary["request_id"],
            summary["customers"],
            summary["rows_deleted"],
            summary["files_rewritten"],
            summary["suppressions"],
        )
        return summary

    erase()


erase_person()
