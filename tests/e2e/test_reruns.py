"""Reruns, backfills, late and out-of-order data, empty deliveries: real DAG runs on the real Postgres.

One small simulated company, two warehouses fed the same landing files:

* **A** runs the backfill days one after another (one DAG run per day);
* **B** runs the same days as DAG runs in parallel, each with its own interval, then
  (while A is still at its later days) reruns an older day, then runs a day whose files
  are empty (header only).

Landing files carry the awkward cases: the till sales of day 1 arrive three days
late (in day 4's folder; day 1 has an empty file), and the CRM re-sends an older
version of an account after its newer one.

Figures are printed (run with -s to see them) and asserted.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from customer360.config import Settings
from customer360.db.connection import connect
from customer360.devtools.run_dag import run_dag_subprocess
from customer360.devtools.server import drop_database
from customer360.ingestion.contracts import SOURCES
from customer360.orchestration.dbt import run_dbt
from customer360.simulator import simulate
from customer360.simulator.config import SimulationConfig
from tests.support.databases import make_test_database
from tests.support.marts import RUN_RECORD_RELATIONS, diff_examples, diff_rows, marts_rows
from tests.support.warehouses import copy_airflow_home

PEOPLE = 80
# The issue asks for a 7-day backfill: C360_TEST_BACKFILL_DAYS=7. The default of 5 keeps
# `make test` inside CI's time limit on two cores (each day is a sequential and a parallel DAG run).
BACKFILL_DAYS = int(os.environ.get("C360_TEST_BACKFILL_DAYS", "5"))
START = date(2024, 1, 1)
LATE_DAY, LATE_BY = 1, 3
RERUN_DAY = 2
OUT_OF_ORDER_NAME = "Outoforder"
# Columns that differ between a backfill run in parallel and one run day by day by design:
# _loaded_at is when the warehouse loaded the row (another warehouse, another time); the churn
# champion and the behaviour clusters carry model history: day by day, the first day's churn
# model stays champion (it cannot be judged on unseen outcomes for 90 days) and cluster labels
# follow the previous run's, while the parallel backfill's first build was already at the
# last day. The scores themselves (churn, CLV, p_alive, expected purchases) are compared.
MODEL_HISTORY_COLUMNS = frozenset({"churn_model_version", "cluster_id", "cluster_name"})
BACKFILL_EXCLUDED = frozenset({"_loaded_at"}) | MODEL_HISTORY_COLUMNS
# Columns that move with the as-of date (scores age by a day without a purchase), not with the data.
AS_OF_COLUMNS = frozenset({"total_clv", "clv_cutoff_date"})
# Relations every run of the small company fills (it has too few days for, say, an id change).
ALWAYS_FILLED = (
    "dim_customer",
    "dim_date",
    "fct_orders",
    "fct_order_lines",
    "fct_touchpoints",
    "customer_360",
    "customer_rfm",
    "customer_scores",
    "customer_value_pareto",
    "crm_scorecard_monthly",
)


def _day(offset: int) -> date:
    return START + timedelta(days=offset)


def _land_awkward_files(landing: Path) -> dict:
    """Day 1's till sales three days late; an older CRM version re-sent after the newer one."""
    late_src = landing / "pos_transactions" / _day(LATE_DAY).isoformat()
    files = sorted(late_src.glob("*.csv"))
    header = files[0].read_text().splitlines()[0]
    late_dir = landing / "pos_transactions" / _day(LATE_DAY + LATE_BY).isoformat()
    late_dir.mkdir(parents=True, exist_ok=True)
    late_rows = 0
    for f in files:
        late_rows += len(f.read_text().splitlines()) - 1
        shutil.move(f, late_dir / f"late_{f.name}")
    (late_src / f"pos_transactions_{_day(LATE_DAY)}_001.csv").write_text(header + "\n")  # the day's empty file

    crm = SOURCES["crm_accounts"]
    first = sorted((landing / "crm_accounts" / _day(0).isoformat()).glob("*.csv"))[0]
    rows = list(csv.DictReader(io.StringIO(first.read_text()), delimiter=crm.delimiter))
    row = next(r for r in rows if r["updated_at"] and r["created_at"] and r["last_name"])
    sent_at = datetime.fromisoformat(row["updated_at"].replace("Z", "+00:00"))
    earlier = (sent_at - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # an older version of the account (an hour before the version already sent), delivered two days later
    older = dict(row, last_name=OUT_OF_ORDER_NAME, created_at=earlier, updated_at=earlier)
    newer_day = _day(2).isoformat()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=crm.column_names, delimiter=crm.delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerow(older)
    (landing / "crm_accounts" / newer_day / f"crm_accounts_{newer_day}_009.csv").write_text(buf.getvalue())
    return {"late_rows": late_rows, "account_id": row["account_id"], "account_updated_at": row["updated_at"]}


def _empty_day(landing: Path, offset: int) -> None:
    for source in ("pos_transactions", "crm_accounts"):
        contract = SOURCES[source]
        folder = landing / source / _day(offset).isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{source}_{_day(offset)}_001.csv").write_text(contract.delimiter.join(contract.column_names) + "\n")


# --------------------------------------------------------------------------- what is compared


def _scores(settings: Settings) -> list[str]:
    """customer_scores rows with their model-history columns: how many differ is a figure."""
    return marts_rows(settings, canonical_ids=True, exclude=frozenset({"_loaded_at"}))["customer_scores"]


def duplicates(settings: Settings) -> dict[str, int]:
    """Whole-row duplicates in every table of every project schema; raw rows by (file, line)."""
    out = {}
    with connect(settings) as conn:
        tables = conn.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' "
            "and table_schema in ('raw', 'quarantine', 'staging', 'intermediate', 'identity', 'steward', "
            "'marts', 'ml', 'history') order by 1, 2"
        ).fetchall()
        for schema, table in tables:
            if schema in ("raw", "quarantine"):
                expr = "(t._file_name, t._line_number)::text"
            else:
                expr = "t::text"
            n = conn.execute(f'select count(*) - count(distinct {expr}) from "{schema}"."{table}" t').fetchone()[0]
            out[f"{schema}.{table}"] = n
        keys = {
            "marts.dim_customer": "customer_id",
            "marts.customer_360": "customer_id",
            "marts.fct_orders": "order_key",
            "marts.fct_touchpoints": "touchpoint_key",
        }
        for table, key in keys.items():
            n = conn.execute(f"select count(*) - count(distinct {key}) from {table}").fetchone()[0]
            out[f"{table} by {key}"] = n
        n = conn.execute(
            "select count(*) - count(distinct customer_id) from history.customer_history_snapshot "
            "where dbt_valid_to is null"
        ).fetchone()[0]
        out["history.customer_history_snapshot current rows by customer_id"] = n
    return out


# --------------------------------------------------------------------------- the runs


@pytest.fixture(scope="module")
def warehouses(server_url, tmp_path_factory, airflow_home):
    work = tmp_path_factory.mktemp("reruns")
    config = SimulationConfig(people=PEOPLE, days=BACKFILL_DAYS, defect_rate=0.0)
    landing_a = work / "a" / "data"
    simulate(config, landing_a)
    awkward = _land_awkward_files(landing_a / "landing")
    shutil.copytree(landing_a / "landing", work / "b" / "data" / "landing")

    def env_for(name: str) -> dict[str, str]:
        return {
            "WAREHOUSE_URL": make_test_database(server_url, f"reruns{name}"),
            "C360_DATA_DIR": str(work / name / "data"),
            "C360_REPORTS_DIR": str(work / name / "reports"),
            "C360_TASK_RETRIES": "0",
        }

    env_a, env_b = env_for("a"), env_for("b")
    a, b = (Settings.from_env({**os.environ, **e}) for e in (env_a, env_b))

    def run(env: dict, label: str, offset: int, days: int = 1) -> bool:
        name = "a" if env is env_a else "b"
        # runs one after another share an Airflow home; parallel ones each have their own (SQLite)
        home = work / name / ("airflow" if name == "a" else f"airflow-{label}")
        if not home.exists():
            copy_airflow_home(airflow_home, home)  # already migrated
        return run_dag_subprocess(
            _day(offset),
            _day(offset + days),
            work / name / f"{label}.log",
            env=env,
            airflow_home=home,
            on_progress=lambda _: None,
        )

    def sequential() -> list[bool]:
        return [run(env_a, f"day{d}", d) for d in range(BACKFILL_DAYS)]

    def parallel_then_rerun() -> dict:
        with ThreadPoolExecutor(max_workers=BACKFILL_DAYS) as pool:
            par_ok = list(pool.map(lambda d: run(env_b, f"day{d}", d), range(BACKFILL_DAYS)))
        out = {
            "par_ok": par_ok,
            "b_after_backfill": marts_rows(b, canonical_ids=True, exclude=BACKFILL_EXCLUDED),
            "b_scores_after_backfill": _scores(b),
            "b_raw_after_backfill": marts_rows(b, canonical_ids=False),
            "b_duplicates_after_backfill": duplicates(b),
        }
        # B's backfill ends before A's: the rerun and the empty day run while A is still at its last days
        out["rerun_ok"] = run(env_b, "rerun", RERUN_DAY)
        out["b_after_rerun"] = marts_rows(b, canonical_ids=False)
        out["b_data_after_rerun"] = marts_rows(b, canonical_ids=False, exclude=AS_OF_COLUMNS)
        _empty_day(work / "b" / "data" / "landing", BACKFILL_DAYS)
        out["empty_ok"] = run(env_b, "empty", BACKFILL_DAYS)
        out["b_data_after_empty"] = marts_rows(b, canonical_ids=False, exclude=AS_OF_COLUMNS)
        return out

    with ThreadPoolExecutor(max_workers=2) as both:
        seq, par = both.submit(sequential), both.submit(parallel_then_rerun)
        seq_ok, b_state = seq.result(), par.result()
    state = {
        "a": a,
        "b": b,
        "work": work,
        "awkward": awkward,
        "seq_ok": seq_ok,
        **b_state,
        "a_after_backfill": marts_rows(a, canonical_ids=True, exclude=BACKFILL_EXCLUDED),
    }
    state["model_history_rows"] = diff_rows({"s": _scores(a)}, {"s": state["b_scores_after_backfill"]})["s"] // 2
    yield state
    for e in (env_a, env_b):
        drop_database(e["WAREHOUSE_URL"])


def test_every_run_succeeds(warehouses):
    w = warehouses
    assert w["seq_ok"] == [True] * BACKFILL_DAYS, f"see {w['work'] / 'a'}"
    assert w["par_ok"] == [True] * BACKFILL_DAYS, f"see {w['work'] / 'b'}"
    assert (w["rerun_ok"], w["empty_ok"]) == (True, True), f"see {w['work'] / 'b'}"


def test_rerunning_an_interval_gives_byte_identical_marts_and_no_duplicates_anywhere(warehouses):
    before, after = warehouses["b_raw_after_backfill"], warehouses["b_after_rerun"]
    # the quality views report the runs themselves (the rerun's checks count in failures_in_last_10_runs)
    quality_views = {"dq_check_latest", "dq_table_status"}
    diff = diff_rows(before, after, skip=quality_views)
    assert {t: len(before[t]) for t in quality_views} == {t: len(after[t]) for t in quality_views}
    dups = duplicates(warehouses["b"])
    print(
        f"\nrerun of day {RERUN_DAY}: {len(diff)} marts relations compared, {sum(diff.values())} rows differ; "
        f"{len(dups)} tables checked for duplicates, {sum(dups.values())} duplicate rows"
    )
    assert len(diff) >= 6 and set(diff.values()) == {0}, diff
    assert all(before[t] for t in ("dim_customer", "fct_orders", "customer_360"))
    assert {t: n for t, n in dups.items() if n} == {}


def test_a_backfill_in_parallel_gives_the_marts_of_the_days_run_one_after_another(warehouses):
    seq, par = warehouses["a_after_backfill"], warehouses["b_after_backfill"]
    diff = diff_rows(seq, par, skip=RUN_RECORD_RELATIONS)
    waits = sum(
        "waiting for the warehouse build lease" in p.read_text() for p in (warehouses["work"] / "b").glob("day*.log")
    )
    print(
        f"\nbackfill of {BACKFILL_DAYS} days, in parallel vs one after another: {len(diff)} marts relations "
        f"compared (without {', '.join(sorted(BACKFILL_EXCLUDED))}), {sum(diff.values())} rows differ; "
        f"{warehouses['model_history_rows']} customer_scores rows differ in model history only; "
        f"{waits} parallel run(s) waited for the build lease"
    )
    if any(diff.values()):  # printed in full (an assertion message would be cut short)
        print(json.dumps(diff_examples(seq, par, diff), indent=1))
    assert set(diff.values()) == {0}, diff
    assert {t: len(seq[t]) for t in RUN_RECORD_RELATIONS & set(seq)} == {
        t: len(par[t]) for t in RUN_RECORD_RELATIONS & set(par)
    }
    assert waits >= 1  # the runs did overlap, and the lease kept their builds apart
    # both backfills, as they left their warehouses (B's before its rerun)
    dups = {"a": duplicates(warehouses["a"]), "b": warehouses["b_duplicates_after_backfill"]}
    assert {(w, t): n for w, d in dups.items() for t, n in d.items() if n} == {}


def test_till_sales_three_days_late_are_in_the_facts_and_incremental_equals_a_full_refresh(warehouses):
    a = warehouses["a"]
    with connect(a) as conn:
        late = conn.execute(
            "select count(*) from marts.fct_orders where source = 'pos_transactions' "
            "and (ordered_at at time zone 'UTC')::date = %s",
            (_day(LATE_DAY),),
        ).fetchone()[0]
        raw_late = conn.execute("select count(*) from raw.pos_transactions where _file_name like 'late_%'").fetchone()[
            0
        ]
    assert raw_late == warehouses["awkward"]["late_rows"] > 0
    assert late > 0
    run_dbt(
        a,
        "run",
        "--quiet",
        "--select",
        "fct_orders",
        "fct_touchpoints",
        "--full-refresh",
        "--vars",
        json.dumps({"marts_schema": "marts_full_refresh"}),
        target_path=warehouses["work"] / "a" / "full-refresh",
    )
    incremental = marts_rows(a, canonical_ids=False)
    full = marts_rows(a, canonical_ids=False, schema="marts_full_refresh")
    diff = diff_rows({t: incremental[t] for t in full}, full)
    print(
        f"\nlate data ({raw_late} till rows {LATE_BY} days late): fct_* incremental vs full refresh: "
        f"{sum(diff.values())} rows differ over {sum(len(v) for v in full.values())} rows"
    )
    assert set(full) == {"fct_orders", "fct_touchpoints"} and set(diff.values()) == {0}, diff


def test_an_older_crm_version_delivered_later_does_not_win(warehouses):
    account = warehouses["awkward"]["account_id"]
    with connect(warehouses["a"]) as conn:
        versions = conn.execute("select count(*) from raw.crm_accounts where account_id = %s", (account,)).fetchone()[0]
        staged = conn.execute(
            "select last_name from staging.stg_crm__accounts where account_id = %s", (account,)
        ).fetchone()[0]
        golden = conn.execute(
            "select count(*) from steward.customer_golden_record where last_name = %s", (OUT_OF_ORDER_NAME,)
        ).fetchone()[0]
    assert versions >= 2
    assert staged != OUT_OF_ORDER_NAME and golden == 0


def test_an_empty_delivery_is_a_no_op_and_never_empties_the_marts(warehouses):
    before, after = warehouses["b_data_after_rerun"], warehouses["b_data_after_empty"]
    counts_before = {t: len(v) for t, v in before.items()}
    counts_after = {t: len(v) for t, v in after.items()}
    # the scores and RFM (as of the scores' cut-off) move with the as-of: one more day without a
    # purchase; the data does not
    as_of_dependent = {"customer_scores", "customer_rfm", "customer_360"} | RUN_RECORD_RELATIONS
    diff = diff_rows(before, after, skip=as_of_dependent)
    print(
        f"\nempty delivery: {len(diff)} marts relations compared (without {', '.join(sorted(AS_OF_COLUMNS))}), "
        f"{sum(diff.values())} rows differ; row counts {'unchanged' if counts_before == counts_after else 'changed'}"
    )
    assert counts_after == counts_before
    assert {t: counts_after[t] for t in ALWAYS_FILLED if not counts_after[t]} == {}
    if any(diff.values()):
        print(json.dumps(diff_examples(before, after, diff), indent=1))
    assert set(diff.values()) == {0}, diff
