"""The data-quality gate against a real PostgreSQL (its own throw-away database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from psycopg import sql

from customer360.config import Settings
from customer360.db.connection import connect, qualified
from customer360.ingestion.contracts import SOURCES, SourceContract
from customer360.ingestion.tables import ensure_tables
from customer360.quality.gate import QualityGateFailed, enforce, run_checks

AS_OF = datetime(2025, 6, 2, tzinfo=UTC)  # the day after the rows valid_row makes


@pytest.fixture()
def settings(warehouse_settings: Settings) -> Settings:
    """A throw-away database (tests/db/conftest.py) with the warehouse schemas."""
    return warehouse_settings


def create_raw_table(settings: Settings, contract: SourceContract) -> None:
    """The loader's own DDL for raw.<source> and quarantine.<source>."""
    with connect(settings) as conn:
        ensure_tables(conn, [contract])


def valid_row(contract: SourceContract, i: int) -> dict:
    row = {}
    for c in contract.columns:
        row[c.name] = {
            "text": f"{c.name}-{i}",
            "integer": 3,
            "numeric": Decimal("10.50"),
            "boolean": True,
            "date": date(2025, 6, 1),
            "timestamp": datetime(2025, 6, 1, tzinfo=UTC) + timedelta(minutes=i),
        }[c.type]
    if contract.name == "email_campaign_events":
        row["event_type"] = "open"
    if "email" in row:
        row["email"] = f"person{i}@example.com"
    if "phone" in row:
        row["phone"] = f"+44 7700 900{i:03d}"
    return row


def insert_rows(
    settings: Settings,
    contract: SourceContract,
    rows: list[dict],
    batch: str = "b1",
    file_name: str | None = None,
    loaded_at: datetime | None = None,
) -> None:
    file_name = file_name or f"{contract.name}_2025-06-01_001.csv"
    loaded_at = loaded_at or datetime(2025, 6, 2, tzinfo=UTC)
    names = contract.column_names + ["_batch_id", "_file_name", "_line_number", "_loaded_at"]
    stmt = sql.SQL("insert into {} ({}) values ({})").format(
        qualified("raw", contract.name),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.Placeholder() * len(names)),
    )
    with connect(settings, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(
            stmt,
            [[r[n] for n in contract.column_names] + [batch, file_name, i + 2, loaded_at] for i, r in enumerate(rows)],
        )


def by_check(results):
    return {(r.suite, r.check_name): r for r in results}


# --- gate ----------------------------------------------------------------------------


def test_clean_raw_table_passes(settings):
    contract = SOURCES["email_campaign_events"]
    create_raw_table(settings, contract)
    insert_rows(settings, contract, [valid_row(contract, i) for i in range(5)])
    results = run_checks(settings, ["raw.email_campaign_events"], AS_OF, "t-clean")
    assert results and all(r.passed for r in results), [r.describe() for r in results if not r.passed]
    enforce(results)  # does not raise


def test_null_in_required_column_fails_and_gate_raises(settings):
    contract = SOURCES["web_orders"]
    create_raw_table(settings, contract)
    rows = [valid_row(contract, i) for i in range(4)]
    rows[1]["email"] = None
    rows[2]["email"] = None
    insert_rows(settings, contract, rows)
    results = run_checks(settings, ["raw.web_orders"], AS_OF, "t-null")
    failed = by_check(results)[("raw.web_orders", "not_null:email")]
    assert not failed.passed and failed.severity == "error" and failed.failing_count == 2
    assert failed.failing_examples == ["web_orders_2025-06-01_001.csv:3", "web_orders_2025-06-01_001.csv:4"]
    with pytest.raises(QualityGateFailed) as info:
        enforce(results)
    message = str(info.value)
    assert "not_null:email" in message and "raw.web_orders" in message and "2 row(s)" in message
    assert [f.check_name for f in info.value.failures] == ["not_null:email"]


def test_value_rules_future_events_and_duplicates_in_latest_batch(settings):
    contract = SOURCES["surveys"]
    create_raw_table(settings, contract)
    old = [valid_row(contract, i) for i in range(3)]
    insert_rows(settings, contract, old, batch="b1", loaded_at=datetime(2025, 6, 2, tzinfo=UTC))
    new = [valid_row(contract, i) for i in range(3)]  # same keys as b1: fine across batches
    new[0]["satisfaction_score"] = 7
    new[1]["responded_at"] = AS_OF + timedelta(hours=1)
    new.append(valid_row(contract, 2))  # duplicate key within the latest batch
    insert_rows(
        settings,
        contract,
        new,
        batch="b2",
        file_name="surveys_2025-06-02_001.csv",
        loaded_at=datetime(2025, 6, 3, tzinfo=UTC),
    )
    r = by_check(run_checks(settings, "raw", AS_OF, "t-rules"))
    assert r[("raw.surveys", "range_1_5:satisfaction_score")].failing_count == 1
    assert r[("raw.surveys", "not_in_future:responded_at")].failing_count == 1
    assert r[("raw.surveys", "not_in_future:responded_at")].failing_examples == ["surveys_2025-06-02_001.csv:3"]
    dup = r[("raw.surveys", "unique_in_latest_batch:response_id")]
    assert not dup.passed and dup.failing_count == 2
    assert set(dup.failing_examples) == {"surveys_2025-06-02_001.csv:4", "surveys_2025-06-02_001.csv:5"}
    # sources without a raw table yet are reported as a warning, not an error
    missing = r[("raw.pos_transactions", "table_exists")]
    assert not missing.passed and missing.severity == "warn"


def test_versioned_source_allows_several_versions_per_batch(settings):
    contract = SOURCES["crm_accounts"]
    create_raw_table(settings, contract)
    v1, v2 = valid_row(contract, 1), valid_row(contract, 2)
    v2["account_id"] = v1["account_id"]  # a second version of the same account, later updated_at
    insert_rows(settings, contract, [v1, v2])
    r = by_check(run_checks(settings, ["raw.crm_accounts"], AS_OF, "t-versions"))
    assert r[("raw.crm_accounts", "unique_in_latest_batch:account_id+updated_at")].passed
    insert_rows(settings, contract, [v1], file_name="crm_accounts_2025-06-01_002.csv")  # exact duplicate version
    r = by_check(run_checks(settings, ["raw.crm_accounts"], AS_OF, "t-versions"))
    assert not r[("raw.crm_accounts", "unique_in_latest_batch:account_id+updated_at")].passed


def test_warn_level_failure_does_not_raise(settings):
    contract = SOURCES["pos_transactions"]
    create_raw_table(settings, contract)
    rows = [valid_row(contract, i) for i in range(3)]
    rows[0]["amount"] = Decimal("-5.00")
    insert_rows(settings, contract, rows)
    results = run_checks(settings, ["raw.pos_transactions"], AS_OF, "t-warn")
    warn = by_check(results)[("raw.pos_transactions", "non_negative:amount")]
    assert not warn.passed and warn.severity == "warn" and warn.failing_count == 1
    enforce(results)  # only logs


def test_results_stored_and_rerun_replaces(settings):
    contract = SOURCES["web_orders"]
    create_raw_table(settings, contract)
    rows = [valid_row(contract, i) for i in range(3)]
    rows[0]["email"] = None
    insert_rows(settings, contract, rows)
    first = run_checks(settings, ["raw.web_orders"], AS_OF, "t-store")
    run_checks(settings, ["raw.web_orders"], AS_OF, "t-store")
    with connect(settings) as conn:
        stored = conn.execute(
            "select check_name, passed, failing_count, failing_examples, checked_at, severity, owner, table_name"
            " from ops.dq_results where run_id = 't-store'"
        ).fetchall()
    assert len(stored) == len(first)
    failing = [s for s in stored if not s[1]]
    assert [(s[0], s[2], s[5], s[6], s[7]) for s in failing] == [
        ("not_null:email", 1, "error", "source", "raw.web_orders")
    ]
    assert all(s[4] == AS_OF for s in stored)


def test_failing_examples_hold_keys_not_personal_values(settings):
    contract = SOURCES["email_campaign_events"]
    create_raw_table(settings, contract)
    rows = [valid_row(contract, i) for i in range(4)]
    rows[0]["event_type"] = "forwarded"
    rows[1]["occurred_at"] = AS_OF + timedelta(days=2)
    rows[2]["event_id"] = rows[3]["event_id"]
    insert_rows(settings, contract, rows)
    results = run_checks(settings, ["raw.email_campaign_events"], AS_OF, "t-pii")
    assert sum(not r.passed for r in results) == 3
    with connect(settings) as conn:
        dump = conn.execute(
            "select string_agg(coalesce(array_to_string(failing_examples, ' '), '') || ' ' ||"
            " coalesce(details, ''), ' ') from ops.dq_results"
        ).fetchone()[0]
    for r in results:
        for example in r.failing_examples:
            assert example.startswith("email_campaign_events_2025-06-01_001.csv:")
    assert "@" not in dump and "forwarded" not in dump and "event_id-" not in dump


def test_marts_suite(settings):
    with connect(settings, autocommit=True) as conn:
        conn.execute(
            "create table marts.customer_360 (customer_id text unique, churn_probability double precision,"
            " clv numeric, total_revenue numeric)"
        )
        conn.execute(
            "insert into marts.customer_360 values ('C1', 0.2, 10, 100), ('C2', 1.4, -1, 5), (null, 0.5, 1, 1)"
        )
    results = run_checks(settings, "marts", AS_OF, "t-marts")
    r = by_check(results)
    assert r[("marts.customer_360", "range_0_1:churn_probability")].failing_examples == ["C2"]
    assert r[("marts.customer_360", "range_0_1:churn_probability")].owner == "ml"
    assert r[("marts.customer_360", "not_null:customer_id")].failing_count == 1
    assert r[("marts.customer_360", "row_count_positive")].passed
    assert r[("marts.fct_orders", "table_exists")].severity == "error"
    with pytest.raises(QualityGateFailed) as info:
        enforce(results)
    assert "marts.fct_orders" in str(info.value) and "non_negative:clv" in str(info.value)


def test_cli(settings, monkeypatch, capsys):
    from customer360.quality.__main__ import main

    contract = SOURCES["surveys"]
    create_raw_table(settings, contract)
    insert_rows(settings, contract, [valid_row(contract, i) for i in range(2)])
    monkeypatch.setenv("WAREHOUSE_URL", settings.warehouse_url)
    assert main(["--suite", "raw.surveys", "--as-of", "2025-12-31T00:00:00Z", "--run-id", "manual"]) == 0
    assert main(["--suite", "marts", "--as-of", "2025-12-31T00:00:00Z", "--run-id", "manual"]) == 1
    assert "table_exists" in capsys.readouterr().out


def test_anonymous_till_sales_pass_but_a_web_order_without_a_customer_fails(settings):
    with connect(settings, autocommit=True) as conn:
        conn.execute("create table marts.fct_orders (order_key text, customer_id text, channel text, amount numeric)")
        conn.execute(
            "insert into marts.fct_orders values ('k1', 'C1', 'web', 10), ('k2', null, 'store', 5),"
            " ('k3', null, 'web', 7)"
        )
    r = by_check(run_checks(settings, "marts", AS_OF, "t-orders"))
    check = r[("marts.fct_orders", "not_null_for_web_orders:customer_id")]
    assert not check.passed and check.failing_count == 1 and check.failing_examples == ["k3"]


def _land_pos(settings: Settings, day: date, good: int, bad: int) -> None:
    header = ";".join(SOURCES["pos_transactions"].column_names)
    rows = [f"T{day:%m%d}{i};;S01;{day}T10:00:00Z;{'12.50' if i < good else 'oops'};GBP;" for i in range(good + bad)]
    folder = settings.landing_dir / "pos_transactions" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"pos_transactions_{day}_001.csv").write_text("\n".join([header, *rows]) + "\n")


@pytest.mark.parametrize("threshold, gate_fails", [(0.05, True), (0.2, False)])
def test_a_batch_quarantining_too_many_rows_fails_the_raw_gate(settings, threshold, gate_fails):
    from dataclasses import replace

    from customer360.ingestion.loader import load_interval

    settings = replace(settings, max_quarantine_share=threshold)
    day = date(2025, 6, 1)
    _land_pos(settings, day, good=180, bad=20)  # 10% quarantined (and at least 20 rows: not a small source's noise)
    load_interval(settings, day, day + timedelta(days=1), ["pos_transactions"], batch_id="b-share")
    r = by_check(run_checks(settings, ["raw.pos_transactions"], AS_OF, "t-share"))
    noise = r[("raw.pos_transactions", "quarantined_rows")]
    assert not noise.passed and noise.severity == "warn" and noise.failing_count == 20
    assert noise.failing_examples[0] == "pos_transactions_2025-06-01_001.csv:182"
    share = r[("raw.pos_transactions", "quarantine_share")]
    assert share.severity == "error" and share.passed is not gate_fails
    if gate_fails:
        with pytest.raises(QualityGateFailed, match="quarantine_share on raw.pos_transactions"):
            enforce(list(r.values()))


def test_a_batch_far_below_its_usual_volume_is_flagged(settings):
    from customer360.ingestion.loader import load_interval

    for i in range(4):
        day = date(2025, 6, 1) + timedelta(days=i)
        _land_pos(settings, day, good=100 if i < 3 else 10, bad=0)
        load_interval(settings, day, day + timedelta(days=1), ["pos_transactions"], batch_id=f"b{i}")
        volume = by_check(run_checks(settings, ["raw.pos_transactions"], AS_OF, f"t-vol{i}"))[
            ("raw.pos_transactions", "volume")
        ]
        assert volume.passed is (i < 3), i  # the 4th batch has a tenth of the usual rows
    assert volume.severity == "warn"


def test_facts_whose_customer_is_not_in_dim_customer_fail_the_marts_gate(settings):
    with connect(settings, autocommit=True) as conn:
        conn.execute("create table marts.dim_customer (customer_id text)")
        conn.execute("insert into marts.dim_customer values ('C1'), ('C2')")
        conn.execute("create table marts.fct_orders (order_key text, customer_id text, channel text, amount numeric)")
        conn.execute(
            "insert into marts.fct_orders values ('k1', 'C1', 'web', 10), ('k2', 'C9', 'web', 5),"
            " ('k3', null, 'store', 7)"
        )
    check = by_check(run_checks(settings, "marts", AS_OF, "t-orphans"))[("marts.fct_orders", "no_orphans:customer_id")]
    assert not check.passed and check.severity == "error"
    assert check.failing_count == 1 and check.failing_examples == ["k2"]


def test_a_small_source_with_a_few_bad_rows_only_warns(settings):
    from customer360.ingestion.loader import load_interval

    day = date(2025, 6, 1)
    _land_pos(settings, day, good=6, bad=4)  # 40%, but only 4 rows
    load_interval(settings, day, day + timedelta(days=1), ["pos_transactions"], batch_id="b-small")
    r = by_check(run_checks(settings, ["raw.pos_transactions"], AS_OF, "t-small"))
    assert r[("raw.pos_transactions", "quarantine_share")].passed
    assert not r[("raw.pos_transactions", "quarantined_rows")].passed


def test_a_source_that_went_quiet_is_flagged_as_stale(settings):
    contract = SOURCES["pos_transactions"]  # fresh within 2 days
    create_raw_table(settings, contract)
    insert_rows(settings, contract, [valid_row(contract, i) for i in range(3)])  # events of 2025-06-01
    fresh = by_check(run_checks(settings, ["raw.pos_transactions"], datetime(2025, 6, 2, tzinfo=UTC), "t-f1"))
    stale = by_check(run_checks(settings, ["raw.pos_transactions"], datetime(2025, 12, 31, tzinfo=UTC), "t-f2"))
    assert fresh[("raw.pos_transactions", "freshness")].passed
    check = stale[("raw.pos_transactions", "freshness")]
    assert not check.passed and check.severity == "warn" and check.failing_examples[0].startswith("2025-06-01")


def test_implausible_dates_warn_from_the_contract_and_never_fail_the_gate(settings):
    """A birth date of 1900-01-01 (the usual placeholder) or 9999-12-31 and an account created in 1900
    loaded with no word; the contract's plausible ranges now report them, file and line, as warnings."""
    contract = SOURCES["crm_accounts"]
    create_raw_table(settings, contract)
    rows = [valid_row(contract, i) for i in range(4)]
    rows[1]["date_of_birth"] = date(1900, 1, 1)
    rows[2]["date_of_birth"] = date(9999, 12, 31)
    rows[3]["created_at"] = datetime(1900, 3, 1, tzinfo=UTC)
    insert_rows(settings, contract, rows)
    results = run_checks(settings, ["raw.crm_accounts"], AS_OF, "t-plausible")
    r = by_check(results)
    birth, created = r[("raw.crm_accounts", "plausible:date_of_birth")], r[("raw.crm_accounts", "plausible:created_at")]
    assert (birth.passed, birth.severity, birth.failing_count) == (False, "warn", 2)
    assert (created.passed, created.failing_count) == (False, 1)
    assert r[("raw.crm_accounts", "plausible:date_of_birth")].owner == "source"
    enforce(results)  # warnings only: the run goes on
