"""The dbt project against a real PostgreSQL and a real dbt.

A throw-away database gets the raw tables of the source contracts, a handful of
handmade rows, and the identity cross-reference and ML scores the Python steps
would write. dbt then runs the three steps of the pipeline, in order:
staging+intermediate, core marts, scored marts (dbt_project/selectors.yml).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult
from psycopg import sql

from customer360.config import Settings, with_database
from customer360.db import tables
from customer360.db.bootstrap import prepare_warehouse
from customer360.devtools.server import drop_database, ensure_database
from customer360.identity.store import ensure_identity_tables
from customer360.ingestion.contracts import SOURCES
from customer360.ml.store import ensure_ml_tables
from customer360.orchestration.dbt import CORE_MARTS_SELECTOR, LAYERS, SCORED_MARTS_SELECTOR, STAGING_SELECTOR
from customer360.orchestration.lease import ensure_run_tables
from customer360.privacy.pseudonyms import refresh as refresh_pseudonyms

PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

PG_TYPES = {
    "text": "text",
    "integer": "bigint",
    "numeric": "numeric(14,2)",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamptz",
}


# --------------------------------------------------------------------------- helpers


@contextmanager
def patched_environ(values: dict[str, str]):
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_dbt(settings: Settings, target_path: Path, *args: str, manifest=None) -> dbtRunnerResult:
    """dbt in-process (a dbt subprocess spends ~10 s importing); a parsed manifest skips parsing."""
    env = {**settings.dbt_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    cli_args = [
        *args,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(target_path / "logs"),
    ]
    with patched_environ(env):
        result = dbtRunner(manifest=manifest).invoke(cli_args)
    if not result.success:
        failures = []
        for r in getattr(result.result, "results", None) or []:
            if str(r.status) in ("error", "fail", "runtime error"):
                failures.append(f"{r.node.name}: {r.status}: {r.message}")
        raise AssertionError(f"dbt {' '.join(args)} failed: {result.exception or failures}")
    return result


def raw_table_ddl(source_name: str) -> sql.Composed:
    contract = SOURCES[source_name]
    columns = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(PG_TYPES[c.type])) for c in contract.columns]
    columns += [
        sql.SQL(x)
        for x in (
            "_batch_id text",
            "_file_name text",
            "_line_number integer",
            "_loaded_at timestamptz",
            "_extra jsonb",
        )
    ]
    return sql.SQL("create table raw.{} ({})").format(sql.Identifier(source_name), sql.SQL(", ").join(columns))


def insert(conn: psycopg.Connection, schema: str, table: str, rows: list[dict]) -> None:
    for row in rows:
        conn.execute(
            sql.SQL("insert into {}.{} ({}) values ({})").format(
                sql.Identifier(schema),
                sql.Identifier(table),
                sql.SQL(", ").join(map(sql.Identifier, row)),
                sql.SQL(", ").join(sql.Placeholder() * len(row)),
            ),
            list(row.values()),
        )


def raw(file: str, line: int, loaded_at: str = "2024-06-02 06:00:00+00", **values) -> dict:
    return {
        **values,
        "_batch_id": file.split(".")[0],
        "_file_name": file,
        "_line_number": line,
        "_loaded_at": loaded_at,
    }


def query(settings: Settings, statement: str, params=None) -> list[tuple]:
    with psycopg.connect(settings.warehouse_url) as conn:
        return conn.execute(statement, params).fetchall()


# --------------------------------------------------------------------------- data

# Jane Smith: CRM account A1 (two versions, the latest re-delivered), loyalty card L1,
# web account WA1 (same e-mail), a call, campaign e-mails and two surveys -> CUST1.
# Bob Jones: web account WA2 and a product registration -> CUST2.
# One anonymous store sale (no loyalty card) and one anonymous web event.
RAW_ROWS: dict[str, list[dict]] = {
    "crm_accounts": [
        raw(
            "crm_1.csv",
            1,
            "2024-01-02 06:00:00+00",
            account_id="A1",
            title="Ms",
            first_name="Jane",
            last_name="Smith",
            email="jane.old@example.com",
            phone="07700 900123",
            date_of_birth="1980-05-17",
            street_address="1 High St",
            city="Leeds",
            postcode="ls1 1aa",
            country="GB",
            loyalty_id="L1",
            created_at="2024-01-01 09:00:00+00",
            updated_at="2024-01-01 09:00:00+00",
        ),
        raw(
            "crm_2.csv",
            1,
            "2024-03-02 06:00:00+00",
            account_id="A1",
            title="Ms",
            first_name="Jane",
            last_name="Smith",
            email=" Jane.Smith@Example.com ",
            phone="07700 900123",
            date_of_birth="1980-05-17",
            street_address="2 Park Rd",
            city="York",
            postcode="yo1 7hh",
            country="GB",
            loyalty_id="L1",
            created_at="2024-01-01 09:00:00+00",
            updated_at="2024-03-01 10:00:00+00",
        ),
        # the latest version re-delivered
        raw(
            "crm_3.csv",
            4,
            "2024-03-03 06:00:00+00",
            account_id="A1",
            title="Ms",
            first_name="Jane",
            last_name="Smith",
            email=" Jane.Smith@Example.com ",
            phone="07700 900123",
            date_of_birth="1980-05-17",
            street_address="2 Park Rd",
            city="York",
            postcode="yo1 7hh",
            country="GB",
            loyalty_id="L1",
            created_at="2024-01-01 09:00:00+00",
            updated_at="2024-03-01 10:00:00+00",
        ),
    ],
    "pos_transactions": [
        raw(
            "pos_1.csv",
            1,
            "2024-04-02 06:00:00+00",
            transaction_id="T1",
            loyalty_id="L1",
            store_id="S1",
            transaction_at="2024-04-01 12:00:00+00",
            amount="30.00",
            currency="gbp",
            items="SKU1*2|SKU2*1",
        ),
        raw(
            "pos_1.csv",
            2,
            "2024-04-02 06:00:00+00",
            transaction_id="T2",
            loyalty_id=None,
            store_id="S1",
            transaction_at="2024-04-01 13:00:00+00",
            amount="5.50",
            currency="GBP",
            items="SKU3",
        ),
        # a refund slipped through: kept, and flagged by a warning test
        raw(
            "pos_1.csv",
            3,
            "2024-04-02 06:00:00+00",
            transaction_id="T3",
            loyalty_id=None,
            store_id="S2",
            transaction_at="2024-04-01 14:00:00+00",
            amount="-2.00",
            currency="GBP",
            items=None,
        ),
        # T1 re-delivered in a later file, with a different amount: the first load wins
        raw(
            "pos_2.csv",
            7,
            "2024-04-03 06:00:00+00",
            transaction_id="T1",
            loyalty_id="L1",
            store_id="S1",
            transaction_at="2024-04-01 12:00:00+00",
            amount="999.00",
            currency="GBP",
            items="SKU1*2|SKU2*1",
        ),
    ],
    "web_orders": [
        raw(
            "web_1.jsonl",
            1,
            order_id="W1",
            web_account_id="WA1",
            email="JANE.SMITH@example.com ",
            first_name="Jane",
            last_name="Smith",
            phone="+44 7700 900123",
            shipping_street="2 Park Rd",
            shipping_city="York",
            shipping_postcode="YO1 7HH",
            country="GB",
            ordered_at="2024-05-01 20:00:00+00",
            amount="70.00",
            currency="GBP",
            items="SKU9*1",
        ),
        raw(
            "web_1.jsonl",
            2,
            order_id="W2",
            web_account_id="WA2",
            email="bob@example.com",
            first_name="Bob",
            last_name="Jones",
            phone="07700 900999",
            shipping_street="3 Mill Ln",
            shipping_city="Hull",
            shipping_postcode="HU1 1AA",
            country="GB",
            ordered_at="2024-05-02 20:00:00+00",
            amount="15.00",
            currency="GBP",
            items="SKU4*3",
        ),
    ],
    "web_events": [
        raw(
            "ev_1.parquet",
            1,
            event_id="E1",
            session_id="S-1",
            web_account_id="WA1",
            event_type="page_view",
            page_url="/",
            product_sku=None,
            occurred_at="2024-05-01 19:55:00+00",
        ),
        raw(
            "ev_1.parquet",
            2,
            event_id="E2",
            session_id="S-2",
            web_account_id=None,
            event_type="page_view",
            page_url="/",
            product_sku=None,
            occurred_at="2024-05-01 19:56:00+00",
        ),
    ],
    "call_center_contacts": [
        raw(
            "cc_1.csv",
            1,
            contact_id="C1",
            account_id="A1",
            caller_name="SMITH, Jane",
            phone="(07700) 900-123",
            postcode="YO1 7HH",
            contact_reason="Delivery",
            is_complaint=True,
            is_resolved_first_time=False,
            handling_seconds=300,
            contacted_at="2024-05-05 10:00:00+00",
        ),
    ],
    "email_campaign_events": [
        raw(
            "em_1.jsonl",
            1,
            event_id="M1",
            campaign_id="CMP1",
            campaign_name="Spring",
            email="jane.smith@example.com",
            event_type="sent",
            occurred_at="2024-05-10 08:00:00+00",
        ),
        raw(
            "em_1.jsonl",
            2,
            event_id="M2",
            campaign_id="CMP1",
            campaign_name="Spring",
            email="Jane.Smith@example.com",
            event_type="click",
            occurred_at="2024-05-10 09:00:00+00",
        ),
        raw(
            "em_1.jsonl",
            3,
            event_id="M3",
            campaign_id="CMP2",
            campaign_name="Summer",
            email="jane.smith@example.com",
            event_type="sent",
            occurred_at="2024-05-20 08:00:00+00",
        ),
    ],
    "surveys": [
        raw(
            "sv_1.csv",
            1,
            response_id="R1",
            email="jane.smith@example.com",
            respondent_name="Jane Smith",
            satisfaction_score=4,
            recommend_score=8,
            comment=None,
            responded_at="2024-05-06 10:00:00+00",
        ),
        raw(
            "sv_1.csv",
            2,
            response_id="R2",
            email="jane.smith@example.com",
            respondent_name="Mrs J Smith",
            satisfaction_score=2,
            recommend_score=3,
            comment="late",
            responded_at="2024-05-21 10:00:00+00",
        ),
    ],
    "product_registrations": [
        raw(
            "pr_1.jsonl",
            1,
            registration_id="P1",
            product_sku="SKU4",
            serial_number="X1",
            first_name="Bob",
            last_name="Jones",
            email="bob@example.com",
            phone=None,
            postcode="hu1 1aa",
            purchase_date="2024-05-02",
            registered_at="2024-05-04 10:00:00+00",
        ),
    ],
}

XREF = [
    ("crm_accounts", "A1", "CUST1", "account_id"),
    ("pos_transactions", "L1", "CUST1", "loyalty_id"),
    ("web_orders", "WA1", "CUST1", "email"),
    ("web_events", "WA1", "CUST1", "web_account_id"),
    ("call_center_contacts", "C1", "CUST1", "account_id"),
    ("email_campaign_events", "jane.smith@example.com", "CUST1", "email"),
    ("surveys", "R1", "CUST1", "email"),
    ("surveys", "R2", "CUST1", "email"),
    ("web_orders", "WA2", "CUST2", "new"),
    ("product_registrations", "P1", "CUST2", "email"),
]

SCORES = [
    # customer, cutoff, model version, churn, scored_at
    ("CUST1", "2024-03-01", "v1", 0.90, "2024-03-02 00:00:00+00"),
    ("CUST1", "2024-06-01", "v1", 0.50, "2024-06-02 00:00:00+00"),
    ("CUST1", "2024-06-01", "v2", 0.20, "2024-06-02 01:00:00+00"),  # rescored: the latest scored_at wins
    ("CUST2", "2024-06-01", "v2", 0.40, "2024-06-02 01:00:00+00"),
]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def settings(server_url) -> Settings:
    """Settings for a scratch database (created by `built`; the manifest names the database)."""
    return Settings(warehouse_url=with_database(server_url, f"c360_test_dbt_{uuid.uuid4().hex[:8]}"))


@pytest.fixture(scope="module")
def parsed(settings, tmp_path_factory):
    """`dbt parse`, which needs no database: the target path holding manifest.json, and the manifest."""
    target_path = tmp_path_factory.mktemp("dbt_target")
    result = run_dbt(settings, target_path, "parse")
    return target_path, result.result


@pytest.fixture(scope="module")
def built(settings, parsed):
    """A fresh database taken through the three dbt steps."""
    target_path, manifest = parsed
    ensure_database(settings.warehouse_url)
    try:
        prepare_warehouse(settings)
        with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
            for source_name in SOURCES:
                conn.execute(raw_table_ddl(source_name))
                insert(conn, "raw", source_name, RAW_ROWS.get(source_name, []))
            conn.execute(
                "create table identity.customer_source_xref (source text, source_record_key text, "
                "customer_id text not null, matched_by text, primary key (source, source_record_key))"
            )
            ensure_identity_tables(conn)  # the other identity tables the steward mart reads
            ensure_ml_tables(conn)  # the table exactly as the ML step creates it
            ensure_run_tables(conn)  # registered intervals: customer_rfm's as-of

        from customer360.quality.gate import CheckResult, store_results

        with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
            tables.create(conn, tables.INGEST_OPS)
        for run_id, day, passed in DQ_RUNS:
            store_results(
                settings,
                run_id,
                ["raw.surveys"],
                [
                    CheckResult(
                        run_id=run_id,
                        checked_at=day,
                        suite="raw.surveys",
                        check_name=name,
                        table_name="raw.surveys",
                        column_name=None,
                        severity=severity,
                        owner="source",
                        passed=passed or severity == "error",
                        failing_count=0 if passed else 3,
                        failing_examples=[] if passed else ["surveys_2024-06-01_001.csv:7"],
                    )
                    for name, severity in (("not_null:response_id", "error"), ("range_0_10:recommend_score", "warn"))
                ],
            )

        timings, warned = {}, set()
        started = time.monotonic()
        result = run_dbt(settings, target_path, "build", "--selector", "staging_intermediate", manifest=manifest)
        timings["staging_intermediate"] = time.monotonic() - started
        warned |= {r.node.name for r in result.result.results if str(r.status) == "warn"}

        # the identity step: every record of int_source_records gets a customer
        with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
            insert(
                conn,
                "identity",
                "customer_source_xref",
                [dict(zip(("source", "source_record_key", "customer_id", "matched_by"), r)) for r in XREF],
            )
            refresh_pseudonyms(conn)  # the identity step also writes the records' pseudonymised keys

        started = time.monotonic()
        result = run_dbt(settings, target_path, "build", "--selector", "core_marts", manifest=manifest)
        timings["core_marts"] = time.monotonic() - started
        warned |= {r.node.name for r in result.result.results if str(r.status) == "warn"}

        # the ML step
        with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
            insert(
                conn,
                "ml",
                "customer_scores",
                [
                    dict(
                        customer_id=c,
                        cutoff_date=d,
                        model_version=v,
                        churn_probability=p,
                        expected_purchases=2.0,
                        expected_revenue=100,
                        p_alive=0.8,
                        clv=90,
                        scored_at=t,
                    )
                    for c, d, v, p, t in SCORES
                ],
            )

        started = time.monotonic()
        run_dbt(settings, target_path, "build", "--selector", "scored_marts", manifest=manifest)
        timings["scored_marts"] = time.monotonic() - started
        # what publishing adds: the golden-record snapshot and the history view over it
        run_dbt(
            settings,
            target_path,
            "build",
            "--select",
            "customer_history_snapshot",
            "dim_customer_history",
            manifest=manifest,
        )
        print("dbt step runtimes (s):", {k: round(v, 1) for k, v in timings.items()})

        yield SimpleNamespace(settings=settings, target_path=target_path, manifest=manifest, warned=warned)
    finally:
        drop_database(settings.warehouse_url)


def test_dbt_parse_writes_a_manifest_with_the_models_and_selectors(parsed):
    target_path, _ = parsed
    manifest = json.loads((target_path / "manifest.json").read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {"int_source_records", "dim_customer", "fct_orders", "fct_touchpoints", "customer_360"} <= set(models)
    assert {m["schema"] for name, m in models.items() if name.startswith("stg_")} == {"staging"}
    assert models["int_source_records"]["schema"] == "intermediate"
    assert models["dim_customer"]["schema"] == "marts"
    assert {models[m]["schema"] for m in ("customer_golden_record", "steward_review_pairs")} == {"steward"}
    assert set(manifest["selectors"]) >= {"staging_intermediate", "core_marts", "scored_marts"}


def test_a_layer_build_reports_every_node_and_fails_naming_the_failed_test(built, tmp_path):
    """The DAG's dbt task: one `dbt build --selector`, its nodes read back from run_results.json."""
    from customer360.orchestration.dbt import DbtBuildFailed, build_layer, summarise

    settings = built.settings
    nodes = build_layer(settings, "staging_intermediate", tmp_path)
    names = {n.name for n in nodes}
    assert {"stg_surveys__responses", "int_source_records", "not_null_stg_surveys__responses_responded_at"} <= names
    assert not [n for n in nodes if n.failed]
    summary = summarise("staging_intermediate", nodes)
    assert summary["nodes"]["model"] >= 10 and summary["nodes"]["test"] >= 10
    assert set(summary["statuses"]) <= {"success", "pass", "warn"}

    bad = raw("sv_9.csv", 1, response_id="R9", email="x@example.com", respondent_name="X", responded_at=None)
    with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
        insert(conn, "raw", "surveys", [bad])
    try:
        with pytest.raises(DbtBuildFailed) as failed:
            build_layer(settings, "staging_intermediate", tmp_path)
        message = str(failed.value)
        assert "not_null_stg_surveys__responses_responded_at: fail" in message
        assert "skipped because of them" in message  # what reads the failed model's output is not built
    finally:
        with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
            conn.execute("delete from raw.surveys where response_id = 'R9'")
        build_layer(settings, "staging_intermediate", tmp_path)


def test_the_dbt_docs_are_generated_again_only_when_the_project_or_a_table_changes(built, tmp_path):
    """A day's run leaves the docs page as it was: nothing it shows has changed."""
    from customer360.orchestration.dbt import write_docs

    settings, target, reports = built.settings, tmp_path / "target", tmp_path / "reports"
    page, written = write_docs(settings, target, reports)
    assert written and page.stat().st_size > 10_000  # the self-contained site, manifest and catalog inline
    assert write_docs(settings, target, reports) == (page, False)
    with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
        conn.execute("create table public.docs_probe (probe int)")
    try:
        assert write_docs(settings, target, reports) == (page, True)
    finally:
        with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
            conn.execute("drop table public.docs_probe")


# Marts of every business area built with the core marts, and those that read the ML scores.
CORE_MARTS = {
    "dim_date",
    "dim_customer",
    "dim_channel",
    "dim_store",
    "dim_campaign",
    "dim_product",
    "fct_orders",
    "fct_order_lines",
    "fct_service_contacts",
    "fct_campaign_responses",
    "fct_survey_responses",
    "customer_rfm",
    "customer_value_pareto",
}
SCORED_MARTS = {"customer_scores", "crm_scorecard_monthly", "customer_360"}
STEWARD_MODELS = {"customer_golden_record", "steward_review_pairs"}
HISTORY = {"customer_history_snapshot", "dim_customer_history"}


def test_every_node_is_built_by_exactly_one_pipeline_step(settings, parsed):
    """The steps follow lineage (selectors.yml): each model, seed and test is in exactly one of the
    three builds, or is the history the publish step builds; the Python outputs' own tests run too."""
    target_path, manifest = parsed

    def listed(*selection: str) -> set[str]:
        args = ("ls", "--resource-types", "model", "seed", "test", "snapshot", "--output", "name", *selection)
        return set(run_dbt(settings, target_path, *args, manifest=manifest).result)

    steps = {layer: listed("--selector", layer) for layer in LAYERS}
    history = listed("--select", "tag:history")
    everything = listed()
    for a, b in itertools.combinations([*steps.values(), history], 2):
        assert not a & b, sorted(a & b)
    assert set().union(*steps.values(), history) == everything, sorted(everything - set().union(*steps.values()))
    assert CORE_MARTS | STEWARD_MODELS <= steps[CORE_MARTS_SELECTOR]
    assert SCORED_MARTS <= steps[SCORED_MARTS_SELECTOR]
    assert HISTORY <= history
    assert "int_source_records" in steps[STAGING_SELECTOR]
    assert "source_not_null_identity_customer_source_xref_customer_id" in steps[CORE_MARTS_SELECTOR]
    assert "source_not_null_ml_customer_scores_customer_id" in steps[SCORED_MARTS_SELECTOR]


def test_every_mart_and_column_is_documented(parsed):
    """BI users read the docs site: every marts model and each of its columns says what it means."""
    target_path, _ = parsed
    manifest = json.loads((target_path / "manifest.json").read_text())
    marts = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["original_file_path"].startswith("models/marts/")
    ]
    assert {m["name"] for m in marts} >= CORE_MARTS | SCORED_MARTS
    for model in marts:
        assert model["description"].strip(), f"{model['name']} has no description"
        assert model["columns"], f"{model['name']} documents no columns"
        undocumented = [c for c, col in model["columns"].items() if not col["description"].strip()]
        assert not undocumented, f"{model['name']}: columns without a description: {undocumented}"


def test_every_model_is_tested_and_warn_level_tests_are_the_chosen_few(parsed):
    """Each model has a dbt test; warn is set on purpose (a steward looks), everything else stops the build."""
    target_path, _ = parsed
    manifest = json.loads((target_path / "manifest.json").read_text())
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] in ("test", "unit_test")]
    tested = {parent for t in tests for parent in t["depends_on"]["nodes"]}
    models = [k for k, n in manifest["nodes"].items() if n["resource_type"] == "model"]
    assert models and not [m for m in models if m not in tested], "models without a dbt test"
    severities = {t["config"]["severity"].lower() for t in tests if t["resource_type"] == "test"}
    assert severities == {"error", "warn"}
    warned = [t for t in tests if t["resource_type"] == "test" and t["config"]["severity"].lower() == "warn"]
    assert all("severity" in (t.get("unrendered_config") or {}) for t in warned), "warn set by accident"


def test_the_dashboard_is_declared_as_an_exposure(parsed):
    target_path, _ = parsed
    manifest = json.loads((target_path / "manifest.json").read_text())
    (exposure,) = [e for e in manifest["exposures"].values() if e["name"] == "customer_360_dashboard"]
    assert exposure["type"] == "dashboard" and exposure["owner"]["name"] == "CRM analytics"
    assert exposure["url"] == "http://localhost:3000/dashboard/1"
    parents = {manifest["nodes"][n]["name"] for n in exposure["depends_on"]["nodes"]}
    assert parents == {
        "customer_360",
        "crm_scorecard_monthly",
        "customer_value_pareto",
        "customer_rfm",
        "dq_table_status",
    }


# --------------------------------------------------------------------------- built warehouse


def test_mart_tables_have_exactly_the_documented_columns(built):
    """The docs cannot drift from the tables: every column documented, no documented column missing."""
    manifest = json.loads((built.target_path / "manifest.json").read_text())
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or not node["original_file_path"].startswith("models/marts/"):
            continue
        actual = [
            r[0]
            for r in query(
                built.settings,
                "select column_name from information_schema.columns where table_schema = 'marts' and table_name = %s"
                " order by ordinal_position",
                (node["name"],),
            )
        ]
        documented = set(node["columns"])
        assert set(actual) == documented, (
            f"marts.{node['name']}: undocumented {sorted(set(actual) - documented)}, "
            f"documented but not in the table {sorted(documented - set(actual))}"
        )


def test_unit_tests_pass(built):
    result = run_dbt(built.settings, built.target_path, "test", "--select", "test_type:unit", manifest=built.manifest)
    statuses = {r.node.name: str(r.status) for r in result.result.results}
    assert set(statuses.values()) == {"pass"}, statuses
    assert {
        "test_stg_crm__accounts_standardises_tricky_values",
        "test_stg_crm__accounts_phone_default_country_is_configurable",
        "test_int_source_records_nicknames_and_email_repairs",
        "test_stg_call_center__contacts_caller_name_and_phone",
        "test_customer_golden_record_survivorship_and_provenance",
        "test_dim_customer_shows_only_the_allowed_personal_columns",
    } <= set(statuses), statuses
    marts_unit_tests = {
        "test_customer_rfm_scores_quintiles_and_names_segments",
        "test_customer_rfm_as_of_defaults_to_after_latest_order",
        "test_customer_value_pareto_accumulates_revenue_by_percentile",
        "test_customer_360_products_value_decile_and_rfm",
        "test_customer_360_equal_revenue_shares_a_decile",
        "test_scorecard_acquisition_retention_and_churn",
        "test_scorecard_revenue_products_and_top_20pct",
        "test_scorecard_campaign_service_survey_and_clv",
        "test_dim_campaign_formula_names_leave_as_text",
        "test_customer_360_says_why_a_customer_has_no_scores",
    }
    assert marts_unit_tests <= set(statuses), statuses


def test_staging_deduplicates_redeliveries(built):
    settings = built.settings
    assert query(settings, "select transaction_id, amount from staging.stg_pos__transactions order by 1") == [
        ("T1", 30),
        ("T2", 5.5),
        ("T3", -2),
    ]
    # the CRM account keeps its latest version only
    assert query(settings, "select account_id, city, email_normalised from staging.stg_crm__accounts") == [
        ("A1", "York", "jane.smith@example.com")
    ]


def test_int_source_records_is_unique_per_source_record(built):
    settings = built.settings
    rows = query(settings, "select source, source_record_key from intermediate.int_source_records")
    assert len(rows) == len(set(rows))
    # exactly the records the identity step must resolve (anonymous ones left out)
    assert set(rows) == {(s, k) for s, k, _, _ in XREF}
    (web,) = query(
        settings,
        "select email_normalised, phone_normalised from intermediate.int_source_records where source_record_key = 'WA1'"
        " and source = 'web_orders'",
    )
    assert web == ("jane.smith@example.com", "+447700900123")


def test_the_golden_record_has_one_row_per_customer_and_bi_sees_only_allowed_personal_columns(built):
    settings = built.settings
    rows = query(
        settings,
        "select customer_id, first_name, email, phone, city, postcode, golden_source, source_record_count,"
        " source_systems from steward.customer_golden_record order by customer_id",
    )
    assert [r[0] for r in rows] == ["CUST1", "CUST2"]
    jane, bob = rows
    assert jane[1:7] == ("Jane", "jane.smith@example.com", "+447700900123", "York", "YO17HH", "crm_accounts")
    assert jane[7] == 8
    assert bob[6] == "web_orders"  # no CRM account: the most trusted source it has
    assert bob[8] == "product_registrations,web_orders"
    # the default bi_personal_columns: names, city and country; no e-mail, phone, postcode or birth date
    bi = query(
        settings,
        "select customer_id, first_name, email, phone, city, postcode, date_of_birth, golden_source"
        " from marts.dim_customer order by customer_id",
    )
    assert bi[0] == ("CUST1", "Jane", None, None, "York", None, None, "crm_accounts")
    assert len(bi) == 2
    # ... but a pseudonymised key of the e-mail: the keyed hash, not the address or its bare hash
    from customer360.privacy.keys import load_key
    from customer360.privacy.pseudonyms import email_key

    keys = query(settings, "select customer_id, email_key from marts.dim_customer order by customer_id")
    assert keys[0][1] == email_key(load_key(), "jane.smith@example.com")
    assert keys[0][1] != keys[1][1] and all(re.fullmatch(r"[0-9a-f]{32}", k) for _, k in keys)


def test_fct_orders_keeps_the_anonymous_sale(built):
    settings = built.settings
    rows = query(
        settings,
        "select source_order_id, customer_id, channel, amount, item_count from marts.fct_orders order by 1",
    )
    assert rows == [
        ("T1", "CUST1", "store", 30, 3),
        ("T2", None, "store", 5.5, 1),
        ("T3", None, "store", -2, 0),
        ("W1", "CUST1", "web", 70, 1),
        ("W2", "CUST2", "web", 15, 3),
    ]


def test_fct_touchpoints_covers_every_interaction(built):
    settings = built.settings
    (count,) = query(settings, "select count(*) from marts.fct_touchpoints")[0]
    assert count == 5 + 2 + 1 + 3 + 2 + 1  # orders, web events, calls, e-mails, surveys, registrations


def test_customer_360_summarises_and_takes_the_latest_scores(built):
    settings = built.settings
    rows = query(
        settings,
        "select customer_id, order_count, total_revenue, channels_used, service_contact_count, complaint_count,"
        " latest_satisfaction_score, campaign_emails_sent, campaign_response_rate, churn_probability,"
        " scores_cutoff_date::text, scores_model_version from marts.customer_360 order by customer_id",
    )
    assert len(rows) == 2
    jane, bob = rows
    assert jane == ("CUST1", 2, 100, "store,web", 1, 1, 2, 2, 0.5, 0.2, "2024-06-01", "v2")
    assert bob[:4] == ("CUST2", 1, 15, "web")
    assert bob[9:] == (0.4, "2024-06-01", "v2")


DQ_RUNS = [  # (run, as-of, warn check passed): the older run warned, the latest passed
    ("scheduled__2024-06-01", datetime(2024, 6, 2, tzinfo=UTC), False),
    ("scheduled__2024-06-02", datetime(2024, 6, 3, tzinfo=UTC), True),
]


def test_dq_marts_show_each_table_and_check_at_its_latest_run(built):
    (row,) = query(
        built.settings,
        "select table_name, latest_run_id, status, checks, failed_warn_checks from marts.dq_table_status",
    )
    assert row == ("raw.surveys", "scheduled__2024-06-02", "passed", 2, 0)
    checks = dict(query(built.settings, "select check_name, failures_in_last_10_runs from marts.dq_check_latest"))
    assert checks == {"not_null:response_id": 0, "range_0_10:recommend_score": 1}


def test_customer_scores_mart_exposes_the_latest_cutoff_and_customer_360_agrees(built):
    settings = built.settings
    scores = query(
        settings,
        "select customer_id, cutoff_date::text, model_version, churn_probability from marts.customer_scores"
        " order by customer_id",
    )
    assert scores == [("CUST1", "2024-06-01", "v2", 0.2), ("CUST2", "2024-06-01", "v2", 0.4)]
    disagree = query(
        settings,
        "select count(*) from marts.customer_360 c join marts.customer_scores s using (customer_id)"
        " where c.churn_probability is distinct from s.churn_probability"
        " or c.scores_model_version is distinct from s.model_version",
    )
    assert disagree == [(0,)]


def test_negative_amounts_warn_but_do_not_stop_the_build(built):
    assert "accepted_range_stg_pos__transactions_amount__0" in built.warned
    assert "accepted_range_fct_orders_amount__0" in built.warned
    assert "accepted_range_stg_web__orders_amount__0" not in built.warned


# --------------------------------------------------------------------------- issue 5 marts on the handmade rows


def test_dimensions_cover_the_data(built):
    settings = built.settings
    (days, first, last, weekend_days) = query(
        settings,
        "select count(*), min(date_day)::text, max(date_day)::text, count(*) filter (where is_weekend)"
        " from marts.dim_date",
    )[0]
    assert (days, first, last) == (366, "2024-01-01", "2024-12-31")  # the data's whole years, every day
    assert weekend_days == 104
    channels = dict(query(settings, "select channel, is_sales_channel from marts.dim_channel"))
    assert channels == {
        "store": True,
        "web": True,
        "phone": False,
        "email": False,
        "survey": False,
        "registration": False,
    }
    assert query(
        settings,
        "select store_id, transaction_count, customer_count, first_sale_date::text from marts.dim_store order by 1",
    ) == [("S1", 2, 1, "2024-04-01"), ("S2", 1, 0, "2024-04-01")]
    assert query(
        settings,
        "select campaign_id, campaign_name, sends, clicks, recipients_sent, response_rate"
        " from marts.dim_campaign order by 1",
    ) == [("CMP1", "Spring", 1, 1, 1, 1), ("CMP2", "Summer", 1, 0, 1, 0)]
    assert query(settings, "select product_sku, units_sold, registration_count from marts.dim_product order by 1") == [
        ("SKU1", 2, 0),
        ("SKU2", 1, 0),
        ("SKU3", 1, 0),
        ("SKU4", 3, 1),
        ("SKU9", 1, 0),
    ]


def test_facts_at_their_grain_carry_the_customer(built):
    settings = built.settings
    lines = query(
        settings,
        "select source_order_id, line_number, product_sku, quantity, customer_id"
        " from marts.fct_order_lines order by 1, 2",
    )
    assert lines == [
        ("T1", 1, "SKU1", 2, "CUST1"),
        ("T1", 2, "SKU2", 1, "CUST1"),
        ("T2", 1, "SKU3", 1, None),
        ("W1", 1, "SKU9", 1, "CUST1"),
        ("W2", 1, "SKU4", 3, "CUST2"),
    ]  # T3 has no items
    assert query(
        settings,
        "select contact_id, customer_id, contact_reason, is_complaint, is_resolved_first_time,"
        " handling_seconds from marts.fct_service_contacts",
    ) == [("C1", "CUST1", "delivery", True, False, 300)]
    assert query(
        settings, "select response_id, customer_id, nps_group, has_comment from marts.fct_survey_responses order by 1"
    ) == [("R1", "CUST1", "passive", False), ("R2", "CUST1", "detractor", True)]
    assert query(
        settings, "select campaign_id, customer_id, is_sent, has_responded from marts.fct_campaign_responses order by 1"
    ) == [("CMP1", "CUST1", True, True), ("CMP2", "CUST1", True, False)]
    # the recipient is named by the address's keyed hash; the row key comes from source ids, not the address
    from customer360.privacy.keys import load_key
    from customer360.privacy.pseudonyms import email_key

    jane = email_key(load_key(), "jane.smith@example.com")
    responses = query(
        settings,
        "select campaign_id, recipient_email_key, campaign_response_key from marts.fct_campaign_responses order by 1",
    )
    assert [r[1] for r in responses] == [jane, jane]
    assert [r[2] for r in responses] == [
        hashlib.md5(f"{c}-{e}".encode()).hexdigest() for c, e in (("CMP1", "M1"), ("CMP2", "M3"))
    ]  # (campaign, first event)
    # the service and survey keys are the touchpoint keys: a BI user can join the two
    (unmatched,) = query(
        settings,
        "select count(*) from marts.fct_service_contacts s left join marts.fct_touchpoints t"
        " on t.touchpoint_key = s.service_contact_key where t.touchpoint_key is null",
    )[0]
    assert unmatched == 0


def test_rfm_pareto_scorecard_and_customer_360_on_the_handmade_rows(built):
    settings = built.settings
    # as of the day after the latest order (W2 on 2024-05-02)
    assert query(
        settings,
        "select customer_id, as_of_date::text, recency_days, frequency, monetary from marts.customer_rfm order by 1",
    ) == [("CUST1", "2024-05-03", 2, 2, 100), ("CUST2", "2024-05-03", 1, 1, 15)]
    pareto = query(
        settings,
        "select customer_percentile, customer_count, cumulative_revenue_share"
        " from marts.customer_value_pareto order by 1",
    )
    assert len(pareto) == 100 and pareto[-1] == (100, 2, 1)
    assert pareto[49] == (50, 1, Decimal("0.869565"))  # Jane: 100 of 115
    scorecard = query(
        settings,
        "select month::text, new_customers, active_customers, revenue,"
        " campaign_response_rate, first_contact_resolution_rate, avg_handling_seconds,"
        " avg_satisfaction_score, total_clv from marts.crm_scorecard_monthly order by 1",
    )
    assert scorecard == [
        ("2024-04-01", 1, 1, 30, None, None, None, None, 180),
        ("2024-05-01", 1, 2, 85, Decimal("0.5"), 0, 300, 3, 180),
    ]
    assert query(
        settings,
        "select customer_id, products_per_customer, value_decile, rfm_score from marts.customer_360 order by 1",
    ) == [("CUST1", 3, 5, "122"), ("CUST2", 1, 10, "211")]


def test_the_history_shows_what_a_customer_looked_like_on_a_past_date(built):
    """Near the end of this module (it adds a CRM delivery): Jane moves from York to Bath."""
    settings, target_path, manifest = built.settings, built.target_path, built.manifest
    history = ("build", "--select", "customer_history_snapshot", "dim_customer_history")
    run_dbt(settings, target_path, *history, manifest=manifest)
    (between,) = query(settings, "select clock_timestamp()")[0]
    with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
        insert(
            conn,
            "raw",
            "crm_accounts",
            [
                raw(
                    "crm_4.csv",
                    1,
                    "2024-06-06 06:00:00+00",
                    account_id="A1",
                    title="Ms",
                    first_name="Jane",
                    last_name="Smith",
                    email="jane.smith@example.com",
                    phone="07700 900123",
                    date_of_birth="1980-05-17",
                    street_address="9 Abbey Rd",
                    city="Bath",
                    postcode="ba1 1aa",
                    country="GB",
                    loyalty_id="L1",
                    created_at="2024-01-01 09:00:00+00",
                    updated_at="2024-06-05 10:00:00+00",
                ),
            ],
        )
    run_dbt(settings, target_path, "build", "--selector", "staging_intermediate", manifest=manifest)
    run_dbt(settings, target_path, "build", "--selector", "core_marts", manifest=manifest)
    run_dbt(settings, target_path, *history, manifest=manifest)

    as_of = (
        "select city from marts.dim_customer_history where customer_id = 'CUST1' "
        "and valid_from <= %s and (valid_to > %s or valid_to is null)"
    )
    assert query(settings, as_of, (between, between)) == [("York",)]
    assert query(
        settings,
        "select city, is_current from marts.dim_customer_history where customer_id = 'CUST1' order by valid_from",
    ) == [("York", False), ("Bath", True)]
    # the personal columns BI may not see stay hidden in the history too
    assert query(settings, "select count(email) from marts.dim_customer_history") == [(0,)]


def test_incremental_facts_equal_a_full_refresh(built):
    """Last in this module (it adds deliveries): a new sale, a sale delivered two months late
    (its load time is new, its event time old) and a merge of two customers by the identity step."""
    settings, target_path, manifest = built.settings, built.target_path, built.manifest
    with psycopg.connect(settings.warehouse_url, autocommit=True) as conn:
        insert(
            conn,
            "raw",
            "pos_transactions",
            [
                raw(
                    "pos_3.csv",
                    1,
                    "2024-06-05 06:00:00+00",
                    transaction_id="T4",
                    loyalty_id="L1",
                    store_id="S1",
                    transaction_at="2024-06-04 12:00:00+00",
                    amount="12.00",
                    currency="GBP",
                    items="SKU1*1",
                ),
                raw(
                    "pos_3.csv",
                    2,
                    "2024-06-05 06:00:00+00",
                    transaction_id="T5",
                    loyalty_id="L1",
                    store_id="S2",
                    transaction_at="2024-04-01 09:00:00+00",
                    amount="8.00",
                    currency="GBP",
                    items="SKU2*1",
                ),
            ],
        )
        conn.execute("update identity.customer_source_xref set customer_id = 'CUST2' where customer_id = 'CUST1'")

    def facts() -> dict[str, list[tuple]]:
        return {
            table: query(settings, f"select * from marts.{table} order by 1")
            for table in ("fct_orders", "fct_touchpoints")
        }

    before = facts()
    run_dbt(settings, target_path, "build", "--selector", "staging_intermediate", manifest=manifest)
    # no look-back: the new, late and re-linked rows must arrive without it
    run_dbt(
        settings,
        target_path,
        "build",
        "--selector",
        "core_marts",
        "--vars",
        "{fact_lookback_days: 0}",
        manifest=manifest,
    )
    incremental = facts()
    run_dbt(settings, target_path, "build", "--selector", "core_marts", "--full-refresh", manifest=manifest)
    assert incremental == facts()

    orders = {row[2]: row for row in query(settings, "select * from marts.fct_orders")}  # by source_order_id
    assert {"T4", "T5"} <= set(orders) and len(incremental["fct_orders"]) == len(before["fct_orders"]) + 2
    assert orders["T1"][3] == "CUST2"  # re-linked by the merge, not left on the retired id
