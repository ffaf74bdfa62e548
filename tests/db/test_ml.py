"""The ml package against PostgreSQL: scores written idempotently, and the champion registry."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from customer360.config import Settings
from customer360.ml.artifacts import ArtifactChecksumError, load_artifact
from customer360.ml.churn import BGNBD_KIND, BLEND_KIND, HGB_KIND, ChurnConfig
from customer360.ml.synthetic import simulate_transactions

# --------------------------------------------------------------------------- scoring against PostgreSQL
# `warehouse_settings` (tests/db/conftest.py) is a fresh database with the schemas prepared.


def _load_orders(settings: Settings, tx: pd.DataFrame) -> None:
    with psycopg.connect(settings.warehouse_url) as conn:
        conn.execute(
            """
            create table marts.fct_orders (
                order_key text primary key, customer_id text, channel text,
                ordered_at timestamptz not null, order_date date not null, amount numeric(12, 2),
                store_id text
            )
            """
        )
        with conn.cursor().copy(
            "copy marts.fct_orders (order_key, customer_id, channel, ordered_at, order_date, amount) from stdin"
        ) as copy:
            for i, row in enumerate(tx.itertuples(index=False)):
                ts = row.ordered_at.to_pydatetime()
                copy.write_row((f"o{i}", row.customer_id, row.channel, ts, ts.date(), row.amount))


def test_score_customers_writes_idempotently(warehouse_settings: Settings) -> None:
    from customer360.ml.registry import MODEL_NAMES
    from customer360.ml.scoring import score_customers

    tx = simulate_transactions(1500, "2023-06-01", "2026-03-01", seed=5, anonymous_share=0.02)
    tx.loc[tx.index[:3], "amount"] = [0.0, -12.5, 0.0]  # a free order and a refund are orders too
    _load_orders(warehouse_settings, tx)
    cutoff = date(2025, 12, 31)
    model_dir = warehouse_settings.data_dir / "models"

    clean = tx[tx["customer_id"].notna()]
    expected_customers = clean.loc[clean["ordered_at"] < pd.Timestamp(cutoff, tz="UTC"), "customer_id"].nunique()

    first = score_customers(warehouse_settings, cutoff, model_dir)
    assert first.customers_scored == expected_customers
    query = "select * from ml.customer_scores order by customer_id"
    with psycopg.connect(warehouse_settings.warehouse_url) as conn:
        rows_first = conn.execute(query).fetchall()
        stats = conn.execute(
            """
            select count(*), count(distinct customer_id), min(churn_probability), max(churn_probability),
                   min(p_alive), max(p_alive), min(clv), min(expected_revenue), count(*) filter (where clv is null),
                   min(scored_at), max(scored_at), count(distinct cluster_name)
            from ml.customer_scores
            """
        ).fetchone()
        registry = conn.execute(
            "select model_name, artifact_path, artifact_sha256, metrics from ml.model_registry order by model_name"
        ).fetchall()
        evaluation = conn.execute("select evaluated_model, roc_auc from ml.churn_evaluation").fetchall()
    n, distinct, pmin, pmax, amin, amax, clv_min, rev_min, clv_nulls, s_min, s_max, n_clusters = stats
    assert n == distinct == expected_customers
    assert 0 <= pmin <= pmax <= 1 and 0 <= amin <= amax <= 1
    assert clv_min >= 0 and rev_min >= 0 and clv_nulls == 0
    assert s_min == s_max == pd.Timestamp(cutoff, tz="UTC")
    assert n_clusters >= 2
    assert sorted(r[0] for r in registry) == sorted(MODEL_NAMES)
    for _, path, sha, _ in registry:
        assert load_artifact(Path(path), sha) is not None
    churn_metrics = next(r[3] for r in registry if r[0] == "churn")
    assert churn_metrics["backtest"]["model"]["roc_auc"] > 0.6
    chosen = churn_metrics["backtest"]["model_kind"]
    assert chosen in {HGB_KIND, BGNBD_KIND, BLEND_KIND}
    assert {name for name, _ in evaluation} == {chosen, "recency_baseline"}

    second = score_customers(warehouse_settings, cutoff, model_dir)
    assert second.model_version == first.model_version
    with psycopg.connect(warehouse_settings.warehouse_url) as conn:
        rows_second = conn.execute(query).fetchall()
        n_registry = conn.execute("select count(*) from ml.model_registry").fetchone()[0]
    assert rows_second == rows_first
    assert n_registry == len(MODEL_NAMES)


def test_every_customer_with_an_order_is_scored_free_orders_and_refunds_too(warehouse_settings: Settings) -> None:
    from customer360.ml.config import ScoringConfig
    from customer360.ml.scoring import score_customers

    tx = simulate_transactions(800, "2023-06-01", "2026-03-01", seed=14)
    t0 = pd.Timestamp("2025-02-01", tz="UTC")
    never_paid = pd.DataFrame(
        [
            row
            for i in range(5)
            for row in (
                (f"free-{i}", t0 + pd.Timedelta(days=30 * i), 0.0, "store"),  # a free item
                (f"free-{i}", t0 + pd.Timedelta(days=30 * i + 40), 0.0, "web"),  # a fully discounted order
                (f"refund-{i}", t0 + pd.Timedelta(days=25 * i), -19.99, "store"),  # refunds only
            )
        ],
        columns=["customer_id", "ordered_at", "amount", "channel"],
    )
    _load_orders(warehouse_settings, pd.concat([tx, never_paid], ignore_index=True))
    cutoff = date(2025, 12, 31)
    config = ScoringConfig(churn=ChurnConfig(max_iter=30))
    summary = score_customers(warehouse_settings, cutoff, warehouse_settings.data_dir / "models", config=config)
    with psycopg.connect(warehouse_settings.warehouse_url) as conn:
        customers = conn.execute(
            "select count(distinct customer_id) from marts.fct_orders "
            "where customer_id is not null and ordered_at < %s",
            (cutoff,),
        ).fetchone()[0]
        scored = conn.execute(
            "select count(*), count(churn_probability), count(clv) from ml.customer_scores where cutoff_date = %s",
            (cutoff,),
        ).fetchone()
        never_paid_scores = conn.execute(
            "select count(*), max(clv) from ml.customer_scores where customer_id like 'free-%%' or customer_id "
            "like 'refund-%%'"
        ).fetchone()
    assert scored == (customers, customers, customers) and summary.customers_scored == customers
    assert never_paid_scores[0] == 10 and never_paid_scores[1] >= 0


def _churn_row(settings: Settings, version: str) -> tuple:
    with psycopg.connect(settings.warehouse_url) as conn:
        return conn.execute(
            "select is_champion, metrics -> 'champion' ->> 'reason', artifact_path, artifact_sha256"
            " from ml.model_registry where model_name = 'churn' and model_version = %s",
            (version,),
        ).fetchone()


def test_a_challenger_replaces_the_champion_only_if_it_beats_it(warehouse_settings: Settings) -> None:
    from customer360.ml.config import ScoringConfig
    from customer360.ml.scoring import score_customers

    tx = simulate_transactions(2000, "2023-01-01", "2026-06-01", seed=11)
    _load_orders(warehouse_settings, tx)
    model_dir = warehouse_settings.data_dir / "models"
    # the weak recipe is a one-split booster alone, without BG/NBD competing
    weak = ScoringConfig(churn=ChurnConfig(max_iter=1, max_leaf_nodes=2, learning_rate=0.01, bgnbd_candidates=False))
    strong = ScoringConfig(churn=ChurnConfig(max_iter=80))

    first = score_customers(warehouse_settings, date(2025, 6, 1), model_dir, config=weak)
    assert _churn_row(warehouse_settings, first.model_version)[:2] == (True, "no champion yet")

    # a better challenger a horizon later replaces the weak champion
    second = score_customers(warehouse_settings, date(2025, 9, 1), model_dir, config=strong)
    promoted, reason, _, _ = _churn_row(warehouse_settings, second.model_version)
    assert promoted and reason.startswith("challenger better"), reason
    assert second.metrics["churn"]["scored_with"] == second.model_version

    # a worse challenger does not replace it: the scores come from the champion
    third = score_customers(warehouse_settings, date(2025, 12, 1), model_dir, config=weak)
    promoted, reason, _, _ = _churn_row(warehouse_settings, third.model_version)
    assert not promoted and reason.startswith("champion kept"), reason
    with psycopg.connect(warehouse_settings.warehouse_url) as conn:
        used = conn.execute(
            "select distinct churn_model_version from ml.customer_scores where model_version = %s",
            (third.model_version,),
        ).fetchall()
    assert used == [(second.model_version,)]


def test_scoring_refuses_a_tampered_champion(warehouse_settings: Settings) -> None:
    from customer360.ml.config import ScoringConfig
    from customer360.ml.scoring import score_customers

    tx = simulate_transactions(800, "2023-06-01", "2026-03-01", seed=12)
    _load_orders(warehouse_settings, tx)
    model_dir = warehouse_settings.data_dir / "models"
    config = ScoringConfig(churn=ChurnConfig(max_iter=30))
    first = score_customers(warehouse_settings, date(2025, 9, 1), model_dir, config=config)
    _, _, path, _ = _churn_row(warehouse_settings, first.model_version)
    Path(path).write_bytes(Path(path).read_bytes()[:-1] + b"\x00")
    with pytest.raises(ArtifactChecksumError, match="refusing to load churn.joblib"):
        score_customers(warehouse_settings, date(2025, 12, 1), model_dir, config=config)


def test_a_weekly_refit_trains_as_of_monday_and_the_days_between_only_score(warehouse_settings: Settings) -> None:
    from dataclasses import replace

    from customer360.ml.config import ScoringConfig
    from customer360.ml.scoring import score_customers

    tx = simulate_transactions(800, "2023-06-01", "2026-03-01", seed=13)
    _load_orders(warehouse_settings, tx)
    weekly = replace(warehouse_settings, model_refit_days=7)
    config = ScoringConfig(churn=ChurnConfig(max_iter=30))
    monday = date(2025, 12, 29)

    def registry() -> list[tuple]:
        with psycopg.connect(warehouse_settings.warehouse_url) as conn:
            return conn.execute(
                "select model_version, model_name, trained_at_cutoff from ml.model_registry order by 1, 2"
            ).fetchall()

    def scores(cutoff: date) -> list[tuple]:
        with psycopg.connect(warehouse_settings.warehouse_url) as conn:
            return conn.execute(
                "select customer_id, model_version, churn_model_version, churn_probability, p_alive, clv, "
                "cluster_name from ml.customer_scores where cutoff_date = %s order by customer_id",
                (cutoff,),
            ).fetchall()

    # Wednesday, nothing registered yet: Monday's models are trained first, then Wednesday is scored with them.
    wednesday = score_customers(weekly, date(2025, 12, 31), warehouse_settings.data_dir / "models", config=config)
    assert wednesday.model_version == config.model_version(monday)
    assert wednesday.metrics["refit"]["trained_at_cutoff"] == monday.isoformat()
    assert {row[2] for row in registry()} == {monday}
    assert scores(monday) and len(scores(date(2025, 12, 31))) == wednesday.customers_scored

    # Friday trains nothing.
    before = registry()
    friday = score_customers(weekly, date(2026, 1, 2), warehouse_settings.data_dir / "models", config=config)
    assert registry() == before and friday.model_version == wednesday.model_version
    friday_scores = scores(date(2026, 1, 2))
    assert {row[2] for row in friday_scores} == {wednesday.metrics["churn"]["scored_with"]}

    # The same Friday on a warehouse that never ran Wednesday gives the same scores (a backfill in any order).
    with psycopg.connect(warehouse_settings.warehouse_url) as conn:
        conn.execute("delete from ml.customer_scores; delete from ml.model_registry")
    score_customers(weekly, date(2026, 1, 2), warehouse_settings.data_dir / "models-again", config=config)
    assert scores(date(2026, 1, 2)) == friday_scores

    # The next Monday refits.
    next_monday = score_customers(weekly, date(2026, 1, 5), warehouse_settings.data_dir / "models", config=config)
    assert next_monday.model_version == config.model_version(date(2026, 1, 5))
    assert date(2026, 1, 5) in {row[2] for row in registry()}
