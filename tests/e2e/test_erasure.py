"""Right to erasure, end to end: a canary person in every source, the real DAGs, erase, scan everything.

The canary has a unique e-mail, phone and name and is planted in one landing file of
every source (one row of it quarantined on purpose) of the company tests/e2e share, before
its first run (tests/support/canary.py). On a copy of the built warehouse the scan finds
them (which proves the scan works); after a run of the `erase_person` DAG, given only the
e-mail's pseudonymised key, it finds them nowhere: no text or json column of any table or
view in any schema of the warehouse, no file under the data and reports directories, no log
of the runs, not Airflow's metadata database (run conf and XCom). Then their rows are
delivered again in new files and the DAG reruns: still nowhere, and the loader counted the
rows it dropped.
"""

from __future__ import annotations

import json
import re

import pytest

from customer360.db.connection import connect
from customer360.devtools.server import drop_database
from customer360.ingestion.contracts import SOURCES
from customer360.privacy.erase import erase
from customer360.privacy.keys import load_key, normalise_email
from customer360.privacy.pseudonyms import email_key
from tests.support.canary import EMAIL, LAST, first_file, redeliver, scan_database, scan_files
from tests.support.warehouses import copy_warehouse

REQUEST_ID = "TICKET-7Q"


@pytest.fixture(scope="module")
def canary_run(company, server_url, tmp_path_factory):
    work = tmp_path_factory.mktemp("erasure")
    copy = copy_warehouse(company.warehouse, server_url, work, "erasure")
    try:
        settings = copy.settings
        logs = work / "logs"  # the company's two runs, and this test's

        def scanned_files() -> dict[str, int]:
            return scan_files(work / "data", work / "reports", logs, copy.airflow_home)

        state: dict = {"settings": settings, "work": work, "planted": company.planted}
        state["first_ok"] = all(company.ok)
        state["db_before"] = scan_database(settings)
        state["files_before"] = scanned_files()
        with connect(settings) as conn:
            state["customer_id"] = conn.execute(
                "select customer_id from marts.dim_customer d "
                "join identity.record_pseudonyms p on p.email_key = d.email_key where p.email_key = %s limit 1",
                (email_key(load_key(), normalise_email(EMAIL)),),
            ).fetchone()
        state["dry_run"] = erase(settings, email=EMAIL, dry_run=True)
        state["db_after_dry_run"] = scan_database(settings)
        # the operator's way: the erase_person DAG, given the e-mail's key so the address never enters Airflow
        state["erase_ok"] = copy.trigger(
            "erase_person",
            {"email_key": email_key(load_key(), normalise_email(EMAIL)), "request_id": REQUEST_ID},
            "erase_person",
        )
        with connect(settings) as conn:
            state["request"] = conn.execute(
                "select customers, rows_deleted, files_rewritten, suppressions from ops.erasure_requests "
                "where request_id = %s and not dry_run",
                (REQUEST_ID,),
            ).fetchone()
        state["db_after"] = scan_database(settings)
        state["files_after"] = scanned_files()
        state["redelivered"] = redeliver(settings.landing_dir)
        state["second_ok"] = copy.run(company.start, company.end, "after_redelivery")
        state["db_after_rerun"] = scan_database(settings)
        state["files_after_rerun"] = scanned_files()
        with connect(settings) as conn:
            state["suppressed"] = conn.execute("select sum(rows_suppressed) from ops.file_manifest").fetchone()[0]
            state["manifest"] = conn.execute(
                "select sum(rows_in_file), sum(rows_loaded + rows_quarantined + rows_suppressed) from ops.file_manifest"
            ).fetchone()
            state["dup_raw"] = conn.execute(
                "select count(*) - count(distinct (transaction_id, _file_name)) from raw.pos_transactions"
            ).fetchone()[0]
            state["raw_after_rerun"] = conn.execute("select count(*) from raw.crm_accounts").fetchone()[0]
        # the re-sent files are the sender's input and hold them; erasing again cleans those too
        state["second_erase"] = erase(settings, email=EMAIL)
        state["files_after_second_erase"] = scanned_files()
        figures = {
            "canary_hits_before": {
                "db_columns": len(state["db_before"]),
                "db_rows": sum(state["db_before"].values()),
                "files": len(state["files_before"]),
            },
            "canary_hits_after": {
                "db_rows": sum(state["db_after"].values()),
                "files": sum(state["files_after"].values()),
            },
            "canary_hits_after_rerun": {
                "db_rows": sum(state["db_after_rerun"].values()),
                "files": sum(state["files_after_rerun"].values()),
            },
            "erasure_request": state["request"],
            "redelivered_rows": state["redelivered"],
            "rows_suppressed": state["suppressed"],
            "where_before": {**state["db_before"], **state["files_before"]},
            "where_after": {**state["db_after"], **state["files_after"]},
            "where_after_rerun": {**state["db_after_rerun"], **state["files_after_rerun"]},
            "second_erase": state["second_erase"].summary(),
            "hits_after_second_erase": state["files_after_second_erase"],
        }
        (work / "erasure_figures.json").write_text(json.dumps(figures, indent=2, default=str))
        print("\nerasure figures:", json.dumps(figures, indent=2, default=str))
        yield state
    finally:
        drop_database(copy.url)


def test_the_scan_finds_the_canary_before_the_erasure(canary_run):
    assert canary_run["first_ok"], f"see the logs in {canary_run['work']}"
    hit_schemas = {k.split(".")[0] for k in canary_run["db_before"]}
    assert {"raw", "quarantine", "intermediate", "identity", "steward"} <= hit_schemas, canary_run["db_before"]
    assert any(k.startswith("landing/") or "/landing/" in k for k in canary_run["files_before"])
    assert canary_run["customer_id"] is not None, "dim_customer has the canary's email_key"


def test_a_dry_run_changes_nothing(canary_run):
    assert canary_run["dry_run"].dry_run and canary_run["dry_run"].rows_deleted
    assert canary_run["db_after_dry_run"] == canary_run["db_before"]


def test_after_the_erasure_dag_no_table_and_no_file_holds_the_canary(canary_run):
    assert canary_run["erase_ok"], f"see {canary_run['work'] / 'logs' / 'erase_person.log'}"
    assert canary_run["request"] is not None, f"no erasure request {REQUEST_ID} recorded"
    customers, rows_deleted, files_rewritten, suppressions = canary_run["request"]
    assert customers >= 1 and files_rewritten >= len(SOURCES) and suppressions > 0
    for table in (
        "raw.crm_accounts",
        "raw.web_events",
        "raw.pos_transactions",
        "quarantine.surveys",
        "identity.customer_source_xref",
        "marts.dim_customer",
        "ml.customer_scores",
    ):
        assert rows_deleted.get(table, 0) > 0, table
    log = (canary_run["work"] / "logs" / "erase_person.log").read_text()
    assert f"erasure {REQUEST_ID}: {customers} customer(s)" in log  # counts and the request id only
    assert canary_run["db_after"] == {}
    assert canary_run["files_after"] == {}


def test_rewritten_landing_files_keep_every_other_record(canary_run):
    landing = canary_run["settings"].landing_dir
    path = first_file(landing, "crm_accounts")
    text = path.read_text()
    assert text.endswith("\n") and LAST not in text and len(text.splitlines()) > 1


def test_a_redelivery_does_not_bring_the_canary_back(canary_run):
    assert canary_run["second_ok"], f"see the logs in {canary_run['work']}"
    assert canary_run["db_after_rerun"] == {}
    # only the re-sent landing files themselves hold them: nothing the run wrote (logs, reports, models, Airflow)
    assert canary_run["files_after_rerun"], "the scan sees the re-sent files"
    assert all(re.search(r"/landing/.*_900\.", f) for f in canary_run["files_after_rerun"])
    assert canary_run["second_erase"].customers == 0 and len(canary_run["second_erase"].files_rewritten) >= 6
    assert canary_run["files_after_second_erase"] == {}
    assert canary_run["suppressed"] == canary_run["redelivered"]
    total, accounted = canary_run["manifest"]
    assert total == accounted
    assert canary_run["dup_raw"] == 0, "a rewritten file was not loaded a second time"


def test_the_suppression_list_holds_no_clear_value(canary_run):
    with connect(canary_run["settings"]) as conn:
        rows = conn.execute("select kind, key_id, value_hash from ops.erasure_suppressions").fetchall()
    assert rows and all(re.fullmatch(r"[0-9a-f]{64}", r[2]) for r in rows)
    assert {"email", "phone", "loyalty_id", "web_account_id", "account_id"} <= {r[0] for r in rows}
