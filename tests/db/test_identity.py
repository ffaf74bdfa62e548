"""Identity resolution in the warehouse: reruns, incremental days, steward decisions and the run log."""

from datetime import UTC, datetime

import pandas as pd
import pytest

from customer360.db.connection import connect
from customer360.identity.resolve import resolve_identities
from customer360.identity.store import INPUT_COLUMNS
from tests.support.identity_records import (
    JOHN_CRM,
    JOHN_TILL,
    JOHN_WEB,
    OTHER_JOHN,
    SON_SAME_PHONE,
    records,
    synthetic_people,
)

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- in the warehouse


def load_input(settings, frame: pd.DataFrame) -> None:
    with connect(settings) as conn:
        conn.execute("drop table if exists intermediate.int_source_records")
        conn.execute(
            "create table intermediate.int_source_records (" + ", ".join(f"{c} text" for c in INPUT_COLUMNS) + ")"
        )
        with conn.cursor().copy(
            f"copy intermediate.int_source_records ({', '.join(INPUT_COLUMNS)}) from stdin"
        ) as copy:
            for row in frame.itertuples(index=False):
                copy.write_row(row)
        conn.commit()


def xref(settings) -> dict[tuple[str, str], str]:
    with connect(settings) as conn:
        rows = conn.execute("select source, source_record_key, customer_id from identity.customer_source_xref")
        return {(s, k): c for s, k, c in rows.fetchall()}


def test_resolution_in_the_warehouse_is_rerunnable(warehouse_settings):
    load_input(warehouse_settings, records(JOHN_CRM, JOHN_TILL, JOHN_WEB, OTHER_JOHN))
    first = resolve_identities(warehouse_settings, "run-1", AS_OF)
    ids = xref(warehouse_settings)
    second = resolve_identities(warehouse_settings, "run-2", AS_OF)
    assert (first.mode, first.records, first.customers, first.new_customers) == ("full", 4, 2, 2)
    assert (second.mode, second.customers, second.new_customers, second.merged_ids) == ("incremental", 2, 0, 0)
    assert xref(warehouse_settings) == ids
    full = resolve_identities(warehouse_settings, "run-3", AS_OF, full=True)
    assert full.mode == "full" and xref(warehouse_settings) == ids


def test_an_incremental_day_joins_new_records_and_leaves_other_customers_alone(warehouse_settings):
    day_one = records(JOHN_CRM, JOHN_WEB, OTHER_JOHN, SON_SAME_PHONE)
    load_input(warehouse_settings, day_one)
    resolve_identities(warehouse_settings, "day-1", AS_OF)
    before = xref(warehouse_settings)
    new_card = dict(source="pos_transactions", source_record_key="L1", loyalty_id="L1")
    stranger = dict(source="surveys", source_record_key="R9", email_normalised="someone@z.com")
    load_input(warehouse_settings, records(JOHN_CRM, JOHN_WEB, OTHER_JOHN, SON_SAME_PHONE, new_card, stranger))
    day_two = resolve_identities(warehouse_settings, "day-2", AS_OF)
    after = xref(warehouse_settings)
    assert (day_two.mode, day_two.records_matched, day_two.new_customers) == ("incremental", 2, 1)
    assert {k: after[k] for k in before} == before  # nobody the day did not touch changed id
    assert after[("pos_transactions", "L1")] == before[("crm_accounts", "A1")]


def test_a_steward_decision_changes_the_next_run(warehouse_settings):
    load_input(warehouse_settings, records(JOHN_CRM, JOHN_TILL, JOHN_WEB, SON_SAME_PHONE))
    resolve_identities(warehouse_settings, "run-1", AS_OF)
    before = xref(warehouse_settings)
    assert before[("crm_accounts", "A1")] == before[("web_orders", "W1")]
    assert before[("call_center_contacts", "K2")] != before[("crm_accounts", "A1")]
    with connect(warehouse_settings) as conn:
        # The steward role can write decisions (and nothing else in identity).
        conn.execute("set role c360_steward")
        conn.execute(
            "insert into identity.steward_decisions (left_source, left_source_record_key, right_source, "
            "right_source_record_key, decision, note) values "
            "('crm_accounts', 'A1', 'web_orders', 'W1', 'cannot_link', 'web account belongs to his son'), "
            "('web_orders', 'W1', 'call_center_contacts', 'K2', 'must_link', 'same person, checked by phone')"
        )
        with pytest.raises(Exception, match="permission denied"):
            conn.execute("delete from identity.customer_source_xref")
        conn.rollback()
        conn.execute("set role c360_steward")
        conn.execute(
            "insert into identity.steward_decisions (left_source, left_source_record_key, right_source, "
            "right_source_record_key, decision) values "
            "('crm_accounts', 'A1', 'web_orders', 'W1', 'cannot_link'), "
            "('web_orders', 'W1', 'call_center_contacts', 'K2', 'must_link')"
        )
        conn.commit()
    run = resolve_identities(warehouse_settings, "run-2", AS_OF)
    after = xref(warehouse_settings)
    assert after[("crm_accounts", "A1")] == before[("crm_accounts", "A1")]  # the larger part keeps the id
    assert after[("web_orders", "W1")] != after[("crm_accounts", "A1")]
    assert after[("web_orders", "W1")] == after[("call_center_contacts", "K2")]
    assert run.split_ids + run.merged_ids >= 1
    with connect(warehouse_settings) as conn:
        history = conn.execute(
            "select old_customer_id, reason from identity.customer_id_history where run_id = 'run-2'"
        ).fetchall()
    assert (before[("crm_accounts", "A1")], "split") in history


def identity_state(settings) -> dict[str, list[tuple]]:
    """What a rerun must leave as it found it."""
    queries = {
        "xref": "select source, source_record_key, customer_id, matched_by from identity.customer_source_xref",
        "history": "select old_customer_id, new_customer_id, reason, run_id from identity.customer_id_history",
        "pairs": "select run_id, left_source, left_source_record_key, right_source, right_source_record_key, "
        "round(match_probability::numeric, 9), evidence::text, outcome from identity.match_pairs",
        "review": "select * from identity.review_queue",
    }
    with connect(settings) as conn:
        return {name: sorted(conn.execute(sql).fetchall()) for name, sql in queries.items()}


def runs(settings) -> list[tuple]:
    with connect(settings) as conn:
        return conn.execute(
            "select run_id, attempt, mode, records_matched from identity.resolution_runs order by run_id, attempt"
        ).fetchall()


def test_rerunning_an_incremental_day_keeps_its_merge_and_logs_a_second_attempt(warehouse_settings):
    survey = dict(source="surveys", source_record_key="R1", email_normalised="jsmith@y.com")
    load_input(warehouse_settings, records(JOHN_CRM, JOHN_WEB, survey))
    resolve_identities(warehouse_settings, "day-1", AS_OF)
    # Day 2: a till record with John's loyalty card and the survey's e-mail joins the two customers.
    till = dict(source="pos_transactions", source_record_key="L1", loyalty_id="L1", email_normalised="jsmith@y.com")
    load_input(warehouse_settings, records(JOHN_CRM, JOHN_WEB, survey, till))
    day_two = resolve_identities(warehouse_settings, "day-2", AS_OF)
    assert day_two.merged_ids == 1
    after_day_two = identity_state(warehouse_settings)
    assert [row[2] for row in after_day_two["history"]] == ["merge"]

    rerun = resolve_identities(warehouse_settings, "day-2", AS_OF)
    assert (rerun.mode, rerun.records_matched, rerun.merged_ids) == ("incremental", 0, 0)
    assert identity_state(warehouse_settings) == after_day_two
    assert runs(warehouse_settings) == [
        ("day-1", 1, "full", 3),
        ("day-2", 1, "incremental", 1),
        ("day-2", 2, "incremental", 0),
    ]


def test_rerunning_an_interval_keeps_its_scored_pairs(warehouse_settings):
    """The bug this guards: a rerun with the interval's run id used to delete the pairs its first run scored."""
    people = synthetic_people(150)
    load_input(warehouse_settings, records(*people))
    first = resolve_identities(warehouse_settings, "day-1", AS_OF)
    assert first.mode == "full" and first.scored_pairs > 0
    state = identity_state(warehouse_settings)
    assert len(state["pairs"]) == first.scored_pairs
    assert sum(1 for row in state["pairs"] if row[-1] == "link") > 100

    rerun = resolve_identities(warehouse_settings, "day-1", AS_OF)
    assert (rerun.mode, rerun.records_matched, rerun.scored_pairs) == ("incremental", 0, 0)
    assert identity_state(warehouse_settings) == state
    assert [r[:3] for r in runs(warehouse_settings)] == [("day-1", 1, "full"), ("day-1", 2, "incremental")]

    # The next day scores the pairs of its new record only; the first day's pairs stay as they were.
    newcomer = dict(people[5], source_record_key="K-new")  # caller K1 again: no strong key
    load_input(warehouse_settings, records(*people, newcomer))
    day_two = resolve_identities(warehouse_settings, "day-2", AS_OF)
    pairs = identity_state(warehouse_settings)["pairs"]
    assert day_two.scored_pairs > 0
    assert {row for row in pairs if row[0] == "day-1"} == set(state["pairs"])
    assert all("K-new" in (row[2], row[4]) for row in pairs if row[0] == "day-2")


def test_a_run_log_from_before_attempts_is_migrated(warehouse_settings):
    """Warehouses built by the first identity step keyed resolution_runs by run id alone."""
    from customer360.identity.store import ensure_identity_tables

    with connect(warehouse_settings) as conn:
        conn.execute(
            "create table identity.resolution_runs (run_id text primary key, resolved_at timestamptz not null, "
            "records integer not null, customers integer not null, new_customers integer not null, "
            "merged_ids integer not null, split_ids integer not null, links_by_rule jsonb not null)"
        )
        conn.execute("insert into identity.resolution_runs values ('old', now(), 1, 1, 1, 0, 0, '{}')")
        ensure_identity_tables(conn)
        ensure_identity_tables(conn)  # idempotent
        conn.commit()
    load_input(warehouse_settings, records(JOHN_CRM))
    resolve_identities(warehouse_settings, "old", AS_OF)
    assert [r[:2] for r in runs(warehouse_settings)] == [("old", 1), ("old", 2)]


def test_a_public_benchmark_crm_export_with_only_names_and_addresses_resolves(warehouse_settings, tmp_path):
    """FEBRL 3 (5,000 Australian accounts of 2,000 people, no e-mail or phone, duplicates inside the
    CRM) delivered as a CRM file, loaded and built by dbt: the run resolves without a crash, the
    duplicate accounts merge without wrong links, and the run report says which parameters were fixed."""
    from bench.identity import deliver_dataset, pairwise_quality
    from customer360.db.connection import fetch_all
    from customer360.reporting.run_report import write_run_report

    truth = deliver_dataset(warehouse_settings, "febrl3", tmp_path / "target")
    summary = resolve_identities(warehouse_settings, "febrl", AS_OF)
    assert summary.records == 5000
    assert summary.training["prior_source"].startswith("fixed")
    found = pd.DataFrame(
        fetch_all(
            warehouse_settings, "select source, source_record_key, customer_id from identity.customer_source_xref"
        ),
        columns=["source", "source_record_key", "customer_id"],
    )
    precision, recall, *_ = pairwise_quality(found, truth)
    assert precision >= 0.995
    assert recall >= 0.4  # bench/results/identity-febrl3.md has the figures
    assert summary.customers < 3500
    report = write_run_report(warehouse_settings, "febrl", tmp_path / "reports").read_text()
    identity = report[report.index('id="identity"') : report.index('id="identity-review"')]
    assert "The match prior was fixed" in identity and "5,000" in identity
    # The next (incremental) run scores with that model: the report still says what was fixed.
    assert resolve_identities(warehouse_settings, "febrl-next", AS_OF).mode == "incremental"
    report = write_run_report(warehouse_settings, "febrl-next", tmp_path / "next").read_text()
    identity = report[report.index('id="identity"') : report.index('id="identity-review"')]
    assert "(The model was trained in run febrl.) The match prior was fixed" in identity
