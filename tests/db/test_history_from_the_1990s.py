"""A till export from the 1990s loads and scores like one from last week.

The real loader reads the files, dbt builds its layers into the build schema, identity resolves
the cards and accounts and the scoring step scores as of a 1990s cut-off: the stages a DAG run
calls, without the DAG (tests/e2e runs it). The history holds customers whose orders cost nothing
and one who only ever brought things back: every customer of customer_360 must be scored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
from psycopg import sql

from customer360.db.connection import MARTS_BUILD_SCHEMA, connect
from customer360.ingestion.contracts import SOURCES
from customer360.ml.synthetic import simulate_transactions
from customer360.orchestration import stages
from customer360.orchestration.interval import DataInterval

DELIVERED = date(1998, 1, 1)  # the day the history export landed
CUTOFF = date(1997, 12, 1)
HISTORY_START = "1996-01-01"


def _write(landing: Path, source: str, rows: list[list[str]]) -> None:
    contract = SOURCES[source]
    folder = landing / source / DELIVERED.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    lines = [contract.delimiter.join(contract.column_names)]
    lines += [contract.delimiter.join(row) for row in rows]
    (folder / f"{source}_history_export.csv").write_text("\n".join(lines) + "\n")


def _till_export(landing: Path) -> pd.DataFrame:
    """Two years of till sales on loyalty cards, 1996-1997, with free orders and refunds among them."""
    tx = simulate_transactions(150, HISTORY_START, DELIVERED.isoformat(), seed=1997)
    odd = pd.DataFrame(
        [
            ("FREE1", "1996-05-04 10:15:00", 0.0),  # a free sample, twice
            ("FREE1", "1997-03-08 16:40:00", 0.0),
            ("FREE2", "1997-11-20 12:00:00", 0.0),  # a fully discounted order
            ("REFUND1", "1997-02-14 11:30:00", -24.99),  # only ever brought something back
        ],
        columns=["customer_id", "ordered_at", "amount"],
    )
    odd["ordered_at"] = pd.to_datetime(odd["ordered_at"]).dt.tz_localize("Europe/London").dt.tz_convert("UTC")
    tx = pd.concat([tx, odd], ignore_index=True)
    wall = tx["ordered_at"].dt.tz_convert("Europe/London").dt.strftime("%Y-%m-%dT%H:%M:%S")
    rows = [
        [f"T{i:06d}", f"L-{customer}", f"S{i % 4 + 1}", at, f"{amount:.2f}", "GBP", "SKU1*1"]
        for i, (customer, at, amount) in enumerate(zip(tx["customer_id"], wall, tx["amount"]))
    ]
    _write(landing, "pos_transactions", rows)
    return tx


def _crm_export(landing: Path, cards: list[str]) -> None:
    """CRM accounts opened in 1995 for members born in the 1950s, each holding one of the cards."""
    rows = []
    for i, card in enumerate(cards):
        born = f"195{i % 10}-0{i % 9 + 1}-1{i % 9}"
        opened = f"1995-0{i % 9 + 1}-0{i % 9 + 1}T09:00:00"
        rows.append(
            [f"A{i:04d}", "", f"First{i}", f"Member{i}", f"member{i}@example.com", "", born, "", "", "", "GB"]
            + [f"L-{card}", opened, "1997-12-31T18:00:00"]
        )
    _write(landing, "crm_accounts", rows)


def test_a_1990s_till_export_loads_and_every_customer_is_scored(warehouse_settings) -> None:
    settings = warehouse_settings
    landing = settings.landing_dir
    tx = _till_export(landing)
    cards = sorted(set(tx["customer_id"]))
    _crm_export(landing, cards[::3])
    interval = DataInterval(datetime(1998, 1, 1, tzinfo=UTC), datetime(1998, 1, 2, tzinfo=UTC))
    stages.prepare(settings, interval)
    for source in ("crm_accounts", "pos_transactions"):
        loaded = stages.ingest(settings, interval, source)
        # 1950s births and 1995 accounts are plausible; 1996 sales are real sales
        assert loaded["rows_quarantined"] == 0 and loaded["files_rejected"] == 0, loaded
    assert loaded["rows_loaded"] == len(tx)
    stages.check_raw(settings, interval)

    build = DataInterval.from_dict(stages.claim_build(settings, interval))
    stages.build_models(settings, build, "staging_intermediate")
    stages.resolve(settings, build)
    stages.build_models(settings, build, "core_marts")
    scored = stages.score(settings, build, CUTOFF.isoformat())
    stages.build_models(settings, build, "scored_marts")

    marts = sql.Identifier(MARTS_BUILD_SCHEMA)
    with connect(settings) as conn:
        first_order, orders = conn.execute(
            sql.SQL("select min(ordered_at), count(*) from {}.fct_orders").format(marts)
        ).fetchone()
        customers, with_scores, reasons = conn.execute(
            sql.SQL(
                "select count(*), count(churn_probability), array_agg(distinct unscored_reason) "
                "filter (where unscored_reason is not null) from {}.customer_360"
            ).format(marts)
        ).fetchone()
        score_rows = conn.execute(
            "select count(*), count(distinct customer_id), min(scored_at), count(clv) from ml.customer_scores "
            "where cutoff_date = %s",
            (CUTOFF,),
        ).fetchone()
        never_paid = conn.execute(
            sql.SQL("select count(*), max(c.clv) from {}.customer_360 as c where c.total_revenue <= 0").format(marts)
        ).fetchone()
    assert first_order.year == 1996 and orders == len(tx)
    # customers first seen after the cut-off (December 1997) are not scored at it: here there are none
    assert (
        tx.loc[tx["ordered_at"] >= pd.Timestamp(CUTOFF, tz="UTC"), "customer_id"]
        .isin(tx.loc[tx["ordered_at"] < pd.Timestamp(CUTOFF, tz="UTC"), "customer_id"])
        .all()
    )
    assert customers == len(cards) == scored["customers_scored"]
    assert with_scores == customers and reasons is None
    assert score_rows[:2] == (customers, customers) and score_rows[3] == customers
    assert score_rows[2] == datetime(1997, 12, 1, tzinfo=UTC)
    assert never_paid[0] == 3 and never_paid[1] is not None
